/*
 * proxy_int.h - private types of the egress proxy, shared by its files:
 *   proxy.c          lifecycle, workers, accept, timeouts
 *   proxy_conn.c     per-connection state machine (head, decision, connect)
 *   proxy_relay.c    byte pumps: splice tunnels and framed HTTP bodies
 *   proxy_forward.c  forward-HTTP request rewrite and response handling
 *   proxy_decide.c   the decision: identity, policy, SSRF (may block)
 *   proxy_pool.c     the blocking-work pool and its completion queues
 *   proxy_ssrf.c     name resolution and the SSRF tiers
 *   proxy_respond.c  the canned responses of network.md §13
 *
 * DESIGN: a connection belongs to one worker for its whole life and is only
 * touched by that worker's thread, except while a decision job is out: then
 * the pool thread owns the job (not the connection) and hands the result
 * back through the worker's completion queue.  Nothing on the data path
 * takes a lock but that queue's.
 */
#ifndef OSH_PROXY_INT_H
#define OSH_PROXY_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http_head.h"
#include "identity.h"
#include "osh/network/proxy.h"
#include "osh/events.h"
#include "osh/policy.h"

#define PROXY_HEAD_MAX 8192       /* initial request head: larger gets 431 */
#define PROXY_RESP_HEAD_MAX 16384 /* upstream response head */
#define PROXY_BUF 16384           /* per-direction body buffer */
#define PROXY_MAX_ADDRS 8
#define PROXY_PIPE_SIZE (256 * 1024)

struct proxy;
struct worker;
struct conn;

/* Everything an epoll event can point at starts with this tag. */
enum ev_kind {
    EV_LISTENER,
    EV_WAKE,
    EV_CONN_CLIENT,
    EV_CONN_UPSTREAM,
    EV_IDLE_UPSTREAM,
};

struct ev_tag {
    enum ev_kind kind;
};

/* One direction of a relay: src -> (pipe or buffer) -> dst. */
struct pump {
    int src, dst;
    int pipe_r, pipe_w; /* splice pipe; -1 when buffered mode */
    size_t in_pipe;
    char *buf; /* buffered mode (chunked bodies) */
    size_t buf_off, buf_len;
    bool src_eof;
    bool dst_shut;
    bool framed;      /* a framed HTTP body: stop at `remaining` / chunk end */
    bool done;        /* framed body fully relayed */
    uint64_t remaining; /* HTTP_BODY_LENGTH */
    enum http_body_kind body;
    struct http_chunked chunk;
};

enum conn_state {
    CS_READ_HEAD,
    CS_DECIDING,
    CS_CONNECTING,
    CS_TUNNEL,
    CS_FWD_REQUEST,
    CS_FWD_RESPONSE_HEAD,
    CS_FWD_RESPONSE_BODY,
    CS_RESPOND_CLOSE,
    CS_CLOSED,
};

/* Result of a decision, filled by proxy_decide(). */
struct decision {
    bool allow;
    enum osh_denial_stage stage;
    enum osh_deny_group group;
    int status;          /* HTTP status for the deny answer; 0 = close silently */
    char error[40];      /* policy_denied, ssrf_denied, ... */
    char detail[600];    /* client-visible detail (no secrets) */
    char *reason;        /* full reason for logs/events (malloc) */
    const char *matched_policy; /* borrowed from the pinned generation */
    bool l7;             /* forward request evaluated at L7 */
    bool tls_skip;
    int n_addrs;
    struct sockaddr_storage addrs[PROXY_MAX_ADDRS];
    char canon_target[PROXY_HEAD_MAX + 8]; /* forward: origin-form target to send upstream */
};

struct conn {
    struct ev_tag client_tag; /* EV_CONN_CLIENT */
    struct ev_tag upstream_tag; /* EV_CONN_UPSTREAM */
    struct worker *w;
    struct conn *next, *prev; /* worker's list */
    struct conn *ready_next;  /* worker's ready list (relay budget used up) */
    bool in_ready;
    enum conn_state state;
    int cfd, ufd;
    struct sockaddr_storage peer, local;
    uint64_t deadline_ms; /* 0 = none */
    uint64_t last_io_ms;

    /* client request head: head[0..head_len) is the current head;
     * head[head_len..head_fill) what the client sent after it (body
     * prefix, a pipelined request, a CONNECT's first TLS bytes) */
    char *head;
    size_t head_len, head_fill, head_scan;
    struct http_head req;
    bool connect;         /* CONNECT vs forward */
    bool client_keepalive;
    char host[256];       /* as requested (for DNS) */
    char host_lc[256];
    uint16_t port;
    char scheme[8];
    size_t fwd_path_off, fwd_path_len; /* origin-form path+query in head */
    enum http_body_kind req_body;
    uint64_t req_len;

    /* pinned policy generation and cached identity */
    struct osh_policy *gen;
    bool have_identity;
    struct osh_peer_identity id;
    char id_error[1024];  /* identity failure, reported as a deny */
    int id_rc;

    /* decision and upstream connect */
    struct decision dec;
    bool job_out;         /* a decision job holds this connection */
    atomic_bool dead;     /* closed while the job was out: free on completion */
    int addr_idx;
    char pool_key[320];

    /* outgoing bytes to the client (canned answers, heads) */
    char *out;
    size_t out_len, out_off;
    /* outgoing bytes to the upstream (request head) */
    char *uout;
    size_t uout_len, uout_off;

    /* forward HTTP response head: rhead[0..rhead_len) the head,
     * rhead[rhead_len..rhead_fill) body bytes read with it */
    char *rhead;
    size_t rhead_len, rhead_fill;
    struct http_head resp;
    bool upstream_reusable;
    bool close_after_response;
    bool parked; /* ufd is a reusable upstream kept between requests */
    struct sockaddr_storage up_addr; /* where ufd leads */
    /* Readability seen by epoll (edge-triggered) and not yet read to
     * EAGAIN: lets the worker skip reads that would only say EAGAIN. */
    bool cli_in, up_in;

    struct pump c2u, u2c;
};

/* An idle upstream connection kept for reuse (forward HTTP). */
struct idle_up {
    struct ev_tag tag; /* EV_IDLE_UPSTREAM */
    struct idle_up *next, *prev;
    int fd;
    uint64_t since_ms;
    char key[320];
};

/* Completed decision jobs, handed back to the worker. */
struct job {
    struct job *next;
    struct conn *c;
};

struct worker {
    struct proxy *px;
    unsigned index;
    pthread_t thread;
    int epfd;
    int wakefd; /* eventfd: completions and stop */
    struct ev_tag listener_tag, wake_tag;
    bool listening;
    uint64_t accept_resume_ms;
    unsigned accept_failures;
    struct conn *conns;
    size_t n_conns;
    struct idle_up *idle;
    size_t n_idle;
    pthread_mutex_t done_lock;
    struct job *done; /* LIFO of completed jobs, drained by the worker */
    struct conn *ready; /* relays to resume next loop (fairness) */
    struct conn *graveyard; /* freed after the current epoll batch */
    struct idle_up *idle_graveyard;
    bool trim_pending; /* connections came and went since the last malloc_trim */
    int free_pipes[64][2];
    size_t n_free_pipes;
};

struct proxy {
    struct osh_proxy_config cfg;
    char address[64];
    int lfd;
    struct worker *workers;
    unsigned n_workers;
    pthread_t *deciders;
    unsigned n_deciders;
    struct osh_tofu_cache *tofu;
    struct osh_identity *identity;
    struct sockaddr_storage trusted_gateway; /* ss_family 0 = none */
    atomic_bool stopping;
    atomic_int entrypoint; /* pid of the workload, 0 = none */
    char *busy;            /* the 503 answer over max_conns, built at start */
    size_t busy_len;
    bool started;
    /* blocking-work queue */
    pthread_mutex_t q_lock;
    pthread_cond_t q_cond;
    struct job *q_head, *q_tail;
    bool q_stop;
    /* stats */
    atomic_uint_fast64_t st_accepted, st_open, st_requests, st_denied, st_accept_errors,
        st_refused;
};

/* proxy.c */
uint64_t proxy_now_ms(void);
void proxy_conn_close(struct conn *c);
void worker_arm(struct worker *w, int fd, struct ev_tag *tag, uint32_t events, bool add);

/* proxy_conn.c */
void conn_on_accept(struct worker *w, int fd);
void conn_on_event(struct conn *c, bool upstream, uint32_t events);
void conn_on_decided(struct conn *c);
void conn_on_timeout(struct conn *c);
void conn_free(struct conn *c);
void conn_respond(struct conn *c, int status, const char *error, const char *detail);
void conn_respond_raw(struct conn *c, const char *bytes, size_t len);
void conn_emit_denial(struct conn *c);
void conn_emit_activity(struct conn *c, bool denied, enum osh_deny_group group);
void conn_next_request(struct conn *c, size_t consumed);

/* proxy_relay.c */
void pump_init_splice(struct worker *w, struct pump *p, int src, int dst);
void pump_init_buffered(struct pump *p, int src, int dst);
void pump_release(struct worker *w, struct pump *p);
/* Moves bytes; returns <0 on a hard error, 1 when it stopped because of its
 * budget (call again), 0 when it waits for I/O or is finished. */
int pump_run(struct pump *p, int budget);
void conn_tunnel_start(struct conn *c);
void conn_tunnel_event(struct conn *c);

/* proxy_forward.c */
int forward_prepare(struct conn *c); /* parse target; 0 or sends the 400 */
void forward_start(struct conn *c);  /* upstream connected: send request */
void forward_event(struct conn *c);
int forward_pool_take(struct conn *c);
void forward_pool_put(struct worker *w, int fd, const char *key);
void forward_pool_sweep(struct worker *w, uint64_t now);
void forward_idle_event(struct worker *w, struct idle_up *u);
void forward_parked_event(struct conn *c);
int forward_take_parked(struct conn *c);

/* proxy_decide.c / proxy_pool.c */
bool decide_needs_pool(const struct conn *c);
void decide(struct proxy *px, struct conn *c);
void pool_submit(struct proxy *px, struct conn *c);
void *pool_thread(void *arg);
void pool_complete(struct conn *c);

/* proxy_ssrf.c */
int ssrf_check(struct proxy *px, const char *host, const char *host_lc, uint16_t port,
               const struct osh_decision_result *r, struct decision *d, bool connect,
               const char *method, pid_t entrypoint);

/* proxy_respond.c */
int respond_build(int status, const char *error, const char *detail, char **out, size_t *len);

#endif /* OSH_PROXY_INT_H */
