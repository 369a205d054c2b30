/* vmsnap: records of any kind, from the description of their kind
 * (struct cat_kind): read, listed, found, and what uses them (see
 * catalog-internal.h).  Writes are in cat-write.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "xalloc.h"

/* ---- Records in memory ------------------------------------------------ */

/* The member at OFFSET of the record REC. */
static void *
cat_member(void *rec, size_t offset)
{
    return (char *)rec + offset;
}

void
cat_record_free(const struct cat_kind *k, void *rec)
{
    k->free(rec);
}

void
cat_list_free(const struct cat_kind *k, void **list, size_t n)
{
    size_t i;

    if (list == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        k->free(list[i]);
    }
    free(list);
}

/* ---- Rows into arrays ------------------------------------------------- */

int
cat_rows(struct catalog *cat, struct db_stmt *st,
         const struct cat_row_reader *rd, const void *ctx, void **out,
         size_t *n, struct error **errp)
{
    char *list = NULL;
    size_t count = 0, cap = 0, i;
    int r;

    while ((r = cat_step(st, errp)) > 0) {
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            list = xreallocarray(list, ncap, rd->size);
            cap = ncap;
        }
        memset(list + count * rd->size, 0, rd->size);
        r = rd->read(cat, st, list + count * rd->size, ctx, errp);
        count++;
        if (r < 0) {
            break;
        }
    }
    if (r < 0) {
        for (i = 0; i < count; i++) {
            rd->clear(list + i * rd->size, ctx);
        }
        free(list);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

/* ---- Reading records -------------------------------------------------- */

/* Build a record of kind K from the current row of ST, whose columns are
 * those of K->cols in order, and read its key/value set and the rest.
 * Returns it (free with cat_record_free), or NULL with an error.
 */
static void *
cat_record_read(struct catalog *cat, const struct cat_kind *k,
                struct db_stmt *st, struct error **errp)
{
    void *rec = xcalloc(1, k->size);
    size_t i;

    for (i = 0; i < k->ncols; i++) {
        void *member = cat_member(rec, k->cols[i].offset);
        int col = (int)i, r = 0;
        bool null = db_column_null(st, col);

        switch (k->cols[i].type) {
        case CAT_COL_ID:
            r = cat_col_id(st, col, member);
            break;
        case CAT_COL_TEXT:
            r = cat_col_str(st, col, member);
            break;
        case CAT_COL_INT64:
            *(int64_t *)member = db_column_int64(st, col);
            break;
        case CAT_COL_INT64_OPT:
            *(int64_t *)member = null ? -1 : db_column_int64(st, col);
            break;
        case CAT_COL_INT:
            *(int *)member = (int)db_column_int64(st, col);
            break;
        case CAT_COL_INT_OPT:
            *(int *)member = null ? -1 : (int)db_column_int64(st, col);
            break;
        case CAT_COL_BOOL:
            *(bool *)member = db_column_int64(st, col) != 0;
            break;
        case CAT_COL_DOUBLE:
            *(double *)member = db_column_double(st, col);
            break;
        }
        if (r < 0) {
            k->free(rec);
            cat_oom(errp);
            return NULL;
        }
    }
    if ((k->item != NULL &&
         cat_load_kv(cat, &k->kv, cat_member(rec, k->cols[0].offset),
                     cat_member(rec, k->kv_offset),
                     cat_member(rec, k->nkv_offset), errp) < 0) ||
        (k->read_more != NULL && k->read_more(cat, rec, errp) < 0)) {
        k->free(rec);
        return NULL;
    }
    return rec;
}

/* ---- Queries ---------------------------------------------------------- */

int
cat_query_add(struct cat_query *q, const char *sql, int n, const char *v1,
              const char *v2, struct error **errp)
{
    struct cat_cond *c;

    if (q->nconds == CAT_NELEMS(q->conds)) {
        error_setg(errp, ERR_INVALID, "too many filters");
        return -1;
    }
    c = &q->conds[q->nconds++];
    c->sql = sql;
    c->nvalues = n;
    c->values[0] = v1;
    c->values[1] = v2;
    c->values[2] = NULL;
    return 0;
}

int
cat_query_eq(struct cat_query *q, const char *col, const char *value,
             struct error **errp)
{
    /* The fragments, so that no SQL text is built for a column name. */
    static const char *const frags[][2] = {
        { "name", " AND r.name = ?" },
        { "status", " AND r.status = ?" },
        { "state", " AND r.state = ?" },
        { "owner", " AND r.owner = ?" },
        { "visibility", " AND r.visibility = ?" },
        { "project_id", " AND r.project_id = ?" },
        { "host", " AND r.host = ?" },
        { "image_id", " AND r.image_id = ?" },
        { "instance_id", " AND r.instance_id = ?" },
        { "volume_id", " AND r.volume_id = ?" },
        { "kind", " AND r.kind = ?" },
        { "target_kind", " AND r.target_kind = ?" },
        { "target_id", " AND r.target_id = ?" },
    };
    size_t i;

    if (value == NULL) {
        return 0;
    }
    for (i = 0; i < CAT_NELEMS(frags); i++) {
        if (strcmp(frags[i][0], col) == 0) {
            return cat_query_add(q, frags[i][1], 1, value, NULL, errp);
        }
    }
    abort(); /* a bug in the catalog: add the column above */
}

int
cat_query_match(struct cat_query *q, const struct cat_kind *k,
                const struct catalog_match *match, size_t n,
                struct error **errp)
{
    size_t i;

    if (n > 0 && match == NULL) {
        error_setg(errp, ERR_INVALID, "%s filters missing", k->filter);
        return -1;
    }
    if (n > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID, "too many %s filters (%zu, at most "
                   "%d)", k->filter, n, CATALOG_PROPS_MAX);
        return -1;
    }
    if (n > 0 && k->kv.match == NULL) {
        abort(); /* a bug in the catalog */
    }
    for (i = 0; i < n; i++) {
        if (match[i].key == NULL || match[i].value == NULL) {
            error_setg(errp, ERR_INVALID, "%s filter without a key or a "
                       "value", k->filter);
            return -1;
        }
        if (cat_query_add(q, k->kv.match, 2, match[i].key, match[i].value,
                          errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Append to SQL the condition that selects the records after MARKER (an
 * ID of kind K that exists) in newest-first order, and to VALUES its
 * values.
 */
static int
cat_select_marker(struct catalog *cat, const struct cat_kind *k,
                  const char *marker, struct cat_buf *sql,
                  const char **values, size_t *nvalues, char *buf,
                  struct error **errp)
{
    int r;

    if (k->order != NULL) {
        abort(); /* a bug in the catalog: paging needs the default order */
    }
    r = cat_norm_id(marker, buf) ? cat_exists_locked(cat, k, buf, errp) : 0;
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        error_setg(errp, ERR_INVALID, "no %s with ID '%s' to list after",
                   k->noun, marker);
        return -1;
    }
    cat_buf_printf(sql, " AND (r.created_at < (SELECT m.created_at FROM %s "
                   "AS m WHERE m.id = ?) OR (r.created_at = (SELECT "
                   "m.created_at FROM %s AS m WHERE m.id = ?) AND r.seq < "
                   "(SELECT m.seq FROM %s AS m WHERE m.id = ?)))", k->table,
                   k->table, k->table);
    values[(*nvalues)++] = buf;
    values[(*nvalues)++] = buf;
    values[(*nvalues)++] = buf;
    return 0;
}

struct db_stmt *
cat_select(struct catalog *cat, const struct cat_kind *k,
           const struct cat_query *q, struct error **errp)
{
    const char *values[1 + 3 * CAT_QUERY_CONDS + 3];
    struct cat_buf sql = { 0 };
    CLEANUP_FREE char *text = NULL;
    char marker[UTIL_UUID_LEN];
    struct db_stmt *st;
    size_t nvalues = 0, i;
    int j, r = 0;

    /* Only fixed fragments and the names in K go into the text; every
     * value is bound.
     */
    cat_buf_printf(&sql, "SELECT");
    for (i = 0; i < k->ncols; i++) {
        cat_buf_printf(&sql, "%s r.%s", i > 0 ? "," : "", k->cols[i].name);
    }
    cat_buf_printf(&sql, " FROM %s AS r WHERE 1 = 1", k->table);
    if (q->id != NULL) {
        cat_buf_printf(&sql, " AND r.id = ?");
        values[nvalues++] = q->id;
    }
    for (i = 0; i < q->nconds; i++) {
        cat_buf_printf(&sql, "%s", q->conds[i].sql);
        for (j = 0; j < q->conds[i].nvalues; j++) {
            values[nvalues++] = q->conds[i].values[j];
        }
    }
    if (q->marker != NULL &&
        cat_select_marker(cat, k, q->marker, &sql, values, &nvalues, marker,
                          errp) < 0) {
        free(cat_buf_steal(&sql));
        return NULL;
    }
    cat_buf_printf(&sql, "%s", q->order ? q->order
                   : k->order ? k->order
                   : " ORDER BY r.created_at DESC, r.seq DESC");
    if (q->limit > 0) {
        cat_buf_printf(&sql, " LIMIT ?");
    }
    text = cat_buf_steal(&sql);
    if (text == NULL) {
        cat_too_long(errp);
        return NULL;
    }
    st = cat_prepare(cat, text, errp);
    if (st == NULL) {
        return NULL;
    }
    for (i = 0; i < nvalues && r == 0; i++) {
        r = db_bind_text(st, (int)i + 1, values[i], errp);
    }
    if (r == 0 && q->limit > 0) {
        r = db_bind_int64(st, (int)nvalues + 1, q->limit, errp);
    }
    if (r < 0) {
        db_finalize(st);
        return NULL;
    }
    return st;
}

int
cat_get_locked(struct catalog *cat, const struct cat_kind *k, const char *id,
               void **out, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char nid[UTIL_UUID_LEN];
    struct cat_query q = { .id = nid };
    void *rec;
    int r;

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(k, id, errp);
    }
    st = cat_select(cat, k, &q, errp);
    if (st == NULL) {
        return -1;
    }
    r = cat_step(st, errp);
    if (r < 0) {
        return -1;
    }
    if (r == 0) {
        return cat_not_found(k, id, errp);
    }
    rec = cat_record_read(cat, k, st, errp);
    if (rec == NULL) {
        return -1;
    }
    *out = rec;
    return 0;
}

/* Read a row of a query of kind CTX into a record (a pointer element). */
static int
cat_read_record(struct catalog *cat, struct db_stmt *st, void *elem,
                const void *ctx, struct error **errp)
{
    void **rec = elem;

    *rec = cat_record_read(cat, ctx, st, errp);
    return *rec != NULL ? 0 : -1;
}

/* Free a record of kind CTX (NULL when it could not be read). */
static void
cat_clear_record(void *elem, const void *ctx)
{
    const struct cat_kind *k = ctx;
    void **rec = elem;

    if (*rec != NULL) {
        k->free(*rec);
    }
}

int
cat_list_locked(struct catalog *cat, const struct cat_kind *k,
                const struct cat_query *q, void ***out, size_t *n,
                struct error **errp)
{
    static const struct cat_row_reader rd = {
        .size = sizeof(void *),
        .read = cat_read_record,
        .clear = cat_clear_record,
    };
    CLEANUP_STMT struct db_stmt *st = cat_select(cat, k, q, errp);
    void **list = NULL;
    size_t count = 0;

    if (st == NULL ||
        cat_rows(cat, st, &rd, k, (void **)&list, &count, errp) < 0) {
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

int
cat_get(struct catalog *cat, const struct cat_kind *k, const char *key,
        bool by_name, void **out, struct error **errp)
{
    char id[UTIL_UUID_LEN];
    int r;

    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    r = by_name ? cat_find_id_locked(cat, k, key, id, errp) : 0;
    if (r == 0) {
        r = cat_get_locked(cat, k, by_name ? id : key, out, errp);
    }
    return cat_tx_end_read(cat, r);
}

int
cat_list(struct catalog *cat, const struct cat_kind *k,
         const struct cat_query *q, void ***out, size_t *n,
         struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    return cat_tx_end_read(cat, cat_list_locked(cat, k, q, out, n, errp));
}

/* ---- Finding records -------------------------------------------------- */

int
cat_exists_locked(struct catalog *cat, const struct cat_kind *k,
                  const char *id, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char sql[CAT_SQL_LEN];

    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?1", k->table);
    st = cat_prepare(cat, sql, errp);
    if (st == NULL || cat_bind(st, errp, "s", id) < 0) {
        return -1;
    }
    return cat_step(st, errp);
}

int
cat_must_exist_locked(struct catalog *cat, const struct cat_kind *k,
                      const char *id, const char *given, struct error **errp)
{
    int r = cat_exists_locked(cat, k, id, errp);

    if (r == 0) {
        return cat_not_found(k, given, errp);
    }
    return r < 0 ? -1 : 0;
}

int
cat_id_unused_locked(struct catalog *cat, const struct cat_kind *k,
                     const char *id, struct error **errp)
{
    int r = cat_exists_locked(cat, k, id, errp);

    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "%s ID '%s' already exists", k->noun,
                   id);
        return -1;
    }
    return r;
}

int
cat_name_unused_locked(struct catalog *cat, const struct cat_kind *k,
                       const char *name, const char *id, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char sql[CAT_SQL_LEN];
    int r;

    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE name = ?1 "
             "AND id <> ?2", k->table);
    st = cat_prepare(cat, sql, errp);
    if (st == NULL || cat_bind(st, errp, "ss", name, id) < 0) {
        return -1;
    }
    r = cat_step(st, errp);
    if (r > 0) {
        error_setg(errp, ERR_CONFLICT, "%s name '%s' already exists",
                   k->noun, name);
        return -1;
    }
    return r;
}

int
cat_find_id_locked(struct catalog *cat, const struct cat_kind *k,
                   const char *name_or_id, char out[UTIL_UUID_LEN],
                   struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char id[UTIL_UUID_LEN];
    char first[UTIL_UUID_LEN] = "";
    struct cat_buf ids = { 0 };
    CLEANUP_FREE char *list = NULL;
    size_t count = 0;
    int r;

    if (name_or_id == NULL) {
        error_setg(errp, ERR_INVALID, "no %s name or ID given", k->noun);
        return -1;
    }
    if (cat_norm_id(name_or_id, id)) {
        r = cat_exists_locked(cat, k, id, errp);
        if (r < 0) {
            return -1;
        }
        if (r > 0) {
            memcpy(out, id, UTIL_UUID_LEN);
            return 0;
        }
    }
    st = cat_prepare(cat, k->by_name, errp);
    if (st == NULL || cat_bind(st, errp, "s", name_or_id) < 0) {
        return -1;
    }
    while ((r = cat_step(st, errp)) > 0) {
        const char *s = db_column_text(st, 0);

        if (s == NULL) {
            free(cat_buf_steal(&ids));
            return cat_oom(errp);
        }
        if (count == 0) {
            snprintf(first, sizeof(first), "%s", s);
        }
        cat_buf_printf(&ids, "%s%s", count ? ", " : "", s);
        count++;
    }
    list = cat_buf_steal(&ids);
    if (r < 0) {
        return -1;
    }
    if (count == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no %s named or with ID '%s'",
                   k->noun, name_or_id);
        return -1;
    }
    if (count > 1) {
        error_setg(errp, ERR_CONFLICT, "%s name '%s' is ambiguous: %s",
                   k->noun, name_or_id, list ? list : "(too many to list)");
        return -1;
    }
    memcpy(out, first, UTIL_UUID_LEN);
    return 0;
}

struct db_stmt *
cat_row_locked(struct catalog *cat, const struct cat_kind *k,
               const char *sql, const char *id, const char *given,
               struct error **errp)
{
    struct db_stmt *st = cat_prepare(cat, sql, errp);
    int r = -1;

    if (st != NULL && cat_bind(st, errp, "s", id) == 0) {
        r = cat_step(st, errp);
        if (r == 0) {
            cat_not_found(k, given, errp);
        }
    }
    if (r <= 0) {
        db_finalize(st);
        return NULL;
    }
    return st;
}

/* ---- What uses a record ----------------------------------------------- */

void
cat_describe(struct cat_buf *b, const char *noun, struct db_stmt *st,
             int id_col, int name_col)
{
    const char *id = db_column_text(st, id_col);
    const char *name = db_column_text(st, name_col);

    if (id == NULL) {
        id = "?";
    }
    if (name != NULL) {
        cat_buf_printf(b, "%s %s (%s)", noun, name, id);
    } else {
        cat_buf_printf(b, "%s %s", noun, id);
    }
}

int
cat_users_locked(struct catalog *cat, const struct cat_users_query *queries,
                 size_t n, const char *id, struct cat_buf *b,
                 struct error **errp)
{
    size_t q;
    int count = 0, r;

    for (q = 0; q < n; q++) {
        CLEANUP_STMT struct db_stmt *st = cat_prepare(cat, queries[q].sql,
                                                      errp);

        if (st == NULL || cat_bind(st, errp, "s", id) < 0) {
            return -1;
        }
        while ((r = cat_step(st, errp)) > 0) {
            const char *key;

            if (count > 0) {
                cat_buf_printf(b, ", ");
            }
            cat_describe(b, queries[q].noun, st, 0, 1);
            if (queries[q].via > 0) {
                key = db_column_text(st, 2);
                cat_buf_printf(b, " via ");
                if (queries[q].via == 2) {
                    cat_describe(b, "image", st, 3, 4);
                    cat_buf_printf(b, " ");
                }
                cat_buf_printf(b, "%s", key ? key : "?");
            }
            count++;
        }
        if (r < 0) {
            return -1;
        }
    }
    return count;
}
