/* lib/tag.h — Flask's tagged JSON (flask/json/tag.py) <-> the plain view backends see.
 *
 * Flask stores non-JSON types as single-key dicts: {" t": [..]} tuple,
 * {" b": "base64"} bytes, {" m": ".."} Markup, {" u": "hex"} UUID,
 * {" d": "HTTP-date"} datetime, and {" di": {"<tag>__": v}} for a real dict
 * whose only key is a tag name. The session sessiongate keeps is that stored
 * form; header backends get the plain view:
 *
 *   tuple    -> array                bytes  -> its base64 string (as stored)
 *   Markup   -> string               UUID   -> "8-4-4-4-12" lowercase string
 *   datetime -> RFC 3339 "2026-11-24T09:00:00Z" (Flask keeps whole seconds, UTC)
 *   " di"    -> the unescaped dict   NaN, Infinity, -Infinity -> null
 *
 * NaN/Infinity have no JSON form (only Python writes them), so the plain view
 * shows null; the stored session keeps them. Big integers stay numbers as
 * written. Unknown " x" single-key dicts (an app's custom tags) and tags whose
 * value has a shape Flask never writes are ordinary dicts in the plain view.
 * A UUID or datetime string Flask could not have written is shown as stored. */
#ifndef SG_TAG_H
#define SG_TAG_H

#include <stdbool.h>
#include <stddef.h>

#include "json.h"

enum tag_kind {
	TAG_NONE = 0, /* not a tag (scalar, array, plain dict, unknown or ill-shaped tag) */
	TAG_DICT,     /* " di" whose value is an object with exactly one member */
	TAG_TUPLE,    /* " t" whose value is an array */
	TAG_BYTES,    /* " b" string */
	TAG_MARKUP,   /* " m" string */
	TAG_UUID,     /* " u" string */
	TAG_DATETIME  /* " d" string */
};

/* Is key one of Flask's registered tag names (" di", " t", " b", " m", " u", " d")? */
bool tag_is_name(const char *key, size_t klen);

/* Classifies a stored node. Ill-shaped registered tags (" t": 5) are TAG_NONE:
 * patches treat them as plain dicts and never look inside them as tags. */
enum tag_kind tag_kind(const json *v);

/* For a TAG_DICT node: the inner member and the unescaped key length (the
 * stored key minus its last two code points, as Python's key[:-2]). */
const struct json_member *tag_dict_member(const json *v, size_t *ret_klen);

/* Builds the plain view of a stored value as a new tree. Returns 0 or SG_ENOMEM. */
int tag_plain(const json *stored, json **ret);

/* The plain view as compact ASCII-only JSON text (no CR/LF possible), keys
 * sorted, straight from the stored JSON text (which must be the valid JSON the
 * codec verified). Fast path: when the text is printable ASCII with no
 * whitespace outside strings, no NaN/Infinity token, and no object whose
 * first key begins with a space or an escape, it cannot hold a tag and is
 * returned as a copy with no DOM built (Flask's own output always qualifies
 * unless it holds tags). Otherwise parses, converts and dumps. *ret is
 * malloc'd and NUL-terminated. Returns 0, SG_ENOMEM or json_parse's errors. */
int tag_plain_text(const char *stored, size_t len, char **ret, size_t *ret_len);

/* true when tag_plain_text may return the stored text as is (see above).
 * Conservative: a false "no" costs a parse, a false "yes" cannot happen. */
bool tag_text_is_plain(const char *stored, size_t len);

/* Converts a plain JSON value (a backend's write) into Flask's stored form so
 * that it can never read back as a tag, exactly as TaggedJSONSerializer.tag
 * does for JSON data: a dict whose only key is a tag name becomes
 * {" di": {"<key>__": escaped value}}, other dicts and lists recurse.
 * Returns a new tree (0) or SG_ENOMEM. */
int tag_escape(const json *plain, json **ret);

#endif
