/*
 * identity.c - which binary owns the client end of a TCP connection the
 * proxy accepted (network.md §2): socket → inode through NETLINK_SOCK_DIAG,
 * inode → owning processes through /proc (identity_procfs.c), and each
 * owner's exe, ancestors and cmdline paths, every binary pinned by the TOFU
 * cache (identity_tofu.c).
 *
 * DESIGN
 * The client socket lives in the sandbox's network namespace; the proxy's
 * own namespace only holds the accepted end, so a lookup there finds
 * nothing or, with the tuple reversed, the proxy's own socket
 * (identity-notes.md §2).  A netlink socket stays bound to the namespace it
 * was created in, so osh_identity_new() creates one sock_diag socket inside
 * the client's netns (the calling thread setns()es in and back) and every
 * lookup reuses it: one exact INET_DIAG_REQ_V2 request, ≈4 µs, instead of
 * parsing /proc/PID/net/tcp (≈5 ms, whatever the sandbox size).  The one
 * socket is shared by all pool threads, so a mutex serializes each
 * request/reply exchange and a sequence number ties the reply to it; a
 * receive timeout bounds the wait should the kernel never answer.
 *
 * The exact lookup matches the full 4-tuple, unlike the reference's
 * local-port-only match, and still sees half-closed (FIN_WAIT2) clients.
 * The kernel falls back to a listener for the tuple's local address when
 * no connection matches, so a reply whose ports are not the tuple's, or
 * which is a listener, is "not found": otherwise a process listening on a
 * port a vanished client used would be blamed for the connection.
 *
 * Each executable is opened once through /proc/PID/exe and that one fd
 * gives both the name (readlink of our own fd) and the bytes (the TOFU
 * hash), so an exec() racing the lookup cannot pair one binary's name with
 * another's hash, and deleted or memfd binaries are checked too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

#include "identity.h"

#define IDENTITY_MAX_OWNERS 64              /* holders of one client socket compared */
#define IDENTITY_HINTS 8                    /* recent owners checked before a /proc scan */
#define IDENTITY_CACHE 16                   /* recent owners' ancestors and cmdline paths */
#define IDENTITY_CACHE_MS 1000              /* how long they are reused */

/*
 * A client usually opens many connections.  Its ancestors and cmdline paths
 * are reused for IDENTITY_CACHE_MS while the owner is the same process: same
 * pid, same parent, same executable (dev, ino), same entrypoint.  The
 * owner's own binary is TOFU-checked on every connection regardless; an
 * ancestor's binary swapped on disk is noticed at most IDENTITY_CACHE_MS
 * later.
 */
struct id_cache_entry {
    pid_t pid, ppid, entry;
    dev_t dev;
    ino_t ino;
    uint64_t at_ms; /* 0: empty */
    char *ancestors[OSH_IDENTITY_MAX_ANCESTORS];
    size_t n_ancestors;
    char *cmdline_paths[OSH_IDENTITY_MAX_ANCESTORS];
    size_t n_cmdline_paths;
};
#define DIAG_RECV_TIMEOUT_MS 1000           /* the kernel answers synchronously; a bound */
#define DIAG_MAX_DATAGRAMS 64               /* stale replies skipped before giving up */
#define DIAG_BUF_SIZE 8192                  /* a reply is 124 bytes */
#define ADDR_STR_MAX (INET6_ADDRSTRLEN + 8) /* "[v6]:65535" */
#define TUPLE_STR_MAX (2 * ADDR_STR_MAX + 8)
#define TOFU_ERR_MAX (4096 + 256) /* a path plus the integrity message */

struct osh_identity {
    int diag_fd;                 /* NETLINK_SOCK_DIAG, bound to the client netns */
    int proc_fd;                 /* O_DIRECTORY fd of /proc */
    pthread_mutex_t diag_lock;   /* one request/reply exchange at a time on diag_fd */
    uint32_t diag_seq;           /* guarded by diag_lock */
    _Atomic pid_t entrypoint;    /* 0 = none */
    pthread_mutex_t hint_lock;   /* recent owner pids, newest first, and the cache */
    pid_t hints[IDENTITY_HINTS];
    struct id_cache_entry cache[IDENTITY_CACHE];
    struct osh_tofu_cache *tofu; /* borrowed */
};

/* The client socket's 4-tuple as the client sees it: src = client. */
struct diag_tuple {
    int family;      /* AF_INET or AF_INET6 */
    uint8_t src[16]; /* network order; AF_INET uses the first 4 bytes */
    uint8_t dst[16];
    uint16_t sport; /* host order */
    uint16_t dport;
};

struct diag_result {
    unsigned long ino;
    uid_t uid;
    uint8_t state;
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void remember_owner(struct osh_identity *id, pid_t pid);
static void free_strv(char **v, size_t *n);
static int cache_take(struct osh_identity *id, pid_t pid, pid_t ppid, pid_t entry,
                      const struct stat *exe, struct osh_peer_identity *p);
static void cache_put(struct osh_identity *id, pid_t pid, pid_t ppid, pid_t entry,
                      const struct stat *exe, const struct osh_peer_identity *p);
static void errappend(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int diag_socket_in_netns(int proc_fd, int netns_fd);
static int tuple_from_addrs(const struct sockaddr *peer, const struct sockaddr *local,
                            struct diag_tuple *t);
static void tuple_format(const struct diag_tuple *t, char *buf, size_t len);
static void tuple_to_mapped(const struct diag_tuple *t, struct diag_tuple *m);
static int diag_lookup(struct osh_identity *id, const struct diag_tuple *t,
                       struct diag_result *res);
static int diag_query(struct osh_identity *id, const struct diag_tuple *t, struct diag_result *res);
static int diag_exchange_locked(struct osh_identity *id, const struct diag_tuple *t, uint32_t seq,
                                struct diag_result *res);
static int diag_parse(const uint8_t *buf, size_t len, const struct diag_tuple *t, uint32_t seq,
                      struct diag_result *res);
static int owner_identity(struct osh_identity *id, pid_t pid, pid_t entry,
                          struct osh_peer_identity *p, char *err, size_t errlen);
static int walk_ancestors(struct osh_identity *id, pid_t pid, pid_t entry,
                          struct osh_peer_identity *p, pid_t *chain, size_t *nchain, char *err,
                          size_t errlen);
static int add_ancestor(struct osh_identity *id, pid_t pid, struct osh_peer_identity *p, char *err,
                        size_t errlen);
static int add_cmdline_paths(struct osh_identity *id, pid_t pid, struct osh_peer_identity *p);
static bool cmdline_path_wanted(const struct osh_peer_identity *p, const char *arg);
static bool identity_equal(const struct osh_peer_identity *a, const struct osh_peer_identity *b);
static const char *errstr(int e, char *buf, size_t len);

struct osh_identity *
osh_identity_new(int netns_fd, pid_t entrypoint_pid, struct osh_tofu_cache *tofu)
{
    struct timeval tv = {
        .tv_sec = DIAG_RECV_TIMEOUT_MS / 1000,
        .tv_usec = (DIAG_RECV_TIMEOUT_MS % 1000) * 1000,
    };
    struct osh_identity *id = NULL;
    int rc;

    if (tofu == NULL || entrypoint_pid < 0 || netns_fd < -1) {
        rc = -EINVAL;
        goto fail;
    }
    id = calloc(1, sizeof(*id));
    if (id == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    id->diag_fd = -1;
    id->proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (id->proc_fd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = diag_socket_in_netns(id->proc_fd, netns_fd);
    if (rc < 0)
        goto fail;
    id->diag_fd = rc;
    if (setsockopt(id->diag_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
        rc = -errno;
        goto fail;
    }
    atomic_init(&id->entrypoint, entrypoint_pid);
    id->tofu = tofu;
    /* last step that can fail, so the failure path never destroys it */
    rc = -pthread_mutex_init(&id->diag_lock, NULL);
    if (rc != 0)
        goto fail;
    if ((rc = -pthread_mutex_init(&id->hint_lock, NULL)) != 0) {
        pthread_mutex_destroy(&id->diag_lock);
        goto fail;
    }
    return id;

fail:
    if (id != NULL && id->diag_fd >= 0)
        close(id->diag_fd);
    if (id != NULL && id->proc_fd >= 0)
        close(id->proc_fd);
    free(id); id = NULL;
    errno = -rc;
    return NULL;
}

void
osh_identity_set_entrypoint(struct osh_identity *id, pid_t pid)
{
    if (id == NULL || pid < 0)
        return;
    /* relaxed: the pid is a self-contained value, it publishes nothing else */
    atomic_store_explicit(&id->entrypoint, pid, memory_order_relaxed);
}

void
osh_identity_free(struct osh_identity *id)
{
    if (id == NULL)
        return;
    close(id->diag_fd);
    id->diag_fd = -1;
    close(id->proc_fd);
    id->proc_fd = -1;
    pthread_mutex_destroy(&id->diag_lock);
    pthread_mutex_destroy(&id->hint_lock);
    for (size_t i = 0; i < IDENTITY_CACHE; i++) {
        free_strv(id->cache[i].ancestors, &id->cache[i].n_ancestors);
        free_strv(id->cache[i].cmdline_paths, &id->cache[i].n_cmdline_paths);
    }
    free(id);
}

void
osh_peer_identity_clear(struct osh_peer_identity *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_ancestors && i < OSH_IDENTITY_MAX_ANCESTORS; i++) {
        free(p->ancestors[i]); p->ancestors[i] = NULL;
    }
    for (size_t i = 0; i < p->n_cmdline_paths && i < OSH_IDENTITY_MAX_ANCESTORS; i++) {
        free(p->cmdline_paths[i]); p->cmdline_paths[i] = NULL;
    }
    memset(p, 0, sizeof(*p));
}

int
osh_identity_resolve(struct osh_identity *id, const struct sockaddr *peer,
                     const struct sockaddr *local, struct osh_peer_identity *out, char *err,
                     size_t errlen)
{
    struct osh_peer_identity *cand = NULL;
    pid_t owners[IDENTITY_MAX_OWNERS], hints[IDENTITY_HINTS];
    size_t n_owners = 0, n_tree = 0, n_other = 0, n_unreadable = 0, n_resolved = 0;
    char tuple_s[TUPLE_STR_MAX];
    struct diag_result dr;
    struct diag_tuple t;
    char eb[128];
    pid_t entry;
    int rc;

    seterr(err, errlen, "%s", "");
    if (out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    if (id == NULL || peer == NULL || local == NULL) {
        rc = -EINVAL;
        seterr(err, errlen, "invalid argument to identity resolve");
        goto out;
    }
    rc = tuple_from_addrs(peer, local, &t);
    if (rc != 0) {
        seterr(err, errlen, "unsupported client address (family %d / %d)", peer->sa_family,
               local->sa_family);
        goto out;
    }
    tuple_format(&t, tuple_s, sizeof(tuple_s));

    rc = diag_lookup(id, &t, &dr);
    if (rc == -ENOENT) {
        seterr(err, errlen,
               "No TCP socket found for connection %s in the sandbox network "
               "namespace",
               tuple_s);
        goto out;
    }
    if (rc != 0) {
        seterr(err, errlen, "sock_diag lookup of connection %s failed: %s", tuple_s,
               errstr(-rc, eb, sizeof(eb)));
        goto out;
    }
    if (dr.ino == 0) {
        rc = -ENOENT;
        seterr(err, errlen, "client socket of connection %s is already closed (TCP state %u)",
               tuple_s, (unsigned)dr.state);
        goto out;
    }

    /* relaxed: see osh_identity_set_entrypoint() */
    entry = atomic_load_explicit(&id->entrypoint, memory_order_relaxed);
    pthread_mutex_lock(&id->hint_lock);
    memcpy(hints, id->hints, sizeof(hints));
    pthread_mutex_unlock(&id->hint_lock);
    rc = osh_identity_procfs_owners(id->proc_fd, dr.ino, entry, dr.uid, hints, IDENTITY_HINTS,
                                    owners, IDENTITY_MAX_OWNERS, &n_owners, &n_tree, &n_other,
                                    &n_unreadable);
    if (rc == -E2BIG) {
        seterr(err, errlen, "socket inode %lu is held by more than %d processes", dr.ino,
               IDENTITY_MAX_OWNERS);
        goto out;
    }
    if (rc != 0) {
        seterr(err, errlen, "Failed to scan /proc for socket inode %lu: %s", dr.ino,
               errstr(-rc, eb, sizeof(eb)));
        goto out;
    }
    if (n_owners == 0) {
        rc = -ENOENT;
        if (entry > 0)
            seterr(err, errlen,
                   "No process found owning socket inode %lu (scanned %zu descendants of "
                   "entrypoint PID %d, then %zu other processes)",
                   dr.ino, n_tree, (int)entry, n_other);
        else
            seterr(err, errlen,
                   "No process found owning socket inode %lu (no entrypoint; scanned %zu "
                   "processes)",
                   dr.ino, n_other);
        if (n_unreadable > 0)
            errappend(err, errlen,
                      "; %zu fd tables were unreadable: the supervisor needs CAP_SYS_PTRACE",
                      n_unreadable);
        goto out;
    }

    cand = calloc(1, sizeof(*cand));
    if (cand == NULL) {
        rc = -ENOMEM;
        seterr(err, errlen, "out of memory");
        goto out;
    }
    /* owners are ascending: the first one resolved is the reported pid */
    for (size_t i = 0; i < n_owners; i++) {
        struct osh_peer_identity *dst = n_resolved == 0 ? out : cand;

        rc = owner_identity(id, owners[i], entry, dst, err, errlen);
        if (rc == -ESRCH) {
            osh_peer_identity_clear(dst); /* exited: it no longer holds the socket */
            continue;
        }
        if (rc != 0)
            goto out;
        if (n_resolved > 0 && !identity_equal(out, cand)) {
            rc = -EBADE;
            seterr(err, errlen, "ambiguous shared socket ownership: inode %lu is held by PIDs [",
                   dr.ino);
            for (size_t k = 0; k < n_owners; k++)
                errappend(err, errlen, "%s%d", k ? ", " : "", (int)owners[k]);
            errappend(err, errlen, "] with different policy identities");
            goto out;
        }
        osh_peer_identity_clear(cand);
        n_resolved++;
    }
    if (n_resolved == 0) {
        rc = -ENOENT;
        seterr(err, errlen, "No process found owning socket inode %lu (every owner exited)",
               dr.ino);
        goto out;
    }
    out->uid = dr.uid;
    remember_owner(id, out->pid);
    seterr(err, errlen, "%s", "");
    rc = 0;

out:
    osh_peer_identity_clear(cand);
    free(cand); cand = NULL;
    if (rc != 0)
        osh_peer_identity_clear(out);
    return rc;
}

/* Moves `pid` to the front of the recent-owner hints. */
static void
remember_owner(struct osh_identity *id, pid_t pid)
{
    size_t i;

    pthread_mutex_lock(&id->hint_lock);
    for (i = 0; i < IDENTITY_HINTS - 1 && id->hints[i] != pid; i++)
        ;
    memmove(id->hints + 1, id->hints, i * sizeof(id->hints[0]));
    id->hints[0] = pid;
    pthread_mutex_unlock(&id->hint_lock);
}

/* ---- owner cache ----------------------------------------------------- */

static uint64_t
mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
copy_strv(char **dst, size_t *ndst, char *const *src, size_t n)
{
    *ndst = 0;
    for (size_t i = 0; i < n; i++) {
        dst[i] = strdup(src[i]);
        if (dst[i] == NULL)
            return -ENOMEM;
        *ndst = i + 1;
    }
    return 0;
}

static void
free_strv(char **v, size_t *n)
{
    for (size_t i = 0; i < *n; i++) {
        free(v[i]);
        v[i] = NULL;
    }
    *n = 0;
}

/* Fills p's ancestors and cmdline paths from a fresh matching entry. */
static int
cache_take(struct osh_identity *id, pid_t pid, pid_t ppid, pid_t entry, const struct stat *exe,
           struct osh_peer_identity *p)
{
    uint64_t now = mono_ms();
    int rc = -ENOENT;

    pthread_mutex_lock(&id->hint_lock);
    for (size_t i = 0; i < IDENTITY_CACHE; i++) {
        struct id_cache_entry *e = &id->cache[i];
        if (e->at_ms == 0 || now - e->at_ms > IDENTITY_CACHE_MS || e->pid != pid ||
            e->ppid != ppid || e->entry != entry || e->dev != exe->st_dev ||
            e->ino != exe->st_ino)
            continue;
        rc = copy_strv(p->ancestors, &p->n_ancestors, e->ancestors, e->n_ancestors);
        if (rc == 0)
            rc = copy_strv(p->cmdline_paths, &p->n_cmdline_paths, e->cmdline_paths,
                           e->n_cmdline_paths);
        if (rc != 0) {
            free_strv(p->ancestors, &p->n_ancestors);
            free_strv(p->cmdline_paths, &p->n_cmdline_paths);
        }
        break;
    }
    pthread_mutex_unlock(&id->hint_lock);
    return rc;
}

/* Stores p's walk, replacing the oldest entry. */
static void
cache_put(struct osh_identity *id, pid_t pid, pid_t ppid, pid_t entry, const struct stat *exe,
          const struct osh_peer_identity *p)
{
    struct id_cache_entry *victim = NULL;

    pthread_mutex_lock(&id->hint_lock);
    for (size_t i = 0; i < IDENTITY_CACHE; i++) {
        struct id_cache_entry *e = &id->cache[i];
        if (e->pid == pid || e->at_ms == 0) {
            victim = e;
            break;
        }
        if (victim == NULL || e->at_ms < victim->at_ms)
            victim = e;
    }
    free_strv(victim->ancestors, &victim->n_ancestors);
    free_strv(victim->cmdline_paths, &victim->n_cmdline_paths);
    victim->pid = pid;
    victim->ppid = ppid;
    victim->entry = entry;
    victim->dev = exe->st_dev;
    victim->ino = exe->st_ino;
    if (copy_strv(victim->ancestors, &victim->n_ancestors, p->ancestors, p->n_ancestors) < 0 ||
        copy_strv(victim->cmdline_paths, &victim->n_cmdline_paths, p->cmdline_paths,
                  p->n_cmdline_paths) < 0) {
        free_strv(victim->ancestors, &victim->n_ancestors);
        free_strv(victim->cmdline_paths, &victim->n_cmdline_paths);
        victim->at_ms = 0;
    } else {
        victim->at_ms = mono_ms();
    }
    pthread_mutex_unlock(&id->hint_lock);
}

/* ---- sock_diag ---------------------------------------------------------------- */

/*
 * The socket joins the netns of the thread calling socket(), so this thread
 * visits the client netns for that one call.  setns(CLONE_NEWNET) changes
 * only the calling thread.  Failing to return leaves this thread in the
 * sandbox's namespace, where every later connect() of the proxy would go:
 * -ENOTRECOVERABLE, and the caller aborts.
 */
static int
diag_socket_in_netns(int proc_fd, int netns_fd)
{
    struct stat want, now;
    int self_ns = -1, s = -1, rc;

    if (netns_fd < 0) {
        s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        return s < 0 ? -errno : s;
    }
    self_ns = openat(proc_fd, "thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self_ns < 0 || fstat(self_ns, &want) != 0) {
        rc = -errno;
        goto fail;
    }
    if (setns(netns_fd, CLONE_NEWNET) != 0) {
        rc = -errno; /* still in our own netns */
        goto fail;
    }
    s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    rc = s < 0 ? -errno : 0;
    /* read back: the thread must be in the very namespace it left */
    if (setns(self_ns, CLONE_NEWNET) != 0 || fstatat(proc_fd, "thread-self/ns/net", &now, 0) != 0 ||
        now.st_dev != want.st_dev || now.st_ino != want.st_ino) {
        rc = -ENOTRECOVERABLE;
        goto fail;
    }
    if (rc != 0)
        goto fail;
    close(self_ns);
    return s;

fail:
    if (s >= 0)
        close(s);
    if (self_ns >= 0)
        close(self_ns);
    return rc;
}

/* v4-mapped pairs (a dual-stack listener) are unwrapped to AF_INET, the
 * family the kernel hashes them under. */
static int
tuple_from_addrs(const struct sockaddr *peer, const struct sockaddr *local, struct diag_tuple *t)
{
    struct sockaddr_in6 p6, l6;
    struct sockaddr_in p4, l4;
    bool pm, lm;

    memset(t, 0, sizeof(*t));
    if (peer->sa_family == AF_INET && local->sa_family == AF_INET) {
        memcpy(&p4, peer, sizeof(p4));
        memcpy(&l4, local, sizeof(l4));
        t->family = AF_INET;
        memcpy(t->src, &p4.sin_addr, 4);
        memcpy(t->dst, &l4.sin_addr, 4);
        t->sport = ntohs(p4.sin_port);
        t->dport = ntohs(l4.sin_port);
        return 0;
    }
    if (peer->sa_family != AF_INET6 || local->sa_family != AF_INET6)
        return -EAFNOSUPPORT;
    memcpy(&p6, peer, sizeof(p6));
    memcpy(&l6, local, sizeof(l6));
    pm = IN6_IS_ADDR_V4MAPPED(&p6.sin6_addr);
    lm = IN6_IS_ADDR_V4MAPPED(&l6.sin6_addr);
    if (pm != lm)
        return -EINVAL; /* no TCP connection mixes the two */
    t->family = pm ? AF_INET : AF_INET6;
    memcpy(t->src, pm ? &p6.sin6_addr.s6_addr[12] : p6.sin6_addr.s6_addr, pm ? 4 : 16);
    memcpy(t->dst, lm ? &l6.sin6_addr.s6_addr[12] : l6.sin6_addr.s6_addr, lm ? 4 : 16);
    t->sport = ntohs(p6.sin6_port);
    t->dport = ntohs(l6.sin6_port);
    return 0;
}

static void
tuple_to_mapped(const struct diag_tuple *t, struct diag_tuple *m)
{
    static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    *m = *t;
    m->family = AF_INET6;
    memcpy(m->src, prefix, sizeof(prefix));
    memcpy(&m->src[12], t->src, 4);
    memcpy(m->dst, prefix, sizeof(prefix));
    memcpy(&m->dst[12], t->dst, 4);
}

static void
tuple_format(const struct diag_tuple *t, char *buf, size_t len)
{
    char s[INET6_ADDRSTRLEN] = "?", d[INET6_ADDRSTRLEN] = "?";
    bool v6 = t->family == AF_INET6;

    (void)inet_ntop(t->family, t->src, s, sizeof(s));
    (void)inet_ntop(t->family, t->dst, d, sizeof(d));
    (void)snprintf(buf, len, "%s%s%s:%u -> %s%s%s:%u", v6 ? "[" : "", s, v6 ? "]" : "",
                   (unsigned)t->sport, v6 ? "[" : "", d, v6 ? "]" : "", (unsigned)t->dport);
}

/* An AF_INET lookup also finds clients using v4-mapped AF_INET6 sockets on
 * the kernels measured; the AF_INET6 retry covers those where it does not. */
static int
diag_lookup(struct osh_identity *id, const struct diag_tuple *t, struct diag_result *res)
{
    struct diag_tuple m;
    int rc;

    rc = diag_query(id, t, res);
    if (rc != -ENOENT || t->family != AF_INET)
        return rc;
    tuple_to_mapped(t, &m);
    return diag_query(id, &m, res);
}

static int
diag_query(struct osh_identity *id, const struct diag_tuple *t, struct diag_result *res)
{
    uint32_t seq;
    int rc;

    pthread_mutex_lock(&id->diag_lock);
    seq = ++id->diag_seq; /* wraps: only equality with the reply matters */
    rc = diag_exchange_locked(id, t, seq, res);
    pthread_mutex_unlock(&id->diag_lock);
    return rc;
}

static int
diag_exchange_locked(struct osh_identity *id, const struct diag_tuple *t, uint32_t seq,
                     struct diag_result *res)
{
    struct {
        struct nlmsghdr nlh;
        struct inet_diag_req_v2 req;
    } msg;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK}, from;
    uint8_t buf[DIAG_BUF_SIZE];
    socklen_t fromlen;
    ssize_t n;
    int rc;

    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST; /* no NLM_F_DUMP: one exact lookup */
    msg.nlh.nlmsg_seq = seq;
    msg.req.sdiag_family = (uint8_t)t->family;
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_states = ~0U; /* ignored by exact lookups; state checked on the reply */
    msg.req.id.idiag_sport = htons(t->sport);
    msg.req.id.idiag_dport = htons(t->dport);
    memcpy(msg.req.id.idiag_src, t->src, sizeof(msg.req.id.idiag_src));
    memcpy(msg.req.id.idiag_dst, t->dst, sizeof(msg.req.id.idiag_dst));
    /* {0, 0} would be compared against the socket cookie: NOCOOKIE */
    msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

    do {
        n = sendto(id->diag_fd, &msg, sizeof(msg), 0, (const struct sockaddr *)&kernel,
                   sizeof(kernel));
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if ((size_t)n != sizeof(msg))
        return -EIO;

    for (int i = 0; i < DIAG_MAX_DATAGRAMS; i++) {
        fromlen = sizeof(from);
        memset(&from, 0, sizeof(from));
        n = recvfrom(id->diag_fd, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
        if ((size_t)n > sizeof(buf))
            return -EMSGSIZE;
        if (fromlen < sizeof(from) || from.nl_family != AF_NETLINK || from.nl_pid != 0)
            continue; /* not from the kernel */
        rc = diag_parse(buf, (size_t)n, t, seq, res);
        if (rc != -EAGAIN)
            return rc;
    }
    return -EBADMSG;
}

/*
 * One datagram.  -EAGAIN: nothing for `seq` in it (a stale reply to a lookup
 * that timed out).  Every header and payload is bounds-checked and copied
 * out with memcpy, never cast in place.
 */
static int
diag_parse(const uint8_t *buf, size_t len, const struct diag_tuple *t, uint32_t seq,
           struct diag_result *res)
{
    const size_t hdrlen = NLMSG_ALIGN(sizeof(struct nlmsghdr));
    struct inet_diag_msg m;
    struct nlmsgerr e;
    struct nlmsghdr h;
    size_t off = 0, plen;

    while (len - off >= sizeof(h)) {
        memcpy(&h, &buf[off], sizeof(h));
        if (h.nlmsg_len < hdrlen || h.nlmsg_len > len - off)
            return -EBADMSG;
        plen = h.nlmsg_len - hdrlen;
        if (h.nlmsg_seq != seq) {
            off += NLMSG_ALIGN(h.nlmsg_len);
            if (off > len)
                break;
            continue;
        }
        switch (h.nlmsg_type) {
        case NLMSG_ERROR:
            if (plen < sizeof(e))
                return -EBADMSG;
            memcpy(&e, &buf[off + hdrlen], sizeof(e));
            if (e.error < 0 && e.error > -4096)
                return e.error;
            return e.error == 0 ? -ENOENT : -EBADMSG; /* an ack: no socket */
        case NLMSG_DONE:
            return -ENOENT;
        case SOCK_DIAG_BY_FAMILY:
            if (plen < sizeof(m))
                return -EBADMSG;
            memcpy(&m, &buf[off + hdrlen], sizeof(m));
            /* a listener, or another socket, is the kernel's fallback match */
            if (m.idiag_state == TCP_LISTEN || m.id.idiag_sport != htons(t->sport) ||
                m.id.idiag_dport != htons(t->dport))
                return -ENOENT;
            res->ino = m.idiag_inode;
            res->uid = (uid_t)m.idiag_uid;
            res->state = m.idiag_state;
            return 0;
        default:
            return -EBADMSG;
        }
    }
    return -EAGAIN;
}

/* ---- per-owner identity (network.md §2.4) --------------------------------------- */

/* -ESRCH: the process exited (no longer an owner).  -EPERM: integrity. */
static int
owner_identity(struct osh_identity *id, pid_t pid, pid_t entry, struct osh_peer_identity *p,
               char *err, size_t errlen)
{
    pid_t chain[OSH_IDENTITY_MAX_ANCESTORS];
    size_t nchain = 0;
    int exe_fd = -1, rc;
    char eb[128];
    struct stat exe_st;
    pid_t ppid = -1;

    p->pid = pid;
    exe_fd = osh_identity_procfs_open_exe(id->proc_fd, pid);
    if (exe_fd < 0) {
        rc = exe_fd == -ENOENT || exe_fd == -ESRCH ? -ESRCH : exe_fd;
        seterr(err, errlen, "Failed to read /proc/%d/exe: %s", (int)pid,
               errstr(-exe_fd, eb, sizeof(eb)));
        goto fail;
    }
    rc = osh_identity_procfs_fd_path(id->proc_fd, exe_fd, p->exe, sizeof(p->exe));
    if (rc != 0) {
        seterr(err, errlen, "Failed to read /proc/%d/exe: %s", (int)pid,
               errstr(-rc, eb, sizeof(eb)));
        goto fail;
    }
    /* the caller words this one ("binary integrity check failed: <err>") */
    rc = osh_tofu_check(id->tofu, p->exe, exe_fd, p->sha256, err, errlen);
    if (rc != 0) {
        rc = -EPERM;
        goto fail;
    }
    if (fstat(exe_fd, &exe_st) != 0 || osh_identity_procfs_ppid(id->proc_fd, pid, &ppid) != 0)
        ppid = -1; /* no cache without a key */
    close(exe_fd);
    exe_fd = -1;
    if (ppid > 0 && cache_take(id, pid, ppid, entry, &exe_st, p) == 0)
        return 0;

    rc = walk_ancestors(id, pid, entry, p, chain, &nchain, err, errlen);
    if (rc != 0)
        goto fail;
    /* item 5: the owner's cmdline first, then each ancestor's of the same walk */
    rc = add_cmdline_paths(id, pid, p);
    for (size_t i = 0; rc == 0 && i < nchain; i++)
        rc = add_cmdline_paths(id, chain[i], p);
    if (rc != 0) {
        seterr(err, errlen, "out of memory");
        goto fail;
    }
    if (ppid > 0)
        cache_put(id, pid, ppid, entry, &exe_st, p);
    return 0;

fail:
    if (exe_fd >= 0)
        close(exe_fd);
    return rc;
}

/*
 * network.md §2.4 item 3.  The stop test is on the parent: stop on ppid 0,
 * self or unreadable; stop after appending the entrypoint or pid 1.  So when
 * the owner is the entrypoint itself, the walk goes on above it.  Every
 * visited pid goes to chain (for cmdlines) even when its exe is unreadable.
 */
static int
walk_ancestors(struct osh_identity *id, pid_t pid, pid_t entry, struct osh_peer_identity *p,
               pid_t *chain, size_t *nchain, char *err, size_t errlen)
{
    pid_t cur = pid, pp;
    int rc;

    /* The entrypoint's own parents are the supervisor and the host's
     * process tree: never grants.  The reference walks on above an
     * entrypoint that owns the socket itself, so a host process (a shell
     * that started the supervisor) could widen the policy; we stop. */
    if (entry > 0 && pid == entry)
        return 0;
    for (size_t step = 0; step < OSH_IDENTITY_MAX_ANCESTORS; step++) {
        if (osh_identity_procfs_ppid(id->proc_fd, cur, &pp) != 0 || pp <= 0 || pp == cur)
            break;
        chain[(*nchain)++] = pp;
        rc = add_ancestor(id, pp, p, err, errlen);
        if (rc != 0)
            return rc;
        if (pp == entry || pp == 1)
            break;
        cur = pp;
    }
    return 0;
}

/*
 * A parent whose exe cannot be opened (kernel thread, /proc/1/exe behind
 * EACCES, exited) is skipped, as in the reference: ancestors only ever grant,
 * so a missing one can narrow but never widen what the connection may do.
 */
static int
add_ancestor(struct osh_identity *id, pid_t pid, struct osh_peer_identity *p, char *err,
             size_t errlen)
{
    char path[sizeof(p->exe)];
    char terr[TOFU_ERR_MAX];
    char hex[65];
    int fd = -1, rc = 0;

    fd = osh_identity_procfs_open_exe(id->proc_fd, pid);
    if (fd < 0)
        goto out;
    if (osh_identity_procfs_fd_path(id->proc_fd, fd, path, sizeof(path)) != 0)
        goto out;
    rc = osh_tofu_check(id->tofu, path, fd, hex, terr, sizeof(terr));
    if (rc != 0) {
        rc = -EPERM;
        seterr(err, errlen, "ancestor integrity check failed for %s: %s", path, terr);
        goto out;
    }
    p->ancestors[p->n_ancestors] = strdup(path);
    if (p->ancestors[p->n_ancestors] == NULL) {
        rc = -ENOMEM;
        seterr(err, errlen, "out of memory");
        goto out;
    }
    p->n_ancestors++;

out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* An unreadable cmdline (exited process) contributes nothing.  0 or -ENOMEM. */
static int
add_cmdline_paths(struct osh_identity *id, pid_t pid, struct osh_peer_identity *p)
{
    char *buf = NULL;
    size_t len = 0, alen;
    int rc = 0;

    if (osh_identity_procfs_cmdline(id->proc_fd, pid, &buf, &len) != 0)
        return 0;
    for (size_t i = 0; i < len && p->n_cmdline_paths < OSH_IDENTITY_MAX_ANCESTORS; i += alen + 1) {
        char *arg;

        alen = strnlen(&buf[i], len - i);
        if (buf[i] != '/')
            continue;
        arg = strndup(&buf[i], alen); /* the last arg may lack its NUL */
        if (arg == NULL) {
            rc = -ENOMEM;
            break;
        }
        if (!cmdline_path_wanted(p, arg)) {
            free(arg); arg = NULL;
            continue;
        }
        p->cmdline_paths[p->n_cmdline_paths++] = arg;
    }
    free(buf); buf = NULL;
    return rc;
}

/* Not the exe, not an ancestor, not already listed. */
static bool
cmdline_path_wanted(const struct osh_peer_identity *p, const char *arg)
{
    if (strcmp(arg, p->exe) == 0)
        return false;
    for (size_t i = 0; i < p->n_ancestors; i++)
        if (strcmp(arg, p->ancestors[i]) == 0)
            return false;
    for (size_t i = 0; i < p->n_cmdline_paths; i++)
        if (strcmp(arg, p->cmdline_paths[i]) == 0)
            return false;
    return true;
}

/* network.md §2.6: the policy key (exe, ancestors, cmdline paths) and hash. */
static bool
identity_equal(const struct osh_peer_identity *a, const struct osh_peer_identity *b)
{
    if (strcmp(a->exe, b->exe) != 0 || strcmp(a->sha256, b->sha256) != 0 ||
        a->n_ancestors != b->n_ancestors || a->n_cmdline_paths != b->n_cmdline_paths)
        return false;
    for (size_t i = 0; i < a->n_ancestors; i++)
        if (strcmp(a->ancestors[i], b->ancestors[i]) != 0)
            return false;
    for (size_t i = 0; i < a->n_cmdline_paths; i++)
        if (strcmp(a->cmdline_paths[i], b->cmdline_paths[i]) != 0)
            return false;
    return true;
}

/* ---- messages ------------------------------------------------------------------ */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap); /* truncation is acceptable for a message */
    va_end(ap);
}

static void
errappend(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    size_t used;

    if (err == NULL || errlen == 0)
        return;
    used = strnlen(err, errlen);
    if (used + 1 >= errlen)
        return; /* already full */
    va_start(ap, fmt);
    (void)vsnprintf(&err[used], errlen - used, fmt, ap);
    va_end(ap);
}

/* strerror_r (GNU): thread safe, unlike strerror for unknown codes. */
static const char *
errstr(int e, char *buf, size_t len)
{
    return strerror_r(e, buf, len);
}
