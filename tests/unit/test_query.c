/*
 * test_query.c - query string parsing into an ordered multimap
 * (policy.md §3.2 "Query parsing").
 *
 * Table driven: each row is a raw query and either the expected flattened
 * pair list ("k=v" strings in input order) or the expected error substring.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "osh/query.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_PAIRS 6

struct pair {
    const char *key;
    const char *value;
};

struct query_case {
    const char *name;
    const char *in;
    size_t in_len;       /* 0: strlen(in) */
    const char *err_has; /* NULL: success expected */
    size_t npairs;
    struct pair pairs[MAX_PAIRS];
};

static struct query_case cases[] = {
    /* policy.md §3.2 [T] examples */
    {"spec: repeated key", "tag=a&tag=b", 0, NULL, 2, {{"tag", "a"}, {"tag", "b"}}},
    {"spec: plus is space", "name=Foo+Bar", 0, NULL, 1, {{"name", "Foo Bar"}}},
    {"spec: %2B is plus", "q=a%2Bb", 0, NULL, 1, {{"q", "a+b"}}},
    {"spec: key without =", "verbose", 0, NULL, 1, {{"verbose", ""}}},
    {"spec: empty query", "", 0, NULL, 0, {{NULL, NULL}}},
    {"spec: short escape", "slug=bad%2", 0, "percent-encoding", 0, {{NULL, NULL}}},

    /* splitting */
    {"empty pairs dropped", "&&a=1&&b=2&", 0, NULL, 2, {{"a", "1"}, {"b", "2"}}},
    {"only ampersands", "&&&", 0, NULL, 0, {{NULL, NULL}}},
    {"split at first =", "a=b=c", 0, NULL, 1, {{"a", "b=c"}}},
    {"empty value", "a=", 0, NULL, 1, {{"a", ""}}},
    {"empty key", "=v", 0, NULL, 1, {{"", "v"}}},
    {"lone =", "=", 0, NULL, 1, {{"", ""}}},
    {"order kept across keys", "b=1&a=2&b=3", 0, NULL, 3, {{"b", "1"}, {"a", "2"}, {"b", "3"}}},
    {"keys are case sensitive", "K=1&k=2", 0, NULL, 2, {{"K", "1"}, {"k", "2"}}},
    {"len bounds the input", "a=1&b=2", 3, NULL, 1, {{"a", "1"}}},

    /* decoding */
    {"plus in key", "a+b=c+d", 0, NULL, 1, {{"a b", "c d"}}},
    {"encoded & and =", "k%3D=v%26w", 0, NULL, 1, {{"k=", "v&w"}}},
    {"hex either case", "x=%c3%A9%E2%82%ac", 0, NULL, 1, {{"x", "\xc3\xa9\xe2\x82\xac"}}},
    {"%20 is space", "x=a%20b", 0, NULL, 1, {{"x", "a b"}}},
    {"4-byte utf-8", "e=%F0%9F%98%80", 0, NULL, 1, {{"e", "\xf0\x9f\x98\x80"}}},
    {"U+10FFFF accepted", "e=%F4%8F%BF%BF", 0, NULL, 1, {{"e", "\xf4\x8f\xbf\xbf"}}},
    {"slash and ? literal", "p=/a/../b?c", 0, NULL, 1, {{"p", "/a/../b?c"}}},

    /* errors */
    {"lone percent", "a=%", 0, "percent-encoding", 0, {{NULL, NULL}}},
    {"non-hex escape", "a=%zz", 0, "percent-encoding", 0, {{NULL, NULL}}},
    {"bad escape in key", "%g1=x", 0, "percent-encoding", 0, {{NULL, NULL}}},
    {"decoded NUL", "a=x%00y", 0, "percent-encoding", 0, {{NULL, NULL}}},
    {"raw NUL", "a=x\0y", 5, "NUL", 0, {{NULL, NULL}}},
    {"invalid utf-8 byte", "a=%FF", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"raw invalid utf-8", "a=\xc3", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"truncated sequence", "a=%C3", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"lone continuation", "a=%80", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"overlong 2-byte", "a=%C0%AF", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"overlong 3-byte", "a=%E0%80%AF", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"overlong 4-byte", "a=%F0%80%80%AF", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"surrogate", "a=%ED%A0%80", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"above U+10FFFF", "a=%F4%90%80%80", 0, "UTF-8", 0, {{NULL, NULL}}},
    {"error after good pairs", "a=1&b=2&c=%", 0, "percent-encoding", 0, {{NULL, NULL}}},
    {"escape error wins in same component", "a=%FF%zz", 0, "percent-encoding", 0, {{NULL, NULL}}},
    {"key error before value error", "%FF=%zz", 0, "UTF-8", 0, {{NULL, NULL}}},
};

static void
run_case(void **state)
{
    const struct query_case *c = *state;
    struct osh_query q;
    char err[128];
    size_t len = c->in_len ? c->in_len : strlen(c->in);
    int rc;

    osh_query_init(&q);
    /* a pre-existing pair must survive a failed parse untouched */
    assert_int_equal(osh_query_add(&q, "pre", "existing"), 0);
    memset(err, 'X', sizeof(err));
    rc = osh_query_parse(&q, c->in, len, err, sizeof(err));
    if (c->err_has != NULL) {
        assert_int_equal(rc, -EBADMSG);
        if (strstr(err, c->err_has) == NULL)
            print_error("%s: error \"%s\" lacks \"%s\"\n", c->name, err, c->err_has);
        assert_non_null(strstr(err, c->err_has));
        assert_int_equal(q.len, 1);
    } else {
        assert_int_equal(rc, 0);
        assert_string_equal(err, "");
        assert_int_equal(q.len, 1 + c->npairs);
        for (size_t i = 0; i < c->npairs; i++) {
            assert_string_equal(q.params[1 + i].key, c->pairs[i].key);
            assert_string_equal(q.params[1 + i].value, c->pairs[i].value);
        }
    }
    assert_string_equal(q.params[0].key, "pre");
    assert_string_equal(q.params[0].value, "existing");
    osh_query_clear(&q);
    assert_null(q.params);
    assert_int_equal(q.len, 0);
}

static void
test_lookup(void **state)
{
    struct osh_query q;
    const char *s = "tag=a&x=1&tag=b&TAG=c&tag=";

    (void)state;
    osh_query_init(&q);
    assert_int_equal(osh_query_parse(&q, s, strlen(s), NULL, 0), 0);
    assert_int_equal(osh_query_count(&q, "tag"), 3);
    assert_string_equal(osh_query_value(&q, "tag", 0), "a");
    assert_string_equal(osh_query_value(&q, "tag", 1), "b");
    assert_string_equal(osh_query_value(&q, "tag", 2), "");
    assert_null(osh_query_value(&q, "tag", 3));
    assert_int_equal(osh_query_count(&q, "TAG"), 1);
    assert_int_equal(osh_query_count(&q, "missing"), 0);
    assert_null(osh_query_value(&q, "missing", 0));
    assert_int_equal(osh_query_count(&q, NULL), 0);
    assert_null(osh_query_value(&q, NULL, 0));

    /* a second parse appends; add appends a copy */
    assert_int_equal(osh_query_parse(&q, "tag=d", 5, NULL, 0), 0);
    assert_string_equal(osh_query_value(&q, "tag", 3), "d");
    {
        char k[] = "own", v[] = "copy";
        assert_int_equal(osh_query_add(&q, k, v), 0);
        k[0] = v[0] = 'Z';
        assert_string_equal(osh_query_value(&q, "own", 0), "copy");
    }
    assert_int_equal(osh_query_add(&q, NULL, "x"), -EINVAL);
    osh_query_clear(&q);
    /* clearing twice and clearing a zeroed list are both fine */
    osh_query_clear(&q);
}

static void
test_growth_and_rollback(void **state)
{
    struct osh_query q = {0};
    char buf[4096], err[8];
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(&buf[n], sizeof(buf) - n, "k%d=v%d&", i, i);
    assert_int_equal(osh_query_parse(&q, buf, n, NULL, 0), 0);
    assert_int_equal(q.len, 300);
    assert_string_equal(osh_query_value(&q, "k299", 0), "v299");

    /* 300 more good pairs then a bad one: all of them are rolled back */
    n += (size_t)snprintf(&buf[n], sizeof(buf) - n, "bad=%%");
    assert_int_equal(osh_query_parse(&q, buf, n, err, sizeof(err)), -EBADMSG);
    assert_int_equal(q.len, 300);
    /* a short err buffer is truncated, still terminated */
    assert_int_equal(strlen(err), sizeof(err) - 1);
    osh_query_clear(&q);

    /* NULL with len 0 is an empty query */
    assert_int_equal(osh_query_parse(&q, NULL, 0, NULL, 0), 0);
    assert_int_equal(q.len, 0);
    assert_int_equal(osh_query_parse(&q, NULL, 1, NULL, 0), -EINVAL);
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_growth_and_rollback),
    };
    struct CMUnitTest tests[ARRAY_LEN(cases) + ARRAY_LEN(extra)];

    for (size_t i = 0; i < ARRAY_LEN(cases); i++)
        tests[i] = (struct CMUnitTest){
            .name = cases[i].name,
            .test_func = run_case,
            .initial_state = &cases[i],
        };
    for (size_t i = 0; i < ARRAY_LEN(extra); i++)
        tests[ARRAY_LEN(cases) + i] = extra[i];
    return cmocka_run_group_tests_name("query", tests, NULL, NULL);
}
