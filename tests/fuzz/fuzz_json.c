/* tests/fuzz/fuzz_json.c — json_parse on arbitrary bytes; whatever parses must
 * dump, re-parse to an equal value and re-dump to the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "json.h"
#include "sg_limits.h"

static void check(bool ok)
{
	if (!ok)
		abort();
}

/* dump(v) -> parse -> equal to v -> dump again -> same bytes. */
static void roundtrip(const json *v, unsigned flags)
{
	char *out = NULL, *out2 = NULL;
	size_t len = 0, len2 = 0;
	int err = json_dump(v, flags, &out, &len);
	if (err == SG_ENOMEM)
		return;
	check(err == 0); /* parsed values always dump */
	check(strlen(out) <= len && out[len] == '\0');
	if (flags & JSON_DUMP_ASCII)
		for (size_t i = 0; i < len; i++)
			check((unsigned char)out[i] < 0x80);
	json *w = NULL;
	err = json_parse(out, len, JSON_PARSE_PYTHON, &w);
	if (err == SG_ENOMEM || (err == SG_ETOOBIG && len > SG_JSON_MAX_INPUT)) {
		free(out);
		return;
	}
	check(err == 0);
	check(json_equal(v, w) && json_equal(w, v));
	err = json_dump(w, flags, &out2, &len2);
	if (err == 0) {
		check(len == len2 && memcmp(out, out2, len) == 0);
		free(out2);
	}
	json_free(w);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json *strict = NULL, *py = NULL;
	int es = json_parse((const char *)data, size, 0, &strict);
	int ep = json_parse((const char *)data, size, JSON_PARSE_PYTHON, &py);
	check(es <= 0 && ep <= 0);
	/* the Python dialect only adds tokens: strict success implies it too */
	if (es == 0 && ep != SG_ENOMEM)
		check(ep == 0 && json_equal(strict, py));
	if (ep == 0) {
		roundtrip(py, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII);
		roundtrip(py, 0);
		roundtrip(py, JSON_DUMP_ASCII);
		json *c = json_copy(py);
		if (c) {
			check(json_equal(py, c));
			json_free(c);
		}
	}
	json_free(strict);
	json_free(py);
	return 0;
}
