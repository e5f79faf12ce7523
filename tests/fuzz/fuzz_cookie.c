/* tests/fuzz/fuzz_cookie.c — the Flask cookie decoder on arbitrary input, with round-trip checks.
 *
 * The first byte picks what the rest is, so the fuzzer also gets past the
 * signature (which it cannot forge):
 *   0: a cookie, decoded as received;
 *   1: a payload (what precedes ".timestamp.signature"), signed here, then decoded;
 *   2: session JSON text, encoded with flask_encode_text, then decoded.
 * Whenever a session is accepted: re-encoding its parsed tree must verify and
 * decode to an equal tree, and no other key may verify anything. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "flask.h"
#include "json.h"
#include "sg_limits.h"
#include "signer.h"

#define NOW	1700000060 /* a minute after the seed cookies were made */
#define MAX_AGE (31 * 24 * 3600)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

static signer *keys, *stranger;
static flask_scratch *sc; /* reused across inputs, as a worker thread would */

static signer *mk(const char *current, const char *fallback)
{
	signer *s = NULL;
	CHECK(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, 14, &s) == 0);
	CHECK(signer_add_key(s, current, strlen(current)) == 0);
	if (fallback)
		CHECK(signer_add_key(s, fallback, strlen(fallback)) == 0);
	return s;
}

static void setup(void)
{
	if (keys)
		return;
	/* the seeds were made by Flask with SECRET_KEY "secret": now a fallback */
	keys = mk("fuzz current key", "secret");
	stranger = mk("a key nobody uses", NULL);
	CHECK(flask_scratch_new(&sc) == 0);
}

static void check_accepted(const flask_session *fs, const uint8_t *cookie, size_t len)
{
	CHECK(fs->cookie_len == len && memcmp(fs->cookie, cookie, len) == 0);
	CHECK(fs->cookie[len] == '\0' && fs->json[fs->json_len] == '\0');
	CHECK(fs->key_index < 2);
	CHECK(fs->json_len <= SG_INFLATE_MAX);
	flask_session *other = NULL;
	CHECK(flask_decode(stranger, NULL, (const char *)cookie, len, NOW, MAX_AGE, &other) != 0);
	CHECK(other == NULL);

	json *v = NULL;
	int r = flask_session_parse(fs, &v);
	if (r) {
		CHECK(r == SG_EMALFORMED || r == SG_EDEPTH || r == SG_ETOOBIG);
		return;
	}
	char *re = NULL;
	size_t relen = 0;
	r = flask_encode(keys, sc, v, NOW, &re, &relen);
	if (r) {
		/* escaping can make the text longer than what was accepted */
		CHECK(r == SG_ETOOBIG);
		json_free(v);
		return;
	}
	flask_session *fs2 = NULL;
	CHECK(flask_decode(keys, sc, re, relen, NOW, MAX_AGE, &fs2) == 0);
	CHECK(fs2->key_index == 0);
	json *v2 = NULL;
	CHECK(flask_session_parse(fs2, &v2) == 0);
	CHECK(json_equal(v, v2));
	/* encoding is a function of the tree: the same bytes again */
	char *re2 = NULL;
	size_t relen2 = 0;
	CHECK(flask_encode(keys, sc, v2, NOW, &re2, &relen2) == 0);
	CHECK(relen2 == relen && memcmp(re, re2, relen) == 0);
	flask_session *fs3 = NULL;
	CHECK(flask_decode(stranger, NULL, re, relen, NOW, MAX_AGE, &fs3) != 0 && fs3 == NULL);
	free(re2);
	json_free(v2);
	flask_session_free(fs2);
	free(re);
	json_free(v);
}

static void try_cookie(const uint8_t *cookie, size_t len)
{
	flask_session *fs = NULL;
	int r = flask_decode(keys, sc, (const char *)cookie, len, NOW, MAX_AGE, &fs);
	if (r) {
		CHECK(fs == NULL);
		CHECK(r == SG_EMALFORMED || r == SG_EBADSIG || r == SG_EEXPIRED ||
		      r == SG_EFUTURE || r == SG_ETOOBIG);
		return;
	}
	check_accepted(fs, cookie, len);
	flask_session_free(fs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	if (size == 0)
		return 0;
	uint8_t mode = data[0] % 3;
	data++, size--;
	if (mode == 0) {
		try_cookie(data, size);
	} else if (mode == 1) {
		if (size > SG_COOKIE_MAX)
			return 0;
		size_t cap = size + SIGNER_TIMED_SUFFIX_MAX;
		char *buf = malloc(cap);
		CHECK(buf);
		if (size)
			memcpy(buf, data, size);
		size_t len = 0;
		CHECK(signer_sign_timed(keys, NOW - 5, buf, size, cap, &len) == 0);
		try_cookie((const uint8_t *)buf, len);
		free(buf);
	} else {
		char *cookie = NULL;
		size_t len = 0;
		int r = flask_encode_text(keys, sc, (const char *)data, size, NOW, &cookie, &len);
		if (r) {
			CHECK(r == SG_ETOOBIG || (r == SG_EINVAL && size == 0));
			return 0;
		}
		flask_session *fs = NULL;
		CHECK(flask_decode(keys, sc, cookie, len, NOW, MAX_AGE, &fs) == 0);
		CHECK(fs->json_len == size && memcmp(fs->json, data, size) == 0);
		check_accepted(fs, (const uint8_t *)cookie, len);
		flask_session_free(fs);
		free(cookie);
	}
	return 0;
}
