/*
 * test_spawn.c - osh_spawn() and osh_resolve_user() with the real privilege
 * drop: the tests run as root (CI does) and fail, with a message, when not.
 *
 * Children run as nobody:nogroup ("sandbox" may not exist in the test
 * image).  Each test spawns, reads the child's stdout through a pipe to EOF
 * and reaps it with waitpid: this program is single-threaded and has no
 * supervisor, so the pid is ours to wait for.  alarm() bounds the run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "osh/process/spawn.h"

#define SH "/bin/sh"
#define OUT_MAX 65536
#define ERRLEN 512

struct run {
    int rc;     /* osh_spawn's return */
    int status; /* wait status, valid when rc == 0 */
    char out[OUT_MAX];
    char err[ERRLEN];
};

static char *empty_env[] = {"PATH=/usr/bin:/bin", NULL};

static void
require_root(void)
{
    if (geteuid() != 0)
        fail_msg("test_spawn must run as root (CI does): it tests the real privilege drop");
}

static void
resolve_nobody(struct osh_identity_ids *ids)
{
    char err[ERRLEN];
    int r = osh_resolve_user("nobody", "nogroup", ids, err, sizeof(err));

    if (r != 0)
        fail_msg("resolve nobody:nogroup: %s", err);
}

static struct osh_spawn_config
base_config(char *const *argv, const struct osh_identity_ids *ids)
{
    struct osh_spawn_config cfg = {
        .argv = argv,
        .envp = empty_env,
        .netns_fd = -1,
        .ids = ids,
        .new_process_group = true,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
    };
    return cfg;
}

/* Spawns cfg with stdout (and stderr unless set) to a pipe, reads to EOF,
 * reaps.  cfg is copied. */
static void
run_capture(struct osh_spawn_config cfg, struct run *res)
{
    int p[2];
    size_t got = 0;
    pid_t pid = -1;

    memset(res, 0, sizeof(*res));
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    cfg.stdout_fd = p[1];
    if (cfg.stderr_fd < 0)
        cfg.stderr_fd = p[1];
    res->rc = osh_spawn(&cfg, &pid, res->err, sizeof(res->err));
    close(p[1]);
    for (;;) {
        ssize_t n = read(p[0], res->out + got, sizeof(res->out) - 1 - got);

        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
        assert_true(got < sizeof(res->out) - 1);
    }
    res->out[got] = '\0';
    close(p[0]);
    if (res->rc == 0) {
        assert_true(pid > 0);
        assert_int_equal(waitpid(pid, &res->status, 0), pid);
    }
}

static void
assert_exit0(const struct run *res)
{
    if (res->rc != 0)
        fail_msg("spawn: %d %s", res->rc, res->err);
    if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0)
        fail_msg("child status 0x%x, output:\n%s", res->status, res->out);
}

/* The value of "Name:\t..." in text (up to the newline), or fails. */
static void
field(const char *text, const char *name, char *val, size_t len)
{
    char key[64];
    const char *p;
    size_t n;

    snprintf(key, sizeof(key), "%s:\t", name);
    p = strstr(text, key);
    if (p == NULL || (p != text && p[-1] != '\n'))
        fail_msg("no %s in:\n%s", name, text);
    p += strlen(key);
    n = strcspn(p, "\n");
    assert_true(n < len);
    memcpy(val, p, n);
    val[n] = '\0';
    while (n > 0 && (val[n - 1] == ' ' || val[n - 1] == '\t'))
        val[--n] = '\0';
}

/* ---- osh_resolve_user ------------------------------------------------------- */

static void
test_resolve_nobody(void **state)
{
    struct osh_identity_ids ids;

    (void)state;
    resolve_nobody(&ids);
    assert_int_equal(ids.uid, 65534);
    assert_int_equal(ids.gid, 65534);
    assert_int_equal(ids.n_groups, 1);
    assert_int_equal(ids.groups[0], 65534);
    assert_string_equal(ids.user, "nobody");
    assert_true(ids.home[0] == '/');
}

static void
test_resolve_sandbox(void **state)
{
    struct osh_identity_ids ids;
    char err[ERRLEN] = "";
    bool exists = getpwnam("sandbox") != NULL;
    int r;

    (void)state;
    r = osh_resolve_user("sandbox", NULL, &ids, err, sizeof(err));
    if (exists) {
        if (r != 0)
            fail_msg("sandbox exists but: %s", err);
        assert_true(ids.uid != 0 && ids.gid != 0);
        assert_string_equal(ids.user, "sandbox");
    } else {
        assert_int_equal(r, -ENOENT);
        assert_string_equal(err, "sandbox user 'sandbox' not found in image; all sandbox images "
                                 "must include a 'sandbox' user and group");
    }
    /* NULL and "" mean "sandbox" too. */
    assert_int_equal(osh_resolve_user(NULL, NULL, &ids, err, sizeof(err)), r);
    assert_int_equal(osh_resolve_user("", "", &ids, err, sizeof(err)), r);
}

static void
test_resolve_missing(void **state)
{
    struct osh_identity_ids ids;
    char err[ERRLEN];

    (void)state;
    assert_int_equal(osh_resolve_user("osh-no-such-user", NULL, &ids, err, sizeof(err)), -ENOENT);
    assert_string_equal(err, "Sandbox user not found: osh-no-such-user");
    assert_int_equal(osh_resolve_user("nobody", "osh-no-such-group", &ids, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "Sandbox group not found: osh-no-such-group");
}

static void
test_resolve_refuses_root(void **state)
{
    struct osh_identity_ids ids;
    char err[ERRLEN];

    (void)state;
    assert_int_equal(osh_resolve_user("root", NULL, &ids, err, sizeof(err)), -EPERM);
    assert_non_null(strstr(err, "uid 0"));
    assert_int_equal(ids.uid, 0); /* zeroed, not half filled */
    assert_int_equal(ids.n_groups, 0);
    assert_int_equal(osh_resolve_user("nobody", "root", &ids, err, sizeof(err)), -EPERM);
    assert_non_null(strstr(err, "gid 0"));
}

/* ---- osh_spawn ---------------------------------------------------------------- */

static void
test_drop_privileges(void **state)
{
    char *argv[] = {SH, "-c",
                    "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapBnd|CapEff|CapAmb|NoNewPrivs"
                    "|SigBlk|SigIgn):' /proc/self/status",
                    NULL};
    struct osh_identity_ids ids;
    static struct run res;
    char v[256];

    (void)state;
    require_root();
    resolve_nobody(&ids);
    run_capture(base_config(argv, &ids), &res);
    assert_exit0(&res);
    field(res.out, "Uid", v, sizeof(v));
    assert_string_equal(v, "65534\t65534\t65534\t65534");
    field(res.out, "Gid", v, sizeof(v));
    assert_string_equal(v, "65534\t65534\t65534\t65534");
    field(res.out, "Groups", v, sizeof(v));
    assert_string_equal(v, "65534");
    field(res.out, "CapInh", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "CapPrm", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "CapEff", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "CapBnd", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "CapAmb", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "NoNewPrivs", v, sizeof(v));
    assert_string_equal(v, "1");
    /* The parent's blocked and ignored signals do not reach the workload. */
    field(res.out, "SigBlk", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "SigIgn", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
}

/* The same, with SIGTERM blocked and SIGINT ignored in the parent, as the
 * supervisor has them. */
static void
test_signals_reset(void **state)
{
    char *argv[] = {SH, "-c", "grep -E '^(SigBlk|SigIgn):' /proc/self/status", NULL};
    struct osh_identity_ids ids;
    static struct run res;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
    sigset_t term, old_mask;
    char v[64];

    (void)state;
    require_root();
    resolve_nobody(&ids);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigaddset(&term, SIGCHLD);
    sigprocmask(SIG_BLOCK, &term, &old_mask);
    sigaction(SIGINT, &ign, &old_int);
    run_capture(base_config(argv, &ids), &res);
    sigaction(SIGINT, &old_int, NULL);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    assert_exit0(&res);
    field(res.out, "SigBlk", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    field(res.out, "SigIgn", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
}

static void
test_exec_missing(void **state)
{
    char *argv[] = {"/nonexistent/osh-binary", NULL};
    struct osh_identity_ids ids;
    static struct run res;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    run_capture(base_config(argv, &ids), &res);
    assert_int_equal(res.rc, -ENOENT);
    assert_string_equal(res.err, "spawn failed at execve: No such file or directory");
    /* No child left behind: it was reaped by osh_spawn. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* The Landlock hook runs after the drop and NO_NEW_PRIVS; the seccomp hook
 * after chdir.  Both get their argument. */
struct hook_probe {
    uid_t want_uid;
    int fail_with;
};

static int
landlock_probe(const void *arg)
{
    const struct hook_probe *p = arg;

    if (getuid() != p->want_uid || geteuid() != p->want_uid)
        return -EDOM;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return -ERANGE;
    return p->fail_with;
}

static int
seccomp_probe(const void *arg)
{
    const struct hook_probe *p = arg;
    char cwd[64];

    if (getcwd(cwd, sizeof(cwd)) == NULL || strcmp(cwd, "/usr") != 0)
        return -EXDEV;
    return p->fail_with;
}

static void
test_hooks(void **state)
{
    char *argv[] = {SH, "-c", "exit 0", NULL};
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    struct hook_probe ll = {.want_uid = 65534, .fail_with = 0};
    struct hook_probe sc = {.want_uid = 65534, .fail_with = 0};
    static struct run res;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    cfg = base_config(argv, &ids);
    cfg.workdir = "/usr";
    cfg.landlock = landlock_probe;
    cfg.landlock_arg = &ll;
    cfg.seccomp = seccomp_probe;
    cfg.seccomp_arg = &sc;
    run_capture(cfg, &res);
    assert_exit0(&res);

    ll.fail_with = -EACCES;
    run_capture(cfg, &res);
    assert_int_equal(res.rc, -EACCES);
    assert_string_equal(res.err, "spawn failed at landlock: Permission denied");

    ll.fail_with = 0;
    sc.fail_with = -ENOSYS;
    run_capture(cfg, &res);
    assert_int_equal(res.rc, -ENOSYS);
    assert_string_equal(res.err, "spawn failed at seccomp: Function not implemented");

    /* A hook returning a positive value is a broken hook, not a success. */
    sc.fail_with = 1;
    run_capture(cfg, &res);
    assert_int_equal(res.rc, -EPROTO);
    assert_non_null(strstr(res.err, "spawn failed at seccomp"));
}

static void
test_fds_not_inherited(void **state)
{
    char *argv[] = {SH, "-c",
                    "if [ -e /proc/self/fd/200 ]; then echo leaked; fi; "
                    "ls /proc/self/fd",
                    NULL};
    struct osh_identity_ids ids;
    static struct run res;
    int fd, high;
    char *line, *save = NULL;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    assert_true(fd >= 0);
    high = dup2(fd, 200);
    assert_int_equal(high, 200);
    assert_int_equal(fcntl(high, F_GETFD), 0);
    run_capture(base_config(argv, &ids), &res);
    close(fd);
    close(high);
    assert_exit0(&res);
    assert_null(strstr(res.out, "leaked"));
    /* ls sees 0, 1, 2 and its own directory fd, nothing else. */
    for (line = strtok_r(res.out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        int n = atoi(line);

        if (n > 3)
            fail_msg("fd %s visible in the child", line);
    }
}

static void
test_workdir(void **state)
{
    char *argv[] = {SH, "-c", "pwd", NULL};
    char dir[] = "/tmp/osh-spawn-XXXXXX";
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    static struct run res;
    char want[64];

    (void)state;
    require_root();
    resolve_nobody(&ids);
    assert_non_null(mkdtemp(dir));
    assert_int_equal(chmod(dir, 0755), 0);
    cfg = base_config(argv, &ids);
    cfg.workdir = dir;
    run_capture(cfg, &res);
    assert_exit0(&res);
    snprintf(want, sizeof(want), "%s\n", dir);
    assert_string_equal(res.out, want);

    /* chdir runs after the drop: a directory the workload may not enter
     * fails the spawn instead of leaving it inside. */
    assert_int_equal(chmod(dir, 0700), 0);
    run_capture(cfg, &res);
    assert_int_equal(res.rc, -EACCES);
    assert_string_equal(res.err, "spawn failed at chdir: Permission denied");
    assert_int_equal(rmdir(dir), 0);
}

static void
test_env_exact(void **state)
{
    char *argv[] = {"/usr/bin/env", NULL};
    char *envp[] = {"A=1", "B=two words", "EMPTY=", "LAST=x=y", NULL};
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    static struct run res;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    cfg = base_config(argv, &ids);
    cfg.envp = envp;
    run_capture(cfg, &res);
    assert_exit0(&res);
    assert_string_equal(res.out, "A=1\nB=two words\nEMPTY=\nLAST=x=y\n");
}

/* stdin from a pipe, stdout and stderr to one pipe, including the swap
 * case where the configured fds are themselves 0..2. */
static void
test_stdio(void **state)
{
    char *argv[] = {SH, "-c", "cat; echo err >&2", NULL};
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    static struct run res;
    int in[2];

    (void)state;
    require_root();
    resolve_nobody(&ids);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(write(in[1], "hello\n", 6), 6);
    close(in[1]);
    cfg = base_config(argv, &ids);
    cfg.stdin_fd = in[0];
    run_capture(cfg, &res);
    close(in[0]);
    assert_exit0(&res);
    assert_string_equal(res.out, "hello\nerr\n");
}

static void
test_process_group(void **state)
{
    char *argv[] = {"/bin/cat", NULL};
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    char err[ERRLEN];
    int in[2], status;
    pid_t pid;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    for (int own = 0; own < 2; own++) {
        assert_int_equal(pipe2(in, O_CLOEXEC), 0);
        cfg = base_config(argv, &ids);
        cfg.stdin_fd = in[0];
        cfg.new_process_group = own != 0;
        if (osh_spawn(&cfg, &pid, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        close(in[0]);
        /* The exec has committed, so setpgid has run. */
        if (own)
            assert_int_equal(getpgid(pid), pid);
        else
            assert_int_equal(getpgid(pid), getpgrp());
        close(in[1]);
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

/* A netns fd is entered before anything else; a bad one fails at setns. */
static void
test_netns(void **state)
{
    char *argv[] = {"/usr/bin/readlink", "/proc/self/ns/net", NULL};
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    static struct run res;
    char path[64], want[128];
    int ready[2], nsfd, devnull, status;
    ssize_t n;
    pid_t holder;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    holder = fork();
    assert_true(holder >= 0);
    if (holder == 0) {
        char c = 0;

        if (unshare(CLONE_NEWNET) < 0)
            _exit(1);
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        pause(); /* until the parent kills it */
        _exit(0);
    }
    close(ready[1]);
    {
        char c;
        assert_int_equal(read(ready[0], &c, 1), 1);
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)holder);
    nsfd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(nsfd >= 0);
    n = readlink(path, want, sizeof(want) - 2);
    assert_true(n > 0);
    want[n] = '\n';
    want[n + 1] = '\0';
    kill(holder, SIGKILL);
    close(ready[0]);
    assert_int_equal(waitpid(holder, &status, 0), holder);

    cfg = base_config(argv, &ids);
    cfg.netns_fd = nsfd;
    run_capture(cfg, &res);
    assert_exit0(&res);
    assert_string_equal(res.out, want);
    close(nsfd);

    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cfg.netns_fd = devnull;
    run_capture(cfg, &res);
    close(devnull);
    assert_int_equal(res.rc, -EINVAL);
    assert_string_equal(res.err, "spawn failed at setns(net): Invalid argument");
}

/* ids NULL ("keep ours") from a caller that is not root: the privilege
 * steps are skipped, the rest (caps cleared, NO_NEW_PRIVS, regaining root
 * impossible) still runs.  The caller is a forked child of this test that
 * dropped to nobody first; it reports through its exit code. */
static void
test_unprivileged_caller(void **state)
{
    char *argv[] = {SH, "-c",
                    "grep -qE '^NoNewPrivs:[[:space:]]+1$' /proc/self/status && "
                    "grep -qE '^CapEff:[[:space:]]+0+$' /proc/self/status && "
                    "grep -qE '^Uid:[[:space:]]+65534[[:space:]]' /proc/self/status",
                    NULL};
    struct osh_identity_ids ids;
    int status;
    pid_t caller;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    caller = fork();
    assert_true(caller >= 0);
    if (caller == 0) {
        struct osh_spawn_config cfg = base_config(argv, NULL);
        char err[ERRLEN];
        pid_t pid;
        int st;

        if (setgroups(ids.n_groups, ids.groups) < 0 || setresgid(ids.gid, ids.gid, ids.gid) < 0 ||
            setresuid(ids.uid, ids.uid, ids.uid) < 0)
            _exit(10);
        if (osh_spawn(&cfg, &pid, err, sizeof(err)) != 0) {
            fprintf(stderr, "unprivileged spawn: %s\n", err);
            _exit(11);
        }
        if (waitpid(pid, &st, 0) != pid)
            _exit(12);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 13);
    }
    assert_int_equal(waitpid(caller, &status, 0), caller);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_config_refusals(void **state)
{
    char *rel[] = {"sh", NULL};
    char *abs[] = {SH, "-c", "exit 0", NULL};
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg;
    char err[ERRLEN];
    pid_t pid = -1;

    (void)state;
    require_root();
    resolve_nobody(&ids);
    cfg = base_config(rel, &ids);
    assert_int_equal(osh_spawn(&cfg, &pid, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "absolute"));
    /* As root, "keep our identity" is refused: the workload never runs as root. */
    cfg = base_config(abs, NULL);
    assert_int_equal(osh_spawn(&cfg, &pid, err, sizeof(err)), -EPERM);
    ids.uid = 0;
    cfg = base_config(abs, &ids);
    assert_int_equal(osh_spawn(&cfg, &pid, err, sizeof(err)), -EPERM);
    resolve_nobody(&ids);
    ids.groups[0] = 0;
    assert_int_equal(osh_spawn(&cfg, &pid, err, sizeof(err)), -EPERM);
    assert_int_equal(pid, -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resolve_nobody),      cmocka_unit_test(test_resolve_sandbox),
        cmocka_unit_test(test_resolve_missing),     cmocka_unit_test(test_resolve_refuses_root),
        cmocka_unit_test(test_drop_privileges),     cmocka_unit_test(test_signals_reset),
        cmocka_unit_test(test_exec_missing),        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_fds_not_inherited),   cmocka_unit_test(test_workdir),
        cmocka_unit_test(test_env_exact),           cmocka_unit_test(test_stdio),
        cmocka_unit_test(test_process_group),       cmocka_unit_test(test_netns),
        cmocka_unit_test(test_unprivileged_caller), cmocka_unit_test(test_config_refusals),
    };

    alarm(60);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
