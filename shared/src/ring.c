/*
 * ring.c - bounded lock-free MPSC ring (Vyukov's bounded queue, single
 * consumer).  See osh/ring.h for the contract and for why we wrote our own.
 *
 * DESIGN
 *   Slot i of the ring holds a 64-bit sequence number `seq` followed by the
 *   element bytes.  For a free-running position p (slot p & mask):
 *     seq == p            slot is free for the producer that claims p;
 *     seq == p + 1        slot holds the element pushed at p (consumer may read);
 *     seq == p + capacity slot was consumed and is free for position p + capacity.
 *   Initially seq == i for every slot i.
 *
 *   Producer: load tail p, look at slot p: if seq == p, CAS tail p -> p+1 to
 *   claim it, copy the element in, store seq = p+1 (release).  If seq < p the
 *   slot still holds the element of position p - capacity: the ring is full,
 *   count a drop.  If seq > p another producer got there first: reload tail.
 *   Consumer: look at slot head: if seq == head+1, copy the element out,
 *   store seq = head + capacity (release), head++.  Only one consumer, so
 *   head is a plain variable and needs no CAS.
 *
 * WRAP-AROUND
 *   tail, head and seq are free-running uint64_t and are never reduced modulo
 *   the capacity; only the slot index is (p & mask).  At 10^9 pushes per
 *   second the counters wrap after ~584 years, but even then the code stays
 *   correct: unsigned arithmetic is modulo 2^64; capacity is a power of two,
 *   so it divides 2^64 and p & mask stays continuous across the wrap; and
 *   positions are only compared by equality or by the signed difference
 *   (int64_t)(seq - p), which is exact as long as the two values are less
 *   than 2^63 apart (they are at most about one capacity apart, except for a
 *   producer that was descheduled for a very long time, which then only sees
 *   a large positive difference and reloads tail).
 *
 * FALSE SHARING
 *   tail (hammered by producers), head (consumer) and the dropped counter
 *   each sit on their own 64-byte cache line; slots are padded to a multiple
 *   of 64 bytes so two producers filling neighbouring slots do not bounce one
 *   line between them.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "osh/ring.h"

#define RING_CACHELINE 64

/* One slot: the sequence number, then elem_size bytes of element. */
struct ring_slot {
    _Atomic uint64_t seq;
    unsigned char data[];
};

struct osh_ring {
    /* Producers' line: next position to claim. */
    alignas(RING_CACHELINE) _Atomic uint64_t tail;

    /* Consumer's line: next position to read.  Only the consumer thread
     * touches head, so it is a plain variable. */
    alignas(RING_CACHELINE) uint64_t head;
#ifndef NDEBUG
    /* Role check: set while a thread is inside osh_ring_pop_sc(). */
    atomic_bool in_pop;
#endif

    /* Written only when the ring is full; off the tail line so drops do not
     * slow down the CAS of producers that still succeed. */
    alignas(RING_CACHELINE) _Atomic uint64_t dropped;

    /* Read-only after osh_ring_new(). */
    alignas(RING_CACHELINE) size_t capacity;
    size_t mask;
    size_t elem_size;
    size_t stride; /* bytes per slot, a multiple of RING_CACHELINE */
    unsigned char *slots;
};

static struct ring_slot *slot_at(const struct osh_ring *r, uint64_t pos);
static int64_t seq_diff(uint64_t a, uint64_t b);

static struct ring_slot *
slot_at(const struct osh_ring *r, uint64_t pos)
{
    return (struct ring_slot *)(void *)(r->slots + (size_t)(pos & r->mask) * r->stride);
}

/*
 * a - b as a signed distance.  Converting a uint64_t above INT64_MAX to
 * int64_t is implementation-defined in ISO C; GCC and Clang define it as
 * reduction modulo 2^64, which is what the wrap-around argument needs.
 */
static int64_t
seq_diff(uint64_t a, uint64_t b)
{
    return (int64_t)(a - b);
}

struct osh_ring *
osh_ring_new(size_t capacity, size_t elem_size)
{
    struct osh_ring *r = NULL;
    size_t stride, bytes;

    if (capacity < 2 || (capacity & (capacity - 1)) != 0 || elem_size == 0) {
        errno = EINVAL;
        goto fail;
    }
    /* stride = round_up(sizeof(seq) + elem_size, 64), checking overflow. */
    if (elem_size > SIZE_MAX - sizeof(struct ring_slot) - (RING_CACHELINE - 1)) {
        errno = EINVAL;
        goto fail;
    }
    stride =
        (sizeof(struct ring_slot) + elem_size + RING_CACHELINE - 1) & ~(size_t)(RING_CACHELINE - 1);
    if (capacity > SIZE_MAX / stride) {
        errno = EINVAL;
        goto fail;
    }
    bytes = capacity * stride;

    /* sizeof(struct osh_ring) is a multiple of its 64-byte alignment, as
     * aligned_alloc() requires; so is `bytes`. */
    r = aligned_alloc(alignof(struct osh_ring), sizeof(*r));
    if (r == NULL)
        goto fail;
    memset(r, 0, sizeof(*r));
    r->slots = aligned_alloc(RING_CACHELINE, bytes);
    if (r->slots == NULL)
        goto fail;
    r->capacity = capacity;
    r->mask = capacity - 1;
    r->elem_size = elem_size;
    r->stride = stride;
    atomic_init(&r->tail, 0);
    r->head = 0;
    atomic_init(&r->dropped, 0);
#ifndef NDEBUG
    atomic_init(&r->in_pop, false);
#endif
    /* No other thread can see the ring yet: handing the pointer to the
     * producer and consumer threads (thread creation, a mutex, a release
     * store) is what publishes these initial values to them. */
    for (size_t i = 0; i < capacity; i++)
        atomic_init(&slot_at(r, i)->seq, (uint64_t)i);
    return r;
fail:
    if (r != NULL) {
        free(r->slots), r->slots = NULL;
    }
    free(r), r = NULL;
    return NULL;
}

bool
osh_ring_push_mpsc(struct osh_ring *r, const void *elem)
{
    struct ring_slot *s;
    uint64_t pos, seq;
    int64_t dif;

    /* relaxed: tail is only a starting guess; the CAS below re-validates it
     * and the slot's seq (not tail) carries all the ordering. */
    pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
    for (;;) {
        s = slot_at(r, pos);
        /* acquire: pairs with the consumer's release store of
         * seq = pos (previous lap + capacity), so its read of the old element
         * happens before our memcpy overwrites the slot. */
        seq = atomic_load_explicit(&s->seq, memory_order_acquire);
        dif = seq_diff(seq, pos);
        if (dif == 0) {
            /* relaxed on success and failure: the CAS only decides which
             * producer owns position pos (RMWs on tail are totally ordered,
             * so exactly one wins); the data hand-off is ordered by the
             * acquire above and the release store on seq below.  On failure
             * pos is refreshed with the current tail. */
            if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1, memory_order_relaxed,
                                                      memory_order_relaxed))
                break;
        } else if (dif < 0) {
            /* seq == pos - capacity + 1: the element pushed one lap ago is
             * still unread, so tail - head >= capacity at the moment of the
             * load: full.  relaxed: a statistics counter, no data depends
             * on it. */
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            return false;
        } else {
            /* Another producer claimed pos (and maybe more) since we read
             * tail.  relaxed: same reasoning as the first load. */
            pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
        }
    }
    memcpy(s->data, elem, r->elem_size);
    /* release: makes the memcpy above visible to the consumer, whose
     * acquire load of seq == pos + 1 pairs with this store. */
    atomic_store_explicit(&s->seq, pos + 1, memory_order_release);
    return true;
}

bool
osh_ring_pop_sc(struct osh_ring *r, void *out)
{
    uint64_t pos = r->head;
    struct ring_slot *s = slot_at(r, pos);
    uint64_t seq;
    bool got = false;

#ifndef NDEBUG
    /* relaxed: a pure detector.  Exchanges on one atomic are totally
     * ordered, so a second thread entering concurrently reads true. */
    if (atomic_exchange_explicit(&r->in_pop, true, memory_order_relaxed))
        abort(); /* two consumers on a single-consumer ring: a bug */
#endif
    /* acquire: pairs with the producer's release store of seq = pos + 1 so
     * the element bytes it copied are visible before we read them.  With a
     * single consumer seq is either pos (free, or claimed but not yet
     * published) or pos + 1 (ready); nothing else is possible. */
    seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq == pos + 1) {
        memcpy(out, s->data, r->elem_size);
        /* release: orders our read of the element before the next producer,
         * which acquire-loads seq == pos + capacity, overwrites the slot. */
        atomic_store_explicit(&s->seq, pos + r->capacity, memory_order_release);
        r->head = pos + 1;
        got = true;
    }
#ifndef NDEBUG
    /* relaxed: see the exchange above. */
    atomic_store_explicit(&r->in_pop, false, memory_order_relaxed);
#endif
    return got;
}

uint64_t
osh_ring_dropped(const struct osh_ring *r)
{
    /* relaxed: a monotonic statistic; callers need no ordering with the
     * elements themselves. */
    return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}

size_t
osh_ring_capacity(const struct osh_ring *r)
{
    return r->capacity;
}

void
osh_ring_free(struct osh_ring *r)
{
    if (r == NULL)
        return;
    free(r->slots), r->slots = NULL;
    free(r);
}
