/*
 * policy.h - OpenShell sandbox policy: load, validate, compile, decide.
 *
 * Lifecycle: osh_policy_load_file() / osh_policy_load_buffer() parse a YAML
 * or JSON policy, validate it completely (unknown keys, ports, globs, the L7
 * validator of policy.md §1.6, the safety rules of §1.8) and compile it into
 * one immutable *generation*.  A generation is reference counted
 * (osh_policy_ref / osh_policy_unref) and, once returned, is only read: any
 * number of threads may call the osh_policy_eval_* functions on it at the same
 * time with no lock.
 *
 * A policy that has any error is rejected whole: the loaders return NULL and
 * every error is appended to the caller's struct osh_diags (FILE:LINE:COL,
 * field path, message).  Warnings are appended too, but do not reject.
 *
 * Decisions follow policy.md exactly, reason strings included:
 *   - osh_policy_eval_l4(): CONNECT host:port by a binary (§2);
 *   - osh_policy_eval_l7(): one HTTP request inside an allowed tunnel (§3).
 */
#ifndef OSH_POLICY_H
#define OSH_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osh/diag.h"

struct osh_policy;
struct osh_query;

enum osh_policy_format {
    OSH_POLICY_FORMAT_AUTO = 0, /* by file name (.json) or first byte ('{') */
    OSH_POLICY_FORMAT_YAML,
    OSH_POLICY_FORMAT_JSON,
};

/* Policy files larger than this are refused before parsing.  The gateway
 * caps a policy at 256 KiB on the wire; files get room for 10,000 rules. */
#define OSH_POLICY_MAX_BYTES (4u * 1024u * 1024u)

/*
 * Loads and compiles the policy in `path`.  Returns a generation with one
 * reference, or NULL with errno set (EINVAL: the policy is invalid, details in
 * `d`; ENOMEM; or the errno of opening/reading the file, also reported in `d`).
 * `d` may be NULL.  Any thread.
 */
struct osh_policy *osh_policy_load_file(const char *path, enum osh_policy_format fmt,
                                        struct osh_diags *d);

/*
 * As osh_policy_load_file() on an in-memory buffer (need not be NUL
 * terminated).  `name` is used as FILE in diagnostics; it is copied.
 */
struct osh_policy *osh_policy_load_buffer(const char *name, const char *buf, size_t len,
                                          enum osh_policy_format fmt, struct osh_diags *d);

/* The restrictive default policy of policy.md §1.9 (never fails but ENOMEM). */
struct osh_policy *osh_policy_restrictive_default(void);

/* Reference counting; both are safe from any thread.  unref(NULL) is a no-op. */
struct osh_policy *osh_policy_ref(struct osh_policy *p);
void osh_policy_unref(struct osh_policy *p);

/* Lowercase hex SHA-256 of the policy's canonical form (64 chars + NUL);
 * borrowed for the life of the generation.  Equal policies, however written
 * (YAML or JSON, key order, port vs ports), have equal hashes. */
const char *osh_policy_hash(const struct osh_policy *p);

/* Number of network policies (keys under network_policies). */
size_t osh_policy_network_count(const struct osh_policy *p);

/* ---- static sections (applied once at sandbox start) ------------------ */

struct osh_policy_static {
    bool include_workdir;
    const char *const *read_only; /* normalized absolute paths */
    size_t n_read_only;
    const char *const *read_write;
    size_t n_read_write;
    bool landlock_hard_requirement; /* "hard_requirement"; anything else: best effort */
    const char *run_as_user;        /* never empty: defaults to "sandbox" */
    const char *run_as_group;
};

/* Fills `out` with pointers borrowed from the generation. */
void osh_policy_get_static(const struct osh_policy *p, struct osh_policy_static *out);

/* ---- L4 ------------------------------------------------------------------ */

struct osh_l4_request {
    const char *host; /* as the client sent it; the evaluator lowercases */
    uint16_t port;
    const char *binary; /* /proc/PID/exe target; NULL or "" if unknown */
    const char *const *ancestors;
    size_t n_ancestors;
    const char *const *cmdline_paths; /* only ever used in deny reasons */
    size_t n_cmdline_paths;
};

enum osh_decision {
    OSH_DECISION_DENY = 0,
    OSH_DECISION_ALLOW,
    OSH_DECISION_AUDIT, /* L7 only: not permitted, forwarded (enforcement != enforce) */
};

/* The endpoint configuration that applies after an allow (§2.6). */
enum osh_l7_protocol {
    OSH_L7_NONE = 0,
    OSH_L7_REST,
    OSH_L7_WEBSOCKET,
    OSH_L7_GRAPHQL,
    OSH_L7_SQL,
};

struct osh_decision_result {
    enum osh_decision decision;
    /* Smallest matching network_policies key; borrowed from the generation;
     * NULL when denied at L4. */
    const char *matched_policy;
    /* Reason text (policy.md) of a deny or audit; NULL when allowed (the
     * allow path allocates nothing).  Owned: osh_decision_result_clear(). */
    char *reason;
    /* After an L4 allow: whether an L7 route set exists, whether `tls: skip`,
     * whether the destination is an exact declared host (§2.6), and the
     * allowed_ips of the first matching endpoint with extended config
     * (borrowed, may be empty). */
    bool l7_inspect;
    bool tls_skip;
    bool exact_declared_host;
    bool allow_encoded_slash; /* OR over the L7 route set (§3.2) */
    const char *const *allowed_ips;
    size_t n_allowed_ips;
};

/*
 * The L4 decision for `req` against generation `p` (policy.md §2.2-§2.6).
 * Returns 0 and fills `out` (always initialised, also on error), or -ENOMEM,
 * or -EINVAL for an invalid request (NULL host).  An evaluation error (e.g.
 * a NUL byte that a glob cannot match) fails closed: deny, with the error in
 * the reason.  Allocates only for a deny reason.  Any thread, no lock.
 */
int osh_policy_eval_l4(const struct osh_policy *p, const struct osh_l4_request *req,
                       struct osh_decision_result *out);

struct osh_l7_request {
    const char *method; /* request-line token as sent (case preserved) */
    const char *path;   /* canonical path (osh_path_canonicalize), no query */
    const struct osh_query *query; /* parsed query multimap; NULL = none */
};

/*
 * The L7 decision for one request on a tunnel whose identity is `l4`
 * (policy.md §3.3, §3.6, §3.7, §3.9).  First re-runs the L4 decision; an L4
 * deny is returned as is.  With no L7 route set the request is allowed (no
 * inspection).  Otherwise the route is selected by path, the rules are
 * evaluated across every L4-matching policy (deny rules veto), and a request
 * that is not permitted is DENY under `enforcement: enforce`, AUDIT otherwise.
 * Returns as osh_policy_eval_l4().  Any thread, no lock.
 */
int osh_policy_eval_l7(const struct osh_policy *p, const struct osh_l4_request *l4,
                       const struct osh_l7_request *req, struct osh_decision_result *out);

/* Frees the owned parts of `r` and resets it; safe on a zeroed struct. */
void osh_decision_result_clear(struct osh_decision_result *r);

#endif /* OSH_POLICY_H */
