/*
 * policy_store.c - lock-free acquire of the active policy generation.
 *
 * Memory orders: every operation on `cur` and `readers` is seq_cst.  The
 * argument needs a single total order over four events: a reader's
 * readers++ (R1) and its re-load of cur (R2), the publisher's swap of cur
 * (P1) and its load of readers (P2).  If R2 still sees the old pointer, R2
 * precedes P1 in the total order, hence R1 < P2 and P2 sees the reader
 * counted: the publisher waits until that reader has taken its reference
 * and left.  If R2 sees the new pointer, the reader retries and never
 * touches the old one.  Acquire/release alone would not give this
 * store-load ordering (P1 then P2 is a store followed by a load).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "osh/policy_store.h"

struct osh_policy_store {
    _Alignas(64) _Atomic(struct osh_policy *) cur;
    _Alignas(64) atomic_ulong readers;
    atomic_uint_fast64_t generation;
    pthread_mutex_t publish_lock; /* publishers only; never taken by readers */
};

struct osh_policy_store *
osh_policy_store_new(struct osh_policy *initial)
{
    struct osh_policy_store *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        osh_policy_unref(initial);
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&s->cur, initial);
    atomic_init(&s->readers, 0);
    atomic_init(&s->generation, 0);
    pthread_mutex_init(&s->publish_lock, NULL);
    return s;
}

void
osh_policy_store_free(struct osh_policy_store *s)
{
    if (s == NULL)
        return;
    osh_policy_unref(atomic_load(&s->cur));
    pthread_mutex_destroy(&s->publish_lock);
    free(s);
}

struct osh_policy *
osh_policy_store_acquire(struct osh_policy_store *s)
{
    for (;;) {
        struct osh_policy *p = atomic_load(&s->cur);
        atomic_fetch_add(&s->readers, 1);         /* R1 */
        if (atomic_load(&s->cur) == p) {          /* R2 */
            osh_policy_ref(p);
            atomic_fetch_sub(&s->readers, 1);
            return p;
        }
        atomic_fetch_sub(&s->readers, 1);
    }
}

uint64_t
osh_policy_store_publish(struct osh_policy_store *s, struct osh_policy *next)
{
    struct osh_policy *old;
    uint64_t gen;

    pthread_mutex_lock(&s->publish_lock);
    old = atomic_exchange(&s->cur, next);         /* P1 */
    while (atomic_load(&s->readers) != 0)         /* P2 */
        sched_yield();
    gen = atomic_fetch_add_explicit(&s->generation, 1, memory_order_relaxed) + 1;
    pthread_mutex_unlock(&s->publish_lock);
    osh_policy_unref(old);
    return gen;
}

uint64_t
osh_policy_store_generation(const struct osh_policy_store *s)
{
    /* Relaxed: a status read; it orders nothing. */
    return atomic_load_explicit((atomic_uint_fast64_t *)(uintptr_t)&s->generation,
                                memory_order_relaxed);
}
