/* daemon/http.c — placeholder, filled in by its owner. */
