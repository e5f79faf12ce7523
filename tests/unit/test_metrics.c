/* tests/unit/test_metrics.c — metrics: backend slots, per-thread counters
 * summed at scrape time, histogram buckets, the verified-cookie cache series,
 * the rendered exposition; and the access log's request-id helpers. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <llhttp.h>

#include "accesslog.h"
#include "cfgload.h"
#include "flask.h"
#include "http.h"
#include "metrics.h"
#include "sg_limits.h"
#include "signer.h"

/* The rendered exposition as a NUL-terminated string (caller frees). */
static char *render(const struct metrics_state *st)
{
	struct evbuffer *b = evbuffer_new();
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(metrics_render(b, st), 0);
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);
	ck_assert_ptr_nonnull(s);
	evbuffer_remove(b, s, n);
	s[n] = '\0';
	evbuffer_free(b);
	return s;
}

/* The value of the sample line starting with `series ` (-1 if absent). */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	}
	return -1;
}

START_TEST(slots_are_stable)
{
	ck_assert_uint_eq(metrics_backend(NULL), METRICS_SLOT_NONE);
	unsigned a = metrics_backend("alpha");
	unsigned b = metrics_backend("beta");
	ck_assert_uint_ne(a, METRICS_SLOT_NONE);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(metrics_backend("alpha"), a);
	char name[32];
	/* more names than slots: the overflow shares the last one */
	unsigned last = 0;
	for (int i = 0; i < METRICS_SLOTS + 5; i++) {
		snprintf(name, sizeof(name), "many%d", i);
		last = metrics_backend(name);
		ck_assert_uint_lt(last, METRICS_SLOTS);
	}
	ck_assert_uint_eq(last, METRICS_SLOTS - 1);
	ck_assert_uint_eq(metrics_backend("alpha"), a);
}
END_TEST

START_TEST(requests_by_class_and_histogram)
{
	unsigned s = metrics_backend("hist");
	metrics_request(s, HTTP_GET, 200, 0, 10, 1000);	    /* 1 ms */
	metrics_request(s, HTTP_HEAD, 204, 0, 0, 5000);	    /* exactly 5 ms: le="0.005" */
	metrics_request(s, HTTP_POST, 503, 7, 3, 7000000);  /* 7 s */
	metrics_request(s, HTTP_PUT, 0, 1, 1, 1);	    /* no status: not counted */
	metrics_request(s, HTTP_GET, 200, 0, 0, 120000000); /* beyond 60 s */
	char *t = render(NULL);
	ck_assert_double_eq(
	    sample(
		t,
		"sessiongate_requests_total{backend=\"hist\",method_class=\"read\",code=\"2xx\"}"),
	    3);
	ck_assert_double_eq(
	    sample(
		t,
		"sessiongate_requests_total{backend=\"hist\",method_class=\"write\",code=\"5xx\"}"),
	    1);
	ck_assert_double_eq(
	    sample(
		t,
		"sessiongate_requests_total{backend=\"hist\",method_class=\"write\",code=\"2xx\"}"),
	    -1);
	ck_assert_double_eq(
	    sample(t, "sessiongate_request_duration_seconds_bucket{backend=\"hist\",le=\"0.005\"}"),
	    2);
	ck_assert_double_eq(
	    sample(t, "sessiongate_request_duration_seconds_bucket{backend=\"hist\",le=\"5\"}"), 2);
	ck_assert_double_eq(
	    sample(t, "sessiongate_request_duration_seconds_bucket{backend=\"hist\",le=\"10\"}"),
	    3);
	ck_assert_double_eq(
	    sample(t, "sessiongate_request_duration_seconds_bucket{backend=\"hist\",le=\"60\"}"),
	    3);
	ck_assert_double_eq(
	    sample(t, "sessiongate_request_duration_seconds_bucket{backend=\"hist\",le=\"+Inf\"}"),
	    4);
	ck_assert_double_eq(
	    sample(t, "sessiongate_request_duration_seconds_count{backend=\"hist\"}"), 4);
	ck_assert_double_eq(sample(t, "sessiongate_request_duration_seconds_sum{backend=\"hist\"}"),
			    127.006);
	ck_assert_double_eq(sample(t, "sessiongate_request_body_bytes_total{backend=\"hist\"}"), 7);
	ck_assert_double_eq(sample(t, "sessiongate_response_body_bytes_total{backend=\"hist\"}"),
			    13);
	free(t);
}
END_TEST

static void *worker(void *arg)
{
	unsigned s = *(unsigned *)arg;
	for (int i = 0; i < 1000; i++) {
		metrics_request(s, HTTP_GET, 200, 1, 2, 10);
		metrics_client_conn(+1);
		metrics_upstream_conn(s, +1);
	}
	for (int i = 0; i < 400; i++) {
		metrics_client_conn(-1);
		metrics_upstream_conn(s, -1);
	}
	return NULL;
}

START_TEST(threads_are_summed)
{
	unsigned s = metrics_backend("threads");
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &s), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	char *t = render(NULL);
	ck_assert_double_eq(sample(t, "sessiongate_requests_total{backend=\"threads\",method_class="
				      "\"read\",code=\"2xx\"}"),
			    4000);
	ck_assert_double_eq(sample(t, "sessiongate_upstream_connections{backend=\"threads\"}"),
			    2400);
	ck_assert_double_eq(
	    sample(t, "sessiongate_upstream_connections_opened_total{backend=\"threads\"}"), 4000);
	free(t);
	/* exited threads still count */
	ck_assert_uint_ge(metrics_client_connections(), 2400);
}
END_TEST

START_TEST(pipeline_deltas_by_backend)
{
	unsigned s = metrics_backend("pipe");
	/* only the counters in the mask count, whatever n holds elsewhere */
	uint32_t n[PC_COUNT];
	for (int i = 0; i < PC_COUNT; i++)
		n[i] = 7;
	n[PC_SESSION_VALID] = 1;
	n[PC_REJECT_FORBIDDEN] = 2;
	n[PC_COOKIE_RESIGNED] = 1;
	metrics_pipeline(s,
			 1u << PC_SESSION_VALID | 1u << PC_REJECT_FORBIDDEN |
			     1u << PC_COOKIE_RESIGNED,
			 n);
	metrics_pipeline(s, 0, n);
	char *t = render(NULL);
	ck_assert_double_eq(
	    sample(t, "sessiongate_sessions_total{backend=\"pipe\",outcome=\"valid\"}"), 1);
	ck_assert_double_eq(
	    sample(t, "sessiongate_patches_rejected_total{backend=\"pipe\",reason=\"forbidden\"}"),
	    2);
	ck_assert_double_eq(
	    sample(t, "sessiongate_cookies_total{backend=\"pipe\",result=\"resigned\"}"), 1);
	ck_assert_double_eq(
	    sample(t, "sessiongate_cookies_total{backend=\"pipe\",result=\"deleted\"}"), 0);
	free(t);
}
END_TEST

START_TEST(state_and_format)
{
	metrics_reload(true);
	metrics_reload(false);
	metrics_reload(false);
	struct metrics_backend_state bs[] = {{"x\"y", 3, 1}};
	struct metrics_state st = {.ready = false,
				   .draining = true,
				   .generation = 7,
				   .workers = 4,
				   .backends = bs,
				   .nbackends = 1};
	char *t = render(&st);
	ck_assert_double_eq(sample(t, "sessiongate_config_reloads_total{result=\"success\"}"), 1);
	ck_assert_double_eq(sample(t, "sessiongate_config_reloads_total{result=\"failure\"}"), 2);
	ck_assert_double_eq(sample(t, "sessiongate_draining"), 1);
	ck_assert_double_eq(sample(t, "sessiongate_ready"), 0);
	ck_assert_double_eq(sample(t, "sessiongate_config_generation"), 7);
	/* label values are escaped */
	ck_assert_double_eq(sample(t, "sessiongate_backend_servers_up{backend=\"x\\\"y\"}"), 1);
	/* every family: HELP then TYPE, counters named *_total */
	for (const char *p = t, *nl; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		ck_assert_ptr_nonnull(nl);
		if (strncmp(p, "# TYPE ", 7) == 0) {
			const char *sp = strchr(p + 7, ' ');
			ck_assert_ptr_nonnull(sp);
			if (strncmp(sp + 1, "counter", 7) == 0)
				ck_assert_int_eq(strncmp(sp - 6, "_total", 6), 0);
		}
	}
	ck_assert_int_eq(t[strlen(t) - 1], '\n');
	free(t);
}
END_TEST

/* ---- the verified-cookie cache series: real pipeline requests in workers ---- */

static const char *cache_yaml = "listen: 127.0.0.1:1\n"
				"session:\n"
				"  secret_key_file: /nonexistent\n"
				"backends:\n"
				"  - name: api\n"
				"    servers: [127.0.0.1:2]\n"
				"routes:\n"
				"  - prefix: /\n"
				"    backend: api\n";

struct cache_job {
	const struct sg_config *cfg;
	void *pconf;
	const char *cookie;
	pthread_barrier_t *counted, *scraped;
};

/* One request with cookie through the pipeline's request side. */
static void pipe_request(const struct cache_job *j)
{
	static const struct http_limits lim = {16384, 50, 0, true};
	char raw[4096];
	snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: a\r\nCookie: session=%s\r\n\r\n",
		 j->cookie);
	struct http_parser p;
	struct http_msg req;
	size_t used;
	http_parser_init(&p, HTTP_KIND_REQUEST, &lim);
	http_msg_init(&req);
	ck_assert_int_eq(http_head_feed(&p, &req, raw, strlen(raw), &used), HTTP_DONE);
	http_parser_clear(&p);
	struct pipeline_ctx ctx = {.cfg = j->cfg,
				   .conf_state = j->pconf,
				   .backend = &j->cfg->backends[0],
				   .req = &req,
				   .peer = "127.0.0.1"};
	ck_assert_int_eq(pipeline_request(&ctx), 0);
	ck_assert_str_eq(ctx.session_outcome, "valid");
	pipeline_done(&ctx);
	http_msg_clear(&req);
}

/* A worker: the same cookie twice (a miss, then a hit), then it stays alive
 * (its cache with it) until the main thread has scraped. */
static void *cache_worker(void *arg)
{
	const struct cache_job *j = arg;
	pipe_request(j);
	pipe_request(j);
	pthread_barrier_wait(j->counted);
	pthread_barrier_wait(j->scraped);
	return NULL;
}

START_TEST(session_cache_summed_over_workers)
{
	char err[256];
	struct sg_config *cfg;
	ck_assert_int_eq(cfgload_buffer("t.yaml", cache_yaml, strlen(cache_yaml),
					CFGLOAD_NO_SECRETS, &cfg, err, sizeof(err)),
			 0);
	cfg->session.secret.ptr = (unsigned char *)strdup("secret");
	cfg->session.secret.len = 6;
	void *pconf = pipeline_conf_new(cfg);
	ck_assert_ptr_nonnull(pconf);
	signer *sg;
	char *cookie;
	size_t clen;
	const char *text = "{\"_user_id\":\"42\"}";
	ck_assert_int_eq(signer_new(SIGNER_SHA1, SIGNER_KDF_HMAC, SIGNER_SALT_FLASK, 14, &sg), 0);
	ck_assert_int_eq(signer_add_key(sg, "secret", 6), 0);
	ck_assert_int_eq(
	    flask_encode_text(sg, NULL, text, strlen(text), (int64_t)time(NULL), &cookie, &clen),
	    0);
	signer_free(sg);

	char *t = render(NULL);
	double h0 = sample(t, "sessiongate_session_cache_hits_total");
	double m0 = sample(t, "sessiongate_session_cache_misses_total");
	double e0 = sample(t, "sessiongate_session_cache_entries");
	ck_assert(h0 >= 0 && m0 >= 0 && e0 >= 0); /* present before any request */
	ck_assert_ptr_nonnull(strstr(t, "# HELP sessiongate_session_cache_hits_total "));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE sessiongate_session_cache_hits_total counter\n"));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE sessiongate_session_cache_misses_total counter\n"));
	ck_assert_ptr_nonnull(strstr(t, "# TYPE sessiongate_session_cache_entries gauge\n"));
	free(t);

	enum { NW = 3 };
	pthread_barrier_t counted, scraped;
	pthread_barrier_init(&counted, NULL, NW + 1);
	pthread_barrier_init(&scraped, NULL, NW + 1);
	struct cache_job job = {cfg, pconf, cookie, &counted, &scraped};
	pthread_t th[NW];
	for (int i = 0; i < NW; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, cache_worker, &job), 0);
	pthread_barrier_wait(&counted);
	t = render(NULL);
	/* every worker has its own cache: one miss and one hit each */
	ck_assert_double_eq(sample(t, "sessiongate_session_cache_hits_total") - h0, NW);
	ck_assert_double_eq(sample(t, "sessiongate_session_cache_misses_total") - m0, NW);
	ck_assert_double_eq(sample(t, "sessiongate_session_cache_entries") - e0, NW);
	free(t);
	pthread_barrier_wait(&scraped);
	for (int i = 0; i < NW; i++)
		pthread_join(th[i], NULL);
	/* exited workers' caches are freed; what they counted stays */
	t = render(NULL);
	ck_assert_double_eq(sample(t, "sessiongate_session_cache_entries"), e0);
	ck_assert_double_eq(sample(t, "sessiongate_session_cache_hits_total") - h0, NW);
	free(t);
	pthread_barrier_destroy(&counted);
	pthread_barrier_destroy(&scraped);
	free(cookie);
	pipeline_conf_free(pconf);
	config_free(cfg);
}
END_TEST

START_TEST(request_ids)
{
	char a[ACCESSLOG_REQUEST_ID_LEN + 1], b[ACCESSLOG_REQUEST_ID_LEN + 1];
	accesslog_request_id_new(a);
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
	for (int i = 0; i < 200; i++) { /* across pool refills */
		accesslog_request_id_new(b);
		ck_assert_str_ne(a, b);
	}
	ck_assert(accesslog_request_id_ok("abc-123_X.y", 11));
	ck_assert(!accesslog_request_id_ok("", 0));
	ck_assert(!accesslog_request_id_ok("a b", 3));
	ck_assert(!accesslog_request_id_ok("a\tb", 3));
	ck_assert(!accesslog_request_id_ok("a\x7f", 2));
	ck_assert(!accesslog_request_id_ok("\xc3\xa9", 2));
	char big[SG_REQUEST_ID_MAX + 1];
	memset(big, 'x', sizeof(big));
	ck_assert(accesslog_request_id_ok(big, SG_REQUEST_ID_MAX));
	ck_assert(!accesslog_request_id_ok(big, SG_REQUEST_ID_MAX + 1));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, slots_are_stable);
	tcase_add_test(tc, requests_by_class_and_histogram);
	tcase_add_test(tc, threads_are_summed);
	tcase_add_test(tc, pipeline_deltas_by_backend);
	tcase_add_test(tc, state_and_format);
	tcase_add_test(tc, session_cache_summed_over_workers);
	tcase_add_test(tc, request_ids);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
