/*
 * options.h - the supervisor's command line (process.md §2): flags with
 * their OPENSHELL_* environment fallbacks, validated once at start.
 */
#ifndef OSH_SERVICE_OPTIONS_H
#define OSH_SERVICE_OPTIONS_H

#include <stdbool.h>

#include "osh/log.h"

struct options {
    bool mode_network;
    bool mode_process;
    const char *policy_data;   /* --policy-data / OPENSHELL_POLICY_DATA */
    const char *proxy_listen;  /* --proxy-listen (default 127.0.0.1:3128 standalone) */
    unsigned workers;          /* --workers (0 = online CPUs) */
    unsigned max_conns;        /* --max-conns */
    unsigned header_timeout_ms;
    unsigned idle_timeout_ms;
    enum osh_log_level log_level; /* --log-level / OPENSHELL_LOG_LEVEL, default warn */
    const char *workdir;       /* -w/--workdir: the workload's cwd */
    unsigned timeout_s;        /* -t/--timeout: 0 = none, else kill and exit 124 */
    bool interactive;          /* -i: keep the terminal's process group */
    char **command;            /* after "--", else OPENSHELL_SANDBOX_COMMAND, else /bin/bash */
    char **env_command;        /* storage of the OPENSHELL_SANDBOX_COMMAND split */
    char *env_copy;
};

/* Parses argv; prints the problem and returns -1 on bad usage, 1 for
 * --help (printed), 0 to run. */
int options_parse(int argc, char **argv, struct options *o);

/* Frees what options_parse() allocated. */
void options_free(struct options *o);

#endif /* OSH_SERVICE_OPTIONS_H */
