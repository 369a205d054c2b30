/* vmsnap: how commands print their results (see output.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "escape.h"
#include "cleanup.h"
#include "dynbuf.h"
#include "output.h"
#include "text.h"
#include "xalloc.h"
#include "xjson.h"

/* Deepest nesting rendered; deeper values print as null / None. */
#define OUTPUT_MAX_DEPTH 64

/* Most bytes one printed result may take. */
#define OUTPUT_MAX_TEXT (256 * 1024 * 1024)

/* A record or a list.  A show record is kept as a list of one row whose
 * columns are the field names, so selection and rendering share code.
 */
struct output {
    bool is_list;        /* made by output_new_list */
    bool failed;         /* a field or row was added the wrong way */
    char **cols;         /* column (or field) names */
    size_t ncols;        /* entries in cols */
    json_object **cells; /* nrows * ncols values, row after row */
    size_t nrows;        /* rows in cells */
    size_t cells_alloc;  /* entries allocated in cells */
    size_t cols_alloc;   /* entries allocated in cols */
};

/* ---- text forms ---- */

/* A double in its shortest form that reads back the same, with ".0" when
 * it would look like an integer (as Python prints floats).
 */
static void
output_put_double(struct dynbuf *b, double d, bool json)
{
    char s[64];

    if (isnan(d) || isinf(d)) {
        dynbuf_add_str(b,
                       json ? "null"
                            : (isnan(d) ? "nan" : (d < 0 ? "-inf" : "inf")),
                       NULL);
        return;
    }
    snprintf(s, sizeof(s), "%.15g", d);
    if (strtod(s, NULL) != d) {
        snprintf(s, sizeof(s), "%.17g", d);
    }
    dynbuf_add_str(b, s, NULL);
    if (strpbrk(s, ".eE") == NULL) {
        dynbuf_add_str(b, ".0", NULL);
    }
}

static void
output_put_int(struct dynbuf *b, json_object *v)
{
    /* json-c keeps integers above INT64_MAX as uint64; its own
     * serialiser prints both kinds exactly.
     */
    dynbuf_add_str(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
                   NULL);
}

static int
output_strcmp_p(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void output_put_text(struct dynbuf *b, json_object *v, int depth);

/* The openstack client's format_dict: key='value' pairs sorted by key,
 * nested objects flattened with dotted keys, null members as key=.
 */
static void
output_put_dict(struct dynbuf *b, json_object *obj, const char *prefix,
                bool *first, int depth)
{
    size_t n = (size_t)json_object_object_length(obj);
    CLEANUP_FREE const char **keys = NULL;
    size_t i = 0;

    if (n == 0) {
        return;
    }
    keys = xcalloc(n ? n : 1, sizeof(*keys));
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
            full = xasprintf("%s.%s", prefix, keys[i]);
        }
        if (json_object_is_type(v, json_type_object) &&
            depth < OUTPUT_MAX_DEPTH) {
            output_put_dict(b, v, full ? full : keys[i], first, depth + 1);
            continue;
        }
        if (!*first) {
            dynbuf_add_str(b, ", ", NULL);
        }
        *first = false;
        dynbuf_add_str(b, full ? full : keys[i], NULL);
        dynbuf_add_byte(b, '=', 1, NULL);
        if (v != NULL) {
            dynbuf_add_byte(b, '\'', 1, NULL);
            output_put_text(b, v, depth + 1);
            dynbuf_add_byte(b, '\'', 1, NULL);
        }
    }
}

static void
output_put_text(struct dynbuf *b, json_object *v, int depth)
{
    size_t i, n;
    bool first = true;

    if (depth > OUTPUT_MAX_DEPTH) {
        dynbuf_add_str(b, "None", NULL);
        return;
    }
    switch (json_object_get_type(v)) {
    case json_type_null:
        dynbuf_add_str(b, "None", NULL);
        break;
    case json_type_boolean:
        dynbuf_add_str(b, json_object_get_boolean(v) ? "True" : "False", NULL);
        break;
    case json_type_int:
        output_put_int(b, v);
        break;
    case json_type_double:
        output_put_double(b, json_object_get_double(v), false);
        break;
    case json_type_string:
        dynbuf_add(b, json_object_get_string(v),
                   (size_t)json_object_get_string_len(v), NULL);
        break;
    case json_type_object:
        output_put_dict(b, v, NULL, &first, depth);
        break;
    case json_type_array:
        n = json_object_array_length(v);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                dynbuf_add_str(b, ", ", NULL);
            }
            output_put_text(b, json_object_array_get_idx(v, i), depth + 1);
        }
        break;
    }
}

char *
output_value_text(json_object *value)
{
    struct dynbuf b;

    dynbuf_init(&b, OUTPUT_MAX_TEXT);
    output_put_text(&b, value, 0);
    return dynbuf_take(&b, NULL, NULL);
}

/* ---- JSON, laid out like Python's json.dumps(indent=2) ---- */

/* A JSON string of the LEN bytes at S: valid JSON and UTF-8 whatever the
 * bytes (a name may hold anything: audit L3).
 */
static void
output_put_json_string(struct dynbuf *b, const char *s, size_t len)
{
    text_json_string(b, s, len, NULL);
}

static void output_put_json(struct dynbuf *b, json_object *v, int indent);

static void
output_put_json_object(struct dynbuf *b, json_object *obj, int indent)
{
    size_t i = 0;

    if (json_object_object_length(obj) == 0) {
        dynbuf_add_str(b, "{}", NULL);
        return;
    }
    dynbuf_add_str(b, "{\n", NULL);
    json_object_object_foreach(obj, key, val)
    {
        if (i++ > 0) {
            dynbuf_add_str(b, ",\n", NULL);
        }
        dynbuf_add_byte(b, ' ', (size_t)indent + 2, NULL);
        output_put_json_string(b, key, strlen(key));
        dynbuf_add_str(b, ": ", NULL);
        output_put_json(b, val, indent + 2);
    }
    dynbuf_add_byte(b, '\n', 1, NULL);
    dynbuf_add_byte(b, ' ', (size_t)indent, NULL);
    dynbuf_add_byte(b, '}', 1, NULL);
}

static void
output_put_json(struct dynbuf *b, json_object *v, int indent)
{
    size_t i, n;

    if (indent / 2 > OUTPUT_MAX_DEPTH) {
        dynbuf_add_str(b, "null", NULL);
        return;
    }
    switch (json_object_get_type(v)) {
    case json_type_null:
        dynbuf_add_str(b, "null", NULL);
        break;
    case json_type_boolean:
        dynbuf_add_str(b, json_object_get_boolean(v) ? "true" : "false", NULL);
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
            dynbuf_add_str(b, "[]", NULL);
            break;
        }
        dynbuf_add_str(b, "[\n", NULL);
        for (i = 0; i < n; i++) {
            if (i > 0) {
                dynbuf_add_str(b, ",\n", NULL);
            }
            dynbuf_add_byte(b, ' ', (size_t)indent + 2, NULL);
            output_put_json(b, json_object_array_get_idx(v, i), indent + 2);
        }
        dynbuf_add_byte(b, '\n', 1, NULL);
        dynbuf_add_byte(b, ' ', (size_t)indent, NULL);
        dynbuf_add_byte(b, ']', 1, NULL);
        break;
    }
}

/* ---- building ---- */

static struct output *
output_new(bool is_list)
{
    struct output *o = xcalloc(1, sizeof(*o));

    o->is_list = is_list;
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
    o->cols = xcalloc(n, sizeof(*o->cols));
    o->cols_alloc = n;
    for (i = 0; i < n; i++) {
        o->cols[i] = xstrdup(columns[i]);
    }
    o->ncols = n;
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

/* Make room for WANT cells. */
static void
output_reserve_cells(struct output *o, size_t want)
{
    size_t n;

    if (want <= o->cells_alloc) {
        return;
    }
    n = o->cells_alloc ? o->cells_alloc * 2 : 16;
    while (n < want) {
        n *= 2;
    }
    o->cells = xreallocarray(o->cells, n, sizeof(*o->cells));
    o->cells_alloc = n;
}

void
output_add_field(struct output *o, const char *name, json_object *value)
{
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
        o->cols_alloc = o->cols_alloc ? o->cols_alloc * 2 : 16;
        o->cols = xreallocarray(o->cols, o->cols_alloc, sizeof(*o->cols));
    }
    output_reserve_cells(o, o->ncols + 1);
    o->cols[o->ncols] = xstrdup(name);
    o->cells[o->ncols] = value;
    o->ncols++;
    o->nrows = 1;
}

void
output_add_str(struct output *o, const char *name, const char *value)
{
    output_add_field(o, name, value != NULL ? xjson_string(value) : NULL);
}

void
output_add_int(struct output *o, const char *name, int64_t value)
{
    output_add_field(o, name, xjson_int64(value));
}

void
output_add_row(struct output *o, json_object *const *values)
{
    size_t i;

    if (o == NULL || !o->is_list) {
        if (o != NULL) {
            o->failed = true;
            for (i = 0; i < o->ncols; i++) {
                json_object_put(values[i]);
            }
        }
        return;
    }
    output_reserve_cells(o, (o->nrows + 1) * o->ncols);
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
    sel = xcalloc((want ? want : o->ncols) + 1, sizeof(*sel));
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
output_table_border(struct dynbuf *b, const size_t *widths, size_t ncols)
{
    size_t c;

    dynbuf_add_byte(b, '+', 1, NULL);
    for (c = 0; c < ncols; c++) {
        dynbuf_add_byte(b, '-', widths[c] + 2, NULL);
        dynbuf_add_byte(b, '+', 1, NULL);
    }
    dynbuf_add_byte(b, '\n', 1, NULL);
}

/* One table row of NCOLS cells of text, possibly several lines high. */
static void
output_table_row(struct dynbuf *b, char *const *texts, const size_t *widths,
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
        dynbuf_add_byte(b, '|', 1, NULL);
        for (c = 0; c < ncols; c++) {
            size_t len;
            const char *s = output_line(texts[c], l, &len);
            size_t pad = widths[c] - output_width(s, len);

            dynbuf_add_byte(b, ' ', 1, NULL);
            if (right[c]) {
                dynbuf_add_byte(b, ' ', pad, NULL);
            }
            dynbuf_add(b, s, len, NULL);
            if (!right[c]) {
                dynbuf_add_byte(b, ' ', pad, NULL);
            }
            dynbuf_add_str(b, " |", NULL);
        }
        dynbuf_add_byte(b, '\n', 1, NULL);
    }
}

/* A box table: HEADER (NCOLS names), then NROWS rows of NCOLS texts. */
static void
output_table(struct dynbuf *b, char *const *header, char *const *texts,
             size_t nrows, size_t ncols, const bool *right)
{
    CLEANUP_FREE size_t *widths = xcalloc(ncols, sizeof(*widths));
    size_t r, c;

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
output_put_shell_name(struct dynbuf *b, const char *name)
{
    const char *p;

    if (*name >= '0' && *name <= '9') {
        dynbuf_add_byte(b, '_', 1, NULL);
    }
    for (p = name; *p != '\0'; p++) {
        char c = *p;

        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            c = '_';
        }
        dynbuf_add_byte(b, c, 1, NULL);
    }
}

static void
output_put_shell_value(struct dynbuf *b, const char *s)
{
    dynbuf_add_byte(b, '"', 1, NULL);
    for (; *s != '\0'; s++) {
        if (*s == '\\' || *s == '"' || *s == '$' || *s == '`') {
            dynbuf_add_byte(b, '\\', 1, NULL);
        }
        dynbuf_add_byte(b, *s, 1, NULL);
    }
    dynbuf_add_byte(b, '"', 1, NULL);
}

/* JSON object of the selected cells of row ROW. */
static void
output_json_row(struct dynbuf *b, const struct output *o, size_t row,
                const size_t *sel, size_t nsel, int indent)
{
    size_t i;

    if (nsel == 0) {
        dynbuf_add_str(b, "{}", NULL);
        return;
    }
    dynbuf_add_str(b, "{\n", NULL);
    for (i = 0; i < nsel; i++) {
        if (i > 0) {
            dynbuf_add_str(b, ",\n", NULL);
        }
        dynbuf_add_byte(b, ' ', (size_t)indent + 2, NULL);
        output_put_json_string(b, o->cols[sel[i]], strlen(o->cols[sel[i]]));
        dynbuf_add_str(b, ": ", NULL);
        output_put_json(b, o->cells[row * o->ncols + sel[i]], indent + 2);
    }
    dynbuf_add_byte(b, '\n', 1, NULL);
    dynbuf_add_byte(b, ' ', (size_t)indent, NULL);
    dynbuf_add_byte(b, '}', 1, NULL);
}

static void
output_json(struct dynbuf *b, const struct output *o, const size_t *sel,
            size_t nsel)
{
    size_t r;

    if (!o->is_list) {
        output_json_row(b, o, 0, sel, nsel, 0);
        dynbuf_add_byte(b, '\n', 1, NULL);
        return;
    }
    if (o->nrows == 0) {
        dynbuf_add_str(b, "[]\n", NULL);
        return;
    }
    dynbuf_add_str(b, "[\n", NULL);
    for (r = 0; r < o->nrows; r++) {
        if (r > 0) {
            dynbuf_add_str(b, ",\n", NULL);
        }
        dynbuf_add_byte(b, ' ', 2, NULL);
        output_json_row(b, o, r, sel, nsel, 2);
    }
    dynbuf_add_str(b, "\n]\n", NULL);
}

/* TEXT (consumed) made safe to print: untrusted text (names, properties,
 * a guest's words) must neither drive the terminal nor forge lines
 * (audit M1).  Control and bidirectional characters and invalid UTF-8
 * are escaped (text.h); with KEEP_LINES newlines stay, where a value may
 * hold several lines (a table cell, a quoted shell value).
 */
static char *
output_safe(char *text, bool keep_lines)
{
    struct dynbuf b;
    const char *p = text;

    if (!keep_lines || strchr(text, '\n') == NULL) {
        char *safe = escape_safe(text);

        free(text);
        return safe;
    }
    dynbuf_init(&b, OUTPUT_MAX_TEXT);
    for (;;) {
        const char *nl = strchr(p, '\n');
        CLEANUP_FREE char *line = nl ? xstrndup(p, (size_t)(nl - p))
                                     : xstrdup(p);
        CLEANUP_FREE char *safe = escape_safe(line);

        dynbuf_add_str(&b, safe, NULL);
        if (nl == NULL) {
            break;
        }
        dynbuf_add_byte(&b, '\n', 1, NULL);
        p = nl + 1;
    }
    free(text);
    return dynbuf_take(&b, NULL, NULL);
}

/* Text forms of the selected cells, row after row, made safe for FMT:
 * nrows * nsel strings (an array the caller frees with
 * output_free_texts).
 */
static char **
output_texts(const struct output *o, enum output_format fmt,
             const size_t *sel, size_t nsel)
{
    size_t nrows = o->is_list ? o->nrows : (o->ncols ? 1 : 0);
    char **t = xcalloc(nrows * nsel + 1, sizeof(*t));
    size_t r, i;

    for (r = 0; r < nrows; r++) {
        for (i = 0; i < nsel; i++) {
            json_object *v = o->cells[r * o->ncols + sel[i]];
            char *text = output_value_text(v);

            t[r * nsel + i] = output_safe(text ? text : xstrdup(""),
                                          fmt != OUTPUT_VALUE);
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
output_text_formats(struct dynbuf *b, const struct output *o,
                    enum output_format fmt, const size_t *sel, size_t nsel,
                    char **texts)
{
    size_t nrows = o->is_list ? o->nrows : (o->ncols ? 1 : 0);
    size_t r, i;

    if (fmt == OUTPUT_VALUE) {
        for (r = 0; r < nrows; r++) {
            for (i = 0; i < nsel; i++) {
                if (o->is_list && i > 0) {
                    dynbuf_add_byte(b, ' ', 1, NULL);
                }
                dynbuf_add_str(b, texts[r * nsel + i], NULL);
                if (!o->is_list) {
                    dynbuf_add_byte(b, '\n', 1, NULL);
                }
            }
            if (o->is_list) {
                dynbuf_add_byte(b, '\n', 1, NULL);
            }
        }
    } else if (fmt == OUTPUT_SHELL) {
        for (i = 0; i < nsel && nrows > 0; i++) {
            output_put_shell_name(b, o->cols[sel[i]]);
            dynbuf_add_byte(b, '=', 1, NULL);
            output_put_shell_value(b, texts[i]);
            dynbuf_add_byte(b, '\n', 1, NULL);
        }
    } else if (o->is_list) {
        CLEANUP_FREE bool *right = xcalloc(nsel + 1, sizeof(*right));
        CLEANUP_FREE char **header = xcalloc(nsel + 1, sizeof(*header));

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
        CLEANUP_FREE char **rows = xcalloc(2 * nsel + 1, sizeof(*rows));

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
    struct dynbuf b;
    size_t nsel = 0, nrows;
    char **texts = NULL;

    if (o->failed) {
        error_setg(errp, ERR_GENERIC, "output: a field or row was added "
                   "to the wrong kind of result (a bug)");
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
    dynbuf_init(&b, OUTPUT_MAX_TEXT);
    if (fmt == OUTPUT_JSON) {
        output_json(&b, o, sel, nsel);
    } else {
        nrows = o->is_list ? o->nrows : (o->ncols ? 1 : 0);
        texts = output_texts(o, fmt, sel, nsel);
        if (texts) {
            output_text_formats(&b, o, fmt, sel, nsel, texts);
        }
        output_free_texts(texts, nrows * nsel);
    }
    text = dynbuf_take(&b, NULL, errp);
    if (text == NULL) {
        error_prepend(errp, "output: ");
        return -1;
    }
    if (fwrite(text, 1, strlen(text), fp) != strlen(text) || fflush(fp) != 0) {
        error_setg_errno(errp, ERR_IO, errno, "write output");
        return -1;
    }
    return 0;
}
