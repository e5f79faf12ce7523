/* lib/flask.h — the Flask session cookie codec: itsdangerous URLSafeTimedSerializer
 * over Flask's tagged JSON, byte for byte as Flask 2.2 writes it.
 *
 * The codec moves the session's JSON text as Flask stores it, tags included
 * (" t", " b", " m", " u", " d", " di"); it never interprets tags (lib/tag.c does). */
#ifndef SG_FLASK_H
#define SG_FLASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"
#include "signer.h"

/* A verified, decoded session cookie. */
typedef struct flask_session {
	const char *cookie; /* the cookie value exactly as received, NUL-terminated:
			     * an unchanged session is sent back as these bytes */
	size_t cookie_len;
	const char *json; /* the session's JSON text as Flask stored it (tagged), not
			   * yet parsed or validated; NUL-terminated (may contain NUL
			   * only if it is not JSON) */
	size_t json_len;
	uint64_t ts;	  /* when it was signed, seconds since the epoch */
	size_t key_index; /* 0: the current key, 1..: a fallback (re-sign soon) */
	bool compressed;  /* the payload was zlib-compressed ("." prefix) */
} flask_session;

/* Per-thread scratch that keeps zlib's inflate and deflate states, deflate6's
 * state (lib/deflate6.h) and an output buffer alive between calls: setting up
 * a deflate state allocates about 256 KiB and costs more than the rest of a
 * sign. Not thread-safe: one
 * per thread (or connection); every function below also accepts NULL. */
typedef struct flask_scratch flask_scratch;
int flask_scratch_new(flask_scratch **ret);
void flask_scratch_free(flask_scratch *sc); /* NULL is a no-op */

/* Verifies cookie[0, len) with s (current key, then fallbacks) at time now
 * and unpacks its payload, without parsing the JSON (see flask_session_parse).
 * max_age in seconds (Flask's PERMANENT_SESSION_LIFETIME); < 0: no time checks.
 * Errors: SG_ETOOBIG (cookie longer than SG_COOKIE_MAX, or payload inflating
 * beyond SG_INFLATE_MAX), SG_EMALFORMED (not a signed value, bad base64, bad
 * zlib stream, empty payload), SG_EBADSIG, SG_EEXPIRED, SG_EFUTURE, SG_ENOMEM.
 * The signature is checked before anything in the payload is looked at. */
int flask_decode(const signer *s, flask_scratch *sc, const char *cookie, size_t len, int64_t now,
		 int64_t max_age, flask_session **ret);
void flask_session_free(flask_session *fs); /* NULL is a no-op */

/* A copy of fs in one allocation (freed by flask_session_free); SG_ENOMEM. */
int flask_session_dup(const flask_session *fs, flask_session **ret);
/* Bytes flask_session_dup allocates for fs (cache accounting). */
size_t flask_session_size(const flask_session *fs);

/* Parses the session's JSON text (Python's dialect: NaN, Infinity) into a
 * tree; a session must be a JSON object (Flask sessions are dicts).
 * SG_EMALFORMED (not JSON, or not an object), SG_EDEPTH, SG_ETOOBIG, SG_ENOMEM. */
int flask_session_parse(const flask_session *fs, json **ret);

/* Encodes and signs a session object with s's current key at time now, as
 * Flask does: compact sorted ASCII JSON, zlib-compressed when that is more
 * than one byte shorter, "." + base64url, timestamp, signature. *ret is
 * malloc'd and NUL-terminated. SG_EINVAL if session is not an object (or
 * holds strings that are not WTF-8); SG_ETOOBIG if the JSON exceeds
 * SG_INFLATE_MAX or the cookie SG_COOKIE_MAX (flask_decode could not read it). */
int flask_encode(const signer *s, flask_scratch *sc, const json *session, int64_t now, char **ret,
		 size_t *ret_len);

/* The same from JSON text already in Flask's form, e.g. json_dump(session,
 * JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII); the text is not checked, except
 * that it must not be empty (SG_EINVAL). */
int flask_encode_text(const signer *s, flask_scratch *sc, const char *text, size_t len, int64_t now,
		      char **ret, size_t *ret_len);

/* Re-signs a decoded session unchanged (Flask's refresh_each_request for
 * permanent sessions, or moving off a fallback key): the same payload bytes
 * with a new timestamp and the current key, no JSON or zlib work. */
int flask_resign(const signer *s, const flask_session *fs, int64_t now, char **ret,
		 size_t *ret_len);

#endif
