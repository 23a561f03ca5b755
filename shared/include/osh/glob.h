/*
 * glob.h - glob patterns with the semantics of regorus's glob.match built on
 * globset 0.4.18 (policy.md §3.4).  A pattern is compiled once (at policy
 * compile time) into a small program matched by a Thompson/Pike-style
 * simulation: linear in the input, no backtracking, no allocation while
 * matching, so a compiled glob is read by any number of threads.
 *
 * `delim` is the single delimiter of the use site: '.' for hosts, query values
 * and GraphQL names (regorus's empty list means "."), '/' for paths and
 * binaries.  With '.', every '/' in pattern and input is an ordinary
 * character and '.' is the separator that '*', '?' never cross.
 */
#ifndef OSH_GLOB_H
#define OSH_GLOB_H

#include <stddef.h>

struct osh_glob;

/*
 * Compiles `pattern` (`len` bytes, not NUL-terminated; copied, so it may be
 * freed after the call).  Returns 0 and *out, owned by the caller until
 * osh_glob_free(), or -EINVAL with a message in `err` (e.g. "unclosed
 * character class '['", "dangling escape", "unclosed alternation '{'",
 * "pattern too complex"), or -ENOMEM; *out is NULL on error.  -EINVAL also
 * covers a NUL byte or invalid UTF-8 in the pattern (regorus patterns are
 * Rust strings without NUL), a `delim` other than '.' and '/', a pattern
 * over 64 KiB, and a program over 4096 instructions.  `err` may be NULL;
 * the message is truncated to `errlen`.  Any thread.
 */
int osh_glob_compile(const char *pattern, size_t len, char delim, struct osh_glob **out,
                     char *err, size_t errlen);

/* 1 if `s` (`len` bytes, any bytes but NUL) matches the whole pattern, 0 if
 * not, -EINVAL if `s` contains a NUL byte (an evaluation error: callers fail
 * closed).  Linear in `len`, allocation-free, uses under 10 KiB of stack;
 * any number of threads may match against one glob concurrently. */
int osh_glob_match(const struct osh_glob *g, const char *s, size_t len);

void osh_glob_free(struct osh_glob *g);

#endif /* OSH_GLOB_H */
