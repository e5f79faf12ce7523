/* lib/cookie.h — Cookie and Set-Cookie header values: find, strip, parse, build.
 *
 * Reading a Cookie header mirrors werkzeug 2.2's parse_cookie (what Flask's
 * request.cookies.get returns), because a cookie backend is a Flask app and
 * must see the same session sessiongate saw. Parsing Set-Cookie follows
 * RFC 6265 section 5.2 (what browsers do). Building mirrors werkzeug 2.2's
 * dump_cookie byte for byte. All functions are pure and zero-copy where they
 * return slices. */
#ifndef SG_COOKIE_H
#define SG_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Finds the FIRST cookie named name in one Cookie header value, exactly as
 * werkzeug's parse_cookie + MultiDict.get would (name compared after
 * stripping whitespace, a bare "name" without "=" has the empty value, a
 * newline inside a value ends parsing). *ret_val points into hdr and is the raw
 * value: when it starts and ends with DQUOTE, pass it through cookie_unquote
 * to get what werkzeug returns. Returns 0 or SG_ENOENT. */
int cookie_find(const char *hdr, size_t len, const char *name, size_t nlen, const char **ret_val,
		size_t *ret_vlen);

/* werkzeug's _cookie_unquote: if v is DQUOTE'd, drops the quotes and decodes
 * \\X and \\ooo escapes; otherwise copies v. out must hold len bytes; returns
 * the output length (always <= len). */
size_t cookie_unquote(const char *v, size_t len, char *out);

/* Rewrites a Cookie header value so that it carries exactly one cookie called
 * name with the given value (placed where the first copy was, or appended), or
 * none at all when value is NULL. Other cookies keep their bytes and order
 * and are joined with "; ". To be safe against every parser a backend might
 * use (werkzeug's, Starlette's split on ';', browsers'), a segment is also
 * dropped when any ';'-separated piece of it names the cookie, as is a value
 * with an unbalanced leading DQUOTE (once re-joined it could swallow the next
 * cookie), and whatever werkzeug could not parse (after a newline). *ret is malloc'd,
 * NUL-terminated, possibly empty. Returns 0, SG_EINVAL (value with bytes that
 * need quoting) or SG_ENOMEM. */
int cookie_replace(const char *hdr, size_t len, const char *name, size_t nlen, const char *value,
		   size_t vlen, char **ret, size_t *ret_len);
/* cookie_replace with value NULL: removes every copy of the cookie. */
int cookie_strip(const char *hdr, size_t len, const char *name, size_t nlen, char **ret,
		 size_t *ret_len);

/* cookie_find and cookie_replace from one pass over the header (the session
 * path reads the session cookie, then strips or replaces it). */
struct cookie_scan {
	bool found;	 /* cookie_find's answer: the first copy of the cookie */
	const char *val; /* its raw value (points into the header) */
	size_t vlen;
	/* private to cookie_rewrite: what cookie_replace keeps, as runs of the
	 * header's bytes, when it can be spliced without a second parse */
	bool splice;
	unsigned nruns, place;
	size_t run[2][2];
};

/* Scans hdr once for the cookie called name; ret->found/val/vlen are exactly
 * what cookie_find returns. Always returns 0. */
int cookie_scan(const char *hdr, size_t len, const char *name, size_t nlen,
		struct cookie_scan *ret);

/* cookie_replace(hdr, len, name, nlen, value, vlen, ...) (value NULL:
 * cookie_strip), byte for byte the same result, using sc from cookie_scan on
 * the same hdr and name: for the "a=1; session=..; b=2" headers browsers send,
 * no second parse, one allocation. Same errors as cookie_replace. */
int cookie_rewrite(const char *hdr, size_t len, const struct cookie_scan *sc, const char *name,
		   size_t nlen, const char *value, size_t vlen, char **ret, size_t *ret_len);

enum cookie_samesite {
	COOKIE_SAMESITE_UNSET = 0, /* attribute absent (or unrecognised when parsing) */
	COOKIE_SAMESITE_STRICT,
	COOKIE_SAMESITE_LAX,
	COOKIE_SAMESITE_NONE
};

/* One parsed Set-Cookie header value; slices point into the input. */
struct set_cookie {
	const char *name, *value;
	size_t name_len, value_len;
	const char *domain, *path; /* NULL when absent (last occurrence wins) */
	size_t domain_len, path_len;
	bool has_expires; /* Expires present and a valid cookie-date */
	int64_t expires;  /* epoch seconds */
	bool has_max_age; /* Max-Age present and valid (takes precedence) */
	int64_t max_age;  /* clamped to int64 */
	bool secure, httponly, partitioned;
	enum cookie_samesite samesite;
};

/* Parses a Set-Cookie value per RFC 6265 5.2: the name=value pair before the
 * first ';' (a pair without '=' is ignored, as werkzeug and Starlette never
 * send one), whitespace-trimmed; attributes case-insensitive; attribute values
 * longer than SG_SET_COOKIE_ATTR_MAX are ignored, as browsers do. Returns 0
 * or SG_EMALFORMED (no '=', or empty name). */
int cookie_parse_set_cookie(const char *hdr, size_t len, struct set_cookie *ret);

/* true when a browser would delete the cookie at time now: Max-Age <= 0, or
 * no Max-Age and Expires <= now. */
bool cookie_is_deletion(const struct set_cookie *c, int64_t now);

/* RFC 6265 5.1.1 cookie-date parsing: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT"), RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT"), asctime ("Sun Nov  6
 * 08:49:37 1994") and the other shapes browsers accept. Returns 0 or
 * SG_EMALFORMED. */
int cookie_parse_date(const char *s, size_t len, int64_t *ret);

/* Formats epoch t as an IMF-fixdate, "Thu, 01 Jan 1970 00:00:00 GMT"
 * (werkzeug's http_date); buf needs 30 bytes (29 + NUL). Years outside
 * 1..9999 return SG_EINVAL. */
int cookie_format_date(int64_t t, char buf[30]);

/* Attributes of the cookie sessiongate emits (Flask's SESSION_COOKIE_*). */
struct cookie_attrs {
	const char *domain; /* NULL or "" = host-only; a port is dropped, must contain '.' */
	const char *path;   /* NULL = "/" */
	bool secure, httponly, partitioned;
	enum cookie_samesite samesite;
};

/* Builds a Set-Cookie value exactly as werkzeug 2.2's dump_cookie (via
 * Flask's response.set_cookie): name=value; Domain=..; Expires=..; Secure;
 * HttpOnly; Path=..; SameSite=..; and werkzeug 3's trailing "; Partitioned".
 * expires < 0 means a browser-session cookie (no Expires). The value is
 * quoted as werkzeug does when it has bytes outside the cookie alphabet.
 * Returns 0, SG_EINVAL (domain/path/name werkzeug would refuse or alter) or
 * SG_ENOMEM. */
int cookie_build(const char *name, size_t nlen, const char *value, size_t vlen,
		 const struct cookie_attrs *a, int64_t expires, char **ret, size_t *ret_len);

/* The deletion cookie Flask's SessionInterface.save_session emits
 * (response.delete_cookie): name=; [Domain=..; ]Expires=Thu, 01 Jan 1970
 * 00:00:00 GMT; Max-Age=0; [Secure; ][HttpOnly; ]Path=..[; SameSite=..]
 * [; Partitioned] (werkzeug 3 deletes a partitioned cookie with the flag, and
 * browsers only match it that way). */
int cookie_build_deletion(const char *name, size_t nlen, const struct cookie_attrs *a, char **ret,
			  size_t *ret_len);

#endif
