/*
 * cli_policy.c - `openshell-sandbox policy check|eval`: the operator's and
 * the tests' way to ask the policy engine a question offline.
 *
 * Contract (tests and operators rely on it):
 *   policy check FILE...   exit 0 when every file is valid; otherwise exit 1
 *                          and one line per error on stdout:
 *                          FILE:LINE:COL: field.path: message
 *                          (warnings go to stderr and do not fail).
 *   policy eval ...        one JSON object per decision
 *                          {"allow","decision","matched_policy","reason"};
 *                          exit 0 whatever the decision, 2 on bad usage or an
 *                          invalid policy.  --batch reads JSON Lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "osh/http_path.h"
#include "osh/policy.h"
#include "osh/query.h"
#include "osh/special_hosts.h"

#define BATCH_MAX_LINE (1024 * 1024)
#define EVAL_MAX_LIST 64

/* One decision question, from flags or from a JSON line. */
struct eval_args {
    const char *host;
    long port;
    const char *binary;
    const char *ancestors[EVAL_MAX_LIST];
    size_t n_ancestors;
    const char *cmdline[EVAL_MAX_LIST];
    size_t n_cmdline;
    const char *method;
    const char *path;
    struct osh_query query;
};

static const char *
decision_name(enum osh_decision d)
{
    switch (d) {
    case OSH_DECISION_ALLOW:
        return "allow";
    case OSH_DECISION_AUDIT:
        return "audit";
    case OSH_DECISION_DENY:
        break;
    }
    return "deny";
}

static json_t *
result_json(enum osh_decision d, const char *matched, const char *reason)
{
    return json_pack("{s:b,s:s,s:o,s:s}", "allow", d == OSH_DECISION_ALLOW, "decision",
                     decision_name(d), "matched_policy",
                     matched ? json_string(matched) : json_null(), "reason",
                     reason ? reason : "");
}

static json_t *
error_json(const char *msg)
{
    return json_pack("{s:s}", "error", msg);
}

/*
 * Answers one question.  An L7 question canonicalizes the path first (with
 * the route set's allow_encoded_slash); a target that cannot be
 * canonicalized is a deny, as the proxy would refuse it.
 */
static json_t *
eval_one(const struct osh_policy *p, struct eval_args *a)
{
    struct osh_l4_request l4 = {
        .host = a->host,
        .port = (uint16_t)a->port,
        .binary = a->binary,
        .ancestors = a->ancestors,
        .n_ancestors = a->n_ancestors,
        .cmdline_paths = a->cmdline,
        .n_cmdline_paths = a->n_cmdline,
    };
    struct osh_decision_result r = {0};
    json_t *out = NULL;
    char *canon = NULL;
    char err[256];
    int rc;

    /* §4: the proxy answers these itself, before any policy.  An L7
     * question on port 80 is read as forward HTTP (http://policy.local). */
    if (a->method == NULL &&
        osh_special_host_classify(a->host, l4.port, true, NULL) == OSH_SPECIAL_INFERENCE)
        return result_json(OSH_DECISION_ALLOW, NULL, "");
    if (a->method != NULL &&
        osh_special_host_classify(a->host, l4.port, false, "http") == OSH_SPECIAL_POLICY_LOCAL)
        return result_json(OSH_DECISION_ALLOW, NULL, "");
    if (a->method != NULL &&
        osh_special_host_classify(a->host, l4.port, true, NULL) == OSH_SPECIAL_INFERENCE) {
        const char *q = NULL;
        size_t qlen = 0, plen = strlen(a->path);
        bool ok;
        canon = malloc(3 * plen + 2);
        if (canon == NULL)
            return error_json("out of memory");
        ok = osh_path_canonicalize(a->path, plen, false, canon, 3 * plen + 2, &q, &qlen) ==
                 OSH_PATH_OK &&
             osh_inference_route_allowed(a->method, canon);
        free(canon);
        return ok ? result_json(OSH_DECISION_ALLOW, NULL, "")
                  : result_json(OSH_DECISION_DENY, NULL, "connection not allowed by policy");
    }

    rc = osh_policy_eval_l4(p, &l4, &r);
    if (rc < 0)
        return error_json(rc == -ENOMEM ? "out of memory" : "invalid request");
    if (a->method != NULL && r.decision == OSH_DECISION_ALLOW && r.l7_inspect) {
        const char *raw_query = NULL;
        size_t raw_len = 0, plen = strlen(a->path);
        struct osh_l7_request l7 = {.method = a->method, .query = &a->query};
        enum osh_path_result pr;
        char *reason = NULL;
        bool slash = r.allow_encoded_slash;

        canon = malloc(3 * plen + 2);
        if (canon == NULL) {
            out = error_json("out of memory");
            goto out;
        }
        pr = osh_path_canonicalize(a->path, plen, slash, canon, 3 * plen + 2, &raw_query,
                                   &raw_len);
        if (pr != OSH_PATH_OK) {
            if (asprintf(&reason, "request-target must be canonical: %s%s",
                         osh_path_result_name(pr),
                         pr == OSH_PATH_ENCODED_SLASH
                             ? " (set allow_encoded_slash: true on this endpoint if the "
                               "upstream requires encoded slashes)"
                             : "") < 0)
                reason = NULL;
            out = result_json(OSH_DECISION_DENY, r.matched_policy, reason);
            free(reason);
            goto out;
        }
        if (raw_query != NULL &&
            osh_query_parse(&a->query, raw_query, raw_len, err, sizeof(err)) < 0) {
            if (asprintf(&reason, "invalid query string: %s", err) < 0)
                reason = NULL;
            out = result_json(OSH_DECISION_DENY, r.matched_policy, reason);
            free(reason);
            goto out;
        }
        l7.path = canon;
        osh_decision_result_clear(&r);
        rc = osh_policy_eval_l7(p, &l4, &l7, &r);
        if (rc < 0) {
            out = error_json(rc == -ENOMEM ? "out of memory" : "invalid request");
            goto out;
        }
    }
    out = result_json(r.decision, r.matched_policy, r.reason);
out:
    free(canon);
    osh_decision_result_clear(&r);
    return out;
}

static int
print_json(json_t *j)
{
    char *s;

    if (j == NULL)
        return -ENOMEM;
    s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (s == NULL)
        return -ENOMEM;
    fputs(s, stdout);
    fputc('\n', stdout);
    free(s);
    return 0;
}

/* ---- batch --------------------------------------------------------------- */

static const char *
read_string_list(json_t *arr, const char *what, const char **out, size_t *n)
{
    size_t i;
    json_t *v;

    if (arr == NULL || json_is_null(arr))
        return NULL;
    if (!json_is_array(arr))
        return what;
    if (json_array_size(arr) > EVAL_MAX_LIST)
        return "too many list entries (max 64)";
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v))
            return what;
        out[(*n)++] = json_string_value(v);
    }
    return NULL;
}

/* Fills `a` from one parsed line; returns an error message or NULL. */
static const char *
args_from_json(json_t *o, struct eval_args *a)
{
    static const char *const known[] = {"host",   "port", "binary", "ancestors", "cmdline_paths",
                                        "method", "path", "query",  NULL};
    const char *key, *e;
    json_t *v, *q;

    if (!json_is_object(o))
        return "expected a JSON object";
    json_object_foreach(o, key, v) {
        bool found = false;
        for (const char *const *k = known; *k; k++)
            found |= strcmp(*k, key) == 0;
        if (!found)
            return "unknown field";
    }
    v = json_object_get(o, "host");
    if (!json_is_string(v))
        return "host: expected a string";
    a->host = json_string_value(v);
    v = json_object_get(o, "port");
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 65535)
        return "port: expected an integer in 0..65535";
    a->port = (long)json_integer_value(v);
    v = json_object_get(o, "binary");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return "binary: expected a string";
        a->binary = json_string_value(v);
    }
    if ((e = read_string_list(json_object_get(o, "ancestors"), "ancestors: expected a list of strings",
                              a->ancestors, &a->n_ancestors)))
        return e;
    if ((e = read_string_list(json_object_get(o, "cmdline_paths"),
                              "cmdline_paths: expected a list of strings", a->cmdline,
                              &a->n_cmdline)))
        return e;
    v = json_object_get(o, "method");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return "method: expected a string";
        a->method = json_string_value(v);
    }
    v = json_object_get(o, "path");
    if (v != NULL && !json_is_null(v)) {
        if (!json_is_string(v))
            return "path: expected a string";
        a->path = json_string_value(v);
    }
    if ((a->method == NULL) != (a->path == NULL))
        return "method and path go together";
    q = json_object_get(o, "query");
    if (q != NULL && !json_is_null(q)) {
        if (!json_is_object(q))
            return "query: expected an object of key -> [values]";
        json_object_foreach(q, key, v) {
            size_t i;
            json_t *item;
            if (json_is_string(v)) {
                if (osh_query_add(&a->query, key, json_string_value(v)) < 0)
                    return "out of memory";
                continue;
            }
            if (!json_is_array(v))
                return "query: values must be a string or a list of strings";
            json_array_foreach(v, i, item) {
                if (!json_is_string(item))
                    return "query: values must be strings";
                if (osh_query_add(&a->query, key, json_string_value(item)) < 0)
                    return "out of memory";
            }
        }
    }
    return NULL;
}

static int
run_batch(const struct osh_policy *p)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;

    while ((n = getline(&line, &cap, stdin)) >= 0) {
        struct eval_args a = {0};
        json_error_t jerr;
        json_t *o, *res;
        const char *e;

        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if ((size_t)n > BATCH_MAX_LINE) {
            res = error_json("line longer than 1 MiB");
        } else if ((o = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
            char msg[300];
            snprintf(msg, sizeof(msg), "invalid JSON: %s", jerr.text);
            res = error_json(msg);
        } else {
            osh_query_init(&a.query);
            e = args_from_json(o, &a);
            res = e ? error_json(e) : eval_one(p, &a);
            osh_query_clear(&a.query);
            json_decref(o);
        }
        if (print_json(res) < 0) {
            rc = -ENOMEM;
            break;
        }
    }
    free(line);
    if (fflush(stdout) != 0 || ferror(stdout))
        rc = -EIO;
    return rc;
}

/* ---- commands ------------------------------------------------------------ */

static void
eval_usage(FILE *f)
{
    fprintf(f, "usage: openshell-sandbox policy eval --policy FILE --host H --port P\n"
               "         [--binary PATH] [--ancestor PATH]... [--cmdline-path PATH]...\n"
               "         [--method M --path P [--query-param K=V]...]\n"
               "       openshell-sandbox policy eval --policy FILE --batch  < requests.jsonl\n");
}

static struct osh_policy *
load_or_report(const char *file)
{
    struct osh_diags d = {0};
    struct osh_policy *p = osh_policy_load_file(file, OSH_POLICY_FORMAT_AUTO, &d);

    osh_diags_print(&d, stderr, p == NULL || d.len > 0);
    osh_diags_clear(&d);
    return p;
}

static int
cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"policy", required_argument, NULL, 'f'},     {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},       {"binary", required_argument, NULL, 'b'},
        {"ancestor", required_argument, NULL, 'a'},   {"cmdline-path", required_argument, NULL, 'c'},
        {"method", required_argument, NULL, 'm'},     {"path", required_argument, NULL, 'P'},
        {"query-param", required_argument, NULL, 'q'}, {"batch", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0}};
    struct eval_args a = {.port = -1};
    struct osh_policy *p = NULL;
    const char *file = NULL;
    bool batch = false;
    int c, rc = 2;

    osh_query_init(&a.query);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL, *eq;
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'H':
            a.host = optarg;
            break;
        case 'p':
            errno = 0;
            a.port = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || a.port < 0 || a.port > 65535) {
                fprintf(stderr, "policy eval: --port: expected an integer in 0..65535\n");
                goto out;
            }
            break;
        case 'b':
            a.binary = optarg;
            break;
        case 'a':
        case 'c':
            if ((c == 'a' ? a.n_ancestors : a.n_cmdline) >= EVAL_MAX_LIST) {
                fprintf(stderr, "policy eval: at most %d of each list\n", EVAL_MAX_LIST);
                goto out;
            }
            if (c == 'a')
                a.ancestors[a.n_ancestors++] = optarg;
            else
                a.cmdline[a.n_cmdline++] = optarg;
            break;
        case 'm':
            a.method = optarg;
            break;
        case 'P':
            a.path = optarg;
            break;
        case 'q':
            eq = strchr(optarg, '=');
            if (eq == NULL) {
                fprintf(stderr, "policy eval: --query-param: expected K=V\n");
                goto out;
            }
            *eq = '\0';
            if (osh_query_add(&a.query, optarg, eq + 1) < 0) {
                fprintf(stderr, "policy eval: out of memory\n");
                goto out;
            }
            *eq = '=';
            break;
        case 'B':
            batch = true;
            break;
        case 'h':
            eval_usage(stdout);
            rc = 0;
            goto out;
        default:
            eval_usage(stderr);
            goto out;
        }
    }
    if (optind != argc || file == NULL ||
        (!batch && (a.host == NULL || a.port < 0 || (a.method == NULL) != (a.path == NULL))) ||
        (batch && (a.host || a.method || a.path))) {
        eval_usage(stderr);
        goto out;
    }
    p = load_or_report(file);
    if (p == NULL)
        goto out;
    if (batch) {
        rc = run_batch(p) < 0 ? 2 : 0;
        goto out;
    }
    rc = print_json(eval_one(p, &a)) < 0 ? 2 : 0;
    if (fflush(stdout) != 0)
        rc = 2;
out:
    osh_query_clear(&a.query);
    osh_policy_unref(p);
    return rc;
}

static int
cmd_check(int argc, char **argv)
{
    int rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: openshell-sandbox policy check FILE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct osh_diags d = {0};
        struct osh_policy *p = osh_policy_load_file(argv[i], OSH_POLICY_FORMAT_AUTO, &d);
        osh_diags_print(&d, stdout, false);
        if (d.len > d.n_errors)
            for (size_t k = 0; k < d.len; k++)
                if (d.items[k].warning)
                    fprintf(stderr, "%s:%u:%u: %s: warning: %s\n", d.items[k].file,
                            d.items[k].line, d.items[k].col, d.items[k].path, d.items[k].msg);
        if (p == NULL) {
            if (d.n_errors == 0)
                printf("%s:0:0: (file): %s\n", argv[i], strerror(errno));
            rc = 1;
        } else {
            fprintf(stderr, "%s: ok (%zu network policies, sha256 %s)\n", argv[i],
                    osh_policy_network_count(p), osh_policy_hash(p));
        }
        osh_diags_clear(&d);
        osh_policy_unref(p);
    }
    if (fflush(stdout) != 0)
        rc = 2;
    return rc;
}

int
osh_cli_policy(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    fprintf(stderr, "usage: openshell-sandbox policy check FILE...\n");
    eval_usage(stderr);
    return 2;
}
