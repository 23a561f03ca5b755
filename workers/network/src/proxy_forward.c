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
            snprintf(c->pool_key, sizeof(c->pool_key), "%s", key);
            worker_arm(w, c->ufd, &c->upstream_tag, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                       false);
            free(u);
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
    free(u);
}

void
forward_idle_event(struct worker *w, struct idle_up *u)
{
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

void
forward_start(struct conn *c)
{
    if (c->pool_key[0] == '\0' && c->addr_idx > 0)
        pool_key(c, &c->dec.addrs[c->addr_idx - 1], c->pool_key, sizeof(c->pool_key));
    if (build_request(c) < 0) {
        conn_respond_raw(c, "HTTP/1.1 400 Bad Request\r\n\r\n", 28);
        return;
    }
    pump_release(c->w, &c->c2u);
    if (c->req_body == HTTP_BODY_CHUNKED)
        pump_init_buffered(&c->c2u, c->cfd, c->ufd);
    else
        pump_init_splice(c->w, &c->c2u, c->cfd, c->ufd);
    c->c2u.framed = true;
    c->c2u.body = c->req_body;
    c->c2u.remaining = c->req_len;
    c->c2u.done = c->req_body == HTTP_BODY_NONE;
    c->rhead_len = c->rhead_scan = 0;
    c->upstream_reusable = false;
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

static int
build_response_head(struct conn *c)
{
    const struct http_head *r = &c->resp;
    size_t cap = r->head_len + 128, n;
    char *b = malloc(cap);
    const char *eol = memchr(c->rhead, '\r', r->head_len);
    bool upgrade = r->status == 101;

    if (b == NULL || eol == NULL) {
        free(b);
        return -ENOMEM;
    }
    /* Our own version on the status line (we speak HTTP/1.1 to the
     * client whatever the upstream spoke), then the end-to-end headers. */
    memcpy(b, "HTTP/1.1", 8);
    n = 8 + (size_t)(eol - (c->rhead + 8)) + 2;
    memcpy(b + 8, c->rhead + 8, n - 8);
    for (size_t i = 0; i < r->n_headers; i++) {
        const struct http_header *h = &r->headers[i];
        if (slice_ieq(h->name, "connection") || slice_ieq(h->name, "keep-alive") ||
            slice_ieq(h->name, "proxy-connection") || (!upgrade && slice_ieq(h->name, "upgrade")))
            continue;
        memcpy(b + n, h->name.p, h->name.len);
        n += h->name.len;
        memcpy(b + n, ": ", 2);
        n += 2;
        memcpy(b + n, h->value.p, h->value.len);
        n += h->value.len;
        memcpy(b + n, "\r\n", 2);
        n += 2;
    }
    n += (size_t)snprintf(b + n, cap - n, "%s\r\n",
                          upgrade ? "Connection: upgrade\r\n"
                          : c->close_after_response ? "Connection: close\r\n"
                                                    : "");
    free(c->out);
    c->out = b;
    c->out_len = n;
    c->out_off = 0;
    return 0;
}

/*
 * Reads the response head from the upstream without consuming any body
 * byte (peek, then take exactly the head).  1 when a head was taken, 0 to
 * wait, <0 on error.
 */
static int
read_response_head(struct conn *c)
{
    ssize_t n;
    size_t end;

    if (c->rhead == NULL && (c->rhead = malloc(PROXY_RESP_HEAD_MAX)) == NULL)
        return -ENOMEM;
    n = recv(c->ufd, c->rhead, PROXY_RESP_HEAD_MAX, MSG_PEEK);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    if (n == 0)
        return -EPIPE;
    end = http_head_end(c->rhead, (size_t)n, 0);
    if (end == 0)
        return (size_t)n == PROXY_RESP_HEAD_MAX ? -E2BIG : 0;
    if (recv(c->ufd, c->rhead, end, 0) != (ssize_t)end)
        return -EIO;
    c->rhead_len = end;
    if (http_parse_response(c->rhead, end, &c->resp) < 0)
        return -EBADMSG;
    return 1;
}

/* The exchange is over: recycle what can be recycled. */
static void
forward_complete(struct conn *c)
{
    struct worker *w = c->w;

    if (c->upstream_reusable && c->ufd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
        forward_pool_put(w, c->ufd, c->pool_key);
        c->ufd = -1;
    } else if (c->ufd >= 0) {
        epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->ufd, NULL);
        close(c->ufd);
        c->ufd = -1;
    }
    pump_release(w, &c->c2u);
    pump_release(w, &c->u2c);
    c->pool_key[0] = '\0';
    if (c->close_after_response) {
        shutdown(c->cfd, SHUT_WR);
        proxy_conn_close(c);
        return;
    }
    conn_next_request(c, 0);
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

void
forward_event(struct conn *c)
{
    int rc;

    c->last_io_ms = proxy_now_ms();
    /* 1. request head, then the request body by its framing. */
    if (c->state == CS_FWD_REQUEST) {
        rc = flush(c->ufd, c->uout, c->uout_len, &c->uout_off);
        if (rc < 0) {
            fail(c, true);
            return;
        }
        if (rc == 0)
            return;
        if (!c->c2u.done && pump_run(&c->c2u, 16) < 0) {
            proxy_conn_close(c);
            return;
        }
        /* The response may come before the body is complete (an early
         * error, 100-continue): read it concurrently. */
        c->state = CS_FWD_RESPONSE_HEAD;
    }
    if (c->state == CS_FWD_RESPONSE_HEAD) {
        if (!c->c2u.done && pump_run(&c->c2u, 16) < 0) {
            proxy_conn_close(c);
            return;
        }
        rc = read_response_head(c);
        if (rc < 0) {
            fail(c, c->rhead_len == 0);
            return;
        }
        if (rc == 0)
            return;
        if (c->resp.status >= 100 && c->resp.status < 200 && c->resp.status != 101) {
            /* Interim answer: pass it on verbatim, wait for the final one. */
            size_t off = 0;
            if (flush(c->cfd, c->rhead, c->rhead_len, &off) != 1) {
                proxy_conn_close(c);
                return;
            }
            c->rhead_len = 0;
            forward_event(c);
            return;
        }
        {
            enum http_body_kind kind;
            uint64_t len;
            const struct http_header *ch = http_find_header(&c->resp, "connection");
            if (http_response_body(&c->resp, c->req.method, &kind, &len) < 0) {
                proxy_conn_close(c);
                return;
            }
            if (kind == HTTP_BODY_UNTIL_CLOSE)
                c->close_after_response = true;
            c->upstream_reusable = c->resp.version_minor == 1 && kind != HTTP_BODY_UNTIL_CLOSE &&
                                   !(ch && http_value_has_token(ch->value, "close")) &&
                                   c->resp.status != 101;
            if (build_response_head(c) < 0) {
                proxy_conn_close(c);
                return;
            }
            if (c->resp.status == 101) {
                c->u2c.body = HTTP_BODY_NONE;
            } else {
                pump_release(c->w, &c->u2c);
                if (kind == HTTP_BODY_CHUNKED)
                    pump_init_buffered(&c->u2c, c->ufd, c->cfd);
                else
                    pump_init_splice(c->w, &c->u2c, c->ufd, c->cfd);
                c->u2c.body = kind;
                c->u2c.framed = kind != HTTP_BODY_UNTIL_CLOSE;
                c->u2c.remaining = len;
                c->u2c.done = kind == HTTP_BODY_NONE;
            }
        }
        c->state = CS_FWD_RESPONSE_BODY;
    }
    if (c->state == CS_FWD_RESPONSE_BODY) {
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
            c->connect = false;
            conn_tunnel_start(c);
            return;
        }
        if (!c->c2u.done) {
            rc = pump_run(&c->c2u, 16);
            if (rc < 0) {
                proxy_conn_close(c);
                return;
            }
        }
        rc = pump_run(&c->u2c, 16);
        if (rc < 0) {
            proxy_conn_close(c);
            return;
        }
        if (c->u2c.done || (!c->u2c.framed && c->u2c.dst_shut)) {
            if (!c->c2u.done) {
                /* The upstream answered before reading the whole body: the
                 * client stream is out of sync, so it cannot be reused. */
                c->upstream_reusable = false;
                c->close_after_response = true;
            }
            forward_complete(c);
            return;
        }
        if (rc == 1) {
            if (!c->in_ready) {
                c->in_ready = true;
                c->ready_next = c->w->ready;
                c->w->ready = c;
            }
        }
    }
}
