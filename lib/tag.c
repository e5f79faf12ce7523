/* lib/tag.c — Flask's tagged JSON: classify tags, build the plain view, escape backend writes. */
#include "tag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"

bool tag_is_name(const char *key, size_t klen)
{
	if (klen == 3)
		return memcmp(key, " di", 3) == 0;
	return klen == 2 && key[0] == ' ' && strchr("tbmud", key[1]) && key[1] != '\0';
}

enum tag_kind tag_kind(const json *v)
{
	if (!v || v->type != JSON_OBJECT || v->u.obj.len != 1)
		return TAG_NONE;
	const struct json_member *m = &v->u.obj.m[0];
	if (!tag_is_name(m->key, m->klen))
		return TAG_NONE;
	enum json_type t = m->val->type;
	if (m->klen == 3)
		return t == JSON_OBJECT && m->val->u.obj.len == 1 ? TAG_DICT : TAG_NONE;
	if (m->key[1] == 't')
		return t == JSON_ARRAY ? TAG_TUPLE : TAG_NONE;
	if (t != JSON_STRING)
		return TAG_NONE;
	switch (m->key[1]) {
	case 'b': return TAG_BYTES;
	case 'm': return TAG_MARKUP;
	case 'u': return TAG_UUID;
	default: return TAG_DATETIME;
	}
}

const struct json_member *tag_dict_member(const json *v, size_t *ret_klen)
{
	const struct json_member *in = &v->u.obj.m[0].val->u.obj.m[0];
	/* Python's key[:-2] drops two code points; WTF-8 continuation bytes
	 * are 10xxxxxx */
	size_t k = in->klen;
	for (int cp = 0; cp < 2 && k > 0; cp++) {
		k--;
		while (k > 0 && ((unsigned char)in->key[k] & 0xC0) == 0x80)
			k--;
	}
	*ret_klen = k;
	return in;
}

static bool is_nonfinite(const json *v)
{
	const char *p = v->u.str.ptr;
	return p[0] == 'N' || p[0] == 'I' || (p[0] == '-' && p[1] == 'I');
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* UUID.hex (32 hex digits) -> canonical 8-4-4-4-12 lowercase. */
static json *uuid_plain(const json *s)
{
	if (s->u.str.len != 32)
		return NULL;
	static const char digits[] = "0123456789abcdef";
	char out[36];
	size_t o = 0;
	for (size_t i = 0; i < 32; i++) {
		int h = hexval(s->u.str.ptr[i]);
		if (h < 0)
			return NULL;
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = digits[h];
	}
	return json_new_string(out, sizeof(out));
}

static int num2(const char *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* werkzeug's http_date ("Tue, 24 Nov 2026 09:00:00 GMT", always this
 * shape) -> RFC 3339 UTC. NULL (not an error) when it is something else. */
static json *datetime_plain(const json *s)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *p = s->u.str.ptr;
	if (s->u.str.len != 29 || p[3] != ',' || p[4] != ' ' || p[7] != ' ' || p[11] != ' ' ||
	    p[16] != ' ' || p[19] != ':' || p[22] != ':' || p[25] != ' ' ||
	    memcmp(p + 26, "GMT", 3) != 0)
		return NULL;
	int day = num2(p + 5), y1 = num2(p + 12), y2 = num2(p + 14);
	int hh = num2(p + 17), mi = num2(p + 20), ss = num2(p + 23);
	int mon = 0;
	for (int i = 0; i < 12; i++)
		if (memcmp(p + 8, months + 3 * i, 3) == 0)
			mon = i + 1;
	if (day < 1 || y1 < 0 || y2 < 0 || hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 ||
	    ss > 59 || mon == 0)
		return NULL;
	int year = y1 * 100 + y2;
	/* Flask reads it back with email.utils, which takes years below 100 as
	 * two-digit ones: show what the Flask app will see */
	if (year < 100)
		year += year > 68 ? 1900 : 2000;
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int maxd =
	    dm[mon - 1] + (mon == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0));
	if (year < 1 || day > maxd)
		return NULL;
	char out[32];
	int n = snprintf(out, sizeof(out), "%04d-%02d-%02dT%02d:%02d:%02dZ", year, mon, day, hh, mi,
			 ss);
	return json_new_string(out, (size_t)n);
}

static int plain(const json *v, json **ret);

/* Plain view of a dict's members into a new object (also for unknown tags). */
static int plain_object(const json *v, json **ret)
{
	json *o = json_new_object();
	if (!o)
		return SG_ENOMEM;
	for (size_t i = 0; i < v->u.obj.len; i++) {
		json *c;
		int err = plain(v->u.obj.m[i].val, &c);
		if (!err)
			err = json_object_set(o, v->u.obj.m[i].key, v->u.obj.m[i].klen, c);
		if (err) {
			json_free(o);
			return err;
		}
	}
	*ret = o;
	return 0;
}

static int plain_array(const json *a, json **ret)
{
	json *o = json_new_array();
	if (!o)
		return SG_ENOMEM;
	for (size_t i = 0; i < a->u.arr.len; i++) {
		json *c;
		int err = plain(a->u.arr.v[i], &c);
		if (!err)
			err = json_array_append(o, c);
		if (err) {
			json_free(o);
			return err;
		}
	}
	*ret = o;
	return 0;
}

static int plain(const json *v, json **ret)
{
	json *r = NULL;
	const json *inner;
	switch (v->type) {
	case JSON_NUMBER: r = is_nonfinite(v) ? json_new_null() : json_copy(v); break;
	case JSON_ARRAY: return plain_array(v, ret);
	case JSON_OBJECT:
		inner = v->u.obj.len == 1 ? v->u.obj.m[0].val : NULL;
		switch (tag_kind(v)) {
		case TAG_NONE: return plain_object(v, ret);
		case TAG_TUPLE: return plain_array(inner, ret);
		case TAG_DICT: {
			size_t kl;
			const struct json_member *m = tag_dict_member(v, &kl);
			json *c;
			int err = plain(m->val, &c);
			if (err)
				return err;
			r = json_new_object();
			if (!r) {
				json_free(c);
				return SG_ENOMEM;
			}
			if ((err = json_object_set(r, m->key, kl, c))) {
				json_free(r);
				return err;
			}
			break;
		}
		case TAG_UUID: r = uuid_plain(inner); goto as_string;
		case TAG_DATETIME: r = datetime_plain(inner); goto as_string;
		case TAG_BYTES:
		case TAG_MARKUP:
		as_string:
			if (!r)
				r = json_copy(inner);
			break;
		}
		break;
	default: r = json_copy(v); break;
	}
	if (!r)
		return SG_ENOMEM;
	*ret = r;
	return 0;
}

int tag_plain(const json *stored, json **ret)
{
	return plain(stored, ret);
}

bool tag_text_is_plain(const char *s, size_t len)
{
	bool in_str = false;
	char prev = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c > 0x7e)
			return false;
		if (in_str) {
			if (c == '\\') {
				if (++i >= len || (unsigned char)s[i] < 0x20 ||
				    (unsigned char)s[i] > 0x7e)
					return false;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		if (c == '"') {
			in_str = true;
			/* a tag is a one-key dict whose key starts with a space;
			 * an escape could spell one too */
			if (prev == '{' && i + 1 < len && (s[i + 1] == ' ' || s[i + 1] == '\\'))
				return false;
		} else if (c == ' ' || c == 'N' || c == 'I') {
			/* whitespace would not be compact; N/I start NaN/Infinity */
			return false;
		}
		prev = (char)c;
	}
	return !in_str;
}

int tag_plain_text(const char *stored, size_t len, char **ret, size_t *ret_len)
{
	if (tag_text_is_plain(stored, len)) {
		char *c = malloc(len + 1);
		if (!c)
			return SG_ENOMEM;
		memcpy(c, stored, len);
		c[len] = '\0';
		*ret = c;
		*ret_len = len;
		return 0;
	}
	json *v, *p;
	int err = json_parse(stored, len, JSON_PARSE_PYTHON, &v);
	if (err)
		return err;
	err = plain(v, &p);
	json_free(v);
	if (err)
		return err;
	err = json_dump(p, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, ret, ret_len);
	json_free(p);
	return err;
}

int tag_escape(const json *v, json **ret)
{
	json *r = NULL;
	int err = 0;
	if (v->type == JSON_ARRAY) {
		if (!(r = json_new_array()))
			return SG_ENOMEM;
		for (size_t i = 0; i < v->u.arr.len && !err; i++) {
			json *c;
			if (!(err = tag_escape(v->u.arr.v[i], &c)))
				err = json_array_append(r, c);
		}
	} else if (v->type == JSON_OBJECT && v->u.obj.len == 1 &&
		   tag_is_name(v->u.obj.m[0].key, v->u.obj.m[0].klen)) {
		/* TagDict: {"<tag>__": tag(value)} under " di" */
		const struct json_member *m = &v->u.obj.m[0];
		char key[5];
		memcpy(key, m->key, m->klen);
		memcpy(key + m->klen, "__", 2);
		json *inner = json_new_object(), *c;
		if (!inner || !(r = json_new_object())) {
			json_free(inner);
			return SG_ENOMEM;
		}
		if (!(err = tag_escape(m->val, &c)) &&
		    !(err = json_object_set(inner, key, m->klen + 2, c)))
			err = json_object_set(r, " di", 3, inner);
		else
			json_free(inner);
	} else if (v->type == JSON_OBJECT) {
		if (!(r = json_new_object()))
			return SG_ENOMEM;
		for (size_t i = 0; i < v->u.obj.len && !err; i++) {
			json *c;
			if (!(err = tag_escape(v->u.obj.m[i].val, &c)))
				err = json_object_set(r, v->u.obj.m[i].key, v->u.obj.m[i].klen, c);
		}
	} else if (!(r = json_copy(v))) {
		return SG_ENOMEM;
	}
	if (err) {
		json_free(r);
		return err;
	}
	*ret = r;
	return 0;
}
