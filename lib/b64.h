/* lib/b64.h — base64 (RFC 4648): the URL-safe unpadded form itsdangerous signs
 * with, and the standard padded form of Flask's bytes tag and Starlette.
 *
 * All functions work on caller-provided buffers (no allocation on the hot
 * path); size the output with the *_len / *_max helpers. Decoders are strict
 * so every accepted text is the canonical encoding of its bytes: one input
 * byte string has exactly one accepted text. */
#ifndef SG_B64_H
#define SG_B64_H

#include <stddef.h>

/* Exact output length of encoding n bytes (no NUL counted). */
size_t b64url_encoded_len(size_t n); /* ceil(4n/3), no padding */
size_t b64_encoded_len(size_t n);    /* 4 * ceil(n/3), with padding */
/* Upper bound of the bytes decoded from n characters (exact for valid input). */
size_t b64url_decoded_max(size_t n);
size_t b64_decoded_max(size_t n);

/* Encode n bytes of src into dst, which must hold *_encoded_len(n) bytes;
 * writes exactly that many (no NUL) and returns the count. Cannot fail, so it
 * returns a length rather than an error code. */
size_t b64url_encode(const void *src, size_t n, char *dst);
size_t b64_encode(const void *src, size_t n, char *dst);

/* Decode n characters of src into dst (cap bytes). Returns 0, SG_EMALFORMED or
 * SG_ETOOBIG (dst smaller than the decoded length); *ret_len only on success.
 * b64url_decode: only A-Z a-z 0-9 - _, no padding, n % 4 != 1.
 * b64_decode: only A-Z a-z 0-9 + /, n % 4 == 0, '=' only as the one or two
 * final pad characters (Python's b64decode(validate=True)).
 * Both reject non-zero unused bits in the last character (Python would
 * accept "YR==" as b"a"; we do not, so decoding is one-to-one). */
int b64url_decode(const char *src, size_t n, void *dst, size_t cap, size_t *ret_len);
int b64_decode(const char *src, size_t n, void *dst, size_t cap, size_t *ret_len);

#endif
