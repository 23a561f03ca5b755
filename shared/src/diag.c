/*
 * diag.c - the diagnostics list used by the policy loader and validator.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "osh/diag.h"

int
osh_diags_add(struct osh_diags *d, bool warning, const char *file, unsigned line, unsigned col,
              const char *path, const char *fmt, ...)
{
    struct osh_diag e = {.line = line, .col = col, .warning = warning};
    va_list ap;

    if (d == NULL)
        return 0;
    if (!warning)
        d->n_errors++;
    if (d->len == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        struct osh_diag *n = realloc(d->items, ncap * sizeof(*n));
        if (n == NULL)
            goto fail;
        d->items = n;
        d->cap = ncap;
    }
    e.file = strdup(file ? file : "-");
    e.path = strdup(path ? path : "");
    va_start(ap, fmt);
    if (vasprintf(&e.msg, fmt, ap) < 0)
        e.msg = NULL;
    va_end(ap);
    if (e.file == NULL || e.path == NULL || e.msg == NULL)
        goto fail;
    d->items[d->len++] = e;
    return 0;
fail:
    free(e.file);
    free(e.path);
    free(e.msg);
    d->oom = true;
    return -ENOMEM;
}

void
osh_diags_print(const struct osh_diags *d, FILE *f, bool warnings)
{
    for (size_t i = 0; i < d->len; i++) {
        const struct osh_diag *e = &d->items[i];
        if (e->warning && !warnings)
            continue;
        fprintf(f, "%s:%u:%u: %s%s%s%s\n", e->file, e->line, e->col, e->path,
                e->path[0] ? ": " : "", e->warning ? "warning: " : "", e->msg);
    }
    if (d->oom)
        fprintf(f, "(some diagnostics were lost: out of memory)\n");
}

void
osh_diags_clear(struct osh_diags *d)
{
    for (size_t i = 0; i < d->len; i++) {
        free(d->items[i].file);
        free(d->items[i].path);
        free(d->items[i].msg);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}
