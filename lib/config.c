/* lib/config.c — placeholder, filled in by its owner. */
