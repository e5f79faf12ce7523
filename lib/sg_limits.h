/* lib/sg_limits.h — every size and time an attacker can influence, in one place.
 * Config values default to these; the SG_*_MAX hard caps cannot be raised by config. */
#ifndef SG_LIMITS_H
#define SG_LIMITS_H

/* Cookies and sessions */
#define SG_COOKIE_MAX (16 * 1024)        /* longest session cookie value decoded at all */
#define SG_INFLATE_MAX (256 * 1024)      /* hard cap on a decompressed session payload */
#define SG_SECRET_MAX (64 * 1024)        /* longest secret key file accepted */
#define SG_JSON_MAX_DEPTH 64             /* nesting of arrays/objects in a session or patch */
#define SG_JSON_MAX_INPUT (1024 * 1024)  /* longest JSON text parsed (patch header values too) */
#define SG_COOKIE_WARN_LEN 4093          /* browsers silently drop longer cookies */
#define SG_SESSION_MAX_AGE_DEFAULT (31 * 24 * 3600) /* Flask PERMANENT_SESSION_LIFETIME */
#define SG_SESSION_HEADER_MAX_DEFAULT 8000 /* gunicorn's limit_request_field_size */
#define SG_SET_COOKIE_ATTR_MAX 1024      /* longer Set-Cookie attribute values are ignored (RFC 6265bis) */
#define SG_PATCH_MAX_OPS 1024            /* operations in one JSON Patch */
#define SG_PATCH_MAX_BYTES SG_JSON_MAX_INPUT /* one patch header value */
#define SG_PATCH_MAX_COPY_NODES (256 * 1024) /* JSON nodes duplicated by "copy" ops in one patch */
#define SG_SESSION_CACHE_ENTRIES 1024   /* verified cookies cached per worker thread */
#define SG_SESSION_CACHE_BYTES (2 * 1024 * 1024) /* their bytes per worker; an entry over 1/16 is not cached */

/* HTTP (defaults; config may lower or raise within reason) */
#define SG_HTTP_HEADER_BYTES_DEFAULT (32 * 1024) /* request/response head, all lines */
#define SG_HTTP_HEADER_COUNT_DEFAULT 100
#define SG_HTTP_BODY_MAX_DEFAULT (0)             /* 0 = unlimited request body */
#define SG_HTTP_PATCH_HEADERS_MAX 16             /* patch headers per response */
#define SG_CONNECTIONS_DEFAULT 10000             /* client connections per worker */
#define SG_REQUEST_ID_MAX 200                    /* longer client request ids are replaced */

/* Timeouts, milliseconds */
#define SG_TIMEOUT_CONNECT_DEFAULT 5000
#define SG_TIMEOUT_HEADER_DEFAULT 10000      /* client must send a whole request head */
#define SG_TIMEOUT_IDLE_DEFAULT 60000        /* keep-alive and tunnel idle */
#define SG_TIMEOUT_BACKEND_DEFAULT 60000     /* backend response head */
#define SG_TIMEOUT_DRAIN_DEFAULT 10000       /* SIGTERM deadline for in-flight requests */
#define SG_SERVER_DOWN_DEFAULT 10000         /* passive health: how long a failed server rests */

/* Configuration file (hard caps: a config is parsed before anything is trusted) */
#define SG_CONFIG_MAX_BYTES (1024 * 1024)   /* longest YAML file read */
#define SG_CONFIG_MAX_NODES 100000          /* YAML nodes per document */
#define SG_CONFIG_MAX_DEPTH 32              /* YAML nesting */

#endif
