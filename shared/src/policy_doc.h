/*
 * policy_doc.h - a small positioned document tree, the common shape of a
 * policy read from YAML (libyaml) or JSON (jansson).  The schema loader
 * (policy_load.c) walks it once and then frees it.
 *
 * Scalars keep their YAML style so that typing follows serde_yaml: a plain
 * `443` is an integer, a quoted "443" is only a string.
 */
#ifndef OSH_POLICY_DOC_H
#define OSH_POLICY_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "osh/diag.h"

enum doc_kind {
    DOC_NULL,
    DOC_SCALAR,
    DOC_MAP,
    DOC_SEQ,
};

enum doc_scalar_style {
    DOC_YAML_PLAIN,  /* may be an int or a bool */
    DOC_YAML_QUOTED, /* string only */
    DOC_JSON_STRING,
    DOC_JSON_INT,
    DOC_JSON_REAL,
    DOC_JSON_BOOL,
};

struct doc_node;

struct doc_pair {
    char *key;
    unsigned line, col; /* of the key */
    bool dup;           /* a repeated key: reported by the loader, never read */
    struct doc_node *value;
};

struct doc_node {
    enum doc_kind kind;
    unsigned line, col; /* 1-based; 0 when unknown (JSON) */
    enum doc_scalar_style style;
    char *text; /* scalar text, NUL terminated */
    size_t text_len;
    struct doc_pair *pairs; /* DOC_MAP, in document order */
    struct doc_node **items; /* DOC_SEQ */
    size_t len;
};

/* Caps against hostile documents: nesting depth and total node count. */
#define DOC_MAX_DEPTH 64
#define DOC_MAX_NODES 1000000

/* Parse `buf` into a tree.  NULL on error, with the error in `d` (file
 * `name`).  Duplicate keys, aliases and multi-document streams are errors. */
struct doc_node *doc_parse_yaml(const char *name, const char *buf, size_t len,
                                struct osh_diags *d);
struct doc_node *doc_parse_json(const char *name, const char *buf, size_t len,
                                struct osh_diags *d);
void doc_free(struct doc_node *n);

#endif /* OSH_POLICY_DOC_H */
