/* lib/json.h — lossless JSON for Flask sessions: numbers kept as written,
 * strings length-counted (NUL and lone surrogates survive), Python's dialect.
 *
 * Why not Jansson: it rejects NaN/Infinity and integers beyond 64 bits and
 * reformats floats, all of which Flask can write; a session must round-trip
 * byte for byte. */
#ifndef SG_JSON_H
#define SG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT
};

typedef struct json json;

struct json_member {
	char *key; /* WTF-8 bytes, NUL-terminated after klen */
	size_t klen;
	json *val;
};

struct json {
	enum json_type type;
	union {
		/* STRING: WTF-8 bytes (UTF-8, plus lone surrogates encoded as
		 * 3 bytes so "\ud800" round-trips), may contain NUL, always
		 * NUL-terminated at ptr[len].
		 * NUMBER: the lexeme exactly as written: "1", "-0", "1.5e300",
		 * "123456789012345678901234567890", "NaN", "Infinity", "-Infinity".
		 * The bytes may live in the node's own allocation: treat ptr as
		 * read-only (never realloc/free it); to change a value, build a
		 * new node. Replacing ptr with a malloc'd buffer is allowed
		 * (json_free then frees it). */
		struct {
			char *ptr;
			size_t len;
		} str;
		struct {
			json **v;
			size_t len, cap;
		} arr;
		/* Members in insertion order; keys are unique. */
		struct {
			struct json_member *m;
			size_t len, cap;
		} obj;
	} u;
};

/* json_parse flags */
#define JSON_PARSE_PYTHON 0x1 /* accept NaN, Infinity, -Infinity */

/* json_dump flags; output is always compact (',' and ':'). */
#define JSON_DUMP_SORT_KEYS 0x1 /* keys in code point order (Python sort_keys) */
#define JSON_DUMP_ASCII 0x2     /* Python ensure_ascii: \uXXXX for non-ASCII and DEL,
				 * surrogate pairs for astral code points */

/* Parses exactly one JSON value spanning buf (surrounding whitespace allowed).
 * Duplicate keys: the last wins (as Python). Limits: len <= SG_JSON_MAX_INPUT,
 * depth <= SG_JSON_MAX_DEPTH. Returns 0, SG_EMALFORMED, SG_EDEPTH, SG_ETOOBIG
 * or SG_ENOMEM; *ret only on success. */
int json_parse(const char *buf, size_t len, unsigned flags, json **ret);

/* Serialises v; *ret is malloc'd and NUL-terminated. With SORT_KEYS|ASCII the
 * output is byte-identical to Python's
 * json.dumps(v, separators=(",", ":"), sort_keys=True, ensure_ascii=True). */
int json_dump(const json *v, unsigned flags, char **ret, size_t *ret_len);
/* Without JSON_DUMP_ASCII the output is raw UTF-8, escaping only '"', '\\' and
 * bytes < 0x20 (Python ensure_ascii=False), except that lone surrogates are
 * written as \udXXX so the output is always valid UTF-8.
 * Strings and keys must be valid WTF-8 (what json_parse produces; a high
 * surrogate directly followed by a low one is not): otherwise SG_EINVAL.
 * Nesting deeper than SG_JSON_MAX_DEPTH gives SG_EDEPTH, so whatever dumps
 * also parses back. */

/* Like json_dump, but appends to a caller-owned growable buffer: *buf (may be
 * NULL) holds *len bytes in *cap, grown with realloc. A NUL is kept after the
 * output (not counted in *len). On failure *len is unchanged and *buf and *cap
 * stay valid (possibly grown); the caller frees *buf in any case. */
int json_dump_append(const json *v, unsigned flags, char **buf, size_t *len, size_t *cap);
/* Room for n more bytes and a NUL in the same kind of buffer, grown the way
 * json_dump_append grows it. */
int json_text_reserve(char **buf, size_t len, size_t *cap, size_t n);

/* n bytes of text s appended to such a buffer, NUL-terminated: for writers
 * that put dumped values between bytes they copy. Inline: when there is
 * room (nearly always), a copy. */
static inline int json_text_append(const char *s, size_t n, char **buf, size_t *len,
				   size_t *cap)
{
	if (*cap - *len <= n) { /* (*len <= *cap: no wrap, unlike *len + n) */
		int err = json_text_reserve(buf, *len, cap, n);
		if (err)
			return err;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

/* JSON_DUMP_SORT_KEYS's order of two keys (WTF-8 bytes: code point order, as
 * Python sorts str): <0, 0 or >0. */
int json_key_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* In JSON text s[0, n), for a string whose opening quote is s[i - 1]: the
 * index of its closing quote (the next '"' after an even run of
 * backslashes), or n when it does not close. For scanners of text already
 * known to be JSON; finds quotes with memchr (session strings are long).
 * Inline: the scanners call it once per string, per patch. */
static inline size_t json_string_close(const char *s, size_t i, size_t n)
{
	for (size_t from = i; i < n;) {
		const char *q = memchr(s + i, '"', n - i);
		if (!q)
			return n;
		size_t j = (size_t)(q - s), run = 0;
		while (j - run > from && s[j - run - 1] == '\\')
			run++;
		if (run % 2 == 0)
			return j;
		i = j + 1;
	}
	return n;
}

/* Constructors return NULL on allocation failure. */
json *json_new_null(void);
json *json_new_bool(bool b);
json *json_new_number(const char *lexeme, size_t len); /* lexeme not validated */
json *json_new_string(const char *s, size_t len);
json *json_new_array(void);
json *json_new_object(void);

void json_free(json *v); /* NULL is a no-op */
json *json_copy(const json *v);
/* Deep equality; numbers compare by lexeme, objects ignore member order. */
bool json_equal(const json *a, const json *b);

json *json_object_get(const json *o, const char *key, size_t klen);
json *json_object_get_cstr(const json *o, const char *key); /* NUL-terminated key */
/* Takes ownership of val (also on failure, where val is freed); replaces an
 * existing member in place. */
int json_object_set(json *o, const char *key, size_t klen, json *val);
int json_object_del(json *o, const char *key, size_t klen); /* SG_ENOENT */
/* Takes ownership of val (freed on failure). idx == len appends. */
int json_array_insert(json *a, size_t idx, json *val);
int json_array_append(json *a, json *val);
int json_array_remove(json *a, size_t idx); /* frees the element; SG_ENOENT */

#endif
