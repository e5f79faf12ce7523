/* daemon/server.c — placeholder, filled in by its owner. */
#include <stdio.h>
#include "cmd.h"
int server_main(const char *config_path, bool test_only) { (void)config_path; (void)test_only; fputs("sessiongate: proxy: not built yet\n", stderr); return 1; }
