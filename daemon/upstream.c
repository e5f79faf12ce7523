/* daemon/upstream.c — placeholder, filled in by its owner. */
