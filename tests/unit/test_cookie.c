/* tests/unit/test_cookie.c — Cookie find/strip/replace, Set-Cookie parse/build, cookie dates. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"
#include "errors.h"
#include "helpers.h"

/* Expected values from Debian's werkzeug 2.2.2:
 *   parse_cookie(hdr).get("session")   (value shown after cookie_unquote)
 * cookie_find + cookie_unquote were also checked once against parse_cookie
 * on 120,000 random headers over the alphabet {session s = ; SP HT LF CR VT
 * " \\ a 1 , \\073 \\" \xff x=}: no mismatch. */
static const struct {
	const char *hdr;
	bool found;
	const char *val;
} find_vec[] = {
    {"session=abc", true, "abc"},
    {"a=1; session=abc; session=def", true, "abc"},
    {" session = abc ; x=1", true, "abc"},
    {"session", true, ""},
    {"session; session=abc", true, ""},
    {"=x; session=1", true, "1"},
    {"session=\"a\\\"b\"; x=2", true, "a\"b"},
    {"session=\"a;b\"; x=2", true, "a;b"},
    {"session=\"abc\"def; x=1", true, "\"abc\"def"},
    {"x=\"a; session=evil\"; y=1", false, NULL},
    {"a=b\012session=1", false, NULL},
    {"session=a\012b; x=1", false, NULL},
    {"session=\"a\\\012b\"; x=1", false, NULL},
    {"session=\"\\101\\1\"", true, "A1"},
    {"a=1;;session=;b=2", true, ""},
    {"sess ion=1; session=2", true, "2"},
    {"session=a b c ;", true, "a b c"},
    {"a=\"unterminated; session=2", true, "2"},
    {"session\011=\011v\011;", true, "v"},
    {"Session=1; session=2", true, "2"},
    {"session=\"\"", true, ""},
    {"session=\"", true, "\""},
    {"x; session=\"q\\073\"", true, "q;"},
    {"a=1,session=2", false, NULL},
    {"a=1, session=2", false, NULL},
    {"session=   ", true, ""},
    {"session=a=b=c", true, "a=b=c"},
    {"", false, NULL},
};

START_TEST(test_find)
{
	const char *h = find_vec[_i].hdr;
	const char *v = NULL;
	size_t vl = 0;
	int rc = cookie_find(h, strlen(h), "session", 7, &v, &vl);
	ck_assert_msg((rc == 0) == find_vec[_i].found, "hdr %s: rc %d", h, rc);
	if (rc != 0)
		return;
	ck_assert(v >= h && v + vl <= h + strlen(h));
	char out[64];
	size_t ol = cookie_unquote(v, vl, out);
	ck_assert_uint_eq(ol, strlen(find_vec[_i].val));
	ck_assert(memcmp(out, find_vec[_i].val, ol) == 0);
}
END_TEST

static const struct {
	const char *hdr, *value, *want;
} replace_vec[] = {
    {"session=abc", NULL, ""},
    {"a=1; session=abc; b=2; session=def", NULL, "a=1; b=2"},
    {" a = 1 ;session=x;  b=\"q;r\" ", NULL, "a = 1; b=\"q;r\""},
    /* werkzeug sees cookie x, Starlette sees session=evil: drop it */
    {"x=\"a; session=evil\"; y=1", NULL, "y=1"},
    {"session; y=1", NULL, "y=1"},
    {"y=1; session", NULL, "y=1"},
    /* werkzeug stops at a newline: what follows is dropped */
    {"a=1; b=2\nsession=3", NULL, "a=1"},
    {"a=1; session=old; b=2; session=older", "new", "a=1; session=new; b=2"},
    {"a=1", "new", "a=1; session=new"},
    {"", "new", "session=new"},
    {"sessionx=1; xsession=2", NULL, "sessionx=1; xsession=2"},
    /* found by fuzzing: re-joined, x's stray quote would swallow session */
    {"x=\"a; b=1", NULL, "b=1"},
    {"x=\"a; x=\"a; session=evil\"; sessionl\"; session=1", "v", "session=v; sessionl\""},
};

START_TEST(test_replace)
{
	const char *h = replace_vec[_i].hdr, *val = replace_vec[_i].value;
	char *out = NULL;
	size_t ol = 0;
	ck_assert_int_eq(
	    cookie_replace(h, strlen(h), "session", 7, val, val ? strlen(val) : 0, &out, &ol), 0);
	ck_assert_str_eq(out, replace_vec[_i].want);
	ck_assert_uint_eq(ol, strlen(out));
	free(out);
}
END_TEST

START_TEST(test_strip_invalid)
{
	char *out = (char *)0x1;
	size_t ol = 7;
	ck_assert_int_eq(cookie_replace("a=1", 3, "session", 7, "a;b", 3, &out, &ol), SG_EINVAL);
	ck_assert_ptr_eq(out, (char *)0x1);
	ck_assert_int_eq(cookie_strip("a=1", 3, "", 0, &out, &ol), SG_EINVAL);
	ck_assert_int_eq(cookie_strip("a=1; s=2", 8, "s", 1, &out, &ol), 0);
	ck_assert_str_eq(out, "a=1");
	free(out);
}
END_TEST

/* cookie_scan + cookie_rewrite give exactly cookie_find + cookie_replace. */
static void check_scan(const char *h, size_t n, const char *name, size_t nlen, const char *val)
{
	struct cookie_scan sc;
	const char *v = NULL;
	size_t vl = 0;
	int frc = cookie_find(h, n, name, nlen, &v, &vl);
	ck_assert_int_eq(cookie_scan(h, n, name, nlen, &sc), 0);
	ck_assert_msg(sc.found == (frc == 0), "found differs on %.*s", (int)n, h);
	if (sc.found)
		ck_assert(sc.val == v && sc.vlen == vl);
	char *a = NULL, *b = NULL;
	size_t al = 0, bl = 0;
	size_t vlen = val ? strlen(val) : 0;
	int ra = cookie_replace(h, n, name, nlen, val, vlen, &a, &al);
	int rb = cookie_rewrite(h, n, &sc, name, nlen, val, vlen, &b, &bl);
	ck_assert_int_eq(ra, rb);
	if (ra == 0) {
		ck_assert_msg(al == bl && memcmp(a, b, al) == 0, "hdr [%.*s] val %s: [%s] vs [%s]",
			      (int)n, h, val ? val : "(strip)", a, b);
		ck_assert(b[bl] == '\0');
	}
	free(a);
	free(b);
}

START_TEST(test_scan_vectors)
{
	const size_t nf = sizeof(find_vec) / sizeof(find_vec[0]);
	const char *h = (size_t)_i < nf ? find_vec[_i].hdr : replace_vec[(size_t)_i - nf].hdr;
	check_scan(h, strlen(h), "session", 7, NULL);
	check_scan(h, strlen(h), "session", 7, "new.v-1");
	check_scan(h, strlen(h), "session", 7, "bad;value");
	check_scan(h, strlen(h), "", 0, NULL);
}
END_TEST

START_TEST(test_scan_splices)
{
	/* what browsers send takes the one-pass path */
	static const char *const hdrs[] = {"session=abc",      "a=1; session=abc",
					   "session=abc; b=2", "a=1; session=abc; b=2; c=3",
					   "a=1; b=2",	       ""};
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
		struct cookie_scan sc;
		ck_assert_int_eq(cookie_scan(hdrs[i], strlen(hdrs[i]), "session", 7, &sc), 0);
		ck_assert_msg(sc.splice, "%s", hdrs[i]);
		check_scan(hdrs[i], strlen(hdrs[i]), "session", 7, NULL);
		check_scan(hdrs[i], strlen(hdrs[i]), "session", 7, "x");
	}
}
END_TEST

/* Random headers over the bytes that matter to werkzeug's regex and to the
 * splice: 50,000 of them, every one compared both ways. */
START_TEST(test_scan_random)
{
	static const char *const atoms[] = {"session", "s",    "=",   ";",	  "; ", " ",
					    "\t",      "\n",   "\"",  "\\",	  "a",	"1",
					    ",",       "\x85", "x=1", "session=v"};
	uint64_t x = 0x9E3779B97F4A7C15u;
	char h[64];
	for (int it = 0; it < 50000; it++) {
		size_t n = 0;
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		unsigned k = (unsigned)(x % 12);
		for (unsigned j = 0; j < k; j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			const char *a = atoms[x % 16];
			size_t al = strlen(a);
			if (n + al >= sizeof(h))
				break;
			memcpy(h + n, a, al);
			n += al;
		}
		check_scan(h, n, "session", 7, (x >> 20) & 1 ? "v2" : NULL);
	}
}
END_TEST

/* Expected dates: Python calendar.timegm of the same instant. */
static const struct {
	const char *s;
	int ok;
	int64_t t;
} date_vec[] = {
    {"Sun, 06 Nov 1994 08:49:37 GMT", 0, 784111777},
    {"Sunday, 06-Nov-94 08:49:37 GMT", 0, 784111777},
    {"Sun Nov  6 08:49:37 1994", 0, 784111777},
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0, 0},
    {"Thu, 01-Jan-1970 00:00:00 GMT", 0, 0},
    {"thu, 01 jan 70 00:00:00 gmt", 0, 0},
    {"Tue, 24 Nov 2026 09:00:00 GMT", 0, 1795510800},
    {"Fri, 31 Dec 9999 23:59:59 GMT", 0, 253402300799},
    {"Tue, 29 Feb 2000 00:00:00 GMT", 0, 951782400},
    {"Wed, 09 Jun 2021 10:18:14 GMT", 0, 1623233894},
    {"09 Jun 2021 10:18:14", 0, 1623233894},
    {"Wed, 30 Feb 2021 10:18:14 GMT", SG_EMALFORMED, 0},
    {"Wed, 09 Jun 2021 24:00:00 GMT", SG_EMALFORMED, 0},
    {"Wed, 09 Jun 1600 10:00:00 GMT", SG_EMALFORMED, 0},
    {"Wed, 09 Foo 2021 10:18:14 GMT", SG_EMALFORMED, 0},
    {"Wed, 09 Jun 2021", SG_EMALFORMED, 0},
    {"0", SG_EMALFORMED, 0},
    {"", SG_EMALFORMED, 0},
};

START_TEST(test_date)
{
	int64_t t = -42;
	int rc = cookie_parse_date(date_vec[_i].s, strlen(date_vec[_i].s), &t);
	ck_assert_msg(rc == date_vec[_i].ok, "%s: %d", date_vec[_i].s, rc);
	if (rc == 0)
		ck_assert_int_eq(t, date_vec[_i].t);
	else
		ck_assert_int_eq(t, -42);
}
END_TEST

START_TEST(test_format_date)
{
	char buf[30];
	ck_assert_int_eq(cookie_format_date(0, buf), 0);
	ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
	ck_assert_int_eq(cookie_format_date(-1, buf), 0);
	ck_assert_str_eq(buf, "Wed, 31 Dec 1969 23:59:59 GMT");
	ck_assert_int_eq(cookie_format_date(951782400, buf), 0);
	ck_assert_str_eq(buf, "Tue, 29 Feb 2000 00:00:00 GMT");
	ck_assert_int_eq(cookie_format_date(253402300799LL, buf), 0);
	ck_assert_str_eq(buf, "Fri, 31 Dec 9999 23:59:59 GMT");
	ck_assert_int_eq(cookie_format_date(253402300800LL, buf), SG_EINVAL);
	/* round trip through the parser for a spread of instants */
	for (int64_t t = -11644473600LL; t < 4102444800LL; t += 86400 * 37 + 3671) {
		int64_t back;
		ck_assert_int_eq(cookie_format_date(t, buf), 0);
		ck_assert_int_eq(cookie_parse_date(buf, strlen(buf), &back), 0);
		ck_assert_int_eq(back, t);
	}
}
END_TEST

#define S(x) x, sizeof(x) - 1
static bool slice_is(const char *p, size_t n, const char *want)
{
	if (!p)
		return want == NULL;
	return want && strlen(want) == n && memcmp(p, want, n) == 0;
}

START_TEST(test_parse_set_cookie)
{
	struct set_cookie c;
	/* Flask 2.2's delete_cookie */
	const char *flask =
	    "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/";
	ck_assert_int_eq(cookie_parse_set_cookie(flask, strlen(flask), &c), 0);
	ck_assert(slice_is(c.name, c.name_len, "session"));
	ck_assert(slice_is(c.value, c.value_len, ""));
	ck_assert(c.has_expires && c.expires == 0);
	ck_assert(c.has_max_age && c.max_age == 0);
	ck_assert(c.httponly && !c.secure && !c.partitioned);
	ck_assert(slice_is(c.path, c.path_len, "/"));
	ck_assert_ptr_null(c.domain);
	ck_assert(cookie_is_deletion(&c, 1700000000));
	/* Starlette 0.26's deletion */
	const char *st =
	    "session=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=lax";
	ck_assert_int_eq(cookie_parse_set_cookie(st, strlen(st), &c), 0);
	ck_assert(slice_is(c.value, c.value_len, "null"));
	ck_assert(!c.has_max_age && c.has_expires);
	ck_assert_int_eq(c.samesite, COOKIE_SAMESITE_LAX);
	ck_assert(cookie_is_deletion(&c, 1700000000));
	/* a live cookie with every attribute */
	const char *live =
	    " session = v.1.2 ;Domain=.Example.com; Expires=Tue, 24 Nov 2026 09:00:00 "
	    "GMT; max-age=3600; SECURE; httponly; Path=/app; SameSite=None; Partitioned";
	ck_assert_int_eq(cookie_parse_set_cookie(live, strlen(live), &c), 0);
	ck_assert(slice_is(c.name, c.name_len, "session"));
	ck_assert(slice_is(c.value, c.value_len, "v.1.2"));
	ck_assert(slice_is(c.domain, c.domain_len, "Example.com"));
	ck_assert(slice_is(c.path, c.path_len, "/app"));
	ck_assert(c.has_expires && c.expires == 1795510800);
	ck_assert(c.has_max_age && c.max_age == 3600);
	ck_assert(c.secure && c.httponly && c.partitioned);
	ck_assert_int_eq(c.samesite, COOKIE_SAMESITE_NONE);
	/* Max-Age wins over a past Expires, and the other way round */
	ck_assert(!cookie_is_deletion(&c, 1900000000));
	const char *a = "s=1; Max-Age=-5; Expires=Tue, 24 Nov 2099 09:00:00 GMT";
	ck_assert_int_eq(cookie_parse_set_cookie(a, strlen(a), &c), 0);
	ck_assert(c.max_age == -5 && cookie_is_deletion(&c, 0));
	const char *b = "s=1; Max-Age=1x; Expires=Tue, 24 Nov 2026 09:00:00 GMT";
	ck_assert_int_eq(cookie_parse_set_cookie(b, strlen(b), &c), 0);
	ck_assert(!c.has_max_age);
	ck_assert(!cookie_is_deletion(&c, 1795510799));
	ck_assert(cookie_is_deletion(&c, 1795510800));
	/* invalid Expires and Path are ignored; a session cookie never expires */
	const char *d = "s=1; Expires=soon; Path=rel; samesite=weird";
	ck_assert_int_eq(cookie_parse_set_cookie(d, strlen(d), &c), 0);
	ck_assert(!c.has_expires && c.path == NULL && c.samesite == COOKIE_SAMESITE_UNSET);
	ck_assert(!cookie_is_deletion(&c, INT64_MAX));
	/* malformed: no '=', empty name */
	ck_assert_int_eq(cookie_parse_set_cookie(S("session"), &c), SG_EMALFORMED);
	ck_assert_int_eq(cookie_parse_set_cookie(S(" =v; Path=/"), &c), SG_EMALFORMED);
	ck_assert_int_eq(cookie_parse_set_cookie(S("a; b=c"), &c), SG_EMALFORMED);
	/* over-long attribute values are ignored */
	char big[1200 + 16];
	memcpy(big, "s=1; Path=/", 11);
	memset(big + 11, 'x', 1200);
	big[1211] = 0;
	ck_assert_int_eq(cookie_parse_set_cookie(big, strlen(big), &c), 0);
	ck_assert_ptr_null(c.path);
}
END_TEST

/* Expected strings from werkzeug 2.2.2 dump_cookie(...) with the same
 * settings (the arguments Flask's set_cookie/delete_cookie pass). */
START_TEST(test_build)
{
	char *out;
	size_t ol;
	struct cookie_attrs a = {.httponly = true};
	ck_assert_int_eq(cookie_build(S("session"), S("eyJhIjoxfQ.Z0.sig"), &a, -1, &out, &ol), 0);
	ck_assert_str_eq(out, "session=eyJhIjoxfQ.Z0.sig; HttpOnly; Path=/");
	ck_assert_uint_eq(ol, strlen(out));
	free(out);

	struct cookie_attrs b = {.domain = "example.com",
				 .path = "/app",
				 .secure = true,
				 .httponly = true,
				 .samesite = COOKIE_SAMESITE_STRICT};
	ck_assert_int_eq(cookie_build(S("session"), S("v"), &b, 1795510800, &out, &ol), 0);
	ck_assert_str_eq(out, "session=v; Domain=example.com; Expires=Tue, 24 Nov 2026 09:00:00 "
			      "GMT; Secure; HttpOnly; Path=/app; SameSite=Strict");
	free(out);

	struct cookie_attrs c = {.domain = ".example.com:8080",
				 .path = "/",
				 .secure = true,
				 .samesite = COOKIE_SAMESITE_NONE};
	ck_assert_int_eq(cookie_build(S("session"), S("v"), &c, -1, &out, &ol), 0);
	ck_assert_str_eq(out, "session=v; Domain=.example.com; Secure; Path=/; SameSite=None");
	free(out);
	c.partitioned = true; /* werkzeug 3 appends it last */
	ck_assert_int_eq(cookie_build(S("session"), S("v"), &c, -1, &out, &ol), 0);
	ck_assert_str_eq(
	    out, "session=v; Domain=.example.com; Secure; Path=/; SameSite=None; Partitioned");
	free(out);

	ck_assert_int_eq(cookie_build_deletion(S("session"), &a, &out, &ol), 0);
	ck_assert_str_eq(
	    out, "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/");
	free(out);
	struct cookie_attrs d = {.domain = "a.b", .secure = true, .samesite = COOKIE_SAMESITE_LAX};
	ck_assert_int_eq(cookie_build_deletion(S("session"), &d, &out, &ol), 0);
	ck_assert_str_eq(out, "session=; Domain=a.b; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
			      "Max-Age=0; Secure; Path=/; SameSite=Lax");
	free(out);

	struct cookie_attrs e = {0};
	ck_assert_int_eq(cookie_build(S("s"), S("a b\"\\;,\001"), &e, -1, &out, &ol), 0);
	ck_assert_str_eq(out, "s=\"a b\\\"\\\\\\073\\054\\001\"; Path=/");
	free(out);
	/* quoted exactly when a byte is not one of werkzeug's _legal_cookie_chars,
	 * wherever it sits (the check reads four bytes per turn, then a tail) */
	const char *legal = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			    "/=!#$%&'*+-.^_`|~:";
	for (unsigned at = 0; at < 10; at++) {
		for (unsigned ch = 1; ch < 256; ch++) {
			char v[10];
			memset(v, 'v', sizeof(v));
			v[at] = (char)ch;
			ck_assert_int_eq(cookie_build(S("s"), v, sizeof(v), &e, -1, &out, &ol), 0);
			bool quoted = out[2] == '"';
			ck_assert_msg(quoted == !strchr(legal, (int)ch), "byte 0x%02x at %u", ch, at);
			free(out);
		}
	}
	ck_assert_int_eq(cookie_build(S("s"), S("x"), NULL, 951782400, &out, &ol), 0);
	ck_assert_str_eq(out, "s=x; Expires=Tue, 29 Feb 2000 00:00:00 GMT; Path=/");
	free(out);

	/* Real Flask 2.2.2 responses (test_client) with SESSION_COOKIE_DOMAIN=
	 * "example.com", SAMESITE="Lax", SECURE=True, PATH="/app": a permanent
	 * session set, then session.clear(). */
	struct cookie_attrs f = {.domain = "example.com",
				 .path = "/app",
				 .secure = true,
				 .httponly = true,
				 .samesite = COOKIE_SAMESITE_LAX};
	ck_assert_int_eq(cookie_build(S("session"),
				      S("eyJfcGVybWFuZW50Ijp0cnVlLCJhIjoxfQ.awVZtA."
					"n0LMV74IOA6EYpZnbPeBrGS0Mgo"),
				      &f, 1798191156, &out, &ol),
			 0);
	ck_assert_str_eq(out,
			 "session=eyJfcGVybWFuZW50Ijp0cnVlLCJhIjoxfQ.awVZtA."
			 "n0LMV74IOA6EYpZnbPeBrGS0Mgo; Domain=example.com; Expires=Fri, 25 Dec "
			 "2026 09:32:36 GMT; Secure; HttpOnly; Path=/app; SameSite=Lax");
	free(out);
	ck_assert_int_eq(cookie_build_deletion(S("session"), &f, &out, &ol), 0);
	ck_assert_str_eq(out,
			 "session=; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
			 "Max-Age=0; Secure; HttpOnly; Path=/app; SameSite=Lax");
	free(out);

	/* refused: what werkzeug would refuse or silently alter */
	out = NULL;
	struct cookie_attrs bad1 = {.domain = "localhost"};
	ck_assert_int_eq(cookie_build(S("s"), S("x"), &bad1, -1, &out, &ol), SG_EINVAL);
	struct cookie_attrs bad2 = {.path = "/a b"};
	ck_assert_int_eq(cookie_build(S("s"), S("x"), &bad2, -1, &out, &ol), SG_EINVAL);
	struct cookie_attrs bad3 = {.path = "/a;b"};
	ck_assert_int_eq(cookie_build(S("s"), S("x"), &bad3, -1, &out, &ol), SG_EINVAL);
	ck_assert_int_eq(cookie_build(S("s;x"), S("x"), NULL, -1, &out, &ol), SG_EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cookie");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_find, 0, sizeof(find_vec) / sizeof(find_vec[0]));
	tcase_add_loop_test(tc, test_replace, 0, sizeof(replace_vec) / sizeof(replace_vec[0]));
	tcase_add_test(tc, test_strip_invalid);
	tcase_add_loop_test(tc, test_scan_vectors, 0,
			    sizeof(find_vec) / sizeof(find_vec[0]) +
				sizeof(replace_vec) / sizeof(replace_vec[0]));
	tcase_add_test(tc, test_scan_splices);
	tcase_add_test(tc, test_scan_random);
	tcase_set_timeout(tc, 60); /* the random comparison, under ASan on a busy machine */
	tcase_add_loop_test(tc, test_date, 0, sizeof(date_vec) / sizeof(date_vec[0]));
	tcase_add_test(tc, test_format_date);
	tcase_add_test(tc, test_parse_set_cookie);
	tcase_add_test(tc, test_build);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
