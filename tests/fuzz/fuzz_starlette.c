/* tests/fuzz/fuzz_starlette.c — the Starlette cookie decoder on arbitrary input, with round-trip
 * checks.
 *
 * The first byte picks what the rest is, so the fuzzer also gets past the
 * signature (which it cannot forge):
 *   0: a cookie value, decoded as received (and read as a Set-Cookie header);
 *   1: a payload (what precedes ".timestamp.signature"), signed here, then decoded;
 *   2: session JSON text, base64'd and signed here as Starlette does, then decoded.
 * Whenever a session is accepted: re-encoding it must verify and decode to an
 * equal object, encoding that again must give the same bytes (one canonical
 * form), the compact-text path must agree, and no other key may verify it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "errors.h"
#include "json.h"
#include "sg_limits.h"
#include "signer.h"
#include "starlette.h"

#define NOW	1700000060 /* a minute after the seed cookies were made */
#define MAX_AGE (14 * 24 * 3600)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static starlette *keys, *stranger;
static signer *raw; /* TimestampSigner("secret"), to sign fuzzed payloads */

static void setup(void)
{
	if (keys)
		return;
	/* the seeds were made by Starlette 0.26 with secret_key "secret": a fallback here */
	CHECK(starlette_new(&keys) == 0);
	CHECK(starlette_add_key(keys, "fuzz current key", 16) == 0);
	CHECK(starlette_add_key(keys, "secret", 6) == 0);
	CHECK(starlette_new(&stranger) == 0);
	CHECK(starlette_add_key(stranger, "a key nobody uses", 17) == 0);
	CHECK(signer_new(SIGNER_SHA1, SIGNER_KDF_DJANGO_CONCAT, SIGNER_SALT_ITSDANGEROUS,
			 strlen(SIGNER_SALT_ITSDANGEROUS), &raw) == 0);
	CHECK(signer_add_key(raw, "secret", 6) == 0);
}

static void check_accepted(const json *v, const char *cookie, size_t len)
{
	CHECK(v->type == JSON_OBJECT);
	json *w = NULL;
	CHECK(starlette_decode(stranger, cookie, len, NOW, -1, &w, NULL) == SG_EBADSIG);
	CHECK(w == NULL);
	char *a = NULL, *b = NULL;
	size_t alen, blen;
	int r = starlette_encode(keys, v, NOW, &a, &alen);
	if (r == SG_ETOOBIG)
		return; /* spaced JSON can outgrow the cookie limit the input fit in */
	CHECK(r == 0 && alen <= SG_COOKIE_MAX && a[alen] == '\0');
	CHECK(starlette_cookie_shaped(a, alen));
	struct starlette_info info;
	CHECK(starlette_decode(keys, a, alen, NOW, MAX_AGE, &w, &info) == 0);
	CHECK(info.key_index == 0 && info.ts == NOW);
	CHECK(json_equal(v, w));
	CHECK(starlette_encode(keys, w, NOW, &b, &blen) == 0);
	CHECK(blen == alen && memcmp(a, b, alen) == 0);
	free(b);
	char *text = NULL;
	size_t tlen;
	CHECK(json_dump(w, JSON_DUMP_ASCII, &text, &tlen) == 0);
	CHECK(starlette_encode_text(keys, text, tlen, NOW, &b, &blen) == 0);
	CHECK(blen == alen && memcmp(a, b, alen) == 0);
	free(b);
	free(text);
	/* the same as Starlette's Set-Cookie, read back */
	char *hdr = NULL;
	size_t hlen;
	struct starlette_attrs at = {.max_age = MAX_AGE};
	CHECK(starlette_build_set_cookie("session", 7, a, alen, &at, &hdr, &hlen) == 0);
	enum starlette_change kind;
	json *x = NULL;
	CHECK(starlette_read_set_cookie(keys, hdr, hlen, "session", 7, NOW, -1, &kind, &x) == 0);
	CHECK(kind == STARLETTE_SET && json_equal(v, x));
	json_free(x);
	free(hdr);
	/* the Flask stored form of the same session */
	CHECK(starlette_decode_stored(keys, a, alen, NOW, MAX_AGE, &x, NULL) == 0);
	CHECK(x->type == JSON_OBJECT);
	json_free(x);
	json_free(w);
	free(a);
}

static void decode(const char *c, size_t len)
{
	json *v = NULL;
	int r = starlette_decode(keys, c, len, NOW, MAX_AGE, &v, NULL);
	if (r == 0) {
		check_accepted(v, c, len);
		json_free(v);
	} else {
		CHECK(v == NULL);
		CHECK(r == SG_EMALFORMED || r == SG_EBADSIG || r == SG_EEXPIRED ||
		      r == SG_EFUTURE || r == SG_ETOOBIG || r == SG_EDEPTH);
	}
	(void)starlette_cookie_shaped(c, len);
}

static void sign_and_decode(const char *payload, size_t len)
{
	if (len > SG_COOKIE_MAX)
		return;
	size_t cap = len + SIGNER_TIMED_SUFFIX_MAX, n;
	char *buf = malloc(cap ? cap : 1);
	CHECK(buf);
	memcpy(buf, payload, len);
	CHECK(signer_sign_timed(raw, NOW - 30, buf, len, cap, &n) == 0);
	decode(buf, n);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size == 0)
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1;
	switch (data[0] % 3) {
	case 0: {
		decode(p, n);
		enum starlette_change kind;
		json *v = NULL;
		int r = starlette_read_set_cookie(keys, p, n, "session", 7, NOW, -1, &kind, &v);
		CHECK(r != 0 || kind == STARLETTE_DELETE || (v && v->type == JSON_OBJECT));
		json_free(v);
		break;
	}
	case 1: sign_and_decode(p, n); break;
	default: {
		if (n > SG_COOKIE_MAX)
			break;
		char *b = malloc(b64_encoded_len(n) + 1);
		CHECK(b);
		size_t bl = b64_encode(p, n, b);
		sign_and_decode(b, bl);
		free(b);
		break;
	}
	}
	return 0;
}
