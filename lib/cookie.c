/* lib/cookie.c — placeholder, filled in by its owner. */
