/* lib/starlette.c — Starlette SessionMiddleware cookies: encode, verify, decode, Set-Cookie. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "errors.h"
#include "sg_limits.h"
#include "signer.h"
#include "starlette.h"
#include "tag.h"

/* An SHA-1 signature: 20 bytes as unpadded base64url. */
#define SIG_TEXT_LEN 27
/* Timestamps are at most 8 bytes: 11 base64url characters. */
#define TS_TEXT_MAX 11

struct starlette {
	/* itsdangerous's TimestampSigner with Django's key derivation; the
	 * payload is standard base64 ("+/="), so signatures are checked with
	 * signer_verify rather than signer_unsign_timed (base64url only). */
	signer *signer;
};

int starlette_new(starlette **ret)
{
	starlette *st = calloc(1, sizeof(*st));
	if (!st)
		return SG_ENOMEM;
	int r = signer_new(SIGNER_SHA1, SIGNER_KDF_DJANGO_CONCAT, SIGNER_SALT_ITSDANGEROUS,
			   strlen(SIGNER_SALT_ITSDANGEROUS), &st->signer);
	if (r) {
		free(st);
		return r;
	}
	*ret = st;
	return 0;
}

void starlette_free(starlette *st)
{
	if (!st)
		return;
	signer_free(st->signer);
	free(st);
}

int starlette_add_key(starlette *st, const void *secret, size_t len)
{
	/* signer_add_key refuses an empty or oversized secret, as before */
	return signer_add_key(st->signer, secret, len);
}

static bool is_b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static bool is_b64(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Splits "payload.ts.sig": *ret_tdot and *ret_dot are the two last dots.
 * Timestamp and signature must be base64url (what itsdangerous writes). */
static int split(const char *c, size_t len, size_t *ret_tdot, size_t *ret_dot)
{
	size_t dot = len;
	while (dot > 0 && c[dot - 1] != '.')
		dot--;
	if (dot == 0)
		return SG_EMALFORMED;
	dot--;
	size_t tdot = dot;
	while (tdot > 0 && c[tdot - 1] != '.')
		tdot--;
	if (tdot == 0)
		return SG_EMALFORMED;
	tdot--;
	if (len - dot - 1 == 0 || dot - tdot - 1 > TS_TEXT_MAX)
		return SG_EMALFORMED;
	for (size_t i = tdot + 1; i < len; i++)
		if (i != dot && !is_b64url((unsigned char)c[i]))
			return SG_EMALFORMED;
	*ret_tdot = tdot;
	*ret_dot = dot;
	return 0;
}

bool starlette_cookie_shaped(const char *c, size_t len)
{
	size_t tdot, dot;
	unsigned char be[9];
	size_t be_len;
	if (len > SG_COOKIE_MAX || split(c, len, &tdot, &dot) != 0 ||
	    b64url_decode(c + tdot + 1, dot - tdot - 1, be, sizeof(be), &be_len) != 0 || be_len > 8)
		return false;
	/* '{' encodes as 'e' whatever follows; the payload is whole quanta. */
	if (tdot < 4 || tdot % 4 != 0 || c[0] != 'e')
		return false;
	size_t pad = c[tdot - 1] == '=' ? (c[tdot - 2] == '=' ? 2 : 1) : 0;
	for (size_t i = 0; i < tdot - pad; i++)
		if (!is_b64((unsigned char)c[i]))
			return false;
	return true;
}

int starlette_decode(const starlette *st, const char *c, size_t len, int64_t now, int64_t max_age,
		     json **ret, struct starlette_info *ret_info)
{
	if (len > SG_COOKIE_MAX)
		return SG_ETOOBIG;
	size_t tdot, dot, key;
	int r = split(c, len, &tdot, &dot);
	if (r)
		return r;
	/* Shape first: a timestamp that cannot decode is malformed whoever signed it. */
	unsigned char be[9];
	size_t be_len;
	if (b64url_decode(c + tdot + 1, dot - tdot - 1, be, sizeof(be), &be_len) != 0 || be_len > 8)
		return SG_EMALFORMED;
	r = signer_verify(st->signer, c, dot, c + dot + 1, len - dot - 1, &key);
	if (r)
		return r;
	uint64_t ts = 0;
	for (size_t i = 0; i < be_len; i++)
		ts = ts << 8 | be[i];
	if ((r = signer_check_age(ts, now, max_age)))
		return r;
	/* Starlette's b64decode skips stray characters; it only ever writes
	 * canonical padded base64, so we accept exactly that. */
	size_t cap = b64_decoded_max(tdot), n;
	char *text = malloc(cap + 1);
	if (!text)
		return SG_ENOMEM;
	r = b64_decode(c, tdot, text, cap, &n);
	json *v = NULL;
	if (r == 0)
		r = json_parse(text, n, JSON_PARSE_PYTHON, &v);
	free(text);
	if (r)
		return r; /* SG_EMALFORMED, SG_EDEPTH or SG_ENOMEM */
	if (v->type != JSON_OBJECT) {
		json_free(v);
		return SG_EMALFORMED; /* Starlette only writes dicts */
	}
	*ret = v;
	if (ret_info) {
		ret_info->ts = ts;
		ret_info->key_index = key;
	}
	return 0;
}

int starlette_decode_stored(const starlette *st, const char *cookie, size_t len, int64_t now,
			    int64_t max_age, json **ret, struct starlette_info *ret_info)
{
	json *plain, *stored;
	struct starlette_info info;
	int r = starlette_decode(st, cookie, len, now, max_age, &plain, &info);
	if (r)
		return r;
	r = tag_escape(plain, &stored);
	json_free(plain);
	if (r)
		return r;
	*ret = stored;
	if (ret_info)
		*ret_info = info;
	return 0;
}

/* Python's default separators: ", " and ": " where compact JSON has ',' and
 * ':' outside strings. Returns the number of separators (spaces to add). */
static size_t separators(const char *s, size_t len, char *out)
{
	size_t extra = 0, o = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];
		if (out)
			out[o++] = ch;
		if (in_str) {
			if (ch == '\\' && i + 1 < len) {
				i++;
				if (out)
					out[o++] = s[i];
			} else if (ch == '"') {
				in_str = false;
			}
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == ',' || ch == ':') {
			extra++;
			if (out)
				out[o++] = ' ';
		}
	}
	return extra;
}

int starlette_encode_text(const starlette *st, const char *compact, size_t len, int64_t now,
			  char **ret, size_t *ret_len)
{
	if (signer_key_count(st->signer) == 0 || len == 0 || now < 0)
		return SG_EINVAL;
	if (len > SG_COOKIE_MAX)
		return SG_ETOOBIG;
	size_t slen = len + separators(compact, len, NULL);
	size_t blen = b64_encoded_len(slen);
	if (blen + 1 + TS_TEXT_MAX + 1 + SIG_TEXT_LEN > SG_COOKIE_MAX)
		return SG_ETOOBIG;
	char *spaced = malloc(slen);
	size_t cap = blen + SIGNER_TIMED_SUFFIX_MAX + 1;
	char *out = malloc(cap);
	if (!spaced || !out) {
		free(spaced);
		free(out);
		return SG_ENOMEM;
	}
	separators(compact, len, spaced);
	b64_encode(spaced, slen, out);
	free(spaced);
	size_t n;
	int r = signer_sign_timed(st->signer, now, out, blen, cap - 1, &n);
	if (r) {
		free(out);
		return r;
	}
	out[n] = '\0';
	*ret = out;
	*ret_len = n;
	return 0;
}

int starlette_encode(const starlette *st, const json *session, int64_t now, char **ret,
		     size_t *ret_len)
{
	if (!session || session->type != JSON_OBJECT)
		return SG_EINVAL;
	char *text;
	size_t len;
	int r = json_dump(session, JSON_DUMP_ASCII, &text, &len);
	if (r)
		return r;
	r = starlette_encode_text(st, text, len, now, ret, ret_len);
	free(text);
	return r;
}

/* Bytes that must not appear in a cookie attribute value: they would end the
 * attribute or the header. */
static bool attr_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == ';')
			return false;
	}
	return true;
}

/* RFC 6265 cookie-octets (and, for a name, no '='): what Starlette's
 * values and names are made of, and nothing that would need quoting. */
static bool octets_ok(const char *s, size_t len, bool name)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == ',' || c == ';' || c == '\\' ||
		    (name && c == '='))
			return false;
	}
	return true;
}

static const char *samesite_name(enum cookie_samesite s)
{
	switch (s) {
	case COOKIE_SAMESITE_STRICT: return "strict";
	case COOKIE_SAMESITE_NONE: return "none";
	default: return "lax";
	}
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n + 1) {
		size_t nc = (b->len + n + 1) * 2;
		char *np = realloc(b->p, nc);
		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* SessionMiddleware's security_flags. */
static void put_flags(struct sbuf *b, const struct starlette_attrs *a)
{
	puts_(b, "httponly; samesite=");
	puts_(b, samesite_name(a ? a->samesite : COOKIE_SAMESITE_UNSET));
	if (a && a->https_only)
		puts_(b, "; secure");
	if (a && a->domain) {
		puts_(b, "; domain=");
		puts_(b, a->domain);
	}
}

static int check_attrs(const char *name, size_t nlen, const struct starlette_attrs *a)
{
	if (nlen == 0 || !octets_ok(name, nlen, true))
		return SG_EINVAL;
	if (a && a->path && (!a->path[0] || !attr_ok(a->path, strlen(a->path))))
		return SG_EINVAL;
	if (a && a->domain && (!a->domain[0] || !attr_ok(a->domain, strlen(a->domain))))
		return SG_EINVAL;
	return 0;
}

static int finish(struct sbuf *b, char **ret, size_t *ret_len)
{
	if (b->oom) {
		free(b->p);
		return SG_ENOMEM;
	}
	*ret = b->p;
	*ret_len = b->len;
	return 0;
}

int starlette_build_set_cookie(const char *name, size_t nlen, const char *value, size_t vlen,
			       const struct starlette_attrs *a, char **ret, size_t *ret_len)
{
	int r = check_attrs(name, nlen, a);
	if (r)
		return r;
	if (!octets_ok(value, vlen, false))
		return SG_EINVAL;
	struct sbuf b = {0};
	put(&b, name, nlen);
	put(&b, "=", 1);
	put(&b, value, vlen);
	puts_(&b, "; path=");
	puts_(&b, a && a->path ? a->path : "/");
	puts_(&b, "; ");
	if (a && a->max_age > 0) {
		char num[32];
		snprintf(num, sizeof(num), "Max-Age=%lld; ", (long long)a->max_age);
		puts_(&b, num);
	}
	put_flags(&b, a);
	return finish(&b, ret, ret_len);
}

int starlette_build_deletion(const char *name, size_t nlen, const struct starlette_attrs *a,
			     char **ret, size_t *ret_len)
{
	int r = check_attrs(name, nlen, a);
	if (r)
		return r;
	struct sbuf b = {0};
	put(&b, name, nlen);
	puts_(&b, "=null; path=");
	puts_(&b, a && a->path ? a->path : "/");
	puts_(&b, "; expires=Thu, 01 Jan 1970 00:00:00 GMT; ");
	put_flags(&b, a);
	return finish(&b, ret, ret_len);
}

int starlette_read_set_cookie(const starlette *st, const char *hdr, size_t len, const char *name,
			      size_t nlen, int64_t now, int64_t max_age,
			      enum starlette_change *ret_kind, json **ret)
{
	struct set_cookie sc;
	int r = cookie_parse_set_cookie(hdr, len, &sc);
	if (r)
		return r;
	if (sc.name_len != nlen || memcmp(sc.name, name, nlen) != 0)
		return SG_ENOENT;
	if (cookie_is_deletion(&sc, now)) {
		*ret_kind = STARLETTE_DELETE;
		*ret = NULL;
		return 0;
	}
	json *v;
	r = starlette_decode(st, sc.value, sc.value_len, now, max_age, &v, NULL);
	if (r)
		return r;
	*ret_kind = STARLETTE_SET;
	*ret = v;
	return 0;
}
