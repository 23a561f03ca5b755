/*
 * spawn.c - start the workload as a confined child (process.md §8,
 * cage-notes.md §6).
 *
 * DESIGN
 * The supervisor is threaded when the workload starts (proxy pool, gRPC), so
 * between clone and execve the child may only make async-signal-safe calls.
 * Everything is prepared in the parent: the ids (osh_resolve_user), the env
 * array, the Landlock ruleset and the seccomp program (behind the hooks),
 * cap_last_cap, the error pipe.  The child then runs child_main(): one
 * checked raw syscall per line, irreversible steps last, and on any failure
 * writes a {step, errno} record to a CLOEXEC pipe and _exit(127)s.  EOF on
 * the pipe without a record means execve committed.
 *
 * We use clone(CLONE_VM | CLONE_VFORK | SIGCHLD) on a private stack: no page
 * tables copied, no atfork handlers, no copy-on-write faults, so execve comes
 * 2-3x sooner than with fork (cage-notes.md §6.4, §7).  Sharing the address
 * space imposes rules that child_main() and the hooks keep:
 *  - the child writes only to its own stack, plus errno, which lands in the
 *    TLS of the calling thread; that thread is suspended until the exec
 *    (CLONE_VFORK) and does not read errno afterwards;
 *  - set*id are raw syscalls: glibc's wrappers broadcast SIGSETXID to every
 *    thread of the *parent* (they walk the shared thread list);
 *  - no PR_SET_DUMPABLE: it is per-mm and would change the supervisor.  The
 *    core-size limit of 0 is per-process and survives the exec anyway;
 *  - the parent blocks every signal around clone, so no handler of the
 *    supervisor can run on the child's stack; the child resets every
 *    disposition to SIG_DFL before it unblocks.
 * Under AddressSanitizer we use fork() instead: ASan poisons shadow memory
 * for the child's frames, which with CLONE_VM is the parent's shadow and is
 * never unpoisoned because the frames are left through execve (observed:
 * the next spawn reuses the stack address and ASan reports a false
 * stack-use-after-scope in the child).  The child sequence is the same
 * function either way; only the way it is entered differs
 * (OSH_SPAWN_USE_FORK).
 *
 * Order, and where it differs from the reference (process.md §8.4, §15.3):
 *  - setns(net) and setpgid first, then stdio and fd hygiene, then the
 *    privilege drop, then NO_NEW_PRIVS, Landlock, chdir, seccomp, execve;
 *  - the bounding set is cleared *before* setresuid: PR_CAPBSET_DROP needs
 *    CAP_SETPCAP in the effective set, which setresuid to a non-zero uid
 *    clears (cage-notes.md §6.2 step 7).  The reference does not touch the
 *    bounding set at all;
 *  - capset(0) clears the inheritable set, which setresuid leaves alone;
 *  - chdir runs after the drop (the reference does it first, as root), so a
 *    workdir the workload may not enter fails the spawn, and before the
 *    seccomp hook so that seccomp stays the last step before execve,
 *    whatever its filter denies.  Landlock has no right that governs chdir;
 *  - set*id are read back (all three ids and the groups), and regaining
 *    uid 0 must fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "osh/process/spawn.h"

/* Sanitizer runtimes hook clone() and run their fork handlers in the
 * child, which with CLONE_VM would corrupt the parent's own state (TSan
 * then refuses every later pthread_create).  They get fork(). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OSH_SPAWN_USE_FORK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OSH_SPAWN_USE_FORK 1
#endif
#endif

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define CHILD_STACK_SIZE (256 * 1024)
#define CAP_LAST_MAX 63 /* two 32-bit capability words */
#define PWBUF_START 4096
#define PWBUF_MAX (1024 * 1024)

/* Child steps, in execution order; names are what the error says. */
enum spawn_step {
    STEP_SIGNALS,
    STEP_SETNS_NET,
    STEP_SETPGID,
    STEP_STDIO,
    STEP_CLOSE_FDS,
    STEP_RLIMIT_CORE,
    STEP_CAPBSET_DROP,
    STEP_CAPBSET_VERIFY,
    STEP_SETGROUPS,
    STEP_SETRESGID,
    STEP_SETRESUID,
    STEP_VERIFY_IDS,
    STEP_VERIFY_NO_ROOT,
    STEP_CAPSET,
    STEP_AMBIENT_CLEAR,
    STEP_CAPS_VERIFY,
    STEP_NO_NEW_PRIVS,
    STEP_LANDLOCK,
    STEP_CHDIR,
    STEP_SIGMASK,
    STEP_SECCOMP,
    STEP_EXECVE,
    STEP_COUNT
};

static const char *const step_names[STEP_COUNT] = {
    [STEP_SIGNALS] = "signal reset",
    [STEP_SETNS_NET] = "setns(net)",
    [STEP_SETPGID] = "setpgid",
    [STEP_STDIO] = "dup2(stdio)",
    [STEP_CLOSE_FDS] = "close_range",
    [STEP_RLIMIT_CORE] = "rlimit(core)",
    [STEP_CAPBSET_DROP] = "capbset drop",
    [STEP_CAPBSET_VERIFY] = "capbset verify",
    [STEP_SETGROUPS] = "setgroups",
    [STEP_SETRESGID] = "setresgid",
    [STEP_SETRESUID] = "setresuid",
    [STEP_VERIFY_IDS] = "verify ids",
    [STEP_VERIFY_NO_ROOT] = "verify root cannot be regained",
    [STEP_CAPSET] = "capset",
    [STEP_AMBIENT_CLEAR] = "ambient clear",
    [STEP_CAPS_VERIFY] = "caps verify",
    [STEP_NO_NEW_PRIVS] = "no_new_privs",
    [STEP_LANDLOCK] = "landlock",
    [STEP_CHDIR] = "chdir",
    [STEP_SIGMASK] = "sigmask",
    [STEP_SECCOMP] = "seccomp",
    [STEP_EXECVE] = "execve",
};

/* One record on the error pipe: 8 bytes, so a single atomic write. */
struct spawn_report {
    int32_t step;
    int32_t err; /* positive errno */
};

/* Everything child_main() reads; built in the parent, read-only in the child. */
struct child_ctx {
    const struct osh_spawn_config *cfg;
    int report_fd; /* write end of the error pipe, >= 3, CLOEXEC */
    int cap_last;  /* from /proc/sys/kernel/cap_last_cap */
    long max_fd;   /* for the close_range fallback */
};

/* The kernel's struct for rt_sigaction (not glibc's struct sigaction).  We
 * only ever pass an all-zero one (SIG_DFL is 0), so the field order, which
 * differs between architectures, does not matter; the size is at least the
 * kernel's. */
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

static int child_main(void *arg);
static _Noreturn void child_fail(const struct child_ctx *c, enum spawn_step step, int err);
static void child_step(const struct child_ctx *c, enum spawn_step step, int r);
static int sys_result(long r);
static int reset_signal_dispositions(void);
static int unblock_signals(void);
static int setup_stdio(const struct osh_spawn_config *cfg);
static int mark_fds_cloexec(long max_fd);
static int core_limit_zero(void);
static int capbset_drop(int cap_last);
static int capbset_verify(int cap_last);
static int set_groups(const struct osh_identity_ids *ids);
static int verify_ids(const struct osh_identity_ids *ids);
static int verify_no_root(void);
static int caps_clear(void);
static int caps_verify(void);
static int no_new_privs(void);
static int run_hook(osh_child_hook hook, const void *arg);
static int read_cap_last(int *out);
static int validate_config(const struct osh_spawn_config *cfg, char *err, size_t errlen);
static int report_pipe(int fds[2]);
static pid_t start_child(struct child_ctx *c);
static int read_report(int fd, struct spawn_report *rep);
static void reap_failed(pid_t pid);
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *errstr(int e, char *buf, size_t len);
static int lookup_user(const char *name, struct passwd *pw, char **buf, char *err, size_t errlen);
static int lookup_group(const char *name, gid_t *gid, char *err, size_t errlen);

/* ---- child side: async-signal-safe only ------------------------------------ */

/*
 * The confinement sequence (STYLE §9).  One checked call per line; the
 * privilege steps are skipped only when cfg->ids is NULL, which the parent
 * allows only when it is not root itself.  Never returns.
 */
static int
child_main(void *arg)
{
    const struct child_ctx *c = arg;
    const struct osh_spawn_config *cfg = c->cfg;

    child_step(c, STEP_SIGNALS, reset_signal_dispositions());
    if (cfg->netns_fd >= 0)
        child_step(c, STEP_SETNS_NET, sys_result(setns(cfg->netns_fd, CLONE_NEWNET)));
    if (cfg->new_process_group)
        child_step(c, STEP_SETPGID, sys_result(setpgid(0, 0)));
    child_step(c, STEP_STDIO, setup_stdio(cfg));
    child_step(c, STEP_CLOSE_FDS, mark_fds_cloexec(c->max_fd));
    child_step(c, STEP_RLIMIT_CORE, core_limit_zero());
    if (cfg->ids != NULL) {
        child_step(c, STEP_CAPBSET_DROP, capbset_drop(c->cap_last));
        child_step(c, STEP_CAPBSET_VERIFY, capbset_verify(c->cap_last));
        child_step(c, STEP_SETGROUPS, set_groups(cfg->ids));
        child_step(c, STEP_SETRESGID,
                   sys_result(syscall(SYS_setresgid, cfg->ids->gid, cfg->ids->gid, cfg->ids->gid)));
        child_step(c, STEP_SETRESUID,
                   sys_result(syscall(SYS_setresuid, cfg->ids->uid, cfg->ids->uid, cfg->ids->uid)));
        child_step(c, STEP_VERIFY_IDS, verify_ids(cfg->ids));
    }
    child_step(c, STEP_VERIFY_NO_ROOT, verify_no_root());
    child_step(c, STEP_CAPSET, caps_clear());
    child_step(c, STEP_AMBIENT_CLEAR,
               sys_result(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)));
    child_step(c, STEP_CAPS_VERIFY, caps_verify());
    child_step(c, STEP_NO_NEW_PRIVS, no_new_privs());
    child_step(c, STEP_LANDLOCK, run_hook(cfg->landlock, cfg->landlock_arg));
    if (cfg->workdir != NULL)
        child_step(c, STEP_CHDIR, sys_result(chdir(cfg->workdir)));
    child_step(c, STEP_SIGMASK, unblock_signals());
    child_step(c, STEP_SECCOMP, run_hook(cfg->seccomp, cfg->seccomp_arg));
    execve(cfg->argv[0], cfg->argv, cfg->envp);
    child_fail(c, STEP_EXECVE, -errno);
    /* NOTREACHED */
}

/* Reports {step, -err} to the parent and exits without running atexit
 * handlers or flushing stdio (both belong to the parent). */
static _Noreturn void
child_fail(const struct child_ctx *c, enum spawn_step step, int err)
{
    struct spawn_report rep = {.step = (int32_t)step, .err = err < 0 ? -err : EPROTO};
    ssize_t n;

    do
        n = write(c->report_fd, &rep, sizeof(rep));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* A hook may return any non-zero value on failure; a positive one is a
 * broken hook and is reported as EPROTO. */
static void
child_step(const struct child_ctx *c, enum spawn_step step, int r)
{
    if (r != 0)
        child_fail(c, step, r);
}

static int
sys_result(long r)
{
    return r < 0 ? -errno : 0;
}

/* Every handler back to SIG_DFL, including ignored signals and glibc's
 * internal ones: the workload starts with a clean table.  Raw rt_sigaction,
 * because glibc's wrapper refuses its internal signals. */
static int
reset_signal_dispositions(void)
{
    const struct kernel_sigaction dfl = {.handler = SIG_DFL};

    for (int sig = 1; sig < _NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        if (syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask)) < 0)
            return -errno;
    }
    return 0;
}

/* The parent blocked everything around clone; the workload starts with an
 * empty mask (supervise.h blocks SIGCHLD and the termination signals in the
 * supervisor, and a blocked mask survives execve). */
static int
unblock_signals(void)
{
    const uint64_t empty = 0;

    return sys_result(syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, sizeof(empty)));
}

/* dup2 the configured fds onto 0, 1, 2.  A source that is itself 0..2 but
 * not its own target is first moved above 2, so that swaps (stdin=1,
 * stdout=0) cannot clobber each other.  A source equal to its target only
 * loses FD_CLOEXEC. */
static int
setup_stdio(const struct osh_spawn_config *cfg)
{
    int src[3] = {cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd};

    for (int i = 0; i < 3; i++) {
        if (src[i] >= 0 && src[i] < 3 && src[i] != i) {
            src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3);
            if (src[i] < 0)
                return -errno;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (src[i] < 0)
            continue;
        if (src[i] == i) {
            if (fcntl(i, F_SETFD, 0) < 0)
                return -errno;
        } else if (dup2(src[i], i) < 0) {
            return -errno;
        }
    }
    return 0;
}

/* Marks every fd >= 3 close-on-exec instead of closing it: the Landlock
 * ruleset fd and the error pipe are still needed until execve.  This covers
 * fds another thread opened without O_CLOEXEC.  The fallback for kernels
 * before 5.11 walks up to RLIMIT_NOFILE. */
static int
mark_fds_cloexec(long max_fd)
{
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    if (errno != ENOSYS && errno != EINVAL)
        return -errno;
    for (long fd = 3; fd < max_fd; fd++) {
        if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
            return -errno;
    }
    return 0;
}

/* process.md §8.4 step 5: no core dumps of the workload (RLIMIT_CORE is
 * per-process and survives execve; PR_SET_DUMPABLE does not, and is per-mm). */
static int
core_limit_zero(void)
{
    const struct {
        uint64_t cur, max; /* the kernel's struct rlimit64 */
    } zero = {0, 0};

    return sys_result(syscall(SYS_prlimit64, 0, RLIMIT_CORE, &zero, NULL));
}

/* Needs CAP_SETPCAP, so it runs while still root.  Dropping a capability
 * from the bounding set leaves the effective set alone, so the set*id calls
 * that follow still work. */
static int
capbset_drop(int cap_last)
{
    for (int cap = 0; cap <= cap_last; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return -errno;
    }
    return 0;
}

static int
capbset_verify(int cap_last)
{
    for (int cap = 0; cap <= cap_last; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);

        if (r < 0)
            return -errno;
        if (r != 0)
            return -EPERM;
    }
    return 0;
}

static int
set_groups(const struct osh_identity_ids *ids)
{
    return sys_result(syscall(SYS_setgroups, ids->n_groups, ids->groups));
}

/* Reads back all three uids and gids and the supplementary groups. */
static int
verify_ids(const struct osh_identity_ids *ids)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    gid_t groups[OSH_SPAWN_MAX_GROUPS];
    long n;

    if (syscall(SYS_getresuid, &ru, &eu, &su) < 0 || syscall(SYS_getresgid, &rg, &eg, &sg) < 0)
        return -errno;
    if (ru != ids->uid || eu != ids->uid || su != ids->uid)
        return -EPERM;
    if (rg != ids->gid || eg != ids->gid || sg != ids->gid)
        return -EPERM;
    n = syscall(SYS_getgroups, OSH_SPAWN_MAX_GROUPS, groups);
    if (n < 0)
        return -errno;
    if ((size_t)n != ids->n_groups)
        return -EPERM;
    for (long i = 0; i < n; i++) {
        if (groups[i] != ids->groups[i])
            return -EPERM;
    }
    return 0;
}

/* process.md §8.5 step 7.2: going back to uid 0 must fail.  Runs also when
 * ids is NULL, which catches a non-root caller holding CAP_SETUID. */
static int
verify_no_root(void)
{
    if (syscall(SYS_setresuid, 0, 0, 0) == 0)
        return -EPERM;
    return 0;
}

/* setresuid to a non-zero uid clears the permitted, effective and ambient
 * sets but not the inheritable one; capset clears all three. */
static int
caps_clear(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{0, 0, 0}, {0, 0, 0}};

    return sys_result(syscall(SYS_capset, &hdr, data));
}

static int
caps_verify(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];

    if (syscall(SYS_capget, &hdr, data) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (data[i].effective != 0 || data[i].permitted != 0 || data[i].inheritable != 0)
            return -EPERM;
    }
    return 0;
}

static int
no_new_privs(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return -EPERM;
    return 0;
}

static int
run_hook(osh_child_hook hook, const void *arg)
{
    if (hook == NULL)
        return 0;
    return hook(arg);
}

/* ---- parent side ------------------------------------------------------------ */

int
osh_spawn(const struct osh_spawn_config *cfg, pid_t *pid, char *err, size_t errlen)
{
    struct child_ctx c = {.cfg = cfg, .report_fd = -1};
    struct spawn_report rep;
    struct rlimit nofile;
    int fds[2] = {-1, -1};
    pid_t child = -1;
    char ebuf[128];
    int r;

    r = validate_config(cfg, err, errlen);
    if (r < 0)
        goto fail;
    r = read_cap_last(&c.cap_last);
    if (r < 0) {
        seterr(err, errlen, "spawn: cannot read /proc/sys/kernel/cap_last_cap: %s",
               errstr(-r, ebuf, sizeof(ebuf)));
        goto fail;
    }
    c.max_fd = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY
                   ? (long)nofile.rlim_cur
                   : 1024 * 1024;
    r = report_pipe(fds);
    if (r < 0) {
        seterr(err, errlen, "spawn: pipe: %s", errstr(-r, ebuf, sizeof(ebuf)));
        goto fail;
    }
    c.report_fd = fds[1];
    child = start_child(&c);
    if (child < 0) {
        r = (int)child;
        seterr(err, errlen, "spawn: clone: %s", errstr(-r, ebuf, sizeof(ebuf)));
        goto fail;
    }
    close(fds[1]);
    fds[1] = -1;
    r = read_report(fds[0], &rep);
    if (r < 0) {
        seterr(err, errlen, "spawn: error pipe: %s", errstr(-r, ebuf, sizeof(ebuf)));
        reap_failed(child);
        goto fail;
    }
    if (r > 0) {
        const char *step = rep.step >= 0 && rep.step < STEP_COUNT ? step_names[rep.step] : "?";

        r = rep.err > 0 ? -rep.err : -EPROTO;
        seterr(err, errlen, "spawn failed at %s: %s", step, errstr(-r, ebuf, sizeof(ebuf)));
        reap_failed(child);
        goto fail;
    }
    close(fds[0]);
    *pid = child;
    return 0;
fail:
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    return r;
}

static int
validate_config(const struct osh_spawn_config *cfg, char *err, size_t errlen)
{
    if (cfg == NULL || cfg->argv == NULL || cfg->argv[0] == NULL || cfg->envp == NULL) {
        seterr(err, errlen, "spawn: argv and envp are required");
        return -EINVAL;
    }
    if (cfg->argv[0][0] != '/') {
        seterr(err, errlen, "spawn: argv[0] '%s' is not an absolute path", cfg->argv[0]);
        return -EINVAL;
    }
    if (cfg->ids == NULL && geteuid() == 0) {
        seterr(err, errlen, "spawn: refusing to keep root: no identity to drop to");
        return -EPERM;
    }
    if (cfg->ids != NULL) {
        if (cfg->ids->uid == 0 || cfg->ids->gid == 0) {
            seterr(err, errlen, "spawn: refusing to run the workload as uid/gid 0");
            return -EPERM;
        }
        if (cfg->ids->n_groups > OSH_SPAWN_MAX_GROUPS) {
            seterr(err, errlen, "spawn: %zu supplementary groups (max %d)", cfg->ids->n_groups,
                   OSH_SPAWN_MAX_GROUPS);
            return -EINVAL;
        }
        for (size_t i = 0; i < cfg->ids->n_groups; i++) {
            if (cfg->ids->groups[i] == 0) {
                seterr(err, errlen, "spawn: refusing supplementary group 0");
                return -EPERM;
            }
        }
    }
    return 0;
}

static int
read_cap_last(int *out)
{
    char buf[16];
    char *end;
    ssize_t n;
    long v;
    int fd;

    fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return n < 0 ? -errno : -EIO;
    buf[n] = '\0';
    errno = 0;
    v = strtol(buf, &end, 10);
    if (errno != 0 || end == buf || (*end != '\n' && *end != '\0') || v < 0 || v > CAP_LAST_MAX)
        return -EBADMSG;
    *out = (int)v;
    return 0;
}

/* pipe2(O_CLOEXEC) with both ends moved to fd >= 3, so the child's stdio
 * dup2 cannot clobber the write end when the parent has 0..2 closed. */
static int
report_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        if (fds[i] < 3) {
            int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);

            if (moved < 0) {
                int e = errno;

                close(fds[0]);
                close(fds[1]);
                fds[0] = fds[1] = -1;
                return -e;
            }
            close(fds[i]);
            fds[i] = moved;
        }
    }
    return 0;
}

/*
 * Starts child_main(c) with every signal blocked in the calling thread, so
 * that no handler of ours runs in the child before it resets them.  Returns
 * the pid or -errno.  With CLONE_VFORK this returns after the child has
 * exec'd or exited; with fork, right away.
 */
static pid_t
start_child(struct child_ctx *c)
{
    sigset_t all, old;
    pid_t pid;
    int e = 0;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
#ifdef OSH_SPAWN_USE_FORK
    pid = fork();
    if (pid == 0)
        child_main(c);
    if (pid < 0)
        e = errno;
#else
    {
        long page = sysconf(_SC_PAGESIZE);
        char *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);

        if (stack == MAP_FAILED) {
            e = errno;
            pid = -1;
        } else {
            /* A guard page below the stack (it grows down on every Linux
             * architecture we build for). */
            if (mprotect(stack, (size_t)page, PROT_NONE) < 0) {
                e = errno;
                pid = -1;
            } else {
                pid = clone(child_main, stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD,
                            c);
                if (pid < 0)
                    e = errno;
            }
            munmap(stack, CHILD_STACK_SIZE);
        }
    }
#endif
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -e : pid;
}

/* Returns 0 on EOF (exec committed), 1 with *rep filled, or -errno. */
static int
read_report(int fd, struct spawn_report *rep)
{
    size_t got = 0;

    while (got < sizeof(*rep)) {
        ssize_t n = read(fd, (char *)rep + got, sizeof(*rep) - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got == 0)
        return 0;
    return got == sizeof(*rep) ? 1 : -EPROTO;
}

/* The failed child is ours to reap.  ECHILD means a reaper thread
 * (supervise.h's waitpid(-1)) got there first; that is fine. */
static void
reap_failed(pid_t pid)
{
    int status;

    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/* ---- identity resolution (parent, startup) ----------------------------------- */

int
osh_resolve_user(const char *user, const char *group, struct osh_identity_ids *out, char *err,
                 size_t errlen)
{
    struct passwd pw;
    char *buf = NULL;
    gid_t gid;
    int n;
    int r;

    if (out == NULL) {
        seterr(err, errlen, "resolve user: no output");
        return -EINVAL;
    }
    memset(out, 0, sizeof(*out));
    if (user == NULL || user[0] == '\0')
        user = "sandbox";
    r = lookup_user(user, &pw, &buf, err, errlen);
    if (r < 0)
        goto out;
    gid = pw.pw_gid;
    if (group != NULL && group[0] != '\0') {
        r = lookup_group(group, &gid, err, errlen);
        if (r < 0)
            goto out;
    }
    if (pw.pw_uid == 0) {
        seterr(err, errlen, "refusing to run the workload as root: user '%s' has uid 0", user);
        r = -EPERM;
        goto out;
    }
    if (gid == 0) {
        seterr(err, errlen, "refusing to run the workload with gid 0 (user '%s')", user);
        r = -EPERM;
        goto out;
    }
    n = OSH_SPAWN_MAX_GROUPS;
    if (getgrouplist(pw.pw_name, gid, out->groups, &n) < 0) {
        seterr(err, errlen, "user '%s' is in %d groups (max %d)", user, n, OSH_SPAWN_MAX_GROUPS);
        r = -E2BIG;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (out->groups[i] == 0) {
            seterr(err, errlen,
                   "refusing to run the workload with supplementary group 0 (user '%s')", user);
            r = -EPERM;
            goto out;
        }
    }
    out->n_groups = (size_t)n;
    out->uid = pw.pw_uid;
    out->gid = gid;
    if ((size_t)snprintf(out->user, sizeof(out->user), "%s", pw.pw_name) >= sizeof(out->user) ||
        (size_t)snprintf(out->home, sizeof(out->home), "%s", pw.pw_dir) >= sizeof(out->home)) {
        seterr(err, errlen, "user '%s': name or home directory too long", user);
        r = -ENAMETOOLONG;
        goto out;
    }
    r = 0;
out:
    free(buf);
    buf = NULL;
    if (r < 0)
        memset(out, 0, sizeof(*out));
    return r;
}

/* getpwnam_r with a buffer grown on ERANGE; *buf backs the strings of *pw
 * and is the caller's to free. */
static int
lookup_user(const char *name, struct passwd *pw, char **buf, char *err, size_t errlen)
{
    struct passwd *res = NULL;
    char ebuf[128];
    size_t len = PWBUF_START;
    int rc;

    for (;;) {
        char *nb = realloc(*buf, len);

        if (nb == NULL) {
            seterr(err, errlen, "failed to look up '%s' user: out of memory", name);
            return -ENOMEM;
        }
        *buf = nb;
        rc = getpwnam_r(name, pw, *buf, len, &res);
        if (rc != ERANGE || len >= PWBUF_MAX)
            break;
        len *= 2;
    }
    if (rc != 0) {
        seterr(err, errlen, "failed to look up '%s' user: %s", name,
               errstr(rc, ebuf, sizeof(ebuf)));
        return -rc;
    }
    if (res == NULL) {
        if (strcmp(name, "sandbox") == 0)
            seterr(err, errlen,
                   "sandbox user 'sandbox' not found in image; all sandbox images must include "
                   "a 'sandbox' user and group");
        else
            seterr(err, errlen, "Sandbox user not found: %s", name);
        return -ENOENT;
    }
    return 0;
}

static int
lookup_group(const char *name, gid_t *gid, char *err, size_t errlen)
{
    struct group gr;
    struct group *res = NULL;
    char *buf = NULL;
    char ebuf[128];
    size_t len = PWBUF_START;
    int rc;

    for (;;) {
        char *nb = realloc(buf, len);

        if (nb == NULL) {
            rc = ENOMEM;
            break;
        }
        buf = nb;
        rc = getgrnam_r(name, &gr, buf, len, &res);
        if (rc != ERANGE || len >= PWBUF_MAX)
            break;
        len *= 2;
    }
    if (rc == 0 && res != NULL)
        *gid = gr.gr_gid;
    free(buf);
    buf = NULL;
    if (rc != 0) {
        seterr(err, errlen, "failed to look up '%s' group: %s", name,
               errstr(rc, ebuf, sizeof(ebuf)));
        return -rc;
    }
    if (res == NULL) {
        seterr(err, errlen, "Sandbox group not found: %s", name);
        return -ENOENT;
    }
    return 0;
}

/* ---- helpers ------------------------------------------------------------------ */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* strerror into the caller's buffer (strerror's own buffer is not
 * thread-safe for unknown values). */
static const char *
errstr(int e, char *buf, size_t len)
{
    return strerror_r(e, buf, len);
}
