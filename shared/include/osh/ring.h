/*
 * ring.h - a bounded, lock-free multi-producer / single-consumer ring of
 * fixed-size elements.  It carries denial and activity events from the data
 * path (proxy workers, process workers) to the aggregator thread.
 *
 * LIFECYCLE
 *   osh_ring_new() (service/, at start) -> handed to producers and to the one
 *   consumer -> every producer and the consumer stopped -> osh_ring_free().
 *
 * THREADS
 *   osh_ring_push_mpsc(): any number of producer threads at once.  It never
 *   blocks, never allocates, takes no lock and makes no syscall: a full ring
 *   is a counted drop (osh_ring_dropped()), and the caller goes on.
 *   osh_ring_pop_sc(): exactly one consumer thread (the aggregator).  Debug
 *   builds abort if two threads are ever inside it at the same time.
 *   osh_ring_dropped(), osh_ring_capacity(): any thread.
 *
 * OWNERSHIP
 *   Elements are copied by value into ring-owned slots on push and out into
 *   caller memory on pop; the ring keeps no pointer to caller memory.  Event
 *   types that travel through a ring must therefore be self-contained (no
 *   pointers), see osh/events.h.
 *
 * DESIGN (why C11 atomics, not ck_ring or liburcu)
 *   - No dependency: the whole thing is ~150 lines of C11 <stdatomic.h>.
 *   - ck_ring moves pointer-sized entries (or needs its _buffer variants with
 *     the caller managing slot memory); we want the element copied by value
 *     into caller-sized slots so producers never allocate and the consumer
 *     never frees.  liburcu's wfcqueue is unbounded and node-based (malloc).
 *   - The algorithm is Dmitry Vyukov's bounded MPMC queue with the consumer
 *     side simplified to a single consumer.  Every slot carries its own
 *     sequence number, so a producer claims a slot with one CAS on the tail
 *     and publishes it with one release store on the slot: producers never
 *     wait for each other, even when one of them is descheduled halfway
 *     through copying its element (the others claim the following slots).
 *     A stalled producer only delays the consumer, which sees the unfinished
 *     slot as "empty" until it is published; events behind it stay queued.
 *   - Head and tail are free-running 64-bit counters on separate cache lines;
 *     the wrap-around argument is in ring.c.
 *   Memory orders are argued at each atomic in ring.c.
 */
#ifndef OSH_RING_H
#define OSH_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct osh_ring;

/*
 * Creates a ring of `capacity` slots of `elem_size` bytes each.
 * `capacity` must be a power of two >= 2 and `elem_size` > 0; the slot
 * memory (capacity * slot stride) must fit in size_t.
 * Returns the ring, or NULL with errno EINVAL (bad argument) or ENOMEM.
 * Called by service/ at start-up, before any producer or consumer runs.
 */
struct osh_ring *osh_ring_new(size_t capacity, size_t elem_size);

/*
 * Copies elem_size bytes from `elem` into the next free slot.
 * Returns true if the element was queued; false if the ring was full, in
 * which case the dropped counter is incremented and nothing else happens.
 * Any thread; lock-free: no malloc, no lock, no syscall, never waits for the
 * consumer or for another producer.
 */
bool osh_ring_push_mpsc(struct osh_ring *r, const void *elem);

/*
 * Copies the oldest published element into `out` (elem_size bytes).
 * Returns true if an element was copied, false if the ring is empty (or the
 * oldest claimed slot is still being written by its producer; call again
 * later).  FIFO per producer; across producers, in order of slot claim.
 * Only the single consumer thread may call this.
 */
bool osh_ring_pop_sc(struct osh_ring *r, void *out);

/*
 * Number of pushes refused because the ring was full, since creation.
 * A relaxed read: exact once producers have stopped, otherwise a recent
 * value.  Any thread.
 */
uint64_t osh_ring_dropped(const struct osh_ring *r);

/* The capacity given to osh_ring_new().  Any thread. */
size_t osh_ring_capacity(const struct osh_ring *r);

/*
 * Frees the ring and every queued element.  NULL is a no-op.  Every producer
 * and the consumer must have stopped using `r`.
 */
void osh_ring_free(struct osh_ring *r);

#endif /* OSH_RING_H */
