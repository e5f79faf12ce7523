/* daemon/cmd.h — entry points main() dispatches to. */
#ifndef SG_CMD_H
#define SG_CMD_H

#include <stdbool.h>

/* `sessiongate cookie decode|sign ...`; argv[0] is "cookie". Returns the exit code. */
int cmd_cookie(int argc, char **argv);

/* Loads the config at path; with test_only, checks it and returns 0/1 (like
 * nginx -t); otherwise runs the proxy until stopped. Returns the exit code. */
int server_main(const char *config_path, bool test_only);

#endif
