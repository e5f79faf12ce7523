/* tests/unit/test_config.c — config defaults, validation, route matching,
 * CIDR, addresses, durations and sizes. */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "config.h"
#include "errors.h"
#include "helpers.h"
#include "sg_limits.h"

#define S(x) (x), strlen(x)

START_TEST(test_defaults)
{
	struct sg_config *c = NULL;
	ck_assert_int_eq(config_new(&c), 0);
	ck_assert_str_eq(c->session.cookie_name, "session");
	ck_assert_str_eq(c->session.digest, "sha1");
	ck_assert_str_eq(c->session.salt, "cookie-session");
	ck_assert_int_eq(c->session.max_age, 31LL * 24 * 3600);
	ck_assert_str_eq(c->session.header_name, "X-Session");
	ck_assert_str_eq(c->session.patch_header_name, "X-Session-Patch");
	ck_assert_uint_eq(c->session.header_max, 8000);
	ck_assert_str_eq(c->session.cookie_path, "/");
	ck_assert(c->session.cookie_httponly);
	ck_assert(!c->session.cookie_secure);
	ck_assert_ptr_null(c->session.cookie_samesite);
	ck_assert_ptr_null(c->session.cookie_domain);
	ck_assert(c->session.refresh_each_request);
	ck_assert(!c->session.refuse_oversized_cookie);
	ck_assert(!c->session.accept_starlette_cookies);
	ck_assert_uint_eq(c->workers, 0);
	ck_assert_uint_eq(c->max_header_bytes, SG_HTTP_HEADER_BYTES_DEFAULT);
	ck_assert_uint_eq(c->max_headers, SG_HTTP_HEADER_COUNT_DEFAULT);
	ck_assert_uint_eq(c->max_body_bytes, 0);
	ck_assert(!c->allow_underscore_headers);
	ck_assert_uint_eq(c->connect_timeout_ms, SG_TIMEOUT_CONNECT_DEFAULT);
	ck_assert_uint_eq(c->header_timeout_ms, SG_TIMEOUT_HEADER_DEFAULT);
	ck_assert_uint_eq(c->idle_timeout_ms, SG_TIMEOUT_IDLE_DEFAULT);
	ck_assert_uint_eq(c->response_timeout_ms, SG_TIMEOUT_BACKEND_DEFAULT);
	ck_assert_uint_eq(c->drain_timeout_ms, SG_TIMEOUT_DRAIN_DEFAULT);
	ck_assert_ptr_null(c->admin);
	ck_assert_str_eq(c->access_log, "stdout");
	ck_assert_str_eq(c->log_level, "info");
	/* no listen, no backends: not valid as is */
	struct sg_config_problem p;
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.key, "listen");
	config_free(c);
	config_free(NULL);
	sg_bytes_clear(NULL);
	config_addr_clear(NULL);
}
END_TEST

/* A config built by hand: backends a, b; routes given as prefix/host/backend triples. */
static struct sg_config *mkcfg(const char *const *routes, size_t n)
{
	struct sg_config *c;
	ck_assert_int_eq(config_new(&c), 0);
	c->listen = calloc(1, sizeof(*c->listen));
	ck_assert_int_eq(config_addr_parse(S("127.0.0.1:8080"), &c->listen[0]), 0);
	c->nlisten = 1;
	c->session.secret_key_file = strdup("/dev/null");
	c->backends = calloc(2, sizeof(*c->backends));
	const char *names[] = {"a", "b"};
	for (size_t i = 0; i < 2; i++) {
		struct sg_backend *b = &c->backends[i];
		b->name = strdup(names[i]);
		b->servers = calloc(1, sizeof(*b->servers));
		ck_assert_int_eq(config_addr_parse(S("127.0.0.1:5000"), &b->servers[0]), 0);
		b->nservers = 1;
	}
	c->nbackends = 2;
	c->routes = calloc(n, sizeof(*c->routes));
	for (size_t i = 0; i < n; i++) {
		c->routes[i].prefix = strdup(routes[3 * i]);
		c->routes[i].host = routes[3 * i + 1] ? strdup(routes[3 * i + 1]) : NULL;
		c->routes[i].backend_name = strdup(routes[3 * i + 2]);
	}
	c->nroutes = n;
	return c;
}

static const char *match_name(const struct sg_config *c, const char *host, const char *path)
{
	const struct sg_route *r =
	    config_route_match(c, host, host ? strlen(host) : 0, path, strlen(path));
	return r ? r->prefix : "(none)";
}

START_TEST(test_route_match)
{
	const char *const routes[] = {
	    "/app", NULL, "a", "/", "api.example.com", "b",
	    "/v1/", NULL, "b", "/", "*.wild.test",     "a",
	};
	struct sg_config *c = mkcfg(routes, 4);
	struct sg_config_problem p;
	ck_assert_int_eq(config_validate(c, &p), 0);
	ck_assert_uint_eq(c->routes[0].backend, 0);
	ck_assert_uint_eq(c->routes[1].backend, 1);
	ck_assert_uint_eq(c->routes[0].prefix_len, 4);
	/* per-backend timeouts inherited from the top level */
	ck_assert_uint_eq(c->backends[0].connect_timeout_ms, SG_TIMEOUT_CONNECT_DEFAULT);
	ck_assert_uint_eq(c->backends[0].fail_timeout_ms, SG_SERVER_DOWN_DEFAULT);
	ck_assert_str_eq(c->backends[0].starlette_cookie_name, "session");
	static const struct {
		const char *host, *path, *want;
	} t[] = {
	    {NULL, "/app", "/app"},
	    {NULL, "/app/", "/app"},
	    {NULL, "/app/x/y", "/app"},
	    {NULL, "/app?q=1", "/app"},
	    {NULL, "/apple", "(none)"},
	    {NULL, "/ap", "(none)"},
	    {NULL, "/", "(none)"},
	    {"api.example.com", "/apple", "/"},
	    {"API.Example.COM:8443", "/x", "/"},
	    {"api.example.com.", "/x", "/"},
	    {"api.example.com", "/app/x", "/app"}, /* first match wins */
	    {"other.example.com", "/x", "(none)"},
	    {"api.example.com.evil", "/x", "(none)"},
	    {"", "/x", "(none)"},
	    {NULL, "/v1/", "/v1/"},
	    {NULL, "/v1/users", "/v1/"},
	    {NULL, "/v1", "(none)"}, /* "/v1/" needs its slash, as nginx */
	    {"a.wild.test", "/z", "/"},
	    {"x.y.wild.test:80", "/z", "/"},
	    {"wild.test", "/z", "(none)"},
	    {"[::1]:8080", "/app", "/app"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(strcmp(match_name(c, t[i].host, t[i].path), t[i].want) == 0,
			      "%s %s -> %s, want %s", t[i].host, t[i].path,
			      match_name(c, t[i].host, t[i].path), t[i].want);
	config_free(c);
}
END_TEST

START_TEST(test_route_root_matches_all)
{
	const char *const routes[] = {"/", NULL, "a"};
	struct sg_config *c = mkcfg(routes, 1);
	ck_assert_int_eq(config_validate(c, NULL), 0);
	ck_assert_str_eq(match_name(c, "x", "/"), "/");
	ck_assert_str_eq(match_name(c, NULL, "/anything/at/all?x"), "/");
	ck_assert_str_eq(match_name(c, NULL, "*"), "(none)");
	config_free(c);
}
END_TEST

static void strip_eq(const struct sg_route *r, const char *path, const char *want)
{
	char out[256];
	size_t len = 0;
	ck_assert_int_eq(config_strip_prefix(r, path, strlen(path), out, sizeof(out), &len), 0);
	ck_assert_uint_le(len, strlen(path) + 1);
	out[len] = '\0';
	ck_assert_str_eq(out, want);
}

START_TEST(test_strip_prefix)
{
	struct sg_route r = {.prefix = "/app", .prefix_len = 4, .strip_prefix = true};
	strip_eq(&r, "/app/x", "/x");
	strip_eq(&r, "/app", "/");
	strip_eq(&r, "/app/", "/");
	strip_eq(&r, "/app?q=1&r=/app", "/?q=1&r=/app");
	strip_eq(&r, "/app/x/y?z", "/x/y?z");
	struct sg_route rs = {.prefix = "/app/", .prefix_len = 5, .strip_prefix = true};
	strip_eq(&rs, "/app/x", "/x");
	strip_eq(&rs, "/app/", "/");
	struct sg_route root = {.prefix = "/", .prefix_len = 1, .strip_prefix = true};
	strip_eq(&root, "/x?y", "/x?y");
	struct sg_route keep = {.prefix = "/app", .prefix_len = 4, .strip_prefix = false};
	strip_eq(&keep, "/app/x?q", "/app/x?q");
	char out[4];
	size_t len;
	ck_assert_int_eq(config_strip_prefix(&r, S("/apple"), out, sizeof(out), &len), SG_EINVAL);
	ck_assert_int_eq(config_strip_prefix(&r, S("/app?abcd"), out, sizeof(out), &len),
			 SG_ETOOBIG);
	ck_assert_int_eq(config_strip_prefix(&r, S("/app"), out, 1, &len), 0);
	ck_assert_uint_eq(len, 1);
}
END_TEST

START_TEST(test_validate_problems)
{
	struct sg_config_problem p;
	/* unknown backend */
	const char *const r1[] = {"/", NULL, "flsk"};
	struct sg_config *c = mkcfg(r1, 1);
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.section, "routes");
	ck_assert_uint_eq(p.index, 0);
	ck_assert_str_eq(p.key, "backend");
	ck_assert_ptr_nonnull(strstr(p.msg, "route 1: unknown backend \"flsk\""));
	config_free(c);
	/* "/" before "/api" shadows it */
	const char *const r2[] = {"/", NULL, "a", "/api", NULL, "b"};
	c = mkcfg(r2, 2);
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_uint_eq(p.index, 1);
	ck_assert_ptr_nonnull(strstr(p.msg, "can never match"));
	config_free(c);
	/* but a host-specific "/" does not shadow a host-less route */
	const char *const r3[] = {"/", "h.test", "a", "/api", NULL, "b"};
	c = mkcfg(r3, 2);
	ck_assert_int_eq(config_validate(c, &p), 0);
	config_free(c);
	/* duplicate backend names */
	const char *const r4[] = {"/", NULL, "a"};
	c = mkcfg(r4, 1);
	free(c->backends[1].name);
	c->backends[1].name = strdup("a");
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.section, "backends");
	ck_assert_uint_eq(p.index, 1);
	ck_assert_ptr_nonnull(strstr(p.msg, "already used"));
	config_free(c);
	/* secret required unless every backend is session: none */
	c = mkcfg(r4, 1);
	free(c->session.secret_key_file);
	c->session.secret_key_file = NULL;
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.section, "backends");
	ck_assert_str_eq(p.key, "session");
	ck_assert_ptr_nonnull(strstr(p.msg, "secret_key_file is required"));
	c->backends[0].session = c->backends[1].session = SG_SESSION_NONE;
	ck_assert_int_eq(config_validate(c, &p), 0);
	config_free(c);
	/* SameSite=None needs Secure; spelling normalized */
	c = mkcfg(r4, 1);
	c->session.cookie_samesite = strdup("none");
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.key, "cookie_samesite");
	c->session.cookie_secure = true;
	ck_assert_int_eq(config_validate(c, &p), 0);
	ck_assert_str_eq(c->session.cookie_samesite, "None");
	/* session header names */
	free(c->session.header_name);
	c->session.header_name = strdup("X_Session");
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.key, "header_name");
	free(c->session.header_name);
	c->session.header_name = strdup("cookie");
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	free(c->session.header_name);
	c->session.header_name = strdup("x-session-patch");
	ck_assert_int_eq(config_validate(c, &p), SG_EINVAL);
	ck_assert_str_eq(p.key, "patch_header_name");
	config_free(c);
}
END_TEST

START_TEST(test_key_writable)
{
	char *keys[] = {"cart", "api_*"};
	struct sg_backend b = {.writable_keys = keys, .nwritable = 2};
	ck_assert(config_key_writable(&b, S("cart")));
	ck_assert(!config_key_writable(&b, S("cart2")));
	ck_assert(!config_key_writable(&b, S("car")));
	ck_assert(config_key_writable(&b, S("api_")));
	ck_assert(config_key_writable(&b, S("api_token")));
	ck_assert(!config_key_writable(&b, S("_user_id")));
	struct sg_backend all = {0};
	ck_assert(config_key_writable(&all, S("_user_id")));
}
END_TEST

/* Every byte value in every position, and mixed widths, as inet_ntop writes them. */
START_TEST(test_ipv4_format)
{
	unsigned char a[4];
	char want[INET_ADDRSTRLEN], got[CONFIG_IPV4_TEXT_MAX];
	for (int pos = 0; pos < 4; pos++)
		for (int v = 0; v < 256; v++) {
			for (int k = 0; k < 4; k++)
				a[k] = (unsigned char)(k == pos ? v : (v * 7 + k * 101) % 256);
			ck_assert_ptr_nonnull(inet_ntop(AF_INET, a, want, sizeof(want)));
			memset(got, 'x', sizeof(got));
			ck_assert_uint_eq(config_ipv4_format(a, got), strlen(want));
			ck_assert_str_eq(got, want);
		}
	const unsigned char wide[4] = {255, 255, 255, 255}, zero[4] = {0};
	ck_assert_uint_eq(config_ipv4_format(wide, got), 15);
	ck_assert_str_eq(got, "255.255.255.255");
	ck_assert_uint_eq(config_ipv4_format(zero, got), 7);
	ck_assert_str_eq(got, "0.0.0.0");
}
END_TEST

START_TEST(test_cidr)
{
	struct sg_cidr n[3];
	ck_assert_int_eq(config_cidr_parse(S("10.0.0.0/8"), &n[0]), 0);
	ck_assert_int_eq(n[0].family, AF_INET);
	ck_assert_uint_eq(n[0].bits, 8);
	ck_assert_int_eq(config_cidr_parse(S("2001:db8::/32"), &n[1]), 0);
	ck_assert_int_eq(n[1].family, AF_INET6);
	ck_assert_int_eq(config_cidr_parse(S("192.168.1.77/25"), &n[2]), 0);
	ck_assert_uint_eq(n[2].addr[3], 0); /* host bits cleared */
	unsigned char a4[4], a6[16];
	inet_pton(AF_INET, "10.200.3.4", a4);
	ck_assert(config_cidr_match(n, 3, AF_INET, a4));
	inet_pton(AF_INET, "11.0.0.1", a4);
	ck_assert(!config_cidr_match(n, 3, AF_INET, a4));
	inet_pton(AF_INET, "192.168.1.127", a4);
	ck_assert(config_cidr_match(n, 3, AF_INET, a4));
	inet_pton(AF_INET, "192.168.1.128", a4);
	ck_assert(!config_cidr_match(n, 3, AF_INET, a4));
	inet_pton(AF_INET6, "2001:db8:ffff::1", a6);
	ck_assert(config_cidr_match(n, 3, AF_INET6, a6));
	inet_pton(AF_INET6, "2001:db9::1", a6);
	ck_assert(!config_cidr_match(n, 3, AF_INET6, a6));
	inet_pton(AF_INET6, "::ffff:10.1.2.3", a6); /* v4-mapped matches a v4 network */
	ck_assert(config_cidr_match(n, 3, AF_INET6, a6));
	inet_pton(AF_INET6, "::ffff:12.1.2.3", a6);
	ck_assert(!config_cidr_match(n, 3, AF_INET6, a6));
	/* bare addresses are /32 and /128 */
	struct sg_cidr one;
	ck_assert_int_eq(config_cidr_parse(S("127.0.0.1"), &one), 0);
	ck_assert_uint_eq(one.bits, 32);
	inet_pton(AF_INET, "127.0.0.1", a4);
	ck_assert(config_cidr_match(&one, 1, AF_INET, a4));
	inet_pton(AF_INET, "127.0.0.2", a4);
	ck_assert(!config_cidr_match(&one, 1, AF_INET, a4));
	ck_assert_int_eq(config_cidr_parse(S("::1"), &one), 0);
	ck_assert_uint_eq(one.bits, 128);
	struct sg_cidr all;
	ck_assert_int_eq(config_cidr_parse(S("0.0.0.0/0"), &all), 0);
	ck_assert(config_cidr_match(&all, 1, AF_INET, a4));
	ck_assert(!config_cidr_match(NULL, 0, AF_INET, a4));
	static const char *const bad[] = {"",
					  "10.0.0.0/33",
					  "::/129",
					  "10.0.0/8",
					  "10.0.0.0/",
					  "10.0.0.0/8/8",
					  "10.0.0.0/-1",
					  "x",
					  "10.0.0.0/ 8",
					  "1.2.3.4/0008"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(config_cidr_parse(S(bad[i]), &one) == SG_EINVAL, "%s", bad[i]);
}
END_TEST

START_TEST(test_addr)
{
	struct sg_addr a;
	ck_assert_int_eq(config_addr_parse(S("127.0.0.1:8080"), &a), 0);
	ck_assert_str_eq(a.host, "127.0.0.1");
	ck_assert_str_eq(a.port, "8080");
	ck_assert_str_eq(a.text, "127.0.0.1:8080");
	config_addr_clear(&a);
	ck_assert_int_eq(config_addr_parse(S("[::1]:80"), &a), 0);
	ck_assert_str_eq(a.host, "::1");
	ck_assert_str_eq(a.port, "80");
	ck_assert_str_eq(a.text, "[::1]:80");
	config_addr_clear(&a);
	ck_assert_int_eq(config_addr_parse(S("localhost:08080"), &a), 0);
	ck_assert_str_eq(a.host, "localhost");
	ck_assert_str_eq(a.port, "8080");
	config_addr_clear(&a);
	static const char *const bad[] = {"",	    "127.0.0.1", "127.0.0.1:", ":8080",
					  "::1:80", "[::1]",	 "[::1]80",    "[zz]:80",
					  "h:0",    "h:65536",	 "h:80x",      "bad host:80",
					  "h:-1",   "[]:80",	 "h:123456"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(config_addr_parse(S(bad[i]), &a) == SG_EINVAL, "%s", bad[i]);
	ck_assert_int_eq(config_addr_parse("a\0b:80", 6, &a), SG_EINVAL);
}
END_TEST

START_TEST(test_duration)
{
	static const struct {
		const char *s;
		unsigned long long ms;
	} good[] = {
	    {"10s", 10000},	    {"500ms", 500}, {"2m", 120000}, {"1h", 3600000},
	    {"1d", 86400000},	    {"30", 30000},  {"0", 0},	    {"1m30s", 90000},
	    {"1h2m3s4ms", 3723004}, {"0ms", 0},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned long long ms = 12345;
		ck_assert_msg(config_parse_duration(S(good[i].s), &ms) == 0, "%s", good[i].s);
		ck_assert_msg(ms == good[i].ms, "%s -> %llu", good[i].s, ms);
	}
	static const char *const bad[] = {"",	   "ten",  "10 s", "s",
					  "-1s",   "1.5s", "10x",  "1m30",
					  "30s1m", "1s1s", "10S",  "99999999999999999999999s"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long long ms = 7;
		ck_assert_msg(config_parse_duration(S(bad[i]), &ms) == SG_EINVAL, "%s", bad[i]);
		ck_assert_uint_eq(ms, 7); /* untouched on failure */
	}
}
END_TEST

START_TEST(test_size)
{
	static const struct {
		const char *s;
		unsigned long long v;
	} good[] = {
	    {"512", 512},   {"0", 0},	     {"8k", 8192},     {"8K", 8192},	      {"8kb", 8192},
	    {"8KiB", 8192}, {"1m", 1048576}, {"2MB", 2097152}, {"1g", 1073741824ULL}, {"12b", 12},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		unsigned long long v = 1;
		ck_assert_msg(config_parse_size(S(good[i].s), &v) == 0, "%s", good[i].s);
		ck_assert_msg(v == good[i].v, "%s -> %llu", good[i].s, v);
	}
	static const char *const bad[] = {"",
					  "k",
					  "8x",
					  "8 k",
					  "-8",
					  "8ki",
					  "8kibb",
					  "1.5m",
					  "99999999999999999999",
					  "17179869184g",
					  "8t",
					  "b"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long long v = 3;
		ck_assert_msg(config_parse_size(S(bad[i]), &v) == SG_EINVAL, "%s", bad[i]);
		ck_assert_uint_eq(v, 3);
	}
}
END_TEST

START_TEST(test_bool_mode)
{
	bool b = false;
	ck_assert_int_eq(config_parse_bool(S("yes"), &b), 0);
	ck_assert(b);
	ck_assert_int_eq(config_parse_bool(S("OFF"), &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(config_parse_bool(S("True"), &b), 0);
	ck_assert(b);
	ck_assert_int_eq(config_parse_bool(S("1"), &b), SG_EINVAL);
	ck_assert_int_eq(config_parse_bool(S("tru"), &b), SG_EINVAL);
	enum sg_session_mode m = SG_SESSION_HEADER;
	ck_assert_int_eq(config_parse_session_mode(S("starlette"), &m), 0);
	ck_assert_int_eq(m, SG_SESSION_STARLETTE);
	ck_assert_int_eq(config_parse_session_mode(S("none"), &m), 0);
	ck_assert_int_eq(m, SG_SESSION_NONE);
	ck_assert_int_eq(config_parse_session_mode(S("cookies"), &m), SG_EINVAL);
	ck_assert_int_eq(config_parse_session_mode(S("head"), &m), SG_EINVAL);
	ck_assert_str_eq(config_session_mode_name(SG_SESSION_COOKIE), "cookie");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_ipv4_format);
	tcase_add_test(tc, test_route_match);
	tcase_add_test(tc, test_route_root_matches_all);
	tcase_add_test(tc, test_strip_prefix);
	tcase_add_test(tc, test_validate_problems);
	tcase_add_test(tc, test_key_writable);
	tcase_add_test(tc, test_cidr);
	tcase_add_test(tc, test_addr);
	tcase_add_test(tc, test_duration);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_bool_mode);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
