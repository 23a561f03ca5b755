/*
 * policy.c - the public entry points of the policy engine: read a file,
 * parse (YAML or JSON), load, validate, compile; reference counting; the
 * restrictive default; accessors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy_doc.h"
#include "policy_model.h"

/* Lexical normalization of openshell-core paths.rs (§1.2): repeated '/'
 * collapse, '.' components drop, a trailing '/' goes, '..' stays. */
char *
pol_normalize_path(const char *in)
{
    size_t n = strlen(in);
    char *out = malloc(n + 2);
    size_t o = 0;
    const char *p = in;

    if (out == NULL)
        return NULL;
    if (*p == '/')
        out[o++] = '/';
    while (*p) {
        const char *seg;
        size_t len;
        while (*p == '/')
            p++;
        seg = p;
        while (*p && *p != '/')
            p++;
        len = (size_t)(p - seg);
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (o > 0 && out[o - 1] != '/')
            out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o == 0 && n > 0 && in[0] != '/')
        out[o++] = '.';
    out[o] = '\0';
    return out;
}

static enum osh_policy_format
sniff(const char *name, const char *buf, size_t len)
{
    size_t nl = name ? strlen(name) : 0;

    if (nl >= 5 && strcmp(name + nl - 5, ".json") == 0)
        return OSH_POLICY_FORMAT_JSON;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')
            continue;
        return buf[i] == '{' ? OSH_POLICY_FORMAT_JSON : OSH_POLICY_FORMAT_YAML;
    }
    return OSH_POLICY_FORMAT_YAML;
}

struct osh_policy *
osh_policy_load_buffer(const char *name, const char *buf, size_t len, enum osh_policy_format fmt,
                       struct osh_diags *d)
{
    struct osh_diags local = {0};
    struct osh_diags *dd = d ? d : &local;
    struct osh_policy *p = NULL;
    struct doc_node *root = NULL;
    size_t errors_before = dd->n_errors;
    int err = EINVAL;

    if (name == NULL)
        name = "<policy>";
    if (len > OSH_POLICY_MAX_BYTES) {
        osh_diags_add(dd, false, name, 1, 1, "(document)",
                      "policy is %zu bytes; the limit is %u", len, OSH_POLICY_MAX_BYTES);
        goto fail;
    }
    if (fmt == OSH_POLICY_FORMAT_AUTO)
        fmt = sniff(name, buf, len);
    root = fmt == OSH_POLICY_FORMAT_JSON ? doc_parse_json(name, buf, len, dd)
                                         : doc_parse_yaml(name, buf, len, dd);
    if (root == NULL) {
        err = errno == ENOMEM ? ENOMEM : EINVAL;
        goto fail;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        err = ENOMEM;
        goto fail;
    }
    atomic_init(&p->refs, 1);
    /* Validate even after load errors, so that one run reports every
     * problem; the model is consistent (if partial) after a failed load. */
    pol_load_tree(p, root, name, fmt == OSH_POLICY_FORMAT_JSON, dd);
    if (!dd->oom)
        pol_validate(p, name, dd);
    if (dd->oom || dd->n_errors != errors_before)
        goto fail;
    if (pol_compile(p) < 0) {
        err = ENOMEM;
        goto fail;
    }
    doc_free(root);
    osh_diags_clear(&local);
    return p;
fail:
    doc_free(root);
    pol_free(p);
    osh_diags_clear(&local);
    errno = err;
    return NULL;
}

struct osh_policy *
osh_policy_load_file(const char *path, enum osh_policy_format fmt, struct osh_diags *d)
{
    struct osh_policy *p = NULL;
    struct stat st;
    char *buf = NULL;
    size_t off = 0;
    int fd = -1, err = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        err = errno;
        osh_diags_add(d, false, path, 0, 0, "(file)", "cannot open: %s", strerror(err));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        err = EINVAL;
        osh_diags_add(d, false, path, 0, 0, "(file)", "not a regular file");
        goto fail;
    }
    if (st.st_size > (off_t)OSH_POLICY_MAX_BYTES) {
        err = EINVAL;
        osh_diags_add(d, false, path, 1, 1, "(document)", "policy is %lld bytes; the limit is %u",
                      (long long)st.st_size, OSH_POLICY_MAX_BYTES);
        goto fail;
    }
    buf = malloc(OSH_POLICY_MAX_BYTES + 1);
    if (buf == NULL) {
        err = ENOMEM;
        goto fail;
    }
    /* Read up to the cap + 1 whatever fstat said: the file may grow. */
    for (;;) {
        ssize_t r = read(fd, buf + off, OSH_POLICY_MAX_BYTES + 1 - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = errno;
            osh_diags_add(d, false, path, 0, 0, "(file)", "read error: %s", strerror(err));
            goto fail;
        }
        if (r == 0 || off + (size_t)r > OSH_POLICY_MAX_BYTES) {
            off += (size_t)r;
            break;
        }
        off += (size_t)r;
    }
    p = osh_policy_load_buffer(path, buf, off, fmt, d);
    if (p == NULL)
        err = errno;
fail:
    free(buf);
    if (fd >= 0)
        close(fd);
    if (p == NULL)
        errno = err ? err : EINVAL;
    return p;
}

struct osh_policy *
osh_policy_restrictive_default(void)
{
    /* policy.md §1.9. */
    static const char text[] = "version: 1\n"
                               "filesystem_policy:\n"
                               "  include_workdir: true\n"
                               "  read_only: [/usr, /lib, /proc, /dev/urandom, /app, /etc, /var/log]\n"
                               "  read_write: [/sandbox, /tmp, /dev/null]\n"
                               "landlock:\n"
                               "  compatibility: best_effort\n"
                               "process:\n"
                               "  run_as_user: sandbox\n"
                               "  run_as_group: sandbox\n"
                               "network_policies: {}\n";
    return osh_policy_load_buffer("<restrictive-default>", text, sizeof(text) - 1,
                                  OSH_POLICY_FORMAT_YAML, NULL);
}

struct osh_policy *
osh_policy_ref(struct osh_policy *p)
{
    /* Relaxed: taking a reference needs no ordering, the caller already
     * holds one (the generation cannot be freed under it). */
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void
osh_policy_unref(struct osh_policy *p)
{
    if (p == NULL)
        return;
    /* acq_rel: the last owner must see every other owner's reads finished
     * before it frees (the classic refcount release/acquire pair). */
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        pol_free(p);
}

const char *
osh_policy_hash(const struct osh_policy *p)
{
    return p->hash;
}

size_t
osh_policy_network_count(const struct osh_policy *p)
{
    return p->n_nets;
}

void
osh_policy_get_static(const struct osh_policy *p, struct osh_policy_static *out)
{
    out->include_workdir = p->include_workdir;
    out->read_only = (const char *const *)p->read_only;
    out->n_read_only = p->n_read_only;
    out->read_write = (const char *const *)p->read_write;
    out->n_read_write = p->n_read_write;
    out->landlock_hard_requirement =
        p->landlock_compat != NULL && strcmp(p->landlock_compat, "hard_requirement") == 0;
    out->run_as_user = p->run_as_user;
    out->run_as_group = p->run_as_group;
}
