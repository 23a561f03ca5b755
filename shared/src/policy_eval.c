/*
 * policy_eval.c - L4 and L7 decisions on a compiled generation, following
 * OpenShell's sandbox-policy.rego as policy.md describes it (§2, §3).
 *
 * DESIGN: everything here reads the generation and writes only to the
 * caller's result, so any number of threads evaluate one generation without
 * a lock.  The allow path allocates nothing when fewer than
 * EVAL_INLINE_NETS policies match the endpoint; deny reasons are built on
 * the heap (they can name every policy).
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osh/query.h"
#include "policy_model.h"

#define EVAL_INLINE_NETS 64
#define EVAL_MAX_HOST 1024

static const char symlink_hint[] =
    "SYMLINK HINT: the binary path is the kernel-resolved target from /proc/<pid>/exe, not the "
    "symlink. If your policy specifies a symlink (e.g., /usr/bin/python3) but the actual binary "
    "is /usr/bin/python3.11, either: (1) use the canonical path in your policy (run 'readlink "
    "-f /usr/bin/python3' inside the sandbox), or (2) ensure symlink resolution is working "
    "(check sandbox logs for 'Cannot access container filesystem')";

/* A sorted set of policy indexes, inline for the common case. */
struct netset {
    uint32_t inline_buf[EVAL_INLINE_NETS];
    uint32_t *v;
    size_t len, cap;
};

static void
netset_init(struct netset *s)
{
    s->v = s->inline_buf;
    s->len = 0;
    s->cap = EVAL_INLINE_NETS;
}

static void
netset_free(struct netset *s)
{
    if (s->v != s->inline_buf)
        free(s->v);
    s->v = NULL;
}

/* Inserts `x` keeping the set sorted and unique.  0 or -ENOMEM. */
static int
netset_add(struct netset *s, uint32_t x)
{
    size_t lo = 0, hi = s->len;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid] == x)
            return 0;
        if (s->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->len == s->cap) {
        size_t ncap = s->cap * 2;
        uint32_t *n = malloc(ncap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        memcpy(n, s->v, s->len * sizeof(*n));
        if (s->v != s->inline_buf)
            free(s->v);
        s->v = n;
        s->cap = ncap;
    }
    memmove(s->v + lo + 1, s->v + lo, (s->len - lo) * sizeof(*s->v));
    s->v[lo] = x;
    s->len++;
    return 0;
}

static bool
port_listed(const struct pol_endpoint *ep, uint16_t port)
{
    for (size_t i = 0; i < ep->n_ports; i++)
        if (ep->ports[i] == port)
            return true;
    return false;
}

bool
pol_endpoint_matches(const struct pol_endpoint *ep, const char *host_lc, size_t host_len,
                     uint16_t port)
{
    if (!port_listed(ep, port))
        return false;
    if (ep->host_glob != NULL)
        return osh_glob_match(ep->host_glob, host_lc, host_len) == 1;
    if (ep->host_lc != NULL)
        return strcmp(ep->host_lc, host_lc) == 0;
    return ep->n_allowed_ips > 0; /* hostless: any host on the port (§2.2.3) */
}

static bool
binary_entry_matches(const struct pol_binary *b, const struct osh_l4_request *req)
{
    const char *exe = req->binary ? req->binary : "";

    if (b->glob != NULL) {
        if (osh_glob_match(b->glob, exe, strlen(exe)) == 1)
            return true;
        for (size_t i = 0; i < req->n_ancestors; i++)
            if (osh_glob_match(b->glob, req->ancestors[i], strlen(req->ancestors[i])) == 1)
                return true;
        return false;
    }
    if (strcmp(b->path, exe) == 0)
        return true;
    for (size_t i = 0; i < req->n_ancestors; i++)
        if (strcmp(b->path, req->ancestors[i]) == 0)
            return true;
    return false;
}

static bool
binary_allowed(const struct pol_network *net, const struct osh_l4_request *req,
               bool non_advisor_only)
{
    for (size_t i = 0; i < net->n_binaries; i++) {
        if (non_advisor_only && net->binaries[i].advisor_proposed)
            continue;
        if (binary_entry_matches(&net->binaries[i], req))
            return true;
    }
    return false;
}

static uint64_t
hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, as the compiler's index */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The slot of `key` (n bytes) in a string index, or NULL. */
static const struct pol_host_slot *
index_find(const struct pol_host_slot *slots, size_t mask, const char *key, size_t n)
{
    size_t s;

    if (slots == NULL)
        return NULL;
    s = hash_bytes(key, n) & mask;
    while (slots[s].host_lc != NULL) {
        if (strncmp(slots[s].host_lc, key, n) == 0 && slots[s].host_lc[n] == '\0')
            return &slots[s];
        s = (s + 1) & mask;
    }
    return NULL;
}

/*
 * Policies with an endpoint matching host:port: the exact-host index, the
 * wildcard index probed with every label suffix of the host (a handful of
 * lookups, then the glob only on the few candidates), and the per-port
 * list of hostless and irregular wildcard endpoints.
 */
static int
endpoint_nets(const struct osh_policy *p, const char *host_lc, size_t host_len, uint16_t port,
              struct netset *out)
{
    const struct pol_host_slot *sl;
    int rc;

    if ((sl = index_find(p->host_slots, p->host_mask, host_lc, host_len)) != NULL) {
        for (uint32_t i = 0; i < sl->count; i++) {
            const struct pol_epref *r = &p->exact_refs[sl->first + i];
            if (port_listed(&p->nets[r->net].endpoints[r->ep], port) &&
                (rc = netset_add(out, r->net)) < 0)
                return rc;
        }
    }
    for (size_t i = 0; p->wild_slots != NULL && i < host_len; i++) {
        if (host_lc[i] != '.')
            continue;
        sl = index_find(p->wild_slots, p->wild_mask, host_lc + i + 1, host_len - i - 1);
        for (uint32_t k = 0; sl != NULL && k < sl->count; k++) {
            const struct pol_epref *r = &p->wild_refs[sl->first + k];
            if (pol_endpoint_matches(&p->nets[r->net].endpoints[r->ep], host_lc, host_len,
                                     port) &&
                (rc = netset_add(out, r->net)) < 0)
                return rc;
        }
    }
    if (p->port_slots != NULL) {
        size_t s = port & p->port_mask;
        while (p->port_slots[s].port_plus1 != 0) {
            const struct pol_port_slot *ps = &p->port_slots[s];
            if (ps->port_plus1 == (uint32_t)port + 1) {
                for (uint32_t i = 0; i < ps->count; i++) {
                    const struct pol_epref *r = &p->port_refs[ps->first + i];
                    const struct pol_endpoint *ep = &p->nets[r->net].endpoints[r->ep];
                    if (pol_endpoint_matches(ep, host_lc, host_len, port) &&
                        (rc = netset_add(out, r->net)) < 0)
                        return rc;
                }
                break;
            }
            s = (s + 1) & p->port_mask;
        }
    }
    return 0;
}

/* ---- reason strings -------------------------------------------------- */

struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
};

static void __attribute__((format(printf, 2, 3)))
sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int need;

    if (b->oom)
        return;
    for (;;) {
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        need = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (need < 0) {
            b->oom = true;
            return;
        }
        if (b->s != NULL && (size_t)need < room) {
            b->len += (size_t)need;
            return;
        }
        size_t ncap = (b->cap ? b->cap : 128);
        while (ncap < b->len + (size_t)need + 1)
            ncap *= 2;
        char *n = realloc(b->s, ncap);
        if (n == NULL) {
            b->oom = true;
            return;
        }
        b->s = n;
        b->cap = ncap;
    }
}

static int
set_reason(struct osh_decision_result *out, struct sbuf *b)
{
    if (b->oom) {
        free(b->s);
        return -ENOMEM;
    }
    out->reason = b->s;
    return 0;
}

static int __attribute__((format(printf, 2, 3)))
deny_with(struct osh_decision_result *out, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&out->reason, fmt, ap);
    va_end(ap);
    if (n < 0) {
        out->reason = NULL;
        return -ENOMEM;
    }
    return 0;
}

static void
binary_reason(struct sbuf *b, const struct pol_network *net, const struct osh_l4_request *req)
{
    sb_printf(b, "binary '%s' not allowed in policy '%s' (ancestors: [",
              req->binary ? req->binary : "", net->key);
    for (size_t i = 0; i < req->n_ancestors; i++)
        sb_printf(b, "%s%s", i ? " -> " : "", req->ancestors[i]);
    sb_printf(b, "], cmdline: [");
    for (size_t i = 0; i < req->n_cmdline_paths; i++)
        sb_printf(b, "%s%s", i ? ", " : "", req->cmdline_paths[i]);
    sb_printf(b, "]). %s", symlink_hint);
}

/* ---- L4 -------------------------------------------------------------- */

static void
result_reset(struct osh_decision_result *out)
{
    memset(out, 0, sizeof(*out));
    out->decision = OSH_DECISION_DENY;
}

/* Lowercases `host` into `buf`; false when it does not fit. */
static bool
lower_host(const char *host, char *buf, size_t cap, size_t *len)
{
    size_t n = strlen(host);
    if (n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)tolower((unsigned char)host[i]);
    buf[n] = '\0';
    *len = n;
    return true;
}

/*
 * Core of the L4 decision.  On allow, `allowed` holds the policies whose
 * endpoint and binary both match (the L4set of §3.3), in key order.
 */
static int
eval_l4(const struct osh_policy *p, const struct osh_l4_request *req, const char *host_lc,
        size_t host_len, struct netset *allowed, struct osh_decision_result *out)
{
    struct netset ep_nets;
    int rc = 0;

    if (p->n_nets == 0)
        return deny_with(out, "network connections not allowed by policy");
    netset_init(&ep_nets);
    if ((rc = endpoint_nets(p, host_lc, host_len, req->port, &ep_nets)) < 0)
        goto out;
    if (ep_nets.len == 0) {
        rc = deny_with(out, "endpoint %s:%u is not allowed by any policy", host_lc,
                       (unsigned)req->port);
        goto out;
    }
    for (size_t i = 0; i < ep_nets.len; i++)
        if (binary_allowed(&p->nets[ep_nets.v[i]], req, false) &&
            (rc = netset_add(allowed, ep_nets.v[i])) < 0)
            goto out;
    if (allowed->len == 0) {
        struct sbuf b = {0};
        for (size_t i = 0; i < ep_nets.len; i++) {
            if (i > 0)
                sb_printf(&b, "; ");
            binary_reason(&b, &p->nets[ep_nets.v[i]], req);
        }
        rc = set_reason(out, &b);
        goto out;
    }

    out->decision = OSH_DECISION_ALLOW;
    out->matched_policy = p->nets[allowed->v[0]].key;
    /* §2.6: first extended-config endpoint; L7 route set; exact host. */
    {
        bool first = true;
        for (size_t i = 0; i < allowed->len; i++) {
            const struct pol_network *net = &p->nets[allowed->v[i]];
            for (size_t j = 0; j < net->n_endpoints; j++) {
                const struct pol_endpoint *ep = &net->endpoints[j];
                if (!ep->extended || !pol_endpoint_matches(ep, host_lc, host_len, req->port))
                    continue;
                if (first) {
                    first = false;
                    out->allowed_ips = (const char *const *)ep->allowed_ips;
                    out->n_allowed_ips = ep->n_allowed_ips;
                    out->tls_skip = ep->tls != NULL && strcmp(ep->tls, "skip") == 0;
                }
                if (ep->proto != OSH_L7_NONE) {
                    out->l7_inspect = true;
                    out->allow_encoded_slash |= ep->allow_encoded_slash;
                }
            }
        }
    }
    for (size_t i = 0; i < ep_nets.len && !out->exact_declared_host; i++) {
        const struct pol_network *net = &p->nets[ep_nets.v[i]];
        if (!binary_allowed(net, req, true))
            continue;
        for (size_t j = 0; j < net->n_endpoints; j++) {
            const struct pol_endpoint *ep = &net->endpoints[j];
            if (!ep->advisor_proposed && ep->host_lc != NULL && ep->host_glob == NULL &&
                strcmp(ep->host_lc, host_lc) == 0 && port_listed(ep, req->port))
                out->exact_declared_host = true;
        }
    }
    rc = 0; /* allowed: no reason, no allocation */
out:
    netset_free(&ep_nets);
    return rc;
}

int
osh_policy_eval_l4(const struct osh_policy *p, const struct osh_l4_request *req,
                   struct osh_decision_result *out)
{
    char host_lc[EVAL_MAX_HOST];
    size_t host_len;
    struct netset allowed;
    int rc;

    result_reset(out);
    if (p == NULL || req == NULL || req->host == NULL)
        return -EINVAL;
    if (!lower_host(req->host, host_lc, sizeof(host_lc), &host_len))
        return deny_with(out, "endpoint host is longer than %u bytes", EVAL_MAX_HOST - 1);
    netset_init(&allowed);
    rc = eval_l4(p, req, host_lc, host_len, &allowed, out);
    netset_free(&allowed);
    if (rc < 0)
        osh_decision_result_clear(out);
    return rc;
}

/* ---- L7 -------------------------------------------------------------- */

static bool
method_matches(const char *actual, const char *expected)
{
    if (strcmp(expected, "*") == 0 || strcasecmp(actual, expected) == 0)
        return true;
    return strcasecmp(actual, "HEAD") == 0 && strcasecmp(expected, "GET") == 0;
}

static bool
path_matches(const char *path, const char *pattern, const struct osh_glob *g)
{
    if (strcmp(pattern, "**") == 0)
        return true;
    return g != NULL && osh_glob_match(g, path, strlen(path)) == 1;
}

static bool
matcher_matches(const struct pol_query_matcher *m, const char *value)
{
    for (size_t i = 0; i < m->n_globs; i++)
        if (osh_glob_match(m->compiled[i], value, strlen(value)) == 1)
            return true;
    return false;
}

/* Allow side: every configured key present, every value matching. */
static bool
query_allow(const struct pol_l7_rule *r, const struct osh_query *q)
{
    for (size_t i = 0; i < r->n_query; i++) {
        const struct pol_query_matcher *m = &r->query[i];
        size_t n = q ? osh_query_count(q, m->key) : 0;
        if (n == 0)
            return false;
        for (size_t j = 0; j < n; j++)
            if (!matcher_matches(m, osh_query_value(q, m->key, j)))
                return false;
    }
    return true;
}

/* Deny side: every configured key present, any one value matching. */
static bool
query_deny(const struct pol_l7_rule *r, const struct osh_query *q)
{
    for (size_t i = 0; i < r->n_query; i++) {
        const struct pol_query_matcher *m = &r->query[i];
        size_t n = q ? osh_query_count(q, m->key) : 0;
        bool any = false;
        for (size_t j = 0; j < n && !any; j++)
            any = matcher_matches(m, osh_query_value(q, m->key, j));
        if (!any)
            return false;
    }
    return true;
}

static bool
rest_rule_matches(const struct pol_l7_rule *r, const struct osh_l7_request *req, bool deny)
{
    if (r->method == NULL || r->path == NULL)
        return false; /* §3.3: a REST rule needs both */
    if (!method_matches(req->method, r->method))
        return false;
    if (!path_matches(req->path, r->path, r->path_glob))
        return false;
    return deny ? query_deny(r, req->query) : query_allow(r, req->query);
}

/* Route selection candidates use the Rust `glob` crate, whose '*' crosses
 * '/': fnmatch without FNM_PATHNAME has the same meaning. */
static bool
route_candidate(const struct pol_endpoint *ep, const char *path)
{
    const char *ep_path = ep->path ? ep->path : "";
    size_t n = strlen(ep_path);

    if (n == 0 || strcmp(ep_path, "**") == 0 || strcmp(ep_path, "/**") == 0 ||
        strcmp(ep_path, path) == 0)
        return true;
    if (n >= 3 && strcmp(ep_path + n - 3, "/**") == 0) {
        size_t pre = n - 3;
        if (strncmp(path, ep_path, pre) == 0 && (path[pre] == '\0' || path[pre] == '/'))
            return true;
    }
    return fnmatch(ep_path, path, 0) == 0;
}

static size_t
specificity(const struct pol_endpoint *ep)
{
    size_t n = 0;
    for (const char *c = ep->path ? ep->path : ""; *c; c++)
        n += *c != '*';
    return n;
}

int
osh_policy_eval_l7(const struct osh_policy *p, const struct osh_l4_request *l4,
                   const struct osh_l7_request *req, struct osh_decision_result *out)
{
    char host_lc[EVAL_MAX_HOST];
    size_t host_len;
    struct netset allowed;
    const struct pol_endpoint *route = NULL;
    size_t n_routes = 0;
    bool denied = false, permitted = false;
    struct sbuf b = {0};
    int rc;

    result_reset(out);
    if (p == NULL || l4 == NULL || l4->host == NULL || req == NULL || req->method == NULL ||
        req->path == NULL)
        return -EINVAL;
    if (!lower_host(l4->host, host_lc, sizeof(host_lc), &host_len))
        return deny_with(out, "endpoint host is longer than %u bytes", EVAL_MAX_HOST - 1);
    netset_init(&allowed);
    rc = eval_l4(p, l4, host_lc, host_len, &allowed, out);
    if (rc < 0 || out->decision != OSH_DECISION_ALLOW || !out->l7_inspect)
        goto done;

    /* Route selection over the route set (§3.9): with one config it is
     * used as is; with several, the most specific candidate (last on ties). */
    for (size_t i = 0; i < allowed.len; i++) {
        const struct pol_network *net = &p->nets[allowed.v[i]];
        for (size_t j = 0; j < net->n_endpoints; j++) {
            const struct pol_endpoint *ep = &net->endpoints[j];
            if (ep->proto == OSH_L7_NONE || !ep->extended ||
                !pol_endpoint_matches(ep, host_lc, host_len, l4->port))
                continue;
            n_routes++;
            if (!route_candidate(ep, req->path))
                continue;
            if (route == NULL || specificity(ep) >= specificity(route))
                route = ep;
        }
    }
    if (n_routes == 1 && route == NULL) {
        /* A single config is not path-routed; find it again. */
        for (size_t i = 0; i < allowed.len && route == NULL; i++) {
            const struct pol_network *net = &p->nets[allowed.v[i]];
            for (size_t j = 0; j < net->n_endpoints && route == NULL; j++) {
                const struct pol_endpoint *ep = &net->endpoints[j];
                if (ep->proto != OSH_L7_NONE && ep->extended &&
                    pol_endpoint_matches(ep, host_lc, host_len, l4->port))
                    route = ep;
            }
        }
    }
    free(out->reason);
    out->reason = NULL;
    if (route == NULL) {
        out->decision = OSH_DECISION_DENY;
        sb_printf(&b, "no L7 endpoint path matched request");
        rc = set_reason(out, &b);
        goto done;
    }

    /* §3.3: deny rules veto across every L4-matching policy; allows pool. */
    for (size_t i = 0; i < allowed.len; i++) {
        const struct pol_network *net = &p->nets[allowed.v[i]];
        for (size_t j = 0; j < net->n_endpoints; j++) {
            const struct pol_endpoint *ep = &net->endpoints[j];
            if (!pol_endpoint_matches(ep, host_lc, host_len, l4->port))
                continue;
            if (ep->path != NULL && ep->path[0] != '\0' &&
                !path_matches(req->path, ep->path, ep->path_glob))
                continue;
            for (size_t k = 0; k < ep->n_deny_rules && !denied; k++)
                denied = rest_rule_matches(&ep->deny_rules[k], req, true);
            for (size_t k = 0; k < ep->n_rules && !permitted; k++)
                permitted = rest_rule_matches(&ep->rules[k], req, false);
        }
    }
    if (!denied && permitted)
        goto done; /* allowed: no reason */
    out->decision = route->enforce ? OSH_DECISION_DENY : OSH_DECISION_AUDIT;
    sb_printf(&b, "%s %s %s", req->method, req->path,
              denied ? "blocked by deny rule" : "not permitted by policy");
    rc = set_reason(out, &b);
done:
    netset_free(&allowed);
    if (rc < 0)
        osh_decision_result_clear(out);
    return rc;
}

void
osh_decision_result_clear(struct osh_decision_result *r)
{
    free(r->reason);
    result_reset(r);
}
