/*
 * query.h - a URL query string as an ordered multimap (policy.md §3.2,
 * rest.rs::parse_query_params): split on '&', empty pairs dropped, split at
 * the first '=', '+' -> ' ', %HH decoded, result must be UTF-8; keys are
 * case sensitive; values of one key keep their order.
 *
 * Lifecycle: zero-initialise (or osh_query_init), fill with osh_query_parse
 * or osh_query_add, read, osh_query_clear.  Not thread safe while written;
 * read-only use is safe from any thread.
 */
#ifndef OSH_QUERY_H
#define OSH_QUERY_H

#include <stdbool.h>
#include <stddef.h>

struct osh_query_param {
    char *key; /* decoded, NUL terminated (never contains NUL: rejected) */
    char *value;
};

struct osh_query {
    struct osh_query_param *params; /* in input order */
    size_t len;
    size_t cap;
};

void osh_query_init(struct osh_query *q);

/*
 * Parses `s` (`len` bytes, without the leading '?') and appends its pairs to
 * `q`.  Returns 0, -EBADMSG for a bad %-escape, a decoded NUL or invalid
 * UTF-8 (nothing is appended then), or -ENOMEM.  When `err` is not NULL it
 * receives a message on failure, e.g. "invalid percent-encoding in query".
 */
int osh_query_parse(struct osh_query *q, const char *s, size_t len, char *err, size_t errlen);

/* Appends one decoded pair (both copied).  0 or -ENOMEM. */
int osh_query_add(struct osh_query *q, const char *key, const char *value);

/* Number of values for `key`; `idx`-th value through osh_query_value(). */
size_t osh_query_count(const struct osh_query *q, const char *key);
const char *osh_query_value(const struct osh_query *q, const char *key, size_t idx);

void osh_query_clear(struct osh_query *q);

#endif /* OSH_QUERY_H */
