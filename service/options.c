/*
 * options.c - parsing of the supervisor flags.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: openshell-sandbox [--mode=network[,process]] [--policy-data FILE]\n"
            "                         [--proxy-listen IP:PORT] [--workers N] [--max-conns N]\n"
            "                         [--header-timeout-ms MS] [--idle-timeout-ms MS]\n"
            "                         [--log-level error|warn|info|debug] [-w DIR] [-t SECS]\n"
            "                         [-- COMMAND ARGS...]\n"
            "       openshell-sandbox policy check|eval ...\n"
            "\n"
            "  (default)        cage COMMAND (default /bin/bash) in a network namespace whose\n"
            "                   only way out is the proxy; exit with its code (124: timeout)\n"
            "  --mode=network   run only the egress proxy (no namespace, no workload);\n"
            "                   SIGHUP reloads --policy-data, SIGTERM/SIGINT stop it cleanly.\n");
}

static int
parse_uint(const char *flag, const char *s, unsigned max, unsigned *out)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-') {
        fprintf(stderr, "openshell-sandbox: %s: expected an integer in 0..%u, got '%s'\n",
                flag, max, s);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int
parse_mode(const char *s, struct options *o)
{
    char buf[128], *save = NULL, *tok;

    o->mode_network = o->mode_process = false;
    if (strlen(s) >= sizeof(buf)) {
        fprintf(stderr, "openshell-sandbox: --mode too long\n");
        return -1;
    }
    strcpy(buf, s);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *t = tok, *e;
        while (*t == ' ' || *t == '\t')
            t++;
        e = t + strlen(t);
        while (e > t && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*t == '\0')
            continue;
        if (strcmp(t, "network") == 0)
            o->mode_network = true;
        else if (strcmp(t, "process") == 0)
            o->mode_process = true;
        else {
            fprintf(stderr,
                    "openshell-sandbox: unknown mode component '%s' (expected 'network' "
                    "and/or 'process')\n",
                    t);
            return -1;
        }
    }
    if (!o->mode_network && !o->mode_process) {
        fprintf(stderr, "openshell-sandbox: --mode must enable at least one of: network, "
                        "process\n");
        return -1;
    }
    return 0;
}

int
options_parse(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'M'},
        {"policy-data", required_argument, NULL, 'P'},
        {"proxy-listen", required_argument, NULL, 'L'},
        {"workers", required_argument, NULL, 'W'},
        {"max-conns", required_argument, NULL, 'C'},
        {"header-timeout-ms", required_argument, NULL, 'H'},
        {"idle-timeout-ms", required_argument, NULL, 'I'},
        {"log-level", required_argument, NULL, 'l'},
        {"workdir", required_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"interactive", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *env;
    int c;

    memset(o, 0, sizeof(*o));
    o->mode_network = o->mode_process = true;
    o->log_level = OSH_LOG_WARN;
    if ((env = getenv("OPENSHELL_POLICY_DATA")) && *env)
        o->policy_data = env;
    if ((env = getenv("OPENSHELL_LOG_LEVEL")) && *env && osh_log_level_parse(env) >= 0)
        o->log_level = (enum osh_log_level)osh_log_level_parse(env);
    optind = 1;
    while ((c = getopt_long(argc, argv, "+hw:t:i", opts, NULL)) != -1) {
        switch (c) {
        case 'M':
            if (parse_mode(optarg, o) < 0)
                return -1;
            break;
        case 'P':
            o->policy_data = optarg;
            break;
        case 'L':
            o->proxy_listen = optarg;
            break;
        case 'W':
            if (parse_uint("--workers", optarg, 256, &o->workers) < 0)
                return -1;
            break;
        case 'C':
            if (parse_uint("--max-conns", optarg, 1000000, &o->max_conns) < 0)
                return -1;
            break;
        case 'H':
            if (parse_uint("--header-timeout-ms", optarg, 3600000, &o->header_timeout_ms) < 0)
                return -1;
            break;
        case 'I':
            if (parse_uint("--idle-timeout-ms", optarg, 86400000, &o->idle_timeout_ms) < 0)
                return -1;
            break;
        case 'l':
            if (osh_log_level_parse(optarg) < 0) {
                fprintf(stderr, "openshell-sandbox: --log-level: expected error, warn, info "
                                "or debug\n");
                return -1;
            }
            o->log_level = (enum osh_log_level)osh_log_level_parse(optarg);
            break;
        case 'w':
            o->workdir = optarg;
            break;
        case 't':
            if (parse_uint("--timeout", optarg, 31536000, &o->timeout_s) < 0)
                return -1;
            break;
        case 'i':
            o->interactive = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    o->command = argv + optind;
    if (o->command[0] == NULL && (env = getenv("OPENSHELL_SANDBOX_COMMAND")) && *env) {
        /* process.md §1.1: the fallback is split on whitespace (no quoting). */
        char *copy = strdup(env), *save = NULL, *tok;
        size_t n = 0;
        if (copy == NULL)
            return -1;
        for (char *p = copy; *p; p++)
            n += (*p == ' ' || *p == '\t') ? 1 : 0;
        o->env_command = calloc(n + 2, sizeof(*o->env_command));
        if (o->env_command == NULL) {
            free(copy);
            return -1;
        }
        n = 0;
        for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
            o->env_command[n++] = tok;
        if (n > 0) {
            o->command = o->env_command; /* the tokens live in `copy` */
            o->env_copy = copy;
        } else {
            free(copy);
        }
    }
    return 0;
}

void
options_free(struct options *o)
{
    free(o->env_command);
    free(o->env_copy);
    o->env_command = NULL;
    o->env_copy = NULL;
}
