/*
 * http_path.c - canonicalization of an HTTP request target (policy.md §3.2,
 * OpenShell l7/path.rs).
 *
 * The canonical path is both what the L7 policy evaluates and what is written
 * to the upstream, so "..", "%2e%2e", "//" and ";params" cannot make the
 * policy see one path while the upstream dispatches on another.
 *
 * DESIGN: a pure function without allocation.  The target is validated in
 * forward passes (raw bytes, then every %HH), so the error reported is the
 * one upstream reports.  Dot segments are then resolved right to left with a
 * count of pending "..": a segment is kept when no ".." to its right cancels
 * it, which is the RFC 3986 stack without the stack.  One such walk measures
 * the exact output length, a second writes the kept segments backwards into
 * the caller's buffer; the buffer only ever has to hold the result.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "osh/http_path.h"

/* A decoded %2F kept under allow_encoded_slash: a byte that never separates. */
#define ENC_SLASH 0x100

enum seg_kind {
    SEG_NAME,
    SEG_EMPTY,
    SEG_DOT,
    SEG_DOTDOT,
};

struct seg_info {
    enum seg_kind kind;
    size_t enclen;     /* bytes this segment occupies once re-encoded */
    bool residual_dot; /* "." or ".." glued to a kept %2F */
};

static int hexval(unsigned char c);
static bool is_alpha(unsigned char c);
static bool is_digit(unsigned char c);
static bool is_literal(int c);
static bool is_authority_char(unsigned char c);
static enum osh_path_result check_raw(const char *t, size_t len);
static enum osh_path_result strip_absolute_form(const char *t, size_t *off, size_t *len);
static enum osh_path_result check_percent(const char *p, size_t len, bool allow_encoded_slash);
static int seg_getc(const char *p, size_t *i);
static void seg_classify(const char *p, size_t start, size_t end, struct seg_info *si);
static size_t seg_emit(const char *p, size_t start, size_t end, char *out, size_t pos);
static enum osh_path_result resolve(const char *p, size_t len, char *out, size_t total,
                                    size_t *outlen);

static const char hexdigits[] = "0123456789ABCDEF";

const char *
osh_path_result_name(enum osh_path_result r)
{
    switch (r) {
    case OSH_PATH_OK:
        return "Ok";
    case OSH_PATH_NULL_OR_CONTROL:
        return "NullOrControlByte";
    case OSH_PATH_NON_ASCII:
        return "NonAscii";
    case OSH_PATH_FRAGMENT:
        return "FragmentInRequestTarget";
    case OSH_PATH_MALFORMED:
        return "MalformedTarget";
    case OSH_PATH_TOO_LONG:
        return "PathTooLong";
    case OSH_PATH_BAD_PERCENT:
        return "InvalidPercentEncoding";
    case OSH_PATH_ENCODED_SLASH:
        return "EncodedSlashNotAllowed";
    case OSH_PATH_TRAVERSAL:
        return "TraversalAboveRoot";
    case OSH_PATH_OUT_TOO_SMALL:
        return "OutputTooSmall";
    }
    return "Unknown";
}

/*
 * Contract in http_path.h.  Beyond it: `query` / `query_len` may be NULL;
 * on failure they are NULL / 0 and `out` (when outcap > 0) is "".  A "." or
 * ".." glued to a kept %2F is reported as OSH_PATH_TRAVERSAL (see resolve()).
 * OUT_TOO_SMALL depends only on the canonical length, checked after every
 * other error.  Any thread; reads `target`, writes only `out` and the two
 * query out-parameters.
 */
enum osh_path_result
osh_path_canonicalize(const char *target, size_t len, bool allow_encoded_slash, char *out,
                      size_t outcap, const char **query, size_t *query_len)
{
    const char *qmark, *path;
    size_t off = 0, plen, total = 0;
    enum osh_path_result r;

    if (query != NULL)
        *query = NULL;
    if (query_len != NULL)
        *query_len = 0;
    if (out != NULL && outcap > 0)
        out[0] = '\0';
    if (target == NULL) {
        if (len > 0)
            return OSH_PATH_MALFORMED;
        target = "";
    }

    /* Steps 1-2: raw bytes over the whole target, query included. */
    if ((r = check_raw(target, len)) != OSH_PATH_OK)
        return r;
    qmark = memchr(target, '?', len);
    plen = qmark != NULL ? (size_t)(qmark - target) : len;

    /* Step 3: absolute form, empty target, origin form, length. */
    if ((r = strip_absolute_form(target, &off, &plen)) != OSH_PATH_OK)
        return r;
    path = plen > 0 ? &target[off] : "/";
    if (plen == 0)
        plen = 1;
    if (path[0] != '/')
        return OSH_PATH_MALFORMED;
    if (plen > OSH_PATH_MAX)
        return OSH_PATH_TOO_LONG;

    /* Step 4, then steps 5-7: measure, then write. */
    if ((r = check_percent(path, plen, allow_encoded_slash)) != OSH_PATH_OK)
        return r;
    if ((r = resolve(path, plen, NULL, 0, &total)) != OSH_PATH_OK)
        return r;
    if (out == NULL || outcap < total + 1)
        return OSH_PATH_OUT_TOO_SMALL;
    (void)resolve(path, plen, out, total, &total);
    out[total] = '\0';

    if (qmark != NULL) {
        if (query != NULL)
            *query = &qmark[1];
        if (query_len != NULL)
            *query_len = len - (size_t)(qmark - target) - 1;
    }
    return OSH_PATH_OK;
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

/* Locale-free on purpose: <ctype.h> depends on setlocale(). */
static bool
is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 3986 pchar minus pct-encoded: unreserved, sub-delims, ':' and '@'. */
static bool
is_literal(int c)
{
    if (c <= 0 || c > 0x7E)
        return false;
    if (is_alpha((unsigned char)c) || is_digit((unsigned char)c))
        return true;
    return strchr("-._~!$&'()*+,;=:@", c) != NULL;
}

/* reg-name / IP-literal / userinfo / port characters. */
static bool
is_authority_char(unsigned char c)
{
    return is_literal(c) || c == '%' || c == '[' || c == ']';
}

/*
 * Step 1.  The first control or non-ASCII byte decides between the two (as
 * upstream does); a '#' is only reported when neither occurs anywhere.
 */
static enum osh_path_result
check_raw(const char *t, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7F)
            return OSH_PATH_NULL_OR_CONTROL;
        if (c >= 0x80)
            return OSH_PATH_NON_ASCII;
    }
    if (memchr(t, '#', len) != NULL)
        return OSH_PATH_FRAGMENT;
    return OSH_PATH_OK;
}

/*
 * Step 3, absolute form: `scheme "://" authority [path]`, scheme per RFC 3986
 * (ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")).  On a match *off / *len are
 * narrowed to the path (possibly empty, which the caller turns into "/").
 * Anything that does not look like a scheme is left alone and later fails
 * the leading-'/' test.  An empty authority or one with characters outside
 * the authority grammar is MalformedTarget: upstream's URI parser rejects
 * those, and then the target does not start with '/'.
 */
static enum osh_path_result
strip_absolute_form(const char *t, size_t *off, size_t *len)
{
    size_t n = *len, i = 0, a;

    if (n == 0 || !is_alpha((unsigned char)t[0]))
        return OSH_PATH_OK;
    while (i < n && (is_alpha((unsigned char)t[i]) || is_digit((unsigned char)t[i]) ||
                     t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (n - i < 3 || t[i] != ':' || t[i + 1] != '/' || t[i + 2] != '/')
        return OSH_PATH_OK;
    a = i + 3;
    for (i = a; i < n && t[i] != '/'; i++)
        if (!is_authority_char((unsigned char)t[i]))
            return OSH_PATH_MALFORMED;
    if (i == a)
        return OSH_PATH_MALFORMED;
    *off = i;
    *len = n - i;
    return OSH_PATH_OK;
}

/* Step 4, validation only: the first bad escape in the path decides. */
static enum osh_path_result
check_percent(const char *p, size_t len, bool allow_encoded_slash)
{
    size_t i = 0;

    while (i < len) {
        int hi, lo, v;
        if (p[i] != '%') {
            i++;
            continue;
        }
        if (len - i < 3)
            return OSH_PATH_BAD_PERCENT;
        hi = hexval((unsigned char)p[i + 1]);
        lo = hexval((unsigned char)p[i + 2]);
        if (hi < 0 || lo < 0)
            return OSH_PATH_BAD_PERCENT;
        v = hi << 4 | lo;
        if (v == '/' && !allow_encoded_slash)
            return OSH_PATH_ENCODED_SLASH;
        if (v < 0x20 || v == 0x7F)
            return OSH_PATH_NULL_OR_CONTROL;
        i += 3;
    }
    return OSH_PATH_OK;
}

/* Next decoded byte of an already validated path; ENC_SLASH for %2F. */
static int
seg_getc(const char *p, size_t *i)
{
    int hi, lo, v;

    if (p[*i] != '%')
        return (unsigned char)p[(*i)++];
    hi = hexval((unsigned char)p[*i + 1]);
    lo = hexval((unsigned char)p[*i + 2]);
    if (hi < 0 || lo < 0) {
        /* NOTREACHED: check_percent() ran; a literal '%' (emitted %25) is safe */
        (*i)++;
        return '%';
    }
    v = hi << 4 | lo;
    *i += 3;
    return v == '/' ? ENC_SLASH : v;
}

/*
 * Classifies the raw segment [start, end).  Path parameters are cut at the
 * first *decoded* ';' (raw or %3B) BEFORE the dot-segment test, as upstream
 * does: stripping afterwards would let "..;x" slip past the traversal check
 * as a plain name and then leave the upstream a bare ".." once the params
 * are gone.  So "/a/..;x/b" is "/b" and "/..;x" is TraversalAboveRoot.
 */
static void
seg_classify(const char *p, size_t start, size_t end, struct seg_info *si)
{
    size_t i = start, n = 0, part = 0;
    bool all_dots = true, part_dots = true;

    si->enclen = 0;
    si->residual_dot = false;
    while (i < end) {
        int c = seg_getc(p, &i);
        if (c == ';')
            break;
        n++;
        if (c == ENC_SLASH) {
            if (part > 0 && part <= 2 && part_dots)
                si->residual_dot = true;
            part = 0;
            part_dots = true;
            all_dots = false;
            si->enclen += 3;
            continue;
        }
        if (c != '.') {
            all_dots = false;
            part_dots = false;
        }
        part++;
        si->enclen += is_literal(c) ? 1 : 3;
    }
    if (part > 0 && part <= 2 && part_dots && n != part)
        si->residual_dot = true;

    if (n == 0)
        si->kind = SEG_EMPTY;
    else if (all_dots && n == 1)
        si->kind = SEG_DOT;
    else if (all_dots && n == 2)
        si->kind = SEG_DOTDOT;
    else
        si->kind = SEG_NAME;
}

/* Step 7 for one segment: writes it at out[pos..] and returns the new end. */
static size_t
seg_emit(const char *p, size_t start, size_t end, char *out, size_t pos)
{
    size_t i = start;

    while (i < end) {
        int c = seg_getc(p, &i);
        if (c == ';')
            break;
        if (c == ENC_SLASH) {
            out[pos++] = '%';
            out[pos++] = '2';
            out[pos++] = 'F';
        } else if (is_literal(c)) {
            out[pos++] = (char)c;
        } else {
            out[pos++] = '%';
            out[pos++] = hexdigits[(c >> 4) & 0xF];
            out[pos++] = hexdigits[c & 0xF];
        }
    }
    return pos;
}

/*
 * Steps 5-7 over the path [0, len) (starts with '/', escapes validated).
 * With out == NULL it only computes *outlen; otherwise it writes exactly
 * `total` bytes (the measured length) into out, right to left.
 *
 * Right to left: `skip` counts the ".." seen so far; a name is dropped while
 * skip > 0.  A ".." that nothing to its left cancels leaves skip > 0 at the
 * end, which is exactly when the left-to-right stack would have underflowed.
 * The last segment alone, when ".", ".." or empty, leaves a trailing '/'.
 *
 * With allow_encoded_slash a kept %2F hides "a/../b"-style segments inside
 * one segment (e.g. "..%2Fb"); an upstream that decodes %2F would resolve
 * them, so a kept segment with a "."/".." piece next to a %2F is rejected.
 * Upstream calls that ResidualDotSegment; the header's enum has no such
 * member, and TraversalAboveRoot is the closest honest name.
 */
static enum osh_path_result
resolve(const char *p, size_t len, char *out, size_t total, size_t *outlen)
{
    size_t end = len, skip = 0, measured = 0, pos = total;
    bool last = true;

    for (;;) {
        struct seg_info si;
        size_t start = end;
        bool keep = false, trailing = false;

        while (p[start - 1] != '/')
            start--;
        seg_classify(p, start, end, &si);
        switch (si.kind) {
        case SEG_DOTDOT:
            skip++;
            trailing = last;
            break;
        case SEG_DOT:
        case SEG_EMPTY:
            trailing = last;
            break;
        case SEG_NAME:
            if (skip > 0)
                skip--;
            else
                keep = true;
            break;
        }
        if (keep && si.residual_dot)
            return OSH_PATH_TRAVERSAL;
        if (keep) {
            measured += 1 + si.enclen;
            if (out != NULL) {
                pos -= si.enclen;
                (void)seg_emit(p, start, end, out, pos);
                out[--pos] = '/';
            }
        } else if (trailing) {
            measured += 1;
            if (out != NULL)
                out[--pos] = '/';
        }
        if (start == 1)
            break;
        end = start - 1;
        last = false;
    }
    if (skip > 0)
        return OSH_PATH_TRAVERSAL;
    *outlen = measured;
    return OSH_PATH_OK;
}
