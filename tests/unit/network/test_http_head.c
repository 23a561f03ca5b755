/*
 * test_http_head.c - the proxy's HTTP/1.x head parser and body framing:
 * the strictness that keeps requests from being smuggled past the policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "http_head.h"

static int
parse_req(const char *s, struct http_head *h)
{
    size_t end = http_head_end(s, strlen(s), 0);
    if (end == 0)
        return -EAGAIN;
    return http_parse_request(s, end, h);
}

static void
test_head_end(void **state)
{
    const char *s = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
    (void)state;
    assert_int_equal(http_head_end(s, strlen(s), 0), strlen(s) - 4);
    assert_int_equal(http_head_end(s, 10, 0), 0);
    /* Resuming after a split terminator still finds it. */
    assert_int_equal(http_head_end(s, strlen(s), 26), strlen(s) - 4);
    assert_int_equal(http_head_end("\r\n\r", 3, 0), 0);
}

static void
test_request_ok(void **state)
{
    struct http_head h;
    const struct http_header *hd;
    (void)state;
    assert_int_equal(parse_req("GET http://a.example/x?y=1 HTTP/1.1\r\nHost: a.example\r\n"
                               "X-Test:   padded value  \r\n\r\n",
                               &h),
                     0);
    assert_int_equal(h.method.len, 3);
    assert_memory_equal(h.method.p, "GET", 3);
    assert_int_equal(h.target.len, strlen("http://a.example/x?y=1"));
    assert_int_equal(h.version_minor, 1);
    assert_int_equal(h.n_headers, 2);
    hd = http_find_header(&h, "x-test");
    assert_non_null(hd);
    assert_int_equal(hd->value.len, strlen("padded value"));
    assert_memory_equal(hd->value.p, "padded value", hd->value.len);
    assert_int_equal(parse_req("CONNECT a.example:443 HTTP/1.0\r\n\r\n", &h), 0);
    assert_int_equal(h.version_minor, 0);
}

static void
test_request_rejected(void **state)
{
    static const char *const bad[] = {
        "GET / HTTP/2.0\r\n\r\n",                    /* version */
        "GET /\r\n\r\n",                             /* no version */
        "GET  / HTTP/1.1\r\n\r\n",                   /* empty target */
        " GET / HTTP/1.1\r\n\r\n",                   /* leading space */
        "G(T / HTTP/1.1\r\n\r\n",                    /* method not a token */
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",        /* space before colon */
        "GET / HTTP/1.1\r\n: a\r\n\r\n",             /* empty name */
        "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n",      /* bare LF inside a value */
        "GET /\x01 HTTP/1.1\r\n\r\n",                /* control byte in the line */
    };
    struct http_head h;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse_req(bad[i], &h);
        if (rc != -EBADMSG)
            fail_msg("case %zu accepted (rc %d): %s", i, rc, bad[i]);
    }
}

static void
test_request_framing(void **state)
{
    struct http_head h;
    enum http_body_kind k;
    uint64_t len;
    (void)state;

    assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n", &h), 0);
    assert_int_equal(http_request_body(&h, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_LENGTH);
    assert_int_equal(len, 12);

    assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                               &h),
                     0);
    assert_int_equal(http_request_body(&h, &k, &len), 0);
    assert_int_equal(len, 5);

    assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &h),
                     0);
    assert_int_equal(http_request_body(&h, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_CHUNKED);

    assert_int_equal(parse_req("GET / HTTP/1.1\r\n\r\n", &h), 0);
    assert_int_equal(http_request_body(&h, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_NONE);

    /* The smuggling shapes. */
    assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                               &h),
                     0);
    assert_int_equal(http_request_body(&h, &k, &len), -EBADMSG);
    assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
                               "chunked\r\n\r\n",
                               &h),
                     0);
    assert_int_equal(http_request_body(&h, &k, &len), -EBADMSG);
    assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", &h),
                     0);
    assert_int_equal(http_request_body(&h, &k, &len), -EBADMSG);
    assert_int_equal(parse_req("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", &h), 0);
    assert_int_equal(http_request_body(&h, &k, &len), -EBADMSG);
    assert_int_equal(parse_req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n",
                               &h),
                     0);
    assert_int_equal(http_request_body(&h, &k, &len), -EBADMSG);
}

static void
test_response_framing(void **state)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
    static const char nolen[] = "HTTP/1.0 200 OK\r\n\r\n";
    static const char nc[] = "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n";
    struct http_slice get = {"GET", 3}, head = {"HEAD", 4};
    struct http_head h;
    enum http_body_kind k;
    uint64_t len;
    (void)state;

    assert_int_equal(http_parse_response(ok, sizeof(ok) - 1, &h), 0);
    assert_int_equal(h.status, 200);
    assert_int_equal(http_response_body(&h, get, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_LENGTH);
    assert_int_equal(http_response_body(&h, head, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_NONE);
    assert_int_equal(http_parse_response(nolen, sizeof(nolen) - 1, &h), 0);
    assert_int_equal(http_response_body(&h, get, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_UNTIL_CLOSE);
    assert_int_equal(http_parse_response(nc, sizeof(nc) - 1, &h), 0);
    assert_int_equal(http_response_body(&h, get, &k, &len), 0);
    assert_int_equal(k, HTTP_BODY_NONE);
    assert_int_equal(http_parse_response("HTTP/1.1 20 OK\r\n\r\n", 18, &h), -EBADMSG);
    assert_int_equal(http_parse_response("HTTP/1.1 2000 OK\r\n\r\n", 20, &h), -EBADMSG);
}

/* Feeds `body` in pieces of `step` bytes; returns bytes consumed. */
static long
chunked_feed(const char *body, size_t len, size_t step, struct http_chunked *c)
{
    size_t off = 0;
    while (off < len && !c->done) {
        size_t n = len - off < step ? len - off : step;
        long r = http_chunked_advance(c, body + off, n);
        if (r < 0)
            return r;
        off += (size_t)r;
        if ((size_t)r < n)
            break;
    }
    return (long)off;
}

static void
test_chunked(void **state)
{
    static const char body[] = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                               "0\r\nTrailer: x\r\n\r\nNEXT";
    const size_t msg = sizeof(body) - 1 - 4;
    (void)state;

    for (size_t step = 1; step <= sizeof(body); step++) {
        struct http_chunked c = {0};
        long n = chunked_feed(body, sizeof(body) - 1, step, &c);
        assert_true(c.done);
        assert_int_equal(n, (long)msg); /* stops before "NEXT" */
    }
    {
        struct http_chunked c = {0};
        assert_int_equal(http_chunked_advance(&c, "zz\r\n", 4), -EBADMSG);
    }
    {
        struct http_chunked c = {0};
        assert_int_equal(http_chunked_advance(&c, "5\r\nhelloXX", 10), -EBADMSG);
    }
    {
        struct http_chunked c = {0};
        assert_int_equal(http_chunked_advance(&c, "ffffffffffffffff1\r\n", 19), -EBADMSG);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_end),        cmocka_unit_test(test_request_ok),
        cmocka_unit_test(test_request_rejected), cmocka_unit_test(test_request_framing),
        cmocka_unit_test(test_response_framing), cmocka_unit_test(test_chunked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
