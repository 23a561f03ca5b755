/*
 * test_ring.c - osh_ring: single-thread semantics and a multi-producer
 * validate run (4 producers, 1 consumer) meant to be run under TSan too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "osh/ring.h"

/* ---- single thread ------------------------------------------------------ */

static void
test_bad_capacity(void **state)
{
    static const size_t bad[] = {0, 1, 3, 5, 6, 7, 12, 1000, 1023, 1025};
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        errno = 0;
        assert_null(osh_ring_new(bad[i], 8));
        assert_int_equal(errno, EINVAL);
    }
    errno = 0;
    assert_null(osh_ring_new(8, 0));
    assert_int_equal(errno, EINVAL);
    /* capacity * stride overflows size_t */
    errno = 0;
    assert_null(osh_ring_new((size_t)1 << (sizeof(size_t) * 8 - 2), 64));
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_null(osh_ring_new(2, SIZE_MAX - 8));
    assert_int_equal(errno, EINVAL);
    osh_ring_free(NULL);
}

static void
test_fill_full_fifo(void **state)
{
    struct osh_ring *r = osh_ring_new(8, sizeof(uint64_t));
    uint64_t v;
    (void)state;

    assert_non_null(r);
    assert_int_equal(osh_ring_capacity(r), 8);
    assert_false(osh_ring_pop_sc(r, &v)); /* empty */
    for (uint64_t i = 0; i < 8; i++)
        assert_true(osh_ring_push_mpsc(r, &i));
    assert_int_equal(osh_ring_dropped(r), 0);
    v = 100;
    assert_false(osh_ring_push_mpsc(r, &v)); /* full */
    assert_false(osh_ring_push_mpsc(r, &v));
    assert_int_equal(osh_ring_dropped(r), 2);
    for (uint64_t i = 0; i < 8; i++) {
        assert_true(osh_ring_pop_sc(r, &v));
        assert_int_equal(v, i);
    }
    assert_false(osh_ring_pop_sc(r, &v));
    /* room again after draining */
    v = 7;
    assert_true(osh_ring_push_mpsc(r, &v));
    assert_true(osh_ring_pop_sc(r, &v));
    assert_int_equal(v, 7);
    assert_int_equal(osh_ring_dropped(r), 2);
    osh_ring_free(r);
}

/* An element larger than a cache line, copied byte for byte. */
struct big {
    uint32_t tag;
    unsigned char bytes[200];
};

static void
test_wrap_many_times(void **state)
{
    struct osh_ring *r = osh_ring_new(4, sizeof(struct big));
    struct big in, out;
    uint32_t next_in = 0, next_out = 0;
    (void)state;

    assert_non_null(r);
    /* 3 in, 3 out, 100k rounds: the 4-slot ring laps 75,000 times with the
     * head and tail always on different slots. */
    for (int round = 0; round < 100000; round++) {
        for (int k = 0; k < 3; k++) {
            in.tag = next_in;
            memset(in.bytes, (int)(next_in & 0xff), sizeof(in.bytes));
            assert_true(osh_ring_push_mpsc(r, &in));
            next_in++;
        }
        for (int k = 0; k < 3; k++) {
            assert_true(osh_ring_pop_sc(r, &out));
            assert_int_equal(out.tag, next_out);
            assert_int_equal(out.bytes[0], next_out & 0xff);
            assert_int_equal(out.bytes[sizeof(out.bytes) - 1], next_out & 0xff);
            next_out++;
        }
    }
    assert_false(osh_ring_pop_sc(r, &out));
    assert_int_equal(osh_ring_dropped(r), 0);
    osh_ring_free(r);
}

static void
test_full_then_interleave(void **state)
{
    struct osh_ring *r = osh_ring_new(2, sizeof(int));
    int v;
    (void)state;

    assert_non_null(r);
    for (int lap = 0; lap < 1000; lap++) {
        int a = 2 * lap, b = 2 * lap + 1, c = -1;
        assert_true(osh_ring_push_mpsc(r, &a));
        assert_true(osh_ring_push_mpsc(r, &b));
        assert_false(osh_ring_push_mpsc(r, &c));
        assert_true(osh_ring_pop_sc(r, &v));
        assert_int_equal(v, a);
        assert_true(osh_ring_pop_sc(r, &v));
        assert_int_equal(v, b);
        assert_false(osh_ring_pop_sc(r, &v));
    }
    assert_int_equal(osh_ring_dropped(r), 1000);
    osh_ring_free(r);
}

/* ---- multi-producer validate -------------------------------------------- */

#define STRESS_PRODUCERS 4
#define STRESS_ITEMS 200000u
#define STRESS_CAPACITY 1024

/* 64 bytes; `check` and `fill` let the consumer detect a torn copy. */
struct item {
    uint32_t producer;
    uint32_t pad;
    uint64_t seq;
    uint64_t check;
    unsigned char fill[40];
};

struct stress {
    struct osh_ring *ring;
    pthread_barrier_t start;
    /* producers still running; the consumer stops when 0 and drained */
    atomic_int running;
    /* per-producer results, written by the producer, read after join */
    uint64_t pushed[STRESS_PRODUCERS];
    uint64_t refused[STRESS_PRODUCERS];
    /* consumer results, read after join */
    uint64_t received[STRESS_PRODUCERS];
    uint64_t order_errors;
    uint64_t torn;
    uint64_t bad_producer;
};

struct producer_arg {
    struct stress *st;
    uint32_t id;
};

static uint64_t
item_check(uint32_t producer, uint64_t seq)
{
    return (seq * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)producer << 56);
}

static void *
producer_main(void *p)
{
    struct producer_arg *a = p;
    struct stress *st = a->st;
    struct item it;

    memset(&it, 0, sizeof(it));
    pthread_barrier_wait(&st->start);
    for (uint64_t i = 0; i < STRESS_ITEMS; i++) {
        it.producer = a->id;
        it.seq = i;
        it.check = item_check(a->id, i);
        memset(it.fill, (int)((i + a->id) & 0xff), sizeof(it.fill));
        if (osh_ring_push_mpsc(st->ring, &it)) {
            st->pushed[a->id]++;
        } else {
            /* Dropped, as on the data path; let the consumer catch up so
             * the run exercises both full and non-full states. */
            st->refused[a->id]++;
            sched_yield();
        }
    }
    /* release: our pushes are already published by the ring; this only
     * orders the decrement after them for the consumer's acquire load. */
    atomic_fetch_sub_explicit(&st->running, 1, memory_order_release);
    return NULL;
}

static void
consume_one(struct stress *st, const struct item *it, int64_t *last)
{
    if (it->producer >= STRESS_PRODUCERS) {
        st->bad_producer++;
        return;
    }
    if (it->check != item_check(it->producer, it->seq) ||
        it->fill[0] != (unsigned char)((it->seq + it->producer) & 0xff) ||
        it->fill[sizeof(it->fill) - 1] != (unsigned char)((it->seq + it->producer) & 0xff))
        st->torn++;
    if ((int64_t)it->seq <= last[it->producer])
        st->order_errors++; /* duplicate or reordered */
    last[it->producer] = (int64_t)it->seq;
    st->received[it->producer]++;
}

static void *
consumer_main(void *p)
{
    struct stress *st = p;
    int64_t last[STRESS_PRODUCERS];
    struct item it;

    for (int i = 0; i < STRESS_PRODUCERS; i++)
        last[i] = -1;
    pthread_barrier_wait(&st->start);
    for (;;) {
        if (osh_ring_pop_sc(st->ring, &it)) {
            consume_one(st, &it, last);
            continue;
        }
        /* acquire: pairs with the producers' release decrement, so once we
         * read 0 every push they made is visible to the final drain. */
        if (atomic_load_explicit(&st->running, memory_order_acquire) == 0) {
            while (osh_ring_pop_sc(st->ring, &it))
                consume_one(st, &it, last);
            break;
        }
        sched_yield();
    }
    return NULL;
}

static void
test_mpsc_stress(void **state)
{
    struct stress *st = calloc(1, sizeof(*st));
    struct producer_arg args[STRESS_PRODUCERS];
    pthread_t prod[STRESS_PRODUCERS], cons;
    uint64_t sent = 0, received = 0, refused = 0;
    (void)state;

    assert_non_null(st);
    st->ring = osh_ring_new(STRESS_CAPACITY, sizeof(struct item));
    assert_non_null(st->ring);
    assert_int_equal(sizeof(struct item), 64);
    atomic_init(&st->running, STRESS_PRODUCERS);
    assert_int_equal(pthread_barrier_init(&st->start, NULL, STRESS_PRODUCERS + 1), 0);

    assert_int_equal(pthread_create(&cons, NULL, consumer_main, st), 0);
    for (uint32_t i = 0; i < STRESS_PRODUCERS; i++) {
        args[i].st = st;
        args[i].id = i;
        assert_int_equal(pthread_create(&prod[i], NULL, producer_main, &args[i]), 0);
    }
    for (int i = 0; i < STRESS_PRODUCERS; i++)
        assert_int_equal(pthread_join(prod[i], NULL), 0);
    assert_int_equal(pthread_join(cons, NULL), 0);

    for (int i = 0; i < STRESS_PRODUCERS; i++) {
        sent += STRESS_ITEMS;
        refused += st->refused[i];
        received += st->received[i];
        assert_int_equal(st->pushed[i] + st->refused[i], STRESS_ITEMS);
        assert_int_equal(st->received[i], st->pushed[i]);
    }
    assert_int_equal(st->bad_producer, 0);
    assert_int_equal(st->torn, 0);
    assert_int_equal(st->order_errors, 0);
    assert_int_equal(osh_ring_dropped(st->ring), refused);
    assert_int_equal(received + osh_ring_dropped(st->ring), sent);
    assert_true(received > 0);
    print_message("# mpsc stress: sent %llu received %llu dropped %llu\n", (unsigned long long)sent,
                  (unsigned long long)received, (unsigned long long)osh_ring_dropped(st->ring));

    pthread_barrier_destroy(&st->start);
    osh_ring_free(st->ring);
    free(st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_capacity),    cmocka_unit_test(test_fill_full_fifo),
        cmocka_unit_test(test_wrap_many_times), cmocka_unit_test(test_full_then_interleave),
        cmocka_unit_test(test_mpsc_stress),
    };
    return cmocka_run_group_tests_name("ring", tests, NULL, NULL);
}
