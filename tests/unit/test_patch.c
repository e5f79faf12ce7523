/* tests/unit/test_patch.c — merge patch and JSON Patch on tagged sessions: RFC vectors, tags,
 * policy, limits, diffs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "helpers.h"
#include "json.h"
#include "sg_limits.h"
#include "patch.h"

static char *const pol_keys[] = {"a", "p_*"};
static const struct patch_policy pol_ap = {pol_keys, 2};

/* session (stored, Python dialect), patch, policy?, rc, expected stored
 * session (sorted, ASCII; NULL = unchanged). RFC vectors are the examples of
 * RFC 7386 appendix A and RFC 6902 appendix A. patch_apply was also run once
 * against a small Python reference of both RFCs on 36,000 random tag-free
 * sessions and patches (all ops, "-", ~0/~1, bad indexes, root paths): same
 * results and same failures. */
static const struct {
	const char *session, *patch;
	bool policy;
	int rc;
	const char *want;
} vec[] = {
    /* RFC 7386 */
    {"{\"a\":\"b\"}", "{\"a\":\"c\"}", false, 0, "{\"a\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"b\":\"c\"}", false, 0, "{\"a\":\"b\",\"b\":\"c\"}"},
    {"{\"a\":\"b\"}", "{\"a\":null}", false, 0, "{}"},
    {"{\"a\":\"b\",\"b\":\"c\"}", "{\"a\":null}", false, 0, "{\"b\":\"c\"}"},
    {"{\"a\":[\"b\"]}", "{\"a\":\"c\"}", false, 0, "{\"a\":\"c\"}"},
    {"{\"a\":\"c\"}", "{\"a\":[\"b\"]}", false, 0, "{\"a\":[\"b\"]}"},
    {"{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}", false, 0,
     "{\"a\":{\"b\":\"d\"}}"},
    {"{\"a\":[{\"b\":\"c\"}]}", "{\"a\":[1]}", false, 0, "{\"a\":[1]}"},
    {"{\"e\":null}", "{\"a\":1}", false, 0, "{\"a\":1,\"e\":null}"},
    {"{}", "{\"a\":{\"bb\":{\"ccc\":null}}}", false, 0, "{\"a\":{\"bb\":{}}}"},
    {"{\"a\":1}", "{\"a\":{\"x\":[null,{\"y\":null}]}}", false, 0,
     "{\"a\":{\"x\":[null,{\"y\":null}]}}"},
    /* RFC 6902 A.1-A.16 */
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]", false, 0,
     "{\"baz\":\"qux\",\"foo\":\"bar\"}"},
    {"{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
     false, 0, "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"},
    {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]", false, 0,
     "{\"foo\":\"bar\"}"},
    {"{\"foo\":[\"bar\",\"qux\",\"baz\"]}", "[{\"op\":\"remove\",\"path\":\"/foo/1\"}]", false, 0,
     "{\"foo\":[\"bar\",\"baz\"]}"},
    {"{\"baz\":\"qux\",\"foo\":\"bar\"}",
     "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]", false, 0,
     "{\"baz\":\"boo\",\"foo\":\"bar\"}"},
    {"{\"foo\":{\"bar\":\"baz\",\"waldo\":\"fred\"},\"qux\":{\"corge\":\"grault\"}}",
     "[{\"op\":\"move\",\"from\":\"/foo/waldo\",\"path\":\"/qux/thud\"}]", false, 0,
     "{\"foo\":{\"bar\":\"baz\"},\"qux\":{\"corge\":\"grault\",\"thud\":\"fred\"}}"},
    {"{\"foo\":[\"all\",\"grass\",\"cows\",\"eat\"]}",
     "[{\"op\":\"move\",\"from\":\"/foo/1\",\"path\":\"/foo/3\"}]", false, 0,
     "{\"foo\":[\"all\",\"cows\",\"eat\",\"grass\"]}"},
    {"{\"baz\":\"qux\",\"foo\":[\"a\",2,\"c\"]}",
     "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"qux\"},{\"op\":\"test\",\"path\":\"/foo/1\","
     "\"value\":2}]",
     false, 0, NULL},
    {"{\"baz\":\"qux\"}", "[{\"op\":\"test\",\"path\":\"/baz\",\"value\":\"bar\"}]", false,
     SG_ETESTFAIL, NULL},
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/child\",\"value\":{\"grandchild\":{}}}]",
     false, 0, "{\"child\":{\"grandchild\":{}},\"foo\":\"bar\"}"},
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\",\"xyz\":123}]",
     false, 0, "{\"baz\":\"qux\",\"foo\":\"bar\"}"},
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz/bat\",\"value\":\"qux\"}]", false,
     SG_ENOENT, NULL},
    {"{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", false, 0, NULL},
    {"{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", false,
     SG_ETESTFAIL, NULL},
    {"{\"foo\":[\"bar\"]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":[\"abc\",\"def\"]}]",
     false, 0, "{\"foo\":[\"bar\",[\"abc\",\"def\"]]}"},
    {"{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]", false, 0,
     "{\"a\":{\"b\":1},\"c\":{\"b\":1}}"},
    /* Flask types survive writes elsewhere; NaN too */
    {"{\"t\":{\" t\":[1,2]},\"x\":1,\"n\":NaN}", "{\"x\":2}", false, 0,
     "{\"n\":NaN,\"t\":{\" t\":[1,2]},\"x\":2}"},
    {"{\"t\":{\" t\":[1,2]},\"x\":1}", "[{\"op\":\"replace\",\"path\":\"/x\",\"value\":3}]", false,
     0, "{\"t\":{\" t\":[1,2]},\"x\":3}"},
    /* writes inside a tuple keep it a tuple */
    {"{\"t\":{\" t\":[1,2]}}", "[{\"op\":\"add\",\"path\":\"/t/-\",\"value\":3}]", false, 0,
     "{\"t\":{\" t\":[1,2,3]}}"},
    {"{\"t\":{\" t\":[1,{\" b\":\"AA==\"}]}}",
     "[{\"op\":\"replace\",\"path\":\"/t/0\",\"value\":{\" t\":[]}}]", false, 0,
     "{\"t\":{\" t\":[{\" di\":{\" t__\":[]}},{\" b\":\"AA==\"}]}}"},
    /* test compares against the plain view, numbers by value */
    {"{\"u\":{\" u\":\"12345678123456781234567812345678\"}}",
     "[{\"op\":\"test\",\"path\":\"/u\",\"value\":\"12345678-1234-5678-1234-567812345678\"}]",
     false, 0, NULL},
    {"{\"t\":{\" t\":[1,2]}}",
     "[{\"op\":\"test\",\"path\":\"/t\",\"value\":[1,2]},{\"op\":\"test\",\"path\":\"/t/1\","
     "\"value\":2.0e0}]",
     false, 0, NULL},
    {"{\"n\":1000000000000000000000000000000,\"z\":-0.0}",
     "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1e30},{\"op\":\"test\",\"path\":\"/z\","
     "\"value\":0}]",
     false, 0, NULL},
    {"{\"n\":123456789012345678901}",
     "[{\"op\":\"test\",\"path\":\"/n\",\"value\":123456789012345678900}]", false, SG_ETESTFAIL,
     NULL},
    {"{\"n\":NaN}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":null}]", false, 0, NULL},
    /* found by a differential run against a Python reference: same size,
     * first member equal, second key missing */
    {"{\"a\":1,\"b\":2}", "[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":1,\"c\":2}}]", false,
     SG_ETESTFAIL, NULL},
    {"{\"d\":{\" d\":\"Tue, 24 Nov 2026 09:00:00 GMT\"}}",
     "[{\"op\":\"test\",\"path\":\"/d\",\"value\":\"2026-11-24T09:00:00Z\"}]", false, 0, NULL},
    /* no forged tags */
    {"{}", "{\"x\":{\" t\":[1]}}", false, 0, "{\"x\":{\" di\":{\" t__\":[1]}}}"},
    {"{}", "[{\"op\":\"add\",\"path\":\"/x\",\"value\":[{\" b\":\"AAAA\"}]}]", false, 0,
     "{\"x\":[{\" di\":{\" b__\":\"AAAA\"}}]}"},
    {"{}", "{\" t\":[1]}", false, 0, "{\" di\":{\" t__\":[1]}}"},
    {"{\"o\":{\" t\":1,\"x\":2}}", "[{\"op\":\"remove\",\"path\":\"/o/x\"}]", false, 0,
     "{\"o\":{\" di\":{\" t__\":1}}}"},
    {"{\"o\":{\" t\":1,\"x\":2}}", "{\"o\":{\"x\":null}}", false, 0,
     "{\"o\":{\" di\":{\" t__\":1}}}"},
    {"{\"o\":{\" t\":5}}", "[{\"op\":\"replace\",\"path\":\"/o/ t\",\"value\":[1]}]", false, 0,
     "{\"o\":{\" di\":{\" t__\":[1]}}}"},
    {"{\"o\":{\" di\":{\"a\":1,\"b\":2}}}", "[{\"op\":\"remove\",\"path\":\"/o/ di/b\"}]", false, 0,
     "{\"o\":{\" di\":{\" di__\":{\"a\":1}}}}"},
    /* " di" addresses the unescaped dict */
    {"{\"d\":{\" di\":{\" t__\":1}}}", "[{\"op\":\"replace\",\"path\":\"/d/ t\",\"value\":2}]",
     false, 0, "{\"d\":{\" di\":{\" t__\":2}}}"},
    {"{\"d\":{\" di\":{\" t__\":1}}}", "[{\"op\":\"add\",\"path\":\"/d/x\",\"value\":2}]", false, 0,
     "{\"d\":{\" t\":1,\"x\":2}}"},
    {"{\"d\":{\" di\":{\" t__\":1}}}", "[{\"op\":\"remove\",\"path\":\"/d/ t\"}]", false, 0,
     "{\"d\":{}}"},
    {"{\"d\":{\" di\":{\" t__\":1}}}", "{\"d\":{\"x\":1}}", false, 0, "{\"d\":{\" t\":1,\"x\":1}}"},
    {"{\"d\":{\" di\":{\" t__\":{\"k\":1}}}}", "{\"d\":{\" t\":{\"k\":null}}}", false, 0,
     "{\"d\":{\" di\":{\" t__\":{}}}}"},
    /* leaves: bytes, Markup, UUID, datetime */
    {"{\"b\":{\" b\":\"AA==\"}}", "[{\"op\":\"add\",\"path\":\"/b/x\",\"value\":1}]", false,
     SG_ENOENT, NULL},
    {"{\"b\":{\" b\":\"AA==\"}}", "{\"b\":{\"x\":1}}", false, 0, "{\"b\":{\"x\":1}}"},
    /* the root */
    {"{\"x\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"a\":1}}]", false, 0,
     "{\"a\":1}"},
    {"{\"x\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[1]}]", false, SG_EINVAL, NULL},
    {"{\"x\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", false, SG_EINVAL, NULL},
    {"{\"x\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"a\":1}}]", true, SG_EPOLICY,
     NULL},
    {"{\" di\":{\" t__\":1}}", "{\"x\":2}", false, 0, "{\" t\":1,\"x\":2}"},
    /* policy */
    {"{\"b\":1}", "{\"a\":1,\"p_x\":2}", true, 0, "{\"a\":1,\"b\":1,\"p_x\":2}"},
    {"{\"b\":1}", "{\"a\":1,\"b\":2}", true, SG_EPOLICY, NULL},
    {"{\"b\":1}", "[{\"op\":\"move\",\"from\":\"/b\",\"path\":\"/a\"}]", true, SG_EPOLICY, NULL},
    {"{\"b\":1}",
     "[{\"op\":\"copy\",\"from\":\"/b\",\"path\":\"/a\"},{\"op\":\"test\",\"path\":"
     "\"/b\",\"value\":1}]",
     true, 0, "{\"a\":1,\"b\":1}"},
    {"{\"b\":{}}", "[{\"op\":\"add\",\"path\":\"/b/x\",\"value\":1}]", true, SG_EPOLICY, NULL},
    {"{\"b\":{}}", "[{\"op\":\"add\",\"path\":\"/p_/x\",\"value\":1}]", true, SG_ENOENT, NULL},
    /* all-or-nothing */
    {"{\"a\":0}",
     "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]",
     false, SG_ETESTFAIL, NULL},
    {"{\"a\":[1]}", "[{\"op\":\"remove\",\"path\":\"/a/0\"},{\"op\":\"remove\",\"path\":\"/a/0\"}]",
     false, SG_ENOENT, NULL},
    /* move details */
    {"{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/c\"}]", false, SG_EINVAL,
     NULL},
    {"{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", false, 0, NULL},
    {"{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/z\",\"path\":\"/z\"}]", false, SG_ENOENT, NULL},
    {"{\"t\":{\" t\":[1]}}", "[{\"op\":\"move\",\"from\":\"/t\",\"path\":\"/u\"}]", false, 0,
     "{\"u\":{\" t\":[1]}}"},
    /* syntax */
    {"{}", "not json", false, SG_EMALFORMED, NULL},
    {"{}", "5", false, SG_EMALFORMED, NULL},
    {"{}", "\"s\"", false, SG_EMALFORMED, NULL},
    {"{}", "{\"a\":NaN}", false, SG_EMALFORMED, NULL},
    {"{}", "[5]", false, SG_EMALFORMED, NULL},
    {"{}", "[{\"op\":\"nope\",\"path\":\"/a\"}]", false, SG_EMALFORMED, NULL},
    {"{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", false, SG_EMALFORMED, NULL},
    {"{}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", false, SG_EMALFORMED, NULL},
    {"{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", false, SG_EMALFORMED, NULL},
    {"{}", "[{\"op\":\"copy\",\"path\":\"/a\"}]", false, SG_EMALFORMED, NULL},
    {"{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/01\",\"value\":1}]", false, SG_ENOENT,
     NULL},
    {"{\"a\":[1,2]}", "[{\"op\":\"replace\",\"path\":\"/a/-\",\"value\":1}]", false, SG_ENOENT,
     NULL},
    {"{\"a\":[1,2]}", "[{\"op\":\"add\",\"path\":\"/a/3\",\"value\":1}]", false, SG_ENOENT, NULL},
    {"{}", "[]", false, 0, NULL},
    {"{}", "{}", false, 0, NULL},
};

static char *dump(const json *v)
{
	char *out;
	size_t ol;
	ck_assert_int_eq(json_dump(v, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &out, &ol), 0);
	return out;
}

START_TEST(test_vectors)
{
	json *s;
	const char *in = vec[_i].session;
	ck_assert_int_eq(json_parse(in, strlen(in), JSON_PARSE_PYTHON, &s), 0);
	char *before = dump(s);
	int rc =
	    patch_apply(s, vec[_i].patch, strlen(vec[_i].patch), vec[_i].policy ? &pol_ap : NULL);
	ck_assert_msg(rc == vec[_i].rc, "#%d %s + %s: rc %d, want %d", _i, in, vec[_i].patch, rc,
		      vec[_i].rc);
	char *after = dump(s);
	ck_assert_str_eq(after, vec[_i].want ? vec[_i].want : before);
	free(before);
	free(after);
	json_free(s);
}
END_TEST

START_TEST(test_limits)
{
	json *s;
	/* 1025 ops */
	size_t cap = 64 * 1100;
	char *p = malloc(cap);
	size_t o = 0;
	o += (size_t)snprintf(p + o, cap - o, "[");
	for (int i = 0; i <= SG_PATCH_MAX_OPS; i++)
		o += (size_t)snprintf(
		    p + o, cap - o, "%s{\"op\":\"test\",\"path\":\"\",\"value\":{}}", i ? "," : "");
	o += (size_t)snprintf(p + o, cap - o, "]");
	ck_assert_int_eq(json_parse("{}", 2, 0, &s), 0);
	ck_assert_int_eq(patch_apply(s, p, o, NULL), SG_ETOOBIG);
	/* copy doubling stops at SG_PATCH_MAX_COPY_NODES */
	o = (size_t)snprintf(p, cap, "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[1,2,3,4]}");
	for (int i = 0; i < 40; i++)
		o += (size_t)snprintf(p + o, cap - o,
				      ",{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/0\"}");
	o += (size_t)snprintf(p + o, cap - o, "]");
	ck_assert_int_eq(patch_apply(s, p, o, NULL), SG_ETOOBIG);
	char *d = dump(s);
	ck_assert_str_eq(d, "{}");
	free(d);
	/* a write that would nest deeper than SG_JSON_MAX_DEPTH */
	o = (size_t)snprintf(p, cap, "{\"a\":");
	for (int i = 0; i < SG_JSON_MAX_DEPTH - 2; i++)
		o += (size_t)snprintf(p + o, cap - o, "[");
	for (int i = 0; i < SG_JSON_MAX_DEPTH - 2; i++)
		o += (size_t)snprintf(p + o, cap - o, "]");
	o += (size_t)snprintf(p + o, cap - o, "}");
	ck_assert_int_eq(patch_apply(s, p, o, NULL), 0); /* depth 63: fine */
	ck_assert_int_eq(patch_apply(s, "{\"b\":{\"t\":{\" t\":[[[]]]}}}", 25, NULL), 0);
	json *deep;
	/* append /b (4 levels) inside the innermost array of /a */
	char dp[512];
	size_t dl =
	    (size_t)snprintf(dp, sizeof(dp), "[{\"op\":\"copy\",\"from\":\"/b\",\"path\":\"/a");
	for (int i = 0; i < SG_JSON_MAX_DEPTH - 3; i++)
		dl += (size_t)snprintf(dp + dl, sizeof(dp) - dl, "/0");
	snprintf(dp + dl, sizeof(dp) - dl, "/-\"}]");
	ck_assert_int_eq(json_parse(dp, strlen(dp), 0, &deep), 0);
	ck_assert_int_eq(patch_apply_json(s, deep, NULL), SG_EDEPTH);
	json_free(deep);
	/* too long */
	ck_assert_int_eq(patch_apply(s, p, SG_PATCH_MAX_BYTES + 1, NULL), SG_ETOOBIG);
	free(p);
	json_free(s);
}
END_TEST

START_TEST(test_writable)
{
	ck_assert(patch_key_writable(NULL, "x", 1));
	struct patch_policy none = {NULL, 0};
	ck_assert(patch_key_writable(&none, "x", 1));
	ck_assert(patch_key_writable(&pol_ap, "a", 1));
	ck_assert(!patch_key_writable(&pol_ap, "ab", 2));
	ck_assert(patch_key_writable(&pol_ap, "p_", 2));
	ck_assert(patch_key_writable(&pol_ap, "p_zz", 4));
	ck_assert(!patch_key_writable(&pol_ap, "p", 1));
	ck_assert(!patch_key_writable(&pol_ap, "a\0", 2));
}
END_TEST

static json *parse(const char *t)
{
	json *v;
	ck_assert_int_eq(json_parse(t, strlen(t), JSON_PARSE_PYTHON, &v), 0);
	return v;
}

START_TEST(test_diff)
{
	json *cur = parse("{\"a\":1,\"b\":{\" t\":[1]},\"z\":5}");
	json *before = parse("{\"a\":1,\"b\":{\" t\":[1]}}");
	json *after = parse("{\"a\":2,\"b\":{\" t\":[1]},\"c\":{\" b\":\"AA==\"}}");
	bool changed = false;
	ck_assert_int_eq(patch_diff_apply(cur, before, after, NULL, &changed), 0);
	ck_assert(changed);
	char *d = dump(cur);
	ck_assert_str_eq(d, "{\"a\":2,\"b\":{\" t\":[1]},\"c\":{\" b\":\"AA==\"},\"z\":5}");
	free(d);
	/* unchanged: nothing happens */
	ck_assert_int_eq(patch_diff_apply(cur, after, after, NULL, &changed), 0);
	ck_assert(!changed);
	/* a deletion (empty session) removes what the backend had, not z */
	json *empty = parse("{}");
	ck_assert_int_eq(patch_diff_apply(cur, after, empty, NULL, &changed), 0);
	ck_assert(changed);
	d = dump(cur);
	ck_assert_str_eq(d, "{\"z\":5}");
	free(d);
	/* policy: the backend changed "secret" */
	json *b2 = parse("{\"a\":1,\"secret\":1}"), *a2 = parse("{\"a\":2,\"secret\":2}");
	ck_assert_int_eq(patch_diff_apply(cur, b2, a2, &pol_ap, &changed), SG_EPOLICY);
	d = dump(cur);
	ck_assert_str_eq(d, "{\"z\":5}");
	free(d);
	json *a3 = parse("{\"a\":2,\"secret\":1}");
	ck_assert_int_eq(patch_diff_apply(cur, b2, a3, &pol_ap, &changed), 0);
	d = dump(cur);
	ck_assert_str_eq(d, "{\"a\":2,\"z\":5}");
	free(d);
	/* a session that is not a dict is refused */
	json *arr = parse("[1]");
	ck_assert_int_eq(patch_diff_apply(cur, arr, empty, NULL, &changed), SG_EINVAL);
	ck_assert_int_eq(patch_apply(arr, "{}", 2, NULL), SG_EINVAL);
	json_free(arr);
	json_free(a3);
	json_free(a2);
	json_free(b2);
	json_free(empty);
	json_free(after);
	json_free(before);
	json_free(cur);
}
END_TEST

/* patch_apply_copy leaves the session alone, whether the patch applies or not,
 * and its copy is what patch_apply makes of the session. */
START_TEST(test_apply_copy)
{
	static const struct {
		const char *patch;
		const struct patch_policy *pol;
		int want;
	} t[] = {
	    {"{\"a\":2,\"n\":{\"x\":null,\"y\":1}}", NULL, 0},
	    {"[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":3},{\"op\":\"remove\",\"path\":\"/a\"}]",
	     NULL, 0},
	    {"[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":3},{\"op\":\"test\",\"path\":\"/"
	     "a\",\"value\":9}]",
	     NULL, SG_ETESTFAIL},
	    {"{\"a\":3,\"n\":1}", &pol_ap, SG_EPOLICY},
	    {"not json", NULL, SG_EMALFORMED},
	};
	const char *orig = "{\"a\":1,\"l\":[1,2],\"n\":{\"x\":1}}";
	for (size_t i = 0; i < TH_NELEMS(t); i++) {
		json *s = parse(orig), *inplace = parse(orig), *copy = NULL;
		const char *p = t[i].patch;
		ck_assert_int_eq(patch_apply(inplace, p, strlen(p), t[i].pol), t[i].want);
		ck_assert_int_eq(patch_apply_copy(s, p, strlen(p), t[i].pol, &copy), t[i].want);
		char *d = dump(s);
		ck_assert_str_eq(d, orig);
		free(d);
		if (t[i].want == 0) {
			ck_assert(json_equal(copy, inplace));
			ck_assert(!json_equal(copy, s));
		} else {
			ck_assert_ptr_null(copy);
		}
		json_free(copy);
		json_free(inplace);
		json_free(s);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("patch");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_vectors, 0, sizeof(vec) / sizeof(vec[0]));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_writable);
	tcase_add_test(tc, test_diff);
	tcase_add_test(tc, test_apply_copy);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
