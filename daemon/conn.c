/* daemon/conn.c — placeholder, filled in by its owner. */
