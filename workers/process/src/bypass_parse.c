/*
 * bypass_parse.c - the pure parsers of the bypass monitor (contracts in
 * bypass_int.h): the nftables log line of process.md §5.2, one row of
 * /proc/<pid>/net/tcp{,6} (§5.3), and the Detection Finding hint (§5.4).
 *
 * DESIGN
 * The input is hostile in principle (the agent chooses the packets that make
 * the kernel print these lines, and a test or fuzzer hands us anything), so
 * every access is an index checked against an explicit end; nothing relies
 * on a terminating NUL and nothing is read past `len`.  There is no osh_buf
 * type in shared/ yet, so spans are (offset, length) pairs into the caller's
 * bytes instead of raw pointer arithmetic (STYLE.md §13).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bypass_int.h"

/* A value inside the line: bytes [off, off + len). */
struct span {
    size_t off;
    size_t len;
};

#define TCP_ROW_FIELDS 10 /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */

static const char hint_dns[] =
    "DNS queries should route through the sandbox proxy; check resolver configuration";
static const char hint_udp[] = "UDP traffic must route through the sandbox proxy";
static const char hint_proxy[] =
    "ensure process honors HTTP_PROXY/HTTPS_PROXY; for Node.js set NODE_USE_ENV_PROXY=1";

static size_t line_end(const char *s, size_t len);
static bool find_prefix(const char *s, size_t end, const char *prefix, size_t plen, size_t *at);
static bool find_field(const char *s, size_t from, size_t end, const char *key, struct span *val);
static bool parse_dec(const char *s, const struct span *v, uint64_t max, uint64_t *out);
static bool parse_hex(const char *s, const struct span *v, uint64_t max, uint64_t *out);
static bool is_printable(const char *s, const struct span *v);
static size_t split_fields(const char *s, size_t end, struct span *f, size_t max);

/* The first '\n' or NUL, else len: see bypass_parse_line(). */
static size_t
line_end(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\n' || s[i] == '\0')
            return i;
    return len;
}

/* First occurrence of prefix[0..plen) in s[0..end); memmem is bounded by
 * both lengths. */
static bool
find_prefix(const char *s, size_t end, const char *prefix, size_t plen, size_t *at)
{
    const char *hit = memmem(s, end, prefix, plen);

    if (hit == NULL)
        return false;
    *at = (size_t)(hit - s);
    return true;
}

/*
 * The value of the first `key` (e.g. "DST=") in s[from..end) that starts at
 * `from` or right after a space.  The value runs to the next space or `end`;
 * it may be empty (the caller treats that as absent).  False if no such key.
 */
static bool
find_field(const char *s, size_t from, size_t end, const char *key, struct span *val)
{
    size_t klen = strlen(key); /* a literal of ours */

    for (size_t i = from; i < end && end - i >= klen; i++) {
        if (i != from && s[i - 1] != ' ')
            continue;
        if (memcmp(&s[i], key, klen) != 0)
            continue;
        val->off = i + klen;
        val->len = 0;
        while (val->off + val->len < end && s[val->off + val->len] != ' ')
            val->len++;
        return true;
    }
    return false;
}

/* Decimal digits only, at least one, value <= max (strtonum-style). */
static bool
parse_dec(const char *s, const struct span *v, uint64_t max, uint64_t *out)
{
    uint64_t acc = 0;

    if (v->len == 0)
        return false;
    for (size_t i = 0; i < v->len; i++) {
        char c = s[v->off + i];

        if (c < '0' || c > '9')
            return false;
        if (acc > (max - (uint64_t)(c - '0')) / 10)
            return false;
        acc = acc * 10 + (uint64_t)(c - '0');
    }
    *out = acc;
    return true;
}

/* Hex digits only (either case), at least one, value <= max. */
static bool
parse_hex(const char *s, const struct span *v, uint64_t max, uint64_t *out)
{
    uint64_t acc = 0;

    if (v->len == 0)
        return false;
    for (size_t i = 0; i < v->len; i++) {
        char c = s[v->off + i];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a') + 10;
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A') + 10;
        else
            return false;
        if (acc > (max - d) / 16)
            return false;
        acc = acc * 16 + d;
    }
    *out = acc;
    return true;
}

/* Visible ASCII only: what goes into events and log lines stays plain. */
static bool
is_printable(const char *s, const struct span *v)
{
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)s[v->off + i];

        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

int
bypass_parse_line(const char *line, size_t len, const char *prefix, struct bypass_hit *out)
{
    struct bypass_hit h = {0}; /* filled here, copied out only when complete */
    struct span v;
    uint64_t n;
    size_t end, plen, at, rest;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (line == NULL || prefix == NULL || out == NULL)
        return 0;
    plen = strnlen(prefix, BYPASS_PREFIX_MAX + 1);
    if (plen == 0 || plen > BYPASS_PREFIX_MAX)
        return 0;

    end = line_end(line, len);
    if (!find_prefix(line, end, prefix, plen, &at))
        return 0;
    rest = at + plen;

    /* DST: required. */
    if (!find_field(line, rest, end, "DST=", &v) || v.len == 0 || v.len >= BYPASS_DST_MAX ||
        !is_printable(line, &v))
        return 0;
    memcpy(h.dst, &line[v.off], v.len);
    h.dst[v.len] = '\0';

    /* DPT: required u16. */
    if (!find_field(line, rest, end, "DPT=", &v) || !parse_dec(line, &v, UINT16_MAX, &n))
        return 0;
    h.dport = (uint16_t)n;

    /* SPT: optional u16, 0 when absent or invalid. */
    if (find_field(line, rest, end, "SPT=", &v) && parse_dec(line, &v, UINT16_MAX, &n))
        h.sport = (uint16_t)n;

    /* PROTO: optional, lower-cased; "unknown" when absent or unusable. */
    if (find_field(line, rest, end, "PROTO=", &v) && v.len > 0 && v.len < BYPASS_PROTO_MAX &&
        is_printable(line, &v)) {
        for (size_t i = 0; i < v.len; i++) {
            char c = line[v.off + i];

            h.proto[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        h.proto[v.len] = '\0';
    } else {
        memcpy(h.proto, "unknown", sizeof("unknown"));
    }

    /* UID: optional u32 (nft `flags skuid`). */
    if (find_field(line, rest, end, "UID=", &v) && parse_dec(line, &v, UINT32_MAX, &n)) {
        h.uid = (uint32_t)n;
        h.has_uid = true;
    }
    *out = h;
    return 1;
}

/* Splits s[0..end) on runs of spaces or tabs into at most `max` fields. */
static size_t
split_fields(const char *s, size_t end, struct span *f, size_t max)
{
    size_t n = 0, i = 0;

    while (n < max) {
        while (i < end && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= end)
            break;
        f[n].off = i;
        while (i < end && s[i] != ' ' && s[i] != '\t')
            i++;
        f[n].len = i - f[n].off;
        n++;
    }
    return n;
}

int
bypass_parse_tcp_row(const char *line, size_t len, struct bypass_tcp_row *out)
{
    struct bypass_tcp_row r = {0};
    struct span f[TCP_ROW_FIELDS], port;
    uint64_t n;
    size_t end, colon;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (line == NULL || out == NULL)
        return 0;
    end = line_end(line, len);
    if (split_fields(line, end, f, TCP_ROW_FIELDS) < TCP_ROW_FIELDS)
        return 0;

    /* Field 0 is "<slot>:"; the header has "sl" there. */
    if (f[0].len < 2 || line[f[0].off + f[0].len - 1] != ':')
        return 0;

    /* Field 1: "<hex address>:<hex port>", port after the last ':'. */
    colon = f[1].len;
    while (colon > 0 && line[f[1].off + colon - 1] != ':')
        colon--;
    if (colon < 2) /* no ':' or an empty address */
        return 0;
    port.off = f[1].off + colon;
    port.len = f[1].len - colon;
    if (!parse_hex(line, &port, UINT16_MAX, &n))
        return 0;
    r.local_port = (uint16_t)n;

    if (!parse_hex(line, &f[3], UINT8_MAX, &n))
        return 0;
    r.state = (uint8_t)n;

    if (!parse_dec(line, &f[9], UINT64_MAX, &n))
        return 0;
    r.inode = n;
    *out = r;
    return 1;
}

const char *
bypass_hint(const char *proto, uint16_t dport)
{
    if (proto != NULL && strcmp(proto, "udp") == 0)
        return dport == 53 ? hint_dns : hint_udp;
    return hint_proxy;
}
