/* lib/b64.c — table-driven, strict base64 and base64url (see b64.h). */
#include "b64.h"

#include <stdint.h>

#include "errors.h"

static const char std_alpha[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alpha[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* clang-format off */
/* Reverse tables: 6-bit value, or 0xFF for bytes outside the alphabet. */
#define R64_ 0xFF
#define ROW16 R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, \
	R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_
#define LETTERS_UP 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, \
	20, 21, 22, 23, 24, 25
#define LETTERS_LO 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, \
	44, 45, 46, 47, 48, 49, 50, 51
#define DIGITS 52, 53, 54, 55, 56, 57, 58, 59, 60, 61

static const uint8_t std_rev[256] = {
	ROW16, ROW16,
	/* 0x20 */ R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, 62, R64_, R64_,
	R64_, 63,
	/* 0x30 */ DIGITS, R64_, R64_, R64_, R64_, R64_, R64_,
	/* 0x40 */ R64_, LETTERS_UP, R64_, R64_, R64_, R64_, R64_,
	/* 0x60 */ R64_, LETTERS_LO, R64_, R64_, R64_, R64_, R64_,
	ROW16, ROW16, ROW16, ROW16, ROW16, ROW16, ROW16, ROW16,
};

static const uint8_t url_rev[256] = {
	ROW16, ROW16,
	/* 0x20 */ R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, R64_, 62,
	R64_, R64_,
	/* 0x30 */ DIGITS, R64_, R64_, R64_, R64_, R64_, R64_,
	/* 0x40 */ R64_, LETTERS_UP, R64_, R64_, R64_, R64_, 63,
	/* 0x60 */ R64_, LETTERS_LO, R64_, R64_, R64_, R64_, R64_,
	ROW16, ROW16, ROW16, ROW16, ROW16, ROW16, ROW16, ROW16,
};

/* clang-format on */

size_t b64url_encoded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

size_t b64_encoded_len(size_t n)
{
	return (n / 3 + (n % 3 != 0)) * 4;
}

size_t b64url_decoded_max(size_t n)
{
	return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

size_t b64_decoded_max(size_t n)
{
	return n / 4 * 3;
}

/* Encodes full groups, then the tail; pad says whether to write '='. */
static size_t encode(const char *alpha, int pad, const void *src, size_t n, char *dst)
{
	const uint8_t *s = src;
	char *d = dst;
	size_t i = 0;
	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		d[0] = alpha[v >> 18];
		d[1] = alpha[(v >> 12) & 63];
		d[2] = alpha[(v >> 6) & 63];
		d[3] = alpha[v & 63];
		d += 4;
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)s[i] << 16;
		*d++ = alpha[v >> 18];
		*d++ = alpha[(v >> 12) & 63];
		if (pad) {
			*d++ = '=';
			*d++ = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
		*d++ = alpha[v >> 18];
		*d++ = alpha[(v >> 12) & 63];
		*d++ = alpha[(v >> 6) & 63];
		if (pad)
			*d++ = '=';
	}
	return (size_t)(d - dst);
}

size_t b64url_encode(const void *src, size_t n, char *dst)
{
	return encode(url_alpha, 0, src, n, dst);
}

size_t b64_encode(const void *src, size_t n, char *dst)
{
	return encode(std_alpha, 1, src, n, dst);
}

/* Decodes n characters with no padding (n % 4 != 1, checked by callers). */
static int decode(const uint8_t *rev, const char *src, size_t n, void *dst, size_t cap,
		  size_t *ret_len)
{
	const uint8_t *s = (const uint8_t *)src;
	size_t out = b64url_decoded_max(n);
	if (out > cap)
		return SG_ETOOBIG;
	uint8_t *d = dst;
	size_t i = 0;
	for (; n - i >= 4; i += 4) {
		uint32_t a = rev[s[i]], b = rev[s[i + 1]], c = rev[s[i + 2]], e = rev[s[i + 3]];
		if ((a | b | c | e) & 0x80)
			return SG_EMALFORMED;
		uint32_t v = a << 18 | b << 12 | c << 6 | e;
		d[0] = (uint8_t)(v >> 16);
		d[1] = (uint8_t)(v >> 8);
		d[2] = (uint8_t)v;
		d += 3;
	}
	size_t rem = n - i;
	if (rem >= 2) {
		uint32_t a = rev[s[i]], b = rev[s[i + 1]], c = rem == 3 ? rev[s[i + 2]] : 0;
		if ((a | b | c) & 0x80)
			return SG_EMALFORMED;
		uint32_t v = a << 18 | b << 12 | c << 6;
		/* the unused low bits must be zero: otherwise two texts
		 * would decode to the same bytes */
		if (rem == 2 ? (v & 0xFFFF) : (v & 0xFF))
			return SG_EMALFORMED;
		*d++ = (uint8_t)(v >> 16);
		if (rem == 3)
			*d++ = (uint8_t)(v >> 8);
	}
	*ret_len = out;
	return 0;
}

int b64url_decode(const char *src, size_t n, void *dst, size_t cap, size_t *ret_len)
{
	if (n % 4 == 1)
		return SG_EMALFORMED;
	return decode(url_rev, src, n, dst, cap, ret_len);
}

int b64_decode(const char *src, size_t n, void *dst, size_t cap, size_t *ret_len)
{
	if (n % 4 != 0)
		return SG_EMALFORMED;
	/* strip the one or two pad characters; any other '=' is then outside
	 * the alphabet and rejected by decode() */
	if (n && src[n - 1] == '=') {
		n--;
		if (src[n - 1] == '=')
			n--;
		if (n % 4 == 1)
			return SG_EMALFORMED; /* "X===" or "X==" */
	}
	return decode(std_rev, src, n, dst, cap, ret_len);
}
