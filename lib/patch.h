/* lib/patch.h — applying a backend's session changes: merge patch, JSON Patch, or a whole-session
 * diff.
 *
 * The session is Flask's stored (tagged) JSON object; backends address and
 * write its plain view (lib/tag.h):
 * - Paths (RFC 6901) and merge-patch recursion descend into a tuple as an
 *   array and into a " di" dict as the unescaped dict; bytes, Markup, UUID
 *   and datetime are leaves. A write inside a tuple keeps it a tuple.
 * - Every value a patch writes goes through tag_escape, so a backend can
 *   never forge a tag; a dict a patch leaves with a single tag-name key is
 *   re-escaped as Flask would. Values moved or copied inside the session keep
 *   their Flask types (they are the session's own).
 * - Nothing the patch does not address changes: other keys keep their exact
 *   stored form, tuples included.
 * - `test` compares against the plain view; numbers compare by value (1 ==
 *   1.0 == 1e0), exactly, at any size.
 * - All-or-nothing: on any error the session is left untouched.
 *
 * Write policy: a list of exact top-level keys or "prefix*" patterns; an
 * empty list allows every key. A JSON Patch touches the first token of each
 * op's path, and of `from` for `move` (a removal); `copy`'s `from` and
 * `test` only read (the backend already sees the whole session) and are not
 * checked. An op on the root path ("") touches every key: only an
 * unrestricted backend may do that. A merge patch touches its top-level
 * members. */
#ifndef SG_PATCH_H
#define SG_PATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

struct patch_policy {
	char *const *keys; /* exact keys, or "prefix*" */
	size_t nkeys;	   /* 0 = every key writable */
};

/* May a backend with this policy write top-level key? (NULL policy: yes.) */
bool patch_key_writable(const struct patch_policy *pol, const char *key, size_t klen);

/* Applies one patch header value to session (a stored session object).
 * Strict plain JSON (no NaN), at most SG_PATCH_MAX_BYTES and
 * SG_JSON_MAX_DEPTH deep; an object is an RFC 7386 merge patch, an array an
 * RFC 6902 JSON Patch of at most SG_PATCH_MAX_OPS operations. Returns 0 or:
 * SG_EMALFORMED (not JSON, not object/array, bad op shape or pointer syntax),
 * SG_ETOOBIG, SG_EDEPTH (input, or a result deeper than SG_JSON_MAX_DEPTH),
 * SG_EPOLICY, SG_ETESTFAIL, SG_ENOENT (a path that does not exist),
 * SG_EINVAL (the session would stop being an object; move into own child),
 * SG_ENOMEM. On error the session is unchanged. */
int patch_apply(json *session, const char *text, size_t len, const struct patch_policy *pol);

/* The same with an already parsed patch value. */
int patch_apply_json(json *session, const json *patch, const struct patch_policy *pol);

/* The same, leaving session untouched: on success *ret is the patched copy
 * (the caller frees it). A caller that keeps the session it started from
 * anyway saves patch_apply's internal copy this way. */
int patch_apply_copy(const json *session, const char *text, size_t len,
		     const struct patch_policy *pol, json **ret);

/* For cookie and starlette backends, which send back a whole session:
 * applies to session the difference between before (what the backend
 * received) and after (what it sent back), both stored objects: top-level
 * keys of after that are new or differ (json_equal) are set to after's stored
 * value as is (a cookie backend is a real Flask app writing real tags;
 * tag_escape a Starlette session's plain JSON before calling this), keys of
 * before missing from after are removed (already-absent keys are fine).
 * Keys neither changed are left as the current session has them, so changes
 * other backends made meanwhile survive. Policy and all-or-nothing as
 * patch_apply. *ret_changed (may be NULL) tells whether session changed. */
int patch_diff_apply(json *session, const json *before, const json *after,
		     const struct patch_policy *pol, bool *ret_changed);

#endif
