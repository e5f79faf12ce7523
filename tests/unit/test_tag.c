/* tests/unit/test_tag.c — plain view (text fast path and DOM), tag_escape against real Flask. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "helpers.h"
#include "json.h"
#include "tag.h"

/* Generated once with Debian's Flask 2.2.2 (/usr/bin/python3):
 *   stored = app.session_interface.serializer.dumps(value)  (in an app context)
 *   plain  = json.dumps(pv(serializer.loads(stored)), sort_keys=True,
 *                       separators=(",", ":"))
 * where pv maps tuple->list, bytes->b64encode, Markup->str, UUID->str,
 * datetime->UTC "%Y-%m-%dT%H:%M:%SZ", NaN/inf->None, recursively. Values:
 * (1,"a",(2,3)); b"\x00\xffhi"; Markup("<b>x</b>"); UUID(12345678-...);
 * datetime(2026,11,24,9,0,0,123456); datetime(1,1,1) (Flask reads it back
 * as 2001); {" t": 1}; {" di": {" u": "x"}}; a session {" t": [1]};
 * [nan, inf, -inf, 10**30]; a string that looks like a tag; a UTC+2 datetime. */
static const struct {
	const char *stored, *plain;
} plain_vec[] = {
    {"{\"t\":{\" t\":[1,\"a\",{\" t\":[2,3]}]}}", "{\"t\":[1,\"a\",[2,3]]}"},
    {"{\"b\":{\" b\":\"AP9oaQ==\"}}", "{\"b\":\"AP9oaQ==\"}"},
    {"{\"m\":{\" m\":\"<b>x</b>\"}}", "{\"m\":\"<b>x</b>\"}"},
    {"{\"u\":{\" u\":\"12345678123456781234567812345678\"}}",
     "{\"u\":\"12345678-1234-5678-1234-567812345678\"}"},
    {"{\"d\":{\" d\":\"Tue, 24 Nov 2026 09:00:00 GMT\"}}", "{\"d\":\"2026-11-24T09:00:00Z\"}"},
    {"{\"d\":{\" d\":\"Mon, 01 Jan 0001 00:00:00 GMT\"}}", "{\"d\":\"2001-01-01T00:00:00Z\"}"},
    {"{\"di\":{\" di\":{\" t__\":1}}}", "{\"di\":{\" t\":1}}"},
    {"{\"di\":{\" di\":{\" di__\":{\" di\":{\" u__\":\"x\"}}}}}",
     "{\"di\":{\" di\":{\" u\":\"x\"}}}"},
    {"{\" di\":{\" t__\":[1]}}", "{\" t\":[1]}"},
    {"{\"n\":[NaN,Infinity,-Infinity,1000000000000000000000000000000]}",
     "{\"n\":[null,null,null,1000000000000000000000000000000]}"},
    {"{\"s\":\"{\\\" t\\\":1}\",\"x\":[{\" di\":{\" b__\":\"no\"}},{\" t\":2,\"a\":1}]}",
     "{\"s\":\"{\\\" t\\\":1}\",\"x\":[{\" b\":\"no\"},{\" t\":2,\"a\":1}]}"},
    {"{\"dt\":[{\" d\":\"Tue, 29 Feb 2000 21:59:59 GMT\"}]}",
     "{\"dt\":[\"2000-02-29T21:59:59Z\"]}"},
    /* shapes Flask never writes: shown as stored */
    {"{\"u\":{\" u\":\"xyz\"},\"d\":{\" d\":\"soon\"},\"t\":{\" t\":5},\"o\":{\" od\":[1]}}",
     "{\"d\":\"soon\",\"o\":{\" od\":[1]},\"t\":{\" t\":5},\"u\":\"xyz\"}"},
    /* not compact / not ASCII: DOM path, output compact ASCII */
    {"{ \"a\" : \"\xc3\xa9\\u2028\" }", "{\"a\":\"\\u00e9\\u2028\"}"},
};

static void check_text(const char *stored, const char *want)
{
	char *out = NULL;
	size_t ol = 0;
	ck_assert_int_eq(tag_plain_text(stored, strlen(stored), &out, &ol), 0);
	ck_assert_str_eq(out, want);
	ck_assert_uint_eq(ol, strlen(want));
	for (size_t i = 0; i < ol; i++)
		ck_assert((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] < 0x7f);
	free(out);
}

START_TEST(test_plain)
{
	const char *stored = plain_vec[_i].stored, *want = plain_vec[_i].plain;
	ck_assert(!tag_text_is_plain(stored, strlen(stored)));
	check_text(stored, want);
	/* the DOM entry point agrees */
	json *v, *p;
	char *out;
	size_t ol;
	ck_assert_int_eq(json_parse(stored, strlen(stored), JSON_PARSE_PYTHON, &v), 0);
	ck_assert_int_eq(tag_plain(v, &p), 0);
	ck_assert_int_eq(json_dump(p, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &out, &ol), 0);
	ck_assert_str_eq(out, want);
	free(out);
	json_free(p);
	json_free(v);
}
END_TEST

static const struct {
	const char *text;
	bool plain;
} fast_vec[] = {
    {"{\"a\":1,\"b\":[1,2,{\"c\":\"x\"}],\"n\":null,\"t\":true}", true},
    {"{\"s\":\"{\\\" t\\\":1} NaN Infinity\"}", true},
    {"{\"a\":{\"b\":\" t\"}}", true},
    {"{\"a\":\"\\\\\",\"b\":\"{\\\" \"}", true},
    {"{}", true},
    {"{\"a\":1e400,\"b\":-0.5E-3}", true},
    {"{\" t\":[1]}", false},
    {"{\"\\u0020t\":[1]}", false},
    {"[{\" b\":\"x\"}]", false},
    {"{\"a\":NaN}", false},
    {"[-Infinity]", false},
    {"{\"a\": 1}", false},
    {"{\"a\":\"\xc3\xa9\"}", false},
    {"{\"a\":\"x\x01\"}", false},
};

START_TEST(test_fast_path)
{
	const char *t = fast_vec[_i].text;
	ck_assert_int_eq(tag_text_is_plain(t, strlen(t)), fast_vec[_i].plain);
	if (fast_vec[_i].plain)
		check_text(t, t);
}
END_TEST

/* Generated with Debian's Flask 2.2.2: TaggedJSONSerializer().dumps(json.loads(plain))
 * in an app context (sort_keys, compact, ensure_ascii). tag_escape was also
 * checked once against that on 5,000 random values nesting dicts keyed by
 * tag names, "__"-suffixed names, " x" and non-ASCII keys: no mismatch, and
 * the plain view (text and DOM) of each result gave back the input. */
static const struct {
	const char *plain, *stored;
} escape_vec[] = {
    {"{\" t\":[1,2]}", "{\" di\":{\" t__\":[1,2]}}"},
    {"{\"a\":{\" di\":{\"x\":1}}}", "{\"a\":{\" di\":{\" di__\":{\"x\":1}}}}"},
    {"[{\" b\":\"x\"},{\" m\":1,\"k\":2},{\" u\":[{\" d\":{}}]}]",
     "[{\" di\":{\" b__\":\"x\"}},{\" m\":1,\"k\":2},{\" di\":{\" u__\":[{\" di\":{\" "
     "d__\":{}}}]}}]"},
    {"{\" x\":1}", "{\" x\":1}"},
    {"{\" t__\":1}", "{\" t__\":1}"},
    {"{\"a\":{\" t\":{\" t\":{\" t\":null}}}}",
     "{\"a\":{\" di\":{\" t__\":{\" di\":{\" t__\":{\" di\":{\" t__\":null}}}}}}}"},
    {"{\"k\":[[{\" di\":[]}]]}", "{\"k\":[[{\" di\":{\" di__\":[]}}]]}"},
    {"\"str\"", "\"str\""},
    {"[]", "[]"},
    {"{}", "{}"},
    {"{\"\\u00e9\":{\" u\":\"\\ud83d\\ude00\"}}",
     "{\"\\u00e9\":{\" di\":{\" u__\":\"\\ud83d\\ude00\"}}}"},
};

START_TEST(test_escape)
{
	const char *in = escape_vec[_i].plain, *want = escape_vec[_i].stored;
	json *v, *e, *back;
	char *out;
	size_t ol;
	ck_assert_int_eq(json_parse(in, strlen(in), 0, &v), 0);
	ck_assert_int_eq(tag_escape(v, &e), 0);
	ck_assert_int_eq(json_dump(e, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &out, &ol), 0);
	ck_assert_str_eq(out, want);
	free(out);
	/* the plain view undoes the escaping exactly */
	ck_assert_int_eq(tag_plain(e, &back), 0);
	ck_assert(json_equal(back, v));
	json_free(back);
	json_free(e);
	json_free(v);
}
END_TEST

START_TEST(test_kind)
{
	static const struct {
		const char *text;
		enum tag_kind kind;
	} k[] = {
	    {"{\" t\":[]}", TAG_TUPLE},
	    {"{\" t\":{}}", TAG_NONE},
	    {"{\" di\":{\"a__\":1}}", TAG_DICT},
	    {"{\" di\":{}}", TAG_NONE},
	    {"{\" di\":{\"a\":1,\"b\":2}}", TAG_NONE},
	    {"{\" b\":\"\"}", TAG_BYTES},
	    {"{\" b\":1}", TAG_NONE},
	    {"{\" m\":\"\"}", TAG_MARKUP},
	    {"{\" u\":\"\"}", TAG_UUID},
	    {"{\" d\":\"\"}", TAG_DATETIME},
	    {"{\" x\":\"\"}", TAG_NONE},
	    {"{\" t\":[],\"a\":1}", TAG_NONE},
	    {"[1]", TAG_NONE},
	    {"\" t\"", TAG_NONE},
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		json *v;
		ck_assert_int_eq(json_parse(k[i].text, strlen(k[i].text), 0, &v), 0);
		ck_assert_msg(tag_kind(v) == k[i].kind, "%s", k[i].text);
		json_free(v);
	}
	ck_assert(tag_is_name(" di", 3) && tag_is_name(" d", 2) && !tag_is_name(" x", 2));
	ck_assert(!tag_is_name(" d\0", 3) && !tag_is_name("  ", 2) && !tag_is_name(" ", 1));
	/* " di" keys lose two code points, not two bytes */
	json *v;
	const char *t = "{\" di\":{\"ab\\u00e9\\u00e9\":1}}";
	ck_assert_int_eq(json_parse(t, strlen(t), 0, &v), 0);
	size_t kl;
	const struct json_member *m = tag_dict_member(v, &kl);
	ck_assert_uint_eq(kl, 2);
	ck_assert(memcmp(m->key, "ab", 2) == 0);
	json_free(v);
}
END_TEST

START_TEST(test_errors)
{
	char *out = (char *)0x1;
	size_t ol = 0;
	ck_assert_int_eq(tag_plain_text("{\"a\":NaN,}", 10, &out, &ol), SG_EMALFORMED);
	ck_assert_ptr_eq(out, (char *)0x1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tag");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_plain, 0, sizeof(plain_vec) / sizeof(plain_vec[0]));
	tcase_add_loop_test(tc, test_fast_path, 0, sizeof(fast_vec) / sizeof(fast_vec[0]));
	tcase_add_loop_test(tc, test_escape, 0, sizeof(escape_vec) / sizeof(escape_vec[0]));
	tcase_add_test(tc, test_kind);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
