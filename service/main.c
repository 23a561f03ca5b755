/*
 * main.c - entry point of openshell-sandbox, the sandbox supervisor.
 *
 * It serves the offline policy tools (`policy check`, `policy eval`) and
 * the egress proxy alone (`--mode=network`).  The combined run (cage and
 * workload) lands with the process half; until then asking for it is a
 * clear error, not a silent no-op.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "run.h"

#define OSH_VERSION "0.1.0"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: openshell-sandbox policy check FILE...\n"
            "       openshell-sandbox policy eval --policy FILE (--batch | --host H --port P ...)\n"
            "       openshell-sandbox --mode=network [--policy-data FILE] [--proxy-listen IP:PORT]\n"
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
    {
        struct options o;
        int rc = options_parse(argc, argv, &o);
        if (rc != 0)
            return rc > 0 ? 0 : 2;
        if (o.mode_network && !o.mode_process)
            return run_network(&o);
    }
    fprintf(stderr, "openshell-sandbox: the cage (process half) is not built yet; run the "
                    "proxy alone with --mode=network\n");
    usage(stderr);
    return 2;
}
