/*
 * proxy_relay.c - moving bytes.  A pump carries one direction:
 *   - splice mode: src socket -> pipe -> dst socket with splice(2), no copy
 *     into user space (CONNECT tunnels, Content-Length and until-close
 *     bodies); a framed pump never reads past its Content-Length, so the
 *     next request or response stays in the socket;
 *   - buffered mode: chunked bodies, whose end is only known by parsing;
 *     bytes are peeked, the chunk parser says how many belong to this
 *     message, and exactly those are consumed.
 * Half-close: when the source ends and the pipe is empty, the destination
 * gets shutdown(SHUT_WR), so each direction ends on its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy_int.h"

static int
pipe_get(struct worker *w, int fds[2])
{
    if (w->n_free_pipes > 0) {
        w->n_free_pipes--;
        fds[0] = w->free_pipes[w->n_free_pipes][0];
        fds[1] = w->free_pipes[w->n_free_pipes][1];
        return 0;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
        return -errno;
    /* Larger pipes mean fewer splice calls on bulk transfers; the default
     * (64 KiB) is kept if the system refuses. */
    fcntl(fds[1], F_SETPIPE_SZ, PROXY_PIPE_SIZE);
    return 0;
}

void
pump_init_splice(struct worker *w, struct pump *p, int src, int dst)
{
    int fds[2];

    memset(p, 0, sizeof(*p));
    p->src = src;
    p->dst = dst;
    p->pipe_r = p->pipe_w = -1;
    if (pipe_get(w, fds) == 0) {
        p->pipe_r = fds[0];
        p->pipe_w = fds[1];
    }
}

void
pump_init_buffered(struct pump *p, int src, int dst)
{
    memset(p, 0, sizeof(*p));
    p->src = src;
    p->dst = dst;
    p->pipe_r = p->pipe_w = -1;
}

/* Returns the pipe to the worker's cache when it is empty, else closes it
 * (bytes still inside must never leak into another connection). */
void
pump_release(struct worker *w, struct pump *p)
{
    if (p->pipe_r >= 0) {
        if (p->in_pipe == 0 && w->n_free_pipes < 64) {
            w->free_pipes[w->n_free_pipes][0] = p->pipe_r;
            w->free_pipes[w->n_free_pipes][1] = p->pipe_w;
            w->n_free_pipes++;
        } else {
            close(p->pipe_r);
            close(p->pipe_w);
        }
    }
    p->pipe_r = p->pipe_w = -1;
    p->in_pipe = 0;
    free(p->buf);
    p->buf = NULL;
}

static int
pump_splice(struct pump *p, int budget)
{
    const unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

    if (p->pipe_r < 0)
        return -ENOMEM;
    while (budget-- > 0) {
        bool progressed = false;

        if (p->in_pipe > 0) {
            ssize_t n = splice(p->pipe_r, NULL, p->dst, NULL, p->in_pipe, flags);
            if (n < 0 && errno == EAGAIN)
                return 0; /* destination full: wait for EPOLLOUT */
            if (n < 0 && errno != EINTR)
                return -errno;
            if (n > 0) {
                p->in_pipe -= (size_t)n;
                progressed = true;
            }
        }
        if (p->in_pipe == 0) {
            if (p->framed && p->remaining == 0) {
                p->done = true;
                return 0;
            }
            if (p->src_eof) {
                if (p->framed)
                    return -EPIPE; /* body cut short */
                if (!p->dst_shut) {
                    shutdown(p->dst, SHUT_WR);
                    p->dst_shut = true;
                }
                return 0;
            }
        }
        if (!p->src_eof && p->in_pipe < PROXY_PIPE_SIZE) {
            size_t want = PROXY_PIPE_SIZE - p->in_pipe;
            ssize_t n;
            if (p->framed && want > p->remaining)
                want = (size_t)p->remaining;
            if (want > 0) {
                n = splice(p->src, NULL, p->pipe_w, NULL, want, flags);
                if (n == 0) {
                    p->src_eof = true;
                    progressed = true;
                } else if (n > 0) {
                    p->in_pipe += (size_t)n;
                    if (p->framed)
                        p->remaining -= (uint64_t)n;
                    progressed = true;
                } else if (errno == EAGAIN) {
                    /* Either no input or a full pipe: if the pipe holds
                     * bytes the destination drains it on its next event. */
                    if (p->in_pipe == 0)
                        return 0;
                } else if (errno != EINTR) {
                    return -errno;
                }
            }
        }
        if (!progressed)
            return 0;
    }
    return 1;
}

static int
pump_buffered(struct pump *p, int budget)
{
    if (p->buf == NULL && (p->buf = malloc(PROXY_BUF)) == NULL)
        return -ENOMEM;
    while (budget-- > 0) {
        if (p->buf_off < p->buf_len) {
            ssize_t n = send(p->dst, p->buf + p->buf_off, p->buf_len - p->buf_off, MSG_NOSIGNAL);
            if (n < 0 && errno == EAGAIN)
                return 0;
            if (n < 0 && errno != EINTR)
                return -errno;
            if (n > 0)
                p->buf_off += (size_t)n;
            continue;
        }
        if (p->chunk.done) {
            p->done = true;
            return 0;
        }
        if (p->src_eof)
            return -EPIPE;
        {
            ssize_t n = recv(p->src, p->buf, PROXY_BUF, MSG_PEEK);
            long take;
            if (n == 0) {
                p->src_eof = true;
                continue;
            }
            if (n < 0 && errno == EAGAIN)
                return 0;
            if (n < 0)
                return errno == EINTR ? 1 : -errno;
            take = http_chunked_advance(&p->chunk, p->buf, (size_t)n);
            if (take < 0)
                return -EBADMSG;
            n = recv(p->src, p->buf, (size_t)take, 0);
            if (n != take)
                return -EIO;
            p->buf_off = 0;
            p->buf_len = (size_t)n;
        }
    }
    return 1;
}

int
pump_run(struct pump *p, int budget)
{
    if (p->done)
        return 0;
    if (p->framed && p->body == HTTP_BODY_CHUNKED)
        return pump_buffered(p, budget);
    return pump_splice(p, budget);
}

/* ---- CONNECT tunnels ----------------------------------------------------- */

static void
make_ready(struct conn *c)
{
    if (!c->in_ready) {
        c->in_ready = true;
        c->ready_next = c->w->ready;
        c->w->ready = c;
    }
}

void
conn_tunnel_start(struct conn *c)
{
    static const char established[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
    ssize_t n;

    /* The 200 goes out only now that the upstream answered (§1.5.7).  It is
     * 39 bytes on a fresh socket: a short write here would mean a broken
     * client, which we drop. */
    if (c->connect) {
        n = send(c->cfd, established, sizeof(established) - 1, MSG_NOSIGNAL);
        if (n != (ssize_t)sizeof(established) - 1) {
            proxy_conn_close(c);
            return;
        }
    }
    /* What the client sent right after its head (a pipelined TLS
     * ClientHello, the first bytes after an upgrade) goes first.  At most
     * 8 KiB onto a socket that just connected: it fits its send buffer, so
     * a short write means a broken upstream. */
    if (c->head_fill > c->head_len) {
        size_t len = c->head_fill - c->head_len;
        n = send(c->ufd, c->head + c->head_len, len, MSG_NOSIGNAL);
        if (n != (ssize_t)len) {
            proxy_conn_close(c);
            return;
        }
        c->head_len = c->head_fill;
    }
    pump_init_splice(c->w, &c->c2u, c->cfd, c->ufd);
    pump_init_splice(c->w, &c->u2c, c->ufd, c->cfd);
    if (c->c2u.pipe_r < 0 || c->u2c.pipe_r < 0) {
        proxy_conn_close(c);
        return;
    }
    c->state = CS_TUNNEL;
    c->last_io_ms = proxy_now_ms();
    conn_tunnel_event(c);
}

void
conn_tunnel_event(struct conn *c)
{
    int a = pump_run(&c->c2u, 8);
    int b = pump_run(&c->u2c, 8);

    if (a < 0 || b < 0) {
        proxy_conn_close(c); /* reset or broken pipe: both sides go */
        return;
    }
    c->last_io_ms = proxy_now_ms();
    if (c->c2u.dst_shut && c->u2c.dst_shut) {
        proxy_conn_close(c);
        return;
    }
    if (a == 1 || b == 1)
        make_ready(c);
}
