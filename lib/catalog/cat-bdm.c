/* vmsnap: the volume snapshots an image is made of (the relation
 * image_volume_snapshots), and the move of the old property
 * block_device_mapping into it (see catalog-images.h, "The block device
 * mapping").  The entries are bdm.h's; bdm.h parses and checks them.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "log.h"

/* Copy the UUID text column COL of ST into OUT in lower case, or make
 * OUT "" when it is NULL or not a UUID (rows written before version 3
 * was final may lack a volume).
 */
static void
cat_bdm_col_uuid(struct db_stmt *st, int col, char out[BDM_UUID_LEN])
{
    const char *s = db_column_null(st, col) ? NULL
                                             : db_column_text(st, col);

    if (s == NULL || !cat_norm_id(s, out)) {
        out[0] = '\0';
    }
}

/* Read a row (device_index, snapshot_id, volume_id, size, volume_name)
 * into a struct bdm_entry.
 */
static int
cat_read_bdm(struct catalog *cat, struct db_stmt *st, void *elem,
             const void *ctx, struct error **errp)
{
    struct bdm_entry *e = elem;

    (void)cat;
    (void)ctx;
    e->device_index = (int)db_column_int64(st, 0);
    cat_bdm_col_uuid(st, 1, e->snapshot_id);
    cat_bdm_col_uuid(st, 2, e->volume_id);
    e->size = db_column_null(st, 3) ? -1 : db_column_int64(st, 3);
    if (cat_col_str(st, 4, &e->volume_name) < 0) {
        return cat_oom(errp);
    }
    return 0;
}

static void
cat_clear_bdm(void *elem, const void *ctx)
{
    struct bdm_entry *e = elem;

    (void)ctx;
    free(e->volume_name);
}

int
cat_bdm_load(struct catalog *cat, struct image *img, struct error **errp)
{
    static const struct cat_row_reader rd = {
        .size = sizeof(struct bdm_entry),
        .read = cat_read_bdm,
        .clear = cat_clear_bdm,
    };
    CLEANUP_STMT struct db_stmt *st = NULL;

    st = cat_prepare(cat, "SELECT device_index, snapshot_id, volume_id, "
                     "size, volume_name FROM image_volume_snapshots "
                     "WHERE image_id = ?1 ORDER BY device_index, "
                     "snapshot_id", errp);
    if (st == NULL || cat_bind(st, errp, "s", img->id) < 0) {
        return -1;
    }
    return cat_rows(cat, st, &rd, NULL, (void **)&img->bdm, &img->nbdm,
                    errp);
}

/* Check the N entries of E given by a caller: bdm_check's rules, which
 * hold the catalog's rules for names too (text_valid_name is the
 * stricter).
 */
static int
cat_bdm_check(const struct bdm_entry *e, size_t n, struct error **errp)
{
    if (n > 0 && e == NULL) {
        error_setg(errp, ERR_INVALID, "block_device_mapping entries are "
                   "missing");
        return -1;
    }
    return bdm_check(e, n, errp);
}

/* Write the N entries of E, checked, as the mapping of image ID
 * (normalised), replacing what it had.  UUIDs are stored in lower case;
 * a volume_id "" (not known) as NULL.
 */
static int
cat_bdm_write_locked(struct catalog *cat, const char *id,
                     const struct bdm_entry *e, size_t n,
                     struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    char snap[UTIL_UUID_LEN], vol[UTIL_UUID_LEN];
    size_t i;

    if (cat_exec_bound(cat, "DELETE FROM image_volume_snapshots "
                       "WHERE image_id = ?1", errp, "s", id) < 0) {
        return -1;
    }
    if (n == 0) {
        return 0;
    }
    st = cat_prepare(cat, "INSERT INTO image_volume_snapshots (image_id, "
                     "device_index, snapshot_id, volume_id, size, "
                     "volume_name) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", errp);
    if (st == NULL) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!cat_norm_id(e[i].snapshot_id, snap)) {
            error_setg(errp, ERR_INVALID, "block_device_mapping entry %zu: "
                       "snapshot_id is not a UUID", i + 1);
            return -1;
        }
        if (!cat_norm_id(e[i].volume_id, vol)) {
            vol[0] = '\0';
        }
        if (db_reset(st, errp) < 0 ||
            cat_bind(st, errp, "sisszs", id, e[i].device_index, snap,
                     vol[0] != '\0' ? vol : NULL, e[i].size,
                     e[i].volume_name) < 0 ||
            cat_run(cat, st, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

int
cat_bdm_store_locked(struct catalog *cat, const char *id,
                     const struct bdm_entry *e, size_t n,
                     struct error **errp)
{
    if (cat_bdm_check(e, n, errp) < 0) {
        return -1;
    }
    return cat_bdm_write_locked(cat, id, e, n, errp);
}

int
cat_bdm_move_locked(struct catalog *cat, const char *id, const char *value,
                    struct error **errp)
{
    struct error *err = NULL;
    struct bdm_entry *e = NULL;
    size_t n = 0;
    int r;

    if (bdm_parse(value, &e, &n, &err) < 0) {
        log_warnx("catalog %s: schema upgrade: image %s: %s; the property "
                  "is left as it was and maps no volume snapshot",
                  cat->path, id, error_msg(err));
        error_free(err);
        return 0;
    }
    r = cat_bdm_write_locked(cat, id, e, n, errp);
    bdm_free(e, n);
    if (r < 0) {
        return -1;
    }
    return cat_exec_bound(cat, "DELETE FROM image_properties "
                          "WHERE image_id = ?1 AND key = ?2", errp, "ss",
                          id, PROP_BDM);
}

static int
cat_image_set_bdm_locked(struct catalog *cat, const char *id,
                         const struct bdm_entry *e, size_t n,
                         struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (cat_bdm_check(e, n, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (cat_touch_locked(cat, &cat_kind_image, nid, id, errp) < 0) {
        return -1;
    }
    return cat_bdm_write_locked(cat, nid, e, n, errp);
}

int
catalog_image_set_bdm(struct catalog *cat, const char *image_id,
                      const struct bdm_entry *e, size_t n,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_set_bdm_locked(cat, image_id, e, n,
                                                    errp), errp);
}
