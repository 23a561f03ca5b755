/*
 * http_path.h - canonicalization of an HTTP request target (policy.md §3.2,
 * OpenShell l7/path.rs).  Pure function, no allocation, any thread.
 */
#ifndef OSH_HTTP_PATH_H
#define OSH_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>

enum osh_path_result {
    OSH_PATH_OK = 0,
    OSH_PATH_NULL_OR_CONTROL,   /* raw or decoded 0x00-0x1F / 0x7F */
    OSH_PATH_NON_ASCII,         /* raw byte >= 0x80 */
    OSH_PATH_FRAGMENT,          /* any '#' */
    OSH_PATH_MALFORMED,         /* does not start with '/' (after absolute form) */
    OSH_PATH_TOO_LONG,          /* > OSH_PATH_MAX bytes (query excluded) */
    OSH_PATH_BAD_PERCENT,       /* bad or short %HH */
    OSH_PATH_ENCODED_SLASH,     /* %2F without allow_encoded_slash */
    OSH_PATH_TRAVERSAL,         /* '..' above the root */
    OSH_PATH_OUT_TOO_SMALL,     /* caller's buffer too small */
};

#define OSH_PATH_MAX 4096

/* Upstream's variant name of a result ("EncodedSlashNotAllowed", ...). */
const char *osh_path_result_name(enum osh_path_result r);

/*
 * Canonicalizes `target` (`len` bytes: origin form "/p?q" or absolute form
 * "scheme://auth/p?q"; an empty target is "/").  On OSH_PATH_OK, `out`
 * (capacity `outcap`, NUL terminated) holds the canonical path without the
 * query, and *query / *query_len point into `target` at the raw query after
 * '?' (NULL / 0 when there is no '?').  `out` needs at most 3 * len + 2 bytes.
 */
enum osh_path_result osh_path_canonicalize(const char *target, size_t len,
                                           bool allow_encoded_slash, char *out, size_t outcap,
                                           const char **query, size_t *query_len);

#endif /* OSH_HTTP_PATH_H */
