/*
 * bypass.h - the bypass monitor (process.md §5): turns the kernel log lines
 * that the sandbox's nftables fence writes for a direct (proxy-bypassing)
 * connection into `bypass` denial events, activity events and OCSF lines.
 *
 * LIFECYCLE
 *   osh_bypass_monitor_start() (opens the kernel log, starts the thread) ->
 *   osh_bypass_monitor_set_entrypoint() once the workload runs (optional) ->
 *   osh_bypass_monitor_stop() (stops and joins; idempotent) ->
 *   osh_bypass_monitor_get_stats() (still valid after stop) ->
 *   osh_bypass_monitor_free().
 *   start, stop and free are called from one controlling thread (the
 *   orchestrator's); set_entrypoint and get_stats from any thread.
 *
 * THREADS
 *   One monitor thread polls the log fd and a stop eventfd, parses each
 *   record, resolves the owning process (best effort, bounded /proc reads)
 *   and emits.  It never blocks on a consumer: ring pushes are
 *   osh_ring_push_mpsc() (a full ring is a counted drop in the ring).  It runs
 *   with every signal blocked.
 *
 * OWNERSHIP
 *   Every string of the config is copied.  The rings are borrowed: they must
 *   outlive the monitor (until osh_bypass_monitor_stop() returns).
 *
 * DESIGN
 *   The kernel log is read directly from /dev/kmsg rather than through
 *   `dmesg --follow` (process.md §5.1 allows it): no child process, and the
 *   seek to the end means old records are never replayed.  Each read() of
 *   /dev/kmsg returns one record; any other file (a FIFO or a regular file,
 *   used by tests) is read as a stream of '\n'-terminated lines and followed
 *   like `tail -f` after EOF.  Emission is rate limited by a token bucket on
 *   top of the nft log limit (5/s, burst 10 per protocol rule), because the
 *   identity lookup walks /proc and the agent controls the packet rate.
 */
#ifndef OSH_PROCESS_BYPASS_H
#define OSH_PROCESS_BYPASS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "osh/ring.h"

/* Longest accepted log prefix: the nft `log prefix` limit (cage-notes §3.2). */
#define OSH_BYPASS_PREFIX_MAX 127

struct osh_bypass_monitor;

struct osh_bypass_config {
    /* e.g. "openshell:bypass:sandbox-ab12cd34:", 1..OSH_BYPASS_PREFIX_MAX
     * bytes, trailing colon included; lines without it are ignored. */
    const char *log_prefix;
    struct osh_ring *denials;    /* struct osh_denial_event ring, may be NULL */
    struct osh_ring *activity;   /* struct osh_activity_event ring, may be NULL */
    const char *kmsg_path;       /* NULL = "/dev/kmsg"; tests pass a FIFO or file */
    unsigned max_events_per_sec; /* token bucket rate, burst = 2x; 0 = 20 */
};

/* Counters, monotonic.  lines: records (or stream lines) read; matched: lines
 * that parsed as ours; emitted: matched lines turned into events;
 * rate_limited: matched lines suppressed by the token bucket; overwritten:
 * EPIPE from /dev/kmsg (records lost to the ring buffer wrapping). */
struct osh_bypass_stats {
    uint64_t lines;
    uint64_t matched;
    uint64_t emitted;
    uint64_t rate_limited;
    uint64_t overwritten;
};

/*
 * Opens cfg->kmsg_path (default /dev/kmsg) read-only and non-blocking, seeks
 * to its end (a FIFO cannot seek; that is fine), and starts the monitor
 * thread.  Returns the monitor, or NULL with errno set and a one-line reason
 * in err (errlen bytes, may be 0): EINVAL for a bad config (missing, empty,
 * too long or non-printable prefix), otherwise the error of open(), lseek(),
 * eventfd() or pthread_create().  When /dev/kmsg cannot be opened the caller
 * logs an OCSF Low event and goes on: the nft rules still reject.
 * Controlling thread.
 */
struct osh_bypass_monitor *osh_bypass_monitor_start(const struct osh_bypass_config *cfg, char *err,
                                                    size_t errlen);

/*
 * Publishes the entrypoint pid used for best-effort identity (process.md
 * §5.3); 0 or negative means none (the binary is then reported as "-").
 * Any thread; m NULL is a no-op.
 */
void osh_bypass_monitor_set_entrypoint(struct osh_bypass_monitor *m, pid_t pid);

/*
 * Stops the thread and joins it (it notices within one poll wake-up; the
 * work per record is bounded), then closes the log fd.  Idempotent; m NULL is
 * a no-op.  Controlling thread.
 */
void osh_bypass_monitor_stop(struct osh_bypass_monitor *m);

/*
 * Copies the counters into *out.  Acquire loads: once `emitted` is seen, the
 * ring pushes of those events are visible to the caller too.  Any thread,
 * before or after stop.
 */
void osh_bypass_monitor_get_stats(const struct osh_bypass_monitor *m, struct osh_bypass_stats *out);

/* Stops (if still running) and frees.  NULL is a no-op.  Controlling thread. */
void osh_bypass_monitor_free(struct osh_bypass_monitor *m);

#endif /* OSH_PROCESS_BYPASS_H */
