/*
 * policy_validate.c - the checks OpenShell runs on a loaded policy before it
 * is used: host wildcard rules and the L7 validator (policy.md §1.5-§1.6, exact
 * message texts), plus compilation of every glob, which doubles as its
 * validation.  An invalid glob is an error here (upstream only warns and
 * then fails closed at evaluation time); we reject at load so that
 * `policy check` catches it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "osh/netaddr.h"
#include "policy_model.h"

struct vctx {
    const char *file;
    struct osh_diags *d;
    bool ok;
    char loc[512];
    struct pol_pos pos;
};

static void __attribute__((format(printf, 3, 4)))
report(struct vctx *V, bool warning, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    osh_diags_add(V->d, warning, V->file, V->pos.line, V->pos.col, V->loc, "%s", msg);
    if (!warning)
        V->ok = false;
}

static bool
str_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* Compiles `pattern` into *out or reports it as invalid. */
static void
compile_glob(struct vctx *V, const char *pattern, char delim, struct osh_glob **out)
{
    char err[256];
    int rc = osh_glob_compile(pattern, strlen(pattern), delim, out, err, sizeof(err));

    if (rc == -ENOMEM)
        report(V, false, "out of memory compiling glob '%s'", pattern);
    else if (rc < 0)
        report(V, false, "invalid glob '%s': %s", pattern, err);
}

/* policy.md §1.6: wildcard hosts. */
static void
validate_host(struct vctx *V, const char *h)
{
    const char *dot = strchr(h, '.');
    size_t first_len = dot ? (size_t)(dot - h) : strlen(h);
    size_t labels = 1;

    if (strchr(h, '*') == NULL)
        return;
    for (const char *p = h; *p; p++)
        labels += *p == '.';
    if (strcmp(h, "*") == 0 || strcmp(h, "**") == 0) {
        report(V, false, "host wildcard '%s' matches all hosts; use specific patterns like "
                         "'*.example.com'", h);
        return;
    }
    if (dot != NULL && strchr(dot, '*') != NULL) {
        report(V, false, "host wildcard may only appear in the first DNS label, got '%s'", h);
        return;
    }
    if (memmem(h, first_len, "**", 2) != NULL && !(first_len == 2)) {
        report(V, false, "recursive host wildcard '**' is only allowed as the entire first DNS "
                         "label, got '%s'", h);
        return;
    }
    if (labels <= 2)
        report(V, false, "TLD wildcard '%s' is not allowed; use subdomain wildcards like "
                         "'*.example.com' instead", h);
}

static bool
rule_has_graphql(const struct pol_l7_rule *r)
{
    return r->operation_type != NULL || r->operation_name != NULL || r->has_fields;
}

static bool
endpoint_has_graphql(const struct pol_endpoint *ep)
{
    if (ep->persisted_queries != NULL || ep->n_pq > 0)
        return true;
    for (size_t i = 0; i < ep->n_rules; i++)
        if (rule_has_graphql(&ep->rules[i]))
            return true;
    for (size_t i = 0; i < ep->n_deny_rules; i++)
        if (rule_has_graphql(&ep->deny_rules[i]))
            return true;
    return false;
}

static void
validate_graphql_fields(struct vctx *V, const char *where, char **fields, size_t n,
                        bool present)
{
    if (!present)
        return;
    if (n == 0)
        report(V, false, "%s.fields: must be a non-empty list of field names", where);
    for (size_t i = 0; i < n; i++)
        if (fields[i][0] == '\0')
            report(V, false, "%s.fields[%zu]: field names must be non-empty strings", where, i);
}

static void
validate_rule(struct vctx *V, const struct pol_endpoint *ep, struct pol_l7_rule *r,
              const char *where, bool deny)
{
    const char *proto = ep->protocol ? ep->protocol : "";
    bool graphql_ep = strcmp(proto, "graphql") == 0;
    bool ws_ep = strcmp(proto, "websocket") == 0;
    bool gql = graphql_ep || (ws_ep && rule_has_graphql(r));

    if (r->method != NULL) {
        static const char *const rest_methods[] = {"GET",    "HEAD",    "POST", "PUT",
                                                   "DELETE", "PATCH",   "OPTIONS", "*",
                                                   NULL};
        static const char *const ws_methods[] = {"GET", "WEBSOCKET_TEXT", "*", NULL};
        const char *const *known = ws_ep ? ws_methods : rest_methods;
        bool found = false;
        for (const char *const *m = known; *m; m++)
            if (strcasecmp(*m, r->method) == 0)
                found = true;
        if (!found && (ws_ep || strcmp(proto, "rest") == 0))
            report(V, true, "%s.method: Unknown HTTP/WebSocket method '%s'. Standard methods: %s",
                   where, r->method,
                   ws_ep ? "GET, WEBSOCKET_TEXT, *" : "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, *");
    }
    if (r->command != NULL && strcmp(proto, "sql") != 0)
        report(V, true, "%s: command is for SQL protocol, not REST", where);
    if (ws_ep && rule_has_graphql(r) && (r->method || r->path || r->has_query))
        report(V, false, "%s: websocket rules must not combine method/path/query with GraphQL "
                         "operation fields", where);
    if (gql) {
        if (r->operation_type == NULL) {
            report(V, false, "%s.operation_type: required for GraphQL L7 rules", where);
        } else if (strcasecmp(r->operation_type, "query") != 0 &&
                   strcasecmp(r->operation_type, "mutation") != 0 &&
                   strcasecmp(r->operation_type, "subscription") != 0 &&
                   strcmp(r->operation_type, "*") != 0) {
            report(V, false, "%s.operation_type: expected query, mutation, subscription, or *, "
                             "got '%s'", where, r->operation_type);
        }
        validate_graphql_fields(V, where, r->fields, r->n_fields, r->has_fields);
    } else if (rule_has_graphql(r)) {
        report(V, true, "%s: GraphQL fields are ignored on a '%s' endpoint", where,
               proto[0] ? proto : "L4");
    }
    if (!deny && ws_ep && endpoint_has_graphql(ep) && r->method != NULL &&
        strcmp(r->method, "WEBSOCKET_TEXT") == 0)
        report(V, false, "%s: endpoint has GraphQL policy; use GraphQL operation rules (operation_type) "
                         "instead of WEBSOCKET_TEXT", where);

    /* Globs: paths over '/', query values and GraphQL names over '.'. */
    if (r->path != NULL && strcmp(r->path, "**") != 0)
        compile_glob(V, r->path, '/', &r->path_glob);
    for (size_t i = 0; i < r->n_query; i++) {
        struct pol_query_matcher *m = &r->query[i];
        m->compiled = calloc(m->n_globs + 1, sizeof(*m->compiled));
        if (m->compiled == NULL) {
            report(V, false, "out of memory");
            return;
        }
        for (size_t j = 0; j < m->n_globs; j++)
            compile_glob(V, m->globs[j], '.', &m->compiled[j]);
    }
    if (r->operation_name != NULL)
        compile_glob(V, r->operation_name, '.', &r->operation_name_glob);
    if (r->n_fields > 0) {
        r->field_globs = calloc(r->n_fields + 1, sizeof(*r->field_globs));
        if (r->field_globs == NULL) {
            report(V, false, "out of memory");
            return;
        }
        for (size_t j = 0; j < r->n_fields; j++)
            compile_glob(V, r->fields[j], '.', &r->field_globs[j]);
    }
}

static void
validate_endpoint(struct vctx *V, struct pol_endpoint *ep)
{
    const char *proto = ep->protocol ? ep->protocol : "";
    bool has_access = !str_empty(ep->access);
    char where[600];

    if (ep->host != NULL) {
        validate_host(V, ep->host);
        if (strchr(ep->host, '*') != NULL && V->ok) {
            char *lc = strdup(ep->host);
            if (lc == NULL) {
                report(V, false, "out of memory");
                return;
            }
            for (char *p = lc; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            compile_glob(V, lc, '.', &ep->host_glob);
            free(lc);
        }
    }
    if (ep->rules_present && has_access)
        report(V, false, "rules and access are mutually exclusive");
    if (proto[0] != '\0' && strcmp(proto, "rest") != 0 && strcmp(proto, "websocket") != 0 &&
        strcmp(proto, "graphql") != 0 && strcmp(proto, "sql") != 0)
        report(V, false, "unknown protocol '%s' (expected rest, websocket, graphql, or sql)",
               proto);
    if (proto[0] != '\0' && !ep->rules_present && !has_access)
        report(V, false, "protocol requires rules or access to define allowed traffic");
    if (ep->rules_present && ep->n_rules == 0)
        report(V, false, "rules list cannot be empty (would deny all traffic). Use `access: "
                         "full` or remove rules.");
    if (ep->deny_rules_present) {
        if (proto[0] == '\0')
            report(V, false, "deny_rules require protocol (L7 inspection must be enabled)");
        if (!ep->rules_present && !has_access)
            report(V, false, "deny_rules require rules or access to define the base allow set");
        if (ep->n_deny_rules == 0)
            report(V, false, "deny_rules list cannot be empty (would have no effect). Remove it "
                             "if no denials are needed.");
    }
    if (!str_empty(ep->path)) {
        if (ep->path[0] != '/' && strcmp(ep->path, "**") != 0)
            report(V, false, "endpoint path must start with '/' or be '**', got '%s'", ep->path);
        else if (strcmp(ep->path, "**") != 0)
            compile_glob(V, ep->path, '/', &ep->path_glob);
    }
    if (ep->persisted_queries != NULL && ep->persisted_queries[0] != '\0' &&
        strcmp(ep->persisted_queries, "deny") != 0 &&
        strcmp(ep->persisted_queries, "allow_registered") != 0)
        report(V, false, "persisted_queries must be 'deny' or 'allow_registered', got '%s'",
               ep->persisted_queries);
    if (ep->graphql_max_body_bytes_present && ep->graphql_max_body_bytes == 0)
        report(V, false, "graphql_max_body_bytes must be a positive integer");
    if (strcmp(proto, "sql") == 0 && ep->enforcement != NULL &&
        strcmp(ep->enforcement, "enforce") == 0)
        report(V, false, "SQL enforcement requires full SQL parsing (not available in v1). Use "
                         "`enforcement: audit`.");
    if (ep->tls != NULL && (strcmp(ep->tls, "terminate") == 0 || strcmp(ep->tls, "passthrough") == 0))
        report(V, true, "'tls: %s' is deprecated; TLS termination is now automatic. Use 'tls: "
                        "skip' to disable.", ep->tls);
    if (ep->tls != NULL && strcmp(ep->tls, "skip") == 0 && (ep->rules_present || has_access)) {
        for (size_t i = 0; i < ep->n_ports; i++)
            if (ep->ports[i] == 443)
                report(V, true, "'tls: skip' with L7 rules on port 443 — L7 inspection cannot "
                                "work on encrypted traffic");
    }
    if (has_access && strcmp(ep->access, "read-only") != 0 &&
        strcmp(ep->access, "read-write") != 0 && strcmp(ep->access, "full") != 0)
        report(V, true, "unknown access preset '%s': no rules are generated, so every request "
                        "is denied or audited", ep->access);
    if (ep->enforcement != NULL && strcmp(ep->enforcement, "enforce") != 0 &&
        strcmp(ep->enforcement, "audit") != 0)
        report(V, true, "enforcement '%s' is treated as 'audit' (only 'enforce' blocks)",
               ep->enforcement);
    if ((ep->websocket_credential_rewrite && strcmp(proto, "rest") != 0 &&
         strcmp(proto, "websocket") != 0) ||
        (ep->request_body_credential_rewrite && strcmp(proto, "rest") != 0))
        report(V, true, "credential rewrite flags only apply to rest (and websocket) endpoints");
    if (ep->n_pq > 0 && strcmp(proto, "graphql") != 0 && strcmp(proto, "websocket") != 0)
        report(V, true, "GraphQL endpoint fields are ignored on a '%s' endpoint",
               proto[0] ? proto : "L4");
    for (size_t i = 0; i < ep->n_pq; i++) {
        struct pol_persisted_query *q = &ep->pq[i];
        if (q->operation_type != NULL && strcasecmp(q->operation_type, "query") != 0 &&
            strcasecmp(q->operation_type, "mutation") != 0 &&
            strcasecmp(q->operation_type, "subscription") != 0 &&
            strcmp(q->operation_type, "*") != 0)
            report(V, false, "graphql_persisted_queries.%s.operation_type: expected query, "
                             "mutation, subscription, or *, got '%s'", q->id, q->operation_type);
    }
    if (ep->n_allowed_ips > 0) {
        struct osh_cidr *cidrs = NULL;
        size_t n = 0;
        bool broad = false;
        char err[2048];
        int rc = osh_allowed_ips_parse((const char *const *)ep->allowed_ips, ep->n_allowed_ips,
                                       &cidrs, &n, &broad, err, sizeof(err));
        free(cidrs);
        if (rc == -ENOMEM)
            report(V, false, "out of memory");
        else if (rc < 0)
            report(V, true, "allowed_ips: %s (every connection through this endpoint will be "
                            "denied)", err);
        else if (broad)
            report(V, true, "allowed_ips has a prefix shorter than /16");
    }
    for (size_t i = 0; i < ep->n_rules; i++) {
        snprintf(where, sizeof(where), "rules[%zu].allow", i);
        validate_rule(V, ep, &ep->rules[i], where, false);
    }
    for (size_t i = 0; i < ep->n_deny_rules; i++) {
        snprintf(where, sizeof(where), "deny_rules[%zu]", i);
        validate_rule(V, ep, &ep->deny_rules[i], where, true);
    }
}

bool
pol_validate(struct osh_policy *p, const char *file, struct osh_diags *d)
{
    struct vctx V = {.file = file, .d = d, .ok = true};

    for (size_t i = 0; i < p->n_nets; i++) {
        struct pol_network *net = &p->nets[i];
        for (size_t j = 0; j < net->n_endpoints; j++) {
            snprintf(V.loc, sizeof(V.loc), "network_policies.%s.endpoints[%zu]", net->key, j);
            V.pos = net->endpoints[j].pos;
            validate_endpoint(&V, &net->endpoints[j]);
        }
        for (size_t j = 0; j < net->n_binaries; j++) {
            struct pol_binary *b = &net->binaries[j];
            snprintf(V.loc, sizeof(V.loc), "network_policies.%s.binaries[%zu].path", net->key, j);
            V.pos = b->pos;
            if (strchr(b->path, '*') != NULL)
                compile_glob(&V, b->path, '/', &b->glob);
        }
    }
    return V.ok;
}
