/*
 * cage_members.c - the processes inside a cage, found by their network
 * namespace: /proc/PID/ns/net names the same nsfs inode as the cage's.
 *
 * DESIGN: a workload can fork, double-fork and leave its process group, but
 * it cannot leave its network namespace (seccomp denies setns and unshare).
 * So membership by namespace is what ends everything the workload started
 * when the supervisor stops, and what finds the orphans of a supervisor
 * that was killed before it could clean up.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cage_int.h"
#include "osh/process/netns.h"

/* Sends `sig` to every process whose netns is (dev, ino); returns how many
 * were signalled.  The caller's own process is never one of them. */
static int
signal_members(dev_t dev, ino_t ino, int sig)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char path[64];
        struct stat st;
        pid_t pid;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        pid = (pid_t)atoi(e->d_name);
        if (pid <= 1 || pid == getpid())
            continue;
        snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
        if (stat(path, &st) != 0 || st.st_dev != dev || st.st_ino != ino)
            continue;
        if (kill(pid, sig) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* SIGKILL until none is left (bounded), reaping what are our children. */
static int
kill_all(dev_t dev, ino_t ino)
{
    const struct timespec pause = {.tv_nsec = 10 * 1000000L};
    int n = 0;

    for (int round = 0; round < 200; round++) {
        n = signal_members(dev, ino, SIGKILL);
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
        if (n <= 0)
            return n < 0 ? n : 0;
        nanosleep(&pause, NULL);
    }
    return -EBUSY;
}

int
osh_netns_kill_members(const struct osh_netns *ns)
{
    struct stat st;

    if (ns == NULL || fstat(osh_netns_fd(ns), &st) != 0)
        return -EINVAL;
    return kill_all(st.st_dev, st.st_ino);
}

int
osh_netns_reap_stale(void)
{
    DIR *d = opendir(OSH_NETNS_RUN_DIR);
    struct dirent *e;
    int removed = 0;

    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d)) != NULL) {
        char path[sizeof(OSH_NETNS_RUN_DIR) + 300], owner[sizeof(OSH_NETNS_OWNER_DIR) + 300];
        const char *id;
        struct stat st;
        FILE *f;
        long pid = 0;
        size_t len;

        if (strncmp(e->d_name, "osh-", 4) != 0)
            continue;
        id = e->d_name + 4;
        len = strlen(id);
        if (len == 0 || len > OSH_NETNS_ID_MAX || strspn(id, "0123456789abcdef") != len)
            continue; /* not a supervisor's cage (tests use other names) */
        /* A cage whose supervisor is alive is not stale. */
        if (snprintf(owner, sizeof(owner), "%s/%s.owner", OSH_NETNS_OWNER_DIR, e->d_name) < 0)
            continue;
        f = fopen(owner, "re");
        if (f != NULL) {
            if (fscanf(f, "%ld", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 1 && kill((pid_t)pid, 0) == 0)
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", OSH_NETNS_RUN_DIR, e->d_name) < 0)
            continue;
        if (stat(path, &st) == 0)
            kill_all(st.st_dev, st.st_ino); /* its orphaned workload */
        if (osh_netns_cleanup_stale(id) == 0)
            removed++;
        unlink(owner);
    }
    closedir(d);
    return removed;
}

int
osh_netns_claim(const struct osh_netns *ns)
{
    char owner[128];
    FILE *f;

    if (mkdir(OSH_NETNS_OWNER_DIR, 0700) != 0 && errno != EEXIST)
        return -errno;
    snprintf(owner, sizeof(owner), "%s/%s.owner", OSH_NETNS_OWNER_DIR, osh_netns_name(ns));
    f = fopen(owner, "we");
    if (f == NULL)
        return -errno;
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0)
        return -errno;
    return 0;
}

void
osh_netns_unclaim(const struct osh_netns *ns)
{
    char owner[128];

    snprintf(owner, sizeof(owner), "%s/%s.owner", OSH_NETNS_OWNER_DIR, osh_netns_name(ns));
    unlink(owner);
}
