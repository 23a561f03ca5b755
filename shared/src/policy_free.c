/*
 * policy_free.c - releases a model/generation and everything it owns.
 */
#include <stdlib.h>

#include "policy_model.h"

static void
free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static void
free_rule(struct pol_l7_rule *r)
{
    free(r->method);
    free(r->path);
    free(r->command);
    for (size_t i = 0; i < r->n_query; i++) {
        struct pol_query_matcher *m = &r->query[i];
        for (size_t j = 0; m->compiled && j < m->n_globs; j++)
            osh_glob_free(m->compiled[j]);
        free(m->compiled);
        free_strv(m->globs, m->n_globs);
        free(m->key);
    }
    free(r->query);
    free(r->operation_type);
    free(r->operation_name);
    for (size_t i = 0; r->field_globs && i < r->n_fields; i++)
        osh_glob_free(r->field_globs[i]);
    free(r->field_globs);
    free_strv(r->fields, r->n_fields);
    osh_glob_free(r->path_glob);
    osh_glob_free(r->operation_name_glob);
}

static void
free_endpoint(struct pol_endpoint *ep)
{
    free(ep->host);
    free(ep->host_lc);
    free(ep->ports);
    free(ep->path);
    free(ep->protocol);
    free(ep->tls);
    free(ep->enforcement);
    free(ep->access);
    for (size_t i = 0; i < ep->n_rules; i++)
        free_rule(&ep->rules[i]);
    free(ep->rules);
    for (size_t i = 0; i < ep->n_deny_rules; i++)
        free_rule(&ep->deny_rules[i]);
    free(ep->deny_rules);
    free_strv(ep->allowed_ips, ep->n_allowed_ips);
    free(ep->persisted_queries);
    for (size_t i = 0; i < ep->n_pq; i++) {
        free(ep->pq[i].id);
        free(ep->pq[i].operation_type);
        free(ep->pq[i].operation_name);
        free_strv(ep->pq[i].fields, ep->pq[i].n_fields);
    }
    free(ep->pq);
    osh_glob_free(ep->host_glob);
    osh_glob_free(ep->path_glob);
}

void
pol_free(struct osh_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_nets; i++) {
        struct pol_network *n = &p->nets[i];
        for (size_t j = 0; j < n->n_endpoints; j++)
            free_endpoint(&n->endpoints[j]);
        free(n->endpoints);
        for (size_t j = 0; j < n->n_binaries; j++) {
            free(n->binaries[j].path);
            osh_glob_free(n->binaries[j].glob);
        }
        free(n->binaries);
        free(n->key);
        free(n->name);
    }
    free(p->nets);
    free_strv(p->read_only, p->n_read_only);
    free_strv(p->read_write, p->n_read_write);
    free(p->landlock_compat);
    free(p->run_as_user);
    free(p->run_as_group);
    free(p->host_slots);
    free(p->exact_refs);
    free(p->wild_slots);
    free(p->wild_refs);
    free(p->port_slots);
    free(p->port_refs);
    free(p);
}
