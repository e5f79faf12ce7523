/* lib/config.c — configuration defaults, cross-checks and the pure helpers
 * that interpret it (route matching, CIDR, addresses, durations, sizes). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "errors.h"
#include "sg_limits.h"

#define CONFIG_WORKERS_MAX	1024
#define CONFIG_KEEPALIVE_MAX	100000
#define CONFIG_HEADER_BYTES_MIN 1024
#define CONFIG_HEADER_BYTES_MAX (1024 * 1024)
#define CONFIG_HEADERS_MAX	10000

static char *dupstr(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

int config_new(struct sg_config **ret)
{
	struct sg_config *c = calloc(1, sizeof(*c));
	if (!c)
		return SG_ENOMEM;
	struct sg_session_conf *s = &c->session;
	s->cookie_name = dupstr("session");
	s->digest = dupstr("sha1");
	s->salt = dupstr("cookie-session");
	s->max_age = SG_SESSION_MAX_AGE_DEFAULT;
	s->header_name = dupstr("X-Session");
	s->patch_header_name = dupstr("X-Session-Patch");
	s->header_max = SG_SESSION_HEADER_MAX_DEFAULT;
	s->cookie_path = dupstr("/");
	s->cookie_httponly = true;
	s->refresh_each_request = true;
	c->workers = 0; /* auto: the loader knows the CPU count, lib/ does not */
	c->max_header_bytes = SG_HTTP_HEADER_BYTES_DEFAULT;
	c->max_headers = SG_HTTP_HEADER_COUNT_DEFAULT;
	c->max_body_bytes = SG_HTTP_BODY_MAX_DEFAULT;
	c->max_connections = SG_CONNECTIONS_DEFAULT;
	c->connect_timeout_ms = SG_TIMEOUT_CONNECT_DEFAULT;
	c->header_timeout_ms = SG_TIMEOUT_HEADER_DEFAULT;
	c->idle_timeout_ms = SG_TIMEOUT_IDLE_DEFAULT;
	c->response_timeout_ms = SG_TIMEOUT_BACKEND_DEFAULT;
	c->drain_timeout_ms = SG_TIMEOUT_DRAIN_DEFAULT;
	c->access_log = dupstr("stdout");
	c->log_level = dupstr("info");
	c->request_id_header = dupstr("X-Request-Id");
	if (!s->cookie_name || !s->digest || !s->salt || !s->header_name || !s->patch_header_name ||
	    !s->cookie_path || !c->access_log || !c->log_level || !c->request_id_header) {
		config_free(c);
		return SG_ENOMEM;
	}
	*ret = c;
	return 0;
}

void sg_bytes_clear(struct sg_bytes *b)
{
	if (!b)
		return;
	if (b->ptr) {
		/* keys must not linger in freed heap memory */
		explicit_bzero(b->ptr, b->len);
		free(b->ptr);
	}
	b->ptr = NULL;
	b->len = 0;
}

void config_addr_clear(struct sg_addr *a)
{
	if (!a)
		return;
	free(a->host);
	free(a->port);
	free(a->text);
	a->host = a->port = a->text = NULL;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void config_free(struct sg_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	for (size_t i = 0; i < cfg->nlisten; i++)
		config_addr_clear(&cfg->listen[i]);
	free(cfg->listen);
	struct sg_session_conf *s = &cfg->session;
	free(s->secret_key_file);
	free_strv(s->fallback_key_files, s->nfallback);
	sg_bytes_clear(&s->secret);
	if (s->fallback_secrets)
		for (size_t i = 0; i < s->nfallback; i++)
			sg_bytes_clear(&s->fallback_secrets[i]);
	free(s->fallback_secrets);
	free(s->cookie_name);
	free(s->digest);
	free(s->salt);
	free(s->header_name);
	free(s->patch_header_name);
	free(s->cookie_domain);
	free(s->cookie_path);
	free(s->cookie_samesite);
	for (size_t i = 0; i < cfg->nbackends; i++) {
		struct sg_backend *b = &cfg->backends[i];
		free(b->name);
		for (size_t j = 0; j < b->nservers; j++)
			config_addr_clear(&b->servers[j]);
		free(b->servers);
		free_strv(b->writable_keys, b->nwritable);
		free(b->starlette_secret_key_file);
		free(b->starlette_cookie_name);
		sg_bytes_clear(&b->starlette_secret);
	}
	free(cfg->backends);
	for (size_t i = 0; i < cfg->nroutes; i++) {
		free(cfg->routes[i].prefix);
		free(cfg->routes[i].host);
		free(cfg->routes[i].backend_name);
	}
	free(cfg->routes);
	free(cfg->trusted_proxies);
	if (cfg->admin) {
		config_addr_clear(cfg->admin);
		free(cfg->admin);
	}
	free(cfg->access_log);
	free(cfg->log_level);
	free(cfg->request_id_header);
	free(cfg);
}

/* ---- scalar parsers ---- */

int config_parse_duration(const char *s, size_t len, unsigned long long *ret_ms)
{
	if (!s || len == 0)
		return SG_EINVAL;
	size_t i = 0;
	unsigned long long total = 0;
	bool any_unit = false;
	unsigned last_rank = 99; /* units must go from large to small: "1h30m" */
	while (i < len) {
		if (s[i] < '0' || s[i] > '9')
			return SG_EINVAL;
		unsigned long long n = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (n > (ULLONG_MAX - 9) / 10)
				return SG_EINVAL;
			n = n * 10 + (unsigned)(s[i++] - '0');
		}
		unsigned long long mul;
		unsigned rank;
		if (i == len) {
			if (any_unit) /* "1m30" is ambiguous */
				return SG_EINVAL;
			mul = 1000, rank = 0; /* bare integer: seconds, as nginx */
		} else if (len - i >= 2 && s[i] == 'm' && s[i + 1] == 's') {
			mul = 1, rank = 1, i += 2;
		} else {
			switch (s[i]) {
			case 's': mul = 1000, rank = 2; break;
			case 'm': mul = 60 * 1000ULL, rank = 3; break;
			case 'h': mul = 3600 * 1000ULL, rank = 4; break;
			case 'd': mul = 86400 * 1000ULL, rank = 5; break;
			default: return SG_EINVAL;
			}
			i++;
		}
		if (rank != 0) {
			if (rank >= last_rank)
				return SG_EINVAL;
			last_rank = rank;
			any_unit = true;
		}
		if (n > ULLONG_MAX / mul || total > ULLONG_MAX - n * mul)
			return SG_EINVAL;
		total += n * mul;
	}
	*ret_ms = total;
	return 0;
}

int config_parse_size(const char *s, size_t len, unsigned long long *ret_bytes)
{
	if (!s || len == 0 || s[0] < '0' || s[0] > '9')
		return SG_EINVAL;
	size_t i = 0;
	unsigned long long n = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		if (n > (ULLONG_MAX - 9) / 10)
			return SG_EINVAL;
		n = n * 10 + (unsigned)(s[i++] - '0');
	}
	/* suffix: "", "b", or k|m|g followed by nothing, "b" or "ib" */
	static const char *const sfx[] = {"",	"b",   "k", "kb", "kib", "m",
					  "mb", "mib", "g", "gb", "gib"};
	static const unsigned shifts[] = {0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30};
	size_t slen = len - i;
	unsigned shift = 99;
	for (size_t k = 0; k < sizeof(sfx) / sizeof(sfx[0]); k++)
		if (strlen(sfx[k]) == slen && strncasecmp(s + i, sfx[k], slen) == 0)
			shift = shifts[k];
	if (shift == 99)
		return SG_EINVAL;
	if (shift && n > (ULLONG_MAX >> shift))
		return SG_EINVAL;
	*ret_bytes = n << shift;
	return 0;
}

static bool word_eq(const char *s, size_t len, const char *w)
{
	return strlen(w) == len && strncasecmp(s, w, len) == 0;
}

int config_parse_bool(const char *s, size_t len, bool *ret)
{
	if (!s)
		return SG_EINVAL;
	if (word_eq(s, len, "true") || word_eq(s, len, "yes") || word_eq(s, len, "on")) {
		*ret = true;
		return 0;
	}
	if (word_eq(s, len, "false") || word_eq(s, len, "no") || word_eq(s, len, "off")) {
		*ret = false;
		return 0;
	}
	return SG_EINVAL;
}

static const char *const mode_names[] = {
    [SG_SESSION_HEADER] = "header",
    [SG_SESSION_COOKIE] = "cookie",
    [SG_SESSION_STARLETTE] = "starlette",
    [SG_SESSION_NONE] = "none",
};

int config_parse_session_mode(const char *s, size_t len, enum sg_session_mode *ret)
{
	if (!s)
		return SG_EINVAL;
	for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strlen(mode_names[i]) == len && memcmp(s, mode_names[i], len) == 0) {
			*ret = (enum sg_session_mode)i;
			return 0;
		}
	return SG_EINVAL;
}

const char *config_session_mode_name(enum sg_session_mode m)
{
	if ((unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]))
		return mode_names[m];
	return "?";
}

/* ---- addresses ---- */

static bool hostname_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

int config_addr_parse(const char *s, size_t len, struct sg_addr *ret)
{
	if (!s || len == 0 || memchr(s, '\0', len))
		return SG_EINVAL;
	const char *host, *port;
	size_t hlen, plen;
	if (s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (!end || (size_t)(end - s) + 1 >= len || end[1] != ':')
			return SG_EINVAL;
		host = s + 1;
		hlen = (size_t)(end - host);
		port = end + 2;
		plen = len - (size_t)(port - s);
		char tmp[INET6_ADDRSTRLEN + 1];
		unsigned char bin[16];
		if (hlen == 0 || hlen >= sizeof(tmp))
			return SG_EINVAL;
		memcpy(tmp, host, hlen);
		tmp[hlen] = '\0';
		if (inet_pton(AF_INET6, tmp, bin) != 1)
			return SG_EINVAL;
	} else {
		const char *colon = memchr(s, ':', len);
		if (!colon || memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
			return SG_EINVAL; /* no port, or an IPv6 address without brackets */
		host = s;
		hlen = (size_t)(colon - s);
		port = colon + 1;
		plen = len - hlen - 1;
		if (hlen == 0 || hlen > 253)
			return SG_EINVAL;
		for (size_t i = 0; i < hlen; i++)
			if (!hostname_char(host[i]))
				return SG_EINVAL;
	}
	if (plen == 0 || plen > 5)
		return SG_EINVAL;
	unsigned p = 0;
	for (size_t i = 0; i < plen; i++) {
		if (port[i] < '0' || port[i] > '9')
			return SG_EINVAL;
		p = p * 10 + (unsigned)(port[i] - '0');
	}
	if (p == 0 || p > 65535)
		return SG_EINVAL;
	char pbuf[8];
	snprintf(pbuf, sizeof(pbuf), "%u", p);
	struct sg_addr a = {strndup(host, hlen), strdup(pbuf), strndup(s, len)};
	if (!a.host || !a.port || !a.text) {
		config_addr_clear(&a);
		return SG_ENOMEM;
	}
	*ret = a;
	return 0;
}

/* ---- CIDR ---- */

int config_cidr_parse(const char *s, size_t len, struct sg_cidr *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (!s || len == 0 || len >= sizeof(buf) || memchr(s, '\0', len))
		return SG_EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	struct sg_cidr c = {0};
	unsigned maxbits;
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		maxbits = 128;
	} else {
		return SG_EINVAL;
	}
	c.bits = maxbits;
	if (slash) {
		const char *b = slash + 1;
		if (*b == '\0' || strlen(b) > 3)
			return SG_EINVAL;
		unsigned n = 0;
		for (; *b; b++) {
			if (*b < '0' || *b > '9')
				return SG_EINVAL;
			n = n * 10 + (unsigned)(*b - '0');
		}
		if (n > maxbits)
			return SG_EINVAL;
		c.bits = n;
	}
	/* zero host bits so matching is a plain masked compare */
	for (unsigned i = 0; i < 16; i++) {
		if (i * 8 >= c.bits)
			c.addr[i] = 0;
		else if (i * 8 + 8 > c.bits)
			c.addr[i] &= (unsigned char)(0xff << (8 - (c.bits - i * 8)));
	}
	*ret = c;
	return 0;
}

static bool prefix_bits_eq(const unsigned char *a, const unsigned char *net, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;
	if (memcmp(a, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == net[full];
}

static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool config_cidr_match(const struct sg_cidr *nets, size_t n, int family, const unsigned char *addr)
{
	if (!nets || !addr)
		return false;
	bool mapped = family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0;
	unsigned char as6[16];
	if (family == AF_INET) {
		memcpy(as6, v4mapped, 12);
		memcpy(as6 + 12, addr, 4);
	}
	for (size_t i = 0; i < n; i++) {
		const struct sg_cidr *c = &nets[i];
		if (c->family == family) {
			if (prefix_bits_eq(addr, c->addr, c->bits))
				return true;
		} else if (c->family == AF_INET && mapped) {
			if (prefix_bits_eq(addr + 12, c->addr, c->bits))
				return true;
		} else if (c->family == AF_INET6 && family == AF_INET) {
			if (prefix_bits_eq(as6, c->addr, c->bits))
				return true;
		}
	}
	return false;
}

size_t config_ipv4_format(const unsigned char addr[4], char out[CONFIG_IPV4_TEXT_MAX])
{
	size_t n = 0;
	for (int i = 0; i < 4; i++) {
		unsigned v = addr[i];
		if (i)
			out[n++] = '.';
		if (v >= 100)
			out[n++] = (char)('0' + v / 100);
		if (v >= 10)
			out[n++] = (char)('0' + v / 10 % 10);
		out[n++] = (char)('0' + v % 10);
	}
	out[n] = '\0';
	return n;
}

/* ---- routes ---- */

static bool prefix_matches(const struct sg_route *r, const char *path, size_t pathlen)
{
	size_t plen = r->prefix_len;
	if (pathlen < plen || memcmp(path, r->prefix, plen) != 0)
		return false;
	/* a segment boundary: "/app" must not match "/apple" */
	return pathlen == plen || r->prefix[plen - 1] == '/' || path[plen] == '/' ||
	       path[plen] == '?';
}

/* route host (lowercase, no port, no trailing dot; "*.x.y" = any subdomain) vs
 * the request's host name */
static bool host_matches(const char *want, const char *h, size_t hlen)
{
	size_t wlen = strlen(want);
	if (wlen >= 2 && want[0] == '*' && want[1] == '.') {
		/* at least one label before the suffix: "*.x.com" matches "a.x.com", not "x.com" */
		size_t slen = wlen - 1; /* ".x.com" */
		if (hlen <= slen)
			return false;
		h += hlen - slen;
		hlen = slen;
		want++;
		wlen = slen;
	}
	if (hlen != wlen)
		return false;
	for (size_t i = 0; i < hlen; i++)
		if (lower((unsigned char)h[i]) != want[i])
			return false;
	return true;
}

const struct sg_route *config_route_match(const struct sg_config *cfg, const char *host,
					  size_t hostlen, const char *path, size_t pathlen)
{
	if (!cfg || !path)
		return NULL;
	/* Host header -> bare name: drop ":port" ("[v6]:port" keeps its brackets) and a trailing
	 * dot */
	size_t hlen = 0;
	if (host && hostlen) {
		if (host[0] == '[') {
			const char *end = memchr(host, ']', hostlen);
			hlen = end ? (size_t)(end - host) + 1 : hostlen;
		} else {
			const char *colon = memchr(host, ':', hostlen);
			hlen = colon ? (size_t)(colon - host) : hostlen;
		}
		if (hlen && host[hlen - 1] == '.')
			hlen--;
	}
	for (size_t i = 0; i < cfg->nroutes; i++) {
		const struct sg_route *r = &cfg->routes[i];
		if (r->host && !host_matches(r->host, host, hlen))
			continue;
		if (prefix_matches(r, path, pathlen))
			return r;
	}
	return NULL;
}

int config_strip_prefix(const struct sg_route *r, const char *path, size_t pathlen, char *out,
			size_t outcap, size_t *ret_len)
{
	if (!r || !path || !prefix_matches(r, path, pathlen))
		return SG_EINVAL;
	size_t cut = 0;
	if (r->strip_prefix) {
		cut = r->prefix_len;
		if (cut && r->prefix[cut - 1] == '/')
			cut--; /* "/app/" strips "/app", keeping the slash */
	}
	const char *rest = path + cut;
	size_t restlen = pathlen - cut;
	bool slash = restlen == 0 || rest[0] == '?';
	size_t need = restlen + (slash ? 1 : 0);
	if (need > outcap)
		return SG_ETOOBIG;
	if (slash)
		out[0] = '/';
	memcpy(out + (slash ? 1 : 0), rest, restlen);
	*ret_len = need;
	return 0;
}

/* ---- write policy ---- */

bool config_key_writable(const struct sg_backend *b, const char *key, size_t keylen)
{
	if (!b)
		return false;
	if (b->nwritable == 0)
		return true;
	for (size_t i = 0; i < b->nwritable; i++) {
		const char *p = b->writable_keys[i];
		size_t plen = strlen(p);
		if (plen && p[plen - 1] == '*') {
			if (keylen >= plen - 1 && memcmp(key, p, plen - 1) == 0)
				return true;
		} else if (plen == keylen && memcmp(key, p, plen) == 0) {
			return true;
		}
	}
	return false;
}

/* ---- validation ---- */

static int problem(struct sg_config_problem *p, const char *section, size_t index, const char *key,
		   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int problem(struct sg_config_problem *p, const char *section, size_t index, const char *key,
		   const char *fmt, ...)
{
	if (p) {
		p->section = section;
		p->index = index;
		p->key = key;
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->msg, sizeof(p->msg), fmt, ap);
		va_end(ap);
	}
	return SG_EINVAL;
}

/* RFC 9110 tchar: what a header or cookie name may contain. */
static bool is_token(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!(isalnum(c) || strchr("!#$%&'*+-.^_`|~", c)))
			return false;
	}
	return true;
}

/* Header names compared as backends' servers do: case-insensitive, '_' == '-'. */
static bool header_name_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		int x = lower((unsigned char)*a), y = lower((unsigned char)*b);
		if (x == '_')
			x = '-';
		if (y == '_')
			y = '-';
		if (x != y)
			return false;
	}
	return *a == *b;
}

/* Headers a session header name must never collide with. */
static const char *const reserved_headers[] = {
    "Host",
    "Cookie",
    "Set-Cookie",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Upgrade",
    "TE",
    "Trailer",
    "Proxy-Connection",
    "Proxy-Authorization",
    "Authorization",
    "Expect",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    NULL,
};

static int check_header_name(struct sg_config_problem *p, const char *section, const char *key,
			     const char *name)
{
	if (!is_token(name) || strchr(name, '_'))
		return problem(p, section, 0, key,
			       "%s must be an HTTP header name (letters, digits, '-'), got \"%s\"",
			       key, name ? name : "");
	for (size_t i = 0; reserved_headers[i]; i++)
		if (header_name_eq(name, reserved_headers[i]))
			return problem(p, section, 0, key, "%s must not be the standard header %s",
				       key, reserved_headers[i]);
	return 0;
}

static bool has_ctl_or(const char *s, const char *bad)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || strchr(bad, *s))
			return true;
	return false;
}

static bool backend_name_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static bool addr_eq(const struct sg_addr *a, const struct sg_addr *b)
{
	return strcasecmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

/* Does every request route j could match also match the earlier route i? */
static bool route_shadows(const struct sg_route *i, const struct sg_route *j)
{
	if (i->host && (!j->host || strcmp(i->host, j->host) != 0))
		return false;
	return prefix_matches(i, j->prefix, j->prefix_len);
}

static int validate_session(struct sg_config *cfg, struct sg_config_problem *p)
{
	struct sg_session_conf *s = &cfg->session;
	size_t needs = cfg->nbackends;
	for (size_t i = 0; i < cfg->nbackends && needs == cfg->nbackends; i++)
		if (cfg->backends[i].session != SG_SESSION_NONE)
			needs = i;
	if (!s->secret_key_file || !*s->secret_key_file) {
		/* pointed at the backend that needs it: the session section may not exist */
		if (needs < cfg->nbackends)
			return problem(p, "backends", needs, "session",
				       "session.secret_key_file is required (backend \"%s\" uses "
				       "session: %s; set session: none for no sessions)",
				       cfg->backends[needs].name ? cfg->backends[needs].name : "",
				       config_session_mode_name(cfg->backends[needs].session));
		if (s->accept_starlette_cookies)
			return problem(p, "session", 0, "secret_key_file",
				       "session.secret_key_file is required by "
				       "accept_starlette_cookies");
	}
	for (size_t i = 0; i < s->nfallback; i++)
		if (!s->fallback_key_files[i] || !*s->fallback_key_files[i])
			return problem(p, "session", i, "fallback_key_files",
				       "fallback_key_files: entry %zu is empty", i + 1);
	if (!is_token(s->cookie_name))
		return problem(
		    p, "session", 0, "cookie_name",
		    "cookie_name must be a cookie name (letters, digits, -_.), got \"%s\"",
		    s->cookie_name ? s->cookie_name : "");
	static const char *const digests[] = {"sha1", "sha224", "sha256", "sha384", "sha512"};
	bool dok = false;
	for (size_t i = 0; s->digest && i < sizeof(digests) / sizeof(digests[0]); i++)
		if (strcasecmp(s->digest, digests[i]) == 0) {
			memcpy(s->digest, digests[i], strlen(digests[i]));
			dok = true;
		}
	if (!dok)
		return problem(
		    p, "session", 0, "digest",
		    "digest must be one of sha1, sha224, sha256, sha384, sha512, got \"%s\"",
		    s->digest ? s->digest : "");
	if (!s->salt)
		return problem(p, "session", 0, "salt", "salt must be a string");
	if (s->max_age <= 0)
		return problem(p, "session", 0, "max_age", "max_age must be at least 1s");
	int e;
	if ((e = check_header_name(p, "session", "header_name", s->header_name)) ||
	    (e = check_header_name(p, "session", "patch_header_name", s->patch_header_name)))
		return e;
	if (header_name_eq(s->header_name, s->patch_header_name))
		return problem(p, "session", 0, "patch_header_name",
			       "patch_header_name must differ from header_name");
	if (s->header_max < 16 || s->header_max > cfg->max_header_bytes)
		return problem(p, "session", 0, "header_max",
			       "header_max must be between 16 and limits.max_header_bytes (%zu)",
			       cfg->max_header_bytes);
	if (s->cookie_domain && (!*s->cookie_domain || has_ctl_or(s->cookie_domain, " ;,")))
		return problem(p, "session", 0, "cookie_domain",
			       "cookie_domain must be a domain name like example.com");
	if (!s->cookie_path || s->cookie_path[0] != '/' || has_ctl_or(s->cookie_path, ";"))
		return problem(p, "session", 0, "cookie_path",
			       "cookie_path must start with '/' and contain no ';'");
	if (s->cookie_samesite) {
		static const char *const ss[] = {"Strict", "Lax", "None"};
		bool ok = false;
		for (size_t i = 0; i < 3; i++)
			if (strcasecmp(s->cookie_samesite, ss[i]) == 0) {
				memcpy(s->cookie_samesite, ss[i], strlen(ss[i]));
				ok = true;
			}
		if (!ok)
			return problem(p, "session", 0, "cookie_samesite",
				       "cookie_samesite must be Strict, Lax or None, got \"%s\"",
				       s->cookie_samesite);
		if (strcmp(s->cookie_samesite, "None") == 0 && !s->cookie_secure)
			return problem(p, "session", 0, "cookie_samesite",
				       "cookie_samesite: None requires cookie_secure: true "
				       "(browsers drop the cookie otherwise)");
	}
	if (s->cookie_partitioned && !s->cookie_secure)
		return problem(p, "session", 0, "cookie_partitioned",
			       "cookie_partitioned requires cookie_secure: true "
			       "(browsers drop the cookie otherwise)");
	return 0;
}

static int validate_backends(struct sg_config *cfg, struct sg_config_problem *p)
{
	if (cfg->nbackends == 0)
		return problem(p, NULL, 0, "backends", "at least one backend is required");
	for (size_t i = 0; i < cfg->nbackends; i++) {
		struct sg_backend *b = &cfg->backends[i];
		if (!backend_name_ok(b->name))
			return problem(
			    p, "backends", i, "name",
			    "backend %zu: name must be 1-64 of [A-Za-z0-9_.-], got \"%s\"", i + 1,
			    b->name ? b->name : "");
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->backends[j].name, b->name) == 0)
				return problem(
				    p, "backends", i, "name",
				    "backend %zu: name \"%s\" is already used by backend %zu",
				    i + 1, b->name, j + 1);
		if (b->nservers == 0)
			return problem(p, "backends", i, "servers",
				       "backend \"%s\": at least one server is required", b->name);
		for (size_t j = 0; j < b->nservers; j++)
			for (size_t k = 0; k < j; k++)
				if (addr_eq(&b->servers[j], &b->servers[k]))
					return problem(p, "backends", i, "servers",
						       "backend \"%s\": server %s is listed twice",
						       b->name, b->servers[j].text);
		for (size_t j = 0; j < b->nwritable; j++) {
			const char *k = b->writable_keys[j];
			const char *star = k ? strchr(k, '*') : NULL;
			if (!k || !*k || (star && star[1] != '\0'))
				return problem(
				    p, "backends", i, "writable_keys",
				    "backend \"%s\": writable_keys entries are exact keys or "
				    "\"prefix*\", got \"%s\"",
				    b->name, k ? k : "");
		}
		if (b->keepalive > CONFIG_KEEPALIVE_MAX)
			return problem(p, "backends", i, "keepalive",
				       "backend \"%s\": keepalive must be at most %u", b->name,
				       CONFIG_KEEPALIVE_MAX);
		if (b->connect_timeout_ms == 0)
			b->connect_timeout_ms = cfg->connect_timeout_ms;
		if (b->response_timeout_ms == 0)
			b->response_timeout_ms = cfg->response_timeout_ms;
		if (b->fail_timeout_ms == 0)
			b->fail_timeout_ms = SG_SERVER_DOWN_DEFAULT;
		if (b->starlette_cookie_name && !is_token(b->starlette_cookie_name))
			return problem(
			    p, "backends", i, "starlette_cookie_name",
			    "backend \"%s\": starlette_cookie_name must be a cookie name", b->name);
		if (!b->starlette_cookie_name && !(b->starlette_cookie_name = strdup("session")))
			return SG_ENOMEM;
	}
	return 0;
}

static int validate_routes(struct sg_config *cfg, struct sg_config_problem *p)
{
	if (cfg->nroutes == 0)
		return problem(p, NULL, 0, "routes",
			       "at least one route is required (every request would get 404)");
	for (size_t i = 0; i < cfg->nroutes; i++) {
		struct sg_route *r = &cfg->routes[i];
		if (!r->prefix || r->prefix[0] != '/' || has_ctl_or(r->prefix, " #"))
			return problem(
			    p, "routes", i, "prefix",
			    "route %zu: prefix must start with '/' and contain no spaces, "
			    "got \"%s\"",
			    i + 1, r->prefix ? r->prefix : "");
		r->prefix_len = strlen(r->prefix);
		if (r->host) {
			size_t hl = strlen(r->host);
			if (hl && r->host[hl - 1] == '.')
				r->host[--hl] = '\0';
			bool ok = hl > 0 && hl <= 253;
			for (size_t k = 0; ok && k < hl; k++) {
				r->host[k] = (char)lower((unsigned char)r->host[k]);
				ok = hostname_char(r->host[k]) || (k == 0 && r->host[k] == '*') ||
				     (r->host[0] == '[' && strchr("[]:", r->host[k]));
			}
			if (ok && r->host[0] == '*' && (hl < 3 || r->host[1] != '.'))
				ok = false;
			if (!ok)
				return problem(p, "routes", i, "host",
					       "route %zu: host must be a host name without port, "
					       "like api.example.com or *.example.com",
					       i + 1);
		}
		size_t k;
		for (k = 0; k < cfg->nbackends; k++)
			if (r->backend_name && strcmp(cfg->backends[k].name, r->backend_name) == 0)
				break;
		if (k == cfg->nbackends) {
			char names[160] = "";
			size_t off = 0;
			for (size_t j = 0; j < cfg->nbackends && off < sizeof(names); j++)
				off += (size_t)snprintf(names + off, sizeof(names) - off, "%s%s",
							j ? ", " : "", cfg->backends[j].name);
			return problem(p, "routes", i, "backend",
				       "route %zu: unknown backend \"%s\" (defined: %s)", i + 1,
				       r->backend_name ? r->backend_name : "", names);
		}
		r->backend = k;
		for (size_t j = 0; j < i; j++)
			if (route_shadows(&cfg->routes[j], r))
				return problem(
				    p, "routes", i, "prefix",
				    "route %zu (%s) can never match: route %zu (%s) comes "
				    "first and matches all its requests (first match wins)",
				    i + 1, r->prefix, j + 1, cfg->routes[j].prefix);
	}
	return 0;
}

int config_validate(struct sg_config *cfg, struct sg_config_problem *p)
{
	if (!cfg)
		return SG_EINVAL;
	if (cfg->nlisten == 0)
		return problem(p, NULL, 0, "listen",
			       "listen is required (an address like 127.0.0.1:8080)");
	for (size_t i = 0; i < cfg->nlisten; i++)
		for (size_t j = 0; j < i; j++)
			if (addr_eq(&cfg->listen[i], &cfg->listen[j]))
				return problem(p, "listen", i, NULL, "listen: %s is listed twice",
					       cfg->listen[i].text);
	if (cfg->admin)
		for (size_t i = 0; i < cfg->nlisten; i++)
			if (addr_eq(cfg->admin, &cfg->listen[i]))
				return problem(p, "admin", 0, NULL,
					       "admin must differ from every listen address (%s)",
					       cfg->admin->text);
	if (cfg->workers > CONFIG_WORKERS_MAX)
		return problem(p, NULL, 0, "workers", "workers must be auto or 1-%u",
			       CONFIG_WORKERS_MAX);
	if (cfg->max_header_bytes < CONFIG_HEADER_BYTES_MIN ||
	    cfg->max_header_bytes > CONFIG_HEADER_BYTES_MAX)
		return problem(p, "limits", 0, "max_header_bytes",
			       "max_header_bytes must be between 1k and 1m");
	if (cfg->max_headers < 1 || cfg->max_headers > CONFIG_HEADERS_MAX)
		return problem(p, "limits", 0, "max_headers",
			       "max_headers must be between 1 and %u", CONFIG_HEADERS_MAX);
	if (cfg->max_connections < 1)
		return problem(p, "limits", 0, "max_connections",
			       "max_connections must be at least 1");
	static const char *const tnames[] = {"connect", "header", "idle", "response"};
	const unsigned tvals[] = {cfg->connect_timeout_ms, cfg->header_timeout_ms,
				  cfg->idle_timeout_ms, cfg->response_timeout_ms};
	for (size_t i = 0; i < 4; i++)
		if (tvals[i] == 0)
			return problem(p, "timeouts", 0, tnames[i],
				       "timeouts.%s must be at least 1ms", tnames[i]);
	if (!cfg->log_level || (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") &&
				strcmp(cfg->log_level, "warn") && strcmp(cfg->log_level, "error")))
		return problem(p, NULL, 0, "log_level",
			       "log_level must be one of debug, info, warn, error, got \"%s\"",
			       cfg->log_level ? cfg->log_level : "");
	if (!cfg->access_log || !*cfg->access_log)
		return problem(p, NULL, 0, "access_log",
			       "access_log must be stdout, stderr, off or a file path");
	int e;
	if ((e = check_header_name(p, NULL, "request_id_header", cfg->request_id_header)))
		return e;
	if ((e = validate_session(cfg, p)) || (e = validate_backends(cfg, p)) ||
	    (e = validate_routes(cfg, p)))
		return e;
	return 0;
}
