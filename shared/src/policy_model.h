/*
 * policy_model.h - the in-memory policy model (private to shared/src).
 *
 * policy_load.c fills it from a document tree, policy_validate.c checks it,
 * policy_compile.c adds the matchers and indexes, policy_eval.c reads it.
 * After osh_policy_load_* returns, nothing in here is written again: the
 * struct is one immutable generation shared by every thread.
 */
#ifndef OSH_POLICY_MODEL_H
#define OSH_POLICY_MODEL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osh/diag.h"
#include "osh/glob.h"
#include "osh/policy.h"

struct pol_pos {
    unsigned line, col;
};

struct pol_query_matcher {
    char *key;
    bool is_any;  /* {any: [...]} ; otherwise one glob */
    char **globs; /* one entry unless is_any */
    size_t n_globs;
    struct osh_glob **compiled; /* delim '.' */
};

struct pol_l7_rule {
    struct pol_pos pos;
    char *method;
    char *path;
    char *command;
    struct pol_query_matcher *query;
    size_t n_query;
    bool has_query;
    char *operation_type;
    char *operation_name;
    char **fields;
    size_t n_fields;
    bool has_fields;
    /* compiled */
    struct osh_glob *path_glob; /* NULL when path is NULL or "**" */
    struct osh_glob *operation_name_glob;
    struct osh_glob **field_globs;
};

struct pol_persisted_query {
    char *id;
    char *operation_type;
    char *operation_name;
    char **fields;
    size_t n_fields;
};

struct pol_endpoint {
    struct pol_pos pos;
    char *host; /* NULL when absent */
    uint16_t *ports; /* normalized: ports wins over port */
    size_t n_ports;
    char *path; /* endpoint path scope, NULL when absent */
    char *protocol;
    bool protocol_present;
    char *tls;
    bool tls_present;
    char *enforcement;
    char *access;
    struct pol_l7_rule *rules;
    size_t n_rules;
    bool rules_present;
    struct pol_l7_rule *deny_rules;
    size_t n_deny_rules;
    bool deny_rules_present;
    char **allowed_ips;
    size_t n_allowed_ips;
    bool allow_encoded_slash;
    char *persisted_queries;
    struct pol_persisted_query *pq;
    size_t n_pq;
    bool graphql_max_body_bytes_present;
    uint32_t graphql_max_body_bytes;
    bool websocket_credential_rewrite;
    bool request_body_credential_rewrite;
    bool advisor_proposed; /* only settable through the proto; never YAML */
    /* compiled */
    char *host_lc;              /* lowercased host, NULL when hostless */
    struct osh_glob *host_glob; /* when the host contains '*' */
    const char *host_suffix;    /* wildcard host: the literal labels after the first
                                 * (points into host_lc); NULL when not indexable */
    enum osh_l7_protocol proto; /* OSH_L7_NONE when no valid protocol */
    bool enforce;
    bool extended; /* protocol present, allowed_ips non-empty, or tls present */
    struct osh_glob *path_glob; /* endpoint path scope; NULL: all paths */
};

struct pol_binary {
    struct pol_pos pos;
    char *path;
    bool advisor_proposed; /* proto `harness` reuse; never set from YAML */
    struct osh_glob *glob; /* when path contains '*' */
};

struct pol_network {
    struct pol_pos pos;
    char *key;
    char *name;
    struct pol_endpoint *endpoints;
    size_t n_endpoints;
    struct pol_binary *binaries;
    size_t n_binaries;
};

/* One (policy, endpoint) pair in an index bucket. */
struct pol_epref {
    uint32_t net;
    uint32_t ep;
};

struct pol_host_slot {
    const char *host_lc; /* NULL: empty slot */
    uint32_t first;      /* index into exact_refs */
    uint32_t count;
};

struct pol_port_slot {
    uint32_t port_plus1; /* 0: empty slot */
    uint32_t first;      /* index into port_refs (hostless endpoints, and wildcard
                          * hosts whose suffix is not a plain literal) */
    uint32_t count;
};

struct osh_policy {
    atomic_uint refs;
    uint32_t version;
    bool fs_present;
    bool include_workdir;
    char **read_only;
    size_t n_read_only;
    char **read_write;
    size_t n_read_write;
    char *landlock_compat;
    char *run_as_user;
    char *run_as_group;
    struct pol_network *nets; /* sorted by key */
    size_t n_nets;
    char hash[65];
    /* compiled indexes */
    struct pol_host_slot *host_slots; /* exact hosts; open addressing, power of two */
    size_t host_mask;
    struct pol_epref *exact_refs;
    struct pol_host_slot *wild_slots; /* wildcard hosts by literal suffix */
    size_t wild_mask;
    struct pol_epref *wild_refs;
    struct pol_port_slot *port_slots;
    size_t port_mask;
    struct pol_epref *port_refs;
};

/* policy_load.c: document tree -> model; false on any error (in `d`). */
struct doc_node;
bool pol_load_tree(struct osh_policy *p, const struct doc_node *root, const char *file,
                   bool json, struct osh_diags *d);

/* policy_validate.c: L7 validation, safety rules, glob compilation. */
bool pol_validate(struct osh_policy *p, const char *file, struct osh_diags *d);

/* policy_compile.c: presets, indexes, hash.  -ENOMEM on failure. */
int pol_compile(struct osh_policy *p);

/* policy_free.c */
void pol_free(struct osh_policy *p);

/* Whether endpoint `ep` matches host_lc:port (policy.md §2.2). */
bool pol_endpoint_matches(const struct pol_endpoint *ep, const char *host_lc, size_t host_len,
                          uint16_t port);

/* Shared string helpers (policy_util.c). */
char *pol_normalize_path(const char *p);

#endif /* OSH_POLICY_MODEL_H */
