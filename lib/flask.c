/* lib/flask.c — placeholder, filled in by its owner. */
