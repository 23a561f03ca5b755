/*
 * proxy.h - the egress proxy: HTTP CONNECT and forward HTTP on a fixed pool
 * of epoll workers, deciding every connection with the active policy
 * generation, the caller's binary identity and the SSRF tiers.
 *
 * Lifecycle: osh_proxy_new() (binds the listener, nothing runs yet) ->
 * osh_proxy_start() (spawns the workers and the decision pool) ->
 * osh_proxy_stop() (stops accepting, drains open connections for up to
 * drain_ms, joins every thread) -> osh_proxy_free().
 * new/start/stop/free are called from one thread (the orchestrator's).
 *
 * Ownership: the policy store and the rings are borrowed and must outlive
 * the proxy; the proxy only produces events into them.
 */
#ifndef OSH_NETWORK_PROXY_H
#define OSH_NETWORK_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "osh/log.h"
#include "osh/policy_store.h"
#include "osh/ring.h"

struct osh_proxy;

struct osh_proxy_config {
    const char *listen;         /* "IP:PORT" (IPv6 as "[::1]:3128") */
    unsigned workers;           /* epoll workers; 0 = online CPUs */
    unsigned deciders;          /* blocking-work threads (identity, DNS); 0 = 4 */
    unsigned max_conns;         /* open client connections; 0 = 4096 */
    unsigned header_timeout_ms; /* request head must arrive within; 0 = 10000 */
    unsigned connect_timeout_ms; /* upstream connect; 0 = 10000 */
    unsigned idle_timeout_ms;   /* no bytes either way; 0 = 300000 */
    unsigned drain_ms;          /* osh_proxy_stop() grace; 0 = 5000 */
    struct osh_policy_store *policy; /* required */
    struct osh_ring *denials;   /* struct osh_denial_event; may be NULL */
    struct osh_ring *activity;  /* struct osh_activity_event; may be NULL */
    int client_netns_fd;        /* netns of the clients for identity; -1 = ours */
    pid_t entrypoint_pid;       /* 0 = none (standalone proxy) */
    enum osh_log_level log_level;
};

/* Counters, read with relaxed loads (monotonic except `open`). */
struct osh_proxy_stats {
    uint64_t accepted;
    uint64_t open;
    uint64_t requests;
    uint64_t denied;
    uint64_t accept_errors;
    uint64_t refused_over_limit;
};

/* Binds the listener.  NULL with a message in `err` on failure. */
struct osh_proxy *osh_proxy_new(const struct osh_proxy_config *cfg, char *err, size_t errlen);

/* The bound address as "IP:PORT" (useful with port 0). */
const char *osh_proxy_address(const struct osh_proxy *p);

/* Starts the threads.  0 or -errno. */
int osh_proxy_start(struct osh_proxy *p);

/* Publishes the entrypoint pid once the workload runs (identity uses it). */
void osh_proxy_set_entrypoint(struct osh_proxy *p, pid_t pid);

/* Stops accepting, drains, joins.  Idempotent. */
void osh_proxy_stop(struct osh_proxy *p);

void osh_proxy_free(struct osh_proxy *p);

void osh_proxy_get_stats(const struct osh_proxy *p, struct osh_proxy_stats *out);

#endif /* OSH_NETWORK_PROXY_H */
