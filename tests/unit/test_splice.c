/* tests/unit/test_splice.c — lib/splice.c against lib/patch.c: fixed cases, then random sessions
 * and patches where every patch splice takes must come out byte for byte as the DOM path dumps it.
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "helpers.h"
#include "json.h"
#include "patch.h"
#include "sg_limits.h"
#include "splice.h"

static char *const pol_keys[] = {"a", "p_*"};
static const struct patch_policy pol_ap = {pol_keys, 2};

/* What lib/patch.c makes of patch on the session text t: its rc and, on
 * success, the dump of the result (t itself when json_equal says unchanged). */
static int dom_path(const char *t, const char *patch, const struct patch_policy *pol, char **ret)
{
	json *orig, *cur = NULL;
	ck_assert_int_eq(json_parse(t, strlen(t), JSON_PARSE_PYTHON, &orig), 0);
	int rc = patch_apply_copy(orig, patch, strlen(patch), pol, &cur);
	if (rc == 0) {
		if (json_equal(orig, cur)) {
			*ret = strdup(t);
		} else {
			size_t n;
			rc = json_dump(cur, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, ret, &n);
		}
	}
	json_free(orig);
	json_free(cur);
	return rc;
}

/* Splices patch into t; asserts it agrees with the DOM path. Returns splice's rc. */
static int check_one(const char *t, const char *patch, const struct patch_policy *pol)
{
	char *out = NULL, *want = NULL;
	size_t len = 0;
	int rc = splice_merge_patch(t, strlen(t), patch, strlen(patch), pol, &out, &len);
	int drc = dom_path(t, patch, pol, &want);
	ck_assert_msg(rc == 0 || rc == SG_EUNSUPPORTED, "session %s patch %s: rc %d", t, patch, rc);
	if (rc == 0) {
		ck_assert_msg(drc == 0, "session %s patch %s: spliced, the DOM path says %d", t,
			      patch, drc);
		ck_assert_uint_eq(len, strlen(out));
		ck_assert_msg(strcmp(out, want) == 0,
			      "session %s patch %s:\nspliced %s\nDOM     %s", t, patch, out, want);
	}
	free(out);
	free(want);
	return rc;
}

static const struct {
	const char *session, *patch;
	bool policy;
	const char *want; /* NULL: SG_EUNSUPPORTED */
} vec[] = {
    /* the bench's Flask-Login session, a counter set */
    {"{\"_fresh\":true,\"_id\":\"f6\",\"_user_id\":\"42\",\"csrf_token\":\"51\"}", "{\"n\":1}",
     false, "{\"_fresh\":true,\"_id\":\"f6\",\"_user_id\":\"42\",\"csrf_token\":\"51\",\"n\":1}"},
    {"{}", "{\"a\":1}", false, "{\"a\":1}"},
    {"{}", "{}", false, "{}"},
    {"{}", "{\"a\":null}", false, "{}"},
    {"{\"a\":1}", "{\"a\":null}", false, "{}"},
    {"{\"b\":1}", "{\"a\":2,\"c\":3}", false, "{\"a\":2,\"b\":1,\"c\":3}"},
    {"{\"a\":1,\"b\":2,\"c\":3}", "{\"b\":null}", false, "{\"a\":1,\"c\":3}"},
    {"{\"a\":1,\"b\":2,\"c\":3}", "{\"c\":null,\"a\":null}", false, "{\"b\":2}"},
    {"{\"a\":1}", "{\"a\":1}", false, "{\"a\":1}"},
    {"{\"a\":1}", "{\"a\":1.0}", false, "{\"a\":1.0}"}, /* numbers compare by text */
    {"{\"ab\":1,\"b\":2}", "{\"a\":0}", false, "{\"a\":0,\"ab\":1,\"b\":2}"},
    {"{\"a\":[1,{\"x\":\"}\"}],\"b\":{\" t\":[1]},\"c\":\"\\\"\"}", "{\"b\":\"s\"}", false,
     "{\"a\":[1,{\"x\":\"}\"}],\"b\":\"s\",\"c\":\"\\\"\"}"},
    {"{\"a\":\"x\"}", "{\"a\":\"\\u00e9\\n\"}", false, "{\"a\":\"\\u00e9\\n\"}"},
    {"{\"a\":NaN}", "{\"b\":true}", false, "{\"a\":NaN,\"b\":true}"},
    {"{\"a\":1}", "{\"p_x\":false}", true, "{\"a\":1,\"p_x\":false}"},
    /* the DOM path's: objects and arrays merge or get escaped there */
    {"{\"a\":1}", "{\"a\":{\"b\":1}}", false, NULL},
    {"{\"a\":1}", "{\"a\":[1]}", false, NULL},
    {"{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/a\"}]", false, NULL},
    /* keys splice does not order or tag */
    {"{\"a\":1}", "{\" t\":1}", false, NULL},
    {"{\"a\":1}", "{\"\\u00e9\":1}", false, NULL},
    {"{\"a\":1}", "{\"q\\\"\":1}", false, NULL},
    {"{\" di\":{\" t__\":1}}", "{\"a\":1}", false, NULL},
    {"{\"\\u00e9\":1}", "{\"a\":1}", false, NULL},
    /* the DOM path refuses these */
    {"{\"a\":1}", "{\"b\":1}", true, NULL},
    {"{\"a\":1}", "{\"a\":NaN}", false, NULL},
    {"{\"a\":1}", "{\"a\":", false, NULL},
    {"{\"a\":1}", "\"a\"", false, NULL},
    {"{\"a\":1}", "{\"a\":\"\\ud800\\udc00\"}", false, "{\"a\":\"\\ud800\\udc00\"}"},
    /* not what json_dump writes: refused, not spliced wrongly */
    {"{\"b\":1,\"a\":2}", "{\"c\":1}", false, NULL},
    {"{\"a\":1,\"a\":2}", "{\"c\":1}", false, NULL},
    {"{\"a\":}", "{\"c\":1}", false, NULL},
    {"{\"a\":1", "{\"c\":1}", false, NULL},
    {"[]", "{\"c\":1}", false, NULL},
};

START_TEST(test_vectors)
{
	for (size_t i = 0; i < TH_NELEMS(vec); i++) {
		const char *t = vec[i].session, *p = vec[i].patch;
		const struct patch_policy *pol = vec[i].policy ? &pol_ap : NULL;
		char *out = NULL;
		size_t len;
		int rc = splice_merge_patch(t, strlen(t), p, strlen(p), pol, &out, &len);
		if (!vec[i].want) {
			ck_assert_msg(rc == SG_EUNSUPPORTED, "case %zu: rc %d (%s)", i, rc,
				      rc ? "" : out);
			continue;
		}
		ck_assert_msg(rc == 0, "case %zu: rc %d", i, rc);
		ck_assert_msg(strcmp(out, vec[i].want) == 0, "case %zu: %s", i, out);
		free(out);
		/* and the DOM path agrees, where the session is its dump */
		json *s;
		char *d;
		size_t dn;
		ck_assert_int_eq(json_parse(t, strlen(t), JSON_PARSE_PYTHON, &s), 0);
		ck_assert_int_eq(json_dump(s, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &d, &dn), 0);
		json_free(s);
		if (strcmp(d, t) == 0)
			check_one(t, p, pol);
		free(d);
	}
}
END_TEST

/* The limits: up to 32 members a patch is spliced (and agrees with the DOM
 * path), 33 take the DOM path; a patch over SG_PATCH_MAX_BYTES is the DOM
 * path's to refuse (SG_ETOOBIG there). */
START_TEST(test_limits)
{
	const char *t = "{\"a\":1}";
	for (unsigned n = 31; n <= 33; n++) {
		char p[1024] = "{";
		for (unsigned i = 0; i < n; i++)
			snprintf(p + strlen(p), sizeof(p) - strlen(p), "%s\"k%02u\":%u",
				 i ? "," : "", i, i);
		strcat(p, "}");
		int rc = check_one(t, p, NULL);
		ck_assert_msg(rc == (n <= 32 ? 0 : SG_EUNSUPPORTED), "%u members: rc %d", n, rc);
	}

	size_t big = SG_PATCH_MAX_BYTES + 1;
	char *p = malloc(big + 1);
	ck_assert_ptr_nonnull(p);
	memcpy(p, "{\"a\":\"", 6);
	memset(p + 6, 'x', big - 8);
	memcpy(p + big - 2, "\"}", 3);
	ck_assert_uint_eq(strlen(p), big);
	char *out;
	size_t len;
	ck_assert_int_eq(splice_merge_patch(t, strlen(t), p, big, NULL, &out, &len),
			 SG_EUNSUPPORTED);
	ck_assert_int_eq(splice_merge_patch(t, strlen(t), p, big - 1, NULL, &out, &len),
			 SG_EUNSUPPORTED); /* not JSON without its last byte */
	p[big - 2] = '}';		   /* one byte shorter and whole: taken */
	p[big - 3] = '"';
	ck_assert_int_eq(splice_merge_patch(t, strlen(t), p, big - 1, NULL, &out, &len), 0);
	ck_assert_uint_eq(len, big - 1);
	free(out);
	json *s;
	ck_assert_int_eq(json_parse(t, strlen(t), 0, &s), 0);
	json *cur = NULL;
	ck_assert_int_eq(patch_apply_copy(s, p, big, NULL, &cur), SG_ETOOBIG);
	json_free(s);
	free(p);
}
END_TEST

/* ---- random sessions and patches ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned pick(unsigned n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng % n);
}

/* Keys splice takes, and (now and then) keys it must leave to the DOM path. */
static const char *const keys[] = {"a",	  "b",	      "ab",	    "n", "_fresh",
				   "_id", "_user_id", "csrf_token", "",	 "p_x",
				   "p_",  "zz",	      "a b",	    "~", "_permanent"};
static const char *const odd_keys[] = {"\\u00e9", " t", " di", "q\\\"", "\\n"};

static const char *key(void)
{
	return pick(12) ? keys[pick(TH_NELEMS(keys))] : odd_keys[pick(TH_NELEMS(odd_keys))];
}

static const char *const scalars[] = {
    "1",	 "1.0",	  "-2e3",     "0",    "\"x\"", "\"\"", "\"\\u00e9\"",
    "\"a\\nb\"", "\"}\"", "\"\\\"\"", "true", "false", "null", "12345678901234567890"};
static const char *const nested[] = {"[1,2]",
				     "[]",
				     "{}",
				     "{\"x\":1}",
				     "{\" t\":[1,2]}",
				     "{\"x\":{\"y\":null}}",
				     "[{\"a\":\"]\"}]",
				     "{\" di\":{\" t__\":1}}",
				     "{\" b\":\"YQ==\"}"};

static void put_value(char *b, size_t cap, bool in_session)
{
	/* patches: mostly what splice takes */
	unsigned r = pick(10);
	const char *v = r < (in_session ? 7u : 9u) ? scalars[pick(TH_NELEMS(scalars))]
						   : nested[pick(TH_NELEMS(nested))];
	if (in_session && strcmp(v, "null") == 0 && pick(2))
		v = "2";
	strncat(b, v, cap - strlen(b) - 1);
}

static void gen_object(char *b, size_t cap, unsigned max, bool in_session)
{
	strcpy(b, "{");
	unsigned n = pick(max + 1);
	for (unsigned i = 0; i < n; i++) {
		if (i)
			strncat(b, ",", cap - strlen(b) - 1);
		strncat(b, "\"", cap - strlen(b) - 1);
		strncat(b, key(), cap - strlen(b) - 1);
		strncat(b, "\":", cap - strlen(b) - 1);
		put_value(b, cap, in_session);
	}
	strncat(b, "}", cap - strlen(b) - 1);
}

START_TEST(test_random_against_dom)
{
	unsigned taken = 0, rounds = 20000;
	for (unsigned r = 0; r < rounds; r++) {
		char src[1024], patch[512];
		gen_object(src, sizeof(src), 8, true);
		json *s;
		if (json_parse(src, strlen(src), JSON_PARSE_PYTHON, &s) != 0)
			continue;
		char *t;
		size_t tn;
		int err = json_dump(s, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &t, &tn);
		json_free(s);
		if (err)
			continue;
		switch (pick(20)) {
		case 0: strcpy(patch, "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]"); break;
		case 1: strcpy(patch, "{\"a\":"); break;
		default: gen_object(patch, sizeof(patch), 4, false); break;
		}
		const struct patch_policy *pol = pick(4) == 0 ? &pol_ap : NULL;
		if (check_one(t, patch, pol) == 0)
			taken++;
		free(t);
	}
	/* splice must be the common case, not a path nothing takes */
	ck_assert_msg(taken > rounds / 5, "splice took %u of %u", taken, rounds);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("splice");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_random_against_dom);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
