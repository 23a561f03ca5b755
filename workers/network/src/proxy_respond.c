/*
 * proxy_respond.c - the proxy's own JSON answers (network.md §1.7):
 *   HTTP/1.1 <code> <reason>, Content-Type: application/json,
 *   Content-Length, Connection: close, then {"detail":..,"error":..} with
 * keys sorted and compact, as the reference's serde_json emits them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proxy_int.h"

static const char *
reason_phrase(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

int
respond_build(int status, const char *error, const char *detail, char **out, size_t *len)
{
    json_t *o = json_pack("{s:s,s:s}", "detail", detail, "error", error);
    char *body = NULL;
    int n;

    if (o == NULL)
        return -ENOMEM;
    body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (body == NULL)
        return -ENOMEM;
    n = asprintf(out,
                 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Connection: close\r\n\r\n%s",
                 status, reason_phrase(status), strlen(body), body);
    free(body);
    if (n < 0) {
        *out = NULL;
        return -ENOMEM;
    }
    *len = (size_t)n;
    return 0;
}
