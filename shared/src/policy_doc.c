/*
 * policy_doc.c - YAML (libyaml event parser) and JSON (jansson) into the
 * positioned document tree of policy_doc.h.
 *
 * DESIGN: the YAML side is an event loop with an explicit stack, so a hostile
 * file cannot recurse us to death; depth and node count are capped.  Aliases
 * are refused rather than expanded: expanding them is how "billion laughs"
 * documents blow up, and OpenShell's policies have no use for them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "policy_doc.h"

struct yaml_builder {
    const char *name;
    struct osh_diags *d;
    struct doc_node *stack[DOC_MAX_DEPTH + 1];
    size_t depth;
    size_t nodes;
    struct doc_node *root;
    bool failed;
};

static struct doc_node *
node_new(enum doc_kind kind, unsigned line, unsigned col)
{
    struct doc_node *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

void
doc_free(struct doc_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->len; i++) {
        if (n->kind == DOC_MAP) {
            free(n->pairs[i].key);
            doc_free(n->pairs[i].value);
        } else if (n->kind == DOC_SEQ) {
            doc_free(n->items[i]);
        }
    }
    free(n->pairs);
    free(n->items);
    free(n->text);
    free(n);
}

/* Appends `child` to the container on top of the stack.  A map alternates
 * key scalars (stored in a pending pair with value NULL) and values. */
static int
attach(struct yaml_builder *b, struct doc_node *child)
{
    struct doc_node *top;

    if (b->depth == 0) {
        if (b->root != NULL) {
            doc_free(child);
            return -EINVAL;
        }
        b->root = child;
        return 0;
    }
    top = b->stack[b->depth - 1];
    if (top->kind == DOC_SEQ) {
        struct doc_node **n = realloc(top->items, (top->len + 1) * sizeof(*n));
        if (n == NULL)
            goto oom;
        top->items = n;
        top->items[top->len++] = child;
        return 0;
    }
    /* DOC_MAP: a key when the last pair is complete. */
    if (top->len == 0 || top->pairs[top->len - 1].value != NULL) {
        struct doc_pair *np;
        if (child->kind != DOC_SCALAR) {
            osh_diags_add(b->d, false, b->name, child->line, child->col, "(document)",
                          "mapping keys must be scalars");
            doc_free(child);
            return -EINVAL;
        }
        np = realloc(top->pairs, (top->len + 1) * sizeof(*np));
        if (np == NULL)
            goto oom;
        top->pairs = np;
        top->pairs[top->len].key = child->text;
        top->pairs[top->len].line = child->line;
        top->pairs[top->len].col = child->col;
        top->pairs[top->len].value = NULL;
        /* A duplicate is kept, flagged, so the loader can name its path. */
        top->pairs[top->len].dup = false;
        for (size_t i = 0; i < top->len; i++)
            if (strcmp(top->pairs[i].key, child->text) == 0)
                top->pairs[top->len].dup = true;
        top->len++;
        child->text = NULL;
        doc_free(child);
        return 0;
    }
    top->pairs[top->len - 1].value = child;
    return 0;
oom:
    doc_free(child);
    return -ENOMEM;
}

static bool
yaml_plain_is_null(const char *s)
{
    return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int
on_event(struct yaml_builder *b, const yaml_event_t *ev)
{
    unsigned line = (unsigned)ev->start_mark.line + 1;
    unsigned col = (unsigned)ev->start_mark.column + 1;
    struct doc_node *n = NULL;

    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        osh_diags_add(b->d, false, b->name, line, col, "(document)",
                      "YAML aliases are not supported in policy files");
        return -EINVAL;
    case YAML_SCALAR_EVENT: {
        const char *v = (const char *)ev->data.scalar.value;
        size_t vlen = ev->data.scalar.length;
        bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (memchr(v, '\0', vlen) != NULL) {
            osh_diags_add(b->d, false, b->name, line, col, "(document)",
                          "string contains a NUL byte");
            return -EINVAL;
        }
        if (plain && ev->data.scalar.tag == NULL && yaml_plain_is_null(v)) {
            n = node_new(DOC_NULL, line, col);
            /* A null can still be a map key ("null: x"): keep its text. */
            if (n != NULL && (n->text = strdup(v)) == NULL) {
                doc_free(n);
                n = NULL;
            }
        } else {
            n = node_new(DOC_SCALAR, line, col);
            if (n != NULL) {
                n->style = plain ? DOC_YAML_PLAIN : DOC_YAML_QUOTED;
                n->text = strndup(v, vlen);
                n->text_len = vlen;
                if (n->text == NULL) {
                    doc_free(n);
                    n = NULL;
                }
            }
        }
        if (n == NULL)
            return -ENOMEM;
        if (++b->nodes > DOC_MAX_NODES)
            goto too_big;
        /* A null used as a key becomes a scalar key. */
        if (n->kind == DOC_NULL && b->depth > 0 && b->stack[b->depth - 1]->kind == DOC_MAP) {
            struct doc_node *top = b->stack[b->depth - 1];
            if (top->len == 0 || top->pairs[top->len - 1].value != NULL)
                n->kind = DOC_SCALAR;
        }
        return attach(b, n);
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int rc;
        if (b->depth >= DOC_MAX_DEPTH) {
            osh_diags_add(b->d, false, b->name, line, col, "(document)",
                          "nesting deeper than %d levels", DOC_MAX_DEPTH);
            return -EINVAL;
        }
        n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? DOC_SEQ : DOC_MAP, line, col);
        if (n == NULL)
            return -ENOMEM;
        if (++b->nodes > DOC_MAX_NODES)
            goto too_big;
        rc = attach(b, n);
        if (rc < 0)
            return rc;
        b->stack[b->depth++] = n;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (b->root != NULL) {
            osh_diags_add(b->d, false, b->name, line, col, "(document)",
                          "a policy file holds exactly one YAML document");
            return -EINVAL;
        }
        return 0;
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return 0;
    }
    return 0;
too_big:
    doc_free(n);
    osh_diags_add(b->d, false, b->name, line, col, "(document)",
                  "document has more than %d nodes", DOC_MAX_NODES);
    return -EINVAL;
}

struct doc_node *
doc_parse_yaml(const char *name, const char *buf, size_t len, struct osh_diags *d)
{
    struct yaml_builder b = {.name = name, .d = d};
    yaml_parser_t parser;
    yaml_event_t ev;
    bool done = false;
    int rc = 0;

    if (!yaml_parser_initialize(&parser)) {
        errno = ENOMEM;
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            osh_diags_add(d, false, name, (unsigned)parser.problem_mark.line + 1,
                          (unsigned)parser.problem_mark.column + 1, "(document)",
                          "YAML syntax error: %s%s%s",
                          parser.problem ? parser.problem : "unknown error",
                          parser.context ? " " : "", parser.context ? parser.context : "");
            rc = -EINVAL;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }
    yaml_parser_delete(&parser);
    if (rc < 0)
        goto fail;
    if (b.root == NULL) {
        osh_diags_add(d, false, name, 1, 1, "(document)", "empty policy document");
        rc = -EINVAL;
        goto fail;
    }
    return b.root;
fail:
    doc_free(b.root);
    errno = rc == -ENOMEM ? ENOMEM : EINVAL;
    return NULL;
}

/* ---- JSON ---------------------------------------------------------------- */

static struct doc_node *
from_json(const json_t *j, size_t depth, size_t *nodes)
{
    struct doc_node *n = NULL;
    char numbuf[64];

    if (depth > DOC_MAX_DEPTH || ++*nodes > DOC_MAX_NODES)
        return NULL;
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *v;
        size_t i = 0;
        n = node_new(DOC_MAP, 0, 0);
        if (n == NULL)
            return NULL;
        n->pairs = calloc(json_object_size(j) + 1, sizeof(*n->pairs));
        if (n->pairs == NULL)
            goto fail;
        json_object_foreach((json_t *)(uintptr_t)j, key, v) {
            n->pairs[i].key = strdup(key);
            if (n->pairs[i].key == NULL)
                goto fail;
            n->len = i + 1;
            n->pairs[i].value = from_json(v, depth + 1, nodes);
            if (n->pairs[i].value == NULL)
                goto fail;
            i++;
        }
        return n;
    }
    case JSON_ARRAY:
        n = node_new(DOC_SEQ, 0, 0);
        if (n == NULL)
            return NULL;
        n->items = calloc(json_array_size(j) + 1, sizeof(*n->items));
        if (n->items == NULL)
            goto fail;
        for (size_t i = 0; i < json_array_size(j); i++) {
            n->items[i] = from_json(json_array_get(j, i), depth + 1, nodes);
            if (n->items[i] == NULL)
                goto fail;
            n->len = i + 1;
        }
        return n;
    case JSON_STRING:
        n = node_new(DOC_SCALAR, 0, 0);
        if (n == NULL)
            return NULL;
        n->style = DOC_JSON_STRING;
        n->text_len = json_string_length(j);
        if (memchr(json_string_value(j), '\0', n->text_len) != NULL)
            goto fail;
        n->text = strndup(json_string_value(j), n->text_len);
        break;
    case JSON_INTEGER:
        n = node_new(DOC_SCALAR, 0, 0);
        if (n == NULL)
            return NULL;
        n->style = DOC_JSON_INT;
        snprintf(numbuf, sizeof(numbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        n->text = strdup(numbuf);
        break;
    case JSON_REAL:
        n = node_new(DOC_SCALAR, 0, 0);
        if (n == NULL)
            return NULL;
        n->style = DOC_JSON_REAL;
        snprintf(numbuf, sizeof(numbuf), "%.17g", json_real_value(j));
        n->text = strdup(numbuf);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        n = node_new(DOC_SCALAR, 0, 0);
        if (n == NULL)
            return NULL;
        n->style = DOC_JSON_BOOL;
        n->text = strdup(json_is_true(j) ? "true" : "false");
        break;
    case JSON_NULL:
        return node_new(DOC_NULL, 0, 0);
    }
    if (n == NULL || n->text == NULL)
        goto fail;
    n->text_len = strlen(n->text);
    return n;
fail:
    doc_free(n);
    return NULL;
}

struct doc_node *
doc_parse_json(const char *name, const char *buf, size_t len, struct osh_diags *d)
{
    json_error_t err;
    json_t *j = NULL;
    struct doc_node *root = NULL;
    size_t nodes = 0;

    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        osh_diags_add(d, false, name, err.line > 0 ? (unsigned)err.line : 1,
                      err.column > 0 ? (unsigned)err.column : 1, "(document)",
                      "JSON syntax error: %s", err.text);
        errno = EINVAL;
        return NULL;
    }
    root = from_json(j, 0, &nodes);
    if (root == NULL) {
        osh_diags_add(d, false, name, 1, 1, "(document)",
                      nodes > DOC_MAX_NODES ? "document is too large or too deeply nested"
                                            : "string contains a NUL byte, or out of memory");
        errno = EINVAL;
    }
    json_decref(j);
    return root;
}
