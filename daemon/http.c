/* daemon/http.c — llhttp glue: heads parsed incrementally into a zero-copy
 * header list, checked strictly (request smuggling), bodies re-framed from
 * llhttp's callbacks so a backend sees exactly what we parsed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bufpool.h"
#include "errors.h"
#include "http.h"

enum { PS_HEAD, PS_BODY, PS_DONE, PS_ERROR };

/* A head's first buffer: a proxied response head plus a re-signed Set-Cookie
 * fits, so it is not copied to a bigger one. 1,024 is also glibc's largest
 * per-thread-cached size (tcache: up to 1,032 bytes); a realloc past it goes
 * to the arena and consolidates its fast bins on every response. */
#define HEAD_INITIAL 1024

static const struct llhttp_settings_s settings;

/* ---- small helpers ---- */

/* RFC 9110 5.6.2 token characters, one look-up per byte of every header
 * name: ALPHA, DIGIT and !#$%&'*+-.^_`|~ */
static const bool tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
	['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
	['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
	['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
	['Y'] = 1, ['Z'] = 1,
	['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
	['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
	['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
	['y'] = 1, ['z'] = 1,
};

static bool is_tchar(unsigned char c)
{
	return tchar[c];
}

/* Word-at-a-time byte classes for the checks that read every byte of a
 * head (hundreds per request, mostly a cookie): a word without any byte of
 * interest is skipped in a few instructions; in one with such bytes the
 * masks say exactly which (no byte is missed, none is marked wrongly). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof(w));
	return w;
}

/* 0x80 in each byte of w below n (n <= 128), exactly: the sum stays within
 * each byte, so no borrow or carry crosses into the next. */
static inline uint64_t below_bytes(uint64_t w, unsigned n)
{
	return ~(((w & ~HIGHS) + ONES * (0x80 - n)) | w) & HIGHS;
}

/* 0x80 in each byte of w that is zero, exactly (no borrow between bytes). */
static inline uint64_t zero_bytes(uint64_t w)
{
	return ~(((w & ~HIGHS) + ~HIGHS) | w | ~HIGHS);
}

/* 0x80 in each byte of w equal to c, exactly. */
static inline uint64_t byte_eq(uint64_t w, unsigned char c)
{
	return zero_bytes(w ^ (ONES * c));
}

/* Index in the loaded word of the first byte that a nonzero mask marks. */
static inline unsigned first_marked(uint64_t mask)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (unsigned)__builtin_ctzll(mask) / 8;
#else
	return (unsigned)__builtin_clzll(mask) / 8;
#endif
}

/* Sixteen bytes at once for the common case of a value without a CTL
 * (GCC/clang vector extensions: SSE2 on x86-64, NEON on arm64). */
typedef unsigned char u8x16 __attribute__((vector_size(16)));

static inline bool ctl_in16(const char *p)
{
	u8x16 v;
	memcpy(&v, p, sizeof(v));
	u8x16 bad = (u8x16)((v < 0x20) | (v == 0x7f));
	uint64_t half[2];
	memcpy(half, &bad, sizeof(half));
	return (half[0] | half[1]) != 0;
}

/* RFC 9110 5.5 field-value: no CTL but HTAB. */
static inline bool ctl_free_byte(unsigned char c)
{
	return (c >= 0x20 || c == '\t') && c != 0x7f;
}

/* A CTL but HTAB among the eight bytes of w. */
static inline bool ctl_in8(uint64_t w)
{
	return ((below_bytes(w, 0x20) | byte_eq(w, 0x7f)) & ~byte_eq(w, '\t')) != 0;
}

/* Sixteen bytes at a time, then words; a value's last block or word is
 * read where it ends, overlapping the one before (a byte read twice is
 * judged the same twice). */
static bool field_value_ok(const char *v, size_t n)
{
	size_t i = 0;
	if (n >= 16) {
		while (i + 16 <= n && !ctl_in16(v + i))
			i += 16;
		if (i + 16 > n && (i == n || !ctl_in16(v + n - 16)))
			return true;
		/* a block with a CTL (an HTAB, mostly): its words decide */
	}
	if (n >= 8) {
		for (; i + 8 <= n; i += 8)
			if (ctl_in8(load64(v + i)))
				return false;
		return i == n || !ctl_in8(load64(v + n - 8));
	}
	for (; i < n; i++)
		if (!ctl_free_byte((unsigned char)v[i]))
			return false;
	return true;
}

static unsigned char fold(unsigned char c, unsigned match)
{
	if (c >= 'A' && c <= 'Z')
		return (unsigned char)(c + 32);
	return c == '_' && (match & HTTP_MATCH_UNDERSCORE) ? '-' : c;
}

/* fold() on eight bytes at once: ASCII upper case lowered (the sums stay
 * within each byte), and '_' made '-' when matching underscores. */
static inline uint64_t fold64(uint64_t w, unsigned match)
{
	uint64_t h = w & ~HIGHS;
	uint64_t upper = (h + ONES * (0x80 - 'A')) & ~(h + ONES * (0x80 - 'Z' - 1)) & ~w & HIGHS;
	w |= upper >> 2;
	if (match & HTTP_MATCH_UNDERSCORE)
		w ^= (zero_bytes(w ^ ONES * '_') >> 7) * ('_' ^ '-');
	return w;
}

bool http_name_eq(const char *a, size_t alen, const char *b, size_t blen, unsigned match)
{
	if (alen != blen)
		return false;
	size_t i = 0;
	for (; i + 8 <= alen; i += 8)
		if (fold64(load64(a + i), match) != fold64(load64(b + i), match))
			return false;
	if (i < alen && alen >= 8) /* the last word again, overlapping */
		return fold64(load64(a + alen - 8), match) == fold64(load64(b + alen - 8), match);
	for (; i < alen; i++)
		if (fold((unsigned char)a[i], match) != fold((unsigned char)b[i], match))
			return false;
	return true;
}

static bool slice_is(const struct http_msg *m, struct http_slice s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && http_name_eq(m->buf + s.off, s.len, lit, n, 0);
}

/* Makes room for n more bytes in m->buf. */
static int msg_reserve(struct http_msg *m, size_t n)
{
	if ((size_t)m->len + n <= m->cap)
		return 0;
	size_t cap = m->cap ? m->cap : HEAD_INITIAL;
	while (cap < (size_t)m->len + n)
		cap *= 2;
	if (cap > UINT32_MAX)
		return SG_ETOOBIG;
	/* the first buffer comes from the thread's pool (daemon/bufpool.c) */
	char *nb = m->buf ? realloc(m->buf, cap) : bufpool_alloc(cap);
	if (!nb)
		return SG_ENOMEM;
	m->buf = nb;
	m->cap = (uint32_t)cap;
	return 0;
}

static struct http_header *msg_push_header(struct http_msg *m)
{
	if (m->nhdrs == m->hcap) {
		unsigned cap = m->hcap ? m->hcap * 2 : 16;
		struct http_header *nh = realloc(m->hdrs, cap * sizeof(*nh));
		if (!nh)
			return NULL;
		m->hdrs = nh;
		m->hcap = cap;
	}
	struct http_header *h = &m->hdrs[m->nhdrs++];
	memset(h, 0, sizeof(*h));
	return h;
}

void http_msg_init(struct http_msg *m)
{
	memset(m, 0, sizeof(*m));
}

void http_msg_clear(struct http_msg *m)
{
	bufpool_free(m->buf);
	free(m->hdrs);
	http_msg_init(m);
}

void http_parser_init(struct http_parser *p, enum http_kind kind, const struct http_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->lim = lim;
	llhttp_init(&p->ll, kind == HTTP_KIND_REQUEST ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
	/* llhttp's lenient flags stay off: that is where smuggling lives. */
	p->ll.data = p;
}

void http_parser_clear(struct http_parser *p)
{
	free(p->trailers);
	p->trailers = NULL;
	p->tlen = p->tcap = 0;
}

void http_parser_next(struct http_parser *p)
{
	const struct http_limits *lim = p->lim;
	enum http_kind kind = p->kind;
	http_parser_clear(p);
	http_parser_init(p, kind, lim);
}

static int fail(struct http_parser *p, int status, const char *why)
{
	if (p->state != PS_ERROR) {
		p->state = PS_ERROR;
		p->error_status = p->kind == HTTP_KIND_RESPONSE ? 502 : status;
		p->error_why = why;
	}
	return HPE_USER;
}

/* ---- llhttp callbacks ---- */

static uint32_t off_of(struct http_parser *p, const char *at)
{
	return (uint32_t)(at - p->msg->buf);
}

static void extend(struct http_parser *p, struct http_slice *s, const char *at, size_t len)
{
	if (s->len == 0)
		s->off = off_of(p, at);
	s->len += (uint32_t)len;
}

static int cb_method(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = ll->data;
	extend(p, &p->msg->method_s, at, len);
	return 0;
}

static int cb_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = ll->data;
	extend(p, &p->msg->target, at, len);
	return 0;
}

static int cb_url_complete(llhttp_t *ll)
{
	((struct http_parser *)ll->data)->url_done = true;
	return 0;
}

static int cb_status(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = ll->data;
	extend(p, &p->msg->reason, at, len);
	return 0;
}

static int trailer_add(struct http_parser *p, const char *at, size_t len)
{
	size_t max = p->lim->max_header_bytes;
	if ((size_t)p->tlen + len + 4 > max)
		return fail(p, 400, "trailer section too large");
	if ((size_t)p->tlen + len + 4 > p->tcap) {
		size_t cap = p->tcap ? p->tcap : 256;
		while (cap < (size_t)p->tlen + len + 4)
			cap *= 2;
		char *nb = realloc(p->trailers, cap);
		if (!nb)
			return fail(p, 500, "out of memory");
		p->trailers = nb;
		p->tcap = (uint32_t)cap;
	}
	memcpy(p->trailers + p->tlen, at, len);
	p->tlen += (uint32_t)len;
	return 0;
}

static int cb_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = ll->data;
	struct http_msg *m = p->msg;
	if (p->state == PS_BODY) {
		if (p->in_value) {
			if (++p->ntrailers > p->lim->max_headers)
				return fail(p, 400, "too many trailer fields");
			p->tfield = p->tlen;
			p->in_value = false;
		}
		return trailer_add(p, at, len);
	}
	if (p->in_value || m->nhdrs == 0) {
		if (m->nhdrs >= p->lim->max_headers)
			return fail(p, 431, "too many header fields");
		struct http_header *h = msg_push_header(m);
		if (!h)
			return fail(p, 500, "out of memory");
		h->name.off = off_of(p, at);
		p->in_value = false;
	}
	m->hdrs[m->nhdrs - 1].name.len += (uint32_t)len;
	return 0;
}

/* Trailer fields never carry framing or routing: those are dropped. */
static const char *const trailer_deny[] = {
	"content-length", "transfer-encoding", "host", "connection", "keep-alive", "te",
	"trailer", "upgrade", "proxy-connection", "expect",
};

/* Checks the trailer field just collected at p->trailers[p->tfield..tlen). */
static int trailer_check(struct http_parser *p)
{
	const char *f = p->trailers + p->tfield;
	size_t n = p->tlen - p->tfield;
	const char *colon = memchr(f, ':', n);
	if (!colon || colon == f)
		return fail(p, 400, "invalid trailer field");
	size_t nlen = (size_t)(colon - f);
	for (size_t k = 0; k < nlen; k++) {
		if (!is_tchar((unsigned char)f[k]) || (f[k] == '_' && !p->lim->allow_underscore))
			return fail(p, 400, "invalid trailer field");
	}
	for (size_t k = nlen + 2; k < n; k++) {
		unsigned char c = (unsigned char)f[k];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(p, 400, "control character in trailer field");
	}
	for (size_t k = 0; k < sizeof(trailer_deny) / sizeof(trailer_deny[0]); k++)
		if (http_name_eq(f, nlen, trailer_deny[k], strlen(trailer_deny[k]), 0))
			p->tlen = p->tfield;
	return 0;
}

static int cb_header_field_complete(llhttp_t *ll)
{
	struct http_parser *p = ll->data;
	if (p->state == PS_BODY)
		return trailer_add(p, ": ", 2);
	struct http_header *h = &p->msg->hdrs[p->msg->nhdrs - 1];
	/* an empty value never calls on_header_value: point it after the name */
	h->value.off = h->name.off + h->name.len;
	h->value.len = 0;
	p->in_value = true;
	return 0;
}

static int cb_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = ll->data;
	if (p->state == PS_BODY)
		return trailer_add(p, at, len);
	struct http_header *h = &p->msg->hdrs[p->msg->nhdrs - 1];
	if (h->value.len == 0)
		h->value.off = off_of(p, at);
	h->value.len += (uint32_t)len;
	return 0;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int cb_header_value_complete(llhttp_t *ll)
{
	struct http_parser *p = ll->data;
	if (p->state == PS_BODY) {
		while (p->tlen > p->tfield && is_ows(p->trailers[p->tlen - 1]))
			p->tlen--;
		p->in_value = true;
		if (trailer_check(p) != 0)
			return HPE_USER;
		if (p->tlen == p->tfield)
			return 0; /* dropped */
		return trailer_add(p, "\r\n", 2);
	}
	struct http_header *h = &p->msg->hdrs[p->msg->nhdrs - 1];
	while (h->value.len > 0 && is_ows(p->msg->buf[h->value.off + h->value.len - 1]))
		h->value.len--;
	p->in_value = true;
	return 0;
}

/* RFC 9112 3.2: origin-form, absolute-form (http/https), nothing else. */
static int parse_target(struct http_parser *p, struct http_msg *m)
{
	const char *t = m->buf + m->target.off;
	size_t n = m->target.len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c <= 0x20 || c == 0x7f || c == '#')
			return fail(p, 400, "invalid request target");
	}
	if (n > 0 && t[0] == '/') {
		if (n > 1 && t[1] == '/')
			return fail(p, 400, "invalid request target");
		m->path = m->target;
		return 0;
	}
	size_t skip = 0;
	if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	if (skip == 0)
		return fail(p, 400, n == 1 && t[0] == '*' ? "asterisk-form not supported"
							  : "invalid request target");
	size_t a = skip;
	while (a < n && t[a] != '/' && t[a] != '?')
		a++;
	if (a == skip || memchr(t + skip, '@', a - skip))
		return fail(p, 400, "invalid request target");
	/* RFC 9112 3.2.2: the authority in an absolute-form target replaces Host */
	m->host.off = m->target.off + (uint32_t)skip;
	m->host.len = (uint32_t)(a - skip);
	m->path.off = m->target.off + (uint32_t)a;
	m->path.len = (uint32_t)(n - a);
	return 0;
}

static bool host_ok(const char *h, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (!(is_tchar(c) || c == ':' || c == '[' || c == ']'))
			return false;
	}
	return true;
}

/* Comma-separated tokens of a Connection value: flags for the ones we act on. */
static unsigned connection_flags(const char *v, size_t n)
{
	unsigned f = 0;
	size_t i = 0;
	while (i < n) {
		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		size_t s = i;
		while (i < n && v[i] != ',' && !is_ows(v[i]))
			i++;
		if (http_name_eq(v + s, i - s, "close", 5, 0))
			f |= HTTP_CONN_CLOSE;
		else if (http_name_eq(v + s, i - s, "keep-alive", 10, 0))
			f |= HTTP_CONN_KEEPALIVE;
		else if (http_name_eq(v + s, i - s, "upgrade", 7, 0))
			f |= HTTP_CONN_UPGRADE;
	}
	return f;
}

/* The raw head: CRLF line endings only, no obs-fold, no NUL. llhttp is
 * lenient about some of these outside its strict build. */
static int check_raw(struct http_parser *p, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* NUL, LF and CR are all below 0x0e: go straight to the next one */
		if (i + 8 <= n) {
			uint64_t m = below_bytes(load64(b + i), 0x0e);
			if (!m) {
				i += 7;
				continue;
			}
			i += first_marked(m);
		}
		char c = b[i];
		if (c == '\0')
			return fail(p, 400, "NUL in message head");
		if (c == '\n' && (i == 0 || b[i - 1] != '\r'))
			return fail(p, 400, "bare LF in message head");
		if (c == '\r' && (i + 1 >= n || b[i + 1] != '\n'))
			return fail(p, 400, "bare CR in message head");
		if (c == '\n' && i + 1 < n && is_ows(b[i + 1]))
			return fail(p, 400, "obsolete line folding");
	}
	return 0;
}

static int check_headers(struct http_parser *p, struct http_msg *m)
{
	unsigned ncl = 0, nte = 0, nhost = 0;
	bool req = p->kind == HTTP_KIND_REQUEST;
	for (unsigned i = 0; i < m->nhdrs; i++) {
		struct http_header *h = &m->hdrs[i];
		const char *nm = m->buf + h->name.off, *v = m->buf + h->value.off;
		if (h->name.len == 0)
			return fail(p, 400, "empty header name");
		for (uint32_t k = 0; k < h->name.len; k++) {
			if (!is_tchar((unsigned char)nm[k]))
				return fail(p, 400, "invalid character in header name");
			/* WSGI servers read X_Foo as X-Foo: a spoofing vector */
			if (nm[k] == '_' && !p->lim->allow_underscore)
				return fail(p, 400, "underscore in header name");
		}
		if (!field_value_ok(v, h->value.len)) {
			/* llhttp keeps a fold inside the value */
			if (memchr(v, '\n', h->value.len) || memchr(v, '\r', h->value.len))
				return fail(p, 400, "obsolete line folding");
			return fail(p, 400, "control character in header value");
		}
		if (slice_is(m, h->name, "content-length")) {
			if (++ncl > 1)
				return fail(p, 400, "duplicate Content-Length");
			if (h->value.len == 0 || h->value.len > 18)
				return fail(p, 400, "invalid Content-Length");
			uint64_t cl = 0;
			for (uint32_t k = 0; k < h->value.len; k++) {
				if (v[k] < '0' || v[k] > '9')
					return fail(p, 400, "invalid Content-Length");
				cl = cl * 10 + (uint64_t)(v[k] - '0');
			}
			m->content_length = cl;
			m->has_cl = true;
		} else if (slice_is(m, h->name, "transfer-encoding")) {
			/* only a lone "chunked": anything else makes the length a
			 * matter of interpretation between us and the backend */
			if (++nte > 1 || !http_name_eq(v, h->value.len, "chunked", 7, 0))
				return fail(p, req ? 400 : 502, "unsupported Transfer-Encoding");
		} else if (req && slice_is(m, h->name, "host")) {
			if (++nhost > 1)
				return fail(p, 400, "duplicate Host");
			if (!host_ok(v, h->value.len) && h->value.len > 0)
				return fail(p, 400, "invalid Host");
			if (m->host.len == 0) /* absolute-form wins */
				m->host = h->value;
		} else if (slice_is(m, h->name, "connection")) {
			m->conn_tokens |= connection_flags(v, h->value.len);
		} else if (req && slice_is(m, h->name, "expect")) {
			if (!http_name_eq(v, h->value.len, "100-continue", 12, 0))
				return fail(p, 417, "unsupported expectation");
			m->expect_continue = true;
		}
	}
	if (ncl && nte)
		return fail(p, 400, "both Content-Length and Transfer-Encoding");
	if (nte && m->minor == 0)
		return fail(p, 400, "Transfer-Encoding in HTTP/1.0");
	m->chunked = nte > 0;
	if (req) {
		if (m->minor >= 1 && nhost == 0)
			return fail(p, 400, "missing Host");
		if (m->host.len > 0 && !host_ok(m->buf + m->host.off, m->host.len))
			return fail(p, 400, "invalid Host");
		if (p->lim->max_body && m->has_cl && m->content_length > p->lim->max_body)
			return fail(p, 413, "request body too large");
		if (m->expect_continue && m->minor == 0)
			m->expect_continue = false; /* RFC 9110 10.1.1: ignore from 1.0 */
	}
	return 0;
}

static int cb_headers_complete(llhttp_t *ll)
{
	struct http_parser *p = ll->data;
	struct http_msg *m = p->msg;
	m->major = ll->http_major;
	m->minor = ll->http_minor;
	m->head_len = 0; /* set by http_head_feed from the pause position */
	if (m->major != 1)
		return fail(p, 505, "HTTP version not supported");
	if (p->kind == HTTP_KIND_REQUEST) {
		m->method = ll->method;
		if (m->method == HTTP_CONNECT || m->method == HTTP_TRACE)
			return fail(p, 405, "method not allowed");
		if (parse_target(p, m) != 0)
			return HPE_USER;
	} else {
		m->status = ll->status_code;
		if (m->status < 100 || m->status > 599)
			return fail(p, 502, "invalid status");
		if (p->skip_body)
			ll->flags |= F_SKIPBODY;
	}
	if (check_headers(p, m) != 0)
		return HPE_USER;
	m->upgrade = ll->upgrade;
	if (p->kind == HTTP_KIND_REQUEST) {
		m->has_body = m->chunked || m->content_length > 0;
	} else {
		bool nobody = p->skip_body || m->status / 100 == 1 || m->status == 204 ||
			      m->status == 304;
		m->has_body = !nobody && (m->chunked || m->content_length > 0 || !m->has_cl);
		m->body_to_eof = m->has_body && !m->chunked && !m->has_cl;
	}
	m->keep_alive = llhttp_should_keep_alive(ll);
	p->state = PS_BODY;
	p->in_value = true; /* the next field callback starts a trailer */
	return HPE_PAUSED;
}

static void out_add(struct http_parser *p, const void *d, size_t n)
{
	if (p->out && n)
		evbuffer_add(p->out, d, n);
}

static char *put_u64(char *p, uint64_t v, unsigned base);

/* A canonical chunk-size line. */
static void out_chunk_size(struct http_parser *p, uint64_t n)
{
	char line[24];
	char *e = put_u64(line, n, 16);
	*e++ = '\r';
	*e++ = '\n';
	out_add(p, line, (size_t)(e - line));
}

static int cb_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = ll->data;
	if (len == 0)
		return 0; /* llhttp flushes empty spans: not an empty chunk */
	p->body_bytes += len;
	if (p->kind == HTTP_KIND_REQUEST && p->lim->max_body && p->body_bytes > p->lim->max_body)
		return fail(p, 413, "request body too large");
	if (p->frame == HTTP_FRAME_CHUNKED && !p->msg->chunked) {
		/* Content-Length or EOF source, chunked out: one chunk per piece */
		out_chunk_size(p, len);
		out_add(p, at, len);
		out_add(p, "\r\n", 2);
	} else if (p->frame != HTTP_FRAME_NONE) {
		out_add(p, at, len);
	}
	return 0;
}

static int cb_chunk_header(llhttp_t *ll)
{
	struct http_parser *p = ll->data;
	/* extensions are dropped: the backend sees a canonical size line */
	if (ll->content_length > 0 && p->frame == HTTP_FRAME_CHUNKED) {
		out_chunk_size(p, ll->content_length);
		p->chunk_open = true;
	}
	return 0;
}

static int cb_chunk_complete(llhttp_t *ll)
{
	struct http_parser *p = ll->data;
	if (p->chunk_open) {
		out_add(p, "\r\n", 2);
		p->chunk_open = false;
	}
	return 0;
}

static int cb_message_complete(llhttp_t *ll)
{
	struct http_parser *p = ll->data;
	if (p->state != PS_BODY)
		return fail(p, 400, "unexpected message end");
	if (p->frame == HTTP_FRAME_CHUNKED) {
		out_add(p, "0\r\n", 3);
		if (p->tlen)
			out_add(p, p->trailers, p->tlen);
		out_add(p, "\r\n", 2);
	}
	p->state = PS_DONE;
	return HPE_PAUSED;
}

static const struct llhttp_settings_s settings = {
	.on_method = cb_method,
	.on_url = cb_url,
	.on_url_complete = cb_url_complete,
	.on_status = cb_status,
	.on_header_field = cb_header_field,
	.on_header_field_complete = cb_header_field_complete,
	.on_header_value = cb_header_value,
	.on_header_value_complete = cb_header_value_complete,
	.on_headers_complete = cb_headers_complete,
	.on_body = cb_body,
	.on_chunk_header = cb_chunk_header,
	.on_chunk_complete = cb_chunk_complete,
	.on_message_complete = cb_message_complete,
};

static void map_llhttp_error(struct http_parser *p, llhttp_errno_t e)
{
	if (p->state == PS_ERROR)
		return;
	const char *why = "malformed request";
	int status = 400;
	switch (e) {
	case HPE_INVALID_METHOD: why = "invalid method"; status = 400; break;
	case HPE_INVALID_VERSION: why = "invalid HTTP version"; break;
	case HPE_INVALID_URL: why = "invalid request target"; break;
	case HPE_INVALID_HEADER_TOKEN: why = "invalid header field"; break;
	case HPE_INVALID_CONTENT_LENGTH: why = "invalid Content-Length"; break;
	case HPE_UNEXPECTED_CONTENT_LENGTH: why = "both Content-Length and Transfer-Encoding"; break;
	case HPE_INVALID_TRANSFER_ENCODING: why = "unsupported Transfer-Encoding"; break;
	case HPE_INVALID_CHUNK_SIZE: why = "invalid chunk size"; break;
	case HPE_UNEXPECTED_SPACE: why = "unexpected whitespace"; break;
	case HPE_LF_EXPECTED:
	case HPE_CR_EXPECTED: why = "invalid line ending"; break;
	case HPE_INVALID_EOF_STATE: why = "unexpected end of message"; break;
	default: break;
	}
	if (p->kind == HTTP_KIND_RESPONSE)
		why = "invalid response from backend";
	fail(p, status, why);
}

int http_head_feed(struct http_parser *p, struct http_msg *m, const char *data, size_t len,
		   size_t *consumed)
{
	if (p->state != PS_HEAD) {
		if (p->state != PS_ERROR)
			fail(p, 500, "parser misuse");
		return HTTP_ERROR;
	}
	size_t max = p->lim->max_header_bytes;
	size_t room = m->len < max ? max - m->len : 0;
	size_t n = len < room ? len : room;
	if (n > 0) {
		if (msg_reserve(m, n) != 0) {
			fail(p, 500, "out of memory");
			return HTTP_ERROR;
		}
		memcpy(m->buf + m->len, data, n);
	}
	const char *start = m->buf ? m->buf + m->len : data;
	uint32_t base = m->len;
	m->len += (uint32_t)n;
	p->msg = m;
	llhttp_errno_t e = llhttp_execute(&p->ll, start, n);
	if (e == HPE_PAUSED && p->state == PS_BODY) {
		size_t used = (size_t)(llhttp_get_error_pos(&p->ll) - start);
		m->head_len = m->len = base + (uint32_t)used;
		llhttp_resume(&p->ll);
		if (check_raw(p, m->buf, m->head_len) != 0)
			return HTTP_ERROR;
		*consumed = used;
		return HTTP_DONE;
	}
	if (e != HPE_OK) {
		map_llhttp_error(p, e);
		return HTTP_ERROR;
	}
	if (m->len >= max) {
		/* head not finished within the limit */
		if (p->kind == HTTP_KIND_REQUEST && !p->url_done)
			fail(p, 414, "request target too long");
		else
			fail(p, 431, "request header fields too large");
		return HTTP_ERROR;
	}
	*consumed = n;
	return HTTP_MORE;
}

int http_body_feed(struct http_parser *p, const char *data, size_t len, size_t *consumed)
{
	if (p->state == PS_DONE) {
		*consumed = 0;
		return HTTP_DONE;
	}
	if (p->state != PS_BODY)
		return HTTP_ERROR;
	static const char empty[1];
	const char *d = data ? data : empty;
	llhttp_errno_t e = llhttp_execute(&p->ll, d, len);
	if (e == HPE_PAUSED && p->state == PS_DONE) {
		*consumed = (size_t)(llhttp_get_error_pos(&p->ll) - d);
		return HTTP_DONE;
	}
	if (e != HPE_OK) {
		map_llhttp_error(p, e);
		return HTTP_ERROR;
	}
	*consumed = len;
	return HTTP_MORE;
}

int http_body_eof(struct http_parser *p)
{
	if (p->state == PS_DONE)
		return HTTP_DONE;
	if (p->state != PS_BODY || !p->msg || !p->msg->body_to_eof) {
		fail(p, 502, "connection closed mid-message");
		return HTTP_ERROR;
	}
	llhttp_errno_t e = llhttp_finish(&p->ll);
	if ((e == HPE_OK || e == HPE_PAUSED) && p->state == PS_DONE)
		return HTTP_DONE;
	if (p->state == PS_BODY) {
		/* llhttp_finish completes it without pausing on some paths */
		cb_message_complete(&p->ll);
		return HTTP_DONE;
	}
	fail(p, 502, "connection closed mid-message");
	return HTTP_ERROR;
}

/* ---- header list ---- */

int http_hdr_next(const struct http_msg *m, int from, const char *name, size_t nlen,
		  unsigned match)
{
	for (unsigned i = from < 0 ? 0 : (unsigned)from; i < m->nhdrs; i++) {
		const struct http_header *h = &m->hdrs[i];
		if (h->flags & HTTP_HDR_DELETED)
			continue;
		if (h->name.len == nlen && /* most names differ in length: no call */
		    http_name_eq(m->buf + h->name.off, h->name.len, name, nlen, match))
			return (int)i;
	}
	return -1;
}

const char *http_hdr_get(const struct http_msg *m, const char *name, size_t nlen, unsigned match,
			 size_t *vlen)
{
	int i = http_hdr_next(m, 0, name, nlen, match);
	if (i < 0)
		return NULL;
	return http_hdr_value(m, (unsigned)i, vlen);
}

void http_hdr_remove_at(struct http_msg *m, unsigned i)
{
	if (i < m->nhdrs)
		m->hdrs[i].flags |= HTTP_HDR_DELETED;
}

unsigned http_hdr_remove(struct http_msg *m, const char *name, size_t nlen, unsigned match)
{
	unsigned n = 0;
	for (int i = 0; (i = http_hdr_next(m, i, name, nlen, match)) >= 0; i++) {
		m->hdrs[i].flags |= HTTP_HDR_DELETED;
		n++;
	}
	return n;
}

int http_hdr_add(struct http_msg *m, const char *name, size_t nlen, const char *value,
		 size_t vlen)
{
	if (nlen == 0)
		return SG_EINVAL;
	for (size_t i = 0; i < nlen; i++)
		if (!is_tchar((unsigned char)name[i]))
			return SG_EINVAL;
	if (!field_value_ok(value, vlen))
		return SG_EINVAL;
	int rc = msg_reserve(m, nlen + vlen);
	if (rc != 0)
		return rc;
	struct http_header *h = msg_push_header(m);
	if (!h)
		return SG_ENOMEM;
	h->name.off = m->len;
	h->name.len = (uint32_t)nlen;
	memcpy(m->buf + m->len, name, nlen);
	m->len += (uint32_t)nlen;
	h->value.off = m->len;
	h->value.len = (uint32_t)vlen;
	if (vlen)
		memcpy(m->buf + m->len, value, vlen);
	m->len += (uint32_t)vlen;
	return 0;
}

/* ---- forwarding ---- */

static const char *const hop_headers[] = {
	"connection", "keep-alive", "proxy-connection", "te", "trailer",
	"transfer-encoding", "content-length", "upgrade", "expect",
};
static const unsigned char hop_len[] = {10, 10, 16, 2, 7, 17, 14, 7, 6};
enum { HOP_UPGRADE = 7 };

void http_strip_hop(struct http_msg *m)
{
	/* every header named in Connection first (RFC 9110 7.6.1) */
	for (int i = 0; (i = http_hdr_next(m, i, "connection", 10, 0)) >= 0; i++) {
		const char *v = m->buf + m->hdrs[i].value.off;
		size_t n = m->hdrs[i].value.len, k = 0;
		while (k < n) {
			while (k < n && (is_ows(v[k]) || v[k] == ','))
				k++;
			size_t s = k;
			while (k < n && v[k] != ',' && !is_ows(v[k]))
				k++;
			if (k == s)
				continue;
			/* "Connection: upgrade" must not take the Upgrade header
			 * of a real upgrade with it */
			if (m->upgrade && http_name_eq(v + s, k - s, "upgrade", 7, 0))
				continue;
			/* Host is end-to-end whatever Connection says */
			if (http_name_eq(v + s, k - s, "host", 4, 0))
				continue;
			for (unsigned j = 0; j < m->nhdrs; j++)
				if (j != (unsigned)i &&
				    http_name_eq(m->buf + m->hdrs[j].name.off, m->hdrs[j].name.len,
						 v + s, k - s, 0))
					m->hdrs[j].flags |= HTTP_HDR_DELETED;
		}
	}
	/* one pass over the headers, not one per hop-by-hop name */
	for (unsigned j = 0; j < m->nhdrs; j++) {
		struct http_header *h = &m->hdrs[j];
		if (h->flags & HTTP_HDR_DELETED)
			continue;
		const char *nm = m->buf + h->name.off;
		for (size_t k = 0; k < sizeof(hop_headers) / sizeof(hop_headers[0]); k++) {
			if (h->name.len != hop_len[k] || !http_name_eq(nm, h->name.len, hop_headers[k],
								      hop_len[k], 0))
				continue;
			if (!(m->upgrade && k == HOP_UPGRADE))
				h->flags |= HTTP_HDR_DELETED;
			break;
		}
	}
	/* absolute-form: the backend gets origin-form and a Host to match */
	if (m->target.len && m->host.len && m->path.off != m->target.off) {
		http_hdr_remove(m, "host", 4, 0);
		struct http_slice h = m->host;
		/* copy first: http_hdr_add may move buf */
		char tmp[256];
		if (h.len < sizeof(tmp)) {
			memcpy(tmp, m->buf + h.off, h.len);
			http_hdr_add(m, "Host", 4, tmp, h.len);
		}
	}
	/* Expect went with the hop-by-hop ones: we answer 100-continue ourselves */
}

int http_set_forwarded(struct http_msg *m, const char *peer_ip, bool trusted, const char *proto)
{
	size_t plen = strlen(peer_ip);
	int rc = 0;
	if (trusted) {
		/* join every incoming X-Forwarded-For, then append the peer */
		size_t total = plen + 1;
		for (int i = 0; (i = http_hdr_next(m, i, "x-forwarded-for", 15, 0)) >= 0; i++)
			total += m->hdrs[i].value.len + 2;
		char *v = malloc(total);
		if (!v)
			return SG_ENOMEM;
		size_t n = 0;
		for (int i = 0; (i = http_hdr_next(m, i, "x-forwarded-for", 15, 0)) >= 0; i++) {
			memcpy(v + n, m->buf + m->hdrs[i].value.off, m->hdrs[i].value.len);
			n += m->hdrs[i].value.len;
			v[n++] = ',';
			v[n++] = ' ';
			m->hdrs[i].flags |= HTTP_HDR_DELETED;
		}
		memcpy(v + n, peer_ip, plen);
		n += plen;
		rc = http_hdr_add(m, "X-Forwarded-For", 15, v, n);
		free(v);
		if (rc == 0 && http_hdr_next(m, 0, "x-forwarded-proto", 17, 0) < 0)
			rc = http_hdr_add(m, "X-Forwarded-Proto", 17, proto, strlen(proto));
		if (rc == 0 && m->host.len && http_hdr_next(m, 0, "x-forwarded-host", 16, 0) < 0) {
			char tmp[256];
			if (m->host.len < sizeof(tmp)) {
				memcpy(tmp, m->buf + m->host.off, m->host.len);
				rc = http_hdr_add(m, "X-Forwarded-Host", 16, tmp, m->host.len);
			}
		}
		return rc;
	}
	for (unsigned j = 0; j < m->nhdrs; j++) {
		struct http_header *h = &m->hdrs[j];
		const char *nm = m->buf + h->name.off;
		size_t n = h->name.len;
		if ((h->flags & HTTP_HDR_DELETED) || (n != 9 && (n < 15 || n > 17)))
			continue;
		if (http_name_eq(nm, n, "x-forwarded-for", 15, HTTP_MATCH_UNDERSCORE) ||
		    http_name_eq(nm, n, "x-forwarded-proto", 17, HTTP_MATCH_UNDERSCORE) ||
		    http_name_eq(nm, n, "x-forwarded-host", 16, HTTP_MATCH_UNDERSCORE) ||
		    http_name_eq(nm, n, "forwarded", 9, 0))
			h->flags |= HTTP_HDR_DELETED;
	}
	rc = http_hdr_add(m, "X-Forwarded-For", 15, peer_ip, plen);
	if (rc == 0)
		rc = http_hdr_add(m, "X-Forwarded-Proto", 17, proto, strlen(proto));
	if (rc == 0 && m->host.len) {
		char tmp[256];
		if (m->host.len < sizeof(tmp)) {
			memcpy(tmp, m->buf + m->host.off, m->host.len);
			rc = http_hdr_add(m, "X-Forwarded-Host", 16, tmp, m->host.len);
		}
	}
	return rc;
}

/* ---- serialisation: each head is built in one reserved extent of the
 * output and committed once (one evbuffer callback run, one iovec for the
 * writev), its size bounded beforehand; numbers are formatted by hand. */

static char *put(char *p, const void *d, size_t n)
{
	memcpy(p, d, n);
	return p + n;
}

static char *put_u64(char *p, uint64_t v, unsigned base)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[20];
	size_t k = 0;
	do {
		tmp[k++] = digits[v % base];
		v /= base;
	} while (v);
	while (k)
		*p++ = tmp[--k];
	return p;
}

/* Room every live header needs ("name: value\r\n"). */
static size_t headers_size(const struct http_msg *m)
{
	size_t n = 0;
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct http_header *h = &m->hdrs[i];
		if (!(h->flags & HTTP_HDR_DELETED))
			n += (size_t)h->name.len + h->value.len + 4;
	}
	return n;
}

static char *put_headers(const struct http_msg *m, char *p, bool skip_host)
{
	for (unsigned i = 0; i < m->nhdrs; i++) {
		const struct http_header *h = &m->hdrs[i];
		if (h->flags & HTTP_HDR_DELETED)
			continue;
		if (skip_host && h->name.len == 4 && slice_is(m, h->name, "host"))
			continue;
		p = put(p, m->buf + h->name.off, h->name.len);
		*p++ = ':';
		*p++ = ' ';
		p = put(p, m->buf + h->value.off, h->value.len);
		*p++ = '\r';
		*p++ = '\n';
	}
	return p;
}

/* The framing and connection lines the writers may add, at most. */
#define HEAD_EXTRA (sizeof("Transfer-Encoding: chunked\r\n") + sizeof("Content-Length: \r\n") + \
		    20 + sizeof("Connection: keep-alive\r\n") + sizeof("\r\n"))

static int head_commit(struct evbuffer *out, struct evbuffer_iovec *v, const char *end)
{
	v->iov_len = (size_t)(end - (const char *)v->iov_base);
	return evbuffer_commit_space(out, v, 1) == 0 ? 0 : SG_ENOMEM;
}

int http_write_request(const struct http_msg *m, const char *target, size_t tlen,
		       const char *host, struct evbuffer *out, enum http_frame *ret_frame)
{
	enum http_frame frame = HTTP_FRAME_NONE;
	size_t hostlen = host ? strlen(host) : 0;
	size_t need = (size_t)m->method_s.len + 1 + tlen + 11 + (host ? 8 + hostlen : 0) +
		      headers_size(m) + HEAD_EXTRA;
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) != 1)
		return SG_ENOMEM;
	char *p = v.iov_base;
	p = put(p, m->buf + m->method_s.off, m->method_s.len);
	*p++ = ' ';
	p = put(p, target, tlen);
	p = put(p, " HTTP/1.1\r\n", 11);
	if (host) {
		p = put(p, "Host: ", 6);
		p = put(p, host, hostlen);
		p = put(p, "\r\n", 2);
	}
	p = put_headers(m, p, host != NULL);
	if (m->chunked) {
		p = put(p, "Transfer-Encoding: chunked\r\n", 28);
		frame = HTTP_FRAME_CHUNKED;
	} else if (m->has_cl) {
		p = put(p, "Content-Length: ", 16);
		p = put_u64(p, m->content_length, 10);
		p = put(p, "\r\n", 2);
		frame = m->content_length ? HTTP_FRAME_LENGTH : HTTP_FRAME_NONE;
	}
	if (m->upgrade)
		p = put(p, "Connection: upgrade\r\n", 21);
	p = put(p, "\r\n", 2);
	if (head_commit(out, &v, p) != 0)
		return SG_ENOMEM;
	*ret_frame = frame;
	return 0;
}

int http_write_response(const struct http_msg *m, unsigned client_minor, bool keep_alive,
			bool head_request, struct evbuffer *out, enum http_frame *ret_frame)
{
	enum http_frame frame = HTTP_FRAME_NONE;
	const char *reason = m->reason.len ? m->buf + m->reason.off : http_status_text(m->status);
	size_t rlen = m->reason.len ? m->reason.len : strlen(reason);
	size_t need = 9 + 20 + 1 + rlen + 2 + headers_size(m) + HEAD_EXTRA;
	struct evbuffer_iovec v;
	if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) != 1)
		return SG_ENOMEM;
	char *p = v.iov_base;
	p = put(p, "HTTP/1.1 ", 9);
	p = put_u64(p, (uint64_t)m->status, 10);
	*p++ = ' ';
	p = put(p, reason, rlen);
	p = put(p, "\r\n", 2);
	p = put_headers(m, p, false);
	bool cl = false;
	if (m->has_body) {
		if (m->chunked || m->body_to_eof) {
			if (client_minor >= 1) {
				p = put(p, "Transfer-Encoding: chunked\r\n", 28);
				frame = HTTP_FRAME_CHUNKED;
			} else {
				frame = HTTP_FRAME_EOF;
				keep_alive = false;
			}
		} else {
			cl = true;
			frame = HTTP_FRAME_LENGTH;
		}
	} else if (m->has_cl && (head_request || m->status == 304 ||
				 (m->status >= 200 && m->status != 204))) {
		cl = true;
	}
	if (cl) {
		p = put(p, "Content-Length: ", 16);
		p = put_u64(p, m->content_length, 10);
		p = put(p, "\r\n", 2);
	}
	if (m->status == 101 && m->upgrade)
		p = put(p, "Connection: upgrade\r\n", 21);
	else if (!keep_alive)
		p = put(p, "Connection: close\r\n", 19);
	else if (client_minor == 0)
		p = put(p, "Connection: keep-alive\r\n", 24);
	p = put(p, "\r\n", 2);
	if (head_commit(out, &v, p) != 0)
		return SG_ENOMEM;
	*ret_frame = frame;
	return 0;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

int http_write_error(struct evbuffer *out, int status, const char *why, bool keep_alive)
{
	size_t wlen = strlen(why);
	int rc = evbuffer_add_printf(out,
				     "HTTP/1.1 %d %s\r\n"
				     "Content-Type: text/plain; charset=utf-8\r\n"
				     "Content-Length: %zu\r\n"
				     "Cache-Control: no-store\r\n"
				     "%s\r\n"
				     "%s\n",
				     status, http_status_text(status), wlen + 1,
				     keep_alive ? "" : "Connection: close\r\n", why);
	return rc < 0 ? SG_ENOMEM : 0;
}
