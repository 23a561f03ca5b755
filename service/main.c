/*
 * main.c - entry point of openshell-sandbox, the sandbox supervisor.
 *
 * Three jobs: the offline policy tools (`policy check`, `policy eval`),
 * the egress proxy alone (`--mode=network`), and the combined run that
 * cages a workload behind the proxy (default, `--mode=network,process`).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "run.h"

#define OSH_VERSION "0.1.0"

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
        if (o.mode_network) {
            rc = o.mode_process ? run_sandbox(&o) : run_network(&o);
            options_free(&o);
            return rc;
        }
        options_free(&o);
    }
    fprintf(stderr, "openshell-sandbox: --mode=process alone (egress enforced by a network "
                    "sidecar) is not built yet; use --mode=network,process\n");
    return 2;
}
