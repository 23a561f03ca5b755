/*
 * identity.h - which binary owns the client end of an accepted TCP
 * connection (network.md §2), and the SHA-256 trust-on-first-use cache that
 * pins every binary the proxy has seen.  Private header of the network half.
 *
 * Lifecycle:
 *   osh_tofu_cache_new()              once per proxy (process lifetime)
 *   osh_identity_new(netns, ep, tofu) once per sandbox, at sandbox start,
 *                                     on a thread that may setns(CLONE_NEWNET)
 *   osh_identity_set_entrypoint()     when the process half publishes the pid
 *   osh_identity_resolve()            per connection, from any pool thread
 *   osh_identity_free()               after the last resolve has returned
 *   osh_tofu_cache_free()             after every identity using it is freed
 *
 * Threads: osh_tofu_check(), osh_identity_resolve() and
 * osh_identity_set_entrypoint() may be called concurrently from any thread.
 * _new/_free are not concurrent with anything on the same object.
 *
 * Ownership: an osh_identity borrows its tofu cache (it must outlive the
 * identity) and borrows netns_fd only during osh_identity_new().  An
 * osh_peer_identity filled by osh_identity_resolve() owns malloc'd strings;
 * release them with osh_peer_identity_clear().
 *
 * Errors are 0 / -errno; constructors return NULL and set errno.  Messages
 * go into the caller's err buffer (always NUL-terminated, truncated to
 * errlen); this module never logs.
 */
#ifndef OSH_NETWORK_IDENTITY_H
#define OSH_NETWORK_IDENTITY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* ---- SHA-256 trust-on-first-use cache (identity_tofu.c) ----------------- */

struct osh_tofu_cache;

/*
 * A cache of at most `max_entries` paths (> 0, else EINVAL).  NULL and errno
 * (EINVAL, ENOMEM) on failure.  Entries are never evicted: see
 * osh_tofu_check().
 */
struct osh_tofu_cache *osh_tofu_cache_new(size_t max_entries);

/* Frees the cache and every entry.  NULL is a no-op. */
void osh_tofu_cache_free(struct osh_tofu_cache *c);

/*
 * Checks the binary known as `path` whose bytes are readable through the
 * already-open `fd` (for a process, open("/proc/PID/exe"): that also works
 * for deleted and memfd executables, and always reads the bytes actually
 * running).  The fingerprint is fstat(fd): dev, ino, size, mtime ns, ctime
 * ns.  When it equals the cached fingerprint of `path` the cached hash is
 * returned without reading; otherwise the file is hashed through `fd`
 * (pread, the fd's offset is not used or moved) and:
 *   - first sighting of `path`: the hash becomes its golden hash (if the
 *     cache has room), 0;
 *   - same hash as the golden one (metadata-only change, e.g. touch): the
 *     fingerprint is updated, 0;
 *   - different hash: -EPERM and err = "Binary integrity violation: <path>
 *     hash changed (cached: <old>, current: <new>)".  The entry is NOT
 *     updated, so the path stays denied until its bytes are restored.
 * Other failures: -EINVAL (bad argument, not a regular file), -ENAMETOOLONG,
 * -EAGAIN (the file changed while it was hashed), -EIO (OpenSSL), -ENOMEM,
 * or the -errno of fstat/pread, each with a message in err.
 * On 0, hex_out holds the lowercase hex SHA-256 of the bytes behind fd.
 * Thread safe; the hash is computed outside the cache lock.
 */
int osh_tofu_check(struct osh_tofu_cache *c, const char *path, int fd, char hex_out[65], char *err,
                   size_t errlen);

/* ---- per-sandbox connection → process resolver (identity.c) ------------- */

struct osh_identity;

/*
 * netns_fd: an fd of the client's network namespace (open("/proc/PID/ns/net")
 * or a /run/netns/NAME bind mount), or -1 for the caller's own netns
 * (loopback clients).  The sock_diag socket is created while the calling
 * thread is setns()'d into that namespace; the thread then returns to its
 * original netns.  The fd is not kept.
 * entrypoint_pid: the sandbox entrypoint (0 = none yet / standalone proxy).
 * tofu: borrowed, must outlive the identity.
 * NULL and errno on failure: EINVAL, ENOMEM, the errno of open/setns/socket,
 * or ENOTRECOVERABLE when the thread could not return to its own netns: the
 * calling thread is then stuck in the client's namespace and the caller must
 * abort the process.
 */
struct osh_identity *osh_identity_new(int netns_fd, pid_t entrypoint_pid,
                                      struct osh_tofu_cache *tofu);

/* Publishes the entrypoint pid (0 = none).  Any thread. */
void osh_identity_set_entrypoint(struct osh_identity *id, pid_t pid);

/* Closes the sockets and frees.  NULL is a no-op.  No resolve may be running. */
void osh_identity_free(struct osh_identity *id);

#define OSH_IDENTITY_MAX_ANCESTORS 64

struct osh_peer_identity {
    pid_t pid;      /* lowest owner pid */
    uid_t uid;      /* socket uid (sk_uid) from sock_diag */
    char exe[4096]; /* readlink /proc/PID/exe, one " (deleted)" stripped */
    char sha256[65];
    char *ancestors[OSH_IDENTITY_MAX_ANCESTORS]; /* malloc'd, nearest parent first */
    size_t n_ancestors;
    char *cmdline_paths[OSH_IDENTITY_MAX_ANCESTORS]; /* malloc'd, first-seen order */
    size_t n_cmdline_paths;
};

/* Frees the strings and zeroes *p.  Safe on a zeroed or failed result. */
void osh_peer_identity_clear(struct osh_peer_identity *p);

/*
 * Resolves the process owning the CLIENT end of an accepted TCP connection.
 * peer = getpeername() of the accepted socket (the client), local =
 * getsockname() (the proxy); AF_INET or AF_INET6, v4-mapped included.
 *
 *  1. exact NETLINK_SOCK_DIAG lookup of the client socket in the sandbox's
 *     netns → inode and uid (v4: AF_INET, then AF_INET6 ::ffff: form);
 *  2. owners of socket:[inode]: every owner in the entrypoint's process tree;
 *     if none, processes whose /proc/PID uid is the socket uid; if none,
 *     every other process;
 *  3. per owner: exe + TOFU, ancestors (network.md §2.4 stop rule) + TOFU,
 *     cmdline paths;
 *  4. all owners must agree, and the lowest pid is reported.
 *
 * `out` is overwritten (it is not freed first); on success release it with
 * osh_peer_identity_clear(), on failure it is left zeroed.
 *
 * Errors, with a message in err, and how the proxy words the deny reason
 * (network.md §2.4, §2.6):
 *   -EPERM   integrity failure (any TOFU failure fails closed):
 *            - of an ancestor: err = "ancestor integrity check failed for
 *              <path>: <tofu message>", the complete reason, used as is;
 *            - of the owner's own binary: err = the TOFU message alone (e.g.
 *              "Binary integrity violation: …"), which the proxy prefixes
 *              with "binary integrity check failed: ";
 *   -EBADE   err = "ambiguous shared socket ownership: inode N is held by
 *            PIDs [a, b] with different policy identities", used as is;
 *   anything else: err is the detail, which the proxy prefixes with
 *            "failed to resolve peer binary: ":
 *   -ENOENT  no such client socket, or it is closed ("client socket gone"),
 *            or no process holds it ("No process found owning socket inode N …");
 *   -E2BIG   more owners than this module compares (64);
 *   -EINVAL, -EAFNOSUPPORT (bad addresses), -ENOMEM, -EBADMSG / -ETIMEDOUT
 *            (netlink), or the -errno of a /proc read.
 * Thread safe.  Reads /proc and one netlink socket only; never touches the
 * network.  The netlink exchange is serialized per identity (a reply is
 * awaited at most 1 s).  Uses about 16 KiB of the calling thread's stack;
 * a new binary's SHA-256 costs about 1 ms per MB on first sight.
 */
int osh_identity_resolve(struct osh_identity *id, const struct sockaddr *peer,
                         const struct sockaddr *local, struct osh_peer_identity *out, char *err,
                         size_t errlen);

/* ---- helpers shared by identity*.c only (identity_procfs.c) ------------- */

/*
 * All of these take `proc_fd`, an O_DIRECTORY fd of /proc, and treat a
 * process that vanished (ENOENT, ESRCH) as a normal outcome.
 */

/* Process-tree/uid/full scan for the holders of socket:[ino] (step 2).
 * Writes at most `max` owner pids, ascending, to owners and their count to
 * *n_owners; *n_tree and *n_other count the processes whose fd tables were
 * read in the tree and outside it, *n_unreadable the fd tables that could
 * not be read (EACCES: missing CAP_SYS_PTRACE).  0, -E2BIG (more than max
 * owners), -ENOMEM or the -errno of opening /proc. */
int osh_identity_procfs_owners(int proc_fd, unsigned long ino, pid_t entrypoint, uid_t uid,
                               const pid_t *hints, size_t n_hints, pid_t *owners, size_t max,
                               size_t *n_owners, size_t *n_tree, size_t *n_other,
                               size_t *n_unreadable);

/* Opens /proc/PID/exe (O_RDONLY|O_CLOEXEC).  An fd or -errno. */
int osh_identity_procfs_open_exe(int proc_fd, pid_t pid);

/* The path of the file open as `exe_fd` (readlink of our own fd, so the name
 * and the bytes are of the same file), with one trailing " (deleted)"
 * stripped when no file of the unstripped name exists.  0, -ENAMETOOLONG or
 * -errno. */
int osh_identity_procfs_fd_path(int proc_fd, int exe_fd, char *out, size_t outlen);

/* The parent pid from /proc/PID/stat.  0 or -errno (-EBADMSG: unparsable). */
int osh_identity_procfs_ppid(int proc_fd, pid_t pid, pid_t *ppid);

/* /proc/PID/cmdline, NUL-separated, in a malloc'd buffer the caller frees.
 * At most 64 KiB is read; an argument cut by that bound is dropped, so
 * every argument in buf is complete.  0 or -errno. */
int osh_identity_procfs_cmdline(int proc_fd, pid_t pid, char **buf, size_t *len);

#endif /* OSH_NETWORK_IDENTITY_H */
