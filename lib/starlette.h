/* lib/starlette.h — the session cookie of Starlette's SessionMiddleware
 * (starlette/middleware/sessions.py), byte for byte as Starlette 0.26 and 1.x write it.
 *
 * Format (identical in every Starlette release since 0.13):
 *   value = TimestampSigner(secret).sign(b64encode(json.dumps(session)))
 * json.dumps with Python's defaults (", " and ": " separators, ensure_ascii,
 * insertion order), standard padded base64 (+ / =), then itsdangerous's
 * TimestampSigner defaults: SHA-1, django-concat key derivation, salt
 * "itsdangerous.Signer" -> "payload.timestamp.signature".
 *
 * Sessions here are the PLAIN view (lib/tag.h): Starlette apps store plain
 * JSON, so nothing in this file knows Flask's tags; tag_escape what it decodes
 * before merging it into a Flask session (starlette_decode_stored does). */
#ifndef SG_STARLETTE_H
#define SG_STARLETTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cookie.h"
#include "json.h"

#define STARLETTE_COOKIE_NAME_DEFAULT "session"
#define STARLETTE_MAX_AGE_DEFAULT     (14 * 24 * 3600) /* SessionMiddleware(max_age=...) */

/* The keys a Starlette app signs with: one current key and optional
 * fallbacks (tried in order when verifying; Starlette itself has one key).
 * Immutable after setup: safe to share between threads. */
typedef struct starlette starlette;

int starlette_new(starlette **ret);
void starlette_free(starlette *st); /* NULL is a no-op */
/* Adds a secret (raw bytes = Python's str(secret_key).encode()); the first is
 * the current key. SG_EINVAL (empty), SG_ETOOBIG (> SG_SECRET_MAX), SG_ENOMEM. */
int starlette_add_key(starlette *st, const void *secret, size_t len);

/* What a successful decode found (optional out-parameter). */
struct starlette_info {
	uint64_t ts;	  /* when it was signed, seconds since the epoch */
	size_t key_index; /* 0: the current key, 1..: a fallback */
};

/* Verifies cookie[0, len) at time now and decodes it into a JSON object (the
 * plain session). max_age in seconds (Starlette's middleware checks its own
 * max_age, default 14 days); < 0: no time checks (Starlette's max_age=None).
 * The signature is checked before anything in the payload is looked at.
 * Errors: SG_ETOOBIG (cookie longer than SG_COOKIE_MAX), SG_EMALFORMED (not
 * payload.timestamp.signature, payload not canonical padded base64, not JSON,
 * JSON not an object), SG_EBADSIG, SG_EEXPIRED, SG_EFUTURE (itsdangerous
 * refuses a negative age too), SG_EDEPTH, SG_ENOMEM. ret_info may be NULL. */
int starlette_decode(const starlette *st, const char *cookie, size_t len, int64_t now,
		     int64_t max_age, json **ret, struct starlette_info *ret_info);

/* starlette_decode, then tag_escape: the session in Flask's stored form, ready
 * to become (accept_starlette_cookies) or be diffed into (patch_diff_apply) a
 * Flask session. Same errors. */
int starlette_decode_stored(const starlette *st, const char *cookie, size_t len, int64_t now,
			    int64_t max_age, json **ret, struct starlette_info *ret_info);

/* Cheap shape test, no HMAC: could cookie be a Starlette session cookie? Its
 * payload is canonical padded standard base64 of a JSON object ("e..."), its
 * timestamp and signature base64url. A Flask cookie's payload is unpadded
 * base64url, often "."-prefixed: the two shapes only overlap when the payload
 * is [A-Za-z0-9]{4n}, where the signature (different derived key) decides. */
bool starlette_cookie_shaped(const char *cookie, size_t len);

/* Encodes and signs a session object with the current key at time now
 * (seconds, >= 0), exactly as SessionMiddleware does for the same dict and
 * time: json.dumps(session) keeps member order and escapes non-ASCII.
 * *ret is malloc'd and NUL-terminated. SG_EINVAL (not an object, no key,
 * now < 0, strings not WTF-8), SG_ETOOBIG (the cookie would exceed
 * SG_COOKIE_MAX, so starlette_decode could not read it back), SG_ENOMEM. */
int starlette_encode(const starlette *st, const json *session, int64_t now, char **ret,
		     size_t *ret_len);

/* The same from compact JSON text as json_dump writes it (no whitespace
 * outside strings), e.g. tag_plain_text's output: no tree is built. For bytes
 * identical to Starlette's the text must be ASCII (JSON_DUMP_ASCII). The text
 * is not validated beyond being non-empty (SG_EINVAL). */
int starlette_encode_text(const starlette *st, const char *compact, size_t len, int64_t now,
			  char **ret, size_t *ret_len);

/* SessionMiddleware's cookie attributes. */
struct starlette_attrs {
	const char *path;	       /* NULL = "/" */
	const char *domain;	       /* NULL = none (the domain= option exists since 0.32) */
	int64_t max_age;	       /* Max-Age=N when > 0; 0 = none (max_age=None) */
	enum cookie_samesite samesite; /* UNSET = "lax", Starlette's default */
	bool https_only;	       /* "; secure" */
};

/* The Set-Cookie value SessionMiddleware emits for a session cookie value:
 *   name=value; path=/; Max-Age=1209600; httponly; samesite=lax[; secure][; domain=d]
 * SG_EINVAL when name, value, path or domain hold bytes that would change the
 * header's meaning (controls, ';', and for name/value also space, '"', ',',
 * '\\', '='-in-name); SG_ENOMEM. *ret malloc'd, NUL-terminated. */
int starlette_build_set_cookie(const char *name, size_t nlen, const char *value, size_t vlen,
			       const struct starlette_attrs *a, char **ret, size_t *ret_len);

/* The deletion SessionMiddleware emits when a loaded session was cleared:
 *   name=null; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; httponly; samesite=lax[...] */
int starlette_build_deletion(const char *name, size_t nlen, const struct starlette_attrs *a,
			     char **ret, size_t *ret_len);

enum starlette_change {
	STARLETTE_SET,	 /* a new session value */
	STARLETTE_DELETE /* the cookie is deleted (expired): the session is now empty */
};

/* Reads one Set-Cookie header value a Starlette backend sent. SG_ENOENT when
 * it sets another cookie than name; otherwise either a deletion (any cookie a
 * browser would drop at now, Starlette's "null; ... expires=1970" included;
 * *ret is NULL) or a session value decoded as starlette_decode does (plain
 * JSON object in *ret). Errors as cookie_parse_set_cookie and starlette_decode.
 * Pass max_age < 0 for a backend's own fresh cookie: a clock a second ahead
 * of ours must not turn it into SG_EFUTURE. */
int starlette_read_set_cookie(const starlette *st, const char *hdr, size_t len, const char *name,
			      size_t nlen, int64_t now, int64_t max_age,
			      enum starlette_change *ret_kind, json **ret);

#endif
