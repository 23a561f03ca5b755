/*
 * run.h - the supervisor's run modes.
 */
#ifndef OSH_SERVICE_RUN_H
#define OSH_SERVICE_RUN_H

#include "options.h"

/* --mode=network: the proxy alone until SIGTERM/SIGINT.  Exit code. */
int run_network(const struct options *o);

/* --mode=network,process (default): cage the command, supervise it, tear
 * down; returns the workload's exit code (128+N for a signal, 124 on
 * --timeout) or 1 when the cage could not be built. */
int run_sandbox(const struct options *o);

#endif /* OSH_SERVICE_RUN_H */
