/* lib/signer.h — itsdangerous Signer / TimestampSigner with a rotating key set. */
#ifndef SG_SIGNER_H
#define SG_SIGNER_H

#include <stddef.h>
#include <stdint.h>

enum signer_digest {
	SIGNER_SHA1, /* itsdangerous and Flask default */
	SIGNER_SHA224,
	SIGNER_SHA256,
	SIGNER_SHA384,
	SIGNER_SHA512
};

enum signer_kdf {
	SIGNER_KDF_HMAC,	 /* key = HMAC(secret, salt): Flask's sessions */
	SIGNER_KDF_DJANGO_CONCAT /* key = digest(salt + "signer" + secret): itsdangerous
				  * default, Starlette's SessionMiddleware */
};

#define SIGNER_SALT_FLASK	 "cookie-session"
#define SIGNER_SALT_ITSDANGEROUS "itsdangerous.Signer"

/* Longest suffix signer_sign_timed appends: "." + 11 chars of an 8-byte
 * timestamp + "." + 86 chars of a SHA-512 signature. */
#define SIGNER_TIMED_SUFFIX_MAX (1 + 11 + 1 + 86)

/* A digest, salt and key derivation plus one current key and its fallbacks,
 * with HMAC states precomputed once so a verify costs one bare HMAC.
 * Immutable after setup: safe to share between threads. */
typedef struct signer signer;

/* What a successful unsign found. */
struct signer_result {
	size_t value_len; /* the signed value is buf[0, value_len) */
	uint64_t ts;	  /* timed only: seconds since the epoch */
	size_t key_index; /* 0: current key, 1..: fallbacks in the order added */
};

/* salt may contain any bytes. SG_EINVAL on an unknown digest or kdf. */
int signer_new(enum signer_digest digest, enum signer_kdf kdf, const char *salt, size_t salt_len,
	       signer **ret);
void signer_free(signer *s); /* NULL is a no-op */

/* Adds a secret (raw bytes): the first becomes the current key, later ones
 * are fallbacks (Flask's SECRET_KEY_FALLBACKS), tried in order. Derives the
 * key now. Empty secret: SG_EINVAL; longer than SG_SECRET_MAX: SG_ETOOBIG. */
int signer_add_key(signer *s, const void *secret, size_t len);
size_t signer_key_count(const signer *s);

/* "sha1" / "sha224" / "sha256" / "sha384" / "sha512" and "hmac" / "django-concat", as itsdangerous
 * names them (for config files and the CLI). SG_EINVAL otherwise. */
int signer_digest_parse(const char *name, enum signer_digest *ret);
int signer_kdf_parse(const char *name, enum signer_kdf *ret);

/* Length of a secret read from a key file: len minus one trailing '\n'. */
size_t signer_secret_trim(const char *buf, size_t len);

/* Signer.sign: appends "." + signature to buf[0, len); needs
 * cap >= len + 1 + 86 (SG_ETOOBIG otherwise); *ret_len is the new length.
 * Signs with the current key; SG_EINVAL without keys. */
int signer_sign(const signer *s, char *buf, size_t len, size_t cap, size_t *ret_len);

/* TimestampSigner.sign at time now (seconds, >= 0): appends
 * "." + timestamp + "." + signature; needs cap >= len + SIGNER_TIMED_SUFFIX_MAX. */
int signer_sign_timed(const signer *s, int64_t now, char *buf, size_t len, size_t cap,
		      size_t *ret_len);

/* Signer.unsign of "value.signature" (split on the last '.'): tries the
 * current key, then the fallbacks. The signature must be the canonical
 * unpadded base64url of the MAC (what itsdangerous writes). SG_EMALFORMED if
 * buf is not made of base64url characters and '.', or a part is empty;
 * SG_EBADSIG if no key verifies. Fills *ret (ts is 0). */
int signer_unsign(const signer *s, const char *buf, size_t len, struct signer_result *ret);

/* Checks sig[0, sig_len) against the signature of value[0, n) with the
 * current key, then the fallbacks, in constant time per key; *ret_key is the
 * index of the key that verified. value may hold any bytes: for formats
 * whose payload is not base64url (Starlette's standard base64). SG_EBADSIG
 * if no key verifies. */
int signer_verify(const signer *s, const char *value, size_t n, const char *sig, size_t sig_len,
		  size_t *ret_key);

/* TimestampSigner.unsign of "value.timestamp.signature" (split on the last
 * two '.'; value may itself contain '.'). After the signature: a timestamp
 * of more than 8 bytes is SG_EMALFORMED; with max_age >= 0, a timestamp after
 * now is SG_EFUTURE and one older than max_age seconds SG_EEXPIRED
 * (max_age < 0: no time checks). An empty timestamp is 0, as itsdangerous
 * reads it. */
int signer_unsign_timed(const signer *s, const char *buf, size_t len, int64_t now, int64_t max_age,
			struct signer_result *ret);

/* signer_unsign_timed's time checks alone, for a timestamp that verified
 * earlier (a cached session): 0, SG_EFUTURE or SG_EEXPIRED; max_age < 0: 0. */
int signer_check_age(uint64_t ts, int64_t now, int64_t max_age);

#endif
