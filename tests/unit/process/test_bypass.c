/*
 * test_bypass.c - the bypass monitor (process.md §5): the line parser as a
 * table plus truncation and long-line sweeps, the /proc/net/tcp row parser,
 * the hints, and the monitor end to end: through a FIFO and a regular file
 * (events in real rings, rate limit, stop), identity of a real loopback
 * socket, and the real /dev/kmsg (root only; fails, never skips, without it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "osh/events.h"
#include "osh/process/bypass.h"
#include "osh/ring.h"

#include "bypass_int.h"

#define P "openshell:bypass:sandbox-abcd1234:"
#define EX_TAIL                                                                                    \
    "IN= OUT=veth-s-abcd1234 SRC=10.200.0.2 DST=93.184.216.34 LEN=60 TOS=0x00 PREC=0x00 TTL=64 "   \
    "ID=12345 DF PROTO=TCP SPT=48012 DPT=443 WINDOW=65535 RES=0x00 SYN URGP=0 UID=1000 GID=1000"
#define EX P EX_TAIL
#define UDP_TAIL                                                                                   \
    "IN= OUT=veth-s-abcd1234 SRC=10.200.0.2 DST=10.203.0.2 LEN=29 TOS=0x00 PREC=0x00 TTL=64 "      \
    "ID=46363 DF PROTO=UDP SPT=53421 DPT=53 LEN=9 UID=65534 GID=65534 "
#define REASON "direct connection bypassed HTTP CONNECT proxy"

static const char *const HINT_DNS =
    "DNS queries should route through the sandbox proxy; check resolver configuration";
static const char *const HINT_UDP = "UDP traffic must route through the sandbox proxy";
static const char *const HINT_PROXY =
    "ensure process honors HTTP_PROXY/HTTPS_PROXY; for Node.js set NODE_USE_ENV_PROXY=1";

/* ---- parser table -------------------------------------------------------- */

/* A literal with its exact length, so embedded NULs are part of the case. */
#define L(s) .line = (s), .len = sizeof(s) - 1

struct pcase {
    const char *name;
    const char *line;
    size_t len;
    const char *prefix; /* NULL: P */
    int want;
    const char *dst;
    unsigned dport;
    unsigned sport;
    const char *proto;
    bool has_uid;
    uint32_t uid;
};

static const struct pcase pcases[] = {
    {"ipv4 tcp example (§5.2)", L(EX), NULL, 1, "93.184.216.34", 443, 48012, "tcp", true, 1000},
    {"ipv4 tcp with kmsg header", L("6,1234,5678,-;" EX), NULL, 1, "93.184.216.34", 443, 48012,
     "tcp", true, 1000},
    {"real kmsg record (cage-notes §3.2), trailing space and newline",
     L("4,440,4582160563,-;openshell:bypass:sandbox-3d8cfc54:IN= OUT=veth-s-3d8cfc54 "
       "SRC=10.200.0.2 DST=10.203.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=33604 DF PROTO=TCP "
       "SPT=50988 DPT=80 WINDOW=64240 RES=0x00 SYN URGP=0 UID=65534 GID=65534 \n"),
     "openshell:bypass:sandbox-3d8cfc54:", 1, "10.203.0.2", 80, 50988, "tcp", true, 65534},
    {"udp to dns, two LEN=", L("4,441,4582161919,-;" P UDP_TAIL "\n"), NULL, 1, "10.203.0.2", 53,
     53421, "udp", true, 65534},
    {"ipv6",
     L(P "IN= OUT=veth-s-abcd1234 SRC=fd00::2 DST=2001:db8::1 LEN=80 TC=0 HOPLIMIT=64 "
         "FLOWLBL=12345 PROTO=TCP SPT=40000 DPT=443 WINDOW=64800 RES=0x00 SYN URGP=0 UID=1000 "
         "GID=1000"),
     NULL, 1, "2001:db8::1", 443, 40000, "tcp", true, 1000},
    {"missing DST", L(P "IN= OUT=x SRC=10.200.0.2 PROTO=TCP SPT=1 DPT=443"), NULL, 0},
    {"missing DPT", L(P "IN= OUT=x DST=1.2.3.4 PROTO=TCP SPT=1"), NULL, 0},
    {"non-numeric DPT", L(P "IN= DST=1.2.3.4 DPT=https"), NULL, 0},
    {"DPT 65536", L(P "IN= DST=1.2.3.4 DPT=65536"), NULL, 0},
    {"DPT 20 digits (u64 overflow)", L(P "IN= DST=1.2.3.4 DPT=99999999999999999999"), NULL, 0},
    {"DPT negative", L(P "IN= DST=1.2.3.4 DPT=-1"), NULL, 0},
    {"DPT with plus sign", L(P "IN= DST=1.2.3.4 DPT=+443"), NULL, 0},
    {"DPT trailing junk", L(P "IN= DST=1.2.3.4 DPT=443x"), NULL, 0},
    {"DPT 0 is a u16", L(P "IN= DST=1.2.3.4 DPT=0"), NULL, 1, "1.2.3.4", 0, 0, "unknown"},
    {"DPT 65535", L(P "IN= DST=1.2.3.4 DPT=65535"), NULL, 1, "1.2.3.4", 65535, 0, "unknown"},
    {"DPT leading zeros", L(P "IN= DST=1.2.3.4 DPT=00443"), NULL, 1, "1.2.3.4", 443, 0, "unknown"},
    {"empty DST", L(P "IN= DST= DPT=443"), NULL, 0},
    {"empty DST at end of line", L(P "IN= DPT=443 DST="), NULL, 0},
    {"empty DPT", L(P "IN= DST=1.2.3.4 DPT= SPT=5"), NULL, 0},
    {"empty DPT at end of line", L(P "IN= DST=1.2.3.4 DPT="), NULL, 0},
    {"SPT absent: 0", L(P "IN= DST=1.2.3.4 DPT=80 PROTO=TCP"), NULL, 1, "1.2.3.4", 80, 0, "tcp"},
    {"SPT too large: 0", L(P "IN= DST=1.2.3.4 SPT=99999 DPT=80"), NULL, 1, "1.2.3.4", 80, 0,
     "unknown"},
    {"SPT empty: 0", L(P "IN= DST=1.2.3.4 SPT= DPT=80"), NULL, 1, "1.2.3.4", 80, 0, "unknown"},
    {"PROTO absent: unknown", L(P "IN= DST=1.2.3.4 DPT=80"), NULL, 1, "1.2.3.4", 80, 0, "unknown"},
    {"PROTO empty: unknown", L(P "IN= DST=1.2.3.4 PROTO= DPT=80"), NULL, 1, "1.2.3.4", 80, 0,
     "unknown"},
    {"PROTO lower-cased", L(P "IN= DST=1.2.3.4 PROTO=IcMpV6 DPT=80"), NULL, 1, "1.2.3.4", 80, 0,
     "icmpv6"},
    {"PROTO numeric", L(P "IN= DST=1.2.3.4 PROTO=47 DPT=80"), NULL, 1, "1.2.3.4", 80, 0, "47"},
    {"PROTO 15 bytes kept", L(P "IN= DST=1.2.3.4 PROTO=ABCDEFGHIJKLMNO DPT=80"), NULL, 1, "1.2.3.4",
     80, 0, "abcdefghijklmno"},
    {"PROTO 16 bytes: unknown", L(P "IN= DST=1.2.3.4 PROTO=ABCDEFGHIJKLMNOP DPT=80"), NULL, 1,
     "1.2.3.4", 80, 0, "unknown"},
    {"UID max u32", L(P "IN= DST=1.2.3.4 DPT=80 UID=4294967295"), NULL, 1, "1.2.3.4", 80, 0,
     "unknown", true, 4294967295u},
    {"UID too large: absent", L(P "IN= DST=1.2.3.4 DPT=80 UID=4294967296"), NULL, 1, "1.2.3.4", 80,
     0, "unknown", false, 0},
    {"UID non-numeric: absent", L(P "IN= DST=1.2.3.4 DPT=80 UID=root"), NULL, 1, "1.2.3.4", 80, 0,
     "unknown", false, 0},
    {"ID= is not UID=", L(P "IN= ID=7 DST=1.2.3.4 DPT=80 GID=3"), NULL, 1, "1.2.3.4", 80, 0,
     "unknown", false, 0},
    {"other namespace's prefix", L("openshell:bypass:sandbox-ffff0000:" EX_TAIL), NULL, 0},
    {"namespace whose name extends ours", L("openshell:bypass:sandbox-abcd12345:" EX_TAIL), NULL,
     0},
    {"our prefix without its colon", L("openshell:bypass:sandbox-abcd1234 " EX_TAIL), NULL, 0},
    {"unrelated kernel line", L("6,99,100,-;usb 1-1: new high-speed USB device number 2"), NULL, 0},
    {"prefix in the middle of the line", L("[  12.345678] nf: " EX), NULL, 1, "93.184.216.34", 443,
     48012, "tcp", true, 1000},
    {"fields before the prefix are not ours", L("DST=1.1.1.1 DPT=22 " P "IN= OUT=x"), NULL, 0},
    {"keys match at a word boundary", L(P "IN= XDST=9.9.9.9 DST=1.2.3.4 ADPT=1 DPT=80"), NULL, 1,
     "1.2.3.4", 80, 0, "unknown"},
    {"first occurrence wins", L(P "IN= DST=1.1.1.1 DST=2.2.2.2 DPT=1 DPT=2"), NULL, 1, "1.1.1.1", 1,
     0, "unknown"},
    {"first occurrence empty: absent", L(P "IN= DST=1.2.3.4 DPT= DPT=443"), NULL, 0},
    {"embedded NUL before DPT", L(P "IN= DST=1.2.3.4\0 DPT=443"), NULL, 0},
    {"embedded NUL after DPT", L(P "IN= DST=1.2.3.4 DPT=443\0 SPT=9 PROTO=UDP"), NULL, 1, "1.2.3.4",
     443, 0, "unknown"},
    {"embedded NUL inside the prefix",
     L("openshell:bypass:sand\0box-abcd1234:IN= DST=1.2.3.4 "
       "DPT=443"),
     NULL, 0},
    {"NUL as the first byte", L("\0" EX), NULL, 0},
    {"fields after a newline are not the message", L(P "IN= DST=1.2.3.4\n DPT=443"), NULL, 0},
    {"kmsg dictionary lines after the message",
     L("4,1,2,-;" P "IN= DST=1.2.3.4 DPT=443\n SUBSYSTEM=net\n DEVICE=+n:veth DPT=1\n"), NULL, 1,
     "1.2.3.4", 443, 0, "unknown"},
    {"DST with an escape byte", L(P "IN= DST=1.2.3.4\x1b[31m DPT=443"), NULL, 0},
    {"DST not ASCII", L(P "IN= DST=\xc3\xa9t\xc3\xa9 DPT=443"), NULL, 0},
    {"DST 63 bytes",
     L(P "IN= DST=123456789012345678901234567890123456789012345678901234567890123 DPT=1"), NULL, 1,
     "123456789012345678901234567890123456789012345678901234567890123", 1, 0, "unknown"},
    {"DST 64 bytes",
     L(P "IN= DST=1234567890123456789012345678901234567890123456789012345678901234 DPT=1"), NULL,
     0},
    {"tab is not a separator", L(P "IN= DST=1.2.3.4\tDPT=80"), NULL, 0},
    {"empty line", L(""), NULL, 0},
    {"prefix only", L(P), NULL, 0},
    {"prefix twice", L(P P EX_TAIL), NULL, 1, "93.184.216.34", 443, 48012, "tcp", true, 1000},
    {"short custom prefix", L("x:IN= DST=::1 DPT=22 PROTO=tcp"), "x:", 1, "::1", 22, 0, "tcp"},
};

static void
test_parse_table(void **state)
{
    (void)state;
    assert_true(sizeof(pcases) / sizeof(pcases[0]) >= 25);
    for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
        const struct pcase *c = &pcases[i];
        struct bypass_hit h;
        /* An exact-size heap copy: ASan flags any read past len. */
        char *copy = malloc(c->len > 0 ? c->len : 1);
        int got;

        assert_non_null(copy);
        memcpy(copy, c->line, c->len);
        got = bypass_parse_line(copy, c->len, c->prefix != NULL ? c->prefix : P, &h);
        free(copy);
        if (got != c->want)
            fail_msg("case %zu \"%s\": got %d, want %d", i, c->name, got, c->want);
        if (c->want == 0) {
            assert_string_equal(h.dst, ""); /* zeroed on failure */
            continue;
        }
        if (strcmp(h.dst, c->dst) != 0 || h.dport != c->dport || h.sport != c->sport ||
            strcmp(h.proto, c->proto) != 0 || h.has_uid != c->has_uid ||
            (c->has_uid && h.uid != c->uid))
            fail_msg("case %zu \"%s\": got dst=%s dport=%u sport=%u proto=%s uid=%s%u", i, c->name,
                     h.dst, h.dport, h.sport, h.proto, h.has_uid ? "" : "(none)", h.uid);
    }
}

static void
test_parse_bad_args(void **state)
{
    struct bypass_hit h;
    char longp[BYPASS_PREFIX_MAX + 2];
    (void)state;

    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(bypass_parse_line(NULL, 10, P, &h), 0);
    assert_int_equal(bypass_parse_line(EX, strlen(EX), NULL, &h), 0);
    assert_int_equal(bypass_parse_line(EX, strlen(EX), "", &h), 0);
    assert_int_equal(bypass_parse_line(EX, strlen(EX), longp, &h), 0);
    assert_int_equal(bypass_parse_line(EX, strlen(EX), P, NULL), 0);
    assert_int_equal(bypass_parse_line(EX, 0, P, &h), 0);
    /* A prefix of exactly the maximum length works. */
    longp[BYPASS_PREFIX_MAX] = '\0';
    {
        char line[BYPASS_PREFIX_MAX + 64];
        int n = snprintf(line, sizeof(line), "%sIN= DST=1.2.3.4 DPT=7", longp);

        assert_true(n > 0 && (size_t)n < sizeof(line));
        assert_int_equal(bypass_parse_line(line, (size_t)n, longp, &h), 1);
        assert_int_equal(h.dport, 7);
    }
}

/* Every prefix of the example line, each in an exact-size buffer: matched
 * exactly once DPT has at least one digit, and the port is what was read. */
static void
test_parse_truncations(void **state)
{
    const char *ex = "6,1234,5678,-;" EX;
    size_t full = strlen(ex), dpt = (size_t)(strstr(ex, "DPT=") - ex) + 4;
    (void)state;

    for (size_t len = 0; len <= full; len++) {
        struct bypass_hit h;
        char *copy = malloc(len > 0 ? len : 1);
        int got;

        assert_non_null(copy);
        memcpy(copy, ex, len);
        got = bypass_parse_line(copy, len, P, &h);
        free(copy);
        if (len <= dpt) {
            if (got != 0)
                fail_msg("cut at %zu: matched before DPT has a digit", len);
            continue;
        }
        if (got != 1)
            fail_msg("cut at %zu: not matched", len);
        assert_string_equal(h.dst, "93.184.216.34");
        assert_int_equal(h.dport, len == dpt + 1 ? 4 : len == dpt + 2 ? 44 : 443);
        assert_int_equal(h.sport, 48012);
        assert_int_equal(h.has_uid, len >= (size_t)(strstr(ex, "UID=") - ex) + 5);
    }
}

/* Appends n bytes: a copy of s, or n times c when s is NULL. */
static size_t
put(char *buf, size_t at, const char *s, char c, size_t n)
{
    if (s != NULL)
        memcpy(buf + at, s, n);
    else
        memset(buf + at, c, n);
    return at + n;
}

static void
test_parse_long_lines(void **state)
{
    const size_t big = 1u << 20;
    char *line = malloc(big);
    struct bypass_hit h;
    size_t n;
    (void)state;

    assert_non_null(line);
    /* 1 MiB of junk, then the example: the prefix is found anywhere. */
    n = put(line, 0, NULL, 'A', big - strlen(EX));
    n = put(line, n, EX, 0, strlen(EX));
    assert_int_equal(bypass_parse_line(line, n, P, &h), 1);
    assert_int_equal(h.dport, 443);

    /* 60000 spaces between the fields. */
    n = put(line, 0, P "IN= DST=5.6.7.8", 0, strlen(P "IN= DST=5.6.7.8"));
    n = put(line, n, NULL, ' ', 60000);
    n = put(line, n, " DPT=8080", 0, 9);
    assert_int_equal(bypass_parse_line(line, n, P, &h), 1);
    assert_string_equal(h.dst, "5.6.7.8");
    assert_int_equal(h.dport, 8080);

    /* A 500 KB DST value: refused, not cut. */
    n = put(line, 0, P "IN= DST=", 0, strlen(P "IN= DST="));
    n = put(line, n, NULL, '1', 500000);
    n = put(line, n, " DPT=1", 0, 6);
    assert_int_equal(bypass_parse_line(line, n, P, &h), 0);

    /* A 500 KB run of digits as DPT: overflow, refused. */
    n = put(line, 0, P "IN= DST=1.1.1.1 DPT=", 0, strlen(P "IN= DST=1.1.1.1 DPT="));
    n = put(line, n, NULL, '9', 500000);
    assert_int_equal(bypass_parse_line(line, n, P, &h), 0);

    /* Every byte value, no prefix: never ours, never a crash. */
    for (size_t i = 0; i < big; i++)
        line[i] = (char)(i * 131u + 7u);
    assert_int_equal(bypass_parse_line(line, big, P, &h), 0);
    free(line);
}

/* ---- /proc/net/tcp rows and hints ---------------------------------------- */

static void
test_tcp_rows(void **state)
{
    struct bypass_tcp_row r;
    static const char hdr[] = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                              "retrnsmt   uid  timeout inode\n";
    static const char v4[] = "   3: 0200C80A:BB8C 22D8B85D:01BB 02 00000001:00000000 01:00000064 "
                             "00000002  1000        0 424242 1 0000000000000000 100 0 0 10 -1\n";
    static const char v6[] = "   0: 00000000000000000000000001000000:1F90 "
                             "00000000000000000000000000000000:0000 01 00000000:00000000 "
                             "00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 "
                             "10 0\n";
    static const char shortrow[] = "   3: 0200C80A:BB8C 22D8B85D:01BB 02 00000001:00000000\n";
    static const char badport[] = "   3: 0200C80A:XYZ 22D8B85D:01BB 02 00000001:00000000 "
                                  "01:00000064 00000002 1000 0 424242 1\n";
    static const char noport[] = "   3: 0200C80A 22D8B85D:01BB 02 00000001:00000000 01:00000064 "
                                 "00000002 1000 0 424242 1\n";
    static const char badinode[] = "   3: 0200C80A:BB8C 22D8B85D:01BB 02 00000001:00000000 "
                                   "01:00000064 00000002 1000 0 42x 1\n";
    (void)state;

    assert_int_equal(bypass_parse_tcp_row(hdr, sizeof(hdr) - 1, &r), 0);
    assert_int_equal(bypass_parse_tcp_row(v4, sizeof(v4) - 1, &r), 1);
    assert_int_equal(r.local_port, 0xBB8C);
    assert_int_equal(r.state, BYPASS_TCP_SYN_SENT);
    assert_int_equal(r.inode, 424242);
    assert_int_equal(bypass_parse_tcp_row(v6, sizeof(v6) - 1, &r), 1);
    assert_int_equal(r.local_port, 8080);
    assert_int_equal(r.state, BYPASS_TCP_ESTABLISHED);
    assert_int_equal(r.inode, 77);
    assert_int_equal(bypass_parse_tcp_row(shortrow, sizeof(shortrow) - 1, &r), 0);
    assert_int_equal(bypass_parse_tcp_row(badport, sizeof(badport) - 1, &r), 0);
    assert_int_equal(bypass_parse_tcp_row(noport, sizeof(noport) - 1, &r), 0);
    assert_int_equal(bypass_parse_tcp_row(badinode, sizeof(badinode) - 1, &r), 0);
    assert_int_equal(bypass_parse_tcp_row(v4, 20, &r), 0); /* cut */
    assert_int_equal(bypass_parse_tcp_row(NULL, 5, &r), 0);
    assert_int_equal(bypass_parse_tcp_row("", 0, &r), 0);
}

static void
test_hints(void **state)
{
    (void)state;
    assert_string_equal(bypass_hint("udp", 53), HINT_DNS);
    assert_string_equal(bypass_hint("udp", 123), HINT_UDP);
    assert_string_equal(bypass_hint("tcp", 53), HINT_PROXY);
    assert_string_equal(bypass_hint("tcp", 443), HINT_PROXY);
    assert_string_equal(bypass_hint("unknown", 53), HINT_PROXY);
    assert_string_equal(bypass_hint(NULL, 53), HINT_PROXY);
}

/* ---- monitor helpers ------------------------------------------------------ */

struct env {
    char dir[64];
    char path[128];
    int wfd;
    struct osh_ring *den;
    struct osh_ring *act;
    struct osh_bypass_monitor *m;
};

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void
write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);

        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static void
write_str(int fd, const char *s)
{
    write_all(fd, s, strlen(s));
}

/* Starts a monitor on a FIFO (or a regular file when `file`) in a fresh
 * temporary directory, with rings of 256 slots, and opens its write end. */
static void
env_start(struct env *e, unsigned rate, bool file)
{
    struct osh_bypass_config cfg = {0};
    char err[256];

    memset(e, 0, sizeof(*e));
    e->wfd = -1;
    snprintf(e->dir, sizeof(e->dir), "/tmp/osh-bypass-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->path, sizeof(e->path), "%s/kmsg", e->dir);
    if (file) {
        e->wfd = open(e->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        assert_true(e->wfd >= 0);
    } else {
        assert_int_equal(mkfifo(e->path, 0600), 0);
    }
    e->den = osh_ring_new(256, sizeof(struct osh_denial_event));
    e->act = osh_ring_new(256, sizeof(struct osh_activity_event));
    assert_non_null(e->den);
    assert_non_null(e->act);
    cfg.log_prefix = P;
    cfg.denials = e->den;
    cfg.activity = e->act;
    cfg.kmsg_path = e->path;
    cfg.max_events_per_sec = rate;
    e->m = osh_bypass_monitor_start(&cfg, err, sizeof(err));
    if (e->m == NULL)
        fail_msg("start: %s", err);
    if (!file) {
        /* The monitor holds the read end, so this open does not block. */
        e->wfd = open(e->path, O_WRONLY | O_CLOEXEC);
        assert_true(e->wfd >= 0);
    }
}

static void
env_stop(struct env *e)
{
    osh_bypass_monitor_free(e->m), e->m = NULL;
    if (e->wfd >= 0)
        close(e->wfd);
    e->wfd = -1;
    unlink(e->path);
    rmdir(e->dir);
    osh_ring_free(e->den), e->den = NULL;
    osh_ring_free(e->act), e->act = NULL;
}

/* Waits (up to 10 s) until `lines` lines were read and every matched line
 * was either emitted or suppressed; returns the stats. */
static struct osh_bypass_stats
wait_done(const struct osh_bypass_monitor *m, uint64_t lines, uint64_t matched)
{
    struct osh_bypass_stats st;
    uint64_t deadline = now_ms() + 10000;

    for (;;) {
        osh_bypass_monitor_get_stats(m, &st);
        if (st.lines >= lines && st.matched >= matched &&
            st.emitted + st.rate_limited == st.matched)
            return st;
        if (now_ms() > deadline)
            fail_msg("timeout: lines=%llu/%llu matched=%llu/%llu emitted=%llu limited=%llu",
                     (unsigned long long)st.lines, (unsigned long long)lines,
                     (unsigned long long)st.matched, (unsigned long long)matched,
                     (unsigned long long)st.emitted, (unsigned long long)st.rate_limited);
        sleep_ms(5);
    }
}

static size_t
drain_denials(struct osh_ring *r, struct osh_denial_event *out, size_t max)
{
    struct osh_denial_event d;
    size_t n = 0;

    while (osh_ring_pop_sc(r, &d)) {
        assert_int_equal(osh_denial_event_check(&d), 0);
        if (n < max)
            out[n] = d;
        n++;
    }
    return n;
}

static size_t
drain_activity(struct osh_ring *r)
{
    struct osh_activity_event a;
    size_t n = 0;

    while (osh_ring_pop_sc(r, &a)) {
        assert_true(a.denied);
        assert_int_equal(a.group, OSH_DENY_GROUP_BYPASS);
        assert_true(a.time_ms > 0);
        n++;
    }
    return n;
}

/* ---- monitor end to end ---------------------------------------------------- */

static void
test_monitor_fifo_events(void **state)
{
    struct osh_denial_event d[4];
    struct osh_bypass_stats st;
    struct env e;
    (void)state;

    env_start(&e, 0, false);
    osh_bypass_monitor_set_entrypoint(e.m, getpid()); /* UDP and a dead SPT: still "-" */
    write_str(e.wfd, "6,99,100,-;usb 1-1: new high-speed USB device number 2\n");
    write_str(e.wfd, "openshell:bypass:sandbox-ffff0000:" EX_TAIL "\n");
    write_str(e.wfd, P "IN= OUT=x DST=1.2.3.4 PROTO=TCP SPT=1\n"); /* no DPT */
    write_str(e.wfd, "6,1234,5678,-;" EX "\n");
    write_str(e.wfd, "4,441,4582161919,-;" P UDP_TAIL "\n");
    st = wait_done(e.m, 5, 2);
    assert_int_equal(st.lines, 5);
    assert_int_equal(st.matched, 2);
    assert_int_equal(st.emitted, 2);
    assert_int_equal(st.rate_limited, 0);
    assert_int_equal(st.overwritten, 0);

    assert_int_equal(drain_denials(e.den, d, 4), 2);
    assert_int_equal(d[0].stage, OSH_STAGE_BYPASS);
    assert_string_equal(d[0].host, "93.184.216.34");
    assert_int_equal(d[0].port, 443);
    assert_string_equal(d[0].binary, "-");
    assert_string_equal(d[0].ancestors, "");
    assert_int_equal(d[0].pid, 0);
    assert_string_equal(d[0].deny_reason, REASON);
    assert_string_equal(d[0].l7_method, "");
    assert_string_equal(d[0].l7_path, "");
    assert_false(d[0].truncated);
    assert_true(d[0].time_ms > 0);
    assert_string_equal(d[1].host, "10.203.0.2");
    assert_int_equal(d[1].port, 53);
    assert_string_equal(d[1].binary, "-");
    assert_int_equal(drain_activity(e.act), 2);
    env_stop(&e);
}

/* Without rings the monitor still counts and logs. */
static void
test_monitor_no_rings(void **state)
{
    struct osh_bypass_config cfg = {.log_prefix = P};
    struct osh_bypass_stats st;
    char dir[] = "/tmp/osh-bypass-XXXXXX", path[64], err[128];
    struct osh_bypass_monitor *m;
    int wfd;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    cfg.kmsg_path = path;
    m = osh_bypass_monitor_start(&cfg, err, sizeof(err));
    assert_non_null(m);
    wfd = open(path, O_WRONLY | O_CLOEXEC);
    assert_true(wfd >= 0);
    write_str(wfd, EX "\n");
    st = wait_done(m, 1, 1);
    assert_int_equal(st.emitted, 1);
    osh_bypass_monitor_free(m);
    close(wfd);
    unlink(path);
    rmdir(dir);
}

/* Stream mode: a line split across writes, an over-long line dropped whole,
 * and a FIFO writer that leaves and comes back (followed after EOF). */
static void
test_monitor_stream_framing(void **state)
{
    const size_t longlen = 20000;
    struct osh_denial_event d[4];
    struct osh_bypass_stats st;
    char *longline = malloc(longlen + sizeof(EX) + 1);
    const char *ex = EX "\n";
    size_t half = strlen(ex) / 2;
    struct env e;
    (void)state;

    assert_non_null(longline);
    env_start(&e, 0, false);
    write_all(e.wfd, ex, half);
    sleep_ms(50);
    write_str(e.wfd, ex + half);
    st = wait_done(e.m, 1, 1);
    assert_int_equal(st.emitted, 1);

    /* 20000 junk bytes, then a valid-looking match, one line: dropped. */
    memset(longline, 'x', longlen);
    memcpy(&longline[longlen], EX "\n", sizeof(EX "\n"));
    write_str(e.wfd, longline);
    write_str(e.wfd, P "IN= DST=8.8.8.8 PROTO=UDP SPT=5353 DPT=53\n");
    st = wait_done(e.m, 3, 2);
    assert_int_equal(st.lines, 3);
    assert_int_equal(st.matched, 2);

    /* The writer goes away (EOF) and a new one comes. */
    close(e.wfd);
    sleep_ms(250);
    e.wfd = open(e.path, O_WRONLY | O_CLOEXEC);
    assert_true(e.wfd >= 0);
    write_str(e.wfd, P "IN= DST=9.9.9.9 PROTO=TCP SPT=1 DPT=853\n");
    st = wait_done(e.m, 4, 3);
    assert_int_equal(st.emitted, 3);

    assert_int_equal(drain_denials(e.den, d, 4), 3);
    assert_string_equal(d[0].host, "93.184.216.34");
    assert_string_equal(d[1].host, "8.8.8.8");
    assert_int_equal(d[1].port, 53);
    assert_string_equal(d[2].host, "9.9.9.9");
    assert_int_equal(d[2].port, 853);
    env_stop(&e);
    free(longline);
}

/* A regular file: what is there before start is not replayed; appended
 * lines are followed. */
static void
test_monitor_file_no_replay(void **state)
{
    struct osh_denial_event d[4];
    struct osh_bypass_stats st;
    char dir[] = "/tmp/osh-bypass-XXXXXX", path[64], err[128];
    struct osh_ring *den = osh_ring_new(16, sizeof(struct osh_denial_event));
    struct osh_bypass_config cfg = {.log_prefix = P, .denials = den};
    struct osh_bypass_monitor *m;
    int fd;
    (void)state;

    assert_non_null(den);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/kmsg", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    write_str(fd, P "IN= DST=1.1.1.1 DPT=1111\n" P "IN= DST=1.1.1.1 DPT=2222\n");
    cfg.kmsg_path = path;
    m = osh_bypass_monitor_start(&cfg, err, sizeof(err));
    assert_non_null(m);
    sleep_ms(150);
    write_str(fd, P "IN= DST=2.2.2.2 DPT=3333\n");
    st = wait_done(m, 1, 1);
    sleep_ms(150);
    osh_bypass_monitor_get_stats(m, &st);
    assert_int_equal(st.lines, 1);
    assert_int_equal(st.emitted, 1);
    assert_int_equal(drain_denials(den, d, 4), 1);
    assert_int_equal(d[0].port, 3333);
    osh_bypass_monitor_free(m);
    close(fd);
    unlink(path);
    rmdir(dir);
    osh_ring_free(den);
}

static void
rate_case(unsigned rate)
{
    unsigned eff = rate != 0 ? rate : 20;
    char *buf = malloc(100 * 128);
    struct osh_bypass_stats st;
    struct env e;
    size_t n = 0;
    uint64_t t0, elapsed, allowed;

    assert_non_null(buf);
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(&buf[n], 128, P "IN= DST=203.0.113.%d PROTO=TCP SPT=%d DPT=443\n", i,
                              40000 + i);
    env_start(&e, rate, false);
    t0 = now_ms();
    write_all(e.wfd, buf, n);
    st = wait_done(e.m, 100, 100);
    elapsed = now_ms() - t0;
    allowed = 2u * eff + (eff * elapsed) / 1000u;
    if (st.emitted > allowed)
        fail_msg("rate %u: %llu emitted in %llu ms, at most %llu allowed", eff,
                 (unsigned long long)st.emitted, (unsigned long long)elapsed,
                 (unsigned long long)allowed);
    assert_true(st.emitted >= 2u * eff); /* the burst is used */
    assert_int_equal(st.matched, 100);
    assert_int_equal(st.emitted + st.rate_limited, 100);
    assert_int_equal(drain_denials(e.den, NULL, 0), st.emitted);
    assert_int_equal(drain_activity(e.act), st.emitted);
    env_stop(&e);
    free(buf);
}

static void
test_monitor_rate_limit(void **state)
{
    (void)state;
    rate_case(5);
    rate_case(0); /* the default, 20/s */
}

/* The OCSF shorthand lines and the rate-limit summary, read back from
 * stderr (redirected to a file for the duration of the test). */
static void
test_monitor_log_lines(void **state)
{
    char tmpl[] = "/tmp/osh-bypass-log-XXXXXX", *text;
    struct osh_bypass_stats st;
    struct env e;
    int logfd, saved;
    off_t size;
    (void)state;

    logfd = mkstemp(tmpl);
    assert_true(logfd >= 0);
    unlink(tmpl);
    saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(logfd, STDERR_FILENO), STDERR_FILENO);

    env_start(&e, 1, false); /* burst 2 */
    write_str(e.wfd, EX "\n" P UDP_TAIL "\n" EX "\n" EX "\n" EX "\n");
    st = wait_done(e.m, 5, 5);
    osh_bypass_monitor_stop(e.m); /* flushes the summary */
    env_stop(&e);

    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    assert_int_equal(st.emitted, 2);
    assert_int_equal(st.rate_limited, 3);
    size = lseek(logfd, 0, SEEK_END);
    assert_true(size > 0);
    text = calloc(1, (size_t)size + 1);
    assert_non_null(text);
    assert_int_equal(pread(logfd, text, (size_t)size, 0), size);
    close(logfd);

    if (strstr(text, " OCSF NET:REFUSE [MED] DENIED -(0) -> 93.184.216.34:443/tcp "
                     "[policy:bypass-detect engine:nftables] [reason:" REASON "]\n") == NULL ||
        strstr(text, " OCSF NET:REFUSE [MED] DENIED -(0) -> 10.203.0.2:53/udp "
                     "[policy:bypass-detect engine:nftables] [reason:" REASON "]\n") == NULL ||
        strstr(text, " OCSF FINDING:BLOCKED [MED] \"Proxy Bypass Detected\" "
                     "[confidence:high]\n") == NULL ||
        strstr(text, " WARN bypass: bypass monitor: 3 detections over the limit of 1/s") == NULL)
        fail_msg("unexpected log:\n%s", text);
    free(text);
}

static void
test_monitor_stop(void **state)
{
    struct osh_bypass_stats st;
    struct env e;
    uint64_t t0;
    (void)state;

    env_start(&e, 0, false);
    write_str(e.wfd, EX "\n");
    wait_done(e.m, 1, 1);
    t0 = now_ms();
    osh_bypass_monitor_stop(e.m);
    if (now_ms() - t0 > 500)
        fail_msg("stop took %llu ms", (unsigned long long)(now_ms() - t0));
    osh_bypass_monitor_stop(e.m); /* idempotent */
    osh_bypass_monitor_get_stats(e.m, &st);
    assert_int_equal(st.emitted, 1);
    osh_bypass_monitor_set_entrypoint(e.m, 1); /* harmless after stop */
    env_stop(&e);

    /* Stop with no writer ever connected, and NULLs. */
    {
        struct osh_bypass_config cfg = {.log_prefix = P};
        char dir[] = "/tmp/osh-bypass-XXXXXX", path[64];
        struct osh_bypass_monitor *m;

        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/kmsg", dir);
        assert_int_equal(mkfifo(path, 0600), 0);
        cfg.kmsg_path = path;
        m = osh_bypass_monitor_start(&cfg, NULL, 0);
        assert_non_null(m);
        sleep_ms(20);
        t0 = now_ms();
        osh_bypass_monitor_free(m);
        assert_true(now_ms() - t0 < 500);
        unlink(path);
        rmdir(dir);
    }
    osh_bypass_monitor_stop(NULL);
    osh_bypass_monitor_free(NULL);
    osh_bypass_monitor_set_entrypoint(NULL, 1);
    osh_bypass_monitor_get_stats(NULL, &st);
    assert_int_equal(st.lines, 0);
}

static void
test_monitor_start_errors(void **state)
{
    struct osh_bypass_config cfg = {.log_prefix = P, .kmsg_path = "/nonexistent/osh/kmsg"};
    char err[256], longp[OSH_BYPASS_PREFIX_MAX + 2];
    (void)state;

    errno = 0;
    assert_null(osh_bypass_monitor_start(&cfg, err, sizeof(err)));
    assert_int_equal(errno, ENOENT);
    assert_non_null(strstr(err, "/nonexistent/osh/kmsg"));

    errno = 0;
    assert_null(osh_bypass_monitor_start(NULL, err, sizeof(err)));
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "log_prefix"));

    cfg.kmsg_path = "/dev/null";
    cfg.log_prefix = NULL;
    errno = 0;
    assert_null(osh_bypass_monitor_start(&cfg, err, sizeof(err)));
    assert_int_equal(errno, EINVAL);
    cfg.log_prefix = "";
    assert_null(osh_bypass_monitor_start(&cfg, NULL, 0));
    cfg.log_prefix = "has space:";
    assert_null(osh_bypass_monitor_start(&cfg, err, sizeof(err)));
    memset(longp, 'p', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    cfg.log_prefix = longp;
    assert_null(osh_bypass_monitor_start(&cfg, err, sizeof(err)));
    assert_int_equal(errno, EINVAL);
}

/* ---- identity with a real loopback socket ----------------------------------- */

struct tcp_pair {
    int lfd, cfd, afd;
    uint16_t lport, cport;
};

static void
tcp_pair_open(struct tcp_pair *p)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);

    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->lfd >= 0);
    assert_int_equal(bind(p->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(p->lfd, 4), 0);
    assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&a, &alen), 0);
    p->lport = ntohs(a.sin_port);
    p->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p->cfd >= 0);
    assert_int_equal(connect(p->cfd, (struct sockaddr *)&a, sizeof(a)), 0);
    p->afd = accept4(p->lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(p->afd >= 0);
    alen = sizeof(a);
    assert_int_equal(getsockname(p->cfd, (struct sockaddr *)&a, &alen), 0);
    p->cport = ntohs(a.sin_port);
}

static void
tcp_pair_close(struct tcp_pair *p)
{
    close(p->afd);
    close(p->cfd);
    close(p->lfd);
}

static void
read_link(const char *path, char *buf, size_t len)
{
    ssize_t n = readlink(path, buf, len - 1);

    assert_true(n > 0);
    buf[n] = '\0';
}

static void
test_monitor_identity(void **state)
{
    char self[PATH_MAX], parent[PATH_MAX], path[64], line[256];
    struct osh_denial_event d[2];
    struct tcp_pair p;
    struct env e;
    ssize_t n;
    (void)state;

    read_link("/proc/self/exe", self, sizeof(self));
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)getppid());
    n = readlink(path, parent, sizeof(parent) - 1); /* not ours to read unless root */
    parent[n > 0 ? n : 0] = '\0';
    tcp_pair_open(&p);

    env_start(&e, 0, false);
    osh_bypass_monitor_set_entrypoint(e.m, getpid());
    snprintf(line, sizeof(line),
             P "IN= OUT=lo SRC=127.0.0.1 DST=127.0.0.1 PROTO=TCP SPT=%u DPT=%u "
               "UID=0\n",
             p.cport, p.lport);
    write_str(e.wfd, line);
    wait_done(e.m, 1, 1);
    assert_int_equal(drain_denials(e.den, d, 2), 1);
    assert_string_equal(d[0].binary, self);
    assert_int_equal(d[0].pid, (uint32_t)getpid());
    /* The chain starts with our parent's exe, nearest first. */
    if (parent[0] != '\0')
        assert_true(strncmp(d[0].ancestors, parent, strlen(parent)) == 0);
    env_stop(&e);
    tcp_pair_close(&p);
}

/* Two processes with different ancestry hold the socket: "ambiguous". */
static void
test_monitor_identity_ambiguous(void **state)
{
    char line[256];
    struct osh_denial_event d[2];
    struct tcp_pair p;
    struct env e;
    int go[2];
    pid_t child;
    (void)state;

    tcp_pair_open(&p);
    assert_int_equal(pipe2(go, O_CLOEXEC), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char c;

        close(go[1]);
        /* Holds the inherited socket until the parent closes the pipe. */
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(go[0]);

    env_start(&e, 0, false);
    osh_bypass_monitor_set_entrypoint(e.m, getpid());
    snprintf(line, sizeof(line), P "IN= DST=127.0.0.1 PROTO=TCP SPT=%u DPT=%u\n", p.cport, p.lport);
    write_str(e.wfd, line);
    wait_done(e.m, 1, 1);
    assert_int_equal(drain_denials(e.den, d, 2), 1);
    assert_string_equal(d[0].binary, "ambiguous");
    assert_int_equal(d[0].pid, 0);
    assert_string_equal(d[0].ancestors, "");
    env_stop(&e);

    close(go[1]);
    assert_int_equal(waitpid(child, NULL, 0), child);
    tcp_pair_close(&p);
}

/* ---- the real kernel log (root) -------------------------------------------- */

static void
kmsg_write(int fd, const char *prefix, const char *dst, unsigned dport)
{
    char rec[512];
    int n = snprintf(rec, sizeof(rec),
                     "<4>%sIN= OUT=veth-s-test SRC=10.200.0.2 DST=%s LEN=60 TOS=0x00 PREC=0x00 "
                     "TTL=64 ID=1 DF PROTO=TCP SPT=40001 DPT=%u WINDOW=64240 RES=0x00 SYN URGP=0 "
                     "UID=0 GID=0\n",
                     prefix, dst, dport);

    assert_true(n > 0 && (size_t)n < sizeof(rec));
    if (write(fd, rec, (size_t)n) != n)
        fail_msg("write to /dev/kmsg: %s", strerror(errno));
}

static void
test_real_kmsg(void **state)
{
    char prefix[64], err[256];
    struct osh_denial_event d[4];
    struct osh_bypass_stats st;
    struct osh_ring *den = NULL;
    struct osh_bypass_config cfg = {0};
    struct osh_bypass_monitor *m;
    uint64_t deadline;
    int kfd;
    (void)state;

    if (geteuid() != 0)
        fail_msg("test_real_kmsg must run as root: it reads /dev/kmsg and injects a record "
                 "by writing to it (euid is %d)",
                 (int)geteuid());
    den = osh_ring_new(64, sizeof(struct osh_denial_event));
    assert_non_null(den);
    cfg.denials = den;
    snprintf(prefix, sizeof(prefix), "openshell:bypass:osh-t%d:", (int)getpid());
    cfg.log_prefix = prefix;
    kfd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
    if (kfd < 0)
        fail_msg("open /dev/kmsg for writing: %s", strerror(errno));

    /* Logged before start: must not be replayed. */
    kmsg_write(kfd, prefix, "192.0.2.1", 1111);
    m = osh_bypass_monitor_start(&cfg, err, sizeof(err));
    if (m == NULL)
        fail_msg("start on /dev/kmsg: %s", err);
    kmsg_write(kfd, prefix, "192.0.2.7", 8443);

    deadline = now_ms() + 10000;
    do {
        osh_bypass_monitor_get_stats(m, &st);
        if (st.emitted >= 1)
            break;
        sleep_ms(5);
    } while (now_ms() < deadline);
    if (st.emitted < 1)
        fail_msg("no event from /dev/kmsg within 10 s (lines=%llu matched=%llu)",
                 (unsigned long long)st.lines, (unsigned long long)st.matched);
    sleep_ms(100); /* a replayed record would have arrived by now */
    osh_bypass_monitor_stop(m);
    osh_bypass_monitor_get_stats(m, &st);
    assert_int_equal(st.matched, 1);
    assert_int_equal(st.emitted, 1);
    assert_int_equal(drain_denials(den, d, 4), 1);
    assert_string_equal(d[0].host, "192.0.2.7");
    assert_int_equal(d[0].port, 8443);
    assert_int_equal(d[0].stage, OSH_STAGE_BYPASS);
    osh_bypass_monitor_free(m);
    close(kfd);
    osh_ring_free(den);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_bad_args),
        cmocka_unit_test(test_parse_truncations),
        cmocka_unit_test(test_parse_long_lines),
        cmocka_unit_test(test_tcp_rows),
        cmocka_unit_test(test_hints),
        cmocka_unit_test(test_monitor_fifo_events),
        cmocka_unit_test(test_monitor_no_rings),
        cmocka_unit_test(test_monitor_stream_framing),
        cmocka_unit_test(test_monitor_file_no_replay),
        cmocka_unit_test(test_monitor_rate_limit),
        cmocka_unit_test(test_monitor_log_lines),
        cmocka_unit_test(test_monitor_stop),
        cmocka_unit_test(test_monitor_start_errors),
        cmocka_unit_test(test_monitor_identity),
        cmocka_unit_test(test_monitor_identity_ambiguous),
        cmocka_unit_test(test_real_kmsg),
    };

    /* A FIFO reader that goes away must not kill the test with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests_name("bypass", tests, NULL, NULL);
}
