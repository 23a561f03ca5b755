/*
 * policy_compile.c - turns a validated model into a generation that decides
 * fast: the policy hash (SHA-256 over a canonical JSON form), access presets
 * expanded into rules (§3.5), per-endpoint flags, and two indexes:
 *
 *   - exact hosts: an open-addressed hash table lowercase host -> (policy,
 *     endpoint) refs;
 *   - per port: port -> the wildcard-host and hostless endpoints listing it,
 *     in (policy key, endpoint) order.
 *
 * An L4 decision then touches only the endpoints that can match.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "policy_model.h"

/* ---- canonical form and hash ------------------------------------------- */

static json_t *
jstr_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *
jstr_array(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *
canon_rule(const struct pol_l7_rule *r)
{
    json_t *o = json_object(), *q;

    json_object_set_new(o, "method", jstr_or_null(r->method));
    json_object_set_new(o, "path", jstr_or_null(r->path));
    json_object_set_new(o, "command", jstr_or_null(r->command));
    json_object_set_new(o, "operation_type", jstr_or_null(r->operation_type));
    json_object_set_new(o, "operation_name", jstr_or_null(r->operation_name));
    json_object_set_new(o, "fields", r->has_fields ? jstr_array(r->fields, r->n_fields)
                                                   : json_null());
    q = r->has_query ? json_object() : json_null();
    for (size_t i = 0; i < r->n_query; i++) {
        const struct pol_query_matcher *m = &r->query[i];
        json_t *mv = m->is_any ? json_pack("{s:o}", "any", jstr_array(m->globs, m->n_globs))
                               : json_string(m->globs[0]);
        json_object_set_new(q, m->key, mv);
    }
    json_object_set_new(o, "query", q);
    return o;
}

static json_t *
canon_endpoint(const struct pol_endpoint *ep)
{
    json_t *o = json_object(), *ports = json_array(), *rules, *deny, *pq;

    for (size_t i = 0; i < ep->n_ports; i++)
        json_array_append_new(ports, json_integer(ep->ports[i]));
    json_object_set_new(o, "host", jstr_or_null(ep->host));
    json_object_set_new(o, "ports", ports);
    json_object_set_new(o, "path", jstr_or_null(ep->path));
    json_object_set_new(o, "protocol", ep->protocol_present ? jstr_or_null(ep->protocol)
                                                           : json_null());
    json_object_set_new(o, "tls", ep->tls_present ? jstr_or_null(ep->tls) : json_null());
    json_object_set_new(o, "enforcement", jstr_or_null(ep->enforcement));
    json_object_set_new(o, "access", jstr_or_null(ep->access));
    rules = ep->rules_present ? json_array() : json_null();
    for (size_t i = 0; i < ep->n_rules; i++)
        json_array_append_new(rules, canon_rule(&ep->rules[i]));
    json_object_set_new(o, "rules", rules);
    deny = ep->deny_rules_present ? json_array() : json_null();
    for (size_t i = 0; i < ep->n_deny_rules; i++)
        json_array_append_new(deny, canon_rule(&ep->deny_rules[i]));
    json_object_set_new(o, "deny_rules", deny);
    json_object_set_new(o, "allowed_ips", jstr_array(ep->allowed_ips, ep->n_allowed_ips));
    json_object_set_new(o, "allow_encoded_slash", json_boolean(ep->allow_encoded_slash));
    json_object_set_new(o, "persisted_queries", jstr_or_null(ep->persisted_queries));
    pq = json_object();
    for (size_t i = 0; i < ep->n_pq; i++)
        json_object_set_new(pq, ep->pq[i].id,
                            json_pack("{s:o,s:o,s:o}", "operation_type",
                                      jstr_or_null(ep->pq[i].operation_type), "operation_name",
                                      jstr_or_null(ep->pq[i].operation_name), "fields",
                                      jstr_array(ep->pq[i].fields, ep->pq[i].n_fields)));
    json_object_set_new(o, "graphql_persisted_queries", pq);
    json_object_set_new(o, "graphql_max_body_bytes",
                        ep->graphql_max_body_bytes_present
                            ? json_integer(ep->graphql_max_body_bytes)
                            : json_null());
    json_object_set_new(o, "websocket_credential_rewrite",
                        json_boolean(ep->websocket_credential_rewrite));
    json_object_set_new(o, "request_body_credential_rewrite",
                        json_boolean(ep->request_body_credential_rewrite));
    json_object_set_new(o, "advisor_proposed", json_boolean(ep->advisor_proposed));
    return o;
}

/*
 * The hash covers everything that changes a decision or the cage, in a form
 * independent of how the file was written (YAML or JSON, key order, `port`
 * vs `ports`).  It is NOT byte-compatible with the gateway's proto-based
 * policy_hash; that one arrives with the control plane.
 */
static int
compute_hash(struct osh_policy *p)
{
    json_t *root = json_object(), *nets = json_object();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char *text = NULL;
    int rc = -ENOMEM;

    if (root == NULL || nets == NULL)
        goto out;
    json_object_set_new(root, "version", json_integer(p->version));
    json_object_set_new(root, "filesystem",
                        json_pack("{s:b,s:o,s:o}", "include_workdir", p->include_workdir,
                                  "read_only", jstr_array(p->read_only, p->n_read_only),
                                  "read_write", jstr_array(p->read_write, p->n_read_write)));
    json_object_set_new(root, "landlock_hard", json_boolean(p->landlock_compat != NULL &&
                                                            strcmp(p->landlock_compat,
                                                                   "hard_requirement") == 0));
    json_object_set_new(root, "run_as_user", json_string(p->run_as_user));
    json_object_set_new(root, "run_as_group", json_string(p->run_as_group));
    for (size_t i = 0; i < p->n_nets; i++) {
        const struct pol_network *n = &p->nets[i];
        json_t *o = json_object(), *eps = json_array(), *bins = json_array();
        for (size_t j = 0; j < n->n_endpoints; j++)
            json_array_append_new(eps, canon_endpoint(&n->endpoints[j]));
        for (size_t j = 0; j < n->n_binaries; j++)
            json_array_append_new(bins, json_pack("{s:s,s:b}", "path", n->binaries[j].path,
                                                  "advisor", n->binaries[j].advisor_proposed));
        json_object_set_new(o, "name", json_string(n->name));
        json_object_set_new(o, "endpoints", eps);
        json_object_set_new(o, "binaries", bins);
        json_object_set_new(nets, n->key, o);
    }
    json_object_set_new(root, "network_policies", nets);
    nets = NULL;
    text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    if (text == NULL)
        goto out;
    if (EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        rc = -EIO;
        goto out;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(p->hash + 2 * i, 3, "%02x", md[i]);
    rc = 0;
out:
    free(text);
    json_decref(nets);
    json_decref(root);
    return rc;
}

/* ---- presets (§3.5) ------------------------------------------------------ */

struct preset_rule {
    const char *method;
    const char *path;
    const char *operation_type;
};

static int
expand_preset(struct pol_endpoint *ep)
{
    static const struct preset_rule rest_ro[] = {{"GET", "**", NULL}, {"HEAD", "**", NULL},
                                                 {"OPTIONS", "**", NULL}, {NULL, NULL, NULL}};
    static const struct preset_rule rest_rw[] = {
        {"GET", "**", NULL},  {"HEAD", "**", NULL}, {"OPTIONS", "**", NULL},
        {"POST", "**", NULL}, {"PUT", "**", NULL},  {"PATCH", "**", NULL},
        {NULL, NULL, NULL}};
    static const struct preset_rule any_full[] = {{"*", "**", NULL}, {NULL, NULL, NULL}};
    static const struct preset_rule ws_ro[] = {{"GET", "**", NULL}, {NULL, NULL, NULL}};
    static const struct preset_rule ws_rw[] = {{"GET", "**", NULL},
                                               {"WEBSOCKET_TEXT", "**", NULL},
                                               {NULL, NULL, NULL}};
    static const struct preset_rule gql_ro[] = {{NULL, NULL, "query"}, {NULL, NULL, NULL}};
    static const struct preset_rule gql_rw[] = {{NULL, NULL, "query"},
                                                {NULL, NULL, "mutation"},
                                                {NULL, NULL, NULL}};
    static const struct preset_rule gql_full[] = {{NULL, NULL, "*"}, {NULL, NULL, NULL}};
    const struct preset_rule *set = NULL;
    const char *proto = ep->protocol ? ep->protocol : "";
    bool ro, rw, full;
    size_t n = 0;

    if (ep->access == NULL || ep->n_rules > 0)
        return 0;
    ro = strcmp(ep->access, "read-only") == 0;
    rw = strcmp(ep->access, "read-write") == 0;
    full = strcmp(ep->access, "full") == 0;
    if (strcmp(proto, "websocket") == 0)
        set = ro ? ws_ro : rw ? ws_rw : full ? any_full : NULL;
    else if (strcmp(proto, "graphql") == 0)
        set = ro ? gql_ro : rw ? gql_rw : full ? gql_full : NULL;
    else
        set = ro ? rest_ro : rw ? rest_rw : full ? any_full : NULL;
    if (set == NULL)
        return 0; /* unknown preset: silently no rules (§1.4) */
    while (set[n].method != NULL || set[n].operation_type != NULL)
        n++;
    free(ep->rules);
    ep->rules = calloc(n + 1, sizeof(*ep->rules));
    if (ep->rules == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        struct pol_l7_rule *r = &ep->rules[i];
        if ((set[i].method && (r->method = strdup(set[i].method)) == NULL) ||
            (set[i].path && (r->path = strdup(set[i].path)) == NULL) ||
            (set[i].operation_type &&
             (r->operation_type = strdup(set[i].operation_type)) == NULL))
            return -ENOMEM;
        ep->n_rules = i + 1;
    }
    return 0;
}

/* ---- indexes ------------------------------------------------------------- */

static uint64_t
hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t
pow2_at_least(size_t n)
{
    size_t c = 8;
    while (c < n * 2)
        c <<= 1;
    return c;
}

static int
ref_cmp(const void *a, const void *b)
{
    const struct pol_epref *x = a, *y = b;
    if (x->net != y->net)
        return x->net < y->net ? -1 : 1;
    return x->ep < y->ep ? -1 : x->ep > y->ep;
}

/* The key an endpoint is indexed under in one of the string tables. */
typedef const char *(*index_key_fn)(const struct pol_endpoint *ep);

static const char *
exact_key(const struct pol_endpoint *ep)
{
    return ep->host_lc != NULL && ep->host_glob == NULL ? ep->host_lc : NULL;
}

static const char *
wild_key(const struct pol_endpoint *ep)
{
    return ep->host_glob != NULL ? ep->host_suffix : NULL;
}

/*
 * Builds an open-addressed table string -> refs, refs grouped per key in
 * (net, ep) order.  Used for exact hosts and for wildcard-host suffixes.
 */
static int
build_string_index(struct osh_policy *p, size_t n, index_key_fn key_of,
                   struct pol_host_slot **slots_out, size_t *mask_out, struct pol_epref **refs_out)
{
    struct pol_epref *tmp = calloc(n + 1, sizeof(*tmp));
    struct pol_host_slot *slots;
    struct pol_epref *refs;
    size_t mask, k = 0;
    uint32_t next = 0;

    mask = pow2_at_least(n) - 1;
    slots = calloc(mask + 1, sizeof(*slots));
    refs = calloc(n + 1, sizeof(*refs));
    *slots_out = slots;
    *refs_out = refs;
    *mask_out = mask;
    if (tmp == NULL || slots == NULL || refs == NULL) {
        free(tmp);
        return -ENOMEM;
    }
    /* Count per slot first, then place refs contiguously per key. */
    for (uint32_t i = 0; i < p->n_nets; i++)
        for (uint32_t j = 0; j < p->nets[i].n_endpoints; j++) {
            const char *key = key_of(&p->nets[i].endpoints[j]);
            size_t s;
            if (key == NULL)
                continue;
            s = hash_str(key) & mask;
            while (slots[s].host_lc != NULL && strcmp(slots[s].host_lc, key) != 0)
                s = (s + 1) & mask;
            slots[s].host_lc = key;
            slots[s].count++;
            tmp[k].net = i;
            tmp[k].ep = j;
            k++;
        }
    for (size_t s = 0; s <= mask; s++) {
        slots[s].first = next;
        next += slots[s].count;
        slots[s].count = 0;
    }
    for (size_t i = 0; i < k; i++) {
        const char *key = key_of(&p->nets[tmp[i].net].endpoints[tmp[i].ep]);
        size_t s = hash_str(key) & mask;
        while (strcmp(slots[s].host_lc, key) != 0)
            s = (s + 1) & mask;
        refs[slots[s].first + slots[s].count++] = tmp[i];
    }
    free(tmp);
    return 0;
}

/*
 * The literal part of a wildcard host after its first label.  Validation
 * confines '*' to the first label; a suffix that still holds a glob
 * metacharacter ('?', '[', '{', '\\') is not a plain literal and is left to
 * the per-port list, where the full glob decides.
 */
static const char *
literal_suffix(const char *host_lc)
{
    const char *dot = strchr(host_lc, '.');

    if (dot == NULL || dot[1] == '\0' || strpbrk(dot + 1, "?[]{}\\*") != NULL)
        return NULL;
    return dot + 1;
}

/* Builds port -> wildcard/hostless endpoints listing that port. */
static int
build_port_index(struct osh_policy *p, size_t n_port_refs)
{
    struct pol_epref *refs = NULL;
    uint16_t *ports = NULL;
    size_t k = 0;
    int rc = -ENOMEM;

    p->port_mask = pow2_at_least(n_port_refs) - 1;
    p->port_slots = calloc(p->port_mask + 1, sizeof(*p->port_slots));
    p->port_refs = calloc(n_port_refs + 1, sizeof(*p->port_refs));
    refs = calloc(n_port_refs + 1, sizeof(*refs));
    ports = calloc(n_port_refs + 1, sizeof(*ports));
    if (p->port_slots == NULL || p->port_refs == NULL || refs == NULL || ports == NULL)
        goto out;
    for (uint32_t i = 0; i < p->n_nets; i++)
        for (uint32_t j = 0; j < p->nets[i].n_endpoints; j++) {
            const struct pol_endpoint *ep = &p->nets[i].endpoints[j];
            bool hostless = ep->host_lc == NULL && ep->n_allowed_ips > 0;
            bool complex_wild = ep->host_glob != NULL && ep->host_suffix == NULL;
            if (!complex_wild && !hostless)
                continue;
            for (size_t q = 0; q < ep->n_ports; q++) {
                size_t s = ep->ports[q] & p->port_mask;
                while (p->port_slots[s].port_plus1 != 0 &&
                       p->port_slots[s].port_plus1 != (uint32_t)ep->ports[q] + 1)
                    s = (s + 1) & p->port_mask;
                p->port_slots[s].port_plus1 = (uint32_t)ep->ports[q] + 1;
                p->port_slots[s].count++;
                refs[k].net = i;
                refs[k].ep = j;
                ports[k] = ep->ports[q];
                k++;
            }
        }
    {
        uint32_t next = 0;
        for (size_t s = 0; s <= p->port_mask; s++) {
            p->port_slots[s].first = next;
            next += p->port_slots[s].count;
            p->port_slots[s].count = 0;
        }
    }
    for (size_t i = 0; i < k; i++) {
        size_t s = ports[i] & p->port_mask;
        while (p->port_slots[s].port_plus1 != (uint32_t)ports[i] + 1)
            s = (s + 1) & p->port_mask;
        p->port_refs[p->port_slots[s].first + p->port_slots[s].count++] = refs[i];
    }
    /* A duplicate port in one endpoint's list would list it twice: sort
     * each bucket and drop repeats so evaluation sees each endpoint once. */
    for (size_t s = 0; s <= p->port_mask; s++) {
        struct pol_port_slot *sl = &p->port_slots[s];
        struct pol_epref *b = &p->port_refs[sl->first];
        uint32_t w = 0;
        if (sl->count == 0)
            continue;
        qsort(b, sl->count, sizeof(*b), ref_cmp);
        for (uint32_t r = 0; r < sl->count; r++)
            if (w == 0 || ref_cmp(&b[w - 1], &b[r]) != 0)
                b[w++] = b[r];
        sl->count = w;
    }
    rc = 0;
out:
    free(refs);
    free(ports);
    return rc;
}

int
pol_compile(struct osh_policy *p)
{
    size_t n_exact = 0, n_wild = 0, n_port_refs = 0;
    int rc;

    if (p->run_as_user == NULL || p->run_as_user[0] == '\0') {
        free(p->run_as_user);
        if ((p->run_as_user = strdup("sandbox")) == NULL)
            return -ENOMEM;
    }
    if (p->run_as_group == NULL || p->run_as_group[0] == '\0') {
        free(p->run_as_group);
        if ((p->run_as_group = strdup("sandbox")) == NULL)
            return -ENOMEM;
    }
    rc = compute_hash(p);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < p->n_nets; i++) {
        for (size_t j = 0; j < p->nets[i].n_endpoints; j++) {
            struct pol_endpoint *ep = &p->nets[i].endpoints[j];
            const char *proto = ep->protocol ? ep->protocol : "";
            if ((rc = expand_preset(ep)) < 0)
                return rc;
            if (ep->host != NULL && ep->host[0] != '\0') {
                if ((ep->host_lc = strdup(ep->host)) == NULL)
                    return -ENOMEM;
                for (char *c = ep->host_lc; *c; c++)
                    if (*c >= 'A' && *c <= 'Z')
                        *c = (char)(*c - 'A' + 'a');
            }
            ep->proto = strcmp(proto, "rest") == 0        ? OSH_L7_REST
                        : strcmp(proto, "websocket") == 0 ? OSH_L7_WEBSOCKET
                        : strcmp(proto, "graphql") == 0   ? OSH_L7_GRAPHQL
                        : strcmp(proto, "sql") == 0       ? OSH_L7_SQL
                                                          : OSH_L7_NONE;
            ep->enforce = ep->enforcement != NULL && strcmp(ep->enforcement, "enforce") == 0;
            ep->extended = ep->protocol_present || ep->n_allowed_ips > 0 || ep->tls_present;
            if (ep->host_glob != NULL)
                ep->host_suffix = literal_suffix(ep->host_lc);
            if (ep->host_lc != NULL && ep->host_glob == NULL)
                n_exact++;
            else if (ep->host_suffix != NULL)
                n_wild++;
            else if (ep->host_glob != NULL || ep->n_allowed_ips > 0)
                n_port_refs += ep->n_ports;
        }
    }
    if ((rc = build_string_index(p, n_exact, exact_key, &p->host_slots, &p->host_mask,
                                 &p->exact_refs)) < 0 ||
        (rc = build_string_index(p, n_wild, wild_key, &p->wild_slots, &p->wild_mask,
                                 &p->wild_refs)) < 0)
        return rc;
    return build_port_index(p, n_port_refs);
}
