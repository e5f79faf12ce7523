/* lib/json.c — lossless JSON in Python's dialect: parse, dump, edit, compare. */
#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sg_limits.h"

/* Objects up to this size are deduplicated, sorted and compared with simple
 * quadratic loops; bigger ones switch to O(n log n) so a 1 MiB document of
 * tiny keys cannot cost O(n^2). */
#define SMALL_OBJ 16

/* ---- nodes ---------------------------------------------------------------- */

static json *node_new(enum json_type t)
{
	/* malloc, not calloc: glibc's calloc bypasses its per-thread cache */
	json *v = malloc(sizeof(*v));
	if (v)
		*v = (json){.type = t};
	return v;
}

/* STRING and NUMBER bytes live right after the node: one allocation instead
 * of two on the parse hot path. */
static json *node_new_bytes(enum json_type t, size_t cap)
{
	if (cap > SIZE_MAX - sizeof(json) - 1)
		return NULL;
	json *v = malloc(sizeof(*v) + cap + 1);
	if (!v)
		return NULL;
	v->type = t;
	v->u.str.ptr = (char *)(v + 1);
	v->u.str.len = 0;
	v->u.str.ptr[0] = '\0';
	return v;
}

static bool bytes_inline(const json *v)
{
	return v->u.str.ptr == (const char *)(v + 1);
}

static json *node_with_bytes(enum json_type t, const char *s, size_t len)
{
	json *v = node_new_bytes(t, len);
	if (!v)
		return NULL;
	if (len)
		memcpy(v->u.str.ptr, s, len);
	v->u.str.ptr[len] = '\0';
	v->u.str.len = len;
	return v;
}

json *json_new_null(void)
{
	return node_new(JSON_NULL);
}

json *json_new_bool(bool b)
{
	return node_new(b ? JSON_TRUE : JSON_FALSE);
}

json *json_new_number(const char *lexeme, size_t len)
{
	return node_with_bytes(JSON_NUMBER, lexeme, len);
}

json *json_new_string(const char *s, size_t len)
{
	return node_with_bytes(JSON_STRING, s, len);
}

json *json_new_array(void)
{
	return node_new(JSON_ARRAY);
}

json *json_new_object(void)
{
	return node_new(JSON_OBJECT);
}

void json_free(json *v)
{
	if (!v)
		return;
	switch (v->type) {
	case JSON_NUMBER:
	case JSON_STRING:
		if (!bytes_inline(v))
			free(v->u.str.ptr);
		break;
	case JSON_ARRAY:
		for (size_t i = 0; i < v->u.arr.len; i++)
			json_free(v->u.arr.v[i]);
		free(v->u.arr.v);
		break;
	case JSON_OBJECT:
		for (size_t i = 0; i < v->u.obj.len; i++) {
			free(v->u.obj.m[i].key);
			json_free(v->u.obj.m[i].val);
		}
		free(v->u.obj.m);
		break;
	default: break;
	}
	free(v);
}

/* Geometric growth keeps appends amortised O(1). */
static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 4;
	while (n < need) {
		if (n > SIZE_MAX / 2 / elem)
			return SG_ENOMEM;
		n *= 2;
	}
	void *np = realloc(*p, n * elem);
	if (!np)
		return SG_ENOMEM;
	*p = np;
	*cap = n;
	return 0;
}

static int arr_push(json *a, json *val)
{
	void *p = a->u.arr.v;
	int err = grow(&p, &a->u.arr.cap, a->u.arr.len + 1, sizeof(json *));
	a->u.arr.v = p;
	if (err)
		return err;
	a->u.arr.v[a->u.arr.len++] = val;
	return 0;
}

/* Takes ownership of key (malloc'd, NUL-terminated) and val on success only. */
static int obj_push(json *o, char *key, size_t klen, json *val)
{
	void *p = o->u.obj.m;
	int err = grow(&p, &o->u.obj.cap, o->u.obj.len + 1, sizeof(struct json_member));
	o->u.obj.m = p;
	if (err)
		return err;
	struct json_member *m = &o->u.obj.m[o->u.obj.len++];
	m->key = key;
	m->klen = klen;
	m->val = val;
	return 0;
}

static char *dup_key(const char *key, size_t klen)
{
	if (klen == SIZE_MAX)
		return NULL;
	char *k = malloc(klen + 1);
	if (!k)
		return NULL;
	if (klen)
		memcpy(k, key, klen);
	k[klen] = '\0';
	return k;
}

/* ---- UTF-8 / WTF-8 ------------------------------------------------------- */

/* Length of the well-formed sequence at s (1..4), or 0. With wtf8, encoded
 * surrogates (ED A0..BF xx) are allowed, as json_parse stores lone ones. */
static size_t utf8_seq(const unsigned char *s, const unsigned char *e, bool wtf8, uint32_t *cp)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		n = 2;
	} else if (c == 0xE0) {
		n = 3;
		lo = 0xA0;
	} else if (c >= 0xE1 && c <= 0xEF) {
		n = 3;
		if (c == 0xED && !wtf8)
			hi = 0x9F;
	} else if (c == 0xF0) {
		n = 4;
		lo = 0x90;
	} else if (c >= 0xF1 && c <= 0xF3) {
		n = 4;
	} else if (c == 0xF4) {
		n = 4;
		hi = 0x8F;
	} else {
		return 0;
	}
	if ((size_t)(e - s) < n || s[1] < lo || s[1] > hi)
		return 0;
	uint32_t v = c & (0xFF >> (n + 1));
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	*cp = v;
	return n;
}

static size_t put_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | (cp >> 6));
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) { /* includes surrogates: the WTF-8 form */
		d[0] = (char)(0xE0 | (cp >> 12));
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | (cp >> 18));
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* ---- parser -------------------------------------------------------------- */

struct parser {
	const unsigned char *p, *end;
	unsigned flags;
};

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end &&
	       (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
		ps->p++;
}

static bool match(struct parser *ps, const char *lit, size_t n)
{
	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, lit, n) != 0)
		return false;
	ps->p += n;
	return true;
}

static bool is_digit(const unsigned char *p, const unsigned char *e)
{
	return p < e && *p >= '0' && *p <= '9';
}

/* Python's grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?, plus the
 * constants NaN, Infinity, -Infinity when allowed; the lexeme is kept. */
static int parse_number(struct parser *ps, json **ret)
{
	const unsigned char *s = ps->p, *p = s, *e = ps->end;
	if (ps->flags & JSON_PARSE_PYTHON) {
		if (match(ps, "-Infinity", 9) || match(ps, "Infinity", 8) || match(ps, "NaN", 3))
			goto done;
	}
	if (p < e && *p == '-')
		p++;
	if (!is_digit(p, e))
		return SG_EMALFORMED;
	if (*p++ != '0')
		while (is_digit(p, e))
			p++;
	if (p < e && *p == '.') {
		p++;
		if (!is_digit(p, e))
			return SG_EMALFORMED;
		while (is_digit(p, e))
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, e))
			return SG_EMALFORMED;
		while (is_digit(p, e))
			p++;
	}
	ps->p = p;
done:;
	json *v = node_with_bytes(JSON_NUMBER, (const char *)s, (size_t)(ps->p - s));
	if (!v)
		return SG_ENOMEM;
	*ret = v;
	return 0;
}

static int hex4(const unsigned char *s, const unsigned char *e, uint32_t *ret)
{
	if (e - s < 4)
		return SG_EMALFORMED;
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return SG_EMALFORMED;
	}
	*ret = v;
	return 0;
}

/* Finds the closing quote of the string whose opening quote is at ps->p.
 * *ret_plain: no escapes and no non-ASCII, so the bytes copy verbatim. */
static int scan_string(struct parser *ps, const unsigned char **ret_end, bool *ret_plain)
{
	const unsigned char *s = ps->p + 1;
	size_t n = (size_t)(ps->end - s), i = 0;
	bool plain = true;
	while (i < n) {
		unsigned char c = s[i];
		if (c == '"') {
			*ret_end = s + i;
			*ret_plain = plain;
			return 0;
		}
		if (c < 0x20)
			return SG_EMALFORMED; /* strict=True: raw control characters */
		if (c == '\\') {
			plain = false;
			i += 2;
			continue;
		}
		if (c >= 0x80)
			plain = false;
		i++;
	}
	return SG_EMALFORMED;
}

/* Decodes the string body [s, e) into dst (room for e - s bytes: no escape
 * decodes longer than itself). */
static int decode_string(const unsigned char *s, const unsigned char *e, char *dst, size_t *ret_len)
{
	char *d = dst;
	while (s < e) {
		unsigned char c = *s;
		if (c < 0x80 && c != '\\') {
			*d++ = (char)c;
			s++;
			continue;
		}
		if (c >= 0x80) {
			uint32_t cp;
			size_t n = utf8_seq(s, e, false, &cp);
			if (!n)
				return SG_EMALFORMED;
			memcpy(d, s, n);
			d += n;
			s += n;
			continue;
		}
		/* scan_string guarantees the escaped character is before e */
		s++;
		switch (*s++) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '/': *d++ = '/'; break;
		case 'b': *d++ = '\b'; break;
		case 'f': *d++ = '\f'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 't': *d++ = '\t'; break;
		case 'u': {
			uint32_t cp, lo;
			if (hex4(s, e, &cp))
				return SG_EMALFORMED;
			s += 4;
			/* a high surrogate escape directly followed by a low one
			 * is one astral code point; any other surrogate stays lone */
			if (cp >= 0xD800 && cp <= 0xDBFF && e - s >= 6 && s[0] == '\\' &&
			    s[1] == 'u' && hex4(s + 2, e, &lo) == 0 && lo >= 0xDC00 &&
			    lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				s += 6;
			}
			d += put_utf8(d, cp);
			break;
		}
		default: return SG_EMALFORMED;
		}
	}
	*ret_len = (size_t)(d - dst);
	return 0;
}

static int parse_string(struct parser *ps, json **ret)
{
	const unsigned char *end;
	bool plain;
	int err = scan_string(ps, &end, &plain);
	if (err)
		return err;
	const unsigned char *s = ps->p + 1;
	size_t raw = (size_t)(end - s);
	json *v = node_new_bytes(JSON_STRING, raw);
	if (!v)
		return SG_ENOMEM;
	size_t len = raw;
	if (plain)
		memcpy(v->u.str.ptr, s, raw);
	else if ((err = decode_string(s, end, v->u.str.ptr, &len))) {
		json_free(v);
		return err;
	}
	v->u.str.ptr[len] = '\0';
	v->u.str.len = len;
	ps->p = end + 1;
	*ret = v;
	return 0;
}

static int parse_key(struct parser *ps, char **ret, size_t *ret_len)
{
	const unsigned char *end;
	bool plain;
	int err = scan_string(ps, &end, &plain);
	if (err)
		return err;
	const unsigned char *s = ps->p + 1;
	size_t raw = (size_t)(end - s), len = raw;
	char *k = malloc(raw + 1);
	if (!k)
		return SG_ENOMEM;
	if (plain)
		memcpy(k, s, raw);
	else if ((err = decode_string(s, end, k, &len))) {
		free(k);
		return err;
	}
	k[len] = '\0';
	ps->p = end + 1;
	*ret = k;
	*ret_len = len;
	return 0;
}

static bool key_eq(const struct json_member *a, const struct json_member *b)
{
	return a->klen == b->klen && memcmp(a->key, b->key, a->klen) == 0;
}

/* Byte order of WTF-8 is code point order, i.e. Python's str order. */
int json_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	return c ? c : (alen > blen) - (alen < blen);
}

static int key_cmp(const struct json_member *a, const struct json_member *b)
{
	return json_key_cmp(a->key, a->klen, b->key, b->klen);
}

/* Sorts member pointers by key, ties by position (so runs of duplicates are
 * in document order). */
static int mptr_cmp(const void *pa, const void *pb)
{
	const struct json_member *a = *(const struct json_member *const *)pa;
	const struct json_member *b = *(const struct json_member *const *)pb;
	int c = key_cmp(a, b);
	if (c)
		return c;
	return (a > b) - (a < b);
}

/* Python dict semantics for duplicate keys: the member stays at the position
 * of its first occurrence and takes the value of its last. */
static int obj_dedup(json *o)
{
	struct json_member *m = o->u.obj.m;
	size_t n = o->u.obj.len, k = 0;
	if (n <= SMALL_OBJ) {
		for (size_t i = 0; i < n; i++) {
			size_t j;
			for (j = 0; j < k; j++)
				if (key_eq(&m[j], &m[i]))
					break;
			if (j < k) {
				json_free(m[j].val);
				m[j].val = m[i].val;
				free(m[i].key);
			} else {
				m[k++] = m[i];
			}
		}
		o->u.obj.len = k;
		return 0;
	}
	struct json_member **ms = malloc(n * sizeof(*ms));
	if (!ms)
		return SG_ENOMEM;
	for (size_t i = 0; i < n; i++)
		ms[i] = &m[i];
	qsort(ms, n, sizeof(*ms), mptr_cmp);
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && key_eq(ms[a], ms[b]); b++)
			;
		if (b - a == 1)
			continue;
		json_free(ms[a]->val);
		ms[a]->val = ms[b - 1]->val;
		ms[b - 1]->val = NULL;
		for (size_t i = a + 1; i < b; i++) {
			json_free(ms[i]->val);
			free(ms[i]->key);
			ms[i]->key = NULL; /* marks the member for removal */
		}
	}
	free(ms);
	for (size_t i = 0; i < n; i++)
		if (m[i].key)
			m[k++] = m[i];
	o->u.obj.len = k;
	return 0;
}

static int parse_value(struct parser *ps, int depth, json **ret);

static int parse_array(struct parser *ps, int depth, json **ret)
{
	json *a = json_new_array();
	if (!a)
		return SG_ENOMEM;
	int err;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == ']') {
		ps->p++;
		*ret = a;
		return 0;
	}
	for (;;) {
		json *v;
		if ((err = parse_value(ps, depth, &v)))
			goto fail;
		if ((err = arr_push(a, v))) {
			json_free(v);
			goto fail;
		}
		skip_ws(ps);
		if (ps->p >= ps->end) {
			err = SG_EMALFORMED;
			goto fail;
		}
		if (*ps->p == ']')
			break;
		if (*ps->p++ != ',') {
			err = SG_EMALFORMED;
			goto fail;
		}
	}
	ps->p++;
	*ret = a;
	return 0;
fail:
	json_free(a);
	return err;
}

static int parse_object(struct parser *ps, int depth, json **ret)
{
	json *o = json_new_object();
	if (!o)
		return SG_ENOMEM;
	int err;
	ps->p++;
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '}') {
		ps->p++;
		*ret = o;
		return 0;
	}
	for (;;) {
		char *key;
		size_t klen;
		json *v;
		if (ps->p >= ps->end || *ps->p != '"') {
			err = SG_EMALFORMED;
			goto fail;
		}
		if ((err = parse_key(ps, &key, &klen)))
			goto fail;
		skip_ws(ps);
		if (ps->p >= ps->end || *ps->p != ':') {
			free(key);
			err = SG_EMALFORMED;
			goto fail;
		}
		ps->p++;
		if ((err = parse_value(ps, depth, &v))) {
			free(key);
			goto fail;
		}
		if ((err = obj_push(o, key, klen, v))) {
			free(key);
			json_free(v);
			goto fail;
		}
		skip_ws(ps);
		if (ps->p >= ps->end) {
			err = SG_EMALFORMED;
			goto fail;
		}
		if (*ps->p == '}')
			break;
		if (*ps->p++ != ',') {
			err = SG_EMALFORMED;
			goto fail;
		}
		skip_ws(ps);
	}
	ps->p++;
	if ((err = obj_dedup(o)))
		goto fail;
	*ret = o;
	return 0;
fail:
	json_free(o);
	return err;
}

/* Recursion is bounded by SG_JSON_MAX_DEPTH. */
static int parse_value(struct parser *ps, int depth, json **ret)
{
	skip_ws(ps);
	if (ps->p >= ps->end)
		return SG_EMALFORMED;
	json *v;
	switch (*ps->p) {
	case '{':
	case '[':
		if (depth >= SG_JSON_MAX_DEPTH)
			return SG_EDEPTH;
		return *ps->p == '{' ? parse_object(ps, depth + 1, ret)
				     : parse_array(ps, depth + 1, ret);
	case '"': return parse_string(ps, ret);
	case 'n':
		if (!match(ps, "null", 4))
			return SG_EMALFORMED;
		v = json_new_null();
		break;
	case 't':
		if (!match(ps, "true", 4))
			return SG_EMALFORMED;
		v = json_new_bool(true);
		break;
	case 'f':
		if (!match(ps, "false", 5))
			return SG_EMALFORMED;
		v = json_new_bool(false);
		break;
	default: return parse_number(ps, ret);
	}
	if (!v)
		return SG_ENOMEM;
	*ret = v;
	return 0;
}

int json_parse(const char *buf, size_t len, unsigned flags, json **ret)
{
	if (len > SG_JSON_MAX_INPUT)
		return SG_ETOOBIG;
	if (!buf || len == 0)
		return SG_EMALFORMED;
	struct parser ps = {(const unsigned char *)buf, (const unsigned char *)buf + len, flags};
	json *v;
	int err = parse_value(&ps, 0, &v);
	if (err)
		return err;
	skip_ws(&ps);
	if (ps.p != ps.end) {
		json_free(v);
		return SG_EMALFORMED;
	}
	*ret = v;
	return 0;
}

/* ---- dump ---------------------------------------------------------------- */

struct out {
	char *p;
	size_t len, cap;
	int depth; /* containers open; capped so every dump parses back */
};

/* Room for n more bytes plus the trailing NUL. */
static int out_reserve(struct out *o, size_t n)
{
	if (n > SIZE_MAX - o->len - 1)
		return SG_ENOMEM;
	size_t need = o->len + n + 1;
	if (need <= o->cap)
		return 0;
	size_t cap = o->cap > 128 ? o->cap : 128;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	char *np = realloc(o->p, cap);
	if (!np)
		return SG_ENOMEM;
	o->p = np;
	o->cap = cap;
	return 0;
}

static int out_put(struct out *o, const char *s, size_t n)
{
	int err = out_reserve(o, n);
	if (err)
		return err;
	if (n)
		memcpy(o->p + o->len, s, n);
	o->len += n;
	return 0;
}

static const char hexdig[] = "0123456789abcdef";

/* Python's two-character escapes; other control characters get \u00XX. */
/* clang-format off */
static const char short_esc[0x60] = {
	['"'] = '"', ['\\'] = '\\', ['\b'] = 'b', ['\f'] = 'f',
	['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
};
/* Bytes dump_string copies as they are: printable ASCII but '"' and '\\'. */
static const unsigned char verbatim[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

static char *put_u(char *d, uint32_t u)
{
	d[0] = '\\';
	d[1] = 'u';
	d[2] = hexdig[(u >> 12) & 15];
	d[3] = hexdig[(u >> 8) & 15];
	d[4] = hexdig[(u >> 4) & 15];
	d[5] = hexdig[u & 15];
	return d + 6;
}

static int dump_string(struct out *o, const char *str, size_t len, bool ascii)
{
	/* Invariant: room for the rest of the input copied 1:1 plus the closing
	 * quote; before an escape (at most 12 bytes, a surrogate pair) room is
	 * topped up. Reserving 6x up front would over-allocate plain strings. */
	if (len > SIZE_MAX - 16)
		return SG_ENOMEM;
	int err = out_reserve(o, len + 2);
	if (err)
		return err;
	const unsigned char *s = (const unsigned char *)str, *e = s + len;
	char *d = o->p + o->len;
	*d++ = '"';
	while (s < e) {
		/* runs of bytes written as they are are most of a session's
		 * text: one table look-up per byte */
		while (s < e && verbatim[*s])
			*d++ = (char)*s++;
		if (s == e)
			break;
		unsigned char c = *s;
		size_t used = (size_t)(d - o->p), rest = (size_t)(e - s);
		if (o->cap - used - 1 < rest + 13) {
			o->len = used;
			if ((err = out_reserve(o, rest + 13)))
				return err;
			d = o->p + used;
		}
		if (c < 0x80) {
			s++;
			char esc = c < sizeof(short_esc) ? short_esc[c] : 0;
			if (esc) {
				*d++ = '\\';
				*d++ = esc;
			} else if (c == 0x7F && !ascii) {
				*d++ = (char)c;
			} else {
				d = put_u(d, c);
			}
			continue;
		}
		uint32_t cp;
		size_t n = utf8_seq(s, e, true, &cp);
		if (!n)
			return SG_EINVAL;
		bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
		/* a high then low surrogate would re-parse as one astral code
		 * point: not something json_parse produces, and not lossless */
		if (cp >= 0xD800 && cp <= 0xDBFF && e - s >= 6 && s[3] == 0xED && s[4] >= 0xB0 &&
		    s[4] <= 0xBF)
			return SG_EINVAL;
		if (!ascii && !surrogate) {
			memcpy(d, s, n);
			d += n;
		} else if (cp >= 0x10000) {
			d = put_u(d, 0xD800 + ((cp - 0x10000) >> 10));
			d = put_u(d, 0xDC00 + ((cp - 0x10000) & 0x3FF));
		} else {
			d = put_u(d, cp);
		}
		s += n;
	}
	*d++ = '"';
	o->len = (size_t)(d - o->p);
	return 0;
}

static int member_cmp(const void *pa, const void *pb)
{
	return key_cmp(*(const struct json_member *const *)pa,
		       *(const struct json_member *const *)pb);
}

static void sort_members(const struct json_member **ms, size_t n)
{
	if (n > SMALL_OBJ) {
		qsort(ms, n, sizeof(*ms), member_cmp);
		return;
	}
	for (size_t i = 1; i < n; i++) {
		const struct json_member *x = ms[i];
		size_t j = i;
		for (; j > 0 && key_cmp(ms[j - 1], x) > 0; j--)
			ms[j] = ms[j - 1];
		ms[j] = x;
	}
}

static int dump_value(struct out *o, const json *v, unsigned flags);

static int dump_object(struct out *o, const json *v, unsigned flags)
{
	size_t n = v->u.obj.len;
	const struct json_member *stackbuf[SMALL_OBJ], **ms = stackbuf;
	int err;
	if (flags & JSON_DUMP_SORT_KEYS && n > 1) {
		if (n > SMALL_OBJ && !(ms = malloc(n * sizeof(*ms))))
			return SG_ENOMEM;
		for (size_t i = 0; i < n; i++)
			ms[i] = &v->u.obj.m[i];
		sort_members(ms, n);
	} else {
		ms = NULL;
	}
	if ((err = out_put(o, "{", 1)))
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct json_member *m = ms ? ms[i] : &v->u.obj.m[i];
		if (i && (err = out_put(o, ",", 1)))
			goto out;
		if ((err = dump_string(o, m->key, m->klen, flags & JSON_DUMP_ASCII)))
			goto out;
		if ((err = out_put(o, ":", 1)))
			goto out;
		if ((err = dump_value(o, m->val, flags)))
			goto out;
	}
	err = out_put(o, "}", 1);
out:
	if (ms != stackbuf)
		free(ms);
	return err;
}

static int dump_array(struct out *o, const json *v, unsigned flags)
{
	int err = out_put(o, "[", 1);
	for (size_t i = 0; !err && i < v->u.arr.len; i++) {
		if (i && (err = out_put(o, ",", 1)))
			break;
		err = dump_value(o, v->u.arr.v[i], flags);
	}
	return err ? err : out_put(o, "]", 1);
}

static int dump_value(struct out *o, const json *v, unsigned flags)
{
	int err;
	if (!v)
		return SG_EINVAL;
	switch (v->type) {
	case JSON_NULL: return out_put(o, "null", 4);
	case JSON_TRUE: return out_put(o, "true", 4);
	case JSON_FALSE: return out_put(o, "false", 5);
	case JSON_NUMBER: return out_put(o, v->u.str.ptr, v->u.str.len);
	case JSON_STRING:
		return dump_string(o, v->u.str.ptr, v->u.str.len, flags & JSON_DUMP_ASCII);
	case JSON_ARRAY:
	case JSON_OBJECT:
		/* edits can nest a parsed value inside another: refuse what
		 * json_parse would refuse next time, instead of writing it */
		if (o->depth >= SG_JSON_MAX_DEPTH)
			return SG_EDEPTH;
		o->depth++;
		err = v->type == JSON_ARRAY ? dump_array(o, v, flags) : dump_object(o, v, flags);
		o->depth--;
		return err;
	}
	return SG_EINVAL;
}

int json_dump_append(const json *v, unsigned flags, char **buf, size_t *len, size_t *cap)
{
	struct out o = {*buf, *len, *cap, 0};
	int err = dump_value(&o, v, flags);
	if (!err)
		err = out_reserve(&o, 0);
	*buf = o.p;
	*cap = o.cap;
	if (err) {
		if (o.p && *len < o.cap)
			o.p[*len] = '\0';
		return err;
	}
	o.p[o.len] = '\0';
	*len = o.len;
	return 0;
}

int json_text_reserve(char **buf, size_t len, size_t *cap, size_t n)
{
	struct out o = {*buf, len, *cap, 0};
	int err = out_reserve(&o, n);
	*buf = o.p;
	*cap = o.cap;
	return err;
}

int json_dump(const json *v, unsigned flags, char **ret, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int err = json_dump_append(v, flags, &buf, &len, &cap);
	if (err) {
		free(buf);
		return err;
	}
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* ---- copy, equality ------------------------------------------------------ */

json *json_copy(const json *v)
{
	if (!v)
		return NULL;
	json *c;
	switch (v->type) {
	case JSON_NUMBER:
	case JSON_STRING: return node_with_bytes(v->type, v->u.str.ptr, v->u.str.len);
	case JSON_ARRAY:
		if (!(c = json_new_array()))
			return NULL;
		if (v->u.arr.len) {
			void *p = NULL;
			if (grow(&p, &c->u.arr.cap, v->u.arr.len, sizeof(json *)))
				goto fail;
			c->u.arr.v = p;
		}
		for (size_t i = 0; i < v->u.arr.len; i++) {
			json *e = json_copy(v->u.arr.v[i]);
			if (!e)
				goto fail;
			c->u.arr.v[c->u.arr.len++] = e;
		}
		return c;
	case JSON_OBJECT:
		if (!(c = json_new_object()))
			return NULL;
		if (v->u.obj.len) {
			void *p = NULL;
			if (grow(&p, &c->u.obj.cap, v->u.obj.len, sizeof(struct json_member)))
				goto fail;
			c->u.obj.m = p;
		}
		for (size_t i = 0; i < v->u.obj.len; i++) {
			const struct json_member *m = &v->u.obj.m[i];
			char *k = dup_key(m->key, m->klen);
			json *e = k ? json_copy(m->val) : NULL;
			if (!e) {
				free(k);
				goto fail;
			}
			obj_push(c, k, m->klen, e); /* capacity reserved above */
		}
		return c;
	default: return node_new(v->type);
	}
fail:
	json_free(c);
	return NULL;
}

/* 1 equal, 0 not, -1 out of memory (the caller falls back to lookups, so
 * json_equal never answers "different" just because malloc failed). */
static int obj_equal_sorted(const json *a, const json *b, size_t n)
{
	const struct json_member **ma = malloc(2 * n * sizeof(*ma));
	if (!ma)
		return -1;
	const struct json_member **mb = ma + n;
	for (size_t i = 0; i < n; i++) {
		ma[i] = &a->u.obj.m[i];
		mb[i] = &b->u.obj.m[i];
	}
	sort_members(ma, n);
	sort_members(mb, n);
	bool eq = true;
	for (size_t i = 0; eq && i < n; i++)
		eq = key_eq(ma[i], mb[i]) && json_equal(ma[i]->val, mb[i]->val);
	free(ma);
	return eq;
}

bool json_equal(const json *a, const json *b)
{
	if (a == b)
		return true;
	if (!a || !b || a->type != b->type)
		return false;
	switch (a->type) {
	case JSON_NUMBER:
	case JSON_STRING:
		return a->u.str.len == b->u.str.len &&
		       memcmp(a->u.str.ptr, b->u.str.ptr, a->u.str.len) == 0;
	case JSON_ARRAY:
		if (a->u.arr.len != b->u.arr.len)
			return false;
		for (size_t i = 0; i < a->u.arr.len; i++)
			if (!json_equal(a->u.arr.v[i], b->u.arr.v[i]))
				return false;
		return true;
	case JSON_OBJECT: {
		size_t n = a->u.obj.len;
		if (n != b->u.obj.len)
			return false;
		/* keys are unique, so same size + every key of a in b is enough */
		int eq = n > SMALL_OBJ ? obj_equal_sorted(a, b, n) : -1;
		if (eq >= 0)
			return eq;
		for (size_t i = 0; i < n; i++) {
			const struct json_member *m = &a->u.obj.m[i];
			json *bv = json_object_get(b, m->key, m->klen);
			if (!bv || !json_equal(m->val, bv))
				return false;
		}
		return true;
	}
	default: return true;
	}
}

/* ---- editing ------------------------------------------------------------- */

static struct json_member *obj_find(const json *o, const char *key, size_t klen)
{
	if (!o || o->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < o->u.obj.len; i++) {
		struct json_member *m = &o->u.obj.m[i];
		if (m->klen == klen && (klen == 0 || memcmp(m->key, key, klen) == 0))
			return m;
	}
	return NULL;
}

json *json_object_get(const json *o, const char *key, size_t klen)
{
	struct json_member *m = obj_find(o, key, klen);
	return m ? m->val : NULL;
}

json *json_object_get_cstr(const json *o, const char *key)
{
	return json_object_get(o, key, strlen(key));
}

int json_object_set(json *o, const char *key, size_t klen, json *val)
{
	if (!o || o->type != JSON_OBJECT || !val) {
		json_free(val);
		return SG_EINVAL;
	}
	struct json_member *m = obj_find(o, key, klen);
	if (m) {
		json_free(m->val);
		m->val = val;
		return 0;
	}
	char *k = dup_key(key, klen);
	if (!k) {
		json_free(val);
		return SG_ENOMEM;
	}
	int err = obj_push(o, k, klen, val);
	if (err) {
		free(k);
		json_free(val);
	}
	return err;
}

int json_object_del(json *o, const char *key, size_t klen)
{
	if (!o || o->type != JSON_OBJECT)
		return SG_EINVAL;
	struct json_member *m = obj_find(o, key, klen);
	if (!m)
		return SG_ENOENT;
	free(m->key);
	json_free(m->val);
	size_t i = (size_t)(m - o->u.obj.m);
	memmove(m, m + 1, (o->u.obj.len - i - 1) * sizeof(*m));
	o->u.obj.len--;
	return 0;
}

int json_array_insert(json *a, size_t idx, json *val)
{
	if (!a || a->type != JSON_ARRAY || !val) {
		json_free(val);
		return SG_EINVAL;
	}
	if (idx > a->u.arr.len) {
		json_free(val);
		return SG_ENOENT;
	}
	int err = arr_push(a, val);
	if (err) {
		json_free(val);
		return err;
	}
	json **v = a->u.arr.v;
	memmove(&v[idx + 1], &v[idx], (a->u.arr.len - 1 - idx) * sizeof(*v));
	v[idx] = val;
	return 0;
}

int json_array_append(json *a, json *val)
{
	return json_array_insert(a, a && a->type == JSON_ARRAY ? a->u.arr.len : 0, val);
}

int json_array_remove(json *a, size_t idx)
{
	if (!a || a->type != JSON_ARRAY)
		return SG_EINVAL;
	if (idx >= a->u.arr.len)
		return SG_ENOENT;
	json **v = a->u.arr.v;
	json_free(v[idx]);
	memmove(&v[idx], &v[idx + 1], (a->u.arr.len - idx - 1) * sizeof(*v));
	a->u.arr.len--;
	return 0;
}
