/* lib/b64.c — placeholder, filled in by its owner. */
