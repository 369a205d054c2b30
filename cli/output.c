/* vmsnap: how commands print their results (see output.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "output.h"

/* Deepest nesting rendered; deeper values print as null / None. */
#define OUTPUT_MAX_DEPTH 64

/* A record or a list.  A show record is kept as a list of one row whose
 * columns are the field names, so selection and rendering share code.
 */
struct output {
    bool is_list;        /* made by output_new_list */
    bool failed;         /* memory ran out while adding */
    char **cols;         /* column (or field) names */
    size_t ncols;        /* entries in cols */
    json_object **cells; /* nrows * ncols values, row after row */
    size_t nrows;        /* rows in cells */
    size_t cells_alloc;  /* entries allocated in cells */
    size_t cols_alloc;   /* entries allocated in cols */
};

/* A growing string.  After a failed allocation it stops growing and
 * remembers the failure.
 */
struct obuf {
    char *s;      /* NUL-terminated text (NULL until the first byte) */
    size_t len;   /* bytes in s */
    size_t alloc; /* bytes allocated */
    bool oom;     /* an allocation failed */
};

static void
obuf_add(struct obuf *b, const char *p, size_t n)
{
    if (b->oom) {
        return;
    }
    if (b->len + n + 1 > b->alloc) {
        size_t want = b->alloc ? b->alloc : 256;
        char *s;

        while (want < b->len + n + 1) {
            want *= 2;
        }
        s = realloc(b->s, want);
        if (s == NULL) {
            b->oom = true;
            return;
        }
        b->s = s;
        b->alloc = want;
    }
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void
obuf_puts(struct obuf *b, const char *s)
{
    obuf_add(b, s, strlen(s));
}

static void
obuf_putc(struct obuf *b, char c)
{
    obuf_add(b, &c, 1);
}

static void
obuf_repeat(struct obuf *b, char c, size_t n)
{
    while (n-- > 0) {
        obuf_putc(b, c);
    }
}

/* Hand over the text (caller frees); "" when empty, NULL on failure. */
static char *
obuf_steal(struct obuf *b)
{
    char *s;

    if (b->oom) {
        free(b->s);
        b->s = NULL;
        return NULL;
    }
    s = b->s != NULL ? b->s : strdup("");
    b->s = NULL;
    b->len = b->alloc = 0;
    return s;
}

/* ---- text forms ---- */

/* A double in its shortest form that reads back the same, with ".0" when
 * it would look like an integer (as Python prints floats).
 */
static void
output_put_double(struct obuf *b, double d, bool json)
{
    char s[64];

    if (isnan(d) || isinf(d)) {
        obuf_puts(b, json ? "null"
                          : (isnan(d) ? "nan" : (d < 0 ? "-inf" : "inf")));
        return;
    }
    snprintf(s, sizeof(s), "%.15g", d);
    if (strtod(s, NULL) != d) {
        snprintf(s, sizeof(s), "%.17g", d);
    }
    obuf_puts(b, s);
    if (strpbrk(s, ".eE") == NULL) {
        obuf_puts(b, ".0");
    }
}

static void
output_put_int(struct obuf *b, json_object *v)
{
    /* json-c keeps integers above INT64_MAX as uint64; its own
     * serialiser prints both kinds exactly.
     */
    obuf_puts(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
}

static int
output_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void output_put_text(struct obuf *b, json_object *v, int depth);

/* The openstack client's format_dict: key='value' pairs sorted by key,
 * nested objects flattened with dotted keys, null members as key=.
 */
static void
output_put_dict(struct obuf *b, json_object *obj, const char *prefix,
                bool *first, int depth)
{
    size_t n = (size_t)json_object_object_length(obj);
    CLEANUP_FREE const char **keys = NULL;
    size_t i = 0;

    if (n == 0) {
        return;
    }
    keys = calloc(n, sizeof(*keys));
    if (keys == NULL) {
        b->oom = true;
        return;
    }
    json_object_object_foreach(obj, key, val)
    {
        (void)val;
        if (i < n) {
            keys[i++] = key;
        }
    }
    qsort(keys, i, sizeof(*keys), output_strcmp_p);
    for (n = i, i = 0; i < n; i++) {
        json_object *v = NULL;
        CLEANUP_FREE char *full = NULL;

        json_object_object_get_ex(obj, keys[i], &v);
        if (prefix != NULL) {
            if (asprintf(&full, "%s.%s", prefix, keys[i]) < 0) {
                full = NULL;
                b->oom = true;
                return;
            }
        }
        if (json_object_is_type(v, json_type_object) &&
            depth < OUTPUT_MAX_DEPTH) {
            output_put_dict(b, v, full ? full : keys[i], first, depth + 1);
            continue;
        }
        if (!*first) {
            obuf_puts(b, ", ");
        }
        *first = false;
        obuf_puts(b, full ? full : keys[i]);
        obuf_putc(b, '=');
        if (v != NULL) {
            obuf_putc(b, '\'');
            output_put_text(b, v, depth + 1);
            obuf_putc(b, '\'');
        }
    }
}

static void
output_put_text(struct obuf *b, json_object *v, int depth)
{
    size_t i, n;
    bool first = true;

    if (depth > OUTPUT_MAX_DEPTH) {
        obuf_puts(b, "None");
        return;
    }
    switch (json_object_get_type(v)) {
    case json_type_null:
        obuf_puts(b, "None");
        break;
    case json_type_boolean:
        obuf_puts(b, json_object_get_boolean(v) ? "True" : "False");
        break;
    case json_type_int:
        output_put_int(b, v);
        break;
    case json_type_double:
        output_put_double(b, json_object_get_double(v), false);
        break;
    case json_type_string:
        obuf_add(b, json_object_get_string(v),
                 (size_t)json_object_get_string_len(v));
        break;
    case json_type_object:
        output_put_dict(b, v, NULL, &first, depth);
        break;
    case json_type_array:
        n = json_object_array_length(v);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                obuf_puts(b, ", ");
            }
            output_put_text(b, json_object_array_get_idx(v, i), depth + 1);
        }
        break;
    }
}

char *
output_value_text(json_object *value)
{
    struct obuf b = {0};

    output_put_text(&b, value, 0);
    return obuf_steal(&b);
}

/* ---- JSON, laid out like Python's json.dumps(indent=2) ---- */

static void
output_put_json_string(struct obuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    obuf_putc(b, '"');
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        switch (c) {
        case '"':
            obuf_puts(b, "\\\"");
            break;
        case '\\':
            obuf_puts(b, "\\\\");
            break;
        case '\n':
            obuf_puts(b, "\\n");
            break;
        case '\r':
            obuf_puts(b, "\\r");
            break;
        case '\t':
            obuf_puts(b, "\\t");
            break;
        case '\b':
            obuf_puts(b, "\\b");
            break;
        case '\f':
            obuf_puts(b, "\\f");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char u[7] = {'\\',        'u',          '0', '0',
                             hex[c >> 4], hex[c & 0xf], '\0'};

                obuf_puts(b, u);
            } else {
                obuf_putc(b, (char)c);
            }
            break;
        }
    }
    obuf_putc(b, '"');
}

static void output_put_json(struct obuf *b, json_object *v, int indent);

static void
output_put_json_object(struct obuf *b, json_object *obj, int indent)
{
    size_t i = 0;

    if (json_object_object_length(obj) == 0) {
        obuf_puts(b, "{}");
        return;
    }
    obuf_puts(b, "{\n");
    json_object_object_foreach(obj, key, val)
    {
        if (i++ > 0) {
            obuf_puts(b, ",\n");
        }
        obuf_repeat(b, ' ', (size_t)indent + 2);
        output_put_json_string(b, key, strlen(key));
        obuf_puts(b, ": ");
        output_put_json(b, val, indent + 2);
    }
    obuf_putc(b, '\n');
    obuf_repeat(b, ' ', (size_t)indent);
    obuf_putc(b, '}');
}

static void
output_put_json(struct obuf *b, json_object *v, int indent)
{
    size_t i, n;

    if (indent / 2 > OUTPUT_MAX_DEPTH) {
        obuf_puts(b, "null");
        return;
    }
    switch (json_object_get_type(v)) {
    case json_type_null:
        obuf_puts(b, "null");
        break;
    case json_type_boolean:
        obuf_puts(b, json_object_get_boolean(v) ? "true" : "false");
        break;
    case json_type_int:
        output_put_int(b, v);
        break;
    case json_type_double:
        output_put_double(b, json_object_get_double(v), true);
        break;
    case json_type_string:
        output_put_json_string(b, json_object_get_string(v),
                               (size_t)json_object_get_string_len(v));
        break;
    case json_type_object:
        output_put_json_object(b, v, indent);
        break;
    case json_type_array:
        n = json_object_array_length(v);
        if (n == 0) {
            obuf_puts(b, "[]");
            break;
        }
        obuf_puts(b, "[\n");
        for (i = 0; i < n; i++) {
            if (i > 0) {
                obuf_puts(b, ",\n");
            }
            obuf_repeat(b, ' ', (size_t)indent + 2);
            output_put_json(b, json_object_array_get_idx(v, i), indent + 2);
        }
        obuf_putc(b, '\n');
        obuf_repeat(b, ' ', (size_t)indent);
        obuf_putc(b, ']');
        break;
    }
}

/* ---- building ---- */

static struct output *
output_new(bool is_list)
{
    struct output *o = calloc(1, sizeof(*o));

    if (o != NULL) {
        o->is_list = is_list;
    }
    return o;
}

struct output *
output_new_show(void)
{
    return output_new(false);
}

struct output *
output_new_list(const char *const *columns)
{
    struct output *o;
    size_t n = 0, i;

    while (columns != NULL && columns[n] != NULL) {
        n++;
    }
    if (n == 0) {
        return NULL;
    }
    o = output_new(true);
    if (o == NULL) {
        return NULL;
    }
    o->cols = calloc(n, sizeof(*o->cols));
    if (o->cols == NULL) {
        output_free(o);
        return NULL;
    }
    o->cols_alloc = n;
    for (i = 0; i < n; i++) {
        o->cols[i] = strdup(columns[i]);
        if (o->cols[i] == NULL) {
            output_free(o);
            return NULL;
        }
        o->ncols++;
    }
    return o;
}

void
output_free(struct output *o)
{
    size_t i;

    if (o == NULL) {
        return;
    }
    for (i = 0; i < o->ncols; i++) {
        free(o->cols[i]);
    }
    for (i = 0; i < o->nrows * o->ncols; i++) {
        json_object_put(o->cells[i]);
    }
    free(o->cols);
    free(o->cells);
    free(o);
}

/* Make room for WANT cells.  Returns false if memory ran out. */
static bool
output_reserve_cells(struct output *o, size_t want)
{
    json_object **p;
    size_t n;

    if (want <= o->cells_alloc) {
        return true;
    }
    n = o->cells_alloc ? o->cells_alloc * 2 : 16;
    while (n < want) {
        n *= 2;
    }
    p = reallocarray(o->cells, n, sizeof(*p));
    if (p == NULL) {
        return false;
    }
    o->cells = p;
    o->cells_alloc = n;
    return true;
}

void
output_add_field(struct output *o, const char *name, json_object *value)
{
    char *copy;
    size_t i;

    if (o == NULL || o->is_list || name == NULL) {
        if (o != NULL) {
            o->failed = true;
        }
        json_object_put(value);
        return;
    }
    for (i = 0; i < o->ncols; i++) {
        if (strcmp(o->cols[i], name) == 0) {
            json_object_put(o->cells[i]);
            o->cells[i] = value;
            return;
        }
    }
    if (o->ncols == o->cols_alloc) {
        size_t n = o->cols_alloc ? o->cols_alloc * 2 : 16;
        char **p = reallocarray(o->cols, n, sizeof(*p));

        if (p == NULL) {
            o->failed = true;
            json_object_put(value);
            return;
        }
        o->cols = p;
        o->cols_alloc = n;
    }
    copy = strdup(name);
    if (copy == NULL || !output_reserve_cells(o, o->ncols + 1)) {
        free(copy);
        o->failed = true;
        json_object_put(value);
        return;
    }
    o->cols[o->ncols] = copy;
    o->cells[o->ncols] = value;
    o->ncols++;
    o->nrows = 1;
}

void
output_add_str(struct output *o, const char *name, const char *value)
{
    json_object *v = NULL;

    if (value != NULL) {
        v = json_object_new_string(value);
        if (v == NULL && o != NULL) {
            o->failed = true;
            return;
        }
    }
    output_add_field(o, name, v);
}

void
output_add_int(struct output *o, const char *name, int64_t value)
{
    json_object *v = json_object_new_int64(value);

    if (v == NULL) {
        if (o != NULL) {
            o->failed = true;
        }
        return;
    }
    output_add_field(o, name, v);
}

void
output_add_row(struct output *o, json_object *const *values)
{
    size_t i;

    if (o == NULL || !o->is_list ||
        !output_reserve_cells(o, (o->nrows + 1) * o->ncols)) {
        if (o != NULL) {
            o->failed = true;
            for (i = 0; i < o->ncols; i++) {
                json_object_put(values[i]);
            }
        }
        return;
    }
    for (i = 0; i < o->ncols; i++) {
        o->cells[o->nrows * o->ncols + i] = values[i];
    }
    o->nrows++;
}

/* ---- printing ---- */

int
output_parse_format(const char *name, enum output_format *fmt,
                    struct error **errp)
{
    static const struct {
        const char *name;
        enum output_format fmt;
    } names[] = {
        {"table", OUTPUT_TABLE},
        {"json", OUTPUT_JSON},
        {"value", OUTPUT_VALUE},
        {"shell", OUTPUT_SHELL},
    };
    size_t i;

    for (i = 0; name != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(name, names[i].name) == 0) {
            *fmt = names[i].fmt;
            return 0;
        }
    }
    error_setg(errp, ERR_INVALID,
               "unknown output format %s (choose table, json, value or "
               "shell)",
               name != NULL ? name : "(null)");
    return -1;
}

/* Resolve the -c names into column indexes.  *IDX (caller frees) gets
 * *N entries.
 */
static int
output_select(const struct output *o, const char *const *columns, size_t **idx,
              size_t *n, struct error **errp)
{
    size_t want = 0, i, j, k;
    size_t *sel;

    while (columns != NULL && columns[want] != NULL) {
        want++;
    }
    sel = calloc((want ? want : o->ncols) + 1, sizeof(*sel));
    if (sel == NULL) {
        error_setg_errno(errp, ERR_IO, ENOMEM, "output");
        return -1;
    }
    if (want == 0) {
        for (i = 0; i < o->ncols; i++) {
            sel[i] = i;
        }
        *idx = sel;
        *n = o->ncols;
        return 0;
    }
    for (i = 0, k = 0; i < want; i++) {
        size_t found = o->ncols, matches = 0;

        for (j = 0; j < o->ncols; j++) {
            if (strcmp(o->cols[j], columns[i]) == 0) {
                found = j;
                matches = 1;
                break;
            }
            if (strcasecmp(o->cols[j], columns[i]) == 0) {
                found = j;
                matches++;
            }
        }
        if (matches != 1) {
            error_setg(errp, ERR_INVALID, "no column named %s", columns[i]);
            free(sel);
            return -1;
        }
        for (j = 0; j < k && sel[j] != found; j++) {
        }
        if (j == k) {
            sel[k++] = found;
        }
    }
    *idx = sel;
    *n = k;
    return 0;
}

/* Display width of the first LEN bytes of S: UTF-8 code points (bytes
 * other than continuation bytes).
 */
static size_t
output_width(const char *s, size_t len)
{
    size_t i, w = 0;

    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            w++;
        }
    }
    return w;
}

/* Widest line of S. */
static size_t
output_max_width(const char *s)
{
    size_t w = 0;

    for (;;) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        size_t lw = output_width(s, len);

        if (lw > w) {
            w = lw;
        }
        if (nl == NULL) {
            return w;
        }
        s = nl + 1;
    }
}

/* Lines in S. */
static size_t
output_nlines(const char *s)
{
    size_t n = 1;

    for (; *s != '\0'; s++) {
        if (*s == '\n') {
            n++;
        }
    }
    return n;
}

/* Line LINE of S (pointer and length); empty past the end. */
static const char *
output_line(const char *s, size_t line, size_t *len)
{
    while (line > 0) {
        const char *nl = strchr(s, '\n');

        if (nl == NULL) {
            *len = 0;
            return "";
        }
        s = nl + 1;
        line--;
    }
    *len = strcspn(s, "\n");
    return s;
}

static void
output_table_border(struct obuf *b, const size_t *widths, size_t ncols)
{
    size_t c;

    obuf_putc(b, '+');
    for (c = 0; c < ncols; c++) {
        obuf_repeat(b, '-', widths[c] + 2);
        obuf_putc(b, '+');
    }
    obuf_putc(b, '\n');
}

/* One table row of NCOLS cells of text, possibly several lines high. */
static void
output_table_row(struct obuf *b, char *const *texts, const size_t *widths,
                 const bool *right, size_t ncols)
{
    size_t height = 1, c, l;

    for (c = 0; c < ncols; c++) {
        size_t h = output_nlines(texts[c]);

        if (h > height) {
            height = h;
        }
    }
    for (l = 0; l < height; l++) {
        obuf_putc(b, '|');
        for (c = 0; c < ncols; c++) {
            size_t len;
            const char *s = output_line(texts[c], l, &len);
            size_t pad = widths[c] - output_width(s, len);

            obuf_putc(b, ' ');
            if (right[c]) {
                obuf_repeat(b, ' ', pad);
            }
            obuf_add(b, s, len);
            if (!right[c]) {
                obuf_repeat(b, ' ', pad);
            }
            obuf_puts(b, " |");
        }
        obuf_putc(b, '\n');
    }
}

/* A box table: HEADER (NCOLS names), then NROWS rows of NCOLS texts. */
static void
output_table(struct obuf *b, char *const *header, char *const *texts,
             size_t nrows, size_t ncols, const bool *right)
{
    CLEANUP_FREE size_t *widths = calloc(ncols, sizeof(*widths));
    size_t r, c;

    if (widths == NULL) {
        b->oom = true;
        return;
    }
    if (nrows == 0) {
        return;
    }
    for (c = 0; c < ncols; c++) {
        widths[c] = output_max_width(header[c]);
        for (r = 0; r < nrows; r++) {
            size_t w = output_max_width(texts[r * ncols + c]);

            if (w > widths[c]) {
                widths[c] = w;
            }
        }
    }
    output_table_border(b, widths, ncols);
    output_table_row(b, header, widths, right, ncols);
    output_table_border(b, widths, ncols);
    for (r = 0; r < nrows; r++) {
        output_table_row(b, texts + r * ncols, widths, right, ncols);
    }
    output_table_border(b, widths, ncols);
}

/* The name of a shell variable for column NAME. */
static void
output_put_shell_name(struct obuf *b, const char *name)
{
    const char *p;

    if (*name >= '0' && *name <= '9') {
        obuf_putc(b, '_');
    }
    for (p = name; *p != '\0'; p++) {
        char c = *p;

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            c = '_';
        }
        obuf_putc(b, c);
    }
}

static void
output_put_shell_value(struct obuf *b, const char *s)
{
    obuf_putc(b, '"');
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"' || *s == '$' || *s == '`') {
            obuf_putc(b, '\\');
        }
        obuf_putc(b, *s);
    }
    obuf_putc(b, '"');
}

/* JSON object of the selected cells of row ROW. */
static void
output_json_row(struct obuf *b, const struct output *o, size_t row,
                const size_t *sel, size_t nsel, int indent)
{
    size_t i;

    if (nsel == 0) {
        obuf_puts(b, "{}");
        return;
    }
    obuf_puts(b, "{\n");
    for (i = 0; i < nsel; i++) {
        if (i > 0) {
            obuf_puts(b, ",\n");
        }
        obuf_repeat(b, ' ', (size_t)indent + 2);
        output_put_json_string(b, o->cols[sel[i]], strlen(o->cols[sel[i]]));
        obuf_puts(b, ": ");
        output_put_json(b, o->cells[row * o->ncols + sel[i]], indent + 2);
    }
    obuf_putc(b, '\n');
    obuf_repeat(b, ' ', (size_t)indent);
    obuf_putc(b, '}');
}

static void
output_json(struct obuf *b, const struct output *o, const size_t *sel,
            size_t nsel)
{
    size_t r;

    if (!o->is_list) {
        output_json_row(b, o, 0, sel, nsel, 0);
        obuf_putc(b, '\n');
        return;
    }
    if (o->nrows == 0) {
        obuf_puts(b, "[]\n");
        return;
    }
    obuf_puts(b, "[\n");
    for (r = 0; r < o->nrows; r++) {
        if (r > 0) {
            obuf_puts(b, ",\n");
        }
        obuf_repeat(b, ' ', 2);
        output_json_row(b, o, r, sel, nsel, 2);
    }
    obuf_puts(b, "\n]\n");
}

/* Text forms of the selected cells, row after row: nrows * nsel strings
 * (an array the caller frees with output_free_texts).
 */
static char **
output_texts(const struct output *o, const size_t *sel, size_t nsel)
{
    size_t nrows = o->is_list ? o->nrows : (o->ncols ? 1 : 0);
    char **t = calloc(nrows * nsel + 1, sizeof(*t));
    size_t r, i;

    if (t == NULL) {
        return NULL;
    }
    for (r = 0; r < nrows; r++) {
        for (i = 0; i < nsel; i++) {
            json_object *v = o->cells[r * o->ncols + sel[i]];

            t[r * nsel + i] = output_value_text(v);
            if (t[r * nsel + i] == NULL) {
                for (i = 0; i < r * nsel + nsel; i++) {
                    free(t[i]);
                }
                free(t);
                return NULL;
            }
        }
    }
    return t;
}

static void
output_free_texts(char **t, size_t n)
{
    size_t i;

    if (t == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        free(t[i]);
    }
    free(t);
}

/* Render the text formats (table, value, shell) into B. */
static void
output_text_formats(struct obuf *b, const struct output *o,
                    enum output_format fmt, const size_t *sel, size_t nsel,
                    char **texts)
{
    size_t nrows = o->is_list ? o->nrows : (o->ncols ? 1 : 0);
    size_t r, i;

    if (fmt == OUTPUT_VALUE) {
        for (r = 0; r < nrows; r++) {
            for (i = 0; i < nsel; i++) {
                if (o->is_list && i > 0) {
                    obuf_putc(b, ' ');
                }
                obuf_puts(b, texts[r * nsel + i]);
                if (!o->is_list) {
                    obuf_putc(b, '\n');
                }
            }
            if (o->is_list) {
                obuf_putc(b, '\n');
            }
        }
    } else if (fmt == OUTPUT_SHELL) {
        for (i = 0; i < nsel && nrows > 0; i++) {
            output_put_shell_name(b, o->cols[sel[i]]);
            obuf_putc(b, '=');
            output_put_shell_value(b, texts[i]);
            obuf_putc(b, '\n');
        }
    } else if (o->is_list) {
        CLEANUP_FREE bool *right = calloc(nsel + 1, sizeof(*right));
        CLEANUP_FREE char **header = calloc(nsel + 1, sizeof(*header));

        if (right == NULL || header == NULL) {
            b->oom = true;
            return;
        }
        for (i = 0; i < nsel; i++) {
            json_type t = nrows > 0 ? json_object_get_type(o->cells[sel[i]])
                                    : json_type_null;

            header[i] = o->cols[sel[i]];
            right[i] = t == json_type_int || t == json_type_double;
        }
        output_table(b, header, texts, nrows, nsel, right);
    } else {
        /* show: two columns, Field and Value, one row per field. */
        static const bool left[2] = {false, false};
        char field[] = "Field", value[] = "Value";
        char *header[2] = {field, value};
        CLEANUP_FREE char **rows = calloc(2 * nsel + 1, sizeof(*rows));

        if (rows == NULL) {
            b->oom = true;
            return;
        }
        for (i = 0; i < nsel && nrows > 0; i++) {
            rows[2 * i] = o->cols[sel[i]];
            rows[2 * i + 1] = texts[i];
        }
        output_table(b, header, rows, nrows > 0 ? nsel : 0, 2, left);
    }
}

int
output_print(const struct output *o, FILE *fp, enum output_format fmt,
             const char *const *columns, struct error **errp)
{
    CLEANUP_FREE size_t *sel = NULL;
    CLEANUP_FREE char *text = NULL;
    struct obuf b = {0};
    size_t nsel = 0, nrows;
    char **texts = NULL;

    if (o->failed) {
        error_setg_errno(errp, ERR_IO, ENOMEM, "output");
        return -1;
    }
    if (fmt != OUTPUT_TABLE && fmt != OUTPUT_JSON && fmt != OUTPUT_VALUE &&
        fmt != OUTPUT_SHELL) {
        error_setg(errp, ERR_INVALID, "invalid output format");
        return -1;
    }
    if (fmt == OUTPUT_SHELL && o->is_list) {
        error_setg(errp, ERR_INVALID,
                   "the shell format prints single records, not lists");
        return -1;
    }
    if (output_select(o, columns, &sel, &nsel, errp) < 0) {
        return -1;
    }

    if (fmt == OUTPUT_JSON) {
        output_json(&b, o, sel, nsel);
    } else {
        nrows = o->is_list ? o->nrows : (o->ncols ? 1 : 0);
        texts = output_texts(o, sel, nsel);
        if (texts == NULL) {
            b.oom = true;
        } else {
            output_text_formats(&b, o, fmt, sel, nsel, texts);
        }
        output_free_texts(texts, nrows * nsel);
    }
    text = obuf_steal(&b);
    if (text == NULL) {
        error_setg_errno(errp, ERR_IO, ENOMEM, "output");
        return -1;
    }
    if (fwrite(text, 1, strlen(text), fp) != strlen(text) || fflush(fp) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "write output");
        return -1;
    }
    return 0;
}
