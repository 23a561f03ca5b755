/*
 * test_policy_load.c - policy loader and validator (policy.md §1, §5).
 *
 * Written from the spec, not from the implementation.
 *
 *   - `rejects`: every row is an invalid policy that must be rejected whole:
 *     load returns NULL, errno is EINVAL, at least one error is recorded,
 *     every diagnostic names the file and has a 1-based line and column
 *     (YAML), and one error matches the row (message substring, field path
 *     substring or suffix, and line/column where the row gives them).
 *   - `warns`: valid policies that must load with no error and record a
 *     warning containing the given text.
 *   - `valids`: policies that must load with no error.
 *   - special tests: several errors in one file, size cap, empty and missing
 *     files, the fixture policies (tests/data/policies), JSON, format
 *     detection, the static sections and their defaults/normalization.
 *
 * Each table row runs as its own cmocka test, named by the row: 86 rejects,
 * 6 warns, 23 valids, plus 17 special tests (132 in all).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/diag.h"
#include "osh/policy.h"
#include "osh/query.h"

#ifndef OSH_TEST_DATA
#error "OSH_TEST_DATA must name tests/data"
#endif

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define FIXTURE(f) OSH_TEST_DATA "/policies/" f

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static char *
diags_to_string(const struct osh_diags *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    if (f == NULL)
        return NULL;
    osh_diags_print(d, f, true);
    fclose(f);
    return buf;
}

/* Fails the test with every diagnostic of `d` printed (frees `d` first). */
static void
fail_with_diags(struct osh_diags *d, const char *what)
{
    char *txt = diags_to_string(d);

    osh_diags_clear(d);
    print_error("diagnostics:\n%s", txt != NULL ? txt : "(none)\n");
    free(txt);
    fail_msg("%s", what);
}

static bool
ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every diagnostic names `file`; YAML ones carry a 1-based position. */
static void
check_all_positions(struct osh_diags *d, const char *file, bool need_pos)
{
    for (size_t i = 0; i < d->len; i++) {
        const struct osh_diag *g = &d->items[i];
        char what[256];

        if (g->file == NULL || strcmp(g->file, file) != 0) {
            snprintf(what, sizeof(what), "diag %zu: file is '%s', want '%s'", i,
                     g->file ? g->file : "(NULL)", file);
            fail_with_diags(d, what);
        }
        if (g->msg == NULL || g->path == NULL) {
            snprintf(what, sizeof(what), "diag %zu: NULL msg or path", i);
            fail_with_diags(d, what);
        }
        if (need_pos && (g->line < 1 || g->col < 1)) {
            snprintf(what, sizeof(what), "diag %zu ('%s'): position %u:%u, want >= 1:1", i, g->msg,
                     g->line, g->col);
            fail_with_diags(d, what);
        }
    }
}

static size_t
count_warnings(const struct osh_diags *d)
{
    size_t n = 0;

    for (size_t i = 0; i < d->len; i++)
        n += d->items[i].warning;
    return n;
}

static struct osh_policy *
load_ok(const char *name, const char *yaml, struct osh_diags *d)
{
    struct osh_policy *p =
        osh_policy_load_buffer(name, yaml, strlen(yaml), OSH_POLICY_FORMAT_YAML, d);

    if (p == NULL)
        fail_with_diags(d, "valid policy rejected");
    if (d->n_errors != 0) {
        osh_policy_unref(p);
        fail_with_diags(d, "valid policy loaded but errors recorded");
    }
    check_all_positions(d, name, true);
    return p;
}

/* ------------------------------------------------------------------------ */
/* Rejected policies                                                         */

struct reject_case {
    const char *name;
    const char *yaml;
    const char *msg;    /* substring of the error message, or NULL */
    const char *any;    /* substring of "path: message", or NULL */
    const char *path;   /* substring of the field path, or NULL */
    const char *suffix; /* the field path ends with this, or NULL */
    unsigned line;      /* 0: any (>= 1) */
    unsigned col;       /* 0: any (>= 1) */
};

#define V1 "version: 1\n"
/* Lines 1-6: version, network_policies, p, endpoints, host, port. */
#define EP_HEAD                                                                                    \
    V1 "network_policies:\n  p:\n    endpoints:\n      - host: api.example.com\n"                  \
       "        port: 443\n"
#define BINS "    binaries:\n      - path: /usr/bin/curl\n"
#define REST "        protocol: rest\n"
#define HOST(h)                                                                                    \
    V1 "network_policies:\n  p:\n    endpoints:\n      - host: \"" h "\"\n"                        \
       "        port: 443\n" BINS

#define REJ_MSG(n, y, m)                                                                           \
    {                                                                                              \
        n, y, m, NULL, NULL, NULL, 0, 0                                                            \
    }
#define REJ_AT(n, y, m, p, l, c)                                                                   \
    {                                                                                              \
        n, y, m, NULL, p, NULL, l, c                                                               \
    }
#define REJ_PATH(n, y, p)                                                                          \
    {                                                                                              \
        n, y, NULL, NULL, p, NULL, 0, 0                                                            \
    }
#define REJ_ANY(n, y, a)                                                                           \
    {                                                                                              \
        n, y, NULL, a, NULL, NULL, 0, 0                                                            \
    }
#define REJ_PORT(n, y)                                                                             \
    {                                                                                              \
        n, y, NULL, NULL, NULL, ".port", 6, 0                                                      \
    }

static struct reject_case rejects[] = {
    /* unknown keys (deny_unknown_fields at every level, §1.1) */
    REJ_AT("unknown key at top level", V1 "bogus: 1\n", "unknown field", NULL, 2, 1),
    REJ_AT("unknown key in filesystem_policy",
           V1 "filesystem_policy:\n  read_only: [/usr]\n  writable: [/tmp]\n", "unknown field",
           "filesystem_policy", 4, 3),
    REJ_AT("unknown key in landlock", V1 "landlock:\n  mode: hard\n", "unknown field", "landlock",
           3, 3),
    REJ_AT("unknown key in process", V1 "process:\n  run_as: sandbox\n", "unknown field", "process",
           3, 3),
    REJ_AT("unknown key in a network policy",
           V1 "network_policies:\n  p:\n    description: hi\n    endpoints: []\n", "unknown field",
           "network_policies", 4, 5),
    REJ_AT("unknown key in an endpoint", EP_HEAD "        hots: x.example.com\n" BINS,
           "unknown field", "endpoints", 7, 9),
    REJ_AT("unknown key in a binary",
           EP_HEAD "    binaries:\n      - path: /usr/bin/curl\n        sha256: abc\n",
           "unknown field", "binaries", 9, 9),
    REJ_AT("unknown key in an L7 allow",
           EP_HEAD REST "        rules:\n          - allow: {method: GET, path: /, verb: x}\n" BINS,
           "unknown field", "rules", 9, 0),
    REJ_AT("unknown key in an L7 rule (no allow wrapper)",
           EP_HEAD REST "        rules:\n          - method: GET\n            path: /\n" BINS, NULL,
           "rules", 0, 0),
    REJ_AT("unknown key in a deny rule",
           EP_HEAD REST "        access: full\n        deny_rules:\n          - method: GET\n"
                        "            path: /x\n            reason: nope\n" BINS,
           "unknown field", "deny_rules", 12, 13),
    REJ_AT("advisor_proposed is rejected in YAML", EP_HEAD "        advisor_proposed: true\n" BINS,
           NULL, NULL, 7, 9),
    REJ_ANY("advisor_proposed is named", EP_HEAD "        advisor_proposed: true\n" BINS,
            "advisor_proposed"),
    REJ_AT("rule without allow", EP_HEAD REST "        rules:\n          - {}\n" BINS, NULL,
           "rules", 0, 0),

    /* version (§1.1) */
    REJ_MSG("missing version", "network_policies: {}\n", "version"),
    REJ_MSG("missing version (only static sections)", "filesystem_policy:\n  read_only: [/usr]\n",
            "version"),
    REJ_ANY("version is not an integer", "version: abc\n", "version"),

    /* ports (§1.4) */
    REJ_PORT("port 70000", V1 "network_policies:\n  p:\n    endpoints:\n"
                              "      - host: a.example.com\n        port: 70000\n" BINS),
    REJ_PORT("port 65536", V1 "network_policies:\n  p:\n    endpoints:\n"
                              "      - host: a.example.com\n        port: 65536\n" BINS),
    REJ_PORT("port -1", V1 "network_policies:\n  p:\n    endpoints:\n"
                           "      - host: a.example.com\n        port: -1\n" BINS),
    REJ_PORT("port abc", V1 "network_policies:\n  p:\n    endpoints:\n"
                            "      - host: a.example.com\n        port: abc\n" BINS),
    REJ_PORT("port 1.5", V1 "network_policies:\n  p:\n    endpoints:\n"
                            "      - host: a.example.com\n        port: 1.5\n" BINS),
    {"ports [443, 99999]",
     V1 "network_policies:\n  p:\n    endpoints:\n      - host: a.example.com\n"
        "        ports: [443, 99999]\n" BINS,
     NULL, NULL, "ports", NULL, 6, 0},
    {"ports [-5]",
     V1 "network_policies:\n  p:\n    endpoints:\n      - host: a.example.com\n"
        "        ports: [-5]\n" BINS,
     NULL, NULL, "ports", NULL, 6, 0},

    /* host wildcards (§1.6) */
    REJ_MSG("host *", HOST("*"),
            "host wildcard '*' matches all hosts; use specific patterns like '*.example.com'"),
    REJ_MSG("host **", HOST("**"), "host wildcard '**' matches all hosts"),
    REJ_MSG("wildcard in second label", HOST("api.*.example.com"),
            "host wildcard may only appear in the first DNS label, got 'api.*.example.com'"),
    REJ_MSG("wildcard in last label", HOST("api.example.*"),
            "host wildcard may only appear in the first DNS label, got 'api.example.*'"),
    REJ_MSG("** inside the first label", HOST("a**.example.com"),
            "recursive host wildcard '**' is only allowed as the entire first DNS label, "
            "got 'a**.example.com'"),
    REJ_MSG("TLD wildcard *.com", HOST("*.com"),
            "TLD wildcard '*.com' is not allowed; use subdomain wildcards like '*.example.com' "
            "instead"),
    REJ_MSG("TLD wildcard **.org", HOST("**.org"), "TLD wildcard '**.org' is not allowed"),
    REJ_MSG("TLD wildcard *com", HOST("*com"), "TLD wildcard '*com' is not allowed"),
    REJ_ANY("host error names the endpoint", HOST("*.com"), "p.endpoints[0]"),

    /* L7 validator (§1.4, §1.6) */
    REJ_MSG("rules and access",
            EP_HEAD REST "        access: full\n"
                         "        rules: [{allow: {method: GET, path: /}}]\n" BINS,
            "rules and access are mutually exclusive"),
    REJ_MSG("protocol without rules or access", EP_HEAD REST BINS,
            "protocol requires rules or access to define allowed traffic"),
    REJ_MSG("empty rules", EP_HEAD REST "        rules: []\n" BINS,
            "rules list cannot be empty (would deny all traffic). Use `access: full` or remove "
            "rules."),
    REJ_MSG("deny_rules without protocol",
            EP_HEAD "        rules: [{allow: {method: GET, path: /}}]\n"
                    "        deny_rules: [{method: GET, path: /x}]\n" BINS,
            "deny_rules require protocol (L7 inspection must be enabled)"),
    REJ_MSG("deny_rules without rules or access",
            EP_HEAD REST "        deny_rules: [{method: GET, path: /x}]\n" BINS,
            "deny_rules require rules or access to define the base allow set"),
    REJ_MSG("empty deny_rules", EP_HEAD REST "        access: full\n        deny_rules: []\n" BINS,
            "deny_rules list cannot be empty (would have no effect). Remove it if no denials "
            "are needed."),
    REJ_MSG("endpoint path without /",
            EP_HEAD "        path: \"api/**\"\n" REST "        access: full\n" BINS,
            "endpoint path must start with '/' or be '**', got 'api/**'"),
    REJ_MSG("endpoint path '*'", EP_HEAD "        path: \"*\"\n" REST "        access: full\n" BINS,
            "endpoint path must start with '/' or be '**', got '*'"),
    REJ_MSG("unknown protocol ftp", EP_HEAD "        protocol: ftp\n        access: full\n" BINS,
            "unknown protocol 'ftp' (expected rest, websocket, graphql, or sql)"),
    REJ_MSG("unknown protocol invalid-protocol",
            EP_HEAD "        protocol: invalid-protocol\n        access: full\n" BINS,
            "unknown protocol 'invalid-protocol' (expected rest, websocket, graphql, or sql)"),
    REJ_MSG("SQL with enforce",
            EP_HEAD
            "        protocol: sql\n        enforcement: enforce\n        access: full\n" BINS,
            "SQL enforcement requires full SQL parsing (not available in v1). Use "
            "`enforcement: audit`."),
    REJ_MSG("persisted_queries value",
            EP_HEAD "        protocol: graphql\n        access: read-only\n"
                    "        persisted_queries: bogus\n" BINS,
            "persisted_queries must be 'deny' or 'allow_registered', got 'bogus'"),
    REJ_MSG("graphql_max_body_bytes 0",
            EP_HEAD "        protocol: graphql\n        access: read-only\n"
                    "        graphql_max_body_bytes: 0\n" BINS,
            "graphql_max_body_bytes must be a positive integer"),
    REJ_MSG("GraphQL rule without operation_type",
            EP_HEAD "        protocol: graphql\n"
                    "        rules: [{allow: {operation_name: Viewer}}]\n" BINS,
            "required for GraphQL L7 rules"),
    REJ_MSG("GraphQL operation_type value",
            EP_HEAD "        protocol: graphql\n"
                    "        rules: [{allow: {operation_type: foo}}]\n" BINS,
            "expected query, mutation, subscription, or *, got 'foo'"),
    REJ_MSG("GraphQL deny rule operation_type value",
            EP_HEAD "        protocol: graphql\n        access: full\n"
                    "        deny_rules: [{operation_type: delete}]\n" BINS,
            "expected query, mutation, subscription, or *, got 'delete'"),
    REJ_ANY("GraphQL fields empty",
            EP_HEAD "        protocol: graphql\n"
                    "        rules: [{allow: {operation_type: query, fields: []}}]\n" BINS,
            "fields"),
    REJ_ANY("GraphQL fields with an empty string",
            EP_HEAD "        protocol: graphql\n"
                    "        rules: [{allow: {operation_type: query, fields: [\"\"]}}]\n" BINS,
            "fields"),
    REJ_ANY("persisted query entry without operation_type",
            EP_HEAD "        protocol: graphql\n        access: read-only\n"
                    "        persisted_queries: allow_registered\n"
                    "        graphql_persisted_queries:\n"
                    "          abc123: {operation_name: Viewer}\n" BINS,
            "operation_type"),
    REJ_MSG("websocket rule mixing REST and GraphQL fields",
            EP_HEAD
            "        protocol: websocket\n"
            "        rules: [{allow: {method: GET, path: /ws, operation_type: query}}]\n" BINS,
            "must not combine"),
    REJ_MSG("websocket GraphQL policy with WEBSOCKET_TEXT",
            EP_HEAD "        protocol: websocket\n"
                    "        rules:\n"
                    "          - allow: {operation_type: subscription}\n"
                    "          - allow: {method: WEBSOCKET_TEXT, path: /ws}\n" BINS,
            "instead of WEBSOCKET_TEXT"),

    /* query matchers (§1.5) */
    REJ_MSG("query {glob: x} is a YAML parse error",
            EP_HEAD REST "        rules:\n          - allow:\n              method: GET\n"
                         "              path: /\n              query: {q: {glob: x}}\n" BINS,
            "unknown field"),
    REJ_MSG("query any: []",
            EP_HEAD REST "        rules:\n          - allow:\n              method: GET\n"
                         "              path: /\n              query: {q: {any: []}}\n" BINS,
            "list must not be empty"),
    REJ_PATH("query any with a non-string",
             EP_HEAD REST "        rules:\n          - allow:\n              method: GET\n"
                          "              path: /\n              query: {q: {any: [{a: b}]}}\n" BINS,
             "query"),
    REJ_PATH("query matcher is a list",
             EP_HEAD REST "        rules:\n          - allow:\n              method: GET\n"
                          "              path: /\n              query: {q: [a, b]}\n" BINS,
             "query"),
    REJ_PATH("query is not a map",
             EP_HEAD REST "        rules:\n          - allow:\n              method: GET\n"
                          "              path: /\n              query: [a, b]\n" BINS,
             "query"),
    REJ_MSG("deny rule query any: []",
            EP_HEAD REST "        access: full\n        deny_rules:\n          - method: GET\n"
                         "            path: /\n            query: {q: {any: []}}\n" BINS,
            "list must not be empty"),

    /* invalid globs (compiled at load; fail closed) */
    REJ_MSG("binary glob with unclosed [", EP_HEAD "    binaries:\n      - path: \"/usr/bin/[*\"\n",
            "glob"),
    REJ_MSG("L7 path glob with unclosed [",
            EP_HEAD REST "        rules: [{allow: {method: GET, path: \"/v[12/items\"}}]\n" BINS,
            "glob"),
    REJ_MSG("deny rule path glob with unclosed {",
            EP_HEAD REST "        access: full\n"
                         "        deny_rules: [{method: GET, path: \"/{a,b/x\"}]\n" BINS,
            "glob"),
    REJ_MSG("endpoint path glob with unclosed [",
            EP_HEAD "        path: \"/v[1\"\n" REST "        access: full\n" BINS, "glob"),

    /* YAML structure */
    REJ_AT("YAML syntax error", V1 "network_policies:\n  p: a: b\n", NULL, NULL, 3, 7),
    REJ_AT("YAML unterminated flow sequence", V1 "network_policies:\n  p:\n    endpoints: [a, b\n",
           NULL, NULL, 5, 0),
    REJ_ANY("duplicate key in an endpoint", EP_HEAD "        port: 444\n" BINS, "duplicate"),
    REJ_AT("duplicate key position", EP_HEAD "        port: 444\n" BINS, NULL, NULL, 7, 9),
    /* a duplicate key is a field error like any other: it carries the field path */
    REJ_AT("duplicate key field path", EP_HEAD "        port: 444\n" BINS, NULL, "endpoints[0]", 7,
           9),
    REJ_AT("duplicate top-level key", V1 "version: 1\n", NULL, "version", 2, 1),
    REJ_AT("duplicate network policy key",
           V1 "network_policies:\n  p:\n    endpoints: []\n  p:\n    endpoints: []\n", NULL,
           "network_policies", 5, 3),
    REJ_AT("sequence where a mapping is expected (filesystem_policy)",
           V1 "filesystem_policy: [/usr]\n", NULL, "filesystem_policy", 2, 0),
    REJ_AT("sequence where a mapping is expected (network_policies)",
           V1 "network_policies:\n  - p\n", NULL, "network_policies", 0, 0),
    REJ_AT("mapping where a sequence is expected (endpoints)",
           V1 "network_policies:\n  p:\n    endpoints: {host: a.example.com}\n", NULL, "endpoints",
           4, 0),
    REJ_AT("scalar where a mapping is expected (endpoint)",
           V1 "network_policies:\n  p:\n    endpoints: [a.example.com]\n", NULL, "endpoints", 4, 0),
    REJ_AT("wrong scalar type (include_workdir: 3)",
           V1 "filesystem_policy:\n  include_workdir: 3\n", NULL, "include_workdir", 3, 0),
    REJ_AT("wrong type (landlock.compatibility list)",
           V1 "landlock:\n  compatibility: [hard_requirement]\n", NULL, "compatibility", 3, 0),
    REJ_AT("document is a sequence", "- version: 1\n", NULL, NULL, 1, 0),

    /* safety validation (§1.8) */
    REJ_MSG("run_as_user root", V1 "process:\n  run_as_user: root\n",
            "run_as_user must be 'sandbox', got 'root'"),
    REJ_MSG("run_as_user case-sensitive", V1 "process:\n  run_as_user: Sandbox\n",
            "run_as_user must be 'sandbox', got 'Sandbox'"),
    REJ_MSG("run_as_group 0", V1 "process:\n  run_as_group: \"0\"\n",
            "run_as_group must be 'sandbox', got '0'"),
    REJ_MSG("relative read-only path", V1 "filesystem_policy:\n  read_only: [relative/path]\n",
            "path must be absolute (start with '/'): relative/path"),
    REJ_MSG("relative read-write path", V1 "filesystem_policy:\n  read_write: [tmp]\n",
            "path must be absolute (start with '/'): tmp"),
    REJ_MSG("traversal in read-write path", V1 "filesystem_policy:\n  read_write: [/usr/../etc]\n",
            "path contains '..' traversal component: /usr/../etc"),
    REJ_MSG("traversal in read-only path", V1 "filesystem_policy:\n  read_only: [/a/..]\n",
            "path contains '..' traversal component"),
    REJ_MSG("read-write / is overly broad", V1 "filesystem_policy:\n  read_write: [/]\n",
            "read-write path is overly broad: /"),
    REJ_MSG("read-write // is overly broad", V1 "filesystem_policy:\n  read_write: [//]\n",
            "read-write path is overly broad"),
};

static void
run_reject(void **state)
{
    const struct reject_case *c = *state;
    const char *name = "reject.yaml";
    struct osh_diags d = {0};
    struct osh_policy *p;
    int err;

    errno = 0;
    p = osh_policy_load_buffer(name, c->yaml, strlen(c->yaml), OSH_POLICY_FORMAT_YAML, &d);
    err = errno;
    if (p != NULL) {
        osh_policy_unref(p);
        fail_with_diags(&d, "invalid policy was accepted");
    }
    if (err != EINVAL) {
        char what[64];

        snprintf(what, sizeof(what), "errno %d, want EINVAL", err);
        fail_with_diags(&d, what);
    }
    if (d.n_errors < 1)
        fail_with_diags(&d, "no error recorded");
    check_all_positions(&d, name, true);

    for (size_t i = 0; i < d.len; i++) {
        const struct osh_diag *g = &d.items[i];
        char both[1024];

        if (g->warning)
            continue;
        snprintf(both, sizeof(both), "%s: %s", g->path, g->msg);
        if (c->msg != NULL && strstr(g->msg, c->msg) == NULL)
            continue;
        if (c->any != NULL && strstr(both, c->any) == NULL)
            continue;
        if (c->path != NULL && strstr(g->path, c->path) == NULL)
            continue;
        if (c->suffix != NULL && !ends_with(g->path, c->suffix))
            continue;
        if (c->line != 0 && g->line != c->line)
            continue;
        if (c->col != 0 && g->col != c->col)
            continue;
        osh_diags_clear(&d);
        return;
    }
    print_error("want an error with%s%s%s%s%s%s%s%s%s line %u col %u\n", c->msg ? " msg~'" : "",
                c->msg ? c->msg : "", c->msg ? "'" : "", c->any ? " any~'" : "",
                c->any ? c->any : "", c->any ? "'" : "", c->path ? " path~'" : "",
                c->path ? c->path : "", c->path ? "'" : "", c->line, c->col);
    if (c->suffix)
        print_error("  and a path ending with '%s'\n", c->suffix);
    fail_with_diags(&d, "no error matches the row");
}

/* ------------------------------------------------------------------------ */
/* Valid policies with warnings (§1.5, §1.6)                                 */

struct warn_case {
    const char *name;
    const char *yaml;
    const char *warning; /* substring of some warning's message */
};

static struct warn_case warns[] = {
    {"tls: terminate is deprecated", EP_HEAD "        tls: terminate\n" BINS,
     "'tls: terminate' is deprecated; TLS termination is now automatic. Use 'tls: skip' to "
     "disable."},
    {"tls: passthrough is deprecated", EP_HEAD "        tls: passthrough\n" BINS,
     "is deprecated; TLS termination is now automatic. Use 'tls: skip' to disable."},
    {"tls: skip with L7 rules on 443",
     EP_HEAD "        tls: skip\n" REST "        rules: [{allow: {method: GET, path: /}}]\n" BINS,
     "'tls: skip' with L7 rules on port 443"},
    {"command on REST",
     EP_HEAD REST "        rules: [{allow: {method: GET, path: /, command: SELECT}}]\n" BINS,
     "command is for SQL protocol, not REST"},
    {"unknown REST method", EP_HEAD REST "        rules: [{allow: {method: BREW, path: /}}]\n" BINS,
     "Unknown HTTP/WebSocket method 'BREW'"},
    {"unknown websocket method",
     EP_HEAD
     "        protocol: websocket\n        rules: [{allow: {method: POST, path: /}}]\n" BINS,
     "Unknown HTTP/WebSocket method 'POST'"},
};

static void
run_warn(void **state)
{
    const struct warn_case *c = *state;
    struct osh_diags d = {0};
    struct osh_policy *p = load_ok("warn.yaml", c->yaml, &d);

    for (size_t i = 0; i < d.len; i++) {
        if (d.items[i].warning && strstr(d.items[i].msg, c->warning) != NULL) {
            osh_policy_unref(p);
            osh_diags_clear(&d);
            return;
        }
    }
    osh_policy_unref(p);
    print_error("want a warning containing '%s' (%zu warnings recorded)\n", c->warning,
                count_warnings(&d));
    fail_with_diags(&d, "warning missing");
}

/* ------------------------------------------------------------------------ */
/* Valid policies (edge cases the spec accepts)                              */

struct valid_case {
    const char *name;
    const char *yaml;
};

static struct valid_case valids[] = {
    {"minimal", V1},
    {"version value is not checked", "version: 2\nnetwork_policies: {}\n"},
    {"empty endpoints and binaries",
     V1 "network_policies:\n  p:\n    endpoints: []\n    binaries: []\n"},
    {"accepted hosts (*., **., intra-label, IP literals)",
     V1 "network_policies:\n  p:\n    endpoints:\n"
        "      - {host: \"*.example.com\", port: 443}\n"
        "      - {host: \"**.example.com\", port: 443}\n"
        "      - {host: \"*-aiplatform.googleapis.com\", port: 443}\n"
        "      - {host: plain-name, port: 443}\n"
        "      - {host: 10.1.2.3, port: 443}\n"
        "      - {host: \"2001:db8::1\", port: 443}\n" BINS},
    {"port and ports together (ports wins, no error)", EP_HEAD "        ports: [443, 8443]\n" BINS},
    {"endpoint with neither port nor ports",
     V1 "network_policies:\n  p:\n    endpoints:\n      - host: a.example.com\n" BINS},
    {"hostless endpoint",
     V1 "network_policies:\n  p:\n    endpoints:\n"
        "      - {ports: [9000], allowed_ips: [\"10.0.5.0/24\", \"10.0.6.1\"]}\n" BINS},
    {"ports 1 and 65535", V1 "network_policies:\n  p:\n    endpoints:\n"
                             "      - {host: a.example.com, ports: [1, 65535]}\n" BINS},
    {"harness: true is accepted and ignored",
     EP_HEAD "    binaries:\n      - path: /usr/bin/curl\n        harness: true\n"},
    {"unknown access value is ignored", EP_HEAD REST "        access: everything\n" BINS},
    {"any enforcement value",
     EP_HEAD REST "        access: full\n        enforcement: block\n" BINS},
    {"any tls value (auto)", EP_HEAD "        tls: sometimes\n" BINS},
    {"endpoint path ** and /x/**",
     V1 "network_policies:\n  p:\n    endpoints:\n"
        "      - {host: a.example.com, port: 443, path: \"**\", protocol: rest, access: full}\n"
        "      - {host: b.example.com, port: 443, path: \"/x/**\", protocol: rest, access: "
        "full}\n" BINS},
    {"websocket WEBSOCKET_TEXT rule",
     EP_HEAD "        protocol: websocket\n"
             "        rules:\n          - allow: {method: GET, path: /ws}\n"
             "          - allow: {method: WEBSOCKET_TEXT, path: /ws}\n" BINS},
    {"sql with audit", EP_HEAD "        protocol: sql\n        enforcement: audit\n"
                               "        access: full\n" BINS},
    {"graphql operation types, case-insensitive",
     EP_HEAD "        protocol: graphql\n        rules:\n"
             "          - allow: {operation_type: Query}\n"
             "          - allow: {operation_type: \"*\", operation_name: \"get*\"}\n"
             "          - allow: {operation_type: mutation, fields: [addComment]}\n"
             "        persisted_queries: deny\n        graphql_max_body_bytes: 1024\n" BINS},
    {"query matchers: string and any",
     EP_HEAD REST "        rules:\n          - allow:\n              method: GET\n"
                  "              path: /s\n              query:\n                q: \"a*\"\n"
                  "                tag: {any: [x, \"y*\"]}\n" BINS},
    {"deny rules with query",
     EP_HEAD REST "        access: read-write\n        deny_rules:\n"
                  "          - {method: POST, path: /x, query: {force: \"true\"}}\n" BINS},
    {"process identity empty strings default to sandbox",
     V1 "process:\n  run_as_user: \"\"\n  run_as_group: \"\"\n"},
    {"read-only / is fine", V1 "filesystem_policy:\n  read_only: [/]\n"},
    {"landlock any compatibility value", V1 "landlock:\n  compatibility: whatever\n"},
    {"empty sections",
     V1 "filesystem_policy: {}\nlandlock: {}\nprocess: {}\nnetwork_policies: {}\n"},
    {"allow_encoded_slash and rewrite flags",
     EP_HEAD REST "        access: full\n        allow_encoded_slash: true\n"
                  "        websocket_credential_rewrite: false\n"
                  "        request_body_credential_rewrite: true\n" BINS},
};

static void
run_valid(void **state)
{
    const struct valid_case *c = *state;
    struct osh_diags d = {0};
    struct osh_policy *p = load_ok("valid.yaml", c->yaml, &d);

    osh_policy_unref(p);
    osh_diags_clear(&d);
}

/* ------------------------------------------------------------------------ */
/* Special tests                                                             */

static void
expect_rejected_buf(const char *name, const char *buf, size_t len, enum osh_policy_format fmt,
                    bool need_pos, struct osh_diags *d)
{
    struct osh_policy *p;
    int err;

    errno = 0;
    p = osh_policy_load_buffer(name, buf, len, fmt, d);
    err = errno;
    if (p != NULL) {
        osh_policy_unref(p);
        fail_with_diags(d, "invalid policy was accepted");
    }
    if (err != EINVAL) {
        char what[64];

        snprintf(what, sizeof(what), "errno %d, want EINVAL", err);
        fail_with_diags(d, what);
    }
    if (d->n_errors < 1)
        fail_with_diags(d, "no error recorded");
    check_all_positions(d, name, need_pos);
}

static bool
has_error_containing(const struct osh_diags *d, const char *s)
{
    for (size_t i = 0; i < d->len; i++) {
        char both[1024];

        if (d->items[i].warning)
            continue;
        snprintf(both, sizeof(both), "%s: %s", d->items[i].path, d->items[i].msg);
        if (strstr(both, s) != NULL)
            return true;
    }
    return false;
}

static void
test_multiple_errors_all_reported(void **state)
{
    static const char y[] = V1 "network_policies:\n"
                               "  p:\n"
                               "    endpoints:\n"
                               "      - {host: \"*\", port: 443}\n"
                               "      - {host: a.example.com, port: 443, protocol: ftp,"
                               " access: full}\n"
                               "      - {host: b.example.com, port: 443, path: nope,"
                               " protocol: rest, access: full}\n" BINS;
    struct osh_diags d = {0};

    (void)state;
    expect_rejected_buf("multi.yaml", y, strlen(y), OSH_POLICY_FORMAT_YAML, true, &d);
    if (d.n_errors < 3)
        fail_with_diags(&d, "want 3 errors (one per bad endpoint)");
    if (!has_error_containing(&d, "matches all hosts") ||
        !has_error_containing(&d, "unknown protocol 'ftp'") ||
        !has_error_containing(&d, "endpoint path must start with '/' or be '**', got 'nope'"))
        fail_with_diags(&d, "one of the three errors is missing");
    if (!has_error_containing(&d, "endpoints[0]") || !has_error_containing(&d, "endpoints[1]") ||
        !has_error_containing(&d, "endpoints[2]"))
        fail_with_diags(&d, "errors do not name endpoints[0], [1] and [2]");
    osh_diags_clear(&d);
}

static void
test_errors_across_sections_all_reported(void **state)
{
    static const char y[] = V1 "filesystem_policy:\n  read_write: [/]\n"
                               "process:\n  run_as_user: root\n"
                               "network_policies:\n"
                               "  a:\n    endpoints: [{host: \"*.com\", port: 443}]\n"
                               "  b:\n    endpoints: [{host: b.example.com, port: 443,"
                               " protocol: rest, rules: []}]\n";
    struct osh_diags d = {0};

    (void)state;
    expect_rejected_buf("sections.yaml", y, strlen(y), OSH_POLICY_FORMAT_YAML, true, &d);
    if (!has_error_containing(&d, "read-write path is overly broad") ||
        !has_error_containing(&d, "run_as_user must be 'sandbox', got 'root'") ||
        !has_error_containing(&d, "TLD wildcard '*.com'") ||
        !has_error_containing(&d, "rules list cannot be empty"))
        fail_with_diags(&d, "want all four errors reported");
    osh_diags_clear(&d);
}

static char *
padded_policy(size_t total)
{
    static const char head[] = "version: 1\nnetwork_policies: {}\n#";
    char *buf = malloc(total + 1);

    assert_non_null(buf);
    assert_true(total > sizeof(head));
    memcpy(buf, head, sizeof(head) - 1);
    memset(buf + sizeof(head) - 1, 'x', total - (sizeof(head) - 1) - 1);
    buf[total - 1] = '\n';
    buf[total] = '\0';
    return buf;
}

static void
test_size_cap(void **state)
{
    char *at = padded_policy(OSH_POLICY_MAX_BYTES);
    char *over = padded_policy(OSH_POLICY_MAX_BYTES + 1);
    struct osh_diags d = {0};
    struct osh_policy *p;

    (void)state;
    p = osh_policy_load_buffer("at_cap.yaml", at, OSH_POLICY_MAX_BYTES, OSH_POLICY_FORMAT_YAML, &d);
    if (p == NULL)
        fail_with_diags(&d, "a policy of exactly OSH_POLICY_MAX_BYTES was rejected");
    osh_policy_unref(p);
    osh_diags_clear(&d);

    expect_rejected_buf("over_cap.yaml", over, OSH_POLICY_MAX_BYTES + 1, OSH_POLICY_FORMAT_YAML,
                        false, &d);
    osh_diags_clear(&d);
    free(at);
    free(over);
}

static void
test_empty_inputs(void **state)
{
    struct osh_diags d = {0};
    struct osh_policy *p;
    int err;

    (void)state;
    expect_rejected_buf("empty.yaml", "", 0, OSH_POLICY_FORMAT_YAML, true, &d);
    osh_diags_clear(&d);
    expect_rejected_buf("comment.yaml", "# nothing here\n", 15, OSH_POLICY_FORMAT_YAML, true, &d);
    osh_diags_clear(&d);
    expect_rejected_buf("empty.json", "", 0, OSH_POLICY_FORMAT_JSON, false, &d);
    osh_diags_clear(&d);

    errno = 0;
    p = osh_policy_load_file(FIXTURE("empty.yaml"), OSH_POLICY_FORMAT_AUTO, &d);
    err = errno;
    assert_null(p);
    assert_int_equal(err, EINVAL);
    assert_true(d.n_errors >= 1);
    osh_diags_clear(&d);
}

static void
test_missing_file(void **state)
{
    const char *path = FIXTURE("does-not-exist.yaml");
    struct osh_diags d = {0};
    struct osh_policy *p;
    int err;

    (void)state;
    errno = 0;
    p = osh_policy_load_file(path, OSH_POLICY_FORMAT_AUTO, &d);
    err = errno;
    assert_null(p);
    assert_int_equal(err, ENOENT);
    if (d.n_errors < 1)
        fail_with_diags(&d, "the open error is not reported in the diagnostics");
    assert_non_null(d.items[0].file);
    assert_non_null(strstr(d.items[0].file, "does-not-exist.yaml"));
    osh_diags_clear(&d);

    errno = 0;
    assert_null(osh_policy_load_file(path, OSH_POLICY_FORMAT_YAML, NULL)); /* d may be NULL */
    assert_int_equal(errno, ENOENT);
}

static void
test_null_diags(void **state)
{
    static const char bad[] = V1 "bogus: 1\n";
    struct osh_policy *p;

    (void)state;
    errno = 0;
    assert_null(osh_policy_load_buffer("bad.yaml", bad, strlen(bad), OSH_POLICY_FORMAT_YAML, NULL));
    assert_int_equal(errno, EINVAL);
    p = osh_policy_load_buffer("ok.yaml", V1, strlen(V1), OSH_POLICY_FORMAT_YAML, NULL);
    assert_non_null(p);
    osh_policy_unref(p);
}

static void
test_buffer_not_nul_terminated(void **state)
{
    /* Only the first len bytes are the policy: the tail would be an error. */
    static const char buf[] = V1 "bogus_tail: {";
    struct osh_diags d = {0};
    struct osh_policy *p;

    (void)state;
    p = osh_policy_load_buffer("prefix.yaml", buf, strlen(V1), OSH_POLICY_FORMAT_YAML, &d);
    if (p == NULL)
        fail_with_diags(&d, "the bytes past len were read");
    osh_policy_unref(p);
    osh_diags_clear(&d);
}

static void
eval_expect(const struct osh_policy *p, const char *host, uint16_t port, const char *bin,
            const char *method, const char *path, const char *qk, const char *qv,
            enum osh_decision want, const char *matched, const char *reason)
{
    struct osh_l4_request l4 = {.host = host, .port = port, .binary = bin};
    struct osh_decision_result r = {0};
    struct osh_query q;
    int rc;

    osh_query_init(&q);
    if (qk != NULL) {
        /* qk / qv: '&'-separated parallel lists would be overkill; one pair */
        assert_int_equal(osh_query_add(&q, qk, qv), 0);
    }
    if (method != NULL) {
        struct osh_l7_request l7 = {.method = method, .path = path, .query = &q};

        rc = osh_policy_eval_l7(p, &l4, &l7, &r);
    } else {
        rc = osh_policy_eval_l4(p, &l4, &r);
    }
    osh_query_clear(&q);
    assert_int_equal(rc, 0);
    if (r.decision != want || (matched == NULL) != (r.matched_policy == NULL) ||
        (matched != NULL && strcmp(matched, r.matched_policy) != 0) ||
        (reason != NULL && (r.reason == NULL || strcmp(reason, r.reason) != 0))) {
        print_error("%s:%u %s %s %s: got decision %d matched %s reason '%s'\n", host, port, bin,
                    method ? method : "", path ? path : "", (int)r.decision,
                    r.matched_policy ? r.matched_policy : "NULL", r.reason ? r.reason : "");
        osh_decision_result_clear(&r);
        fail_msg("unexpected decision");
    }
    osh_decision_result_clear(&r);
}

static void
check_full_policy(const struct osh_policy *p)
{
    struct osh_policy_static st;
    static const char *const ro[] = {"/usr", "/lib", "/etc", "/opt/tools"};
    static const char *const rw[] = {"/sandbox", "/tmp"};

    assert_int_equal(osh_policy_network_count(p), 5);
    osh_policy_get_static(p, &st);
    assert_true(st.include_workdir);
    assert_true(st.landlock_hard_requirement);
    assert_string_equal(st.run_as_user, "sandbox");
    assert_string_equal(st.run_as_group, "sandbox");
    assert_int_equal(st.n_read_only, ARRAY_LEN(ro));
    for (size_t i = 0; i < ARRAY_LEN(ro); i++)
        assert_string_equal(st.read_only[i], ro[i]);
    assert_int_equal(st.n_read_write, ARRAY_LEN(rw));
    for (size_t i = 0; i < ARRAY_LEN(rw); i++)
        assert_string_equal(st.read_write[i], rw[i]);

    /* a few decisions to show the policy is the one written */
    eval_expect(p, "api.github.com", 443, "/usr/bin/gh", "GET", "/repos/o/r", NULL, NULL,
                OSH_DECISION_ALLOW, "github_api", NULL);
    eval_expect(p, "api.github.com", 443, "/usr/lib/node_modules/x/cli.js", "DELETE", "/repos/o/r",
                NULL, NULL, OSH_DECISION_DENY, "github_api",
                "DELETE /repos/o/r blocked by deny rule");
    eval_expect(p, "api.github.com", 443, "/usr/bin/gh", "POST", "/repos/o/r/issues", "draft",
                "true", OSH_DECISION_DENY, "github_api",
                "POST /repos/o/r/issues not permitted by policy");
    eval_expect(p, "github.com", 443, "/usr/lib/git-core/git-remote-https", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "github_ssh_over_https", NULL);
    eval_expect(p, "raw.githubusercontent.com", 80, "/usr/bin/git", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "github_ssh_over_https", NULL);
    eval_expect(p, "anything.internal", 8443, "/usr/bin/python3", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "internal", NULL);
    eval_expect(p, "a.b.llm.example.com", 443, "/usr/local/bin/claude", "OPTIONS", "/v1", NULL,
                NULL, OSH_DECISION_ALLOW, "realtime", NULL);
    eval_expect(p, "a.b.llm.example.com", 443, "/usr/local/bin/claude", "POST", "/v1", NULL, NULL,
                OSH_DECISION_AUDIT, "realtime", "POST /v1 not permitted by policy");
    eval_expect(p, "ws.example.com", 443, "/usr/local/bin/claude", "WEBSOCKET_TEXT", "/", NULL,
                NULL, OSH_DECISION_ALLOW, "realtime", NULL);
    eval_expect(p, "nope.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_DENY, NULL,
                "endpoint nope.example.com:443 is not allowed by any policy");
}

static struct osh_policy *
load_fixture(const char *path, enum osh_policy_format fmt, bool need_pos)
{
    struct osh_diags d = {0};
    struct osh_policy *p = osh_policy_load_file(path, fmt, &d);

    if (p == NULL)
        fail_with_diags(&d, "fixture rejected");
    if (d.n_errors != 0) {
        osh_policy_unref(p);
        fail_with_diags(&d, "fixture loaded with errors");
    }
    check_all_positions(&d, path, need_pos);
    osh_diags_clear(&d);
    return p;
}

static void
test_full_yaml_fixture(void **state)
{
    struct osh_policy *p = load_fixture(FIXTURE("full.yaml"), OSH_POLICY_FORMAT_YAML, true);
    struct osh_decision_result r = {0};
    struct osh_l4_request l4 = {
        .host = "pinned.example.com", .port = 443, .binary = "/opt/anything"};

    (void)state;
    check_full_policy(p);
    /* tls: skip and allowed_ips survive loading */
    assert_int_equal(osh_policy_eval_l4(p, &l4, &r), 0);
    assert_int_equal(r.decision, OSH_DECISION_ALLOW);
    assert_true(r.tls_skip);
    osh_decision_result_clear(&r);
    l4 = (struct osh_l4_request){.host = "10.0.5.9", .port = 8080, .binary = "/usr/bin/curl"};
    assert_int_equal(osh_policy_eval_l4(p, &l4, &r), 0);
    assert_int_equal(r.decision, OSH_DECISION_ALLOW);
    assert_int_equal(r.n_allowed_ips, 2);
    assert_string_equal(r.allowed_ips[0], "10.0.5.0/24");
    osh_decision_result_clear(&r);
    osh_policy_unref(p);
}

static void
test_full_json_fixture(void **state)
{
    struct osh_policy *y = load_fixture(FIXTURE("full.yaml"), OSH_POLICY_FORMAT_AUTO, true);
    struct osh_policy *j = load_fixture(FIXTURE("full.json"), OSH_POLICY_FORMAT_JSON, false);
    struct osh_policy *a = load_fixture(FIXTURE("full.json"), OSH_POLICY_FORMAT_AUTO, false);

    (void)state;
    check_full_policy(j);
    check_full_policy(a);
    assert_string_equal(osh_policy_hash(y), osh_policy_hash(j));
    assert_string_equal(osh_policy_hash(y), osh_policy_hash(a));
    osh_policy_unref(y);
    osh_policy_unref(j);
    osh_policy_unref(a);
}

static void
test_format_auto_buffer(void **state)
{
    static const char json[] = "{\"version\": 1, \"network_policies\": {\"p\": {\"endpoints\":"
                               " [{\"host\": \"a.example.com\", \"port\": 443}],"
                               " \"binaries\": [{\"path\": \"/usr/bin/curl\"}]}}}";
    static const char yaml[] = EP_HEAD BINS;
    struct osh_diags d = {0};
    struct osh_policy *pj, *py;

    (void)state;
    pj = osh_policy_load_buffer("policy", json, strlen(json), OSH_POLICY_FORMAT_AUTO, &d);
    if (pj == NULL)
        fail_with_diags(&d, "JSON by first byte rejected");
    osh_diags_clear(&d);
    py = osh_policy_load_buffer("policy", yaml, strlen(yaml), OSH_POLICY_FORMAT_AUTO, &d);
    if (py == NULL)
        fail_with_diags(&d, "YAML by default rejected");
    osh_diags_clear(&d);
    eval_expect(pj, "a.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "p", NULL);
    eval_expect(py, "api.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "p", NULL);
    osh_policy_unref(pj);
    osh_policy_unref(py);
}

static void
test_json_errors(void **state)
{
    static const char syntax[] = "{\"version\": 1,\n \"network_policies\": {\n}";
    static const char unknown[] = "{\"version\": 1, \"bogus\": true}";
    static const char port[] = "{\"version\": 1, \"network_policies\": {\"p\": {\"endpoints\":"
                               " [{\"host\": \"a.example.com\", \"port\": 70000}]}}}";
    static const char noversion[] = "{\"network_policies\": {}}";
    static const char nested[] = "{\"version\": 1, \"network_policies\": {\"p\": {\"endpoints\":"
                                 " [{\"host\": \"a.example.com\", \"port\": 443, \"hots\": 1}]}}}";
    static const char wildcard[] = "{\"version\": 1, \"network_policies\": {\"p\": {\"endpoints\":"
                                   " [{\"host\": \"*\", \"port\": 443}]}}}";
    struct osh_diags d = {0};

    (void)state;
    expect_rejected_buf("syntax.json", syntax, strlen(syntax), OSH_POLICY_FORMAT_JSON, false, &d);
    if (d.items[0].line < 1)
        fail_with_diags(&d, "a JSON syntax error has no line");
    osh_diags_clear(&d);

    expect_rejected_buf("unknown.json", unknown, strlen(unknown), OSH_POLICY_FORMAT_JSON, false,
                        &d);
    if (!has_error_containing(&d, "unknown field"))
        fail_with_diags(&d, "want 'unknown field'");
    osh_diags_clear(&d);

    expect_rejected_buf("nested.json", nested, strlen(nested), OSH_POLICY_FORMAT_JSON, false, &d);
    if (!has_error_containing(&d, "unknown field"))
        fail_with_diags(&d, "want 'unknown field' for an endpoint key");
    osh_diags_clear(&d);

    expect_rejected_buf("port.json", port, strlen(port), OSH_POLICY_FORMAT_JSON, false, &d);
    for (size_t i = 0; i < d.len; i++)
        if (!d.items[i].warning && ends_with(d.items[i].path, ".port"))
            goto port_ok;
    fail_with_diags(&d, "want an error on a path ending with .port");
port_ok:
    osh_diags_clear(&d);

    expect_rejected_buf("noversion.json", noversion, strlen(noversion), OSH_POLICY_FORMAT_JSON,
                        false, &d);
    if (!has_error_containing(&d, "version"))
        fail_with_diags(&d, "want an error about version");
    osh_diags_clear(&d);

    expect_rejected_buf("wildcard.json", wildcard, strlen(wildcard), OSH_POLICY_FORMAT_JSON, false,
                        &d);
    if (!has_error_containing(&d, "matches all hosts"))
        fail_with_diags(&d, "want 'matches all hosts'");
    osh_diags_clear(&d);
}

static void
test_long_path_and_too_many_paths(void **state)
{
    size_t n = 4097 + 64;
    char *y = malloc(n + 64);
    char *many;
    size_t cap = 64 + 257 * 16, len;
    struct osh_diags d = {0};

    (void)state;
    assert_non_null(y);
    /* a 4097-byte absolute path */
    len = (size_t)snprintf(y, n + 64, V1 "filesystem_policy:\n  read_only:\n    - /");
    memset(y + len, 'a', 4096);
    len += 4096;
    memcpy(y + len, "\n", 2);
    expect_rejected_buf("long.yaml", y, strlen(y), OSH_POLICY_FORMAT_YAML, true, &d);
    if (!has_error_containing(&d, "path exceeds maximum length (4097 > 4096)"))
        fail_with_diags(&d, "want 'path exceeds maximum length (4097 > 4096)'");
    osh_diags_clear(&d);
    free(y);

    many = malloc(cap);
    assert_non_null(many);
    len = (size_t)snprintf(many, cap, V1 "filesystem_policy:\n  read_only:\n");
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(many + len, cap - len, "    - /ro/%d\n", i);
    len += (size_t)snprintf(many + len, cap - len, "  read_write:\n");
    for (int i = 0; i < 57; i++)
        len += (size_t)snprintf(many + len, cap - len, "    - /rw/%d\n", i);
    assert_true(len < cap);
    expect_rejected_buf("many.yaml", many, len, OSH_POLICY_FORMAT_YAML, true, &d);
    if (!has_error_containing(&d, "too many filesystem paths (257 > 256)"))
        fail_with_diags(&d, "want 'too many filesystem paths (257 > 256)'");
    osh_diags_clear(&d);

    /* 256 is the limit, not over it */
    len = (size_t)snprintf(many, cap, V1 "filesystem_policy:\n  read_only:\n");
    for (int i = 0; i < 256; i++)
        len += (size_t)snprintf(many + len, cap - len, "    - /ro/%d\n", i);
    osh_policy_unref(load_ok("256.yaml", many, &d));
    osh_diags_clear(&d);
    free(many);
}

static void
test_port_normalization(void **state)
{
    static const char single[] = EP_HEAD BINS;
    static const char list[] = V1 "network_policies:\n  p:\n    endpoints:\n"
                                  "      - {host: api.example.com, ports: [80, 443]}\n" BINS;
    static const char both[] = EP_HEAD "        ports: [8443]\n" BINS;
    struct osh_diags d = {0};
    struct osh_policy *p;

    (void)state;
    p = load_ok("single.yaml", single, &d);
    osh_diags_clear(&d);
    eval_expect(p, "api.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "p", NULL);
    eval_expect(p, "api.example.com", 444, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_DENY, NULL,
                "endpoint api.example.com:444 is not allowed by any policy");
    osh_policy_unref(p);

    p = load_ok("list.yaml", list, &d);
    osh_diags_clear(&d);
    eval_expect(p, "api.example.com", 80, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "p", NULL);
    eval_expect(p, "api.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "p", NULL);
    osh_policy_unref(p);

    p = load_ok("both.yaml", both, &d); /* ports wins, port dropped */
    osh_diags_clear(&d);
    eval_expect(p, "api.example.com", 8443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_ALLOW, "p", NULL);
    eval_expect(p, "api.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_DENY, NULL,
                "endpoint api.example.com:443 is not allowed by any policy");
    osh_policy_unref(p);
}

static void
get_static_of(const char *yaml, struct osh_policy **p, struct osh_policy_static *st)
{
    struct osh_diags d = {0};

    *p = load_ok("static.yaml", yaml, &d);
    osh_diags_clear(&d);
    memset(st, 0xA5, sizeof(*st));
    osh_policy_get_static(*p, st);
}

static void
test_static_defaults(void **state)
{
    struct osh_policy *p;
    struct osh_policy_static st;

    (void)state;
    /* no sections at all */
    get_static_of(V1, &p, &st);
    assert_true(st.include_workdir);
    assert_int_equal(st.n_read_only, 0);
    assert_int_equal(st.n_read_write, 0);
    assert_false(st.landlock_hard_requirement);
    assert_string_equal(st.run_as_user, "sandbox");
    assert_string_equal(st.run_as_group, "sandbox");
    osh_policy_unref(p);

    /* section present, include_workdir omitted: false */
    get_static_of(V1 "filesystem_policy:\n  read_only: [/usr]\n", &p, &st);
    assert_false(st.include_workdir);
    assert_int_equal(st.n_read_only, 1);
    assert_string_equal(st.read_only[0], "/usr");
    osh_policy_unref(p);

    get_static_of(V1 "filesystem_policy: {}\n", &p, &st);
    assert_false(st.include_workdir);
    osh_policy_unref(p);

    get_static_of(V1 "filesystem_policy:\n  include_workdir: true\n", &p, &st);
    assert_true(st.include_workdir);
    osh_policy_unref(p);

    /* empty identity strings mean sandbox */
    get_static_of(V1 "process:\n  run_as_user: \"\"\n", &p, &st);
    assert_string_equal(st.run_as_user, "sandbox");
    assert_string_equal(st.run_as_group, "sandbox");
    osh_policy_unref(p);

    get_static_of(V1 "process: {}\n", &p, &st);
    assert_string_equal(st.run_as_user, "sandbox");
    assert_string_equal(st.run_as_group, "sandbox");
    osh_policy_unref(p);
}

static void
test_static_paths_normalized(void **state)
{
    static const char *const ro[] = {"/usr/lib", "/usr/share", "/tmp", "/a/b", "/"};
    static const char *const rw[] = {"/sandbox", "/var/tmp"};
    struct osh_policy *p;
    struct osh_policy_static st;

    (void)state;
    get_static_of(V1 "filesystem_policy:\n"
                     "  include_workdir: false\n"
                     "  read_only: [/usr//lib, /usr/./share, /tmp/, \"/a//./b/\", /]\n"
                     "  read_write: [/sandbox/, //var///tmp]\n",
                  &p, &st);
    assert_false(st.include_workdir);
    assert_int_equal(st.n_read_only, ARRAY_LEN(ro));
    for (size_t i = 0; i < ARRAY_LEN(ro); i++)
        assert_string_equal(st.read_only[i], ro[i]);
    assert_int_equal(st.n_read_write, ARRAY_LEN(rw));
    for (size_t i = 0; i < ARRAY_LEN(rw); i++)
        assert_string_equal(st.read_write[i], rw[i]);
    osh_policy_unref(p);
}

static void
test_static_landlock(void **state)
{
    static const struct {
        const char *yaml;
        bool hard;
    } rows[] = {
        {V1 "landlock:\n  compatibility: hard_requirement\n", true},
        {V1 "landlock:\n  compatibility: best_effort\n", false},
        {V1 "landlock:\n  compatibility: HARD_REQUIREMENT\n", false},
        {V1 "landlock:\n  compatibility: \"hard_requirement \"\n", false},
        {V1 "landlock:\n  compatibility: \"\"\n", false},
        {V1 "landlock: {}\n", false},
        {V1, false},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
        struct osh_policy *p;
        struct osh_policy_static st;

        get_static_of(rows[i].yaml, &p, &st);
        if (st.landlock_hard_requirement != rows[i].hard)
            fail_msg("row %zu: landlock_hard_requirement %d, want %d:\n%s", i,
                     st.landlock_hard_requirement, rows[i].hard, rows[i].yaml);
        osh_policy_unref(p);
    }
}

static void
test_restrictive_default(void **state)
{
    static const char *const ro[] = {"/usr", "/lib", "/proc",   "/dev/urandom",
                                     "/app", "/etc", "/var/log"};
    static const char *const rw[] = {"/sandbox", "/tmp", "/dev/null"};
    struct osh_policy *p = osh_policy_restrictive_default();
    struct osh_policy_static st;
    const char *h;

    (void)state;
    assert_non_null(p);
    assert_int_equal(osh_policy_network_count(p), 0);
    osh_policy_get_static(p, &st);
    assert_true(st.include_workdir);
    assert_false(st.landlock_hard_requirement);
    assert_string_equal(st.run_as_user, "sandbox");
    assert_string_equal(st.run_as_group, "sandbox");
    assert_int_equal(st.n_read_only, ARRAY_LEN(ro));
    for (size_t i = 0; i < ARRAY_LEN(ro); i++)
        assert_string_equal(st.read_only[i], ro[i]);
    assert_int_equal(st.n_read_write, ARRAY_LEN(rw));
    for (size_t i = 0; i < ARRAY_LEN(rw); i++)
        assert_string_equal(st.read_write[i], rw[i]);
    h = osh_policy_hash(p);
    assert_non_null(h);
    assert_int_equal(strlen(h), 64);
    eval_expect(p, "api.example.com", 443, "/usr/bin/curl", NULL, NULL, NULL, NULL,
                OSH_DECISION_DENY, NULL, "network connections not allowed by policy");
    osh_policy_unref(p);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_multiple_errors_all_reported),
        cmocka_unit_test(test_errors_across_sections_all_reported),
        cmocka_unit_test(test_size_cap),
        cmocka_unit_test(test_empty_inputs),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_null_diags),
        cmocka_unit_test(test_buffer_not_nul_terminated),
        cmocka_unit_test(test_full_yaml_fixture),
        cmocka_unit_test(test_full_json_fixture),
        cmocka_unit_test(test_format_auto_buffer),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_long_path_and_too_many_paths),
        cmocka_unit_test(test_port_normalization),
        cmocka_unit_test(test_static_defaults),
        cmocka_unit_test(test_static_paths_normalized),
        cmocka_unit_test(test_static_landlock),
        cmocka_unit_test(test_restrictive_default),
    };
    struct CMUnitTest
        tests[ARRAY_LEN(rejects) + ARRAY_LEN(warns) + ARRAY_LEN(valids) + ARRAY_LEN(extra)];
    size_t n = 0;

    for (size_t i = 0; i < ARRAY_LEN(rejects); i++)
        tests[n++] = (struct CMUnitTest){
            .name = rejects[i].name, .test_func = run_reject, .initial_state = &rejects[i]};
    for (size_t i = 0; i < ARRAY_LEN(warns); i++)
        tests[n++] = (struct CMUnitTest){
            .name = warns[i].name, .test_func = run_warn, .initial_state = &warns[i]};
    for (size_t i = 0; i < ARRAY_LEN(valids); i++)
        tests[n++] = (struct CMUnitTest){
            .name = valids[i].name, .test_func = run_valid, .initial_state = &valids[i]};
    for (size_t i = 0; i < ARRAY_LEN(extra); i++)
        tests[n++] = extra[i];
    return _cmocka_run_group_tests("policy_load", tests, n, NULL, NULL);
}
