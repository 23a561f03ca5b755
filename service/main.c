/*
 * main.c - entry point of openshell-sandbox, the sandbox supervisor.
 *
 * Today it serves the offline policy tools (`policy check`, `policy eval`).
 * The supervisor run itself (cage, proxy, workload) lands with the network
 * and process halves; until then asking for it is a clear error, not a
 * silent no-op.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define OSH_VERSION "0.1.0"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: openshell-sandbox policy check FILE...\n"
            "       openshell-sandbox policy eval --policy FILE (--batch | --host H --port P ...)\n"
            "       openshell-sandbox --version\n");
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "policy") == 0)
        return osh_cli_policy(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
        printf("openshell-sandbox %s\n", OSH_VERSION);
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "openshell-sandbox: the supervisor run (cage + proxy + workload) is not "
                    "built yet; only the policy tools are available\n");
    usage(stderr);
    return 2;
}
