/*
 * test_identity.c - osh_identity (connection → owning binary) and the TOFU
 * cache, with real processes and real TCP sockets on 127.0.0.1 only.
 *
 * Every child is started by fork() from this single-threaded program,
 * synchronised through a CLOEXEC pipe (EOF = the child has exec'd), and
 * registered in the fixture: the test kills and reaps it by pid, and the
 * teardown does so for whatever a failing assertion left behind.  Children
 * carry PR_SET_PDEATHSIG, and this program is a child subreaper, so a
 * grandchild whose parent was killed dies and is reparented here to be
 * reaped too; alarm() bounds the whole run.  The netns case needs root and
 * skips otherwise.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"

#define SLEEP_BIN "/usr/bin/sleep"
#define TAIL_BIN "/usr/bin/tail"
#define WAIT_MS 10000
#define ERRLEN 8192

/* ---- helpers ---------------------------------------------------------------- */

#define MAX_CHILDREN 8

struct fixture {
    struct osh_tofu_cache *tofu;
    struct osh_identity *id;
    pid_t children[MAX_CHILDREN]; /* live direct children, 0 = free slot */
    char err[ERRLEN];
    char exe[PATH_MAX];
    char sleep_path[PATH_MAX];
    char sleep_hex[65];
};

struct conn {
    int lfd; /* listener, 127.0.0.1 */
    int afd; /* accepted (proxy) end */
    struct sockaddr_storage peer, local;
};

static void
self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);

    assert_true(n > 0);
    buf[n] = '\0';
}

static void
real_path(const char *p, char out[PATH_MAX])
{
    assert_non_null(realpath(p, out));
}

/* An EVP hash of the whole file, read independently of the module. */
static void
sha256_file(const char *path, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char *data;
    struct stat st;
    size_t got = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    data = malloc((size_t)st.st_size + 1);
    assert_non_null(data);
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
    close(fd);
    assert_int_equal(EVP_Digest(data, got, md, &mdlen, EVP_sha256(), NULL), 1);
    assert_int_equal(mdlen, 32);
    for (unsigned i = 0; i < mdlen; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    free(data);
}

static void
copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in, out;
    ssize_t n;

    in = open(from, O_RDONLY | O_CLOEXEC);
    assert_true(in >= 0);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    assert_true(out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    assert_int_equal(close(out), 0);
}

/* mtime set explicitly: an in-place rewrite within one timestamp tick must
 * still change the fingerprint for the test to be deterministic. */
static void
set_mtime(const char *path, time_t sec)
{
    struct timespec ts[2] = {{.tv_sec = sec}, {.tv_sec = sec}};

    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
listen_lo(struct conn *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    memset(c, 0, sizeof(*c));
    c->afd = -1;
    c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c->lfd >= 0);
    assert_int_equal(bind(c->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(c->lfd, 16), 0);
}

static struct sockaddr_in
lo_addr(int lfd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    return sa;
}

static void
accept_conn(struct conn *c)
{
    struct pollfd pfd = {.fd = c->lfd, .events = POLLIN};
    socklen_t len;

    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
    c->afd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(c->afd >= 0);
    len = sizeof(c->peer);
    assert_int_equal(getpeername(c->afd, (struct sockaddr *)&c->peer, &len), 0);
    len = sizeof(c->local);
    assert_int_equal(getsockname(c->afd, (struct sockaddr *)&c->local, &len), 0);
}

static void
conn_close(struct conn *c)
{
    if (c->afd >= 0)
        close(c->afd);
    close(c->lfd);
    c->afd = c->lfd = -1;
}

/* 0 once every holder of the pipe's write end has exec'd (EOF), -1 if a
 * child reported a failure byte or nothing happened within WAIT_MS. */
static int
wait_exec(int rfd)
{
    struct pollfd pfd = {.fd = rfd, .events = POLLIN};
    char b;
    ssize_t n;

    for (;;) {
        if (poll(&pfd, 1, WAIT_MS) != 1)
            return -1;
        n = read(rfd, &b, 1);
        if (n == 0)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

static void
track(struct fixture *f, pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (f->children[i] == 0) {
            f->children[i] = pid;
            return;
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("too many children");
}

/* Only pids of our own unreaped children: never a pid that could be reused. */
static void
kill_reap(struct fixture *f, pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (pid <= 0 || f->children[i] != pid)
            continue;
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        f->children[i] = 0;
    }
}

/* A child that exited by itself (or was reaped by its helper's protocol). */
static void
reap(struct fixture *f, pid_t pid)
{
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (f->children[i] == pid)
            f->children[i] = 0;
}

/* Child side (async-signal-safe calls only): exec with `sock` inherited. */
static void __attribute__((noreturn))
child_exec(int sock, int wfd, const char *bin, char *const argv[])
{
    int fl = fcntl(sock, F_GETFD);

    if (fl < 0 || fcntl(sock, F_SETFD, fl & ~FD_CLOEXEC) != 0)
        goto fail;
    /* dies with its parent (a killed helper, or this test on alarm) */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        goto fail;
    execv(bin, argv);
fail:
    (void)!write(wfd, "x", 1);
    _exit(127);
}

/* Forks a child that connects to `to` (any family) from a CLOEXEC socket,
 * clears CLOEXEC on it and execs bin.  Returns once the exec happened. */
static pid_t
spawn_client(struct fixture *f, const struct sockaddr *to, socklen_t tolen, const char *bin,
             char *const argv[])
{
    int p[2];
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int s = socket(to->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        close(p[0]);
        if (s < 0 || connect(s, to, tolen) != 0) {
            (void)!write(p[1], "x", 1);
            _exit(127);
        }
        child_exec(s, p[1], bin, argv);
    }
    track(f, pid);
    close(p[1]);
    if (wait_exec(p[0]) != 0) {
        close(p[0]);
        fail_msg("child %d did not exec %s", (int)pid, bin);
    }
    close(p[0]);
    return pid;
}

static pid_t
spawn_sleep_client(struct fixture *f, const struct conn *c)
{
    static char *const argv[] = {"sleep", "30", NULL};
    struct sockaddr_in to = lo_addr(c->lfd);

    return spawn_client(f, (const struct sockaddr *)&to, sizeof(to), SLEEP_BIN, argv);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->tofu = osh_tofu_cache_new(64);
    if (f->tofu == NULL)
        return -1;
    self_exe(f->exe, sizeof(f->exe));
    real_path(SLEEP_BIN, f->sleep_path);
    sha256_file(f->sleep_path, f->sleep_hex);
    *state = f;
    return 0;
}

/* Kills what a failed assertion left, then reaps every child, including
 * orphans reparented here (they are dying of PR_SET_PDEATHSIG). */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    for (int i = 0; i < MAX_CHILDREN; i++)
        if (f->children[i] != 0)
            kill(f->children[i], SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    osh_identity_free(f->id);
    osh_tofu_cache_free(f->tofu);
    free(f);
    return 0;
}

static void
new_identity(struct fixture *f, int netns_fd, pid_t entry)
{
    osh_identity_free(f->id);
    f->id = osh_identity_new(netns_fd, entry, f->tofu);
    assert_non_null(f->id);
}

static int
resolve(struct fixture *f, const struct conn *c, struct osh_peer_identity *out)
{
    return osh_identity_resolve(f->id, (const struct sockaddr *)&c->peer,
                                (const struct sockaddr *)&c->local, out, f->err, sizeof(f->err));
}

/* ---- resolve ------------------------------------------------------------------ */

static void
test_resolve_entrypoint_tree(void **state)
{
    struct fixture *f = *state;
    struct osh_peer_identity pi;
    struct conn c;
    pid_t child;
    int rc;

    listen_lo(&c);
    child = spawn_sleep_client(f, &c);
    accept_conn(&c);

    /* entrypoint = the owner: nothing above the entrypoint counts (its
     * parents are the supervisor and the host: they must never grant), so
     * there are no ancestors.  The reference would walk on. */
    new_identity(f, -1, child);
    rc = resolve(f, &c, &pi);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, f->err);
    assert_int_equal(pi.pid, child);
    assert_int_equal(pi.uid, geteuid());
    assert_string_equal(pi.exe, f->sleep_path);
    assert_string_equal(pi.sha256, f->sleep_hex);
    assert_int_equal(pi.n_ancestors, 0);
    for (size_t i = 0; i < pi.n_cmdline_paths; i++) {
        assert_string_not_equal(pi.cmdline_paths[i], pi.exe);
        for (size_t k = 0; k < pi.n_ancestors; k++)
            assert_string_not_equal(pi.cmdline_paths[i], pi.ancestors[k]);
    }
    osh_peer_identity_clear(&pi);

    /* entrypoint = this test: the walk stops after appending it */
    osh_identity_set_entrypoint(f->id, getpid());
    assert_int_equal(resolve(f, &c, &pi), 0);
    assert_int_equal(pi.pid, child);
    assert_int_equal(pi.n_ancestors, 1);
    assert_string_equal(pi.ancestors[0], f->exe);
    osh_peer_identity_clear(&pi);
    osh_peer_identity_clear(&pi); /* idempotent */

    kill_reap(f, child);
    conn_close(&c);
}

static void
test_resolve_uid_scan(void **state)
{
    struct fixture *f = *state;
    struct osh_peer_identity pi;
    struct conn c;
    pid_t child;
    int rc;

    listen_lo(&c);
    child = spawn_sleep_client(f, &c);
    accept_conn(&c);
    new_identity(f, -1, 0); /* standalone proxy: no tree, uid scan */
    rc = resolve(f, &c, &pi);
    kill_reap(f, child);
    assert_int_equal(rc, 0);
    assert_int_equal(pi.pid, child);
    assert_string_equal(pi.exe, f->sleep_path);
    assert_string_equal(pi.sha256, f->sleep_hex);
    assert_true(pi.n_ancestors >= 1);
    assert_string_equal(pi.ancestors[0], f->exe);
    osh_peer_identity_clear(&pi);
    conn_close(&c);
}

/* The proxy listens dual-stack on ::ffff:127.0.0.1 and the client uses an
 * AF_INET6 socket: mapped addresses on both sides. */
static void
test_resolve_v4_mapped(void **state)
{
    static char *const argv[] = {"sleep", "30", NULL};
    struct fixture *f = *state;
    struct sockaddr_in6 sa = {.sin6_family = AF_INET6};
    struct osh_peer_identity pi;
    socklen_t len = sizeof(sa);
    struct conn c;
    int off = 0, rc;
    pid_t child;

    memset(&c, 0, sizeof(c));
    assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1", &sa.sin6_addr), 1);
    c.lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(c.lfd >= 0);
    assert_int_equal(setsockopt(c.lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
    assert_int_equal(bind(c.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(c.lfd, 4), 0);
    assert_int_equal(getsockname(c.lfd, (struct sockaddr *)&sa, &len), 0);
    child = spawn_client(f, (const struct sockaddr *)&sa, sizeof(sa), SLEEP_BIN, argv);
    accept_conn(&c);
    assert_int_equal(c.peer.ss_family, AF_INET6);

    new_identity(f, -1, child);
    rc = resolve(f, &c, &pi);
    kill_reap(f, child);
    assert_int_equal(rc, 0);
    assert_int_equal(pi.pid, child);
    assert_string_equal(pi.exe, f->sleep_path);
    osh_peer_identity_clear(&pi);
    conn_close(&c);
}

/* This process connects, forks two children that inherit the socket and
 * exec, then drops its own copy: two sibling holders. */
static void
spawn_shared(struct fixture *f, const struct conn *c, const char *bin_b, char *const argv_b[],
             pid_t *a, pid_t *b, unsigned long *ino)
{
    static char *const argv_a[] = {"sleep", "30", NULL};
    struct sockaddr_in to = lo_addr(c->lfd);
    struct stat st;
    int p[2], s;

    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    assert_int_equal(connect(s, (struct sockaddr *)&to, sizeof(to)), 0);
    assert_int_equal(fstat(s, &st), 0);
    *ino = (unsigned long)st.st_ino;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    *a = fork();
    assert_true(*a >= 0);
    if (*a == 0)
        child_exec(s, p[1], SLEEP_BIN, argv_a);
    track(f, *a);
    *b = fork();
    assert_true(*b >= 0);
    if (*b == 0)
        child_exec(s, p[1], bin_b, argv_b);
    track(f, *b);
    close(p[1]);
    close(s); /* this process is no holder */
    if (wait_exec(p[0]) != 0) {
        close(p[0]);
        fail_msg("shared-socket children did not exec");
    }
    close(p[0]);
}

static void
test_shared_same_binary(void **state)
{
    static char *const argv_b[] = {"sleep", "30", NULL};
    struct fixture *f = *state;
    struct osh_peer_identity pi;
    unsigned long ino;
    struct conn c;
    pid_t a, b;
    int rc;

    listen_lo(&c);
    spawn_shared(f, &c, SLEEP_BIN, argv_b, &a, &b, &ino);
    accept_conn(&c);
    new_identity(f, -1, getpid());
    rc = resolve(f, &c, &pi);
    kill_reap(f, a);
    kill_reap(f, b);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, f->err);
    assert_int_equal(pi.pid, a < b ? a : b);
    assert_string_equal(pi.exe, f->sleep_path);
    assert_int_equal(pi.n_ancestors, 1);
    assert_string_equal(pi.ancestors[0], f->exe);
    osh_peer_identity_clear(&pi);
    conn_close(&c);
}

static void
test_shared_different_binaries(void **state)
{
    static char *const argv_b[] = {TAIL_BIN, "-f", "/dev/null", NULL};
    struct fixture *f = *state;
    struct osh_peer_identity pi;
    char want[256];
    unsigned long ino;
    struct conn c;
    pid_t a, b;
    int rc;

    listen_lo(&c);
    spawn_shared(f, &c, TAIL_BIN, argv_b, &a, &b, &ino);
    accept_conn(&c);
    new_identity(f, -1, getpid());
    rc = resolve(f, &c, &pi);
    kill_reap(f, a);
    kill_reap(f, b);
    assert_int_equal(rc, -EBADE);
    snprintf(want, sizeof(want),
             "ambiguous shared socket ownership: inode %lu is held by PIDs [%d, %d] with "
             "different policy identities",
             ino, (int)(a < b ? a : b), (int)(a < b ? b : a));
    assert_string_equal(f->err, want);
    assert_null(pi.ancestors[0]); /* left zeroed */
    assert_int_equal(pi.pid, 0);
    conn_close(&c);
}

/* cmdline paths: tail's argv[0] is its exe (dropped), /dev/null is kept. */
static void
test_cmdline_paths(void **state)
{
    static char *const argv[] = {TAIL_BIN, "-f", "/dev/null", NULL};
    struct fixture *f = *state;
    struct osh_peer_identity pi;
    struct sockaddr_in to;
    char tail_path[PATH_MAX];
    struct conn c;
    pid_t child;
    int rc;

    real_path(TAIL_BIN, tail_path);
    listen_lo(&c);
    to = lo_addr(c.lfd);
    child = spawn_client(f, (const struct sockaddr *)&to, sizeof(to), TAIL_BIN, argv);
    accept_conn(&c);
    new_identity(f, -1, getpid());
    rc = resolve(f, &c, &pi);
    kill_reap(f, child);
    assert_int_equal(rc, 0);
    assert_string_equal(pi.exe, tail_path);
    assert_true(pi.n_cmdline_paths >= 1);
    assert_string_equal(pi.cmdline_paths[0], "/dev/null");
    for (size_t i = 1; i < pi.n_cmdline_paths; i++)
        assert_string_not_equal(pi.cmdline_paths[i], "/dev/null");
    osh_peer_identity_clear(&pi);
    conn_close(&c);
}

static void
test_unknown_and_closed(void **state)
{
    struct fixture *f = *state;
    struct osh_peer_identity pi;
    struct sockaddr_in unused;
    struct sockaddr_un ux = {.sun_family = AF_UNIX};
    struct conn c;
    pid_t child;
    int s;

    new_identity(f, -1, getpid());
    listen_lo(&c);

    /* a port nobody uses: bound once, then released */
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    unused = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s, (struct sockaddr *)&unused, sizeof(unused)), 0);
    unused = lo_addr(s);
    close(s);
    {
        struct sockaddr_in local = lo_addr(c.lfd);

        assert_int_equal(osh_identity_resolve(f->id, (struct sockaddr *)&unused,
                                              (struct sockaddr *)&local, &pi, f->err,
                                              sizeof(f->err)),
                         -ENOENT);
        assert_non_null(strstr(f->err, "No TCP socket found for connection 127.0.0.1:"));
        /* the listener's own address as the "client": a listener is no match */
        assert_int_equal(osh_identity_resolve(f->id, (struct sockaddr *)&local,
                                              (struct sockaddr *)&unused, &pi, f->err,
                                              sizeof(f->err)),
                         -ENOENT);
    }

    /* client that connected and exited: FIN_WAIT2, inode 0 */
    {
        struct sockaddr_in to = lo_addr(c.lfd);

        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
            int cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

            _exit(cs >= 0 && connect(cs, (struct sockaddr *)&to, sizeof(to)) == 0 ? 0 : 1);
        }
        track(f, child);
        reap(f, child);
    }
    accept_conn(&c);
    assert_int_equal(resolve(f, &c, &pi), -ENOENT);
    assert_non_null(strstr(f->err, "already closed"));

    /* bad arguments */
    assert_int_equal(
        osh_identity_resolve(f->id, NULL, (struct sockaddr *)&c.local, &pi, f->err, sizeof(f->err)),
        -EINVAL);
    assert_int_equal(osh_identity_resolve(f->id, (struct sockaddr *)&ux,
                                          (struct sockaddr *)&c.local, &pi, f->err, sizeof(f->err)),
                     -EAFNOSUPPORT);
    assert_int_equal(osh_identity_resolve(f->id, (struct sockaddr *)&c.peer,
                                          (struct sockaddr *)&c.local, NULL, f->err,
                                          sizeof(f->err)),
                     -EINVAL);
    conn_close(&c);
}

static void
test_constructor_errors(void **state)
{
    struct fixture *f = *state;
    int fd;

    errno = 0;
    assert_null(osh_tofu_cache_new(0));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(osh_identity_new(-1, 0, NULL));
    assert_int_equal(errno, EINVAL);
    /* not a namespace fd: setns refuses, and this thread stays where it was */
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    errno = 0;
    assert_null(osh_identity_new(fd, 0, f->tofu));
    assert_int_equal(errno, EINVAL);
    close(fd);
    osh_identity_free(NULL);
    osh_tofu_cache_free(NULL);
    osh_peer_identity_clear(NULL);
}

/* The owner runs a binary that was deleted after exec: the name loses its
 * " (deleted)" and the bytes are still hashed through /proc/PID/exe. */
static void
test_deleted_executable(void **state)
{
    static char *const argv[] = {"sleep-copy", "30", NULL};
    struct fixture *f = *state;
    char dir[] = "/tmp/test_identity.XXXXXX";
    char bin[sizeof(dir) + 16];
    struct osh_peer_identity pi;
    struct sockaddr_in to;
    struct conn c;
    pid_t child;
    int rc;

    assert_non_null(mkdtemp(dir));
    snprintf(bin, sizeof(bin), "%s/sleep", dir);
    copy_file(f->sleep_path, bin);
    listen_lo(&c);
    to = lo_addr(c.lfd);
    child = spawn_client(f, (const struct sockaddr *)&to, sizeof(to), bin, argv);
    accept_conn(&c);
    assert_int_equal(unlink(bin), 0);
    assert_int_equal(rmdir(dir), 0);
    new_identity(f, -1, getpid());
    rc = resolve(f, &c, &pi);
    kill_reap(f, child);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, f->err);
    assert_string_equal(pi.exe, bin);
    assert_string_equal(pi.sha256, f->sleep_hex);
    osh_peer_identity_clear(&pi);
    conn_close(&c);
}

/* A golden hash recorded for a path from other bytes (/usr/bin/true) makes
 * the real binary at that path a swapped one, without touching any file. */
static void
pin_wrong_hash(struct osh_tofu_cache *t, const char *path, char *err, size_t errlen)
{
    char hex[65];
    int fd = open("/usr/bin/true", O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(osh_tofu_check(t, path, fd, hex, err, errlen), 0);
    close(fd);
}

static void
test_integrity_denials(void **state)
{
    struct fixture *f = *state;
    char true_hex[65], exe_hex[65], want[2 * PATH_MAX + 256];
    struct osh_peer_identity pi;
    struct conn c;
    pid_t child;
    int rc_owner, rc_anc;
    char err_owner[ERRLEN];

    sha256_file("/usr/bin/true", true_hex);
    sha256_file(f->exe, exe_hex);
    listen_lo(&c);
    child = spawn_sleep_client(f, &c);
    accept_conn(&c);

    /* the owner's binary: -EPERM, err = the TOFU message for the proxy to prefix */
    pin_wrong_hash(f->tofu, f->sleep_path, f->err, sizeof(f->err));
    new_identity(f, -1, getpid());
    rc_owner = resolve(f, &c, &pi);
    memcpy(err_owner, f->err, sizeof(err_owner));

    /* an ancestor (this test binary): the complete deny reason */
    osh_tofu_cache_free(f->tofu);
    f->tofu = osh_tofu_cache_new(64);
    assert_non_null(f->tofu);
    pin_wrong_hash(f->tofu, f->exe, f->err, sizeof(f->err));
    new_identity(f, -1, getpid());
    rc_anc = resolve(f, &c, &pi);

    kill_reap(f, child);
    conn_close(&c);
    assert_int_equal(rc_owner, -EPERM);
    snprintf(want, sizeof(want),
             "Binary integrity violation: %s hash changed (cached: %s, current: %s)", f->sleep_path,
             true_hex, f->sleep_hex);
    assert_string_equal(err_owner, want);
    assert_int_equal(rc_anc, -EPERM);
    snprintf(want, sizeof(want),
             "ancestor integrity check failed for %s: Binary integrity violation: %s hash "
             "changed (cached: %s, current: %s)",
             f->exe, f->exe, true_hex, exe_hex);
    assert_string_equal(f->err, want);
    assert_int_equal(pi.pid, 0); /* left zeroed */
}

/* ---- concurrency ----------------------------------------------------------- */

#define CONC_THREADS 4
#define CONC_ITERS 200

struct conc_arg {
    struct fixture *f;
    const struct conn *c;
    pid_t want;
    int failures;
    int last_rc;
};

static void *
conc_worker(void *p)
{
    struct conc_arg *a = p;
    char err[1024];

    for (int i = 0; i < CONC_ITERS; i++) {
        struct osh_peer_identity pi;
        int rc = osh_identity_resolve(a->f->id, (const struct sockaddr *)&a->c->peer,
                                      (const struct sockaddr *)&a->c->local, &pi, err, sizeof(err));

        if (rc != 0 || pi.pid != a->want || strcmp(pi.exe, a->f->sleep_path) != 0 ||
            strcmp(pi.sha256, a->f->sleep_hex) != 0) {
            a->failures++;
            a->last_rc = rc;
        }
        osh_peer_identity_clear(&pi);
    }
    return NULL;
}

static void
test_concurrent_resolve(void **state)
{
    struct fixture *f = *state;
    struct conc_arg args[CONC_THREADS];
    pthread_t th[CONC_THREADS];
    struct conn c;
    pid_t child;
    int failures = 0;

    listen_lo(&c);
    child = spawn_sleep_client(f, &c);
    accept_conn(&c);
    new_identity(f, -1, child);
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (struct conc_arg){.f = f, .c = &c, .want = child};
        assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &args[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    kill_reap(f, child);
    conn_close(&c);
    assert_int_equal(failures, 0);
}

/* ---- TOFU -------------------------------------------------------------------- */

static int
tofu_check_path(struct osh_tofu_cache *t, const char *path, int oflags, char hex[65], char *err,
                size_t errlen)
{
    int fd = open(path, oflags | O_CLOEXEC);
    int rc;

    assert_true(fd >= 0);
    rc = osh_tofu_check(t, path, fd, hex, err, errlen);
    close(fd);
    return rc;
}

static void
test_tofu_violation(void **state)
{
    struct fixture *f = *state;
    struct osh_tofu_cache *t = osh_tofu_cache_new(16);
    char dir[] = "/tmp/test_identity.XXXXXX";
    char bin[sizeof(dir) + 16];
    char true_hex[65], false_hex[65], hex[65], want[512];
    char buf[16];
    int fd;

    (void)f;
    assert_non_null(t);
    assert_non_null(mkdtemp(dir));
    snprintf(bin, sizeof(bin), "%s/tool", dir);
    copy_file("/usr/bin/true", bin);
    sha256_file("/usr/bin/true", true_hex);
    sha256_file("/usr/bin/false", false_hex);
    assert_string_not_equal(true_hex, false_hex);

    /* first sighting records the golden hash */
    assert_int_equal(tofu_check_path(t, bin, O_RDONLY, hex, f->err, sizeof(f->err)), 0);
    assert_string_equal(hex, true_hex);

    /* An O_PATH fd can be fstat'ed but not read (checked here), so a check
     * through it succeeds only when it is answered from the cache. */
    fd = open(bin, O_PATH | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_true(pread(fd, buf, sizeof(buf), 0) < 0);
    close(fd);
    assert_int_equal(tofu_check_path(t, bin, O_PATH, hex, f->err, sizeof(f->err)), 0);
    assert_string_equal(hex, true_hex);

    /* touch: rehashed, same bytes, fingerprint updated, cached again */
    set_mtime(bin, 1000000000);
    assert_int_equal(tofu_check_path(t, bin, O_PATH, hex, f->err, sizeof(f->err)), -EBADF);
    assert_int_equal(tofu_check_path(t, bin, O_RDONLY, hex, f->err, sizeof(f->err)), 0);
    assert_string_equal(hex, true_hex);
    assert_int_equal(tofu_check_path(t, bin, O_PATH, hex, f->err, sizeof(f->err)), 0);

    /* swapped bytes: denied, and the entry is not updated */
    copy_file("/usr/bin/false", bin);
    set_mtime(bin, 1000000100);
    snprintf(want, sizeof(want),
             "Binary integrity violation: %s hash changed (cached: %s, current: %s)", bin, true_hex,
             false_hex);
    assert_int_equal(tofu_check_path(t, bin, O_RDONLY, hex, f->err, sizeof(f->err)), -EPERM);
    assert_string_equal(f->err, want);
    assert_int_equal(tofu_check_path(t, bin, O_RDONLY, hex, f->err, sizeof(f->err)), -EPERM);
    assert_string_equal(f->err, want);

    /* bytes restored: allowed again */
    copy_file("/usr/bin/true", bin);
    set_mtime(bin, 1000000200);
    assert_int_equal(tofu_check_path(t, bin, O_RDONLY, hex, f->err, sizeof(f->err)), 0);
    assert_string_equal(hex, true_hex);

    /* not a regular file; bad arguments */
    assert_int_equal(tofu_check_path(t, dir, O_RDONLY, hex, f->err, sizeof(f->err)), -EINVAL);
    assert_int_equal(osh_tofu_check(t, bin, -1, hex, f->err, sizeof(f->err)), -EINVAL);
    assert_int_equal(osh_tofu_check(NULL, bin, 0, hex, f->err, sizeof(f->err)), -EINVAL);

    assert_int_equal(unlink(bin), 0);
    assert_int_equal(rmdir(dir), 0);
    osh_tofu_cache_free(t);
}

static void
test_tofu_bound(void **state)
{
    struct fixture *f = *state;
    struct osh_tofu_cache *t = osh_tofu_cache_new(2);
    char dir[] = "/tmp/test_identity.XXXXXX";
    char bin[3][sizeof(dir) + 16];
    char true_hex[65], hex[65];

    assert_non_null(t);
    assert_non_null(mkdtemp(dir));
    sha256_file("/usr/bin/true", true_hex);
    for (int i = 0; i < 3; i++) {
        snprintf(bin[i], sizeof(bin[i]), "%s/b%d", dir, i);
        copy_file("/usr/bin/true", bin[i]);
        assert_int_equal(tofu_check_path(t, bin[i], O_RDONLY, hex, f->err, sizeof(f->err)), 0);
        assert_string_equal(hex, true_hex);
    }
    /* the first two are cached, the third is checked but not recorded */
    assert_int_equal(tofu_check_path(t, bin[0], O_PATH, hex, f->err, sizeof(f->err)), 0);
    assert_int_equal(tofu_check_path(t, bin[1], O_PATH, hex, f->err, sizeof(f->err)), 0);
    assert_int_equal(tofu_check_path(t, bin[2], O_PATH, hex, f->err, sizeof(f->err)), -EBADF);
    assert_int_equal(tofu_check_path(t, bin[2], O_RDONLY, hex, f->err, sizeof(f->err)), 0);

    /* no golden hash for the third: new bytes pass; the first is still pinned */
    copy_file("/usr/bin/false", bin[2]);
    set_mtime(bin[2], 1000000000);
    assert_int_equal(tofu_check_path(t, bin[2], O_RDONLY, hex, f->err, sizeof(f->err)), 0);
    copy_file("/usr/bin/false", bin[0]);
    set_mtime(bin[0], 1000000000);
    assert_int_equal(tofu_check_path(t, bin[0], O_RDONLY, hex, f->err, sizeof(f->err)), -EPERM);

    for (int i = 0; i < 3; i++)
        assert_int_equal(unlink(bin[i]), 0);
    assert_int_equal(rmdir(dir), 0);
    osh_tofu_cache_free(t);
}

/* ---- network namespace (root only) ------------------------------------------ */

struct ns_report {
    int status; /* 0, or the errno of the step that failed in the helper */
    int step;
    pid_t b;
};

static int
bring_lo_up(void)
{
    struct ifreq ifr;
    int s, rc = 0;

    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return errno;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
        rc = errno;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (rc == 0 && ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
        rc = errno;
    close(s);
    return rc;
}

static void
ns_send(int sp, struct ns_report *r, const int *fds, int nfds)
{
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(2 * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = r, .iov_len = sizeof(*r)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *cm;

    if (nfds > 0) {
        memset(&ctl, 0, sizeof(ctl));
        m.msg_control = ctl.b;
        m.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&m);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
    }
    (void)!sendmsg(sp, &m, MSG_NOSIGNAL);
}

/*
 * Helper A (a forked child): a private netns with lo up, a listener in it,
 * a child B that connects and execs sleep; A sends the accepted fd and its
 * netns fd to the test, waits for the test to hang up, then kills and
 * reaps B.
 */
static void __attribute__((noreturn)) ns_helper(int sp)
{
    static char *const argv[] = {"sleep", "30", NULL};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct ns_report r = {0};
    struct pollfd pfd;
    socklen_t len = sizeof(sa);
    int lfd, afd, nsfd, p[2], fds[2];
    char b;

    if (unshare(CLONE_NEWNET) != 0) {
        r = (struct ns_report){.status = errno, .step = 1};
        goto report;
    }
    if ((r.status = bring_lo_up()) != 0) {
        r.step = 2;
        goto report;
    }
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0 || pipe2(p, O_CLOEXEC) != 0) {
        r = (struct ns_report){.status = errno, .step = 3};
        goto report;
    }
    r.b = fork();
    if (r.b == 0) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            (void)!write(p[1], "x", 1);
            _exit(127);
        }
        child_exec(s, p[1], SLEEP_BIN, argv);
    }
    close(p[1]);
    if (r.b < 0 || wait_exec(p[0]) != 0) {
        r = (struct ns_report){.status = EIO, .step = 4};
        goto report;
    }
    pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
    afd = poll(&pfd, 1, WAIT_MS) == 1 ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) : -1;
    nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (afd < 0 || nsfd < 0) {
        r = (struct ns_report){.status = EIO, .step = 5, .b = r.b};
        goto report;
    }
    fds[0] = afd;
    fds[1] = nsfd;
    ns_send(sp, &r, fds, 2);
    pfd = (struct pollfd){.fd = sp, .events = POLLIN};
    (void)poll(&pfd, 1, 4 * WAIT_MS); /* the test hangs up when done */
    (void)!read(sp, &b, 1);
    kill(r.b, SIGKILL);
    waitpid(r.b, NULL, 0);
    _exit(0);

report:
    ns_send(sp, &r, NULL, 0);
    if (r.b > 0) {
        kill(r.b, SIGKILL);
        waitpid(r.b, NULL, 0);
    }
    _exit(1);
}

static void
test_netns(void **state)
{
    struct fixture *f = *state;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(2 * sizeof(int))];
    } ctl;
    struct ns_report r = {0};
    struct iovec iov = {.iov_base = &r, .iov_len = sizeof(r)};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    struct osh_peer_identity pi;
    struct pollfd pfd;
    struct cmsghdr *cm;
    struct conn c;
    int sp[2], fds[2] = {-1, -1}, rc;
    pid_t a;

    if (geteuid() != 0) {
        print_message("netns test skipped: needs root (CAP_SYS_ADMIN for unshare/setns)\n");
        skip();
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    a = fork();
    assert_true(a >= 0);
    if (a == 0) {
        close(sp[0]);
        ns_helper(sp[1]);
    }
    track(f, a);
    close(sp[1]);
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof(ctl.b);
    pfd = (struct pollfd){.fd = sp[0], .events = POLLIN};
    if (poll(&pfd, 1, 2 * WAIT_MS) != 1 || recvmsg(sp[0], &m, MSG_CMSG_CLOEXEC) != sizeof(r)) {
        close(sp[0]);
        kill_reap(f, a);
        fail_msg("netns helper did not report");
    }
    if (r.status != 0) {
        close(sp[0]);
        kill_reap(f, a);
        print_message("netns test skipped: helper step %d failed: %s\n", r.step,
                      strerror(r.status));
        skip();
    }
    cm = CMSG_FIRSTHDR(&m);
    if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
        cm->cmsg_len != CMSG_LEN(2 * sizeof(int)))
        fail_msg("netns helper sent no fds");
    else
        memcpy(fds, CMSG_DATA(cm), sizeof(fds));

    memset(&c, 0, sizeof(c));
    c.lfd = -1;
    c.afd = fds[0];
    {
        socklen_t len = sizeof(c.peer);

        assert_int_equal(getpeername(c.afd, (struct sockaddr *)&c.peer, &len), 0);
        len = sizeof(c.local);
        assert_int_equal(getsockname(c.afd, (struct sockaddr *)&c.local, &len), 0);
    }

    /* from our own netns the client socket does not exist */
    new_identity(f, -1, a);
    assert_int_equal(resolve(f, &c, &pi), -ENOENT);
    /* through a socket created inside the client's netns it does */
    new_identity(f, fds[1], a);
    rc = resolve(f, &c, &pi);
    close(fds[1]);
    close(c.afd);
    close(sp[0]); /* A kills and reaps B, then exits */
    reap(f, a);
    if (rc != 0)
        fail_msg("rc %d: %s", rc, f->err);
    assert_int_equal(pi.pid, r.b);
    assert_string_equal(pi.exe, f->sleep_path);
    assert_int_equal(pi.n_ancestors, 1); /* A is the entrypoint: the walk stops there */
    assert_string_equal(pi.ancestors[0], f->exe);
    osh_peer_identity_clear(&pi);

    /* the thread came back to its own netns: a loopback client still resolves */
    {
        struct conn c2;
        pid_t child;

        listen_lo(&c2);
        child = spawn_sleep_client(f, &c2);
        accept_conn(&c2);
        new_identity(f, -1, child);
        rc = resolve(f, &c2, &pi);
        kill_reap(f, child);
        conn_close(&c2);
        assert_int_equal(rc, 0);
        osh_peer_identity_clear(&pi);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resolve_entrypoint_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_uid_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_v4_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_same_binary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_different_binaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cmdline_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constructor_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_executable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integrity_denials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_resolve, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tofu_violation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tofu_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_netns, setup, teardown),
    };

    /* orphans of a failed test come back here to be reaped; the whole run
     * is bounded even if a poll-less path hangs */
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    alarm(300);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
