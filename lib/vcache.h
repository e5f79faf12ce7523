/* lib/vcache.h — a bounded cache of verified Flask session cookies (one per worker thread).
 *
 * The same browser sends the same cookie bytes on every request until the
 * session changes; decoding it (HMAC, base64, inflate, the plain view) again
 * each time is most of the session work. The cache maps the exact cookie
 * bytes to what flask_decode produced for them plus the plain view, so a hit
 * costs a keyed hash, a comparison and a copy.
 *
 * Security (see also daemon/pipeline.c, which owns the policy):
 * - Only sessions that verified (signature, then shape) are put; nothing an
 *   attacker sends without a valid signature can enter. A hit therefore only
 *   happens for bytes that verified before under the same key set, as long
 *   as the owner empties the cache whenever the key set changes (vcache_clear).
 * - A hit compares the FULL cookie bytes (after a 64-bit keyed-hash match),
 *   in constant time: a hash collision can never substitute one session
 *   for another, and the comparison's time says nothing about the bytes.
 * - Buckets come from SipHash-1-3 under a secret per-cache key: an attacker
 *   cannot aim cookies at one bucket (no collision flooding) or learn bucket
 *   placement from timing. That a hit is faster than a miss reveals only
 *   whether a cookie the client already holds was seen recently.
 * - The time checks are NOT cached: the caller re-checks the stored timestamp
 *   against max_age and now on every hit, as flask_decode does.
 * - Bounded: at most max_entries entries and max_bytes bytes (CLOCK eviction);
 *   an entry larger than max_bytes / 16 is not cached. */
#ifndef SG_VCACHE_H
#define SG_VCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flask.h"

typedef struct vcache vcache;

/* What a hit returns; valid until the next vcache_put, vcache_clear or
 * vcache_free on the same cache. */
struct vcache_entry {
	const flask_session *fs; /* as flask_decode returned it (cookie, JSON, ts, key) */
	const char *plain;	 /* the plain view (X-Session), NUL-terminated */
	size_t plain_len;
	unsigned flags; /* the caller's, as put */
};

/* key: 16 secret random bytes (the caller gets them from the OS: lib/ does
 * no I/O). SG_EINVAL when max_entries is 0 or above 2^20; SG_ENOMEM. */
int vcache_new(size_t max_entries, size_t max_bytes, const unsigned char key[16], vcache **ret);
void vcache_free(vcache *c); /* NULL is a no-op */

/* Drops every entry (the key set changed). */
void vcache_clear(vcache *c);

/* The entry for exactly cookie[0, len), or NULL. Marks it recently used. */
const struct vcache_entry *vcache_get(vcache *c, const char *cookie, size_t len);

/* Caches a session that verified (fs from flask_decode) with its plain view:
 * plain may be fs->json itself (not copied twice). Copies everything.
 * An entry already there is left as is. Evicts as needed. Returns 0,
 * SG_ETOOBIG (entry over max_bytes / 16: not cached) or SG_ENOMEM. */
int vcache_put(vcache *c, const flask_session *fs, const char *plain, size_t plain_len,
	       unsigned flags);

/* Entries and bytes held (tests, metrics). */
size_t vcache_count(const vcache *c);
size_t vcache_bytes(const vcache *c);

#endif
