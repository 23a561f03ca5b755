/*
 * landlock.h - the filesystem part of the cage: a Landlock ruleset built in
 * the supervisor and enforced in the spawned child (process.md §6).
 *
 * Lifecycle, once per spawn (the entrypoint and every SSH child), or once for
 * many spawns of the same policy generation (the object is immutable):
 *
 *   osh_landlock_prepare()       parent, as root, before fork: probes the
 *                                kernel ABI, creates the ruleset, opens every
 *                                path O_PATH|O_CLOEXEC and adds its rule.
 *                                Any thread; allocates; never logs (the report
 *                                and `err` carry what the caller should log).
 *   osh_landlock_ruleset_fd()    parent: the fd the child will use.  It is
 *                                O_CLOEXEC (the kernel sets it), so it
 *                                survives fork/clone and vanishes at exec.
 *   osh_landlock_apply_child()   child, between fork and execve, after the
 *                                privilege drop and after the caller set
 *                                PR_SET_NO_NEW_PRIVS: one raw syscall,
 *                                async-signal-safe.
 *   osh_landlock_free()          parent, once no child is between fork and
 *                                exec with this object any more.
 *
 * Modes (landlock.compatibility): best_effort degrades, hard_requirement
 * fails; the exact rules are in osh_landlock_prepare()'s contract.
 */
#ifndef OSH_PROCESS_LANDLOCK_H
#define OSH_PROCESS_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSH_LANDLOCK_SKIPPED_MAX 8 /* skipped paths recorded in a report */
#define OSH_LANDLOCK_MSG_MAX 256   /* bytes per recorded message, NUL included */

struct osh_landlock;

/* What osh_landlock_prepare() did, for the readiness log and the OCSF
 * findings.  Filled on success and, as far as it got, on failure. */
struct osh_landlock_report {
    int abi;          /* kernel Landlock ABI (>= 1), 0 when unavailable */
    bool enforced;    /* osh_landlock_apply_child() will restrict */
    size_t n_rules;   /* rules added (one per path that opened) */
    size_t n_skipped; /* paths skipped in best_effort; may exceed the array */
    char skipped[OSH_LANDLOCK_SKIPPED_MAX][OSH_LANDLOCK_MSG_MAX]; /* "PATH (reason)" */
    uint64_t handled_fs;                     /* LANDLOCK_ACCESS_FS_* set the ruleset handles */
    char not_enforced[OSH_LANDLOCK_MSG_MAX]; /* why, when !enforced; "" otherwise */
};

/*
 * Probes the running kernel.  Returns its Landlock ABI (>= 1) or -errno
 * (-ENOSYS: not built in, -EOPNOTSUPP: not in the active LSM list, -EPERM:
 * blocked by a seccomp profile).  When `why` is not NULL it receives a
 * human-readable availability string in either case.  Any thread.
 */
int osh_landlock_abi(char *why, size_t whylen);

/*
 * Builds the ruleset for one spawn.  Any thread of the parent, as root (so
 * mode-0700 directories open).
 *
 * Paths (borrowed; the caller keeps ownership):
 *   - read_only[0..n_ro): EXECUTE | READ_FILE | READ_DIR;
 *   - read_write[0..n_rw): every right the ruleset handles;
 *   - workdir: when not NULL (the caller passes it only with include_workdir)
 *     it is added as read-write unless it is already in read_write.
 *   Each path must be absolute; it is opened with O_PATH|O_CLOEXEC (symlinks
 *   followed).  A path that is not a directory (e.g. /dev/null) gets only
 *   the file rights of its list (EXECUTE | READ_FILE, plus WRITE_FILE |
 *   TRUNCATE | IOCTL_DEV for read-write) in both modes: directory-only rights
 *   on a file are EINVAL for the kernel, and the reference wrongly makes
 *   that fatal in hard_requirement.
 *
 * Handled rights are every filesystem right the kernel's ABI knows, up to
 * IOCTL_DEV (ABI 5); network rights and scopes are not handled.
 *
 * Degradation (hard_requirement == false, "best_effort"):
 *   - a path that cannot be opened (missing, EACCES, ELOOP, ...) or is not
 *     absolute is skipped and recorded in rep->skipped;
 *   - kernel without Landlock, or no path opened at all: success with an
 *     object that applies nothing, rep->enforced == false and the reason in
 *     rep->not_enforced (the caller raises the "landlock-unavailable" alert).
 * In hard_requirement each of those is an error.  Both lists empty and no
 * workdir: success, nothing applied, in both modes (reference: "skipped: no
 * paths configured").  Unexpected kernel errors from landlock_create_ruleset
 * or landlock_add_rule fail in both modes (no silent fail-open).
 *
 * Returns 0 and stores a new object in *out, or -errno with *out = NULL and a
 * message in err (NUL-terminated, truncated to errlen; err may be NULL).
 * rep may be NULL.
 */
int osh_landlock_prepare(const char *const *read_only, size_t n_ro, const char *const *read_write,
                         size_t n_rw, const char *workdir, bool hard_requirement,
                         struct osh_landlock **out, struct osh_landlock_report *rep, char *err,
                         size_t errlen);

/*
 * Child side: landlock_restrict_self(ruleset_fd, 0) and nothing else.
 * ASYNC-SIGNAL-SAFE: no allocation, no stdio, no locks; safe in a vfork or
 * CLONE_VM child (it writes errno only through syscall(2)).  The caller must
 * have set PR_SET_NO_NEW_PRIVS (or still hold CAP_SYS_ADMIN).
 * Returns 0 (also when the object enforces nothing) or -errno; -EINVAL for
 * a NULL object.
 */
int osh_landlock_apply_child(const struct osh_landlock *ll);

/* The prepared ruleset fd (O_CLOEXEC), or -1 when nothing is enforced.
 * Borrowed: owned by `ll` until osh_landlock_free(). */
int osh_landlock_ruleset_fd(const struct osh_landlock *ll);

/* Closes the ruleset fd and frees the object.  NULL is a no-op. */
void osh_landlock_free(struct osh_landlock *ll);

#endif /* OSH_PROCESS_LANDLOCK_H */
