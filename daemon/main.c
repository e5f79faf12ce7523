/* daemon/main.c — command line: dispatch to the proxy or the cookie tool. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

#define DEFAULT_CONFIG "/etc/sessiongate/sessiongate.yaml"

static void usage(FILE *f)
{
	fputs("usage: sessiongate [-t] [-c FILE]        run the proxy (-t: check the config and exit)\n"
	      "       sessiongate cookie decode [--secret-file F]... [--max-age S] [--now EPOCH] COOKIE\n"
	      "       sessiongate cookie sign [--secret-file F] [--now EPOCH] < session.json\n"
	      "       sessiongate --help | --version\n"
	      "\n"
	      "  -c, --config FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	      "  -t, --test         check the configuration and secrets, then exit 0 or 1\n"
	      "  -h, --help         show this help\n"
	      "  -V, --version      show the version\n",
	      f);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "cookie") == 0)
		return cmd_cookie(argc - 1, argv + 1);

	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"test", no_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *config = DEFAULT_CONFIG;
	bool test_only = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:thV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 't': test_only = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("sessiongate %s\n", SG_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sessiongate: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	return server_main(config, test_only);
}
