/* lib/signer.c — placeholder, filled in by its owner. */
