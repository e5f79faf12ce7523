/* daemon/http.h — HTTP/1.x messages: incremental llhttp parsing into a
 * zero-copy header list, strictness checks, hop-by-hop and X-Forwarded-*
 * handling, body re-framing and serialisation of the forwarded head.
 * No sockets here (only evbuffers as output), so it is unit-tested and fuzzed. */
#ifndef SG_HTTP_H
#define SG_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <llhttp.h>

/* Return values of http_head_feed / http_body_feed. */
enum { HTTP_ERROR = -1, HTTP_MORE = 0, HTTP_DONE = 1 };

enum http_kind { HTTP_KIND_REQUEST, HTTP_KIND_RESPONSE };

/* How a forwarded body is framed on the way out. */
enum http_frame {
	HTTP_FRAME_NONE,    /* no body */
	HTTP_FRAME_LENGTH,  /* Content-Length: bytes copied as they come */
	HTTP_FRAME_CHUNKED, /* re-chunked from llhttp's callbacks */
	HTTP_FRAME_EOF,     /* until the connection closes (HTTP/1.0 peers) */
};

struct http_limits {
	size_t max_header_bytes;     /* the whole head, start line included */
	unsigned max_headers;
	unsigned long long max_body; /* requests only; 0 = unlimited */
	bool allow_underscore;       /* header names with '_' (refused by default) */
};

/* A byte range of http_msg.buf: offsets stay valid when buf grows. */
struct http_slice {
	uint32_t off, len;
};

#define HTTP_HDR_DELETED 0x1u

struct http_header {
	struct http_slice name, value;
	unsigned flags;
};

/* Connection header tokens we act on. */
#define HTTP_CONN_CLOSE     0x1u
#define HTTP_CONN_KEEPALIVE 0x2u
#define HTTP_CONN_UPGRADE   0x4u

/* One message head. buf holds the raw head exactly as received, then the
 * bytes of headers added later; nothing is copied per header. */
struct http_msg {
	char *buf;
	uint32_t len, cap, head_len;
	struct http_header *hdrs;
	unsigned nhdrs, hcap;

	int method;   /* enum llhttp_method (requests) */
	int status;   /* responses */
	unsigned char major, minor;
	struct http_slice method_s, target, reason;
	struct http_slice host; /* request: authority (Host, or from absolute-form) */
	struct http_slice path; /* request: origin-form path + query */

	bool keep_alive;   /* llhttp_should_keep_alive at head end */
	bool upgrade;      /* request asks to upgrade / response is 101 with Upgrade */
	bool chunked;      /* body framed by Transfer-Encoding: chunked */
	bool has_cl;       /* body framed by Content-Length */
	bool has_body;     /* a body follows the head */
	bool body_to_eof;  /* response body delimited by connection close */
	bool expect_continue;
	unsigned conn_tokens;
	uint64_t content_length;
};

/* Incremental parser for one direction of one connection: a request or a
 * response head, then its body. Embedded in the connection (no allocation). */
struct http_parser {
	llhttp_t ll;
	enum http_kind kind;
	const struct http_limits *lim;
	struct http_msg *msg;
	int state;          /* internal */
	int error_status;   /* HTTP status to answer with after HTTP_ERROR */
	const char *error_why; /* short reason for the log and the error body */
	bool in_value;      /* last header callback was a value */
	bool url_done;
	bool skip_body;     /* response to HEAD: no body whatever the headers say */

	/* Body: where re-framed bytes go (NULL = discard) and how. */
	struct evbuffer *out;
	enum http_frame frame;
	bool chunk_open;
	uint64_t body_bytes; /* payload bytes seen */
	/* Chunked trailers, re-serialised ("name: value\r\n"...), bounded. */
	char *trailers;
	uint32_t tlen, tcap, tfield;
	unsigned ntrailers;
};

void http_msg_init(struct http_msg *m);
/* Frees the head buffer and header list; the struct can be reused after init. */
void http_msg_clear(struct http_msg *m);

void http_parser_init(struct http_parser *p, enum http_kind kind, const struct http_limits *lim);
/* Frees what the parser owns (trailer buffer); p may be reused after init. */
void http_parser_clear(struct http_parser *p);

/* Feeds the next bytes of a message head. Copies what it consumes into
 * m->buf. Returns HTTP_MORE (all len bytes consumed, head incomplete),
 * HTTP_DONE (head complete and valid; *consumed = bytes that belonged to the
 * head, the rest is body or the next message) or HTTP_ERROR (p->error_status:
 * 400/405/414/431/505 for requests, 502 for responses). For responses, set
 * p->skip_body before the first byte when answering HEAD. */
int http_head_feed(struct http_parser *p, struct http_msg *m, const char *data, size_t len,
		   size_t *consumed);

/* Feeds body bytes after HTTP_DONE from http_head_feed. The payload is
 * re-framed into p->out according to p->frame. Returns HTTP_MORE (all
 * consumed), HTTP_DONE (message complete; *consumed bytes used, the rest
 * belongs to the next message) or HTTP_ERROR (400/413 or 502). */
int http_body_feed(struct http_parser *p, const char *data, size_t len, size_t *consumed);
/* The peer closed: completes an EOF-delimited body (HTTP_DONE) or fails (HTTP_ERROR). */
int http_body_eof(struct http_parser *p);
/* Starts the next message on the same connection (keep-alive). */
void http_parser_next(struct http_parser *p);

/* --- Header list API (what the session pipeline uses) --- */

/* Name matching: exact bytes case-insensitively, or also treating '_' and
 * '-' alike (so client-sent "X_Session" is caught like "X-Session"). */
#define HTTP_MATCH_UNDERSCORE 0x1u

/* Index of the next live header named name at or after index from, or -1. */
int http_hdr_next(const struct http_msg *m, int from, const char *name, size_t nlen,
		  unsigned match);
/* First live value of name (not NUL-terminated) or NULL; *vlen its length. */
const char *http_hdr_get(const struct http_msg *m, const char *name, size_t nlen, unsigned match,
			 size_t *vlen);
/* Removes every header named name; returns how many. */
unsigned http_hdr_remove(struct http_msg *m, const char *name, size_t nlen, unsigned match);
/* Removes header i. */
void http_hdr_remove_at(struct http_msg *m, unsigned i);
/* Appends a header. Returns 0, SG_EINVAL (name not a token, value with
 * CR/LF/NUL/CTL) or SG_ENOMEM. */
int http_hdr_add(struct http_msg *m, const char *name, size_t nlen, const char *value,
		 size_t vlen);
static inline const char *http_hdr_name(const struct http_msg *m, unsigned i, size_t *len)
{
	*len = m->hdrs[i].name.len;
	return m->buf + m->hdrs[i].name.off;
}
static inline const char *http_hdr_value(const struct http_msg *m, unsigned i, size_t *len)
{
	*len = m->hdrs[i].value.len;
	return m->buf + m->hdrs[i].value.off;
}
static inline const char *http_slice_ptr(const struct http_msg *m, struct http_slice s)
{
	return m->buf + s.off;
}
bool http_name_eq(const char *a, size_t alen, const char *b, size_t blen, unsigned match);

/* --- Forwarding --- */

/* Removes hop-by-hop headers (RFC 9110 7.6.1): Connection and every header it
 * names, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
 * Upgrade (kept when m->upgrade) and Content-Length (the writers re-add the
 * framing). Call once, before the pipeline adds its own headers. */
void http_strip_hop(struct http_msg *m);

/* X-Forwarded-For/-Proto/-Host: from a trusted peer the incoming values are
 * kept and the peer appended to X-Forwarded-For; otherwise replaced. */
int http_set_forwarded(struct http_msg *m, const char *peer_ip, bool trusted, const char *proto);

/* Writes the request head for the backend (always HTTP/1.1) with target
 * (path as the backend sees it) and returns the body framing to use.
 * host, when not NULL, replaces the Host header. */
int http_write_request(const struct http_msg *m, const char *target, size_t tlen,
		       const char *host, struct evbuffer *out, enum http_frame *ret_frame);
/* Writes the response head for a client speaking HTTP/1.client_minor, with
 * Connection handling per keep_alive; returns the body framing to use. */
int http_write_response(const struct http_msg *m, unsigned client_minor, bool keep_alive,
			bool head_request, struct evbuffer *out, enum http_frame *ret_frame);

/* A complete short error response ("text/plain" body why + "\n"). */
int http_write_error(struct evbuffer *out, int status, const char *why, bool keep_alive);
const char *http_status_text(int status);

#endif
