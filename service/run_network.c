/*
 * run_network.c - `--mode=network`: the egress proxy alone (no namespace,
 * no workload), as the network sidecar of the split topology runs it.
 *
 * The orchestrator owns what outlives the proxy: the policy store, the
 * event rings and their aggregator.  Signals arrive on a signalfd in this
 * thread only (blocked everywhere else before any thread starts):
 *   SIGHUP          reload --policy-data: parse, validate, compile, then
 *                   publish; a broken file keeps the last good generation;
 *   SIGTERM/SIGINT  stop accepting, drain, exit 0.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "aggregator.h"
#include "osh/events.h"
#include "osh/log.h"
#include "osh/network/proxy.h"
#include "osh/policy.h"
#include "osh/policy_store.h"
#include "osh/ring.h"
#include "run.h"

/* The aggregator drains every 20 ms; these absorb bursts far above that
 * (a denial event is 3 KiB, so the denial ring stays under 1 MiB). */
#define DENIAL_RING 256
#define ACTIVITY_RING 4096

static void
log_diags(const struct osh_diags *d, enum osh_log_level level)
{
    for (size_t i = 0; i < d->len; i++) {
        const struct osh_diag *e = &d->items[i];
        osh_logf(e->warning ? OSH_LOG_WARN : level, "policy", "%s:%u:%u: %s: %s%s", e->file,
                 e->line, e->col, e->path, e->warning ? "warning: " : "", e->msg);
    }
}

/* Loads the startup policy.  No file means the restrictive default. */
static struct osh_policy *
load_initial(const struct options *o)
{
    struct osh_diags d = {0};
    struct osh_policy *p;

    if (o->policy_data == NULL) {
        osh_logf(OSH_LOG_WARN, "policy",
                 "no --policy-data: using the restrictive default (all egress denied)");
        return osh_policy_restrictive_default();
    }
    p = osh_policy_load_file(o->policy_data, OSH_POLICY_FORMAT_AUTO, &d);
    log_diags(&d, OSH_LOG_ERROR);
    if (p == NULL)
        osh_logf(OSH_LOG_ERROR, "policy", "%s is not a valid policy; refusing to start",
                 o->policy_data);
    osh_diags_clear(&d);
    return p;
}

static void
reload(const struct options *o, struct osh_policy_store *store)
{
    struct osh_diags d = {0};
    struct osh_policy *p;
    uint64_t gen;

    if (o->policy_data == NULL) {
        osh_logf(OSH_LOG_WARN, "policy", "SIGHUP: no --policy-data to reload");
        return;
    }
    p = osh_policy_load_file(o->policy_data, OSH_POLICY_FORMAT_AUTO, &d);
    if (p == NULL) {
        log_diags(&d, OSH_LOG_ERROR);
        osh_logf(OSH_LOG_ERROR, "policy",
                 "reload of %s failed; keeping generation %llu (last known good)",
                 o->policy_data, (unsigned long long)osh_policy_store_generation(store));
        osh_diags_clear(&d);
        return;
    }
    log_diags(&d, OSH_LOG_WARN);
    osh_diags_clear(&d);
    {
        char hash[65];
        snprintf(hash, sizeof(hash), "%s", osh_policy_hash(p));
        gen = osh_policy_store_publish(store, p);
        osh_logf(OSH_LOG_WARN, "policy", "reloaded %s: generation %llu, sha256 %s",
                 o->policy_data, (unsigned long long)gen, hash);
    }
}

int
run_network(const struct options *o)
{
    struct osh_policy *initial;
    struct osh_policy_store *store = NULL;
    struct osh_ring *denials = NULL, *activity = NULL;
    struct aggregator *agg = NULL;
    struct osh_proxy *proxy = NULL;
    struct osh_proxy_config cfg = {0};
    sigset_t sigs;
    int sfd = -1, rc = 1;
    char err[512];

    /* Before any thread exists: these signals are for this thread only. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0 ||
        (sfd = signalfd(-1, &sigs, SFD_CLOEXEC)) < 0) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "signalfd: %s", strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    /* One malloc arena per worker thread costs megabytes of RSS for no
     * gain here: the data path barely allocates. */
    mallopt(M_ARENA_MAX, 2);

    initial = load_initial(o);
    if (initial == NULL)
        goto out;
    store = osh_policy_store_new(initial);
    denials = osh_ring_new(DENIAL_RING, sizeof(struct osh_denial_event));
    activity = osh_ring_new(ACTIVITY_RING, sizeof(struct osh_activity_event));
    if (store == NULL || denials == NULL || activity == NULL) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "out of memory");
        goto out;
    }
    agg = aggregator_start(denials, activity);
    if (agg == NULL) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "cannot start the event aggregator");
        goto out;
    }
    cfg.listen = o->proxy_listen ? o->proxy_listen : "127.0.0.1:3128";
    cfg.workers = o->workers;
    cfg.max_conns = o->max_conns;
    cfg.header_timeout_ms = o->header_timeout_ms;
    cfg.idle_timeout_ms = o->idle_timeout_ms;
    cfg.policy = store;
    cfg.denials = denials;
    cfg.activity = activity;
    cfg.client_netns_fd = -1;
    cfg.log_level = o->log_level;
    proxy = osh_proxy_new(&cfg, err, sizeof(err));
    if (proxy == NULL) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "%s", err);
        goto out;
    }
    if (osh_proxy_start(proxy) < 0) {
        osh_logf(OSH_LOG_ERROR, "supervisor", "cannot start the proxy threads");
        goto out;
    }
    for (;;) {
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(si)) {
            osh_logf(OSH_LOG_ERROR, "supervisor", "signalfd read: %s", strerror(errno));
            break;
        }
        if (si.ssi_signo == SIGHUP) {
            reload(o, store);
            continue;
        }
        osh_logf(OSH_LOG_WARN, "supervisor", "signal %u: stopping (draining connections)",
                 si.ssi_signo);
        rc = 0;
        break;
    }
out:
    if (proxy != NULL) {
        struct osh_proxy_stats st;
        osh_proxy_stop(proxy);
        osh_proxy_get_stats(proxy, &st);
        osh_logf(OSH_LOG_WARN, "proxy",
                 "stopped: %llu connections, %llu requests, %llu denied, %llu accept errors",
                 (unsigned long long)st.accepted, (unsigned long long)st.requests,
                 (unsigned long long)st.denied, (unsigned long long)st.accept_errors);
        osh_proxy_free(proxy);
    }
    aggregator_stop(agg);
    osh_ring_free(denials);
    osh_ring_free(activity);
    osh_policy_store_free(store);
    if (sfd >= 0)
        close(sfd);
    return rc;
}
