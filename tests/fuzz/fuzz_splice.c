/* tests/fuzz/fuzz_splice.c — lib/splice.c against lib/patch.c: every patch splice takes gives
 * the DOM path's text, byte for byte; splice never takes one the DOM path refuses.
 *
 * Input: session JSON, a NUL byte, patch JSON (as fuzz_patch; the corpora
 * share seeds). Without a NUL the whole input is the patch on a Flask-Login
 * session. The session is dumped first (splice's precondition); the raw
 * session text is also spliced, for memory safety on any text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json.h"
#include "patch.h"
#include "splice.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

static const char fixed[] = "{\"_fresh\":true,\"_id\":\"f667dd39e27d5ca3\",\"_user_id\":\"42\","
			    "\"csrf_token\":\"51c0ae4e67ece03d\"}";

static char *const pol_keys[] = {"x", "p_*"};
static const struct patch_policy pol = {pol_keys, 2};

static void compare(const char *t, size_t tlen, const json *session, const char *patch, size_t plen,
		    const struct patch_policy *pp)
{
	char *out = NULL;
	size_t olen = 0;
	int rc = splice_merge_patch(t, tlen, patch, plen, pp, &out, &olen);
	CHECK(rc == 0 || rc == SG_EUNSUPPORTED || rc == SG_ENOMEM);
	if (rc != 0)
		return;
	json *cur = NULL;
	CHECK(patch_apply_copy(session, patch, plen, pp, &cur) == 0);
	CHECK(olen == strlen(out));
	if (json_equal(session, cur)) {
		CHECK(olen == tlen && memcmp(out, t, tlen) == 0);
	} else {
		char *want;
		size_t wl;
		CHECK(json_dump(cur, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &want, &wl) == 0);
		CHECK(wl == olen && memcmp(want, out, olen) == 0);
		free(want);
	}
	json_free(cur);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *sep = memchr(in, '\0', size);
	const char *src = fixed, *patch = in;
	size_t slen = sizeof(fixed) - 1, plen = size;
	if (sep) {
		src = in;
		slen = (size_t)(sep - in);
		patch = sep + 1;
		plen = size - slen - 1;
	}
	/* any text: no crash, no leak, whatever comes out */
	char *junk = NULL;
	size_t jl;
	if (splice_merge_patch(src, slen, patch, plen, NULL, &junk, &jl) == 0)
		free(junk);

	json *session;
	if (json_parse(src, slen, JSON_PARSE_PYTHON, &session) != 0)
		return 0;
	char *t;
	size_t tlen;
	if (session->type == JSON_OBJECT &&
	    json_dump(session, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &t, &tlen) == 0) {
		compare(t, tlen, session, patch, plen, NULL);
		compare(t, tlen, session, patch, plen, &pol);
		free(t);
	}
	json_free(session);
	return 0;
}
