/* lib/errors.h — the error codes every lib/ function returns (0 or negative). */
#ifndef SG_ERRORS_H
#define SG_ERRORS_H

enum sg_err {
	SG_OK = 0,
	SG_ENOMEM = -1,       /* allocation failed */
	SG_EMALFORMED = -2,   /* syntax: not base64url, not JSON, bad cookie shape */
	SG_EBADSIG = -3,      /* signature verifies with no key */
	SG_EEXPIRED = -4,     /* timestamp older than max age */
	SG_EFUTURE = -5,      /* timestamp in the future */
	SG_ETOOBIG = -6,      /* a size limit (lib/sg_limits.h) was exceeded */
	SG_EDEPTH = -7,       /* JSON nesting deeper than SG_JSON_MAX_DEPTH */
	SG_ENOENT = -8,       /* key, index or path not found */
	SG_EPOLICY = -9,      /* a patch touches a key the backend may not write */
	SG_ETESTFAIL = -10,   /* a JSON Patch "test" operation failed */
	SG_EINVAL = -11,      /* invalid argument or value (bad config value, bad patch op) */
	SG_EUNSUPPORTED = -12 /* valid input we cannot represent or re-encode faithfully */
};

/* Short lowercase reason, e.g. "bad signature"; never NULL. */
const char *sg_strerror(int err);

#endif
