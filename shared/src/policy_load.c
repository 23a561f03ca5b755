/*
 * policy_load.c - the strict schema of OpenShell's policy file: document tree
 * -> model.  Mirrors openshell-policy's serde structs with
 * deny_unknown_fields at every level: an unknown key, a wrong type, a port out
 * of range or a missing `version` is an error that names the position and the
 * field path.  Loading goes on after an error so that one run reports every
 * problem of the file; the policy is rejected if there was any.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy_doc.h"
#include "policy_model.h"

struct loader {
    const char *file;
    bool json;
    struct osh_diags *d;
    bool ok;
};

/* A field path under construction, e.g. "network_policies.gh.endpoints[0]". */
struct fpath {
    char s[512];
};

/* A path too long for the buffer is cut and ends in "..." (only ever
 * seen with absurd key lengths; the position still locates the field). */
static void
fp_mark_truncated(struct fpath *out, int written)
{
    if (written < 0 || (size_t)written >= sizeof(out->s))
        memcpy(out->s + sizeof(out->s) - 4, "...", 4);
}

static void
fp_child(struct fpath *out, const struct fpath *parent, const char *key)
{
    int w;

    if (parent == NULL || parent->s[0] == '\0')
        w = snprintf(out->s, sizeof(out->s), "%s", key);
    else
        w = snprintf(out->s, sizeof(out->s), "%s.%s", parent->s, key);
    fp_mark_truncated(out, w);
}

static void
fp_index(struct fpath *out, const struct fpath *parent, size_t i)
{
    fp_mark_truncated(out, snprintf(out->s, sizeof(out->s), "%s[%zu]", parent->s, i));
}

static void __attribute__((format(printf, 4, 5)))
lerr(struct loader *L, const struct doc_node *n, const struct fpath *fp, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    osh_diags_add(L->d, false, L->file, n ? n->line : 0, n ? n->col : 0, fp ? fp->s : "", "%s",
                  msg);
    L->ok = false;
}

static const char *
kind_name(const struct doc_node *n)
{
    switch (n->kind) {
    case DOC_NULL:
        return "null";
    case DOC_MAP:
        return "a mapping";
    case DOC_SEQ:
        return "a sequence";
    case DOC_SCALAR:
        break;
    }
    switch (n->style) {
    case DOC_JSON_INT:
        return "an integer";
    case DOC_JSON_REAL:
        return "a number";
    case DOC_JSON_BOOL:
        return "a boolean";
    case DOC_YAML_PLAIN:
    case DOC_YAML_QUOTED:
    case DOC_JSON_STRING:
        break;
    }
    return "a string";
}

/* ---- typed readers: each reports its own error ------------------------- */

static bool
want_map(struct loader *L, const struct doc_node *n, const struct fpath *fp)
{
    if (n->kind == DOC_MAP)
        return true;
    lerr(L, n, fp, "expected a mapping, got %s", kind_name(n));
    return false;
}

static bool
want_seq(struct loader *L, const struct doc_node *n, const struct fpath *fp)
{
    if (n->kind == DOC_SEQ)
        return true;
    lerr(L, n, fp, "expected a sequence, got %s", kind_name(n));
    return false;
}

/* Strings: any YAML scalar (serde_yaml reads a plain 443 as "443"), only
 * JSON strings in JSON.  Returns a copy or NULL (error reported). */
static char *
read_str(struct loader *L, const struct doc_node *n, const struct fpath *fp)
{
    char *s;

    if (n->kind != DOC_SCALAR || (L->json && n->style != DOC_JSON_STRING)) {
        lerr(L, n, fp, "expected a string, got %s", kind_name(n));
        return NULL;
    }
    s = strdup(n->text);
    if (s == NULL)
        lerr(L, n, fp, "out of memory");
    return s;
}

static bool
read_bool(struct loader *L, const struct doc_node *n, const struct fpath *fp, bool *out)
{
    if (n->kind == DOC_SCALAR && (n->style == DOC_JSON_BOOL || n->style == DOC_YAML_PLAIN)) {
        if (strcmp(n->text, "true") == 0 || strcmp(n->text, "True") == 0 ||
            strcmp(n->text, "TRUE") == 0) {
            *out = true;
            return true;
        }
        if (strcmp(n->text, "false") == 0 || strcmp(n->text, "False") == 0 ||
            strcmp(n->text, "FALSE") == 0) {
            *out = false;
            return true;
        }
    }
    lerr(L, n, fp, "expected a boolean, got %s '%s'", kind_name(n), n->text ? n->text : "");
    return false;
}

/* Integers in [min, max]: YAML plain decimal (or 0x/0o), JSON integers. */
static bool
read_int(struct loader *L, const struct doc_node *n, const struct fpath *fp, long long min,
         long long max, const char *what, long long *out)
{
    const char *s = n->text;
    char *end = NULL;
    long long v;
    int base = 10;

    if (n->kind != DOC_SCALAR || (n->style != DOC_JSON_INT && n->style != DOC_YAML_PLAIN))
        goto bad;
    if (n->style == DOC_YAML_PLAIN && (strncmp(s, "0x", 2) == 0 || strncmp(s, "0o", 2) == 0)) {
        base = s[1] == 'x' ? 16 : 8;
        s += 2;
    }
    if (*s == '\0')
        goto bad;
    errno = 0;
    v = strtoll(s, &end, base);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        goto bad;
    *out = v;
    return true;
bad:
    lerr(L, n, fp, "invalid %s '%s': expected an integer in %lld..%lld", what,
         n->text ? n->text : kind_name(n), min, max);
    return false;
}

/* A sequence of strings into a NULL-free array. */
static bool
read_str_list(struct loader *L, const struct doc_node *n, const struct fpath *fp, char ***out,
              size_t *nout)
{
    char **v;

    if (!want_seq(L, n, fp))
        return false;
    v = calloc(n->len + 1, sizeof(*v));
    if (v == NULL) {
        lerr(L, n, fp, "out of memory");
        return false;
    }
    *out = v;
    *nout = 0;
    for (size_t i = 0; i < n->len; i++) {
        struct fpath c;
        fp_index(&c, fp, i);
        v[*nout] = read_str(L, n->items[i], &c);
        if (v[*nout] != NULL)
            (*nout)++;
    }
    return true;
}

/*
 * Checks every key of map `n` against `known` (NULL terminated).  Unknown
 * keys are errors in the serde style; the known ones are still loaded so
 * that one run reports every problem.  Returns false if any was unknown.
 */
static bool
check_keys(struct loader *L, const struct doc_node *n, const struct fpath *fp,
           const char *const *known)
{
    bool ok = true;

    for (size_t i = 0; i < n->len; i++) {
        bool found = false;
        if (n->pairs[i].dup) {
            struct fpath c;
            struct doc_node pos = {.line = n->pairs[i].line, .col = n->pairs[i].col};
            fp_child(&c, fp, n->pairs[i].key);
            lerr(L, &pos, &c, "duplicate key '%s'", n->pairs[i].key);
            ok = false;
            continue;
        }
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, n->pairs[i].key) == 0)
                found = true;
        if (!found) {
            char list[512] = "";
            size_t used = 0;
            struct fpath c;
            struct doc_node pos = {.line = n->pairs[i].line, .col = n->pairs[i].col};
            for (const char *const *k = known; *k && used < sizeof(list); k++) {
                int w = snprintf(list + used, sizeof(list) - used, "%s`%s`",
                                 k == known ? "" : ", ", *k);
                if (w < 0)
                    break;
                used += (size_t)w;
            }
            fp_child(&c, fp, n->pairs[i].key);
            lerr(L, &pos, &c, "unknown field '%s', expected one of %s", n->pairs[i].key, list);
            ok = false;
        }
    }
    return ok;
}

/* Value of `key` in map `n`, or NULL when absent.  A YAML/JSON null counts
 * as absent (serde Option). */
static const struct doc_node *
get(const struct doc_node *n, const char *key)
{
    for (size_t i = 0; i < n->len; i++)
        if (!n->pairs[i].dup && strcmp(n->pairs[i].key, key) == 0)
            return n->pairs[i].value->kind == DOC_NULL ? NULL : n->pairs[i].value;
    return NULL;
}

static const struct doc_node *
field(const struct doc_node *n, const char *key, const struct fpath *parent, struct fpath *out)
{
    fp_child(out, parent, key);
    return get(n, key);
}

/* ---- L7 rules --------------------------------------------------------- */

static const char *const rule_fields[] = {"method",         "path",   "command",
                                          "query",          "operation_type",
                                          "operation_name", "fields", NULL};

static void
load_query(struct loader *L, const struct doc_node *n, const struct fpath *fp,
           struct pol_l7_rule *r)
{
    r->has_query = true;
    if (n->kind != DOC_MAP) {
        lerr(L, n, fp, "expected map of query matchers");
        return;
    }
    r->query = calloc(n->len + 1, sizeof(*r->query));
    if (r->query == NULL) {
        lerr(L, n, fp, "out of memory");
        return;
    }
    for (size_t i = 0; i < n->len; i++) {
        const struct doc_node *v = n->pairs[i].value;
        struct pol_query_matcher *m = &r->query[r->n_query];
        struct fpath c;
        fp_child(&c, fp, n->pairs[i].key);
        if (n->pairs[i].dup) {
            struct doc_node pos = {.line = n->pairs[i].line, .col = n->pairs[i].col};
            lerr(L, &pos, &c, "duplicate key '%s'", n->pairs[i].key);
            continue;
        }
        m->key = strdup(n->pairs[i].key);
        if (m->key == NULL) {
            lerr(L, v, &c, "out of memory");
            return;
        }
        r->n_query++;
        if (v->kind == DOC_SCALAR && (!L->json || v->style == DOC_JSON_STRING)) {
            m->globs = calloc(2, sizeof(*m->globs));
            if (m->globs == NULL || (m->globs[0] = strdup(v->text)) == NULL) {
                lerr(L, v, &c, "out of memory");
                return;
            }
            m->n_globs = 1;
        } else if (v->kind == DOC_MAP) {
            static const char *const any_only[] = {"any", NULL};
            const struct doc_node *any;
            struct fpath ca;
            check_keys(L, v, &c, any_only);
            any = field(v, "any", &c, &ca);
            if (any == NULL) {
                lerr(L, v, &c, "object matcher requires `glob` string or non-empty `any` list");
                continue;
            }
            if (any->kind != DOC_SEQ) {
                lerr(L, any, &ca, "expected a list of glob strings");
                continue;
            }
            m->is_any = true;
            if (!read_str_list(L, any, &ca, &m->globs, &m->n_globs))
                continue;
            if (any->len == 0)
                lerr(L, any, &ca, "list must not be empty");
        } else {
            lerr(L, v, &c, "expected string glob or object with `any`");
        }
    }
}

static void
load_rule_fields(struct loader *L, const struct doc_node *n, const struct fpath *fp,
                 struct pol_l7_rule *r)
{
    const struct doc_node *v;
    struct fpath c;

    r->pos.line = n->line;
    r->pos.col = n->col;
    check_keys(L, n, fp, rule_fields);
    if ((v = field(n, "method", fp, &c)))
        r->method = read_str(L, v, &c);
    if ((v = field(n, "path", fp, &c)))
        r->path = read_str(L, v, &c);
    if ((v = field(n, "command", fp, &c)))
        r->command = read_str(L, v, &c);
    if ((v = field(n, "query", fp, &c)))
        load_query(L, v, &c, r);
    if ((v = field(n, "operation_type", fp, &c)))
        r->operation_type = read_str(L, v, &c);
    if ((v = field(n, "operation_name", fp, &c)))
        r->operation_name = read_str(L, v, &c);
    if ((v = field(n, "fields", fp, &c))) {
        r->has_fields = true;
        read_str_list(L, v, &c, &r->fields, &r->n_fields);
    }
}

static void
load_rules(struct loader *L, const struct doc_node *n, const struct fpath *fp, bool deny,
           struct pol_l7_rule **out, size_t *nout)
{
    if (!want_seq(L, n, fp))
        return;
    *out = calloc(n->len + 1, sizeof(**out));
    if (*out == NULL) {
        lerr(L, n, fp, "out of memory");
        return;
    }
    for (size_t i = 0; i < n->len; i++) {
        const struct doc_node *item = n->items[i];
        struct fpath c;
        fp_index(&c, fp, i);
        if (!want_map(L, item, &c))
            continue;
        if (deny) {
            load_rule_fields(L, item, &c, &(*out)[*nout]);
        } else {
            static const char *const allow_only[] = {"allow", NULL};
            const struct doc_node *a;
            struct fpath ca;
            check_keys(L, item, &c, allow_only);
            a = field(item, "allow", &c, &ca);
            if (a == NULL) {
                lerr(L, item, &c, "missing field 'allow'");
                continue;
            }
            if (!want_map(L, a, &ca))
                continue;
            load_rule_fields(L, a, &ca, &(*out)[*nout]);
        }
        (*nout)++;
    }
}

/* ---- endpoints ----------------------------------------------------------- */

static const char *const endpoint_fields[] = {"host",
                                              "port",
                                              "ports",
                                              "path",
                                              "protocol",
                                              "tls",
                                              "enforcement",
                                              "access",
                                              "rules",
                                              "deny_rules",
                                              "allowed_ips",
                                              "allow_encoded_slash",
                                              "persisted_queries",
                                              "graphql_persisted_queries",
                                              "graphql_max_body_bytes",
                                              "websocket_credential_rewrite",
                                              "request_body_credential_rewrite",
                                              NULL};

static void
load_persisted(struct loader *L, const struct doc_node *n, const struct fpath *fp,
               struct pol_endpoint *ep)
{
    static const char *const pq_fields[] = {"operation_type", "operation_name", "fields", NULL};

    if (!want_map(L, n, fp))
        return;
    ep->pq = calloc(n->len + 1, sizeof(*ep->pq));
    if (ep->pq == NULL) {
        lerr(L, n, fp, "out of memory");
        return;
    }
    for (size_t i = 0; i < n->len; i++) {
        const struct doc_node *v = n->pairs[i].value;
        struct pol_persisted_query *q = &ep->pq[ep->n_pq];
        const struct doc_node *f;
        struct fpath c, cf;
        fp_child(&c, fp, n->pairs[i].key);
        if (n->pairs[i].dup) {
            struct doc_node pos = {.line = n->pairs[i].line, .col = n->pairs[i].col};
            lerr(L, &pos, &c, "duplicate key '%s'", n->pairs[i].key);
            continue;
        }
        if (!want_map(L, v, &c))
            continue;
        check_keys(L, v, &c, pq_fields);
        q->id = strdup(n->pairs[i].key);
        if (q->id == NULL) {
            lerr(L, v, &c, "out of memory");
            return;
        }
        ep->n_pq++;
        if ((f = field(v, "operation_type", &c, &cf)))
            q->operation_type = read_str(L, f, &cf);
        else
            lerr(L, v, &c, "operation_type: required for persisted query entries");
        if ((f = field(v, "operation_name", &c, &cf)))
            q->operation_name = read_str(L, f, &cf);
        if ((f = field(v, "fields", &c, &cf)))
            read_str_list(L, f, &cf, &q->fields, &q->n_fields);
    }
}

static void
load_endpoint(struct loader *L, const struct doc_node *n, const struct fpath *fp,
              struct pol_endpoint *ep)
{
    const struct doc_node *v;
    struct fpath c;
    long long iv;
    bool have_ports = false;

    ep->pos.line = n->line;
    ep->pos.col = n->col;
    check_keys(L, n, fp, endpoint_fields);
    if ((v = field(n, "host", fp, &c)))
        ep->host = read_str(L, v, &c);
    if ((v = field(n, "ports", fp, &c)) && want_seq(L, v, &c)) {
        ep->ports = calloc(v->len + 1, sizeof(*ep->ports));
        if (ep->ports == NULL) {
            lerr(L, v, &c, "out of memory");
            return;
        }
        for (size_t i = 0; i < v->len; i++) {
            struct fpath ci;
            fp_index(&ci, &c, i);
            if (read_int(L, v->items[i], &ci, 0, 65535, "port", &iv))
                ep->ports[ep->n_ports++] = (uint16_t)iv;
        }
        have_ports = v->len > 0;
    }
    /* `ports` wins; the scalar port is dropped before validation (§1.4). */
    if ((v = field(n, "port", fp, &c)) && read_int(L, v, &c, 0, 65535, "port", &iv) &&
        !have_ports) {
        free(ep->ports);
        ep->ports = calloc(1, sizeof(*ep->ports));
        if (ep->ports == NULL) {
            lerr(L, v, &c, "out of memory");
            return;
        }
        ep->ports[0] = (uint16_t)iv;
        ep->n_ports = 1;
    }
    if ((v = field(n, "path", fp, &c)))
        ep->path = read_str(L, v, &c);
    if ((v = field(n, "protocol", fp, &c))) {
        ep->protocol_present = true;
        ep->protocol = read_str(L, v, &c);
        for (char *p = ep->protocol; p && *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    if ((v = field(n, "tls", fp, &c))) {
        ep->tls_present = true;
        ep->tls = read_str(L, v, &c);
    }
    if ((v = field(n, "enforcement", fp, &c)))
        ep->enforcement = read_str(L, v, &c);
    if ((v = field(n, "access", fp, &c)))
        ep->access = read_str(L, v, &c);
    if ((v = field(n, "rules", fp, &c))) {
        ep->rules_present = true;
        load_rules(L, v, &c, false, &ep->rules, &ep->n_rules);
    }
    if ((v = field(n, "deny_rules", fp, &c))) {
        ep->deny_rules_present = true;
        load_rules(L, v, &c, true, &ep->deny_rules, &ep->n_deny_rules);
    }
    if ((v = field(n, "allowed_ips", fp, &c)))
        read_str_list(L, v, &c, &ep->allowed_ips, &ep->n_allowed_ips);
    if ((v = field(n, "allow_encoded_slash", fp, &c)))
        read_bool(L, v, &c, &ep->allow_encoded_slash);
    if ((v = field(n, "persisted_queries", fp, &c)))
        ep->persisted_queries = read_str(L, v, &c);
    if ((v = field(n, "graphql_persisted_queries", fp, &c)))
        load_persisted(L, v, &c, ep);
    if ((v = field(n, "graphql_max_body_bytes", fp, &c)) &&
        read_int(L, v, &c, 0, UINT32_MAX, "graphql_max_body_bytes", &iv)) {
        ep->graphql_max_body_bytes_present = true;
        ep->graphql_max_body_bytes = (uint32_t)iv;
    }
    if ((v = field(n, "websocket_credential_rewrite", fp, &c)))
        read_bool(L, v, &c, &ep->websocket_credential_rewrite);
    if ((v = field(n, "request_body_credential_rewrite", fp, &c)))
        read_bool(L, v, &c, &ep->request_body_credential_rewrite);
}

/* ---- network policies ---------------------------------------------------- */

static void
load_network_rule(struct loader *L, const char *key, const struct doc_node *n,
                  const struct fpath *fp, struct pol_network *net)
{
    static const char *const net_fields[] = {"name", "endpoints", "binaries", NULL};
    static const char *const bin_fields[] = {"path", "harness", NULL};
    const struct doc_node *v;
    struct fpath c;

    net->pos.line = n->line;
    net->pos.col = n->col;
    net->key = strdup(key);
    if (net->key == NULL) {
        lerr(L, n, fp, "out of memory");
        return;
    }
    if (!want_map(L, n, fp))
        return;
    check_keys(L, n, fp, net_fields);
    if ((v = field(n, "name", fp, &c)))
        net->name = read_str(L, v, &c);
    if ((v = field(n, "endpoints", fp, &c)) && want_seq(L, v, &c)) {
        net->endpoints = calloc(v->len + 1, sizeof(*net->endpoints));
        if (net->endpoints == NULL) {
            lerr(L, v, &c, "out of memory");
            return;
        }
        for (size_t i = 0; i < v->len; i++) {
            struct fpath ci;
            fp_index(&ci, &c, i);
            if (!want_map(L, v->items[i], &ci))
                continue;
            load_endpoint(L, v->items[i], &ci, &net->endpoints[net->n_endpoints++]);
        }
    }
    if ((v = field(n, "binaries", fp, &c)) && want_seq(L, v, &c)) {
        net->binaries = calloc(v->len + 1, sizeof(*net->binaries));
        if (net->binaries == NULL) {
            lerr(L, v, &c, "out of memory");
            return;
        }
        for (size_t i = 0; i < v->len; i++) {
            const struct doc_node *b = v->items[i], *bp;
            struct pol_binary *bin = &net->binaries[net->n_binaries];
            struct fpath ci, cp;
            bool harness;
            fp_index(&ci, &c, i);
            if (!want_map(L, b, &ci))
                continue;
            check_keys(L, b, &ci, bin_fields);
            bin->pos.line = b->line;
            bin->pos.col = b->col;
            if ((bp = field(b, "harness", &ci, &cp)))
                read_bool(L, bp, &cp, &harness); /* deprecated, ignored */
            bp = field(b, "path", &ci, &cp);
            if (bp == NULL) {
                lerr(L, b, &ci, "missing field 'path'");
                continue;
            }
            bin->path = read_str(L, bp, &cp);
            if (bin->path != NULL)
                net->n_binaries++;
        }
    }
    if (net->name == NULL || net->name[0] == '\0') {
        free(net->name);
        net->name = strdup(key);
        if (net->name == NULL)
            lerr(L, n, fp, "out of memory");
    }
}

static int
net_cmp(const void *a, const void *b)
{
    const struct pol_network *x = a, *y = b;
    return strcmp(x->key, y->key);
}

/*
 * A list of filesystem paths, normalized lexically (§1.2) and held to the
 * safety rules of openshell-policy::validate_sandbox_policy (§1.8).
 */
static void
load_paths(struct loader *L, const struct doc_node *n, const struct fpath *fp, bool rw,
           size_t *total, char ***out, size_t *nout)
{
    if (!read_str_list(L, n, fp, out, nout))
        return;
    *total += *nout;
    for (size_t i = 0; i < *nout; i++) {
        const struct doc_node *item = n->items[i];
        char *raw = (*out)[i], *norm;
        struct fpath c;
        fp_index(&c, fp, i);
        norm = pol_normalize_path(raw);
        if (norm == NULL) {
            lerr(L, item, &c, "out of memory");
            return;
        }
        if (strlen(raw) > 4096)
            lerr(L, item, &c, "path exceeds maximum length (%zu > 4096): %.64s...", strlen(raw),
                 raw);
        else if (raw[0] != '/')
            lerr(L, item, &c, "path must be absolute (start with '/'): %s", raw);
        else if (strcmp(norm, "..") == 0 || strncmp(norm, "../", 3) == 0 ||
                 strstr(norm, "/../") != NULL ||
                 (strlen(norm) >= 3 && strcmp(norm + strlen(norm) - 3, "/..") == 0))
            lerr(L, item, &c, "path contains '..' traversal component: %s", raw);
        else if (rw && strcmp(norm, "/") == 0)
            lerr(L, item, &c, "read-write path is overly broad: %s", raw);
        free(raw);
        (*out)[i] = norm;
    }
}

static void
load_identity(struct loader *L, const struct doc_node *n, const struct fpath *fp,
              const char *what, char **out)
{
    *out = read_str(L, n, fp);
    /* Empty means unset and becomes "sandbox" (§1.2); anything else must
     * be exactly "sandbox" (§1.8): the workload never runs as root. */
    if (*out != NULL && (*out)[0] != '\0' && strcmp(*out, "sandbox") != 0)
        lerr(L, n, fp, "%s must be 'sandbox', got '%s'", what, *out);
}

bool
pol_load_tree(struct osh_policy *p, const struct doc_node *root, const char *file, bool json,
              struct osh_diags *d)
{
    static const char *const top_fields[] = {"version",  "filesystem_policy", "landlock",
                                             "process",  "network_policies",  NULL};
    struct loader L = {.file = file, .json = json, .d = d, .ok = true};
    struct fpath top = {.s = ""}, c, cc;
    const struct doc_node *v, *w;
    long long iv;
    size_t total_paths = 0;

    p->include_workdir = true; /* section absent: §1.2 */
    if (!want_map(&L, root, &top))
        return false;
    check_keys(&L, root, &top, top_fields);

    if ((v = field(root, "version", &top, &c))) {
        if (read_int(&L, v, &c, 0, UINT32_MAX, "version", &iv))
            p->version = (uint32_t)iv;
    } else {
        struct doc_node pos = {.line = root->line ? 1 : 0, .col = root->col ? 1 : 0};
        lerr(&L, &pos, &c, "missing field 'version'");
    }

    if ((v = field(root, "filesystem_policy", &top, &c)) && want_map(&L, v, &c)) {
        static const char *const fs_fields[] = {"include_workdir", "read_only", "read_write",
                                                NULL};
        p->fs_present = true;
        p->include_workdir = false; /* present but key omitted: §1.2 */
        check_keys(&L, v, &c, fs_fields);
        if ((w = field(v, "include_workdir", &c, &cc)))
            read_bool(&L, w, &cc, &p->include_workdir);
        if ((w = field(v, "read_only", &c, &cc)))
            load_paths(&L, w, &cc, false, &total_paths, &p->read_only, &p->n_read_only);
        if ((w = field(v, "read_write", &c, &cc)))
            load_paths(&L, w, &cc, true, &total_paths, &p->read_write, &p->n_read_write);
        if (total_paths > 256)
            lerr(&L, v, &c, "too many filesystem paths (%zu > 256)", total_paths);
    }
    if ((v = field(root, "landlock", &top, &c)) && want_map(&L, v, &c)) {
        static const char *const ll_fields[] = {"compatibility", NULL};
        check_keys(&L, v, &c, ll_fields);
        if ((w = field(v, "compatibility", &c, &cc)))
            p->landlock_compat = read_str(&L, w, &cc);
    }
    if ((v = field(root, "process", &top, &c)) && want_map(&L, v, &c)) {
        static const char *const proc_fields[] = {"run_as_user", "run_as_group", NULL};
        check_keys(&L, v, &c, proc_fields);
        if ((w = field(v, "run_as_user", &c, &cc)))
            load_identity(&L, w, &cc, "run_as_user", &p->run_as_user);
        if ((w = field(v, "run_as_group", &c, &cc)))
            load_identity(&L, w, &cc, "run_as_group", &p->run_as_group);
    }
    if ((v = field(root, "network_policies", &top, &c)) && want_map(&L, v, &c)) {
        p->nets = calloc(v->len + 1, sizeof(*p->nets));
        if (p->nets == NULL) {
            lerr(&L, v, &c, "out of memory");
            return false;
        }
        for (size_t i = 0; i < v->len; i++) {
            struct fpath ck;
            fp_child(&ck, &c, v->pairs[i].key);
            if (v->pairs[i].dup) {
                struct doc_node pos = {.line = v->pairs[i].line, .col = v->pairs[i].col};
                lerr(&L, &pos, &ck, "duplicate key '%s'", v->pairs[i].key);
                continue;
            }
            load_network_rule(&L, v->pairs[i].key, v->pairs[i].value, &ck,
                              &p->nets[p->n_nets++]);
        }
        /* Keys are unique (duplicates rejected by the parsers); sorted
         * order is what matched_policy and deny reasons use (§6.1). */
        if (L.ok)
            qsort(p->nets, p->n_nets, sizeof(*p->nets), net_cmp);
    }
    return L.ok;
}
