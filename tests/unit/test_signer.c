/* tests/unit/test_signer.c — signer against vectors made once with real itsdangerous 2.1.2.
 *
 * Generated with Debian's /usr/bin/python3, e.g.:
 *   class F(itsdangerous.TimestampSigner):
 *       def get_timestamp(self): return 1700000000
 *   F(b"secret", salt="cookie-session", key_derivation="hmac",
 *     digest_method=hashlib.sha1).sign(b"eyJhIjoxfQ")
 * (Flask's session signer); django-concat vectors use F(b"secret") with
 * itsdangerous's defaults (Starlette's SessionMiddleware). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "helpers.h"
#include "sg_limits.h"
#include "signer.h"

#define TS 1700000000

static signer *mk(enum signer_digest d, enum signer_kdf kdf, const char *salt, const void *key,
		  size_t klen)
{
	signer *s = NULL;
	ck_assert_int_eq(signer_new(d, kdf, salt, strlen(salt), &s), 0);
	ck_assert_ptr_nonnull(s);
	if (key)
		ck_assert_int_eq(signer_add_key(s, key, klen), 0);
	return s;
}

static signer *flask_signer(const char *key)
{
	return mk(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, key, strlen(key));
}

/* Signs value at ts and compares with the expected cookie, then verifies it. */
static void check_timed(const signer *s, const char *value, int64_t ts, const char *want)
{
	char buf[512];
	size_t vlen = strlen(value), out = 0;
	memcpy(buf, value, vlen);
	ck_assert_int_eq(signer_sign_timed(s, ts, buf, vlen, sizeof(buf), &out), 0);
	ck_assert_uint_eq(out, strlen(want));
	ck_assert_int_eq(memcmp(buf, want, out), 0);

	struct signer_result r = {0};
	ck_assert_int_eq(signer_unsign_timed(s, want, strlen(want), ts, 0, &r), 0);
	ck_assert_uint_eq(r.value_len, vlen);
	ck_assert_uint_eq(r.ts, (uint64_t)ts);
	ck_assert_uint_eq(r.key_index, 0);
}

static const unsigned char *long_key(void)
{
	/* bytes((i * 7) & 0xff for i in range(1000)): has NULs, longer than a block */
	static unsigned char k[1000];
	for (int i = 0; i < 1000; i++)
		k[i] = (unsigned char)((i * 7) & 0xff);
	return k;
}

START_TEST(test_digests)
{
	static const struct {
		enum signer_digest d;
		const char *want;
	} v[] = {
	    {SIGNER_SHA1, "eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU"},
	    {SIGNER_SHA224, "eyJhIjoxfQ.ZVPxAA.kIwEtpvcWyCV46egXuBrwcyVlgCC6HyqigC0dQ"},
	    {SIGNER_SHA256, "eyJhIjoxfQ.ZVPxAA.JPoD7oy5nu8q1rqVeCPbe5NS0EAK2joORTd4pYkqMxc"},
	    {SIGNER_SHA384, "eyJhIjoxfQ.ZVPxAA.ttlRx9H5gGGWSv_bF9jNyZZY4-Rols50s8yuWu0Mik8D3tPQ"
			    "SW7Lr7z0ahIE1rMu"},
	    {SIGNER_SHA512, "eyJhIjoxfQ.ZVPxAA.pdasDjpyyTCSLJSQ1PbhckrTMt2wU-v72GX74ZgZ8YSy5It-"
			    "gz2GeE-kVTUnir4N_hl0P_jNrtZfN-sK4xyx6Q"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		signer *s = mk(v[i].d, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, "secret", 6);
		check_timed(s, "eyJhIjoxfQ", TS, v[i].want);
		signer_free(s);
	}
}
END_TEST

START_TEST(test_django_concat)
{
	signer *s =
	    mk(SIGNER_SHA1, SIGNER_KDF_DJANGO_CONCAT, SIGNER_SALT_ITSDANGEROUS, "secret", 6);
	check_timed(s, "eyJhIjoxfQ", TS, "eyJhIjoxfQ.ZVPxAA.t0h0htkG_LbKCJB4OvPdVRCon3Y");
	signer_free(s);
	/* F(b"secret", salt=b"x", digest_method=hashlib.sha256).sign(b"value.with.dots") */
	s = mk(SIGNER_SHA256, SIGNER_KDF_DJANGO_CONCAT, "x", "secret", 6);
	check_timed(s, "value.with.dots", TS,
		    "value.with.dots.ZVPxAA.inXZy5S7R7CplBu9C2S9ro6oTMmM6j_bQ4rjTXvdtgU");
	signer_free(s);
}
END_TEST

START_TEST(test_long_binary_key)
{
	signer *s = mk(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, long_key(), 1000);
	check_timed(s, "eyJhIjoxfQ", TS, "eyJhIjoxfQ.ZVPxAA.csJ1dePPZs9x67S6eK0wz9oQSTs");
	signer_free(s);
	s = mk(SIGNER_SHA1, SIGNER_KDF_DJANGO_CONCAT, SIGNER_SALT_ITSDANGEROUS, long_key(), 1000);
	check_timed(s, "eyJhIjoxfQ", TS, "eyJhIjoxfQ.ZVPxAA.mHlrxkCXzu6--3c5KnPuMtZpFO4");
	signer_free(s);
	/* A NUL-truncated copy of the key is a different key. */
	s = mk(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, long_key(), 999);
	struct signer_result r;
	const char *c = "eyJhIjoxfQ.ZVPxAA.csJ1dePPZs9x67S6eK0wz9oQSTs";
	ck_assert_int_eq(signer_unsign_timed(s, c, strlen(c), TS, 10, &r), SG_EBADSIG);
	signer_free(s);
}
END_TEST

START_TEST(test_empty_salt_and_plain_signer)
{
	signer *s = mk(SIGNER_SHA1, SIGNER_KDF_HMAC, "", "secret", 6);
	check_timed(s, "x", TS, "x.ZVPxAA.YE5stjkQiswWDodgDKruj_6pOyw");
	signer_free(s);

	/* Signer(b"secret", salt="cookie-session", key_derivation="hmac").sign(b"hello") */
	s = flask_signer("secret");
	char buf[64] = "hello";
	size_t out = 0;
	ck_assert_int_eq(signer_sign(s, buf, 5, sizeof(buf), &out), 0);
	ck_assert_uint_eq(out, 33);
	ck_assert_int_eq(memcmp(buf, "hello.Tifwt9zxvjFC9xeD2SyHUb1DQUQ", 33), 0);
	struct signer_result r = {.value_len = 99};
	ck_assert_int_eq(signer_unsign(s, buf, out, &r), 0);
	ck_assert_uint_eq(r.value_len, 5);
	buf[0] = 'j';
	ck_assert_int_eq(signer_unsign(s, buf, out, &r), SG_EBADSIG);
	/* too small a buffer: refused, nothing claimed */
	ck_assert_int_eq(signer_sign(s, buf, 5, 5 + 27, &out), SG_ETOOBIG);
	signer_free(s);
}
END_TEST

START_TEST(test_timestamps)
{
	signer *s = flask_signer("secret");
	/* itsdangerous int_to_bytes(0) is b"", so a timestamp of 0 is empty */
	check_timed(s, "eyJhIjoxfQ", 0, "eyJhIjoxfQ..SbGvEl6hzusJ0iQDN06JXVaCE-8");
	check_timed(s, "eyJhIjoxfQ", 255, "eyJhIjoxfQ._w.PEZ3hpKobTI8xQ9ZQi6SX8F5MjE");
	/* 2**64-1: signable only by itsdangerous, read back as far future */
	const char *max = "eyJhIjoxfQ.__________8.0-UqFpvWSdXHGy3UPCjU-algxb8";
	struct signer_result r;
	ck_assert_int_eq(signer_unsign_timed(s, max, strlen(max), TS, 100, &r), SG_EFUTURE);
	ck_assert_int_eq(signer_unsign_timed(s, max, strlen(max), TS, -1, &r), 0);
	ck_assert(r.ts == UINT64_MAX);
	char buf[64];
	size_t out;
	ck_assert_int_eq(signer_sign_timed(s, -1, buf, 0, sizeof(buf), &out), SG_EINVAL);
	signer_free(s);
}
END_TEST

START_TEST(test_age)
{
	signer *s = flask_signer("secret");
	const char *c = "eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU";
	size_t n = strlen(c);
	struct signer_result r = {0};
	ck_assert_int_eq(signer_unsign_timed(s, c, n, TS + 100, 100, &r), 0); /* age == max_age */
	ck_assert_int_eq(signer_unsign_timed(s, c, n, TS + 101, 100, &r), SG_EEXPIRED);
	ck_assert_int_eq(signer_unsign_timed(s, c, n, TS - 1, 100, &r), SG_EFUTURE);
	ck_assert_int_eq(signer_unsign_timed(s, c, n, TS, 0, &r), 0);
	ck_assert_int_eq(signer_unsign_timed(s, c, n, 0, -1, &r), 0); /* no time checks */
	ck_assert_int_eq(signer_unsign_timed(s, c, n, INT64_MAX, INT64_MAX, &r), 0);
	ck_assert_uint_eq(r.ts, TS);
	signer_free(s);
}
END_TEST

START_TEST(test_fallbacks)
{
	/* F(b"old", ...).sign(b"eyJhIjoxfQ") */
	const char *old = "eyJhIjoxfQ.ZVPxAA.AyLvnx8ZSVH5AZ1qMRpmlR3I6wc";
	/* F([b"old", b"new"], ...): itsdangerous signs with the newest */
	const char *new = "eyJhIjoxfQ.ZVPxAA.MURRRJpDg3aWu7ejt2QVczD6Tmg";
	signer *s = flask_signer("new");
	struct signer_result r = {0};
	ck_assert_int_eq(signer_unsign_timed(s, old, strlen(old), TS, 10, &r), SG_EBADSIG);
	ck_assert_int_eq(signer_add_key(s, "other", 5), 0);
	ck_assert_int_eq(signer_add_key(s, "old", 3), 0);
	ck_assert_uint_eq(signer_key_count(s), 3);
	ck_assert_int_eq(signer_unsign_timed(s, old, strlen(old), TS, 10, &r), 0);
	ck_assert_uint_eq(r.key_index, 2);
	ck_assert_int_eq(signer_unsign_timed(s, new, strlen(new), TS, 10, &r), 0);
	ck_assert_uint_eq(r.key_index, 0);
	/* always signs with the current key */
	check_timed(s, "eyJhIjoxfQ", TS, new);
	signer_free(s);
}
END_TEST

/* signer_verify: any bytes in the value (Starlette's "+/="), each key in
 * turn, and a wrong or truncated signature refused. */
START_TEST(test_verify_any_bytes)
{
	signer *s = flask_signer("new");
	ck_assert_int_eq(signer_add_key(s, "old", 3), 0);
	char buf[128] = "eyJh+/==";
	size_t n = 0, key = 9;
	ck_assert_int_eq(signer_sign(s, buf, 8, sizeof(buf), &n), 0);
	ck_assert_int_eq(signer_verify(s, buf, 8, buf + 9, n - 9, &key), 0);
	ck_assert_uint_eq(key, 0);
	/* the same value signed with the fallback key alone verifies as key 1 */
	signer *o = flask_signer("old");
	char ob[128] = "eyJh+/==";
	size_t on = 0;
	ck_assert_int_eq(signer_sign(o, ob, 8, sizeof(ob), &on), 0);
	key = 9;
	ck_assert_int_eq(signer_verify(s, ob, 8, ob + 9, on - 9, &key), 0);
	ck_assert_uint_eq(key, 1);
	/* unsign refuses the alphabet that verify accepts */
	struct signer_result r;
	ck_assert_int_eq(signer_unsign(s, buf, n, &r), SG_EMALFORMED);
	buf[n - 1] = buf[n - 1] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(signer_verify(s, buf, 8, buf + 9, n - 9, &key), SG_EBADSIG);
	ck_assert_int_eq(signer_verify(s, buf, 8, buf + 9, n - 10, &key), SG_EBADSIG);
	ck_assert_int_eq(signer_verify(s, buf, 7, buf + 9, n - 9, &key), SG_EBADSIG);
	signer_free(o);
	signer_free(s);
}
END_TEST

START_TEST(test_bad_keys_and_names)
{
	signer *s = mk(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, NULL, 0);
	char buf[128] = "x";
	size_t out;
	struct signer_result r;
	const char *c = "eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU";
	ck_assert_int_eq(signer_sign_timed(s, TS, buf, 1, sizeof(buf), &out), SG_EINVAL);
	ck_assert_int_eq(signer_unsign_timed(s, c, strlen(c), TS, 10, &r), SG_EBADSIG);
	ck_assert_int_eq(signer_add_key(s, "", 0), SG_EINVAL);
	char *big = calloc(1, SG_SECRET_MAX + 1);
	ck_assert_int_eq(signer_add_key(s, big, SG_SECRET_MAX + 1), SG_ETOOBIG);
	ck_assert_int_eq(signer_add_key(s, big, SG_SECRET_MAX), 0);
	free(big);
	signer_free(s);
	signer_free(NULL);

	signer *t = NULL;
	ck_assert_int_eq(signer_new((enum signer_digest)42, SIGNER_KDF_HMAC, "", 0, &t), SG_EINVAL);
	ck_assert_ptr_null(t);
	enum signer_digest d = SIGNER_SHA1;
	enum signer_kdf k = SIGNER_KDF_HMAC;
	ck_assert_int_eq(signer_digest_parse("sha512", &d), 0);
	ck_assert_int_eq(d, SIGNER_SHA512);
	ck_assert_int_eq(signer_digest_parse("md5", &d), SG_EINVAL);
	ck_assert_int_eq(d, SIGNER_SHA512);
	ck_assert_int_eq(signer_kdf_parse("django-concat", &k), 0);
	ck_assert_int_eq(k, SIGNER_KDF_DJANGO_CONCAT);
	ck_assert_int_eq(signer_kdf_parse("concat", &k), SG_EINVAL);

	ck_assert_uint_eq(signer_secret_trim("abc\n", 4), 3);
	ck_assert_uint_eq(signer_secret_trim("abc\n\n", 5), 4);
	ck_assert_uint_eq(signer_secret_trim("abc\r\n", 5), 4);
	ck_assert_uint_eq(signer_secret_trim("abc", 3), 3);
	ck_assert_uint_eq(signer_secret_trim("\n", 1), 0);
	ck_assert_uint_eq(signer_secret_trim("", 0), 0);
}
END_TEST

START_TEST(test_malformed)
{
	signer *s = flask_signer("secret");
	static const struct {
		const char *in;
		int want;
	} v[] = {
	    {"", SG_EMALFORMED},
	    {"nodots", SG_EMALFORMED},
	    {"one.dot", SG_EMALFORMED},
	    {"eyJhIjoxfQ.ZVPxAA.", SG_EMALFORMED},			       /* empty signature */
	    {"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU=", SG_EMALFORMED}, /* padding */
	    {"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V/1Ol-cgU", SG_EMALFORMED},  /* std alphabet */
	    {"eyJhIjoxfQ ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EMALFORMED},
	    {"eyJhIjoxfQ.Z.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EMALFORMED}, /* ts % 4 == 1 */
	    {"eyJhIjoxfQ.ZVPxAAAAAAAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EMALFORMED}, /* 9 bytes */
	    {"eyJhIjoxfQ.ZVPxAB.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EMALFORMED}, /* unused bits */
	    {"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgV", SG_EBADSIG},    /* last char */
	    {"eyJhIjoxfR.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EBADSIG},
	    {"eyJhIjoxfQ.ZVPxAQ.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EBADSIG}, /* ts tampered */
	    {"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cg", SG_EBADSIG},  /* short sig */
	    {"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgUA", SG_EBADSIG},
	    {".ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EBADSIG},
	    {"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", 0},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct signer_result r = {.value_len = 12345};
		int got = signer_unsign_timed(s, v[i].in, strlen(v[i].in), TS, 100, &r);
		ck_assert_msg(got == v[i].want, "%s: got %d want %d", v[i].in, got, v[i].want);
		if (got)
			ck_assert_uint_eq(r.value_len, 12345); /* untouched on failure */
	}
	/* an embedded NUL is not a cookie character */
	struct signer_result r;
	ck_assert_int_eq(signer_unsign_timed(s, "eyJh\0IjoxfQ.ZVPxAA.hG4L", 22, TS, 1, &r),
			 SG_EMALFORMED);
	signer_free(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("signer");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_digests);
	tcase_add_test(tc, test_django_concat);
	tcase_add_test(tc, test_long_binary_key);
	tcase_add_test(tc, test_empty_salt_and_plain_signer);
	tcase_add_test(tc, test_timestamps);
	tcase_add_test(tc, test_age);
	tcase_add_test(tc, test_fallbacks);
	tcase_add_test(tc, test_verify_any_bytes);
	tcase_add_test(tc, test_bad_keys_and_names);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(su, tc);
	return th_run_suite(su);
}
