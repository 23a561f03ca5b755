/*
 * aggregator.c - drains the denial and activity rings (the halves only
 * produce events; ARCHITECTURE.md "Threads").  Producers never make a
 * syscall, so there is nothing to wait on: the thread polls every
 * POLL_MS, which bounds the delay of a denial line and costs nothing when
 * idle.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregator.h"
#include "osh/log.h"
#include "osh/ocsf.h"

#define POLL_MS 20

struct aggregator {
    struct osh_ring *denials, *activity;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* stats: written by the thread, read by status */
    struct aggregator_stats st;
};

static void
log_denial(const struct osh_denial_event *ev)
{
    struct osh_ocsf_event oe;
    char line[2048];

    if (osh_ocsf_from_denial(ev, &oe) < 0)
        return;
    if (osh_ocsf_shorthand(&oe, line, sizeof(line)) == -EINVAL)
        return;
    osh_log_line("OCSF", line);
}

static size_t
drain(struct aggregator *a)
{
    struct osh_denial_event d;
    struct osh_activity_event e;
    size_t n = 0;

    while (a->denials && osh_ring_pop_sc(a->denials, &d)) {
        /* The bypass monitor logs its own, richer pair (NET Refuse plus
         * the Detection Finding); logging the denial again would double it. */
        if (d.stage != OSH_STAGE_BYPASS)
            log_denial(&d);
        pthread_mutex_lock(&a->lock);
        a->st.denials++;
        pthread_mutex_unlock(&a->lock);
        n++;
    }
    while (a->activity && osh_ring_pop_sc(a->activity, &e)) {
        pthread_mutex_lock(&a->lock);
        a->st.activity++;
        if (e.denied) {
            a->st.activity_denied++;
            if ((unsigned)e.group < OSH_DENY_GROUP_COUNT)
                a->st.by_group[e.group]++;
        }
        pthread_mutex_unlock(&a->lock);
        n++;
    }
    return n;
}

static void *
run(void *arg)
{
    struct aggregator *a = arg;
    const struct timespec pause = {.tv_nsec = POLL_MS * 1000000L};

    while (!atomic_load(&a->stop)) {
        if (drain(a) == 0)
            nanosleep(&pause, NULL);
    }
    drain(a);
    return NULL;
}

struct aggregator *
aggregator_start(struct osh_ring *denials, struct osh_ring *activity)
{
    struct aggregator *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->denials = denials;
    a->activity = activity;
    pthread_mutex_init(&a->lock, NULL);
    if (pthread_create(&a->thread, NULL, run, a) != 0) {
        pthread_mutex_destroy(&a->lock);
        free(a);
        return NULL;
    }
    return a;
}

void
aggregator_stop(struct aggregator *a)
{
    if (a == NULL)
        return;
    atomic_store(&a->stop, true);
    pthread_join(a->thread, NULL);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

void
aggregator_get_stats(struct aggregator *a, struct aggregator_stats *out)
{
    pthread_mutex_lock(&a->lock);
    *out = a->st;
    pthread_mutex_unlock(&a->lock);
    out->dropped_denials = a->denials ? osh_ring_dropped(a->denials) : 0;
    out->dropped_activity = a->activity ? osh_ring_dropped(a->activity) : 0;
}
