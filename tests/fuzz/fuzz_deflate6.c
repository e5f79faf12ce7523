/* tests/fuzz/fuzz_deflate6.c — deflate6 against the system zlib: the same bytes for every input.
 *
 * The input is the data to compress. Any difference from compress2(level 6)
 * aborts: Flask byte identity rests on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate6.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static deflate6 *d; /* reused across inputs, as a worker thread reuses it */
static unsigned char z[DEFLATE6_MAX + DEFLATE6_MAX / 100 + 64], o[sizeof(z)];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!d)
		CHECK(deflate6_new(&d) == 0);
	if (size > DEFLATE6_MAX)
		size = DEFLATE6_MAX;
	uLongf zlen = compressBound((uLong)size);
	CHECK(zlen <= sizeof(z));
	CHECK(compress2(z, &zlen, data, (uLong)size, 6) == Z_OK);
	size_t olen = 0;
	CHECK(deflate6_compress(d, data, size, o, sizeof(o), &olen) == 0);
	CHECK(olen == zlen && memcmp(o, z, zlen) == 0);
	/* one byte short of zlib's length never fits */
	CHECK(deflate6_compress(d, data, size, o, zlen - 1, &olen) != 0);
	return 0;
}
