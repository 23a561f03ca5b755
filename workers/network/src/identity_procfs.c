/*
 * identity_procfs.c - the /proc reads behind osh_identity_resolve(): who
 * holds socket:[inode], what a process runs, its parent and its cmdline.
 *
 * DESIGN
 * Every path is opened relative to the caller's /proc dirfd with openat /
 * readlinkat, so no string ever names a file outside /proc, and every fd is
 * O_CLOEXEC.  Processes come and go while we read: ENOENT and ESRCH mean
 * "gone" and are a normal outcome, never an error of the whole lookup.
 *
 * The owner search follows identity-notes.md §5: the sandbox's process tree
 * first (BFS over /proc/PID/task/TID/children, every thread's file, since a
 * child is listed under the thread that forked it), then processes whose
 * /proc/PID is owned by the socket's uid (a stat: 10x cheaper than
 * /proc/PID/status), then everything else.  Within a phase all owners are
 * collected, which keeps network.md §2.6 (shared sockets must agree) for
 * holders in the same phase; a later phase runs only when the earlier ones
 * found nobody.  The cost is dominated by one readlink per fd (≈4 µs).
 *
 * Reentrant: all state is on the caller's stack or heap.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "identity.h"

#define PROC_REL_MAX 64    /* "4194304/task/4194304/children" fits */
#define PROC_STAT_MAX 1024 /* comm is at most 64 bytes; ppid is field 4 */
#define PROC_CMDLINE_MAX (64 * 1024)
#define PROC_LINK_MAX 64 /* "socket:[18446744073709551615]" is 29 */

/* Open-addressing set of pids (0 = empty slot); grows at half load. */
struct pidset {
    pid_t *slots;
    size_t cap; /* power of two or 0 */
    size_t n;
};

/* Growable FIFO of pids for the BFS. */
struct pidvec {
    pid_t *v;
    size_t n;
    size_t cap;
};

/* State of the number parser of a children file. */
struct num_stream {
    unsigned long acc;
    bool in_num;
    bool overflow;
};

struct owner_scan {
    int proc_fd;
    char target[PROC_LINK_MAX]; /* "socket:[ino]" */
    size_t tlen;
    pid_t *owners;
    size_t max;
    size_t n;
    size_t unreadable;
};

static int pidset_add(struct pidset *s, pid_t pid);
static bool pidset_has(const struct pidset *s, pid_t pid);
static void pidset_free(struct pidset *s);
static int pidvec_push(struct pidvec *q, pid_t pid);
static bool parse_uint(const char *s, char end, unsigned long max, unsigned long *out);
static bool parse_pid(const char *s, pid_t *out);
static size_t pid_slot(pid_t pid, size_t cap);
static int cmp_pid(const void *a, const void *b);
static bool holds_socket(struct owner_scan *s, pid_t pid);
static int check_pid(struct owner_scan *s, pid_t pid);
static int read_children(int proc_fd, pid_t pid, struct pidset *seen, struct pidvec *queue);
static int read_children_file(int fd, struct pidset *seen, struct pidvec *queue);
static int emit_child(struct num_stream *ns, struct pidset *seen, struct pidvec *queue);
static int tree_scan(struct owner_scan *s, pid_t root, struct pidset *seen, size_t *n_scanned);
static int proc_scan(struct owner_scan *s, struct pidset *seen, bool by_uid, uid_t uid,
                     size_t *n_scanned);
static ssize_t read_at(int dirfd, const char *rel, char *buf, size_t cap);

int
osh_identity_procfs_owners(int proc_fd, unsigned long ino, pid_t entrypoint, uid_t uid,
                           const pid_t *hints, size_t n_hints, pid_t *owners, size_t max,
                           size_t *n_owners, size_t *n_tree, size_t *n_other,
                           size_t *n_unreadable)
{
    struct pidset seen = {0};
    struct owner_scan s;
    int rc = 0, len;

    *n_owners = 0;
    *n_tree = 0;
    *n_other = 0;
    *n_unreadable = 0;
    memset(&s, 0, sizeof(s));
    s.proc_fd = proc_fd;
    s.owners = owners;
    s.max = max;
    len = snprintf(s.target, sizeof(s.target), "socket:[%lu]", ino);
    if (len < 0 || (size_t)len >= sizeof(s.target)) {
        rc = -EINVAL;
        goto out;
    }
    s.tlen = (size_t)len;

    if (entrypoint > 0) {
        rc = tree_scan(&s, entrypoint, &seen, n_tree);
        if (rc != 0)
            goto out;
    }
    /* Recent owners next: a client that opened one connection usually
     * opens the next.  A hint that holds the socket is scanned with its
     * descendants (forked children share sockets); the scans of every
     * other process are skipped then.  That only narrows who is compared
     * for agreement, and a socket can be passed on after any scan anyway. */
    for (size_t i = 0; s.n == 0 && i < n_hints; i++) {
        if (hints[i] <= 0 || pidset_has(&seen, hints[i]) || !holds_socket(&s, hints[i]))
            continue;
        rc = tree_scan(&s, hints[i], &seen, n_tree);
        if (rc != 0)
            goto out;
    }
    /* The uid is a heuristic: an inherited or passed fd can sit in a process
     * of another uid, hence the last, unfiltered pass. */
    if (s.n == 0) {
        rc = proc_scan(&s, &seen, true, uid, n_other);
        if (rc != 0)
            goto out;
    }
    if (s.n == 0)
        rc = proc_scan(&s, &seen, false, 0, n_other);

out:
    qsort(owners, s.n, sizeof(owners[0]), cmp_pid);
    *n_owners = s.n;
    *n_unreadable = s.unreadable;
    pidset_free(&seen);
    return rc;
}

int
osh_identity_procfs_open_exe(int proc_fd, pid_t pid)
{
    char rel[PROC_REL_MAX];
    int fd;

    (void)snprintf(rel, sizeof(rel), "%d/exe", (int)pid); /* cannot truncate */
    fd = openat(proc_fd, rel, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    return fd < 0 ? -errno : fd;
}

int
osh_identity_procfs_fd_path(int proc_fd, int exe_fd, char *out, size_t outlen)
{
    static const char deleted[] = " (deleted)";
    const size_t dlen = sizeof(deleted) - 1;
    char rel[PROC_REL_MAX];
    struct stat st;
    ssize_t n;

    if (outlen < 2)
        return -EINVAL;
    (void)snprintf(rel, sizeof(rel), "thread-self/fd/%d", exe_fd);
    n = readlinkat(proc_fd, rel, out, outlen);
    if (n < 0)
        return -errno;
    if ((size_t)n >= outlen)
        return -ENAMETOOLONG;
    if (n == 0)
        return -ENOENT;
    out[n] = '\0';
    /* network.md §2.4 item 1: strip exactly one suffix, and only when no
     * file of the unstripped name exists (a file may really be called so). */
    if ((size_t)n > dlen && memcmp(&out[(size_t)n - dlen], deleted, dlen) == 0 &&
        stat(out, &st) != 0 && errno == ENOENT)
        out[(size_t)n - dlen] = '\0';
    return 0;
}

int
osh_identity_procfs_ppid(int proc_fd, pid_t pid, pid_t *ppid)
{
    char rel[PROC_REL_MAX];
    char buf[PROC_STAT_MAX];
    const char *p;
    unsigned long v;
    ssize_t n;

    (void)snprintf(rel, sizeof(rel), "%d/stat", (int)pid);
    n = read_at(proc_fd, rel, buf, sizeof(buf) - 1);
    if (n < 0)
        return (int)n;
    buf[n] = '\0';
    /* "PID (comm) S PPID ...": comm may hold ')' and spaces, the rest never
     * holds ')', so the last ')' ends comm. */
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ')
        return -EBADMSG;
    if (!parse_uint(&p[4], ' ', INT_MAX, &v))
        return -EBADMSG;
    *ppid = (pid_t)v; /* 0: the parent is outside our pid namespace, or none */
    return 0;
}

int
osh_identity_procfs_cmdline(int proc_fd, pid_t pid, char **bufp, size_t *lenp)
{
    char rel[PROC_REL_MAX];
    char *buf = NULL;
    ssize_t n;
    size_t len;
    int rc;

    *bufp = NULL;
    *lenp = 0;
    buf = malloc(PROC_CMDLINE_MAX);
    if (buf == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    (void)snprintf(rel, sizeof(rel), "%d/cmdline", (int)pid);
    n = read_at(proc_fd, rel, buf, PROC_CMDLINE_MAX);
    if (n < 0) {
        rc = (int)n;
        goto fail;
    }
    len = (size_t)n;
    if (len == PROC_CMDLINE_MAX) {
        /* possibly cut inside an argument: keep only complete ones */
        while (len > 0 && buf[len - 1] != '\0')
            len--;
    }
    *bufp = buf;
    *lenp = len;
    return 0;

fail:
    free(buf); buf = NULL;
    return rc;
}

/* ---- owner search ----------------------------------------------------------- */

/* EACCES/EPERM on the fd directory is counted (missing CAP_SYS_PTRACE);
 * every other failure means the process is gone. */
static bool
holds_socket(struct owner_scan *s, pid_t pid)
{
    char rel[PROC_REL_MAX];
    char link[PROC_LINK_MAX];
    struct dirent *de;
    bool found = false;
    DIR *d = NULL;
    ssize_t n;
    int dfd;

    (void)snprintf(rel, sizeof(rel), "%d/fd", (int)pid);
    dfd = openat(s->proc_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        if (errno == EACCES || errno == EPERM)
            s->unreadable++;
        return false;
    }
    d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return false;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        n = readlinkat(dirfd(d), de->d_name, link, sizeof(link));
        if (n == (ssize_t)s->tlen && memcmp(link, s->target, s->tlen) == 0) {
            found = true;
            break;
        }
    }
    closedir(d); d = NULL;
    return found;
}

static int
check_pid(struct owner_scan *s, pid_t pid)
{
    if (!holds_socket(s, pid))
        return 0;
    if (s->n == s->max)
        return -E2BIG;
    s->owners[s->n++] = pid;
    return 0;
}

static int
tree_scan(struct owner_scan *s, pid_t root, struct pidset *seen, size_t *n_scanned)
{
    struct pidvec queue = {0};
    size_t head = 0;
    int rc;

    rc = pidset_add(seen, root);
    if (rc < 0)
        goto out;
    rc = pidvec_push(&queue, root);
    if (rc != 0)
        goto out;
    while (head < queue.n) {
        pid_t pid = queue.v[head++];

        (*n_scanned)++;
        rc = check_pid(s, pid);
        if (rc != 0)
            goto out;
        rc = read_children(s->proc_fd, pid, seen, &queue);
        if (rc != 0)
            goto out;
    }
    rc = 0;

out:
    free(queue.v); queue.v = NULL;
    return rc;
}

/* Enqueues the unseen children listed by every task of pid. */
static int
read_children(int proc_fd, pid_t pid, struct pidset *seen, struct pidvec *queue)
{
    char rel[PROC_REL_MAX];
    struct dirent *de;
    DIR *d = NULL;
    pid_t tid;
    int tfd, cfd, rc = 0;

    (void)snprintf(rel, sizeof(rel), "%d/task", (int)pid);
    tfd = openat(proc_fd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0)
        return 0; /* gone */
    d = fdopendir(tfd);
    if (d == NULL) {
        close(tfd);
        return 0;
    }
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (!parse_pid(de->d_name, &tid))
            continue;
        (void)snprintf(rel, sizeof(rel), "%d/children", (int)tid);
        cfd = openat(dirfd(d), rel, O_RDONLY | O_CLOEXEC);
        if (cfd < 0)
            continue; /* thread exited */
        rc = read_children_file(cfd, seen, queue);
        close(cfd);
    }
    closedir(d); d = NULL;
    return rc;
}

/* The file is "PID PID ... " of any length: parse it as a stream so that a
 * number split across two reads is still read whole. */
static int
read_children_file(int fd, struct pidset *seen, struct pidvec *queue)
{
    struct num_stream ns = {0};
    char buf[4096];
    ssize_t n;
    int rc;

    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EOF, or the task exited: keep what was read */
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] >= '0' && buf[i] <= '9') {
                ns.acc = ns.acc * 10 + (unsigned long)(buf[i] - '0');
                ns.overflow = ns.overflow || ns.acc > INT_MAX;
                ns.in_num = true;
                continue;
            }
            rc = emit_child(&ns, seen, queue);
            if (rc != 0)
                return rc;
        }
    }
    return emit_child(&ns, seen, queue);
}

/* Ends the current number of the stream, enqueueing it if it is a new pid. */
static int
emit_child(struct num_stream *ns, struct pidset *seen, struct pidvec *queue)
{
    int rc = 0;

    if (ns->in_num && !ns->overflow && ns->acc > 0) {
        rc = pidset_add(seen, (pid_t)ns->acc);
        if (rc == 1)
            rc = pidvec_push(queue, (pid_t)ns->acc);
    }
    ns->acc = 0;
    ns->in_num = false;
    ns->overflow = false;
    return rc < 0 ? rc : 0;
}

static int
proc_scan(struct owner_scan *s, struct pidset *seen, bool by_uid, uid_t uid, size_t *n_scanned)
{
    struct dirent *de;
    struct stat st;
    DIR *d = NULL;
    pid_t pid;
    int dfd, rc = 0;

    dfd = openat(s->proc_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    d = fdopendir(dfd);
    if (d == NULL) {
        rc = -errno;
        close(dfd);
        return rc;
    }
    while ((de = readdir(d)) != NULL) {
        if (!parse_pid(de->d_name, &pid) || pidset_has(seen, pid))
            continue;
        /* st_uid of /proc/PID is the euid, even for non-dumpable processes */
        if (by_uid && (fstatat(s->proc_fd, de->d_name, &st, 0) != 0 || st.st_uid != uid))
            continue;
        rc = pidset_add(seen, pid);
        if (rc < 0)
            break;
        (*n_scanned)++;
        rc = check_pid(s, pid);
        if (rc != 0)
            break;
    }
    if (rc > 0)
        rc = 0;
    closedir(d); d = NULL;
    return rc;
}

/* ---- small helpers ------------------------------------------------------------ */

/* Reads up to cap bytes of a (proc) file.  Length or -errno. */
static ssize_t
read_at(int dirfd, const char *rel, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n, rc;
    int fd;

    fd = openat(dirfd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    while (len < cap) {
        n = read(fd, &buf[len], cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            close(fd);
            return rc;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    return (ssize_t)len;
}

/* Strict decimal "[0-9]+" up to max, ended by `end`: no sign, no leading
 * blanks, no hex, unlike strtoul. */
static bool
parse_uint(const char *s, char end, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    for (i = 0; s[i] >= '0' && s[i] <= '9'; i++) {
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > max)
            return false;
    }
    if (i == 0 || s[i] != end)
        return false;
    *out = v;
    return true;
}

/* A /proc directory name that is a pid: no leading zero, 1..INT_MAX. */
static bool
parse_pid(const char *s, pid_t *out)
{
    unsigned long v;

    if (s[0] == '0' || !parse_uint(s, '\0', INT_MAX, &v))
        return false;
    *out = (pid_t)v;
    return true;
}

static int
cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

    return (x > y) - (x < y);
}

static size_t
pid_slot(pid_t pid, size_t cap)
{
    /* Knuth multiplicative hash: pids are dense, this spreads them */
    return ((size_t)(uint32_t)pid * 2654435761u) & (cap - 1);
}

/* 1 added, 0 already present, -ENOMEM. */
static int
pidset_add(struct pidset *s, pid_t pid)
{
    size_t i;

    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        pid_t *ns = calloc(ncap, sizeof(ns[0]));

        if (ns == NULL)
            return -ENOMEM;
        for (size_t k = 0; k < s->cap; k++) {
            if (s->slots[k] == 0)
                continue;
            for (i = pid_slot(s->slots[k], ncap); ns[i] != 0; i = (i + 1) & (ncap - 1))
                ;
            ns[i] = s->slots[k];
        }
        free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    for (i = pid_slot(pid, s->cap); s->slots[i] != 0; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == pid)
            return 0;
    s->slots[i] = pid;
    s->n++;
    return 1;
}

static bool
pidset_has(const struct pidset *s, pid_t pid)
{
    if (s->cap == 0)
        return false;
    for (size_t i = pid_slot(pid, s->cap); s->slots[i] != 0; i = (i + 1) & (s->cap - 1))
        if (s->slots[i] == pid)
            return true;
    return false;
}

static void
pidset_free(struct pidset *s)
{
    free(s->slots); s->slots = NULL;
    s->cap = 0;
    s->n = 0;
}

static int
pidvec_push(struct pidvec *q, pid_t pid)
{
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 64;
        pid_t *nv = realloc(q->v, ncap * sizeof(nv[0]));

        if (nv == NULL)
            return -ENOMEM;
        q->v = nv;
        q->cap = ncap;
    }
    q->v[q->n++] = pid;
    return 0;
}
