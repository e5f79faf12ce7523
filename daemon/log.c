/* daemon/log.c — placeholder, filled in by its owner. */
