/* vmsnap: the catalog's database connection (internal to lib/catalog).
 *
 * The catalog speaks SQL through this seam only.  A backend fills a
 * struct db_ops and is the only code that calls its database library:
 *   sqlite   one SQLite file in WAL mode (db-sqlite.c), the default;
 *   pg       a PostgreSQL server shared by several hosts (db-pg.c, with
 *            libpq).
 * db_ops_for picks one from what the catalog is opened on.
 *
 * The SQL the catalog hands to a backend is portable: it runs unchanged
 * on SQLite and on PostgreSQL.  That means
 *   - parameters are written "?" (numbered in order) or "?N" (N from 1;
 *     one statement uses one style, and numbers leave no gap: PostgreSQL
 *     cannot type a parameter it never sees), and a backend that needs
 *     "$N" rewrites them outside string literals;
 *   - no rowid, no PRAGMA, no WITHOUT ROWID, no "IS" between two values
 *     (write IS NOT DISTINCT FROM), no boolean arithmetic (sum(a = b)),
 *     every subquery in FROM has an alias, WHERE takes a boolean ("1 = 1",
 *     not "1"); INSERT ... ON CONFLICT (...) DO UPDATE SET x = excluded.x
 *     and LIMIT ? are in both;
 *   - types: TEXT, BIGINT for integers, DOUBLE PRECISION for reals,
 *     INTEGER 0/1 with a CHECK for booleans; times are the TEXT of
 *     util_now_iso8601, which sort as strings;
 *   - insertion order is an explicit column (seq), never a row address.
 * What cannot be said portably is a method below (transactions, the
 * schema version, integrity checks) or a backend's own piece of a schema
 * migration (db_ops.migrate).
 *
 * The table is versioned like SQLite's sqlite3_io_methods: a backend sets
 * .version to the DB_OPS_VERSION it was written for, and fields added
 * after that version are not called on it.
 *
 * Errors: every method that can fail takes a struct error ** last and
 * returns -1 (or NULL) with one of these classes, so that the catalog's
 * callers see the same errors whatever the backend (LABEL is db_label,
 * which never shows a password):
 *   ERR_CONFLICT  "catalog is busy" when another connection held a lock
 *                 for the whole busy timeout (or, pg, a transaction had
 *                 to give way to another); "catalog LABEL: WHAT: MSG"
 *                 for a constraint violated (unique, foreign key, check);
 *   ERR_GENERIC   "catalog: out of memory" (sqlite);
 *   ERR_TIMEOUT   "catalog LABEL: WHAT: ..." when the server did not
 *                 answer in time (pg: its statement timeout, or no answer
 *                 at all);
 *   ERR_IO        "catalog LABEL: WHAT: MSG" for anything else (a damaged
 *                 file, a full disk), "cannot connect to catalog LABEL:
 *                 MSG" and "catalog LABEL: WHAT: connection lost: MSG".
 *
 * Writes happen inside begin(write = true) ... commit: a backend may
 * rely on that to serialise writers (pg does).
 *
 * A connection belongs to one thread at a time, is never used across
 * fork(), and every method may block on I/O or, for locks, up to the
 * busy timeout; a pg method blocks at most its statement timeout plus a
 * grace period (see db-pg.c).
 */
#ifndef VMSNAP_DB_H
#define VMSNAP_DB_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define DB_OPS_VERSION 2

struct db;        /* an open connection */
struct db_stmt;   /* a prepared statement of a connection */

struct db_ops {
    int version;             /* DB_OPS_VERSION it implements */
    const char *name;        /* "sqlite", "pg" */

    /* Connect to TARGET (a file name for sqlite, a connection string for
     * pg), creating an empty database if there is none, and wait up to
     * BUSY_MS milliseconds for another connection's locks (here and in
     * every later call, until set_busy_timeout).  *PRIV is the backend's
     * state, returned by db_priv; close frees it and never fails.  A
     * backend whose TARGET may hold a secret calls db_set_label.
     */
    int (*open)(struct db *db, const char *target, int busy_ms, void **priv,
                struct error **errp);
    void (*close)(struct db *db);
    void (*set_busy_timeout)(struct db *db, int ms);

    /* Run fixed SQL without parameters or rows; it may hold several
     * statements separated by ';'.
     */
    int (*exec)(struct db *db, const char *sql, struct error **errp);

    /* Statements.  prepare compiles one statement into *OUT (freed with
     * finalize, which accepts NULL).  The bind methods set parameter I
     * (from 1) until the next bind of I; bind_text copies S, and a NULL
     * S binds NULL.  step runs the statement to its next row: 1 for a
     * row, 0 when done.  reset makes it ready to run again with the same
     * bindings.  The column methods read column COL (from 0) of the
     * current row; a text is borrowed until the next step, reset or
     * finalize, and is NULL for NULL (column_null tells NULL apart).
     */
    int (*prepare)(struct db *db, const char *sql, struct db_stmt **out,
                   struct error **errp);
    void (*finalize)(struct db_stmt *st);
    int (*bind_null)(struct db_stmt *st, int i, struct error **errp);
    int (*bind_int64)(struct db_stmt *st, int i, int64_t v,
                      struct error **errp);
    int (*bind_double)(struct db_stmt *st, int i, double v,
                       struct error **errp);
    int (*bind_text)(struct db_stmt *st, int i, const char *s,
                     struct error **errp);
    int (*step)(struct db_stmt *st, struct error **errp);
    int (*reset)(struct db_stmt *st, struct error **errp);
    bool (*column_null)(struct db_stmt *st, int col);
    int64_t (*column_int64)(struct db_stmt *st, int col);
    double (*column_double)(struct db_stmt *st, int col);
    const char *(*column_text)(struct db_stmt *st, int col);

    /* Rows inserted, changed or deleted by the last statement that
     * finished on this connection.
     */
    int64_t (*changes)(struct db *db);

    /* Transactions.  begin opens one: WRITE takes the write lock at once
     * (so that a read-modify-write inside cannot fail on a stale
     * snapshot, and concurrent writers wait their turn), otherwise it
     * reads one consistent snapshot without blocking writers.  savepoint
     * opens a nested level inside it, release keeps that level's changes
     * and rollback_to undoes them (both end the level).  commit and
     * rollback end the transaction.  active is false when no transaction
     * is open, also when the backend ended one by itself after an error
     * (a full disk, a lost connection): the catalog then refuses to go on
     * with it.  rollback never fails in a way the caller can act on.
     */
    int (*begin)(struct db *db, bool write, struct error **errp);
    int (*commit)(struct db *db, struct error **errp);
    void (*rollback)(struct db *db);
    int (*savepoint)(struct db *db, struct error **errp);
    int (*release)(struct db *db, struct error **errp);
    int (*rollback_to)(struct db *db, struct error **errp);
    bool (*active)(struct db *db);

    /* The schema version the catalog last wrote: 0 for an empty
     * database; ERR_INVALID "TARGET is not a vmsnap catalog" for a
     * database that holds something else.  set_schema_version records V
     * (inside the migration's write transaction).
     */
    int (*schema_version)(struct db *db, int *version, struct error **errp);
    int (*set_schema_version)(struct db *db, int version,
                              struct error **errp);

    /* The backend's own piece of the migration to schema VERSION, run
     * inside its write transaction after the portable SQL of that step
     * and before its data step (cat-schema.c).  Most steps have none:
     * NULL, or return 0.
     */
    int (*migrate)(struct db *db, int version, struct error **errp);

    /* Check that the database is sound (pages, indexes, foreign keys).
     * ERR_IO "catalog is damaged: WHAT" when it is not.
     */
    int (*check)(struct db *db, struct error **errp);

    /* Methods above are valid for version 1. */

    /* The database's clock, in milliseconds since the epoch: the server's
     * for pg, this host's for sqlite.  Leases expire by it
     * (catalog-leases.h), so hosts whose clocks disagree still agree on
     * when a lease has run out.
     */
    int (*now_ms)(struct db *db, int64_t *out, struct error **errp);

    /* Methods above are valid for version 2. */
};

/* The SQLite backend (db-sqlite.c). */
extern const struct db_ops db_sqlite_ops;

/* The PostgreSQL backend (db-pg.c). */
extern const struct db_ops db_pg_ops;

/* The backend for TARGET: pg for a PostgreSQL connection string (a URI
 * "postgresql://..." or "postgres://...", or libpq's "key=value ..."
 * form: TARGET starts with a word of letters and '_' followed by '='),
 * sqlite for anything else (a file name).
 */
const struct db_ops *db_ops_for(const char *target);

/* Every struct db_stmt starts with this, so that the wrappers find the
 * backend.  Backends embed it first and set it in prepare.
 */
struct db_stmt {
    struct db *db;           /* the connection it belongs to */
};

/* Connect through OPS to TARGET (see db_ops.open).  Returns a new
 * connection (free with db_close), or NULL with the backend's error or
 * ERR_GENERIC (out of memory).
 */
struct db *db_open(const struct db_ops *ops, const char *target, int busy_ms,
                   struct error **errp);

/* Close DB (NULL is allowed); an open transaction is rolled back. */
void db_close(struct db *db);

/* What DB was opened on, what messages call it (its target, unless the
 * backend set a label without secrets), its backend's name and the
 * backend's private state; borrowed from DB.
 */
const char *db_target(const struct db *db);
const char *db_label(const struct db *db);
const char *db_name(const struct db *db);
void *db_priv(const struct db *db);

/* For a backend's open: messages call DB LABEL (copied) from now on. */
void db_set_label(struct db *db, const char *label);

/* The calls, one per method (see struct db_ops).  db_prepare returns the
 * statement or NULL.  A method the backend does not have (migrate) does
 * nothing and succeeds.
 */
void db_set_busy_timeout(struct db *db, int ms);
int db_exec(struct db *db, const char *sql, struct error **errp);
struct db_stmt *db_prepare(struct db *db, const char *sql,
                           struct error **errp);
void db_finalize(struct db_stmt *st);
int db_bind_null(struct db_stmt *st, int i, struct error **errp);
int db_bind_int64(struct db_stmt *st, int i, int64_t v, struct error **errp);
int db_bind_double(struct db_stmt *st, int i, double v, struct error **errp);
int db_bind_text(struct db_stmt *st, int i, const char *s,
                 struct error **errp);
int db_step(struct db_stmt *st, struct error **errp);
int db_reset(struct db_stmt *st, struct error **errp);
bool db_column_null(struct db_stmt *st, int col);
int64_t db_column_int64(struct db_stmt *st, int col);
double db_column_double(struct db_stmt *st, int col);
const char *db_column_text(struct db_stmt *st, int col);
int64_t db_changes(struct db *db);
int db_begin(struct db *db, bool write, struct error **errp);
int db_commit(struct db *db, struct error **errp);
void db_rollback(struct db *db);
int db_savepoint(struct db *db, struct error **errp);
int db_release(struct db *db, struct error **errp);
int db_rollback_to(struct db *db, struct error **errp);
bool db_active(struct db *db);
int db_schema_version(struct db *db, int *version, struct error **errp);
int db_set_schema_version(struct db *db, int version, struct error **errp);
int db_migrate(struct db *db, int version, struct error **errp);
int db_check(struct db *db, struct error **errp);
int db_now_ms(struct db *db, int64_t *out, struct error **errp);

#endif
