/* lib/patch.c — merge patch (RFC 7386), JSON Patch (RFC 6902) and session diffs on Flask's tagged
 * session. */
#include "patch.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sg_limits.h"
#include "tag.h"

bool patch_key_writable(const struct patch_policy *pol, const char *key, size_t klen)
{
	if (!pol || pol->nkeys == 0)
		return true;
	for (size_t i = 0; i < pol->nkeys; i++) {
		const char *p = pol->keys[i];
		size_t pl = strlen(p);
		if (pl && p[pl - 1] == '*') {
			if (klen >= pl - 1 && memcmp(key, p, pl - 1) == 0)
				return true;
		} else if (pl == klen && memcmp(key, p, pl) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- containers of the plain view ---- */

enum ckind { C_LEAF, C_OBJ, C_DI, C_ARR, C_TUPLE };

static enum ckind ckind(const json *v)
{
	if (v->type == JSON_ARRAY)
		return C_ARR;
	if (v->type != JSON_OBJECT)
		return C_LEAF;
	switch (tag_kind(v)) {
	case TAG_NONE: return C_OBJ;
	case TAG_DICT: return C_DI;
	case TAG_TUPLE: return C_TUPLE;
	default: return C_LEAF;
	}
}

static bool plain_is_object(const json *v)
{
	enum ckind k = ckind(v);
	return k == C_OBJ || k == C_DI;
}

static struct json_member *di_member(json *v, size_t *ukl)
{
	return (struct json_member *)tag_dict_member(v, ukl);
}

static json *tuple_array(json *v)
{
	return v->u.obj.m[0].val;
}

/* A plain dict whose only key is a tag name is stored as Flask's TagDict
 * would: {" di": {"<key>__": value}}. */
static bool needs_wrap(const json *v)
{
	return v->type == JSON_OBJECT && v->u.obj.len == 1 &&
	       tag_is_name(v->u.obj.m[0].key, v->u.obj.m[0].klen);
}

static int wrap_di(json **slot)
{
	json *o = *slot;
	struct json_member *m = &o->u.obj.m[0];
	char key[5];
	memcpy(key, m->key, m->klen);
	memcpy(key + m->klen, "__", 2);
	json *inner = json_new_object(), *outer = json_new_object();
	if (!inner || !outer) {
		json_free(inner);
		json_free(outer);
		return SG_ENOMEM;
	}
	json *val = m->val;
	m->val = NULL; /* detached: json_free(NULL) is a no-op */
	int err = json_object_set(inner, key, m->klen + 2, val);
	if (err) {
		json_free(inner);
		json_free(outer);
		return err;
	}
	if ((err = json_object_set(outer, " di", 3, inner))) {
		json_free(outer);
		return err;
	}
	json_free(o);
	*slot = outer;
	return 0;
}

static int normalize(json **slot)
{
	return needs_wrap(*slot) ? wrap_di(slot) : 0;
}

/* " di" -> the plain dict it stands for, so its key set can change. */
static int unwrap_di(json **slot)
{
	size_t ukl;
	struct json_member *m = di_member(*slot, &ukl);
	json *o = json_new_object();
	if (!o)
		return SG_ENOMEM;
	json *val = m->val;
	m->val = NULL;
	int err = json_object_set(o, m->key, ukl, val);
	if (err) {
		json_free(o);
		return err;
	}
	json_free(*slot);
	*slot = o;
	return 0;
}

/* Before writing through a container: an ill-shaped single-tag-key dict
 * (a plain dict to us) is stored escaped first, so a write below cannot turn
 * it into a well-formed tag. */
static int prepare(json **slot)
{
	if (ckind(*slot) == C_OBJ)
		return normalize(slot);
	return 0;
}

struct tok {
	const char *p;
	size_t len;
};

static bool tok_is(const struct tok *t, const char *k, size_t kl)
{
	return t->len == kl && memcmp(t->p, k, kl) == 0;
}

/* RFC 6901 array index: "0" or [1-9][0-9]*; SIZE_MAX for "-". */
static bool tok_index(const struct tok *t, size_t *ret)
{
	if (t->len == 1 && t->p[0] == '-') {
		*ret = SIZE_MAX;
		return true;
	}
	if (t->len == 0 || t->len > 18 || (t->p[0] == '0' && t->len > 1))
		return false;
	size_t v = 0;
	for (size_t i = 0; i < t->len; i++) {
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
		v = v * 10 + (size_t)(t->p[i] - '0');
	}
	*ret = v;
	return true;
}

static json *container_array(json *c, enum ckind k)
{
	return k == C_TUPLE ? tuple_array(c) : c;
}

static struct json_member *obj_member(json *o, const struct tok *t)
{
	for (size_t i = 0; i < o->u.obj.len; i++)
		if (tok_is(t, o->u.obj.m[i].key, o->u.obj.m[i].klen))
			return &o->u.obj.m[i];
	return NULL;
}

static json **child_slot(json *c, const struct tok *t)
{
	enum ckind k = ckind(c);
	size_t idx, ukl;
	struct json_member *m;
	switch (k) {
	case C_OBJ: m = obj_member(c, t); return m ? &m->val : NULL;
	case C_DI: m = di_member(c, &ukl); return tok_is(t, m->key, ukl) ? &m->val : NULL;
	case C_ARR:
	case C_TUPLE: {
		json *a = container_array(c, k);
		if (!tok_index(t, &idx) || idx >= a->u.arr.len)
			return NULL;
		return &a->u.arr.v[idx];
	}
	default: return NULL;
	}
}

/* Slot of the node at t[0..n); write prepares each container passed. */
static int walk(json **slot, const struct tok *t, size_t n, bool write, json ***ret)
{
	for (size_t i = 0; i < n; i++) {
		if (write) {
			int err = prepare(slot);
			if (err)
				return err;
		}
		json **c = child_slot(*slot, &t[i]);
		if (!c)
			return SG_ENOENT;
		slot = c;
	}
	*ret = slot;
	return 0;
}

/* add (objects: set) val at key/index t of the container at ps; owns val. */
static int c_add(json **ps, const struct tok *t, json *val, bool must_exist)
{
	int err = prepare(ps);
	if (err) {
		json_free(val);
		return err;
	}
	enum ckind k = ckind(*ps);
	size_t idx, ukl;
	struct json_member *m;
	switch (k) {
	case C_DI:
		m = di_member(*ps, &ukl);
		if (tok_is(t, m->key, ukl)) {
			json_free(m->val);
			m->val = val;
			return 0;
		}
		if (must_exist) {
			json_free(val);
			return SG_ENOENT;
		}
		if ((err = unwrap_di(ps))) {
			json_free(val);
			return err;
		}
		/* fall through - now a plain dict */
	case C_OBJ:
		if (must_exist && !obj_member(*ps, t)) {
			json_free(val);
			return SG_ENOENT;
		}
		if ((err = json_object_set(*ps, t->p, t->len, val)))
			return err;
		return normalize(ps);
	case C_ARR:
	case C_TUPLE: {
		json *a = container_array(*ps, k);
		if (!tok_index(t, &idx) || (idx == SIZE_MAX && must_exist)) {
			json_free(val);
			return SG_ENOENT;
		}
		if (idx == SIZE_MAX)
			idx = a->u.arr.len;
		if (must_exist) {
			if (idx >= a->u.arr.len) {
				json_free(val);
				return SG_ENOENT;
			}
			json_free(a->u.arr.v[idx]);
			a->u.arr.v[idx] = val;
			return 0;
		}
		return json_array_insert(a, idx, val);
	}
	default: json_free(val); return SG_ENOENT;
	}
}

/* Removes key/index t from the container at ps; *ret (if non-NULL) gets
 * the removed value. */
static int c_remove(json **ps, const struct tok *t, json **ret)
{
	int err = prepare(ps);
	if (err)
		return err;
	enum ckind k = ckind(*ps);
	size_t idx, ukl;
	struct json_member *m;
	json *v;
	switch (k) {
	case C_DI:
		m = di_member(*ps, &ukl);
		if (!tok_is(t, m->key, ukl))
			return SG_ENOENT;
		json *empty = json_new_object();
		if (!empty)
			return SG_ENOMEM;
		v = m->val;
		m->val = NULL;
		json_free(*ps);
		*ps = empty;
		break;
	case C_OBJ:
		if (!(m = obj_member(*ps, t)))
			return SG_ENOENT;
		v = m->val;
		m->val = NULL;
		json_object_del(*ps, t->p, t->len);
		if ((err = normalize(ps))) {
			json_free(v);
			return err;
		}
		break;
	case C_ARR:
	case C_TUPLE: {
		json *a = container_array(*ps, k);
		if (!tok_index(t, &idx) || idx >= a->u.arr.len)
			return SG_ENOENT;
		v = a->u.arr.v[idx];
		a->u.arr.v[idx] = NULL;
		json_array_remove(a, idx);
		break;
	}
	default: return SG_ENOENT;
	}
	if (ret)
		*ret = v;
	else
		json_free(v);
	return 0;
}

/* ---- exact numeric equality for `test` ---- */

/* A JSON number as sign, significant digits (no leading/trailing zeros) and
 * the exponent of the decimal point: value = 0.DIGITS * 10^exp. */
struct dec {
	bool neg, zero;
	char *d;
	size_t nd;
	int64_t exp;
};

static int dec_parse(const char *s, size_t n, struct dec *r)
{
	size_t i = 0, nd = 0;
	memset(r, 0, sizeof(*r));
	if (!(r->d = malloc(n + 1)))
		return SG_ENOMEM;
	if (i < n && s[i] == '-')
		r->neg = true, i++;
	int64_t point = 0;
	bool leading = true;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (leading && s[i] == '0')
			continue;
		leading = false;
		r->d[nd++] = s[i];
		point++;
	}
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (leading && s[i] == '0') {
				point--;
				continue;
			}
			leading = false;
			r->d[nd++] = s[i];
		}
	}
	int64_t e = 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		bool eneg = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			if (e < INT64_C(1) << 52) /* saturate: beyond this, all alike */
				e = e * 10 + (s[i] - '0');
		if (eneg)
			e = -e;
	}
	while (nd && r->d[nd - 1] == '0')
		nd--;
	r->nd = nd;
	r->zero = nd == 0;
	r->exp = point + e;
	return 0;
}

static int num_equal(const json *a, const json *b, bool *eq)
{
	if (a->u.str.len == b->u.str.len && memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0) {
		*eq = true;
		return 0;
	}
	struct dec x, y;
	int err = dec_parse(a->u.str.ptr, a->u.str.len, &x);
	if (!err && (err = dec_parse(b->u.str.ptr, b->u.str.len, &y))) {
		free(x.d);
		return err;
	}
	if (err)
		return err;
	if (x.zero || y.zero)
		*eq = x.zero && y.zero;
	else
		*eq =
		    x.neg == y.neg && x.exp == y.exp && x.nd == y.nd && memcmp(x.d, y.d, x.nd) == 0;
	free(x.d);
	free(y.d);
	return 0;
}

/* RFC 6902 4.6 equality of two plain values. */
static int plain_equal(const json *a, const json *b, bool *eq)
{
	*eq = false;
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JSON_NUMBER: return num_equal(a, b, eq);
	case JSON_STRING:
		*eq = a->u.str.len == b->u.str.len &&
		      memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0;
		return 0;
	case JSON_ARRAY:
		if (a->u.arr.len != b->u.arr.len)
			return 0;
		for (size_t i = 0; i < a->u.arr.len; i++) {
			int err = plain_equal(a->u.arr.v[i], b->u.arr.v[i], eq);
			if (err || !*eq)
				return err;
		}
		*eq = true;
		return 0;
	case JSON_OBJECT:
		if (a->u.obj.len != b->u.obj.len)
			return 0;
		for (size_t i = 0; i < a->u.obj.len; i++) {
			const json *bv = json_object_get(b, a->u.obj.m[i].key, a->u.obj.m[i].klen);
			if (!bv) {
				*eq = false; /* may hold an earlier member's answer */
				return 0;
			}
			int err = plain_equal(a->u.obj.m[i].val, bv, eq);
			if (err || !*eq)
				return err;
		}
		*eq = true;
		return 0;
	default: *eq = true; return 0;
	}
}

/* ---- limits ---- */

static size_t depth_of(const json *v)
{
	size_t d = 0;
	if (v->type == JSON_ARRAY) {
		for (size_t i = 0; i < v->u.arr.len; i++) {
			size_t c = depth_of(v->u.arr.v[i]);
			d = c > d ? c : d;
		}
		return d + 1;
	}
	if (v->type == JSON_OBJECT) {
		for (size_t i = 0; i < v->u.obj.len; i++) {
			size_t c = depth_of(v->u.obj.m[i].val);
			d = c > d ? c : d;
		}
		return d + 1;
	}
	return 0;
}

static size_t count_nodes(const json *v, size_t cap)
{
	size_t n = 1;
	if (v->type == JSON_ARRAY)
		for (size_t i = 0; i < v->u.arr.len && n <= cap; i++)
			n += count_nodes(v->u.arr.v[i], cap);
	else if (v->type == JSON_OBJECT)
		for (size_t i = 0; i < v->u.obj.len && n <= cap; i++)
			n += count_nodes(v->u.obj.m[i].val, cap);
	return n;
}

/* The checks a patched copy passes before it may replace a session; frees
 * work when it fails them. */
static int check_result(json *work)
{
	int err = 0;
	if (!plain_is_object(work))
		err = SG_EINVAL;
	else if (depth_of(work) > SG_JSON_MAX_DEPTH)
		err = SG_EDEPTH;
	if (err)
		json_free(work);
	return err;
}

/* session takes work's contents; work (now holding the old ones) is freed. */
static void replace(json *session, json *work)
{
	json tmp = *session;
	*session = *work;
	*work = tmp;
	json_free(work);
}

/* Swap the finished work tree into the caller's session node, if it passes. */
static int commit(json *session, json *work)
{
	int err = check_result(work);
	if (err == 0)
		replace(session, work);
	return err;
}

/* ---- JSON Patch ---- */

enum op_kind { OP_ADD, OP_REMOVE, OP_REPLACE, OP_MOVE, OP_COPY, OP_TEST };

struct ptr {
	struct tok t[SG_JSON_MAX_DEPTH];
	size_t n;
	char *buf;
};

struct op {
	enum op_kind kind;
	struct ptr path, from;
	const json *value;
};

/* Splits and unescapes an RFC 6901 pointer (~0 ~, ~1 /). */
static int ptr_parse(const json *s, struct ptr *p)
{
	p->n = 0;
	p->buf = NULL;
	if (!s || s->type != JSON_STRING)
		return SG_EMALFORMED;
	const char *in = s->u.str.ptr;
	size_t len = s->u.str.len;
	if (len == 0)
		return 0;
	if (in[0] != '/')
		return SG_EMALFORMED;
	if (!(p->buf = malloc(len)))
		return SG_ENOMEM;
	size_t o = 0;
	for (size_t i = 0; i < len;) {
		i++; /* '/' */
		if (p->n == SG_JSON_MAX_DEPTH)
			return SG_EDEPTH;
		struct tok *t = &p->t[p->n++];
		t->p = p->buf + o;
		for (; i < len && in[i] != '/'; i++) {
			char c = in[i];
			if (c == '~') {
				if (i + 1 >= len || (in[i + 1] != '0' && in[i + 1] != '1'))
					return SG_EMALFORMED;
				c = in[++i] == '0' ? '~' : '/';
			}
			p->buf[o++] = c;
		}
		t->len = (size_t)(p->buf + o - t->p);
	}
	return 0;
}

static void op_free(struct op *o)
{
	free(o->path.buf);
	free(o->from.buf);
}

static int op_parse(const json *v, struct op *o)
{
	memset(o, 0, sizeof(*o));
	if (v->type != JSON_OBJECT)
		return SG_EMALFORMED;
	const json *op = json_object_get(v, "op", 2);
	if (!op || op->type != JSON_STRING)
		return SG_EMALFORMED;
	static const char *const names[] = {"add", "remove", "replace", "move", "copy", "test"};
	size_t k;
	for (k = 0; k < 6; k++)
		if (strlen(names[k]) == op->u.str.len &&
		    memcmp(names[k], op->u.str.ptr, op->u.str.len) == 0)
			break;
	if (k == 6)
		return SG_EMALFORMED;
	o->kind = (enum op_kind)k;
	int err = ptr_parse(json_object_get(v, "path", 4), &o->path);
	if (err)
		return err;
	if (o->kind == OP_MOVE || o->kind == OP_COPY)
		if ((err = ptr_parse(json_object_get(v, "from", 4), &o->from)))
			return err;
	if (o->kind == OP_ADD || o->kind == OP_REPLACE || o->kind == OP_TEST)
		if (!(o->value = json_object_get(v, "value", 5)))
			return SG_EMALFORMED;
	return 0;
}

static bool ptr_writable(const struct ptr *p, const struct patch_policy *pol)
{
	if (!pol || pol->nkeys == 0)
		return true;
	return p->n > 0 && patch_key_writable(pol, p->t[0].p, p->t[0].len);
}

/* Puts val (owned) at path: the root, or added/replaced in its parent. */
static int put(json **root, const struct ptr *path, json *val, bool must_exist)
{
	if (path->n == 0) {
		if (!plain_is_object(val)) {
			json_free(val);
			return SG_EINVAL; /* the session stays a dict */
		}
		json_free(*root);
		*root = val;
		return 0;
	}
	json **parent;
	int err = walk(root, path->t, path->n - 1, true, &parent);
	if (err) {
		json_free(val);
		return err;
	}
	return c_add(parent, &path->t[path->n - 1], val, must_exist);
}

static bool ptr_is_prefix(const struct ptr *a, const struct ptr *b)
{
	if (a->n > b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (!tok_is(&b->t[i], a->t[i].p, a->t[i].len))
			return false;
	return true;
}

static int op_apply(json **root, const struct op *o, size_t *copied)
{
	json **slot, *v;
	int err;
	switch (o->kind) {
	case OP_ADD:
	case OP_REPLACE:
		if ((err = tag_escape(o->value, &v)))
			return err;
		return put(root, &o->path, v, o->kind == OP_REPLACE);
	case OP_REMOVE:
		if (o->path.n == 0)
			return SG_EINVAL;
		if ((err = walk(root, o->path.t, o->path.n - 1, true, &slot)))
			return err;
		return c_remove(slot, &o->path.t[o->path.n - 1], NULL);
	case OP_MOVE:
		if (ptr_is_prefix(&o->from, &o->path)) {
			if (o->from.n != o->path.n)
				return SG_EINVAL; /* into its own child */
			return walk(root, o->from.t, o->from.n, false, &slot); /* must exist */
		}
		if ((err = walk(root, o->from.t, o->from.n - 1, true, &slot)))
			return err;
		if ((err = c_remove(slot, &o->from.t[o->from.n - 1], &v)))
			return err;
		return put(root, &o->path, v, false);
	case OP_COPY:
		if ((err = walk(root, o->from.t, o->from.n, false, &slot)))
			return err;
		*copied += count_nodes(*slot, SG_PATCH_MAX_COPY_NODES);
		if (*copied > SG_PATCH_MAX_COPY_NODES)
			return SG_ETOOBIG;
		if (!(v = json_copy(*slot)))
			return SG_ENOMEM;
		return put(root, &o->path, v, false);
	case OP_TEST: {
		if ((err = walk(root, o->path.t, o->path.n, false, &slot)))
			return err;
		json *p;
		bool eq;
		if ((err = tag_plain(*slot, &p)))
			return err;
		err = plain_equal(p, o->value, &eq);
		json_free(p);
		return err ? err : eq ? 0 : SG_ETESTFAIL;
	}
	}
	return SG_EMALFORMED;
}

static int json_patch_copy(const json *session, const json *ops, const struct patch_policy *pol,
			   json **ret)
{
	size_t n = ops->u.arr.len;
	if (n > SG_PATCH_MAX_OPS)
		return SG_ETOOBIG;
	struct op *o = calloc(n ? n : 1, sizeof(*o));
	if (!o)
		return SG_ENOMEM;
	int err = 0;
	size_t parsed = 0;
	/* whole-patch checks first: syntax, then policy */
	for (; parsed < n && !err; parsed++)
		err = op_parse(ops->u.arr.v[parsed], &o[parsed]);
	for (size_t i = 0; i < n && !err; i++) {
		bool w = o[i].kind != OP_TEST;
		if ((w && !ptr_writable(&o[i].path, pol)) ||
		    (o[i].kind == OP_MOVE && !ptr_writable(&o[i].from, pol)))
			err = SG_EPOLICY;
	}
	json *work = NULL;
	if (!err && !(work = json_copy(session)))
		err = SG_ENOMEM;
	size_t copied = 0;
	for (size_t i = 0; i < n && !err; i++)
		err = op_apply(&work, &o[i], &copied);
	for (size_t i = 0; i < parsed; i++)
		op_free(&o[i]);
	free(o);
	if (err) {
		json_free(work);
		return err;
	}
	if ((err = check_result(work)))
		return err;
	*ret = work;
	return 0;
}

/* ---- merge patch ---- */

/* RFC 7386 for a value with no target: the patch minus its nulls, escaped. */
static int strip_nulls(const json *p, json **ret)
{
	if (p->type != JSON_OBJECT) {
		*ret = json_copy(p);
		return *ret ? 0 : SG_ENOMEM;
	}
	json *o = json_new_object();
	if (!o)
		return SG_ENOMEM;
	for (size_t i = 0; i < p->u.obj.len; i++) {
		const struct json_member *m = &p->u.obj.m[i];
		if (m->val->type == JSON_NULL)
			continue;
		json *c;
		int err = strip_nulls(m->val, &c);
		if (!err)
			err = json_object_set(o, m->key, m->klen, c);
		if (err) {
			json_free(o);
			return err;
		}
	}
	*ret = o;
	return 0;
}

static int merge(json **slot, const json *patch)
{
	int err;
	if (!plain_is_object(*slot)) {
		json *o = json_new_object();
		if (!o)
			return SG_ENOMEM;
		json_free(*slot);
		*slot = o;
	}
	for (size_t i = 0; i < patch->u.obj.len; i++) {
		const struct json_member *m = &patch->u.obj.m[i];
		struct tok t = {m->key, m->klen};
		if (m->val->type == JSON_NULL) {
			err = c_remove(slot, &t, NULL);
			if (err && err != SG_ENOENT)
				return err;
			continue;
		}
		json **child;
		if ((err = prepare(slot)))
			return err;
		if (m->val->type == JSON_OBJECT && (child = child_slot(*slot, &t))) {
			if ((err = merge(child, m->val)))
				return err;
			continue;
		}
		json *stripped, *v;
		if ((err = strip_nulls(m->val, &stripped)))
			return err;
		err = tag_escape(stripped, &v);
		json_free(stripped);
		if (err || (err = c_add(slot, &t, v, false)))
			return err;
	}
	return 0;
}

static int merge_patch_copy(const json *session, const json *patch, const struct patch_policy *pol,
			    json **ret)
{
	for (size_t i = 0; i < patch->u.obj.len; i++)
		if (!patch_key_writable(pol, patch->u.obj.m[i].key, patch->u.obj.m[i].klen))
			return SG_EPOLICY;
	json *work = json_copy(session);
	if (!work)
		return SG_ENOMEM;
	int err = merge(&work, patch);
	if (err) {
		json_free(work);
		return err;
	}
	if ((err = check_result(work)))
		return err;
	*ret = work;
	return 0;
}

/* ---- entry points ---- */

static int apply_json_copy(const json *session, const json *patch, const struct patch_policy *pol,
			   json **ret)
{
	if (!session || !plain_is_object(session))
		return SG_EINVAL;
	if (patch->type == JSON_OBJECT)
		return merge_patch_copy(session, patch, pol, ret);
	if (patch->type == JSON_ARRAY)
		return json_patch_copy(session, patch, pol, ret);
	return SG_EMALFORMED;
}

int patch_apply_json(json *session, const json *patch, const struct patch_policy *pol)
{
	json *work;
	int err = apply_json_copy(session, patch, pol, &work);
	if (err == 0)
		replace(session, work);
	return err;
}

int patch_apply_copy(const json *session, const char *text, size_t len,
		     const struct patch_policy *pol, json **ret)
{
	if (len > SG_PATCH_MAX_BYTES)
		return SG_ETOOBIG;
	json *p;
	int err = json_parse(text, len, 0, &p);
	if (err)
		return err;
	err = apply_json_copy(session, p, pol, ret);
	json_free(p);
	return err;
}

int patch_apply(json *session, const char *text, size_t len, const struct patch_policy *pol)
{
	json *work;
	int err = patch_apply_copy(session, text, len, pol, &work);
	if (err == 0)
		replace(session, work);
	return err;
}

/* Top-level members of a session's plain view: a " di" root has one. */
static size_t root_len(const json *r)
{
	return tag_kind(r) == TAG_DICT ? 1 : r->u.obj.len;
}

static void root_at(const json *r, size_t i, struct tok *k, const json **v)
{
	if (tag_kind(r) == TAG_DICT) {
		const struct json_member *m = tag_dict_member(r, &k->len);
		k->p = m->key;
		*v = m->val;
		return;
	}
	k->p = r->u.obj.m[i].key;
	k->len = r->u.obj.m[i].klen;
	*v = r->u.obj.m[i].val;
}

static const json *root_get(const json *r, const struct tok *k)
{
	for (size_t i = 0; i < root_len(r); i++) {
		struct tok t;
		const json *v;
		root_at(r, i, &t, &v);
		if (tok_is(k, t.p, t.len))
			return v;
	}
	return NULL;
}

int patch_diff_apply(json *session, const json *before, const json *after,
		     const struct patch_policy *pol, bool *ret_changed)
{
	if (!session || !plain_is_object(session) || !plain_is_object(before) ||
	    !plain_is_object(after))
		return SG_EINVAL;
	/* policy first, over every key that differs */
	for (int pass = 0; pass < 2; pass++) {
		const json *x = pass ? after : before, *y = pass ? before : after;
		for (size_t i = 0; i < root_len(x); i++) {
			struct tok k;
			const json *xv, *yv;
			root_at(x, i, &k, &xv);
			yv = root_get(y, &k);
			if ((!yv || !json_equal(xv, yv)) && !patch_key_writable(pol, k.p, k.len))
				return SG_EPOLICY;
		}
	}
	json *work = json_copy(session);
	if (!work)
		return SG_ENOMEM;
	int err = 0;
	for (size_t i = 0; i < root_len(before) && !err; i++) {
		struct tok k;
		const json *bv;
		root_at(before, i, &k, &bv);
		if (!root_get(after, &k)) {
			err = c_remove(&work, &k, NULL);
			if (err == SG_ENOENT)
				err = 0;
		}
	}
	for (size_t i = 0; i < root_len(after) && !err; i++) {
		struct tok k;
		const json *av, *bv;
		root_at(after, i, &k, &av);
		bv = root_get(before, &k);
		if (bv && json_equal(av, bv))
			continue;
		json *c = json_copy(av);
		err = c ? c_add(&work, &k, c, false) : SG_ENOMEM;
	}
	if (err) {
		json_free(work);
		return err;
	}
	bool changed = !json_equal(work, session);
	if ((err = commit(session, work)))
		return err;
	if (ret_changed)
		*ret_changed = changed;
	return 0;
}
