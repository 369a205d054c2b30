/* vmsnap: small helpers of the catalog: statements, messages and the
 * checks of what callers give (see catalog-internal.h).
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "xalloc.h"

/* ---- Statements ------------------------------------------------------- */

int
cat_oom(struct error **errp)
{
    error_setg(errp, ERR_GENERIC, "catalog: out of memory");
    return -1;
}

int
cat_too_long(struct error **errp)
{
    error_setg(errp, ERR_GENERIC, "catalog: a statement grew past %zu bytes",
               CAT_BUF_MAX);
    return -1;
}

struct db_stmt *
cat_prepare(struct catalog *cat, const char *sql, struct error **errp)
{
    return db_prepare(cat->db, sql, errp);
}

/* Bind from parameter FIRST on, as cat_bind. */
static int
cat_vbind(struct db_stmt *st, int first, struct error **errp,
          const char *types, va_list ap)
{
    int i, r = 0;

    for (i = first - 1; types[i - first + 1] != '\0' && r == 0; i++) {
        switch (types[i - first + 1]) {
        case 's':
            r = db_bind_text(st, i + 1, va_arg(ap, const char *), errp);
            break;
        case 'l':
            r = db_bind_int64(st, i + 1, va_arg(ap, int64_t), errp);
            break;
        case 'z': {
            int64_t v = va_arg(ap, int64_t);

            r = v < 0 ? db_bind_null(st, i + 1, errp)
                      : db_bind_int64(st, i + 1, v, errp);
            break;
        }
        case 'i':
            r = db_bind_int64(st, i + 1, va_arg(ap, int), errp);
            break;
        case 'd':
            r = db_bind_double(st, i + 1, va_arg(ap, double), errp);
            break;
        default:
            abort(); /* a bug in the catalog */
        }
    }
    return r;
}

int
cat_bind(struct db_stmt *st, struct error **errp, const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = cat_vbind(st, 1, errp, types, ap);
    va_end(ap);
    return r;
}

int
cat_bind_from(struct db_stmt *st, int first, struct error **errp,
              const char *types, ...)
{
    va_list ap;
    int r;

    va_start(ap, types);
    r = cat_vbind(st, first, errp, types, ap);
    va_end(ap);
    return r;
}

int
cat_step(struct db_stmt *st, struct error **errp)
{
    return db_step(st, errp);
}

int
cat_run(struct catalog *cat, struct db_stmt *st, struct error **errp)
{
    int r = db_step(st, errp);

    if (r > 0) {
        error_setg(errp, ERR_IO, "catalog %s: unexpected row", cat->path);
        return -1;
    }
    return r;
}

int
cat_exec_bound(struct catalog *cat, const char *sql, struct error **errp,
               const char *types, ...)
{
    CLEANUP_STMT struct db_stmt *st = cat_prepare(cat, sql, errp);
    va_list ap;
    int r;

    if (st == NULL) {
        return -1;
    }
    va_start(ap, types);
    r = cat_vbind(st, 1, errp, types, ap);
    va_end(ap);
    if (r < 0) {
        return -1;
    }
    return cat_run(cat, st, errp);
}

int
cat_exec_count(struct catalog *cat, struct error **errp, const char *sql,
               const char *types, ...)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    va_list ap;
    int64_t n;
    int r;

    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, sql, errp);
    r = st != NULL ? 0 : -1;
    if (r == 0) {
        va_start(ap, types);
        r = cat_vbind(st, 1, errp, types, ap);
        va_end(ap);
    }
    if (r < 0 || cat_run(cat, st, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    n = cat_changes(cat);
    if (cat_tx_commit(cat, errp) < 0) {
        return -1;
    }
    return n > INT32_MAX ? INT32_MAX : (int)n;
}

int64_t
cat_changes(struct catalog *cat)
{
    return db_changes(cat->db);
}

int
cat_col_str(struct db_stmt *st, int col, char **out)
{
    const char *s;

    *out = NULL;
    if (db_column_null(st, col)) {
        return 0;
    }
    s = db_column_text(st, col);
    if (s == NULL) {
        return -1;
    }
    *out = xstrdup(s);
    return 0;
}

int
cat_col_id(struct db_stmt *st, int col, char out[UTIL_UUID_LEN])
{
    const char *s = db_column_text(st, col);

    if (s == NULL || strlen(s) != UTIL_UUID_LEN - 1) {
        return -1;
    }
    memcpy(out, s, UTIL_UUID_LEN);
    return 0;
}

bool
cat_norm_id(const char *id, char out[UTIL_UUID_LEN])
{
    size_t i;

    if (!util_is_uuid(id)) {
        return false;
    }
    for (i = 0; i < UTIL_UUID_LEN - 1; i++) {
        out[i] = (char)tolower((unsigned char)id[i]);
    }
    out[UTIL_UUID_LEN - 1] = '\0';
    return true;
}

/* ---- Growing strings -------------------------------------------------- */

void
cat_buf_printf(struct cat_buf *b, const char *fmt, ...)
{
    va_list ap;

    if (b->d.cap == 0) {
        dynbuf_init(&b->d, CAT_BUF_MAX);
    }
    va_start(ap, fmt);
    (void)dynbuf_vprintf(&b->d, NULL, fmt, ap);
    va_end(ap);
}

char *
cat_buf_steal(struct cat_buf *b)
{
    if (b->d.cap == 0) {
        return xstrdup("");
    }
    return dynbuf_take(&b->d, NULL, NULL);
}

/* ---- Messages --------------------------------------------------------- */

bool
cat_status_in(const char *status, const char *const *list, size_t n)
{
    size_t i;

    if (status == NULL) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(status, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

const char *
cat_label(const char *name, const char *id)
{
    return name != NULL && name[0] != '\0' ? name : id;
}

int
cat_not_found(const struct cat_kind *k, const char *id, struct error **errp)
{
    error_setg(errp, ERR_NOT_FOUND, "no %s with ID '%s'", k->noun, id);
    return -1;
}

int
cat_changed(struct catalog *cat, const struct cat_kind *k, const char *id,
            struct error **errp)
{
    if (cat_changes(cat) == 0) {
        return cat_not_found(k, id, errp);
    }
    return 0;
}

/* ---- Checks of what callers give -------------------------------------- */

int
cat_check_id(const char *id, const char *noun, char out[UTIL_UUID_LEN],
             struct error **errp)
{
    if (!cat_norm_id(id, out)) {
        error_setg(errp, ERR_INVALID, "%s ID '%s' is not a UUID", noun,
                   id ? id : "");
        return -1;
    }
    return 0;
}

int
cat_check_ref(const char *ref, const char *noun, char buf[UTIL_UUID_LEN],
              const char **norm, struct error **errp)
{
    *norm = NULL;
    if (ref == NULL) {
        return 0;
    }
    if (cat_check_id(ref, noun, buf, errp) < 0) {
        return -1;
    }
    *norm = buf;
    return 0;
}

int
cat_check_name(const struct cat_kind *k, const char *name,
               struct error **errp)
{
    return catalog_name_check(k->noun, name, errp);
}

int
cat_check_name_required(const struct cat_kind *k, const char *name,
                        struct error **errp)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "%s name must be 1 to %d bytes",
                   k->noun, CATALOG_NAME_MAX);
        return -1;
    }
    return catalog_name_check(k->noun, name, errp);
}

int
cat_check_status(const struct cat_kind *k, const char *status,
                 struct error **errp)
{
    if (!cat_status_in(status, k->statuses, k->nstatuses)) {
        error_setg(errp, ERR_INVALID, "unknown %s status '%s'", k->noun,
                   status ? status : "(none)");
        return -1;
    }
    return 0;
}

int
cat_check_created(const char *created, struct error **errp)
{
    if (created != NULL && !util_is_iso8601(created)) {
        error_setg(errp, ERR_INVALID, "bad creation time '%s'", created);
        return -1;
    }
    return 0;
}

int
cat_check_word(const char *what, const char *s, bool optional,
               struct error **errp)
{
    size_t i, len = s ? strlen(s) : 0;

    if (s == NULL && optional) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
              s[i] == '_')) {
            break;
        }
    }
    if (s == NULL || len == 0 || len > 64 || i < len) {
        error_setg(errp, ERR_INVALID, "%s '%s' is not a word", what,
                   s ? s : "");
        return -1;
    }
    return 0;
}

int
cat_check_item(const char *key, const char *value, const char *noun,
               struct error **errp)
{
    CLEANUP_FREE char *what = NULL;

    if (key == NULL || key[0] == '\0' || strlen(key) > CATALOG_KEY_MAX) {
        error_setg(errp, ERR_INVALID, "%s name must be 1 to %d bytes", noun,
                   CATALOG_KEY_MAX);
        return -1;
    }
    if (catalog_name_check(noun, key, errp) < 0) {
        return -1;
    }
    if (value == NULL) {
        error_setg(errp, ERR_INVALID, "%s '%s' has no value", noun, key);
        return -1;
    }
    if (strlen(value) > CATALOG_VALUE_MAX) {
        error_setg(errp, ERR_INVALID, "%s '%s' is longer than %d bytes",
                   noun, key, CATALOG_VALUE_MAX);
        return -1;
    }
    what = util_strdup_printf("%s '%s'", noun, key);
    return catalog_value_check(what, value, errp);
}

int
cat_check_props(const struct prop *props, size_t n, const char *noun,
                struct error **errp)
{
    size_t i, j;

    if (n > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "too many %s (%zu, at most %d)", noun,
                   n, CATALOG_PROPS_MAX);
        return -1;
    }
    if (n > 0 && props == NULL) {
        error_setg(errp, ERR_INVALID, "%s missing", noun);
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (cat_check_item(props[i].key, props[i].value, noun, errp) < 0) {
            return -1;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(props[i].key, props[j].key) == 0) {
                error_setg(errp, ERR_INVALID, "%s '%s' is given twice",
                           noun, props[i].key);
                return -1;
            }
        }
    }
    return 0;
}

/* ---- Locations -------------------------------------------------------- */

/* True if KEY is a relative path of plain names: components of
 * [A-Za-z0-9._-], none empty, none starting with '.'.
 */
static bool
cat_key_valid(const char *key)
{
    const char *p = key;

    if (*p == '\0') {
        return false;
    }
    while (*p != '\0') {
        const char *start = p;

        if (*p == '.' || *p == '/') {
            return false;
        }
        while (*p != '\0' && *p != '/') {
            if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' &&
                *p != '-') {
                return false;
            }
            p++;
        }
        if (p == start || (*p == '/' && p[1] == '\0')) {
            return false;
        }
        if (*p == '/') {
            p++;
        }
    }
    return true;
}

/* True if LOCATION is "<scheme>:<key>", a scheme of [a-z0-9]. */
static bool
cat_location_valid(const char *location)
{
    const char *p = location;

    while (islower((unsigned char)*p) || isdigit((unsigned char)*p)) {
        p++;
    }
    return p > location && *p == ':' && cat_key_valid(p + 1);
}

int
cat_location(const char *location, const char *file, const char *dir,
             const char *id, char **buf, const char **out,
             struct error **errp)
{
    const char *base, *parent, *ext;
    size_t dirlen = strlen(dir);

    *buf = NULL;
    *out = NULL;
    if (location != NULL) {
        if (!cat_location_valid(location)) {
            error_setg(errp, ERR_INVALID, "bad location '%s'", location);
            return -1;
        }
        *out = location;
        return 0;
    }
    if (file == NULL || (base = strrchr(file, '/')) == NULL ||
        base - file < (ptrdiff_t)dirlen) {
        return 0;
    }
    parent = base - dirlen;
    base++;
    /* ".../DIR/<id>.<ext>": DIR a whole component, <id> the record's. */
    if (strncmp(parent, dir, dirlen) != 0 ||
        (parent > file && parent[-1] != '/') ||
        strncasecmp(base, id, UTIL_UUID_LEN - 1) != 0 ||
        base[UTIL_UUID_LEN - 1] != '.') {
        return 0;
    }
    ext = base + UTIL_UUID_LEN;
    if (*ext == '\0' || strspn(ext, "abcdefghijklmnopqrstuvwxyz0123456789") !=
                            strlen(ext)) {
        return 0;
    }
    *buf = util_strdup_printf("file:%s/%s.%s", dir, id, ext);
    *out = *buf;
    return 0;
}
