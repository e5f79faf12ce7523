/* tests/unit/test_cfgload.c — the YAML loader: the issue-3 shape, defaults,
 * ${ENV}, secrets (relative paths, permission warnings), and broken configs
 * reported at the exact line:column. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgload.h"
#include "errors.h"
#include "helpers.h"
#include "sg_limits.h"

static char secret_path[64], empty_path[64], crlf_path[64], big_path[64];

static void write_file(char *path, const char *tmpl, const void *data, size_t len)
{
	strcpy(path, tmpl);
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void setup(void)
{
	write_file(secret_path, "/tmp/sg-secret-XXXXXX", "s3cret\n", 7);
	write_file(empty_path, "/tmp/sg-empty-XXXXXX", "\n", 1);
	write_file(crlf_path, "/tmp/sg-crlf-XXXXXX", "k\0ey\r\n", 6);
	static char big[SG_SECRET_MAX + 1];
	memset(big, 'x', sizeof(big));
	write_file(big_path, "/tmp/sg-big-XXXXXX", big, sizeof(big));
	setenv("SG_TEST_SECRET", secret_path, 1);
	setenv("SG_TEST_EMPTY", empty_path, 1);
	setenv("SG_TEST_CRLF", crlf_path, 1);
	setenv("SG_TEST_BIG", big_path, 1);
	setenv("SG_TEST_PORT", "9191", 1);
	setenv("SG_TEST_BLANK", "", 1);
	unsetenv("SG_TEST_UNSET");
}

static void teardown(void)
{
	unlink(secret_path);
	unlink(empty_path);
	unlink(crlf_path);
	unlink(big_path);
}

static struct sg_config *load(const char *yaml, unsigned flags)
{
	struct sg_config *c = NULL;
	char err[512];
	int rc = cfgload_buffer("conf.yaml", yaml, strlen(yaml), flags, &c, err, sizeof(err));
	ck_assert_msg(rc == 0, "load failed: %s", err);
	return c;
}

static const char issue3[] =
    "listen: 127.0.0.1:8080          # or a list of addresses\n"
    "workers: 1\n"
    "session:\n"
    "  secret_key_file: ${SG_TEST_SECRET}\n"
    "backends:\n"
    "  - name: flask\n"
    "    servers: [127.0.0.1:5000, 127.0.0.1:5001]\n"
    "    session: cookie             # header (default) | cookie | starlette\n"
    "  - name: api\n"
    "    servers: [127.0.0.1:8000]\n"
    "routes:\n"
    "  - prefix: /flask-application\n"
    "    backend: flask\n"
    "    strip_prefix: true\n"
    "  - prefix: /\n"
    "    host: api.example.com\n"
    "    backend: api\n";

START_TEST(test_issue3_shape)
{
	struct sg_config *c = load(issue3, 0);
	ck_assert_str_eq(c->path, "conf.yaml");
	ck_assert_uint_eq(c->nlisten, 1);
	ck_assert_str_eq(c->listen[0].host, "127.0.0.1");
	ck_assert_str_eq(c->listen[0].port, "8080");
	ck_assert_uint_eq(c->workers, 1);
	ck_assert_str_eq(c->session.secret_key_file, secret_path);
	ck_assert_uint_eq(c->session.secret.len, 6);
	ck_assert_mem_eq(c->session.secret.ptr, "s3cret", 6);
	ck_assert_uint_eq(c->nbackends, 2);
	struct sg_backend *f = &c->backends[0], *a = &c->backends[1];
	ck_assert_str_eq(f->name, "flask");
	ck_assert_uint_eq(f->nservers, 2);
	ck_assert_str_eq(f->servers[1].port, "5001");
	ck_assert_int_eq(f->session, SG_SESSION_COOKIE);
	ck_assert_str_eq(a->name, "api");
	ck_assert_int_eq(a->session, SG_SESSION_HEADER);
	/* backend defaults */
	ck_assert_uint_eq(a->keepalive, 32);
	ck_assert_uint_eq(a->max_fails, 1);
	ck_assert_uint_eq(a->fail_timeout_ms, 10000);
	ck_assert_uint_eq(a->connect_timeout_ms, SG_TIMEOUT_CONNECT_DEFAULT);
	ck_assert_uint_eq(a->response_timeout_ms, SG_TIMEOUT_BACKEND_DEFAULT);
	ck_assert(a->preserve_host);
	ck_assert_uint_eq(a->nwritable, 0);
	ck_assert_str_eq(a->starlette_cookie_name, "session");
	ck_assert_uint_eq(a->starlette_secret.len, 6); /* defaults to the Flask secret */
	ck_assert_uint_eq(c->nroutes, 2);
	ck_assert_str_eq(c->routes[0].prefix, "/flask-application");
	ck_assert(c->routes[0].strip_prefix);
	ck_assert_ptr_null(c->routes[0].host);
	ck_assert_uint_eq(c->routes[0].backend, 0);
	ck_assert_str_eq(c->routes[1].host, "api.example.com");
	ck_assert(!c->routes[1].strip_prefix);
	ck_assert_uint_eq(c->routes[1].backend, 1);
	/* top-level defaults */
	ck_assert_ptr_null(c->admin);
	ck_assert_str_eq(c->access_log, "stdout");
	ck_assert_uint_eq(c->max_header_bytes, SG_HTTP_HEADER_BYTES_DEFAULT);
	ck_assert_uint_eq(c->drain_timeout_ms, SG_TIMEOUT_DRAIN_DEFAULT);
	ck_assert_int_eq(c->session.max_age, SG_SESSION_MAX_AGE_DEFAULT);
	const struct sg_route *r = config_route_match(c, "api.example.com", 15, "/x", 2);
	ck_assert_ptr_eq(r, &c->routes[1]);
	config_free(c);
}
END_TEST

START_TEST(test_everything)
{
	const char *y =
	    "listen:\n"
	    "  - 127.0.0.1:8080\n"
	    "  - '[::1]:${SG_TEST_PORT}'\n"
	    "workers: auto\n"
	    "admin: 127.0.0.1:9090\n"
	    "access_log: off\n"
	    "log_level: debug\n"
	    "request_id_header: X-Trace-Id\n"
	    "trusted_proxies: [10.0.0.0/8, '::1']\n"
	    "limits:\n"
	    "  max_header_bytes: 64k\n"
	    "  max_headers: 50\n"
	    "  max_body_bytes: 10m\n"
	    "  max_connections: 500\n"
	    "  allow_underscore_headers: yes\n"
	    "timeouts: {connect: 1s, header: 2s, idle: 1m30s, response: 500ms, drain: 0}\n"
	    "session:\n"
	    "  secret_key_file: $SG_TEST_SECRET_NOT_A_REF\n"
	    "  fallback_key_files: ['${SG_TEST_CRLF}', \"${SG_TEST_SECRET}\"]\n"
	    "  cookie_name: sid\n"
	    "  digest: SHA256\n"
	    "  salt: ''\n"
	    "  max_age: 1h\n"
	    "  header_name: X-Sess\n"
	    "  patch_header_name: X-Sess-Patch\n"
	    "  header_max: 4k\n"
	    "  cookie_domain: ${SG_TEST_UNSET:-example.com}\n"
	    "  cookie_path: /app\n"
	    "  cookie_httponly: false\n"
	    "  cookie_secure: on\n"
	    "  cookie_samesite: lax\n"
	    "  cookie_partitioned: true\n"
	    "  refresh_each_request: no\n"
	    "  refuse_oversized_cookie: true\n"
	    "  accept_starlette_cookies: true\n"
	    "backends:\n"
	    "  - name: api\n"
	    "    servers: 127.0.0.1:8000\n"
	    "    session: starlette\n"
	    "    writable_keys: [cart, 'api_*']\n"
	    "    connect_timeout: 250ms\n"
	    "    response_timeout: 2m\n"
	    "    keepalive: 0\n"
	    "    max_fails: 3\n"
	    "    fail_timeout: 30s\n"
	    "    preserve_host: false\n"
	    "    starlette_secret_key_file: ${SG_TEST_CRLF}\n"
	    "    starlette_cookie_name: st\n"
	    "routes:\n"
	    "  - {prefix: /, backend: api}\n";
	/* "$SG_..." without braces is literal: secret_key_file must then fail to open */
	struct sg_config *c = NULL;
	char err[512];
	ck_assert_int_ne(cfgload_buffer("c.yaml", y, strlen(y), 0, &c, err, sizeof(err)), 0);
	ck_assert_msg(
	    strstr(err,
		   "c.yaml:18:20: cannot read secret key file \"$SG_TEST_SECRET_NOT_A_REF\"") ==
		err,
	    "%s", err);
	c = load(y, CFGLOAD_NO_SECRETS);
	ck_assert_uint_eq(c->nlisten, 2);
	ck_assert_str_eq(c->listen[1].host, "::1");
	ck_assert_str_eq(c->listen[1].port, "9191");
	ck_assert_uint_ge(c->workers, 1);
	ck_assert_str_eq(c->admin->port, "9090");
	ck_assert_str_eq(c->access_log, "off");
	ck_assert_str_eq(c->log_level, "debug");
	ck_assert_str_eq(c->request_id_header, "X-Trace-Id");
	ck_assert_uint_eq(c->ntrusted, 2);
	ck_assert_int_eq(c->trusted_proxies[1].family, AF_INET6);
	ck_assert_uint_eq(c->max_header_bytes, 65536);
	ck_assert_uint_eq(c->max_headers, 50);
	ck_assert_uint_eq(c->max_body_bytes, 10 * 1048576);
	ck_assert_uint_eq(c->max_connections, 500);
	ck_assert(c->allow_underscore_headers);
	ck_assert_uint_eq(c->connect_timeout_ms, 1000);
	ck_assert_uint_eq(c->header_timeout_ms, 2000);
	ck_assert_uint_eq(c->idle_timeout_ms, 90000);
	ck_assert_uint_eq(c->response_timeout_ms, 500);
	ck_assert_uint_eq(c->drain_timeout_ms, 0);
	struct sg_session_conf *s = &c->session;
	ck_assert_uint_eq(s->nfallback, 2);
	ck_assert_str_eq(s->fallback_key_files[0], crlf_path);
	ck_assert_ptr_null(s->secret.ptr); /* not read with CFGLOAD_NO_SECRETS */
	ck_assert_str_eq(s->cookie_name, "sid");
	ck_assert_str_eq(s->digest, "sha256");
	ck_assert_str_eq(s->salt, "");
	ck_assert_int_eq(s->max_age, 3600);
	ck_assert_str_eq(s->header_name, "X-Sess");
	ck_assert_str_eq(s->patch_header_name, "X-Sess-Patch");
	ck_assert_uint_eq(s->header_max, 4096);
	ck_assert_str_eq(s->cookie_domain, "example.com");
	ck_assert_str_eq(s->cookie_path, "/app");
	ck_assert(!s->cookie_httponly);
	ck_assert(s->cookie_secure);
	ck_assert_str_eq(s->cookie_samesite, "Lax");
	ck_assert(s->cookie_partitioned);
	ck_assert(!s->refresh_each_request);
	ck_assert(s->refuse_oversized_cookie);
	ck_assert(s->accept_starlette_cookies);
	struct sg_backend *b = &c->backends[0];
	ck_assert_uint_eq(b->nservers, 1);
	ck_assert_int_eq(b->session, SG_SESSION_STARLETTE);
	ck_assert_uint_eq(b->nwritable, 2);
	ck_assert_str_eq(b->writable_keys[1], "api_*");
	ck_assert_uint_eq(b->connect_timeout_ms, 250);
	ck_assert_uint_eq(b->response_timeout_ms, 120000);
	ck_assert_uint_eq(b->keepalive, 0);
	ck_assert_uint_eq(b->max_fails, 3);
	ck_assert_uint_eq(b->fail_timeout_ms, 30000);
	ck_assert(!b->preserve_host);
	ck_assert_str_eq(b->starlette_cookie_name, "st");
	config_free(c);
}
END_TEST

START_TEST(test_secrets)
{
	char y[1024];
	snprintf(y, sizeof(y),
		 "listen: 127.0.0.1:1\n"
		 "session:\n"
		 "  secret_key_file: %s\n"
		 "  fallback_key_files:\n"
		 "    - %s\n"
		 "backends: [{name: b, servers: [127.0.0.1:2], session: starlette,\n"
		 "            starlette_secret_key_file: %s}]\n"
		 "routes: [{prefix: /, backend: b}]\n",
		 secret_path, crlf_path, crlf_path);
	struct sg_config *c = load(y, 0);
	ck_assert_uint_eq(c->session.secret.len, 6);
	/* only the "\n" goes: a CR is key material, as for the cookie CLI; NUL kept */
	ck_assert_uint_eq(c->session.fallback_secrets[0].len, 5);
	ck_assert_mem_eq(c->session.fallback_secrets[0].ptr, "k\0ey\r", 5);
	ck_assert_uint_eq(c->backends[0].starlette_secret.len, 5);
	config_free(c);
}
END_TEST

START_TEST(test_all_none_needs_no_secret)
{
	struct sg_config *c = load("listen: 127.0.0.1:1\n"
				   "backends: [{name: b, servers: [127.0.0.1:2], session: none}]\n"
				   "routes: [{prefix: /, backend: b}]\n",
				   0);
	ck_assert_ptr_null(c->session.secret.ptr);
	ck_assert_ptr_null(c->backends[0].starlette_secret.ptr);
	config_free(c);
}
END_TEST

/* Broken configs: exact "conf.yaml:LINE:COL: " prefix and a message fragment. */
static const struct {
	const char *yaml;
	const char *where; /* "conf.yaml:L:C: " */
	const char *msg;
} broken[] = {
    {"listne: 127.0.0.1:8080\n",
     "conf.yaml:1:1: ", "unknown key \"listne\" (expected one of: listen, workers, admin,"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - nmae: x\n", "conf.yaml:3:5: ",
     "preserve_host, starlette_secret_key_file, starlette_cookie_name); did you mean \"name\"?"},
    {"listen: 127.0.0.1:8080\nroutes:\n  - zzzzzz: x\n",
     "conf.yaml:3:5: ", "(expected one of: prefix, host, backend, strip_prefix)"},
    {"listen: 127.0.0.1:8080\nsession:\n  secret_key_fil: x\n",
     "conf.yaml:3:3: ", "unknown key \"secret_key_fil\" (expected one of: secret_key_file,"},
    {"listen: 127.0.0.1:8080\nlisten: 127.0.0.1:8081\n",
     "conf.yaml:2:1: ", "duplicate key \"listen\" (first set at line 1)"},
    {"listen: 127.0.0.1:8080\ntimeouts:\n  idle: ten\n",
     "conf.yaml:3:9: ", "expected a duration like 10s or 500ms, got \"ten\""},
    {"listen: 127.0.0.1:8080\ntimeouts:\n  connect: 0\n",
     "conf.yaml:3:12: ", "expected a duration of at least 1ms, got \"0\""},
    {"listen: localhost\n",
     "conf.yaml:1:9: ", "expected an address like 127.0.0.1:8080 or [::1]:8080, got \"localhost\""},
    {"listen: [127.0.0.1:1, '::1:80']\n", "conf.yaml:1:23: ", "got \"::1:80\""},
    {"listen: {a: b}\n", "conf.yaml:1:9: ", "got a mapping"},
    {"listen: 127.0.0.1:8080\nworkers: 0\n",
     "conf.yaml:2:10: ", "expected auto or a number of threads from 1 to 1024, got \"0\""},
    {"listen: 127.0.0.1:8080\nworkers: many\n", "conf.yaml:2:10: ", "got \"many\""},
    {"listen: 127.0.0.1:8080\nlimits:\n  max_body_bytes: 10 MB\n",
     "conf.yaml:3:19: ", "expected a size like 8k or 1m, got \"10 MB\""},
    {"listen: 127.0.0.1:8080\nlimits:\n  allow_underscore_headers: maybe\n",
     "conf.yaml:3:29: ", "expected true or false, got \"maybe\""},
    {"listen: 127.0.0.1:8080\nlimits: [1]\n",
     "conf.yaml:2:9: ", "expected the limits (a mapping of key: value), got a list"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: cookies\n",
     "conf.yaml:5:14: ",
     "expected a session mode (header, cookie, starlette or none), got \"cookies\""},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: none\nroutes:\n  - prefix: /\n    backend: flsk\n",
     "conf.yaml:8:14: ", "route 1: unknown backend \"flsk\" (defined: a)"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: none\nroutes:\n  - prefix: /\n    backend: a\n"
     "  - prefix: /api\n    backend: a\n",
     "conf.yaml:9:13: ", "route 2 (/api) can never match"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n",
     "conf.yaml:3:5: ", "session.secret_key_file is required (backend \"a\" uses session: header"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - servers: [127.0.0.1:1]\n",
     "conf.yaml:3:5: ", "backend 1: name is required"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    session: none\n",
     "conf.yaml:3:5: ", "backend \"a\": servers is required"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: none\n  - name: a\n    servers: [127.0.0.1:2]\n    session: none\n",
     "conf.yaml:6:11: ", "backend 2: name \"a\" is already used by backend 1"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: none\n",
     "conf.yaml:1:1: ", "at least one route is required"},
    {"workers: 2\n", "conf.yaml:1:1: ", "listen is required"},
    {"", "conf.yaml:1:1: ", "listen is required"},
    {"- a\n- b\n", "conf.yaml:1:1: ", "expected a mapping of settings"},
    {"listen: [127.0.0.1:8080\nworkers: 1\n", "conf.yaml:2:8: ", "invalid YAML:"},
    {"listen: 127.0.0.1:8080\n  workers: 1\n",
     "conf.yaml:2:10: ", "invalid YAML: mapping values are not allowed in this context"},
    {"listen: \"127.0.0.1:8080\n",
     "conf.yaml:2:1: ", "invalid YAML: found unexpected end of stream"},
    {"listen: ${SG_TEST_UNSET}\n", "conf.yaml:1:9: ",
     "environment variable SG_TEST_UNSET is not set (use ${SG_TEST_UNSET:-default} for a default)"},
    {"listen: 127.0.0.1:${SG_TEST_UNSET:?set the port}\n",
     "conf.yaml:1:9: ", "environment variable SG_TEST_UNSET is not set: set the port"},
    {"listen: ${SG_TEST_PORT\n", "conf.yaml:1:9: ", "unterminated ${"},
    {"listen: ${1X}\n", "conf.yaml:1:9: ", "bad variable reference \"${1X}\""},
    {"listen: ${SG_TEST_BLANK:-127.0.0.1:7}\nworkers: ${SG_TEST_BLANK-3}\n",
     "conf.yaml:2:10: ", "got \"\""},
    {"a: &x [1]\nb: *x\n", "conf.yaml:2:4: ", "YAML aliases (*x) are not supported"},
    {"listen: 127.0.0.1:8080\n---\nlisten: 127.0.0.1:8081\n",
     "conf.yaml:2:1: ", "expected a single YAML document"},
    {"listen: 127.0.0.1:8080\nsession:\n  cookie_samesite: None\n",
     "conf.yaml:3:20: ", "cookie_samesite: None requires cookie_secure: true"},
    {"listen: 127.0.0.1:8080\nsession:\n  cookie_samesite: lacks\n",
     "conf.yaml:3:20: ", "cookie_samesite must be Strict, Lax or None, got \"lacks\""},
    {"listen: 127.0.0.1:8080\nsession:\n  digest: md5\n",
     "conf.yaml:3:11: ", "digest must be one of sha1"},
    {"listen: 127.0.0.1:8080\nsession:\n  header_name: X_Session\n",
     "conf.yaml:3:16: ", "header_name must be an HTTP header name"},
    {"listen: 127.0.0.1:8080\nlog_level: verbose\n",
     "conf.yaml:2:12: ", "log_level must be one of debug, info, warn, error, got \"verbose\""},
    {"listen: 127.0.0.1:8080\nadmin: 127.0.0.1:8080\n",
     "conf.yaml:2:8: ", "admin must differ from every listen address"},
    {"listen: 127.0.0.1:8080\ntrusted_proxies: [10.0.0.0/33]\n", "conf.yaml:2:19: ",
     "expected a network like 10.0.0.0/8 or an IP address, got \"10.0.0.0/33\""},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: none\nroutes:\n  - prefix: api\n    backend: a\n",
     "conf.yaml:7:13: ", "route 1: prefix must start with '/'"},
    {"listen: 127.0.0.1:8080\nbackends:\n  - name: a\n    servers: [127.0.0.1:1]\n"
     "    session: none\nroutes:\n  - prefix: /\n    host: a.test:8080\n    backend: a\n",
     "conf.yaml:8:11: ", "route 1: host must be a host name without port"},
    {"listen: 127.0.0.1:8080\n[a]: 1\n", "conf.yaml:2:1: ", "expected a key name, got a list"},
    {"listen: \"a\\0b:80\"\n", "conf.yaml:1:9: ", "expected an address"},
    {"listen: 127.0.0.1:1\nworkers: \xff\n",
     "conf.yaml:2:10: ", "invalid YAML: invalid leading UTF-8 octet"},
};

START_TEST(test_broken)
{
	struct sg_config *c = (struct sg_config *)0x1;
	char err[512];
	const char *y = broken[_i].yaml;
	int rc = cfgload_buffer("conf.yaml", y, strlen(y), 0, &c, err, sizeof(err));
	ck_assert_msg(rc < 0, "case %d loaded", _i);
	ck_assert_ptr_eq(c, (struct sg_config *)0x1); /* untouched on failure */
	ck_assert_msg(strncmp(err, broken[_i].where, strlen(broken[_i].where)) == 0,
		      "case %d: want %s..., got %s", _i, broken[_i].where, err);
	ck_assert_msg(strstr(err, broken[_i].msg) != NULL, "case %d: want \"%s\" in %s", _i,
		      broken[_i].msg, err);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

static void secret_error(const char *file_yaml, const char *want)
{
	char y[512];
	snprintf(y, sizeof(y),
		 "listen: 127.0.0.1:1\n"
		 "session:\n"
		 "  secret_key_file: %s\n"
		 "backends: [{name: b, servers: [127.0.0.1:2]}]\n"
		 "routes: [{prefix: /, backend: b}]\n",
		 file_yaml);
	struct sg_config *c = NULL;
	char err[512];
	ck_assert_int_lt(cfgload_buffer("conf.yaml", y, strlen(y), 0, &c, err, sizeof(err)), 0);
	ck_assert_msg(strstr(err, want) == err, "want %s, got %s", want, err);
	/* the same config passes without reading secrets */
	ck_assert_int_eq(
	    cfgload_buffer("conf.yaml", y, strlen(y), CFGLOAD_NO_SECRETS, &c, err, sizeof(err)), 0);
	config_free(c);
}

START_TEST(test_secret_errors)
{
	char want[256];
	snprintf(want, sizeof(want), "conf.yaml:3:20: secret key file \"%s\" is empty", empty_path);
	secret_error("${SG_TEST_EMPTY}", want);
	secret_error("/nonexistent/key",
		     "conf.yaml:3:20: cannot read secret key file \"/nonexistent/key\": No such "
		     "file or directory");
	snprintf(want, sizeof(want),
		 "conf.yaml:3:20: secret key file \"%s\" is larger than 65536 bytes", big_path);
	secret_error("${SG_TEST_BIG}", want);
	secret_error("/", "conf.yaml:3:20: cannot read secret key file \"/\": Is a directory");
}
END_TEST

START_TEST(test_fallback_position)
{
	const char *y = "listen: 127.0.0.1:1\n"
			"session:\n"
			"  secret_key_file: ${SG_TEST_SECRET}\n"
			"  fallback_key_files:\n"
			"    - ${SG_TEST_SECRET}\n"
			"    - /nonexistent/old\n"
			"backends: [{name: b, servers: [127.0.0.1:2]}]\n"
			"routes: [{prefix: /, backend: b}]\n";
	struct sg_config *c = NULL;
	char err[512];
	ck_assert_int_lt(cfgload_buffer("conf.yaml", y, strlen(y), 0, &c, err, sizeof(err)), 0);
	ck_assert_msg(
	    strstr(err, "conf.yaml:6:7: cannot read secret key file \"/nonexistent/old\"") == err,
	    "%s", err);
}
END_TEST

START_TEST(test_file)
{
	char path[64];
	char y[1024];
	snprintf(y, sizeof(y), "%s", issue3);
	write_file(path, "/tmp/sg-conf-XXXXXX", y, strlen(y));
	struct sg_config *c = NULL;
	char err[512];
	ck_assert_int_eq(cfgload_file(path, &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c->path, path);
	config_free(c);
	ck_assert_int_eq(cfgload_test(path), 0);
	unlink(path);
	ck_assert_int_lt(cfgload_file(path, &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "cannot open: No such file or directory"));
	ck_assert_int_eq(cfgload_test(path), 1);
	ck_assert_int_lt(cfgload_file("/tmp", &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "is a directory"));
}
END_TEST

/* path (in a fresh dir) with text; mode as given. */
static void put_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void rm_files(const char *dir, const char *const *names)
{
	char path[256];
	for (; *names; names++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *names);
		unlink(path);
	}
}

/* Relative key file paths resolve against the config file's directory,
 * whatever the working directory; absolute and ${ENV} ones are unchanged. */
START_TEST(test_relative_key_paths)
{
	char dir[64] = "/tmp/sg-rel-XXXXXX", sub[96], want[512], err[512];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/keys", dir);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	put_file(sub, "flask", "rel-flask\n", 0600);
	put_file(dir, "old", "rel-old", 0600);
	put_file(dir, "st", "rel-st", 0600);
	put_file(dir, "conf.yaml",
		 "listen: 127.0.0.1:1\n"
		 "session:\n"
		 "  secret_key_file: keys/flask\n"
		 "  fallback_key_files:\n"
		 "    - old\n"
		 "    - ${SG_TEST_SECRET}\n"
		 "backends: [{name: b, servers: [127.0.0.1:2], session: starlette,\n"
		 "            starlette_secret_key_file: ./st}]\n"
		 "routes: [{prefix: /, backend: b}]\n",
		 0600);
	put_file(dir, "missing.yaml",
		 "listen: 127.0.0.1:1\n"
		 "session:\n"
		 "  secret_key_file: nope\n"
		 "backends: [{name: b, servers: [127.0.0.1:2]}]\n"
		 "routes: [{prefix: /, backend: b}]\n",
		 0600);
	char cwd[512], path[160];
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
	ck_assert_int_eq(chdir("/"), 0); /* as under systemd */
	snprintf(path, sizeof(path), "%s/conf.yaml", dir);
	struct sg_config *c = NULL;
	ck_assert_msg(cfgload_file(path, &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(c->session.secret.ptr, "rel-flask", 9);
	ck_assert_uint_eq(c->session.secret.len, 9);
	ck_assert_mem_eq(c->session.fallback_secrets[0].ptr, "rel-old", 7);
	ck_assert_mem_eq(c->session.fallback_secrets[1].ptr, "s3cret", 6);
	ck_assert_mem_eq(c->backends[0].starlette_secret.ptr, "rel-st", 6);
	/* the config holds the paths actually read */
	snprintf(want, sizeof(want), "%s/keys/flask", dir);
	ck_assert_str_eq(c->session.secret_key_file, want);
	ck_assert_str_eq(c->session.fallback_key_files[1], secret_path);
	config_free(c);

	/* a missing one: named resolved, at the node that wrote it */
	snprintf(path, sizeof(path), "%s/missing.yaml", dir);
	ck_assert_int_lt(cfgload_file(path, &c, err, sizeof(err)), 0);
	snprintf(want, sizeof(want),
		 "%s:3:20: cannot read secret key file \"%s/nope\": No such file or directory",
		 path, dir);
	ck_assert_str_eq(err, want);

	/* a relative config path: its directory, relative to the cwd */
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(chdir(".."), 0);
	snprintf(path, sizeof(path), "%s/conf.yaml", strrchr(dir, '/') + 1);
	ck_assert_msg(cfgload_file(path, &c, err, sizeof(err)) == 0, "%s", err);
	snprintf(want, sizeof(want), "%s/keys/flask", strrchr(dir, '/') + 1);
	ck_assert_str_eq(c->session.secret_key_file, want);
	config_free(c);
	/* a config file in the cwd, and configs from memory: the cwd, as before */
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_msg(cfgload_file("conf.yaml", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(c->session.secret_key_file, "keys/flask");
	config_free(c);
	const char *y = "listen: 127.0.0.1:1\n"
			"session: {secret_key_file: old}\n"
			"backends: [{name: b, servers: [127.0.0.1:2]}]\n"
			"routes: [{prefix: /, backend: b}]\n";
	c = load(y, 0);
	ck_assert_str_eq(c->session.secret_key_file, "old");
	ck_assert_mem_eq(c->session.secret.ptr, "rel-old", 7);
	config_free(c);

	ck_assert_int_eq(chdir(cwd), 0);
	static const char *const names[] = {"old", "st", "conf.yaml", "missing.yaml", NULL};
	static const char *const keys[] = {"flask", NULL};
	rm_files(sub, keys);
	rm_files(dir, names);
	rmdir(sub);
	rmdir(dir);
}
END_TEST

/* stderr (where log_warn writes) while loading yaml, into out. */
static int load_capturing(const char *yaml, char *out, size_t cap)
{
	char tmp[] = "/tmp/sg-stderr-XXXXXX";
	int fd = mkstemp(tmp);
	ck_assert_int_ge(fd, 0);
	unlink(tmp);
	int saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	struct sg_config *c = NULL;
	char err[512];
	int rc = cfgload_buffer("conf.yaml", yaml, strlen(yaml), 0, &c, err, sizeof(err));
	dup2(saved, STDERR_FILENO);
	close(saved);
	config_free(c);
	ssize_t n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	return rc;
}

/* A key file group or others may read or write: a warning naming it, its
 * mode and where the config names it; still loaded. 0600 and 0400: silent. */
START_TEST(test_key_file_mode_warning)
{
	char keys[1024], y[1024], out[4096], want[256];
	snprintf(keys, sizeof(keys),
		 "listen: 127.0.0.1:1\n"
		 "session:\n"
		 "  secret_key_file: %s\n"
		 "  fallback_key_files: [%s]\n"
		 "backends: [{name: b, servers: [127.0.0.1:2]}]\n"
		 "routes: [{prefix: /, backend: b}]\n",
		 secret_path, crlf_path);
	static const mode_t warned[] = {0644, 0444, 0640, 0604, 0620, 0602, 0660};
	for (size_t i = 0; i < sizeof(warned) / sizeof(warned[0]); i++) {
		ck_assert_int_eq(chmod(crlf_path, warned[i]), 0);
		ck_assert_int_eq(load_capturing(keys, out, sizeof(out)), 0);
		snprintf(want, sizeof(want),
			 " warn conf.yaml:4:24: secret key file \"%s\" has mode %04o: ", crlf_path,
			 (unsigned)warned[i]);
		ck_assert_msg(strstr(out, want), "want %s in %s", want, out);
		/* only that file */
		ck_assert_ptr_null(strstr(out, secret_path));
	}
	/* a refused key file gets its error alone */
	ck_assert_int_eq(chmod(empty_path, 0644), 0);
	snprintf(y, sizeof(y),
		 "listen: 127.0.0.1:1\n"
		 "session: {secret_key_file: %s}\n"
		 "backends: [{name: b, servers: [127.0.0.1:2]}]\n"
		 "routes: [{prefix: /, backend: b}]\n",
		 empty_path);
	ck_assert_int_lt(load_capturing(y, out, sizeof(out)), 0);
	ck_assert_msg(out[0] == '\0', "%s", out);
	static const mode_t quiet[] = {0600, 0400, 0700};
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		ck_assert_int_eq(chmod(crlf_path, quiet[i]), 0);
		ck_assert_int_eq(load_capturing(keys, out, sizeof(out)), 0);
		ck_assert_msg(out[0] == '\0', "mode %o: %s", (unsigned)quiet[i], out);
	}
}
END_TEST

START_TEST(test_limits)
{
	/* deep nesting and huge documents are refused, not recursed into */
	size_t n = 10000;
	char *y = malloc(2 * n + 1);
	memset(y, '[', n);
	memset(y + n, ']', n);
	y[2 * n] = '\0';
	struct sg_config *c = NULL;
	char err[512];
	ck_assert_int_lt(cfgload_buffer("conf.yaml", y, strlen(y), 0, &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "nested too deeply"));
	free(y);
	size_t big = SG_CONFIG_MAX_BYTES + 1;
	y = malloc(big);
	memset(y, '#', big);
	ck_assert_int_eq(cfgload_buffer("conf.yaml", y, big, 0, &c, err, sizeof(err)), SG_ETOOBIG);
	free(y);
	/* many nodes */
	size_t items = SG_CONFIG_MAX_NODES + 10;
	y = malloc(items * 2 + 16);
	strcpy(y, "x: [");
	size_t off = 4;
	for (size_t i = 0; i < items; i++) {
		y[off++] = '1';
		y[off++] = ',';
	}
	y[off++] = ']';
	y[off] = '\0';
	ck_assert_int_lt(cfgload_buffer("conf.yaml", y, off, 0, &c, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "too many YAML nodes"));
	free(y);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cfgload");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_issue3_shape);
	tcase_add_test(tc, test_everything);
	tcase_add_test(tc, test_secrets);
	tcase_add_test(tc, test_all_none_needs_no_secret);
	tcase_add_loop_test(tc, test_broken, 0, (int)(sizeof(broken) / sizeof(broken[0])));
	tcase_add_test(tc, test_secret_errors);
	tcase_add_test(tc, test_fallback_position);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_relative_key_paths);
	tcase_add_test(tc, test_key_file_mode_warning);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	return th_run_suite(s);
}
