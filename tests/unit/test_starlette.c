/* tests/unit/test_starlette.c — the Starlette session codec against cookies made once by real
 * Starlette 0.26.1.
 *
 * Vectors: Debian's /usr/bin/python3 with python3-starlette 0.26.1 and
 * itsdangerous 2.1.2, itsdangerous's clock frozen at 1700000000
 * (TimestampSigner.get_timestamp = lambda self: TS); the stock
 * starlette.middleware.sessions.SessionMiddleware(app, secret_key="secret")
 * called directly as an ASGI app around an app that replaced scope["session"]'s
 * contents with the dict below; we kept its Set-Cookie header, and checked
 * that a second request carrying the cookie showed the app the same dict.
 * "json" is json.dumps(dict) (what Starlette signs). Attribute variants used
 * SessionMiddleware(path="/app", same_site="strict", https_only=True,
 * max_age=None) and (max_age=3600, same_site="none", https_only=True); the
 * deletions came from an app calling session.clear() on a loaded session.
 * The domain= variant (Starlette >= 0.32, 1.x) is not in 0.26: its expected
 * bytes follow 1.x's sessions.py ("; domain=" after the security flags). */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "errors.h"
#include "helpers.h"
#include "json.h"
#include "sg_limits.h"
#include "signer.h"
#include "starlette.h"

#define TS  1700000000
#define DAY (24 * 3600)

static const struct vec {
	const char *name, *json, *cookie;
} vecs[] = {
    {"plain", "{\"a\": 1, \"b\": \"x\", \"c\": true, \"d\": [1, 2, {\"e\": null}]}",
     "eyJhIjogMSwgImIiOiAieCIsICJjIjogdHJ1ZSwgImQiOiBbMSwgMiwgeyJlIjogbnVsbH1dfQ==.ZVPxAA.ACM-"
     "pnnNluiUABlNaZ0Gq-87T4s"},
    {"order", "{\"z\": 1, \"a\": 2, \"m\": {\"y\": 1, \"b\": 2}}",
     "eyJ6IjogMSwgImEiOiAyLCAibSI6IHsieSI6IDEsICJiIjogMn19.ZVPxAA.mqsYVd4KtfXLva6qApan8PgIarQ"},
    {"unicode",
     "{\"name\": \"Zo\\u00eb \\u2603 \\ud83d\\ude00\", \"k\\u00e9y\": "
     "\"\\u0000\\u007f\\u0080\"}",
     "eyJuYW1lIjogIlpvXHUwMGViIFx1MjYwMyBcdWQ4M2RcdWRlMDAiLCAia1x1MDBlOXkiOiAiXHUwMDAwXHUwMDdmXH"
     "UwMDgwIn0=.ZVPxAA.h363sE6Wota0dc6EE9fQdiZ6I2Y"},
    {"escapes", "{\"s\": \"a\\\"b\\\\c\\n\\t/<>&'\", \"colon:comma,\": \"x: y, z\", \"\": \"\"}",
     "eyJzIjogImFcImJcXGNcblx0Lzw+JiciLCAiY29sb246Y29tbWEsIjogIng6IHksIHoiLCAiIjogIiJ9.ZVPxAA."
     "WF1jCvi0Fxv8oovyb3tANozZGD4"},
    {"numbers",
     "{\"f\": 1.5, \"big\": 1267650600228229401496703205376, \"neg\": -0.0, \"e\": 1e+16, "
     "\"small\": 1.5e-07, \"nan\": NaN, \"inf\": Infinity}",
     "eyJmIjogMS41LCAiYmlnIjogMTI2NzY1MDYwMDIyODIyOTQwMTQ5NjcwMzIwNTM3NiwgIm5lZyI6IC0wLjAsICJlIj"
     "ogMWUrMTYsICJzbWFsbCI6IDEuNWUtMDcsICJuYW4iOiBOYU4sICJpbmYiOiBJbmZpbml0eX0=.ZVPxAA."
     "WNqQdOgVOpM6C6CkyR5xj4G6T1Q"},
    {"lone", "{\"s\": \"\\ud800x\", \"t\": \"\\udfff\"}",
     "eyJzIjogIlx1ZDgwMHgiLCAidCI6ICJcdWRmZmYifQ==.ZVPxAA.otp895Ta_KN1qpTl4HflUJWrOUQ"},
    {"empty", "{\"e\": {}, \"l\": [], \"n\": null}",
     "eyJlIjoge30sICJsIjogW10sICJuIjogbnVsbH0=.ZVPxAA.GuSYQ35bPG32snPyZMjMnax_Y_0"},
};
#define NVECS ((int)(sizeof(vecs) / sizeof(vecs[0])))

static json *parse(const char *text)
{
	json *v = NULL;
	ck_assert_int_eq(json_parse(text, strlen(text), JSON_PARSE_PYTHON, &v), 0);
	return v;
}

/* Signs payload bytes exactly as TimestampSigner("secret") would, to build
 * cookies whose signature is good but whose content is not. */
static char *sign_raw(const char *payload, size_t len, int64_t now)
{
	signer *s = NULL;
	ck_assert_int_eq(signer_new(SIGNER_SHA1, SIGNER_KDF_DJANGO_CONCAT, SIGNER_SALT_ITSDANGEROUS,
				    strlen(SIGNER_SALT_ITSDANGEROUS), &s),
			 0);
	ck_assert_int_eq(signer_add_key(s, "secret", 6), 0);
	size_t cap = len + SIGNER_TIMED_SUFFIX_MAX + 1, n;
	char *buf = malloc(cap);
	memcpy(buf, payload, len);
	ck_assert_int_eq(signer_sign_timed(s, now, buf, len, cap, &n), 0);
	buf[n] = '\0';
	signer_free(s);
	return buf;
}

static char *sign_json(const char *text)
{
	size_t n = strlen(text);
	char *b = malloc(b64_encoded_len(n) + 1);
	size_t bl = b64_encode(text, n, b);
	char *c = sign_raw(b, bl, TS);
	free(b);
	return c;
}

START_TEST(test_decode_vectors)
{
	const struct vec *v = &vecs[_i];
	starlette *st = th_starlette_keyed("secret");
	json *got = NULL, *want = parse(v->json);
	struct starlette_info info = {0};
	ck_assert_int_eq(starlette_decode(st, v->cookie, strlen(v->cookie), TS,
					  STARLETTE_MAX_AGE_DEFAULT, &got, &info),
			 0);
	ck_assert_msg(json_equal(got, want), "%s: decoded session differs", v->name);
	ck_assert_uint_eq(info.ts, TS);
	ck_assert_uint_eq(info.key_index, 0);
	/* member order is Python's insertion order */
	for (size_t i = 0; i < want->u.obj.len; i++)
		ck_assert_mem_eq(got->u.obj.m[i].key, want->u.obj.m[i].key,
				 want->u.obj.m[i].klen + 1);
	ck_assert(starlette_cookie_shaped(v->cookie, strlen(v->cookie)));
	json_free(got);
	json_free(want);
	starlette_free(st);
}
END_TEST

START_TEST(test_encode_vectors)
{
	const struct vec *v = &vecs[_i];
	starlette *st = th_starlette_keyed("secret");
	json *want = parse(v->json);
	char *out = NULL, *compact = NULL;
	size_t len, clen;
	ck_assert_int_eq(starlette_encode(st, want, TS, &out, &len), 0);
	ck_assert_msg(strcmp(out, v->cookie) == 0, "%s:\n got %s\nwant %s", v->name, out,
		      v->cookie);
	ck_assert_uint_eq(len, strlen(v->cookie));
	free(out);
	/* the no-tree path from compact ASCII text gives the same bytes */
	ck_assert_int_eq(json_dump(want, JSON_DUMP_ASCII, &compact, &clen), 0);
	ck_assert_int_eq(starlette_encode_text(st, compact, clen, TS, &out, &len), 0);
	ck_assert_str_eq(out, v->cookie);
	free(out);
	free(compact);
	json_free(want);
	starlette_free(st);
}
END_TEST

START_TEST(test_set_cookie_vectors)
{
	const char *val = "eyJhIjogMX0=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1g"; /* {"a": 1} */
	char *h = NULL;
	size_t n;
	/* defaults: path=/, 14 days, lax, no secure */
	struct starlette_attrs d = {.max_age = STARLETTE_MAX_AGE_DEFAULT};
	ck_assert_int_eq(starlette_build_set_cookie("session", 7, vecs[0].cookie,
						    strlen(vecs[0].cookie), &d, &h, &n),
			 0);
	ck_assert_str_eq(
	    h, "session=eyJhIjogMSwgImIiOiAieCIsICJjIjogdHJ1ZSwgImQiOiBbMSwgMiwgeyJlIjog"
	       "bnVsbH1dfQ==.ZVPxAA.ACM-pnnNluiUABlNaZ0Gq-87T4s; path=/; Max-Age=1209600; "
	       "httponly; samesite=lax");
	ck_assert_uint_eq(n, strlen(h));
	free(h);
	struct starlette_attrs a1 = {
	    .path = "/app", .samesite = COOKIE_SAMESITE_STRICT, .https_only = true, .max_age = 0};
	ck_assert_int_eq(starlette_build_set_cookie("session", 7, val, strlen(val), &a1, &h, &n),
			 0);
	ck_assert_str_eq(h, "session=eyJhIjogMX0=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1g; path=/app; "
			    "httponly; samesite=strict; secure");
	free(h);
	struct starlette_attrs a2 = {
	    .samesite = COOKIE_SAMESITE_NONE, .https_only = true, .max_age = 3600};
	ck_assert_int_eq(starlette_build_set_cookie("session", 7, val, strlen(val), &a2, &h, &n),
			 0);
	ck_assert_str_eq(h, "session=eyJhIjogMX0=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1g; path=/; "
			    "Max-Age=3600; httponly; samesite=none; secure");
	free(h);
	/* NULL attrs: Starlette's defaults except Max-Age (0 = none) */
	ck_assert_int_eq(starlette_build_set_cookie("s", 1, val, strlen(val), NULL, &h, &n), 0);
	ck_assert_str_eq(h, "s=eyJhIjogMX0=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1g; path=/; httponly; "
			    "samesite=lax");
	free(h);
	/* 1.x's domain= */
	struct starlette_attrs a3 = {.domain = "example.com", .https_only = true, .max_age = 60};
	ck_assert_int_eq(starlette_build_set_cookie("session", 7, val, strlen(val), &a3, &h, &n),
			 0);
	ck_assert_str_eq(h, "session=eyJhIjogMX0=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1g; path=/; "
			    "Max-Age=60; httponly; samesite=lax; secure; domain=example.com");
	free(h);
	/* deletions */
	ck_assert_int_eq(starlette_build_deletion("session", 7, &d, &h, &n), 0);
	ck_assert_str_eq(
	    h,
	    "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax");
	free(h);
	ck_assert_int_eq(starlette_build_deletion("session", 7, &a1, &h, &n), 0);
	ck_assert_str_eq(h, "session=null; path=/app; expires=Thu, 01 Jan 1970 00:00:00 GMT; "
			    "httponly; samesite=strict; secure");
	free(h);
	/* bytes that would change the header's meaning */
	ck_assert_int_eq(starlette_build_set_cookie("a;b", 3, val, strlen(val), NULL, &h, &n),
			 SG_EINVAL);
	ck_assert_int_eq(starlette_build_set_cookie("a=b", 3, val, strlen(val), NULL, &h, &n),
			 SG_EINVAL);
	ck_assert_int_eq(starlette_build_set_cookie("", 0, val, strlen(val), NULL, &h, &n),
			 SG_EINVAL);
	ck_assert_int_eq(starlette_build_set_cookie("s", 1, "a b", 3, NULL, &h, &n), SG_EINVAL);
	ck_assert_int_eq(starlette_build_set_cookie("s", 1, "a;b", 3, NULL, &h, &n), SG_EINVAL);
	struct starlette_attrs bad = {.path = "/x; domain=evil"};
	ck_assert_int_eq(starlette_build_set_cookie("s", 1, val, strlen(val), &bad, &h, &n),
			 SG_EINVAL);
	ck_assert_int_eq(starlette_build_deletion("s", 1, &bad, &h, &n), SG_EINVAL);
	struct starlette_attrs bad2 = {.domain = "a\r\nSet-Cookie: x=y"};
	ck_assert_int_eq(starlette_build_deletion("s", 1, &bad2, &h, &n), SG_EINVAL);
}
END_TEST

START_TEST(test_read_set_cookie)
{
	starlette *st = th_starlette_keyed("secret");
	enum starlette_change kind;
	json *got = NULL, *want = parse(vecs[0].json);
	const char *set =
	    "session=eyJhIjogMSwgImIiOiAieCIsICJjIjogdHJ1ZSwgImQiOiBbMSwgMiwgeyJlIjog"
	    "bnVsbH1dfQ==.ZVPxAA.ACM-pnnNluiUABlNaZ0Gq-87T4s; path=/; Max-Age=1209600; "
	    "httponly; samesite=lax";
	ck_assert_int_eq(
	    starlette_read_set_cookie(st, set, strlen(set), "session", 7, TS, -1, &kind, &got), 0);
	ck_assert_int_eq(kind, STARLETTE_SET);
	ck_assert(json_equal(got, want));
	json_free(got);
	/* a backend clock a second ahead: max_age < 0 keeps it; checked, it is "future" */
	ck_assert_int_eq(
	    starlette_read_set_cookie(st, set, strlen(set), "session", 7, TS - 1, -1, &kind, &got),
	    0);
	json_free(got);
	ck_assert_int_eq(starlette_read_set_cookie(st, set, strlen(set), "session", 7, TS - 1,
						   STARLETTE_MAX_AGE_DEFAULT, &kind, &got),
			 SG_EFUTURE);
	/* Starlette's deletion, in both versions' spelling */
	const char *del[] = {
	    "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax",
	    ("session=null; path=/app; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; "
	     "samesite=strict; secure; domain=example.com"),
	    "session=; Max-Age=0; path=/"};
	for (size_t i = 0; i < 3; i++) {
		got = want; /* must be overwritten with NULL */
		ck_assert_int_eq(starlette_read_set_cookie(st, del[i], strlen(del[i]), "session", 7,
							   TS, -1, &kind, &got),
				 0);
		ck_assert_int_eq(kind, STARLETTE_DELETE);
		ck_assert_ptr_null(got);
	}
	/* another cookie, a forged one, garbage */
	const char *other = "csrftoken=abc; path=/";
	ck_assert_int_eq(
	    starlette_read_set_cookie(st, other, strlen(other), "session", 7, TS, -1, &kind, &got),
	    SG_ENOENT);
	const char *sess2 = "session2=null; path=/";
	ck_assert_int_eq(
	    starlette_read_set_cookie(st, sess2, strlen(sess2), "session", 7, TS, -1, &kind, &got),
	    SG_ENOENT);
	const char *forged = "session=eyJhIjogMn0=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1g; path=/";
	ck_assert_int_eq(starlette_read_set_cookie(st, forged, strlen(forged), "session", 7, TS, -1,
						   &kind, &got),
			 SG_EBADSIG);
	const char *nul = "session=null; path=/"; /* "null" without the expiry is not a session */
	ck_assert_int_eq(
	    starlette_read_set_cookie(st, nul, strlen(nul), "session", 7, TS, -1, &kind, &got),
	    SG_EMALFORMED);
	ck_assert_int_eq(
	    starlette_read_set_cookie(st, "novalue", 7, "session", 7, TS, -1, &kind, &got),
	    SG_EMALFORMED);
	json_free(want);
	starlette_free(st);
}
END_TEST

START_TEST(test_tamper_and_keys)
{
	starlette *st = th_starlette_keyed("secret");
	const char *c = vecs[0].cookie;
	size_t len = strlen(c);
	char *t = strdup(c);
	json *got = NULL;
	/* every single-character change in payload, timestamp or signature */
	for (size_t i = 0; i < len; i++) {
		if (c[i] == '.')
			continue;
		t[i] = c[i] == 'A' ? 'B' : 'A';
		int r = starlette_decode(st, t, len, TS, -1, &got, NULL);
		ck_assert_msg(r == SG_EBADSIG || r == SG_EMALFORMED, "byte %zu: %d", i, r);
		t[i] = c[i];
	}
	ck_assert_int_eq(starlette_decode(st, t, len, TS, -1, &got, NULL), 0);
	json_free(got);
	/* truncated signature, extra byte */
	ck_assert_int_eq(starlette_decode(st, c, len - 1, TS, -1, &got, NULL), SG_EBADSIG);
	free(t);
	t = malloc(len + 2);
	memcpy(t, c, len);
	t[len] = 'A';
	ck_assert_int_eq(starlette_decode(st, t, len + 1, TS, -1, &got, NULL), SG_EBADSIG);
	free(t);
	/* wrong key; the right key as a fallback */
	starlette *other = th_starlette_keyed("Secret");
	ck_assert_int_eq(starlette_decode(other, c, len, TS, -1, &got, NULL), SG_EBADSIG);
	ck_assert_int_eq(starlette_add_key(other, "secret", 6), 0);
	struct starlette_info info;
	ck_assert_int_eq(starlette_decode(other, c, len, TS, -1, &got, &info), 0);
	ck_assert_uint_eq(info.key_index, 1);
	json_free(got);
	/* encoding always signs with the current key */
	json *o = parse("{\"a\": 1}");
	char *out;
	size_t n;
	ck_assert_int_eq(starlette_encode(other, o, TS, &out, &n), 0);
	ck_assert_int_eq(starlette_decode(st, out, n, TS, -1, &got, NULL), SG_EBADSIG);
	free(out);
	json_free(o);
	starlette_free(other);
	/* no keys at all */
	starlette *none = NULL;
	ck_assert_int_eq(starlette_new(&none), 0);
	ck_assert_int_eq(starlette_decode(none, c, len, TS, -1, &got, NULL), SG_EBADSIG);
	ck_assert_int_eq(starlette_add_key(none, "", 0), SG_EINVAL);
	starlette_free(none);
	starlette_free(NULL);
	/* a Flask cookie (URLSafeTimedSerializer, salt cookie-session, hmac kdf) with
	 * the same secret: its payload happens to be Starlette-shaped; the key decides */
	const char *flask = "eyJhIjoxLCJiIjoieCIsImMiOnRydWUsImQiOlsxLDIseyJlIjpudWxsfV19.ZVPxAA."
			    "R5mK5kh-oYg0nbcbZgYLaA9YR0U";
	ck_assert(starlette_cookie_shaped(flask, strlen(flask)));
	ck_assert_int_eq(starlette_decode(st, flask, strlen(flask), TS, -1, &got, NULL),
			 SG_EBADSIG);
	starlette_free(st);
}
END_TEST

START_TEST(test_time)
{
	starlette *st = th_starlette_keyed("secret");
	const char *c = vecs[1].cookie;
	size_t len = strlen(c);
	json *got = NULL;
	int64_t ma = STARLETTE_MAX_AGE_DEFAULT;
	ck_assert_int_eq(ma, 14 * DAY);
	ck_assert_int_eq(starlette_decode(st, c, len, TS + ma, ma, &got, NULL), 0);
	json_free(got);
	ck_assert_int_eq(starlette_decode(st, c, len, TS + ma + 1, ma, &got, NULL), SG_EEXPIRED);
	ck_assert_int_eq(starlette_decode(st, c, len, TS - 1, ma, &got, NULL), SG_EFUTURE);
	ck_assert_int_eq(starlette_decode(st, c, len, TS, 0, &got, NULL), 0);
	json_free(got);
	ck_assert_int_eq(starlette_decode(st, c, len, TS + 1, 0, &got, NULL), SG_EEXPIRED);
	/* max_age=None: no time checks */
	ck_assert_int_eq(starlette_decode(st, c, len, TS + 3650 * DAY, -1, &got, NULL), 0);
	json_free(got);
	ck_assert_int_eq(starlette_decode(st, c, len, 0, -1, &got, NULL), 0);
	json_free(got);
	/* timestamp 0 is an empty timestamp text, as itsdangerous writes it */
	json *o = parse("{}");
	char *out;
	size_t n;
	ck_assert_int_eq(starlette_encode(st, o, 0, &out, &n), 0);
	ck_assert_int_eq(strncmp(out, "e30=..", 6), 0);
	struct starlette_info info;
	ck_assert_int_eq(starlette_decode(st, out, n, 5, 10, &got, &info), 0);
	ck_assert_uint_eq(info.ts, 0);
	ck_assert_uint_eq(got->u.obj.len, 0);
	json_free(got);
	free(out);
	ck_assert_int_eq(starlette_encode(st, o, -1, &out, &n), SG_EINVAL);
	json_free(o);
	starlette_free(st);
}
END_TEST

START_TEST(test_malformed)
{
	starlette *st = th_starlette_keyed("secret");
	json *got = NULL;
	const char *shapes[] = {
	    "",
	    "abc",
	    "a.b",
	    "e30=.ZVPxAA.",
	    "e30=.ZVPxAA.ZVPxAAZVPxAA.sig",
	    "e30=.ZVP+AA.xG24nPALo8AhuefWvxeYlShMy1g",
	    "e30=.ZVPxAA.xG24nPALo8AhuefWvxeYlShMy1=",
	    "e30=.ZVPxA.xG24nPALo8AhuefWvxeYlShMy1g", /* 5 chars: not base64url */
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		ck_assert_msg(starlette_decode(st, shapes[i], strlen(shapes[i]), TS, -1, &got,
					       NULL) == SG_EMALFORMED,
			      "%s", shapes[i]);
		ck_assert(!starlette_cookie_shaped(shapes[i], strlen(shapes[i])));
	}
	/* a signature of the wrong length is just a bad signature, as in itsdangerous */
	ck_assert_int_eq(starlette_decode(st, "e30=..x", 7, TS, -1, &got, NULL), SG_EBADSIG);
	/* well signed, bad content */
	const char *payloads[] = {
	    "not base64!",
	    "e30", /* unpadded */
	    "eyJhIjogMX0",
	    "YR==", /* non-zero unused bits */
	    "",
	    "eyJhIjogMX0=\n",
	};
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		char *c = sign_raw(payloads[i], strlen(payloads[i]), TS);
		ck_assert_msg(starlette_decode(st, c, strlen(c), TS, -1, &got, NULL) ==
				  SG_EMALFORMED,
			      "payload %zu", i);
		free(c);
	}
	const char *texts[] = {"[1, 2]", "\"s\"", "null", "{\"a\": }", "{\"a\": 1} x", "",
			       "{\"a\": \"\xff\"}", "{\"a\": 1,}",
			       /* json.loads(bytes) would take a BOM (and UTF-16/32); Starlette
				* never writes one */
			       "\xef\xbb\xbf{}"};
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		char *c = sign_json(texts[i]);
		ck_assert_msg(starlette_decode(st, c, strlen(c), TS, -1, &got, NULL) ==
				  SG_EMALFORMED,
			      "text %zu", i);
		free(c);
	}
	/* accepted: Python's json.loads whitespace and non-ASCII UTF-8 */
	char *c = sign_json(" {\"a\" :\t[ 1 ,2 ], \"\xc3\xa9\": \"\xe2\x98\x83\"}\n");
	ck_assert_int_eq(starlette_decode(st, c, strlen(c), TS, -1, &got, NULL), 0);
	json *want = parse("{\"a\": [1, 2], \"\\u00e9\": \"\\u2603\"}");
	ck_assert(json_equal(got, want));
	json_free(want);
	json_free(got);
	free(c);
	/* nesting */
	char deep[2 * 70 + 8];
	size_t n = 0;
	deep[n++] = '{', deep[n++] = '"', deep[n++] = 'a', deep[n++] = '"', deep[n++] = ':';
	for (int i = 0; i < 70; i++)
		deep[n++] = '[';
	for (int i = 0; i < 70; i++)
		deep[n++] = ']';
	deep[n++] = '}', deep[n] = '\0';
	c = sign_json(deep);
	ck_assert_int_eq(starlette_decode(st, c, strlen(c), TS, -1, &got, NULL), SG_EDEPTH);
	free(c);
	starlette_free(st);
}
END_TEST

START_TEST(test_sizes)
{
	starlette *st = th_starlette_keyed("secret");
	json *got = NULL;
	/* a cookie longer than SG_COOKIE_MAX is not even looked at */
	char *big = malloc(SG_COOKIE_MAX + 2);
	memset(big, 'A', SG_COOKIE_MAX + 1);
	big[SG_COOKIE_MAX + 1] = '\0';
	ck_assert_int_eq(starlette_decode(st, big, SG_COOKIE_MAX + 1, TS, -1, &got, NULL),
			 SG_ETOOBIG);
	ck_assert(!starlette_cookie_shaped(big, SG_COOKIE_MAX + 1));
	free(big);
	/* the largest session that still fits round-trips; one byte more is refused */
	json *o = json_new_object();
	size_t lo = 0, hi = SG_COOKIE_MAX, best = 0;
	char *out;
	size_t n;
	char *fill = malloc(SG_COOKIE_MAX);
	memset(fill, 'x', SG_COOKIE_MAX);
	while (lo <= hi) {
		size_t mid = (lo + hi) / 2;
		ck_assert_int_eq(json_object_set(o, "k", 1, json_new_string(fill, mid)), 0);
		int r = starlette_encode(st, o, TS, &out, &n);
		if (r == 0) {
			ck_assert_uint_le(n, SG_COOKIE_MAX);
			free(out);
			best = mid;
			lo = mid + 1;
		} else {
			ck_assert_int_eq(r, SG_ETOOBIG);
			hi = mid - 1;
		}
	}
	ck_assert_uint_gt(best, SG_COOKIE_MAX / 2);
	ck_assert_int_eq(json_object_set(o, "k", 1, json_new_string(fill, best)), 0);
	ck_assert_int_eq(starlette_encode(st, o, TS, &out, &n), 0);
	ck_assert_int_eq(starlette_decode(st, out, n, TS, -1, &got, NULL), 0);
	ck_assert(json_equal(got, o));
	json_free(got);
	free(out);
	free(fill);
	json_free(o);
	starlette_free(st);
}
END_TEST

START_TEST(test_encode_rules)
{
	starlette *st = th_starlette_keyed("secret");
	char *out = NULL;
	size_t n;
	json *arr = parse("[1]");
	ck_assert_int_eq(starlette_encode(st, arr, TS, &out, &n), SG_EINVAL);
	ck_assert_int_eq(starlette_encode(st, NULL, TS, &out, &n), SG_EINVAL);
	ck_assert_int_eq(starlette_encode_text(st, "", 0, TS, &out, &n), SG_EINVAL);
	json_free(arr);
	starlette *none = NULL;
	ck_assert_int_eq(starlette_new(&none), 0);
	json *o = parse("{}");
	ck_assert_int_eq(starlette_encode(none, o, TS, &out, &n), SG_EINVAL);
	starlette_free(none);
	/* separators only outside strings, also after escaped quotes and backslashes */
	json *tricky = parse("{\"\\\\\": \"\\\",:\", \"k\": [\"a,b\", {\"c:\": \"\\\\\"}]}");
	ck_assert_int_eq(starlette_encode(st, tricky, TS, &out, &n), 0);
	size_t dot = strchr(out, '.') - out;
	char txt[256];
	size_t tl;
	ck_assert_int_eq(b64_decode(out, dot, txt, sizeof(txt) - 1, &tl), 0);
	txt[tl] = '\0';
	/* what Python's json.dumps writes for this dict */
	ck_assert_str_eq(txt, "{\"\\\\\": \"\\\",:\", \"k\": [\"a,b\", {\"c:\": \"\\\\\"}]}");
	free(out);
	json_free(tricky);
	/* Flask's " di" escaping on the way to a Flask session */
	const char *vals[] = {"{\"a\": {\" t\": [1]}, \"b\": [1, 2]}"};
	char *c = NULL;
	json *plain = parse(vals[0]), *stored = NULL;
	ck_assert_int_eq(starlette_encode(st, plain, TS, &c, &n), 0);
	ck_assert_int_eq(starlette_decode_stored(st, c, n, TS, -1, &stored, NULL), 0);
	json *want = parse("{\"a\": {\" di\": {\" t__\": [1]}}, \"b\": [1, 2]}");
	ck_assert(json_equal(stored, want));
	json_free(want);
	json_free(stored);
	ck_assert_int_eq(starlette_decode_stored(st, c, n - 1, TS, -1, &stored, NULL), SG_EBADSIG);
	free(c);
	json_free(plain);
	json_free(o);
	starlette_free(st);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("starlette");
	TCase *tc = tcase_create("starlette");
	tcase_add_loop_test(tc, test_decode_vectors, 0, NVECS);
	tcase_add_loop_test(tc, test_encode_vectors, 0, NVECS);
	tcase_add_test(tc, test_set_cookie_vectors);
	tcase_add_test(tc, test_read_set_cookie);
	tcase_add_test(tc, test_tamper_and_keys);
	tcase_add_test(tc, test_time);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_encode_rules);
	suite_add_tcase(su, tc);
	return th_run_suite(su);
}
