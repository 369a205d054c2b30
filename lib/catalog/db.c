/* vmsnap: the catalog's database connection: dispatch to the backend
 * (see db.h).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "xalloc.h"

struct db {
    const struct db_ops *ops; /* the backend */
    char *target;             /* what it was opened on */
    char *label;              /* what messages call it, or NULL: target */
    void *priv;               /* the backend's state */
};

const struct db_ops *
db_ops_for(const char *target)
{
    const char *p = target;

    if (strncmp(target, "postgresql://", 13) == 0 ||
        strncmp(target, "postgres://", 11) == 0) {
        return &db_pg_ops;
    }
    while (isalpha((unsigned char)*p) || *p == '_') {
        p++;
    }
    while (p > target && (*p == ' ' || *p == '\t')) {
        p++;
    }
    return p > target && *p == '=' ? &db_pg_ops : &db_sqlite_ops;
}

struct db *
db_open(const struct db_ops *ops, const char *target, int busy_ms,
        struct error **errp)
{
    struct db *db = xcalloc(1, sizeof(*db));

    db->target = xstrdup(target);
    db->ops = ops;
    if (ops->open(db, target, busy_ms, &db->priv, errp) < 0) {
        free(db->label);
        free(db->target);
        free(db);
        return NULL;
    }
    return db;
}

void
db_close(struct db *db)
{
    if (db == NULL) {
        return;
    }
    db->ops->close(db);
    free(db->label);
    free(db->target);
    free(db);
}

const char *
db_target(const struct db *db)
{
    return db->target;
}

const char *
db_label(const struct db *db)
{
    return db->label ? db->label : db->target;
}

void
db_set_label(struct db *db, const char *label)
{
    free(db->label);
    db->label = xstrdup(label);
}

const char *
db_name(const struct db *db)
{
    return db->ops->name;
}

void *
db_priv(const struct db *db)
{
    return db->priv;
}

void
db_set_busy_timeout(struct db *db, int ms)
{
    db->ops->set_busy_timeout(db, ms);
}

int
db_exec(struct db *db, const char *sql, struct error **errp)
{
    return db->ops->exec(db, sql, errp);
}

struct db_stmt *
db_prepare(struct db *db, const char *sql, struct error **errp)
{
    struct db_stmt *st = NULL;

    if (db->ops->prepare(db, sql, &st, errp) < 0) {
        return NULL;
    }
    return st;
}

void
db_finalize(struct db_stmt *st)
{
    if (st != NULL) {
        st->db->ops->finalize(st);
    }
}

int
db_bind_null(struct db_stmt *st, int i, struct error **errp)
{
    return st->db->ops->bind_null(st, i, errp);
}

int
db_bind_int64(struct db_stmt *st, int i, int64_t v, struct error **errp)
{
    return st->db->ops->bind_int64(st, i, v, errp);
}

int
db_bind_double(struct db_stmt *st, int i, double v, struct error **errp)
{
    return st->db->ops->bind_double(st, i, v, errp);
}

int
db_bind_text(struct db_stmt *st, int i, const char *s, struct error **errp)
{
    return st->db->ops->bind_text(st, i, s, errp);
}

int
db_step(struct db_stmt *st, struct error **errp)
{
    return st->db->ops->step(st, errp);
}

int
db_reset(struct db_stmt *st, struct error **errp)
{
    return st->db->ops->reset(st, errp);
}

bool
db_column_null(struct db_stmt *st, int col)
{
    return st->db->ops->column_null(st, col);
}

int64_t
db_column_int64(struct db_stmt *st, int col)
{
    return st->db->ops->column_int64(st, col);
}

double
db_column_double(struct db_stmt *st, int col)
{
    return st->db->ops->column_double(st, col);
}

const char *
db_column_text(struct db_stmt *st, int col)
{
    return st->db->ops->column_text(st, col);
}

int64_t
db_changes(struct db *db)
{
    return db->ops->changes(db);
}

int
db_begin(struct db *db, bool write, struct error **errp)
{
    return db->ops->begin(db, write, errp);
}

int
db_commit(struct db *db, struct error **errp)
{
    return db->ops->commit(db, errp);
}

void
db_rollback(struct db *db)
{
    db->ops->rollback(db);
}

int
db_savepoint(struct db *db, struct error **errp)
{
    return db->ops->savepoint(db, errp);
}

int
db_release(struct db *db, struct error **errp)
{
    return db->ops->release(db, errp);
}

int
db_rollback_to(struct db *db, struct error **errp)
{
    return db->ops->rollback_to(db, errp);
}

bool
db_active(struct db *db)
{
    return db->ops->active(db);
}

int
db_schema_version(struct db *db, int *version, struct error **errp)
{
    return db->ops->schema_version(db, version, errp);
}

int
db_set_schema_version(struct db *db, int version, struct error **errp)
{
    return db->ops->set_schema_version(db, version, errp);
}

int
db_migrate(struct db *db, int version, struct error **errp)
{
    if (db->ops->migrate == NULL) {
        return 0;
    }
    return db->ops->migrate(db, version, errp);
}

int
db_check(struct db *db, struct error **errp)
{
    return db->ops->check(db, errp);
}

int
db_now_ms(struct db *db, int64_t *out, struct error **errp)
{
    struct timespec ts;

    if (db->ops->version >= 2 && db->ops->now_ms != NULL) {
        return db->ops->now_ms(db, out, errp);
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    *out = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return 0;
}
