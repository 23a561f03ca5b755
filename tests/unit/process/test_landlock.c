/*
 * test_landlock.c - osh_landlock against the real kernel.
 *
 * Every enforcement check runs in a forked child (PR_SET_NO_NEW_PRIVS +
 * osh_landlock_apply_child, then the probes), so the test process itself
 * stays unrestricted.  A child reports a failed probe on stderr and exits
 * non-zero; it always leaves with _exit() so no atexit handler (LSan, cmocka)
 * runs in it.  The kernel must have Landlock: without it the group setup
 * fails with a message (never a silent skip).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>

#include "osh/process/landlock.h"

#define LL_TRUNCATE_BIT (1ULL << 14)
#define LL_MISSING "/nonexistent/osh-ll-missing"

/* Test fixture: a private tree under /tmp.
 *   base/rw        read-write directory
 *   base/wd        a second directory, used as the workdir
 *   base/ro        read-only directory holding base/ro/f ("hello")
 *   base/other     a file that no rule covers */
struct fixture {
    char base[64];
    char rw[96];
    char wd[96];
    char ro[96];
    char ro_file[96];
    char other[96];
};

static int child_check_fail(const char *expr, int line);
static int run_child(const struct osh_landlock *ll, int (*fn)(const struct fixture *),
                     const struct fixture *fx);
static int write_file(const char *path, const char *data);
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw);

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return child_check_fail(#cond, __LINE__);                                              \
    } while (0)

static int
child_check_fail(const char *expr, int line)
{
    int e = errno;

    dprintf(2, "# child check failed at line %d: %s (errno %d: %s)\n", line, expr, e, strerror(e));
    return 1;
}

/* Forks; the child sets NO_NEW_PRIVS, applies `ll` and runs fn.  Returns the
 * child's exit code (0 = every probe passed), or -1 if it did not exit. */
static int
run_child(const struct osh_landlock *ll, int (*fn)(const struct fixture *),
          const struct fixture *fx)
{
    pid_t pid;
    int status;
    int rc;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            _exit(child_check_fail("prctl(PR_SET_NO_NEW_PRIVS)", __LINE__));
        rc = osh_landlock_apply_child(ll);
        if (rc < 0) {
            errno = -rc;
            _exit(child_check_fail("osh_landlock_apply_child", __LINE__));
        }
        _exit(fn(fx));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status)) {
        fprintf(stderr, "# child killed by signal %d\n", WTERMSIG(status));
        return -1;
    }
    return WEXITSTATUS(status);
}

static int
write_file(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = write(fd, data, strlen(data));
    close(fd);
    return n == (ssize_t)strlen(data) ? 0 : -1;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
group_setup(void **state)
{
    struct fixture *fx;
    char why[OSH_LANDLOCK_MSG_MAX];
    int abi = osh_landlock_abi(why, sizeof(why));

    if (abi < 1) {
        fprintf(stderr, "# FAIL: this kernel has no usable Landlock: %s\n", why);
        return -1;
    }
    fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    snprintf(fx->base, sizeof(fx->base), "/tmp/osh-ll-XXXXXX");
    if (mkdtemp(fx->base) == NULL)
        return -1;
    snprintf(fx->rw, sizeof(fx->rw), "%s/rw", fx->base);
    snprintf(fx->wd, sizeof(fx->wd), "%s/wd", fx->base);
    snprintf(fx->ro, sizeof(fx->ro), "%s/ro", fx->base);
    snprintf(fx->ro_file, sizeof(fx->ro_file), "%s/ro/f", fx->base);
    snprintf(fx->other, sizeof(fx->other), "%s/other", fx->base);
    if (mkdir(fx->rw, 0755) != 0 || mkdir(fx->wd, 0755) != 0 || mkdir(fx->ro, 0755) != 0 ||
        write_file(fx->ro_file, "hello") != 0 || write_file(fx->other, "other") != 0)
        return -1;
    *state = fx;
    return 0;
}

static int
group_teardown(void **state)
{
    struct fixture *fx = *state;

    if (fx != NULL && fx->base[0] != '\0')
        nftw(fx->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* ---- enforcement: ro=[/usr, /etc], rw=[tmp, /dev/null] ------------------- */

static int
probe_basic(const struct fixture *fx)
{
    char buf[256];
    char path[PATH_MAX];
    int fd;

    /* read-only directory: reading works, writing does not (root ignores
     * DAC, so EACCES here can only come from Landlock) */
    fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(read(fd, buf, sizeof(buf)) >= 0);
    close(fd);
    errno = 0;
    CHILD_CHECK(open("/etc/osh-ll-test-created", O_WRONLY | O_CREAT | O_CLOEXEC, 0600) == -1 &&
                errno == EACCES);
    errno = 0;
    CHILD_CHECK(open("/etc/hostname", O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(mkdir("/etc/osh-ll-test-dir", 0700) == -1 && errno == EACCES);

    /* read-write directory: create, write, mkdir, rename, unlink */
    snprintf(path, sizeof(path), "%s/created", fx->rw);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "x", 1) == 1);
    close(fd);
    snprintf(buf, sizeof(buf), "%s/sub", fx->rw);
    CHILD_CHECK(mkdir(buf, 0700) == 0);
    snprintf(buf, sizeof(buf), "%s/sub/moved", fx->rw);
    CHILD_CHECK(rename(path, buf) == 0);
    CHILD_CHECK(unlink(buf) == 0);
    snprintf(buf, sizeof(buf), "%s/sub", fx->rw);
    CHILD_CHECK(rmdir(buf) == 0);

    /* file rule: /dev/null is writable, its siblings are not reachable */
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(write(fd, "x", 1) == 1);
    close(fd);
    errno = 0;
    CHILD_CHECK(open("/dev/zero", O_RDONLY | O_CLOEXEC) == -1 && errno == EACCES);

    /* not listed at all */
    errno = 0;
    CHILD_CHECK(open("/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(open("/var", O_RDONLY | O_DIRECTORY | O_CLOEXEC) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(open(fx->other, O_RDONLY | O_CLOEXEC) == -1 && errno == EACCES);
    return 0;
}

/* The workload can still exec from a read-only tree. */
static int
probe_exec(const struct fixture *fx)
{
    (void)fx;
    execl("/usr/bin/true", "true", (char *)NULL);
    return child_check_fail("execl(/usr/bin/true)", __LINE__);
}

static int
probe_exec_denied(const struct fixture *fx)
{
    (void)fx;
    /* /usr/bin/true exists, but the ruleset of this test does not cover /usr */
    execl("/usr/bin/true", "true", (char *)NULL);
    CHILD_CHECK(errno == EACCES);
    return 0;
}

static void
test_enforce_basic(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[] = {"/usr", "/etc"};
    const char *rw[] = {fx->rw, "/dev/null"};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;
    char err[256];
    int rc;

    rc = osh_landlock_prepare(ro, 2, rw, 2, NULL, false, &ll, &rep, err, sizeof(err));
    assert_int_equal(rc, 0);
    assert_non_null(ll);
    assert_true(rep.abi > 0);
    assert_int_equal(rep.abi, osh_landlock_abi(NULL, 0));
    assert_true(rep.enforced);
    assert_int_equal(rep.n_rules, 4); /* /dev/null is a file rule and it was accepted */
    assert_int_equal(rep.n_skipped, 0);
    assert_string_equal(rep.not_enforced, "");
    if (rep.abi >= 3)
        assert_true((rep.handled_fs & LL_TRUNCATE_BIT) != 0);

    /* the ruleset fd is close-on-exec */
    assert_true(osh_landlock_ruleset_fd(ll) >= 0);
    assert_true((fcntl(osh_landlock_ruleset_fd(ll), F_GETFD) & FD_CLOEXEC) != 0);

    assert_int_equal(run_child(ll, probe_basic, fx), 0);
    /* the same object serves a second spawn (restrict_self keeps the fd) */
    assert_int_equal(run_child(ll, probe_exec, fx), 0);

    /* nothing escaped into /etc, whatever the child did */
    assert_int_equal(access("/etc/osh-ll-test-created", F_OK), -1);
    assert_int_equal(access("/etc/osh-ll-test-dir", F_OK), -1);
    osh_landlock_free(ll);
}

static void
test_exec_outside_denied(void **state)
{
    const struct fixture *fx = *state;
    const char *rw[] = {fx->rw};
    struct osh_landlock *ll = NULL;

    assert_int_equal(osh_landlock_prepare(NULL, 0, rw, 1, NULL, true, &ll, NULL, NULL, 0), 0);
    assert_int_equal(run_child(ll, probe_exec_denied, fx), 0);
    osh_landlock_free(ll);
}

/* ---- read-only directory and read-only file -------------------------------- */

static int
probe_read_only(const struct fixture *fx)
{
    char path[PATH_MAX];
    char dst[PATH_MAX];
    char buf[16];
    int fd;

    fd = open(fx->ro_file, O_RDONLY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(read(fd, buf, sizeof(buf)) == 5);
    close(fd);
    errno = 0;
    CHILD_CHECK(open(fx->ro_file, O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(open(fx->ro_file, O_RDONLY | O_TRUNC | O_CLOEXEC) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(unlink(fx->ro_file) == -1 && errno == EACCES);
    snprintf(path, sizeof(path), "%s/new", fx->ro);
    errno = 0;
    CHILD_CHECK(mkdir(path, 0700) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600) == -1 && errno == EACCES);
    /* moving a file from the rw tree into the ro tree */
    snprintf(path, sizeof(path), "%s/tomove", fx->rw);
    snprintf(dst, sizeof(dst), "%s/moved", fx->ro);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0);
    close(fd);
    errno = 0;
    CHILD_CHECK(rename(path, dst) == -1 && (errno == EACCES || errno == EXDEV));
    CHILD_CHECK(unlink(path) == 0);
    return 0;
}

/* truncate(2) needs no open: only handled from ABI 3 on */
static int
probe_truncate(const struct fixture *fx)
{
    errno = 0;
    CHILD_CHECK(truncate(fx->ro_file, 0) == -1 && errno == EACCES);
    return 0;
}

static int
probe_ro_file_rule(const struct fixture *fx)
{
    char buf[16];
    int fd;

    fd = open(fx->ro_file, O_RDONLY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    CHILD_CHECK(read(fd, buf, sizeof(buf)) == 5);
    close(fd);
    errno = 0;
    CHILD_CHECK(open(fx->ro_file, O_WRONLY | O_CLOEXEC) == -1 && errno == EACCES);
    /* the rule covers the file, not its directory */
    errno = 0;
    CHILD_CHECK(open(fx->ro, O_RDONLY | O_DIRECTORY | O_CLOEXEC) == -1 && errno == EACCES);
    errno = 0;
    CHILD_CHECK(open(fx->other, O_RDONLY | O_CLOEXEC) == -1 && errno == EACCES);
    return 0;
}

static void
test_read_only_dir(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[] = {"/usr", fx->ro};
    const char *rw[] = {fx->rw};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;

    assert_int_equal(osh_landlock_prepare(ro, 2, rw, 1, NULL, true, &ll, &rep, NULL, 0), 0);
    assert_int_equal(rep.n_rules, 3);
    assert_int_equal(run_child(ll, probe_read_only, fx), 0);
    if (rep.abi >= 3) {
        assert_int_equal(run_child(ll, probe_truncate, fx), 0);
    } else {
        fprintf(stderr, "# Landlock ABI %d < 3: truncate(2) is not restricted; not probed\n",
                rep.abi);
    }
    osh_landlock_free(ll);
}

static void
test_file_rules_hard(void **state)
{
    const struct fixture *fx = *state;
    /* read-only file rule and read-write file rule, in hard_requirement:
     * the reference fails here (DirectoryAccess); we narrow the rights */
    const char *ro[] = {"/usr", fx->ro_file, "/dev/urandom"};
    const char *rw[] = {"/dev/null"};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;
    char err[256];

    assert_int_equal(osh_landlock_prepare(ro, 3, rw, 1, NULL, true, &ll, &rep, err, sizeof(err)),
                     0);
    assert_true(rep.enforced);
    assert_int_equal(rep.n_rules, 4);
    assert_int_equal(run_child(ll, probe_ro_file_rule, fx), 0);
    osh_landlock_free(ll);
}

/* ---- workdir ---------------------------------------------------------------- */

static int
probe_workdir(const struct fixture *fx)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/in-workdir", fx->wd);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0);
    close(fd);
    CHILD_CHECK(unlink(path) == 0);
    return 0;
}

static void
test_workdir(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[] = {"/usr"};
    const char *rw[] = {fx->rw};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;

    /* already in read_write: not added twice */
    assert_int_equal(osh_landlock_prepare(ro, 1, rw, 1, fx->rw, false, &ll, &rep, NULL, 0), 0);
    assert_int_equal(rep.n_rules, 2);
    osh_landlock_free(ll);
    ll = NULL;

    assert_int_equal(osh_landlock_prepare(ro, 1, rw, 1, fx->wd, false, &ll, &rep, NULL, 0), 0);
    assert_int_equal(rep.n_rules, 3);
    assert_int_equal(run_child(ll, probe_workdir, fx), 0);
    osh_landlock_free(ll);
}

/* ---- best_effort vs hard_requirement ------------------------------------- */

static int
probe_still_enforced(const struct fixture *fx)
{
    char path[PATH_MAX];
    int fd;

    snprintf(path, sizeof(path), "%s/best-effort", fx->rw);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHILD_CHECK(fd >= 0);
    close(fd);
    CHILD_CHECK(unlink(path) == 0);
    errno = 0;
    CHILD_CHECK(open("/etc/hostname", O_RDONLY | O_CLOEXEC) == -1 && errno == EACCES);
    return 0;
}

static int
probe_unrestricted(const struct fixture *fx)
{
    int fd;

    (void)fx;
    fd = open("/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHILD_CHECK(fd >= 0);
    close(fd);
    return 0;
}

static void
test_best_effort_missing(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[] = {"/usr", LL_MISSING, "relative/path"};
    const char *rw[] = {fx->rw};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;
    char err[256];

    assert_int_equal(osh_landlock_prepare(ro, 3, rw, 1, NULL, false, &ll, &rep, err, sizeof(err)),
                     0);
    assert_non_null(ll);
    assert_true(rep.enforced);
    assert_int_equal(rep.n_rules, 2);
    assert_int_equal(rep.n_skipped, 2);
    assert_string_equal(rep.skipped[0], LL_MISSING " (path does not exist)");
    assert_string_equal(rep.skipped[1], "relative/path (not an absolute path)");
    assert_int_equal(run_child(ll, probe_still_enforced, fx), 0);
    osh_landlock_free(ll);
}

static void
test_best_effort_many_skipped(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[12];
    const char *rw[] = {fx->rw};
    char longpath[400];
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;

    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    ro[0] = longpath;
    for (size_t i = 1; i < 12; i++)
        ro[i] = LL_MISSING;
    assert_int_equal(osh_landlock_prepare(ro, 12, rw, 1, NULL, false, &ll, &rep, NULL, 0), 0);
    assert_int_equal(rep.n_skipped, 12);
    assert_int_equal(rep.n_rules, 1);
    /* a truncated record is marked and still terminated */
    assert_int_equal(strlen(rep.skipped[0]), OSH_LANDLOCK_MSG_MAX - 1);
    assert_string_equal(rep.skipped[0] + OSH_LANDLOCK_MSG_MAX - 4, "...");
    assert_string_equal(rep.skipped[OSH_LANDLOCK_SKIPPED_MAX - 1],
                        LL_MISSING " (path does not exist)");
    osh_landlock_free(ll);
}

static void
test_hard_missing(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[] = {"/usr", LL_MISSING};
    const char *rw[] = {fx->rw};
    const char *rel[] = {"usr"};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;
    char err[256];

    assert_int_equal(osh_landlock_prepare(ro, 2, rw, 1, NULL, true, &ll, &rep, err, sizeof(err)),
                     -ENOENT);
    assert_null(ll);
    assert_false(rep.enforced);
    assert_non_null(strstr(err, "hard_requirement"));
    assert_non_null(strstr(err, LL_MISSING));
    assert_non_null(strstr(err, "path does not exist"));

    assert_int_equal(osh_landlock_prepare(rel, 1, rw, 1, NULL, true, &ll, &rep, err, sizeof(err)),
                     -EINVAL);
    assert_null(ll);
    assert_non_null(strstr(err, "not an absolute path"));
}

static void
test_zero_valid_paths(void **state)
{
    const struct fixture *fx = *state;
    const char *ro[] = {LL_MISSING};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;
    char err[256];

    /* best_effort: the reference runs unrestricted (with a High alert) */
    assert_int_equal(osh_landlock_prepare(ro, 1, NULL, 0, NULL, false, &ll, &rep, err, sizeof(err)),
                     0);
    assert_false(rep.enforced);
    assert_true(rep.abi > 0);
    assert_non_null(strstr(rep.not_enforced, "zero valid paths"));
    assert_int_equal(osh_landlock_ruleset_fd(ll), -1);
    assert_int_equal(run_child(ll, probe_unrestricted, fx), 0);
    osh_landlock_free(ll);
    ll = NULL;

    assert_int_equal(osh_landlock_prepare(ro, 1, NULL, 0, NULL, true, &ll, &rep, err, sizeof(err)),
                     -ENOENT);
    assert_null(ll);
    /* in hard_requirement the missing path is already fatal on its own */
    assert_non_null(strstr(err, LL_MISSING));
}

static void
test_no_paths(void **state)
{
    const struct fixture *fx = *state;
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;

    assert_int_equal(osh_landlock_prepare(NULL, 0, NULL, 0, NULL, true, &ll, &rep, NULL, 0), 0);
    assert_false(rep.enforced);
    assert_true(rep.abi > 0);
    assert_string_equal(rep.not_enforced, "no paths configured");
    assert_int_equal(osh_landlock_apply_child(ll), 0); /* in the parent: a no-op */
    assert_int_equal(run_child(ll, probe_unrestricted, fx), 0);
    osh_landlock_free(ll);
}

/* Why file paths need narrowed rights: the kernel refuses a directory-only
 * right on a non-directory.  Raw syscalls, independent of the module. */
static void
test_kernel_rejects_dir_rights_on_file(void **state)
{
    struct {
        uint64_t handled_access_fs;
    } attr = {(1ULL << 13) - 1};
    struct landlock_path_beneath_attr pb;
    long rfd;
    int fd;

    (void)state;
    rfd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    assert_true(rfd >= 0);
    fd = open("/dev/null", O_PATH | O_CLOEXEC);
    assert_true(fd >= 0);
    memset(&pb, 0, sizeof(pb));
    pb.parent_fd = fd;
    pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    errno = 0;
    assert_int_equal(syscall(SYS_landlock_add_rule, (int)rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0),
                     -1);
    assert_int_equal(errno, EINVAL);
    pb.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_WRITE_FILE;
    assert_int_equal(syscall(SYS_landlock_add_rule, (int)rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0),
                     0);
    close(fd);
    close((int)rfd);
}

/* A kernel without Landlock, simulated in a child: a tiny seccomp filter
 * makes landlock_create_ruleset fail with `e`, as an old kernel (ENOSYS), a
 * kernel with Landlock outside the LSM list (EOPNOTSUPP) or a container
 * profile (EPERM) would.  No arch check: the filter is only ever attached to
 * this native test child. */
static int
child_without_landlock(int e, const char *expect_why)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)e & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof(insns) / sizeof(insns[0]), insns};
    const char *ro[] = {"/usr"};
    struct osh_landlock_report rep;
    struct osh_landlock *ll = NULL;
    char err[256];

    CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHILD_CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0);
    CHILD_CHECK(osh_landlock_abi(NULL, 0) == -e);

    /* best_effort: an object that applies nothing, and the reason */
    CHILD_CHECK(osh_landlock_prepare(ro, 1, NULL, 0, NULL, false, &ll, &rep, err, sizeof(err)) ==
                0);
    CHILD_CHECK(ll != NULL && !rep.enforced && rep.abi == 0);
    CHILD_CHECK(strstr(rep.not_enforced, expect_why) != NULL);
    CHILD_CHECK(osh_landlock_ruleset_fd(ll) == -1);
    CHILD_CHECK(osh_landlock_apply_child(ll) == 0);
    osh_landlock_free(ll);
    ll = NULL;

    /* hard_requirement: an error that says why */
    CHILD_CHECK(osh_landlock_prepare(ro, 1, NULL, 0, NULL, true, &ll, &rep, err, sizeof(err)) ==
                -e);
    CHILD_CHECK(ll == NULL);
    CHILD_CHECK(strstr(err, "Landlock unavailable in hard_requirement mode") != NULL);
    CHILD_CHECK(strstr(err, expect_why) != NULL);
    return 0;
}

static void
test_kernel_without_landlock(void **state)
{
    static const struct {
        int e;
        const char *why;
    } cases[] = {
        {ENOSYS, "not implemented"},
        {EOPNOTSUPP, "not enabled"},
        {EPERM, "blocked"},
    };
    pid_t pid;
    int status;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(child_without_landlock(cases[i].e, cases[i].why));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
}

/* Negative control: the probes do detect a child that is not confined. */
static void
test_control_unconfined(void **state)
{
    const struct fixture *fx = *state;
    struct osh_landlock *ll = NULL;

    assert_int_equal(osh_landlock_prepare(NULL, 0, NULL, 0, NULL, false, &ll, NULL, NULL, 0), 0);
    fprintf(stderr, "# expected: the next child check fails (control run)\n");
    assert_int_equal(run_child(ll, probe_still_enforced, fx), 1);
    osh_landlock_free(ll);
}

static void
test_bad_args(void **state)
{
    const char *ro[] = {"/usr", NULL};
    struct osh_landlock *ll = NULL;
    char err[128];

    (void)state;
    assert_int_equal(
        osh_landlock_prepare(ro, 1, NULL, 0, NULL, false, NULL, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(
        osh_landlock_prepare(NULL, 1, NULL, 0, NULL, false, &ll, NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(osh_landlock_prepare(ro, 2, NULL, 0, NULL, false, &ll, NULL, err, sizeof(err)),
                     -EINVAL);
    assert_null(ll);
    assert_int_equal(osh_landlock_apply_child(NULL), -EINVAL);
    assert_int_equal(osh_landlock_ruleset_fd(NULL), -1);
    osh_landlock_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enforce_basic),
        cmocka_unit_test(test_exec_outside_denied),
        cmocka_unit_test(test_read_only_dir),
        cmocka_unit_test(test_file_rules_hard),
        cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_best_effort_missing),
        cmocka_unit_test(test_best_effort_many_skipped),
        cmocka_unit_test(test_hard_missing),
        cmocka_unit_test(test_zero_valid_paths),
        cmocka_unit_test(test_no_paths),
        cmocka_unit_test(test_kernel_rejects_dir_rights_on_file),
        cmocka_unit_test(test_kernel_without_landlock),
        cmocka_unit_test(test_control_unconfined),
        cmocka_unit_test(test_bad_args),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
