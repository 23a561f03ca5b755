/*
 * proxy_decide.c - the decision for one request: who is asking (binary
 * identity), may it (the pinned policy generation, L4 and, for forward
 * HTTP, L7), and where may the bytes go (SSRF tiers).  The result, with the
 * exact client-visible answers of network.md §1.5-§1.6, lands in c->dec.
 *
 * Runs on a pool thread when it may block (first request of a connection:
 * /proc walk and hashing; a host name: DNS), else inline on the worker.
 * While it runs, nothing else touches the connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/http_path.h"
#include "osh/netaddr.h"
#include "osh/query.h"
#include "proxy_int.h"

bool
decide_needs_pool(const struct conn *c)
{
    struct osh_ip ip;
    char bare[256];
    size_t hl = strlen(c->host);

    if (!c->have_identity && c->id_rc == 0)
        return true;
    if (hl >= 2 && c->host[0] == '[') {
        snprintf(bare, sizeof(bare), "%.*s", (int)(hl - 2), c->host + 1);
        return osh_ip_parse(bare, &ip) < 0;
    }
    return osh_ip_parse(c->host, &ip) < 0;
}

/* Client-visible detail; a long one is cut, which only shortens a message. */
static void __attribute__((format(printf, 2, 3)))
set_detail(struct decision *d, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
    va_end(ap);
}

static void
set_reason(struct decision *d, const char *reason)
{
    free(d->reason);
    d->reason = strdup(reason ? reason : "");
}

/* Deny by policy: the reference's 403 policy_denied answers. */
static void
deny_policy(struct conn *c, const char *reason)
{
    struct decision *d = &c->dec;

    d->allow = false;
    d->status = 403;
    snprintf(d->error, sizeof(d->error), "policy_denied");
    if (c->connect) {
        d->stage = OSH_STAGE_CONNECT;
        d->group = OSH_DENY_GROUP_CONNECT_POLICY;
        set_detail(d, "CONNECT %s:%u not permitted by policy", c->host_lc, c->port);
    } else {
        d->stage = OSH_STAGE_FORWARD;
        d->group = OSH_DENY_GROUP_FORWARD_POLICY;
        set_detail(d, "%.*s %s:%u%.*s not permitted by policy", (int)c->req.method.len,
                   c->req.method.p, c->host_lc, c->port, (int)c->fwd_path_len,
                   c->head + c->fwd_path_off);
    }
    set_reason(d, reason);
}

/* A CONNECT allowed at L4 whose endpoint has L7 rules that no tunnel
 * path can enforce yet: 403, reported under the L7 group (the L4 rule
 * exists, so a proposal for it would be noise). */
static void
deny_l7_unenforceable(struct conn *c)
{
    struct decision *d = &c->dec;

    d->allow = false;
    d->status = 403;
    d->stage = OSH_STAGE_CONNECT;
    d->group = OSH_DENY_GROUP_L7_POLICY;
    snprintf(d->error, sizeof(d->error), "policy_denied");
    set_detail(d,
               "CONNECT %s:%u refused: the endpoint's L7 rules cannot be enforced inside a "
               "CONNECT tunnel yet",
               c->host_lc, c->port);
    set_reason(d, "endpoint has L7 rules that cannot be enforced inside a CONNECT tunnel yet "
                  "(no in-tunnel L7 inspection); send plain HTTP as a forward request");
}

/* Resolves the caller once per connection (a socket's owner does not
 * change under a keep-alive connection in any way we could observe). */
static void
resolve_identity(struct proxy *px, struct conn *c)
{
    char err[sizeof(c->id_error) - 40];
    int rc;

    if (c->have_identity || c->id_rc != 0)
        return;
    rc = osh_identity_resolve(px->identity, (struct sockaddr *)&c->peer,
                              (struct sockaddr *)&c->local, &c->id, err, sizeof(err));
    if (rc == 0) {
        c->have_identity = true;
        return;
    }
    c->id_rc = rc;
    if (rc == -EPERM && strncmp(err, "ancestor", 8) != 0)
        snprintf(c->id_error, sizeof(c->id_error), "binary integrity check failed: %s", err);
    else if (rc == -EPERM || rc == -EBADE)
        snprintf(c->id_error, sizeof(c->id_error), "%s", err);
    else
        snprintf(c->id_error, sizeof(c->id_error), "failed to resolve peer binary: %s", err);
}

/*
 * Forward L7 (network.md §1.6 step 6): canonicalize, route, evaluate.
 * Returns true when the request may go on (allowed or audited).
 */
static bool
decide_forward_l7(struct conn *c, const struct osh_l4_request *l4, struct osh_decision_result *r)
{
    struct decision *d = &c->dec;
    const char *raw = c->head + c->fwd_path_off, *q = NULL;
    size_t qlen = 0;
    char canon[4200];
    struct osh_query query;
    struct osh_l7_request l7;
    enum osh_path_result pr;
    char method[32];
    bool ok = false;

    pr = osh_path_canonicalize(raw, c->fwd_path_len, r->allow_encoded_slash, canon,
                               sizeof(canon), &q, &qlen);
    if (pr != OSH_PATH_OK) {
        d->allow = false;
        d->status = 400;
        d->stage = OSH_STAGE_FORWARD;
        d->group = OSH_DENY_GROUP_L7_PARSE_REJECTION;
        snprintf(d->error, sizeof(d->error), "invalid_request_target");
        set_detail(d, "request-target must be canonical");
        set_reason(d, osh_path_result_name(pr));
        return false;
    }
    /* What is evaluated is what the upstream gets. */
    if (strlen(canon) + 1 + qlen >= sizeof(d->canon_target)) {
        d->allow = false;
        d->status = 400;
        d->stage = OSH_STAGE_FORWARD;
        d->group = OSH_DENY_GROUP_L7_PARSE_REJECTION;
        snprintf(d->error, sizeof(d->error), "invalid_request_target");
        set_detail(d, "request-target must be canonical");
        set_reason(d, "request target too long");
        return false;
    }
    memcpy(d->canon_target, canon, strlen(canon) + 1);
    if (q != NULL) {
        size_t cl = strlen(canon);
        d->canon_target[cl] = '?';
        memcpy(d->canon_target + cl + 1, q, qlen);
        d->canon_target[cl + 1 + qlen] = '\0';
    }
    snprintf(method, sizeof(method), "%.*s", (int)c->req.method.len, c->req.method.p);
    osh_query_init(&query);
    /* The forward proxy treats an undecodable query as empty (§6.15). */
    if (q != NULL && osh_query_parse(&query, q, qlen, NULL, 0) < 0)
        osh_query_clear(&query);
    l7 = (struct osh_l7_request){.method = method, .path = canon, .query = &query};
    osh_decision_result_clear(r);
    if (osh_policy_eval_l7(c->gen, l4, &l7, r) < 0) {
        deny_policy(c, "L7 evaluation error");
        goto out;
    }
    d->matched_policy = r->matched_policy;
    d->l7 = true;
    if (r->decision == OSH_DECISION_DENY) {
        d->allow = false;
        d->status = 403;
        d->stage = OSH_STAGE_FORWARD_L7_DENY;
        d->group = OSH_DENY_GROUP_L7_POLICY;
        snprintf(d->error, sizeof(d->error), "policy_denied");
        if (strcmp(r->reason, "no L7 endpoint path matched request") == 0)
            set_detail(d, "%s %s:%u%s did not match an L7 endpoint path", method, c->host_lc,
                       c->port, d->canon_target);
        else
            set_detail(d, "%s %s:%u%s denied by L7 policy: %s", method, c->host_lc, c->port,
                       d->canon_target, r->reason);
        set_reason(d, r->reason);
        goto out;
    }
    ok = true; /* ALLOW or AUDIT: forwarded */
out:
    osh_query_clear(&query);
    return ok;
}

void
decide(struct proxy *px, struct conn *c)
{
    struct decision *d = &c->dec;
    struct osh_decision_result r = {0};
    const char *anc[OSH_IDENTITY_MAX_ANCESTORS], *cmd[OSH_IDENTITY_MAX_ANCESTORS];
    struct osh_l4_request l4 = {.host = c->host_lc, .port = c->port};
    char method[32];
    pid_t entrypoint = (pid_t)atomic_load(&px->entrypoint);

    /* Field by field: the struct carries 9 KiB of buffers that need no
     * clearing (canon_target is rewritten, addrs are counted). */
    free(d->reason);
    d->reason = NULL;
    d->allow = d->l7 = d->tls_skip = false;
    d->status = 0;
    d->error[0] = d->detail[0] = d->canon_target[0] = '\0';
    d->matched_policy = NULL;
    d->n_addrs = 0;
    resolve_identity(px, c);
    if (!c->have_identity) {
        deny_policy(c, c->id_error);
        return;
    }
    for (size_t i = 0; i < c->id.n_ancestors; i++)
        anc[i] = c->id.ancestors[i];
    for (size_t i = 0; i < c->id.n_cmdline_paths; i++)
        cmd[i] = c->id.cmdline_paths[i];
    l4.binary = c->id.exe;
    l4.ancestors = anc;
    l4.n_ancestors = c->id.n_ancestors;
    l4.cmdline_paths = cmd;
    l4.n_cmdline_paths = c->id.n_cmdline_paths;
    if (osh_policy_eval_l4(c->gen, &l4, &r) < 0) {
        deny_policy(c, "policy evaluation failed (out of memory)");
        return;
    }
    if (r.decision != OSH_DECISION_ALLOW) {
        deny_policy(c, r.reason);
        goto out;
    }
    d->matched_policy = r.matched_policy;
    d->tls_skip = r.tls_skip;
    if (c->connect && r.l7_inspect && !r.tls_skip) {
        /* Fail closed: until the in-tunnel relay exists, a raw tunnel would
         * carry requests the endpoint's L7 rules deny.  `tls: skip` is the
         * policy's explicit opt-out of inspection (warned about at load). */
        deny_l7_unenforceable(c);
        goto out;
    }
    if (!c->connect) {
        /* Without L7 the target goes as sent (it fits: it came from the
         * head, which is smaller than canon_target). */
        memcpy(d->canon_target, c->head + c->fwd_path_off, c->fwd_path_len);
        d->canon_target[c->fwd_path_len] = '\0';
        if (d->canon_target[0] != '/') {
            memmove(d->canon_target + 1, d->canon_target, c->fwd_path_len + 1);
            d->canon_target[0] = '/';
        }
        if (r.l7_inspect && !decide_forward_l7(c, &l4, &r))
            goto out;
    }
    snprintf(method, sizeof(method), "%.*s", (int)c->req.method.len, c->req.method.p);
    d->allow = true;
    if (ssrf_check(px, c->host, c->host_lc, c->port, &r, d, c->connect, method, entrypoint) ==
        -ENOMEM)
        deny_policy(c, "out of memory");
out:
    osh_decision_result_clear(&r);
}
