/*
 * seccomp.h - the syscall part of the cage: the workload's seccomp filter,
 * compiled to classic BPF in the supervisor and attached in the spawned
 * child (process.md §7.1; our `pledge`).
 *
 * Lifecycle:
 *   osh_seccomp_prepare()      parent, before fork (typically once per
 *                              network mode at startup; the program is
 *                              immutable and serves every spawn).  Any
 *                              thread; allocates; uses libseccomp.
 *   osh_seccomp_apply_child()  child, last step before execve, after
 *                              PR_SET_NO_NEW_PRIVS and after Landlock: one
 *                              raw seccomp(2) call, async-signal-safe.
 *   osh_seccomp_free()         parent, when no child can still be between
 *                              fork and exec with this object.
 *
 * The filter is a denylist with default ALLOW, one program for what the
 * reference installs as two (clone3 -> ENOSYS, the rest -> EPERM); the rule
 * list is in cage_seccomp.c.  Syscalls of a foreign architecture (i386
 * int 0x80 on x86_64, arm32 on aarch64) and x32 syscall numbers kill the
 * process (SECCOMP_RET_KILL_PROCESS).
 */
#ifndef OSH_PROCESS_SECCOMP_H
#define OSH_PROCESS_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

struct osh_seccomp;
struct sock_fprog;

/*
 * Builds the child filter.  allow_inet: proxy mode, AF_INET/AF_INET6 sockets
 * are allowed (raw and SOCK_PACKET types excepted); false: only AF_UNIX
 * (plus NETLINK_ROUTE, which getifaddrs needs).
 * Returns 0 and a new object in *out, or -errno with *out = NULL (when out
 * is not NULL) and a message in err (NUL-terminated, truncated to errlen;
 * err may be NULL).  Any thread.
 */
int osh_seccomp_prepare(bool allow_inet, struct osh_seccomp **out, char *err, size_t errlen);

/*
 * Child side: seccomp(SECCOMP_SET_MODE_FILTER, 0, program) and nothing else.
 * ASYNC-SIGNAL-SAFE: no allocation, no stdio, no locks; safe in a vfork or
 * CLONE_VM child.  The caller must have set PR_SET_NO_NEW_PRIVS.  The filter
 * denies seccomp(SECCOMP_SET_MODE_FILTER) itself, so this is the last filter
 * the workload gets.  Returns 0 or -errno (-EINVAL for NULL).
 */
int osh_seccomp_apply_child(const struct osh_seccomp *sc);

/* The compiled program (len instructions); borrowed, owned by `sc`. */
const struct sock_fprog *osh_seccomp_program(const struct osh_seccomp *sc);

/* Frees the object.  NULL is a no-op. */
void osh_seccomp_free(struct osh_seccomp *sc);

#endif /* OSH_PROCESS_SECCOMP_H */
