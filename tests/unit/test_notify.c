/* tests/unit/test_notify.c — notify_* send the exact sd_notify datagrams. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "notify.h"

static char tmpdir[64];
static char sockpath[128];
static int rfd = -1;

/* Binds a datagram socket at a file path and points NOTIFY_SOCKET at it. */
static void setup_path(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};

	strcpy(tmpdir, "/tmp/sg-notify-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(sockpath, sizeof(sockpath), "%s/notify", tmpdir);
	strcpy(sun.sun_path, sockpath);
	rfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(bind(rfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", sockpath, 1), 0);
}

static void teardown_path(void)
{
	close(rfd);
	unlink(sockpath);
	rmdir(tmpdir);
	unsetenv("NOTIFY_SOCKET");
}

/* Binds an abstract-namespace socket; NOTIFY_SOCKET spells it with '@'. */
static void setup_abstract(void)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char name[64], env[80];
	int n;

	n = snprintf(name, sizeof(name), "sg-notify-test-%ld-%ld", (long)getpid(),
		     (long)time(NULL));
	memcpy(sun.sun_path + 1, name, (size_t)n);
	rfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rfd, 0);
	ck_assert_int_eq(bind(rfd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
			 0);
	snprintf(env, sizeof(env), "@%s", name);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", env, 1), 0);
}

static void teardown_abstract(void)
{
	close(rfd);
	unsetenv("NOTIFY_SOCKET");
}

/* Receives one datagram (waiting at most 2 s) as a NUL-terminated string. */
static void recv_one(char *buf, size_t size)
{
	struct pollfd pfd = {.fd = rfd, .events = POLLIN};
	ssize_t n;

	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	n = recv(rfd, buf, size - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
}

/* Nothing else must have been sent. */
static void assert_no_more(void)
{
	struct pollfd pfd = {.fd = rfd, .events = POLLIN};

	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
}

static unsigned long long now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	       (unsigned long long)ts.tv_nsec / 1000ULL;
}

static void check_all_messages(void)
{
	char buf[1024];
	unsigned long long before, after, stamp;
	char *end;

	ck_assert_int_eq(notify_ready(), 0);
	recv_one(buf, sizeof(buf));
	ck_assert_str_eq(buf, "READY=1");

	ck_assert_int_eq(notify_stopping(), 0);
	recv_one(buf, sizeof(buf));
	ck_assert_str_eq(buf, "STOPPING=1");

	before = now_usec();
	ck_assert_int_eq(notify_reloading(), 0);
	after = now_usec();
	recv_one(buf, sizeof(buf));
	ck_assert_msg(strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0, "got '%s'", buf);
	errno = 0;
	stamp = strtoull(buf + 27, &end, 10);
	ck_assert_int_eq(errno, 0);
	ck_assert_int_eq(*end, '\0');
	ck_assert_msg(end != buf + 27, "empty MONOTONIC_USEC");
	ck_assert_msg(stamp >= before && stamp <= after, "stamp %llu not in [%llu, %llu]", stamp,
		      before, after);

	ck_assert_int_eq(notify_status("serving on %s, %d workers", "127.0.0.1:8080", 4), 0);
	recv_one(buf, sizeof(buf));
	ck_assert_str_eq(buf, "STATUS=serving on 127.0.0.1:8080, 4 workers");

	ck_assert_int_eq(notify_send("READY=1\nSTATUS=up"), 0);
	recv_one(buf, sizeof(buf));
	ck_assert_str_eq(buf, "READY=1\nSTATUS=up");
	assert_no_more();
}

START_TEST(test_path_socket)
{
	check_all_messages();
}
END_TEST

START_TEST(test_abstract_socket)
{
	check_all_messages();
}
END_TEST

START_TEST(test_status_cannot_inject)
{
	char buf[1024];

	/* A config path with a newline must not become a READY=1 assignment. */
	ck_assert_int_eq(notify_status("bad config %s", "x\nREADY=1\r"), 0);
	recv_one(buf, sizeof(buf));
	ck_assert_str_eq(buf, "STATUS=bad config x READY=1 ");
	assert_no_more();
}
END_TEST

START_TEST(test_status_truncated)
{
	char big[NOTIFY_STATUS_MAX * 2 + 1], buf[2048];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(notify_status("%s", big), 0);
	recv_one(buf, sizeof(buf));
	ck_assert_int_eq(strlen(buf), strlen("STATUS=") + NOTIFY_STATUS_MAX);
	ck_assert_int_eq(strncmp(buf, "STATUS=aaaa", 11), 0);
}
END_TEST

START_TEST(test_unset_is_noop)
{
	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(notify_ready(), 0);
	ck_assert_int_eq(notify_reloading(), 0);
	ck_assert_int_eq(notify_stopping(), 0);
	ck_assert_int_eq(notify_status("x"), 0);
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "", 1), 0);
	ck_assert_int_eq(notify_ready(), 0);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

START_TEST(test_bad_addresses)
{
	char longpath[256];

	/* Relative paths and vsock: are refused rather than guessed at. */
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "relative/notify", 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_ready(), -1);
	ck_assert_int_eq(errno, EAFNOSUPPORT);

	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "vsock:2:1234", 1), 0);
	ck_assert_int_eq(notify_ready(), -1);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_ready(), -1);
	ck_assert_int_eq(errno, ENAMETOOLONG);
	longpath[0] = '@';
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", longpath, 1), 0);
	ck_assert_int_eq(notify_ready(), -1);

	/* Nobody listening: the error is reported, not hidden. */
	ck_assert_int_eq(setenv("NOTIFY_SOCKET", "/nonexistent-sg-dir/notify", 1), 0);
	errno = 0;
	ck_assert_int_eq(notify_ready(), -1);
	ck_assert_int_eq(errno, ENOENT);
	unsetenv("NOTIFY_SOCKET");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("notify");
	TCase *tc_path = tcase_create("path");
	TCase *tc_abs = tcase_create("abstract");
	TCase *tc_env = tcase_create("env");

	tcase_add_checked_fixture(tc_path, setup_path, teardown_path);
	tcase_add_test(tc_path, test_path_socket);
	tcase_add_test(tc_path, test_status_cannot_inject);
	tcase_add_test(tc_path, test_status_truncated);
	tcase_add_checked_fixture(tc_abs, setup_abstract, teardown_abstract);
	tcase_add_test(tc_abs, test_abstract_socket);
	tcase_add_test(tc_env, test_unset_is_noop);
	tcase_add_test(tc_env, test_bad_addresses);
	suite_add_tcase(s, tc_path);
	suite_add_tcase(s, tc_abs);
	suite_add_tcase(s, tc_env);
	return th_run_suite(s);
}
