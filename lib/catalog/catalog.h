/* vmsnap: the catalog of images, instances, volumes, volume snapshots,
 * tasks, projects and users.
 *
 * The records are plain structs (model.h); this header and the ones it
 * includes hold the functions that keep them:
 *   catalog.h             the handle, transactions, checks;
 *   catalog-images.h      images: properties, tags, the volume snapshots
 *                         they are made of, targeted writes;
 *   catalog-instances.h   instances, their metadata and actions;
 *   catalog-volumes.h     volumes and volume snapshots;
 *   catalog-tasks.h       tasks (long work and its progress);
 *   catalog-identity.h    projects, users, roles and tokens;
 *   catalog-flavors.h     flavors (sizes of servers);
 *   catalog-leases.h      leases, the locks of a catalog several hosts
 *                         share.
 * Including catalog.h includes them all.
 *
 * The catalog is one SQLite database file in WAL mode (the default), or
 * a PostgreSQL database shared by several hosts (the SQL stays behind
 * lib/catalog/db.h, whose backends db-sqlite.c and db-pg.c say how each
 * keeps these rules).  Several vmsnap processes may use the same catalog
 * at once: writers take the write lock (SQLite's BEGIN IMMEDIATE, an
 * advisory lock in PostgreSQL) and wait up to the busy timeout (30 s by
 * default) for each other; after that an operation fails with
 * ERR_CONFLICT "catalog is busy".  Readers never wait for writers.
 *
 * Every function that takes a struct catalog * blocks on file or network
 * I/O and, when another process holds the write lock, for up to the busy
 * timeout.  With PostgreSQL, a server that does not answer is waited for
 * at most its statement timeout plus a grace period (ERR_TIMEOUT), a
 * lost connection is ERR_IO (the open transaction, if any, is over) and
 * the next call connects again (see db-pg.c).
 * A struct catalog belongs to one thread at a time and must not be used
 * across fork(): a child opens its own.
 *
 * Each catalog_* call is atomic on its own.  Inside catalog_begin ...
 * catalog_commit several calls become one transaction; a call that fails
 * inside it undoes only its own changes, and the caller decides whether
 * to commit the rest or roll back.
 *
 * Writes.  No engine path should write back a whole record it read
 * earlier: another process may have changed it meanwhile, and the write
 * would undo that (the lost update of issue 8).  Statuses move by
 * compare-and-set (catalog_image_transition and its kin), data facts are
 * set on their own (catalog_image_set_data), user edits are one-
 * transaction patches (catalog_image_patch, catalog_instance_set_meta),
 * and what follows a hypervisor domain is set on its own
 * (catalog_instance_set_shape).  There is no whole-record update.
 *
 * Records returned to the caller are plain copies: the caller owns them
 * and frees them with image_free, instance_free, ... (model.h).  Records
 * passed in are borrowed for the call.
 */
#ifndef VMSNAP_CATALOG_H
#define VMSNAP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "model.h"
#include "util.h"

/* Default time to wait for another process's write lock. */
#define CATALOG_BUSY_TIMEOUT_MS 30000

struct catalog;

/* One key/value item that a listed record must carry with exactly this
 * value.
 */
struct catalog_match {
    const char *key;   /* property or metadata name */
    const char *value; /* required value */
};

/* ---- The database ----------------------------------------------------- */

/* Open the catalog at TARGET: an SQLite file, or a PostgreSQL connection
 * string (a URI "postgresql://...", or libpq's "key=value ..." form; see
 * db_ops_for), creating the schema if there is none and upgrading an
 * older schema to the current one (cat-schema.c says what each version
 * adds).  A new catalog has a default project (catalog_project_default).
 * An SQLite file's directory must exist.  On a full disk the file is
 * opened for this process alone, so that it can be read (and space
 * freed); other processes wait until it is closed.
 * Returns a new handle (free with catalog_close), or NULL with ERR_IO
 * (the file cannot be opened or is damaged, the server cannot be
 * reached), ERR_INVALID (not a vmsnap catalog, a schema newer than this
 * program, a malformed connection string), ERR_TIMEOUT (the server did
 * not answer) or ERR_CONFLICT (busy).
 */
struct catalog *catalog_open(const char *target, struct error **errp);

/* Would catalog_open(TARGET) open a catalog that several hosts share (a
 * PostgreSQL connection string)?
 */
bool catalog_target_is_shared(const char *target);

/* Is CAT shared by several hosts (PostgreSQL)? */
bool catalog_is_shared(const struct catalog *cat);

/* What messages call CAT: its file, or its server and database (never a
 * password).  Borrowed from CAT.
 */
const char *catalog_label(const struct catalog *cat);

/* Close CAT, rolling back any transaction still open.  NULL is allowed. */
void catalog_close(struct catalog *cat);

/* Wait at most MS milliseconds for another process's lock before failing
 * with "catalog is busy" (ms <= 0: fail at once).
 */
void catalog_set_busy_timeout(struct catalog *cat, int ms);

/* Start a write transaction: from here to the matching catalog_commit or
 * catalog_rollback no other process can write, so a read-modify-write is
 * safe.  Calls nest: an inner begin opens a savepoint, and only the
 * outermost commit makes the changes durable.
 * Returns 0, or -1 with ERR_CONFLICT if the catalog stayed busy for the
 * whole timeout, or ERR_IO.
 */
int catalog_begin(struct catalog *cat, struct error **errp);

/* End the innermost transaction, keeping its changes.  If the outermost
 * commit fails, everything is rolled back.  Returns 0, or -1 with ERR_IO
 * or ERR_CONFLICT; on failure the transaction is over either way.
 */
int catalog_commit(struct catalog *cat, struct error **errp);

/* End the innermost transaction, undoing its changes.  Cannot fail in a
 * way the caller can act on (problems are logged).
 */
void catalog_rollback(struct catalog *cat);

/* Run the database's integrity and foreign key checks.  Returns 0 when
 * both pass, or -1 with ERR_IO "catalog is damaged: <first problem>".
 */
int catalog_check(struct catalog *cat, struct error **errp);

#include "catalog-flavors.h"
#include "catalog-identity.h"
#include "catalog-images.h"
#include "catalog-instances.h"
#include "catalog-leases.h"
#include "catalog-tasks.h"
#include "catalog-volumes.h"

#endif
