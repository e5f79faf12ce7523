/* tests/unit/helpers.h — setup the unit tests share: Check's runner, Flask and Starlette cookies.
 */
#ifndef SG_TEST_HELPERS_H
#define SG_TEST_HELPERS_H

#include <check.h>
#include <stdint.h>

#include "signer.h"
#include "starlette.h"

#define TH_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Runs every test of s and returns main's exit status. */
int th_run_suite(Suite *s);

/* Wall-clock seconds from CLOCK_REALTIME, the daemon's clock for signature
 * ages (server_wall_s). Not time(): it lags by up to a tick, so a cookie the
 * pipeline had just signed could look signed in the future. */
int64_t th_wall_s(void);

/* A Flask session signer (SHA1, hmac, salt cookie-session) holding secret. */
signer *th_flask_signer(const char *secret);

/* The Flask cookie value for the session JSON text, signed by s at ts. */
char *th_flask_sign(const signer *s, const char *text, int64_t ts);

/* The stored session JSON of a Flask cookie value, verified by s now against
 * max_age (asserted valid). */
char *th_flask_json(const signer *s, const char *value, size_t len, int64_t max_age);

/* A Starlette codec holding secret. */
starlette *th_starlette_keyed(const char *secret);

#endif
