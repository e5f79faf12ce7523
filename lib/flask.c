/* lib/flask.c — the Flask session cookie codec (itsdangerous URLSafeTimedSerializer). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "b64.h"
#include "errors.h"
#include "flask.h"
#include "limits.h"

/* Inflates src into a malloc'd, NUL-terminated buffer of at most
 * SG_INFLATE_MAX bytes. The stream must end exactly where src does. */
static int inflate_capped(const unsigned char *src, size_t n, char **ret, size_t *ret_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return SG_ENOMEM;
	/* Sessions compress about 3-10x; start there and double. One byte over
	 * the cap tells "exactly at the cap" from "beyond it". */
	size_t cap = n * 8 < 4096 ? 4096 : n * 8;
	if (cap > SG_INFLATE_MAX + 1)
		cap = SG_INFLATE_MAX + 1;
	char *buf = malloc(cap + 1);
	int err = SG_ENOMEM;
	if (!buf)
		goto out;
	z.next_in = (unsigned char *)src;
	z.avail_in = (uInt)n;
	for (;;) {
		z.next_out = (unsigned char *)buf + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		int r = inflate(&z, Z_FINISH);
		if (z.total_out > SG_INFLATE_MAX) {
			err = SG_ETOOBIG;
			goto out;
		}
		if (r == Z_STREAM_END)
			break;
		if (r == Z_MEM_ERROR)
			goto out;
		if ((r != Z_OK && r != Z_BUF_ERROR) || z.avail_out != 0) {
			/* corrupt data, a preset dictionary, or input ran out */
			err = SG_EMALFORMED;
			goto out;
		}
		size_t ncap = cap * 2 > SG_INFLATE_MAX + 1 ? SG_INFLATE_MAX + 1 : cap * 2;
		char *nb = realloc(buf, ncap + 1);
		if (!nb)
			goto out;
		buf = nb;
		cap = ncap;
	}
	if (z.avail_in != 0) {
		err = SG_EMALFORMED; /* bytes after the zlib stream: Flask never writes them */
		goto out;
	}
	buf[z.total_out] = '\0';
	*ret = buf;
	*ret_len = z.total_out;
	buf = NULL;
	err = 0;
out:
	free(buf);
	inflateEnd(&z);
	return err;
}

int flask_decode(const signer *s, const char *cookie, size_t len, int64_t now, int64_t max_age,
		 flask_session **ret)
{
	if (len > SG_COOKIE_MAX)
		return SG_ETOOBIG;
	struct signer_result sr;
	int r = signer_unsign_timed(s, cookie, len, now, max_age, &sr);
	if (r)
		return r;
	const char *p = cookie;
	size_t plen = sr.value_len;
	bool compressed = plen > 0 && p[0] == '.';
	if (compressed)
		p++, plen--;
	if (plen == 0)
		return SG_EMALFORMED;

	/* One allocation for the struct, the cookie copy and, when the payload
	 * is not compressed, the JSON text. */
	size_t dmax = b64url_decoded_max(plen);
	size_t size = sizeof(flask_session) + len + 1 + (compressed ? 0 : dmax + 1);
	flask_session *fs = malloc(size);
	if (!fs)
		return SG_ENOMEM;
	char *ccopy = (char *)(fs + 1);
	memcpy(ccopy, cookie, len);
	ccopy[len] = '\0';

	char *text = NULL;
	size_t text_len = 0;
	if (!compressed) {
		text = ccopy + len + 1;
		r = b64url_decode(p, plen, text, dmax, &text_len);
		if (r == 0)
			text[text_len] = '\0';
	} else {
		/* a cookie of at most SG_COOKIE_MAX bytes fits on the stack */
		unsigned char raw[SG_COOKIE_MAX / 4 * 3 + 3];
		size_t raw_len = 0;
		r = b64url_decode(p, plen, raw, sizeof(raw), &raw_len);
		if (r == 0)
			r = inflate_capped(raw, raw_len, &text, &text_len);
	}
	if (r) {
		free(fs);
		return r == SG_ETOOBIG || r == SG_ENOMEM ? r : SG_EMALFORMED;
	}
	fs->cookie = ccopy;
	fs->cookie_len = len;
	fs->json = text;
	fs->json_len = text_len;
	fs->ts = sr.ts;
	fs->key_index = sr.key_index;
	fs->compressed = compressed;
	*ret = fs;
	return 0;
}

void flask_session_free(flask_session *fs)
{
	if (!fs)
		return;
	if (fs->compressed)
		free((char *)fs->json); /* inflated into its own buffer */
	free(fs);
}

int flask_session_parse(const flask_session *fs, json **ret)
{
	json *v = NULL;
	int r = json_parse(fs->json, fs->json_len, JSON_PARSE_PYTHON, &v);
	if (r)
		return r;
	if (v->type != JSON_OBJECT) {
		json_free(v);
		return SG_EMALFORMED;
	}
	*ret = v;
	return 0;
}

int flask_encode_text(const signer *s, const char *text, size_t len, int64_t now, char **ret,
		      size_t *ret_len)
{
	if (len > SG_INFLATE_MAX)
		return SG_ETOOBIG;
	/* itsdangerous compresses with zlib.compress (level -1, the system
	 * zlib, as compress2 here) and keeps the result iff
	 * len(compressed) < len(json) - 1. */
	uLongf clen = compressBound((uLong)len);
	unsigned char *z = malloc(clen);
	if (!z)
		return SG_ENOMEM;
	if (compress2(z, &clen, (const unsigned char *)text, (uLong)len, Z_DEFAULT_COMPRESSION) !=
	    Z_OK) {
		free(z);
		return SG_ENOMEM;
	}
	bool use_z = (size_t)clen + 1 < len;
	const void *src = use_z ? (const void *)z : (const void *)text;
	size_t n = use_z ? (size_t)clen : len;
	size_t plen = (use_z ? 1 : 0) + b64url_encoded_len(n);
	size_t cap = plen + SIGNER_TIMED_SUFFIX_MAX + 1;
	char *out = malloc(cap);
	if (!out) {
		free(z);
		return SG_ENOMEM;
	}
	if (use_z)
		out[0] = '.';
	b64url_encode(src, n, out + (use_z ? 1 : 0));
	free(z);
	size_t olen = 0;
	int r = signer_sign_timed(s, now, out, plen, cap - 1, &olen);
	if (r == 0 && olen > SG_COOKIE_MAX)
		r = SG_ETOOBIG;
	if (r) {
		free(out);
		return r;
	}
	out[olen] = '\0';
	*ret = out;
	*ret_len = olen;
	return 0;
}

int flask_encode(const signer *s, const json *session, int64_t now, char **ret, size_t *ret_len)
{
	if (!session || session->type != JSON_OBJECT)
		return SG_EINVAL;
	char *text = NULL;
	size_t len = 0;
	int r = json_dump(session, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, &text, &len);
	if (r)
		return r;
	r = flask_encode_text(s, text, len, now, ret, ret_len);
	free(text);
	return r;
}
