/*
 * bypass_monitor.c - the bypass monitor thread (process.md §5): reads the
 * kernel log, keeps the fence's lines (bypass_parse_line()), finds the
 * process that dialled out (best effort, §5.3) and emits, per matched line,
 * a `bypass` DenialEvent, an activity event and two OCSF lines (NET Refuse +
 * Detection Finding, §5.4), under a token-bucket rate limit.
 *
 * DESIGN
 * One thread, one poll(2) over the log fd and a stop eventfd.  /dev/kmsg is
 * opened O_NONBLOCK and seeked to its end, so the thread drains records until
 * EAGAIN and then sleeps in poll; EPIPE means the kernel ring overwrote
 * records we had not read yet: counted, and reading goes on (cage-notes
 * §3.1).  A FIFO or regular file (tests) is read as a byte stream cut at
 * '\n'; after EOF it is polled again every FOLLOW_MS, like `tail -f`, so a
 * FIFO writer may come and go.
 *
 * The agent controls how many packets hit the fence, and the identity lookup
 * walks /proc, so the work per second is bounded twice: nft logs at most
 * 5/s (burst 10) per protocol rule, and the token bucket here emits at most
 * `max_events_per_sec` (burst 2x); suppressed lines are counted and summarised
 * in one log line per second.  The lookup itself is bounded: TREE_MAX
 * processes of the entrypoint's tree, then at most SCAN_MAX other /proc
 * entries, FDS_MAX fds each.  The stop flag is checked between records, so
 * osh_bypass_monitor_stop() joins within one record's work.
 *
 * Ring pushes never block (a full ring is counted by the ring).  Counters
 * are atomics written only by the monitor thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "osh/events.h"
#include "osh/log.h"
#include "osh/ocsf.h"
#include "osh/process/bypass.h"
#include "osh/ring.h"

#include "bypass_int.h"

#define KMSG_DEFAULT "/dev/kmsg"
#define READ_BUF 8192     /* a kmsg record is at most 8 KiB; a smaller read gets EINVAL */
#define EINVAL_MAX 64     /* consecutive EINVAL reads before giving up */
#define DEFAULT_RATE 20   /* events per second when the config says 0 */
#define FOLLOW_MS 100     /* re-read interval after EOF of a FIFO or file */
#define SUMMARY_MS 1000   /* at most one rate-limit summary line per second */
#define TREE_MAX 256      /* processes of the entrypoint's tree checked */
#define SCAN_MAX 4096     /* other /proc entries checked when the tree has no owner */
#define FDS_MAX 4096      /* fds checked per process */
#define OWNERS_MAX 8      /* owners of one socket collected */
#define ANCESTOR_STEPS 64 /* PPid hops (process.md §5.3) */
#define TCP_ROWS_MAX 65536
#define CHAIN_MAX 2048 /* ancestor chain or ambiguous owner list */
#define LINE_MAX_OCSF 2048

_Static_assert(OSH_BYPASS_PREFIX_MAX == BYPASS_PREFIX_MAX, "one prefix limit");

static const char deny_reason[] = "direct connection bypassed HTTP CONNECT proxy";

enum drain_result {
    DRAIN_AGAIN, /* nothing more to read now */
    DRAIN_EOF,   /* stream at EOF: follow it */
    DRAIN_STOP,  /* stop requested */
    DRAIN_FATAL, /* read error: the monitor ends (no restart, as the reference) */
};

/* Token bucket in milli-tokens: `rate` tokens per second, at most 2 * rate. */
struct bucket {
    uint64_t milli;
    uint64_t cap_milli;
    uint64_t rate;
    uint64_t last_ms;
};

/* Who dialled out: process.md §5.3's (binary, pid, ancestors). */
struct ident {
    char binary[PATH_MAX];     /* exe path, "ambiguous" or "-" */
    char pid_text[64];         /* "1234", "12, 34" or "-" */
    char ancestors[CHAIN_MAX]; /* " -> " chain, or the ambiguous list; "" = none */
    uint32_t pid;              /* the single owner, else 0 */
    bool ambiguous;
};

struct osh_bypass_monitor {
    /* Immutable after start. */
    char mon_prefix[OSH_BYPASS_PREFIX_MAX + 1];
    char *mon_source; /* the log path, for OCSF metadata.log_source */
    struct osh_ring *mon_denials;
    struct osh_ring *mon_activity;
    unsigned mon_rate;
    int mon_fd;
    int mon_stop_fd;
    bool mon_records; /* a character device: one record per read() */

    /* Controlling thread only. */
    pthread_t mon_thread;
    bool mon_running;

    /* Shared. */
    _Atomic pid_t mon_entrypoint;
    atomic_bool mon_stopping;
    _Atomic uint64_t st_lines;
    _Atomic uint64_t st_matched;
    _Atomic uint64_t st_emitted;
    _Atomic uint64_t st_rate_limited;
    _Atomic uint64_t st_overwritten;

    /* Monitor thread only. */
    struct bucket mon_bucket;
    uint64_t mon_suppressed; /* since mon_window_ms */
    uint64_t mon_window_ms;  /* monotonic time of the first unreported suppression */
    size_t mon_used;         /* stream mode: bytes of an unfinished line */
    bool mon_discard;        /* stream mode: inside an over-long line */
    char mon_buf[READ_BUF];
};

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool prefix_ok(const char *p);
static uint64_t mono_ms(void);
static void stat_inc(_Atomic uint64_t *c);
static void bucket_init(struct bucket *b, unsigned rate, uint64_t now);
static bool bucket_take(struct bucket *b, uint64_t now);
static void *monitor_main(void *arg);
static enum drain_result drain(struct osh_bypass_monitor *m);
static void feed_stream(struct osh_bypass_monitor *m, size_t n);
static void handle_line(struct osh_bypass_monitor *m, const char *line, size_t len);
static void summary_tick(struct osh_bypass_monitor *m, uint64_t now, bool force);
static int poll_timeout(const struct osh_bypass_monitor *m, bool follow);
static void emit(struct osh_bypass_monitor *m, const struct bypass_hit *hit);
static void log_net(const struct osh_bypass_monitor *m, const struct osh_denial_event *d,
                    const struct bypass_hit *hit, const struct ident *id);
static void log_finding(const struct osh_bypass_monitor *m, const struct osh_denial_event *d,
                        const struct bypass_hit *hit, const struct ident *id);
static void resolve_identity(const struct osh_bypass_monitor *m, const struct bypass_hit *hit,
                             struct ident *id);
static void ident_unknown(struct ident *id);
static bool find_inode(pid_t ep, uint16_t sport, uint64_t *inode);
static size_t find_owners(pid_t ep, uint64_t inode, pid_t *owners, size_t max);
static bool holds_socket(pid_t pid, const char *target, size_t tlen);
static void add_children(pid_t pid, pid_t *tree, size_t *n, size_t max);
static bool pid_in(const pid_t *v, size_t n, pid_t pid);
static bool parse_pid(const char *s, pid_t *out);
static ssize_t read_small(const char *path, char *buf, size_t len);
static bool read_exe(pid_t pid, char *buf, size_t len);
static bool read_ppid(pid_t pid, pid_t *ppid);
static bool describe(pid_t pid, pid_t ep, char *bin, size_t binlen, char *chain, size_t chainlen);
static void describe_owners(pid_t ep, const pid_t *owners, size_t n, struct ident *id);
static bool append(char *buf, size_t len, size_t *pos, const char *s);
static int cmp_pid(const void *a, const void *b);

/* ---- small helpers -------------------------------------------------------- */

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(err, errlen, fmt, ap); /* a cut message is still a message */
    va_end(ap);
}

/* 1..OSH_BYPASS_PREFIX_MAX visible ASCII bytes: it is matched against log
 * text and must not be empty (an empty prefix would match every line). */
static bool
prefix_ok(const char *p)
{
    size_t n;

    if (p == NULL)
        return false;
    n = strnlen(p, OSH_BYPASS_PREFIX_MAX + 1);
    if (n == 0 || n > OSH_BYPASS_PREFIX_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
            return false;
    return true;
}

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Release: a reader that sees the new count (acquire load in get_stats) also
 * sees the ring pushes made before it. */
static void
stat_inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_release);
}

static void
bucket_init(struct bucket *b, unsigned rate, uint64_t now)
{
    b->rate = rate;
    b->cap_milli = 2u * (uint64_t)rate * 1000u;
    b->milli = b->cap_milli; /* start full: the first burst is allowed */
    b->last_ms = now;
}

static bool
bucket_take(struct bucket *b, uint64_t now)
{
    if (now > b->last_ms) {
        uint64_t dt = now - b->last_ms;

        /* Past 2 s the bucket is full anyway; clamping first keeps
         * dt * rate far from overflow. */
        if (dt >= 2000u || b->cap_milli - b->milli <= dt * b->rate)
            b->milli = b->cap_milli;
        else
            b->milli += dt * b->rate;
        b->last_ms = now;
    }
    if (b->milli < 1000u)
        return false;
    b->milli -= 1000u;
    return true;
}

/* ---- the thread ----------------------------------------------------------- */

static void *
monitor_main(void *arg)
{
    struct osh_bypass_monitor *m = arg;
    bool follow = false; /* stream at EOF: only the stop fd is polled */
    char eb[128];

    for (;;) {
        struct pollfd pfd[2] = {
            {.fd = m->mon_stop_fd, .events = POLLIN},
            {.fd = m->mon_fd, .events = POLLIN},
        };
        int n = poll(pfd, follow ? 1 : 2, poll_timeout(m, follow));

        if (n < 0) {
            if (errno == EINTR)
                continue;
            osh_logf(OSH_LOG_ERROR, "bypass", "bypass monitor: poll: %s; monitor stopped",
                     strerror_r(errno, eb, sizeof(eb)));
            break;
        }
        if (pfd[0].revents != 0 || atomic_load_explicit(&m->mon_stopping, memory_order_acquire))
            break;
        if (follow || pfd[1].revents != 0) {
            enum drain_result r = drain(m);

            if (r == DRAIN_STOP || r == DRAIN_FATAL)
                break;
            follow = r == DRAIN_EOF;
        }
        summary_tick(m, mono_ms(), false);
    }
    summary_tick(m, mono_ms(), true); /* the last window's count is not lost */
    return NULL;
}

/* Until the summary window closes (if one is open), at most FOLLOW_MS when
 * following a stream at EOF, else forever. */
static int
poll_timeout(const struct osh_bypass_monitor *m, bool follow)
{
    int t = follow ? FOLLOW_MS : -1;

    if (m->mon_suppressed > 0) {
        uint64_t age = mono_ms() - m->mon_window_ms;
        int left = age >= SUMMARY_MS ? 0 : (int)(SUMMARY_MS - age);

        if (t < 0 || left < t)
            t = left;
    }
    return t;
}

static enum drain_result
drain(struct osh_bypass_monitor *m)
{
    unsigned einval = 0;
    char eb[128];

    for (;;) {
        ssize_t n;

        /* Acquire: pairs with the release store in osh_bypass_monitor_stop(). */
        if (atomic_load_explicit(&m->mon_stopping, memory_order_acquire))
            return DRAIN_STOP;
        if (m->mon_records)
            n = read(m->mon_fd, m->mon_buf, sizeof(m->mon_buf));
        else
            n = read(m->mon_fd, &m->mon_buf[m->mon_used], sizeof(m->mon_buf) - m->mon_used);
        if (n < 0) {
            int e = errno;

            if (e == EINTR)
                continue;
            if (e == EAGAIN)
                return DRAIN_AGAIN;
            if (e == EPIPE) { /* records overwritten before we read them */
                stat_inc(&m->st_overwritten);
                continue;
            }
            /* EINVAL: a record larger than our buffer; the kernel has moved
             * past it.  Bounded so that a persistent EINVAL cannot spin. */
            if (e == EINVAL && m->mon_records && ++einval < EINVAL_MAX)
                continue;
            osh_logf(OSH_LOG_ERROR, "bypass", "bypass monitor: read %s: %s; monitor stopped",
                     m->mon_source, strerror_r(e, eb, sizeof(eb)));
            return DRAIN_FATAL;
        }
        einval = 0;
        if (n == 0)
            return DRAIN_EOF;
        if (m->mon_records)
            handle_line(m, m->mon_buf, (size_t)n); /* the parser stops at '\n' */
        else
            feed_stream(m, (size_t)n);
    }
}

/*
 * Stream mode: n new bytes at mon_buf[mon_used].  Complete lines are handled
 * and the unfinished tail moves to the front.  A line that fills the whole
 * buffer is dropped up to its '\n' (a real kmsg record is shorter).
 */
static void
feed_stream(struct osh_bypass_monitor *m, size_t n)
{
    size_t end = m->mon_used + n, start = 0;

    for (size_t i = m->mon_used; i < end; i++) {
        if (m->mon_buf[i] != '\n')
            continue;
        if (m->mon_discard)
            m->mon_discard = false;
        else
            handle_line(m, &m->mon_buf[start], i - start);
        start = i + 1;
    }
    memmove(m->mon_buf, &m->mon_buf[start], end - start);
    m->mon_used = end - start;
    if (m->mon_used == sizeof(m->mon_buf)) {
        if (!m->mon_discard)
            stat_inc(&m->st_lines); /* counted once, never parsed */
        m->mon_discard = true;
        m->mon_used = 0;
    }
}

static void
handle_line(struct osh_bypass_monitor *m, const char *line, size_t len)
{
    struct bypass_hit hit;
    uint64_t now = mono_ms();

    stat_inc(&m->st_lines);
    if (bypass_parse_line(line, len, m->mon_prefix, &hit) == 1) {
        stat_inc(&m->st_matched);
        if (bucket_take(&m->mon_bucket, now)) {
            emit(m, &hit);
            stat_inc(&m->st_emitted); /* after the pushes: see stat_inc() */
        } else {
            stat_inc(&m->st_rate_limited);
            if (m->mon_suppressed++ == 0)
                m->mon_window_ms = now; /* opens a summary window */
        }
    }
    summary_tick(m, now, false);
}

/* One line per window of SUMMARY_MS that saw suppressions, logged when the
 * window closes (or, with force, at exit). */
static void
summary_tick(struct osh_bypass_monitor *m, uint64_t now, bool force)
{
    if (m->mon_suppressed == 0 || (!force && now - m->mon_window_ms < SUMMARY_MS))
        return;
    osh_logf(OSH_LOG_WARN, "bypass",
             "bypass monitor: %" PRIu64 " detections over the limit of %u/s not reported "
             "in the last %" PRIu64 " ms (the fence still rejected them)",
             m->mon_suppressed, m->mon_rate, now - m->mon_window_ms);
    m->mon_suppressed = 0;
}

/* ---- emission (process.md §5.4) ------------------------------------------- */

static void
emit(struct osh_bypass_monitor *m, const struct bypass_hit *hit)
{
    struct ident id;
    struct osh_denial_event d;
    struct osh_activity_event a;
    const char *chain[1] = {NULL};
    size_t nchain = 0;

    resolve_identity(m, hit, &id);
    /* The ambiguous owner list is not a chain: the event gets no ancestors
     * (the Finding's evidence carries the list). */
    if (!id.ambiguous && id.ancestors[0] != '\0') {
        chain[0] = id.ancestors;
        nchain = 1;
    }
    if (osh_denial_event_init(&d, OSH_STAGE_BYPASS, hit->dst, hit->dport, id.binary, chain, nchain,
                              deny_reason) != 0)
        return; /* NOTREACHED: every argument is valid */
    d.pid = id.pid;
    if (m->mon_denials != NULL)
        (void)osh_ring_push_mpsc(m->mon_denials, &d); /* full: counted by the ring */

    a = (struct osh_activity_event){
        .time_ms = d.time_ms,
        .denied = true,
        .group = OSH_DENY_GROUP_BYPASS,
    };
    if (m->mon_activity != NULL)
        (void)osh_ring_push_mpsc(m->mon_activity, &a);

    log_net(m, &d, hit, &id);
    log_finding(m, &d, hit, &id);
}

/* NET:REFUSE [MED] DENIED <binary>(<pid>) -> <dst>:<port>/<proto>
 * [policy:bypass-detect engine:nftables] [reason:...] */
static void
log_net(const struct osh_bypass_monitor *m, const struct osh_denial_event *d,
        const struct bypass_hit *hit, const struct ident *id)
{
    struct osh_ocsf_event ev;
    char msg[PATH_MAX + 256], line[LINE_MAX_OCSF];

    if (osh_ocsf_from_denial(d, &ev) != 0)
        return;
    if (snprintf(msg, sizeof(msg), "BYPASS_DETECT %s:%u proto=%s binary=%s action=reject reason=%s",
                 hit->dst, (unsigned)hit->dport, hit->proto, id->binary, deny_reason) < 0)
        return;
    ev.message = msg;
    ev.protocol = hit->proto;
    ev.log_source = m->mon_source;
    /* -ENOSPC still leaves a usable, cut line. */
    if (osh_ocsf_shorthand(&ev, line, sizeof(line)) != -EINVAL)
        osh_log_line("OCSF", line);
}

/* FINDING:BLOCKED [MED] "Proxy Bypass Detected" [confidence:high] */
static void
log_finding(const struct osh_bypass_monitor *m, const struct osh_denial_event *d,
            const struct bypass_hit *hit, const struct ident *id)
{
    const char *hint = bypass_hint(hit->proto, hit->dport);
    char port[8], msg[PATH_MAX + 256], line[LINE_MAX_OCSF];
    const struct osh_ocsf_kv evidence[] = {
        {"dst_addr", hit->dst},       {"dst_port", port},
        {"proto", hit->proto},        {"binary", id->binary},
        {"binary_pid", id->pid_text}, {"ancestors", id->ancestors[0] != '\0' ? id->ancestors : "-"},
    };
    struct osh_ocsf_event ev = {
        .class_uid = OSH_OCSF_CLASS_FINDING,
        .activity_id = OSH_OCSF_FINDING_CREATE, /* the reference's "Open" (id 1) */
        .severity_id = OSH_OCSF_SEV_MEDIUM,
        .time_ms = d->time_ms,
        .has_action = true,
        .action_id = OSH_OCSF_ACTION_DENIED,
        .has_disposition = true,
        .disposition_id = OSH_OCSF_DISP_BLOCKED,
        .message = msg,
        .log_source = m->mon_source,
        .finding =
            {
                .uid = "bypass-detect",
                .title = "Proxy Bypass Detected",
                .desc = deny_reason,
                .remediation = hint,
                .is_alert = true,
                .has_confidence = true,
                .confidence_id = OSH_OCSF_CONFIDENCE_HIGH,
                .evidences = evidence,
                .n_evidences = sizeof(evidence) / sizeof(evidence[0]),
            },
    };

    (void)snprintf(port, sizeof(port), "%u", (unsigned)hit->dport);
    if (snprintf(msg, sizeof(msg), "BYPASS_DETECT %s:%u proto=%s binary=%s hint=%s", hit->dst,
                 (unsigned)hit->dport, hit->proto, id->binary, hint) < 0)
        return;
    if (osh_ocsf_shorthand(&ev, line, sizeof(line)) != -EINVAL)
        osh_log_line("OCSF", line);
}

/* ---- identity (process.md §5.3), best effort and bounded ------------------- */

static void
ident_unknown(struct ident *id)
{
    memset(id, 0, sizeof(*id));
    memcpy(id->binary, "-", 2);
    memcpy(id->pid_text, "-", 2);
}

static void
resolve_identity(const struct osh_bypass_monitor *m, const struct bypass_hit *hit, struct ident *id)
{
    /* Acquire: pairs with the release store of set_entrypoint(). */
    pid_t ep = atomic_load_explicit(&m->mon_entrypoint, memory_order_acquire);
    pid_t owners[OWNERS_MAX];
    uint64_t inode;
    size_t n;

    ident_unknown(id);
    if (strcmp(hit->proto, "tcp") != 0 || hit->sport == 0 || ep <= 0)
        return;
    if (!find_inode(ep, hit->sport, &inode))
        return;
    n = find_owners(ep, inode, owners, OWNERS_MAX);
    if (n == 0)
        return;
    qsort(owners, n, sizeof(owners[0]), cmp_pid);
    describe_owners(ep, owners, n, id);
}

/*
 * The inode of the entrypoint netns's TCP socket bound to local port `sport`
 * in state ESTABLISHED or SYN_SENT (the rejected SYN's socket is in
 * SYN_SENT: the improvement process.md §5.3 allows).  tcp first, then tcp6.
 */
static bool
find_inode(pid_t ep, uint16_t sport, uint64_t *inode)
{
    static const char *const tables[] = {"tcp", "tcp6"};
    char path[64], row[512];

    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        struct bypass_tcp_row r;
        bool found = false;
        FILE *f;

        (void)snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)ep, tables[t]);
        f = fopen(path, "re");
        if (f == NULL)
            continue;
        for (unsigned rows = 0; rows < TCP_ROWS_MAX && fgets(row, sizeof(row), f) != NULL; rows++) {
            if (bypass_parse_tcp_row(row, strnlen(row, sizeof(row)), &r) != 1)
                continue; /* the header, or a malformed row */
            if (r.local_port == sport && r.inode != 0 &&
                (r.state == BYPASS_TCP_ESTABLISHED || r.state == BYPASS_TCP_SYN_SENT)) {
                *inode = r.inode;
                found = true;
                break;
            }
        }
        fclose(f);
        if (found)
            return true;
    }
    return false;
}

/*
 * Pids holding socket:[inode]: the entrypoint's tree breadth-first (at most
 * TREE_MAX processes), then, only if nobody there holds it, the other /proc
 * entries in readdir (ascending) order, at most SCAN_MAX of them.  The
 * second phase finds sockets of processes outside the tree (SSH sessions).
 */
static size_t
find_owners(pid_t ep, uint64_t inode, pid_t *owners, size_t max)
{
    pid_t tree[TREE_MAX];
    char target[64];
    size_t ntree = 0, n = 0, scanned = 0, tlen;
    struct dirent *e;
    DIR *proc = NULL;
    int w;

    w = snprintf(target, sizeof(target), "socket:[%" PRIu64 "]", inode);
    if (w < 0 || (size_t)w >= sizeof(target))
        return 0;
    tlen = (size_t)w;

    tree[ntree++] = ep;
    for (size_t head = 0; head < ntree; head++) {
        if (n < max && holds_socket(tree[head], target, tlen))
            owners[n++] = tree[head];
        add_children(tree[head], tree, &ntree, TREE_MAX);
    }
    if (n > 0)
        return n;

    proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    while (n < max && scanned < SCAN_MAX && (e = readdir(proc)) != NULL) {
        pid_t pid;

        if (!parse_pid(e->d_name, &pid) || pid_in(tree, ntree, pid))
            continue;
        scanned++;
        if (holds_socket(pid, target, tlen))
            owners[n++] = pid;
    }
    closedir(proc);
    return n;
}

/* Whether any /proc/<pid>/fd/<n> links to target (at most FDS_MAX fds). */
static bool
holds_socket(pid_t pid, const char *target, size_t tlen)
{
    char path[64], link[64];
    struct dirent *e;
    bool found = false;
    unsigned seen = 0;
    DIR *d;

    (void)snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return false; /* gone, or not ours to read */
    while (!found && seen < FDS_MAX && (e = readdir(d)) != NULL) {
        ssize_t n;

        if (e->d_name[0] == '.')
            continue;
        seen++;
        n = readlinkat(dirfd(d), e->d_name, link, sizeof(link));
        found = n > 0 && (size_t)n == tlen && memcmp(link, target, tlen) == 0;
    }
    closedir(d);
    return found;
}

/*
 * Appends the children of every thread of pid (/proc/<pid>/task/<tid>/children:
 * a child is listed under the thread that forked it) to the BFS queue.
 */
static void
add_children(pid_t pid, pid_t *tree, size_t *n, size_t max)
{
    char path[96], buf[4096];
    struct dirent *e;
    DIR *task;

    (void)snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    task = opendir(path);
    if (task == NULL)
        return;
    while (*n < max && (e = readdir(task)) != NULL) {
        pid_t tid, child;
        ssize_t len;
        size_t i = 0;

        if (!parse_pid(e->d_name, &tid))
            continue;
        (void)snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)tid);
        len = read_small(path, buf, sizeof(buf));
        if (len <= 0)
            continue;
        /* A full buffer may end inside a pid: drop that last token. */
        if ((size_t)len == sizeof(buf) - 1)
            while (len > 0 && buf[len - 1] != ' ')
                buf[--len] = '\0';
        while (i < (size_t)len && *n < max) {
            char num[16];
            size_t k = 0;

            while (i < (size_t)len && buf[i] == ' ')
                i++;
            while (i < (size_t)len && buf[i] != ' ' && buf[i] != '\n' && k < sizeof(num) - 1)
                num[k++] = buf[i++];
            while (i < (size_t)len && buf[i] != ' ')
                i++; /* the rest of an over-long token, or the '\n' */
            num[k] = '\0';
            if (k > 0 && parse_pid(num, &child) && !pid_in(tree, *n, child))
                tree[(*n)++] = child;
        }
    }
    closedir(task);
}

static bool
pid_in(const pid_t *v, size_t n, pid_t pid)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == pid)
            return true;
    return false;
}

/* A decimal pid in 1..INT_MAX, digits only. */
static bool
parse_pid(const char *s, pid_t *out)
{
    long v = 0;

    if (s[0] == '\0')
        return false;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (INT_MAX - (s[i] - '0')) / 10)
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0)
        return false;
    *out = (pid_t)v;
    return true;
}

/* Reads at most len - 1 bytes of a small /proc file, NUL-terminated.
 * Returns the length, or -1. */
static ssize_t
read_small(const char *path, char *buf, size_t len)
{
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    while (got < len - 1) {
        ssize_t n = read(fd, &buf[got], len - 1 - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return (ssize_t)got;
}

/* readlink(/proc/<pid>/exe), without a " (deleted)" suffix when the raw
 * target does not exist (process.md §5.3). */
static bool
read_exe(pid_t pid, char *buf, size_t len)
{
    static const char deleted[] = " (deleted)";
    const size_t dlen = sizeof(deleted) - 1;
    char path[64];
    ssize_t n;

    (void)snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, buf, len - 1);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    if ((size_t)n > dlen && memcmp(&buf[(size_t)n - dlen], deleted, dlen) == 0 &&
        access(buf, F_OK) != 0)
        buf[(size_t)n - dlen] = '\0';
    return true;
}

static bool
read_ppid(pid_t pid, pid_t *ppid)
{
    char path[64], buf[2048], num[16];
    const char *p;
    ssize_t n;
    size_t k = 0;

    (void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    n = read_small(path, buf, sizeof(buf));
    if (n <= 0)
        return false;
    p = memmem(buf, (size_t)n, "\nPPid:", 6);
    if (p == NULL)
        return false;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    while (*p >= '0' && *p <= '9' && k < sizeof(num) - 1)
        num[k++] = *p++;
    num[k] = '\0';
    if (k == 1 && num[0] == '0') {
        *ppid = 0; /* the top of this pid namespace */
        return true;
    }
    return parse_pid(num, ppid);
}

/* Appends s, " -> "-separated, or fails without a partial write. */
static bool
append(char *buf, size_t len, size_t *pos, const char *s)
{
    size_t slen = strlen(s), sep = *pos > 0 ? sizeof(OSH_ANCESTOR_SEP) - 1 : 0;

    if (*pos + sep + slen >= len)
        return false;
    memcpy(&buf[*pos], OSH_ANCESTOR_SEP, sep);
    memcpy(&buf[*pos + sep], s, slen + 1);
    *pos += sep + slen;
    return true;
}

/*
 * The binary of pid and its ancestor chain: each parent's exe, nearest first,
 * walking PPid for at most ANCESTOR_STEPS hops and stopping after the
 * entrypoint or pid 1.  A parent whose exe cannot be read is left out; a
 * chain that does not fit stops at the last whole entry.  False when pid's
 * own exe cannot be read.
 */
static bool
describe(pid_t pid, pid_t ep, char *bin, size_t binlen, char *chain, size_t chainlen)
{
    char exe[PATH_MAX];
    size_t pos = 0;
    pid_t cur = pid, pp;

    if (!read_exe(pid, bin, binlen))
        return false;
    chain[0] = '\0';
    for (int step = 0; step < ANCESTOR_STEPS; step++) {
        if (!read_ppid(cur, &pp) || pp <= 0)
            break;
        if (read_exe(pp, exe, sizeof(exe)) && !append(chain, chainlen, &pos, exe))
            break;
        if (pp == ep || pp == 1)
            break;
        cur = pp;
    }
    return true;
}

/*
 * process.md §5.3 step 4 over sorted owners: all the same (binary, chain) ->
 * that, with the lowest pid; otherwise "ambiguous" with the pid list and
 * "pid=<p> binary=<b> ancestors=[<chain>|-]; ..." as the chain.
 */
static void
describe_owners(pid_t ep, const pid_t *owners, size_t n, struct ident *id)
{
    char bin[PATH_MAX], chain[CHAIN_MAX], first_bin[PATH_MAX], first_chain[CHAIN_MAX];
    char detail[CHAIN_MAX], pids[sizeof(id->pid_text)];
    size_t good = 0, dpos = 0, ppos = 0;
    pid_t first = 0;
    bool same = true;

    detail[0] = '\0';
    pids[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w;

        if (!describe(owners[i], ep, bin, sizeof(bin), chain, sizeof(chain)))
            continue; /* its exe is unreadable: skipped */
        if (good == 0) {
            first = owners[i];
            memcpy(first_bin, bin, sizeof(bin));
            memcpy(first_chain, chain, sizeof(chain));
        } else if (strcmp(bin, first_bin) != 0 || strcmp(chain, first_chain) != 0) {
            same = false;
        }
        /* Both lists are cut, not failed, when they do not fit. */
        w = snprintf(&pids[ppos], sizeof(pids) - ppos, "%s%d", good > 0 ? ", " : "",
                     (int)owners[i]);
        if (w > 0)
            ppos = (size_t)w < sizeof(pids) - ppos ? ppos + (size_t)w : sizeof(pids) - 1;
        w = snprintf(&detail[dpos], sizeof(detail) - dpos, "%spid=%d binary=%s ancestors=[%s]",
                     good > 0 ? "; " : "", (int)owners[i], bin, chain[0] != '\0' ? chain : "-");
        if (w > 0)
            dpos = (size_t)w < sizeof(detail) - dpos ? dpos + (size_t)w : sizeof(detail) - 1;
        good++;
    }
    if (good == 0)
        return; /* id stays unknown */
    if (same) {
        memcpy(id->binary, first_bin, sizeof(id->binary));
        memcpy(id->ancestors, first_chain, sizeof(id->ancestors));
        (void)snprintf(id->pid_text, sizeof(id->pid_text), "%d", (int)first);
        id->pid = (uint32_t)first;
        return;
    }
    memcpy(id->binary, "ambiguous", sizeof("ambiguous"));
    memcpy(id->pid_text, pids, sizeof(id->pid_text));
    memcpy(id->ancestors, detail, sizeof(id->ancestors));
    id->pid = 0;
    id->ambiguous = true;
}

static int
cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

    return (x > y) - (x < y);
}

/* ---- public ----------------------------------------------------------------- */

struct osh_bypass_monitor *
osh_bypass_monitor_start(const struct osh_bypass_config *cfg, char *err, size_t errlen)
{
    struct osh_bypass_monitor *m = NULL;
    const char *path;
    sigset_t all, old;
    struct stat st;
    char eb[128];
    int rc, saved;

    seterr(err, errlen, "%s", "");
    if (cfg == NULL || !prefix_ok(cfg->log_prefix)) {
        errno = EINVAL;
        seterr(err, errlen, "bypass monitor: log_prefix must be 1..%d visible ASCII bytes",
               OSH_BYPASS_PREFIX_MAX);
        return NULL;
    }
    path = cfg->kmsg_path != NULL ? cfg->kmsg_path : KMSG_DEFAULT;

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        seterr(err, errlen, "bypass monitor: out of memory");
        return NULL;
    }
    m->mon_fd = -1;
    m->mon_stop_fd = -1;
    memcpy(m->mon_prefix, cfg->log_prefix, strlen(cfg->log_prefix) + 1); /* checked above */
    m->mon_denials = cfg->denials;
    m->mon_activity = cfg->activity;
    m->mon_rate = cfg->max_events_per_sec != 0 ? cfg->max_events_per_sec : DEFAULT_RATE;
    atomic_init(&m->mon_entrypoint, 0);
    atomic_init(&m->mon_stopping, false);
    atomic_init(&m->st_lines, 0);
    atomic_init(&m->st_matched, 0);
    atomic_init(&m->st_emitted, 0);
    atomic_init(&m->st_rate_limited, 0);
    atomic_init(&m->st_overwritten, 0);

    m->mon_source = strdup(path);
    if (m->mon_source == NULL) {
        seterr(err, errlen, "bypass monitor: out of memory");
        goto fail;
    }
    m->mon_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (m->mon_fd < 0) {
        seterr(err, errlen, "bypass monitor: cannot open %s: %s", path,
               strerror_r(errno, eb, sizeof(eb)));
        goto fail;
    }
    if (fstat(m->mon_fd, &st) != 0) {
        seterr(err, errlen, "bypass monitor: fstat %s: %s", path,
               strerror_r(errno, eb, sizeof(eb)));
        goto fail;
    }
    m->mon_records = S_ISCHR(st.st_mode);
    /* Only new records: replaying the buffer would report old bypasses
     * (cage-notes §3.1).  A FIFO cannot seek and has no past anyway. */
    if (lseek(m->mon_fd, 0, SEEK_END) < 0 && errno != ESPIPE) {
        seterr(err, errlen, "bypass monitor: seek to the end of %s: %s", path,
               strerror_r(errno, eb, sizeof(eb)));
        goto fail;
    }
    m->mon_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->mon_stop_fd < 0) {
        seterr(err, errlen, "bypass monitor: eventfd: %s", strerror_r(errno, eb, sizeof(eb)));
        goto fail;
    }
    bucket_init(&m->mon_bucket, m->mon_rate, mono_ms());

    /* The thread inherits a full signal mask: signals belong to the
     * orchestrator's signalfd, never to this thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&m->mon_thread, NULL, monitor_main, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        seterr(err, errlen, "bypass monitor: pthread_create: %s", strerror_r(rc, eb, sizeof(eb)));
        goto fail;
    }
    (void)pthread_setname_np(m->mon_thread, "osh-bypass");
    m->mon_running = true;
    return m;

fail:
    saved = errno;
    if (m->mon_stop_fd >= 0)
        close(m->mon_stop_fd);
    if (m->mon_fd >= 0)
        close(m->mon_fd);
    free(m->mon_source), m->mon_source = NULL;
    free(m), m = NULL;
    errno = saved;
    return NULL;
}

void
osh_bypass_monitor_set_entrypoint(struct osh_bypass_monitor *m, pid_t pid)
{
    if (m == NULL)
        return;
    /* Release: pairs with the acquire load in resolve_identity(). */
    atomic_store_explicit(&m->mon_entrypoint, pid > 0 ? pid : 0, memory_order_release);
}

void
osh_bypass_monitor_stop(struct osh_bypass_monitor *m)
{
    uint64_t one = 1;

    if (m == NULL || !m->mon_running)
        return;
    /* Release: pairs with the acquire loads in the thread's loop. */
    atomic_store_explicit(&m->mon_stopping, true, memory_order_release);
    /* An eventfd write only fails on counter overflow, impossible with one
     * write; EINTR is retried. */
    while (write(m->mon_stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_join(m->mon_thread, NULL);
    m->mon_running = false;
    close(m->mon_fd), m->mon_fd = -1;
    close(m->mon_stop_fd), m->mon_stop_fd = -1;
}

void
osh_bypass_monitor_get_stats(const struct osh_bypass_monitor *m, struct osh_bypass_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (m == NULL)
        return;
    /* Acquire: pairs with stat_inc()'s release (see its comment). */
    out->lines = atomic_load_explicit(&m->st_lines, memory_order_acquire);
    out->matched = atomic_load_explicit(&m->st_matched, memory_order_acquire);
    out->emitted = atomic_load_explicit(&m->st_emitted, memory_order_acquire);
    out->rate_limited = atomic_load_explicit(&m->st_rate_limited, memory_order_acquire);
    out->overwritten = atomic_load_explicit(&m->st_overwritten, memory_order_acquire);
}

void
osh_bypass_monitor_free(struct osh_bypass_monitor *m)
{
    if (m == NULL)
        return;
    osh_bypass_monitor_stop(m);
    free(m->mon_source), m->mon_source = NULL;
    free(m);
}
