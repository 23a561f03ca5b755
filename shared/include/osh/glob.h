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
 * Compiles `pattern` (`len` bytes).  Returns 0 and *out, or -EINVAL with a
 * message in `err` (e.g. "unclosed character class '['", "dangling escape",
 * "unclosed alternation '{'", "pattern too complex"), or -ENOMEM.
 */
int osh_glob_compile(const char *pattern, size_t len, char delim, struct osh_glob **out,
                     char *err, size_t errlen);

/* 1 if `s` (`len` bytes) matches the whole pattern, 0 if not, -EINVAL if `s`
 * contains a NUL byte (an evaluation error: callers fail closed). */
int osh_glob_match(const struct osh_glob *g, const char *s, size_t len);

void osh_glob_free(struct osh_glob *g);

#endif /* OSH_GLOB_H */
