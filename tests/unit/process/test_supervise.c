/*
 * test_supervise.c - osh_supervisor: exit codes, timeout escalation, signal
 * forwarding through the signalfd, a child that exits before it is watched,
 * and orphan reaping.
 *
 * Children are started with osh_spawn() as nobody:nogroup in their own
 * process group, so the tests run as root (CI does) and fail, with a
 * message, when not.  Each test creates its supervisor before any thread
 * (the signal test starts its sender thread afterwards, so the thread
 * inherits the blocked mask) and frees it at the end.  alarm() bounds the
 * run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "osh/process/spawn.h"
#include "osh/process/supervise.h"

#define SH "/bin/sh"
#define ERRLEN 512

static char *test_env[] = {"PATH=/usr/bin:/bin", NULL};

static void
require_root(void)
{
    if (geteuid() != 0)
        fail_msg("test_supervise must run as root (CI does): children drop to nobody");
}

/* Threads of an earlier test (already joined) can linger in the kernel's
 * count for a moment after pthread_join() on a loaded machine; the
 * supervisor rightly refuses while it sees them, so wait them out. */
static void
wait_single_threaded(void)
{
    for (int i = 0; i < 200; i++) {
        char line[128];
        int threads = 0;
        FILE *f = fopen("/proc/self/status", "re");
        if (f == NULL)
            return;
        while (fgets(line, sizeof(line), f) != NULL)
            if (sscanf(line, "Threads: %d", &threads) == 1)
                break;
        fclose(f);
        if (threads == 1)
            return;
        usleep(10000);
    }
}

static struct osh_supervisor *
new_supervisor(void)
{
    char err[ERRLEN];
    struct osh_supervisor *s;

    require_root();
    wait_single_threaded();
    s = osh_supervisor_new(err, sizeof(err));
    if (s == NULL)
        fail_msg("supervisor: %s", err);
    assert_true(osh_supervisor_fd(s) >= 0);
    return s;
}

static pid_t
spawn_argv(char *const *argv)
{
    struct osh_identity_ids ids;
    struct osh_spawn_config cfg = {
        .argv = argv,
        .envp = test_env,
        .netns_fd = -1,
        .ids = &ids,
        .new_process_group = true,
        .stdin_fd = -1,
        .stdout_fd = -1,
        .stderr_fd = -1,
    };
    char err[ERRLEN];
    pid_t pid = -1;

    if (osh_resolve_user("nobody", "nogroup", &ids, err, sizeof(err)) != 0)
        fail_msg("resolve: %s", err);
    if (osh_spawn(&cfg, &pid, err, sizeof(err)) != 0)
        fail_msg("spawn: %s", err);
    return pid;
}

static pid_t
spawn_sh(const char *script)
{
    char *argv[] = {SH, "-c", (char *)(uintptr_t)script, NULL};

    return spawn_argv(argv);
}

static int
run_script(const char *script, unsigned timeout_ms, unsigned grace_ms)
{
    struct osh_supervisor *s = new_supervisor();
    int code;

    assert_int_equal(osh_supervisor_watch(s, spawn_sh(script)), 0);
    code = osh_supervisor_run(s, timeout_ms, grace_ms);
    osh_supervisor_free(s);
    return code;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Counts children of this process in state Z.  If alive is non-NULL it gets
 * the number of children, of any state, whose comm is `comm` (any comm when
 * NULL). */
static int
count_children(int *alive, const char *comm)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    int zombies = 0;

    assert_non_null(d);
    if (alive != NULL)
        *alive = 0;
    while ((de = readdir(d)) != NULL) {
        char path[300], buf[512];
        const char *open_paren, *close_paren;
        FILE *f;
        char state;
        int ppid;

        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
        f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(buf, sizeof(buf), f) == NULL) {
            fclose(f);
            continue;
        }
        fclose(f);
        open_paren = strchr(buf, '(');
        close_paren = strrchr(buf, ')'); /* comm may contain spaces and parens */
        if (open_paren == NULL || close_paren == NULL ||
            sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2 || ppid != getpid())
            continue;
        if (alive != NULL &&
            (comm == NULL || ((size_t)(close_paren - open_paren - 1) == strlen(comm) &&
                              strncmp(open_paren + 1, comm, strlen(comm)) == 0)))
            (*alive)++;
        if (state == 'Z')
            zombies++;
    }
    closedir(d);
    return zombies;
}

static void
test_exit_codes(void **state)
{
    (void)state;
    assert_int_equal(run_script("exit 0", 0, 0), 0);
    assert_int_equal(run_script("exit 3", 0, 0), 3);
    assert_int_equal(run_script("kill -9 $$", 0, 0), 128 + 9);
}

static void
test_timeout(void **state)
{
    char *argv[] = {"/bin/sleep", "30", NULL};
    struct osh_supervisor *s;
    uint64_t t0;
    int code;

    (void)state;
    s = new_supervisor();
    assert_int_equal(osh_supervisor_watch(s, spawn_argv(argv)), 0);
    t0 = now_ms();
    code = osh_supervisor_run(s, 300, 100);
    assert_int_equal(code, 124);
    assert_true(now_ms() - t0 >= 300);
    assert_true(now_ms() - t0 < 2000); /* SIGTERM was enough */
    osh_supervisor_free(s);
}

/* The child and its sleep ignore SIGTERM: SIGKILL follows after the grace. */
static void
test_timeout_escalates(void **state)
{
    uint64_t t0 = now_ms();

    (void)state;
    assert_int_equal(run_script("trap '' TERM; sleep 30", 300, 200), 124);
    assert_true(now_ms() - t0 >= 500);
    assert_true(now_ms() - t0 < 3000);
}

struct signal_seen {
    int signo;
    int calls;
};

static void
on_signal(int signo, void *arg)
{
    struct signal_seen *seen = arg;

    seen->signo = signo;
    seen->calls++;
}

static void *
send_sigterm(void *arg)
{
    (void)arg;
    usleep(300 * 1000);
    kill(getpid(), SIGTERM); /* process-directed, blocked everywhere: the signalfd gets it */
    return NULL;
}

static void
test_forward_sigterm(void **state)
{
    struct signal_seen seen = {0, 0};
    struct osh_supervisor *s;
    pthread_t sender;

    (void)state;
    s = new_supervisor();
    osh_supervisor_set_on_signal(s, on_signal, &seen);
    assert_int_equal(osh_supervisor_watch(s, spawn_sh("trap 'exit 7' TERM; sleep 30 & wait")), 0);
    assert_int_equal(pthread_create(&sender, NULL, send_sigterm, NULL), 0);
    assert_int_equal(osh_supervisor_run(s, 10000, 100), 7);
    assert_int_equal(pthread_join(sender, NULL), 0);
    assert_int_equal(seen.signo, SIGTERM);
    assert_int_equal(seen.calls, 1);
    osh_supervisor_free(s);
    /* The group got it too: the backgrounded sleep dies at once instead of
     * in 30 s.  It may be reparented here as a zombie after run() returned,
     * so reap for up to a second until no child is left. */
    for (int i = 0; i < 100; i++) {
        int alive;

        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        count_children(&alive, NULL);
        if (alive == 0)
            break;
        usleep(10 * 1000);
    }
    {
        int alive;

        count_children(&alive, NULL);
        assert_int_equal(alive, 0);
    }
}

/* A child that is gone before watch() is not lost, whether it is still an
 * unreaped zombie or was already reaped by a dispatch. */
static void
test_fast_child(void **state)
{
    char *argv[] = {"/bin/true", NULL};
    struct osh_supervisor *s;
    pid_t pid;
    int code = -1;

    (void)state;
    s = new_supervisor();
    pid = spawn_argv(argv);
    usleep(100 * 1000);
    assert_int_equal(osh_supervisor_watch(s, pid), 0);
    assert_int_equal(osh_supervisor_run(s, 0, 0), 0);
    osh_supervisor_free(s);

    s = new_supervisor();
    pid = spawn_sh("exit 5");
    usleep(100 * 1000);
    assert_int_equal(osh_supervisor_dispatch(s, &code), 0); /* reaps it, nobody watched */
    assert_int_equal(count_children(NULL, NULL), 0);
    assert_int_equal(osh_supervisor_watch(s, pid), 0);
    assert_int_equal(osh_supervisor_dispatch(s, &code), 1);
    assert_int_equal(code, 5);
    assert_int_equal(osh_supervisor_run(s, 0, 0), 5);
    osh_supervisor_free(s);
}

/* Samples, for 400 ms, how many "sleep" processes are our children. */
static void *
watch_orphans(void *arg)
{
    int *max = arg;

    for (int i = 0; i < 40; i++) {
        int n;

        count_children(&n, "sleep");
        if (n > *max)
            *max = n;
        usleep(10 * 1000);
    }
    return NULL;
}

/* Two grandchildren are orphaned when their parent exits at once, are
 * reparented to us (child subreaper; the sampler sees them as our
 * children), and are reaped when they exit while the entrypoint still runs:
 * after run() no child of ours is left, zombie or not. */
static void
test_orphans_reaped(void **state)
{
    struct osh_supervisor *s;
    pthread_t sampler;
    int max_orphans = 0;
    int alive = -1;

    (void)state;
    s = new_supervisor();
    assert_int_equal(
        osh_supervisor_watch(s, spawn_sh("sh -c 'sleep 0.2 & sleep 0.2 &'; sleep 0.6")), 0);
    assert_int_equal(pthread_create(&sampler, NULL, watch_orphans, &max_orphans), 0);
    assert_int_equal(osh_supervisor_run(s, 0, 0), 0);
    assert_int_equal(pthread_join(sampler, NULL), 0);
    osh_supervisor_free(s);
    assert_int_equal(max_orphans, 2);
    assert_int_equal(count_children(&alive, NULL), 0);
    assert_int_equal(alive, 0);
}

static void
test_watch_errors(void **state)
{
    struct osh_supervisor *s;
    pid_t pid;

    (void)state;
    s = new_supervisor();
    assert_int_equal(osh_supervisor_run(s, 0, 0), -EINVAL);
    assert_int_equal(osh_supervisor_watch(s, 0), -EINVAL);
    assert_int_equal(osh_supervisor_watch(s, getpid()), -ECHILD);
    pid = spawn_sh("exit 0");
    assert_int_equal(osh_supervisor_watch(s, pid), 0);
    assert_int_equal(osh_supervisor_watch(s, pid), -EBUSY);
    assert_int_equal(osh_supervisor_run(s, 0, 0), 0);
    osh_supervisor_free(s);
    osh_supervisor_free(NULL);
}

static void *
idle(void *arg)
{
    (void)arg;
    usleep(200 * 1000);
    return NULL;
}

/* A second thread exists: creating the supervisor now would leave that
 * thread with the signals unblocked, so it is refused. */
static void
test_refused_with_threads(void **state)
{
    char err[ERRLEN] = "";
    pthread_t t;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, idle, NULL), 0);
    errno = 0;
    assert_null(osh_supervisor_new(err, sizeof(err)));
    assert_int_equal(errno, EBUSY);
    assert_non_null(strstr(err, "before any other thread"));
    assert_int_equal(pthread_join(t, NULL), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        /* Tests that start threads come last: a supervisor must be created
         * before any thread, and TSan's runtime keeps a thread of its own
         * once the first one was started. */
        cmocka_unit_test(test_exit_codes),        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_timeout_escalates), cmocka_unit_test(test_fast_child),
        cmocka_unit_test(test_orphans_reaped),    cmocka_unit_test(test_watch_errors),
        cmocka_unit_test(test_forward_sigterm),   cmocka_unit_test(test_refused_with_threads),
    };

    alarm(60);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
