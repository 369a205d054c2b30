/* vmsnap: the catalog handle: opening, transactions and checks (see
 * catalog.h; how the catalog's files divide the work: catalog-internal.h).
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "log.h"
#include "xalloc.h"

/* ---- Transactions ----------------------------------------------------- */

int
cat_tx_begin(struct catalog *cat, bool write, struct error **errp)
{
    if (cat->depth == 0) {
        if (db_begin(cat->db, write, errp) < 0) {
            return -1;
        }
        cat->aborted = false;
    } else {
        if (cat->aborted || !db_active(cat->db)) {
            cat->aborted = true;
            error_setg(errp, ERR_IO, "catalog %s: transaction was rolled "
                       "back after an earlier error", cat->path);
            return -1;
        }
        if (db_savepoint(cat->db, errp) < 0) {
            return -1;
        }
    }
    cat->depth++;
    return 0;
}

void
cat_tx_rollback(struct catalog *cat)
{
    if (cat->depth == 0) {
        log_warnx("catalog %s: rollback without a transaction", cat->path);
        return;
    }
    /* When the backend has already ended the whole transaction (after a
     * full disk, an I/O error, ...), there is nothing left to undo.
     */
    if (cat->aborted || !db_active(cat->db)) {
        cat->aborted = cat->depth > 1;
        cat->depth--;
        return;
    }
    if (cat->depth == 1) {
        db_rollback(cat->db);
    } else {
        struct error *err = NULL;

        if (db_rollback_to(cat->db, &err) < 0) {
            log_warnx("catalog %s: rollback: %s", cat->path,
                      error_msg(err));
            error_free(err);
            if (db_active(cat->db)) {
                /* The savepoint could not be undone; do not let the
                 * outer transaction commit half of this one.
                 */
                cat->aborted = true;
            }
        }
    }
    cat->depth--;
    if (cat->depth == 0) {
        cat->aborted = false;
    }
}

int
cat_tx_commit(struct catalog *cat, struct error **errp)
{
    int r;

    if (cat->depth == 0) {
        error_setg(errp, ERR_INVALID, "catalog %s: commit without a "
                   "transaction", cat->path);
        return -1;
    }
    if (cat->aborted || !db_active(cat->db)) {
        cat_tx_rollback(cat);
        error_setg(errp, ERR_IO, "catalog %s: transaction was rolled back "
                   "after an earlier error", cat->path);
        return -1;
    }
    r = cat->depth == 1 ? db_commit(cat->db, errp)
                        : db_release(cat->db, errp);
    if (r < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    cat->depth--;
    return 0;
}

int
cat_tx_end(struct catalog *cat, int r, struct error **errp)
{
    if (r < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    return cat_tx_commit(cat, errp);
}

int
cat_tx_end_read(struct catalog *cat, int r)
{
    struct error *err = NULL;

    if (r < 0) {
        cat_tx_rollback(cat);
    } else if (cat_tx_commit(cat, &err) < 0) {
        log_warnx("%s", error_msg(err));
        error_free(err);
    }
    return r;
}

int
catalog_begin(struct catalog *cat, struct error **errp)
{
    return cat_tx_begin(cat, true, errp);
}

int
catalog_commit(struct catalog *cat, struct error **errp)
{
    return cat_tx_commit(cat, errp);
}

void
catalog_rollback(struct catalog *cat)
{
    cat_tx_rollback(cat);
}

/* ---- Opening ---------------------------------------------------------- */

/* Bring the schema to cat_schema_version in a write transaction, unless
 * another process has done it meanwhile.
 */
static int
cat_upgrade(struct catalog *cat, struct error **errp)
{
    int version;

    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    /* Read again under the lock. */
    if (db_schema_version(cat->db, &version, errp) < 0) {
        cat_tx_rollback(cat);
        return -1;
    }
    if (version > cat_schema_version) {
        cat_tx_rollback(cat);
        error_setg(errp, ERR_INVALID, "catalog %s has schema version %d, "
                   "newer than this vmsnap supports (%d)", cat->path,
                   version, cat_schema_version);
        return -1;
    }
    if (version < cat_schema_version) {
        if (cat_migrate_locked(cat, version, errp) < 0 ||
            db_set_schema_version(cat->db, cat_schema_version, errp) < 0) {
            cat_tx_rollback(cat);
            return -1;
        }
        log_debug("catalog", "%s: schema version %d -> %d", cat->path,
                  version, cat_schema_version);
    }
    return cat_tx_commit(cat, errp);
}

struct catalog *
catalog_open(const char *target, struct error **errp)
{
    struct catalog *cat;
    int version = 0;

    cat = xcalloc(1, sizeof(*cat));
    cat->db = db_open(db_ops_for(target), target, CATALOG_BUSY_TIMEOUT_MS,
                      errp);
    if (cat->db == NULL) {
        free(cat);
        return NULL;
    }
    /* Messages name the catalog by its label: a connection string may
     * hold a password.
     */
    cat->path = xstrdup(db_label(cat->db));
    if (db_schema_version(cat->db, &version, errp) < 0) {
        goto fail;
    }
    /* Take the write lock only when the schema needs work. */
    if (version != cat_schema_version && cat_upgrade(cat, errp) < 0) {
        goto fail;
    }
    return cat;

fail:
    catalog_close(cat);
    return NULL;
}

void
catalog_close(struct catalog *cat)
{
    if (cat == NULL) {
        return;
    }
    while (cat->depth > 0) {
        cat_tx_rollback(cat);
    }
    db_close(cat->db);
    free(cat->path);
    free(cat);
}

void
catalog_set_busy_timeout(struct catalog *cat, int ms)
{
    db_set_busy_timeout(cat->db, ms);
}

bool
catalog_target_is_shared(const char *target)
{
    return db_ops_for(target) == &db_pg_ops;
}

bool
catalog_is_shared(const struct catalog *cat)
{
    return strcmp(db_name(cat->db), "pg") == 0;
}

const char *
catalog_label(const struct catalog *cat)
{
    return cat->path;
}

int
catalog_check(struct catalog *cat, struct error **errp)
{
    return db_check(cat->db, errp);
}
