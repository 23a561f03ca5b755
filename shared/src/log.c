/*
 * log.c - timestamped stderr lines, one write(2) each.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "osh/log.h"

#define LOG_LINE_MAX 4096

static size_t
timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000);
    return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

/* Newlines would forge extra log lines: fold them, and end with one. */
static void
emit(char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, line, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        line += w;
        len -= (size_t)w;
    }
}

/* Appends to line[0..cap) at *n; a cut message is still a line. */
static void __attribute__((format(printf, 4, 0)))
append(char *line, size_t cap, size_t *n, const char *fmt, va_list ap)
{
    int w;

    if (*n >= cap - 1)
        return;
    w = vsnprintf(line + *n, cap - *n, fmt, ap);
    if (w > 0)
        *n += (size_t)w < cap - *n ? (size_t)w : cap - *n - 1;
}

static void __attribute__((format(printf, 4, 5)))
appendf(char *line, size_t cap, size_t *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    append(line, cap, n, fmt, ap);
    va_end(ap);
}

void
osh_logf(enum osh_log_level level, const char *target, const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char line[LOG_LINE_MAX + 1];
    size_t n = timestamp(line, LOG_LINE_MAX);
    va_list ap;

    appendf(line, LOG_LINE_MAX, &n, "%s %s: ", names[level], target);
    va_start(ap, fmt);
    append(line, LOG_LINE_MAX, &n, fmt, ap);
    va_end(ap);
    emit(line, n);
}

void
osh_log_line(const char *tag, const char *msg)
{
    char line[LOG_LINE_MAX + 1];
    size_t n = timestamp(line, LOG_LINE_MAX);

    appendf(line, LOG_LINE_MAX, &n, "%s %s", tag, msg);
    emit(line, n);
}

int
osh_log_level_parse(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, names[i]) == 0)
            return i;
    return -1;
}
