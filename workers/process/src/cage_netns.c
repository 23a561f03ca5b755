/*
 * cage_netns.c - the sandbox's network namespace (process.md §3): the
 * equivalent of `ip netns add osh-<id>`, a veth pair, one /24, links up and
 * a default route, all through rtnetlink (libnl-route-3), and the matching
 * teardown and crash-leftover cleanup.
 *
 * DESIGN
 * Namespace switches are per thread, and a thread that stayed switched would
 * contaminate whatever ran on it next.  So the calling thread never switches:
 * unshare(CLONE_NEWNET) and setns() run only on helper threads created and
 * joined here (cage-notes §1.3, §1.8).  The helper that unshares bind-mounts
 * its own namespace (/proc/thread-self/ns/net; /proc/self would name the
 * thread-group leader's) onto /run/netns/osh-<id> and exits; the helper that
 * setns()es creates a netlink socket and exits, and that socket stays bound
 * to the sandbox namespace whichever thread then uses it.  The sandbox end of
 * the veth is created directly inside the namespace (IFLA_NET_NS_FD inside
 * VETH_INFO_PEER), so it never exists in the host namespace.
 *
 * Every privileged step is one checked call in osh_netns_create(), in the
 * order of enum cage_net_op (cage_int.h, which also says why each is safe).
 * A failure rolls back in reverse order and reports the failing step.  The
 * namespace is identified by its nsfs inode, so teardown never unmounts a
 * file that has since become another supervisor's namespace.
 *
 * Privileges: CAP_SYS_ADMIN (mount, unshare, setns) and CAP_NET_ADMIN, before
 * the supervisor's seccomp prelude, which blocks mount and umount2.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "cage_int.h"

#define NS_PREFIX "osh-"
#define VETH_HOST_PREFIX "veth-h-"
#define VETH_SANDBOX_PREFIX "veth-s-"
#define LOG_PREFIX_FMT "openshell:bypass:%s:" /* process.md §4.1, with our ns name */
#define THREAD_NETNS "/proc/thread-self/ns/net"
#define UMOUNT_MAX_LAYERS 8 /* stacked bind mounts peeled off one stale file */

struct inside_call {
    int ns_fd;
    int (*fn)(void *arg);
    void *arg;
    int rc;
};

struct socket_req {
    int domain;
    int type;
    int proto;
};

struct bind_req {
    const char *path;
    int rc;
};

static int id_valid(const char *id);
static int cidr_parse(const char *cidr, struct in_addr *addr, uint8_t *prefixlen);
static int log_prefix_valid(const char *prefix);
static int names_fill(struct osh_netns *ns, const char *id);
static int config_copy(struct osh_netns *ns, const struct osh_netns_config *cfg, char *err,
                       size_t errlen);
static int nl_failf(char *err, size_t errlen, const char *ns_name, enum cage_net_op op, int nle,
                    const char *what);
static void *inside_thread(void *arg);
static int socket_fn(void *arg);
static void *unshare_bind_thread(void *arg);
static int rundir_prepare(char *err, size_t errlen, const char *ns_name);
static int nsfile_create(const struct osh_netns *ns, char *err, size_t errlen);
static int nsfile_bind_new(const struct osh_netns *ns, char *err, size_t errlen);
static int nsfile_open(struct osh_netns *ns, char *err, size_t errlen);
static int nsfile_remove(const char *path);
static int nsfile_remove_if_ours(const struct osh_netns *ns);
static int rtnl_adopt_fd(int fd, struct nl_sock **out);
static int rtnl_open_here(struct nl_sock **out);
static int rtnl_open_inside(int ns_fd, struct nl_sock **out);
static int subnet_unused(struct nl_sock *sk, const struct osh_netns *ns, char *err, size_t errlen);
static int link_ifindex(struct nl_sock *sk, const struct osh_netns *ns, enum cage_net_op op,
                        const char *name, int *ifindex, char *err, size_t errlen);
static int link_set_up(struct nl_sock *sk, const struct osh_netns *ns, enum cage_net_op op,
                       int ifindex, const char *name, char *err, size_t errlen);
static int addr_add(struct nl_sock *sk, const struct osh_netns *ns, enum cage_net_op op,
                    int ifindex, const char *cidr, const char *name, char *err, size_t errlen);
static void nh_free_nullable(struct rtnl_nexthop *nh);
static int route_default_add(struct nl_sock *sk, const struct osh_netns *ns, int ifindex,
                             char *err, size_t errlen);
static int link_delete(struct nl_sock *sk, const char *name, int *nle_out);
static int veth_add(struct nl_sock *root, const struct osh_netns *ns, char *err, size_t errlen);
static int host_side_setup(struct nl_sock *root, const struct osh_netns *ns, char *err,
                           size_t errlen);
static int sandbox_side_setup(const struct osh_netns *ns, char *err, size_t errlen);
static int stale_remove(const char *id, char *err, size_t errlen);

/* ---- messages and error codes ----------------------------------------------- */

static const char *const op_names[] = {
    [CAGE_NET_CONFIG] = "config",
    [CAGE_NET_RUNDIR] = ("prepare " OSH_NETNS_RUN_DIR),
    [CAGE_NET_NSFILE] = "create namespace file",
    [CAGE_NET_UNSHARE_BIND] = "unshare+bind namespace",
    [CAGE_NET_NSOPEN] = "open namespace",
    [CAGE_NET_VETH_ADD] = "veth add",
    [CAGE_NET_HOST_CONF] = "host side",
    [CAGE_NET_NS_SOCKET] = "socket in namespace",
    [CAGE_NET_SANDBOX_CONF] = "sandbox side",
    [CAGE_NET_NFLOG] = "nf_log_all_netns",
    [CAGE_NET_NFT_BATCH] = "nft batch",
    [CAGE_NET_NFT_VERIFY] = "nft read-back",
    [CAGE_NET_VETH_DEL] = "veth delete",
    [CAGE_NET_NSFILE_DEL] = "remove namespace file",
};

const char *
osh_netns_op_name(enum cage_net_op op)
{
    if ((size_t)op >= sizeof op_names / sizeof op_names[0] || op_names[op] == NULL)
        return "?";
    return op_names[op];
}

void
osh_netns_errf(char *err, size_t errlen, const char *ns_name, enum cage_net_op op, const char *fmt,
               ...)
{
    va_list ap;
    int n;

    if (err == NULL || errlen == 0)
        return;
    n = snprintf(err, errlen, "%s: %s: ", ns_name != NULL ? ns_name : "netns",
                 osh_netns_op_name(op));
    if (n < 0 || (size_t)n >= errlen)
        return; /* truncated: the prefix alone filled the buffer */
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

int
osh_netns_nle_errno(int nle)
{
    if (nle < 0)
        nle = -nle;
    switch (nle) {
    case NLE_SUCCESS:
        return 0;
    case NLE_INTR:
        return -EINTR;
    case NLE_BAD_SOCK:
        return -EBADF;
    case NLE_AGAIN:
        return -EAGAIN;
    case NLE_NOMEM:
        return -ENOMEM;
    case NLE_EXIST:
        return -EEXIST;
    case NLE_INVAL:
    case NLE_MISSING_ATTR:
    case NLE_AF_MISMATCH:
    case NLE_OBJ_MISMATCH:
    case NLE_PARSE_ERR:
    case NLE_ATTRSIZE:
        return -EINVAL;
    case NLE_RANGE:
        return -ERANGE;
    case NLE_MSGSIZE:
    case NLE_MSG_TRUNC:
        return -EMSGSIZE;
    case NLE_OPNOTSUPP:
    case NLE_SRCRT_NOSUPPORT:
    case NLE_MSGTYPE_NOSUPPORT:
        return -EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
        return -EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
    case NLE_NOCACHE:
    case NLE_PKTLOC_FILE:
        return -ENOENT;
    case NLE_NOATTR:
        return -ENODATA;
    case NLE_SEQ_MISMATCH:
        return -EPROTO;
    case NLE_MSG_OVERFLOW:
        return -EOVERFLOW;
    case NLE_NOADDR:
        return -EADDRNOTAVAIL;
    case NLE_MSG_TOOSHORT:
        return -EBADMSG;
    case NLE_BUSY:
        return -EBUSY;
    case NLE_PROTO_MISMATCH:
        return -EPROTONOSUPPORT;
    case NLE_NOACCESS:
        return -EACCES;
    case NLE_PERM:
    case NLE_IMMUTABLE:
        return -EPERM;
    case NLE_NODEV:
        return -ENODEV;
    case NLE_DUMP_INTR:
        return -EAGAIN; /* the dump changed underneath: retryable */
    case NLE_FAILURE:
    default:
        return -EIO;
    }
}

/* Formats "<what>: <libnl text>" and returns the translated -errno. */
static int
nl_failf(char *err, size_t errlen, const char *ns_name, enum cage_net_op op, int nle,
         const char *what)
{
    osh_netns_errf(err, errlen, ns_name, op, "%s: %s", what, nl_geterror(nle));
    return osh_netns_nle_errno(nle);
}

/* ---- configuration ---------------------------------------------------------- */

/* [a-z0-9]{1,8}: keeps "veth-h-<id>" within IFNAMSIZ and the path plain. */
static int
id_valid(const char *id)
{
    size_t n;

    if (id == NULL)
        return 0;
    for (n = 0; id[n] != '\0'; n++) {
        if (n >= OSH_NETNS_ID_MAX)
            return 0;
        if (!((id[n] >= 'a' && id[n] <= 'z') || (id[n] >= '0' && id[n] <= '9')))
            return 0;
    }
    return n > 0;
}

/* "a.b.c.d/nn", nn in 1..30 (a /31 or /32 leaves no room for two hosts). */
static int
cidr_parse(const char *cidr, struct in_addr *addr, uint8_t *prefixlen)
{
    char buf[CAGE_CIDR_MAX];
    const char *slash;
    char *end = NULL;
    unsigned long plen;
    size_t alen;

    if (cidr == NULL || (slash = strchr(cidr, '/')) == NULL)
        return -EINVAL;
    alen = (size_t)(slash - cidr);
    if (alen == 0 || alen >= sizeof buf)
        return -EINVAL;
    memcpy(buf, cidr, alen);
    buf[alen] = '\0';
    if (inet_pton(AF_INET, buf, addr) != 1)
        return -EINVAL;
    if (slash[1] < '0' || slash[1] > '9')
        return -EINVAL;
    errno = 0;
    plen = strtoul(slash + 1, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || plen < 1 || plen > 30)
        return -EINVAL;
    *prefixlen = (uint8_t)plen;
    return 0;
}

/* Printable ASCII without quotes or backslashes, 1..127 bytes: it lands in
 * the kernel log and in the nft listing. */
static int
log_prefix_valid(const char *prefix)
{
    size_t n;

    for (n = 0; prefix[n] != '\0'; n++) {
        unsigned char c = (unsigned char)prefix[n];
        if (n >= OSH_NETNS_LOG_PREFIX_MAX || c < 0x20 || c > 0x7e || c == '"' || c == '\\')
            return 0;
    }
    return n > 0;
}

/* Derives every name from a validated id; the buffers are sized so that
 * none of these can truncate, and the checks say so. */
static int
names_fill(struct osh_netns *ns, const char *id)
{
    int n1, n2, n3, n4, n5;

    n1 = snprintf(ns->id, sizeof ns->id, "%s", id);
    n2 = snprintf(ns->ns_name, sizeof ns->ns_name, NS_PREFIX "%s", id);
    n3 = snprintf(ns->ns_path, sizeof ns->ns_path, OSH_NETNS_RUN_DIR "/" NS_PREFIX "%s", id);
    n4 = snprintf(ns->host_if, sizeof ns->host_if, VETH_HOST_PREFIX "%s", id);
    n5 = snprintf(ns->sandbox_if, sizeof ns->sandbox_if, VETH_SANDBOX_PREFIX "%s", id);
    if (n1 < 0 || (size_t)n1 >= sizeof ns->id || n2 < 0 || (size_t)n2 >= sizeof ns->ns_name ||
        n3 < 0 || (size_t)n3 >= sizeof ns->ns_path || n4 < 0 ||
        (size_t)n4 >= sizeof ns->host_if || n5 < 0 || (size_t)n5 >= sizeof ns->sandbox_if)
        return -ENAMETOOLONG;
    return 0;
}

static int
config_copy(struct osh_netns *ns, const struct osh_netns_config *cfg, char *err, size_t errlen)
{
    struct in_addr hnet, snet;
    uint8_t splen = 0;
    uint32_t mask;
    int n;

    if (cfg == NULL || !id_valid(cfg->id)) {
        osh_netns_errf(err, errlen, NULL, CAGE_NET_CONFIG, "id must match [a-z0-9]{1,%d}",
                       OSH_NETNS_ID_MAX);
        return -EINVAL;
    }
    if (names_fill(ns, cfg->id) < 0) {
        osh_netns_errf(err, errlen, NULL, CAGE_NET_CONFIG, "name too long");
        return -ENAMETOOLONG;
    }
    if (cidr_parse(cfg->host_cidr, &ns->host_addr, &ns->prefixlen) < 0 ||
        cidr_parse(cfg->sandbox_cidr, &ns->sandbox_addr, &splen) < 0) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_CONFIG,
                       "host_cidr and sandbox_cidr must be IPv4 a.b.c.d/1..30");
        return -EINVAL;
    }
    mask = htonl(~0u << (32 - ns->prefixlen));
    hnet.s_addr = ns->host_addr.s_addr & mask;
    snet.s_addr = ns->sandbox_addr.s_addr & mask;
    if (splen != ns->prefixlen || hnet.s_addr != snet.s_addr ||
        ns->host_addr.s_addr == ns->sandbox_addr.s_addr ||
        (ns->host_addr.s_addr & ~mask) == 0 || (ns->sandbox_addr.s_addr & ~mask) == 0 ||
        (ns->host_addr.s_addr | mask) == 0xffffffffu ||
        (ns->sandbox_addr.s_addr | mask) == 0xffffffffu) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_CONFIG,
                       "%s and %s must be two distinct host addresses of one subnet",
                       cfg->host_cidr, cfg->sandbox_cidr);
        return -EINVAL;
    }
    if (cfg->proxy_port == 0) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_CONFIG, "proxy_port is 0");
        return -EINVAL;
    }
    ns->proxy_port = cfg->proxy_port;
    if (inet_ntop(AF_INET, &ns->host_addr, ns->host_ip, sizeof ns->host_ip) == NULL ||
        inet_ntop(AF_INET, &ns->sandbox_addr, ns->sandbox_ip, sizeof ns->sandbox_ip) == NULL)
        return -EINVAL;
    /* Normalised copies ("010.1.1.1/024" cannot reach libnl). */
    n = snprintf(ns->host_cidr, sizeof ns->host_cidr, "%s/%u", ns->host_ip, ns->prefixlen);
    if (n < 0 || (size_t)n >= sizeof ns->host_cidr)
        return -ENAMETOOLONG;
    n = snprintf(ns->sandbox_cidr, sizeof ns->sandbox_cidr, "%s/%u", ns->sandbox_ip,
                 ns->prefixlen);
    if (n < 0 || (size_t)n >= sizeof ns->sandbox_cidr)
        return -ENAMETOOLONG;
    if (cfg->log_prefix != NULL)
        n = snprintf(ns->log_prefix, sizeof ns->log_prefix, "%s", cfg->log_prefix);
    else
        n = snprintf(ns->log_prefix, sizeof ns->log_prefix, LOG_PREFIX_FMT, ns->ns_name);
    if (n < 0 || (size_t)n >= sizeof ns->log_prefix || !log_prefix_valid(ns->log_prefix)) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_CONFIG,
                       "log_prefix must be 1..%d printable characters without quotes",
                       OSH_NETNS_LOG_PREFIX_MAX);
        return -EINVAL;
    }
    return 0;
}

/* ---- helper threads ---------------------------------------------------------- */

static void *
inside_thread(void *arg)
{
    struct inside_call *call = arg;

    /* Only this thread enters the namespace, and it ends right after fn:
     * the switch cannot leak into the caller or a pool thread. */
    if (setns(call->ns_fd, CLONE_NEWNET) < 0) {
        call->rc = -errno;
        return NULL;
    }
    call->rc = call->fn(call->arg);
    return NULL;
}

int
osh_netns_run_inside(int ns_fd, int (*fn)(void *arg), void *arg)
{
    struct inside_call call = {.ns_fd = ns_fd, .fn = fn, .arg = arg, .rc = -ECANCELED};
    pthread_t tid;
    int e;

    if (ns_fd < 0 || fn == NULL)
        return -EBADF;
    e = pthread_create(&tid, NULL, inside_thread, &call);
    if (e != 0)
        return -e;
    e = pthread_join(tid, NULL);
    if (e != 0)
        return -e;
    return call.rc;
}

static int
socket_fn(void *arg)
{
    const struct socket_req *req = arg;
    int fd = socket(req->domain, req->type | SOCK_CLOEXEC, req->proto);

    return fd < 0 ? -errno : fd;
}

int
osh_netns_socket_inside(int ns_fd, int domain, int type, int proto)
{
    struct socket_req req = {.domain = domain, .type = type, .proto = proto};

    return osh_netns_run_inside(ns_fd, socket_fn, &req);
}

static void *
unshare_bind_thread(void *arg)
{
    struct bind_req *req = arg;

    /* A fresh netns for this thread only (allowed in a threaded process);
     * the bind mount keeps it alive after the thread exits. */
    if (unshare(CLONE_NEWNET) < 0) {
        req->rc = -errno;
        return NULL;
    }
    if (mount(THREAD_NETNS, req->path, "none", MS_BIND, NULL) < 0) {
        req->rc = -errno;
        return NULL;
    }
    req->rc = 0;
    return NULL;
}

/* ---- /run/netns ----------------------------------------------------------------- */

/* mkdir, refuse a directory others could write to, then iproute2's loop:
 * make it a shared mount point (bind it onto itself once if it is not a
 * mount point yet) so the namespace mounts propagate to other mount
 * namespaces, e.g. an operator's `ip netns exec`. */
static int
rundir_prepare(char *err, size_t errlen, const char *ns_name)
{
    struct stat st;
    int bound = 0;

    if (mkdir(OSH_NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
        goto fail_errno;
    if (lstat(OSH_NETNS_RUN_DIR, &st) < 0)
        goto fail_errno;
    if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        osh_netns_errf(err, errlen, ns_name, CAGE_NET_RUNDIR,
                       "not a root-owned directory writable only by its owner");
        return -EPERM;
    }
    while (mount("", OSH_NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
        if (errno != EINVAL || bound)
            goto fail_errno;
        if (mount(OSH_NETNS_RUN_DIR, OSH_NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
            goto fail_errno;
        bound = 1;
    }
    return 0;

fail_errno:
    osh_netns_errf(err, errlen, ns_name, CAGE_NET_RUNDIR, "%s", strerror(errno));
    return -errno;
}

static int
nsfile_create(const struct osh_netns *ns, char *err, size_t errlen)
{
    /* O_EXCL: never adopt a file someone else made; O_NOFOLLOW for clarity
     * (O_EXCL already refuses a symlink). */
    int fd = open(ns->ns_path, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);

    if (fd < 0) {
        int rc = -errno;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSFILE, "%s: %s", ns->ns_path,
                       strerror(-rc));
        return rc;
    }
    if (close(fd) < 0) {
        int rc = -errno;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSFILE, "close: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

static int
nsfile_bind_new(const struct osh_netns *ns, char *err, size_t errlen)
{
    struct bind_req req = {.path = ns->ns_path, .rc = -ECANCELED};
    pthread_t tid;
    int e;

    e = pthread_create(&tid, NULL, unshare_bind_thread, &req);
    if (e == 0)
        e = pthread_join(tid, NULL);
    if (e != 0) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_UNSHARE_BIND, "helper thread: %s",
                       strerror(e));
        return -e;
    }
    if (req.rc < 0)
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_UNSHARE_BIND, "%s",
                       strerror(-req.rc));
    return req.rc;
}

/* Opens the bind mount and proves it is a new network namespace: an nsfs
 * file of type CLONE_NEWNET that is not our own namespace. */
static int
nsfile_open(struct osh_netns *ns, char *err, size_t errlen)
{
    struct stat fst, own;
    int fd = -1, type, rc;

    fd = open(ns->ns_path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN, "%s", strerror(-rc));
        goto fail;
    }
    type = ioctl(fd, NS_GET_NSTYPE);
    if (type != CLONE_NEWNET) {
        rc = type < 0 ? -errno : -EINVAL;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN,
                       "%s is not a network namespace", ns->ns_path);
        goto fail;
    }
    if (fstat(fd, &fst) < 0 || stat(THREAD_NETNS, &own) < 0) {
        rc = -errno;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN, "stat: %s", strerror(-rc));
        goto fail;
    }
    if (fst.st_dev == own.st_dev && fst.st_ino == own.st_ino) {
        rc = -EINVAL;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN,
                       "%s is the caller's own namespace", ns->ns_path);
        goto fail;
    }
    ns->ns_dev = fst.st_dev;
    ns->ns_ino = fst.st_ino;
    ns->ns_fd = fd;
    return 0;

fail:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Peels every mount off path (a crashed run may have stacked two), then
 * unlinks it.  Missing is success.  UMOUNT_NOFOLLOW: a symlink planted at
 * path cannot redirect the unmount. */
static int
nsfile_remove(const char *path)
{
    int i;

    for (i = 0; i < UMOUNT_MAX_LAYERS; i++) {
        if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0)
            continue;
        if (errno == EINVAL || errno == ENOENT)
            break; /* not (or no longer) a mount point */
        return -errno;
    }
    if (i == UMOUNT_MAX_LAYERS)
        return -EBUSY;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* Removes the bind mount only while it still is this handle's namespace. */
static int
nsfile_remove_if_ours(const struct osh_netns *ns)
{
    struct stat st;

    if (stat(ns->ns_path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (st.st_dev != ns->ns_dev || st.st_ino != ns->ns_ino)
        return 0; /* already removed and reused: not ours to touch */
    return nsfile_remove(ns->ns_path);
}

int
osh_netns_check_alive(const struct osh_netns *ns, char *err, size_t errlen)
{
    struct stat fst, pst;
    int type;

    if (ns == NULL || ns->ns_fd < 0) {
        osh_netns_errf(err, errlen, ns != NULL ? ns->ns_name : NULL, CAGE_NET_NSOPEN,
                       "no namespace");
        return ns == NULL ? -EINVAL : -EBADF;
    }
    type = ioctl(ns->ns_fd, NS_GET_NSTYPE);
    if (type != CLONE_NEWNET || fstat(ns->ns_fd, &fst) < 0 || fst.st_dev != ns->ns_dev ||
        fst.st_ino != ns->ns_ino) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN,
                       "handle no longer refers to its network namespace");
        return -EBADF;
    }
    if (stat(ns->ns_path, &pst) < 0) {
        int rc = -errno;
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN, "%s: %s", ns->ns_path,
                       strerror(-rc));
        return rc;
    }
    if (pst.st_dev != ns->ns_dev || pst.st_ino != ns->ns_ino) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NSOPEN,
                       "%s is no longer this namespace (removed or replaced)", ns->ns_path);
        return -ESTALE;
    }
    return 0;
}

/* ---- rtnetlink -------------------------------------------------------------------- */

/* Wraps a NETLINK_ROUTE fd we created (always SOCK_CLOEXEC) in an nl_sock.
 * Takes ownership of fd on every path.  nl_socket_set_fd() wants it bound:
 * it reads the port id back with getsockname(). */
static int
rtnl_adopt_fd(int fd, struct nl_sock **out)
{
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    struct nl_sock *sk = NULL;
    int rc;

    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = -errno;
        goto fail;
    }
    sk = nl_socket_alloc();
    if (sk == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = nl_socket_set_fd(sk, NETLINK_ROUTE, fd);
    if (rc < 0) {
        rc = osh_netns_nle_errno(rc);
        goto fail;
    }
    *out = sk;
    return 0;

fail:
    nl_socket_free(sk); sk = NULL;
    close(fd);
    return rc;
}

static int
rtnl_open_here(struct nl_sock **out)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

    if (fd < 0)
        return -errno;
    return rtnl_adopt_fd(fd, out);
}

static int
rtnl_open_inside(int ns_fd, struct nl_sock **out)
{
    int fd = osh_netns_socket_inside(ns_fd, AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);

    if (fd < 0)
        return fd;
    return rtnl_adopt_fd(fd, out);
}

/* Refuses to configure a subnet that already holds an address of the
 * caller's namespace: two supervisors on one /24 would steal each other's
 * connected route. */
static int
subnet_unused(struct nl_sock *sk, const struct osh_netns *ns, char *err, size_t errlen)
{
    struct nl_cache *cache = NULL;
    struct nl_object *obj;
    uint32_t mask = htonl(~0u << (32 - ns->prefixlen));
    uint32_t net = ns->host_addr.s_addr & mask;
    int rc;

    rc = rtnl_addr_alloc_cache(sk, &cache);
    if (rc < 0) {
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_HOST_CONF, rc, "RTM_GETADDR");
        goto out;
    }
    for (obj = nl_cache_get_first(cache); obj != NULL; obj = nl_cache_get_next(obj)) {
        struct rtnl_addr *a = (struct rtnl_addr *)obj;
        struct nl_addr *local = rtnl_addr_get_local(a);
        char ifname[IF_NAMESIZE] = "?", ip[INET_ADDRSTRLEN] = "?";
        uint32_t v;

        if (rtnl_addr_get_family(a) != AF_INET || local == NULL ||
            nl_addr_get_len(local) != sizeof v)
            continue;
        memcpy(&v, nl_addr_get_binary_addr(local), sizeof v);
        if ((v & mask) != net)
            continue;
        if_indextoname((unsigned)rtnl_addr_get_ifindex(a), ifname);
        inet_ntop(AF_INET, &v, ip, sizeof ip);
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_HOST_CONF,
                       "subnet of %s already in use: %s on %s", ns->host_cidr, ip, ifname);
        rc = -EADDRINUSE;
        goto out;
    }
    rc = 0;

out:
    nl_cache_free(cache); cache = NULL;
    return rc;
}

static int
link_ifindex(struct nl_sock *sk, const struct osh_netns *ns, enum cage_net_op op,
             const char *name, int *ifindex, char *err, size_t errlen)
{
    struct rtnl_link *link = NULL;
    char what[64];
    int rc;

    rc = rtnl_link_get_kernel(sk, 0, name, &link);
    if (rc < 0) {
        snprintf(what, sizeof what, "RTM_GETLINK %s", name);
        rc = nl_failf(err, errlen, ns->ns_name, op, rc, what);
        goto out;
    }
    *ifindex = rtnl_link_get_ifindex(link);
    rc = *ifindex > 0 ? 0 : -ENODEV;
    if (rc < 0)
        osh_netns_errf(err, errlen, ns->ns_name, op, "%s has no ifindex", name);

out:
    rtnl_link_put(link); link = NULL;
    return rc;
}

static int
link_set_up(struct nl_sock *sk, const struct osh_netns *ns, enum cage_net_op op, int ifindex,
            const char *name, char *err, size_t errlen)
{
    struct rtnl_link *orig = rtnl_link_alloc();
    struct rtnl_link *change = rtnl_link_alloc();
    char what[64];
    int rc;

    if (orig == NULL || change == NULL) {
        rc = -ENOMEM;
        osh_netns_errf(err, errlen, ns->ns_name, op, "link up %s: out of memory", name);
        goto out;
    }
    rtnl_link_set_ifindex(orig, ifindex);
    rtnl_link_set_flags(change, IFF_UP);
    rc = rtnl_link_change(sk, orig, change, 0);
    if (rc < 0) {
        snprintf(what, sizeof what, "link up %s", name);
        rc = nl_failf(err, errlen, ns->ns_name, op, rc, what);
    }

out:
    rtnl_link_put(orig); orig = NULL;
    rtnl_link_put(change); change = NULL;
    return rc;
}

static int
addr_add(struct nl_sock *sk, const struct osh_netns *ns, enum cage_net_op op, int ifindex,
         const char *cidr, const char *name, char *err, size_t errlen)
{
    struct rtnl_addr *addr = rtnl_addr_alloc();
    struct nl_addr *local = NULL;
    char what[96];
    int rc;

    snprintf(what, sizeof what, "RTM_NEWADDR %s on %s", cidr, name);
    if (addr == NULL) {
        rc = nl_failf(err, errlen, ns->ns_name, op, -NLE_NOMEM, what);
        goto out;
    }
    rc = nl_addr_parse(cidr, AF_INET, &local);
    if (rc < 0) {
        rc = nl_failf(err, errlen, ns->ns_name, op, rc, what);
        goto out;
    }
    rtnl_addr_set_ifindex(addr, ifindex);
    rtnl_addr_set_family(addr, AF_INET);
    rc = rtnl_addr_set_local(addr, local);
    if (rc < 0) {
        rc = nl_failf(err, errlen, ns->ns_name, op, rc, what);
        goto out;
    }
    rtnl_addr_set_prefixlen(addr, nl_addr_get_prefixlen(local));
    /* EXCL: an address already there means someone else configured it. */
    rc = rtnl_addr_add(sk, addr, NLM_F_EXCL);
    if (rc < 0)
        rc = nl_failf(err, errlen, ns->ns_name, op, rc, what);

out:
    nl_addr_put(local); local = NULL;
    rtnl_addr_put(addr); addr = NULL;
    return rc;
}

/* The one libnl destructor that is not NULL-safe (3.7). */
static void
nh_free_nullable(struct rtnl_nexthop *nh)
{
    if (nh != NULL)
        rtnl_route_nh_free(nh);
}

/* default via <host ip> dev <sandbox if>: needs the link up first, or the
 * kernel has no connected route for the gateway (cage-notes §1.10). */
static int
route_default_add(struct nl_sock *sk, const struct osh_netns *ns, int ifindex, char *err,
                  size_t errlen)
{
    struct rtnl_route *route = rtnl_route_alloc();
    struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
    struct nl_addr *dst = NULL, *gw = NULL;
    struct in_addr any = {.s_addr = INADDR_ANY};
    char what[64];
    int rc;

    snprintf(what, sizeof what, "RTM_NEWROUTE default via %s", ns->host_ip);
    dst = nl_addr_build(AF_INET, &any, sizeof any);
    gw = nl_addr_build(AF_INET, &ns->host_addr, sizeof ns->host_addr);
    if (route == NULL || nh == NULL || dst == NULL || gw == NULL) {
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_SANDBOX_CONF, -NLE_NOMEM, what);
        goto out;
    }
    nl_addr_set_prefixlen(dst, 0);
    rtnl_route_set_family(route, AF_INET);
    rc = rtnl_route_set_dst(route, dst);
    if (rc < 0) {
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_SANDBOX_CONF, rc, what);
        goto out;
    }
    rtnl_route_set_table(route, RT_TABLE_MAIN);
    rtnl_route_set_protocol(route, RTPROT_BOOT);
    rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
    rtnl_route_set_type(route, RTN_UNICAST);
    rtnl_route_nh_set_gateway(nh, gw);
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(route, nh);
    nh = NULL; /* owned by route from here */
    rc = rtnl_route_add(sk, route, NLM_F_CREATE | NLM_F_EXCL);
    if (rc < 0)
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_SANDBOX_CONF, rc, what);

out:
    nh_free_nullable(nh); nh = NULL;
    nl_addr_put(dst); dst = NULL;
    nl_addr_put(gw); gw = NULL;
    rtnl_route_put(route); route = NULL;
    return rc;
}

/* RTM_DELLINK by name in the namespace of sk (a veth takes its peer along).
 * Already gone is success.  On failure *nle_out gets libnl's code. */
static int
link_delete(struct nl_sock *sk, const char *name, int *nle_out)
{
    struct rtnl_link *link = rtnl_link_alloc();
    int rc;

    *nle_out = -NLE_NOMEM;
    if (link == NULL)
        return -ENOMEM;
    rtnl_link_set_name(link, name);
    rc = rtnl_link_delete(sk, link);
    rtnl_link_put(link); link = NULL;
    *nle_out = rc;
    if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND)
        return 0;
    return rc < 0 ? osh_netns_nle_errno(rc) : 0;
}

/* ---- the veth pair ---------------------------------------------------------------- */

static int
veth_add(struct nl_sock *root, const struct osh_netns *ns, char *err, size_t errlen)
{
    struct rtnl_link *link = rtnl_link_veth_alloc();
    struct rtnl_link *peer = NULL;
    char what[64];
    int rc;

    snprintf(what, sizeof what, "RTM_NEWLINK veth %s/%s", ns->host_if, ns->sandbox_if);
    if (link == NULL) {
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_VETH_ADD, -NLE_NOMEM, what);
        goto out;
    }
    rtnl_link_set_name(link, ns->host_if);
    /* libnl >= 3.2.28 hands out a reference of its own: put below. */
    peer = rtnl_link_veth_get_peer(link);
    if (peer == NULL) {
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_VETH_ADD, -NLE_NOMEM, what);
        goto out;
    }
    rtnl_link_set_name(peer, ns->sandbox_if);
    /* IFLA_NET_NS_FD inside VETH_INFO_PEER: the sandbox end is born in the
     * namespace, no window where it exists on the host. */
    rtnl_link_set_ns_fd(peer, ns->ns_fd);
    rc = rtnl_link_add(root, link, NLM_F_CREATE | NLM_F_EXCL);
    if (rc < 0)
        rc = nl_failf(err, errlen, ns->ns_name, CAGE_NET_VETH_ADD, rc, what);

out:
    rtnl_link_put(peer); peer = NULL;
    rtnl_link_put(link); link = NULL;
    return rc;
}

static int
host_side_setup(struct nl_sock *root, const struct osh_netns *ns, char *err, size_t errlen)
{
    int idx = 0, rc;

    rc = link_ifindex(root, ns, CAGE_NET_HOST_CONF, ns->host_if, &idx, err, errlen);
    if (rc < 0)
        return rc;
    rc = addr_add(root, ns, CAGE_NET_HOST_CONF, idx, ns->host_cidr, ns->host_if, err, errlen);
    if (rc < 0)
        return rc;
    return link_set_up(root, ns, CAGE_NET_HOST_CONF, idx, ns->host_if, err, errlen);
}

/* Everything on a socket created inside the namespace: these requests can
 * only ever change the sandbox's own configuration. */
static int
sandbox_side_setup(const struct osh_netns *ns, char *err, size_t errlen)
{
    struct nl_sock *sk = NULL;
    int sidx = 0, loidx = 0, rc;

    rc = rtnl_open_inside(ns->ns_fd, &sk);
    if (rc < 0) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NS_SOCKET, "NETLINK_ROUTE: %s",
                       strerror(-rc));
        goto out;
    }
    rc = link_ifindex(sk, ns, CAGE_NET_SANDBOX_CONF, ns->sandbox_if, &sidx, err, errlen);
    if (rc < 0)
        goto out;
    rc = addr_add(sk, ns, CAGE_NET_SANDBOX_CONF, sidx, ns->sandbox_cidr, ns->sandbox_if, err,
                  errlen);
    if (rc < 0)
        goto out;
    rc = link_set_up(sk, ns, CAGE_NET_SANDBOX_CONF, sidx, ns->sandbox_if, err, errlen);
    if (rc < 0)
        goto out;
    rc = link_ifindex(sk, ns, CAGE_NET_SANDBOX_CONF, "lo", &loidx, err, errlen);
    if (rc < 0)
        goto out;
    rc = link_set_up(sk, ns, CAGE_NET_SANDBOX_CONF, loidx, "lo", err, errlen);
    if (rc < 0)
        goto out;
    rc = route_default_add(sk, ns, sidx, err, errlen);

out:
    nl_socket_free(sk); sk = NULL;
    return rc;
}

/* ---- public ---------------------------------------------------------------------- */

struct osh_netns *
osh_netns_create(const struct osh_netns_config *cfg, char *err, size_t errlen)
{
    struct osh_netns *ns = NULL;
    struct nl_sock *root = NULL;
    bool have_file = false, have_veth = false;
    int rc, nle;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    ns = calloc(1, sizeof *ns);
    if (ns == NULL) {
        rc = -ENOMEM;
        osh_netns_errf(err, errlen, NULL, CAGE_NET_CONFIG, "out of memory");
        goto fail;
    }
    ns->ns_fd = -1;
    rc = config_copy(ns, cfg, err, errlen);
    if (rc < 0)
        goto fail;

    /* The linear sequence; each step is one checked call (cage_int.h). */
    rc = stale_remove(ns->id, err, errlen);
    if (rc < 0)
        goto fail;
    rc = rtnl_open_here(&root);
    if (rc < 0) {
        osh_netns_errf(err, errlen, ns->ns_name, CAGE_NET_NS_SOCKET, "NETLINK_ROUTE: %s",
                       strerror(-rc));
        goto fail;
    }
    rc = subnet_unused(root, ns, err, errlen);
    if (rc < 0)
        goto fail;
    rc = rundir_prepare(err, errlen, ns->ns_name);
    if (rc < 0)
        goto fail;
    rc = nsfile_create(ns, err, errlen);
    if (rc < 0)
        goto fail;
    have_file = true;
    rc = nsfile_bind_new(ns, err, errlen);
    if (rc < 0)
        goto fail;
    rc = nsfile_open(ns, err, errlen);
    if (rc < 0)
        goto fail;
    rc = veth_add(root, ns, err, errlen);
    if (rc < 0)
        goto fail;
    have_veth = true;
    rc = host_side_setup(root, ns, err, errlen);
    if (rc < 0)
        goto fail;
    rc = sandbox_side_setup(ns, err, errlen);
    if (rc < 0)
        goto fail;

    nl_socket_free(root); root = NULL;
    return ns;

fail:
    /* Reverse order; the message of the first failure stays in err. */
    if (have_veth)
        (void)link_delete(root, ns->host_if, &nle);
    if (ns != NULL && ns->ns_fd >= 0)
        close(ns->ns_fd);
    if (have_file)
        (void)nsfile_remove(ns->ns_path);
    nl_socket_free(root); root = NULL;
    free(ns); ns = NULL;
    errno = -rc;
    return NULL;
}

int
osh_netns_fd(const struct osh_netns *ns)
{
    return ns != NULL ? ns->ns_fd : -1;
}

const char *
osh_netns_name(const struct osh_netns *ns)
{
    return ns != NULL ? ns->ns_name : NULL;
}

const char *
osh_netns_log_prefix(const struct osh_netns *ns)
{
    return ns != NULL ? ns->log_prefix : NULL;
}

const char *
osh_netns_host_ip(const struct osh_netns *ns)
{
    return ns != NULL ? ns->host_ip : NULL;
}

const char *
osh_netns_sandbox_ip(const struct osh_netns *ns)
{
    return ns != NULL ? ns->sandbox_ip : NULL;
}

bool
osh_netns_kernel_log_ready(const struct osh_netns *ns)
{
    return ns != NULL && ns->fence_log_ready;
}

int
osh_netns_destroy(struct osh_netns *ns)
{
    struct nl_sock *sk = NULL;
    int rc = 0, r, nle;

    if (ns == NULL)
        return 0;
    /* The veth is deleted from inside our own namespace, so the name can
     * only ever be our sandbox end (the host end goes with it). */
    if (ns->ns_fd >= 0) {
        r = rtnl_open_inside(ns->ns_fd, &sk);
        if (r == 0)
            r = link_delete(sk, ns->sandbox_if, &nle);
        if (r < 0 && rc == 0)
            rc = r;
    }
    r = nsfile_remove_if_ours(ns);
    if (r < 0 && rc == 0)
        rc = r;
    if (ns->ns_fd >= 0 && close(ns->ns_fd) < 0 && rc == 0)
        rc = -errno;
    nl_socket_free(sk); sk = NULL;
    free(ns); ns = NULL;
    return rc;
}

/* Leftovers of our id: the host veth by name (its peer goes with it) and the
 * bind mount.  Both names are ours by construction (osh-/veth-h- + id). */
static int
stale_remove(const char *id, char *err, size_t errlen)
{
    struct osh_netns names;
    struct nl_sock *root = NULL;
    int rc, nle = 0;

    memset(&names, 0, sizeof names);
    if (!id_valid(id) || names_fill(&names, id) < 0) {
        osh_netns_errf(err, errlen, NULL, CAGE_NET_CONFIG, "invalid id");
        return -EINVAL;
    }
    rc = rtnl_open_here(&root);
    if (rc < 0) {
        osh_netns_errf(err, errlen, names.ns_name, CAGE_NET_NS_SOCKET, "NETLINK_ROUTE: %s",
                       strerror(-rc));
        goto out;
    }
    rc = link_delete(root, names.host_if, &nle);
    if (rc < 0) {
        osh_netns_errf(err, errlen, names.ns_name, CAGE_NET_VETH_DEL, "stale %s: %s",
                       names.host_if, nl_geterror(nle));
        goto out;
    }
    rc = nsfile_remove(names.ns_path);
    if (rc < 0)
        osh_netns_errf(err, errlen, names.ns_name, CAGE_NET_NSFILE_DEL, "stale %s: %s",
                       names.ns_path, strerror(-rc));

out:
    nl_socket_free(root); root = NULL;
    return rc;
}

int
osh_netns_cleanup_stale(const char *id)
{
    return stale_remove(id, NULL, 0);
}
