/* lib/tag.c — placeholder, filled in by its owner. */
