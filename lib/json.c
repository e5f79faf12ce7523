/* lib/json.c — placeholder, filled in by its owner. */
