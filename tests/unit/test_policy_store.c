/*
 * test_policy_store.c - the generation store under concurrent acquire and
 * publish (run under ASan for use-after-free and TSan for races).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "osh/policy.h"
#include "osh/policy_store.h"

#define READERS 2
#define PUBLISHES 300

static struct osh_policy *
make_policy(unsigned port)
{
    char text[256];
    int n = snprintf(text, sizeof(text),
                     "version: 1\nnetwork_policies:\n  p:\n    endpoints: [{host: h.example.com, "
                     "port: %u}]\n    binaries: [{path: /bin/x}]\n",
                     port);
    return osh_policy_load_buffer("t", text, (size_t)n, OSH_POLICY_FORMAT_YAML, NULL);
}

struct reader_arg {
    struct osh_policy_store *store;
    atomic_bool *stop;
    unsigned long evaluated;
    int errors;
};

static void *
reader(void *p)
{
    struct reader_arg *a = p;
    while (!atomic_load(a->stop)) {
        struct osh_policy *gen = osh_policy_store_acquire(a->store);
        struct osh_l4_request req = {.host = "h.example.com", .port = 1, .binary = "/bin/x"};
        struct osh_decision_result r;
        /* Any generation decides consistently with itself. */
        if (osh_policy_eval_l4(gen, &req, &r) < 0 || osh_policy_hash(gen)[0] == '\0')
            a->errors++;
        osh_decision_result_clear(&r);
        osh_policy_unref(gen);
        a->evaluated++;
    }
    return NULL;
}

static void
test_concurrent_publish(void **state)
{
    struct osh_policy_store *s = osh_policy_store_new(make_policy(1));
    struct reader_arg args[READERS];
    pthread_t th[READERS];
    atomic_bool stop = false;

    (void)state;
    assert_non_null(s);
    for (int i = 0; i < READERS; i++) {
        args[i] = (struct reader_arg){.store = s, .stop = &stop};
        assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
    }
    for (unsigned i = 0; i < PUBLISHES; i++) {
        struct osh_policy *p = make_policy(i + 2);
        assert_non_null(p);
        assert_int_equal(osh_policy_store_publish(s, p), i + 1);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < READERS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
        assert_true(args[i].evaluated > 0);
    }
    assert_int_equal(osh_policy_store_generation(s), PUBLISHES);
    osh_policy_store_free(s);
}

static void
test_pinned_generation_survives_publish(void **state)
{
    struct osh_policy_store *s = osh_policy_store_new(make_policy(443));
    struct osh_policy *pinned, *now;
    struct osh_l4_request req = {.host = "h.example.com", .port = 443, .binary = "/bin/x"};
    struct osh_decision_result r;

    (void)state;
    pinned = osh_policy_store_acquire(s);
    osh_policy_store_publish(s, make_policy(8443));
    /* The pinned (old) generation still allows 443; the new one denies it. */
    assert_int_equal(osh_policy_eval_l4(pinned, &req, &r), 0);
    assert_int_equal(r.decision, OSH_DECISION_ALLOW);
    osh_decision_result_clear(&r);
    now = osh_policy_store_acquire(s);
    assert_int_equal(osh_policy_eval_l4(now, &req, &r), 0);
    assert_int_equal(r.decision, OSH_DECISION_DENY);
    assert_string_equal(r.reason, "endpoint h.example.com:443 is not allowed by any policy");
    osh_decision_result_clear(&r);
    assert_string_not_equal(osh_policy_hash(pinned), osh_policy_hash(now));
    osh_policy_unref(now);
    osh_policy_unref(pinned);
    osh_policy_store_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_publish),
        cmocka_unit_test(test_pinned_generation_survives_publish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
