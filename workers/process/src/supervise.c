/*
 * supervise.c - signalfd supervision of the entrypoint, and the reaper
 * (process.md §10).
 *
 * DESIGN
 * Signals.  SIGCHLD and the termination signals are blocked in the thread
 * that creates the supervisor (and, since it runs before any other thread,
 * in every thread) and read from one signalfd.  So nothing runs in signal
 * context and a signal is never lost to a thread that does not handle it.
 * Termination signals are forwarded to the entrypoint's process group (the
 * reference forwards nothing, §10.4; §15.6 asks us to fix that).  We never
 * signal our own group: the target is -pid only when the child leads its
 * own group, else the child alone.
 *
 * The registry cannot lose a fast child (§10.2, §15.4).  A child can exit
 * before its pid is known to us, so instead of racing registration against
 * the reaper, the reaper records every status it reaps: the watched pid's
 * goes to the watch slot, any other goes to a small ring of unclaimed
 * statuses.  watch() first asks the kernel whether the pid is an unreaped
 * child of ours (waitid WNOWAIT); if it is, stale ring entries for a reused
 * pid are dropped; if not, the newest ring entry for the pid is its status.
 * Because reaping and watching run on the same thread, that answer cannot go
 * stale between the two steps, and a watched pid is never reused before we
 * reap it, so forwarding a signal to it is safe.
 *
 * Orphans.  As PID 1 orphans are ours anyway; otherwise we become a child
 * subreaper.  They are reaped by the same waitpid(-1) loop, and their statuses
 * pass through the ring and age out of it (oldest evicted first).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "osh/process/supervise.h"

#define UNCLAIMED_MAX 256 /* statuses of exited, not (yet) watched children */
#define EXIT_TIMEOUT 124

/* TSan's runtime runs a background thread of its own (it takes no
 * signals meant for us: TSan intercepts delivery); it is not ours to count. */
#if defined(__SANITIZE_THREAD__)
#define SANITIZER_THREADS 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SANITIZER_THREADS 1
#endif
#endif
#ifndef SANITIZER_THREADS
#define SANITIZER_THREADS 0
#endif

static const int handled_signals[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

struct unclaimed {
    pid_t pid;
    int status; /* raw wait status */
};

struct osh_supervisor {
    int sv_fd; /* signalfd */
    sigset_t sv_set;
    sigset_t sv_old_mask;
    pid_t sv_watched; /* 0: none */
    bool sv_done;     /* the watched child has been reaped */
    int sv_status;    /* its raw wait status */
    struct unclaimed sv_ring[UNCLAIMED_MAX];
    size_t sv_ring_head; /* index of the oldest entry */
    size_t sv_ring_len;
    osh_supervisor_signal_cb sv_on_signal;
    void *sv_on_signal_arg;
};

static void reap_all(struct osh_supervisor *s);
static void record_exit(struct osh_supervisor *s, pid_t pid, int status);
static void ring_push(struct osh_supervisor *s, pid_t pid, int status);
static bool ring_take(struct osh_supervisor *s, pid_t pid, int *status);
static void ring_drop(struct osh_supervisor *s, pid_t pid);
static void signal_child(const struct osh_supervisor *s, int sig);
static int exit_code(int status);
static uint64_t now_ms(void);
static long thread_count(void);
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct osh_supervisor *
osh_supervisor_new(char *err, size_t errlen)
{
    struct osh_supervisor *s;
    struct sigaction chld;
    int e;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        seterr(err, errlen, "supervisor: out of memory");
        errno = ENOMEM;
        return NULL;
    }
    s->sv_fd = -1;
    if (thread_count() > 1 + SANITIZER_THREADS) {
        e = EBUSY;
        seterr(err, errlen,
               "supervisor: must be created before any other thread (threads would not "
               "inherit the blocked signal mask)");
        goto fail;
    }
    sigemptyset(&s->sv_set);
    for (size_t i = 0; i < sizeof(handled_signals) / sizeof(handled_signals[0]); i++)
        sigaddset(&s->sv_set, handled_signals[i]);

    /* An ignored SIGCHLD (or SA_NOCLDWAIT) makes the kernel discard exit
     * statuses, and the exit code of the workload with them. */
    if (sigaction(SIGCHLD, NULL, &chld) < 0) {
        e = errno;
        seterr(err, errlen, "supervisor: sigaction(SIGCHLD): %s", strerror(e));
        goto fail;
    }
    if (chld.sa_handler == SIG_IGN || (chld.sa_flags & SA_NOCLDWAIT) != 0) {
        memset(&chld, 0, sizeof(chld));
        chld.sa_handler = SIG_DFL;
        if (sigaction(SIGCHLD, &chld, NULL) < 0) {
            e = errno;
            seterr(err, errlen, "supervisor: reset SIGCHLD: %s", strerror(e));
            goto fail;
        }
    }
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        e = errno;
        seterr(err, errlen, "supervisor: PR_SET_CHILD_SUBREAPER: %s", strerror(e));
        goto fail;
    }
    e = pthread_sigmask(SIG_BLOCK, &s->sv_set, &s->sv_old_mask);
    if (e != 0) {
        seterr(err, errlen, "supervisor: pthread_sigmask: %s", strerror(e));
        goto fail;
    }
    s->sv_fd = signalfd(-1, &s->sv_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sv_fd < 0) {
        e = errno;
        pthread_sigmask(SIG_SETMASK, &s->sv_old_mask, NULL);
        seterr(err, errlen, "supervisor: signalfd: %s", strerror(e));
        goto fail;
    }
    return s;
fail:
    free(s);
    s = NULL;
    errno = e;
    return NULL;
}

int
osh_supervisor_fd(const struct osh_supervisor *s)
{
    return s->sv_fd;
}

void
osh_supervisor_set_on_signal(struct osh_supervisor *s, osh_supervisor_signal_cb cb, void *arg)
{
    s->sv_on_signal = cb;
    s->sv_on_signal_arg = arg;
}

int
osh_supervisor_watch(struct osh_supervisor *s, pid_t pid)
{
    siginfo_t si;
    int status;

    if (pid <= 0)
        return -EINVAL;
    if (s->sv_watched != 0 && !s->sv_done)
        return -EBUSY;
    /* Is it an unreaped child of ours (running or zombie)?  WNOWAIT leaves
     * a zombie for reap_all(). */
    memset(&si, 0, sizeof(si));
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0) {
        ring_drop(s, pid); /* an older child that had the same pid */
        s->sv_watched = pid;
        s->sv_done = false;
        return 0;
    }
    if (errno != ECHILD)
        return -errno;
    if (!ring_take(s, pid, &status))
        return -ECHILD;
    s->sv_watched = pid;
    s->sv_done = true;
    s->sv_status = status;
    return 0;
}

int
osh_supervisor_dispatch(struct osh_supervisor *s, int *code)
{
    struct signalfd_siginfo si[8];

    for (;;) {
        ssize_t n = read(s->sv_fd, si, sizeof(si));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0)
            return -errno;
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++) {
            int sig = (int)si[i].ssi_signo;

            if (sig == SIGCHLD)
                continue; /* reap_all() below runs on every dispatch */
            signal_child(s, sig);
            if (s->sv_on_signal != NULL)
                s->sv_on_signal(sig, s->sv_on_signal_arg);
        }
    }
    reap_all(s);
    if (s->sv_watched == 0 || !s->sv_done)
        return 0;
    *code = exit_code(s->sv_status);
    return 1;
}

int
osh_supervisor_run(struct osh_supervisor *s, unsigned timeout_ms, unsigned grace_ms)
{
    uint64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
    uint64_t kill_at = 0;
    bool timed_out = false;
    bool killed = false;
    int code = 0;

    if (s->sv_watched == 0)
        return -EINVAL;
    for (;;) {
        struct pollfd pfd = {.fd = s->sv_fd, .events = POLLIN};
        uint64_t now;
        int wait_ms = -1;
        int r = osh_supervisor_dispatch(s, &code);

        if (r < 0)
            return r;
        if (r > 0)
            break;
        now = now_ms();
        if (deadline != 0 && !timed_out && now >= deadline) {
            timed_out = true;
            kill_at = now + grace_ms;
            signal_child(s, SIGTERM);
        }
        if (timed_out && !killed && now >= kill_at) {
            killed = true;
            signal_child(s, SIGKILL);
        }
        if (deadline != 0 && !timed_out)
            wait_ms = (int)(deadline - now);
        else if (timed_out && !killed)
            wait_ms = (int)(kill_at - now);
        if (poll(&pfd, 1, wait_ms) < 0 && errno != EINTR)
            return -errno;
    }
    return timed_out ? EXIT_TIMEOUT : code;
}

void
osh_supervisor_free(struct osh_supervisor *s)
{
    struct signalfd_siginfo si;

    if (s == NULL)
        return;
    /* Consume what is pending so that unblocking does not deliver a stale
     * SIGTERM with its default action. */
    while (read(s->sv_fd, &si, sizeof(si)) > 0)
        ;
    close(s->sv_fd);
    pthread_sigmask(SIG_SETMASK, &s->sv_old_mask, NULL);
    free(s);
}

/* Reaps every exited child.  ECHILD (no children left) ends the loop like
 * "none ready". */
static void
reap_all(struct osh_supervisor *s)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            return;
        record_exit(s, pid, status);
    }
}

static void
record_exit(struct osh_supervisor *s, pid_t pid, int status)
{
    if (pid == s->sv_watched && !s->sv_done) {
        s->sv_done = true;
        s->sv_status = status;
        return;
    }
    ring_push(s, pid, status);
}

/* Appends; when full, the oldest status is dropped (an orphan's, in
 * practice: a spawned child is watched microseconds after spawn returns). */
static void
ring_push(struct osh_supervisor *s, pid_t pid, int status)
{
    size_t tail;

    if (s->sv_ring_len == UNCLAIMED_MAX) {
        s->sv_ring_head = (s->sv_ring_head + 1) % UNCLAIMED_MAX;
        s->sv_ring_len--;
    }
    tail = (s->sv_ring_head + s->sv_ring_len) % UNCLAIMED_MAX;
    s->sv_ring[tail].pid = pid;
    s->sv_ring[tail].status = status;
    s->sv_ring_len++;
}

/* Takes the newest entry for pid (older ones are earlier holders of a
 * reused pid) and drops the rest. */
static bool
ring_take(struct osh_supervisor *s, pid_t pid, int *status)
{
    for (size_t i = s->sv_ring_len; i-- > 0;) {
        const struct unclaimed *u = &s->sv_ring[(s->sv_ring_head + i) % UNCLAIMED_MAX];

        if (u->pid == pid) {
            *status = u->status;
            ring_drop(s, pid);
            return true;
        }
    }
    return false;
}

/* Removes every entry for pid, keeping the order of the others. */
static void
ring_drop(struct osh_supervisor *s, pid_t pid)
{
    size_t kept = 0;

    for (size_t i = 0; i < s->sv_ring_len; i++) {
        struct unclaimed u = s->sv_ring[(s->sv_ring_head + i) % UNCLAIMED_MAX];

        if (u.pid != pid)
            s->sv_ring[(s->sv_ring_head + kept++) % UNCLAIMED_MAX] = u;
    }
    s->sv_ring_len = kept;
}

/* To the child's process group when it leads one (so its own children get
 * the signal too), else to the child alone; never once it has been reaped
 * (the pid may be reused).  ESRCH is fine: it is exiting. */
static void
signal_child(const struct osh_supervisor *s, int sig)
{
    pid_t pid = s->sv_watched;

    if (pid <= 0 || s->sv_done)
        return;
    if (getpgid(pid) == pid)
        kill(-pid, sig);
    else
        kill(pid, sig);
}

/* process.md §10.4: the exit code, else 128 + signal. */
static int
exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* num_threads from /proc/self/stat (field 20), or -1 if unreadable. */
static long
thread_count(void)
{
    char buf[1024];
    const char *p;
    long n = -1;
    FILE *f = fopen("/proc/self/stat", "re");

    if (f == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) != NULL && (p = strrchr(buf, ')')) != NULL &&
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %ld",
               &n) != 1)
        n = -1;
    fclose(f);
    return n;
}

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
