/* lib/config.h — the configuration model shared by the loader (daemon/cfgload.c)
 * and the proxy engine, plus the pure helpers that interpret it.
 *
 * Every string and array below is owned by its struct sg_config and freed by
 * config_free(). After a successful cfgload_*() every default is filled in and
 * config_validate() has run: the engine may use every field as-is (no zero
 * "inherit" values remain, workers >= 1, route->backend is a valid index). */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum sg_session_mode {
	SG_SESSION_HEADER, /* X-Session JSON in, X-Session-Patch out (default) */
	SG_SESSION_COOKIE, /* unchanged Flask app: gets the cookie, its Set-Cookie is the change */
	SG_SESSION_STARLETTE, /* unchanged Starlette SessionMiddleware app (issue 8) */
	SG_SESSION_NONE	      /* no session at all: nothing added, nothing read back */
};

/* "127.0.0.1:8080", "[::1]:8080", "localhost:80". host has no brackets;
 * port is numeric (1-65535) as text, ready for getaddrinfo(AI_NUMERICSERV);
 * text is the original spelling, for logs. */
struct sg_addr {
	char *host;
	char *port;
	char *text;
};

/* A trusted-proxy network; family is AF_INET or AF_INET6, addr in network
 * order (4 or 16 bytes used), host bits beyond `bits` are zero. */
struct sg_cidr {
	int family;
	unsigned char addr[16];
	unsigned bits;
};

/* Raw key bytes (may contain NUL); ptr is NUL-terminated for convenience. */
struct sg_bytes {
	unsigned char *ptr;
	size_t len;
};

struct sg_backend {
	char *name; /* unique; [A-Za-z0-9_.-]+ (used in logs and metric labels) */
	struct sg_addr *servers;
	size_t nservers;	      /* >= 1; round robin */
	enum sg_session_mode session; /* default header */
	char **writable_keys;	      /* exact keys or "prefix*"; nwritable == 0 means all keys */
	size_t nwritable;
	unsigned connect_timeout_ms, response_timeout_ms; /* default: top-level timeouts */
	unsigned keepalive; /* max idle upstream connections per server (default 32, 0 = none) */
	unsigned max_fails; /* failures before a server rests (default 1; 0 = never marked down) */
	unsigned fail_timeout_ms; /* how long a failed server rests (default 10 s) */
	bool
	    preserve_host; /* forward the client's Host (default true); false: server's host:port */
	/* issue 8; default: the Flask secret file/bytes, and cookie "session" */
	char *starlette_secret_key_file;
	char *starlette_cookie_name;
	struct sg_bytes
	    starlette_secret; /* loaded by the daemon; copy of session.secret by default */
};

struct sg_route {
	char *prefix; /* starts with '/'; matched at a path-segment boundary */
	size_t prefix_len;
	char *host;	    /* NULL = any host; lowercase, no port */
	bool strip_prefix;  /* default false */
	char *backend_name; /* as written; kept for logs */
	size_t backend;	    /* index into sg_config.backends (resolved by config_validate) */
};

struct sg_session_conf {
	char *secret_key_file;	   /* required unless every backend is session: none */
	char **fallback_key_files; /* older keys still accepted for reading (rotation) */
	size_t nfallback;
	struct sg_bytes secret;		   /* bytes loaded by the daemon; empty if not loaded */
	struct sg_bytes *fallback_secrets; /* nfallback entries */
	char *cookie_name;		   /* "session" */
	char *digest;			   /* "sha1" (also sha224|sha256|sha384|sha512) */
	char *salt;			   /* "cookie-session" */
	long long max_age;	 /* seconds; default 31 days = Flask PERMANENT_SESSION_LIFETIME */
	char *header_name;	 /* "X-Session" */
	char *patch_header_name; /* "X-Session-Patch" */
	size_t header_max;	 /* 8000: larger session header -> 431 */
	/* Flask SESSION_COOKIE_* */
	char *cookie_domain;	       /* NULL = host-only cookie */
	char *cookie_path;	       /* "/" */
	bool cookie_httponly;	       /* true */
	bool cookie_secure;	       /* false */
	char *cookie_samesite;	       /* NULL | "Strict" | "Lax" | "None" (normalized spelling) */
	bool cookie_partitioned;       /* false; requires cookie_secure */
	bool refresh_each_request;     /* true */
	bool refuse_oversized_cookie;  /* false: a cookie > 4093 bytes is only logged */
	bool accept_starlette_cookies; /* issue 8 migration aid, false */
};

struct sg_config {
	char *path;		/* file it was loaded from (or the buffer's name) */
	struct sg_addr *listen; /* scalar or list in YAML; >= 1 */
	size_t nlisten;
	unsigned workers; /* threads; "auto" = 0 in config_new, resolved to the CPU count by the
			     loader */
	struct sg_session_conf session;
	struct sg_backend *backends;
	size_t nbackends;
	struct sg_route *routes; /* first match in file order wins */
	size_t nroutes;
	struct sg_cidr *trusted_proxies; /* X-Forwarded-* and X-Request-Id trusted from these */
	size_t ntrusted;
	/* limits (defaults from lib/sg_limits.h) */
	size_t max_header_bytes;	   /* whole request/response head */
	unsigned max_headers;		   /* header lines per head */
	unsigned long long max_body_bytes; /* request body; 0 = unlimited */
	unsigned max_connections;      /* client connections per worker; beyond: accept paused */
	bool allow_underscore_headers; /* false: "X_Foo" -> 400 */
	/* timeouts, ms, all > 0 except drain (0 = close at once) */
	unsigned connect_timeout_ms, header_timeout_ms, idle_timeout_ms, response_timeout_ms,
	    drain_timeout_ms;
	/* operations (issue 5) */
	struct sg_addr *admin;	 /* NULL = off */
	char *access_log;	 /* "stdout" (default), "stderr", "off", or a file path */
	char *log_level;	 /* "info" (debug|info|warn|error) */
	char *request_id_header; /* "X-Request-Id": trusted from trusted_proxies, else generated */
};

/* Where config_validate found a problem, for the loader to turn into a
 * file:line:column: section is "listen", "session", "backends", "routes",
 * "admin", "limits", "timeouts" or NULL (the document); index is the item in
 * a list section; key names the offending field inside it (or NULL). */
struct sg_config_problem {
	const char *section;
	size_t index;
	const char *key;
	char msg[256];
};

/* A config holding every default (no listen, backends or routes). */
int config_new(struct sg_config **ret);
void config_free(struct sg_config *cfg);

/* Cross-checks and completes a parsed config: resolves route backend names to
 * indexes, fills per-backend defaults inherited from the top level, checks
 * unique names, at least one listen/backend/route, header/cookie syntax,
 * unreachable routes, SameSite=None without Secure, secret required... On
 * failure returns SG_EINVAL and fills *ret_problem (msg like
 * `route 2: unknown backend "flsk"`). Idempotent. */
int config_validate(struct sg_config *cfg, struct sg_config_problem *ret_problem);

/* The route for a request, or NULL (-> 404). host is the Host header as sent
 * (may carry ":port", may be NULL/empty), compared case-insensitively without
 * the port or a trailing dot; path is the request target (query included).
 * First match in file order; a prefix matches at a segment boundary: "/app"
 * matches "/app", "/app/", "/app/x", "/app?q" but not "/apple"; "/" matches all. */
const struct sg_route *config_route_match(const struct sg_config *cfg, const char *host,
					  size_t hostlen, const char *path, size_t pathlen);

/* The target the backend sees for a path that matched r: with strip_prefix
 * "/app/x" -> "/x", "/app" -> "/", "/app?q=1" -> "/?q=1"; else path unchanged.
 * Writes at most pathlen + 1 bytes to out (no NUL); SG_ETOOBIG if outcap is
 * smaller than needed, SG_EINVAL if path does not match r's prefix. */
int config_strip_prefix(const struct sg_route *r, const char *path, size_t pathlen, char *out,
			size_t outcap, size_t *ret_len);

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (/32 or /128). */
int config_cidr_parse(const char *s, size_t len, struct sg_cidr *ret);
/* True if addr (4 bytes for AF_INET, 16 for AF_INET6) is in any of the n
 * networks; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 networks. */
bool config_cidr_match(const struct sg_cidr *nets, size_t n, int family, const unsigned char *addr);

/* Dotted-quad text of an IPv4 address, as inet_ntop writes it, without
 * inet_ntop's sprintf (~1,700 instructions per accepted connection);
 * returns the length, NUL-terminated. */
#define CONFIG_IPV4_TEXT_MAX 16
size_t config_ipv4_format(const unsigned char addr[4], char out[CONFIG_IPV4_TEXT_MAX]);

/* "host:port", "[v6]:port"; fills *ret with malloc'd strings (free with config_addr_clear). */
int config_addr_parse(const char *s, size_t len, struct sg_addr *ret);
void config_addr_clear(struct sg_addr *a);

/* Durations: "500ms", "10s", "2m", "1h", "1d", combinations "1m30s"; a bare
 * integer means seconds. Result in milliseconds. */
int config_parse_duration(const char *s, size_t len, unsigned long long *ret_ms);
/* Sizes: "512", "8k", "1m", "1g" (case-insensitive, optional "b"/"ib": "8KiB");
 * binary multiples; a bare integer means bytes. */
int config_parse_size(const char *s, size_t len, unsigned long long *ret_bytes);
/* true/false, yes/no, on/off (case-insensitive). */
int config_parse_bool(const char *s, size_t len, bool *ret);
/* "header", "cookie", "starlette", "none". */
int config_parse_session_mode(const char *s, size_t len, enum sg_session_mode *ret);
const char *config_session_mode_name(enum sg_session_mode m);

/* writable_keys policy: may backend b write session key `key`? */
bool config_key_writable(const struct sg_backend *b, const char *key, size_t keylen);

/* Wipes and frees key bytes; sg_bytes_clear(NULL) is a no-op. */
void sg_bytes_clear(struct sg_bytes *b);

#endif
