/* tests/unit/test_errors.c — sg_strerror names every code. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "helpers.h"

START_TEST(test_names)
{
	ck_assert_str_eq(sg_strerror(SG_EBADSIG), "bad signature");
	ck_assert_str_eq(sg_strerror(SG_EEXPIRED), "expired");
	ck_assert_str_eq(sg_strerror(SG_EFUTURE), "signed in the future");
	ck_assert_str_eq(sg_strerror(SG_EMALFORMED), "malformed");
	ck_assert_str_eq(sg_strerror(SG_ETOOBIG), "too large");
	for (int e = SG_EUNSUPPORTED; e <= 0; e++)
		ck_assert_str_ne(sg_strerror(e), "unknown error");
	ck_assert_str_eq(sg_strerror(-999), "unknown error");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("errors");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
