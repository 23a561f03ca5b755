/*
 * test_http_path.c - request-target canonicalization (policy.md §3.2).
 *
 * Table driven: every row of `cases` runs as its own cmocka test, so the TAP
 * output names the failing input.  Rows carry explicit lengths where the
 * input holds a NUL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "osh/http_path.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct path_case {
    const char *name;
    const char *in;
    size_t in_len; /* 0: strlen(in) */
    bool allow_slash;
    enum osh_path_result want;
    const char *want_out;   /* on OK */
    const char *want_query; /* on OK; NULL: no '?' */
    size_t outcap;          /* 0: a large buffer */
};

/* clang-format off */
#define OK(n, i, o)      {n, i, 0, false, OSH_PATH_OK, o, NULL, 0}
#define OKQ(n, i, o, q)  {n, i, 0, false, OSH_PATH_OK, o, q, 0}
#define OKS(n, i, o)     {n, i, 0, true, OSH_PATH_OK, o, NULL, 0}
#define ERR(n, i, r)     {n, i, 0, false, r, NULL, NULL, 0}
#define ERRS(n, i, r)    {n, i, 0, true, r, NULL, NULL, 0}
/* clang-format on */

static struct path_case cases[] = {
    /* policy.md §3.2 [T] examples */
    OK("spec: %2e%2e resolves", "/public/%2e%2e/secret", "/secret"),
    OK("spec: trailing .. keeps slash", "/a/b/..", "/a/"),
    OK("spec: double slashes collapse before ..", "//public//../secret", "/secret"),
    OK("spec: %40 decoded", "/users/%40alice", "/users/@alice"),
    OK("spec: utf-8 re-encoded upper case", "/a/caf%c3%a9", "/a/caf%C3%A9"),
    OK("spec: %3F stays encoded", "/search/a%3Fb", "/search/a%3Fb"),
    ERR("spec: /.. above root", "/..", OSH_PATH_TRAVERSAL),
    ERR("spec: %2E%2E%2F is an encoded slash", "/public/%2E%2E%2Fsecret", OSH_PATH_ENCODED_SLASH),
    OKS("spec: allowed %2f re-emitted upper", "/a%2fb", "/a%2Fb"),

    /* basics */
    OK("empty target is /", "", "/"),
    OK("root", "/", "/"),
    OK("already canonical", "/api/v1/items", "/api/v1/items"),
    OK("only slashes", "///", "/"),
    OK("leading double slash", "//a", "/a"),
    OK("inner empty segments", "/a//b///c", "/a/b/c"),
    OK("trailing slash kept", "/a/b/", "/a/b/"),
    OK("double trailing slash", "/a/b//", "/a/b/"),

    /* dot segments */
    OK("single dot dropped", "/a/./b", "/a/b"),
    OK("trailing dot keeps slash", "/a/b/.", "/a/b/"),
    OK("encoded trailing dot", "/a/b/%2e", "/a/b/"),
    OK("dotdot in the middle", "/a/../b", "/b"),
    OK("dotdot to root", "/a/..", "/"),
    OK("two dotdots to root", "/a/b/../..", "/"),
    OK("dotdot then trailing slash", "/a/%2E%2e/", "/"),
    OK("dot only", "/.", "/"),
    OK("mixed case %2E.", "/a/b/%2E./c", "/a/c"),
    OK("three dots is a name", "/a/.../b", "/a/.../b"),
    OK("dot prefix is a name", "/a/.b/..c", "/a/.b/..c"),
    OK("empty segments do not absorb dotdot", "/a/b//../c", "/a/c"),
    ERR("dotdot first", "/../a", OSH_PATH_TRAVERSAL),
    ERR("too many dotdots", "/a/b/../../..", OSH_PATH_TRAVERSAL),
    ERR("underflow later cancelled is still traversal", "/a/../../b", OSH_PATH_TRAVERSAL),
    ERR("encoded dotdot above root", "/%2e%2E", OSH_PATH_TRAVERSAL),
    ERR("dotdot above root through empty segments", "//..//a", OSH_PATH_TRAVERSAL),

    /* ;params (stripped before the dot-segment test) */
    OK("spec: params stripped", "/a;jsessionid=x/b", "/a/b"),
    OK("params on last segment", "/a/b;v=1", "/a/b"),
    OK("param-only last segment leaves slash", "/a/;x", "/a/"),
    OK("param-only middle segment removed", "/a/;x/b", "/a/b"),
    OK("dotdot;params is dotdot", "/a/..;x/b", "/b"),
    OK("dot;params is dot", "/a/.;x/b", "/a/b"),
    OK("decoded %3B also starts params", "/a%3Bx/b", "/a/b"),
    ERR("dotdot;params above root", "/..;x", OSH_PATH_TRAVERSAL),
    ERR("dotdot%3Bparams above root", "/a/../..%3b", OSH_PATH_TRAVERSAL),

    /* re-encoding */
    OK("raw space", "/a b", "/a%20b"),
    OK("encoded space", "/a%20b", "/a%20b"),
    OK("unreserved decoded", "/%7Euser/%41%2d%5f%2E1", "/~user/A-_.1"),
    OK("sub-delims literal", "/!$&'()*+,=:@", "/!$&'()*+,=:@"),
    OK("encoded sub-delims decoded", "/%21%24%26%27%28%29%2A%2B%2C%3D%3A%40", "/!$&'()*+,=:@"),
    OK("gen-delims and others encoded", "/a\"<>[]{}|\\^`b", "/a%22%3C%3E%5B%5D%7B%7D%7C%5C%5E%60b"),
    OK("percent sign itself", "/100%25", "/100%25"),
    OK("lower-case escapes upper-cased", "/%e2%82%ac", "/%E2%82%AC"),

    /* step 1: raw bytes, query included */
    {"raw NUL", "/a\0b", 4, false, OSH_PATH_NULL_OR_CONTROL, NULL, NULL, 0},
    ERR("raw tab", "/a\tb", OSH_PATH_NULL_OR_CONTROL),
    ERR("raw CR", "/a\r", OSH_PATH_NULL_OR_CONTROL),
    ERR("raw DEL", "/a\x7f", OSH_PATH_NULL_OR_CONTROL),
    ERR("raw 0x1f", "/\x1f", OSH_PATH_NULL_OR_CONTROL),
    ERR("raw non-ascii", "/caf\xc3\xa9", OSH_PATH_NON_ASCII),
    ERR("raw 0x80", "/\x80", OSH_PATH_NON_ASCII),
    ERR("control in query", "/a?x=\x01", OSH_PATH_NULL_OR_CONTROL),
    ERR("non-ascii in query", "/a?x=\xff", OSH_PATH_NON_ASCII),
    ERR("fragment", "/a#frag", OSH_PATH_FRAGMENT),
    ERR("fragment after query", "/a?x=1#y", OSH_PATH_FRAGMENT),
    ERR("fragment alone", "#", OSH_PATH_FRAGMENT),
    ERR("control wins over earlier fragment", "/a#\x01", OSH_PATH_NULL_OR_CONTROL),
    ERR("first of non-ascii/control wins", "/\x80\x01", OSH_PATH_NON_ASCII),

    /* step 4: escapes */
    ERR("decoded NUL", "/a%00", OSH_PATH_NULL_OR_CONTROL),
    ERR("decoded LF", "/a%0a", OSH_PATH_NULL_OR_CONTROL),
    ERR("decoded 0x1F", "/a%1F", OSH_PATH_NULL_OR_CONTROL),
    ERR("decoded DEL", "/a%7f", OSH_PATH_NULL_OR_CONTROL),
    ERR("lone percent", "/a%", OSH_PATH_BAD_PERCENT),
    ERR("short escape", "/a%4", OSH_PATH_BAD_PERCENT),
    ERR("short escape before query", "/a%4?x", OSH_PATH_BAD_PERCENT),
    ERR("non-hex escape", "/a%zz", OSH_PATH_BAD_PERCENT),
    ERR("half-hex escape", "/a%4g", OSH_PATH_BAD_PERCENT),
    ERR("double percent", "/%%41", OSH_PATH_BAD_PERCENT),
    ERR("encoded slash lower", "/a%2fb", OSH_PATH_ENCODED_SLASH),
    ERR("first escape error wins", "/%2F%zz", OSH_PATH_ENCODED_SLASH),
    ERR("escape error before traversal", "/../%zz", OSH_PATH_BAD_PERCENT),

    /* allow_encoded_slash */
    OKS("encoded slash kept in segment", "/repos/a%2Fb/c", "/repos/a%2Fb/c"),
    OKS("two encoded slashes", "/a%2F%2fb", "/a%2F%2Fb"),
    OKS("encoded slash alone", "/x/%2F", "/x/%2F"),
    OKS("dotdot does not split at %2F", "/a%2Fb/../c", "/c"),
    OKS("dotted names around %2F", "/...%2F.x", "/...%2F.x"),
    OKS("residual segment cancelled by ..", "/x/..%2Fy/..", "/x/"),
    ERRS("..%2F kept is rejected", "/a/..%2Fb", OSH_PATH_TRAVERSAL),
    ERRS("%2F.. kept is rejected", "/a/b%2F..", OSH_PATH_TRAVERSAL),
    ERRS(".%2F kept is rejected", "/a/.%2Fb", OSH_PATH_TRAVERSAL),
    ERRS("allow does not relax %00", "/a%2F%00", OSH_PATH_NULL_OR_CONTROL),

    /* step 2: query */
    OKQ("query split", "/a/../b?x=1&y=%zz", "/b", "x=1&y=%zz"),
    OKQ("empty query", "/a?", "/a", ""),
    OKQ("query with second ?", "/a?b?c", "/a", "b?c"),
    OKQ("query with slash and dots", "/a?p=/../x", "/a", "p=/../x"),
    OKQ("empty path with query", "?x", "/", "x"),

    /* step 3: absolute and malformed forms */
    OK("absolute form", "http://example.com/a/../b", "/b"),
    OKQ("absolute form with query", "https://example.com:8443/x%20y?q=1", "/x%20y", "q=1"),
    OK("absolute form without path", "http://example.com", "/"),
    OKQ("absolute form without path, query", "http://example.com?q", "/", "q"),
    OK("absolute form userinfo and port", "http://u:p@h:80//a", "/a"),
    OK("absolute form ipv6 authority", "http://[::1]:8080/a", "/a"),
    OK("absolute form upper-case scheme", "HTTP://h/A", "/A"),
    OK("scheme with + - .", "git+ssh.x-y://h/p", "/p"),
    OK("origin form containing ://", "/a/http://b", "/a/http:/b"),
    ERR("absolute form empty authority", "http:///a", OSH_PATH_MALFORMED),
    ERR("absolute form bad authority", "http://h\"x/a", OSH_PATH_MALFORMED),
    ERR("absolute form traversal", "http://h/..", OSH_PATH_TRAVERSAL),
    ERR("relative path", "a/b", OSH_PATH_MALFORMED),
    ERR("asterisk form", "*", OSH_PATH_MALFORMED),
    ERR("scheme without //", "mailto:a@b", OSH_PATH_MALFORMED),
    ERR("scheme with one slash", "http:/a", OSH_PATH_MALFORMED),
    ERR("scheme must start with a letter", "1http://h/a", OSH_PATH_MALFORMED),

    /* output buffer */
    {"buffer exactly fits", "/abc", 0, false, OSH_PATH_OK, "/abc", NULL, 5},
    {"buffer one short", "/abc", 0, false, OSH_PATH_OUT_TOO_SMALL, NULL, NULL, 4},
    {"re-encoding grows past buffer", "/a b", 0, false, OSH_PATH_OUT_TOO_SMALL, NULL, NULL, 6},
    {"re-encoding fits", "/a b", 0, false, OSH_PATH_OK, "/a%20b", NULL, 7},
    {"only the result must fit", "/aaaaaaaaaaaaaaaa/..", 0, false, OSH_PATH_OK, "/", NULL, 2},
};

static void
run_case(void **state)
{
    const struct path_case *c = *state;
    char big[3 * (OSH_PATH_MAX + 64) + 2];
    size_t len = c->in_len ? c->in_len : strlen(c->in);
    size_t cap = c->outcap ? c->outcap : sizeof(big);
    const char *q = "poison";
    size_t qlen = 12345;
    enum osh_path_result r;

    memset(big, 'X', sizeof(big));
    r = osh_path_canonicalize(c->in, len, c->allow_slash, big, cap, &q, &qlen);
    if (r != c->want)
        print_error("%s: got %s, want %s\n", c->name, osh_path_result_name(r),
                    osh_path_result_name(c->want));
    assert_int_equal(r, c->want);
    if (r != OSH_PATH_OK) {
        assert_null(q);
        assert_int_equal(qlen, 0);
        assert_string_equal(big, "");
        return;
    }
    assert_string_equal(big, c->want_out);
    assert_true(strlen(big) + 1 <= 3 * len + 2);
    if (c->want_query == NULL) {
        assert_null(q);
        assert_int_equal(qlen, 0);
    } else {
        assert_non_null(q);
        assert_int_equal(qlen, strlen(c->want_query));
        assert_memory_equal(q, c->want_query, qlen);
        /* the query points into the caller's target */
        assert_true(q >= c->in && q + qlen == c->in + len);
    }
}

static void
test_result_names(void **state)
{
    static const struct {
        enum osh_path_result r;
        const char *name;
    } names[] = {
        {OSH_PATH_OK, "Ok"},
        {OSH_PATH_NULL_OR_CONTROL, "NullOrControlByte"},
        {OSH_PATH_NON_ASCII, "NonAscii"},
        {OSH_PATH_FRAGMENT, "FragmentInRequestTarget"},
        {OSH_PATH_MALFORMED, "MalformedTarget"},
        {OSH_PATH_TOO_LONG, "PathTooLong"},
        {OSH_PATH_BAD_PERCENT, "InvalidPercentEncoding"},
        {OSH_PATH_ENCODED_SLASH, "EncodedSlashNotAllowed"},
        {OSH_PATH_TRAVERSAL, "TraversalAboveRoot"},
        {OSH_PATH_OUT_TOO_SMALL, "OutputTooSmall"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        assert_string_equal(osh_path_result_name(names[i].r), names[i].name);
    assert_string_equal(osh_path_result_name((enum osh_path_result)99), "Unknown");
}

/* Path of exactly `n` bytes: "/" then 'a's, with a '/' every 100 bytes. */
static void
fill_path(char *buf, size_t n)
{
    buf[0] = '/';
    for (size_t i = 1; i < n; i++)
        buf[i] = (i % 100 == 0) ? '/' : 'a';
    buf[n] = '\0';
}

static void
test_long_paths(void **state)
{
    static char in[OSH_PATH_MAX + 8192];
    static char out[3 * sizeof(in) + 2];
    const char *q;
    size_t qlen;

    (void)state;
    fill_path(in, OSH_PATH_MAX);
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_OK);
    assert_string_equal(out, in);

    fill_path(in, OSH_PATH_MAX + 1);
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_TOO_LONG);

    /* the query does not count toward the limit */
    fill_path(in, OSH_PATH_MAX);
    in[OSH_PATH_MAX] = '?';
    memset(&in[OSH_PATH_MAX + 1], 'q', 5000);
    in[OSH_PATH_MAX + 5001] = '\0';
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_OK);
    assert_int_equal(strlen(out), OSH_PATH_MAX);
    assert_int_equal(qlen, 5000);

    /* nor does an absolute form's authority */
    memcpy(in, "http://", 7);
    memset(&in[7], 'h', 6000);
    memcpy(&in[6007], "/a/./b", 7);
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_OK);
    assert_string_equal(out, "/a/b");

    /* worst-case growth: every byte re-encoded, 3 * len + 2 is enough */
    in[0] = '/';
    memset(&in[1], ' ', OSH_PATH_MAX - 1);
    in[OSH_PATH_MAX] = '\0';
    assert_int_equal(
        osh_path_canonicalize(in, OSH_PATH_MAX, false, out, 3 * OSH_PATH_MAX + 2, &q, &qlen),
        OSH_PATH_OK);
    assert_int_equal(strlen(out), 1 + 3 * (OSH_PATH_MAX - 1));
    assert_int_equal(
        osh_path_canonicalize(in, OSH_PATH_MAX, false, out, 3 * OSH_PATH_MAX - 2, &q, &qlen),
        OSH_PATH_OUT_TOO_SMALL);

    /* 1024 "/a" then 682 "/..": deep, still linear, 342 "/a" left + '/' */
    memset(in, 0, sizeof(in));
    for (size_t i = 0; i < 1024; i++)
        memcpy(&in[2 * i], "/a", 2);
    for (size_t i = 0; i < 682; i++)
        memcpy(&in[2048 + 3 * i], "/..", 3);
    assert_int_equal(strlen(in), 4094);
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_OK);
    assert_int_equal(strlen(out), 2 * 342 + 1);
    for (size_t i = 0; i < 342; i++)
        assert_memory_equal(&out[2 * i], "/a", 2);
    assert_string_equal(&out[2 * 342], "/");
    /* one more ".." pair cancels everything, one beyond that is traversal */
    in[0] = '\0';
    for (size_t i = 0; i < 600; i++)
        memcpy(&in[2 * i], "/a", 2);
    for (size_t i = 0; i < 601; i++)
        memcpy(&in[1200 + 3 * i], "/..", 3);
    in[1200 + 3 * 601] = '\0';
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_TRAVERSAL);
    in[1200 + 3 * 600] = '\0';
    assert_int_equal(osh_path_canonicalize(in, strlen(in), false, out, sizeof(out), &q, &qlen),
                     OSH_PATH_OK);
    assert_string_equal(out, "/");
}

static void
test_null_arguments(void **state)
{
    char out[8];

    (void)state;
    /* query pointers are optional */
    assert_int_equal(osh_path_canonicalize("/a?b", 4, false, out, sizeof(out), NULL, NULL),
                     OSH_PATH_OK);
    assert_string_equal(out, "/a");
    /* NULL target with len 0 is the empty target */
    assert_int_equal(osh_path_canonicalize(NULL, 0, false, out, sizeof(out), NULL, NULL),
                     OSH_PATH_OK);
    assert_string_equal(out, "/");
    assert_int_equal(osh_path_canonicalize(NULL, 3, false, out, sizeof(out), NULL, NULL),
                     OSH_PATH_MALFORMED);
    assert_int_equal(osh_path_canonicalize("/", 1, false, NULL, 0, NULL, NULL),
                     OSH_PATH_OUT_TOO_SMALL);
    out[0] = 'X';
    assert_int_equal(osh_path_canonicalize("/", 1, false, out, 0, NULL, NULL),
                     OSH_PATH_OUT_TOO_SMALL);
    assert_int_equal(out[0], 'X'); /* a zero capacity is never written */
    assert_int_equal(osh_path_canonicalize("/", 1, false, out, 1, NULL, NULL),
                     OSH_PATH_OUT_TOO_SMALL);
    assert_int_equal(out[0], '\0');
    /* len, not NUL, bounds the target */
    assert_int_equal(osh_path_canonicalize("/ab/../c", 3, false, out, sizeof(out), NULL, NULL),
                     OSH_PATH_OK);
    assert_string_equal(out, "/ab");
}

int
main(void)
{
    static const struct CMUnitTest extra[] = {
        cmocka_unit_test(test_result_names),
        cmocka_unit_test(test_long_paths),
        cmocka_unit_test(test_null_arguments),
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
    return cmocka_run_group_tests_name("http_path", tests, NULL, NULL);
}
