/* tests/fuzz/fuzz_cookiehdr.c — Cookie find/strip/replace and Set-Cookie parse/build on arbitrary
 * bytes.
 *
 * Input: optional "name" NUL prefix (1..64 bytes, else "session"), then the
 * header value, used both as a Cookie and as a Set-Cookie header. */
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

static bool within(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static bool ws(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) ||
	       (unsigned char)c == 0x85 || (unsigned char)c == 0xa0;
}

/* How many ';'-pieces name the cookie, for Starlette (key before '=') or a
 * parser taking a bare piece as a name. */
static int pieces_naming(const char *s, size_t len, const char *name, size_t nlen)
{
	int n = 0;
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && s[j] != ';')
			j++;
		size_t ke = i;
		while (ke < j && s[ke] != '=')
			ke++;
		size_t a = i, z = ke;
		while (a < z && ws(s[a]))
			a++;
		while (z > a && ws(s[z - 1]))
			z--;
		if (z - a == nlen && memcmp(s + a, name, nlen) == 0)
			n++;
		i = j + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *name = "session";
	size_t nlen = 7;
	const char *nul = memchr(in, '\0', size < 65 ? size : 65);
	if (nul && nul > in) {
		name = in;
		nlen = (size_t)(nul - in);
		in = nul + 1;
		size -= nlen + 1;
	}

	const char *v;
	size_t vl;
	if (cookie_find(in, size, name, nlen, &v, &vl) == 0) {
		CHECK(within(v, vl, in, size));
		char *u = malloc(vl + 1);
		CHECK(u);
		CHECK(cookie_unquote(v, vl, u) <= vl);
		free(u);
	}

	char *out;
	size_t ol;
	int rc = cookie_strip(in, size, name, nlen, &out, &ol);
	if (rc == 0) {
		CHECK(strlen(out) == ol || memchr(out, '\0', ol));
		CHECK(cookie_find(out, ol, name, nlen, &v, &vl) == SG_ENOENT);
		CHECK(pieces_naming(out, ol, name, nlen) == 0);
		CHECK(ol <= 3 * size); /* "; " joins may add a byte or two per cookie */
		/* stripping is idempotent */
		char *again;
		size_t al;
		CHECK(cookie_strip(out, ol, name, nlen, &again, &al) == 0);
		CHECK(al == ol && memcmp(again, out, ol) == 0);
		free(again);
		free(out);
		/* replacing leaves exactly one copy, the first werkzeug finds */
		CHECK(cookie_replace(in, size, name, nlen, "v.1-2", 5, &out, &ol) == 0);
		CHECK(cookie_find(out, ol, name, nlen, &v, &vl) == 0);
		CHECK(vl == 5 && memcmp(v, "v.1-2", 5) == 0);
		CHECK(pieces_naming(out, ol, name, nlen) == 1);
		free(out);
	} else {
		CHECK(rc == SG_EINVAL);
	}

	struct set_cookie c;
	if (cookie_parse_set_cookie(in, size, &c) == 0) {
		CHECK(within(c.name, c.name_len, in, size) && c.name_len > 0);
		CHECK(within(c.value, c.value_len, in, size));
		CHECK(!c.domain || within(c.domain, c.domain_len, in, size));
		CHECK(!c.path || within(c.path, c.path_len, in, size));
		if (c.has_max_age)
			CHECK(cookie_is_deletion(&c, 0) == (c.max_age <= 0));
		/* what we build parses back to the same name and value */
		struct cookie_attrs a = {.path = "/",
					 .httponly = true,
					 .secure = c.secure,
					 .partitioned = c.partitioned,
					 .samesite = c.samesite};
		if (cookie_build(c.name, c.name_len, c.value, c.value_len, &a,
				 c.has_expires ? c.expires : -1, &out, &ol) == 0) {
			struct set_cookie b;
			CHECK(cookie_parse_set_cookie(out, ol, &b) == 0);
			CHECK(b.name_len == c.name_len && memcmp(b.name, c.name, c.name_len) == 0);
			if (!memchr(c.value, '"', c.value_len) &&
			    !memchr(c.value, ';', c.value_len))
				CHECK(b.value_len >= c.value_len);
			CHECK(b.httponly && b.path && b.samesite == c.samesite);
			if (c.has_expires && c.expires >= 0 && c.expires <= 253402300799LL)
				CHECK(b.has_expires && b.expires == c.expires);
			free(out);
		}
	}
	int64_t t;
	if (cookie_parse_date(in, size, &t) == 0) {
		char buf[30];
		int64_t back;
		CHECK(cookie_format_date(t, buf) == 0);
		CHECK(cookie_parse_date(buf, 29, &back) == 0 && back == t);
	}
	return 0;
}
