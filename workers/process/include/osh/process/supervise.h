/*
 * supervise.h - wait for the entrypoint, forward signals to it, enforce the
 * timeout, and reap every child of the process, orphans included
 * (process.md §10).
 *
 * Lifecycle: osh_supervisor_new() in main() before any other thread exists →
 * osh_spawn() the entrypoint → osh_supervisor_watch(pid) →
 * osh_supervisor_run() (or the fd in an epoll loop plus
 * osh_supervisor_dispatch()) → osh_supervisor_free().
 *
 * Threads: the handle belongs to one thread (the one that created it); none
 * of its functions may run concurrently.  Other threads must not install a
 * SIGCHLD handler nor wait for children themselves: this module reaps every
 * child of the process with waitpid(-1) and keeps the statuses (see
 * supervise.c DESIGN).
 */
#ifndef OSH_PROCESS_SUPERVISE_H
#define OSH_PROCESS_SUPERVISE_H

#include <stddef.h>
#include <sys/types.h>

struct osh_supervisor;

/* Called on the supervisor thread for every termination signal the process
 * receives (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2), after it has
 * been forwarded to the watched child's process group (if any). */
typedef void (*osh_supervisor_signal_cb)(int signo, void *arg);

/*
 * Blocks SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 in
 * the calling thread and opens a signalfd for them.  MUST be called before
 * any other thread exists: threads inherit the mask at creation, and a
 * thread created earlier would take these signals with their default action
 * (terminating the supervisor) instead of leaving them to the signalfd.
 * Checked: with more than one thread it fails with EBUSY.
 * Also resets an ignored SIGCHLD to SIG_DFL (an ignored SIGCHLD discards exit
 * statuses) and, unless we are PID 1, makes the process a child subreaper so
 * that orphaned grandchildren are reparented here and reaped.
 * Returns the handle, or NULL with errno set and a message in err.
 */
struct osh_supervisor *osh_supervisor_new(char *err, size_t errlen);

/* The signalfd (non-blocking, CLOEXEC), for an epoll loop: when readable,
 * call osh_supervisor_dispatch().  Owned by the handle. */
int osh_supervisor_fd(const struct osh_supervisor *s);

/* Optional; cb NULL removes it.  arg is borrowed until free. */
void osh_supervisor_set_on_signal(struct osh_supervisor *s, osh_supervisor_signal_cb cb, void *arg);

/*
 * Makes `pid` (a child of this process, normally the entrypoint) the watched
 * child.  A child that already exited and was reaped before this call is not
 * lost: its status was kept and is claimed here.  Returns 0, -EINVAL (pid <=
 * 0), -EBUSY (another child is still watched) or -ECHILD (not our child).
 */
int osh_supervisor_watch(struct osh_supervisor *s, pid_t pid);

/*
 * Reads every pending signal from the fd, forwards termination signals to
 * the watched child's process group (to the child alone when it has no group
 * of its own), calls on_signal, and reaps every exited child.  Never blocks.
 * Returns 1 with the exit code in *exit_code when the watched child has
 * exited (the child's code, or 128 + signal), 0 while it runs, or -errno.
 */
int osh_supervisor_dispatch(struct osh_supervisor *s, int *exit_code);

/*
 * Runs until the watched child exits, dispatching as above.  timeout_ms 0 is
 * no timeout; otherwise, when it expires, SIGTERM goes to the child's process
 * group and SIGKILL follows grace_ms later (at once when grace_ms is 0).
 * Returns the exit code: the child's, 128 + signal if it was killed by one,
 * 124 after a timeout; or -EINVAL if no child is watched, or -errno if the
 * signalfd fails.
 */
int osh_supervisor_run(struct osh_supervisor *s, unsigned timeout_ms, unsigned grace_ms);

/* Drains pending signals of the set, closes the fd and restores the calling
 * thread's signal mask.  Children still running are left alone, and the
 * process stays a child subreaper.  NULL is fine. */
void osh_supervisor_free(struct osh_supervisor *s);

#endif /* OSH_PROCESS_SUPERVISE_H */
