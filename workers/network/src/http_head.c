/*
 * http_head.c - in-place HTTP/1.x head parser and body framing.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "http_head.h"

size_t
http_head_end(const char *buf, size_t len, size_t from)
{
    /* Resume 3 bytes back: the terminator may straddle two reads. */
    size_t i = from > 3 ? from - 3 : 0;

    for (; i + 4 <= len; i++) {
        const char *p = memchr(buf + i, '\r', len - i);
        if (p == NULL)
            return 0;
        i = (size_t)(p - buf);
        if (i + 4 <= len && memcmp(p, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

static bool
is_tchar(unsigned char c)
{
    /* RFC 9110 token characters. */
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
slice_eq(struct http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.p, lit, n) == 0;
}

/* Parses the header lines in [p, end); `end` points at the final CRLF. */
static int
parse_headers(const char *p, const char *end, struct http_head *out)
{
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p) + 1);
        const char *colon, *v, *ve;
        struct http_header *h;

        if (eol == NULL || eol[1] != '\n')
            return -EBADMSG;
        if (*p == ' ' || *p == '\t')
            return -EBADMSG; /* obs-fold */
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p)
            return -EBADMSG;
        for (const char *c = p; c < colon; c++)
            if (!is_tchar((unsigned char)*c))
                return -EBADMSG; /* also rejects "Name : value" */
        for (const char *c = colon + 1; c < eol; c++)
            if ((unsigned char)*c < 0x20 && *c != '\t')
                return -EBADMSG; /* bare LF, NUL, controls */
        if (out->n_headers == OSH_HTTP_MAX_HEADERS)
            return -E2BIG;
        v = colon + 1;
        ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        h = &out->headers[out->n_headers++];
        h->name.p = p;
        h->name.len = (size_t)(colon - p);
        h->value.p = v;
        h->value.len = (size_t)(ve - v);
        p = eol + 2;
    }
    return 0;
}

/* Not a memset: the header array is 4 KiB and n_headers bounds it. */
static void
head_reset(struct http_head *out, size_t head_len)
{
    out->method.p = out->target.p = NULL;
    out->method.len = out->target.len = 0;
    out->status = 0;
    out->version_minor = 0;
    out->n_headers = 0;
    out->head_len = head_len;
}

static int
parse_version(const char *p, size_t len, int *minor)
{
    if (len != 8 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1'))
        return -EBADMSG;
    *minor = p[7] - '0';
    return 0;
}

int
http_parse_request(const char *buf, size_t head_len, struct http_head *out)
{
    const char *end = buf + head_len - 2; /* the blank line's CRLF */
    const char *eol, *sp1, *sp2;

    head_reset(out, head_len);
    if (head_len < 4)
        return -EBADMSG;
    eol = memchr(buf, '\r', head_len);
    if (eol == NULL || eol[1] != '\n')
        return -EBADMSG;
    for (const char *c = buf; c < eol; c++)
        if ((unsigned char)*c < 0x21 && *c != ' ')
            return -EBADMSG;
    sp1 = memchr(buf, ' ', (size_t)(eol - buf));
    if (sp1 == NULL || sp1 == buf)
        return -EBADMSG;
    sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    if (sp2 == NULL || sp2 == sp1 + 1)
        return -EBADMSG;
    for (const char *c = buf; c < sp1; c++)
        if (!is_tchar((unsigned char)*c))
            return -EBADMSG;
    out->method.p = buf;
    out->method.len = (size_t)(sp1 - buf);
    out->target.p = sp1 + 1;
    out->target.len = (size_t)(sp2 - sp1 - 1);
    if (parse_version(sp2 + 1, (size_t)(eol - sp2 - 1), &out->version_minor) < 0)
        return -EBADMSG;
    return parse_headers(eol + 2, end, out);
}

int
http_parse_response(const char *buf, size_t head_len, struct http_head *out)
{
    const char *end = buf + head_len - 2;
    const char *eol;

    head_reset(out, head_len);
    if (head_len < 16)
        return -EBADMSG;
    eol = memchr(buf, '\r', head_len);
    if (eol == NULL || eol[1] != '\n' || eol - buf < 12)
        return -EBADMSG;
    if (parse_version(buf, 8, &out->version_minor) < 0 || buf[8] != ' ')
        return -EBADMSG;
    for (int i = 9; i < 12; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -EBADMSG;
    out->status = (unsigned)((buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
    if (out->status < 100 || (eol - buf > 12 && buf[12] != ' '))
        return -EBADMSG;
    out->target.p = buf + 13 > eol ? eol : buf + 13; /* reason phrase */
    out->target.len = (size_t)(eol - out->target.p);
    return parse_headers(eol + 2, end, out);
}

const struct http_header *
http_find_header(const struct http_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (slice_eq(h->headers[i].name, name))
            return &h->headers[i];
    return NULL;
}

bool
http_value_has_token(struct http_slice v, const char *token)
{
    size_t tl = strlen(token), i = 0;

    while (i < v.len) {
        size_t s, e;
        while (i < v.len && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        s = i;
        while (i < v.len && v.p[i] != ',')
            i++;
        e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e - s == tl && strncasecmp(v.p + s, token, tl) == 0)
            return true;
    }
    return false;
}

static int
parse_length(struct http_slice v, uint64_t *out)
{
    uint64_t n = 0;

    if (v.len == 0 || v.len > 19)
        return -EBADMSG;
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9')
            return -EBADMSG;
        n = n * 10 + (uint64_t)(v.p[i] - '0');
    }
    *out = n;
    return 0;
}

/* Shared by requests and responses: TE, then CL (all copies equal). */
static int
framing(const struct http_head *h, enum http_body_kind *kind, uint64_t *length, bool *found)
{
    const struct http_slice *te = NULL;
    bool have_cl = false;
    uint64_t cl = 0;

    *found = true;
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct http_header *hd = &h->headers[i];
        if (slice_eq(hd->name, "transfer-encoding")) {
            if (te != NULL)
                return -EBADMSG; /* split TE headers: refuse rather than guess */
            te = &hd->value;
        } else if (slice_eq(hd->name, "content-length")) {
            uint64_t v;
            if (parse_length(hd->value, &v) < 0 || (have_cl && v != cl))
                return -EBADMSG;
            have_cl = true;
            cl = v;
        }
    }
    if (te != NULL) {
        struct http_slice last = *te;
        const char *comma;
        if (have_cl)
            return -EBADMSG;
        /* chunked must be the final coding, else the length is unknowable. */
        while ((comma = memchr(last.p, ',', last.len)) != NULL) {
            last.len -= (size_t)(comma + 1 - last.p);
            last.p = comma + 1;
        }
        if (!http_value_has_token(last, "chunked"))
            return -EBADMSG;
        *kind = HTTP_BODY_CHUNKED;
        return 0;
    }
    if (have_cl) {
        *kind = cl ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
        *length = cl;
        return 0;
    }
    *found = false;
    return 0;
}

int
http_request_body(const struct http_head *h, enum http_body_kind *kind, uint64_t *length)
{
    bool found;
    int rc;

    *length = 0;
    *kind = HTTP_BODY_NONE;
    rc = framing(h, kind, length, &found);
    if (rc == 0 && !found)
        *kind = HTTP_BODY_NONE;
    return rc;
}

int
http_response_body(const struct http_head *h, struct http_slice method, enum http_body_kind *kind,
                   uint64_t *length)
{
    bool found;
    int rc;

    *length = 0;
    *kind = HTTP_BODY_NONE;
    if (slice_eq(method, "HEAD") || h->status < 200 || h->status == 204 || h->status == 304)
        return 0;
    rc = framing(h, kind, length, &found);
    if (rc == 0 && !found)
        *kind = HTTP_BODY_UNTIL_CLOSE;
    return rc;
}

/* Chunked states. */
enum {
    CH_SIZE,     /* hex digits */
    CH_EXT,      /* ;extensions up to CR */
    CH_SIZE_LF,  /* after CR of the size line */
    CH_DATA,     /* `remaining` data bytes */
    CH_DATA_CR,  /* CRLF after data */
    CH_DATA_LF,
    CH_TRAILER_START, /* after last-chunk: CRLF ends, else a trailer line */
    CH_TRAILER_LINE,
    CH_TRAILER_LF,
    CH_END_LF,
};

long
http_chunked_advance(struct http_chunked *c, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len && !c->done) {
        unsigned char b = (unsigned char)data[i];
        switch (c->state) {
        case CH_SIZE:
            if ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')) {
                if (++c->digits > 15)
                    return -EBADMSG;
                c->remaining = c->remaining * 16 +
                               (uint64_t)(b <= '9' ? b - '0' : (b | 0x20) - 'a' + 10);
                i++;
            } else if (c->digits == 0) {
                return -EBADMSG;
            } else if (b == ';' || b == ' ' || b == '\t') {
                c->state = CH_EXT;
                i++;
            } else if (b == '\r') {
                c->state = CH_SIZE_LF;
                i++;
            } else {
                return -EBADMSG;
            }
            break;
        case CH_EXT:
            if (b == '\r')
                c->state = CH_SIZE_LF;
            else if (b == '\n' || b == 0)
                return -EBADMSG;
            i++;
            break;
        case CH_SIZE_LF:
            if (b != '\n')
                return -EBADMSG;
            i++;
            c->digits = 0;
            c->state = c->remaining == 0 ? CH_TRAILER_START : CH_DATA;
            break;
        case CH_DATA: {
            size_t take = len - i < c->remaining ? len - i : (size_t)c->remaining;
            i += take;
            c->remaining -= take;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            break;
        }
        case CH_DATA_CR:
            if (b != '\r')
                return -EBADMSG;
            c->state = CH_DATA_LF;
            i++;
            break;
        case CH_DATA_LF:
            if (b != '\n')
                return -EBADMSG;
            c->state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER_START:
            if (b == '\r') {
                c->state = CH_END_LF;
            } else if (b == '\n') {
                return -EBADMSG;
            } else {
                c->state = CH_TRAILER_LINE;
            }
            i++;
            break;
        case CH_TRAILER_LINE:
            if (b == '\r')
                c->state = CH_TRAILER_LF;
            else if (b == '\n')
                return -EBADMSG;
            i++;
            break;
        case CH_TRAILER_LF:
            if (b != '\n')
                return -EBADMSG;
            c->state = CH_TRAILER_START;
            i++;
            break;
        case CH_END_LF:
            if (b != '\n')
                return -EBADMSG;
            c->done = true;
            i++;
            break;
        default:
            return -EBADMSG;
        }
    }
    return (long)i;
}
