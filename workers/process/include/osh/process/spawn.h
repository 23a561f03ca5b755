/*
 * spawn.h - start the workload as a confined child: privilege drop, fd
 * hygiene, capability clearing, NO_NEW_PRIVS, the Landlock and seccomp hooks,
 * exec.  process.md §8, cage-notes.md §6.
 *
 * Lifecycle: osh_resolve_user() once at startup (as root, in the parent:
 * NSS is neither async-signal-safe nor cheap when cold), then one
 * osh_spawn() per child with a config that points only at prepared data.
 *
 * Threads: both functions may be called from any thread, including while
 * other threads run (the proxy pool, gRPC).  The child side of osh_spawn()
 * makes raw syscalls only; see spawn.c DESIGN.
 */
#ifndef OSH_PROCESS_SPAWN_H
#define OSH_PROCESS_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OSH_SPAWN_MAX_GROUPS 64
#define OSH_SPAWN_NAME_MAX 256 /* LOGIN_NAME_MAX */
#define OSH_SPAWN_HOME_MAX 4096

/* The identity the child switches to.  `groups` are the supplementary groups
 * (what initgroups(3) would set, primary gid included).  `user` and `home`
 * come from passwd, for the child environment (child_env.h). */
struct osh_identity_ids {
    uid_t uid;
    gid_t gid;
    gid_t groups[OSH_SPAWN_MAX_GROUPS];
    size_t n_groups;
    char user[OSH_SPAWN_NAME_MAX];
    char home[OSH_SPAWN_HOME_MAX];
};

/*
 * Resolves `user` and `group` to ids with getpwnam_r / getgrnam_r /
 * getgrouplist (process.md §8.5).  Call in the parent, before any spawn.
 *  - user NULL or "" means "sandbox", which must exist (§8.1 message);
 *  - group NULL or "" means the user's primary group from passwd;
 *  - the result never contains uid 0, gid 0 or supplementary group 0: the
 *    workload never runs as root, nor with root's group.
 * Returns 0 and fills *out, or -ENOENT (no such user/group), -EPERM (root),
 * -E2BIG (more than OSH_SPAWN_MAX_GROUPS groups), -ENAMETOOLONG, or the lookup
 * errno, with a message in err.  Strings are only read.
 */
int osh_resolve_user(const char *user, const char *group, struct osh_identity_ids *out, char *err,
                     size_t errlen);

/* A step run inside the child (Landlock, seccomp).  It must be
 * async-signal-safe: raw syscalls on data prepared in the parent, no malloc,
 * no stdio, no locks, no writes to memory it did not get from its own stack
 * (the child may share the parent's address space).  Returns 0 or -errno. */
typedef int (*osh_child_hook)(const void *arg);

/* Everything a spawn needs, all prepared in the parent and borrowed until
 * osh_spawn() returns. */
struct osh_spawn_config {
    char *const *argv;                  /* argv[0] is an absolute path (PATH search done before) */
    char *const *envp;                  /* the exact environment (child_env.h) */
    const char *workdir;                /* chdir target, or NULL to stay */
    int netns_fd;                       /* -1: stay; else setns(fd, CLONE_NEWNET) first */
    const struct osh_identity_ids *ids; /* NULL: keep ours, only allowed when not root */
    osh_child_hook landlock;            /* NULL allowed */
    const void *landlock_arg;
    osh_child_hook seccomp; /* NULL allowed; the last step before execve */
    const void *seccomp_arg;
    bool new_process_group; /* setpgid(0, 0); false for --interactive */
    int stdin_fd;           /* -1: inherit ours */
    int stdout_fd;
    int stderr_fd;
};

/*
 * Starts cfg->argv as a confined child and waits until its execve has
 * committed (or failed).  The child's sequence is listed in spawn.c
 * child_main(); any failing step is reported back through a CLOEXEC pipe.
 *
 * Returns 0 and the child's pid in *pid, or -errno with
 * "spawn failed at <step>: <strerror>" in err (the failed child is reaped
 * here).  Parent-side errors: -EINVAL (bad config), -EPERM (ids NULL while
 * root), or the errno of pipe/mmap/clone.
 *
 * The child's signal dispositions are reset to SIG_DFL and its mask is
 * emptied, whatever the calling thread has blocked (supervise.h blocks
 * SIGCHLD and the termination signals).  On success the child belongs to the
 * caller, who must reap it (supervise.h does).
 */
int osh_spawn(const struct osh_spawn_config *cfg, pid_t *pid, char *err, size_t errlen);

#endif /* OSH_PROCESS_SPAWN_H */
