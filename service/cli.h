/*
 * cli.h - subcommands of the openshell-sandbox executable.
 */
#ifndef OSH_SERVICE_CLI_H
#define OSH_SERVICE_CLI_H

/* `policy check|eval ...`; argv[0] is "policy".  Returns the exit code. */
int osh_cli_policy(int argc, char **argv);

#endif /* OSH_SERVICE_CLI_H */
