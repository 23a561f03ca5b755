/*
 * fuzz_policy_driver.h - the driver shared by fuzz_policy_yaml.c and
 * fuzz_policy_json.c.  Each harness defines FUZZ_FORMAT and FUZZ_NAME and
 * includes this file once; it provides LLVMFuzzerTestOneInput.
 *
 * Each input is one policy text handed to osh_policy_load_buffer().  A
 * rejected policy must leave only diagnostics behind.  An accepted one is
 * hashed, its static section read, and then asked a bounded number of L4
 * and L7 questions built from the input's own words: hosts (wildcards filled
 * in), ports, binaries and paths that appear in the policy.  That way the
 * allow paths are reached as well as the deny paths.
 *
 * Besides ASan/UBSan/LeakSanitizer, the harness checks the contracts that
 * policy.h states and that a fuzzer can check without an oracle; it aborts
 * when one is broken:
 *   - with a host, eval returns 0 (or -ENOMEM); without one, -EINVAL;
 *   - an allow has no reason and a matched policy; a deny or an audit has a
 *     reason; an L4 deny has no matched policy;
 *   - eval_l7 returns an L4 deny unchanged, and after an L4 allow names the
 *     same matched policy;
 *   - the same question asked twice gets the same answer;
 *   - the hash is 64 lowercase hex digits.
 */
#ifndef OSH_FUZZ_POLICY_DRIVER_H
#define OSH_FUZZ_POLICY_DRIVER_H

#if !defined(FUZZ_FORMAT) || !defined(FUZZ_NAME)
#error "define FUZZ_FORMAT and FUZZ_NAME before including fuzz_policy_driver.h"
#endif

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/diag.h"
#include "osh/http_path.h"
#include "osh/policy.h"
#include "osh/query.h"
#define MAX_WORDS 128
#define MAX_WORD 256
#define MAX_HOSTS 8 /* hosts asked about */
#define MAX_TRIES 3 /* binaries tried per host until one is allowed */
#define MAX_L7 8    /* L7 targets, asked on each allowed tunnel */
#define MAX_L7_TOTAL 24

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Words of the input, sorted into the roles of a request.  Each host keeps
 * the first port written after it (443 when none is), as in "host: h, port:
 * 8443", and the first binary listed after the next "binaries" key, so that
 * host, port and binary tend to come from one policy. */
struct words {
    char text[MAX_WORDS][MAX_WORD];
    const char *hosts[MAX_WORDS];
    size_t host_pos[MAX_WORDS]; /* word index */
    uint16_t host_port[MAX_WORDS];
    bool host_has_port[MAX_WORDS];
    size_t n_hosts;
    const char *bins[MAX_WORDS];
    size_t bin_section[MAX_WORDS]; /* index of the last "binaries" before it */
    size_t n_bins;
    size_t n;
};

static const char *const methods[] = {
    "GET", "POST", "DELETE", "HEAD", "get", "OPTIONS", "WEBSOCKET_TEXT", "PATCH", "PUT",
};

static bool is_word_byte(uint8_t c);
static void words_split(struct words *w, const uint8_t *data, size_t size);
static const char *words_binary_for(const struct words *w, size_t host);
static void check(bool ok, const char *what);
static void check_result(const struct osh_decision_result *r, int rc, bool l4);
static void ask_l4(const struct osh_policy *p, const struct osh_l4_request *req,
                   struct osh_decision_result *out);
static void ask_l7(const struct osh_policy *p, const struct osh_l4_request *l4,
                   const struct osh_decision_result *l4res, const char *method,
                   const char *target);
static void query_policy(const struct osh_policy *p, const struct words *w);

static bool
is_word_byte(uint8_t c)
{
    /* Anything that can be part of a host, a path, a query or a port, but
     * not YAML/JSON punctuation (':', ',', quotes, brackets, braces).  Bytes
     * >= 0x80 are kept so non-ASCII hosts and paths get asked too. */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c >= 0x80 || strchr(".-_*/?%=&+;~@!", c) != NULL;
}

/* Splits the input into at most MAX_WORDS words (each cut at MAX_WORD - 1
 * bytes).  A word with '*' is stored with every '*' replaced by 'x', so that
 * the host wildcard "*.zone1.example.org" asks for "x.zone1.example.org"
 * and a binary glob "/opt/bin/" "*" for "/opt/bin/x".  Words starting with
 * '/' are binaries (and L7 targets), decimal words are ports (of the hosts
 * before them that have none yet), the rest are hosts. */
static void
words_split(struct words *w, const uint8_t *data, size_t size)
{
    size_t i = 0, section = SIZE_MAX;

    memset(w, 0, sizeof(*w));
    while (i < size && w->n < MAX_WORDS) {
        size_t len = 0;
        char *t = w->text[w->n];
        bool digits = true;
        unsigned long v = 0;

        while (i < size && !is_word_byte(data[i]))
            i++;
        while (i < size && is_word_byte(data[i])) {
            if (len + 1 < MAX_WORD) {
                char c = (char)data[i];
                digits = digits && c >= '0' && c <= '9';
                if (digits && v <= 65535)
                    v = v * 10 + (unsigned long)(c - '0');
                t[len++] = c == '*' ? 'x' : c;
            }
            i++;
        }
        if (len == 0)
            break;
        t[len] = '\0';
        if (digits) {
            for (size_t h = w->n_hosts; h-- > 0 && !w->host_has_port[h];) {
                w->host_port[h] = v <= 65535 ? (uint16_t)v : 443;
                w->host_has_port[h] = true;
            }
        } else if (t[0] == '/') {
            w->bin_section[w->n_bins] = section;
            w->bins[w->n_bins++] = t;
        } else {
            if (strcmp(t, "binaries") == 0)
                section = w->n;
            w->host_pos[w->n_hosts] = w->n;
            w->host_port[w->n_hosts] = 443;
            w->hosts[w->n_hosts++] = t;
        }
        w->n++;
    }
}

/* The first binary listed under a "binaries" key that comes after host
 * `host`, or NULL. */
static const char *
words_binary_for(const struct words *w, size_t host)
{
    for (size_t b = 0; b < w->n_bins; b++)
        if (w->bin_section[b] != SIZE_MAX && w->bin_section[b] > w->host_pos[host])
            return w->bins[b];
    return NULL;
}

static void
check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_policy: contract broken: %s\n", what);
        abort();
    }
}

static void
check_result(const struct osh_decision_result *r, int rc, bool l4)
{
    check(rc == 0 || rc == -ENOMEM, "eval returns 0 or -ENOMEM with a host");
    if (rc < 0)
        return;
    /* policy.h: NULL when allowed (no allocation), a reason otherwise. */
    check((r->decision == OSH_DECISION_ALLOW) == (r->reason == NULL),
          "reason is NULL exactly when allowed");
    switch (r->decision) {
    case OSH_DECISION_ALLOW:
        /* The key may be "" (a "" or null key loads as ""). */
        check(r->matched_policy != NULL, "an allow names its policy");
        break;
    case OSH_DECISION_DENY:
        check(r->reason[0] != '\0', "a deny has a reason");
        if (l4)
            check(r->matched_policy == NULL, "an L4 deny names no policy");
        break;
    case OSH_DECISION_AUDIT:
        check(!l4, "AUDIT is an L7-only decision");
        check(r->reason[0] != '\0', "an audit has a reason");
        break;
    default:
        check(false, "decision is one of the enum values");
    }
    check(r->n_allowed_ips == 0 || r->allowed_ips != NULL, "allowed_ips matches its count");
    for (size_t i = 0; i < r->n_allowed_ips; i++)
        check(strlen(r->allowed_ips[i]) < 4096, "allowed_ips entries are strings");
}

/* Asks `req` twice and checks that the answers agree; `out` keeps the first. */
static void
ask_l4(const struct osh_policy *p, const struct osh_l4_request *req,
       struct osh_decision_result *out)
{
    struct osh_decision_result again = {0};
    int rc, rc2;

    rc = osh_policy_eval_l4(p, req, out);
    check_result(out, rc, true);
    rc2 = osh_policy_eval_l4(p, req, &again);
    check_result(&again, rc2, true);
    if (rc == 0 && rc2 == 0) {
        check(out->decision == again.decision, "L4 is deterministic (decision)");
        check((out->reason == NULL) == (again.reason == NULL) &&
                  (out->reason == NULL || strcmp(out->reason, again.reason) == 0),
              "L4 is deterministic (reason)");
        check(out->matched_policy == again.matched_policy, "L4 is deterministic (policy)");
        check(out->l7_inspect == again.l7_inspect && out->tls_skip == again.tls_skip &&
                  out->exact_declared_host == again.exact_declared_host,
              "L4 is deterministic (flags)");
    }
    osh_decision_result_clear(&again);
}

/* One L7 request: `target` is canonicalized (skipped when it is not a valid
 * request target) and its query parsed, as the proxy would. */
static void
ask_l7(const struct osh_policy *p, const struct osh_l4_request *l4,
       const struct osh_decision_result *l4res, const char *method, const char *target)
{
    char path[3 * MAX_WORD + 2];
    const char *raw_q = NULL;
    size_t raw_qlen = 0;
    struct osh_query q = {0};
    struct osh_l7_request req = {.method = method, .path = path, .query = NULL};
    struct osh_decision_result r = {0};
    enum osh_path_result pr;
    int rc;

    pr = osh_path_canonicalize(target, strlen(target), l4res->allow_encoded_slash, path,
                               sizeof(path), &raw_q, &raw_qlen);
    if (pr != OSH_PATH_OK)
        return;
    if (raw_q != NULL) {
        if (osh_query_parse(&q, raw_q, raw_qlen, NULL, 0) != 0)
            goto out;
        req.query = &q;
    }
    rc = osh_policy_eval_l7(p, l4, &req, &r);
    check_result(&r, rc, false);
    if (rc == 0 && l4res->decision == OSH_DECISION_DENY) {
        check(r.decision == OSH_DECISION_DENY, "an L4 deny stays a deny at L7");
        check(strcmp(r.reason, l4res->reason) == 0, "an L4 deny is returned as is");
        check(r.matched_policy == NULL, "an L4 deny names no policy at L7");
    } else if (rc == 0) {
        check(r.matched_policy != NULL && strcmp(r.matched_policy, l4res->matched_policy) == 0,
              "L7 names the policy L4 matched");
    }
out:
    osh_decision_result_clear(&r);
    osh_query_clear(&q);
}

/* A bounded set of questions built from the input's words.  For each of the
 * first MAX_HOSTS host-like words (dotted words first: the YAML keys are
 * words too), up to MAX_TRIES identities until one is allowed: the binary
 * listed for the host's policy, then another binary with every binary of the
 * input as ancestors (ancestors grant access too), then no binary.  On an
 * allow, L7 requests on the path-like words (those with a query first), and
 * one on the first deny; at most MAX_L7_TOTAL in all. */
static void
query_policy(const struct osh_policy *p, const struct words *w)
{
    const char *hosts[MAX_HOSTS], *targets[MAX_L7];
    uint16_t ports[MAX_HOSTS];
    size_t n_hosts = 0, n_targets = 0, n_l7 = 0;
    bool denied_l7 = false;
    char long_host[1100];
    struct osh_l4_request req = {0};
    struct osh_decision_result r = {0};

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < w->n_hosts && n_hosts < MAX_HOSTS; i++) {
            if ((strchr(w->hosts[i], '.') != NULL) == (pass == 0)) {
                hosts[n_hosts] = w->hosts[i];
                ports[n_hosts++] = w->host_port[i];
            }
        }
        for (size_t i = 0; i < w->n_bins && n_targets < MAX_L7; i++)
            if ((strchr(w->bins[i], '?') != NULL) == (pass == 0))
                targets[n_targets++] = w->bins[i];
    }
    if (n_hosts == 0) {
        hosts[n_hosts] = "api.github.com";
        ports[n_hosts++] = 443;
    }
    if (n_targets == 0)
        targets[n_targets++] = "/";

    for (size_t i = 0; i < n_hosts; i++) {
        size_t h = 0;
        /* Index of hosts[i] among w->hosts, for its policy's binary. */
        while (h < w->n_hosts && w->hosts[h] != hosts[i])
            h++;
        for (int t = 0; t < MAX_TRIES; t++) {
            bool allowed;
            size_t n_ask;

            req = (struct osh_l4_request){.host = hosts[i], .port = ports[i]};
            if (t == 0 && h < w->n_hosts)
                req.binary = words_binary_for(w, h);
            if (t == 1 && w->n_bins > 0) {
                req.binary = w->bins[i % w->n_bins];
                req.ancestors = w->bins;
                req.n_ancestors = w->n_bins;
                req.cmdline_paths = w->bins;
                req.n_cmdline_paths = w->n_bins;
            }
            ask_l4(p, &req, &r);
            allowed = r.decision == OSH_DECISION_ALLOW;
            n_ask = allowed ? n_targets : denied_l7 ? 0 : 1;
            for (size_t j = 0; j < n_ask && n_l7 < MAX_L7_TOTAL; j++, n_l7++)
                ask_l7(p, &req, &r, methods[(i + j) % (sizeof(methods) / sizeof(methods[0]))],
                       targets[j]);
            denied_l7 = denied_l7 || !allowed;
            osh_decision_result_clear(&r);
            if (allowed)
                break;
        }
    }

    /* Argument edges: no host (-EINVAL), a host over the limit. */
    req = (struct osh_l4_request){.host = NULL, .port = 443};
    check(osh_policy_eval_l4(p, &req, &r) == -EINVAL, "a NULL host is -EINVAL");
    osh_decision_result_clear(&r);
    memset(long_host, 'a', sizeof(long_host) - 1);
    long_host[sizeof(long_host) - 1] = '\0';
    req.host = long_host;
    ask_l4(p, &req, &r);
    check(r.decision == OSH_DECISION_DENY, "an over-long host is denied");
    osh_decision_result_clear(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct osh_diags diags = {0};
    struct osh_policy *p = NULL;
    struct osh_policy_static st;
    struct words *w = NULL;
    const char *hash;

    p = osh_policy_load_buffer(FUZZ_NAME, (const char *)data, size, FUZZ_FORMAT, &diags);
    if (p == NULL) {
        check(diags.n_errors > 0 || diags.oom || errno == ENOMEM,
              "a rejected policy reports an error");
        goto out;
    }
    check(diags.n_errors == 0, "an accepted policy has no errors");

    hash = osh_policy_hash(p);
    check(hash != NULL && strlen(hash) == 64 && strspn(hash, "0123456789abcdef") == 64,
          "the hash is 64 lowercase hex digits");
    osh_policy_get_static(p, &st);
    check(st.run_as_user != NULL && st.run_as_user[0] != '\0', "run_as_user is never empty");
    for (size_t i = 0; i < st.n_read_only; i++)
        check(st.read_only[i][0] != '\0', "read_only entries are strings");
    for (size_t i = 0; i < st.n_read_write; i++)
        check(st.read_write[i][0] != '\0', "read_write entries are strings");
    (void)osh_policy_network_count(p);

    /* Reference counting: a second owner keeps the generation alive. */
    osh_policy_unref(osh_policy_ref(p));

    w = malloc(sizeof(*w));
    if (w == NULL)
        goto out;
    words_split(w, data, size);
    query_policy(p, w);
out:
    free(w);
    osh_policy_unref(p);
    osh_diags_clear(&diags);
    return 0;
}

#endif /* OSH_FUZZ_POLICY_DRIVER_H */
