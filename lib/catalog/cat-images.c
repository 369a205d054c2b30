/* vmsnap: images in the catalog: the kind, its records and its rules
 * (see catalog-images.h).  The user's edits (patch, tags) are in
 * cat-image-edit.c, the volume snapshots images are made of in
 * cat-bdm.c.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

static const char *const cat_image_statuses[] = {
    "queued", "saving", "uploading", "importing", "active",
    "deactivated", "killed", "pending_delete", "deleted",
};

static const char *const cat_visibilities[] = {
    "private", "shared", "community", "public",
};

/* The columns of an image, id first, in the order its queries read
 * them.
 */
static const struct cat_col cat_image_cols[] = {
    CAT_COL(struct image, id, CAT_COL_ID),
    CAT_COL(struct image, name, CAT_COL_TEXT),
    CAT_COL(struct image, status, CAT_COL_TEXT),
    CAT_COL(struct image, disk_format, CAT_COL_TEXT),
    CAT_COL(struct image, container_format, CAT_COL_TEXT),
    CAT_COL(struct image, size, CAT_COL_INT64_OPT),
    CAT_COL(struct image, virtual_size, CAT_COL_INT64_OPT),
    CAT_COL(struct image, checksum, CAT_COL_TEXT),
    CAT_COL(struct image, os_hash_algo, CAT_COL_TEXT),
    CAT_COL(struct image, os_hash_value, CAT_COL_TEXT),
    CAT_COL(struct image, min_ram, CAT_COL_INT64),
    CAT_COL(struct image, min_disk, CAT_COL_INT64),
    CAT_COL(struct image, created_at, CAT_COL_TEXT),
    CAT_COL(struct image, updated_at, CAT_COL_TEXT),
    CAT_COL(struct image, file, CAT_COL_TEXT),
    CAT_COL(struct image, fail_reason, CAT_COL_TEXT),
    CAT_COL(struct image, location, CAT_COL_TEXT),
    CAT_COL(struct image, owner, CAT_COL_TEXT),
    CAT_COL(struct image, visibility, CAT_COL_TEXT),
    CAT_COL(struct image, protected, CAT_COL_BOOL),
};

static void
cat_image_free(void *rec)
{
    image_free(rec);
}

/* Read the tags and the volume snapshots of image REC. */
static int
cat_image_read_more(struct catalog *cat, void *rec, struct error **errp)
{
    struct image *img = rec;

    if (cat_image_load_tags(cat, img->id, &img->tags, &img->ntags,
                            errp) < 0) {
        return -1;
    }
    return cat_bdm_load(cat, img, errp);
}

const struct cat_kind cat_kind_image = {
    .noun = "image",
    .item = "image property",
    .key_noun = "property",
    .keys_noun = "properties",
    .filter = "property",
    .table = "images",
    .cols = cat_image_cols,
    .ncols = CAT_NELEMS(cat_image_cols),
    .size = sizeof(struct image),
    .free = cat_image_free,
    .kv_offset = offsetof(struct image, props),
    .nkv_offset = offsetof(struct image, nprops),
    .kv = {
        .select = "SELECT key, value FROM image_properties "
                  "WHERE image_id = ?1 ORDER BY key",
        .clear = "DELETE FROM image_properties WHERE image_id = ?1",
        .insert = "INSERT INTO image_properties (image_id, key, value) "
                  "VALUES (?1, ?2, ?3)",
        .upsert = "INSERT INTO image_properties (image_id, key, value) "
                  "VALUES (?1, ?2, ?3) ON CONFLICT (image_id, key) "
                  "DO UPDATE SET value = excluded.value",
        .remove = "DELETE FROM image_properties "
                  "WHERE image_id = ?1 AND key = ?2",
        .count = "SELECT count(*) FROM image_properties "
                 "WHERE image_id = ?1",
        .match = " AND EXISTS (SELECT 1 FROM image_properties AS p"
                 " WHERE p.image_id = r.id AND p.key = ? AND p.value = ?)",
    },
    .read_more = cat_image_read_more,
    .statuses = cat_image_statuses,
    .nstatuses = CAT_NELEMS(cat_image_statuses),
    .has_reason = true,
    .named = true,
    .by_name = "SELECT id FROM images WHERE name = ?1 "
               "AND status <> 'deleted' "
               "ORDER BY created_at DESC, seq DESC",
};

bool
catalog_image_status_valid(const char *status)
{
    return cat_status_in(status, cat_image_statuses,
                         CAT_NELEMS(cat_image_statuses));
}

bool
catalog_visibility_valid(const char *visibility)
{
    return cat_status_in(visibility, cat_visibilities,
                         CAT_NELEMS(cat_visibilities));
}

/* ---- Insert and update ------------------------------------------------ */

/* The normalised values of an image given by a caller. */
struct cat_image_vals {
    char id[UTIL_UUID_LEN];     /* its ID */
    char owner_buf[UTIL_UUID_LEN]; /* room for owner */
    const char *owner;          /* owner_buf, or NULL */
    char *location_buf;         /* a derived location (freed by the
                                 * caller) */
    const char *location;       /* the location to store, or NULL */
};

/* Check a visibility given by a caller (NULL passes). */
static int
cat_check_visibility(const char *visibility, struct error **errp)
{
    if (visibility != NULL && !catalog_visibility_valid(visibility)) {
        error_setg(errp, ERR_INVALID, "unknown image visibility '%s'",
                   visibility);
        return -1;
    }
    return 0;
}

int
cat_image_key_writable(const char *key, struct error **errp)
{
    if (key != NULL && strcmp(key, PROP_BDM) == 0) {
        error_setg(errp, ERR_INVALID, "%s is kept by vmsnap: it names the "
                   "volume snapshots of the image's set", PROP_BDM);
        return -1;
    }
    return 0;
}

/* Check the fields of IMG that callers set, into V (whose location_buf
 * the caller frees).  INSERT checks also what only an insert stores.
 */
static int
cat_image_check(const struct image *img, bool insert,
                struct cat_image_vals *v, struct error **errp)
{
    size_t i;

    for (i = 0; img->props != NULL && i < img->nprops; i++) {
        if (cat_image_key_writable(img->props[i].key, errp) < 0) {
            return -1;
        }
    }
    if (cat_check_id(img->id, "image", v->id, errp) < 0 ||
        cat_check_name(&cat_kind_image, img->name, errp) < 0 ||
        cat_check_status(&cat_kind_image, img->status, errp) < 0) {
        return -1;
    }
    if (img->min_ram < 0 || img->min_disk < 0) {
        error_setg(errp, ERR_INVALID, "min_ram and min_disk must not be "
                   "negative");
        return -1;
    }
    if (cat_check_created(img->created_at, errp) < 0 ||
        cat_check_props(img->props, img->nprops, cat_kind_image.item,
                        errp) < 0 ||
        cat_location(img->location, img->file, "images", v->id,
                     &v->location_buf, &v->location, errp) < 0) {
        return -1;
    }
    if (!insert) {
        return 0;
    }
    if (cat_check_ref(img->owner, "project", v->owner_buf, &v->owner,
                      errp) < 0 ||
        cat_check_visibility(img->visibility, errp) < 0) {
        return -1;
    }
    if (img->ntags > CATALOG_TAGS_MAX || (img->ntags > 0 &&
                                          img->tags == NULL)) {
        error_setg(errp, ERR_INVALID, "too many or missing image tags");
        return -1;
    }
    return 0;
}

/* Store what a new image IMG (with values V) has besides its row and its
 * properties: tags and volume snapshots (img->bdm).
 */
static int
cat_image_insert_more_locked(struct catalog *cat, const struct image *img,
                             const struct cat_image_vals *v,
                             struct error **errp)
{
    size_t i;

    for (i = 0; i < img->ntags; i++) {
        if (catalog_name_check("image tag", img->tags[i], errp) < 0 ||
            cat_exec_bound(cat, "INSERT INTO image_tags (image_id, tag) "
                           "VALUES (?1, ?2) ON CONFLICT (image_id, tag) "
                           "DO NOTHING", errp, "ss", v->id,
                           img->tags[i]) < 0) {
            return -1;
        }
    }
    if (img->nbdm > 0) {
        return cat_bdm_store_locked(cat, v->id, img->bdm, img->nbdm, errp);
    }
    return 0;
}

/* Store IMG (borrowed) as a new image. */
static int
cat_image_insert_locked(struct catalog *cat, const struct image *img,
                        struct error **errp)
{
    static const char sql[] =
        "INSERT INTO images (id, name, status, disk_format, "
        "container_format, size, virtual_size, checksum, os_hash_algo, "
        "os_hash_value, min_ram, min_disk, created_at, updated_at, file, "
        "fail_reason, location, seq, owner, visibility, protected) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
        "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct cat_image_vals v = { .location_buf = NULL };
    char now[UTIL_TIME_LEN];
    const char *created;
    int64_t seq;
    int r = -1;

    if (cat_image_check(img, true, &v, errp) < 0 ||
        cat_id_unused_locked(cat, &cat_kind_image, v.id, errp) < 0 ||
        cat_next_seq_locked(cat, &seq, errp) < 0) {
        goto out;
    }
    util_now_iso8601(now);
    created = img->created_at ? img->created_at : now;
    st = cat_prepare(cat, sql, errp);
    if (st == NULL ||
        cat_bind(st, errp, "ssssszzsssllsssss", v.id, img->name,
                 img->status, img->disk_format, img->container_format,
                 img->size, img->virtual_size, img->checksum,
                 img->os_hash_algo, img->os_hash_value, img->min_ram,
                 img->min_disk, created, created, img->file,
                 img->fail_reason, v.location) < 0 ||
        cat_bind_from(st, 18, errp, "lssi", seq, v.owner,
                      img->visibility ? img->visibility : "shared",
                      img->protected ? 1 : 0) < 0 ||
        cat_run(cat, st, errp) < 0 ||
        cat_store_kv_locked(cat, &cat_kind_image.kv, v.id, img->props,
                            img->nprops, errp) < 0 ||
        cat_image_insert_more_locked(cat, img, &v, errp) < 0) {
        goto out;
    }
    r = 0;
out:
    free(v.location_buf);
    return r;
}

int
catalog_image_insert(struct catalog *cat, const struct image *img,
                     struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_insert_locked(cat, img, errp), errp);
}

/* ---- Reading ---------------------------------------------------------- */

int
catalog_image_get(struct catalog *cat, const char *id, struct image **out,
                  struct error **errp)
{
    return cat_get(cat, &cat_kind_image, id, false, (void **)out, errp);
}

int
catalog_image_find(struct catalog *cat, const char *name_or_id,
                   struct image **out, struct error **errp)
{
    return cat_get(cat, &cat_kind_image, name_or_id, true, (void **)out,
                   errp);
}

/* Add the tenancy conditions of F to Q. */
static int
cat_image_query_tenancy(struct cat_query *q, const struct image_filter *f,
                        struct error **errp)
{
    if (cat_check_visibility(f->visibility, errp) < 0 ||
        cat_query_eq(q, "owner", f->owner, errp) < 0 ||
        cat_query_eq(q, "visibility", f->visibility, errp) < 0) {
        return -1;
    }
    if (f->visible_to != NULL &&
        cat_query_add(q, f->include_community
                          ? " AND (r.owner = ? OR r.visibility IN "
                            "('public', 'community'))"
                          : " AND (r.owner = ? OR r.visibility = 'public')",
                      1, f->visible_to, NULL, errp) < 0) {
        return -1;
    }
    return 0;
}

int
catalog_image_list(struct catalog *cat, const struct image_filter *f,
                   struct image ***out, size_t *n, struct error **errp)
{
    struct cat_query q = { .id = NULL };
    size_t i;

    if (f == NULL) {
        return cat_list(cat, &cat_kind_image, &q, (void ***)out, n, errp);
    }
    if (f->status != NULL &&
        cat_check_status(&cat_kind_image, f->status, errp) < 0) {
        return -1;
    }
    if (f->ntags > CATALOG_TAGS_MAX || (f->ntags > 0 && f->tags == NULL)) {
        error_setg(errp, ERR_INVALID, "too many or missing tag filters");
        return -1;
    }
    if (cat_query_eq(&q, "name", f->name, errp) < 0 ||
        cat_query_eq(&q, "status", f->status, errp) < 0 ||
        (f->exclude_deleted &&
         cat_query_add(&q, " AND r.status <> 'deleted'", 0, NULL, NULL,
                       errp) < 0) ||
        cat_query_match(&q, &cat_kind_image, f->props, f->nprops, errp) <
            0 ||
        cat_image_query_tenancy(&q, f, errp) < 0) {
        return -1;
    }
    for (i = 0; i < f->ntags; i++) {
        if (cat_query_add(&q, " AND EXISTS (SELECT 1 FROM image_tags AS t "
                          "WHERE t.image_id = r.id AND t.tag = ?)", 1,
                          f->tags[i], NULL, errp) < 0) {
            return -1;
        }
    }
    q.marker = f->marker;
    q.limit = (int64_t)f->limit;
    return cat_list(cat, &cat_kind_image, &q, (void ***)out, n, errp);
}

/* ---- Targeted writes -------------------------------------------------- */

int
catalog_image_set_status(struct catalog *cat, const char *id,
                         const char *status, const char *reason,
                         struct error **errp)
{
    return cat_transition(cat, &cat_kind_image, id, NULL, status, reason,
                          NULL, errp);
}

int
catalog_image_transition(struct catalog *cat, const char *id,
                         const char *from, const char *to,
                         const char *reason, struct error **errp)
{
    return cat_transition(cat, &cat_kind_image, id, from, to, reason, NULL,
                          errp);
}

static int
cat_image_set_data_locked(struct catalog *cat, const char *id,
                          const struct image_data *d, struct error **errp)
{
    CLEANUP_FREE char *buf = NULL;
    char nid[UTIL_UUID_LEN], now[UTIL_TIME_LEN];
    const char *location;

    if (d == NULL) {
        error_setg(errp, ERR_INVALID, "no image data given");
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (d->size < -1 || d->virtual_size < -1) {
        error_setg(errp, ERR_INVALID, "image sizes must not be negative");
        return -1;
    }
    if (cat_location(d->location, d->file, "images", nid, &buf, &location,
                     errp) < 0) {
        return -1;
    }
    util_now_iso8601(now);
    if (cat_exec_bound(cat, "UPDATE images SET size = ?2, virtual_size = "
                       "?3, checksum = ?4, os_hash_algo = ?5, "
                       "os_hash_value = ?6, location = ?7, file = ?8, "
                       "updated_at = ?9 WHERE id = ?1", errp, "szzssssss",
                       nid, d->size, d->virtual_size, d->checksum,
                       d->os_hash_algo, d->os_hash_value, location, d->file,
                       now) < 0) {
        return -1;
    }
    return cat_changed(cat, &cat_kind_image, id, errp);
}

int
catalog_image_set_data(struct catalog *cat, const char *id,
                       const struct image_data *d, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_set_data_locked(cat, id, d, errp),
                      errp);
}

/* Set or remove (VALUE NULL) property KEY of image ID and bump
 * updated_at.  The mapping's property may be removed (a value the schema
 * upgrade could not move), never set.
 */
static int
cat_image_property_locked(struct catalog *cat, const char *id,
                          const char *key, const char *value,
                          struct error **errp)
{
    struct prop item = { (char *)key, (char *)value };
    char nid[UTIL_UUID_LEN];

    if (key == NULL) {
        error_setg(errp, ERR_INVALID, "no image property name given");
        return -1;
    }
    if (value != NULL &&
        (cat_image_key_writable(key, errp) < 0 ||
         cat_check_item(key, value, cat_kind_image.item, errp) < 0)) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (cat_touch_locked(cat, &cat_kind_image, nid, id, errp) < 0 ||
        cat_kv_patch_locked(cat, &cat_kind_image, nid, id, &item,
                            value ? 1 : 0, &key, value ? 0 : 1, errp) < 0) {
        return -1;
    }
    return 0;
}

int
catalog_image_set_property(struct catalog *cat, const char *id,
                           const char *key, const char *value,
                           struct error **errp)
{
    if (value == NULL) {
        error_setg(errp, ERR_INVALID, "image property '%s' has no value",
                   key ? key : "");
        return -1;
    }
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_property_locked(cat, id, key, value,
                                                     errp), errp);
}

int
catalog_image_unset_property(struct catalog *cat, const char *id,
                             const char *key, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_property_locked(cat, id, key, NULL,
                                                     errp), errp);
}

/* A protected image stays.  A cat_delete_rule. */
static int
cat_image_deletable_locked(struct catalog *cat, const char *id,
                           const char *given, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;

    st = cat_row_locked(cat, &cat_kind_image, "SELECT name, protected "
                        "FROM images WHERE id = ?1", id, given, errp);
    if (st == NULL) {
        return -1;
    }
    if (db_column_int64(st, 1) != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is protected",
                   cat_label(db_column_text(st, 0), id));
        return -1;
    }
    return 0;
}

int
catalog_image_delete(struct catalog *cat, const char *id,
                     struct error **errp)
{
    return cat_delete(cat, &cat_kind_image, id, cat_image_deletable_locked,
                      errp);
}

/* What uses an image: instances booted from it, images (not deleted)
 * whose kernel_id or ramdisk_id is it, instances booted from those, and
 * volumes made from it.
 */
static const struct cat_users_query cat_image_users[] = {
    { "instance", 0,
      "SELECT s.id, s.name FROM instances AS s WHERE s.image_id = ?1 "
      "ORDER BY s.created_at, s.seq" },
    { "image", 1,
      "SELECT i.id, i.name, p.key FROM images AS i "
      "JOIN image_properties AS p ON p.image_id = i.id "
      "WHERE p.key IN ('kernel_id', 'ramdisk_id') AND p.value = ?1 "
      "AND i.status <> 'deleted' AND i.id <> ?1 "
      "ORDER BY i.created_at, i.seq, p.key" },
    { "instance", 2,
      "SELECT s.id, s.name, p.key, i.id, i.name FROM instances AS s "
      "JOIN images AS i ON i.id = s.image_id "
      "JOIN image_properties AS p ON p.image_id = i.id "
      "WHERE p.key IN ('kernel_id', 'ramdisk_id') AND p.value = ?1 "
      "AND i.id <> ?1 "
      "ORDER BY s.created_at, s.seq, p.key" },
    { "volume", 0,
      "SELECT v.id, v.name FROM volumes AS v "
      "WHERE v.source_image_id = ?1 "
      "ORDER BY v.created_at, v.seq" },
};

int
catalog_image_users(struct catalog *cat, const char *id, char **users_out,
                    struct error **errp)
{
    struct cat_buf b = { 0 };
    char nid[UTIL_UUID_LEN];
    char *text;
    int count = 0;

    if (cat_norm_id(id, nid)) {
        if (cat_tx_begin(cat, false, errp) < 0) {
            return -1;
        }
        count = cat_users_locked(cat, cat_image_users,
                                 CAT_NELEMS(cat_image_users), nid, &b, errp);
        if (cat_tx_end_read(cat, count) < 0) {
            free(cat_buf_steal(&b));
            return -1;
        }
    }
    text = cat_buf_steal(&b);
    if (text == NULL) {
        return cat_too_long(errp);
    }
    if (users_out != NULL) {
        *users_out = text;
    } else {
        free(text);
    }
    return count;
}
