/*
 * proxy.c - lifecycle of the egress proxy: the listener, the fixed pool of
 * epoll workers, accept with classified errors and backoff, timeouts, and a
 * draining shutdown.
 *
 * DESIGN: one listening socket, registered in every worker's epoll with
 * EPOLLEXCLUSIVE so that one connection wakes one worker, which accepts it
 * and owns it for its whole life.  Nothing blocks a worker: identity and DNS
 * go to the decision pool (proxy_pool.c).  Timeouts are swept every
 * SWEEP_MS from each worker's own list, so no timer structure is shared.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "osh/log.h"
#include "proxy_int.h"

#define SWEEP_MS 250
#define MAX_EVENTS 128
#define RELAY_BUDGET 16

uint64_t
proxy_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
worker_arm(struct worker *w, int fd, struct ev_tag *tag, uint32_t events, bool add)
{
    struct epoll_event ev = {.events = events, .data.ptr = tag};

    /* Either way round works: an fd may move between a connection and the
     * idle pool, registered or not. */
    if (epoll_ctl(w->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) == 0)
        return;
    if (errno == EEXIST || errno == ENOENT)
        epoll_ctl(w->epfd, errno == EEXIST ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
}

/* ---- address parsing ------------------------------------------------- */

static int
parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[64];
    const char *colon;
    char *end;
    long port;
    size_t hl;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return -EINVAL;
        hl = (size_t)(rb - s - 1);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, hl);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return -EINVAL;
        hl = (size_t)(colon - s);
        if (hl >= sizeof(host))
            return -EINVAL;
        memcpy(host, s, hl);
    }
    host[hl] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
        return -EINVAL;
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        *len = sizeof(struct sockaddr_in);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
        *len = sizeof(struct sockaddr_in6);
        return 0;
    }
    return -EINVAL;
}

static void
format_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(a->sin6_port));
    }
}

/*
 * The host-gateway alias is trusted only when our own /etc/hosts maps
 * host.openshell.internal to a link-local address that is not the metadata
 * IP (network.md §3.5).
 */
static void
detect_trusted_gateway(struct proxy *px)
{
    FILE *f = fopen("/etc/hosts", "re");
    char line[512];

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char *save = NULL, *ip, *name;
        struct in_addr a4;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        ip = strtok_r(line, " \t\r\n", &save);
        if (ip == NULL || inet_pton(AF_INET, ip, &a4) != 1)
            continue;
        while ((name = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
            uint32_t h = ntohl(a4.s_addr);
            if (strcasecmp(name, "host.openshell.internal") != 0)
                continue;
            if ((h >> 16) == 0xa9fe && h != 0xa9fea9fe && px->trusted_gateway.ss_family == 0) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&px->trusted_gateway;
                sin->sin_family = AF_INET;
                sin->sin_addr = a4;
            }
        }
    }
    fclose(f);
}

/* ---- workers ----------------------------------------------------------- */

static void
listener_add(struct worker *w)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->listener_tag};

    if (!w->listening && epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->px->lfd, &ev) == 0)
        w->listening = true;
}

static void
listener_remove(struct worker *w)
{
    if (w->listening && epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->px->lfd, NULL) == 0)
        w->listening = false;
}

/*
 * Accept errors (network.md §1.3, the later upstream fix): resource pressure
 * backs off 100 ms x 2^(n-1) up to 5 s with the listener out of this
 * worker's epoll (so a full backlog cannot spin it); transient network
 * errors retry at once; EBADF/EINVAL/ENOTSOCK mean the listener is gone.
 */
static void
on_accept_error(struct worker *w, int err)
{
    struct proxy *px = w->px;
    uint64_t backoff;

    atomic_fetch_add_explicit(&px->st_accept_errors, 1, memory_order_relaxed);
    switch (err) {
    case EAGAIN:
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EOPNOTSUPP:
    case ETIMEDOUT:
        return;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    default:
        break;
    }
    if (err == EBADF || err == EINVAL || err == ENOTSOCK) {
        osh_logf(OSH_LOG_ERROR, "proxy", "listener failed: %s; no longer accepting",
                 strerror(err));
        listener_remove(w);
        w->accept_resume_ms = UINT64_MAX;
        return;
    }
    w->accept_failures++;
    backoff = 100ull << (w->accept_failures > 7 ? 6 : w->accept_failures - 1);
    if (backoff > 5000)
        backoff = 5000;
    listener_remove(w);
    w->accept_resume_ms = proxy_now_ms() + backoff;
    if (w->accept_failures == 1 || px->cfg.log_level >= OSH_LOG_DEBUG)
        osh_logf(OSH_LOG_WARN, "proxy", "accept: %s; backing off %llu ms", strerror(err),
                 (unsigned long long)backoff);
}

static void
on_listener(struct worker *w)
{
    struct proxy *px = w->px;

    for (int i = 0; i < 64; i++) {
        int fd = accept4(px->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN)
                on_accept_error(w, errno);
            return;
        }
        w->accept_failures = 0;
        atomic_fetch_add_explicit(&px->st_accepted, 1, memory_order_relaxed);
        if (atomic_load_explicit(&px->st_open, memory_order_relaxed) >= px->cfg.max_conns) {
            atomic_fetch_add_explicit(&px->st_refused, 1, memory_order_relaxed);
            (void)!write(fd, px->busy, px->busy_len);
            close(fd);
            continue;
        }
        conn_on_accept(w, fd);
    }
}

static void
drain_completions(struct worker *w)
{
    struct job *j;
    uint64_t v;

    (void)!read(w->wakefd, &v, sizeof(v));
    pthread_mutex_lock(&w->done_lock);
    j = w->done;
    w->done = NULL;
    pthread_mutex_unlock(&w->done_lock);
    while (j != NULL) {
        struct job *next = j->next;
        struct conn *c = j->c;
        free(j);
        c->job_out = false;
        if (c->dead)
            conn_free(c);
        else
            conn_on_decided(c);
        j = next;
    }
}

static void
sweep(struct worker *w, uint64_t now)
{
    struct conn *c = w->conns;
    uint64_t idle = w->px->cfg.idle_timeout_ms;

    while (c != NULL) {
        struct conn *next = c->next;
        bool expired = c->deadline_ms != 0 && now >= c->deadline_ms;
        if (!expired && !c->job_out && (c->state == CS_TUNNEL || c->state >= CS_FWD_REQUEST) &&
            now - c->last_io_ms >= idle)
            expired = true;
        if (expired && !c->job_out)
            conn_on_timeout(c);
        c = next;
    }
    forward_pool_sweep(w, now);
    /* Back to idle after a burst: hand the buffers of the connections that
     * are gone back to the system, so RSS follows load down. */
    if (w->n_conns == 0 && w->trim_pending) {
        malloc_trim(0);
        w->trim_pending = false;
    } else if (w->n_conns > 0) {
        w->trim_pending = true;
    }
    if (!w->listening && w->accept_resume_ms != UINT64_MAX && now >= w->accept_resume_ms &&
        !atomic_load(&w->px->stopping))
        listener_add(w);
}

/* Frees what was closed during the batch (see conn_free). */
static void
bury(struct worker *w)
{
    while (w->graveyard != NULL) {
        struct conn *c = w->graveyard;
        w->graveyard = c->next;
        free(c);
    }
    while (w->idle_graveyard != NULL) {
        struct idle_up *u = w->idle_graveyard;
        w->idle_graveyard = u->next;
        free(u);
    }
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct proxy *px = w->px;
    struct epoll_event evs[MAX_EVENTS];
    uint64_t next_sweep = proxy_now_ms() + SWEEP_MS, drain_until = 0;

    for (;;) {
        int timeout = w->ready ? 0 : SWEEP_MS;
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, timeout);
        uint64_t now;

        if (n < 0 && errno != EINTR) {
            osh_logf(OSH_LOG_ERROR, "proxy", "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct ev_tag *t = evs[i].data.ptr;
            switch (t->kind) {
            case EV_LISTENER:
                on_listener(w);
                break;
            case EV_WAKE:
                drain_completions(w);
                break;
            case EV_CONN_CLIENT:
                conn_on_event((struct conn *)((char *)t - offsetof(struct conn, client_tag)),
                              false, evs[i].events);
                break;
            case EV_CONN_UPSTREAM:
                conn_on_event((struct conn *)((char *)t - offsetof(struct conn, upstream_tag)),
                              true, evs[i].events);
                break;
            case EV_IDLE_UPSTREAM:
                forward_idle_event(w, (struct idle_up *)t);
                break;
            }
        }
        /* Relays that used up their budget continue here, after everyone
         * else had a turn. */
        if (w->ready != NULL) {
            struct conn *c = w->ready;
            w->ready = NULL;
            while (c != NULL) {
                struct conn *next = c->ready_next;
                c->ready_next = NULL;
                c->in_ready = false;
                conn_on_event(c, false, 0);
                c = next;
            }
        }
        bury(w);
        now = proxy_now_ms();
        if (now >= next_sweep) {
            sweep(w, now);
            next_sweep = now + SWEEP_MS;
        }
        if (atomic_load(&px->stopping)) {
            if (drain_until == 0) {
                listener_remove(w);
                w->accept_resume_ms = UINT64_MAX;
                drain_until = now + px->cfg.drain_ms;
            }
            if (w->n_conns == 0)
                break;
            if (now >= drain_until) {
                /* Grace is over: cut what is left.  Connections whose
                 * decision job is still out are only marked; they go when
                 * the job comes back (the pool outlives the workers). */
                for (struct conn *c = w->conns, *next; c != NULL; c = next) {
                    next = c->next;
                    if (!c->dead)
                        proxy_conn_close(c);
                }
            }
        }
    }
    bury(w);
    return NULL;
}

/* ---- public API ------------------------------------------------------ */

struct osh_proxy *
osh_proxy_new(const struct osh_proxy_config *cfg, char *err, size_t errlen)
{
    struct proxy *px = NULL;
    struct sockaddr_storage ss, bound;
    socklen_t sl, bl = sizeof(bound);
    struct rlimit rl;
    int one = 1;

    if (cfg->policy == NULL || cfg->listen == NULL) {
        snprintf(err, errlen, "proxy: policy store and listen address are required");
        return NULL;
    }
    px = calloc(1, sizeof(*px));
    if (px == NULL) {
        snprintf(err, errlen, "proxy: out of memory");
        return NULL;
    }
    px->lfd = -1;
    px->cfg = *cfg;
    if (px->cfg.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        px->cfg.workers = n > 0 ? (unsigned)n : 1;
    }
    if (px->cfg.deciders == 0)
        px->cfg.deciders = 4;
    if (px->cfg.max_conns == 0)
        px->cfg.max_conns = 4096;
    if (px->cfg.header_timeout_ms == 0)
        px->cfg.header_timeout_ms = 10000;
    if (px->cfg.connect_timeout_ms == 0)
        px->cfg.connect_timeout_ms = 10000;
    if (px->cfg.idle_timeout_ms == 0)
        px->cfg.idle_timeout_ms = 300000;
    if (px->cfg.drain_ms == 0)
        px->cfg.drain_ms = 5000;
    px->cfg.listen = NULL; /* not kept: the caller's string */

    /* A tunnel holds 2 sockets + 2 pipes: raise the soft fd limit. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (parse_listen(cfg->listen, &ss, &sl) < 0) {
        snprintf(err, errlen, "proxy: invalid listen address '%s' (expected IP:PORT)",
                 cfg->listen);
        goto fail;
    }
    px->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (px->lfd < 0 || setsockopt(px->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(px->lfd, (struct sockaddr *)&ss, sl) < 0 || listen(px->lfd, 4096) < 0 ||
        getsockname(px->lfd, (struct sockaddr *)&bound, &bl) < 0) {
        snprintf(err, errlen, "proxy: cannot listen on %s: %s", cfg->listen, strerror(errno));
        goto fail;
    }
    format_addr(&bound, px->address, sizeof(px->address));
    px->tofu = osh_tofu_cache_new(4096);
    px->identity = px->tofu ? osh_identity_new(cfg->client_netns_fd, cfg->entrypoint_pid,
                                               px->tofu)
                            : NULL;
    if (px->identity == NULL && errno == ENOTRECOVERABLE) {
        /* This thread could not return from the client namespace: every
         * later connect() of ours would go there.  Nothing safe is left. */
        osh_logf(OSH_LOG_ERROR, "proxy", "identity setup left the thread in the client "
                                         "network namespace; aborting");
        abort();
    }
    if (px->identity == NULL) {
        snprintf(err, errlen, "proxy: identity setup failed: %s", strerror(errno));
        goto fail;
    }
    atomic_init(&px->entrypoint, (int)cfg->entrypoint_pid);
    /* The over-limit answer is written from the accept path, where nothing
     * may allocate: build it once, with the same helper as every answer. */
    if (respond_build(503, "too_many_connections", "proxy connection limit reached", &px->busy,
                      &px->busy_len) < 0) {
        snprintf(err, errlen, "proxy: out of memory");
        goto fail;
    }
    detect_trusted_gateway(px);
    pthread_mutex_init(&px->q_lock, NULL);
    pthread_cond_init(&px->q_cond, NULL);
    return (struct osh_proxy *)px;
fail:
    if (px->lfd >= 0)
        close(px->lfd);
    osh_identity_free(px->identity);
    osh_tofu_cache_free(px->tofu);
    free(px->busy);
    free(px);
    return NULL;
}

const char *
osh_proxy_address(const struct osh_proxy *p)
{
    return ((const struct proxy *)p)->address;
}

void
osh_proxy_set_entrypoint(struct osh_proxy *p, pid_t pid)
{
    struct proxy *px = (struct proxy *)p;
    atomic_store(&px->entrypoint, (int)pid);
    osh_identity_set_entrypoint(px->identity, pid);
}

int
osh_proxy_start(struct osh_proxy *p)
{
    struct proxy *px = (struct proxy *)p;
    int rc = 0;

    px->workers = calloc(px->cfg.workers, sizeof(*px->workers));
    px->deciders = calloc(px->cfg.deciders, sizeof(*px->deciders));
    if (px->workers == NULL || px->deciders == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < px->cfg.workers; i++) {
        struct worker *w = &px->workers[i];
        w->px = px;
        w->index = i;
        w->listener_tag.kind = EV_LISTENER;
        w->wake_tag.kind = EV_WAKE;
        pthread_mutex_init(&w->done_lock, NULL);
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->epfd < 0 || w->wakefd < 0) {
            rc = -errno;
            goto fail;
        }
        worker_arm(w, w->wakefd, &w->wake_tag, EPOLLIN, true);
        listener_add(w);
    }
    for (unsigned i = 0; i < px->cfg.deciders; i++) {
        if ((rc = -pthread_create(&px->deciders[i], NULL, pool_thread, px)) < 0)
            goto fail;
        px->n_deciders++;
    }
    for (unsigned i = 0; i < px->cfg.workers; i++) {
        if ((rc = -pthread_create(&px->workers[i].thread, NULL, worker_main,
                                  &px->workers[i])) < 0)
            goto fail;
        px->n_workers++;
    }
    px->started = true;
    if (px->cfg.log_level >= OSH_LOG_INFO)
        osh_logf(OSH_LOG_INFO, "proxy", "listening on %s with %u workers", px->address,
                 px->n_workers);
    return 0;
fail:
    osh_proxy_stop(p);
    return rc;
}

void
osh_proxy_stop(struct osh_proxy *p)
{
    struct proxy *px = (struct proxy *)p;

    if (px->workers == NULL || atomic_exchange(&px->stopping, true))
        return;
    /* Workers first stop accepting and drain; they may still submit
     * decisions while draining, so the pool stops after them. */
    for (unsigned i = 0; i < px->n_workers; i++) {
        uint64_t one = 1;
        (void)!write(px->workers[i].wakefd, &one, sizeof(one));
    }
    for (unsigned i = 0; i < px->n_workers; i++)
        pthread_join(px->workers[i].thread, NULL);
    pthread_mutex_lock(&px->q_lock);
    px->q_stop = true;
    pthread_cond_broadcast(&px->q_cond);
    pthread_mutex_unlock(&px->q_lock);
    for (unsigned i = 0; i < px->n_deciders; i++)
        pthread_join(px->deciders[i], NULL);
    px->n_workers = px->n_deciders = 0;
}

void
osh_proxy_free(struct osh_proxy *p)
{
    struct proxy *px = (struct proxy *)p;

    if (px == NULL)
        return;
    osh_proxy_stop(p);
    for (unsigned i = 0; px->workers && i < px->cfg.workers; i++) {
        struct worker *w = &px->workers[i];
        while (w->idle != NULL) {
            struct idle_up *u = w->idle;
            w->idle = u->next;
            close(u->fd);
            free(u);
        }
        for (size_t k = 0; k < w->n_free_pipes; k++) {
            close(w->free_pipes[k][0]);
            close(w->free_pipes[k][1]);
        }
        if (w->epfd > 0)
            close(w->epfd);
        if (w->wakefd > 0)
            close(w->wakefd);
        pthread_mutex_destroy(&w->done_lock);
    }
    free(px->workers);
    free(px->deciders);
    while (px->q_head != NULL) {
        struct job *j = px->q_head;
        px->q_head = j->next;
        free(j);
    }
    if (px->lfd >= 0)
        close(px->lfd);
    osh_identity_free(px->identity);
    osh_tofu_cache_free(px->tofu);
    free(px->busy);
    pthread_mutex_destroy(&px->q_lock);
    pthread_cond_destroy(&px->q_cond);
    free(px);
}

void
osh_proxy_get_stats(const struct osh_proxy *p, struct osh_proxy_stats *out)
{
    struct proxy *px = (struct proxy *)(uintptr_t)p;

    /* Relaxed: counters for status output; they order nothing. */
    out->accepted = atomic_load_explicit(&px->st_accepted, memory_order_relaxed);
    out->open = atomic_load_explicit(&px->st_open, memory_order_relaxed);
    out->requests = atomic_load_explicit(&px->st_requests, memory_order_relaxed);
    out->denied = atomic_load_explicit(&px->st_denied, memory_order_relaxed);
    out->accept_errors = atomic_load_explicit(&px->st_accept_errors, memory_order_relaxed);
    out->refused_over_limit = atomic_load_explicit(&px->st_refused, memory_order_relaxed);
}
