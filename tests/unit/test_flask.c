/* tests/unit/test_flask.c — the Flask session codec against cookies made once by real Flask 2.2.2.
 *
 * Vectors: Debian's /usr/bin/python3, tests/e2e/flask_cookie.py's flask_sign
 * (a real Flask app and its test client, itsdangerous's clock frozen at
 * 1700000000, SECRET_KEY b"secret"), e.g.
 *   flask_sign({"a": 1, "b": "x", "c": True, "d": [1, 2, {"e": None}]}, b"secret", 1700000000)
 * with the JSON from app.session_interface.serializer.dumps(session). The
 * "tags" session is {"t": (1, 2), "b": b"\0\xff", "m": Markup("<b>x</b>"),
 * "u": UUID(int=0x12345678...), "d": datetime(2023, 11, 14, 22, 13, 20, utc),
 * "di": {" t": [1]}}; "lossless" is {"big": 2**100, "neg": -2**70,
 * "nan": nan, "inf": inf, "ninf": -inf, "nul": "a\0b", "sur": "\ud800x",
 * "f": 1e16, "g": 1.5e-7, "h": 0.1}.
 * Broken payloads were signed directly with
 *   TimestampSigner(b"secret", salt="cookie-session", key_derivation="hmac")
 * (clock frozen likewise), e.g. .sign(b"." + base64_encode(b"not zlib at all")). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "flask.h"
#include "helpers.h"
#include "json.h"
#include "sg_limits.h"
#include "signer.h"

#define TS  1700000000
#define DAY (24 * 3600)

static const struct vec {
	const char *name, *digest, *salt, *cookie, *json;
} vecs[] = {
    {"plain", "sha1", "cookie-session",
     "eyJhIjoxLCJiIjoieCIsImMiOnRydWUsImQiOlsxLDIseyJlIjpudWxsfV19.ZVPxAA.R5mK5kh-"
     "oYg0nbcbZgYLaA9YR0U",
     "{\"a\":1,\"b\":\"x\",\"c\":true,\"d\":[1,2,{\"e\":null}]}"},
    {"flasklogin", "sha1", "cookie-session",
     ".eJyrVopPK0otzlCyKikqTdVRis9MUbJSSkwaWKgEdEhpcWoRxDUmRkB-cnFRWnxJfnZqHlAkOYU4qFQLAPV2Uc4."
     "ZVPxAA.uMiOmrSSTeQpsotKscnoHOWxElo",
     "{\"_fresh\":true,\"_id\":"
     "\"abababababababababababababababababababababababababababababababababababababababababababababa"
     "babababababababababababababababababab\",\"_user_id\":\"42\",\"csrf_token\":"
     "\"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd\"}"},
    {"compressed", "sha1", "cookie-session",
     ".eJx1zysOgDAURNGtkKcRLfTLbhCoYsEQ9k6YGsTFjDkZcS9rzhY71_3Yhu86G615JC_im--_n2N_"
     "ToyTcGachYExCCNjFCbGJMyMWVgYi7Ay1hc5U5UcqUZOVCEHqo_zVMdxauM0lXFYtfsB97OuFQ.ZVPxAA.1hk9fHU0xi-"
     "0pVEStmJ5XQS8hHk",
     "{\"k0\":\"value value value 0\",\"k1\":\"value value value 1\",\"k10\":\"value value value "
     "10\",\"k11\":\"value value value 11\",\"k12\":\"value value value 12\",\"k13\":\"value value "
     "value 13\",\"k14\":\"value value value 14\",\"k15\":\"value value value 15\",\"k16\":\"value "
     "value value 16\",\"k17\":\"value value value 17\",\"k18\":\"value value value "
     "18\",\"k19\":\"value value value 19\",\"k2\":\"value value value 2\",\"k3\":\"value value "
     "value 3\",\"k4\":\"value value value 4\",\"k5\":\"value value value 5\",\"k6\":\"value value "
     "value 6\",\"k7\":\"value value value 7\",\"k8\":\"value value value 8\",\"k9\":\"value value "
     "value 9\"}"},
    {"unicode", "sha1", "cookie-session",
     "eyJjYWZcdTAwZTkiOjEsInUiOiJoXHUwMGU5bGxvIFx1MjYwMyBcdWQ4M2RcdWRlMDAifQ.ZVPxAA."
     "fWxwT5k7iCLIWvJXUdpRHkuBZoo",
     "{\"caf\\u00e9\":1,\"u\":\"h\\u00e9llo \\u2603 \\ud83d\\ude00\"}"},
    {"tags", "sha1", "cookie-session",
     ".eJyrVkpSsqpWUgCSSo4BFrZKtTpKKWARIKkUUpqqo2BoouCXX6ZgZGBkrGBkZGVobGVkoODuGwJWmglRC6FK4uOVrKIN"
     "Y2uBMrlgESCpZJNkV2Gjn2QHUl8CUQdSpWMUCxQoBQsASSVDI2MTUzNzC1y0Um0tAMwAKvs.ZVPxAA.G_uq1Hfd-"
     "UCxuLMl_s5RtAtSa-c",
     "{\"b\":{\" b\":\"AP8=\"},\"d\":{\" d\":\"Tue, 14 Nov 2023 22:13:20 GMT\"},\"di\":{\" "
     "di\":{\" t__\":[1]}},\"m\":{\" m\":\"<b>x</b>\"},\"t\":{\" t\":[1,2]},\"u\":{\" "
     "u\":\"12345678123456781234567812345678\"}}"},
    {"lossless", "sha1", "cookie-session",
     ".eJxNizsOwjAQRO-yLXY0u_4lvgFNTpAmEQlYQi4glkCIu7NQMdVo3psXLeVMmSWmGBABkV5k8GA_"
     "xAQnCC5FQ5s664G1fe0urBbJ0IUyOjZUqvJj3Uot-9NQnSvlcR61rapb5h5h4ChInDyzg_Pilf5-9u_"
     "YrpRpnho0Cxm6t5sOUzv1wIPeH4FyLNk.ZVPxAA.9pC2ikokysPwZl6zXlKNeNpMrvQ",
     "{\"big\":1267650600228229401496703205376,\"f\":1e+16,\"g\":1.5e-07,\"h\":0.1,\"inf\":"
     "Infinity,\"nan\":NaN,\"neg\":-1180591620717411303424,\"ninf\":-Infinity,\"nul\":"
     "\"a\\u0000b\",\"sur\":\"\\ud800x\"}"},
    {"sha256", "sha256", "cookie-session",
     "eyJhIjoxfQ.ZVPxAA.JPoD7oy5nu8q1rqVeCPbe5NS0EAK2joORTd4pYkqMxc", "{\"a\":1}"},
    {"salt", "sha1", "other-salt", "eyJhIjoxfQ.ZVPxAA.NJRP_9LcMHEUCuZRpYbXPCLXgU0", "{\"a\":1}"},
};

#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

/* Broken payloads signed with the real TimestampSigner (see the top). */
#define BOMB                                                                                       \
	".eJztwQEJAEAIBLAuF8M230IQu38P2TZ5qTQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"     \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAByS_ajbc0c.ZVP" \
	"xAA.4yKfKMs8tpTkPgEmLWnLmQrAfmI"
/* {"a": "x" * (256 * 1024 - 8)}: inflates to exactly SG_INFLATE_MAX bytes */
#define JUSTFIT                                                                                    \
	".eJztwUENADAIBDAvJwM3c0FC8L4PMtpOXioNAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"     \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
	"AAAAAAAAAAAAAAAAAAAAAAAAAAHCyHw4OGnw.ZVPxAA.o223JTRQohB1XwRENFkucarFnl0"

/* Every test runs twice: with fresh zlib state per call, and reusing one scratch. */
static flask_scratch *SC;

static void use_scratch(void)
{
	ck_assert_int_eq(flask_scratch_new(&SC), 0);
}

static void drop_scratch(void)
{
	flask_scratch_free(SC);
	SC = NULL;
}

static signer *vec_signer(const struct vec *v, const char *key)
{
	enum signer_digest d;
	signer *s = NULL;
	ck_assert_int_eq(signer_digest_parse(v->digest, &d), 0);
	ck_assert_int_eq(signer_new(d, SIGNER_KDF_HMAC, v->salt, strlen(v->salt), &s), 0);
	ck_assert_int_eq(signer_add_key(s, key, strlen(key)), 0);
	return s;
}

static int decode(const signer *s, const char *cookie, int64_t now, flask_session **ret)
{
	return flask_decode(s, SC, cookie, strlen(cookie), now, 31 * DAY, ret);
}

START_TEST(test_decode_vectors)
{
	const struct vec *v = &vecs[_i];
	signer *s = vec_signer(v, "secret");
	flask_session *fs = NULL;
	ck_assert_int_eq(decode(s, v->cookie, TS + 60, &fs), 0);
	ck_assert_str_eq(fs->json, v->json);
	ck_assert_uint_eq(fs->json_len, strlen(v->json));
	ck_assert_str_eq(fs->cookie, v->cookie);
	ck_assert_ptr_ne(fs->cookie, v->cookie); /* a copy: outlives the request buffer */
	ck_assert_uint_eq(fs->ts, TS);
	ck_assert_uint_eq(fs->key_index, 0);
	ck_assert(fs->compressed == (v->cookie[0] == '.'));
	json *obj = NULL;
	ck_assert_int_eq(flask_session_parse(fs, &obj), 0);
	ck_assert_int_eq(obj->type, JSON_OBJECT);
	json_free(obj);
	flask_session_free(fs);
	signer_free(s);
}
END_TEST

START_TEST(test_encode_vectors)
{
	/* byte identity with Flask, through the parsed tree and from the text */
	const struct vec *v = &vecs[_i];
	signer *s = vec_signer(v, "secret");
	json *obj = NULL;
	ck_assert_int_eq(json_parse(v->json, strlen(v->json), JSON_PARSE_PYTHON, &obj), 0);
	char *out = NULL;
	size_t len = 0;
	ck_assert_int_eq(flask_encode(s, SC, obj, TS, &out, &len), 0);
	ck_assert_str_eq(out, v->cookie);
	ck_assert_uint_eq(len, strlen(v->cookie));
	free(out);
	ck_assert_int_eq(flask_encode_text(s, SC, v->json, strlen(v->json), TS, &out, &len), 0);
	ck_assert_str_eq(out, v->cookie);
	free(out);
	json_free(obj);
	signer_free(s);
}
END_TEST

START_TEST(test_wrong_key_salt_digest)
{
	const struct vec *v = &vecs[_i];
	static const struct vec other[] = {
	    {"", "sha1", "cookie-session", NULL, NULL},
	    {"", "sha256", "cookie-session", NULL, NULL},
	    {"", "sha1", "other-salt", NULL, NULL},
	};
	flask_session *fs = NULL;
	signer *s = vec_signer(v, "Secret");
	ck_assert_int_eq(decode(s, v->cookie, TS, &fs), SG_EBADSIG);
	signer_free(s);
	for (size_t i = 0; i < 3; i++) {
		if (!strcmp(other[i].digest, v->digest) && !strcmp(other[i].salt, v->salt))
			continue;
		s = vec_signer(&other[i], "secret");
		ck_assert_int_eq(decode(s, v->cookie, TS, &fs), SG_EBADSIG);
		signer_free(s);
	}
	ck_assert_ptr_null(fs);
}
END_TEST

START_TEST(test_tamper)
{
	/* every single-character change is refused (as bad signature or, when
	 * it breaks the shape, as malformed) */
	signer *s = th_flask_signer("secret");
	for (size_t k = 0; k < NVECS; k++) {
		if (strcmp(vecs[k].digest, "sha1") || strcmp(vecs[k].salt, "cookie-session"))
			continue;
		char *c = strdup(vecs[k].cookie);
		size_t n = strlen(c);
		for (size_t i = 0; i < n; i++) {
			char orig = c[i];
			c[i] = orig == 'A' ? 'B' : orig == '.' ? '_' : 'A';
			flask_session *fs = NULL;
			int r = decode(s, c, TS, &fs);
			ck_assert_msg(r == SG_EBADSIG || r == SG_EMALFORMED, "%s at %zu: %d",
				      vecs[k].name, i, r);
			ck_assert_ptr_null(fs);
			c[i] = orig;
		}
		free(c);
	}
	signer_free(s);
}
END_TEST

START_TEST(test_time)
{
	signer *s = th_flask_signer("secret");
	const char *c = vecs[0].cookie;
	flask_session *fs = NULL;
	ck_assert_int_eq(decode(s, c, TS + 31 * DAY + 1, &fs), SG_EEXPIRED);
	ck_assert_int_eq(decode(s, c, TS - 1, &fs), SG_EFUTURE);
	ck_assert_int_eq(flask_decode(s, SC, c, strlen(c), TS + 10, 9, &fs), SG_EEXPIRED);
	ck_assert_ptr_null(fs);
	ck_assert_int_eq(decode(s, c, TS + 31 * DAY, &fs), 0);
	flask_session_free(fs);
	ck_assert_int_eq(flask_decode(s, SC, c, strlen(c), 0, -1, &fs), 0); /* no time checks */
	flask_session_free(fs);
	signer_free(s);
}
END_TEST

START_TEST(test_fallback_key)
{
	/* secret rotated: "secret" is now a fallback */
	signer *s = th_flask_signer("new secret");
	ck_assert_int_eq(signer_add_key(s, "older", 5), 0);
	ck_assert_int_eq(signer_add_key(s, "secret", 6), 0);
	flask_session *fs = NULL;
	ck_assert_int_eq(decode(s, vecs[1].cookie, TS, &fs), 0);
	ck_assert_uint_eq(fs->key_index, 2);
	ck_assert_str_eq(fs->json, vecs[1].json);
	json *obj = NULL;
	ck_assert_int_eq(flask_session_parse(fs, &obj), 0);
	char *out = NULL;
	size_t len;
	ck_assert_int_eq(flask_encode(s, SC, obj, TS, &out, &len), 0);
	ck_assert_str_ne(out, vecs[1].cookie); /* re-signed with the current key */
	flask_session *fs2 = NULL;
	ck_assert_int_eq(decode(s, out, TS, &fs2), 0);
	ck_assert_uint_eq(fs2->key_index, 0);
	ck_assert_str_eq(fs2->json, vecs[1].json);
	signer *only_old = th_flask_signer("secret");
	flask_session *fs3 = NULL;
	ck_assert_int_eq(decode(only_old, out, TS, &fs3), SG_EBADSIG);
	signer_free(only_old);
	flask_session_free(fs2);
	free(out);
	json_free(obj);
	flask_session_free(fs);
	signer_free(s);
}
END_TEST

START_TEST(test_resign)
{
	/* the same payload with a new timestamp (1700003600 is "ZVP_EA" in
	 * itsdangerous's base64_encode(int_to_bytes(ts))), and byte-identical
	 * to a fresh encode at that time */
	signer *s = th_flask_signer("secret");
	for (size_t k = 0; k < 2; k++) {
		flask_session *fs = NULL;
		ck_assert_int_eq(decode(s, vecs[k].cookie, TS, &fs), 0);
		char *out = NULL;
		size_t len = 0;
		ck_assert_int_eq(flask_resign(s, fs, TS + 3600, &out, &len), 0);
		const char *dot = strrchr(vecs[k].cookie, '.');
		size_t plen = (size_t)(dot - vecs[k].cookie) - 7; /* ".ZVPxAA" */
		ck_assert_int_eq(memcmp(out, vecs[k].cookie, plen + 1), 0);
		ck_assert_int_eq(memcmp(out + plen, ".ZVP_EA.", 8), 0);
		ck_assert_uint_eq(len, strlen(out));
		flask_session *fs2 = NULL;
		ck_assert_int_eq(decode(s, out, TS + 3600, &fs2), 0);
		ck_assert_str_eq(fs2->json, vecs[k].json);
		ck_assert_uint_eq(fs2->ts, TS + 3600);
		/* and it is what a fresh encode gives */
		json *obj = NULL;
		char *enc = NULL;
		ck_assert_int_eq(flask_session_parse(fs, &obj), 0);
		ck_assert_int_eq(flask_encode(s, SC, obj, TS + 3600, &enc, &len), 0);
		ck_assert_str_eq(enc, out);
		free(enc);
		json_free(obj);
		flask_session_free(fs2);
		free(out);
		flask_session_free(fs);
	}
	signer_free(s);
}
END_TEST

START_TEST(test_inflate_cap)
{
	signer *s = th_flask_signer("secret");
	flask_session *fs = NULL;
	ck_assert_int_eq(decode(s, BOMB, TS, &fs), SG_ETOOBIG);
	ck_assert_ptr_null(fs);
	ck_assert_int_eq(decode(s, JUSTFIT, TS, &fs), 0);
	ck_assert_uint_eq(fs->json_len, SG_INFLATE_MAX);
	ck_assert_int_eq(memcmp(fs->json, "{\"a\":\"xxxx", 10), 0);
	ck_assert_int_eq(fs->json[fs->json_len], '\0');
	json *obj = NULL;
	ck_assert_int_eq(flask_session_parse(fs, &obj), 0);
	char *out = NULL;
	size_t len;
	ck_assert_int_eq(flask_encode(s, SC, obj, TS, &out, &len), 0);
	ck_assert_str_eq(out, JUSTFIT);
	free(out);
	/* one more byte and encode refuses what decode could not read back */
	ck_assert_int_eq(json_object_set(obj, "b", 1, json_new_null()), 0);
	ck_assert_int_eq(flask_encode(s, SC, obj, TS, &out, &len), SG_ETOOBIG);
	json_free(obj);
	flask_session_free(fs);
	signer_free(s);
}
END_TEST

START_TEST(test_malformed)
{
	static const struct {
		const char *what, *cookie;
		int decode, parse;
	} v[] = {
	    {"no dots", "eyJhIjoxfQ", SG_EMALFORMED, 0},
	    {"one dot", "eyJhIjoxfQ.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", SG_EMALFORMED, 0},
	    {"empty", "", SG_EMALFORMED, 0},
	    {"dots only", "...", SG_EMALFORMED, 0},
	    {"empty sig", "eyJhIjoxfQ.ZVPxAA.", SG_EMALFORMED, 0},
	    {"space", "eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU ", SG_EMALFORMED, 0},
	    {"quoted", "\"eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU\"", SG_EMALFORMED, 0},
	    {"bad sig", "eyJhIjoxfQ.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgA", SG_EBADSIG, 0},
	    {"not zlib", ".bm90IHpsaWIgYXQgYWxs.ZVPxAA.q4VClROtgvgZInmzLtbuFZJZ09M", SG_EMALFORMED,
	     0},
	    {"truncated zlib", ".eJyrVkpUsjKsBQAI.ZVPxAA.Gs6xjDrjus8RgbaUipKuKyIRRcE",
	     SG_EMALFORMED, 0},
	    {"after zlib", ".eJyrVkpUsjKsBQAIKgIJeHg.ZVPxAA.nFDuJGbIpG7a-vFyC8mBYhPlfXc",
	     SG_EMALFORMED, 0},
	    {"raw deflate", ".q1ZKVLIyrAUA.ZVPxAA.xzTT1yDNBKPLn7hkDUCkO15grpc", SG_EMALFORMED, 0},
	    {"bad base64", "a.ZVPxAA.mJlHNfbN13Hn-RG2c07vqHtcjGQ", SG_EMALFORMED, 0},
	    {"padding", "ab=c.ZVPxAA.M_PrL9C9Sp57p5q1rZ339SRzFD4", SG_EMALFORMED, 0},
	    {"empty payload", ".ZVPxAA.drkKj__NskfwqERS_ZD3rGJ4jHY", SG_EMALFORMED, 0},
	    {"empty compressed", "..ZVPxAA.pSDv3l0PGeLOoDHR-DRvbH2gnqY", SG_EMALFORMED, 0},
	    {"not json", "bm90IGpzb24.ZVPxAA.2ME1-d6HFvSEsp8aOIgJjCFmxYQ", 0, SG_EMALFORMED},
	    {"array", "WzEsMl0.ZVPxAA.JwF2GclrdmNCvnOQPCFBnTNoWzM", 0, SG_EMALFORMED},
	    {"nul after json", "eyJhIjoxfQA.ZVPxAA.eip4_Jkbvlpi-HBdZZ93e9FaIIs", 0, SG_EMALFORMED},
	    {"100 deep",
	     "eyJhIjpbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1"
	     "tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbXV1dXV1dXV"
	     "1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV"
	     "1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXV1dXX0.ZVPxAA.SLbjo4BVhbRKPghM_YByTLPLE5Y",
	     0, SG_EDEPTH},
	};
	signer *s = th_flask_signer("secret");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		flask_session *fs = NULL;
		int r = decode(s, v[i].cookie, TS, &fs);
		ck_assert_msg(r == v[i].decode, "%s: decode %d", v[i].what, r);
		if (r) {
			ck_assert_ptr_null(fs);
			continue;
		}
		json *obj = NULL;
		r = flask_session_parse(fs, &obj);
		ck_assert_msg(r == v[i].parse, "%s: parse %d", v[i].what, r);
		ck_assert_ptr_null(obj);
		flask_session_free(fs);
	}
	/* too long to look at */
	char *big = malloc(SG_COOKIE_MAX + 2);
	memset(big, 'A', SG_COOKIE_MAX + 1);
	big[SG_COOKIE_MAX + 1] = '\0';
	flask_session *fs = NULL;
	ck_assert_int_eq(decode(s, big, TS, &fs), SG_ETOOBIG);
	big[SG_COOKIE_MAX] = '\0';
	ck_assert_int_eq(decode(s, big, TS, &fs), SG_EMALFORMED);
	free(big);
	/* an embedded NUL is not part of any cookie */
	ck_assert_int_eq(flask_decode(s, SC, "eyJhIjoxfQ\0.ZVPxAA.hG4LXFRbN7aPAMuhb5V_1Ol-cgU", 46,
				      TS, 100, &fs),
			 SG_EMALFORMED);
	flask_session_free(NULL);
	signer_free(s);
}
END_TEST

START_TEST(test_encode_rules)
{
	signer *s = th_flask_signer("secret");
	char *out = NULL;
	size_t len = 0;
	json *arr = json_new_array();
	ck_assert_int_eq(flask_encode(s, SC, arr, TS, &out, &len), SG_EINVAL);
	ck_assert_int_eq(flask_encode(s, SC, NULL, TS, &out, &len), SG_EINVAL);
	ck_assert_ptr_null(out);
	json_free(arr);
	/* an empty session is still a cookie Flask can read (signed with the
	 * TimestampSigner above: Flask itself deletes empty sessions) */
	json *o = json_new_object();
	ck_assert_int_eq(flask_encode(s, SC, o, TS, &out, &len), 0);
	ck_assert_str_eq(out, "e30.ZVPxAA.omt3PgL-M3J_8Whx6kOE7kEHzec");
	free(out);
	/* sorted keys and ASCII escapes regardless of insertion order */
	ck_assert_int_eq(json_object_set(o, "u", 1, json_new_string("h\xc3\xa9llo", 6)), 0);
	ck_assert_int_eq(json_object_set(o, "caf\xc3\xa9", 5, json_new_number("1", 1)), 0);
	ck_assert_int_eq(flask_encode(s, SC, o, TS, &out, &len), 0);
	ck_assert_str_eq(out, "eyJjYWZcdTAwZTkiOjEsInUiOiJoXHUwMGU5bGxvIn0.ZVPxAA.oms8Tuz8eFBPu0"
			      "KNa_TVtULCwDI");
	free(out);
	/* no key, no cookie */
	signer *nokey = NULL;
	ck_assert_int_eq(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, "", 0, &nokey), 0);
	ck_assert_int_eq(flask_encode(nokey, SC, o, TS, &out, &len), SG_EINVAL);
	signer_free(nokey);
	json_free(o);
	signer_free(s);
}
END_TEST

static TCase *all_tests(const char *name)
{
	TCase *tc = tcase_create(name);
	tcase_add_loop_test(tc, test_decode_vectors, 0, NVECS);
	tcase_add_loop_test(tc, test_encode_vectors, 0, NVECS);
	tcase_add_loop_test(tc, test_wrong_key_salt_digest, 0, NVECS);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_fallback_key);
	tcase_add_test(tc, test_resign);
	tcase_add_test(tc, test_inflate_cap);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_encode_rules);
	return tc;
}

int main(void)
{
	Suite *su = suite_create("flask");
	suite_add_tcase(su, all_tests("fresh"));
	TCase *tc = all_tests("scratch");
	tcase_add_checked_fixture(tc, use_scratch, drop_scratch);
	suite_add_tcase(su, tc);
	return th_run_suite(su);
}
