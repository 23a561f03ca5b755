/*
 * query.c - a URL query string as an ordered multimap (policy.md §3.2,
 * rest.rs::parse_query_params).
 *
 * Keys and values are decoded once here ('+' is a space, %HH a byte) and then
 * compared byte for byte by the evaluator.  Because they are handed out as C
 * strings, a decoded NUL is an error rather than a silent truncation: a value
 * "a%00b" must not match a policy written for "a".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/query.h"

static int hexval(unsigned char c);
static bool utf8_valid(const unsigned char *s, size_t n);
static void set_err(char *err, size_t errlen, const char *msg);
static int decode_component(const char *s, size_t n, char **out, char *err, size_t errlen);
static int push_owned(struct osh_query *q, char *key, char *value);
static void truncate_to(struct osh_query *q, size_t len);

void
osh_query_init(struct osh_query *q)
{
    memset(q, 0, sizeof(*q));
}

/*
 * Pairs are appended as they are decoded; on any failure the ones appended by
 * this call are removed again, so the caller sees all of `s` or none of it.
 * The error of the first failing component is reported (key before value).
 */
int
osh_query_parse(struct osh_query *q, const char *s, size_t len, char *err, size_t errlen)
{
    size_t start_len = q->len, i = 0;
    char *key = NULL, *value = NULL;
    int rc;

    set_err(err, errlen, "");
    if (s == NULL && len > 0) {
        set_err(err, errlen, "query string is NULL");
        return -EINVAL;
    }
    while (i < len) {
        const char *amp = memchr(&s[i], '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - s) : len;
        const char *eq = memchr(&s[i], '=', end - i);
        size_t klen = eq != NULL ? (size_t)(eq - s) - i : end - i;

        if (end > i) {
            if ((rc = decode_component(&s[i], klen, &key, err, errlen)) != 0)
                goto fail;
            if (eq != NULL)
                rc = decode_component(&eq[1], end - i - klen - 1, &value, err, errlen);
            else
                rc = decode_component("", 0, &value, err, errlen);
            if (rc != 0)
                goto fail;
            if ((rc = push_owned(q, key, value)) != 0)
                goto fail;
            key = value = NULL;
        }
        i = end + 1;
    }
    return 0;
fail:
    free(key);
    free(value);
    truncate_to(q, start_len);
    if (rc == -ENOMEM)
        set_err(err, errlen, "out of memory parsing query");
    return rc;
}

int
osh_query_add(struct osh_query *q, const char *key, const char *value)
{
    char *k = NULL, *v = NULL;

    if (key == NULL || value == NULL)
        return -EINVAL;
    k = strdup(key);
    v = strdup(value);
    if (k == NULL || v == NULL)
        goto fail;
    if (push_owned(q, k, v) != 0)
        goto fail;
    return 0;
fail:
    free(k);
    free(v);
    return -ENOMEM;
}

size_t
osh_query_count(const struct osh_query *q, const char *key)
{
    size_t n = 0;

    if (q == NULL || key == NULL)
        return 0;
    for (size_t i = 0; i < q->len; i++)
        if (strcmp(q->params[i].key, key) == 0)
            n++;
    return n;
}

const char *
osh_query_value(const struct osh_query *q, const char *key, size_t idx)
{
    if (q == NULL || key == NULL)
        return NULL;
    for (size_t i = 0; i < q->len; i++) {
        if (strcmp(q->params[i].key, key) != 0)
            continue;
        if (idx == 0)
            return q->params[i].value;
        idx--;
    }
    return NULL;
}

void
osh_query_clear(struct osh_query *q)
{
    truncate_to(q, 0);
    free(q->params);
    memset(q, 0, sizeof(*q));
}

static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t need;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            need = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false; /* continuation byte, C0/C1, F5..FF */
        }
        if (n - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            unsigned b = s[i + k];
            if ((b & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

static void
set_err(char *err, size_t errlen, const char *msg)
{
    if (err == NULL || errlen == 0)
        return;
    /* truncation is acceptable for a diagnostic; the result stays terminated */
    (void)snprintf(err, errlen, "%s", msg);
}

/*
 * Decodes one key or value of `n` bytes into a fresh NUL-terminated string.
 * Returns 0, -EBADMSG (message in err) or -ENOMEM.  Escapes are checked for
 * the whole component before UTF-8, like upstream, so "%zz" wins over a bad
 * sequence earlier in the same component.
 */
static int
decode_component(const char *s, size_t n, char **out, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t i = 0, o = 0;
    int rc = -EBADMSG;

    *out = NULL;
    if ((buf = malloc(n + 1)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;

        if (c == '+') {
            buf[o++] = ' ';
            i++;
            continue;
        }
        if (c == '\0') {
            set_err(err, errlen, "query component contains a NUL byte");
            goto fail;
        }
        if (c != '%') {
            buf[o++] = (char)c;
            i++;
            continue;
        }
        if (n - i < 3 || (hi = hexval((unsigned char)s[i + 1])) < 0 ||
            (lo = hexval((unsigned char)s[i + 2])) < 0) {
            set_err(err, errlen, "invalid percent-encoding in query component");
            goto fail;
        }
        if (hi == 0 && lo == 0) {
            set_err(err, errlen, "invalid percent-encoding in query component: %00 (NUL)");
            goto fail;
        }
        buf[o++] = (char)(hi << 4 | lo);
        i += 3;
    }
    buf[o] = '\0';
    if (!utf8_valid((const unsigned char *)buf, o)) {
        set_err(err, errlen, "query component is not valid UTF-8");
        goto fail;
    }
    *out = buf;
    return 0;
fail:
    free(buf);
    return rc;
}

/* Appends a pair whose strings the list now owns.  0 or -ENOMEM (not taken). */
static int
push_owned(struct osh_query *q, char *key, char *value)
{
    if (q->len == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 8;
        struct osh_query_param *n;

        if (ncap > SIZE_MAX / sizeof(*n))
            return -ENOMEM;
        if ((n = realloc(q->params, ncap * sizeof(*n))) == NULL)
            return -ENOMEM;
        q->params = n;
        q->cap = ncap;
    }
    q->params[q->len].key = key;
    q->params[q->len].value = value;
    q->len++;
    return 0;
}

/* Frees the pairs at [len, q->len) and shortens the list to `len`. */
static void
truncate_to(struct osh_query *q, size_t len)
{
    while (q->len > len) {
        q->len--;
        free(q->params[q->len].key), q->params[q->len].key = NULL;
        free(q->params[q->len].value), q->params[q->len].value = NULL;
    }
}
