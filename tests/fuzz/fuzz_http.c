/* tests/fuzz/fuzz_http.c — the daemon's head parsing, validation,
 * hop-by-hop/forwarding rewrite, serialisation and body re-framing, fed as
 * conn.c feeds them: first byte picks request/response and the split size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static const struct http_limits lim = {8192, 50, 1 << 20, false};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool response = data[0] & 1;
	size_t step = 1 + (data[0] >> 1) * 37; /* 1..4719: exercise split spans */
	data++;
	size--;
	struct http_parser p;
	struct http_msg m;
	http_parser_init(&p, response ? HTTP_KIND_RESPONSE : HTTP_KIND_REQUEST, &lim);
	http_msg_init(&m);
	p.skip_body = response && (size & 1);
	size_t off = 0;
	int rc = HTTP_MORE;
	while (rc == HTTP_MORE && off < size) {
		size_t n = size - off < step ? size - off : step, used = 0;
		rc = http_head_feed(&p, &m, (const char *)data + off, n, &used);
		if (used > n)
			abort();
		off += used;
	}
	struct evbuffer *out = evbuffer_new();
	if (rc == HTTP_DONE) {
		if (m.head_len > lim.max_header_bytes || m.nhdrs > lim.max_headers)
			abort();
		http_strip_hop(&m);
		enum http_frame frame;
		if (response) {
			http_write_response(&m, m.minor, m.keep_alive, p.skip_body, out, &frame);
		} else {
			http_set_forwarded(&m, "192.0.2.1", size & 2, "http");
			http_hdr_add(&m, "X-Session", 9, "{}", 2);
			http_write_request(&m, "/", 1, NULL, out, &frame);
		}
		p.out = out;
		p.frame = frame;
		while (rc != HTTP_ERROR && off < size) {
			size_t n = size - off < step ? size - off : step, used = 0;
			rc = http_body_feed(&p, (const char *)data + off, n, &used);
			if (used > n)
				abort();
			off += used;
			if (rc == HTTP_DONE)
				break;
		}
		if (rc == HTTP_MORE && response)
			http_body_eof(&p);
	} else if (rc == HTTP_ERROR && (p.error_status < 400 || p.error_status > 599)) {
		abort(); /* every refusal maps to an HTTP error status */
	}
	evbuffer_free(out);
	http_parser_clear(&p);
	http_msg_clear(&m);
	return 0;
}
