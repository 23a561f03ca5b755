/*
 * bypass_int.h - the pure parts of the bypass monitor, shared by
 * bypass_monitor.c (the thread) and the unit test and fuzz harness:
 *   - the kernel log line parser (process.md §5.2);
 *   - the /proc/<pid>/net/tcp{,6} row parser used for identity (§5.3);
 *   - the remediation hint of the Detection Finding (§5.4).
 *
 * Everything here is reentrant, allocates nothing, makes no syscall and reads
 * only the `len` bytes it is given (no strlen past len).
 */
#ifndef OSH_PROCESS_BYPASS_INT_H
#define OSH_PROCESS_BYPASS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BYPASS_PREFIX_MAX 127 /* the nft `log prefix` limit */
#define BYPASS_DST_MAX 64     /* an IPv6 literal is at most 45 bytes */
#define BYPASS_PROTO_MAX 16   /* "udplite", "icmpv6", or a number */

/* TCP states of /proc/net/tcp (include/net/tcp_states.h). */
#define BYPASS_TCP_ESTABLISHED 0x01
#define BYPASS_TCP_SYN_SENT 0x02

/* The fields of one fence log line. */
struct bypass_hit {
    char dst[BYPASS_DST_MAX];     /* DST=, printable ASCII, NUL-terminated */
    uint16_t dport;               /* DPT= */
    uint16_t sport;               /* SPT=, 0 when absent or not a u16 */
    char proto[BYPASS_PROTO_MAX]; /* PROTO= lower-cased, "unknown" when absent */
    uint32_t uid;                 /* UID=, valid when has_uid */
    bool has_uid;
};

/*
 * Parses one kernel log line (process.md §5.2).  The line ends at `len`, at
 * its first '\n' (kmsg continuation lines are not part of the message) or at
 * its first NUL (the kernel escapes NULs, so what follows one is not log
 * text), whichever comes first.
 *   1. Find the first occurrence of `prefix` (NUL-terminated, 1..BYPASS_PREFIX_MAX bytes)
 *      anywhere in the line; absent: not ours.
 *   2. In the rest of the line each field is the first `KEY=` at a word
 *      boundary (start of the rest or after a space, so that "ID=" never
 *      matches inside "UID="; cage-notes §3.2); its value runs to the next
 *      space or the end of the line, and an empty value counts as absent.
 *      DST= required (printable ASCII, < BYPASS_DST_MAX bytes); DPT=
 *      required, decimal u16; SPT= optional u16 (else 0); PROTO= optional
 *      (else, or when longer than 15 bytes or not printable, "unknown"),
 *      lower-cased; UID= optional decimal u32.  Numbers are digits only: no
 *      sign, no spaces, no overflow.
 * Returns 1 and fills *out when the line is ours and complete; 0 otherwise
 * (not ours, a required field missing or invalid, or a NULL argument); *out
 * is zeroed first whenever it is non-NULL.
 */
int bypass_parse_line(const char *line, size_t len, const char *prefix, struct bypass_hit *out);

/* One data row of /proc/<pid>/net/tcp or tcp6. */
struct bypass_tcp_row {
    uint16_t local_port; /* hex after the last ':' of field 1 */
    uint8_t state;       /* field 3, hex */
    uint64_t inode;      /* field 9, decimal */
};

/*
 * Parses one row (fields separated by spaces; a trailing '\n' is allowed).
 * Returns 1 and fills *out for a well-formed data row, 0 for the header line
 * or anything malformed.
 */
int bypass_parse_tcp_row(const char *line, size_t len, struct bypass_tcp_row *out);

/*
 * The Detection Finding's remediation (process.md §5.4): DNS for UDP to port
 * 53, the UDP hint for other UDP, else the HTTP_PROXY hint.  `proto` is the
 * lower-cased PROTO (NULL counts as "unknown").  Returns a string literal.
 */
const char *bypass_hint(const char *proto, uint16_t dport);

#endif /* OSH_PROCESS_BYPASS_INT_H */
