/*
 * fuzz_bypass_parse.c - libFuzzer harness: the bypass monitor's pure parsers
 * (workers/process/src/bypass_parse.c; contracts in bypass_int.h and
 * process.md §5.2-§5.4).
 *
 * Input: byte 0 picks the prefix.  Even: the fixed sandbox prefix
 * "openshell:bypass:sandbox-abcd1234:" and the line is the rest.  Odd: the
 * next (byte 1 % 48) bytes are the prefix (cut at a NUL, so it may be empty
 * or anything) and the line follows.  The line is copied into a heap buffer
 * of exactly its length with no terminator, so ASan sees any read past len.
 * The same bytes also go through the /proc/net/tcp row parser.
 *
 * Contracts checked (abort when broken):
 *   - returns 0 or 1; 0 leaves *out zeroed;
 *   - on 1: the prefix occurs in the line before its first '\n' or NUL;
 *     dst is 1..63 visible ASCII bytes, NUL-terminated, and "DST=<dst>"
 *     occurs in the line; proto is 1..15 visible ASCII bytes with no upper
 *     case; uid is 0 unless has_uid;
 *   - nothing after the first '\n' or NUL changes the result;
 *   - the parse is deterministic;
 *   - the hint is one of the three texts;
 *   - the tcp row parser returns 0 or 1, zeroes on 0, and is deterministic.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bypass_int.h"

#define FIXED_PREFIX "openshell:bypass:sandbox-abcd1234:"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what);
static bool visible(const char *s, size_t n);
static size_t line_end(const char *s, size_t len);
static bool same_hit(const struct bypass_hit *a, const struct bypass_hit *b);
static void fuzz_line(const char *line, size_t len, const char *prefix);
static void fuzz_tcp_row(const char *line, size_t len);

static void
check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_bypass_parse: contract broken: %s\n", what);
        abort();
    }
}

static bool
visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static size_t
line_end(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n' || s[i] == '\0')
            return i;
    return len;
}

static bool
same_hit(const struct bypass_hit *a, const struct bypass_hit *b)
{
    return strcmp(a->dst, b->dst) == 0 && a->dport == b->dport && a->sport == b->sport &&
           strcmp(a->proto, b->proto) == 0 && a->uid == b->uid && a->has_uid == b->has_uid;
}

static void
fuzz_line(const char *line, size_t len, const char *prefix)
{
    static const struct bypass_hit zero;
    struct bypass_hit h, again;
    size_t end = line_end(line, len), dlen, plen;
    const char *hint;
    char key[4 + BYPASS_DST_MAX];
    int rc, rc2;

    rc = bypass_parse_line(line, len, prefix, &h);
    check(rc == 0 || rc == 1, "returns 0 or 1");

    rc2 = bypass_parse_line(line, len, prefix, &again);
    check(rc2 == rc && same_hit(&h, &again), "deterministic");
    rc2 = bypass_parse_line(line, end, prefix, &again);
    check(rc2 == rc && same_hit(&h, &again), "nothing after the first newline or NUL counts");

    if (rc == 0) {
        check(same_hit(&h, &zero), "a refused line leaves *out zeroed");
        return;
    }
    plen = strlen(prefix);
    check(plen > 0 && memmem(line, end, prefix, plen) != NULL,
          "a match has the prefix before the end of the line");
    dlen = strnlen(h.dst, sizeof(h.dst));
    check(dlen > 0 && dlen < sizeof(h.dst), "dst is 1..63 bytes and NUL-terminated");
    check(visible(h.dst, dlen), "dst is visible ASCII");
    memcpy(key, "DST=", 4);
    memcpy(&key[4], h.dst, dlen);
    check(memmem(line, end, key, 4 + dlen) != NULL, "DST=<dst> is in the line");
    check(strnlen(h.proto, sizeof(h.proto)) > 0 &&
              strnlen(h.proto, sizeof(h.proto)) < sizeof(h.proto),
          "proto is 1..15 bytes and NUL-terminated");
    check(visible(h.proto, strlen(h.proto)), "proto is visible ASCII");
    for (size_t i = 0; h.proto[i] != '\0'; i++)
        check(h.proto[i] < 'A' || h.proto[i] > 'Z', "proto is lower-cased");
    check(h.has_uid || h.uid == 0, "uid is 0 without has_uid");

    hint = bypass_hint(h.proto, h.dport);
    check(hint != NULL && (strstr(hint, "DNS") == hint || strstr(hint, "UDP") == hint ||
                           strstr(hint, "ensure") == hint),
          "the hint is one of the three texts");
}

static void
fuzz_tcp_row(const char *line, size_t len)
{
    struct bypass_tcp_row r, again;
    int rc = bypass_parse_tcp_row(line, len, &r);

    check(rc == 0 || rc == 1, "tcp row: returns 0 or 1");
    check(bypass_parse_tcp_row(line, len, &again) == rc && again.local_port == r.local_port &&
              again.state == r.state && again.inode == r.inode,
          "tcp row: deterministic");
    if (rc == 0)
        check(r.local_port == 0 && r.state == 0 && r.inode == 0, "tcp row: zeroed on 0");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char prefix[BYPASS_PREFIX_MAX + 1] = FIXED_PREFIX;
    size_t off = 1, len;
    char *line;

    if (size == 0)
        return 0;
    if (data[0] & 1) {
        size_t want = size >= 2 ? data[1] % 48 : 0;

        off = size >= 2 ? 2 : size;
        if (want > size - off)
            want = size - off;
        memcpy(prefix, &data[off], want);
        prefix[want] = '\0'; /* an embedded NUL shortens it, possibly to "" */
        off += want;
    }
    len = size - off;
    line = malloc(len > 0 ? len : 1);
    if (line == NULL)
        return 0;
    memcpy(line, &data[off], len);
    fuzz_line(line, len, prefix);
    fuzz_tcp_row(line, len);
    free(line);
    return 0;
}
