/*
 * proxy_forward.c - forward HTTP (absolute-form "GET http://host/path").
 *
 * The request goes upstream in origin form with hop-by-hop headers removed
 * (RFC 9110 §7.6.1: Connection and what it names, Keep-Alive, TE, Trailer,
 * Upgrade unless upgrading, Proxy-*), Host kept (added when missing) and a
 * Via added.  Bodies are relayed by their framing, so both sides stay
 * reusable: the client connection is kept alive and the upstream one goes
 * back to a small per-worker pool keyed by (host, port, address).
 * A 101 answer turns the connection into a tunnel.
 *
 * Runs on the connection's worker thread.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "osh/special_hosts.h"
#include "proxy_int.h"

#define POOL_MAX_IDLE 256
#define POOL_IDLE_MS 30000

static bool
slice_ieq(struct http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* ---- request target -------------------------------------------------- */

/*
 * Parses "scheme://authority[/path][?query]" (network.md §1.6.1): scheme
 * lower-cased, IPv6 brackets kept in the host, default port 80 (https 443),
 * missing path "/".  Returns 0, or answers 400 itself and returns -1.
 */
int
forward_prepare(struct conn *c)
{
    const char *t = c->req.target.p, *end = t + c->req.target.len, *sep, *auth, *hend, *p;
    enum http_body_kind kind;
    uint64_t len;
    size_t sl, hl;
    unsigned long port = 0;

    sep = memmem(t, c->req.target.len, "://", 3);
    if (sep == NULL || sep == t || (size_t)(sep - t) >= sizeof(c->scheme))
        goto bad;
    sl = (size_t)(sep - t);
    for (size_t i = 0; i < sl; i++)
        c->scheme[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + 32 : t[i]);
    c->scheme[sl] = '\0';
    auth = sep + 3;
    for (p = auth; p < end && *p != '/' && *p != '?'; p++)
        if (*p == '@')
            goto bad; /* userinfo in a proxy request: refuse, never forward */
    hend = p;
    if (auth < hend && *auth == '[') {
        const char *rb = memchr(auth, ']', (size_t)(hend - auth));
        if (rb == NULL)
            goto bad;
        hl = (size_t)(rb + 1 - auth);
        p = rb + 1;
    } else {
        const char *colon = memchr(auth, ':', (size_t)(hend - auth));
        hl = (size_t)((colon ? colon : hend) - auth);
        p = auth + hl;
    }
    if (hl == 0 || hl >= sizeof(c->host))
        goto bad;
    memcpy(c->host, auth, hl);
    c->host[hl] = '\0';
    for (size_t i = 0; i <= hl; i++)
        c->host_lc[i] = (char)(c->host[i] >= 'A' && c->host[i] <= 'Z' ? c->host[i] + 32
                                                                      : c->host[i]);
    if (p < hend) {
        if (*p != ':' || p + 1 == hend)
            goto bad;
        for (p++; p < hend; p++) {
            if (*p < '0' || *p > '9' || port > 65535)
                goto bad;
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port == 0 || port > 65535)
            goto bad;
    } else {
        port = strcmp(c->scheme, "https") == 0 ? 443 : 80;
    }
    c->port = (uint16_t)port;
    c->fwd_path_off = (size_t)(hend - c->head);
    c->fwd_path_len = (size_t)(end - hend);

    switch (osh_special_host_classify(c->host_lc, c->port, false, c->scheme)) {
    case OSH_SPECIAL_POLICY_LOCAL_BAD_SCHEME:
        conn_respond(c, 400, "invalid_policy_local_scheme", "Use http://policy.local only");
        return -1;
    case OSH_SPECIAL_POLICY_LOCAL:
        /* The hook for the in-sandbox advisor API (network.md §8); it needs
         * the gateway, which this build does not talk to yet. */
        conn_respond(c, 503, "policy_local_unavailable", "policy.local is not configured");
        return -1;
    case OSH_SPECIAL_INFERENCE:
    case OSH_SPECIAL_NONE:
        break;
    }
    if (strcmp(c->scheme, "https") == 0) {
        static const char msg[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 26\r\n"
                                  "Connection: close\r\n\r\nUse CONNECT for HTTPS URLs";
        conn_respond_raw(c, msg, sizeof(msg) - 1);
        return -1;
    }
    if (strcmp(c->scheme, "http") != 0)
        goto bad;
    /* Smuggling-shaped framing closes the connection before any upstream
     * byte (§1.6.14). */
    if (http_request_body(&c->req, &kind, &len) < 0) {
        proxy_conn_close(c);
        return -1;
    }
    c->req_body = kind;
    c->req_len = len;
    {
        const struct http_header *conn_h = http_find_header(&c->req, "connection");
        c->client_keepalive = c->req.version_minor == 1 &&
                              !(conn_h && http_value_has_token(conn_h->value, "close"));
    }
    return 0;
bad:
    conn_respond_raw(c, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
    return -1;
}

/* ---- upstream pool ----------------------------------------------------- */

static void
pool_key(struct conn *c, const struct sockaddr_storage *a, char *key, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "";

    if (a->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, ip, sizeof(ip));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, ip, sizeof(ip));
    snprintf(key, len, "%s|%u|%s", c->host_lc, c->port, ip);
}

/* Takes an idle connection to one of the vetted addresses; 0 when found. */
int
forward_pool_take(struct conn *c)
{
    struct worker *w = c->w;

    for (int i = 0; i < c->dec.n_addrs; i++) {
        char key[sizeof(c->pool_key)];
        pool_key(c, &c->dec.addrs[i], key, sizeof(key));
        for (struct idle_up *u = w->idle; u != NULL; u = u->next) {
            if (strcmp(u->key, key) != 0)
                continue;
            if (u->prev)
                u->prev->next = u->next;
            else
                w->idle = u->next;
            if (u->next)
                u->next->prev = u->prev;
            w->n_idle--;
            c->ufd = u->fd;
            c->up_addr = c->dec.addrs[i];
            snprintf(c->pool_key, sizeof(c->pool_key), "%s", key);
            worker_arm(w, c->ufd, &c->upstream_tag, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                       false);
            u->fd = -1;
            u->next = w->idle_graveyard;
            w->idle_graveyard = u;
            return 0;
        }
    }
    return -ENOENT;
}

void
forward_pool_put(struct worker *w, int fd, const char *key)
{
    struct idle_up *u;

    if (w->n_idle >= POOL_MAX_IDLE || (u = calloc(1, sizeof(*u))) == NULL) {
        close(fd);
        return;
    }
    u->tag.kind = EV_IDLE_UPSTREAM;
    u->fd = fd;
    u->since_ms = proxy_now_ms();
    snprintf(u->key, sizeof(u->key), "%s", key);
    u->next = w->idle;
    if (w->idle)
        w->idle->prev = u;
    w->idle = u;
    w->n_idle++;
    /* Level-triggered: any byte or hang-up from an idle upstream means it
     * is no longer reusable. */
    worker_arm(w, fd, &u->tag, EPOLLIN | EPOLLRDHUP, false);
}

static void
pool_drop(struct worker *w, struct idle_up *u)
{
    if (u->prev)
        u->prev->next = u->next;
    else
        w->idle = u->next;
    if (u->next)
        u->next->prev = u->prev;
    w->n_idle--;
    close(u->fd);
    u->fd = -1;
    /* Freed after the epoll batch, which may still hold its event. */
    u->next = w->idle_graveyard;
    w->idle_graveyard = u;
}

void
forward_idle_event(struct worker *w, struct idle_up *u)
{
    if (u->fd >= 0)
        pool_drop(w, u);
}

void
forward_pool_sweep(struct worker *w, uint64_t now)
{
    for (struct idle_up *u = w->idle, *next; u != NULL; u = next) {
        next = u->next;
        if (now - u->since_ms >= POOL_IDLE_MS)
            pool_drop(w, u);
    }
}

/* ---- request ---------------------------------------------------------- */

static bool
is_hop_by_hop(const struct http_head *req, struct http_slice name, bool upgrade)
{
    static const char *const hop[] = {"connection", "keep-alive", "proxy-connection",
                                      "proxy-authorization", "proxy-authenticate", "te",
                                      "trailer", NULL};
    const struct http_header *ch = http_find_header(req, "connection");

    for (const char *const *h = hop; *h; h++)
        if (slice_ieq(name, *h))
            return true;
    if (slice_ieq(name, "upgrade"))
        return !upgrade;
    /* Headers the client named in Connection are hop-by-hop too. */
    if (ch != NULL && name.len < 64) {
        char n[64];
        memcpy(n, name.p, name.len);
        n[name.len] = '\0';
        if (http_value_has_token(ch->value, n))
            return !(upgrade && strcasecmp(n, "upgrade") == 0);
    }
    return false;
}

static int
build_request(struct conn *c)
{
    const struct http_head *r = &c->req;
    const struct http_header *up = http_find_header(r, "upgrade");
    const struct http_header *ch = http_find_header(r, "connection");
    bool upgrade = up != NULL && ch != NULL && http_value_has_token(ch->value, "upgrade");
    bool has_host = http_find_header(r, "host") != NULL;
    bool has_via = http_find_header(r, "via") != NULL;
    size_t cap = r->head_len + strlen(c->dec.canon_target) + 512, n = 0;
    char *b = malloc(cap);
    int w;

    if (b == NULL)
        return -ENOMEM;
    w = snprintf(b, cap, "%.*s %s HTTP/1.1\r\n", (int)r->method.len, r->method.p,
                 c->dec.canon_target);
    n = (size_t)w;
    if (!has_host) {
        if (c->port == 80)
            w = snprintf(b + n, cap - n, "Host: %s\r\n", c->host);
        else
            w = snprintf(b + n, cap - n, "Host: %s:%u\r\n", c->host, c->port);
        if (w < 0 || (size_t)w >= cap - n)
            goto fail;
        n += (size_t)w;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (is_hop_by_hop(r, h->name, upgrade))
            continue;
        if (n + h->name.len + h->value.len + 4 >= cap)
            goto fail;
        memcpy(b + n, h->name.p, h->name.len);
        n += h->name.len;
        memcpy(b + n, ": ", 2);
        n += 2;
        memcpy(b + n, h->value.p, h->value.len);
        n += h->value.len;
        memcpy(b + n, "\r\n", 2);
        n += 2;
    }
    w = snprintf(b + n, cap - n, "%s%s\r\n", upgrade ? "Connection: upgrade\r\n" : "",
                 has_via ? "" : "Via: 1.1 openshell-sandbox\r\n");
    if (w < 0 || (size_t)w >= cap - n)
        goto fail;
    n += (size_t)w;
    free(c->uout);
    c->uout = b;
    c->uout_len = n;
    c->uout_off = 0;
    return 0;
fail:
    free(b);
    return -E2BIG;
}

/*
 * Appends the part of the client's already-read bytes that belongs to the
 * request body to c->uout, so head and body prefix leave in one send.
 * Returns the body state: the pump then relays only what is still in the
 * socket.  -EBADMSG for broken chunked framing.
 */
static int
take_body_prefix(struct conn *c, char **buf, size_t *len, size_t cap)
{
    const char *pre = c->head + c->head_len;
    size_t avail = c->head_fill - c->head_len, take = 0;

    switch (c->req_body) {
    case HTTP_BODY_NONE:
    case HTTP_BODY_UNTIL_CLOSE:
        break;
    case HTTP_BODY_LENGTH:
        take = avail < c->c2u.remaining ? avail : (size_t)c->c2u.remaining;
        c->c2u.remaining -= take;
        c->c2u.done = c->c2u.remaining == 0;
        break;
    case HTTP_BODY_CHUNKED: {
        long n = http_chunked_advance(&c->c2u.chunk, pre, avail);
        if (n < 0)
            return -EBADMSG;
        take = (size_t)n;
        c->c2u.done = c->c2u.chunk.done;
        break;
    }
    }
    if (take > 0) {
        if (*len + take > cap) {
            char *nb = realloc(*buf, *len + take);
            if (nb == NULL)
                return -ENOMEM;
            *buf = nb;
        }
        memcpy(*buf + *len, pre, take);
        *len += take;
    }
    /* What follows the body is the next request: keep it for later. */
    c->head_len += take;
    return 0;
}

void
forward_start(struct conn *c)
{
    size_t cap;

    if (c->pool_key[0] == '\0' && c->addr_idx > 0)
        pool_key(c, &c->dec.addrs[c->addr_idx - 1], c->pool_key, sizeof(c->pool_key));
    if (build_request(c) < 0) {
        conn_respond_raw(c, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        return;
    }
    pump_release(c->w, &c->c2u);
    if (c->req_body == HTTP_BODY_CHUNKED)
        pump_init_buffered(&c->c2u, c->cfd, c->ufd);
    else if (c->req_body == HTTP_BODY_LENGTH)
        pump_init_splice(c->w, &c->c2u, c->cfd, c->ufd);
    else
        pump_init_buffered(&c->c2u, c->cfd, c->ufd);
    c->c2u.framed = true;
    c->c2u.body = c->req_body;
    c->c2u.remaining = c->req_len;
    c->c2u.done = c->req_body == HTTP_BODY_NONE;
    cap = c->uout_len;
    if (take_body_prefix(c, &c->uout, &c->uout_len, cap) < 0) {
        proxy_conn_close(c);
        return;
    }
    c->rhead_len = c->rhead_fill = 0;
    c->up_in = false; /* a response can only follow our request */
    c->upstream_reusable = false;
    c->parked = false;
    c->close_after_response = !c->client_keepalive;
    c->state = CS_FWD_REQUEST;
    c->last_io_ms = proxy_now_ms();
    forward_event(c);
}

/* Whole-buffer send on a non-blocking socket: 1 done, 0 wait, <0 error. */
static int
flush(int fd, const char *buf, size_t len, size_t *off)
{
    while (*off < len) {
        ssize_t n = send(fd, buf + *off, len - *off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -EPIPE;
        *off += (size_t)n;
    }
    return 1;
}

/* ---- response -------------------------------------------------------- */

/* Appends `n` bytes to c->out, growing it. */
static int
out_append(struct conn *c, size_t *cap, const char *p, size_t n)
{
    if (c->out_len + n > *cap) {
        size_t nc = c->out_len + n + 256;
        char *nb = realloc(c->out, nc);
        if (nb == NULL)
            return -ENOMEM;
        c->out = nb;
        *cap = nc;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/*
 * The client's copy of the response head: our HTTP/1.1 status line (the
 * upstream's version is its business), the end-to-end headers, and our own
 * Connection header.  Body bytes read together with the head follow it, so
 * a small response leaves in a single send.
 */
static int
build_response(struct conn *c, enum http_body_kind kind, uint64_t len)
{
    const struct http_head *r = &c->resp;
    const char *eol = memchr(c->rhead, '\r', r->head_len);
    bool upgrade = r->status == 101;
    const char *pre = c->rhead + c->rhead_len;
    size_t avail = c->rhead_fill - c->rhead_len, take = avail, cap = r->head_len + 128;
    int rc = 0;

    if (eol == NULL || eol - c->rhead < 8)
        return -EBADMSG;
    free(c->out);
    c->out = malloc(cap);
    c->out_len = c->out_off = 0;
    if (c->out == NULL)
        return -ENOMEM;
    rc |= out_append(c, &cap, "HTTP/1.1", 8);
    rc |= out_append(c, &cap, c->rhead + 8, (size_t)(eol - c->rhead - 8) + 2);
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (slice_ieq(h->name, "connection") || slice_ieq(h->name, "keep-alive") ||
            slice_ieq(h->name, "proxy-connection") || (!upgrade && slice_ieq(h->name, "upgrade")))
            continue;
        rc |= out_append(c, &cap, h->name.p, h->name.len);
        rc |= out_append(c, &cap, ": ", 2);
        rc |= out_append(c, &cap, h->value.p, h->value.len);
        rc |= out_append(c, &cap, "\r\n", 2);
    }
    if (upgrade)
        rc |= out_append(c, &cap, "Connection: upgrade\r\n", 21);
    else if (c->close_after_response)
        rc |= out_append(c, &cap, "Connection: close\r\n", 19);
    rc |= out_append(c, &cap, "\r\n", 2);

    /* The body prefix: only what belongs to this response. */
    c->u2c.done = false;
    switch (kind) {
    case HTTP_BODY_NONE:
        take = 0;
        c->u2c.done = true;
        break;
    case HTTP_BODY_LENGTH:
        take = avail < len ? avail : (size_t)len;
        c->u2c.remaining = len - take;
        c->u2c.done = c->u2c.remaining == 0;
        break;
    case HTTP_BODY_CHUNKED: {
        long n = http_chunked_advance(&c->u2c.chunk, pre, avail);
        if (n < 0)
            return -EBADMSG;
        take = (size_t)n;
        c->u2c.done = c->u2c.chunk.done;
        break;
    }
    case HTTP_BODY_UNTIL_CLOSE:
        break;
    }
    if (upgrade)
        take = avail; /* the other protocol's first bytes */
    if (take < avail && !upgrade)
        c->upstream_reusable = false; /* bytes past the response: out of sync */
    rc |= out_append(c, &cap, pre, take);
    return rc ? -ENOMEM : 0;
}

/*
 * Reads the response head (and whatever body bytes came with it).  1 when
 * a head is complete, 0 to wait, <0 on error.
 */
static int
read_response_head(struct conn *c)
{
    for (;;) {
        size_t end = http_head_end(c->rhead, c->rhead_fill, 0);
        ssize_t n;

        if (end > 0) {
            c->rhead_len = end;
            return http_parse_response(c->rhead, end, &c->resp) < 0 ? -EBADMSG : 1;
        }
        if (c->rhead_fill == PROXY_RESP_HEAD_MAX)
            return -E2BIG;
        if (!c->up_in)
            return 0;
        n = recv(c->ufd, c->rhead + c->rhead_fill, PROXY_RESP_HEAD_MAX - c->rhead_fill, 0);
        if (n < 0 && errno == EAGAIN)
            c->up_in = false;
        if (n < 0)
            return errno == EAGAIN ? 0 : errno == EINTR ? 1 : -errno;
        if (n == 0)
            return -EPIPE;
        c->rhead_fill += (size_t)n;
    }
}

/* The exchange is over: keep the upstream for the next request. */
static void
forward_complete(struct conn *c)
{
    struct worker *w = c->w;

    pump_release(w, &c->c2u);
    pump_release(w, &c->u2c);
    if (c->ufd >= 0 && c->upstream_reusable && !c->close_after_response) {
        /* Parked on this client connection: the next request to the same
         * destination reuses it with no epoll change at all. */
        c->parked = true;
    } else if (c->ufd >= 0 && c->upstream_reusable) {
        forward_pool_put(w, c->ufd, c->pool_key);
        c->ufd = -1;
    } else if (c->ufd >= 0) {
        close(c->ufd);
        c->ufd = -1;
    }
    if (c->close_after_response) {
        shutdown(c->cfd, SHUT_WR);
        proxy_conn_close(c);
        return;
    }
    conn_next_request(c, c->head_len);
}

/* An event on a parked upstream while the client is between requests:
 * any byte or hang-up means it cannot be reused. */
void
forward_parked_event(struct conn *c)
{
    char b;
    ssize_t n = recv(c->ufd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    close(c->ufd);
    c->ufd = -1;
    c->parked = false;
    c->pool_key[0] = '\0';
}

/* Before deciding where the next request goes: a parked upstream is kept
 * when it leads to one of the vetted addresses, else pooled. */
static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    return ((const struct sockaddr_in6 *)a)->sin6_port ==
               ((const struct sockaddr_in6 *)b)->sin6_port &&
           memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

int
forward_take_parked(struct conn *c)
{
    if (!c->parked || c->ufd < 0)
        return -ENOENT;
    c->parked = false;
    /* Same host name (the pool key starts with it) and a vetted address. */
    if (strncmp(c->pool_key, c->host_lc, strlen(c->host_lc)) == 0 &&
        c->pool_key[strlen(c->host_lc)] == '|') {
        for (int i = 0; i < c->dec.n_addrs; i++)
            if (same_addr(&c->dec.addrs[i], &c->up_addr))
                return 0;
    }
    forward_pool_put(c->w, c->ufd, c->pool_key);
    c->ufd = -1;
    c->pool_key[0] = '\0';
    return -ENOENT;
}

static void
fail(struct conn *c, bool answer)
{
    if (answer) {
        char detail[300];
        snprintf(detail, sizeof(detail), "connection to %s:%u failed", c->host_lc, c->port);
        conn_respond(c, 502, "upstream_unreachable", detail);
    } else {
        proxy_conn_close(c);
    }
}

static void
schedule(struct conn *c)
{
    if (!c->in_ready) {
        c->in_ready = true;
        c->ready_next = c->w->ready;
        c->w->ready = c;
    }
}

void
forward_event(struct conn *c)
{
    int rc;

    c->last_io_ms = proxy_now_ms();
    /* 1. request head and body prefix, then the rest of the body. */
    if (c->state == CS_FWD_REQUEST) {
        rc = flush(c->ufd, c->uout, c->uout_len, &c->uout_off);
        if (rc < 0) {
            fail(c, true);
            return;
        }
        if (rc == 0)
            return;
        /* The response may come before the body is complete (an early
         * error, 100-continue): from here both run side by side. */
        c->state = CS_FWD_RESPONSE_HEAD;
    }
    if (!c->c2u.done && c->state != CS_CLOSED) {
        rc = pump_run(&c->c2u, 16);
        if (rc < 0) {
            proxy_conn_close(c);
            return;
        }
        if (rc == 1)
            schedule(c);
    }
    if (c->state == CS_FWD_RESPONSE_HEAD) {
        enum http_body_kind kind;
        uint64_t len;
        const struct http_header *ch;

        if (c->rhead == NULL && (c->rhead = malloc(PROXY_RESP_HEAD_MAX)) == NULL) {
            proxy_conn_close(c);
            return;
        }
        rc = read_response_head(c);
        if (rc < 0) {
            fail(c, true);
            return;
        }
        if (rc == 0)
            return;
        if (c->resp.status >= 100 && c->resp.status < 200 && c->resp.status != 101) {
            /* Interim answer: pass it on verbatim, wait for the final one. */
            size_t off = 0, rest = c->rhead_fill - c->rhead_len;
            if (flush(c->cfd, c->rhead, c->rhead_len, &off) != 1) {
                proxy_conn_close(c);
                return;
            }
            memmove(c->rhead, c->rhead + c->rhead_len, rest);
            c->rhead_fill = rest;
            c->rhead_len = 0;
            forward_event(c);
            return;
        }
        ch = http_find_header(&c->resp, "connection");
        if (http_response_body(&c->resp, c->req.method, &kind, &len) < 0) {
            proxy_conn_close(c);
            return;
        }
        if (kind == HTTP_BODY_UNTIL_CLOSE)
            c->close_after_response = true;
        c->upstream_reusable = c->resp.version_minor == 1 && kind != HTTP_BODY_UNTIL_CLOSE &&
                               !(ch && http_value_has_token(ch->value, "close")) &&
                               c->resp.status != 101;
        pump_release(c->w, &c->u2c);
        if (kind == HTTP_BODY_CHUNKED || kind == HTTP_BODY_NONE)
            pump_init_buffered(&c->u2c, c->ufd, c->cfd);
        else
            pump_init_splice(c->w, &c->u2c, c->ufd, c->cfd);
        c->u2c.body = kind;
        c->u2c.framed = kind != HTTP_BODY_UNTIL_CLOSE;
        if (build_response(c, kind, len) < 0) {
            proxy_conn_close(c);
            return;
        }
        c->state = CS_FWD_RESPONSE_BODY;
    }
    if (c->state != CS_FWD_RESPONSE_BODY)
        return;
    rc = flush(c->cfd, c->out, c->out_len, &c->out_off);
    if (rc < 0) {
        proxy_conn_close(c);
        return;
    }
    if (rc == 0)
        return;
    if (c->resp.status == 101) {
        /* Upgraded: from here on it is a raw tunnel. */
        pump_release(c->w, &c->c2u);
        pump_release(c->w, &c->u2c);
        c->connect = false;
        conn_tunnel_start(c);
        return;
    }
    rc = pump_run(&c->u2c, 16);
    if (rc < 0) {
        proxy_conn_close(c);
        return;
    }
    if (c->u2c.done || (!c->u2c.framed && c->u2c.dst_shut)) {
        if (!c->c2u.done) {
            /* Answered before the whole body was read: the client stream
             * is out of sync, so neither side can be reused. */
            c->upstream_reusable = false;
            c->close_after_response = true;
        }
        forward_complete(c);
        return;
    }
    if (rc == 1)
        schedule(c);
}
