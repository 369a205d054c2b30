/* vmsnap tests: what the catalog's test programs share
 * (test-catalog-util.c).
 *
 * The programs run against SQLite (catalog files in a temporary directory
 * of their own) or, when VMSNAP_TEST_CATALOG holds a PostgreSQL
 * connection string, against that server: each catalog a test makes is
 * then a schema of its own in that database (options='-c
 * search_path=...'), dropped at the end.  The same checks run on both;
 * the few that are about one engine (files, pragmas, a full disk,
 * connections) say so.
 */
#ifndef VMSNAP_TEST_CATALOG_H
#define VMSNAP_TEST_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"

/* The schema version this catalog module writes. */
#define SCHEMA_VERSION 5

/* A UUID that no record of the tests has. */
#define NO_SUCH_ID "1b4e28ba-2fa1-41d2-883f-0016d3cca427"

extern char tmpdir[64];  /* the test's temporary directory */
extern char *db_path;    /* the main catalog: a file in it, or a
                          * PostgreSQL connection string */
extern bool tc_pg;       /* the catalogs are PostgreSQL's */

/* Make the temporary directory of test program NAME and set db_path;
 * bail out (exit) if that fails.
 */
void tc_setup(const char *name);

/* A new, empty catalog target named NAME (a word): the file NAME.db in
 * the temporary directory, or a new schema of the test database.
 * Caller frees; bails out when it cannot be made.
 */
char *tc_target(const char *name);

/* The PostgreSQL connection string CONN with MORE added to its options
 * ("-c statement_timeout=1000"); caller frees.
 */
char *tc_conn_with_options(const char *conn, const char *more);

/* Open the main catalog, or bail out. */
struct catalog *tc_open(void);

/* Remove the temporary directory and its files, and the schemas the test
 * made.
 */
void remove_tmpdir(void);

/* strdup that aborts when memory runs out; NULL gives NULL.  (Not named
 * xstrdup: the library has one, xalloc.h, and the programs link both.)
 */
char *tc_strdup(const char *s);

/* New records with a fresh ID, not yet in the catalog: an image, an
 * instance booted from IMAGE_ID, a detached available volume, an
 * available snapshot of VOLUME_ID.
 */
struct image *new_image(const char *name, const char *status);
struct instance *new_instance(const char *name, const char *image_id);
struct volume *new_volume(const char *name, int64_t size);
struct volume_snapshot *new_snapshot(const char *name,
                                     const char *volume_id);

/* Read image ID from CAT, or NULL (reported with diag). */
struct image *tc_image(struct catalog *cat, const char *id);

/* True if A and B are equal strings, or both NULL. */
bool streq(const char *a, const char *b);

/* True if ERR is set with class CLS (and, if WANT is not NULL, exactly
 * that message).  Frees ERR and clears it.
 */
bool err_is(struct error **err, enum error_class cls, const char *want);

/* Report and clear an unexpected error; true if there was none. */
bool no_err(struct error **err);

/* Run fixed SQL on the database at TARGET directly (through the
 * database seam, below the catalog) and return the integer in the first
 * column of the first row, or -1; or its text, or "" (a static buffer).
 */
int64_t raw_int(const char *target, const char *sql);
const char *raw_text(const char *target, const char *sql);

/* The schema version the database at TARGET records, or -1. */
int raw_schema_version(const char *target);

/* Record schema version V at TARGET (to fake an old or a newer
 * catalog).  True when it worked.
 */
bool raw_set_schema_version(const char *target, int v);

/* Make at TARGET what an older vmsnap made: run SQL (SQLite's dialect of
 * that time; for PostgreSQL its WITHOUT ROWID and PRAGMA statements are
 * left out) and record schema version V.  True when it worked.
 */
bool raw_make_old(const char *target, const char *sql, int v);

#endif
