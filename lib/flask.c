/* lib/flask.c — the Flask session cookie codec (itsdangerous URLSafeTimedSerializer). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "b64.h"
#include "deflate6.h"
#include "errors.h"
#include "flask.h"
#include "sg_limits.h"

struct flask_scratch {
	z_stream inf, def;
	bool inf_ok, def_ok; /* initialised */
	deflate6 *d6;        /* small inputs: zlib's bytes without its 256 KiB state */
	unsigned char *buf;  /* inflate or deflate output */
	size_t cap;
	char *text; /* flask_encode's JSON text, kept for the next call */
	size_t text_cap;
};

int flask_scratch_new(flask_scratch **ret)
{
	flask_scratch *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return SG_ENOMEM;
	*ret = sc;
	return 0;
}

void flask_scratch_free(flask_scratch *sc)
{
	if (!sc)
		return;
	if (sc->inf_ok)
		inflateEnd(&sc->inf);
	if (sc->def_ok)
		deflateEnd(&sc->def);
	deflate6_free(sc->d6);
	free(sc->buf);
	free(sc->text);
	free(sc);
}

/* Grows *buf to hold at least need bytes. */
static int grow(unsigned char **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return 0;
	unsigned char *nb = realloc(*buf, need);
	if (!nb)
		return SG_ENOMEM;
	*buf = nb;
	*cap = need;
	return 0;
}

/* Inflates src into *buf (grown as needed), at most SG_INFLATE_MAX bytes.
 * The stream must end exactly where src does. */
static int inflate_capped(z_stream *z, const unsigned char *src, size_t n, unsigned char **buf,
			  size_t *cap, size_t *ret_len)
{
	/* Sessions compress about 3-10x; start there and double. One byte over
	 * the cap tells "exactly at the cap" from "beyond it". */
	size_t want = n * 8 < 4096 ? 4096 : n * 8;
	if (want > SG_INFLATE_MAX + 1)
		want = SG_INFLATE_MAX + 1;
	if (*cap < want && grow(buf, cap, want))
		return SG_ENOMEM;
	size_t lim = *cap > SG_INFLATE_MAX + 1 ? SG_INFLATE_MAX + 1 : *cap;
	z->next_in = (unsigned char *)src;
	z->avail_in = (uInt)n;
	for (;;) {
		z->next_out = *buf + z->total_out;
		z->avail_out = (uInt)(lim - z->total_out);
		int r = inflate(z, Z_FINISH);
		if (z->total_out > SG_INFLATE_MAX)
			return SG_ETOOBIG;
		if (r == Z_STREAM_END)
			break;
		if (r == Z_MEM_ERROR)
			return SG_ENOMEM;
		if ((r != Z_OK && r != Z_BUF_ERROR) || z->avail_out != 0)
			return SG_EMALFORMED; /* corrupt, a preset dictionary, or truncated */
		size_t ncap = lim * 2 > SG_INFLATE_MAX + 1 ? SG_INFLATE_MAX + 1 : lim * 2;
		if (grow(buf, cap, ncap))
			return SG_ENOMEM;
		lim = ncap;
	}
	if (z->avail_in != 0)
		return SG_EMALFORMED; /* bytes after the zlib stream: Flask never writes them */
	*ret_len = z->total_out;
	return 0;
}

/* Inflates with the scratch's state and buffer, or with fresh ones. On
 * success *ret points into *tmp or the scratch buffer. */
static int inflate_payload(flask_scratch *sc, const unsigned char *src, size_t n,
			   unsigned char **tmp, const unsigned char **ret, size_t *ret_len)
{
	if (sc) {
		if (!sc->inf_ok) {
			if (inflateInit(&sc->inf) != Z_OK)
				return SG_ENOMEM;
			sc->inf_ok = true;
		} else if (inflateReset(&sc->inf) != Z_OK) {
			return SG_ENOMEM;
		}
		int r = inflate_capped(&sc->inf, src, n, &sc->buf, &sc->cap, ret_len);
		*ret = sc->buf;
		return r;
	}
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (inflateInit(&z) != Z_OK)
		return SG_ENOMEM;
	size_t cap = 0;
	int r = inflate_capped(&z, src, n, tmp, &cap, ret_len);
	inflateEnd(&z);
	*ret = *tmp;
	return r;
}

int flask_decode(const signer *s, flask_scratch *sc, const char *cookie, size_t len, int64_t now,
		 int64_t max_age, flask_session **ret)
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

	/* One allocation holds the struct, the cookie copy and the JSON text. */
	flask_session *fs;
	char *text;
	size_t text_len = 0;
	if (!compressed) {
		size_t dmax = b64url_decoded_max(plen);
		fs = malloc(sizeof(*fs) + len + 1 + dmax + 1);
		if (!fs)
			return SG_ENOMEM;
		text = (char *)(fs + 1) + len + 1;
		r = b64url_decode(p, plen, text, dmax, &text_len);
		if (r) {
			free(fs);
			return SG_EMALFORMED;
		}
	} else {
		/* a cookie of at most SG_COOKIE_MAX bytes fits on the stack */
		unsigned char raw[SG_COOKIE_MAX / 4 * 3 + 3];
		size_t raw_len = 0;
		if (b64url_decode(p, plen, raw, sizeof(raw), &raw_len) != 0)
			return SG_EMALFORMED;
		unsigned char *tmp = NULL;
		const unsigned char *out = NULL;
		r = inflate_payload(sc, raw, raw_len, &tmp, &out, &text_len);
		fs = r ? NULL : malloc(sizeof(*fs) + len + 1 + text_len + 1);
		if (fs) {
			text = (char *)(fs + 1) + len + 1;
			memcpy(text, out, text_len);
		}
		free(tmp);
		if (r)
			return r;
		if (!fs)
			return SG_ENOMEM;
	}
	char *ccopy = (char *)(fs + 1);
	memcpy(ccopy, cookie, len);
	ccopy[len] = '\0';
	text[text_len] = '\0';
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
	free(fs); /* one block */
}

size_t flask_session_size(const flask_session *fs)
{
	return sizeof(*fs) + fs->cookie_len + 1 + fs->json_len + 1;
}

int flask_session_dup(const flask_session *fs, flask_session **ret)
{
	flask_session *d = malloc(flask_session_size(fs));
	if (!d)
		return SG_ENOMEM;
	*d = *fs;
	char *c = (char *)(d + 1), *j = c + fs->cookie_len + 1;
	memcpy(c, fs->cookie, fs->cookie_len + 1); /* both are NUL-terminated */
	memcpy(j, fs->json, fs->json_len + 1);
	d->cookie = c;
	d->json = j;
	*ret = d;
	return 0;
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

/* zlib.compress(text) as Python does it (level -1 = 6, the system zlib): with
 * deflate6 for session-sized text (same bytes, proven against zlib by
 * tests/unit/test_deflate6.c and fuzz_deflate6), else the scratch's deflate
 * state reset, or compress2's fresh one without a scratch. */
static int deflate_text(flask_scratch *sc, const char *text, size_t len, unsigned char **tmp,
			const unsigned char **ret, size_t *ret_len)
{
	uLong bound = compressBound((uLong)len);
	if (!sc) {
		uLongf clen = bound;
		if (!(*tmp = malloc(bound)))
			return SG_ENOMEM;
		if (compress2(*tmp, &clen, (const unsigned char *)text, (uLong)len,
			      Z_DEFAULT_COMPRESSION) != Z_OK)
			return SG_ENOMEM;
		*ret = *tmp;
		*ret_len = clen;
		return 0;
	}
	if (grow(&sc->buf, &sc->cap, bound))
		return SG_ENOMEM;
	if (len <= DEFLATE6_MAX) {
		if (!sc->d6 && deflate6_new(&sc->d6))
			return SG_ENOMEM;
		/* zlib's bytes fit zlib's bound */
		int r = deflate6_compress(sc->d6, text, len, sc->buf, bound, ret_len);
		if (r == 0)
			*ret = sc->buf;
		return r;
	}
	if (!sc->def_ok) {
		if (deflateInit(&sc->def, Z_DEFAULT_COMPRESSION) != Z_OK)
			return SG_ENOMEM;
		sc->def_ok = true;
	} else if (deflateReset(&sc->def) != Z_OK) {
		return SG_ENOMEM;
	}
	sc->def.next_in = (unsigned char *)text;
	sc->def.avail_in = (uInt)len;
	sc->def.next_out = sc->buf;
	sc->def.avail_out = (uInt)bound;
	if (deflate(&sc->def, Z_FINISH) != Z_STREAM_END)
		return SG_ENOMEM;
	*ret = sc->buf;
	*ret_len = sc->def.total_out;
	return 0;
}

int flask_encode_text(const signer *s, flask_scratch *sc, const char *text, size_t len, int64_t now,
		      char **ret, size_t *ret_len)
{
	if (len == 0)
		return SG_EINVAL; /* an empty payload: flask_decode refuses it */
	if (len > SG_INFLATE_MAX)
		return SG_ETOOBIG;
	/* itsdangerous keeps the compressed form iff len(compressed) < len(json) - 1 */
	unsigned char *tmp = NULL;
	const unsigned char *z = NULL;
	size_t zlen = 0;
	int r = deflate_text(sc, text, len, &tmp, &z, &zlen);
	if (r) {
		free(tmp);
		return r;
	}
	bool use_z = zlen + 1 < len;
	const void *src = use_z ? (const void *)z : (const void *)text;
	size_t n = use_z ? zlen : len;
	size_t plen = (use_z ? 1 : 0) + b64url_encoded_len(n);
	size_t cap = plen + SIGNER_TIMED_SUFFIX_MAX + 1;
	char *out = malloc(cap);
	if (!out) {
		free(tmp);
		return SG_ENOMEM;
	}
	if (use_z)
		out[0] = '.';
	b64url_encode(src, n, out + (use_z ? 1 : 0));
	free(tmp);
	size_t olen = 0;
	r = signer_sign_timed(s, now, out, plen, cap - 1, &olen);
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

int flask_encode(const signer *s, flask_scratch *sc, const json *session, int64_t now, char **ret,
		 size_t *ret_len)
{
	if (!session || session->type != JSON_OBJECT)
		return SG_EINVAL;
	/* into the scratch's buffer when there is one: no allocation once it
	 * is big enough */
	char *own = NULL;
	size_t own_cap = 0, len = 0;
	char **text = sc ? &sc->text : &own;
	size_t *cap = sc ? &sc->text_cap : &own_cap;
	int r = json_dump_append(session, JSON_DUMP_SORT_KEYS | JSON_DUMP_ASCII, text, &len, cap);
	if (r == 0)
		r = flask_encode_text(s, sc, *text, len, now, ret, ret_len);
	free(own);
	return r;
}

int flask_resign(const signer *s, const flask_session *fs, int64_t now, char **ret, size_t *ret_len)
{
	/* the payload is what precedes ".timestamp.signature" */
	const char *c = fs->cookie;
	const char *sig = memrchr(c, '.', fs->cookie_len);
	const char *ts = sig ? memrchr(c, '.', (size_t)(sig - c)) : NULL;
	if (!ts)
		return SG_EINVAL; /* not from flask_decode */
	size_t plen = (size_t)(ts - c);
	size_t cap = plen + SIGNER_TIMED_SUFFIX_MAX + 1;
	char *out = malloc(cap);
	if (!out)
		return SG_ENOMEM;
	memcpy(out, c, plen);
	size_t olen = 0;
	int r = signer_sign_timed(s, now, out, plen, cap - 1, &olen);
	if (r) {
		free(out);
		return r;
	}
	out[olen] = '\0';
	*ret = out;
	*ret_len = olen;
	return 0;
}
