/* tests/fuzz/fuzz_cookiescan.c — cookie_scan + cookie_rewrite (the one-pass session path) must
 * give exactly what cookie_find + cookie_replace give, on arbitrary bytes.
 *
 * Input: optional "name" NUL prefix (1..64 bytes, else "session"), then the
 * Cookie header value (the same format as fuzz_cookiehdr). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"
#include "errors.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static void same(const char *in, size_t size, const struct cookie_scan *sc, const char *name,
		 size_t nlen, const char *value)
{
	char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0, vlen = value ? strlen(value) : 0;
	int ra = cookie_replace(in, size, name, nlen, value, vlen, &a, &al);
	int rb = cookie_rewrite(in, size, sc, name, nlen, value, vlen, &b, &bl);
	CHECK(ra == rb);
	if (ra == 0) {
		CHECK(al == bl && memcmp(a, b, al) == 0 && b[bl] == '\0');
		free(a);
		free(b);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *name = "session";
	size_t nlen = 7;
	const char *nul = memchr(in, '\0', size < 65 ? size : 65);
	if (nul) {
		name = in;
		nlen = (size_t)(nul - in);
		size -= nlen + 1;
		in = nul + 1;
	}
	struct cookie_scan sc;
	CHECK(cookie_scan(in, size, name, nlen, &sc) == 0);
	const char *v = NULL;
	size_t vl = 0;
	int rc = cookie_find(in, size, name, nlen, &v, &vl);
	CHECK(sc.found == (rc == 0));
	if (sc.found)
		CHECK(sc.val == v && sc.vlen == vl);
	same(in, size, &sc, name, nlen, NULL);
	same(in, size, &sc, name, nlen, "v.1-2");
	same(in, size, &sc, name, nlen, "bad value");
	return 0;
}
