/* tests/fuzz/fuzz_config.c — the YAML config loader on arbitrary bytes (no
 * secrets read), then route matching and prefix stripping on what it loaded;
 * the first four bytes as an IPv4 peer, formatted as inet_ntop would. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfgload.h"
#include "config.h"
#include "errors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = {"/", "/api", "/api/x?y=1", "/apple", "/app?q", ""};
	static const char *const hosts[] = {"api.example.com:8080", "[::1]:80", "", "A.B."};
	if (size >= 4) {
		char want[INET_ADDRSTRLEN], got[CONFIG_IPV4_TEXT_MAX];
		if (!inet_ntop(AF_INET, data, want, sizeof(want)) ||
		    config_ipv4_format(data, got) != strlen(want) || strcmp(got, want) != 0)
			abort();
	}
	struct sg_config *cfg = NULL;
	char err[512];
	int rc = cfgload_buffer("fuzz.yaml", (const char *)data, size, CFGLOAD_NO_SECRETS, &cfg,
				err, sizeof(err));
	if (rc == 0) {
		for (size_t h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
			for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
				const char *path = paths[p];
				const struct sg_route *r = config_route_match(
				    cfg, hosts[h], strlen(hosts[h]), path, strlen(path));
				if (!r)
					continue;
				if (r->backend >= cfg->nbackends)
					abort();
				char out[64];
				size_t len;
				if (config_strip_prefix(r, path, strlen(path), out, sizeof(out),
							&len) ||
				    len > strlen(path) + 1)
					abort();
			}
		config_free(cfg);
	} else if (strlen(err) == 0 && rc != SG_ENOMEM) {
		abort(); /* every failure explains itself */
	}
	return 0;
}
