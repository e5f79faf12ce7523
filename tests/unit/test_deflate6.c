/* tests/unit/test_deflate6.c — deflate6 writes the bytes zlib's compress2(level 6) writes. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate6.h"
#include "errors.h"
#include "helpers.h"

static deflate6 *D;

static void setup(void)
{
	ck_assert_int_eq(deflate6_new(&D), 0);
}

static void teardown(void)
{
	deflate6_free(D);
	D = NULL;
}

/* Compresses in with both and asserts the same bytes; returns zlib's length. */
static size_t same_as_zlib(const unsigned char *in, size_t n, const char *what)
{
	uLongf zcap = compressBound((uLong)n), zlen = zcap;
	unsigned char *z = malloc(zcap), *o = malloc(zcap);
	ck_assert_ptr_nonnull(z);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(compress2(z, &zlen, in, (uLong)n, 6), Z_OK);
	size_t olen = 0;
	ck_assert_int_eq(deflate6_compress(D, in, n, o, zcap, &olen), 0);
	if (olen != zlen || memcmp(o, z, zlen) != 0) {
		size_t i = 0;
		while (i < olen && i < zlen && o[i] == z[i])
			i++;
		ck_abort_msg(
		    "%s (%zu bytes): deflate6 wrote %zu bytes, zlib %lu; first difference at %zu",
		    what, n, olen, (unsigned long)zlen, i);
	}
	free(z);
	free(o);
	return zlen;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

START_TEST(test_empty_and_tiny)
{
	unsigned char b[4] = "aaa";
	for (size_t n = 0; n <= 3; n++)
		same_as_zlib(b, n, "tiny");
}
END_TEST

/* The session shapes Flask writes: sorted-key JSON, Flask-Login, tagged values. */
START_TEST(test_flask_sessions)
{
	static const char *const s[] = {
	    "{\"_fresh\":true,\"_id\":"
	    "\"8e0e1f0c4d1b7d2d2f4fa6f3c0a5f9b3e2b7c1d4a6f8e9b0c1d2e3f4a5b6"
	    "c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2\",\"_user_id\":\"42\",\"csrf_"
	    "token"
	    "\":\"3c1f2a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a\"}",
	    "{\"n\":1}",
	    "{\" t\":[\"a\",\"b\"],\"x\":{\" d\":\"Thu, 01 Jan 1970 00:00:00 GMT\"}}",
	    "{\"cart\":[1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,6,7,8,9,10,1,2,3,4,5,6,7,8,9,10]}",
	    "{\"a\":"
	    "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
	};
	for (size_t i = 0; i < TH_NELEMS(s); i++)
		same_as_zlib((const unsigned char *)s[i], strlen(s[i]), s[i]);
}
END_TEST

/* Random bytes: stored blocks (incompressible) and everything near them. */
START_TEST(test_random_bytes)
{
	unsigned char *b = malloc(DEFLATE6_MAX);
	for (int round = 0; round < 300; round++) {
		size_t n = rnd() % (round < 200 ? 600 : DEFLATE6_MAX + 1);
		unsigned alphabet = 1 + rnd() % (round % 3 == 0 ? 4 : 256);
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(rnd() % alphabet);
		same_as_zlib(b, n, "random");
	}
	free(b);
}
END_TEST

/* Text with repeats at every distance, including past TOO_FAR (4096), long
 * runs (258-byte matches), and long chains (many equal hashes). */
START_TEST(test_repetitive_text)
{
	static const char *const words[] = {"user", "_id", "\"",    ":",       ",",
					    "{",    "}",   "token", "abc",     "a",
					    "0",    "1",   " ",	    "session", "zzzzzzzz"};
	char *b = malloc(DEFLATE6_MAX);
	for (int round = 0; round < 200; round++) {
		size_t n = 0, want = rnd() % (round < 150 ? 2000 : DEFLATE6_MAX + 1);
		unsigned nw = 1 + rnd() % TH_NELEMS(words);
		while (n < want) {
			const char *w = words[rnd() % nw];
			size_t l = strlen(w);
			if (rnd() % 64 == 0) { /* a long run */
				size_t r = rnd() % 700;
				for (size_t i = 0; i < r && n < want; i++)
					b[n++] = w[0];
				continue;
			}
			if (rnd() % 50 == 0 && n > 10) { /* copy from far back */
				size_t from = rnd() % n, len = 3 + rnd() % 300;
				for (size_t i = 0; i < len && n < want; i++)
					b[n++] = b[from + i];
				continue;
			}
			for (size_t i = 0; i < l && n < want; i++)
				b[n++] = w[i];
		}
		same_as_zlib((unsigned char *)b, n, "text");
	}
	free(b);
}
END_TEST

/* Fibonacci-skewed byte frequencies (deep Huffman trees). */
START_TEST(test_skewed_frequencies)
{
	unsigned char *b = malloc(DEFLATE6_MAX);
	for (int round = 0; round < 40; round++) {
		size_t n = 0;
		/* Fibonacci-like frequencies over distinct bytes, no 3-byte repeats */
		unsigned f0 = 1, f1 = 1 + (unsigned)round % 3;
		for (unsigned sym = 0; sym < 40 && n < DEFLATE6_MAX; sym++) {
			for (unsigned k = 0; k < f0 && n < DEFLATE6_MAX; k++)
				b[n++] = (unsigned char)(k % 2 ? sym : 255 - sym);
			unsigned t = f0 + f1;
			f0 = f1;
			f1 = t;
		}
		for (size_t i = 0; i + 1 < n; i += 2 + rnd() % 5) { /* shuffle a little */
			unsigned char t = b[i];
			b[i] = b[i + 1];
			b[i + 1] = t;
		}
		same_as_zlib(b, n, "skewed");
	}
	free(b);
}
END_TEST

/* zlib's 7-bit repair of the bit-length tree: short random inputs over
 * mid-size alphabets need it about once in 200 (rounds 339, 479, 935, 969
 * and 1046 of these, found with a trap in the repair). No input under
 * DEFLATE6_MAX was found that needs the 15-bit repair of the other trees;
 * it runs the same code (gen_bitlen). */
START_TEST(test_length_repair)
{
	unsigned char b[450];
	for (int round = 0; round < 1100; round++) {
		size_t n = 50 + rnd() % 400;
		unsigned alphabet = 1 + rnd() % 256;
		for (size_t i = 0; i < n; i++)
			b[i] = (unsigned char)(rnd() % alphabet);
		same_as_zlib(b, n, "short random");
	}
}
END_TEST

/* A 3-byte match is dropped when it is further back than TOO_FAR (4096)
 * bytes: kept at exactly 4096, dropped at 4097. The rest is zeros, so the
 * block is compressed (random filler would be stored, matches unseen), and
 * the unique bytes around "ABC" keep both matches exactly 3 bytes long. */
START_TEST(test_too_far_boundary)
{
	unsigned char b[6000];
	for (size_t dist = 4094; dist <= 4099; dist++) {
		memset(b, 0, sizeof(b));
		memcpy(b + 100, "QABCR", 5);
		memcpy(b + 100 + dist, "SABCT", 5);
		same_as_zlib(b, sizeof(b), "3-byte match near TOO_FAR");
	}
}
END_TEST

/* Compresses in and returns the block type deflate6 chose (zlib's too: the
 * bytes are compared): 0 stored, 1 fixed, 2 dynamic Huffman codes. */
static unsigned block_type(const unsigned char *in, size_t n, const char *what)
{
	unsigned char o[2048];
	size_t len = 0;
	same_as_zlib(in, n, what);
	ck_assert_int_eq(deflate6_compress(D, in, n, o, sizeof(o), &len), 0);
	return (o[2] >> 1) & 3; /* after the 2-byte zlib header: BFINAL, BTYPE */
}

/* zlib's run-length coding of the code lengths (scan_tree), cut everywhere
 * it can be: zero runs of every length before and between the literals a
 * block uses (pieces of 138, then 1-2 zeros, REPZ_3_10 or REPZ_11_138), and
 * one code length over 1-48 neighbouring symbols (a first piece of up to 7,
 * then pieces of up to 6; short ones sent as lengths). The lengths only
 * reach the output in a dynamic block, so most inputs must make one. */
START_TEST(test_code_length_runs)
{
	unsigned char b[600];
	unsigned inputs = 0, dynamic = 0;
	for (unsigned lo = 0; lo < 255; lo++) {
		for (unsigned hi = lo + 1; hi < 256; hi += 23) {
			/* a third literal, so runs also end at a neighbour */
			unsigned mid = lo + (hi - lo) / 2;
			for (size_t i = 0; i < sizeof(b); i++) {
				unsigned r = rnd() % 8;
				b[i] = (unsigned char)(r < 4 ? lo : r < 7 ? hi : mid);
			}
			dynamic += block_type(b, sizeof(b), "three literals") == 2;
			inputs++;
		}
	}
	for (unsigned w = 1; w <= 48; w++) {
		for (unsigned lo = 0; lo + w <= 256; lo += 7) {
			for (size_t i = 0; i < sizeof(b); i++)
				b[i] = (unsigned char)(lo + rnd() % w);
			dynamic += block_type(b, sizeof(b), "neighbouring literals") == 2;
			inputs++;
		}
	}
	ck_assert_msg(dynamic * 10 >= inputs * 9, "only %u of %u blocks dynamic", dynamic, inputs);
}
END_TEST

START_TEST(test_limits)
{
	unsigned char *b = calloc(1, DEFLATE6_MAX + 1), out[64];
	size_t len = 99;
	ck_assert_int_eq(deflate6_compress(D, b, DEFLATE6_MAX + 1, out, sizeof(out), &len),
			 SG_ETOOBIG);
	ck_assert_int_eq(len, 99); /* untouched on error */
	/* 1,000 zero bytes compress to a handful: 8 bytes of room is not enough */
	ck_assert_int_eq(deflate6_compress(D, b, 1000, out, 8, &len), SG_ETOOBIG);
	ck_assert_int_eq(len, 99);
	size_t z = same_as_zlib(b, 1000, "zeros");
	ck_assert_int_eq(deflate6_compress(D, b, 1000, out, z, &len), 0);
	ck_assert_int_eq(len, z);
	same_as_zlib(b, DEFLATE6_MAX, "zeros, the largest input");
	deflate6_free(NULL);
	free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("deflate6");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_empty_and_tiny);
	tcase_add_test(tc, test_flask_sessions);
	tcase_add_test(tc, test_random_bytes);
	tcase_add_test(tc, test_repetitive_text);
	tcase_add_test(tc, test_skewed_frequencies);
	tcase_add_test(tc, test_length_repair);
	tcase_add_test(tc, test_too_far_boundary);
	tcase_add_test(tc, test_code_length_runs);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
