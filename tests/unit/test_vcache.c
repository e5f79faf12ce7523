/* tests/unit/test_vcache.c — the verified-cookie cache: hits only on identical bytes, copies,
 * bounds, CLOCK eviction, clear. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "flask.h"
#include "helpers.h"
#include "signer.h"
#include "vcache.h"

#define NOW 1700000000

static const unsigned char key[16] = "0123456789abcdef";
static signer *sgn;

static void setup(void)
{
	ck_assert_int_eq(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, 14, &sgn), 0);
	ck_assert_int_eq(signer_add_key(sgn, "k", 1), 0);
}

static void teardown(void)
{
	signer_free(sgn);
}

/* A verified session for JSON text (what the pipeline puts). */
static flask_session *session(const char *text)
{
	char *c;
	size_t n;
	flask_session *fs;
	ck_assert_int_eq(flask_encode_text(sgn, NULL, text, strlen(text), NOW, &c, &n), 0);
	ck_assert_int_eq(flask_decode(sgn, NULL, c, n, NOW, 100, &fs), 0);
	free(c);
	return fs;
}

START_TEST(test_hit_and_miss)
{
	vcache *c;
	ck_assert_int_eq(vcache_new(8, 1 << 20, key, &c), 0);
	flask_session *fs = session("{\"a\":1}");
	ck_assert_ptr_null(vcache_get(c, fs->cookie, fs->cookie_len));
	ck_assert_int_eq(vcache_put(c, fs, "{\"A\":1}", 7, 5), 0);
	ck_assert_uint_eq(vcache_count(c), 1);
	const struct vcache_entry *e = vcache_get(c, fs->cookie, fs->cookie_len);
	ck_assert_ptr_nonnull(e);
	/* a copy: the caller's session can go */
	ck_assert_ptr_ne(e->fs, fs);
	ck_assert_str_eq(e->fs->cookie, fs->cookie);
	ck_assert_str_eq(e->fs->json, "{\"a\":1}");
	ck_assert_uint_eq(e->fs->ts, NOW);
	ck_assert_uint_eq(e->fs->key_index, 0);
	ck_assert_str_eq(e->plain, "{\"A\":1}");
	ck_assert_uint_eq(e->plain_len, 7);
	ck_assert_uint_eq(e->flags, 5);
	/* one byte different, one byte shorter, a prefix: misses */
	char *other = strdup(fs->cookie);
	other[fs->cookie_len - 1] ^= 1;
	ck_assert_ptr_null(vcache_get(c, other, fs->cookie_len));
	ck_assert_ptr_null(vcache_get(c, fs->cookie, fs->cookie_len - 1));
	ck_assert_ptr_null(vcache_get(c, "", 0));
	/* putting it again keeps one entry */
	ck_assert_int_eq(vcache_put(c, fs, "{\"A\":1}", 7, 5), 0);
	ck_assert_uint_eq(vcache_count(c), 1);
	free(other);
	flask_session_free(fs);
	vcache_free(c);
}
END_TEST

START_TEST(test_plain_is_json)
{
	vcache *c;
	ck_assert_int_eq(vcache_new(8, 1 << 20, key, &c), 0);
	flask_session *fs = session("{\"x\":\"y\"}");
	ck_assert_int_eq(vcache_put(c, fs, fs->json, fs->json_len, 0), 0);
	size_t one = vcache_bytes(c);
	const struct vcache_entry *e = vcache_get(c, fs->cookie, fs->cookie_len);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_eq(e->plain, e->fs->json); /* stored once */
	ck_assert_uint_eq(e->plain_len, fs->json_len);
	ck_assert_uint_ge(one, flask_session_size(fs));
	flask_session_free(fs);
	vcache_free(c);
}
END_TEST

START_TEST(test_entry_bound)
{
	vcache *c;
	ck_assert_int_eq(vcache_new(4, 4096, key, &c), 0);
	char text[600];
	snprintf(text, sizeof(text), "{\"a\":\"%0500d\"}", 1);
	flask_session *fs = session(text);
	/* over max_bytes / 16: never cached */
	ck_assert_int_eq(vcache_put(c, fs, fs->json, fs->json_len, 0), SG_ETOOBIG);
	ck_assert_uint_eq(vcache_count(c), 0);
	ck_assert_ptr_null(vcache_get(c, fs->cookie, fs->cookie_len));
	flask_session_free(fs);
	vcache_free(c);
	ck_assert_int_eq(vcache_new(0, 4096, key, &c), SG_EINVAL);
	vcache_free(NULL);
}
END_TEST

START_TEST(test_eviction)
{
	vcache *c;
	enum { CAP = 16, N = 200 };
	ck_assert_int_eq(vcache_new(CAP, 1 << 20, key, &c), 0);
	flask_session *hot = session("{\"hot\":true}");
	ck_assert_int_eq(vcache_put(c, hot, hot->json, hot->json_len, 0), 0);
	for (int i = 0; i < N; i++) {
		char text[64];
		snprintf(text, sizeof(text), "{\"n\":%d}", i);
		flask_session *fs = session(text);
		ck_assert_int_eq(vcache_put(c, fs, fs->json, fs->json_len, (unsigned)i), 0);
		ck_assert_uint_le(vcache_count(c), CAP);
		flask_session_free(fs);
		/* a cookie in use keeps its second chance: CLOCK never evicts it */
		ck_assert_msg(vcache_get(c, hot->cookie, hot->cookie_len) != NULL,
			      "hot entry evicted at %d", i);
	}
	ck_assert_uint_eq(vcache_count(c), CAP);
	/* the newest is there, with its own data; the oldest are gone */
	flask_session *last = session("{\"n\":199}"), *first = session("{\"n\":0}");
	const struct vcache_entry *e = vcache_get(c, last->cookie, last->cookie_len);
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(e->fs->json, "{\"n\":199}");
	ck_assert_uint_eq(e->flags, 199);
	ck_assert_ptr_null(vcache_get(c, first->cookie, first->cookie_len));
	flask_session_free(last);
	flask_session_free(first);
	vcache_clear(c);
	ck_assert_uint_eq(vcache_count(c), 0);
	ck_assert_uint_eq(vcache_bytes(c), 0);
	ck_assert_ptr_null(vcache_get(c, hot->cookie, hot->cookie_len));
	/* usable after a clear */
	ck_assert_int_eq(vcache_put(c, hot, hot->json, hot->json_len, 0), 0);
	ck_assert_ptr_nonnull(vcache_get(c, hot->cookie, hot->cookie_len));
	flask_session_free(hot);
	vcache_free(c);
}
END_TEST

START_TEST(test_byte_bound)
{
	vcache *c;
	ck_assert_int_eq(vcache_new(1000, 16384, key, &c), 0);
	for (int i = 0; i < 300; i++) {
		char text[64];
		snprintf(text, sizeof(text), "{\"n\":%d,\"pad\":\"................\"}", i);
		flask_session *fs = session(text);
		ck_assert_int_eq(vcache_put(c, fs, "{}", 2, 0), 0);
		ck_assert_uint_le(vcache_bytes(c), 16384);
		flask_session_free(fs);
	}
	ck_assert_uint_gt(vcache_count(c), 10);
	ck_assert_uint_lt(vcache_count(c), 300);
	vcache_free(c);
}
END_TEST

/* Two caches with different keys agree on content (the key only places buckets). */
START_TEST(test_keys)
{
	vcache *a, *b;
	unsigned char k2[16] = {0};
	ck_assert_int_eq(vcache_new(64, 1 << 20, key, &a), 0);
	ck_assert_int_eq(vcache_new(64, 1 << 20, k2, &b), 0);
	flask_session *fs[20];
	for (int i = 0; i < 20; i++) {
		char text[32];
		snprintf(text, sizeof(text), "{\"i\":%d}", i);
		fs[i] = session(text);
		ck_assert_int_eq(vcache_put(a, fs[i], fs[i]->json, fs[i]->json_len, 0), 0);
		ck_assert_int_eq(vcache_put(b, fs[i], fs[i]->json, fs[i]->json_len, 0), 0);
	}
	for (int i = 0; i < 20; i++) {
		const struct vcache_entry *ea = vcache_get(a, fs[i]->cookie, fs[i]->cookie_len);
		const struct vcache_entry *eb = vcache_get(b, fs[i]->cookie, fs[i]->cookie_len);
		ck_assert(ea && eb);
		ck_assert_str_eq(ea->fs->json, fs[i]->json);
		ck_assert_str_eq(eb->fs->json, fs[i]->json);
		flask_session_free(fs[i]);
	}
	vcache_free(a);
	vcache_free(b);
}
END_TEST

START_TEST(test_session_dup)
{
	flask_session *fs = session("{\"a\":[1,2]}"), *d = NULL;
	ck_assert_int_eq(flask_session_dup(fs, &d), 0);
	ck_assert_ptr_ne(d->cookie, fs->cookie);
	ck_assert_str_eq(d->cookie, fs->cookie);
	ck_assert_str_eq(d->json, fs->json);
	ck_assert_uint_eq(d->json_len, fs->json_len);
	ck_assert_uint_eq(d->ts, fs->ts);
	ck_assert_int_eq(d->compressed, fs->compressed);
	flask_session_free(fs);
	ck_assert_str_eq(d->json, "{\"a\":[1,2]}"); /* owns its bytes */
	flask_session_free(d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vcache");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hit_and_miss);
	tcase_add_test(tc, test_plain_is_json);
	tcase_add_test(tc, test_entry_bound);
	tcase_add_test(tc, test_eviction);
	tcase_add_test(tc, test_byte_bound);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_session_dup);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
