/*
 * run.h - the supervisor's run modes.
 */
#ifndef OSH_SERVICE_RUN_H
#define OSH_SERVICE_RUN_H

#include "options.h"

/* --mode=network: the proxy alone until SIGTERM/SIGINT.  Exit code. */
int run_network(const struct options *o);

#endif /* OSH_SERVICE_RUN_H */
