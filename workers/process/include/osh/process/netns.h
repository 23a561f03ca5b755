/*
 * netns.h - the sandbox's network namespace and its nftables fence
 * (process.md §3-§4): a named namespace "osh-<id>" bound at
 * /run/netns/osh-<id>, a veth pair (veth-h-<id> in the caller's namespace,
 * veth-s-<id> born inside the sandbox namespace), one /24 between them, a
 * default route to the host end, and an inet table that lets the sandbox
 * reach only the proxy.  No `ip` or `nft` subprocess: rtnetlink through
 * libnl-route-3, the fence through one libnftnl/libmnl batch.
 *
 * Lifecycle (orchestrator, before the workload starts):
 *   osh_netns_cleanup_stale(id)      optional; create does it too
 *   osh_netns_create()               namespace + veth + addresses + routes
 *   osh_netns_install_fence()        the fence; refuse to start the workload
 *                                    unless it returns 0 (fail closed)
 *   ... children setns(osh_netns_fd()) in their pre-exec step ...
 *   osh_netns_destroy()              veth, bind mount, fd, memory
 * create and install_fence need CAP_SYS_ADMIN and CAP_NET_ADMIN and must run
 * before the supervisor's seccomp prelude (which blocks mount/umount2).
 *
 * Threads: every function is called from one thread of the orchestrator,
 * which must be in the namespace the supervisor lives in (the host-side veth
 * is created there).  The handle is not locked; the accessors are plain reads
 * of immutable fields and may be called from any thread once create has
 * returned.  unshare(CLONE_NEWNET) and setns() happen only on short-lived
 * helper threads that this module creates and joins, so the calling thread
 * never changes namespace (cage-notes §1.3, §1.8).  Not async-signal-safe:
 * a signal-driven shutdown calls destroy from the main thread's loop (after
 * signalfd/sigwait reports the signal), never from a handler.
 *
 * Ownership: the config and its strings are borrowed for the duration of
 * create and copied.  The handle owns the namespace fd; every fd this module
 * opens is O_CLOEXEC.  Returned strings live as long as the handle.
 *
 * Errors: 0 or -errno; constructors return NULL and set errno.  When `err`
 * is not NULL it receives one line saying which step failed and why
 * (libnl's NLE_* codes are translated to errno here, their text kept).
 */
#ifndef OSH_PROCESS_NETNS_H
#define OSH_PROCESS_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSH_NETNS_ID_MAX 8          /* [a-z0-9]{1,8}: "veth-h-" + 8 = IFNAMSIZ - 1 */
#define OSH_NETNS_LOG_PREFIX_MAX 127 /* NF_LOG_PREFIXLEN - 1 */
#define OSH_NETNS_RUN_DIR "/run/netns"

struct osh_netns;

struct osh_netns_config {
    const char *id;           /* [a-z0-9]{1,8}: netns "osh-<id>", veths "veth-[hs]-<id>" */
    const char *host_cidr;    /* "10.200.0.1/24": address of veth-h, the default gateway */
    const char *sandbox_cidr; /* "10.200.0.2/24": same subnet and prefix length */
    uint16_t proxy_port;      /* 3128: the only host-side port the sandbox may reach */
    const char *log_prefix;   /* nft log prefix; NULL = "openshell:bypass:osh-<id>:" */
};

/*
 * Creates the namespace, the veth pair (peer created directly inside the
 * namespace), the addresses, brings veth-h, veth-s and lo up and adds the
 * sandbox's default route via the host address.  Leftovers of a previous run
 * with the same id are removed first (osh_netns_cleanup_stale).  Refuses a
 * subnet already configured on an interface of the caller's namespace (another
 * supervisor's, typically).  Any failure rolls back everything it created.
 * Returns the handle, or NULL with errno set and a message in err.
 */
struct osh_netns *osh_netns_create(const struct osh_netns_config *cfg, char *err, size_t errlen);

/*
 * Installs the fence (process.md §4.1 with TCP answered by a reset, see
 * cage_nft.c) as ONE nftables transaction inside the namespace, after
 * setting nf_log_all_netns=1 so that the log lines reach the kernel log.
 * Re-installing replaces the table atomically; a failed re-install leaves
 * the previous fence in place (the transaction is all or nothing).  The
 * first install is one transaction too: no rule is live until all are.
 * The result is read back
 * (table, chain hook/priority/policy, rule count and shape); any failure,
 * including a handle whose namespace is no longer mounted, returns -errno.
 * The orchestrator must not start the workload unless this returned 0.
 */
int osh_netns_install_fence(struct osh_netns *ns, char *err, size_t errlen);

/*
 * true when nf_log_all_netns is 1 (checked at install).  false when the
 * knob does not exist because the supervisor itself runs in a non-initial
 * network namespace (a pod): the fence still rejects, but the bypass log
 * depends on the host's setting.  false before install.
 */
bool osh_netns_kernel_log_ready(const struct osh_netns *ns);

/* O_CLOEXEC fd of the namespace, owned by ns: for setns() in a child and the
 * proxy's identity lookups.  -1 for NULL. */
int osh_netns_fd(const struct osh_netns *ns);

/* "osh-<id>", the nft log prefix, "10.200.0.1", "10.200.0.2". */
const char *osh_netns_name(const struct osh_netns *ns);
const char *osh_netns_log_prefix(const struct osh_netns *ns);
const char *osh_netns_host_ip(const struct osh_netns *ns);
const char *osh_netns_sandbox_ip(const struct osh_netns *ns);

/*
 * Deletes the veth pair, detaches and unlinks the bind mount (only if it
 * still is this namespace's), closes the fd and frees ns.  Each piece is
 * idempotent (already gone is success); returns the first error but always
 * frees.  NULL is a no-op returning 0.  The namespace itself dies with its
 * last user (a workload still inside keeps it, without the veth).
 */
int osh_netns_destroy(struct osh_netns *ns);

/*
 * Removes what a previous run with this id may have left behind after a
 * crash: the veth pair (by the name veth-h-<id> in the caller's namespace)
 * and the bind mount /run/netns/osh-<id>.  Nothing left is success.  0 or
 * -errno (-EINVAL for a malformed id).
 */
int osh_netns_cleanup_stale(const char *id);

/* ---- the processes in a cage (cage_members.c) --------------------------- */

/* Where a supervisor records that it owns a cage: <dir>/<name>.owner holds
 * its pid.  A cage whose owner is gone is stale. */
#define OSH_NETNS_OWNER_DIR "/run/openshell-sandbox"

/* SIGKILLs every process inside the namespace (found by /proc/PID/ns/net),
 * until none is left: the workload's background children, double-forked
 * daemons, other process groups.  0, or -EBUSY when some would not die
 * within 2 s.  Main thread, before osh_netns_destroy(). */
int osh_netns_kill_members(const struct osh_netns *ns);

/* Records this process as the cage's owner (0 or -errno), and removes the
 * record at teardown. */
int osh_netns_claim(const struct osh_netns *ns);
void osh_netns_unclaim(const struct osh_netns *ns);

/* At start: finds the cages of supervisors that died without cleaning up
 * (osh-<hex id> with no live owner), kills what still runs inside them
 * and removes them.  Cages of live supervisors are left alone.  Returns
 * how many were removed, or -errno. */
int osh_netns_reap_stale(void);

#endif /* OSH_PROCESS_NETNS_H */
