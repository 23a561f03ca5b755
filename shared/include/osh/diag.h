/*
 * diag.h - diagnostics: a growable list of errors and warnings, each with a
 * source position and a field path, printed as
 *     FILE:LINE:COL: field.path: message
 * (warnings get "warning: " before the message).  Line and column are
 * 1-based; 0 means unknown (JSON semantic errors: jansson keeps no positions).
 *
 * Owned by the caller; not thread safe (one list per load).
 */
#ifndef OSH_DIAG_H
#define OSH_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct osh_diag {
    char *file;
    unsigned line;
    unsigned col;
    char *path; /* "" at top level */
    char *msg;
    bool warning;
};

struct osh_diags {
    struct osh_diag *items;
    size_t len;
    size_t cap;
    size_t n_errors;
    bool oom; /* an entry could not be recorded */
};

/* Appends one entry (copies every string).  Returns 0 or -ENOMEM (and sets
 * d->oom; an error is still counted).  printf-style `fmt`. */
int osh_diags_add(struct osh_diags *d, bool warning, const char *file, unsigned line,
                  unsigned col, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* Writes every entry, one per line, to `f`; only errors when !warnings. */
void osh_diags_print(const struct osh_diags *d, FILE *f, bool warnings);

/* Frees every entry and resets `d` to empty. */
void osh_diags_clear(struct osh_diags *d);

#endif /* OSH_DIAG_H */
