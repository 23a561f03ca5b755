/*
 * test_glob.c - unit tests for shared/src/glob.c: the policy.md §3.4 cases,
 * globset's parsing quirks, errors, NUL handling, a pathological input, and a
 * randomized differential test against a small backtracking reference
 * matcher written here independently (a tree-shaped port of globset's parser
 * and regex, matched by backtracking over continuations).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/glob.h"

struct match_case {
    const char *pat;
    char delim;
    const char *in;
    int want;
};

/* clang-format off */
static const struct match_case match_cases[] = {
    /* policy.md §3.4: host wildcards, delimiter '.' */
    {"*.example.com", '.', "api.example.com", 1},
    {"*.example.com", '.', "deep.sub.example.com", 0},
    {"*.example.com", '.', "example.com", 0},
    {"*.example.com", '.', ".example.com", 1},
    {"*-aiplatform.googleapis.com", '.', "us-central1-aiplatform.googleapis.com", 1},
    {"*-aiplatform.googleapis.com", '.', "us-central1.aiplatform.googleapis.com", 0},
    {"**.example.com", '.', "a.b.example.com", 1},
    {"**.example.com", '.', "a.example.com", 1},
    {"**.example.com", '.', "example.com", 0},
    {"api.github.com", '.', "api.github.com", 1},
    {"api.github.com", '.', "api.github.co", 0},
    {"api.github.com", '.', "xapi.github.com", 0},
    {"api.github.com", '.', "api.github.com.", 0},
    {"github.*", '.', "github.com", 1},
    {"github.*", '.', "github.co.uk", 0},
    {"*.*.example.com", '.', "a.b.example.com", 1},
    {"*.*.example.com", '.', "b.example.com", 0},
    {"{api,www}.example.com", '.', "www.example.com", 1},
    {"{api,www}.example.com", '.', "ftp.example.com", 0},
    {"[a-c]x.com", '.', "bx.com", 1},
    {"[a-c]x.com", '.', "dx.com", 0},
    {"?.com", '.', "a.com", 1},
    {"?.com", '.', ".com", 0},
    {"a?c", '.', "a.c", 0},
    {"a.**", '.', "a.b.c", 1},
    {"a.**", '.', "a.", 1},
    {"a.**", '.', "a", 0},
    {"**", '.', "a.b.c", 1},
    {"**", '.', "", 1},
    {"*", '.', "", 1},
    {"*", '.', "abc", 1},
    {"*", '.', "a.b", 0},
    /* query values: '.' is the separator, '/' is ordinary */
    {"foo-*", '.', "foo-1", 1},
    {"foo-*", '.', "foo-1.2", 0},
    {"v1.*", '.', "v1.2", 1},
    {"v1.*", '.', "v1.2.3", 0},
    {"a/*", '.', "a/b", 1},
    {"a/*", '.', "a/b/c", 1},
    {"*", '.', "a/b", 1},
    {"a?b", '.', "a/b", 1},
    {"*/*", '.', "a/b", 1},
    {"*/*", '.', "a.b/c", 0},
    {"a/**", '.', "a/b/c", 1}, /* no separator before "**": plain '*' */
    {"a/**", '.', "a/b.c", 0},
    {"a\\/b", '.', "a/b", 1},
    /* paths, delimiter '/' */
    {"/usr/bin/*", '/', "/usr/bin/node", 1},
    {"/usr/bin/*", '/', "/usr/bin/", 1},
    {"/usr/bin/*", '/', "/usr/bin/subdir/node", 0},
    {"/usr/bin/*", '/', "/usr/bin", 0},
    {"/x/**", '/', "/x/a/b", 1},
    {"/x/**", '/', "/x/", 1},
    {"/x/**", '/', "/x", 0},
    {"/x/**", '/', "/xy", 0},
    {"/repos/**", '/', "/repos/", 1},
    {"/repos/**", '/', "/repos", 0},
    {"/**", '/', "/any/path/here", 1},
    {"/**", '/', "/", 1},
    {"/**", '/', "relative/path", 0},
    {"**", '/', "anything/at/all", 1},
    {"**", '/', "", 1},
    {"**/", '/', "no/trailing", 1}, /* globset: only RecursivePrefix is .* */
    {"/**/info/refs*", '/', "/info/refs", 1},
    {"/**/info/refs*", '/', "/o/r.git/info/refs", 1},
    {"/**/info/refs*", '/', "/o/r.git/info/refs?service=git", 1},
    {"/**/info/refs*", '/', "/o/info/refsx/y", 0},
    {"/**/info/refs*", '/', "/oinfo/refs", 0},
    {"foo**", '/', "foobar", 1},
    {"foo**", '/', "foo", 1},
    {"foo**", '/', "foo/bar", 0},
    {"/a**", '/', "/abc", 1},
    {"/a**", '/', "/a/b", 0},
    {"/a/**/b", '/', "/a/b", 1},
    {"/a/**/b", '/', "/a/x/y/b", 1},
    {"/a/**/b", '/', "/a/xb", 0},
    {"/a/**/b", '/', "/ab", 0},
    {"**/b", '/', "b", 1},
    {"**/b", '/', "/b", 1},
    {"**/b", '/', "x/y/b", 1},
    {"**/b", '/', "xb", 0},
    {"**/**", '/', "x/y", 1},
    {"a/**/**", '/', "a/", 1},
    {"a/**/**", '/', "a/b/c", 1},
    {"a/**/**", '/', "a", 0},
    {"a/**/**/b", '/', "a/b", 1},
    {"***", '/', "abc", 1},
    {"***", '/', "a/b", 0},
    {"a/***", '/', "a/bc", 1},
    {"a/***", '/', "a/b/c", 0},
    {"*.txt", '/', "a.txt", 1},
    {"*.txt", '/', "dir/a.txt", 0},
    {"a*b*c", '/', "aXbYc", 1},
    {"a*b*c", '/', "a/b/c", 0},
    {"/usr/bin/{node,python3}", '/', "/usr/bin/python3", 1},
    {"/usr/bin/{node,python3}", '/', "/usr/bin/perl", 0},
    {"/usr/bin/python3.1?", '/', "/usr/bin/python3.12", 1},
    {"/usr/bin/python3.1?", '/', "/usr/bin/python3.1", 0},
    {"/usr/lib/[!.]*", '/', "/usr/lib/x", 1},
    {"/usr/lib/[!.]*", '/', "/usr/lib/.hidden", 0},
    {"ABC", '/', "abc", 0},
    /* classes do not exclude the separator */
    {"a[/]b", '/', "a/b", 1},
    {"a[!x]b", '/', "a/b", 1},
    {"a[!x]b", '/', "axb", 0},
    {"a[^x]b", '/', "ayb", 1},
    {"[]]", '/', "]", 1},
    {"[]a]", '/', "a", 1},
    {"[!]]", '/', "a", 1},
    {"[!]]", '/', "]", 0},
    {"[-a]", '/', "-", 1},
    {"[a-]", '/', "-", 1},
    {"[a-]", '/', "b", 0},
    {"[a-c-e]", '/', "d", 1}, /* globset widens the last range */
    {"[*]", '/', "*", 1},
    {"[*]", '/', "a", 0},
    {"[0-9a-f]", '/', "e", 1},
    {"[0-9a-f]", '/', "g", 0},
    /* escapes */
    {"\\*", '/', "*", 1},
    {"\\*", '/', "a", 0},
    {"\\*", '.', "*", 1},
    {"a\\?", '/', "a?", 1},
    {"a\\?", '/', "ab", 0},
    {"\\[a]", '/', "[a]", 1},
    {"\\{a,b\\}", '/', "{a,b}", 1},
    {"\\\\", '/', "\\", 1},
    {"a\\/b", '/', "a/b", 1},
    /* alternation */
    {"{a,b}{c,d}", '/', "bd", 1},
    {"{a,b}{c,d}", '/', "ab", 0},
    {"{a,{b,c}d}", '/', "cd", 1},
    {"{a,{b,c}d}", '/', "c", 0},
    {"{a,{b,c}d}", '/', "a", 1},
    {"a,b", '/', "a,b", 1},
    {"{,a}x", '/', "x", 0}, /* globset drops empty alternatives */
    {"{,a}x", '/', "ax", 1},
    {"{a,}", '/', "", 0},
    {"{a,}", '/', "a", 1},
    {"a{}b", '/', "ab", 1},
    {"a{,}b", '/', "ab", 1},
    {"{{},a}", '/', "", 0},
    {"{a\\,b,c}", '/', "a,b", 1},
    {"{a\\,b,c}", '/', "c", 1},
    {"{a\\,b,c}", '/', "a", 0},
    {"{**,x}", '/', "ab", 1},
    {"{**,x}", '/', "a/b", 0},
    {"{a/**,b}", '/', "a/x/y", 1},
    {"{a/**,b}", '/', "a", 0},
    {"{a/**,b}", '/', "b", 1},
    {"{**/x,y}", '/', "q/r/x", 1},
    {"{**/x,y}", '/', "x", 1},
    {"{**/}", '/', "x", 0}, /* the .* special case is top level only */
    {"{**/}", '/', "x/", 1},
    {"{x\\,**}", '/', "x/", 1}, /* escaped ',' then "**": replaces the ',' */
    {"{x\\,**}", '/', "x,", 0},
    /* empty pattern and input */
    {"", '/', "", 1},
    {"", '/', "a", 0},
    {"", '.', "", 1},
    {"a", '/', "", 0},
    /* bytes: newline, non-ASCII */
    {"a*b", '/', "a\nb", 1},
    {"a?b", '/', "a\nb", 1},
    {"\xc3\xa9*", '/', "\xc3\xa9" "cole", 1},
    {"?", '/', "\xc3\xa9", 0}, /* '?' is one byte, as in globset's (?-u) */
    {"??", '/', "\xc3\xa9", 1},
    {"[\xc3\xa9]", '/', "\xc3", 1}, /* a class holds the character's bytes */
    {"[\xc3\xa9]", '/', "\xc3\xa9", 0},
    {"[a-\xc3\xa9]", '/', "\xc3", 1},
    {"[a-\xc3\xa9]", '/', "\xc4", 0},
    /* '.' inside classes and escapes is rewritten too, as regorus does */
    {"a[.]b", '.', "a.b", 0},
    {"a\\.b", '.', "a.b", 1},
    {"{a.b,c}", '.', "a.b", 1},
};
/* clang-format on */

struct error_case {
    const char *pat;
    char delim;
    const char *msg; /* a substring of the message */
};

/* clang-format off */
static const struct error_case error_cases[] = {
    {"[", '/', "unclosed character class"},
    {"[]", '/', "unclosed character class"},
    {"[!", '/', "unclosed character class"},
    {"[!]", '/', "unclosed character class"},
    {"a[bc", '/', "unclosed character class"},
    {"[a-z", '.', "unclosed character class"},
    {"[z-a]", '/', "invalid range"},
    {"[z--]", '/', "invalid range"},
    {"x[b-a]y", '.', "invalid range"},
    {"\\", '/', "dangling escape"},
    {"abc\\", '.', "dangling escape"},
    {"}", '/', "unopened alternation"},
    {"a,b}", '/', "unopened alternation"},
    {"{a,b}}", '/', "unopened alternation"},
    {"{", '/', "unclosed alternation"},
    {"{a,b", '/', "unclosed alternation"},
    {"{a,{b,c}", '.', "unclosed alternation"},
    {"\xc3", '/', "not valid UTF-8"},
    {"\xff", '.', "not valid UTF-8"},
    {"a", 'x', "unsupported delimiter"},
};
/* clang-format on */

static void
test_match_table(void **state)
{
    size_t failures = 0;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
        const struct match_case *c = &match_cases[i];
        struct osh_glob *g = NULL;
        int rc = osh_glob_compile(c->pat, strlen(c->pat), c->delim, &g, err, sizeof(err));
        if (rc != 0) {
            print_error("case %zu: compile '%s' failed: %s\n", i, c->pat, err);
            failures++;
            continue;
        }
        rc = osh_glob_match(g, c->in, strlen(c->in));
        if (rc != c->want) {
            print_error("case %zu: '%s' delim '%c' on '%s': got %d, want %d\n", i, c->pat, c->delim,
                        c->in, rc, c->want);
            failures++;
        }
        osh_glob_free(g);
    }
    assert_int_equal(failures, 0);
}

static void
test_error_table(void **state)
{
    size_t failures = 0;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        struct osh_glob *g = (struct osh_glob *)&failures; /* must be reset to NULL */
        int rc = osh_glob_compile(c->pat, strlen(c->pat), c->delim, &g, err, sizeof(err));
        if (rc != -EINVAL || g != NULL || strstr(err, c->msg) == NULL) {
            print_error("error case %zu '%s': rc %d, err '%s', want '%s'\n", i, c->pat, rc, err,
                        c->msg);
            failures++;
            if (rc == 0)
                osh_glob_free(g);
        }
    }
    assert_int_equal(failures, 0);
}

static void
test_nul_bytes(void **state)
{
    static const char *const pats[] = {"a*b", "a", "**", "a*", "/x/**", "[a]?"};
    struct osh_glob *g = NULL;
    char err[128];

    (void)state;
    /* NUL in the input is an evaluation error, whatever the pattern shape. */
    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
        for (int d = 0; d < 2; d++) {
            assert_int_equal(
                osh_glob_compile(pats[i], strlen(pats[i]), d ? '/' : '.', &g, err, sizeof(err)), 0);
            assert_int_equal(osh_glob_match(g, "a\0b", 3), -EINVAL);
            assert_int_equal(osh_glob_match(g, "\0", 1), -EINVAL);
            osh_glob_free(g);
        }
    }
    /* In the pattern too (regorus rejects both). */
    assert_int_equal(osh_glob_compile("a\0b", 3, '/', &g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "NUL"));
    assert_null(g);
    /* Lengths, not strlen: a pattern "a" given with its length only. */
    assert_int_equal(osh_glob_compile("abc", 1, '/', &g, err, sizeof(err)), 0);
    assert_int_equal(osh_glob_match(g, "abc", 1), 1);
    assert_int_equal(osh_glob_match(g, "abc", 3), 0);
    osh_glob_free(g);
}

static void
test_api_edges(void **state)
{
    struct osh_glob *g = NULL;
    char err[8];

    (void)state;
    osh_glob_free(NULL);
    /* NULL err buffer and a truncating one are both fine. */
    assert_int_equal(osh_glob_compile("[", 1, '/', &g, NULL, 0), -EINVAL);
    assert_int_equal(osh_glob_compile("[", 1, '/', &g, err, sizeof(err)), -EINVAL);
    assert_int_equal(strlen(err), sizeof(err) - 1);
    assert_int_equal(osh_glob_compile(NULL, 0, '/', &g, NULL, 0), 0);
    assert_int_equal(osh_glob_match(g, NULL, 0), 1);
    assert_int_equal(osh_glob_match(g, "", 0), 1);
    osh_glob_free(g);
    assert_int_equal(osh_glob_compile(NULL, 1, '/', &g, NULL, 0), -EINVAL);
    assert_int_equal(osh_glob_compile("a", 1, '/', NULL, NULL, 0), -EINVAL);
}

static void
test_complexity_cap(void **state)
{
    size_t n = 3000;
    char *p = malloc(n + 1);
    struct osh_glob *g = NULL;
    char err[128];

    (void)state;
    assert_non_null(p);
    /* A long literal (PATH_MAX-ish) compiles... */
    memset(p, 'a', n);
    p[0] = '/';
    assert_int_equal(osh_glob_compile(p, n, '/', &g, err, sizeof(err)), 0);
    assert_int_equal(osh_glob_match(g, p, n), 1);
    assert_int_equal(osh_glob_match(g, p, n - 1), 0);
    osh_glob_free(g);
    /* ...as does a long pattern on the NFA path... */
    p[n - 1] = '?';
    assert_int_equal(osh_glob_compile(p, n, '/', &g, err, sizeof(err)), 0);
    p[n - 1] = 'z';
    assert_int_equal(osh_glob_match(g, p, n), 1);
    osh_glob_free(g);
    /* ...but 3000 stars need 9000 instructions. */
    memset(p, '*', n);
    for (size_t i = 1; i < n; i += 2)
        p[i] = 'x';
    assert_int_equal(osh_glob_compile(p, n, '/', &g, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "too complex"));
    assert_null(g);
    free(p);
}

static void
test_pathological(void **state)
{
    static const char pat[] = "*a*a*a*a*a*a*a*b";
    static const char pat2[] = "**/a*a*a*a*a/**/a*b";
    size_t n = 100 * 1024;
    char *s = malloc(n);
    struct osh_glob *g = NULL;
    char err[128];

    (void)state;
    assert_non_null(s);
    memset(s, 'a', n);
    /* Would take exponential time with a naive backtracker. */
    assert_int_equal(osh_glob_compile(pat, strlen(pat), '/', &g, err, sizeof(err)), 0);
    assert_int_equal(osh_glob_match(g, s, n), 0);
    s[n - 1] = 'b';
    assert_int_equal(osh_glob_match(g, s, n), 1);
    osh_glob_free(g);
    assert_int_equal(osh_glob_compile(pat, strlen(pat), '.', &g, err, sizeof(err)), 0);
    assert_int_equal(osh_glob_match(g, s, n), 1);
    osh_glob_free(g);
    /* Segments of six 'a' behind '/', the last one "aab". */
    for (size_t i = 0; i < n; i += 7)
        s[i] = '/';
    assert_int_equal(osh_glob_compile(pat2, strlen(pat2), '/', &g, err, sizeof(err)), 0);
    assert_int_equal(osh_glob_match(g, s, n), 1);
    s[n - 1] = 'c';
    assert_int_equal(osh_glob_match(g, s, n), 0);
    osh_glob_free(g);
    free(s);
}

/*
 * Reference: an independent port of globset's parser building a tree
 * (alternatives are lists of token sequences, as in Rust's Token::Alternates),
 * and a backtracking matcher of globset's regex for those tokens.  Only for
 * short ASCII patterns.
 */
#define REF_MAX 64

enum ref_type { R_LIT, R_ANY, R_STAR, R_RPRE, R_RSUF, R_RZOM, R_CLASS, R_ALT };

struct ref_tok {
    enum ref_type type;
    unsigned char byte;
    int idx; /* R_CLASS: class; R_ALT: alternative list */
};

struct ref_seq {
    struct ref_tok t[REF_MAX];
    int n;
};

struct ref {
    struct ref_seq seqs[REF_MAX];
    int nseqs;
    bool cls[REF_MAX][256];
    int ncls;
    int alts[REF_MAX][REF_MAX];
    int nalts[REF_MAX];
    int nlists;
    /* parser */
    const unsigned char *p;
    size_t n, i;
    int prev, cur;
    int branches[REF_MAX]; /* seq ids; the last one receives tokens */
    int nbr;
    int altstack[REF_MAX]; /* index into branches where a group starts */
    int naltstack;
    /* matcher */
    unsigned char pw[3 * REF_MAX]; /* rewritten pattern */
    unsigned char s[3 * REF_MAX];  /* rewritten input */
    size_t len;
};

struct ref_cont {
    int seq, ti;
    const struct ref_cont *next;
};

static int
ref_bump(struct ref *r)
{
    r->prev = r->cur;
    r->cur = r->i < r->n ? r->p[r->i++] : -1;
    return r->cur;
}

static int
ref_peek(const struct ref *r)
{
    return r->i < r->n ? r->p[r->i] : -1;
}

static int
ref_new_seq(struct ref *r)
{
    assert_true(r->nseqs < REF_MAX);
    r->seqs[r->nseqs].n = 0;
    return r->nseqs++;
}

static void
ref_push(struct ref *r, enum ref_type type, unsigned char byte, int idx)
{
    struct ref_seq *q = &r->seqs[r->branches[r->nbr - 1]];
    assert_true(q->n < REF_MAX);
    q->t[q->n++] = (struct ref_tok){type, byte, idx};
}

static int
ref_star(struct ref *r)
{
    int prev = r->prev;
    struct ref_seq *q = &r->seqs[r->branches[r->nbr - 1]];
    bool suffix;
    enum ref_type popped;

    if (ref_peek(r) != '*') {
        ref_push(r, R_STAR, 0, 0);
        return 0;
    }
    ref_bump(r);
    if (q->n == 0) {
        if (ref_peek(r) != -1 && ref_peek(r) != '/') {
            ref_push(r, R_STAR, 0, 0);
            ref_push(r, R_STAR, 0, 0);
        } else {
            ref_push(r, R_RPRE, 0, 0);
            ref_bump(r);
        }
        return 0;
    }
    if (prev != '/' && (r->nbr <= 1 || (prev != ',' && prev != '{'))) {
        ref_push(r, R_STAR, 0, 0);
        ref_push(r, R_STAR, 0, 0);
        return 0;
    }
    if (ref_peek(r) == -1) {
        ref_bump(r);
        suffix = true;
    } else if ((ref_peek(r) == ',' || ref_peek(r) == '}') && r->nbr >= 2) {
        suffix = true;
    } else if (ref_peek(r) == '/') {
        ref_bump(r);
        suffix = false;
    } else {
        ref_push(r, R_STAR, 0, 0);
        ref_push(r, R_STAR, 0, 0);
        return 0;
    }
    popped = q->t[--q->n].type;
    if (popped == R_RPRE || popped == R_RSUF)
        ref_push(r, popped, 0, 0);
    else
        ref_push(r, suffix ? R_RSUF : R_RZOM, 0, 0);
    return 0;
}

static int
ref_class(struct ref *r)
{
    int ranges[REF_MAX][2], nr = 0, c;
    bool neg = false, first = true, in_range = false;
    bool *cls;

    if (ref_peek(r) == '!' || ref_peek(r) == '^') {
        ref_bump(r);
        neg = true;
    }
    for (;;) {
        if ((c = ref_bump(r)) == -1)
            return -1;
        if (c == ']' && !first)
            break;
        if (c == ']' || (c == '-' && first)) {
            ranges[nr][0] = ranges[nr][1] = c;
            nr++;
        } else if (c == '-' && in_range) {
            ranges[nr - 1][1] = c;
            if (ranges[nr - 1][1] < ranges[nr - 1][0])
                return -1;
            in_range = false;
        } else if (c == '-') {
            in_range = true;
        } else if (in_range) {
            ranges[nr - 1][1] = c;
            if (ranges[nr - 1][1] < ranges[nr - 1][0])
                return -1;
            in_range = false;
        } else {
            ranges[nr][0] = ranges[nr][1] = c;
            nr++;
        }
        first = false;
    }
    if (in_range) {
        ranges[nr][0] = ranges[nr][1] = '-';
        nr++;
    }
    cls = r->cls[r->ncls];
    for (int b = 0; b < 256; b++) {
        bool in = false;
        for (int k = 0; k < nr; k++)
            in = in || (b >= ranges[k][0] && b <= ranges[k][1]);
        cls[b] = in != neg;
    }
    ref_push(r, R_CLASS, 0, r->ncls++);
    return 0;
}

/* Returns the root sequence id, or -1 on a syntax error. */
static int
ref_parse(struct ref *r, const unsigned char *p, size_t n)
{
    int c, start, list;

    r->p = p;
    r->n = n;
    r->i = 0;
    r->prev = r->cur = -1;
    r->nseqs = r->ncls = r->nlists = r->naltstack = 0;
    r->branches[0] = ref_new_seq(r);
    r->nbr = 1;
    while ((c = ref_bump(r)) != -1) {
        switch (c) {
        case '?':
            ref_push(r, R_ANY, 0, 0);
            break;
        case '*':
            ref_star(r);
            break;
        case '[':
            if (ref_class(r) < 0)
                return -1;
            break;
        case '{':
            r->altstack[r->naltstack++] = r->nbr;
            r->branches[r->nbr++] = ref_new_seq(r);
            break;
        case '}':
            if (r->naltstack == 0)
                return -1;
            start = r->altstack[--r->naltstack];
            list = r->nlists++;
            r->nalts[list] = 0;
            for (int k = start; k < r->nbr; k++)
                r->alts[list][r->nalts[list]++] = r->branches[k];
            r->nbr = start;
            ref_push(r, R_ALT, 0, list);
            break;
        case ',':
            if (r->naltstack == 0)
                ref_push(r, R_LIT, ',', 0);
            else
                r->branches[r->nbr++] = ref_new_seq(r);
            break;
        case '\\':
            if ((c = ref_bump(r)) == -1)
                return -1;
            ref_push(r, R_LIT, (unsigned char)c, 0);
            break;
        default:
            ref_push(r, R_LIT, (unsigned char)c, 0);
            break;
        }
    }
    return r->nbr == 1 ? r->branches[0] : -1;
}

/* Whether a sequence translates to the empty regex (globset drops those). */
static bool
ref_regex_empty(const struct ref *r, int seq)
{
    const struct ref_seq *q = &r->seqs[seq];

    for (int i = 0; i < q->n; i++) {
        if (q->t[i].type != R_ALT)
            return false;
        for (int k = 0; k < r->nalts[q->t[i].idx]; k++) {
            if (!ref_regex_empty(r, r->alts[q->t[i].idx][k]))
                return false;
        }
    }
    return true;
}

static bool ref_match(const struct ref *r, int seq, int ti, size_t j, const struct ref_cont *k);

static bool
ref_rest(const struct ref *r, int seq, int ti, size_t j, const struct ref_cont *k)
{
    return ref_match(r, seq, ti + 1, j, k);
}

static bool
ref_match(const struct ref *r, int seq, int ti, size_t j, const struct ref_cont *k)
{
    const struct ref_seq *q = &r->seqs[seq];
    const struct ref_tok *t;
    const unsigned char *s = r->s;
    size_t len = r->len, e;
    bool any = false;

    if (ti == q->n)
        return k == NULL ? j == len : ref_match(r, k->seq, k->ti, j, k->next);
    t = &q->t[ti];
    switch (t->type) {
    case R_LIT:
        return j < len && s[j] == t->byte && ref_rest(r, seq, ti, j + 1, k);
    case R_ANY:
        return j < len && s[j] != '/' && ref_rest(r, seq, ti, j + 1, k);
    case R_CLASS:
        return j < len && r->cls[t->idx][s[j]] && ref_rest(r, seq, ti, j + 1, k);
    case R_STAR: /* [^/]* */
        for (e = j;; e++) {
            if (ref_rest(r, seq, ti, e, k))
                return true;
            if (e >= len || s[e] == '/')
                return false;
        }
    case R_RPRE: /* (?:/?|.*[/]) */
        if (ref_rest(r, seq, ti, j, k))
            return true;
        if (j < len && s[j] == '/' && ref_rest(r, seq, ti, j + 1, k))
            return true;
        for (e = j; e < len; e++) {
            if (s[e] == '/' && ref_rest(r, seq, ti, e + 1, k))
                return true;
        }
        return false;
    case R_RSUF: /* /.* */
        if (j >= len || s[j] != '/')
            return false;
        for (e = j + 1; e <= len; e++) {
            if (ref_rest(r, seq, ti, e, k))
                return true;
        }
        return false;
    case R_RZOM: /* (?:/|/.*[/]) */
        if (j >= len || s[j] != '/')
            return false;
        if (ref_rest(r, seq, ti, j + 1, k))
            return true;
        for (e = j + 1; e < len; e++) {
            if (s[e] == '/' && ref_rest(r, seq, ti, e + 1, k))
                return true;
        }
        return false;
    case R_ALT: {
        struct ref_cont after = {seq, ti + 1, k};
        for (int a = 0; a < r->nalts[t->idx]; a++) {
            int alt = r->alts[t->idx][a];
            if (ref_regex_empty(r, alt))
                continue;
            any = true;
            if (ref_match(r, alt, 0, j, &after))
                return true;
        }
        /* No alternative left: globset writes no group at all. */
        return !any && ref_rest(r, seq, ti, j, k);
    }
    }
    return false;
}

static size_t
ref_rewrite(const char *in, size_t n, char delim, unsigned char *out)
{
    size_t m = 0;

    for (size_t i = 0; i < n; i++) {
        if (delim == '.' && in[i] == '/') {
            out[m++] = '\0';
        } else if (delim == '.' && in[i] == '.') {
            out[m++] = '/';
            out[m++] = '.';
            out[m++] = '/';
        } else {
            out[m++] = (unsigned char)in[i];
        }
    }
    return m;
}

/* 1/0 for a match, -1 for a pattern error. */
static int
ref_glob(struct ref *r, const char *pat, const char *in, char delim)
{
    size_t pn = ref_rewrite(pat, strlen(pat), delim, r->pw);
    int root = ref_parse(r, r->pw, pn);

    if (root < 0)
        return -1;
    r->len = ref_rewrite(in, strlen(in), delim, r->s);
    if (r->seqs[root].n == 1 && r->seqs[root].t[0].type == R_RPRE)
        return 1; /* globset's special case: "**" is .* */
    return ref_match(r, root, 0, 0, NULL);
}

static uint64_t
rng_next(uint64_t *x)
{
    /* xorshift64: fixed seed, so failures reproduce. */
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void
random_pattern(uint64_t *rng, const char *alphabet, char *out, size_t maxlen)
{
    size_t n = rng_next(rng) % (maxlen + 1), na = strlen(alphabet);

    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[rng_next(rng) % na];
    out[n] = '\0';
}

/* An input that often matches: metacharacters instantiated at random. */
static void
random_input(uint64_t *rng, const char *pat, char *out, size_t maxlen)
{
    static const char chars[] = "ab/.";
    size_t n = 0;

    if (rng_next(rng) % 2 == 0) {
        random_pattern(rng, "ab/.,-*", out, 10);
        return;
    }
    for (const char *p = pat; *p != '\0' && n < maxlen; p++) {
        if (*p == '*') {
            for (uint64_t k = rng_next(rng) % 3; k > 0 && n < maxlen; k--)
                out[n++] = chars[rng_next(rng) % 4];
        } else if (*p == '?') {
            out[n++] = chars[rng_next(rng) % 4];
        } else if (strchr("{},[]!\\", *p) == NULL) {
            out[n++] = *p;
        }
    }
    /* Near misses: drop or insert one byte (e.g. the '/' after "**"). */
    switch (rng_next(rng) % 4) {
    case 0:
        if (n > 0) {
            size_t at = rng_next(rng) % n;
            memmove(out + at, out + at + 1, n - at - 1);
            n--;
        }
        break;
    case 1:
        if (n < maxlen) {
            size_t at = rng_next(rng) % (n + 1);
            memmove(out + at + 1, out + at, n - at);
            out[at] = chars[rng_next(rng) % 4];
            n++;
        }
        break;
    default:
        break;
    }
    out[n] = '\0';
}

static void
test_differential(void **state)
{
    /* Metacharacters and separators; the second adds globset's syntax. */
    static const char *const alphabets[] = {"ab/.*?", "ab/.*?{},[]!-\\"};
    struct ref *r = malloc(sizeof(*r));
    uint64_t rng = 0x9e3779b97f4a7c15u;
    size_t failures = 0, matches = 0, errors = 0, iters = 20000;
    char pat[16], in[32], err[128];

    (void)state;
    assert_non_null(r);
    for (size_t it = 0; it < iters; it++) {
        const char *alphabet = alphabets[it % 2];
        char delim = (it / 2) % 2 ? '/' : '.';
        struct osh_glob *g = NULL;
        int want, got, rc;

        random_pattern(&rng, alphabet, pat, 8);
        random_input(&rng, pat, in, 12);
        want = ref_glob(r, pat, in, delim);
        rc = osh_glob_compile(pat, strlen(pat), delim, &g, err, sizeof(err));
        if (rc < 0) {
            got = -1;
        } else {
            got = osh_glob_match(g, in, strlen(in));
            osh_glob_free(g);
        }
        matches += got == 1;
        errors += got == -1;
        if (got != want) {
            if (failures < 20)
                print_error("differential: '%s' delim '%c' on '%s': got %d, reference %d\n", pat,
                            delim, in, got, want);
            failures++;
        }
    }
    print_message("differential: %zu cases, %zu matches, %zu pattern errors\n", iters, matches,
                  errors);
    /* The generator must exercise both outcomes to mean anything. */
    assert_true(matches > iters / 10);
    assert_true(errors > 0);
    free(r);
    assert_int_equal(failures, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),    cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_nul_bytes),      cmocka_unit_test(test_api_edges),
        cmocka_unit_test(test_complexity_cap), cmocka_unit_test(test_pathological),
        cmocka_unit_test(test_differential),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
