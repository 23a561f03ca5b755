/*
 * cage_landlock.c - Landlock filesystem ruleset for the workload (our
 * `unveil`).  See osh/process/landlock.h for the contract; process.md §6 for
 * the reference behaviour and cage-notes.md §4 for the measured calls.
 *
 * DESIGN
 *   Everything that can fail or allocate happens in the parent, as root,
 *   before fork: the ABI probe, landlock_create_ruleset, one O_PATH open +
 *   fstat + landlock_add_rule per path.  The child then makes exactly one
 *   syscall, landlock_restrict_self(fd, 0), which is async-signal-safe and
 *   does not consume the fd, so one prepared object can serve many spawns.
 *
 *   Raw syscalls (444/445/446 on x86_64 and aarch64), no liblandlock: the
 *   uapi header shipped with Debian 12 stops before TRUNCATE (ABI 3) and
 *   IOCTL_DEV (ABI 5), so those bits are spelled out below.  The ruleset
 *   attribute is passed with size 8 (handled_access_fs only), which every
 *   ABI accepts; network rights (ABI 4) and scopes (ABI 6) stay unhandled,
 *   as in the reference: the network fence is the netns + nft.
 *
 * Differences from the reference (landlock 0.4.4, ABI::V2), on purpose:
 *   - the handled set follows the kernel's ABI (TRUNCATE and IOCTL_DEV are
 *     handled when available, so a read-only file cannot be truncated);
 *   - a non-directory path gets the file subset of its rights in both modes
 *     (the reference fails hard_requirement on /dev/null or /dev/urandom);
 *   - unexpected create/add_rule errors fail in best_effort too, instead of
 *     running the workload unrestricted.
 *
 * PRIVILEGE
 *   The only privileged step is opening the listed paths as root.  The
 *   paths come from the validated policy; each is checked to be absolute
 *   and NUL-terminated (strings) before open, and the fd is O_PATH, so
 *   nothing is read or written through it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "osh/process/landlock.h"

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif

/* ABI 1: EXECUTE (bit 0) .. MAKE_SYM (bit 12). */
#define LL_FS_V1 ((1ULL << 13) - 1)

/* Read-only: run and read, list directories (0x000D). */
#define LL_RIGHTS_RO                                                                               \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)

/* The rights the kernel accepts on a rule whose fd is not a directory
 * (security/landlock/fs.c ACCESS_FILE); anything else there is EINVAL. */
#define LL_RIGHTS_FILE                                                                             \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* Only the first member of struct landlock_ruleset_attr: accepted by every
 * ABI, and the later members (net, scoped) must be 0 anyway. */
struct ll_ruleset_attr {
    uint64_t handled_access_fs;
};

struct osh_landlock {
    int ll_ruleset_fd; /* -1: nothing to enforce */
    int ll_abi;
    uint64_t ll_handled;
};

/* The state of one osh_landlock_prepare() call, shared by its helpers. */
struct ll_build {
    struct osh_landlock *ll;
    struct osh_landlock_report *rep;
    bool hard;
    char *err;
    size_t errlen;
};

static void ll_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static uint64_t ll_handled_for_abi(int abi);
static const char *ll_open_reason(int e);
static void ll_record_skip(struct osh_landlock_report *rep, const char *path, const char *why);
static int ll_path_rejected(struct ll_build *b, const char *path, const char *why, int rc);
static int ll_add_path(struct ll_build *b, const char *path, uint64_t rights);
static bool ll_in_list(const char *const *list, size_t n, const char *s);

static void
ll_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap); /* truncation is acceptable for a message */
    va_end(ap);
}

static uint64_t
ll_handled_for_abi(int abi)
{
    uint64_t m = LL_FS_V1;

    if (abi >= 2)
        m |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        m |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        m |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    /* ABI 4 adds network rights, 6 scopes, 7 audit flags: none handled. */
    return m;
}

/* The reference's wording for a failed open (process.md §6.1 step 4). */
static const char *
ll_open_reason(int e)
{
    switch (e) {
    case ENOENT:
        return "path does not exist";
    case EACCES:
        return "permission denied";
    case ELOOP:
        return "too many symlink levels";
    case ENAMETOOLONG:
        return "path name too long";
    case ENOTDIR:
        return "path component is not a directory";
    default:
        return "unexpected error";
    }
}

static void
ll_record_skip(struct osh_landlock_report *rep, const char *path, const char *why)
{
    char *slot;
    int n;

    if (rep->n_skipped < OSH_LANDLOCK_SKIPPED_MAX) {
        slot = rep->skipped[rep->n_skipped];
        n = snprintf(slot, OSH_LANDLOCK_MSG_MAX, "%s (%s)", path, why);
        if (n < 0 || (size_t)n >= OSH_LANDLOCK_MSG_MAX) /* truncated: mark it */
            memcpy(slot + OSH_LANDLOCK_MSG_MAX - 4, "...", 4);
    }
    rep->n_skipped++;
}

/* A path that cannot get a rule: skipped in best_effort (returns 0), fatal
 * in hard_requirement (returns rc). */
static int
ll_path_rejected(struct ll_build *b, const char *path, const char *why, int rc)
{
    if (b->hard) {
        ll_errf(b->err, b->errlen,
                "Landlock path unavailable in hard_requirement mode: %s (%s): %s", path, why,
                strerror(-rc));
        return rc;
    }
    ll_record_skip(b->rep, path, why);
    return 0;
}

/* Opens `path` and adds its rule, narrowed to the file rights when it is not
 * a directory.  Returns 0 (rule added or path skipped) or -errno. */
static int
ll_add_path(struct ll_build *b, const char *path, uint64_t rights)
{
    struct landlock_path_beneath_attr pb;
    struct stat st;
    int fd = -1;
    int rc;

    if (path == NULL) {
        ll_errf(b->err, b->errlen, "Landlock: NULL path in the path lists");
        rc = -EINVAL;
        goto out;
    }
    if (path[0] != '/') {
        /* Relative paths would resolve against the supervisor's cwd. */
        rc = ll_path_rejected(b, path, "not an absolute path", -EINVAL);
        goto out;
    }
    fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        rc = ll_path_rejected(b, path, ll_open_reason(errno), -errno);
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        rc = ll_path_rejected(b, path, "unexpected error", -errno);
        goto out;
    }
    if (!S_ISDIR(st.st_mode))
        rights &= LL_RIGHTS_FILE;

    memset(&pb, 0, sizeof(pb));
    pb.allowed_access = rights & b->ll->ll_handled;
    pb.parent_fd = fd;
    if (syscall(SYS_landlock_add_rule, b->ll->ll_ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) <
        0) {
        rc = -errno;
        ll_errf(b->err, b->errlen, "landlock_add_rule(%s, 0x%llx): %s", path,
                (unsigned long long)pb.allowed_access, strerror(errno));
        goto out;
    }
    b->rep->n_rules++;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static bool
ll_in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] != NULL && strcmp(list[i], s) == 0)
            return true;
    return false;
}

int
osh_landlock_abi(char *why, size_t whylen)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    int e = errno;

    if (abi >= 1) {
        ll_errf(why, whylen, "available (ABI %ld)", abi);
        return (int)abi;
    }
    if (abi >= 0) /* 0 is not a valid ABI: treat as unavailable */
        e = EOPNOTSUPP;
    switch (e) {
    case ENOSYS:
        ll_errf(why, whylen, "not implemented (kernel lacks CONFIG_SECURITY_LANDLOCK)");
        break;
    case EOPNOTSUPP:
        ll_errf(why, whylen, "not enabled (Landlock built into kernel but not in active LSM list)");
        break;
    case EPERM:
        ll_errf(why, whylen, "blocked (container seccomp profile denies Landlock syscalls)");
        break;
    default:
        ll_errf(why, whylen, "unexpected probe error (errno %d)", e);
        break;
    }
    return -e;
}

int
osh_landlock_prepare(const char *const *read_only, size_t n_ro, const char *const *read_write,
                     size_t n_rw, const char *workdir, bool hard_requirement,
                     struct osh_landlock **out, struct osh_landlock_report *rep, char *err,
                     size_t errlen)
{
    struct osh_landlock_report local;
    struct ll_ruleset_attr attr;
    struct ll_build b;
    char why[OSH_LANDLOCK_MSG_MAX];
    size_t n_paths;
    bool add_workdir;
    long fd;
    int rc;

    if (rep == NULL)
        rep = &local;
    memset(rep, 0, sizeof(*rep));
    ll_errf(err, errlen, "%s", "");
    memset(&b, 0, sizeof(b));
    if (out == NULL || (n_ro > 0 && read_only == NULL) || (n_rw > 0 && read_write == NULL)) {
        ll_errf(err, errlen, "Landlock: invalid arguments");
        rc = -EINVAL;
        goto fail;
    }
    *out = NULL;

    b.ll = calloc(1, sizeof(*b.ll));
    if (b.ll == NULL) {
        ll_errf(err, errlen, "Landlock: out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    b.ll->ll_ruleset_fd = -1;
    b.rep = rep;
    b.hard = hard_requirement;
    b.err = err;
    b.errlen = errlen;

    add_workdir = workdir != NULL && !ll_in_list(read_write, n_rw, workdir);
    n_paths = n_ro + n_rw + (add_workdir ? 1 : 0);
    rc = osh_landlock_abi(why, sizeof(why));
    if (n_paths == 0) {
        /* Reference: skipped entirely, whatever the mode and the kernel. */
        rep->abi = rc > 0 ? rc : 0;
        ll_errf(rep->not_enforced, sizeof(rep->not_enforced), "no paths configured");
        goto done;
    }
    if (rc < 0) {
        if (hard_requirement) {
            ll_errf(err, errlen, "Landlock unavailable in hard_requirement mode: %s", why);
            goto fail;
        }
        ll_errf(rep->not_enforced, sizeof(rep->not_enforced), "Landlock is %s", why);
        goto done;
    }
    b.ll->ll_abi = rep->abi = rc;
    b.ll->ll_handled = rep->handled_fs = ll_handled_for_abi(rc);

    memset(&attr, 0, sizeof(attr));
    attr.handled_access_fs = b.ll->ll_handled;
    fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (fd < 0) {
        rc = -errno;
        ll_errf(err, errlen, "landlock_create_ruleset(0x%llx): %s",
                (unsigned long long)attr.handled_access_fs, strerror(errno));
        goto fail;
    }
    b.ll->ll_ruleset_fd = (int)fd; /* O_CLOEXEC, set by the kernel */

    for (size_t i = 0; i < n_ro; i++)
        if ((rc = ll_add_path(&b, read_only[i], LL_RIGHTS_RO)) < 0)
            goto fail;
    for (size_t i = 0; i < n_rw; i++)
        if ((rc = ll_add_path(&b, read_write[i], b.ll->ll_handled)) < 0)
            goto fail;
    if (add_workdir && (rc = ll_add_path(&b, workdir, b.ll->ll_handled)) < 0)
        goto fail;

    if (rep->n_rules == 0) {
        /* An empty ruleset would deny the whole filesystem, exec included. */
        ll_errf(why, sizeof(why),
                "Landlock ruleset has zero valid paths — all %zu path(s) failed to open. "
                "Refusing to apply an empty ruleset that would block all filesystem access.",
                n_paths);
        if (hard_requirement) {
            ll_errf(err, errlen, "%s", why);
            rc = -ENOENT;
            goto fail;
        }
        ll_errf(rep->not_enforced, sizeof(rep->not_enforced), "%s", why);
        close(b.ll->ll_ruleset_fd);
        b.ll->ll_ruleset_fd = -1;
        goto done;
    }
    rep->enforced = true;
done: /* success, possibly with nothing to enforce */
    *out = b.ll;
    return 0;
fail:
    osh_landlock_free(b.ll);
    b.ll = NULL;
    rep->enforced = false;
    return rc;
}

int
osh_landlock_apply_child(const struct osh_landlock *ll)
{
    /* Async-signal-safe: one raw syscall, no allocation, no stdio. */
    if (ll == NULL)
        return -EINVAL;
    if (ll->ll_ruleset_fd < 0)
        return 0;
    if (syscall(SYS_landlock_restrict_self, ll->ll_ruleset_fd, 0) < 0)
        return -errno;
    return 0;
}

int
osh_landlock_ruleset_fd(const struct osh_landlock *ll)
{
    return ll != NULL ? ll->ll_ruleset_fd : -1;
}

void
osh_landlock_free(struct osh_landlock *ll)
{
    if (ll == NULL)
        return;
    if (ll->ll_ruleset_fd >= 0)
        close(ll->ll_ruleset_fd);
    free(ll);
}
