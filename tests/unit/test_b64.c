/* tests/unit/test_b64.c — lib/b64: RFC 4648 and Python-generated vectors,
 * strict rejection of everything that is not the canonical encoding. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "errors.h"
#include "helpers.h"

struct vec {
	const char *bin;
	size_t len;
	const char *std; /* base64.b64encode(bin) */
	const char *url; /* base64.urlsafe_b64encode(bin).rstrip(b"=") */
};

/* clang-format off */
static const struct vec vecs[] = {
	/* RFC 4648 section 10 */
	{"", 0, "", ""},
	{"f", 1, "Zg==", "Zg"},
	{"fo", 2, "Zm8=", "Zm8"},
	{"foo", 3, "Zm9v", "Zm9v"},
	{"foob", 4, "Zm9vYg==", "Zm9vYg"},
	{"fooba", 5, "Zm9vYmE=", "Zm9vYmE"},
	{"foobar", 6, "Zm9vYmFy", "Zm9vYmFy"},
	/* Generated once by Debian's /usr/bin/python3 with base64.b64encode and
	 * urlsafe_b64encode(...).rstrip(b"=") over edge cases (alphabet ends,
	 * zeros, an itsdangerous timestamp, UTF-8) and random.Random(4648) bytes. */
	{"\373\377\277", 3, "+/+/", "-_-_"},
	{"\373\357", 2, "++8=", "--8"},
	{"\377", 1, "/w==", "_w"},
	{"\000", 1, "AA==", "AA"},
	{"\000\000", 2, "AAA=", "AAA"},
	{"\000\000\000", 3, "AAAA", "AAAA"},
	{"eS\361\000", 4, "ZVPxAA==", "ZVPxAA"},
	{"\000\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037 !\"#$%&'()*+,-./0123456789:;<=>\?", 64, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw"},
	{"\300\301\302\303\304\305\306\307\310\311\312\313\314\315\316\317\320\321\322\323\324\325\326\327\330\331\332\333\334\335\336\337\340\341\342\343\344\345\346\347\350\351\352\353\354\355\356\357\360\361\362\363\364\365\366\367\370\371\372\373\374\375\376\377", 64, "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==", "wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t_g4eLj5OXm5-jp6uvs7e7v8PHy8_T19vf4-fr7_P3-_w"},
	{"caf\303\251 \360\237\230\200", 10, "Y2Fmw6kg8J+YgA==", "Y2Fmw6kg8J-YgA"},
	{"\263", 1, "sw==", "sw"},
	{"<\011", 2, "PAk=", "PAk"},
	{"| \016", 3, "fCAO", "fCAO"},
	{"n\351\340\256", 4, "bungrg==", "bungrg"},
	{"\3731-T\353", 5, "+zEtVOs=", "-zEtVOs"},
	{"\311\020B\251\211:\"\260\372\2760\015\357+9 \227\356}\214", 20, "yRBCqYk6IrD6vjAN7ys5IJfufYw=", "yRBCqYk6IrD6vjAN7ys5IJfufYw"},
	{"g\200\263\032U\000\306\256\235<\205\316\303<\000\375}ZCJ\373", 21, "Z4CzGlUAxq6dPIXOwzwA/X1aQ0r7", "Z4CzGlUAxq6dPIXOwzwA_X1aQ0r7"},
	{"\343|\244\033\203g5\203!R\021\347\206\213\211\375\037\243\271a\341}", 22, "43ykG4NnNYMhUhHnhouJ/R+juWHhfQ==", "43ykG4NnNYMhUhHnhouJ_R-juWHhfQ"},
	{"\\5\367_\211Xc\340\347W\334\353\214Xs\011\362\002hb\004x\035\335\205Z\362\242\344\260\237", 31, "XDX3X4lYY+DnV9zrjFhzCfICaGIEeB3dhVryouSwnw==", "XDX3X4lYY-DnV9zrjFhzCfICaGIEeB3dhVryouSwnw"},
	{"\325}\026'zd\015\333d\244\313*\240\254V\023I\267%\367-\360\321\244\033M\035\333\267A]\331", 32, "1X0WJ3pkDdtkpMsqoKxWE0m3Jfct8NGkG00d27dBXdk=", "1X0WJ3pkDdtkpMsqoKxWE0m3Jfct8NGkG00d27dBXdk"},
	{"a\223\?\366\210y\263t\326\347>8\313a\\\0109\250v\342\223{DM9\241\344TX\214:\314~", 33, "YZM/9oh5s3TW5z44y2FcCDmoduKTe0RNOaHkVFiMOsx+", "YZM_9oh5s3TW5z44y2FcCDmoduKTe0RNOaHkVFiMOsx-"},
};
/* clang-format on */

static void test_vectors_one(size_t idx)
{
	const struct vec *v = &vecs[idx];
	char enc[256];
	uint8_t dec[256];
	size_t n = 0;

	ck_assert_uint_eq(b64_encoded_len(v->len), strlen(v->std));
	ck_assert_uint_eq(b64_encode(v->bin, v->len, enc), strlen(v->std));
	ck_assert_mem_eq(enc, v->std, strlen(v->std));
	ck_assert_uint_eq(b64url_encoded_len(v->len), strlen(v->url));
	ck_assert_uint_eq(b64url_encode(v->bin, v->len, enc), strlen(v->url));
	ck_assert_mem_eq(enc, v->url, strlen(v->url));

	ck_assert_int_eq(b64_decode(v->std, strlen(v->std), dec, sizeof(dec), &n), 0);
	ck_assert_uint_eq(n, v->len);
	ck_assert_mem_eq(dec, v->bin, v->len);
	ck_assert_uint_ge(b64_decoded_max(strlen(v->std)), v->len);
	n = 0;
	ck_assert_int_eq(b64url_decode(v->url, strlen(v->url), dec, sizeof(dec), &n), 0);
	ck_assert_uint_eq(n, v->len);
	ck_assert_mem_eq(dec, v->bin, v->len);
	ck_assert_uint_eq(b64url_decoded_max(strlen(v->url)), v->len);

	/* exact-size output buffers are enough, one byte less is not */
	n = 0;
	ck_assert_int_eq(b64url_decode(v->url, strlen(v->url), dec, v->len, &n), 0);
	ck_assert_uint_eq(n, v->len);
	if (v->len) {
		n = 12345;
		ck_assert_int_eq(b64url_decode(v->url, strlen(v->url), dec, v->len - 1, &n),
				 SG_ETOOBIG);
		ck_assert_uint_eq(n, 12345);
	}
	/* the other alphabet's text is rejected whenever it differs */
	if (strpbrk(v->std, "+/")) {
		ck_assert_int_eq(b64url_decode(v->std, strlen(v->url), dec, sizeof(dec), &n),
				 SG_EMALFORMED);
	}
	if (strpbrk(v->url, "-_")) {
		char padded[256];
		memcpy(padded, v->url, strlen(v->url));
		memcpy(padded + strlen(v->url), "==", 2);
		ck_assert_int_eq(b64_decode(padded, strlen(v->std), dec, sizeof(dec), &n),
				 SG_EMALFORMED);
	}
}

START_TEST(test_vectors)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		test_vectors_one(i);
}
END_TEST

/* sizeof keeps embedded NULs */
#define S(x)                                                                                       \
	{                                                                                          \
		x, sizeof(x) - 1                                                                   \
	}
struct bstr {
	const char *s;
	size_t len;
};

static const struct bstr bad_url[] = {
    S("A"),	S("AAAAA"),    S("Zg="),    S("Zg=="), S("Zm8="),    S("Z"),
    S("Zm9vY"),							 /* length / padding */
    S("Zh"),	S("Zm9"),      S("Zm9vYh"), S("_x"),   S("AAB"), /* non-zero trailing bits */
    S("Zm+v"),	S("Zm/v"),     S("Zm9 "),   S(" Zm9"), S("Zm9\n"),   S("Zm.v"),
    S("Z\0AA"), S("Zm9v\r\n"), S("Zm9v="),  S("=Zm9"), S("Zm\3609"),
};

static void test_url_rejects_one(size_t idx)
{
	const struct bstr *b = &bad_url[idx];
	uint8_t dec[64];
	size_t n = 777;
	ck_assert_msg(b64url_decode(b->s, b->len, dec, sizeof(dec), &n) == SG_EMALFORMED, "%s",
		      b->s);
	ck_assert_uint_eq(n, 777);
}

START_TEST(test_url_rejects)
{
	for (size_t i = 0; i < sizeof(bad_url) / sizeof(bad_url[0]); i++)
		test_url_rejects_one(i);
}
END_TEST

static const struct bstr bad_std[] = {
    /* length, padding */
    S("Zg"),
    S("Zg="),
    S("Zm8"),
    S("Zm9vY"),
    S("Zm9vYg="),
    S("A"),
    S("AAAAA"),
    S("="),
    S("=="),
    S("==="),
    S("===="),
    S("Z==="),
    S("Zg==="),
    S("A=AA"),
    S("AA=A"),
    S("=AAA"),
    S("Zg==Zg=="),
    S("Zg==AAAA"),
    /* non-zero trailing bits (Python accepts these; we want one text per value) */
    S("Zh=="),
    S("Zm9="),
    S("/x=="),
    S("AB=="),
    S("AAB="),
    /* outside the alphabet */
    S("Zm-v"),
    S("Zm_v"),
    S("Zm9 "),
    S(" Zm9"),
    S("Zm9v\n"),
    S("Zm.v"),
    S("Zm\3609"),
};

static void test_std_rejects_one(size_t idx)
{
	const struct bstr *b = &bad_std[idx];
	uint8_t dec[64];
	size_t n = 777;
	ck_assert_msg(b64_decode(b->s, b->len, dec, sizeof(dec), &n) == SG_EMALFORMED, "%s", b->s);
	ck_assert_uint_eq(n, 777);
}

START_TEST(test_std_rejects)
{
	for (size_t i = 0; i < sizeof(bad_std) / sizeof(bad_std[0]); i++)
		test_std_rejects_one(i);
}
END_TEST

/* Every byte outside the alphabet is rejected in every position of a group;
 * guards the hand-written reverse tables. */
START_TEST(test_alphabet_exhaustive)
{
	static const char std_alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char url_alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t dec[8];
	size_t n;
	int ok_std = 0, ok_url = 0;
	for (int c = 0; c < 256; c++) {
		bool in_std = c && memchr(std_alpha, c, 64), in_url = c && memchr(url_alpha, c, 64);
		for (int pos = 0; pos < 4; pos++) {
			char s[4] = {'A', 'A', 'A', 'A'};
			s[pos] = (char)c;
			int es = b64_decode(s, 4, dec, sizeof(dec), &n);
			int eu = b64url_decode(s, 4, dec, sizeof(dec), &n);
			/* '=' is valid padding in the last position only */
			bool pad_ok = c == '=' && pos == 3;
			ck_assert_int_eq(es, in_std || pad_ok ? 0 : SG_EMALFORMED);
			ck_assert_int_eq(eu, in_url ? 0 : SG_EMALFORMED);
		}
		if (in_std) {
			/* and decodes to its index */
			char s[4] = {(char)c, 'A', 'A', 'A'};
			ck_assert_int_eq(b64_decode(s, 4, dec, sizeof(dec), &n), 0);
			ck_assert_uint_eq(dec[0] >> 2,
					  (const char *)memchr(std_alpha, c, 64) - std_alpha);
			ok_std++;
		}
		if (in_url) {
			char s[4] = {(char)c, 'A', 'A', 'A'};
			ck_assert_int_eq(b64url_decode(s, 4, dec, sizeof(dec), &n), 0);
			ck_assert_uint_eq(dec[0] >> 2,
					  (const char *)memchr(url_alpha, c, 64) - url_alpha);
			ok_url++;
		}
	}
	ck_assert_int_eq(ok_std, 64);
	ck_assert_int_eq(ok_url, 64);
}
END_TEST

/* Round trip of every length up to 300 with pseudo-random bytes; the encoded
 * text of a different length never decodes to the same bytes. */
START_TEST(test_roundtrip)
{
	uint8_t src[300], dec[300];
	char enc[404];
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < sizeof(src); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		src[i] = (uint8_t)x;
	}
	for (size_t len = 0; len <= sizeof(src); len++) {
		size_t n, e;
		e = b64url_encode(src, len, enc);
		ck_assert_uint_eq(e, b64url_encoded_len(len));
		ck_assert_uint_ne(e % 4, 1);
		ck_assert_int_eq(b64url_decode(enc, e, dec, b64url_decoded_max(e), &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(dec, src, len) == 0);
		e = b64_encode(src, len, enc);
		ck_assert_uint_eq(e, b64_encoded_len(len));
		ck_assert_uint_eq(e % 4, 0);
		ck_assert_int_eq(b64_decode(enc, e, dec, b64_decoded_max(e), &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(memcmp(dec, src, len) == 0);
		/* encoders write exactly the promised bytes and nothing after */
		memset(enc, '#', sizeof(enc));
		e = b64url_encode(src, len, enc);
		ck_assert_int_eq(enc[e], '#');
	}
}
END_TEST

/* Canonicality, exhaustively over every tail shape: a text is accepted iff
 * encoding what it decodes to gives the same text back. */
START_TEST(test_canonical_tails)
{
	static const char url_alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static const char std_alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t dec[4];
	char enc[8];
	size_t n;
	/* plain counters: a ck_assert per case would dominate the run time */
	int accepted = 0, wrong = 0;
	for (int a = 0; a < 64; a++) {
		for (int b = 0; b < 64; b++) {
			for (int c = -1; c < 64; c++) {
				char u[3] = {url_alpha[a], url_alpha[b], c < 0 ? 0 : url_alpha[c]};
				size_t ulen = c < 0 ? 2 : 3;
				if (b64url_decode(u, ulen, dec, sizeof(dec), &n) == 0) {
					wrong += b64url_encode(dec, n, enc) != ulen ||
						 memcmp(enc, u, ulen) != 0;
					accepted++;
				} else {
					/* rejected only for non-zero unused bits */
					wrong += c < 0 ? (b & 15) == 0 : (c & 3) == 0;
				}
				char t[4] = {std_alpha[a], std_alpha[b], c < 0 ? '=' : std_alpha[c],
					     '='};
				if (b64_decode(t, 4, dec, sizeof(dec), &n) == 0) {
					wrong +=
					    b64_encode(dec, n, enc) != 4 || memcmp(enc, t, 4) != 0;
				} else {
					wrong += c < 0 ? (b & 15) == 0 : (c & 3) == 0;
				}
			}
		}
	}
	/* 2-char tails: 64 * 4 valid; 3-char tails: 64 * 64 * 16 valid */
	ck_assert_int_eq(wrong, 0);
	ck_assert_int_eq(accepted, 64 * 4 + 64 * 64 * 16);
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		size_t n, url, std;
	} t[] = {{0, 0, 0}, {1, 2, 4}, {2, 3, 4}, {3, 4, 4}, {4, 6, 8}, {20, 27, 28}, {32, 43, 44}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_uint_eq(b64url_encoded_len(t[i].n), t[i].url);
		ck_assert_uint_eq(b64_encoded_len(t[i].n), t[i].std);
		ck_assert_uint_eq(b64url_decoded_max(t[i].url), t[i].n);
		ck_assert_uint_ge(b64_decoded_max(t[i].std), t[i].n);
	}
	/* padded input: the padding is stripped before the size check */
	uint8_t one[1];
	size_t n;
	ck_assert_int_eq(b64_decode("Zg==", 4, one, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(b64_decode("Zm8=", 4, one, 1, &n), SG_ETOOBIG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("b64");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_url_rejects);
	tcase_add_test(tc, test_std_rejects);
	tcase_add_test(tc, test_alphabet_exhaustive);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_canonical_tails);
	tcase_add_test(tc, test_sizes);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
