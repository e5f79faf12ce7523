/* daemon/cfgload.h — reads the YAML configuration (libyaml) and the secret key
 * files into a validated struct sg_config (lib/config.h). */
#ifndef SG_CFGLOAD_H
#define SG_CFGLOAD_H

#include <stddef.h>

#include "config.h"

/* Flags for cfgload_buffer */
#define CFGLOAD_NO_SECRETS 0x1 /* do not read key files (tests, fuzzing); secrets stay empty */

/* Loads, validates and reads the secrets of the YAML file at path; relative
 * key file paths resolve against path's directory (and are stored resolved in
 * the config), and a key file group or others may read or write is logged as
 * a warning (log_warn), also under `sessiongate -t`. On success
 * stores a complete config in *ret (free with config_free) and returns 0. On
 * failure returns a negative enum sg_err and writes one line without a
 * trailing newline to err, always "FILE:LINE:COLUMN: what was expected", e.g.
 *   conf.yaml:7:15: expected a duration like 10s or 500ms, got "ten"
 * (or "FILE: reason" when the file cannot be read at all). */
int cfgload_file(const char *path, struct sg_config **ret, char *err, size_t errlen);

/* Same from memory; name is used in messages and as cfg->path. Relative key
 * file paths are read relative to the current directory. */
int cfgload_buffer(const char *name, const char *buf, size_t len, unsigned flags,
		   struct sg_config **ret, char *err, size_t errlen);

/* `sessiongate -t`: loads path (secrets included) and prints, like nginx,
 *   sessiongate: the configuration file PATH syntax is ok
 *   sessiongate: configuration file PATH test is successful
 * to stderr and returns 0, or prints the error line and returns 1. */
int cfgload_test(const char *path);

#endif
