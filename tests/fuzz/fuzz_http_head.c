/*
 * fuzz_http_head.c - libFuzzer harness for the proxy's HTTP/1.x head parser
 * and body framing (workers/network/src/http_head.c): every byte a client or
 * an upstream sends goes through it first.  Checks, beyond the sanitizers:
 * a parsed head never points outside the input, and the chunked tracker
 * never consumes more than it was given, however the input is split.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_slices(const struct http_head *h, const char *buf, size_t len)
{
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct http_header *hd = &h->headers[i];
        if (hd->name.p < buf || hd->name.p + hd->name.len > buf + len ||
            hd->value.p < buf || hd->value.p + hd->value.len > buf + len)
            abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct http_head *h = malloc(sizeof(*h));
    size_t end;

    if (h == NULL)
        return 0;
    end = http_head_end(buf, size, 0);
    if (end > 0) {
        struct http_slice method = {"GET", 3};
        enum http_body_kind kind;
        uint64_t len;
        if (http_parse_request(buf, end, h) == 0) {
            check_slices(h, buf, end);
            (void)http_request_body(h, &kind, &len);
            (void)http_find_header(h, "connection");
        }
        if (http_parse_response(buf, end, h) == 0) {
            check_slices(h, buf, end);
            (void)http_response_body(h, method, &kind, &len);
        }
    }
    /* The body as chunked framing, fed whole and in 7-byte pieces: both
     * must agree on where the message ends. */
    {
        struct http_chunked a = {0}, b = {0};
        long whole = http_chunked_advance(&a, buf, size), parts = 0;
        size_t off = 0;
        while (off < size && !b.done) {
            size_t n = size - off < 7 ? size - off : 7;
            long r = http_chunked_advance(&b, buf + off, n);
            if (r < 0) {
                parts = r;
                break;
            }
            if ((size_t)r > n)
                abort();
            off += (size_t)r;
            parts = (long)off;
            if ((size_t)r < n)
                break;
        }
        if (whole >= 0 && parts >= 0 && a.done != b.done)
            abort();
        if (whole >= 0 && parts >= 0 && a.done && whole != parts)
            abort();
    }
    free(h);
    return 0;
}
