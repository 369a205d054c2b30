/* vmsnap tests: what the catalog's test programs share
 * (test-catalog-util.c).  Each program works on catalogs in a temporary
 * directory of its own.
 */
#ifndef VMSNAP_TEST_CATALOG_H
#define VMSNAP_TEST_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "error.h"

/* The schema version this catalog module writes. */
#define SCHEMA_VERSION 4

/* A UUID that no record of the tests has. */
#define NO_SUCH_ID "1b4e28ba-2fa1-41d2-883f-0016d3cca427"

extern char tmpdir[64];  /* the test's temporary directory */
extern char *db_path;    /* the main catalog in it */

/* Make the temporary directory of test program NAME and set db_path;
 * bail out (exit) if that fails.
 */
void tc_setup(const char *name);

/* Open the main catalog, or bail out. */
struct catalog *tc_open(void);

/* Remove the temporary directory and its files. */
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

/* Run fixed SQL on the database file PATH directly and return the
 * integer in the first column of the first row, or -1; or its text, or
 * "" (a static buffer).
 */
int64_t raw_int(const char *path, const char *sql);
const char *raw_text(const char *path, const char *sql);

#endif
