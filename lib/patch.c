/* lib/patch.c — placeholder, filled in by its owner. */
