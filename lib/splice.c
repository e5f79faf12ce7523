/* lib/splice.c — the common merge patch applied to a session's JSON text, without a DOM.
 *
 * The session text is walked once, top-level member by member; the patch's
 * members, sorted the way json_dump sorts keys, are merged into that stream:
 * a member the patch sets is written with the patch's value (dumped by
 * json_dump, as a whole-session dump would), one it removes is left out,
 * every other member is copied as it stands. Because the text is the dump
 * of its session, copying a member is dumping it. */
#include "splice.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json.h"
#include "sg_limits.h"

enum { SPLICE_MAX_MEMBERS = 32 }; /* patches are a few keys; more takes the DOM path */

/* The result: a buffer json_dump_append and json_text_append grow. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static int sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	return json_text_append(s, n, &b->p, &b->len, &b->cap);
}

/* A key whose text in t is its value (no escapes: printable ASCII but '"'
 * and '\') and that is no tag name (they all start with a space), so the
 * byte order of texts is json_dump's key order and no " di" wrapping can
 * come or go. */
static bool plain_key(const char *k, size_t n)
{
	if (n == 0 || k[0] == ' ')
		return n == 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)k[i];
		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* Index just past the string starting at t[i] == '"', or 0 if unterminated. */
static size_t skip_string(const char *t, size_t i, size_t n)
{
	size_t j = json_string_close(t, i + 1, n);
	return j < n ? j + 1 : 0;
}

/* Index just past the value starting at t[i] (compact JSON: it ends at the
 * ',' or '}' that follows it), or 0 if t ends first. */
static size_t skip_value(const char *t, size_t i, size_t n)
{
	size_t depth = 0;
	while (i < n) {
		switch (t[i]) {
		case '"':
			if (!(i = skip_string(t, i, n)))
				return 0;
			if (depth == 0)
				return i;
			continue;
		case '{':
		case '[': depth++; break;
		case '}':
		case ']':
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
			break;
		case ',':
			if (depth == 0)
				return i;
			break;
		default: break;
		}
		i++;
	}
	return 0;
}

/* Writes a member of t as it stands ('"key":value'), after a ',' unless it
 * is the first. */
static int put_text(struct sbuf *b, bool *first, const char *member, size_t len)
{
	int err = *first ? 0 : sbuf_add(b, ",", 1);
	*first = false;
	return err ? err : sbuf_add(b, member, len);
}

/* Writes the member '"key":' v (dumped). */
static int put_member(struct sbuf *b, bool *first, const char *key, size_t klen, const json *v)
{
	int err = *first ? 0 : sbuf_add(b, ",", 1);
	*first = false;
	if (!err)
		err = sbuf_add(b, "\"", 1);
	if (!err)
		err = sbuf_add(b, key, klen);
	if (!err)
		err = sbuf_add(b, "\":", 2);
	if (err)
		return err;
	err = json_dump_append(v, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &b->p, &b->len, &b->cap);
	/* a string json_dump refuses (not WTF-8): the DOM path refuses it too */
	return err == SG_EINVAL ? SG_EUNSUPPORTED : err;
}

static int splice(const char *t, size_t n, const json *patch, const struct patch_policy *pol,
		  struct sbuf *b)
{
	size_t np = patch->u.obj.len;
	const struct json_member *ops[SPLICE_MAX_MEMBERS];
	if (np > SPLICE_MAX_MEMBERS)
		return SG_EUNSUPPORTED;
	for (size_t i = 0; i < np; i++) {
		const struct json_member *m = &patch->u.obj.m[i];
		enum json_type ty = m->val->type;
		if (!plain_key(m->key, m->klen) || !patch_key_writable(pol, m->key, m->klen) ||
		    (ty != JSON_STRING && ty != JSON_NUMBER && ty != JSON_TRUE &&
		     ty != JSON_FALSE && ty != JSON_NULL))
			return SG_EUNSUPPORTED;
		/* insertion sort by key; json_parse left one member per key */
		size_t j = i;
		for (;
		     j > 0 && json_key_cmp(ops[j - 1]->key, ops[j - 1]->klen, m->key, m->klen) > 0;
		     j--)
			ops[j] = ops[j - 1];
		ops[j] = m;
	}

	if (n < 2 || t[0] != '{' || t[n - 1] != '}')
		return SG_EUNSUPPORTED;
	int err = sbuf_add(b, "{", 1);
	bool first = true;
	size_t k = 0, i = 1;
	const char *prev = NULL;
	size_t prevlen = 0;
	while (!err && i < n - 1) {
		/* "key":value, then ',' or the final '}' */
		size_t ke = t[i] == '"' ? skip_string(t, i, n) : 0;
		if (ke == 0 || ke >= n || t[ke] != ':')
			return SG_EUNSUPPORTED;
		const char *key = t + i + 1;
		size_t klen = ke - i - 2;
		size_t ve = skip_value(t, ke + 1, n);
		if (ve <= ke + 1 || (t[ve] != ',' && ve != n - 1) || !plain_key(key, klen) ||
		    (prev && json_key_cmp(prev, prevlen, key, klen) >= 0))
			return SG_EUNSUPPORTED;
		prev = key;
		prevlen = klen;
		for (; !err && k < np && json_key_cmp(ops[k]->key, ops[k]->klen, key, klen) < 0;
		     k++)
			if (ops[k]->val->type != JSON_NULL)
				err = put_member(b, &first, ops[k]->key, ops[k]->klen, ops[k]->val);
		if (!err && k < np && json_key_cmp(ops[k]->key, ops[k]->klen, key, klen) == 0) {
			if (ops[k]->val->type != JSON_NULL)
				err = put_member(b, &first, key, klen, ops[k]->val);
			k++;
		} else if (!err) {
			err = put_text(b, &first, t + i, ve - i);
		}
		i = t[ve] == ',' ? ve + 1 : ve;
	}
	for (; !err && k < np; k++)
		if (ops[k]->val->type != JSON_NULL)
			err = put_member(b, &first, ops[k]->key, ops[k]->klen, ops[k]->val);
	return err ? err : sbuf_add(b, "}", 1);
}

int splice_merge_patch(const char *t, size_t tlen, const char *p, size_t plen,
		       const struct patch_policy *pol, char **ret, size_t *ret_len)
{
	if (plen > SG_PATCH_MAX_BYTES)
		return SG_EUNSUPPORTED;
	json *patch;
	int err = json_parse(p, plen, 0, &patch);
	if (err)
		return err == SG_ENOMEM ? err : SG_EUNSUPPORTED;
	struct sbuf b = {malloc(tlen + plen + 64), 0, tlen + plen + 64};
	if (!b.p) {
		json_free(patch);
		return SG_ENOMEM;
	}
	err = patch->type == JSON_OBJECT ? splice(t, tlen, patch, pol, &b) : SG_EUNSUPPORTED;
	json_free(patch);
	if (err) {
		free(b.p);
		return err;
	}
	b.p[b.len] = '\0';
	*ret = b.p;
	*ret_len = b.len;
	return 0;
}
