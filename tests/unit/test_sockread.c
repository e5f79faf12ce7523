/* tests/unit/test_sockread.c — sockread delivers data, EOF and its timeout as
 * the bufferevent would, and a read re-armed in the very loop turn its
 * timeout fired keeps reading (libevent takes a timed-out event out of epoll
 * before its callback runs: a pooled backend connection reused then never
 * saw its response). */
#include <check.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "helpers.h"
#include "sockread.h"

struct fixture {
	struct event_base *base;
	int sp[2]; /* sockread's socket, its peer */
	int tp[2]; /* the trigger's socket, its peer */
	struct bufferevent *bev;
	struct sockread *sr;
	char got[64];
	size_t ngot;
	short events; /* what the event callback saw, 0: not called */
	int nevents;
	void (*on_trigger)(struct fixture *);
};

static struct fixture fx;

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct fixture *f = arg;
	f->ngot += evbuffer_remove(bufferevent_get_input(bev), f->got + f->ngot,
				   sizeof(f->got) - 1 - f->ngot);
	event_base_loopbreak(f->base);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct fixture *f = arg;
	(void)bev;
	f->events = what;
	f->nevents++;
	event_base_loopbreak(f->base);
}

static void setup(void)
{
	memset(&fx, 0, sizeof(fx));
	fx.base = event_base_new();
	ck_assert_ptr_nonnull(fx.base);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fx.sp), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fx.tp), 0);
	fx.bev = bufferevent_socket_new(fx.base, fx.sp[0], BEV_OPT_CLOSE_ON_FREE);
	ck_assert_ptr_nonnull(fx.bev);
	bufferevent_setcb(fx.bev, read_cb, NULL, event_cb, &fx);
	fx.sr = sockread_new(fx.base, fx.bev);
	ck_assert_ptr_nonnull(fx.sr);
}

static void teardown(void)
{
	sockread_free(fx.sr);
	bufferevent_free(fx.bev);
	close(fx.sp[1]);
	close(fx.tp[0]);
	close(fx.tp[1]);
	event_base_free(fx.base);
}

static const struct timeval ms50 = {0, 50 * 1000};
static const struct timeval s10 = {10, 0};

/* Runs the loop until a callback breaks it or ms passed (then false). */
static bool run_for(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	event_base_loopexit(fx.base, &tv);
	event_base_dispatch(fx.base);
	return !event_base_got_exit(fx.base);
}

static void trigger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	(void)fd;
	(void)what;
	f->on_trigger(f);
}

/* One loop turn in which another callback runs after sockread's timeout
 * has fired but before its callback: the trigger's socket is readable
 * (activated by the poll) and the timeout is due (activated after it). */
static void turn_with_fired_timeout(void (*on_trigger)(struct fixture *))
{
	fx.on_trigger = on_trigger;
	struct event *t = event_new(fx.base, fx.tp[0], EV_READ, trigger_cb, &fx);
	ck_assert_ptr_nonnull(t);
	event_add(t, NULL);
	sockread_set_timeout(fx.sr, &ms50);
	sockread_enable(fx.sr);
	ck_assert_int_eq(write(fx.tp[1], "t", 1), 1);
	usleep(100 * 1000);
	event_base_loop(fx.base, EVLOOP_ONCE);
	event_free(t);
}

/* After a re-arm in the fired turn: no timeout was delivered, and bytes
 * sent now are read (the socket is watched again). */
static void assert_still_reading(const char *text)
{
	ck_assert_int_eq(fx.nevents, 0);
	ck_assert(sockread_enabled(fx.sr));
	ck_assert_int_eq(write(fx.sp[1], text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_msg(run_for(1000), "the socket is no longer watched");
	ck_assert_str_eq(fx.got, text);
}

START_TEST(test_reads_data)
{
	sockread_enable(fx.sr);
	ck_assert(sockread_enabled(fx.sr));
	ck_assert_int_eq(write(fx.sp[1], "hello", 5), 5);
	ck_assert(run_for(2000));
	ck_assert_uint_eq(fx.ngot, 5);
	ck_assert_str_eq(fx.got, "hello");
	ck_assert_int_eq(fx.nevents, 0);
}
END_TEST

START_TEST(test_eof)
{
	sockread_enable(fx.sr);
	close(fx.sp[1]);
	fx.sp[1] = -1;
	ck_assert(run_for(2000));
	ck_assert_int_eq(fx.events, BEV_EVENT_EOF | BEV_EVENT_READING);
	ck_assert(!sockread_enabled(fx.sr));
}
END_TEST

START_TEST(test_timeout)
{
	sockread_set_timeout(fx.sr, &ms50);
	sockread_enable(fx.sr);
	ck_assert(run_for(2000));
	ck_assert_int_eq(fx.events, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
	ck_assert(!sockread_enabled(fx.sr));
}
END_TEST

START_TEST(test_disabled_reads_nothing)
{
	sockread_enable(fx.sr);
	sockread_disable(fx.sr);
	ck_assert_int_eq(write(fx.sp[1], "x", 1), 1);
	ck_assert(!run_for(150));
	ck_assert_uint_eq(fx.ngot, 0);
	sockread_on(fx.sr);
	ck_assert(run_for(2000));
	ck_assert_uint_eq(fx.ngot, 1);
}
END_TEST

/* A timeout dropped while reading is off stays dropped after reads
 * (event_add(NULL) alone would keep the old interval for the next read). */
START_TEST(test_timeout_dropped_while_off)
{
	sockread_set_timeout(fx.sr, &ms50);
	sockread_enable(fx.sr);
	sockread_disable(fx.sr);
	sockread_set_timeout(fx.sr, NULL);
	sockread_enable(fx.sr);
	ck_assert_int_eq(write(fx.sp[1], "a", 1), 1);
	ck_assert(run_for(2000));
	ck_assert_uint_eq(fx.ngot, 1);
	ck_assert(!run_for(200));
	ck_assert_int_eq(fx.nevents, 0);
}
END_TEST

/* As conn_up_connected on a pooled connection: a new timeout, reading on. */
static void reuse(struct fixture *f)
{
	sockread_set_timeout(f->sr, &s10);
	sockread_on(f->sr);
}

START_TEST(test_rearmed_after_timeout_fired_keeps_reading)
{
	turn_with_fired_timeout(reuse); /* the re-arm replaces the fired timeout */
	assert_still_reading("response");
	ck_assert_int_eq(fx.nevents, 0);
}
END_TEST

static void clear_timeout(struct fixture *f)
{
	sockread_set_timeout(f->sr, NULL);
}

START_TEST(test_timeout_cleared_after_it_fired_keeps_reading)
{
	turn_with_fired_timeout(clear_timeout);
	assert_still_reading("late");
	/* and no timeout comes later either */
	ck_assert(!run_for(200));
	ck_assert_int_eq(fx.nevents, 0);
}
END_TEST

static void restart(struct fixture *f)
{
	sockread_restart(f->sr);
}

START_TEST(test_restarted_after_timeout_fired_keeps_reading)
{
	turn_with_fired_timeout(restart);
	assert_still_reading("more");
}
END_TEST

/* Nothing re-arms it: the fired timeout is delivered in the same turn. */
static void nothing(struct fixture *f)
{
	(void)f;
}

START_TEST(test_fired_timeout_delivered)
{
	turn_with_fired_timeout(nothing);
	ck_assert_int_eq(fx.nevents, 1);
	ck_assert_int_eq(fx.events, BEV_EVENT_TIMEOUT | BEV_EVENT_READING);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sockread");
	TCase *tc = tcase_create("sockread");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reads_data);
	tcase_add_test(tc, test_eof);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_disabled_reads_nothing);
	tcase_add_test(tc, test_timeout_dropped_while_off);
	tcase_add_test(tc, test_rearmed_after_timeout_fired_keeps_reading);
	tcase_add_test(tc, test_timeout_cleared_after_it_fired_keeps_reading);
	tcase_add_test(tc, test_restarted_after_timeout_fired_keeps_reading);
	tcase_add_test(tc, test_fired_timeout_delivered);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
