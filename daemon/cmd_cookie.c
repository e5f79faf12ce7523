/* daemon/cmd_cookie.c — `sessiongate cookie decode|sign`: the codec on the command line. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "errors.h"
#include "flask.h"
#include "json.h"
#include "sg_limits.h"
#include "server.h"
#include "signer.h"

/* Exit codes: 0 done, 1 the cookie or session was refused, 2 usage or setup. */
enum { EXIT_REFUSED = 1, EXIT_USAGE = 2 };

#define MAX_SECRETS 64

static void usage(FILE *f)
{
	fputs(
	    "usage: sessiongate cookie decode [options] [--] COOKIE\n"
	    "       sessiongate cookie sign [options] < session.json\n"
	    "\n"
	    "decode verifies a Flask session cookie and prints the session's JSON as Flask\n"
	    "stored it (tags included); sign reads a JSON object (NaN and Infinity allowed)\n"
	    "and prints the cookie Flask would set for it.\n"
	    "\n"
	    "  --secret-file F       the SECRET_KEY, raw bytes, one trailing newline dropped;\n"
	    "                        repeat for fallback keys (decode), oldest last\n"
	    "  --max-age SECONDS     decode: oldest accepted signature (default 2678400, 31 days)\n"
	    "  --now EPOCH           the current time, in seconds (default: the clock)\n"
	    "  --salt S              default cookie-session\n"
	    "  --digest D            sha1 (default), sha224, sha256, sha384 or sha512\n"
	    "  --key-derivation K    hmac (Flask, default) or django-concat (Starlette)\n"
	    "\n"
	    "Exit status: 0 done, 1 cookie or session refused (the reason on stderr),\n"
	    "2 usage error or unreadable secret file.\n",
	    f);
}

/* Whole non-negative decimal within int64_t. */
static int parse_i64(const char *s, int64_t *ret)
{
	if (*s < '0' || *s > '9')
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*ret = v;
	return 0;
}

/* Reads a key file into buf (SG_SECRET_MAX + 1 bytes); prints why it cannot. */
static int read_secret(const char *path, char *buf, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "sessiongate: cannot read secret file %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, SG_SECRET_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sessiongate: cannot read secret file %s: %s\n", path,
				strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SG_SECRET_MAX) {
			fprintf(stderr, "sessiongate: secret file %s is larger than %d bytes\n",
				path, SG_SECRET_MAX);
			close(fd);
			return -1;
		}
	}
	close(fd);
	len = signer_secret_trim(buf, len);
	if (len == 0) {
		fprintf(stderr, "sessiongate: secret file %s is empty\n", path);
		return -1;
	}
	*ret_len = len;
	return 0;
}

/* Builds the signer from the key files, the first being the current key. */
static int load_signer(enum signer_digest digest, enum signer_kdf kdf, const char *salt,
		       const char **files, size_t nfiles, signer **ret)
{
	signer *s = NULL;
	int r = signer_new(digest, kdf, salt, strlen(salt), &s);
	if (r) {
		fprintf(stderr, "sessiongate: %s\n", sg_strerror(r));
		return -1;
	}
	char *buf = malloc(SG_SECRET_MAX + 1);
	if (!buf) {
		signer_free(s);
		fputs("sessiongate: out of memory\n", stderr);
		return -1;
	}
	for (size_t i = 0; i < nfiles; i++) {
		size_t len = 0;
		if (read_secret(files[i], buf, &len) != 0 ||
		    (r = signer_add_key(s, buf, len)) != 0) {
			if (r)
				fprintf(stderr, "sessiongate: secret file %s: %s\n", files[i],
					sg_strerror(r));
			explicit_bzero(buf, SG_SECRET_MAX + 1);
			free(buf);
			signer_free(s);
			return -1;
		}
	}
	explicit_bzero(buf, SG_SECRET_MAX + 1);
	free(buf);
	*ret = s;
	return 0;
}

/* The one stderr line for a refused cookie or session. */
static int refuse(const char *what, int err)
{
	const char *why = sg_strerror(err);
	if (err == SG_EDEPTH)
		why = "too large (nested deeper than 64 levels)";
	fprintf(stderr, "sessiongate: %s: %s\n", what, why);
	return EXIT_REFUSED;
}

static int do_decode(const signer *s, const char *cookie, int64_t now, int64_t max_age)
{
	flask_session *fs = NULL;
	int r = flask_decode(s, NULL, cookie, strlen(cookie), now, max_age, &fs);
	if (r)
		return refuse("cookie refused", r);
	/* Validate as Flask would load it (a JSON object), then print the text
	 * as stored rather than a re-serialisation: nothing is lost. */
	json *obj = NULL;
	r = flask_session_parse(fs, &obj);
	json_free(obj);
	if (r) {
		flask_session_free(fs);
		return refuse("cookie refused", r);
	}
	fwrite(fs->json, 1, fs->json_len, stdout);
	putchar('\n');
	if (fs->key_index > 0)
		fprintf(stderr, "sessiongate: note: verified with fallback key %zu\n",
			fs->key_index);
	flask_session_free(fs);
	return fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
}

static int do_sign(const signer *s, int64_t now)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	if (!buf)
		return refuse("session refused", SG_ENOMEM);
	for (;;) {
		if (len == cap) {
			if (cap > SG_JSON_MAX_INPUT) {
				free(buf);
				return refuse("session refused", SG_ETOOBIG);
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return refuse("session refused", SG_ENOMEM);
			}
			buf = nb;
			cap *= 2;
		}
		size_t n = fread(buf + len, 1, cap - len, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		free(buf);
		fprintf(stderr, "sessiongate: cannot read stdin: %s\n", strerror(errno));
		return EXIT_REFUSED;
	}
	json *obj = NULL;
	int r = json_parse(buf, len, JSON_PARSE_PYTHON, &obj);
	free(buf);
	if (r)
		return refuse("session refused", r);
	if (obj->type != JSON_OBJECT) {
		json_free(obj);
		fputs("sessiongate: session refused: not a JSON object\n", stderr);
		return EXIT_REFUSED;
	}
	char *cookie = NULL;
	size_t clen = 0;
	r = flask_encode(s, NULL, obj, now, &cookie, &clen);
	json_free(obj);
	if (r)
		return refuse("session refused", r);
	if (clen > SG_COOKIE_WARN_LEN)
		fprintf(stderr,
			"sessiongate: warning: the cookie is %zu bytes; browsers drop "
			"cookies longer than %d\n",
			clen, SG_COOKIE_WARN_LEN);
	fwrite(cookie, 1, clen, stdout);
	putchar('\n');
	free(cookie);
	return fflush(stdout) == 0 ? 0 : EXIT_REFUSED;
}

int cmd_cookie(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	const char *verb = argv[1];
	bool decode = strcmp(verb, "decode") == 0;
	if (!decode && strcmp(verb, "sign") != 0) {
		fprintf(stderr, "sessiongate: cookie: unknown command '%s'\n", verb);
		usage(stderr);
		return EXIT_USAGE;
	}

	enum { OPT_SECRET = 1, OPT_MAX_AGE, OPT_NOW, OPT_SALT, OPT_DIGEST, OPT_KDF };
	static const struct option opts[] = {
	    {"secret-file", required_argument, NULL, OPT_SECRET},
	    {"max-age", required_argument, NULL, OPT_MAX_AGE},
	    {"now", required_argument, NULL, OPT_NOW},
	    {"salt", required_argument, NULL, OPT_SALT},
	    {"digest", required_argument, NULL, OPT_DIGEST},
	    {"key-derivation", required_argument, NULL, OPT_KDF},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *files[MAX_SECRETS];
	size_t nfiles = 0;
	int64_t max_age = SG_SESSION_MAX_AGE_DEFAULT, now = server_wall_s();
	const char *salt = SIGNER_SALT_FLASK;
	enum signer_digest digest = SIGNER_SHA1;
	enum signer_kdf kdf = SIGNER_KDF_HMAC;
	bool have_max_age = false;
	int c;
	optind = 1;
	opterr = 1;
	/* argv + 1: getopt starts after the verb */
	while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SECRET:
			if (nfiles == MAX_SECRETS) {
				fprintf(stderr, "sessiongate: at most %d --secret-file\n",
					MAX_SECRETS);
				return EXIT_USAGE;
			}
			files[nfiles++] = optarg;
			break;
		case OPT_MAX_AGE:
			if (parse_i64(optarg, &max_age) != 0) {
				fprintf(stderr,
					"sessiongate: --max-age: not a number of seconds: '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			have_max_age = true;
			break;
		case OPT_NOW:
			if (parse_i64(optarg, &now) != 0) {
				fprintf(stderr, "sessiongate: --now: not an epoch time: '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_SALT: salt = optarg; break;
		case OPT_DIGEST:
			if (signer_digest_parse(optarg, &digest) != 0) {
				fprintf(stderr, "sessiongate: --digest: unknown digest '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_KDF:
			if (signer_kdf_parse(optarg, &kdf) != 0) {
				fprintf(stderr, "sessiongate: --key-derivation: unknown '%s'\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	int nargs = argc - 1 - optind;
	char **args = argv + 1 + optind;
	if (nfiles == 0) {
		fputs("sessiongate: cookie: --secret-file is required\n", stderr);
		return EXIT_USAGE;
	}
	if (decode && nargs != 1) {
		fputs(nargs ? "sessiongate: cookie decode: one COOKIE expected\n"
			    : "sessiongate: cookie decode: COOKIE missing\n",
		      stderr);
		return EXIT_USAGE;
	}
	if (!decode && (nargs != 0 || have_max_age || nfiles > 1)) {
		fputs(
		    "sessiongate: cookie sign: takes one --secret-file and the session on stdin\n",
		    stderr);
		return EXIT_USAGE;
	}

	signer *s = NULL;
	if (load_signer(digest, kdf, salt, files, nfiles, &s) != 0)
		return EXIT_USAGE;
	int rc = decode ? do_decode(s, args[0], now, max_age) : do_sign(s, now);
	signer_free(s);
	return rc;
}
