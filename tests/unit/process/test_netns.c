/*
 * test_netns.c - osh_netns (namespace + veth + fence) against the real
 * kernel, as root.  Not root is a failure with a message, never a skip.
 *
 * Ids are per run ("t"/"o"/"u"/"s" + pid, at most 8 characters) and the
 * subnets are 10.205.0.0/24 (sandbox) and 10.206.0.0/24 (origin), so a
 * supervisor running on 10.200 is never touched.  Traffic goes only to
 * 127/8 and to addresses inside the namespaces created here.  Everything
 * that runs "in the sandbox" runs in a forked child that setns()es first
 * (the test process itself is single-threaded whenever it forks), and
 * reports through a pipe.  Every test's teardown destroys its handles and
 * runs osh_netns_cleanup_stale() for each id, so a failing assertion leaves
 * nothing behind; alarm() bounds the run.
 *
 * nf_log_all_netns is left at 1 afterwards, as the module does: other
 * sandboxes on the host may rely on it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "osh/process/netns.h"

#define SB_HOST "10.205.0.1"
#define SB_SANDBOX "10.205.0.2"
#define SB_HOST_CIDR SB_HOST "/24"
#define SB_SANDBOX_CIDR SB_SANDBOX "/24"
#define OR_HOST "10.206.0.1"
#define OR_ORIGIN "10.206.0.2"
#define ERRLEN 1024
#define CHILD_WAIT_MS 10000
#define REFUSE_BOUND_MS 200 /* a sanity bound for "fast", not a benchmark */
#define KMSG_WAIT_MS 1000

struct fixture {
    char id_t[16]; /* sandbox */
    char id_o[16]; /* origin */
    char id_u[16]; /* second sandbox on a taken subnet */
    char id_s[16]; /* simulated crash */
    struct osh_netns *ns;
    struct osh_netns *origin;
    int fds[8]; /* listeners etc., closed in teardown */
    char err[ERRLEN];
};

/* What a child reports back; one write(), well under PIPE_BUF. */
struct child_result {
    int done;
    int rc;
    int err;
    int err2;
    long long elapsed_us;
    char msg[200];
};

typedef void (*child_fn)(const void *arg, struct child_result *res);

struct conn_args {
    int family;
    int type; /* SOCK_STREAM or SOCK_DGRAM */
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    char scope_if[IFNAMSIZ]; /* IPv6 link-local scope, "" = none */
    bool wait_ll; /* wait until scope_if's link-local address has left DAD */
};

struct inside_args {
    char sandbox_if[IFNAMSIZ];
    char host_if[IFNAMSIZ];
    char sandbox_ip[INET_ADDRSTRLEN];
    char host_ip[INET_ADDRSTRLEN];
};

struct ns_listen_req {
    int ns_fd;
    const char *ip;
    int fd;
    uint16_t port;
    int err;
};

/* ---- helpers --------------------------------------------------------------------- */

static long long
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static void
fixture_track_fd(struct fixture *f, int fd)
{
    size_t i;

    for (i = 0; i < sizeof f->fds / sizeof f->fds[0]; i++) {
        if (f->fds[i] < 0) {
            f->fds[i] = fd;
            return;
        }
    }
    fail_msg("fixture fd table full");
}

static int
count_fds(void)
{
    char path[64];
    int n = 0;

    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}

static bool
path_exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

static bool
mounted(const char *path)
{
    char line[4096];
    bool found = false;
    FILE *fp = fopen("/proc/self/mountinfo", "re");

    if (fp == NULL)
        return false;
    while (fgets(line, sizeof line, fp) != NULL) {
        char *mnt = strchr(line, ' ');
        size_t n = strlen(path);
        /* field 5 is the mount point: skip 4 separators */
        for (int i = 0; mnt != NULL && i < 3; i++)
            mnt = strchr(mnt + 1, ' ');
        if (mnt != NULL && strncmp(mnt + 1, path, n) == 0 && mnt[1 + n] == ' ')
            found = true;
    }
    fclose(fp);
    return found;
}

static bool
iface_up(const char *ifname)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool up = false;

    if (fd < 0)
        return false;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0)
        up = (ifr.ifr_flags & IFF_UP) != 0;
    close(fd);
    return up;
}

/* Does ifname carry ip/24 in the calling process's namespace? */
static bool
iface_has_v4(const char *ifname, const char *ip, const char *mask)
{
    struct ifaddrs *ifa = NULL, *p;
    bool found = false;

    if (getifaddrs(&ifa) < 0)
        return false;
    for (p = ifa; p != NULL; p = p->ifa_next) {
        char a[INET_ADDRSTRLEN], m[INET_ADDRSTRLEN];
        if (p->ifa_addr == NULL || p->ifa_addr->sa_family != AF_INET || p->ifa_netmask == NULL ||
            strcmp(p->ifa_name, ifname) != 0)
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)p->ifa_addr)->sin_addr, a, sizeof a);
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)p->ifa_netmask)->sin_addr, m,
                  sizeof m);
        if (strcmp(a, ip) == 0 && strcmp(m, mask) == 0)
            found = true;
    }
    freeifaddrs(ifa);
    return found;
}

static int
write_file(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = write(fd, s, strlen(s));
    close(fd);
    return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

/* TCP listener on ip:0.  IP_FREEBIND: the address may not exist yet (the
 * proxy port must be known before the namespace is created). */
static int
tcp_listen_v4(const char *ip, uint16_t *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (fd < 0)
        return -errno;
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1 ||
        setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

static void *
ns_listen_thread(void *arg)
{
    struct ns_listen_req *req = arg;

    /* this thread only; it exits right after */
    if (setns(req->ns_fd, CLONE_NEWNET) < 0) {
        req->err = errno;
        return NULL;
    }
    req->fd = tcp_listen_v4(req->ip, &req->port);
    if (req->fd < 0)
        req->err = -req->fd;
    return NULL;
}

/* A listener whose socket lives in another namespace. */
static int
tcp_listen_in_ns(int ns_fd, const char *ip, uint16_t *port)
{
    struct ns_listen_req req = {.ns_fd = ns_fd, .ip = ip, .fd = -1};
    pthread_t tid;

    if (pthread_create(&tid, NULL, ns_listen_thread, &req) != 0)
        return -EAGAIN;
    pthread_join(tid, NULL);
    if (req.fd < 0)
        return -req.err;
    *port = req.port;
    return req.fd;
}

/* Connections pending on a non-blocking listener, accepted and closed. */
static int
accept_count(int lfd, int wait_ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    int n = 0, c;

    if (poll(&p, 1, wait_ms) <= 0)
        return 0;
    while ((c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        close(c);
        n++;
    }
    return n;
}

/* Runs fn in a forked child that first enters ns_fd.  The result comes
 * back through a pipe; the child is always reaped. */
static void
run_in_ns(int ns_fd, child_fn fn, const void *arg, struct child_result *out)
{
    int pfd[2];
    pid_t pid;
    struct pollfd p;
    ssize_t n;
    int status = 0;

    memset(out, 0, sizeof *out);
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct child_result r;
        memset(&r, 0, sizeof r);
        close(pfd[0]);
        if (setns(ns_fd, CLONE_NEWNET) < 0) {
            r.rc = -1;
            r.err = errno;
            snprintf(r.msg, sizeof r.msg, "setns: %s", strerror(errno));
        } else {
            fn(arg, &r);
            r.done = 1;
        }
        n = write(pfd[1], &r, sizeof r);
        _exit(n == (ssize_t)sizeof r ? 0 : 1);
    }
    close(pfd[1]);
    p.fd = pfd[0];
    p.events = POLLIN;
    if (poll(&p, 1, CHILD_WAIT_MS) <= 0 ||
        (n = read(pfd[0], out, sizeof *out)) != (ssize_t)sizeof *out) {
        kill(pid, SIGKILL);
        out->done = 0;
        snprintf(out->msg, sizeof out->msg, "child gave no result");
    }
    close(pfd[0]);
    waitpid(pid, &status, 0);
    if (!out->done)
        fail_msg("child in namespace: %s", out->msg);
}

/* ---- child-side operations (run after setns) ------------------------------------- */

static void
child_check_inside(const void *arg, struct child_result *res)
{
    const struct inside_args *a = arg;
    char line[256], want_gw[16];
    struct in_addr gw;
    FILE *fp;
    bool route = false;

    res->rc = -1;
    if (!iface_has_v4(a->sandbox_if, a->sandbox_ip, "255.255.255.0")) {
        snprintf(res->msg, sizeof res->msg, "%s lacks %s/24", a->sandbox_if, a->sandbox_ip);
        return;
    }
    if (!iface_up(a->sandbox_if) || !iface_up("lo")) {
        snprintf(res->msg, sizeof res->msg, "%s or lo is down", a->sandbox_if);
        return;
    }
    if (if_nametoindex(a->host_if) != 0) {
        snprintf(res->msg, sizeof res->msg, "%s visible inside", a->host_if);
        return;
    }
    /* /proc/self/net follows this (single-threaded) process's namespace;
     * /proc/net/route prints addresses as raw host-order hex of the be32 */
    inet_pton(AF_INET, a->host_ip, &gw);
    snprintf(want_gw, sizeof want_gw, "%08X", gw.s_addr);
    fp = fopen("/proc/self/net/route", "re");
    if (fp == NULL) {
        snprintf(res->msg, sizeof res->msg, "/proc/self/net/route: %s", strerror(errno));
        return;
    }
    while (fgets(line, sizeof line, fp) != NULL) {
        char ifn[IFNAMSIZ + 1], dst[16], gws[16];
        if (sscanf(line, "%16s %15s %15s", ifn, dst, gws) == 3 && strcmp(ifn, a->sandbox_if) == 0 &&
            strcmp(dst, "00000000") == 0 && strcmp(gws, want_gw) == 0)
            route = true;
    }
    fclose(fp);
    if (!route) {
        snprintf(res->msg, sizeof res->msg, "no default route via %s", a->host_ip);
        return;
    }
    res->rc = 0;
}

static socklen_t
conn_sockaddr(const struct conn_args *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        inet_pton(AF_INET, a->addr, &sin->sin_addr);
        return sizeof *sin;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(a->port);
    inet_pton(AF_INET6, a->addr, &sin6->sin6_addr);
    if (a->scope_if[0] != '\0')
        sin6->sin6_scope_id = if_nametoindex(a->scope_if);
    return sizeof *sin6;
}

/* The kernel's own link-local address stays tentative during DAD (up to
 * ~2 s), and connect() then fails with EADDRNOTAVAIL before any packet is
 * sent.  /proc/self/net/if_inet6: addr ifindex plen scope flags name, with
 * IFA_F_TENTATIVE 0x40 and scope 0x20 = link. */
static bool
linklocal_ready(const char *ifname, int timeout_ms)
{
    long long deadline = now_us() + timeout_ms * 1000LL;

    while (now_us() < deadline) {
        char line[256], addr[40], name[IFNAMSIZ + 1];
        unsigned idx, plen, scope, flags;
        bool ready = false;
        FILE *fp = fopen("/proc/self/net/if_inet6", "re");

        if (fp == NULL)
            return false;
        while (fgets(line, sizeof line, fp) != NULL) {
            if (sscanf(line, "%39s %x %x %x %x %16s", addr, &idx, &plen, &scope, &flags, name) ==
                    6 &&
                strcmp(name, ifname) == 0 && scope == 0x20 && (flags & 0x40) == 0)
                ready = true;
        }
        fclose(fp);
        if (ready)
            return true;
        usleep(50000);
    }
    return false;
}

/* Blocking TCP connect (the kind that stalls 1 s on an ICMP reject) or a
 * UDP send followed by a short recv. */
static void
child_connect(const void *arg, struct child_result *res)
{
    const struct conn_args *a = arg;
    struct sockaddr_storage ss;
    struct timeval tv = {.tv_sec = 3};
    socklen_t len = conn_sockaddr(a, &ss);
    long long t0;
    char buf[16];
    int fd;

    fd = socket(a->family, a->type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        res->rc = -1;
        res->err = errno;
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() */
    if (a->wait_ll && !linklocal_ready(a->scope_if, 4000)) {
        res->rc = -1;
        res->err = ETIMEDOUT;
        snprintf(res->msg, sizeof res->msg, "no usable link-local address on %s", a->scope_if);
        close(fd);
        return;
    }
    t0 = now_us();
    if (a->type == SOCK_STREAM) {
        res->rc = connect(fd, (struct sockaddr *)&ss, len);
        res->err = res->rc < 0 ? errno : 0;
        res->elapsed_us = now_us() - t0;
    } else {
        /* connected, so an ICMP error would be reported on this socket */
        res->rc = connect(fd, (struct sockaddr *)&ss, len);
        if (res->rc == 0)
            res->rc = (int)send(fd, "q", 1, 0);
        res->err = res->rc < 0 ? errno : 0;
        res->elapsed_us = now_us() - t0;
        if (res->rc >= 0) {
            struct timeval rtv = {.tv_usec = 300000};
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rtv, sizeof rtv);
            if (recv(fd, buf, sizeof buf, 0) < 0)
                res->err2 = errno;
        }
    }
    close(fd);
}

static uint16_t
icmp_checksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;

    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t)~sum);
}

/* ICMP echo to the host end: neither TCP nor UDP, so the last rule. */
static void
child_ping(const void *arg, struct child_result *res)
{
    const struct conn_args *a = arg;
    struct sockaddr_storage ss;
    socklen_t len = conn_sockaddr(a, &ss);
    struct icmphdr h;
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);

    if (fd < 0) {
        res->rc = -1;
        res->err = errno;
        return;
    }
    memset(&h, 0, sizeof h);
    h.type = ICMP_ECHO;
    h.un.echo.id = htons(0x4242);
    h.un.echo.sequence = htons(1);
    h.checksum = icmp_checksum(&h, sizeof h);
    res->rc = (int)sendto(fd, &h, sizeof h, 0, (struct sockaddr *)&ss, len);
    res->err = res->rc < 0 ? errno : 0;
    close(fd);
}

/* Loopback inside the sandbox must keep working (rule 2). */
static void
child_loopback(const void *arg, struct child_result *res)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    int l, c;

    (void)arg;
    res->rc = -1;
    l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l >= 0 && c >= 0 && bind(l, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        listen(l, 1) == 0 && getsockname(l, (struct sockaddr *)&sa, &len) == 0) {
        res->rc = connect(c, (struct sockaddr *)&sa, sizeof sa);
        res->err = res->rc < 0 ? errno : 0;
    }
    if (l >= 0)
        close(l);
    if (c >= 0)
        close(c);
}

/* ---- /dev/kmsg ---------------------------------------------------------------------- */

static int
kmsg_open_at_end(void)
{
    int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (lseek(fd, 0, SEEK_END) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

/* Waits up to KMSG_WAIT_MS for a record holding prefix and "DPT=<port> ". */
static bool
kmsg_find(int fd, const char *prefix, unsigned port, char *line_out, size_t outlen)
{
    char rec[8192], dpt[32];
    long long deadline = now_us() + KMSG_WAIT_MS * 1000LL;

    snprintf(dpt, sizeof dpt, " DPT=%u ", port);
    while (now_us() < deadline) {
        ssize_t n = read(fd, rec, sizeof rec - 1);
        if (n < 0 && errno == EPIPE)
            continue; /* overrun: records were lost, keep reading */
        if (n < 0) {
            struct pollfd p = {.fd = fd, .events = POLLIN};
            poll(&p, 1, 50);
            continue;
        }
        rec[n] = '\0';
        if (strstr(rec, prefix) != NULL && strstr(rec, dpt) != NULL) {
            char *nl = strchr(rec, '\n');
            if (nl != NULL)
                *nl = '\0';
            if (snprintf(line_out, outlen, "%s", rec) < 0)
                line_out[0] = '\0';
            return true; /* a truncated copy is fine: it is only printed */
        }
    }
    return false;
}

/* ---- fixture ------------------------------------------------------------------------ */

static int
group_setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        print_message("test_netns FAILS: needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN): "
                      "namespaces, veth and nftables on the real kernel\n");
        return -1;
    }
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    unsigned pid = (unsigned)getpid();

    if (f == NULL)
        return -1;
    /* pid <= 4194304: 7 digits, so "t" + pid fits the 8-char id */
    snprintf(f->id_t, sizeof f->id_t, "t%u", pid);
    snprintf(f->id_o, sizeof f->id_o, "o%u", pid);
    snprintf(f->id_u, sizeof f->id_u, "u%u", pid);
    snprintf(f->id_s, sizeof f->id_s, "s%u", pid);
    for (size_t i = 0; i < sizeof f->fds / sizeof f->fds[0]; i++)
        f->fds[i] = -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof f->fds / sizeof f->fds[0]; i++) {
        if (f->fds[i] >= 0)
            close(f->fds[i]);
    }
    osh_netns_destroy(f->ns);
    osh_netns_destroy(f->origin);
    osh_netns_cleanup_stale(f->id_t);
    osh_netns_cleanup_stale(f->id_o);
    osh_netns_cleanup_stale(f->id_u);
    osh_netns_cleanup_stale(f->id_s);
    free(f);
    return 0;
}

static struct osh_netns *
create_sandbox(struct fixture *f, const char *id, uint16_t proxy_port, long long *us)
{
    struct osh_netns_config cfg = {.id = id,
                                   .host_cidr = SB_HOST_CIDR,
                                   .sandbox_cidr = SB_SANDBOX_CIDR,
                                   .proxy_port = proxy_port,
                                   .log_prefix = NULL};
    long long t0 = now_us();
    struct osh_netns *ns = osh_netns_create(&cfg, f->err, sizeof f->err);

    if (us != NULL)
        *us = now_us() - t0;
    if (ns == NULL)
        fail_msg("osh_netns_create(%s): %s (%s)", id, f->err, strerror(errno));
    return ns;
}

static void
names_of(const char *id, char *path, size_t plen, char *hif, char *sif)
{
    int n1 = snprintf(path, plen, OSH_NETNS_RUN_DIR "/osh-%s", id);
    int n2 = snprintf(hif, IFNAMSIZ, "veth-h-%s", id);
    int n3 = snprintf(sif, IFNAMSIZ, "veth-s-%s", id);

    assert_true(n1 > 0 && (size_t)n1 < plen && n2 > 0 && n2 < IFNAMSIZ && n3 > 0 &&
                n3 < IFNAMSIZ);
}

static void
assert_all_gone(const char *id)
{
    char path[64], hif[IFNAMSIZ], sif[IFNAMSIZ];

    names_of(id, path, sizeof path, hif, sif);
    assert_int_equal(if_nametoindex(hif), 0);
    assert_int_equal(if_nametoindex(sif), 0);
    assert_false(path_exists(path));
    assert_false(mounted(path));
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_create(void **state)
{
    struct fixture *f = *state;
    char path[64], hif[IFNAMSIZ], sif[IFNAMSIZ], want[64];
    struct inside_args in;
    struct child_result res;
    struct stat pst, fst;
    long long create_us, destroy_us, t0;
    int fd, rc, fds_before;

    names_of(f->id_t, path, sizeof path, hif, sif);
    fds_before = count_fds();
    f->ns = create_sandbox(f, f->id_t, 3128, &create_us);

    snprintf(want, sizeof want, "osh-%s", f->id_t);
    assert_string_equal(osh_netns_name(f->ns), want);
    snprintf(want, sizeof want, "openshell:bypass:osh-%s:", f->id_t);
    assert_string_equal(osh_netns_log_prefix(f->ns), want);
    assert_string_equal(osh_netns_host_ip(f->ns), SB_HOST);
    assert_string_equal(osh_netns_sandbox_ip(f->ns), SB_SANDBOX);
    assert_false(osh_netns_kernel_log_ready(f->ns)); /* no fence yet */

    /* the file is the bind mount of the handle's namespace; the fd is CLOEXEC */
    fd = osh_netns_fd(f->ns);
    assert_true(fd >= 0);
    assert_true((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    assert_int_equal(stat(path, &pst), 0);
    assert_int_equal(fstat(fd, &fst), 0);
    assert_true(pst.st_dev == fst.st_dev && pst.st_ino == fst.st_ino);
    assert_true(mounted(path));

    /* root namespace: host end up with its address, sandbox end absent */
    assert_int_not_equal(if_nametoindex(hif), 0);
    assert_int_equal(if_nametoindex(sif), 0);
    assert_true(iface_up(hif));
    assert_true(iface_has_v4(hif, SB_HOST, "255.255.255.0"));

    /* inside: sandbox end, lo, default route */
    memset(&in, 0, sizeof in);
    snprintf(in.sandbox_if, sizeof in.sandbox_if, "%s", sif);
    snprintf(in.host_if, sizeof in.host_if, "%s", hif);
    snprintf(in.sandbox_ip, sizeof in.sandbox_ip, "%s", SB_SANDBOX);
    snprintf(in.host_ip, sizeof in.host_ip, "%s", SB_HOST);
    run_in_ns(fd, child_check_inside, &in, &res);
    if (res.rc != 0)
        fail_msg("inside the namespace: %s", res.msg);

    t0 = now_us();
    rc = osh_netns_destroy(f->ns);
    destroy_us = now_us() - t0;
    f->ns = NULL;
    assert_int_equal(rc, 0);
    assert_all_gone(f->id_t);
    assert_int_equal(count_fds(), fds_before); /* nothing leaked, helpers' fds included */
    print_message("# timing: create %.2f ms, destroy %.2f ms\n", create_us / 1000.0,
                  destroy_us / 1000.0);
}

static void
test_fence(void **state)
{
    struct fixture *f = *state;
    struct osh_netns_config ocfg = {.id = f->id_o,
                                    .host_cidr = OR_HOST "/24",
                                    .sandbox_cidr = OR_ORIGIN "/24",
                                    .proxy_port = 1};
    uint16_t proxy_port = 0, other_port = 0, origin_port = 0, inner_port = 0;
    int proxy_fd, other_fd, origin_fd, inner_fd, kfd, sfd, rc;
    char hif[IFNAMSIZ], sif[IFNAMSIZ], ohif[IFNAMSIZ], osif[IFNAMSIZ], path[64], ctl[128];
    char line[1024];
    struct conn_args ca;
    struct child_result res;
    long long create_us, fence_us, t0;
    const char *prefix;

    names_of(f->id_t, path, sizeof path, hif, sif);
    names_of(f->id_o, path, sizeof path, ohif, osif);

    /* host-side listeners first: the proxy port is part of the config */
    proxy_fd = tcp_listen_v4(SB_HOST, &proxy_port);
    assert_true(proxy_fd >= 0);
    fixture_track_fd(f, proxy_fd);
    other_fd = tcp_listen_v4(SB_HOST, &other_port);
    assert_true(other_fd >= 0);
    fixture_track_fd(f, other_fd);

    f->ns = create_sandbox(f, f->id_t, proxy_port, &create_us);
    f->origin = osh_netns_create(&ocfg, f->err, sizeof f->err);
    if (f->origin == NULL)
        fail_msg("origin namespace: %s", f->err);
    origin_fd = tcp_listen_in_ns(osh_netns_fd(f->origin), OR_ORIGIN, &origin_port);
    assert_true(origin_fd >= 0);
    fixture_track_fd(f, origin_fd);
    inner_fd = tcp_listen_in_ns(osh_netns_fd(f->ns), SB_SANDBOX, &inner_port);
    assert_true(inner_fd >= 0);
    fixture_track_fd(f, inner_fd);

    /* control experiment (cage-notes §1.13): per-interface forwarding on the
     * two host ends only, so without the fence the origin is reachable and
     * the fence is what rejects later; the global ip_forward is untouched */
    snprintf(ctl, sizeof ctl, "/proc/sys/net/ipv4/conf/%s/forwarding", hif);
    assert_int_equal(write_file(ctl, "1"), 0);
    snprintf(ctl, sizeof ctl, "/proc/sys/net/ipv4/conf/%s/forwarding", ohif);
    assert_int_equal(write_file(ctl, "1"), 0);
    memset(&ca, 0, sizeof ca);
    ca.family = AF_INET;
    ca.type = SOCK_STREAM;
    snprintf(ca.addr, sizeof ca.addr, OR_ORIGIN);
    ca.port = origin_port;
    run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
    if (res.rc != 0)
        fail_msg("control connect to origin before the fence: %s", strerror(res.err));
    assert_int_equal(accept_count(origin_fd, 1000), 1);

    /* the fence */
    t0 = now_us();
    rc = osh_netns_install_fence(f->ns, f->err, sizeof f->err);
    fence_us = now_us() - t0;
    if (rc != 0)
        fail_msg("install_fence: %d %s", rc, f->err);
    assert_true(osh_netns_kernel_log_ready(f->ns));
    prefix = osh_netns_log_prefix(f->ns);

    /* a second install replaces the table (and re-verifies 9 rules) */
    rc = osh_netns_install_fence(f->ns, f->err, sizeof f->err);
    if (rc != 0)
        fail_msg("second install_fence: %d %s", rc, f->err);

    /* 1. the proxy is reachable */
    snprintf(ca.addr, sizeof ca.addr, SB_HOST);
    ca.port = proxy_port;
    run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
    if (res.rc != 0)
        fail_msg("connect to the proxy %s:%u: %s", SB_HOST, proxy_port, strerror(res.err));
    assert_int_equal(accept_count(proxy_fd, 1000), 1);

    /* 2. another port on the host: reset, at once, and logged */
    kfd = kmsg_open_at_end();
    assert_true(kfd >= 0);
    fixture_track_fd(f, kfd);
    ca.port = other_port;
    run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
    assert_int_equal(res.rc, -1);
    assert_int_equal(res.err, ECONNREFUSED);
    if (res.elapsed_us >= REFUSE_BOUND_MS * 1000LL)
        fail_msg("refusal took %lld us (TCP reset expected to be immediate)", res.elapsed_us);
    assert_int_equal(accept_count(other_fd, 100), 0);
    if (!kmsg_find(kfd, prefix, other_port, line, sizeof line))
        fail_msg("no kernel log line with \"%s\" and DPT=%u", prefix, other_port);
    print_message("# refused in %lld us; kmsg: %s\n", res.elapsed_us, line);

    /* 3. the origin behind the (forwarding) host: the fence rejects */
    snprintf(ca.addr, sizeof ca.addr, OR_ORIGIN);
    ca.port = origin_port;
    run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
    assert_int_equal(res.rc, -1);
    assert_int_equal(res.err, ECONNREFUSED);
    assert_true(res.elapsed_us < REFUSE_BOUND_MS * 1000LL);
    assert_int_equal(accept_count(origin_fd, 200), 0);
    if (!kmsg_find(kfd, prefix, origin_port, line, sizeof line))
        fail_msg("no kernel log line for the origin attempt DPT=%u", origin_port);

    /* 4. DNS to the host: UDP is rejected and logged.  A reject is a drop
     * for the sender, which send() reports as EPERM (cage-notes §3.3);
     * without the fence the datagram would leave and send() succeed. */
    ca.type = SOCK_DGRAM;
    snprintf(ca.addr, sizeof ca.addr, SB_HOST);
    ca.port = 53;
    run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
    if (res.rc >= 0)
        fail_msg("UDP to %s:53 was sent (recv: %s)", SB_HOST, strerror(res.err2));
    assert_int_equal(res.err, EPERM);
    if (!kmsg_find(kfd, prefix, 53, line, sizeof line))
        fail_msg("no kernel log line for UDP DPT=53");

    /* 5. IPv6: a global address has no route at all; on the link, even the
     * proxy port is reset by the fence (there is no IPv6 accept rule), and
     * the attempt is logged, which a mere missing listener would not be */
    ca.family = AF_INET6;
    ca.type = SOCK_STREAM;
    snprintf(ca.addr, sizeof ca.addr, "2001:db8::1");
    ca.port = 80;
    run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
    assert_int_equal(res.rc, -1);
    if (res.err != EAFNOSUPPORT)
        assert_int_equal(res.err, ENETUNREACH);
    if (res.err != EAFNOSUPPORT) {
        snprintf(ca.addr, sizeof ca.addr, "fe80::1");
        snprintf(ca.scope_if, sizeof ca.scope_if, "%s", sif);
        ca.wait_ll = true;
        ca.port = proxy_port;
        run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
        assert_int_equal(res.rc, -1);
        if (res.err != ECONNREFUSED)
            fail_msg("IPv6 link-local connect: %s %s", strerror(res.err), res.msg);
        assert_true(res.elapsed_us < REFUSE_BOUND_MS * 1000LL);
        if (!kmsg_find(kfd, prefix, proxy_port, line, sizeof line))
            fail_msg("no kernel log line for the IPv6 attempt DPT=%u", proxy_port);
        print_message("# IPv6 refused in %lld us; kmsg: %s\n", res.elapsed_us, line);
        ca.type = SOCK_DGRAM;
        ca.port = 53;
        run_in_ns(osh_netns_fd(f->ns), child_connect, &ca, &res);
        assert_int_equal(res.rc, -1);
        assert_int_equal(res.err, EPERM);
    } else {
        print_message("# IPv6 unavailable on this kernel: only the socket() refusal checked\n");
    }

    /* 6. neither TCP nor UDP: rejected by the last rule (EPERM on send) */
    memset(&ca, 0, sizeof ca);
    ca.family = AF_INET;
    snprintf(ca.addr, sizeof ca.addr, SB_HOST);
    run_in_ns(osh_netns_fd(f->ns), child_ping, &ca, &res);
    assert_int_equal(res.rc, -1);
    assert_int_equal(res.err, EPERM);

    /* 7. still fine: loopback inside, and the supervisor dialing in
     * (the sandbox's replies are ct established) */
    run_in_ns(osh_netns_fd(f->ns), child_loopback, NULL, &res);
    if (res.rc != 0)
        fail_msg("loopback inside the sandbox: %s", strerror(res.err));
    {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(inner_port)};
        struct timeval tv = {.tv_sec = 3};
        inet_pton(AF_INET, SB_SANDBOX, &sa.sin_addr);
        sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(sfd >= 0);
        fixture_track_fd(f, sfd);
        setsockopt(sfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        rc = connect(sfd, (struct sockaddr *)&sa, sizeof sa);
        if (rc != 0)
            fail_msg("dial into the sandbox %s:%u: %s", SB_SANDBOX, inner_port, strerror(errno));
        assert_int_equal(accept_count(inner_fd, 1000), 1);
    }

    print_message("# timing: create %.2f ms, install_fence %.2f ms\n", create_us / 1000.0,
                  fence_us / 1000.0);

    t0 = now_us();
    assert_int_equal(osh_netns_destroy(f->ns), 0);
    f->ns = NULL;
    print_message("# timing: destroy (with fence) %.2f ms\n", (now_us() - t0) / 1000.0);
    assert_int_equal(osh_netns_destroy(f->origin), 0);
    f->origin = NULL;
    assert_all_gone(f->id_t);
    assert_all_gone(f->id_o);
}

static void
expect_create_einval(struct fixture *f, const struct osh_netns_config *cfg)
{
    struct osh_netns *ns;

    f->err[0] = '\0';
    errno = 0;
    ns = osh_netns_create(cfg, f->err, sizeof f->err);
    if (ns != NULL) {
        osh_netns_destroy(ns);
        fail_msg("bad config accepted (id %s)", cfg != NULL && cfg->id ? cfg->id : "(null)");
    }
    assert_int_equal(errno, EINVAL);
    assert_true(f->err[0] != '\0');
}

static void
test_fail_closed(void **state)
{
    struct fixture *f = *state;
    struct osh_netns_config cfg = {.id = f->id_t,
                                   .host_cidr = SB_HOST_CIDR,
                                   .sandbox_cidr = SB_SANDBOX_CIDR,
                                   .proxy_port = 3128};
    struct osh_netns_config bad;
    char hif[IFNAMSIZ], sif[IFNAMSIZ], path[64];
    struct osh_netns *other;
    int rc;

    names_of(f->id_t, path, sizeof path, hif, sif);

    /* no handle at all */
    f->err[0] = '\0';
    assert_int_equal(osh_netns_install_fence(NULL, f->err, sizeof f->err), -EINVAL);
    assert_true(f->err[0] != '\0');
    assert_int_equal(osh_netns_destroy(NULL), 0);
    assert_int_equal(osh_netns_fd(NULL), -1);

    /* invalid configurations: refused before anything is created */
    expect_create_einval(f, NULL);
    bad = cfg;
    bad.id = "Bad!";
    expect_create_einval(f, &bad);
    bad.id = "abcdefghi"; /* 9 > 8 */
    expect_create_einval(f, &bad);
    bad.id = "";
    expect_create_einval(f, &bad);
    bad = cfg;
    bad.host_cidr = SB_HOST;
    expect_create_einval(f, &bad);
    bad.host_cidr = SB_HOST "/33";
    expect_create_einval(f, &bad);
    bad = cfg;
    bad.sandbox_cidr = "10.206.0.2/24"; /* another subnet */
    expect_create_einval(f, &bad);
    bad.sandbox_cidr = SB_HOST_CIDR; /* same address */
    expect_create_einval(f, &bad);
    bad = cfg;
    bad.proxy_port = 0;
    expect_create_einval(f, &bad);
    bad = cfg;
    bad.log_prefix = "quote\"inside";
    expect_create_einval(f, &bad);
    assert_all_gone(f->id_t);

    /* a subnet in use by another namespace's host end is refused and the
     * first one is left intact */
    f->ns = create_sandbox(f, f->id_t, 3128, NULL);
    bad = cfg;
    bad.id = f->id_u;
    errno = 0;
    other = osh_netns_create(&bad, f->err, sizeof f->err);
    if (other != NULL) {
        osh_netns_destroy(other);
        fail_msg("a second namespace on %s was accepted", SB_HOST_CIDR);
    }
    assert_int_equal(errno, EADDRINUSE);
    print_message("# subnet conflict: %s\n", f->err);
    assert_all_gone(f->id_u);
    assert_true(iface_up(hif));

    /* the namespace is removed underneath the handle: no fence, an error */
    assert_int_equal(osh_netns_cleanup_stale(f->id_t), 0);
    f->err[0] = '\0';
    rc = osh_netns_install_fence(f->ns, f->err, sizeof f->err);
    assert_true(rc < 0);
    assert_true(f->err[0] != '\0');
    print_message("# fence on a removed namespace: %d %s\n", rc, f->err);
    assert_false(osh_netns_kernel_log_ready(f->ns));
    /* destroy of what is already gone is success, and frees */
    assert_int_equal(osh_netns_destroy(f->ns), 0);
    f->ns = NULL;
    assert_all_gone(f->id_t);
}

/* A supervisor that dies between create and destroy: a forked child
 * creates (and fences) and exits without cleaning up. */
static void
crash_after_create(struct fixture *f, const char *id)
{
    pid_t pid;
    int status = 0;

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct osh_netns_config cfg = {.id = id,
                                       .host_cidr = SB_HOST_CIDR,
                                       .sandbox_cidr = SB_SANDBOX_CIDR,
                                       .proxy_port = 3128};
        struct osh_netns *ns = osh_netns_create(&cfg, f->err, sizeof f->err);
        if (ns == NULL || osh_netns_install_fence(ns, f->err, sizeof f->err) != 0)
            _exit(1);
        _exit(0); /* "crash": no destroy, handle and fd forgotten */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
test_cleanup_stale(void **state)
{
    struct fixture *f = *state;
    char hif[IFNAMSIZ], sif[IFNAMSIZ], path[64];
    long long t0;

    names_of(f->id_s, path, sizeof path, hif, sif);
    assert_int_equal(osh_netns_cleanup_stale("Bad!"), -EINVAL);
    assert_int_equal(osh_netns_cleanup_stale(NULL), -EINVAL);

    crash_after_create(f, f->id_s);
    assert_int_not_equal(if_nametoindex(hif), 0);
    assert_true(path_exists(path));
    assert_true(mounted(path));

    t0 = now_us();
    assert_int_equal(osh_netns_cleanup_stale(f->id_s), 0);
    print_message("# timing: cleanup_stale %.2f ms\n", (now_us() - t0) / 1000.0);
    assert_all_gone(f->id_s);
    assert_int_equal(osh_netns_cleanup_stale(f->id_s), 0); /* nothing left: still 0 */

    /* create over a crashed run's leftovers replaces them */
    crash_after_create(f, f->id_s);
    f->ns = create_sandbox(f, f->id_s, 3128, NULL);
    assert_int_equal(osh_netns_install_fence(f->ns, f->err, sizeof f->err), 0);
    assert_int_equal(osh_netns_destroy(f->ns), 0);
    f->ns = NULL;
    assert_all_gone(f->id_s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleanup_stale, setup, teardown),
    };

    alarm(120);
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
