/* daemon/cmd_cookie.c — placeholder, filled in by its owner. */
#include <stdio.h>
#include "cmd.h"
int cmd_cookie(int argc, char **argv) { (void)argc; (void)argv; fputs("sessiongate: cookie: not built yet\n", stderr); return 1; }
