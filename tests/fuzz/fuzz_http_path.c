/*
 * fuzz_http_path.c - libFuzzer harness: request-target canonicalization and
 * query parsing (policy.md §3.2) on the same bytes.
 *
 * The input is one request target.  It is canonicalized with and without
 * allow_encoded_slash into a heap buffer of exactly the documented size
 * (3 * len + 2, so ASan sees any overrun), and once more into a buffer of a
 * size taken from the input, to reach OSH_PATH_OUT_TOO_SMALL.  The whole
 * input and the raw query that canonicalization returns are parsed with
 * osh_query_parse().
 *
 * Contracts checked (abort when broken), from http_path.h, query.h and
 * policy.md §3.2:
 *   - the documented buffer size is always enough;
 *   - an OK path starts with '/', fits, contains only unreserved bytes,
 *     "!$&'()*+,;=:@", '/' and upper-case %HH escapes, and has no "." or
 *     ".." segment;
 *   - canonicalization is idempotent: the canonical path canonicalizes to
 *     itself (same allow_encoded_slash);
 *   - a smaller buffer gives the same path or OUT_TOO_SMALL, nothing else;
 *   - the raw query points into the input, just after a '?';
 *   - a failed query parse appends nothing; a successful one yields
 *     NUL-terminated, valid UTF-8 keys and values that the lookups find.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/http_path.h"
#include "osh/query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what);
static bool is_hex_upper(char c);
static bool utf8_valid(const char *s);
static void check_canonical(const char *out, size_t outcap);
static void fuzz_path(const char *t, size_t len, bool allow_slash, size_t small_cap);
static void fuzz_query(const char *s, size_t len, size_t errlen);

static void
check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_http_path: contract broken: %s\n", what);
        abort();
    }
}

static bool
is_hex_upper(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Strict UTF-8 (as Rust's from_utf8): no overlongs, no surrogates, at most
 * U+10FFFF. */
static bool
utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        unsigned c = *s, n, cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        s += n + 1;
    }
    return true;
}

static void
check_canonical(const char *out, size_t outcap)
{
    static const char literal[] = "-._~!$&'()*+,;=:@/";
    size_t len = strnlen(out, outcap);
    const char *seg;

    check(len < outcap, "the canonical path is NUL terminated inside the buffer");
    check(out[0] == '/', "the canonical path starts with '/'");
    for (size_t i = 0; i < len; i++) {
        char c = out[i];
        if (c == '%') {
            check(i + 2 < len && is_hex_upper(out[i + 1]) && is_hex_upper(out[i + 2]),
                  "escapes are %HH in upper case");
            i += 2;
            continue;
        }
        check((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  strchr(literal, c) != NULL,
              "only unreserved and sub-delim bytes are emitted literally");
    }
    /* No dot segments survive (a '.' from %2e is resolved too). */
    for (seg = out; seg != NULL; seg = strchr(seg + 1, '/')) {
        const char *s = seg + 1;
        size_t n = strcspn(s, "/");
        check(!(n == 1 && s[0] == '.') && !(n == 2 && s[0] == '.' && s[1] == '.'),
              "no '.' or '..' segment in a canonical path");
    }
}

static void
fuzz_path(const char *t, size_t len, bool allow_slash, size_t small_cap)
{
    size_t cap = 3 * len + 2;
    char *out = NULL, *again = NULL, *small = NULL;
    const char *q = NULL, *q2 = NULL;
    size_t qlen = 0, q2len = 0, olen;
    enum osh_path_result r, r2;

    out = malloc(cap);
    if (out == NULL)
        goto out;
    r = osh_path_canonicalize(t, len, allow_slash, out, cap, &q, &qlen);
    check(r != OSH_PATH_OUT_TOO_SMALL, "3 * len + 2 bytes are always enough");
    check(osh_path_result_name(r) != NULL, "every result has a name");
    if (r != OSH_PATH_OK)
        goto out;
    check_canonical(out, cap);
    if (q != NULL) {
        check(q > t && q <= t + len && qlen <= (size_t)(t + len - q) && q[-1] == '?',
              "the raw query points into the target after a '?'");
        fuzz_query(q, qlen, 0);
    } else {
        check(qlen == 0, "no query means query_len 0");
    }

    /* Idempotence: the canonical form is a fixed point. */
    olen = strlen(out);
    again = malloc(3 * olen + 2);
    if (again == NULL)
        goto out;
    r2 = osh_path_canonicalize(out, olen, allow_slash, again, 3 * olen + 2, &q2, &q2len);
    check(r2 == OSH_PATH_OK, "a canonical path canonicalizes without error");
    check(strcmp(out, again) == 0, "canonicalization is idempotent");
    check(q2 == NULL, "a canonical path has no query");

    /* A buffer smaller than documented: same result or OUT_TOO_SMALL. */
    if (small_cap > 0 && small_cap < cap) {
        small = malloc(small_cap);
        if (small == NULL)
            goto out;
        r2 = osh_path_canonicalize(t, len, allow_slash, small, small_cap, &q2, &q2len);
        check(r2 == OSH_PATH_OK || r2 == OSH_PATH_OUT_TOO_SMALL,
              "a small buffer gives OK or OUT_TOO_SMALL");
        if (r2 == OSH_PATH_OK)
            check(strnlen(small, small_cap) < small_cap && strcmp(small, out) == 0,
                  "a small buffer that fits gives the same path");
        else
            check(olen + 1 > small_cap, "OUT_TOO_SMALL only when the path does not fit");
    }
out:
    free(small);
    free(again);
    free(out);
}

static void
fuzz_query(const char *s, size_t len, size_t errlen)
{
    struct osh_query q = {0};
    char *err = NULL;
    int rc;

    if (errlen > 0 && (err = malloc(errlen)) == NULL)
        return;
    rc = osh_query_parse(&q, s, len, err, errlen);
    check(rc == 0 || rc == -EBADMSG || rc == -ENOMEM, "parse returns 0, -EBADMSG or -ENOMEM");
    if (rc != 0) {
        check(q.len == 0, "a failed parse appends nothing");
        if (err != NULL && rc == -EBADMSG)
            check(strnlen(err, errlen) < errlen, "the error message is NUL terminated");
        goto out;
    }
    for (size_t i = 0; i < q.len; i++) {
        const char *k = q.params[i].key, *v = q.params[i].value;
        check(k != NULL && v != NULL, "keys and values are set");
        check(utf8_valid(k) && utf8_valid(v), "keys and values are valid UTF-8");
        check(osh_query_count(&q, k) >= 1, "every key is counted");
        check(osh_query_value(&q, k, 0) != NULL, "every key has a first value");
    }
    if (q.len > 0)
        check(osh_query_value(&q, q.params[0].key, osh_query_count(&q, q.params[0].key)) ==
                  NULL,
              "a value past the count is NULL");
out:
    free(err);
    osh_query_clear(&q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *t = (const char *)data;
    /* A size for the short-buffer call, from the last byte: small enough to
     * miss often, large enough to fit often. */
    size_t small_cap = size ? (size_t)data[size - 1] % (size + 2) : 0;

    fuzz_path(t, size, false, small_cap);
    fuzz_path(t, size, true, small_cap);
    fuzz_query(t, size, size ? (size_t)data[0] % 48 : 0);
    return 0;
}
