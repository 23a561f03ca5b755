/*
 * test_policy_eval.c - L4 and L7 policy decisions (policy.md §2, §3).
 *
 * Written from the spec, not from the implementation.  Policies are inline
 * YAML documents, one per theme, loaded once by the group setup; a document
 * that fails to load fails every row that uses it (with its diagnostics).
 *
 * Table driven: every row of `cases` runs as its own cmocka test, so the
 * output names the failing decision.  A row gives the request (host, port,
 * binary, ancestors, cmdline paths; for L7 also method, canonical path and
 * query) and the expected decision, matched policy key (or NULL) and reason,
 * compared exactly wherever policy.md gives the text (R_EXACT) and by
 * substring otherwise (R_SUB).  Allowed rows expect an empty reason.
 *
 * The rows are grouped and numbered by theme (H hosts, B binaries, N empty
 * and default policies, M methods, P paths, Q allow-side query, D deny-side
 * query, V pooling/veto/L4-only, S presets, E enforcement, R route selection,
 * X L4 deny through eval_l7); the count per group is in the comment that
 * opens it.  Special checks (result flags of §2.6, the hash, reference
 * counting, argument errors, a two-thread run for TSan) follow the table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/diag.h"
#include "osh/policy.h"
#include "osh/query.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Expected reason texts (policy.md §2.5, §3.6, §3.7)                        */

#define NO_POLICIES "network connections not allowed by policy"
#define EP_DENY(hp) "endpoint " hp " is not allowed by any policy"
#define SYMLINK_HINT                                                                               \
    "SYMLINK HINT: the binary path is the kernel-resolved target from /proc/<pid>/exe, "           \
    "not the symlink. If your policy specifies a symlink (e.g., /usr/bin/python3) but "            \
    "the actual binary is /usr/bin/python3.11, either: (1) use the canonical path in "             \
    "your policy (run 'readlink -f /usr/bin/python3' inside the sandbox), or (2) ensure "          \
    "symlink resolution is working (check sandbox logs for 'Cannot access container "              \
    "filesystem')"
#define BIN_DENY(bin, key, anc, cmd)                                                               \
    "binary '" bin "' not allowed in policy '" key "' (ancestors: [" anc "], cmdline: [" cmd       \
    "]). " SYMLINK_HINT
#define NP(mp) mp " not permitted by policy"
#define BD(mp) mp " blocked by deny rule"
#define NO_ROUTE "no L7 endpoint path matched request"

/* ------------------------------------------------------------------------ */
/* Policies                                                                  */

enum pol {
    POL_EMPTY,      /* network_policies: {} */
    POL_NONE,       /* no network_policies key at all */
    POL_EMPTY_EPS,  /* a policy with no endpoints */
    POL_DEFAULT,    /* osh_policy_restrictive_default() */
    POL_HOSTS,      /* §2.2 host and port matching */
    POL_PORTS_BOTH, /* port and ports on one endpoint: ports wins */
    POL_BIN,        /* §2.3 binaries, §2.4 matched_policy, §2.5 reasons */
    POL_L7_METHODS, /* §3.3 method_matches */
    POL_L7_PATHS,   /* §3.3 path_matches, §3.4 globs */
    POL_L7_QUERY,   /* §3.3 allow-side query */
    POL_L7_DENYQ,   /* §3.3 deny-side query */
    POL_L7_POOL,    /* §3.3 pooling, veto, L4-only endpoints */
    POL_L7_PRESETS, /* §3.5 access presets */
    POL_L7_ENF,     /* §1.4 / §3.7 enforcement */
    POL_L7_ROUTE,   /* §3.9 route selection */
    POL_FLAGS,      /* §2.6 result flags */
    POL__COUNT
};

static const char *const pol_name[POL__COUNT] = {
    [POL_EMPTY] = "empty.yaml",
    [POL_NONE] = "none.yaml",
    [POL_EMPTY_EPS] = "empty_eps.yaml",
    [POL_DEFAULT] = "(restrictive default)",
    [POL_HOSTS] = "hosts.yaml",
    [POL_PORTS_BOTH] = "ports_both.yaml",
    [POL_BIN] = "bin.yaml",
    [POL_L7_METHODS] = "l7_methods.yaml",
    [POL_L7_PATHS] = "l7_paths.yaml",
    [POL_L7_QUERY] = "l7_query.yaml",
    [POL_L7_DENYQ] = "l7_denyq.yaml",
    [POL_L7_POOL] = "l7_pool.yaml",
    [POL_L7_PRESETS] = "l7_presets.yaml",
    [POL_L7_ENF] = "l7_enf.yaml",
    [POL_L7_ROUTE] = "l7_route.yaml",
    [POL_FLAGS] = "flags.yaml",
};

#define CURL "    binaries:\n      - path: /usr/bin/curl\n"

static const char *const pol_yaml[POL__COUNT] = {
    [POL_EMPTY] = "version: 1\nnetwork_policies: {}\n",
    [POL_NONE] = "version: 1\n",
    [POL_EMPTY_EPS] = "version: 1\n"
                      "network_policies:\n"
                      "  lonely:\n"
                      "    endpoints: []\n" CURL,
    [POL_DEFAULT] = NULL,

    [POL_HOSTS] = "version: 1\n"
                  "network_policies:\n"
                  "  exact:\n"
                  "    name: exact-display-name\n"
                  "    endpoints:\n"
                  "      - host: API.Example.ORG\n"
                  "        port: 443\n"
                  "      - host: trailing.example.org\n"
                  "        port: 443\n"
                  "      - host: \"what?.example.org\"\n"
                  "        port: 443\n"
                  "      - host: \"br[ac]ket.example.org\"\n"
                  "        port: 443\n"
                  "      - host: 10.0.0.5\n"
                  "        port: 8080\n"
                  "      - host: \"2001:db8::1\"\n"
                  "        port: 443\n" CURL "  wild:\n"
                  "    endpoints:\n"
                  "      - host: \"*.example.com\"\n"
                  "        port: 443\n" CURL "  wild_more:\n"
                  "    endpoints:\n"
                  "      - host: \"*.UPPER.example.net\"\n"
                  "        port: 443\n"
                  "      - host: \"*-v?.example.org\"\n"
                  "        port: 443\n" CURL "  deep:\n"
                  "    endpoints:\n"
                  "      - host: \"**.deep.example.net\"\n"
                  "        port: 443\n" CURL "  intra:\n"
                  "    endpoints:\n"
                  "      - host: \"*-aiplatform.googleapis.com\"\n"
                  "        port: 443\n" CURL "  ports:\n"
                  "    endpoints:\n"
                  "      - host: multi.example.io\n"
                  "        ports: [80, 8443]\n"
                  "      - host: none.example.io\n"
                  "      - port: 9100\n" CURL "  hostless:\n"
                  "    endpoints:\n"
                  "      - ports: [9000]\n"
                  "        allowed_ips: [\"10.0.5.0/24\"]\n" CURL,

    [POL_PORTS_BOTH] = "version: 1\n"
                       "network_policies:\n"
                       "  both:\n"
                       "    endpoints:\n"
                       "      - host: both.example.io\n"
                       "        port: 1111\n"
                       "        ports: [2222, 3333]\n" CURL,

    [POL_BIN] = "version: 1\n"
                "network_policies:\n"
                "  bin_exact:\n"
                "    endpoints: [{host: exact.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/local/bin/claude}]\n"
                "  bin_star:\n"
                "    endpoints: [{host: star.bin.test, port: 443}]\n"
                "    binaries: [{path: \"/usr/bin/*\"}]\n"
                "  bin_rec:\n"
                "    endpoints: [{host: rec.bin.test, port: 443}]\n"
                "    binaries: [{path: \"/usr/**\"}]\n"
                "  bin_any:\n"
                "    endpoints: [{host: any.bin.test, port: 443}]\n"
                "    binaries: [{path: \"/**\"}]\n"
                "  bin_mid:\n"
                "    endpoints: [{host: mid.bin.test, port: 443}]\n"
                "    binaries: [{path: \"/a/**/b\"}]\n"
                "  bin_qlit:\n"
                "    endpoints: [{host: qlit.bin.test, port: 443}]\n"
                "    binaries: [{path: \"/usr/bin/python3.?\"}]\n"
                "  bin_class:\n"
                "    endpoints: [{host: class.bin.test, port: 443}]\n"
                "    binaries:\n"
                "      - path: \"/usr/bin/[pq]ython*\"\n"
                "      - path: \"/opt/x**\"\n"
                "      - path: \"/usr/bin/{curl,wget}*\"\n"
                "  cross_a:\n"
                "    endpoints: [{host: cross-a.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/aaa}]\n"
                "  cross_b:\n"
                "    endpoints: [{host: cross-b.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/bbb}]\n"
                /* declared z before a: reasons and matched_policy use key order */
                "  multi_z:\n"
                "    endpoints: [{host: shared.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/zz}, {path: /usr/bin/both}]\n"
                "  multi_a:\n"
                "    endpoints: [{host: shared.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/aa}, {path: /usr/bin/both}]\n"
                "  multi_m:\n"
                "    endpoints: [{host: unrelated.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/evil}]\n"
                "  github_ssh_over_https:\n"
                "    name: github-ssh-over-https\n"
                "    endpoints: [{host: github.com, port: 443}]\n"
                "    binaries: [{path: /usr/bin/git}]\n"
                "  k2:\n"
                "    name: aaa\n"
                "    endpoints: [{host: names.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/curl}]\n"
                "  k1:\n"
                "    name: zzz\n"
                "    endpoints: [{host: names.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/curl}]\n"
                "  a_lower:\n"
                "    endpoints: [{host: case.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/curl}]\n"
                "  B_upper:\n"
                "    endpoints: [{host: case.bin.test, port: 443}]\n"
                "    binaries: [{path: /usr/bin/curl}]\n",

    [POL_L7_METHODS] = "version: 1\n"
                       "network_policies:\n"
                       "  methods:\n"
                       "    endpoints:\n"
                       "      - host: methods.l7.test\n"
                       "        port: 443\n"
                       "        protocol: rest\n"
                       "        enforcement: enforce\n"
                       "        rules:\n"
                       "          - allow: {method: GET, path: /get}\n"
                       "          - allow: {method: post, path: /post}\n"
                       "          - allow: {method: \"*\", path: /any}\n"
                       "          - allow: {method: \"G*\", path: /gstar}\n"
                       "          - allow: {method: \"*\", path: \"/denied/**\"}\n"
                       "        deny_rules:\n"
                       "          - {method: GET, path: \"/denied/**\"}\n" CURL,

    [POL_L7_PATHS] = "version: 1\n"
                     "network_policies:\n"
                     "  paths:\n"
                     "    endpoints:\n"
                     "      - host: paths.l7.test\n"
                     "        port: 443\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules:\n"
                     "          - allow: {method: GET, path: \"/repos/**\"}\n"
                     "          - allow: {method: GET, path: \"/x/*\"}\n"
                     "          - allow: {method: GET, path: \"/file?.txt\"}\n"
                     "          - allow: {method: GET, path: \"/v[12]/items\"}\n"
                     "          - allow: {method: GET, path: \"/{alpha,beta}/info\"}\n"
                     "          - allow: {method: GET, path: \"/a/**/z\"}\n"
                     "          - allow: {method: GET, path: \"/pre**\"}\n"
                     "          - allow: {method: GET, path: /exact}\n"
                     "          - allow: {method: DELETE}\n"
                     "          - allow: {path: /nomethod}\n"
                     "      - host: all.l7.test\n"
                     "        port: 443\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules:\n"
                     "          - allow: {method: GET, path: \"**\"}\n" CURL,

    [POL_L7_QUERY] = "version: 1\n"
                     "network_policies:\n"
                     "  query:\n"
                     "    endpoints:\n"
                     "      - host: query.l7.test\n"
                     "        port: 443\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules:\n"
                     "          - allow:\n"
                     "              method: GET\n"
                     "              path: /search\n"
                     "              query:\n"
                     "                q: \"foo-*\"\n"
                     "          - allow:\n"
                     "              method: GET\n"
                     "              path: /multi\n"
                     "              query:\n"
                     "                tag:\n"
                     "                  any: [\"a\", \"b*\"]\n"
                     "          - allow:\n"
                     "              method: GET\n"
                     "              path: /ver\n"
                     "              query: {v: \"v1.*\"}\n"
                     "          - allow:\n"
                     "              method: GET\n"
                     "              path: /two\n"
                     "              query: {a: \"1\", b: \"2\"}\n"
                     "          - allow:\n"
                     "              method: GET\n"
                     "              path: /slash\n"
                     "              query: {p: \"x/*\"}\n"
                     "          - allow:\n"
                     "              method: GET\n"
                     "              path: /star\n"
                     "              query: {q: \"*\"}\n" CURL,

    [POL_L7_DENYQ] = "version: 1\n"
                     "network_policies:\n"
                     "  denyq:\n"
                     "    endpoints:\n"
                     "      - host: denyq.l7.test\n"
                     "        port: 443\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        access: full\n"
                     "        deny_rules:\n"
                     "          - method: POST\n"
                     "            path: /push\n"
                     "            query: {force: \"true\"}\n"
                     "          - method: GET\n"
                     "            path: /both\n"
                     "            query: {a: \"1\", b: \"2\"}\n"
                     "          - method: \"*\"\n"
                     "            path: /q\n"
                     "            query:\n"
                     "              mode: {any: [\"x*\", \"y\"]}\n"
                     "          - method: DELETE\n" CURL,

    [POL_L7_POOL] = "version: 1\n"
                    "network_policies:\n"
                    "  veto_b:\n"
                    "    endpoints:\n"
                    "      - host: veto.l7.test\n"
                    "        port: 443\n"
                    "        protocol: rest\n"
                    "        enforcement: enforce\n"
                    "        rules:\n"
                    "          - allow: {method: GET, path: \"/public/**\"}\n"
                    "        deny_rules:\n"
                    "          - {method: \"*\", path: \"/admin/**\"}\n" CURL "  veto_a:\n"
                    "    endpoints:\n"
                    "      - {host: veto.l7.test, port: 443, protocol: rest, enforcement: enforce,"
                    " access: full}\n" CURL "  pool_a:\n"
                    "    endpoints:\n"
                    "      - host: pool.l7.test\n"
                    "        port: 443\n"
                    "        protocol: rest\n"
                    "        enforcement: enforce\n"
                    "        rules: [{allow: {method: GET, path: /a}}]\n" CURL "  pool_b:\n"
                    "    endpoints:\n"
                    "      - host: pool.l7.test\n"
                    "        port: 443\n"
                    "        protocol: rest\n"
                    "        enforcement: enforce\n"
                    "        rules: [{allow: {method: POST, path: /b}}]\n" CURL "  pool_c:\n"
                    "    endpoints:\n"
                    "      - host: pool.l7.test\n"
                    "        port: 443\n"
                    "        protocol: rest\n"
                    "        enforcement: enforce\n"
                    "        rules: [{allow: {method: DELETE, path: /c}}]\n"
                    "    binaries:\n"
                    "      - path: /usr/bin/other\n"
                    "  mix_l4:\n"
                    "    endpoints:\n"
                    "      - {host: mix.l7.test, port: 443}\n" CURL "  mix_l7:\n"
                    "    endpoints:\n"
                    "      - host: mix.l7.test\n"
                    "        port: 443\n"
                    "        protocol: rest\n"
                    "        enforcement: enforce\n"
                    "        rules: [{allow: {method: GET, path: /ok}}]\n" CURL "  plain:\n"
                    "    endpoints:\n"
                    "      - {host: plain.l7.test, port: 443}\n" CURL,

    [POL_L7_PRESETS] =
        "version: 1\n"
        "network_policies:\n"
        "  presets:\n"
        "    endpoints:\n"
        "      - {host: ro.l7.test, port: 443, protocol: rest, enforcement: enforce,"
        " access: read-only}\n"
        "      - {host: rw.l7.test, port: 443, protocol: rest, enforcement: enforce,"
        " access: read-write}\n"
        "      - {host: full.l7.test, port: 443, protocol: rest, enforcement: enforce,"
        " access: full}\n"
        "      - {host: wsro.l7.test, port: 443, protocol: websocket, enforcement: enforce,"
        " access: read-only}\n"
        "      - {host: wsrw.l7.test, port: 443, protocol: websocket, enforcement: enforce,"
        " access: read-write}\n"
        "      - {host: bogus.l7.test, port: 443, protocol: rest, enforcement: enforce,"
        " access: everything}\n" CURL,

    [POL_L7_ENF] = "version: 1\n"
                   "network_policies:\n"
                   "  enforcement:\n"
                   "    endpoints:\n"
                   "      - host: audit.l7.test\n"
                   "        port: 443\n"
                   "        protocol: rest\n"
                   "        enforcement: audit\n"
                   "        rules: [{allow: {method: GET, path: \"/ok/**\"}}]\n"
                   "        deny_rules: [{method: GET, path: /ok/secret}]\n"
                   "      - host: unset.l7.test\n"
                   "        port: 443\n"
                   "        protocol: rest\n"
                   "        rules: [{allow: {method: GET, path: /ok}}]\n"
                   "      - host: upper.l7.test\n"
                   "        port: 443\n"
                   "        protocol: rest\n"
                   "        enforcement: ENFORCE\n"
                   "        rules: [{allow: {method: GET, path: /ok}}]\n" CURL,

    [POL_L7_ROUTE] = "version: 1\n"
                     "network_policies:\n"
                     "  route:\n"
                     "    endpoints:\n"
                     "      - host: route.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/repos/**\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/repos/**\"}}]\n"
                     "      - host: route.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/docs/**\"\n"
                     "        protocol: rest\n"
                     "        rules: [{allow: {method: GET, path: \"/docs/**\"}}]\n"
                     "      - host: spec.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/api/**\"\n"
                     "        protocol: rest\n"
                     "        rules: [{allow: {method: GET, path: \"/api/**\"}}]\n"
                     "      - host: spec.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/api/v2/**\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/api/v2/**\"}}]\n"
                     "      - host: tie.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/t/*\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/t/*\"}}]\n"
                     "      - host: tie.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/*/x\"\n"
                     "        protocol: rest\n"
                     "        rules: [{allow: {method: GET, path: \"/*/x\"}}]\n"
                     "      - host: single.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/only/**\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/only/**\"}}]\n"
                     "      - host: catch.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/**\"\n"
                     "        protocol: rest\n"
                     "        rules: [{allow: {method: GET, path: \"/**\"}}]\n"
                     "      - host: catch.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/api/**\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/api/**\"}}]\n"
                     "      - host: empty.l7.test\n"
                     "        port: 443\n"
                     "        protocol: rest\n"
                     "        rules: [{allow: {method: GET, path: \"**\"}}]\n"
                     "      - host: empty.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/v1/**\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/v1/**\"}}]\n"
                     "      - host: cross.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/v1/*/items\"\n"
                     "        protocol: rest\n"
                     "        enforcement: enforce\n"
                     "        rules: [{allow: {method: GET, path: \"/**\"}}]\n"
                     "      - host: cross.l7.test\n"
                     "        port: 443\n"
                     "        path: \"/other/**\"\n"
                     "        protocol: rest\n"
                     "        rules: [{allow: {method: GET, path: \"/other/**\"}}]\n" CURL
                     /* same host:port in two policies, equal specificity: the
                      * route set is in key order, the last one wins */
                     "  xa:\n"
                     "    endpoints:\n"
                     "      - {host: xpol.l7.test, port: 443, protocol: rest, enforcement: enforce,"
                     " rules: [{allow: {method: GET, path: /a}}]}\n" CURL "  xb:\n"
                     "    endpoints:\n"
                     "      - {host: xpol.l7.test, port: 443, protocol: rest,"
                     " rules: [{allow: {method: GET, path: /b}}]}\n" CURL "  yb:\n"
                     "    endpoints:\n"
                     "      - {host: ypol.l7.test, port: 443, protocol: rest, enforcement: enforce,"
                     " rules: [{allow: {method: GET, path: /b}}]}\n" CURL "  ya:\n"
                     "    endpoints:\n"
                     "      - {host: ypol.l7.test, port: 443, protocol: rest,"
                     " rules: [{allow: {method: GET, path: /a}}]}\n" CURL,

    [POL_FLAGS] =
        "version: 1\n"
        "network_policies:\n"
        "  f_exact:\n"
        "    endpoints:\n"
        "      - {host: Exact.Flags.Test, port: 443}\n" CURL "  f_hostless:\n"
        "    endpoints:\n"
        "      - {ports: [7000], allowed_ips: [\"10.9.0.0/16\"]}\n" CURL "  f_ips_a:\n"
        "    endpoints:\n"
        "      - {host: ips.flags.test, port: 443}\n" CURL "  f_ips_b:\n"
        "    endpoints:\n"
        "      - {host: other.flags.test, port: 443, allowed_ips: [\"172.16.0.0/12\"]}\n"
        "      - {host: ips.flags.test, port: 443,"
        " allowed_ips: [\"10.0.5.0/24\", \"10.0.6.0/24\"]}\n" CURL "  f_ips_c:\n"
        "    endpoints:\n"
        "      - {host: ips.flags.test, port: 443, allowed_ips: [\"192.168.0.0/16\"]}\n" CURL
        "  f_l7:\n"
        "    endpoints:\n"
        "      - {host: l7.flags.test, port: 443, protocol: rest, access: full}\n" CURL
        "  f_l7glob:\n"
        "    endpoints:\n"
        "      - {host: \"*.l7wild.flags.test\", port: 443, protocol: rest,"
        " access: full}\n" CURL "  f_mx_exact:\n"
        "    endpoints: [{host: x.mixed.test, port: 443}]\n"
        "    binaries: [{path: /usr/bin/aaa}]\n"
        "  f_mx_wild:\n"
        "    endpoints: [{host: \"*.mixed.test\", port: 443}]\n"
        "    binaries: [{path: /usr/bin/bbb}]\n"
        "  f_skip:\n"
        "    endpoints:\n"
        "      - {host: skip.flags.test, port: 443, tls: skip}\n" CURL "  f_slash:\n"
        "    endpoints:\n"
        "      - {host: slash.flags.test, port: 443, path: \"/a/**\", protocol: rest,"
        " access: full}\n"
        "      - {host: slash.flags.test, port: 443, path: \"/b/**\", protocol: rest,"
        " access: full, allow_encoded_slash: true}\n" CURL "  f_wild:\n"
        "    endpoints:\n"
        "      - {host: \"*.wild.flags.test\", port: 443}\n" CURL,
};

static struct osh_policy *g_pol[POL__COUNT];
static char *g_pol_diags[POL__COUNT]; /* printed diagnostics of a failed load */

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

static int
group_setup(void **state)
{
    (void)state;
    for (int i = 0; i < POL__COUNT; i++) {
        struct osh_diags d = {0};

        if (i == POL_DEFAULT) {
            g_pol[i] = osh_policy_restrictive_default();
            continue;
        }
        g_pol[i] = osh_policy_load_buffer(pol_name[i], pol_yaml[i], strlen(pol_yaml[i]),
                                          OSH_POLICY_FORMAT_YAML, &d);
        if (g_pol[i] == NULL)
            g_pol_diags[i] = diags_to_string(&d);
        osh_diags_clear(&d);
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < POL__COUNT; i++) {
        osh_policy_unref(g_pol[i]);
        g_pol[i] = NULL;
        free(g_pol_diags[i]);
        g_pol_diags[i] = NULL;
    }
    return 0;
}

static const struct osh_policy *
need_policy(enum pol id)
{
    if (g_pol[id] == NULL)
        fail_msg("policy %s failed to load:\n%s", pol_name[id],
                 g_pol_diags[id] != NULL ? g_pol_diags[id] : "(no diagnostics)");
    return g_pol[id];
}

/* ------------------------------------------------------------------------ */
/* The decision table                                                        */

enum layer { LAYER_L4, LAYER_L7 };
enum rmode {
    R_NONE,  /* allowed: reason "" (NULL tolerated) */
    R_EXACT, /* reason == text */
    R_SUB,   /* reason contains text */
};

#define MAX_LIST 6

struct eval_case {
    const char *name;
    enum pol pol;
    enum layer layer;
    const char *host;
    uint16_t port;
    const char *bin;
    const char *anc[MAX_LIST];
    const char *cmd[MAX_LIST];
    const char *method;
    const char *path;
    const char *query; /* "k=v&k=v": split on '&' and the first '=', not decoded;
                        * NULL: no query object; "": an empty one */
    enum osh_decision want;
    const char *matched; /* NULL: must be NULL */
    enum rmode rmode;
    const char *reason;
};

#define LIST(...)                                                                                  \
    {                                                                                              \
        __VA_ARGS__                                                                                \
    }
#define NOLIST                                                                                     \
    {                                                                                              \
        NULL                                                                                       \
    }

#define ALLOW_(m) OSH_DECISION_ALLOW, m, R_NONE, NULL
#define DENY4(r) OSH_DECISION_DENY, NULL, R_EXACT, r
#define DENY4_SUB(r) OSH_DECISION_DENY, NULL, R_SUB, r
#define DENY7(m, r) OSH_DECISION_DENY, m, R_EXACT, r
#define AUDIT7(m, r) OSH_DECISION_AUDIT, m, R_EXACT, r

/* L4 row: curl, no ancestors. */
#define L4(n, p, h, port, ...)                                                                     \
    {                                                                                              \
        n, p, LAYER_L4, h, port, "/usr/bin/curl", NOLIST, NOLIST, NULL, NULL, NULL, __VA_ARGS__    \
    }
/* L4 row with an explicit identity. */
#define L4B(n, p, h, bin, anc, cmd, ...)                                                           \
    {                                                                                              \
        n, p, LAYER_L4, h, 443, bin, anc, cmd, NULL, NULL, NULL, __VA_ARGS__                       \
    }
/* L7 row: curl, port 443. */
#define L7(n, p, h, m, path, q, ...)                                                               \
    {                                                                                              \
        n, p, LAYER_L7, h, 443, "/usr/bin/curl", NOLIST, NOLIST, m, path, q, __VA_ARGS__           \
    }
/* L7 row with an explicit binary and ancestors. */
#define L7A(n, p, h, bin, anc, m, path, ...)                                                       \
    {                                                                                              \
        n, p, LAYER_L7, h, 443, bin, anc, NOLIST, m, path, NULL, __VA_ARGS__                       \
    }
/* L7 row with an explicit binary. */
#define L7B(n, p, h, bin, m, path, ...)                                                            \
    {                                                                                              \
        n, p, LAYER_L7, h, 443, bin, NOLIST, NOLIST, m, path, NULL, __VA_ARGS__                    \
    }

static struct eval_case cases[] = {
    /* ---- H: hosts and ports, §2.2 (41 rows) ---------------------------- */
    L4("H01 exact host, policy mixed case", POL_HOSTS, "api.example.org", 443, ALLOW_("exact")),
    L4("H02 exact host, request upper case", POL_HOSTS, "API.EXAMPLE.ORG", 443, ALLOW_("exact")),
    L4("H03 exact host, request mixed case", POL_HOSTS, "Api.example.Org", 443, ALLOW_("exact")),
    L4("H04 no trailing-dot normalization", POL_HOSTS, "trailing.example.org.", 443,
       DENY4(EP_DENY("trailing.example.org.:443"))),
    L4("H05 exact host, wrong port", POL_HOSTS, "api.example.org", 8443,
       DENY4(EP_DENY("api.example.org:8443"))),
    L4("H06 '?' literal in exact host matches itself", POL_HOSTS, "what?.example.org", 443,
       ALLOW_("exact")),
    L4("H07 '?' is not a wildcard in exact host", POL_HOSTS, "whatx.example.org", 443,
       DENY4(EP_DENY("whatx.example.org:443"))),
    L4("H08 '[' literal in exact host matches itself", POL_HOSTS, "br[ac]ket.example.org", 443,
       ALLOW_("exact")),
    L4("H09 '[..]' is not a class in exact host", POL_HOSTS, "bracket.example.org", 443,
       DENY4(EP_DENY("bracket.example.org:443"))),
    L4("H10 IPv4 literal host", POL_HOSTS, "10.0.0.5", 8080, ALLOW_("exact")),
    L4("H11 other IPv4 literal denied", POL_HOSTS, "10.0.0.6", 8080,
       DENY4(EP_DENY("10.0.0.6:8080"))),
    L4("H12 IPv6 literal host, case-insensitive", POL_HOSTS, "2001:DB8::1", 443, ALLOW_("exact")),
    L4("H13 *.example.com matches one label", POL_HOSTS, "api.example.com", 443, ALLOW_("wild")),
    L4("H14 wildcard case-insensitive", POL_HOSTS, "API.EXAMPLE.COM", 443, ALLOW_("wild")),
    L4("H15 *.example.com not two labels", POL_HOSTS, "deep.sub.example.com", 443,
       DENY4(EP_DENY("deep.sub.example.com:443"))),
    L4("H16 *.example.com not the apex", POL_HOSTS, "example.com", 443,
       DENY4(EP_DENY("example.com:443"))),
    L4("H17 '*' may be empty", POL_HOSTS, ".example.com", 443, ALLOW_("wild")),
    L4("H18 wildcard, wrong port", POL_HOSTS, "api.example.com", 80,
       DENY4(EP_DENY("api.example.com:80"))),
    L4("H19 **.deep.example.net one label", POL_HOSTS, "a.deep.example.net", 443, ALLOW_("deep")),
    L4("H20 **.deep.example.net three labels", POL_HOSTS, "a.b.c.deep.example.net", 443,
       ALLOW_("deep")),
    L4("H21 ** needs at least one label", POL_HOSTS, "deep.example.net", 443,
       DENY4(EP_DENY("deep.example.net:443"))),
    L4("H22 ** case-insensitive", POL_HOSTS, "A.B.DEEP.EXAMPLE.NET", 443, ALLOW_("deep")),
    L4("H23 intra-label wildcard", POL_HOSTS, "us-central1-aiplatform.googleapis.com", 443,
       ALLOW_("intra")),
    L4("H24 intra-label wildcard does not cross '.'", POL_HOSTS,
       "us-central1.aiplatform.googleapis.com", 443,
       DENY4(EP_DENY("us-central1.aiplatform.googleapis.com:443"))),
    L4("H25 ports list, first", POL_HOSTS, "multi.example.io", 80, ALLOW_("ports")),
    L4("H26 ports list, second", POL_HOSTS, "multi.example.io", 8443, ALLOW_("ports")),
    L4("H27 ports list, not listed", POL_HOSTS, "multi.example.io", 443,
       DENY4(EP_DENY("multi.example.io:443"))),
    L4("H28 neither port nor ports matches nothing (443)", POL_HOSTS, "none.example.io", 443,
       DENY4(EP_DENY("none.example.io:443"))),
    L4("H29 neither port nor ports matches nothing (0)", POL_HOSTS, "none.example.io", 0,
       DENY4(EP_DENY("none.example.io:0"))),
    L4("H30 hostless endpoint matches any name", POL_HOSTS, "anything.example.net", 9000,
       ALLOW_("hostless")),
    L4("H31 hostless endpoint matches an IP", POL_HOSTS, "8.8.8.8", 9000, ALLOW_("hostless")),
    L4("H32 hostless endpoint, wrong port", POL_HOSTS, "anything.example.net", 9001,
       DENY4(EP_DENY("anything.example.net:9001"))),
    L4("H33 reason lowercases the host", POL_HOSTS, "NOT-CONFIGURED.Example.TEST", 443,
       DENY4(EP_DENY("not-configured.example.test:443"))),
    L4("H34 ports overrides port: first of ports", POL_PORTS_BOTH, "both.example.io", 2222,
       ALLOW_("both")),
    L4("H35 ports overrides port: second of ports", POL_PORTS_BOTH, "both.example.io", 3333,
       ALLOW_("both")),
    L4("H36 ports overrides port: scalar port dropped", POL_PORTS_BOTH, "both.example.io", 1111,
       DENY4(EP_DENY("both.example.io:1111"))),
    L4("H37 wildcard pattern is lowercased too", POL_HOSTS, "a.upper.example.net", 443,
       ALLOW_("wild_more")),
    L4("H38 '?' is a glob in a wildcard host", POL_HOSTS, "api-v1.example.org", 443,
       ALLOW_("wild_more")),
    L4("H39 '?' in a wildcard host is one character", POL_HOSTS, "api-v12.example.org", 443,
       DENY4(EP_DENY("api-v12.example.org:443"))),
    L4("H40 no host and no allowed_ips matches nothing", POL_HOSTS, "anything.example.net", 9100,
       DENY4(EP_DENY("anything.example.net:9100"))),
    L4("H41 '*' in a wildcard host does not cross '.'", POL_HOSTS, "a.b-v1.example.org", 443,
       DENY4(EP_DENY("a.b-v1.example.org:443"))),

    /* ---- B: binaries, matched_policy, binary reasons, §2.3-§2.5 (44 rows) */
    L4B("B01 exact binary", POL_BIN, "exact.bin.test", "/usr/local/bin/claude", NOLIST, NOLIST,
        ALLOW_("bin_exact")),
    L4B("B02 exact binary via parent", POL_BIN, "exact.bin.test", "/usr/bin/node",
        LIST("/usr/local/bin/claude"), NOLIST, ALLOW_("bin_exact")),
    L4B("B03 exact binary via deep ancestor", POL_BIN, "exact.bin.test", "/usr/bin/git",
        LIST("/usr/bin/bash", "/usr/bin/node", "/bin/sh", "/usr/local/bin/claude"), NOLIST,
        ALLOW_("bin_exact")),
    L4B("B04 binary match is case-sensitive", POL_BIN, "exact.bin.test", "/usr/local/bin/Claude",
        NOLIST, NOLIST, DENY4(BIN_DENY("/usr/local/bin/Claude", "bin_exact", "", ""))),
    L4B("B05 binary path not normalized", POL_BIN, "exact.bin.test", "/usr/local//bin/claude",
        NOLIST, NOLIST, DENY4(BIN_DENY("/usr/local//bin/claude", "bin_exact", "", ""))),
    L4B("B06 cmdline path never grants (exact)", POL_BIN, "exact.bin.test", "/usr/bin/python3",
        LIST("/bin/bash"), LIST("/usr/local/bin/claude"),
        DENY4(BIN_DENY("/usr/bin/python3", "bin_exact", "/bin/bash", "/usr/local/bin/claude"))),
    L4B("B07 ancestor match is case-sensitive", POL_BIN, "exact.bin.test", "/usr/bin/node",
        LIST("/USR/local/bin/claude"), NOLIST,
        DENY4(BIN_DENY("/usr/bin/node", "bin_exact", "/USR/local/bin/claude", ""))),
    L4B("B08 /usr/bin/* one segment", POL_BIN, "star.bin.test", "/usr/bin/node", NOLIST, NOLIST,
        ALLOW_("bin_star")),
    L4B("B09 /usr/bin/* not two segments", POL_BIN, "star.bin.test", "/usr/bin/subdir/node", NOLIST,
        NOLIST, DENY4(BIN_DENY("/usr/bin/subdir/node", "bin_star", "", ""))),
    L4B("B10 /usr/bin/* not the directory", POL_BIN, "star.bin.test", "/usr/bin", NOLIST, NOLIST,
        DENY4(BIN_DENY("/usr/bin", "bin_star", "", ""))),
    L4B("B11 glob matches an ancestor", POL_BIN, "star.bin.test", "/opt/tool",
        LIST("/usr/bin/python3"), NOLIST, ALLOW_("bin_star")),
    L4B("B12 cmdline path never grants (glob)", POL_BIN, "star.bin.test", "/opt/tool", NOLIST,
        LIST("/usr/bin/node", "/usr/bin/x"),
        DENY4(BIN_DENY("/opt/tool", "bin_star", "", "/usr/bin/node, /usr/bin/x"))),
    L4B("B13 /usr/** deep", POL_BIN, "rec.bin.test", "/usr/lib/x/y/z", NOLIST, NOLIST,
        ALLOW_("bin_rec")),
    L4B("B14 /usr/** not /usr itself", POL_BIN, "rec.bin.test", "/usr", NOLIST, NOLIST,
        DENY4(BIN_DENY("/usr", "bin_rec", "", ""))),
    L4B("B15 /usr/** anchored at the start", POL_BIN, "rec.bin.test", "/opt/usr/bin/x", NOLIST,
        NOLIST, DENY4(BIN_DENY("/opt/usr/bin/x", "bin_rec", "", ""))),
    L4B("B16 /** any binary (deep)", POL_BIN, "any.bin.test", "/whatever/at/all", NOLIST, NOLIST,
        ALLOW_("bin_any")),
    L4B("B17 /** any binary (top level)", POL_BIN, "any.bin.test", "/x", NOLIST, NOLIST,
        ALLOW_("bin_any")),
    L4B("B18 unknown binary (NULL) denied even by /**", POL_BIN, "any.bin.test", NULL, NOLIST,
        NOLIST, DENY4_SUB("not allowed in policy 'bin_any'")),
    L4B("B19 unknown binary (\"\") denied even by /**", POL_BIN, "any.bin.test", "", NOLIST, NOLIST,
        DENY4_SUB("not allowed in policy 'bin_any'")),
    L4B("B20 /a/**/b zero middle segments", POL_BIN, "mid.bin.test", "/a/b", NOLIST, NOLIST,
        ALLOW_("bin_mid")),
    L4B("B21 /a/**/b two middle segments", POL_BIN, "mid.bin.test", "/a/x/y/b", NOLIST, NOLIST,
        ALLOW_("bin_mid")),
    L4B("B22 /a/**/b not a suffix", POL_BIN, "mid.bin.test", "/a/b/c", NOLIST, NOLIST,
        DENY4(BIN_DENY("/a/b/c", "bin_mid", "", ""))),
    L4B("B23 /a/**/b not /ab", POL_BIN, "mid.bin.test", "/ab", NOLIST, NOLIST,
        DENY4(BIN_DENY("/ab", "bin_mid", "", ""))),
    L4B("B24 /a/**/b via ancestor", POL_BIN, "mid.bin.test", "/x", LIST("/y", "/a/q/b"), NOLIST,
        ALLOW_("bin_mid")),
    L4B("B25 cross-policy: endpoint of A, binary of B", POL_BIN, "cross-a.bin.test", "/usr/bin/bbb",
        NOLIST, NOLIST, DENY4(BIN_DENY("/usr/bin/bbb", "cross_a", "", ""))),
    L4B("B26 same-policy endpoint and binary", POL_BIN, "cross-a.bin.test", "/usr/bin/aaa", NOLIST,
        NOLIST, ALLOW_("cross_a")),
    L4B("B27 only the larger key matches", POL_BIN, "shared.bin.test", "/usr/bin/zz", NOLIST,
        NOLIST, ALLOW_("multi_z")),
    L4B("B28 only the smaller key matches", POL_BIN, "shared.bin.test", "/usr/bin/aa", NOLIST,
        NOLIST, ALLOW_("multi_a")),
    L4B("B29 both match: smallest key", POL_BIN, "shared.bin.test", "/usr/bin/both", NOLIST, NOLIST,
        ALLOW_("multi_a")),
    L4B("B30 binary reasons of every endpoint-matching policy, key order", POL_BIN,
        "shared.bin.test", "/usr/bin/evil", LIST("/bin/sh", "/usr/bin/bash", "/sbin/init"),
        LIST("/tmp/x.py", "/tmp/y"),
        DENY4(BIN_DENY("/usr/bin/evil", "multi_a", "/bin/sh -> /usr/bin/bash -> /sbin/init",
                       "/tmp/x.py, /tmp/y") "; " BIN_DENY("/usr/bin/evil", "multi_z",
                                                          "/bin/sh -> /usr/bin/bash -> /sbin/init",
                                                          "/tmp/x.py, /tmp/y"))),
    L4B("B31 matched_policy is the key, not name", POL_BIN, "github.com", "/usr/bin/git", NOLIST,
        NOLIST, ALLOW_("github_ssh_over_https")),
    L4B("B32 smallest key, whatever the names", POL_BIN, "names.bin.test", "/usr/bin/curl", NOLIST,
        NOLIST, ALLOW_("k1")),
    L4B("B33 keys compare bytewise ('B' < 'a')", POL_BIN, "case.bin.test", "/usr/bin/curl", NOLIST,
        NOLIST, ALLOW_("B_upper")),
    L4B("B34 binary reason names the key, not name", POL_BIN, "github.com", "/usr/bin/curl", NOLIST,
        NOLIST, DENY4(BIN_DENY("/usr/bin/curl", "github_ssh_over_https", "", ""))),
    L4B("B35 '?' without '*' is literal (no glob mode)", POL_BIN, "qlit.bin.test",
        "/usr/bin/python3.1", NOLIST, NOLIST,
        DENY4(BIN_DENY("/usr/bin/python3.1", "bin_qlit", "", ""))),
    L4B("B36 '?' without '*' matches itself", POL_BIN, "qlit.bin.test", "/usr/bin/python3.?",
        NOLIST, NOLIST, ALLOW_("bin_qlit")),
    L4B("B37 class in a binary glob", POL_BIN, "class.bin.test", "/usr/bin/python3", NOLIST, NOLIST,
        ALLOW_("bin_class")),
    L4B("B38 class in a binary glob, other member", POL_BIN, "class.bin.test", "/usr/bin/qython",
        NOLIST, NOLIST, ALLOW_("bin_class")),
    L4B("B39 class in a binary glob, not a member", POL_BIN, "class.bin.test", "/usr/bin/rython",
        NOLIST, NOLIST, DENY4(BIN_DENY("/usr/bin/rython", "bin_class", "", ""))),
    L4B("B40 x** inside a segment acts like x*", POL_BIN, "class.bin.test", "/opt/xyz", NOLIST,
        NOLIST, ALLOW_("bin_class")),
    L4B("B41 x** inside a segment does not cross '/'", POL_BIN, "class.bin.test", "/opt/x/y",
        NOLIST, NOLIST, DENY4(BIN_DENY("/opt/x/y", "bin_class", "", ""))),
    L4B("B42 alternation in a binary glob", POL_BIN, "class.bin.test", "/usr/bin/wget2", NOLIST,
        NOLIST, ALLOW_("bin_class")),
    L4B("B43 alternation in a binary glob, other branch", POL_BIN, "class.bin.test",
        "/usr/bin/curl", NOLIST, NOLIST, ALLOW_("bin_class")),
    L4B("B44 alternation in a binary glob, no branch", POL_BIN, "class.bin.test", "/usr/bin/fetch",
        NOLIST, NOLIST, DENY4(BIN_DENY("/usr/bin/fetch", "bin_class", "", ""))),

    /* ---- N: empty and default policies, §2.5 (1), §1.9 (6 rows) --------- */
    L4("N01 network_policies: {}", POL_EMPTY, "api.example.com", 443, DENY4(NO_POLICIES)),
    L4("N02 network_policies absent", POL_NONE, "api.example.com", 443, DENY4(NO_POLICIES)),
    L4("N03 policies without endpoints", POL_EMPTY_EPS, "api.example.com", 443,
       DENY4(EP_DENY("api.example.com:443"))),
    L4("N04 restrictive default denies", POL_DEFAULT, "api.example.com", 443, DENY4(NO_POLICIES)),
    L4("N05 restrictive default denies an IP", POL_DEFAULT, "10.0.0.1", 80, DENY4(NO_POLICIES)),
    L7("N06 restrictive default denies at L7", POL_DEFAULT, "api.example.com", "GET", "/", NULL,
       DENY4(NO_POLICIES)),

    /* ---- M: methods, §3.3 method_matches (20 rows) --------------------- */
    L7("M01 GET", POL_L7_METHODS, "methods.l7.test", "GET", "/get", NULL, ALLOW_("methods")),
    L7("M02 method case-insensitive (get)", POL_L7_METHODS, "methods.l7.test", "get", "/get", NULL,
       ALLOW_("methods")),
    L7("M03 HEAD implied by GET", POL_L7_METHODS, "methods.l7.test", "HEAD", "/get", NULL,
       ALLOW_("methods")),
    L7("M04 head implied by GET", POL_L7_METHODS, "methods.l7.test", "head", "/get", NULL,
       ALLOW_("methods")),
    L7("M05 OPTIONS not implied by GET", POL_L7_METHODS, "methods.l7.test", "OPTIONS", "/get", NULL,
       DENY7("methods", NP("OPTIONS /get"))),
    L7("M06 POST on a GET rule", POL_L7_METHODS, "methods.l7.test", "POST", "/get", NULL,
       DENY7("methods", NP("POST /get"))),
    L7("M07 lower-case rule method", POL_L7_METHODS, "methods.l7.test", "POST", "/post", NULL,
       ALLOW_("methods")),
    L7("M08 mixed-case request method", POL_L7_METHODS, "methods.l7.test", "Post", "/post", NULL,
       ALLOW_("methods")),
    L7("M09 HEAD not implied by POST", POL_L7_METHODS, "methods.l7.test", "HEAD", "/post", NULL,
       DENY7("methods", NP("HEAD /post"))),
    L7("M10 '*' allows DELETE", POL_L7_METHODS, "methods.l7.test", "DELETE", "/any", NULL,
       ALLOW_("methods")),
    L7("M11 '*' allows any token", POL_L7_METHODS, "methods.l7.test", "BREW", "/any", NULL,
       ALLOW_("methods")),
    L7("M12 '*' allows WEBSOCKET_TEXT", POL_L7_METHODS, "methods.l7.test", "WEBSOCKET_TEXT", "/any",
       NULL, ALLOW_("methods")),
    L7("M13 'G*' is literal, not a glob", POL_L7_METHODS, "methods.l7.test", "GET", "/gstar", NULL,
       DENY7("methods", NP("GET /gstar"))),
    L7("M14 'G*' matches the literal token", POL_L7_METHODS, "methods.l7.test", "G*", "/gstar",
       NULL, ALLOW_("methods")),
    L7("M15 deny rule", POL_L7_METHODS, "methods.l7.test", "GET", "/denied/x", NULL,
       DENY7("methods", BD("GET /denied/x"))),
    L7("M16 HEAD blocked by GET deny rule", POL_L7_METHODS, "methods.l7.test", "HEAD", "/denied/x",
       NULL, DENY7("methods", BD("HEAD /denied/x"))),
    L7("M17 method kept as sent in deny reason", POL_L7_METHODS, "methods.l7.test", "head",
       "/denied/x", NULL, DENY7("methods", BD("head /denied/x"))),
    L7("M18 POST not hit by GET deny rule", POL_L7_METHODS, "methods.l7.test", "POST", "/denied/x",
       NULL, ALLOW_("methods")),
    L7("M19 OPTIONS not hit by GET deny rule", POL_L7_METHODS, "methods.l7.test", "OPTIONS",
       "/denied/x", NULL, ALLOW_("methods")),
    L7("M20 method kept as sent in not-permitted reason", POL_L7_METHODS, "methods.l7.test", "get",
       "/nothing", NULL, DENY7("methods", NP("get /nothing"))),

    /* ---- P: paths, §3.3 path_matches, §3.4 (29 rows) ------------------- */
    L7("P01 /repos/** one segment", POL_L7_PATHS, "paths.l7.test", "GET", "/repos/a", NULL,
       ALLOW_("paths")),
    L7("P02 /repos/** deep", POL_L7_PATHS, "paths.l7.test", "GET", "/repos/a/b/c", NULL,
       ALLOW_("paths")),
    L7("P03 /repos/** matches /repos/", POL_L7_PATHS, "paths.l7.test", "GET", "/repos/", NULL,
       ALLOW_("paths")),
    L7("P04 /repos/** does not match /repos", POL_L7_PATHS, "paths.l7.test", "GET", "/repos", NULL,
       DENY7("paths", NP("GET /repos"))),
    L7("P05 /repos/** not a prefix match", POL_L7_PATHS, "paths.l7.test", "GET", "/reposx", NULL,
       DENY7("paths", NP("GET /reposx"))),
    L7("P06 /x/* one segment", POL_L7_PATHS, "paths.l7.test", "GET", "/x/y", NULL, ALLOW_("paths")),
    L7("P07 /x/* not two segments", POL_L7_PATHS, "paths.l7.test", "GET", "/x/y/z", NULL,
       DENY7("paths", NP("GET /x/y/z"))),
    L7("P08 '?' one character", POL_L7_PATHS, "paths.l7.test", "GET", "/file1.txt", NULL,
       ALLOW_("paths")),
    L7("P09 '?' not two characters", POL_L7_PATHS, "paths.l7.test", "GET", "/file12.txt", NULL,
       DENY7("paths", NP("GET /file12.txt"))),
    L7("P10 '?' not zero characters", POL_L7_PATHS, "paths.l7.test", "GET", "/file.txt", NULL,
       DENY7("paths", NP("GET /file.txt"))),
    L7("P11 '?' does not match '/'", POL_L7_PATHS, "paths.l7.test", "GET", "/file/.txt", NULL,
       DENY7("paths", NP("GET /file/.txt"))),
    L7("P12 [12] class, 1", POL_L7_PATHS, "paths.l7.test", "GET", "/v1/items", NULL,
       ALLOW_("paths")),
    L7("P13 [12] class, 2", POL_L7_PATHS, "paths.l7.test", "GET", "/v2/items", NULL,
       ALLOW_("paths")),
    L7("P14 [12] class, 3", POL_L7_PATHS, "paths.l7.test", "GET", "/v3/items", NULL,
       DENY7("paths", NP("GET /v3/items"))),
    L7("P15 {a,b} alternation, first", POL_L7_PATHS, "paths.l7.test", "GET", "/alpha/info", NULL,
       ALLOW_("paths")),
    L7("P16 {a,b} alternation, second", POL_L7_PATHS, "paths.l7.test", "GET", "/beta/info", NULL,
       ALLOW_("paths")),
    L7("P17 {a,b} alternation, neither", POL_L7_PATHS, "paths.l7.test", "GET", "/gamma/info", NULL,
       DENY7("paths", NP("GET /gamma/info"))),
    L7("P18 /a/**/z zero segments", POL_L7_PATHS, "paths.l7.test", "GET", "/a/z", NULL,
       ALLOW_("paths")),
    L7("P19 /a/**/z several segments", POL_L7_PATHS, "paths.l7.test", "GET", "/a/b/c/z", NULL,
       ALLOW_("paths")),
    L7("P20 /a/**/z anchored at the end", POL_L7_PATHS, "paths.l7.test", "GET", "/a/z/q", NULL,
       DENY7("paths", NP("GET /a/z/q"))),
    L7("P21 /pre** acts like /pre*", POL_L7_PATHS, "paths.l7.test", "GET", "/prefix", NULL,
       ALLOW_("paths")),
    L7("P22 /pre** does not cross '/'", POL_L7_PATHS, "paths.l7.test", "GET", "/prefix/sub", NULL,
       DENY7("paths", NP("GET /prefix/sub"))),
    L7("P23 literal path", POL_L7_PATHS, "paths.l7.test", "GET", "/exact", NULL, ALLOW_("paths")),
    L7("P24 literal path, trailing slash differs", POL_L7_PATHS, "paths.l7.test", "GET", "/exact/",
       NULL, DENY7("paths", NP("GET /exact/"))),
    L7("P25 rule without path never matches", POL_L7_PATHS, "paths.l7.test", "DELETE", "/anything",
       NULL, DENY7("paths", NP("DELETE /anything"))),
    L7("P26 rule without method never matches", POL_L7_PATHS, "paths.l7.test", "GET", "/nomethod",
       NULL, DENY7("paths", NP("GET /nomethod"))),
    L7("P27 '**' matches a deep path", POL_L7_PATHS, "all.l7.test", "GET", "/any/deep/path", NULL,
       ALLOW_("paths")),
    L7("P28 '**' matches /", POL_L7_PATHS, "all.l7.test", "GET", "/", NULL, ALLOW_("paths")),
    L7("P29 '**' with the wrong method", POL_L7_PATHS, "all.l7.test", "POST", "/", NULL,
       DENY7("paths", NP("POST /"))),

    /* ---- Q: allow-side query, §3.3 query_params_match (27 rows) --------- */
    L7("Q01 glob value", POL_L7_QUERY, "query.l7.test", "GET", "/search", "q=foo-bar",
       ALLOW_("query")),
    L7("Q02 glob '*' may be empty", POL_L7_QUERY, "query.l7.test", "GET", "/search", "q=foo-",
       ALLOW_("query")),
    L7("Q03 query '*' does not cross '.'", POL_L7_QUERY, "query.l7.test", "GET", "/search",
       "q=foo-1.2", DENY7("query", NP("GET /search"))),
    L7("Q04 every value matches", POL_L7_QUERY, "query.l7.test", "GET", "/search",
       "q=foo-a&q=foo-b", ALLOW_("query")),
    L7("Q05 one mismatched duplicate denies", POL_L7_QUERY, "query.l7.test", "GET", "/search",
       "q=foo-a&q=bar", DENY7("query", NP("GET /search"))),
    L7("Q06 no query object: required key missing", POL_L7_QUERY, "query.l7.test", "GET", "/search",
       NULL, DENY7("query", NP("GET /search"))),
    L7("Q07 empty query: required key missing", POL_L7_QUERY, "query.l7.test", "GET", "/search", "",
       DENY7("query", NP("GET /search"))),
    L7("Q08 other key only: required key missing", POL_L7_QUERY, "query.l7.test", "GET", "/search",
       "other=foo-a", DENY7("query", NP("GET /search"))),
    L7("Q09 extra keys ignored", POL_L7_QUERY, "query.l7.test", "GET", "/search",
       "q=foo-a&extra=zzz", ALLOW_("query")),
    L7("Q10 keys are case-sensitive", POL_L7_QUERY, "query.l7.test", "GET", "/search", "Q=foo-a",
       DENY7("query", NP("GET /search"))),
    L7("Q11 any: first pattern", POL_L7_QUERY, "query.l7.test", "GET", "/multi", "tag=a",
       ALLOW_("query")),
    L7("Q12 any: second pattern (glob)", POL_L7_QUERY, "query.l7.test", "GET", "/multi", "tag=bzz",
       ALLOW_("query")),
    L7("Q13 any: no pattern", POL_L7_QUERY, "query.l7.test", "GET", "/multi", "tag=c",
       DENY7("query", NP("GET /multi"))),
    L7("Q14 any: each value by some pattern", POL_L7_QUERY, "query.l7.test", "GET", "/multi",
       "tag=a&tag=b1", ALLOW_("query")),
    L7("Q15 any: one value unmatched", POL_L7_QUERY, "query.l7.test", "GET", "/multi",
       "tag=a&tag=c", DENY7("query", NP("GET /multi"))),
    L7("Q16 any: glob does not cross '.'", POL_L7_QUERY, "query.l7.test", "GET", "/multi",
       "tag=b.c", DENY7("query", NP("GET /multi"))),
    L7("Q17 v1.* matches v1.2", POL_L7_QUERY, "query.l7.test", "GET", "/ver", "v=v1.2",
       ALLOW_("query")),
    L7("Q18 v1.* does not match v1.2.3", POL_L7_QUERY, "query.l7.test", "GET", "/ver", "v=v1.2.3",
       DENY7("query", NP("GET /ver"))),
    L7("Q19 two keys both present", POL_L7_QUERY, "query.l7.test", "GET", "/two", "a=1&b=2",
       ALLOW_("query")),
    L7("Q20 two keys, one missing", POL_L7_QUERY, "query.l7.test", "GET", "/two", "a=1",
       DENY7("query", NP("GET /two"))),
    L7("Q21 two keys, any order", POL_L7_QUERY, "query.l7.test", "GET", "/two", "b=2&a=1",
       ALLOW_("query")),
    L7("Q22 '/' is an ordinary character in query globs", POL_L7_QUERY, "query.l7.test", "GET",
       "/slash", "p=x/y/z", ALLOW_("query")),
    L7("Q23 query glob x/* needs the '/'", POL_L7_QUERY, "query.l7.test", "GET", "/slash", "p=x.y",
       DENY7("query", NP("GET /slash"))),
    L7("Q24 '*' matches a key without '='", POL_L7_QUERY, "query.l7.test", "GET", "/star", "q",
       ALLOW_("query")),
    L7("Q25 '*' matches an empty value", POL_L7_QUERY, "query.l7.test", "GET", "/star",
       "q=", ALLOW_("query")),
    L7("Q26 '*' still needs the key", POL_L7_QUERY, "query.l7.test", "GET", "/star", "r=1",
       DENY7("query", NP("GET /star"))),
    L7("Q27 '*' alone does not cross '.'", POL_L7_QUERY, "query.l7.test", "GET", "/star", "q=a.b",
       DENY7("query", NP("GET /star"))),

    /* ---- D: deny-side query, §3.3 deny_query_match (15 rows) ----------- */
    L7("D01 deny key missing: rule does not apply", POL_L7_DENYQ, "denyq.l7.test", "POST", "/push",
       NULL, ALLOW_("denyq")),
    L7("D02 deny value differs", POL_L7_DENYQ, "denyq.l7.test", "POST", "/push", "force=false",
       ALLOW_("denyq")),
    L7("D03 deny value matches", POL_L7_DENYQ, "denyq.l7.test", "POST", "/push", "force=true",
       DENY7("denyq", BD("POST /push"))),
    L7("D04 mixed values: any match denies", POL_L7_DENYQ, "denyq.l7.test", "POST", "/push",
       "force=true&force=false", DENY7("denyq", BD("POST /push"))),
    L7("D05 mixed values, other order", POL_L7_DENYQ, "denyq.l7.test", "POST", "/push",
       "force=false&force=true", DENY7("denyq", BD("POST /push"))),
    L7("D06 other key only", POL_L7_DENYQ, "denyq.l7.test", "POST", "/push", "other=1",
       ALLOW_("denyq")),
    L7("D07 deny needs all keys present", POL_L7_DENYQ, "denyq.l7.test", "GET", "/both", "a=1",
       ALLOW_("denyq")),
    L7("D08 all keys present and matching", POL_L7_DENYQ, "denyq.l7.test", "GET", "/both",
       "a=1&b=2", DENY7("denyq", BD("GET /both"))),
    L7("D09 one key's values all differ", POL_L7_DENYQ, "denyq.l7.test", "GET", "/both", "a=1&b=3",
       ALLOW_("denyq")),
    L7("D10 one matching value per key suffices", POL_L7_DENYQ, "denyq.l7.test", "GET", "/both",
       "a=9&a=1&b=2", DENY7("denyq", BD("GET /both"))),
    L7("D11 HEAD hits a GET deny rule with query", POL_L7_DENYQ, "denyq.l7.test", "HEAD", "/both",
       "a=1&b=2", DENY7("denyq", BD("HEAD /both"))),
    L7("D12 deny any: glob", POL_L7_DENYQ, "denyq.l7.test", "DELETE", "/q", "mode=xyz",
       DENY7("denyq", BD("DELETE /q"))),
    L7("D13 deny any: literal", POL_L7_DENYQ, "denyq.l7.test", "PUT", "/q", "mode=y",
       DENY7("denyq", BD("PUT /q"))),
    L7("D14 deny any: no pattern", POL_L7_DENYQ, "denyq.l7.test", "DELETE", "/q", "mode=z",
       ALLOW_("denyq")),
    L7("D15 deny rule without path never matches", POL_L7_DENYQ, "denyq.l7.test", "DELETE", "/x",
       NULL, ALLOW_("denyq")),

    /* ---- V: pooling, veto, L4-only endpoints, §3.3 (13 rows) ----------- */
    L7("V01 allow from the smaller key", POL_L7_POOL, "veto.l7.test", "DELETE", "/data", NULL,
       ALLOW_("veto_a")),
    L7("V02 deny rule of another policy vetoes", POL_L7_POOL, "veto.l7.test", "GET", "/admin/x",
       NULL, DENY7("veto_a", BD("GET /admin/x"))),
    L7("V03 both allow", POL_L7_POOL, "veto.l7.test", "GET", "/public/x", NULL, ALLOW_("veto_a")),
    L7("V04 pooled allow, first policy", POL_L7_POOL, "pool.l7.test", "GET", "/a", NULL,
       ALLOW_("pool_a")),
    L7("V05 pooled allow, second policy", POL_L7_POOL, "pool.l7.test", "POST", "/b", NULL,
       ALLOW_("pool_a")),
    L7("V06 pooled, nobody allows", POL_L7_POOL, "pool.l7.test", "POST", "/a", NULL,
       DENY7("pool_a", NP("POST /a"))),
    L7("V07 policy outside the L4 set does not allow", POL_L7_POOL, "pool.l7.test", "DELETE", "/c",
       NULL, DENY7("pool_a", NP("DELETE /c"))),
    L7("V08 L7 rule next to an L4-only endpoint", POL_L7_POOL, "mix.l7.test", "GET", "/ok", NULL,
       ALLOW_("mix_l4")),
    L7("V09 L4-only endpoint grants no L7 permission", POL_L7_POOL, "mix.l7.test", "POST", "/x",
       NULL, DENY7("mix_l4", NP("POST /x"))),
    L7("V10 no protocol: no inspection (GET)", POL_L7_POOL, "plain.l7.test", "GET", "/anything",
       NULL, ALLOW_("plain")),
    L7("V11 no protocol: no inspection (DELETE)", POL_L7_POOL, "plain.l7.test", "DELETE", "/x",
       "force=true", ALLOW_("plain")),
    L7A("V12 L7 identity via an ancestor", POL_L7_METHODS, "methods.l7.test", "/usr/bin/python3",
        LIST("/bin/sh", "/usr/bin/curl"), "GET", "/get", ALLOW_("methods")),
    L7A("V13 L7 identity via an ancestor, not permitted", POL_L7_METHODS, "methods.l7.test",
        "/usr/bin/python3", LIST("/usr/bin/curl"), "PUT", "/get", DENY7("methods", NP("PUT /get"))),

    /* ---- S: access presets, §3.5 (22 rows) ----------------------------- */
    L7("S01 read-only GET", POL_L7_PRESETS, "ro.l7.test", "GET", "/r", NULL, ALLOW_("presets")),
    L7("S02 read-only HEAD", POL_L7_PRESETS, "ro.l7.test", "HEAD", "/r", NULL, ALLOW_("presets")),
    L7("S03 read-only OPTIONS", POL_L7_PRESETS, "ro.l7.test", "OPTIONS", "/r/s", NULL,
       ALLOW_("presets")),
    L7("S04 read-only POST", POL_L7_PRESETS, "ro.l7.test", "POST", "/r", NULL,
       DENY7("presets", NP("POST /r"))),
    L7("S05 read-only PUT", POL_L7_PRESETS, "ro.l7.test", "PUT", "/r", NULL,
       DENY7("presets", NP("PUT /r"))),
    L7("S06 read-only PATCH", POL_L7_PRESETS, "ro.l7.test", "PATCH", "/r", NULL,
       DENY7("presets", NP("PATCH /r"))),
    L7("S07 read-only DELETE", POL_L7_PRESETS, "ro.l7.test", "DELETE", "/r", NULL,
       DENY7("presets", NP("DELETE /r"))),
    L7("S08 read-write GET", POL_L7_PRESETS, "rw.l7.test", "GET", "/w", NULL, ALLOW_("presets")),
    L7("S09 read-write HEAD", POL_L7_PRESETS, "rw.l7.test", "HEAD", "/w", NULL, ALLOW_("presets")),
    L7("S10 read-write OPTIONS", POL_L7_PRESETS, "rw.l7.test", "OPTIONS", "/w", NULL,
       ALLOW_("presets")),
    L7("S11 read-write POST", POL_L7_PRESETS, "rw.l7.test", "POST", "/w/x", NULL,
       ALLOW_("presets")),
    L7("S12 read-write PUT", POL_L7_PRESETS, "rw.l7.test", "PUT", "/w", NULL, ALLOW_("presets")),
    L7("S13 read-write PATCH", POL_L7_PRESETS, "rw.l7.test", "PATCH", "/w", NULL,
       ALLOW_("presets")),
    L7("S14 read-write DELETE", POL_L7_PRESETS, "rw.l7.test", "DELETE", "/w", NULL,
       DENY7("presets", NP("DELETE /w"))),
    L7("S15 full DELETE", POL_L7_PRESETS, "full.l7.test", "DELETE", "/f/g", NULL,
       ALLOW_("presets")),
    L7("S16 full GET", POL_L7_PRESETS, "full.l7.test", "GET", "/", NULL, ALLOW_("presets")),
    L7("S17 full, any token", POL_L7_PRESETS, "full.l7.test", "BREW", "/pot", NULL,
       ALLOW_("presets")),
    L7("S18 websocket read-only GET", POL_L7_PRESETS, "wsro.l7.test", "GET", "/ws", NULL,
       ALLOW_("presets")),
    L7("S19 websocket read-only text frame", POL_L7_PRESETS, "wsro.l7.test", "WEBSOCKET_TEXT",
       "/ws", NULL, DENY7("presets", NP("WEBSOCKET_TEXT /ws"))),
    L7("S20 websocket read-write text frame", POL_L7_PRESETS, "wsrw.l7.test", "WEBSOCKET_TEXT",
       "/ws", NULL, ALLOW_("presets")),
    L7("S21 websocket read-write POST", POL_L7_PRESETS, "wsrw.l7.test", "POST", "/ws", NULL,
       DENY7("presets", NP("POST /ws"))),
    L7("S22 unknown access value: no rules", POL_L7_PRESETS, "bogus.l7.test", "GET", "/", NULL,
       DENY7("presets", NP("GET /"))),

    /* ---- E: enforcement, §1.4, §3.7 (6 rows) --------------------------- */
    L7("E01 audit, allowed", POL_L7_ENF, "audit.l7.test", "GET", "/ok/x", NULL,
       ALLOW_("enforcement")),
    L7("E02 audit, not permitted", POL_L7_ENF, "audit.l7.test", "POST", "/ok/x", NULL,
       AUDIT7("enforcement", NP("POST /ok/x"))),
    L7("E03 audit, deny rule", POL_L7_ENF, "audit.l7.test", "GET", "/ok/secret", NULL,
       AUDIT7("enforcement", BD("GET /ok/secret"))),
    L7("E04 unset enforcement is audit", POL_L7_ENF, "unset.l7.test", "POST", "/x", NULL,
       AUDIT7("enforcement", NP("POST /x"))),
    L7("E05 unset enforcement, allowed", POL_L7_ENF, "unset.l7.test", "GET", "/ok", NULL,
       ALLOW_("enforcement")),
    L7("E06 only exact 'enforce' blocks ('ENFORCE' audits)", POL_L7_ENF, "upper.l7.test", "POST",
       "/x", NULL, AUDIT7("enforcement", NP("POST /x"))),

    /* ---- R: route selection, §3.9 (27 rows) ---------------------------- */
    L7("R01 routed to /repos/**, allowed", POL_L7_ROUTE, "route.l7.test", "GET", "/repos/a", NULL,
       ALLOW_("route")),
    L7("R02 routed to /repos/** (enforce)", POL_L7_ROUTE, "route.l7.test", "POST", "/repos/a", NULL,
       DENY7("route", NP("POST /repos/a"))),
    L7("R03 routed to /docs/** (audit)", POL_L7_ROUTE, "route.l7.test", "POST", "/docs/a", NULL,
       AUDIT7("route", NP("POST /docs/a"))),
    L7("R04 routed to /docs/**, allowed", POL_L7_ROUTE, "route.l7.test", "GET", "/docs/a", NULL,
       ALLOW_("route")),
    L7("R05 no route matched", POL_L7_ROUTE, "route.l7.test", "GET", "/other", NULL,
       DENY7("route", NO_ROUTE)),
    L7("R06 /repos selects /repos/** but is not eligible", POL_L7_ROUTE, "route.l7.test", "GET",
       "/repos", NULL, DENY7("route", NP("GET /repos"))),
    L7("R07 most specific route wins (enforce)", POL_L7_ROUTE, "spec.l7.test", "POST", "/api/v2/x",
       NULL, DENY7("route", NP("POST /api/v2/x"))),
    L7("R08 only the general route (audit)", POL_L7_ROUTE, "spec.l7.test", "POST", "/api/x", NULL,
       AUDIT7("route", NP("POST /api/x"))),
    L7("R09 specific route, allowed", POL_L7_ROUTE, "spec.l7.test", "GET", "/api/v2/x", NULL,
       ALLOW_("route")),
    L7("R10 /api selects /api/** but is not eligible (audit)", POL_L7_ROUTE, "spec.l7.test", "GET",
       "/api", NULL, AUDIT7("route", NP("GET /api"))),
    L7("R11 specificity tie: the last route wins", POL_L7_ROUTE, "tie.l7.test", "POST", "/t/x",
       NULL, AUDIT7("route", NP("POST /t/x"))),
    L7("R12 only the first route matches", POL_L7_ROUTE, "tie.l7.test", "POST", "/t/y", NULL,
       DENY7("route", NP("POST /t/y"))),
    L7("R13 tie, allowed", POL_L7_ROUTE, "tie.l7.test", "GET", "/t/x", NULL, ALLOW_("route")),
    L7("R14 one L7 endpoint: no route selection", POL_L7_ROUTE, "single.l7.test", "GET", "/other",
       NULL, DENY7("route", NP("GET /other"))),
    L7("R15 one L7 endpoint, allowed", POL_L7_ROUTE, "single.l7.test", "GET", "/only/a", NULL,
       ALLOW_("route")),
    L7("R16 /** is a catch-all route (audit)", POL_L7_ROUTE, "catch.l7.test", "POST", "/other",
       NULL, AUDIT7("route", NP("POST /other"))),
    L7("R17 /api/** beats /** (enforce)", POL_L7_ROUTE, "catch.l7.test", "POST", "/api/x", NULL,
       DENY7("route", NP("POST /api/x"))),
    L7("R18 /api/** beats /**, allowed", POL_L7_ROUTE, "catch.l7.test", "GET", "/api/x", NULL,
       ALLOW_("route")),
    L7("R19 empty endpoint path is a catch-all route (audit)", POL_L7_ROUTE, "empty.l7.test",
       "POST", "/x", NULL, AUDIT7("route", NP("POST /x"))),
    L7("R20 /v1/** beats an empty path (enforce)", POL_L7_ROUTE, "empty.l7.test", "POST", "/v1/x",
       NULL, DENY7("route", NP("POST /v1/x"))),
    L7("R21 /v1/** beats an empty path, allowed", POL_L7_ROUTE, "empty.l7.test", "GET", "/v1/x",
       NULL, ALLOW_("route")),
    L7("R22 route glob, one segment, allowed", POL_L7_ROUTE, "cross.l7.test", "GET", "/v1/a/items",
       NULL, ALLOW_("route")),
    L7("R23 route '*' crosses '/', Rego '*' does not", POL_L7_ROUTE, "cross.l7.test", "GET",
       "/v1/a/b/items", NULL, DENY7("route", NP("GET /v1/a/b/items"))),
    L7("R24 route glob, no route", POL_L7_ROUTE, "cross.l7.test", "GET", "/nothing", NULL,
       DENY7("route", NO_ROUTE)),
    L7("R25 routes across policies: last in key order wins (audit)", POL_L7_ROUTE, "xpol.l7.test",
       "POST", "/a", NULL, AUDIT7("xa", NP("POST /a"))),
    L7("R26 routes across policies: allows pooled", POL_L7_ROUTE, "xpol.l7.test", "GET", "/b", NULL,
       ALLOW_("xa")),
    L7("R27 routes across policies: last in key order wins (enforce)", POL_L7_ROUTE, "ypol.l7.test",
       "POST", "/a", NULL, DENY7("ya", NP("POST /a"))),

    /* ---- X: an L4 deny through eval_l7 is returned as is (3 rows) ------ */
    L7("X01 L4 endpoint deny through eval_l7", POL_L7_METHODS, "unknown.l7.test", "GET", "/get",
       NULL, DENY4(EP_DENY("unknown.l7.test:443"))),
    L7B("X02 L4 binary deny through eval_l7", POL_L7_METHODS, "methods.l7.test", "/usr/bin/wget",
        "GET", "/get", DENY4(BIN_DENY("/usr/bin/wget", "methods", "", ""))),
    L7("X03 empty policies through eval_l7", POL_EMPTY, "methods.l7.test", "GET", "/get", NULL,
       DENY4(NO_POLICIES)),
};

/* 41 + 44 + 6 + 20 + 29 + 27 + 15 + 13 + 22 + 6 + 27 + 3 = 253 rows */
#define N_CASES_EXPECTED 253
_Static_assert(ARRAY_LEN(cases) == N_CASES_EXPECTED, "update the row count comments");

static size_t
list_len(const char *const *l)
{
    size_t n = 0;

    while (n < MAX_LIST && l[n] != NULL)
        n++;
    return n;
}

/* Fills `q` from "k=v&k2=v2" (split on '&' and the first '=', no decoding). */
static void
build_query(struct osh_query *q, const char *s)
{
    osh_query_init(q);
    while (s != NULL && *s != '\0') {
        const char *amp = strchr(s, '&');
        size_t n = amp != NULL ? (size_t)(amp - s) : strlen(s);
        char pair[256];
        char *eq;

        assert_true(n < sizeof(pair));
        memcpy(pair, s, n);
        pair[n] = '\0';
        eq = strchr(pair, '=');
        if (eq != NULL)
            *eq++ = '\0';
        if (pair[0] != '\0' || eq != NULL)
            assert_int_equal(osh_query_add(q, pair, eq != NULL ? eq : ""), 0);
        s = amp != NULL ? amp + 1 : s + n;
    }
}

static void
fill_l4(const struct eval_case *c, struct osh_l4_request *req)
{
    *req = (struct osh_l4_request){
        .host = c->host,
        .port = c->port,
        .binary = c->bin,
        .ancestors = c->anc,
        .n_ancestors = list_len(c->anc),
        .cmdline_paths = c->cmd,
        .n_cmdline_paths = list_len(c->cmd),
    };
}

/* Runs one row; `q` must be built from c->query (ignored for L4). */
static int
eval_case(const struct osh_policy *p, const struct eval_case *c, const struct osh_query *q,
          struct osh_decision_result *out)
{
    struct osh_l4_request l4;

    fill_l4(c, &l4);
    if (c->layer == LAYER_L4)
        return osh_policy_eval_l4(p, &l4, out);

    struct osh_l7_request l7 = {
        .method = c->method,
        .path = c->path,
        .query = c->query != NULL ? q : NULL,
    };
    return osh_policy_eval_l7(p, &l4, &l7, out);
}

static const char *
decision_name(enum osh_decision d)
{
    switch (d) {
    case OSH_DECISION_DENY:
        return "DENY";
    case OSH_DECISION_ALLOW:
        return "ALLOW";
    case OSH_DECISION_AUDIT:
        return "AUDIT";
    }
    return "?";
}

static void
run_case(void **state)
{
    const struct eval_case *c = *state;
    const struct osh_policy *p = need_policy(c->pol);
    struct osh_decision_result r = {0};
    struct osh_query q;
    bool ok = true;
    int rc;

    build_query(&q, c->query);
    rc = eval_case(p, c, &q, &r);
    osh_query_clear(&q);

    if (rc != 0) {
        osh_decision_result_clear(&r);
        fail_msg("%s: eval returned %d", c->name, rc);
    }
    if (r.decision != c->want) {
        print_error("decision: got %s, want %s\n", decision_name(r.decision),
                    decision_name(c->want));
        ok = false;
    }
    if (c->matched == NULL
            ? r.matched_policy != NULL
            : r.matched_policy == NULL || strcmp(r.matched_policy, c->matched) != 0) {
        print_error("matched_policy: got %s%s%s, want %s%s%s\n", r.matched_policy ? "'" : "",
                    r.matched_policy ? r.matched_policy : "NULL", r.matched_policy ? "'" : "",
                    c->matched ? "'" : "", c->matched ? c->matched : "NULL", c->matched ? "'" : "");
        ok = false;
    }
    switch (c->rmode) {
    case R_NONE:
        if (r.reason != NULL && r.reason[0] != '\0') {
            print_error("reason: got '%s', want ''\n", r.reason);
            ok = false;
        }
        break;
    case R_EXACT:
        if (r.reason == NULL || strcmp(r.reason, c->reason) != 0) {
            print_error("reason:\n  got  '%s'\n  want '%s'\n", r.reason ? r.reason : "(NULL)",
                        c->reason);
            ok = false;
        }
        break;
    case R_SUB:
        if (r.reason == NULL || strstr(r.reason, c->reason) == NULL) {
            print_error("reason:\n  got  '%s'\n  want it to contain '%s'\n",
                        r.reason ? r.reason : "(NULL)", c->reason);
            ok = false;
        }
        break;
    }
    osh_decision_result_clear(&r);
    assert_null(r.reason);
    if (!ok)
        fail_msg("%s: wrong decision (see above)", c->name);
}

/* ------------------------------------------------------------------------ */
/* Result flags after an L4 allow (§2.6)                                     */

static void
l4_flags(const char *host, uint16_t port, const char *bin, struct osh_decision_result *r)
{
    struct osh_l4_request req = {.host = host, .port = port, .binary = bin};

    *r = (struct osh_decision_result){0};
    assert_int_equal(osh_policy_eval_l4(need_policy(POL_FLAGS), &req, r), 0);
    if (r->decision != OSH_DECISION_ALLOW)
        fail_msg("%s:%u by %s: want ALLOW, got %s (%s)", host, port, bin,
                 decision_name(r->decision), r->reason ? r->reason : "");
}

static void
test_flags_exact_l4_only(void **state)
{
    struct osh_decision_result r;

    (void)state;
    l4_flags("exact.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_exact");
    assert_true(r.exact_declared_host); /* [T] ..._true_for_l4_host_only */
    assert_false(r.tls_skip);
    assert_false(r.l7_inspect);
    assert_int_equal(r.n_allowed_ips, 0); /* an L4-only endpoint yields no config */
    assert_false(r.allow_encoded_slash);
    osh_decision_result_clear(&r);

    l4_flags("EXACT.flags.TEST", 443, "/usr/bin/curl", &r); /* case-insensitive */
    assert_true(r.exact_declared_host);
    osh_decision_result_clear(&r);
}

static void
test_flags_wildcard_and_hostless(void **state)
{
    struct osh_decision_result r;

    (void)state;
    l4_flags("a.wild.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_wild");
    assert_false(r.exact_declared_host);
    assert_int_equal(r.n_allowed_ips, 0);
    osh_decision_result_clear(&r);

    l4_flags("whatever.example.org", 7000, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_hostless");
    assert_false(r.exact_declared_host);
    assert_false(r.l7_inspect);
    assert_int_equal(r.n_allowed_ips, 1);
    assert_non_null(r.allowed_ips);
    assert_string_equal(r.allowed_ips[0], "10.9.0.0/16");
    osh_decision_result_clear(&r);
}

static void
test_flags_allowed_ips_first_config(void **state)
{
    struct osh_decision_result r;

    (void)state;
    /* f_ips_a (L4 only) matches first but has no extended config; the first
     * extended-config endpoint in key order, then list order, is the second
     * endpoint of f_ips_b (its first endpoint is for another host). */
    l4_flags("ips.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_ips_a");
    assert_true(r.exact_declared_host);
    assert_int_equal(r.n_allowed_ips, 2);
    assert_non_null(r.allowed_ips);
    assert_string_equal(r.allowed_ips[0], "10.0.5.0/24");
    assert_string_equal(r.allowed_ips[1], "10.0.6.0/24");
    osh_decision_result_clear(&r);
}

static void
test_flags_l7_tls_slash(void **state)
{
    struct osh_decision_result r;

    (void)state;
    l4_flags("l7.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_l7");
    assert_true(r.l7_inspect);
    assert_true(r.exact_declared_host);
    assert_false(r.tls_skip);
    assert_false(r.allow_encoded_slash);
    assert_int_equal(r.n_allowed_ips, 0);
    osh_decision_result_clear(&r);

    l4_flags("a.l7wild.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_l7glob");
    assert_true(r.l7_inspect);
    assert_false(r.exact_declared_host);
    osh_decision_result_clear(&r);

    l4_flags("skip.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_skip");
    assert_true(r.tls_skip); /* applies even to an L4-only endpoint */
    assert_false(r.l7_inspect);
    assert_true(r.exact_declared_host);
    osh_decision_result_clear(&r);

    l4_flags("slash.flags.test", 443, "/usr/bin/curl", &r);
    assert_string_equal(r.matched_policy, "f_slash");
    assert_true(r.l7_inspect);
    assert_true(r.allow_encoded_slash); /* OR over the route set */
    osh_decision_result_clear(&r);
}

static void
test_flags_exact_needs_same_policy_binary(void **state)
{
    struct osh_decision_result r;

    (void)state;
    /* The exact endpoint's policy does not list bbb: the allow comes from
     * the wildcard policy, so the host is not an exact declared host. */
    l4_flags("x.mixed.test", 443, "/usr/bin/bbb", &r);
    assert_string_equal(r.matched_policy, "f_mx_wild");
    assert_false(r.exact_declared_host);
    osh_decision_result_clear(&r);

    l4_flags("x.mixed.test", 443, "/usr/bin/aaa", &r);
    assert_string_equal(r.matched_policy, "f_mx_exact");
    assert_true(r.exact_declared_host);
    osh_decision_result_clear(&r);
}

static void
test_flags_deny_has_no_policy(void **state)
{
    struct osh_l4_request req = {
        .host = "nowhere.flags.test", .port = 443, .binary = "/usr/bin/curl"};
    struct osh_decision_result r = {0};

    (void)state;
    assert_int_equal(osh_policy_eval_l4(need_policy(POL_FLAGS), &req, &r), 0);
    assert_int_equal(r.decision, OSH_DECISION_DENY);
    assert_null(r.matched_policy);
    assert_false(r.exact_declared_host);
    assert_false(r.l7_inspect);
    assert_int_equal(r.n_allowed_ips, 0);
    osh_decision_result_clear(&r);
    assert_null(r.reason);
    osh_decision_result_clear(&r); /* twice is fine */
}

/* ------------------------------------------------------------------------ */
/* Hash                                                                      */

static const char hash_a_yaml[] = "version: 1\n"
                                  "filesystem_policy:\n"
                                  "  include_workdir: true\n"
                                  "  read_only: [/usr, /etc]\n"
                                  "network_policies:\n"
                                  "  alpha:\n"
                                  "    endpoints:\n"
                                  "      - host: api.example.com\n"
                                  "        port: 443\n"
                                  "        protocol: rest\n"
                                  "        access: read-only\n"
                                  "    binaries:\n"
                                  "      - path: /usr/bin/curl\n"
                                  "  beta:\n"
                                  "    binaries: [{path: /usr/bin/git}]\n"
                                  "    endpoints: [{host: github.com, port: 443}]\n";

/* Same policy: other key order everywhere, ports: [x] for port: x, comments. */
static const char hash_b_yaml[] = "# the same policy, written differently\n"
                                  "network_policies:\n"
                                  "  beta:\n"
                                  "    endpoints:\n"
                                  "      - ports: [443]\n"
                                  "        host: github.com\n"
                                  "    binaries:\n"
                                  "      - path: /usr/bin/git\n"
                                  "  alpha:\n"
                                  "    binaries: [{path: /usr/bin/curl}]\n"
                                  "    endpoints:\n"
                                  "      - access: read-only   # preset\n"
                                  "        protocol: rest\n"
                                  "        ports:\n"
                                  "          - 443\n"
                                  "        host: api.example.com\n"
                                  "filesystem_policy:\n"
                                  "  read_only:\n"
                                  "    - /usr\n"
                                  "    - /etc\n"
                                  "  include_workdir: true\n"
                                  "version: 1\n";

static const char hash_c_json[] =
    "{\"network_policies\": {\"beta\": {\"endpoints\": [{\"host\": \"github.com\", \"port\": 443}],"
    " \"binaries\": [{\"path\": \"/usr/bin/git\"}]},"
    " \"alpha\": {\"endpoints\": [{\"host\": \"api.example.com\", \"ports\": [443],"
    " \"protocol\": \"rest\", \"access\": \"read-only\"}],"
    " \"binaries\": [{\"path\": \"/usr/bin/curl\"}]}},"
    " \"version\": 1,"
    " \"filesystem_policy\": {\"include_workdir\": true, \"read_only\": [\"/usr\", \"/etc\"]}}";

static struct osh_policy *
load_str(const char *name, const char *s, enum osh_policy_format fmt)
{
    struct osh_diags d = {0};
    struct osh_policy *p = osh_policy_load_buffer(name, s, strlen(s), fmt, &d);

    if (p == NULL) {
        char *txt = diags_to_string(&d);

        osh_diags_clear(&d);
        fail_msg("%s failed to load:\n%s", name, txt != NULL ? txt : "(no diagnostics)");
    }
    osh_diags_clear(&d);
    return p;
}

static void
assert_hex64(const char *h)
{
    assert_non_null(h);
    assert_int_equal(strlen(h), 64);
    for (size_t i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            fail_msg("hash '%s' is not lowercase hex at %zu", h, i);
}

static char *
replace_once(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t n;
    char *out;

    assert_non_null(at);
    n = strlen(s) - strlen(from) + strlen(to) + 1;
    out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void
test_hash_equal_forms(void **state)
{
    struct osh_policy *a = load_str("a.yaml", hash_a_yaml, OSH_POLICY_FORMAT_YAML);
    struct osh_policy *a2 = load_str("a2.yaml", hash_a_yaml, OSH_POLICY_FORMAT_YAML);
    struct osh_policy *b = load_str("b.yaml", hash_b_yaml, OSH_POLICY_FORMAT_YAML);
    struct osh_policy *c = load_str("c.json", hash_c_json, OSH_POLICY_FORMAT_JSON);

    (void)state;
    assert_hex64(osh_policy_hash(a));
    assert_hex64(osh_policy_hash(b));
    assert_hex64(osh_policy_hash(c));
    assert_string_equal(osh_policy_hash(a), osh_policy_hash(a2));
    assert_string_equal(osh_policy_hash(a), osh_policy_hash(b)); /* key order, port/ports */
    assert_string_equal(osh_policy_hash(a), osh_policy_hash(c)); /* YAML vs JSON */
    osh_policy_unref(a);
    osh_policy_unref(a2);
    osh_policy_unref(b);
    osh_policy_unref(c);
}

static void
test_hash_different_policies(void **state)
{
    static const char *const edits[][2] = {
        {"port: 443\n        protocol", "port: 444\n        protocol"},
        {"access: read-only", "access: read-write"},
        {"path: /usr/bin/curl", "path: /usr/bin/wget"},
        {"include_workdir: true", "include_workdir: false"},
        {"host: github.com", "host: gitlab.com"},
        {"  beta:\n", "  gamma:\n"},
    };
    struct osh_policy *a = load_str("a.yaml", hash_a_yaml, OSH_POLICY_FORMAT_YAML);

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(edits); i++) {
        char *y = replace_once(hash_a_yaml, edits[i][0], edits[i][1]);
        struct osh_policy *p = load_str("edited.yaml", y, OSH_POLICY_FORMAT_YAML);

        assert_hex64(osh_policy_hash(p));
        if (strcmp(osh_policy_hash(a), osh_policy_hash(p)) == 0)
            fail_msg("edit '%s' -> '%s' kept the hash", edits[i][0], edits[i][1]);
        osh_policy_unref(p);
        free(y);
    }
    assert_hex64(osh_policy_hash(need_policy(POL_DEFAULT)));
    assert_true(strcmp(osh_policy_hash(a), osh_policy_hash(need_policy(POL_DEFAULT))) != 0);
    osh_policy_unref(a);
}

/* ------------------------------------------------------------------------ */
/* Misc API                                                                  */

static void
test_ref_and_count(void **state)
{
    struct osh_policy *p = load_str("a.yaml", hash_a_yaml, OSH_POLICY_FORMAT_YAML);
    struct osh_l4_request req = {.host = "github.com", .port = 443, .binary = "/usr/bin/git"};
    struct osh_decision_result r = {0};

    (void)state;
    assert_int_equal(osh_policy_network_count(p), 2);
    assert_int_equal(osh_policy_network_count(need_policy(POL_HOSTS)), 7);
    assert_int_equal(osh_policy_network_count(need_policy(POL_EMPTY)), 0);
    assert_int_equal(osh_policy_network_count(need_policy(POL_DEFAULT)), 0);
    assert_ptr_equal(osh_policy_ref(p), p);
    osh_policy_unref(p);
    /* still alive: one reference left */
    assert_int_equal(osh_policy_eval_l4(p, &req, &r), 0);
    assert_int_equal(r.decision, OSH_DECISION_ALLOW);
    assert_string_equal(r.matched_policy, "beta");
    osh_decision_result_clear(&r);
    osh_policy_unref(p);
    osh_policy_unref(NULL);
}

static void
test_invalid_requests(void **state)
{
    struct osh_l4_request req = {.host = NULL, .port = 443, .binary = "/usr/bin/curl"};
    struct osh_l7_request l7 = {.method = "GET", .path = "/", .query = NULL};
    struct osh_decision_result r;

    (void)state;
    memset(&r, 0xA5, sizeof(r)); /* out is initialised even on error */
    assert_int_equal(osh_policy_eval_l4(need_policy(POL_HOSTS), &req, &r), -EINVAL);
    assert_null(r.reason);
    assert_null(r.matched_policy);
    osh_decision_result_clear(&r);

    memset(&r, 0xA5, sizeof(r));
    assert_int_equal(osh_policy_eval_l7(need_policy(POL_L7_METHODS), &req, &l7, &r), -EINVAL);
    assert_null(r.reason);
    assert_null(r.matched_policy);
    osh_decision_result_clear(&r);

    osh_decision_result_clear(&(struct osh_decision_result){0}); /* zeroed struct is fine */
}

/* ------------------------------------------------------------------------ */
/* Two threads on one generation (runs under TSan in CI)                     */

#define THREAD_ITERS 10000

struct expected {
    enum osh_decision decision;
    const char *matched;
    char *reason;
};

struct thread_ctx {
    const struct osh_query *queries;
    const struct expected *want;
    size_t mismatches;
    size_t errors;
};

static bool
streq_null(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static void *
thread_main(void *arg)
{
    struct thread_ctx *t = arg;

    for (size_t i = 0; i < THREAD_ITERS; i++) {
        size_t k = i % ARRAY_LEN(cases);
        const struct eval_case *c = &cases[k];
        struct osh_decision_result r = {0};

        if (g_pol[c->pol] == NULL)
            continue;
        if (eval_case(g_pol[c->pol], c, &t->queries[k], &r) != 0) {
            t->errors++;
        } else if (r.decision != t->want[k].decision ||
                   !streq_null(r.matched_policy, t->want[k].matched) ||
                   strcmp(r.reason != NULL ? r.reason : "", t->want[k].reason) != 0) {
            t->mismatches++;
        }
        osh_decision_result_clear(&r);
    }
    return NULL;
}

static void
test_two_threads(void **state)
{
    static struct osh_query queries[ARRAY_LEN(cases)];
    static struct expected want[ARRAY_LEN(cases)];
    struct thread_ctx ctx[2];
    pthread_t th[2];

    (void)state;
    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        struct osh_decision_result r = {0};

        build_query(&queries[k], cases[k].query);
        want[k] = (struct expected){.reason = strdup("")};
        if (g_pol[cases[k].pol] == NULL)
            continue;
        assert_int_equal(eval_case(g_pol[cases[k].pol], &cases[k], &queries[k], &r), 0);
        want[k].decision = r.decision;
        want[k].matched = r.matched_policy; /* borrowed from the generation: stable */
        free(want[k].reason);
        want[k].reason = strdup(r.reason != NULL ? r.reason : "");
        osh_decision_result_clear(&r);
    }
    for (int i = 0; i < 2; i++) {
        ctx[i] = (struct thread_ctx){.queries = queries, .want = want};
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, &ctx[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (size_t k = 0; k < ARRAY_LEN(cases); k++) {
        osh_query_clear(&queries[k]);
        free(want[k].reason);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ctx[i].errors, 0);
        assert_int_equal(ctx[i].mismatches, 0);
    }
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_flags_exact_l4_only),
        cmocka_unit_test(test_flags_wildcard_and_hostless),
        cmocka_unit_test(test_flags_allowed_ips_first_config),
        cmocka_unit_test(test_flags_l7_tls_slash),
        cmocka_unit_test(test_flags_exact_needs_same_policy_binary),
        cmocka_unit_test(test_flags_deny_has_no_policy),
        cmocka_unit_test(test_hash_equal_forms),
        cmocka_unit_test(test_hash_different_policies),
        cmocka_unit_test(test_ref_and_count),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_two_threads),
    };
    struct CMUnitTest tests[ARRAY_LEN(cases) + ARRAY_LEN(extra)];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        tests[i] = (struct CMUnitTest){
            .name = cases[i].name,
            .test_func = run_case,
            .initial_state = &cases[i],
        };
    for (size_t i = 0; i < ARRAY_LEN(extra); i++)
        tests[ARRAY_LEN(cases) + i] = extra[i];
    return cmocka_run_group_tests_name("policy_eval", tests, group_setup, group_teardown);
}
