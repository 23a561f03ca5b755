/*
 * http_head.h - HTTP/1.x request and response heads, parsed in place.
 *
 * The parser never copies: every field is a (pointer, length) slice into
 * the caller's buffer, valid while that buffer is.  It is strict where a
 * proxy must be (CRLF line endings, no obs-fold, no NUL or control bytes in
 * the request line, Content-Length/Transfer-Encoding conflicts rejected:
 * the request-smuggling cases) and bounded (OSH_HTTP_MAX_HEADERS).
 * Pure functions, any thread.
 */
#ifndef OSH_HTTP_HEAD_H
#define OSH_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OSH_HTTP_MAX_HEADERS 128

struct http_slice {
    const char *p;
    size_t len;
};

struct http_header {
    struct http_slice name;
    struct http_slice value; /* OWS trimmed */
};

struct http_head {
    /* request: method, target; response: status code and reason */
    struct http_slice method;
    struct http_slice target;
    unsigned status;
    int version_minor; /* HTTP/1.<minor>: 0 or 1 */
    struct http_header headers[OSH_HTTP_MAX_HEADERS];
    size_t n_headers;
    size_t head_len; /* bytes up to and including the blank line */
};

enum http_body_kind {
    HTTP_BODY_NONE,
    HTTP_BODY_LENGTH,
    HTTP_BODY_CHUNKED,
    HTTP_BODY_UNTIL_CLOSE, /* responses only */
};

/* Offset just past "\r\n\r\n" in buf[0..len), or 0 when not complete yet.
 * `from` lets a caller resume the search after new bytes arrived. */
size_t http_head_end(const char *buf, size_t len, size_t from);

/* Parse a complete head (buf[0..head_len)).  0 or -EBADMSG. */
int http_parse_request(const char *buf, size_t head_len, struct http_head *out);
int http_parse_response(const char *buf, size_t head_len, struct http_head *out);

/* First header named `name` (case-insensitive), or NULL. */
const struct http_header *http_find_header(const struct http_head *h, const char *name);

/* Whether a comma-separated header value lists `token` (case-insensitive). */
bool http_value_has_token(struct http_slice value, const char *token);

/*
 * Body framing of a request (RFC 9112 §6): Transfer-Encoding chunked,
 * else Content-Length, else none.  -EBADMSG for CL together with TE, a TE
 * that does not end in chunked, differing duplicate CLs or a non-numeric CL
 * (the smuggling cases).
 */
int http_request_body(const struct http_head *h, enum http_body_kind *kind, uint64_t *length);

/* Body framing of a response to a request with `method`. */
int http_response_body(const struct http_head *h, struct http_slice method,
                       enum http_body_kind *kind, uint64_t *length);

/* Tracks chunked framing as bytes stream by, without changing them. */
struct http_chunked {
    int state;
    uint64_t remaining;
    unsigned digits;
    bool done;
};

/*
 * Consumes up to `len` bytes of chunked body; returns how many belong to
 * the message (fewer than `len` only when the message ended: c->done), or
 * -EBADMSG on malformed framing.  Trailers are passed through.
 */
long http_chunked_advance(struct http_chunked *c, const char *data, size_t len);

#endif /* OSH_HTTP_HEAD_H */
