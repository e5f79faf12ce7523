/* tests/fuzz/fuzz_patch.c — patches on tagged sessions: all-or-nothing, valid results, policy, no
 * forged tags.
 *
 * Input: session JSON, a NUL byte, patch JSON. Without a NUL (or with a
 * session that is not a dict) a fixed session holding every tag is used and
 * the whole input is the patch. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json.h"
#include "patch.h"
#include "tag.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static const char fixed[] =
    "{\"t\":{\" t\":[1,{\" t\":[]},{\"k\":2}]},\"b\":{\" b\":\"AA==\"},\"m\":{\" m\":\"<i>\"},"
    "\"u\":{\" u\":\"12345678123456781234567812345678\"},\"dt\":{\" d\":\"Tue, 24 Nov 2026 "
    "09:00:00 "
    "GMT\"},\"di\":{\" di\":{\" t__\":{\"x\":1}}},\"ill\":{\" t\":5},\"n\":NaN,\"p_a\":{\"y\":[1]},"
    "\"x\":{\"y\":[1,2]}}";

static char *dump(const json *v, unsigned flags)
{
	char *out;
	size_t ol;
	CHECK(json_dump(v, flags, &out, &ol) == 0);
	return out;
}

/* Appends every leaf tag (bytes, Markup, UUID, datetime) and tuple of v. */
static void collect(const json *v, const json **leaves, size_t *nl, size_t cap, size_t *tuples)
{
	enum tag_kind k = tag_kind(v);
	if (k == TAG_TUPLE)
		(*tuples)++;
	if (k == TAG_BYTES || k == TAG_MARKUP || k == TAG_UUID || k == TAG_DATETIME) {
		if (*nl < cap)
			leaves[(*nl)++] = v;
		return;
	}
	if (v->type == JSON_ARRAY)
		for (size_t i = 0; i < v->u.arr.len; i++)
			collect(v->u.arr.v[i], leaves, nl, cap, tuples);
	if (v->type == JSON_OBJECT)
		for (size_t i = 0; i < v->u.obj.len; i++)
			collect(v->u.obj.m[i].val, leaves, nl, cap, tuples);
}

#define MAXL 4096

/* No tag can be forged: every leaf tag of res is one of orig's (patches can
 * only move or copy them), and no tuple appears in a session that had none. */
static void check_no_forgery(const json *orig, const json *res)
{
	static const json *ol[MAXL], *rl[MAXL];
	size_t no = 0, nr = 0, to = 0, tr = 0;
	collect(orig, ol, &no, MAXL, &to);
	collect(res, rl, &nr, MAXL, &tr);
	if (to == 0)
		CHECK(tr == 0);
	for (size_t i = 0; i < nr; i++) {
		bool found = false;
		for (size_t j = 0; j < no && !found; j++)
			found = json_equal(rl[i], ol[j]);
		CHECK(found || no == MAXL);
	}
}

/* The fast path is sound: text it calls plain equals its own plain view. */
static void check_fast_path(const char *text, size_t len)
{
	if (!tag_text_is_plain(text, len))
		return;
	json *v, *p;
	if (json_parse(text, len, JSON_PARSE_PYTHON, &v) != 0)
		return;
	CHECK(tag_plain(v, &p) == 0);
	CHECK(json_equal(p, v));
	json_free(p);
	json_free(v);
}

static char *const pol_keys[] = {"x", "p_*"};
static const struct patch_policy pol = {pol_keys, 2};

static int run(const json *session, const char *patch, size_t plen, const struct patch_policy *pp,
	       json **ret)
{
	char *before = dump(session, 0);
	json *work = json_copy(session);
	CHECK(work);
	int rc = patch_apply(work, patch, plen, pp);
	char *after = dump(work, 0);
	if (rc != 0) {
		CHECK(strcmp(before, after) == 0); /* untouched, byte for byte */
	} else {
		/* a valid session: re-parses to the same tree */
		char *sorted = dump(work, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII);
		json *back;
		CHECK(json_parse(sorted, strlen(sorted), JSON_PARSE_PYTHON, &back) == 0);
		CHECK(json_equal(back, work));
		CHECK(back->type == JSON_OBJECT);
		json_free(back);
		/* its plain view text agrees with the DOM path */
		char *pt;
		size_t ptl;
		CHECK(tag_plain_text(sorted, strlen(sorted), &pt, &ptl) == 0);
		json *pv, *pd;
		CHECK(json_parse(pt, ptl, 0, &pv) == 0);
		CHECK(tag_plain(work, &pd) == 0);
		CHECK(json_equal(pv, pd));
		for (size_t i = 0; i < ptl; i++)
			CHECK(pt[i] >= 0x20 && pt[i] < 0x7f);
		json_free(pv);
		json_free(pd);
		free(pt);
		free(sorted);
		check_no_forgery(session, work);
	}
	free(before);
	free(after);
	*ret = work;
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *sep = memchr(in, '\0', size);
	json *session = NULL;
	const char *patch = in;
	size_t plen = size;
	if (sep) {
		check_fast_path(in, (size_t)(sep - in));
		if (json_parse(in, (size_t)(sep - in), JSON_PARSE_PYTHON, &session) == 0 &&
		    session->type != JSON_OBJECT) {
			json_free(session);
			session = NULL;
		}
		patch = sep + 1;
		plen = size - (size_t)(sep - in) - 1;
	}
	if (!session)
		CHECK(json_parse(fixed, sizeof(fixed) - 1, JSON_PARSE_PYTHON, &session) == 0);
	check_fast_path(patch, plen);

	json *all, *restricted;
	int rc_all = run(session, patch, plen, NULL, &all);
	int rc_pol = run(session, patch, plen, &pol, &restricted);
	/* the policy only ever removes successes, never changes a result */
	if (rc_pol == 0) {
		CHECK(rc_all == 0);
		CHECK(json_equal(all, restricted));
	}
	if (rc_all == 0) {
		/* keys the policy forbids are untouched when it succeeds */
		json *po, *pr;
		CHECK(tag_plain(session, &po) == 0 && tag_plain(restricted, &pr) == 0);
		if (po->type == JSON_OBJECT && pr->type == JSON_OBJECT) {
			for (int pass = 0; pass < 2; pass++) {
				const json *a = pass ? pr : po, *b = pass ? po : pr;
				for (size_t i = 0; i < a->u.obj.len; i++) {
					const struct json_member *m = &a->u.obj.m[i];
					if (patch_key_writable(&pol, m->key, m->klen))
						continue;
					const json *o = json_object_get(b, m->key, m->klen);
					CHECK(o && json_equal(o, m->val));
				}
			}
		}
		json_free(po);
		json_free(pr);
		/* the diff of a successful patch, applied to the original, gives
		 * the same session */
		json *again = json_copy(session);
		bool changed;
		CHECK(again);
		int rc = patch_diff_apply(again, session, all, NULL, &changed);
		if (rc == 0) {
			CHECK(json_equal(again, all));
			CHECK(changed == !json_equal(session, all));
		} else {
			CHECK(rc == SG_ENOMEM || rc == SG_EDEPTH);
		}
		json_free(again);
	}
	/* Patches address the plain view: on the Flask-normalised plain session
	 * (tuples as lists, bytes as strings...) the same patch succeeds or
	 * fails alike and gives the same plain view. Depth and copy-size limits
	 * count stored nodes, so they may differ. */
	json *ps, *ns, *other;
	CHECK(tag_plain(session, &ps) == 0);
	CHECK(tag_escape(ps, &ns) == 0);
	int rc_n = run(ns, patch, plen, NULL, &other);
	if (rc_all != SG_EDEPTH && rc_all != SG_ETOOBIG && rc_n != SG_EDEPTH &&
	    rc_n != SG_ETOOBIG) {
		CHECK(rc_n == rc_all);
		if (rc_all == 0) {
			json *pa, *po;
			CHECK(tag_plain(all, &pa) == 0 && tag_plain(other, &po) == 0);
			CHECK(json_equal(pa, po));
			json_free(pa);
			json_free(po);
		}
	}
	json_free(other);
	json_free(ns);
	json_free(ps);
	json_free(all);
	json_free(restricted);
	json_free(session);
	return 0;
}
