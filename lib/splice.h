/* lib/splice.h — the common merge patch applied to a session's JSON text, without a DOM.
 *
 * Most patches a backend sends set or remove a few top-level keys to plain
 * values: {"n": 2}, {"cart_id": "x"}, {"flash": null}. Done through
 * lib/patch.c, each costs parsing the whole session, copying it, comparing
 * and dumping it again. When the session text is already in the form Flask
 * (and flask_encode) writes — compact, keys sorted, ASCII — the same result
 * is the text itself with those members replaced, inserted or cut out.
 *
 * splice_merge_patch does exactly that, and only where the result is
 * provably the text json_dump(patch_apply(session, patch)) would give;
 * everything else is SG_EUNSUPPORTED, and the caller takes the DOM path
 * (which also reports every error a patch can have). */
#ifndef SG_SPLICE_H
#define SG_SPLICE_H

#include <stddef.h>

#include "patch.h"

/* Applies the merge patch text p (one X-Session-Patch value) to the session
 * text t. t must be json_dump(s, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII) of a
 * session object s that json_parse accepts: the caller knows this, e.g.
 * from having dumped it once (the top-level keys' order is checked again).
 *
 * Taken: p is a JSON object (at most SG_PATCH_MAX_BYTES, strict JSON) whose
 * members are all writable under pol and set a string, number, true or
 * false, or remove (null); its keys and t's top-level keys are printable
 * ASCII without '"' or '\', not starting with a space (no tag names).
 * Then *ret (malloc'd, NUL-terminated, *ret_len bytes) is the patched text,
 * byte for byte what lib/patch.c and json_dump give; it equals t exactly
 * when they find the session unchanged (json_equal).
 *
 * SG_EUNSUPPORTED for anything else (including every patch lib/patch.c
 * rejects), SG_ENOMEM. */
int splice_merge_patch(const char *t, size_t tlen, const char *p, size_t plen,
		       const struct patch_policy *pol, char **ret, size_t *ret_len);

#endif
