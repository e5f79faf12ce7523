/* daemon/pipeline.c — placeholder, filled in by its owner. */
