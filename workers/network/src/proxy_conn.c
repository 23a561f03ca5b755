/*
 * proxy_conn.c - one client connection: read the request head (bounded,
 * with a deadline), ask for a decision, answer a deny exactly as the
 * reference does (network.md §13), or connect upstream and hand over to the
 * tunnel (proxy_relay.c) or forward-HTTP (proxy_forward.c) code.
 *
 * Every function here runs on the connection's worker thread.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "osh/events.h"
#include "osh/log.h"
#include "osh/ring.h"
#include "osh/special_hosts.h"
#include "proxy_int.h"

static void conn_read_head(struct conn *c);
static void conn_connect_next(struct conn *c);
static void conn_flush_out(struct conn *c);

static void
set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void
conn_on_accept(struct worker *w, int fd)
{
    struct proxy *px = w->px;
    struct conn *c = calloc(1, sizeof(*c));
    socklen_t pl = sizeof(c ? c->peer : (struct sockaddr_storage){0});
    socklen_t ll = pl;

    if (c == NULL || (c->head = malloc(PROXY_HEAD_MAX)) == NULL) {
        free(c);
        close(fd);
        return;
    }
    c->client_tag.kind = EV_CONN_CLIENT;
    c->upstream_tag.kind = EV_CONN_UPSTREAM;
    c->w = w;
    c->cfd = fd;
    c->ufd = -1;
    c->c2u.pipe_r = c->c2u.pipe_w = c->u2c.pipe_r = c->u2c.pipe_w = -1;
    c->state = CS_READ_HEAD;
    c->cli_in = true; /* the request often arrives with the accept */
    c->last_io_ms = proxy_now_ms();
    c->deadline_ms = c->last_io_ms + px->cfg.header_timeout_ms;
    getpeername(fd, (struct sockaddr *)&c->peer, &pl);
    getsockname(fd, (struct sockaddr *)&c->local, &ll);
    set_nodelay(fd);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    atomic_fetch_add_explicit(&px->st_open, 1, memory_order_relaxed);
    worker_arm(w, fd, &c->client_tag, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, true);
    conn_read_head(c);
}

/* Releases everything; the connection must not be in a decision job. */
void
conn_free(struct conn *c)
{
    struct worker *w = c->w;

    if (c->cfd >= 0)
        close(c->cfd);
    if (c->ufd >= 0 && c->parked && c->state == CS_READ_HEAD)
        forward_pool_put(w, c->ufd, c->pool_key); /* still good for others */
    else if (c->ufd >= 0)
        close(c->ufd);
    pump_release(w, &c->c2u);
    pump_release(w, &c->u2c);
    if (c->in_ready) {
        for (struct conn **pp = &w->ready; *pp; pp = &(*pp)->ready_next)
            if (*pp == c) {
                *pp = c->ready_next;
                break;
            }
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    atomic_fetch_sub_explicit(&w->px->st_open, 1, memory_order_relaxed);
    osh_policy_unref(c->gen);
    osh_peer_identity_clear(&c->id);
    free(c->dec.reason);
    free(c->head);
    free(c->out);
    free(c->uout);
    free(c->rhead);
    c->dec.reason = c->head = c->out = c->uout = c->rhead = NULL;
    /* The struct itself waits for the end of the epoll batch: events of
     * this connection may still be in the batch being processed. */
    c->state = CS_CLOSED;
    c->cfd = c->ufd = -1;
    c->next = w->graveyard;
    w->graveyard = c;
}

/* Closes the sockets now; the memory goes when no job holds it. */
void
proxy_conn_close(struct conn *c)
{
    if (c->job_out) {
        if (c->cfd >= 0)
            close(c->cfd);
        if (c->ufd >= 0)
            close(c->ufd);
        c->cfd = c->ufd = -1;
        c->dead = true;
        c->state = CS_CLOSED;
        return;
    }
    conn_free(c);
}

/* ---- answers ------------------------------------------------------------ */

void
conn_respond_raw(struct conn *c, const char *bytes, size_t len)
{
    free(c->out);
    c->out = malloc(len);
    if (c->out == NULL) {
        proxy_conn_close(c);
        return;
    }
    memcpy(c->out, bytes, len);
    c->out_len = len;
    c->out_off = 0;
    c->state = CS_RESPOND_CLOSE;
    c->deadline_ms = proxy_now_ms() + 5000; /* a client that won't read */
    if (c->ufd >= 0) {
        close(c->ufd);
        c->ufd = -1;
    }
    conn_flush_out(c);
}

void
conn_respond(struct conn *c, int status, const char *error, const char *detail)
{
    char *body = NULL;
    size_t len = 0;

    if (respond_build(status, error, detail, &body, &len) < 0) {
        proxy_conn_close(c);
        return;
    }
    conn_respond_raw(c, body, len);
    free(body);
}

static void
conn_flush_out(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->cfd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return; /* EPOLLOUT (edge) resumes */
        if (n <= 0) {
            proxy_conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    /* All sent: half-close and let the client see EOF. */
    shutdown(c->cfd, SHUT_WR);
    proxy_conn_close(c);
}

/* ---- events ------------------------------------------------------------- */

static uint64_t
now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
conn_emit_denial(struct conn *c)
{
    struct proxy *px = c->w->px;
    struct osh_denial_event ev;
    const char *anc[OSH_IDENTITY_MAX_ANCESTORS];

    atomic_fetch_add_explicit(&px->st_denied, 1, memory_order_relaxed);
    if (px->cfg.denials == NULL)
        return;
    for (size_t i = 0; i < c->id.n_ancestors; i++)
        anc[i] = c->id.ancestors[i];
    osh_denial_event_init(&ev, c->dec.stage, c->host_lc, c->port,
                          c->have_identity ? c->id.exe : "-", anc,
                          c->have_identity ? c->id.n_ancestors : 0,
                          c->dec.reason ? c->dec.reason : c->dec.detail);
    ev.time_ms = now_wall_ms();
    ev.pid = c->have_identity ? (uint32_t)c->id.pid : 0;
    if (!c->connect && c->req.method.len > 0) {
        /* Forward denials carry the request for the HTTP OCSF event; the
         * query is left out (it may hold secrets). */
        char method[OSH_DENIAL_L7_METHOD_MAX], path[OSH_DENIAL_L7_PATH_MAX];
        const char *p = c->head + c->fwd_path_off, *q = memchr(p, '?', c->fwd_path_len);
        size_t pl = q ? (size_t)(q - p) : c->fwd_path_len;
        snprintf(method, sizeof(method), "%.*s", (int)c->req.method.len, c->req.method.p);
        snprintf(path, sizeof(path), "%.*s", (int)(pl < sizeof(path) ? pl : sizeof(path) - 1),
                 pl ? p : "/");
        osh_denial_event_set_l7(&ev, method, path);
    }
    /* A full ring counts the drop inside; the connection goes on. */
    osh_ring_push_mpsc(px->cfg.denials, &ev);
}

void
conn_emit_activity(struct conn *c, bool denied, enum osh_deny_group group)
{
    struct proxy *px = c->w->px;
    struct osh_activity_event ev = {.denied = denied, .group = group};

    if (px->cfg.activity == NULL)
        return;
    ev.time_ms = now_wall_ms();
    osh_ring_push_mpsc(px->cfg.activity, &ev);
}

/* ---- the request head ---------------------------------------------------- */

/* Splits "host:port" at the first ':' as the reference does (§1.5). */
static int
parse_connect_target(struct conn *c)
{
    struct http_slice t = c->req.target;
    const char *colon = memchr(t.p, ':', t.len);
    size_t hl;
    unsigned long port = 0;

    if (colon == NULL)
        return -EINVAL;
    hl = (size_t)(colon - t.p);
    if (hl == 0 || hl >= sizeof(c->host))
        return -EINVAL;
    for (const char *p = colon + 1; p < t.p + t.len; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            return -EINVAL;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (colon + 1 == t.p + t.len || port > 65535)
        return -EINVAL;
    memcpy(c->host, t.p, hl);
    c->host[hl] = '\0';
    c->port = (uint16_t)port;
    return 0;
}

static void
lowercase_host(struct conn *c)
{
    size_t i;
    for (i = 0; c->host[i]; i++)
        c->host_lc[i] = (char)(c->host[i] >= 'A' && c->host[i] <= 'Z' ? c->host[i] + 32
                                                                      : c->host[i]);
    c->host_lc[i] = '\0';
}

/* A complete head is in c->head: classify it and start the decision. */
static void
conn_on_head(struct conn *c, size_t head_len)
{
    struct proxy *px = c->w->px;

    atomic_fetch_add_explicit(&px->st_requests, 1, memory_order_relaxed);
    if (http_parse_request(c->head, head_len, &c->req) < 0) {
        conn_respond_raw(c, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        return;
    }
    c->connect = c->req.method.len == 7 && memcmp(c->req.method.p, "CONNECT", 7) == 0;
    if (c->connect) {
        if (parse_connect_target(c) < 0) {
            proxy_conn_close(c); /* closed silently (§1.5.1) */
            return;
        }
        lowercase_host(c);
        if (osh_special_host_classify(c->host_lc, c->port, true, NULL) ==
            OSH_SPECIAL_INFERENCE) {
            /* inference.local needs the gateway's routes and the sandbox
             * CA, neither of which exists in this build: refuse plainly
             * rather than pretend. */
            conn_respond(c, 503, "inference_unavailable",
                         "cluster inference context not configured");
            return;
        }
    } else if (forward_prepare(c) < 0) {
        return; /* forward_prepare answered */
    }
    /* Pin the generation for the life of this connection (policy.md §5):
     * a keep-alive forward connection re-pins per request. */
    osh_policy_unref(c->gen);
    c->gen = osh_policy_store_acquire(px->cfg.policy);
    c->state = CS_DECIDING;
    c->deadline_ms = 0;
    if (decide_needs_pool(c)) {
        c->job_out = true;
        pool_submit(px, c);
    } else {
        decide(px, c);
        conn_on_decided(c);
    }
}

/*
 * Reads until a complete head is in c->head.  What the client sent after
 * the head stays in the buffer (head_len..head_fill) for whoever relays
 * it: the forward code sends it as the body prefix, a tunnel sends it
 * first, and a pipelined request is parsed next.
 */
static void
conn_read_head(struct conn *c)
{
    for (;;) {
        size_t end = http_head_end(c->head, c->head_fill, c->head_scan);
        ssize_t n;

        if (end > 0) {
            c->head_len = end;
            c->head_scan = 0;
            conn_on_head(c, end);
            return;
        }
        c->head_scan = c->head_fill;
        if (c->head_fill == PROXY_HEAD_MAX) {
        {
            static const char too_large[] = "HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n";
            conn_respond_raw(c, too_large, sizeof(too_large) - 1);
        }
            return;
        }
        if (!c->cli_in)
            return; /* nothing new since the last EAGAIN: wait for the edge */
        n = recv(c->cfd, c->head + c->head_fill, PROXY_HEAD_MAX - c->head_fill, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            c->cli_in = false;
            return;
        }
        if (n <= 0) {
            proxy_conn_close(c); /* EOF before the head: closed silently */
            return;
        }
        c->head_fill += (size_t)n;
        c->last_io_ms = proxy_now_ms();
    }
}

/*
 * Re-arms for the next request on a keep-alive forward connection.  The
 * bytes from `consumed` on are the start of the next request.
 */
void
conn_next_request(struct conn *c, size_t consumed)
{
    struct proxy *px = c->w->px;

    memmove(c->head, c->head + consumed, c->head_fill - consumed);
    c->head_fill -= consumed;
    c->head_len = 0;
    c->head_scan = 0;
    c->state = CS_READ_HEAD;
    c->deadline_ms = proxy_now_ms() + px->cfg.idle_timeout_ms;
    free(c->dec.reason);
    c->dec.reason = NULL;
    conn_read_head(c);
}

/* ---- after the decision ------------------------------------------------- */

void
conn_on_decided(struct conn *c)
{
    struct proxy *px = c->w->px;
    struct decision *d = &c->dec;

    if (!d->allow) {
        conn_emit_denial(c);
        conn_emit_activity(c, true, d->group);
        if (px->cfg.log_level >= OSH_LOG_INFO)
            osh_logf(OSH_LOG_INFO, "proxy", "%s %s:%u denied (%s): %s",
                     c->connect ? "CONNECT" : "FORWARD", c->host_lc, c->port,
                     c->have_identity ? c->id.exe : "-", d->reason ? d->reason : d->detail);
        if (d->status == 0)
            proxy_conn_close(c);
        else
            conn_respond(c, d->status, d->error, d->detail);
        return;
    }
    if (!c->connect && (forward_take_parked(c) == 0 || forward_pool_take(c) == 0)) {
        forward_start(c);
        return;
    }
    c->addr_idx = 0;
    conn_connect_next(c);
}

static void
conn_connect_next(struct conn *c)
{
    struct proxy *px = c->w->px;

    while (c->addr_idx < c->dec.n_addrs) {
        const struct sockaddr_storage *a = &c->dec.addrs[c->addr_idx++];
        socklen_t al = a->ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                               : sizeof(struct sockaddr_in6);
        int fd = socket(a->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        set_nodelay(fd);
        if (connect(fd, (const struct sockaddr *)a, al) < 0 && errno != EINPROGRESS) {
            close(fd);
            continue;
        }
        c->ufd = fd;
        c->up_addr = *a;
        c->state = CS_CONNECTING;
        c->deadline_ms = proxy_now_ms() + px->cfg.connect_timeout_ms;
        worker_arm(c->w, fd, &c->upstream_tag, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, true);
        return;
    }
    /* Every vetted address failed: CONNECT closes silently (§1.5.6), the
     * forward proxy answers 502 (§1.6.9). */
    if (c->connect) {
        proxy_conn_close(c);
    } else {
        char detail[300];
        snprintf(detail, sizeof(detail), "connection to %s:%u failed", c->host_lc, c->port);
        conn_respond(c, 502, "upstream_unreachable", detail);
    }
}

static void
conn_connected(struct conn *c)
{
    int err = 0;
    socklen_t el = sizeof(err);

    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
        epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
        close(c->ufd);
        c->ufd = -1;
        conn_connect_next(c);
        return;
    }
    c->deadline_ms = 0;
    c->last_io_ms = proxy_now_ms();
    if (c->connect)
        conn_tunnel_start(c);
    else
        forward_start(c);
}

void
conn_on_event(struct conn *c, bool upstream, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (upstream)
            c->up_in = true;
        else
            c->cli_in = true;
    }
    switch (c->state) {
    case CS_READ_HEAD:
        if (upstream) {
            if (c->parked)
                forward_parked_event(c);
            break;
        }
        conn_read_head(c);
        break;
    case CS_DECIDING:
        /* Nothing to do until the decision; a client that hangs up is
         * noticed when we answer. */
        break;
    case CS_CONNECTING:
        if (upstream)
            conn_connected(c);
        break;
    case CS_TUNNEL:
        conn_tunnel_event(c);
        break;
    case CS_FWD_REQUEST:
    case CS_FWD_RESPONSE_HEAD:
    case CS_FWD_RESPONSE_BODY:
        forward_event(c);
        break;
    case CS_RESPOND_CLOSE:
        conn_flush_out(c);
        break;
    case CS_CLOSED:
        break;
    }
}

void
conn_on_timeout(struct conn *c)
{
    switch (c->state) {
    case CS_CONNECTING:
        if (c->ufd >= 0) {
            epoll_ctl(c->w->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
            close(c->ufd);
            c->ufd = -1;
        }
        conn_connect_next(c);
        break;
    case CS_READ_HEAD:
    case CS_DECIDING:
    case CS_TUNNEL:
    case CS_FWD_REQUEST:
    case CS_FWD_RESPONSE_HEAD:
    case CS_FWD_RESPONSE_BODY:
    case CS_RESPOND_CLOSE:
    case CS_CLOSED:
        /* Slow head (slowloris), idle relay, or a client not reading its
         * answer: cut it. */
        proxy_conn_close(c);
        break;
    }
}
