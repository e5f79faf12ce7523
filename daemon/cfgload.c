/* daemon/cfgload.c — placeholder, filled in by its owner. */
