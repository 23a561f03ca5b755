/*
 * cage_int.h - private to cage_netns.c and cage_nft.c: the namespace handle,
 * the closed set of privileged network operations, and the helpers both
 * files use to reach inside the namespace without switching the caller's
 * thread.  Not installed, not included by anything outside these two files.
 */
#ifndef OSH_PROCESS_CAGE_INT_H
#define OSH_PROCESS_CAGE_INT_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "osh/process/netns.h"

#define CAGE_NS_NAME_MAX (4 + OSH_NETNS_ID_MAX + 1)                  /* "osh-" id NUL */
#define CAGE_NS_PATH_MAX (sizeof OSH_NETNS_RUN_DIR + CAGE_NS_NAME_MAX) /* dir "/" name NUL */
#define CAGE_CIDR_MAX (INET_ADDRSTRLEN + 3)                          /* "a.b.c.d/nn" */
#define CAGE_NFT_TABLE "openshell_bypass" /* process.md §4.1 */
#define CAGE_NFT_CHAIN "output"

/*
 * The privileged operations of the network cage, in the order create and
 * install_fence run them.  Nothing else in these two files needs privilege.
 * Each names why it is safe; the functions performing them validate their
 * arguments again even though the caller is us.
 */
enum cage_net_op {
    /* not privileged: the configuration is validated before any step runs. */
    CAGE_NET_CONFIG = 0,
    /* mkdir /run/netns (root-owned, 0755, checked) and make it a shared mount
     * point like iproute2: only ever touches that one directory. */
    CAGE_NET_RUNDIR,
    /* O_CREAT|O_EXCL of /run/netns/osh-<id>: never reuses or follows an
     * existing file; the id is validated to [a-z0-9]{1,8}. */
    CAGE_NET_NSFILE,
    /* unshare(CLONE_NEWNET) + bind mount of /proc/thread-self/ns/net on a
     * helper thread that exits right after: no other thread changes netns. */
    CAGE_NET_UNSHARE_BIND,
    /* open the bind mount O_CLOEXEC and check it is a *new* network namespace
     * (NS_GET_NSTYPE, and not the caller's own). */
    CAGE_NET_NSOPEN,
    /* RTM_NEWLINK veth with NLM_F_EXCL, the peer born inside the namespace
     * (IFLA_NET_NS_FD): never takes over an existing interface. */
    CAGE_NET_VETH_ADD,
    /* RTM_NEWADDR / link up on the host end we just created, by ifindex. */
    CAGE_NET_HOST_CONF,
    /* rtnetlink / nfnetlink socket created by a setns() helper thread. */
    CAGE_NET_NS_SOCKET,
    /* RTM_NEWADDR, links up, default route: on a socket bound inside the
     * sandbox namespace, so they cannot touch the host's configuration. */
    CAGE_NET_SANDBOX_CONF,
    /* write 1 to the global nf_log_all_netns: only makes log lines of other
     * namespaces visible; enables no traffic. */
    CAGE_NET_NFLOG,
    /* the nft batch: one transaction on a socket bound inside the namespace. */
    CAGE_NET_NFT_BATCH,
    /* GETTABLE / GETCHAIN / GETRULE read-back; read-only. */
    CAGE_NET_NFT_VERIFY,
    /* RTM_DELLINK of our veth: inside our namespace (destroy) or by our
     * naming convention (stale cleanup of our own id). */
    CAGE_NET_VETH_DEL,
    /* umount2(MNT_DETACH|UMOUNT_NOFOLLOW) + unlink of /run/netns/osh-<id>. */
    CAGE_NET_NSFILE_DEL,
};

/* The handle: immutable after create, except fence_log_ready. */
struct osh_netns {
    int ns_fd;             /* O_RDONLY|O_CLOEXEC on the bind mount; -1 = none */
    dev_t ns_dev;          /* nsfs identity of the namespace: a bind mount at */
    ino_t ns_ino;          /* ns_path is "ours" only while it still matches */
    bool fence_log_ready;  /* nf_log_all_netns read back as 1 */
    uint16_t proxy_port;   /* host byte order */
    uint8_t prefixlen;     /* of both CIDRs */
    struct in_addr host_addr;    /* network order */
    struct in_addr sandbox_addr; /* network order */
    char id[OSH_NETNS_ID_MAX + 1];
    char ns_name[CAGE_NS_NAME_MAX];
    char ns_path[CAGE_NS_PATH_MAX];
    char host_if[IFNAMSIZ];
    char sandbox_if[IFNAMSIZ];
    char host_ip[INET_ADDRSTRLEN];
    char sandbox_ip[INET_ADDRSTRLEN];
    char host_cidr[CAGE_CIDR_MAX];
    char sandbox_cidr[CAGE_CIDR_MAX];
    char log_prefix[OSH_NETNS_LOG_PREFIX_MAX + 1];
};

/* "veth_add" etc., for messages.  Never NULL. */
const char *osh_netns_op_name(enum cage_net_op op);

/*
 * Writes "<ns name>: <op>: <formatted detail>" into err (if err != NULL and
 * errlen > 0), truncating.  ns_name may be NULL.
 */
void osh_netns_errf(char *err, size_t errlen, const char *ns_name, enum cage_net_op op,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* libnl's NLE_* code (negative or positive) → -errno. */
int osh_netns_nle_errno(int nle);

/*
 * Runs fn(arg) on a new thread that first setns(ns_fd, CLONE_NEWNET)s; the
 * thread is joined before returning, so no thread stays switched.  Returns
 * fn's result, or -errno when the thread could not be created or could not
 * enter the namespace.  Calling thread: any.
 */
int osh_netns_run_inside(int ns_fd, int (*fn)(void *arg), void *arg);

/* socket(domain, type | SOCK_CLOEXEC, proto) created inside ns_fd: the socket
 * stays in that namespace whichever thread uses it.  fd or -errno. */
int osh_netns_socket_inside(int ns_fd, int domain, int type, int proto);

/*
 * Checks that ns is usable: its fd is a network namespace and the bind mount
 * at ns_path is still that same namespace (not removed by a stale cleanup,
 * not replaced by another supervisor's).  0, or -errno with a message.
 */
int osh_netns_check_alive(const struct osh_netns *ns, char *err, size_t errlen);

#endif /* OSH_PROCESS_CAGE_INT_H */
