/* tests/e2e/starlette_tool.c — a small CLI over lib/starlette (and the Flask codec) for
 * test_starlette_interop.py.
 *
 *   starlette_tool encode KEYFILE NOW                      JSON object on stdin -> cookie value
 *   starlette_tool decode KEYFILE NOW MAX_AGE COOKIE       -> compact ASCII JSON (plain session)
 *   starlette_tool setcookie KEYFILE NOW HEADER            -> "set JSON" or "delete"
 *   starlette_tool shaped COOKIE                           -> "yes" or "no"
 *   starlette_tool fromflask FLASK_KEY ST_KEY NOW FLASK_COOKIE
 *        the request side of a `session: starlette` backend: Flask cookie ->
 *        plain view (tag_plain_text) -> Starlette cookie value
 *   starlette_tool upgrade ST_KEY FLASK_KEY NOW MAX_AGE COOKIE
 *        accept_starlette_cookies: Starlette cookie -> tag_escape -> Flask cookie
 *
 * NOW is epoch seconds or "-" for the clock; MAX_AGE < 0 disables time checks.
 * Refusals print sg_strerror on stderr and exit 1; usage errors exit 2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "flask.h"
#include "json.h"
#include "signer.h"
#include "starlette.h"
#include "tag.h"

static char *slurp(FILE *f, size_t *ret_len)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	*ret_len = len;
	return buf;
}

static char *key_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(2);
	}
	size_t len;
	char *k = slurp(f, &len);
	fclose(f);
	if (!k)
		exit(2);
	*ret_len = signer_secret_trim(k, len);
	return k;
}

static starlette *st_keys(const char *path)
{
	size_t len;
	char *k = key_file(path, &len);
	starlette *st = NULL;
	if (starlette_new(&st) || starlette_add_key(st, k, len))
		exit(2);
	free(k);
	return st;
}

static signer *flask_keys(const char *path)
{
	size_t len;
	char *k = key_file(path, &len);
	signer *s = NULL;
	if (signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, strlen(SIGNER_SALT_FLASK),
		       &s) ||
	    signer_add_key(s, k, len))
		exit(2);
	free(k);
	return s;
}

/* "-": now, from CLOCK_REALTIME as Python's time.time() and the daemon read
 * it; time() lags by up to a tick, so a cookie Starlette signed a moment ago
 * could look signed in the future. */
static int64_t now_arg(const char *s)
{
	if (strcmp(s, "-") != 0)
		return strtoll(s, NULL, 10);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static int fail(int r)
{
	fprintf(stderr, "starlette_tool: %s\n", sg_strerror(r));
	return 1;
}

static int print_json(const json *v, const char *prefix)
{
	char *out;
	size_t len;
	int r = json_dump(v, JSON_DUMP_ASCII, &out, &len);
	if (r)
		return fail(r);
	printf("%s%s\n", prefix, out);
	free(out);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	/* Everything a command allocates, freed on every path so LeakSanitizer
	 * stays quiet on refusals too. */
	starlette *st = NULL;
	signer *fk = NULL;
	json *v = NULL;
	flask_session *fs = NULL;
	char *in = NULL, *out = NULL, *plain = NULL;
	size_t len, plen;
	int r, rc = 0;

	if (strcmp(cmd, "encode") == 0 && argc == 4) {
		st = st_keys(argv[2]);
		in = slurp(stdin, &len);
		if ((r = json_parse(in, len, JSON_PARSE_PYTHON, &v)) ||
		    (r = starlette_encode(st, v, now_arg(argv[3]), &out, &len)))
			rc = fail(r);
		else
			printf("%s\n", out);
	} else if (strcmp(cmd, "decode") == 0 && argc == 6) {
		st = st_keys(argv[2]);
		r = starlette_decode(st, argv[5], strlen(argv[5]), now_arg(argv[3]),
				     strtoll(argv[4], NULL, 10), &v, NULL);
		rc = r ? fail(r) : print_json(v, "");
	} else if (strcmp(cmd, "setcookie") == 0 && argc == 5) {
		enum starlette_change kind;
		st = st_keys(argv[2]);
		r = starlette_read_set_cookie(st, argv[4], strlen(argv[4]), "session", 7,
					      now_arg(argv[3]), -1, &kind, &v);
		if (r)
			rc = fail(r);
		else if (kind == STARLETTE_DELETE)
			printf("delete\n");
		else
			rc = print_json(v, "set ");
	} else if (strcmp(cmd, "shaped") == 0 && argc == 3) {
		printf("%s\n", starlette_cookie_shaped(argv[2], strlen(argv[2])) ? "yes" : "no");
	} else if (strcmp(cmd, "fromflask") == 0 && argc == 6) {
		int64_t now = now_arg(argv[4]);
		fk = flask_keys(argv[2]);
		st = st_keys(argv[3]);
		if ((r = flask_decode(fk, NULL, argv[5], strlen(argv[5]), now, 31 * 24 * 3600,
				      &fs)) ||
		    (r = tag_plain_text(fs->json, fs->json_len, &plain, &plen)) ||
		    (r = starlette_encode_text(st, plain, plen, now, &out, &len)))
			rc = fail(r);
		else
			printf("%s\n", out);
	} else if (strcmp(cmd, "upgrade") == 0 && argc == 7) {
		int64_t now = now_arg(argv[4]);
		st = st_keys(argv[2]);
		fk = flask_keys(argv[3]);
		if ((r = starlette_decode_stored(st, argv[6], strlen(argv[6]), now,
						 strtoll(argv[5], NULL, 10), &v, NULL)) ||
		    (r = flask_encode(fk, NULL, v, now, &out, &len)))
			rc = fail(r);
		else
			printf("%s\n", out);
	} else {
		fprintf(stderr, "usage: see tests/e2e/starlette_tool.c\n");
		rc = 2;
	}
	free(out);
	free(plain);
	free(in);
	json_free(v);
	flask_session_free(fs);
	starlette_free(st);
	signer_free(fk);
	return rc;
}
