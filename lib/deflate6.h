/* lib/deflate6.h — zlib.compress() of a small input, byte for byte, from a small state. */
#ifndef SG_DEFLATE6_H
#define SG_DEFLATE6_H

#include <stddef.h>

/* zlib (memLevel 8) ends a block when its symbol buffer holds 16383 symbols;
 * below that every input is one block, which is all deflate6 writes. */
#define DEFLATE6_MAX 16382

typedef struct deflate6 deflate6;

int deflate6_new(deflate6 **ret);
void deflate6_free(deflate6 *d); /* NULL is a no-op */

/* Writes to out exactly the bytes zlib 1.2's compress2(out, .., in, n, 6)
 * (= Python's zlib.compress(in)) writes: a zlib header, one deflate block
 * chosen and built as zlib's level 6 does, the Adler-32 trailer.
 * Returns 0 and *ret_len, or SG_ETOOBIG when n > DEFLATE6_MAX (use zlib) or
 * the output would not fit in cap bytes (out is then unspecified). */
int deflate6_compress(deflate6 *d, const void *in, size_t n, void *out, size_t cap,
		      size_t *ret_len);

#endif
