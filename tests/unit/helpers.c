/* tests/unit/helpers.c — setup the unit tests share: Check's runner, Flask and Starlette cookies.
 */
#include "helpers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flask.h"

int th_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

signer *th_flask_signer(const char *secret)
{
	signer *s = NULL;
	ck_assert_int_eq(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, 14, &s), 0);
	ck_assert_int_eq(signer_add_key(s, secret, strlen(secret)), 0);
	return s;
}

int64_t th_wall_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

char *th_flask_sign(const signer *s, const char *text, int64_t ts)
{
	char *v;
	size_t n;
	ck_assert_int_eq(flask_encode_text(s, NULL, text, strlen(text), ts, &v, &n), 0);
	return v;
}

char *th_flask_json(const signer *s, const char *value, size_t len, int64_t max_age)
{
	flask_session *fs;
	ck_assert_int_eq(flask_decode(s, NULL, value, len, th_wall_s(), max_age, &fs), 0);
	char *out = strndup(fs->json, fs->json_len);
	flask_session_free(fs);
	return out;
}

starlette *th_starlette_keyed(const char *secret)
{
	starlette *st = NULL;
	ck_assert_int_eq(starlette_new(&st), 0);
	ck_assert_int_eq(starlette_add_key(st, secret, strlen(secret)), 0);
	return st;
}
