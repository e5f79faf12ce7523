/* daemon/server.c — placeholder, filled in by its owner. */
#include <stdio.h>
#include "cmd.h"
#include "cfgload.h"
int server_main(const char *config_path, bool test_only) { if (test_only) return cfgload_test(config_path); fputs("sessiongate: proxy: not built yet\n", stderr); return 1; }
