/*
 * log.h - plain log lines on stderr: "<UTC ts>Z <LEVEL> <target>: <message>".
 *
 * Stateless: filtering by level is the caller's job (each component keeps
 * its own threshold in its context; STYLE.md §11).  One write(2) per line,
 * so lines from different threads never interleave.  Never pass secrets,
 * tokens or query strings: a log line is readable by every operator.
 */
#ifndef OSH_LOG_H
#define OSH_LOG_H

enum osh_log_level {
    OSH_LOG_ERROR = 0,
    OSH_LOG_WARN,
    OSH_LOG_INFO,
    OSH_LOG_DEBUG,
};

void osh_logf(enum osh_log_level level, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes an already formatted line (e.g. an OCSF shorthand), prefixed with
 * the timestamp and `tag` ("OCSF"). */
void osh_log_line(const char *tag, const char *line);

/* Parses "error|warn|info|debug"; -1 when unknown. */
int osh_log_level_parse(const char *s);

#endif /* OSH_LOG_H */
