/*
 * glob.c - glob patterns with the semantics of regorus's glob.match on top of
 * globset 0.4.18 with literal_separator and backslash_escape (policy.md §3.4).
 *
 * DESIGN
 * regorus rewrites both pattern and input before globset sees them: unless
 * '/' is the delimiter, every '/' becomes NUL (an ordinary byte), and every
 * other delimiter d becomes "/d/", so that globset's separator '/' marks the
 * delimiter.  We rewrite the pattern literally at compile time and the input
 * on the fly while matching (no copy).  The rewritten pattern is parsed by a
 * port of globset's parser into a flat token list ('{' ',' '}' kept as
 * markers), then compiled to a Thompson NFA program equivalent to the regex
 * globset would build.  Matching is a Pike-style simulation over two bitsets
 * of program counters: O(len(input) * len(program)), no backtracking, no
 * recursion, no allocation, only a few KiB of stack, and no writes to the
 * compiled glob, so any number of threads may match against it at once.
 * Common shapes (a literal; a literal then '*'; a literal, '/' and "**";
 * "**" alone) skip the simulation.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osh/glob.h"

/*
 * Program cap: a literal PATH_MAX path still fits, and the matcher's state
 * (two bitsets and a closure stack) stays under 10 KiB of stack.
 */
#define GLOB_MAX_PROG 4096
#define GLOB_SET_WORDS (GLOB_MAX_PROG / 64)
/* Cap on the pattern; bounds memory and time at compile. */
#define GLOB_MAX_PATTERN 65536
/* "No instruction": pcs are below GLOB_MAX_PROG, so this never collides. */
#define GLOB_NIL UINT16_MAX
/* "No character" for the parser's prev/cur/peek, like Rust's None. */
#define GLOB_EOF (-1)

enum glob_op {
    OP_CHAR,        /* the byte `byte` */
    OP_ANY,         /* any byte: regex `.` with (?s) */
    OP_ANY_BUT_SEP, /* any byte but '/': regex `[^/]` */
    OP_CLASS,       /* a byte in class `x` */
    OP_SPLIT,       /* continue at both `x` and `y` */
    OP_JMP,         /* continue at `x` */
    OP_MATCH,       /* always the last instruction */
};

struct glob_inst {
    uint8_t op;
    uint8_t byte;
    uint16_t x;
    uint16_t y;
};

struct glob_class {
    uint64_t bits[4];
};

/* Fast paths; GLOB_PROGRAM runs the NFA. */
enum glob_kind {
    GLOB_PROGRAM,
    GLOB_LITERAL,     /* the input is exactly g_lit */
    GLOB_PREFIX_STAR, /* g_lit, then bytes other than '/' */
    GLOB_PREFIX_ANY,  /* g_lit, then anything */
};

struct osh_glob {
    char g_delim;
    enum glob_kind g_kind;
    size_t g_nprog;
    struct glob_inst *g_prog;
    struct glob_class *g_classes;
    size_t g_nlit;
    unsigned char *g_lit; /* rewritten form, as the input is compared */
};

/* globset's tokens, plus markers for alternation structure. */
enum tok_type {
    TOK_LIT,       /* one byte of a literal character */
    TOK_ANY,       /* ? */
    TOK_STAR,      /* *, and ** where it is not recursive */
    TOK_RPREFIX,   /* "**" + "/" at the start: (?:/?|.*[/]) */
    TOK_RSUFFIX,   /* "/" + "**" at the end: /.* */
    TOK_RZOM,      /* "/" + "**" + "/" anywhere: (?:/|/.*[/]) */
    TOK_CLASS,     /* [...], aux = class index */
    TOK_ALT_OPEN,  /* {, aux = number of non-empty branches */
    TOK_ALT_SEP,   /* , inside braces */
    TOK_ALT_CLOSE, /* } */
};

struct glob_tok {
    uint8_t type;
    uint8_t byte;
    bool nonempty; /* ALT_OPEN/ALT_SEP: the branch starting here emits code */
    uint32_t aux;
};

struct glob_parser {
    const unsigned char *p;
    size_t n;
    size_t i;
    int prev; /* character before cur, GLOB_EOF at the start */
    int cur;
    struct glob_tok *toks;
    size_t ntoks;
    size_t captoks;
    struct glob_class *classes;
    size_t nclasses;
    size_t capclasses;
    size_t depth; /* open '{' */
    size_t maxdepth;
    char *err;
    size_t errlen;
};

/* One open '{' during the emptiness pass and during code emission. */
struct alt_frame {
    size_t f_open_tok;   /* the ALT_OPEN token */
    size_t f_branch_tok; /* the ALT_OPEN/ALT_SEP opening the current branch */
    bool f_branch_ne;    /* the current branch has emitted (pass) something */
    uint32_t f_count;    /* pass: non-empty branches seen; emit: still to come */
    uint16_t f_split;    /* emit: SPLIT whose second arm goes to the next branch */
    uint16_t f_jmps;     /* emit: JMPs to the group's end, linked through x */
};

struct glob_emitter {
    struct glob_inst *prog;
    size_t n;
    bool overflow;
};

static int glob_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);
static bool utf8_valid(const unsigned char *p, size_t n);
static size_t expand_byte(char delim, unsigned char c, unsigned char out[3]);
static int rewrite_pattern(const unsigned char *pat, size_t len, char delim, unsigned char **out,
                           size_t *outlen, char *err, size_t errlen);
static int parser_bump(struct glob_parser *ps);
static int parser_peek(const struct glob_parser *ps);
static int parser_push(struct glob_parser *ps, enum tok_type type, uint8_t byte, uint32_t aux);
static bool parser_have_tokens(const struct glob_parser *ps);
static int parse_star(struct glob_parser *ps);
static void class_add_range(struct glob_class *c, unsigned lo, unsigned hi);
static void class_add_item(struct glob_class *c, uint32_t lo, uint32_t hi);
static int parse_class(struct glob_parser *ps);
static int parse(struct glob_parser *ps);
static void mark_empty_branches(struct glob_tok *toks, size_t ntoks, struct alt_frame *frames);
static uint16_t emit(struct glob_emitter *e, enum glob_op op, uint8_t byte, uint16_t x, uint16_t y);
static void emit_star(struct glob_emitter *e, enum glob_op op);
static void emit_opt_any_sep(struct glob_emitter *e);
static void emit_begin_branch(struct glob_emitter *e, struct alt_frame *f, bool nonempty);
static void emit_end_branch(struct glob_emitter *e, struct alt_frame *f);
static void emit_program(struct glob_emitter *e, const struct glob_tok *toks, size_t ntoks,
                         struct alt_frame *frames);
static int classify(struct osh_glob *g, const struct glob_tok *toks, size_t ntoks);
static void sim_add(const struct osh_glob *g, uint64_t *set, uint16_t *stack, uint16_t pc);
static bool sim_step(const struct osh_glob *g, const uint64_t *cur, uint64_t *next, uint16_t *stack,
                     size_t nwords, unsigned char b);
static int match_program(const struct osh_glob *g, const unsigned char *s, size_t len);
static int match_fast(const struct osh_glob *g, const unsigned char *s, size_t len);

static int
glob_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/*
 * Decodes one UTF-8 character as Rust's str would accept it (no overlongs,
 * surrogates or values above U+10FFFF).  Returns its length, 0 if invalid.
 */
static size_t
utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    uint32_t c = p[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, c &= 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, c &= 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

static bool
utf8_valid(const unsigned char *p, size_t n)
{
    uint32_t cp;

    for (size_t i = 0; i < n;) {
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

/* regorus's rewrite of one byte of pattern or input; returns the length. */
static size_t
expand_byte(char delim, unsigned char c, unsigned char out[3])
{
    if (delim == '.') {
        if (c == '/') {
            out[0] = '\0';
            return 1;
        }
        if (c == '.') {
            out[0] = '/';
            out[1] = '.';
            out[2] = '/';
            return 3;
        }
    }
    out[0] = c;
    return 1;
}

static int
rewrite_pattern(const unsigned char *pat, size_t len, char delim, unsigned char **out,
                size_t *outlen, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t n = 0;

    /* Three bytes per pattern byte at most; +1 so malloc(0) never occurs. */
    if (len > GLOB_MAX_PATTERN)
        return glob_error(err, errlen, "pattern too long (more than %d bytes)", GLOB_MAX_PATTERN);
    buf = malloc(3 * len + 1);
    if (buf == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        n += expand_byte(delim, pat[i], buf + n);
    *out = buf;
    *outlen = n;
    return 0;
}

/* Rust's Parser::bump over bytes: the delimiters and metacharacters are all
 * ASCII and never a byte of a multi-byte character, so bytes suffice outside
 * classes. */
static int
parser_bump(struct glob_parser *ps)
{
    ps->prev = ps->cur;
    ps->cur = ps->i < ps->n ? ps->p[ps->i++] : GLOB_EOF;
    return ps->cur;
}

static int
parser_peek(const struct glob_parser *ps)
{
    return ps->i < ps->n ? ps->p[ps->i] : GLOB_EOF;
}

static int
parser_push(struct glob_parser *ps, enum tok_type type, uint8_t byte, uint32_t aux)
{
    /* Every token consumes at least one byte, so this is an invariant. */
    if (ps->ntoks >= ps->captoks)
        return glob_error(ps->err, ps->errlen, "internal error: token overflow");
    ps->toks[ps->ntoks++] = (struct glob_tok){.type = type, .byte = byte, .aux = aux};
    return 0;
}

/* Whether the current branch (root, or the innermost alternative) is empty. */
static bool
parser_have_tokens(const struct glob_parser *ps)
{
    if (ps->ntoks == 0)
        return false;
    return ps->toks[ps->ntoks - 1].type != TOK_ALT_OPEN &&
           ps->toks[ps->ntoks - 1].type != TOK_ALT_SEP;
}

/*
 * Port of globset's Parser::parse_star, called with cur == '*'.  The order of
 * the tests matters: for example "{**,x}" starts an alternative but is not
 * followed by '/' or the end, so it is two ZeroOrMore, while "a/{x,**}"'s
 * '**' is never recursive because its branch is empty and ',' follows.
 */
static int
parse_star(struct glob_parser *ps)
{
    int prev = ps->prev, next, rc;
    bool is_suffix;
    enum tok_type last;

    if (parser_peek(ps) != '*')
        return parser_push(ps, TOK_STAR, 0, 0);
    parser_bump(ps);
    if (!parser_have_tokens(ps)) {
        next = parser_peek(ps);
        if (next != GLOB_EOF && next != '/') {
            if ((rc = parser_push(ps, TOK_STAR, 0, 0)) < 0)
                return rc;
            return parser_push(ps, TOK_STAR, 0, 0);
        }
        parser_bump(ps); /* the '/', or nothing at the end */
        return parser_push(ps, TOK_RPREFIX, 0, 0);
    }
    /* prev ',' or '{' with tokens in the branch means an escaped \, or \{. */
    if (prev != '/' && (ps->depth == 0 || (prev != ',' && prev != '{'))) {
        if ((rc = parser_push(ps, TOK_STAR, 0, 0)) < 0)
            return rc;
        return parser_push(ps, TOK_STAR, 0, 0);
    }
    next = parser_peek(ps);
    if (next == GLOB_EOF) {
        parser_bump(ps);
        is_suffix = true;
    } else if ((next == ',' || next == '}') && ps->depth > 0) {
        is_suffix = true;
    } else if (next == '/') {
        parser_bump(ps);
        is_suffix = false;
    } else {
        if ((rc = parser_push(ps, TOK_STAR, 0, 0)) < 0)
            return rc;
        return parser_push(ps, TOK_STAR, 0, 0);
    }
    /* Replace the token of prev (the '/' literal, usually). */
    last = ps->toks[ps->ntoks - 1].type;
    if (last == TOK_ALT_OPEN || last == TOK_ALT_SEP || last == TOK_ALT_CLOSE)
        return glob_error(ps->err, ps->errlen, "internal error: '**' after a group");
    ps->ntoks--;
    if (last == TOK_RPREFIX || last == TOK_RSUFFIX)
        return parser_push(ps, last, 0, 0);
    return parser_push(ps, is_suffix ? TOK_RSUFFIX : TOK_RZOM, 0, 0);
}

static void
class_add_range(struct glob_class *c, unsigned lo, unsigned hi)
{
    for (unsigned b = lo; b <= hi; b++)
        c->bits[b >> 6] |= UINT64_C(1) << (b & 63);
}

/*
 * Adds the range lo-hi (code points) the way globset's regex does.  globset
 * writes each character as its escaped UTF-8 bytes into a (?-u) byte class,
 * so a non-ASCII member is the set of its bytes, and a range "é-ü" reads as
 * \xc3, \xa9-\xc3, \xbc.  That byte range never inverts once lo <= hi holds.
 */
static void
class_add_item(struct glob_class *c, uint32_t lo, uint32_t hi)
{
    unsigned char lb[4], hb[4];
    size_t ln = 0, hn = 0;
    uint32_t cps[2] = {lo, hi};

    for (int k = 0; k < 2; k++) {
        unsigned char *b = k == 0 ? lb : hb;
        size_t *n = k == 0 ? &ln : &hn;
        uint32_t cp = cps[k];
        if (cp < 0x80) {
            b[(*n)++] = (unsigned char)cp;
        } else if (cp < 0x800) {
            b[(*n)++] = (unsigned char)(0xc0 | (cp >> 6));
            b[(*n)++] = (unsigned char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            b[(*n)++] = (unsigned char)(0xe0 | (cp >> 12));
            b[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            b[(*n)++] = (unsigned char)(0x80 | (cp & 0x3f));
        } else {
            b[(*n)++] = (unsigned char)(0xf0 | (cp >> 18));
            b[(*n)++] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
            b[(*n)++] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
            b[(*n)++] = (unsigned char)(0x80 | (cp & 0x3f));
        }
    }
    if (lo == hi) {
        for (size_t k = 0; k < ln; k++)
            class_add_range(c, lb[k], lb[k]);
        return;
    }
    for (size_t k = 0; k + 1 < ln; k++)
        class_add_range(c, lb[k], lb[k]);
    class_add_range(c, lb[ln - 1], hb[0]);
    for (size_t k = 1; k < hn; k++)
        class_add_range(c, hb[k], hb[k]);
}

/* Port of globset's Parser::parse_class, called with cur == '['. */
static int
parse_class(struct glob_parser *ps)
{
    struct glob_class cls = {{0}};
    uint32_t c, lo = 0, hi = 0;
    bool negated = false, first = true, in_range = false, have = false;
    size_t k;

    if (parser_peek(ps) == '!' || parser_peek(ps) == '^') {
        parser_bump(ps);
        negated = true;
    }
    for (;;) {
        if (ps->i >= ps->n)
            return glob_error(ps->err, ps->errlen, "unclosed character class '['");
        /* The pattern was validated as UTF-8, so this cannot fail. */
        k = utf8_decode(ps->p + ps->i, ps->n - ps->i, &c);
        if (k == 0)
            return glob_error(ps->err, ps->errlen, "internal error: bad UTF-8 in class");
        ps->i += k;
        ps->prev = ps->cur;
        ps->cur = ps->p[ps->i - 1];
        if (c == ']' && !first)
            break;
        if (c == '-' && !first && !in_range) {
            in_range = true; /* a following member closes the range */
        } else if (in_range) {
            hi = c;
            if (hi < lo)
                return glob_error(ps->err, ps->errlen,
                                  "invalid range in character class (U+%04X > U+%04X)",
                                  (unsigned)lo, (unsigned)hi);
            in_range = false;
        } else {
            if (have)
                class_add_item(&cls, lo, hi);
            lo = hi = c;
            have = true;
        }
        first = false;
    }
    if (have)
        class_add_item(&cls, lo, hi);
    if (in_range)
        class_add_item(&cls, '-', '-');
    if (negated) {
        for (k = 0; k < 4; k++)
            cls.bits[k] = ~cls.bits[k];
    }
    if (ps->nclasses >= ps->capclasses)
        return glob_error(ps->err, ps->errlen, "internal error: class overflow");
    ps->classes[ps->nclasses] = cls;
    return parser_push(ps, TOK_CLASS, 0, (uint32_t)ps->nclasses++);
}

/* Port of globset's Parser::parse over the rewritten pattern. */
static int
parse(struct glob_parser *ps)
{
    int c, rc = 0;

    while (rc == 0 && (c = parser_bump(ps)) != GLOB_EOF) {
        switch (c) {
        case '?':
            rc = parser_push(ps, TOK_ANY, 0, 0);
            break;
        case '*':
            rc = parse_star(ps);
            break;
        case '[':
            rc = parse_class(ps);
            break;
        case '{':
            rc = parser_push(ps, TOK_ALT_OPEN, 0, 0);
            if (++ps->depth > ps->maxdepth)
                ps->maxdepth = ps->depth;
            break;
        case '}':
            if (ps->depth == 0)
                return glob_error(ps->err, ps->errlen, "unopened alternation '}'");
            rc = parser_push(ps, TOK_ALT_CLOSE, 0, 0);
            ps->depth--;
            break;
        case ',':
            rc = parser_push(ps, ps->depth > 0 ? TOK_ALT_SEP : TOK_LIT, ',', 0);
            break;
        case '\\':
            c = parser_bump(ps);
            if (c == GLOB_EOF)
                return glob_error(ps->err, ps->errlen, "dangling escape '\\' at the end");
            rc = parser_push(ps, TOK_LIT, (uint8_t)c, 0);
            break;
        default:
            rc = parser_push(ps, TOK_LIT, (uint8_t)c, 0);
            break;
        }
    }
    if (rc == 0 && ps->depth > 0)
        return glob_error(ps->err, ps->errlen, "unclosed alternation '{'");
    return rc;
}

/*
 * globset drops alternatives whose regex is empty ("{,a}" is "(?:a)", "{}"
 * is nothing at all).  An alternative is empty when it holds only groups
 * that are themselves empty.  Marks each branch and counts the non-empty
 * branches of each group, with an explicit stack.
 */
static void
mark_empty_branches(struct glob_tok *toks, size_t ntoks, struct alt_frame *frames)
{
    size_t depth = 0;
    struct alt_frame *f;

    for (size_t i = 0; i < ntoks; i++) {
        switch ((enum tok_type)toks[i].type) {
        case TOK_ALT_OPEN:
            frames[depth++] = (struct alt_frame){.f_open_tok = i, .f_branch_tok = i};
            break;
        case TOK_ALT_SEP:
        case TOK_ALT_CLOSE:
            f = &frames[depth - 1];
            toks[f->f_branch_tok].nonempty = f->f_branch_ne;
            f->f_count += f->f_branch_ne;
            f->f_branch_tok = i;
            f->f_branch_ne = false;
            if (toks[i].type == TOK_ALT_SEP)
                break;
            toks[f->f_open_tok].aux = f->f_count;
            depth--;
            if (depth > 0 && f->f_count > 0)
                frames[depth - 1].f_branch_ne = true;
            break;
        case TOK_LIT:
        case TOK_ANY:
        case TOK_STAR:
        case TOK_RPREFIX:
        case TOK_RSUFFIX:
        case TOK_RZOM:
        case TOK_CLASS:
            if (depth > 0)
                frames[depth - 1].f_branch_ne = true;
            break;
        }
    }
}

/* Appends one instruction; past the cap, records the overflow and drops it. */
static uint16_t
emit(struct glob_emitter *e, enum glob_op op, uint8_t byte, uint16_t x, uint16_t y)
{
    if (e->n >= GLOB_MAX_PROG) {
        e->overflow = true;
        return GLOB_NIL;
    }
    e->prog[e->n] = (struct glob_inst){.op = (uint8_t)op, .byte = byte, .x = x, .y = y};
    return (uint16_t)e->n++;
}

/* op* : L: SPLIT L+1, L+3; op; JMP L */
static void
emit_star(struct glob_emitter *e, enum glob_op op)
{
    uint16_t l = (uint16_t)e->n;

    emit(e, OP_SPLIT, 0, (uint16_t)(l + 1), (uint16_t)(l + 3));
    emit(e, op, 0, 0, 0);
    emit(e, OP_JMP, 0, l, 0);
}

/* (?:.*[/])? : L: SPLIT L+1, L+5; .* (L+1..L+3); CHAR '/' (L+4) */
static void
emit_opt_any_sep(struct glob_emitter *e)
{
    uint16_t l = (uint16_t)e->n;

    emit(e, OP_SPLIT, 0, (uint16_t)(l + 1), (uint16_t)(l + 5));
    emit_star(e, OP_ANY);
    emit(e, OP_CHAR, '/', 0, 0);
}

/* Every non-empty alternative but the last starts with a SPLIT whose second
 * arm is patched to the next non-empty one; empty ones emit nothing. */
static void
emit_begin_branch(struct glob_emitter *e, struct alt_frame *f, bool nonempty)
{
    f->f_split = GLOB_NIL;
    if (!nonempty)
        return;
    f->f_count--;
    if (f->f_count > 0)
        f->f_split = emit(e, OP_SPLIT, 0, (uint16_t)(e->n + 1), GLOB_NIL);
}

static void
emit_end_branch(struct glob_emitter *e, struct alt_frame *f)
{
    uint16_t j;

    if (f->f_split == GLOB_NIL)
        return; /* empty, or the last alternative: falls through to the end */
    j = emit(e, OP_JMP, 0, f->f_jmps, 0);
    if (j != GLOB_NIL)
        f->f_jmps = j;
    e->prog[f->f_split].y = (uint16_t)e->n;
}

/*
 * Thompson construction of globset's regex, token by token:
 *   ?            [^/]
 *   *            [^/]*
 *   RPREFIX      (?:/?|.*[/])  == optional .*[/]
 *   RSUFFIX      /.*
 *   RZOM         (?:/|/.*[/])  == / then optional .*[/]
 * Equivalent languages are enough since we only answer "does it match".
 */
static void
emit_program(struct glob_emitter *e, const struct glob_tok *toks, size_t ntoks,
             struct alt_frame *frames)
{
    size_t depth = 0;
    struct alt_frame *f;
    uint16_t j, next;

    /* globset's special case: a pattern that is only RPREFIX ("**", or "**"
     * then "/") is .* */
    if (ntoks == 1 && toks[0].type == TOK_RPREFIX) {
        emit_star(e, OP_ANY);
        emit(e, OP_MATCH, 0, 0, 0);
        return;
    }
    for (size_t i = 0; i < ntoks && !e->overflow; i++) {
        const struct glob_tok *t = &toks[i];
        switch ((enum tok_type)t->type) {
        case TOK_LIT:
            emit(e, OP_CHAR, t->byte, 0, 0);
            break;
        case TOK_ANY:
            emit(e, OP_ANY_BUT_SEP, 0, 0, 0);
            break;
        case TOK_STAR:
            emit_star(e, OP_ANY_BUT_SEP);
            break;
        case TOK_RSUFFIX:
            emit(e, OP_CHAR, '/', 0, 0);
            emit_star(e, OP_ANY);
            break;
        case TOK_RZOM:
            emit(e, OP_CHAR, '/', 0, 0);
            emit_opt_any_sep(e);
            break;
        case TOK_RPREFIX:
            emit_opt_any_sep(e);
            break;
        case TOK_CLASS:
            emit(e, OP_CLASS, 0, (uint16_t)t->aux, 0);
            break;
        case TOK_ALT_OPEN:
            f = &frames[depth++];
            *f = (struct alt_frame){.f_count = t->aux, .f_jmps = GLOB_NIL};
            emit_begin_branch(e, f, t->nonempty);
            break;
        case TOK_ALT_SEP:
            f = &frames[depth - 1];
            emit_end_branch(e, f);
            emit_begin_branch(e, f, t->nonempty);
            break;
        case TOK_ALT_CLOSE:
            f = &frames[--depth];
            emit_end_branch(e, f);
            for (j = f->f_jmps; j != GLOB_NIL && !e->overflow; j = next) {
                next = e->prog[j].x;
                e->prog[j].x = (uint16_t)e->n;
            }
            break;
        }
    }
    emit(e, OP_MATCH, 0, 0, 0);
}

/* Picks a fast path when the tokens are literals, optionally ending in '*'
 * or RSUFFIX, or are "**" alone; copies the literal part. */
static int
classify(struct osh_glob *g, const struct glob_tok *toks, size_t ntoks)
{
    size_t nlit = 0;
    enum glob_kind kind = GLOB_LITERAL;
    bool sep = false;

    while (nlit < ntoks && toks[nlit].type == TOK_LIT)
        nlit++;
    if (nlit + 1 == ntoks && toks[nlit].type == TOK_STAR) {
        kind = GLOB_PREFIX_STAR;
    } else if (nlit + 1 == ntoks && toks[nlit].type == TOK_RSUFFIX) {
        kind = GLOB_PREFIX_ANY;
        sep = true; /* RecursiveSuffix is "/.*" */
    } else if (ntoks == 1 && toks[0].type == TOK_RPREFIX) {
        kind = GLOB_PREFIX_ANY; /* "**" alone: an empty prefix, then anything */
    } else if (nlit != ntoks) {
        return 0;
    }
    g->g_lit = malloc(nlit + 1);
    if (g->g_lit == NULL)
        return -ENOMEM;
    for (size_t k = 0; k < nlit; k++)
        g->g_lit[k] = toks[k].byte;
    g->g_nlit = nlit;
    if (sep)
        g->g_lit[g->g_nlit++] = '/';
    g->g_kind = kind;
    return 0;
}

int
osh_glob_compile(const char *pattern, size_t len, char delim, struct osh_glob **out, char *err,
                 size_t errlen)
{
    struct osh_glob *g = NULL;
    unsigned char *rw = NULL;
    struct glob_tok *toks = NULL;
    struct alt_frame *frames = NULL;
    struct glob_inst *prog = NULL;
    struct glob_parser ps = {.prev = GLOB_EOF, .cur = GLOB_EOF, .err = err, .errlen = errlen};
    struct glob_emitter e = {0};
    size_t rwlen = 0, nbrackets = 0;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || (pattern == NULL && len > 0))
        return glob_error(err, errlen, "invalid argument");
    *out = NULL;
    if (delim != '.' && delim != '/')
        return glob_error(err, errlen, "unsupported delimiter '%c'", delim);
    /* regorus uses NUL to hide '/', so it rejects NUL in pattern and input. */
    if (len > 0 && memchr(pattern, '\0', len) != NULL)
        return glob_error(err, errlen, "pattern contains a NUL byte");
    /* regorus patterns are Rust strings; anything else cannot be matched the
     * same way, so refuse it instead of guessing. */
    if (!utf8_valid((const unsigned char *)pattern, len))
        return glob_error(err, errlen, "pattern is not valid UTF-8");

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    g->g_delim = delim;
    rc = rewrite_pattern((const unsigned char *)pattern, len, delim, &rw, &rwlen, err, errlen);
    if (rc < 0)
        goto fail;

    for (size_t k = 0; k < rwlen; k++)
        nbrackets += rw[k] == '[';
    toks = calloc(rwlen + 1, sizeof(*toks));
    g->g_classes = calloc(nbrackets + 1, sizeof(*g->g_classes));
    if (toks == NULL || g->g_classes == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    ps.p = rw;
    ps.n = rwlen;
    ps.toks = toks;
    ps.captoks = rwlen + 1;
    ps.classes = g->g_classes;
    ps.capclasses = nbrackets + 1;
    rc = parse(&ps);
    if (rc < 0)
        goto fail;

    frames = calloc(ps.maxdepth + 1, sizeof(*frames));
    e.prog = calloc(GLOB_MAX_PROG, sizeof(*e.prog));
    if (frames == NULL || e.prog == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    mark_empty_branches(toks, ps.ntoks, frames);
    emit_program(&e, toks, ps.ntoks, frames);
    if (e.overflow) {
        rc = glob_error(err, errlen, "pattern too complex (more than %d instructions)",
                        GLOB_MAX_PROG);
        goto fail;
    }
    /* Shrink the scratch program to its size; keep the large one if that fails. */
    prog = realloc(e.prog, e.n * sizeof(*e.prog));
    if (prog != NULL)
        e.prog = prog;
    g->g_prog = e.prog;
    e.prog = NULL;
    g->g_nprog = e.n;

    rc = classify(g, toks, ps.ntoks);
    if (rc < 0)
        goto fail;

    *out = g;
    g = NULL;
    rc = 0;
fail:
    osh_glob_free(g);
    free(e.prog);
    free(frames);
    free(toks);
    free(rw);
    return rc;
}

/* Adds pc and its epsilon closure to set.  Every pc is marked when pushed, so
 * the stack never holds more than the program's length. */
static void
sim_add(const struct osh_glob *g, uint64_t *set, uint16_t *stack, uint16_t pc)
{
    size_t sp = 0;
    uint16_t targets[2];
    size_t nt;

    if (set[pc >> 6] & (UINT64_C(1) << (pc & 63)))
        return;
    set[pc >> 6] |= UINT64_C(1) << (pc & 63);
    stack[sp++] = pc;
    while (sp > 0) {
        const struct glob_inst *in = &g->g_prog[stack[--sp]];
        nt = 0;
        switch ((enum glob_op)in->op) {
        case OP_JMP:
            targets[nt++] = in->x;
            break;
        case OP_SPLIT:
            targets[nt++] = in->y;
            targets[nt++] = in->x;
            break;
        case OP_CHAR:
        case OP_ANY:
        case OP_ANY_BUT_SEP:
        case OP_CLASS:
        case OP_MATCH:
            break;
        }
        for (size_t k = 0; k < nt; k++) {
            uint16_t t = targets[k];
            if (set[t >> 6] & (UINT64_C(1) << (t & 63)))
                continue;
            set[t >> 6] |= UINT64_C(1) << (t & 63);
            stack[sp++] = t;
        }
    }
}

/* Advances every thread of cur over byte b into next; false if none lives. */
static bool
sim_step(const struct osh_glob *g, const uint64_t *cur, uint64_t *next, uint16_t *stack,
         size_t nwords, unsigned char b)
{
    bool alive = false;

    memset(next, 0, nwords * sizeof(*next));
    for (size_t w = 0; w < nwords; w++) {
        for (uint64_t bits = cur[w]; bits != 0; bits &= bits - 1) {
            uint16_t pc = (uint16_t)(w * 64 + (size_t)__builtin_ctzll(bits));
            const struct glob_inst *in = &g->g_prog[pc];
            bool ok = false;
            switch ((enum glob_op)in->op) {
            case OP_CHAR:
                ok = b == in->byte;
                break;
            case OP_ANY:
                ok = true;
                break;
            case OP_ANY_BUT_SEP:
                ok = b != '/';
                break;
            case OP_CLASS:
                ok = (g->g_classes[in->x].bits[b >> 6] >> (b & 63)) & 1;
                break;
            case OP_SPLIT:
            case OP_JMP:
            case OP_MATCH:
                break;
            }
            if (ok) {
                sim_add(g, next, stack, (uint16_t)(pc + 1));
                alive = true;
            }
        }
    }
    return alive;
}

static int
match_program(const struct osh_glob *g, const unsigned char *s, size_t len)
{
    uint64_t sets[2][GLOB_SET_WORDS];
    uint16_t stack[GLOB_MAX_PROG];
    unsigned char buf[3];
    size_t nwords = (g->g_nprog + 63) / 64, cur = 0, m = g->g_nprog - 1;

    memset(sets[0], 0, nwords * sizeof(sets[0][0]));
    sim_add(g, sets[0], stack, 0);
    for (size_t i = 0; i < len; i++) {
        size_t k = expand_byte(g->g_delim, s[i], buf);
        for (size_t j = 0; j < k; j++) {
            if (!sim_step(g, sets[cur], sets[cur ^ 1], stack, nwords, buf[j]))
                return 0;
            cur ^= 1;
        }
    }
    return (sets[cur][m >> 6] >> (m & 63)) & 1;
}

static int
match_fast(const struct osh_glob *g, const unsigned char *s, size_t len)
{
    unsigned char buf[3];
    size_t pos = 0;

    for (size_t i = 0; i < len; i++) {
        size_t k = expand_byte(g->g_delim, s[i], buf);
        for (size_t j = 0; j < k; j++) {
            if (pos < g->g_nlit) {
                if (buf[j] != g->g_lit[pos++])
                    return 0;
                continue;
            }
            switch (g->g_kind) {
            case GLOB_PREFIX_STAR:
                if (buf[j] == '/')
                    return 0;
                break;
            case GLOB_PREFIX_ANY:
                return 1;
            case GLOB_LITERAL:
            case GLOB_PROGRAM:
                return 0;
            }
        }
    }
    return pos == g->g_nlit;
}

int
osh_glob_match(const struct osh_glob *g, const char *s, size_t len)
{
    if (g == NULL || (s == NULL && len > 0))
        return -EINVAL;
    /* regorus fails the evaluation; callers fail closed. */
    if (len > 0 && memchr(s, '\0', len) != NULL)
        return -EINVAL;
    if (g->g_kind != GLOB_PROGRAM)
        return match_fast(g, (const unsigned char *)s, len);
    return match_program(g, (const unsigned char *)s, len);
}

void
osh_glob_free(struct osh_glob *g)
{
    if (g == NULL)
        return;
    free(g->g_prog);
    free(g->g_classes);
    free(g->g_lit);
    free(g);
}
