/* vmsnap tests: what the catalog's test programs share (see
 * test-catalog.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cleanup.h"
#include "tap.h"
#include "test-catalog.h"
#include "util.h"

char tmpdir[64];
char *db_path;

void
tc_setup(const char *name)
{
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/vmsnap-%s.XXXXXX",
             base && *base && strlen(base) < 20 ? base : "/tmp", name);
    if (mkdtemp(tmpdir) == NULL) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        exit(1);
    }
    db_path = util_path_join(tmpdir, "catalog.db");
    if (db_path == NULL) {
        abort();
    }
}

struct image *
tc_image(struct catalog *cat, const char *id)
{
    struct error *err = NULL;
    struct image *img = NULL;

    if (catalog_image_get(cat, id, &img, &err) < 0) {
        diag("get image %s: %s", id, error_msg(err));
        error_free(err);
        return NULL;
    }
    return img;
}

struct catalog *
tc_open(void)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);

    if (cat == NULL) {
        printf("Bail out! %s\n", error_msg(err));
        error_free(err);
        remove_tmpdir();
        exit(1);
    }
    return cat;
}

char *
tc_strdup(const char *s)
{
    char *p = s ? strdup(s) : NULL;

    if (s != NULL && p == NULL) {
        abort();
    }
    return p;
}

/* A new image record with a fresh ID (not yet in the catalog). */
struct image *
new_image(const char *name, const char *status)
{
    struct image *img = calloc(1, sizeof(*img));

    if (img == NULL) {
        abort();
    }
    util_uuid_new(img->id);
    img->name = tc_strdup(name);
    img->status = tc_strdup(status);
    img->disk_format = tc_strdup("qcow2");
    img->container_format = tc_strdup("bare");
    img->size = -1;
    img->virtual_size = -1;
    return img;
}

struct instance *
new_instance(const char *name, const char *image_id)
{
    struct instance *inst = calloc(1, sizeof(*inst));

    if (inst == NULL) {
        abort();
    }
    util_uuid_new(inst->id);
    inst->name = tc_strdup(name);
    inst->image_id = tc_strdup(image_id);
    inst->memory_mb = 512;
    inst->cpus = 1;
    return inst;
}

/* A new detached, available volume with a fresh ID. */
struct volume *
new_volume(const char *name, int64_t size)
{
    struct volume *vol = calloc(1, sizeof(*vol));

    if (vol == NULL) {
        abort();
    }
    util_uuid_new(vol->id);
    vol->name = tc_strdup(name);
    vol->status = tc_strdup("available");
    vol->size = size;
    vol->device_index = -1;
    return vol;
}

/* A new available snapshot of volume VOLUME_ID with a fresh ID. */
struct volume_snapshot *
new_snapshot(const char *name, const char *volume_id)
{
    struct volume_snapshot *snap = calloc(1, sizeof(*snap));

    if (snap == NULL) {
        abort();
    }
    util_uuid_new(snap->id);
    snap->name = tc_strdup(name);
    snap->volume_id = tc_strdup(volume_id);
    snap->status = tc_strdup("available");
    snap->size = 1 << 20;
    return snap;
}

bool
streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }
    return strcmp(a, b) == 0;
}

/* True if ERR is set with class CLS (and, if WANT is not NULL, exactly
 * that message).  Frees ERR and clears it.
 */
bool
err_is(struct error **err, enum error_class cls, const char *want)
{
    bool good = *err != NULL && error_get_class(*err) == cls &&
                (want == NULL || strcmp(error_msg(*err), want) == 0);

    if (*err != NULL && !good) {
        diag("unexpected error: %s", error_msg(*err));
    } else if (*err == NULL) {
        diag("no error set");
    }
    error_free(*err);
    *err = NULL;
    return good;
}

/* Report and clear an unexpected error; true if there was none. */
bool
no_err(struct error **err)
{
    if (*err == NULL) {
        return true;
    }
    diag("error: %s", error_msg(*err));
    error_free(*err);
    *err = NULL;
    return false;
}

/* Run fixed SQL on the database file directly and return the integer in
 * the first column of the first row, or -1.
 */
int64_t
raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK &&
        sqlite3_busy_timeout(db, 30000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The text of the first column of the first row of SQL, or "" (static). */
const char *
raw_text(const char *path, const char *sql)
{
    static char buf[256];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    buf[0] = '\0';
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK &&
        sqlite3_busy_timeout(db, 30000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
        snprintf(buf, sizeof(buf), "%s",
                 (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

void
remove_tmpdir(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *e;

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            CLEANUP_FREE char *p = util_path_join(tmpdir, e->d_name);

            if (p != NULL) {
                unlink(p);
            }
        }
    }
    closedir(d);
    rmdir(tmpdir);
}

