/* vmsnap: the volume snapshots an image is made of (the relation
 * image_volume_snapshots), and its transition from the property
 * block_device_mapping (see catalog-images.h, "The block device
 * mapping").
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cat-internal.h"
#include "cleanup.h"

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
    e->size = db_column_null(st, 3) ? -1 : db_column_int64(st, 3);
    if (cat_col_str(st, 1, &e->snapshot_id) < 0 ||
        cat_col_str(st, 2, &e->volume_id) < 0 ||
        cat_col_str(st, 4, &e->volume_name) < 0) {
        return cat_oom(errp);
    }
    return 0;
}

static void
cat_clear_bdm(void *elem, const void *ctx)
{
    struct bdm_entry *e = elem;

    (void)ctx;
    free(e->snapshot_id);
    free(e->volume_id);
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

/* Write the N entries of E (with lower-case UUIDs) as the mapping of
 * image ID, replacing what it had.
 */
static int
cat_bdm_write_locked(struct catalog *cat, const char *id,
                     const struct bdm_entry *e, size_t n,
                     struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
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
        if (db_reset(st, errp) < 0 ||
            cat_bind(st, errp, "sisszs", id, e[i].device_index,
                     e[i].snapshot_id, e[i].volume_id, e[i].size,
                     e[i].volume_name) < 0 ||
            cat_run(cat, st, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Check entry I of the N entries of E given by a caller, and copy its
 * UUIDs in lower case into SNAP and VOL (*VOL_OUT: VOL or NULL).
 */
static int
cat_bdm_check_entry(const struct bdm_entry *e, size_t n, size_t i,
                    char snap[UTIL_UUID_LEN], char vol[UTIL_UUID_LEN],
                    const char **vol_out, struct error **errp)
{
    size_t j;

    if (e[i].device_index < 1) {
        error_setg(errp, ERR_INVALID, "block device mapping entry %zu has "
                   "device index %d, not 1 or more", i + 1,
                   e[i].device_index);
        return -1;
    }
    if (cat_check_id(e[i].snapshot_id, "volume snapshot", snap, errp) < 0 ||
        cat_check_ref(e[i].volume_id, "volume", vol, vol_out, errp) < 0 ||
        catalog_name_check("volume", e[i].volume_name, errp) < 0) {
        return -1;
    }
    if (e[i].size < -1) {
        error_setg(errp, ERR_INVALID, "block device mapping entry %zu has "
                   "a negative size", i + 1);
        return -1;
    }
    for (j = 0; j < n; j++) {
        if (j == i) {
            continue;
        }
        if (e[j].device_index == e[i].device_index) {
            error_setg(errp, ERR_INVALID, "block device mapping has device "
                       "index %d twice", e[i].device_index);
            return -1;
        }
        if (e[j].snapshot_id != NULL &&
            strcasecmp(e[j].snapshot_id, e[i].snapshot_id) == 0) {
            error_setg(errp, ERR_INVALID, "block device mapping names "
                       "volume snapshot %s twice", snap);
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
    char (*ids)[2][UTIL_UUID_LEN] = NULL;
    struct bdm_entry *norm = NULL;
    size_t i;
    int r = -1;

    if (n > CATALOG_BDM_MAX || (n > 0 && e == NULL)) {
        error_setg(errp, ERR_INVALID, "a block device mapping has at most "
                   "%d entries", CATALOG_BDM_MAX);
        return -1;
    }
    if (n > 0) {
        ids = calloc(n, sizeof(*ids));
        norm = calloc(n, sizeof(*norm));
        if (ids == NULL || norm == NULL) {
            r = cat_oom(errp);
            goto out;
        }
    }
    for (i = 0; i < n; i++) {
        const char *vol;

        if (cat_bdm_check_entry(e, n, i, ids[i][0], ids[i][1], &vol,
                                errp) < 0) {
            goto out;
        }
        norm[i] = e[i];
        norm[i].snapshot_id = ids[i][0];
        norm[i].volume_id = (char *)vol;
    }
    r = cat_bdm_write_locked(cat, id, norm, n, errp);
out:
    free(ids);
    free(norm);
    return r;
}

/* Copy the string member KEY of JSON object OBJ into *OUT if it is one
 * and KEEP(it) holds; else *OUT stays NULL.  -1 on OOM.
 */
static int
cat_bdm_json_str(json_object *obj, const char *key,
                 bool (*keep)(const char *s), char **out)
{
    json_object *v;
    const char *s;

    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return 0;
    }
    s = json_object_get_string(v);
    if (s == NULL || !keep(s)) {
        return 0;
    }
    *out = strdup(s);
    return *out ? 0 : -1;
}

/* The integer member KEY of OBJ if it is one of at least MIN, else DEF. */
static int64_t
cat_bdm_json_int(json_object *obj, const char *key, int64_t min,
                 int64_t def)
{
    json_object *v;
    int64_t x;

    if (!json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_int)) {
        return def;
    }
    x = json_object_get_int64(v);
    return x >= min ? x : def;
}

static bool
cat_bdm_is_uuid(const char *s)
{
    return util_is_uuid(s);
}

static bool
cat_bdm_is_name(const char *s)
{
    return catalog_name_check("volume", s, NULL) == 0;
}

/* Lower-case UUID S in place. */
static void
cat_bdm_lower(char *s)
{
    if (s != NULL) {
        cat_norm_id(s, s);
    }
}

/* Read entry OBJ (at position I of the array) into E: 1 if it names a
 * volume snapshot not among the N entries of LIST, 0 if it is skipped,
 * -1 on OOM.
 */
static int
cat_bdm_parse_entry(json_object *obj, size_t i, const struct bdm_entry *list,
                    size_t n, struct bdm_entry *e)
{
    size_t j;

    memset(e, 0, sizeof(*e));
    if (!json_object_is_type(obj, json_type_object)) {
        return 0;
    }
    if (cat_bdm_json_str(obj, "snapshot_id", cat_bdm_is_uuid,
                         &e->snapshot_id) < 0) {
        return -1;
    }
    if (e->snapshot_id == NULL) {
        return 0;
    }
    cat_bdm_lower(e->snapshot_id);
    for (j = 0; j < n; j++) {
        if (strcmp(list[j].snapshot_id, e->snapshot_id) == 0) {
            free(e->snapshot_id);
            e->snapshot_id = NULL;
            return 0;
        }
    }
    e->device_index = (int)cat_bdm_json_int(obj, "device_index", 1,
                                            (int64_t)i + 1);
    e->size = cat_bdm_json_int(obj, "size", 0, -1);
    if (cat_bdm_json_str(obj, "volume_id", cat_bdm_is_uuid,
                         &e->volume_id) < 0 ||
        cat_bdm_json_str(obj, "volume_name", cat_bdm_is_name,
                         &e->volume_name) < 0) {
        return -1;
    }
    cat_bdm_lower(e->volume_id);
    return 1;
}

int
cat_bdm_parse(const char *value, struct bdm_entry **out, size_t *n,
              struct error **errp)
{
    CLEANUP_JSON_PUT json_object *a = NULL;
    struct bdm_entry *list = NULL;
    size_t len, i, count = 0;

    *out = NULL;
    *n = 0;
    a = value != NULL ? json_tokener_parse(value) : NULL;
    if (a == NULL || !json_object_is_type(a, json_type_array)) {
        return 0;
    }
    len = json_object_array_length(a);
    if (len == 0) {
        return 0;
    }
    list = calloc(len, sizeof(*list));
    if (list == NULL) {
        return cat_oom(errp);
    }
    for (i = 0; i < len; i++) {
        int r = cat_bdm_parse_entry(json_object_array_get_idx(a, i), i, list,
                                    count, &list[count]);

        if (r < 0) {
            bdm_entries_free(list, count + 1);
            return cat_oom(errp);
        }
        count += (size_t)r;
    }
    *out = list;
    *n = count;
    return 0;
}

int
cat_bdm_sync_locked(struct catalog *cat, const char *id, const char *value,
                    struct error **errp)
{
    struct bdm_entry *e = NULL;
    size_t n = 0;
    int r;

    if (cat_bdm_parse(value, &e, &n, errp) < 0) {
        return -1;
    }
    r = cat_bdm_write_locked(cat, id, e, n, errp);
    bdm_entries_free(e, n);
    return r;
}

static int
cat_image_set_bdm_locked(struct catalog *cat, const char *id,
                         const struct bdm_entry *e, size_t n,
                         struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (cat_touch_locked(cat, &cat_kind_image, nid, id, errp) < 0) {
        return -1;
    }
    return cat_bdm_store_locked(cat, nid, e, n, errp);
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
