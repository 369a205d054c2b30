/* vmsnap: a user's edits of an image: one-transaction patches and tags
 * (see catalog-images.h).
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"

/* ---- Tags ------------------------------------------------------------- */

/* Check TAG: a non-empty name. */
static int
cat_check_tag(const char *tag, struct error **errp)
{
    if (tag == NULL || tag[0] == '\0') {
        error_setg(errp, ERR_INVALID, "image tag must be 1 to %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    return catalog_name_check("image tag", tag, errp);
}

/* Read a row (tag) into a char *. */
static int
cat_read_tag(struct catalog *cat, struct db_stmt *st, void *elem,
             const void *ctx, struct error **errp)
{
    char **tag = elem;

    (void)cat;
    (void)ctx;
    if (cat_col_str(st, 0, tag) < 0 || *tag == NULL) {
        return cat_oom(errp);
    }
    return 0;
}

static void
cat_clear_tag(void *elem, const void *ctx)
{
    (void)ctx;
    free(*(char **)elem);
}

int
cat_image_load_tags(struct catalog *cat, const char *id, char ***tags,
                    size_t *n, struct error **errp)
{
    static const struct cat_row_reader rd = {
        .size = sizeof(char *),
        .read = cat_read_tag,
        .clear = cat_clear_tag,
    };
    CLEANUP_STMT struct db_stmt *st = NULL;

    st = cat_prepare(cat, "SELECT tag FROM image_tags WHERE image_id = ?1 "
                     "ORDER BY tag", errp);
    if (st == NULL || cat_bind(st, errp, "s", id) < 0) {
        return -1;
    }
    return cat_rows(cat, st, &rd, NULL, (void **)tags, n, errp);
}

/* Add TAG to image ID (normalised; GIVEN as the caller wrote it). */
static int
cat_image_tag_add_locked(struct catalog *cat, const char *id,
                         const char *given, const char *tag,
                         struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    int r;

    if (cat_touch_locked(cat, &cat_kind_image, id, given, errp) < 0) {
        return -1;
    }
    st = cat_prepare(cat, "SELECT count(*), sum(CASE WHEN tag = ?2 THEN 1 "
                     "ELSE 0 END) FROM image_tags WHERE image_id = ?1",
                     errp);
    if (st == NULL || cat_bind(st, errp, "ss", id, tag) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r > 0 && db_column_int64(st, 1) == 0 &&
        db_column_int64(st, 0) >= CATALOG_TAGS_MAX) {
        error_setg(errp, ERR_INVALID, "image %s already has %d tags", given,
                   CATALOG_TAGS_MAX);
        return -1;
    }
    return cat_exec_bound(cat, "INSERT INTO image_tags (image_id, tag) "
                          "VALUES (?1, ?2) ON CONFLICT (image_id, tag) "
                          "DO NOTHING", errp, "ss", id, tag);
}

/* Remove TAG from image ID (normalised; GIVEN as the caller wrote it). */
static int
cat_image_tag_remove_locked(struct catalog *cat, const char *id,
                            const char *given, const char *tag,
                            struct error **errp)
{
    if (cat_touch_locked(cat, &cat_kind_image, id, given, errp) < 0 ||
        cat_exec_bound(cat, "DELETE FROM image_tags "
                       "WHERE image_id = ?1 AND tag = ?2", errp, "ss", id,
                       tag) < 0) {
        return -1;
    }
    if (cat_changes(cat) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "image %s has no tag '%s'", given,
                   tag);
        return -1;
    }
    return 0;
}

/* Add (ADD) or remove TAG of image ID in a transaction of its own. */
static int
cat_image_tag(struct catalog *cat, const char *id, const char *tag,
              bool add, struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if ((add && cat_check_tag(tag, errp) < 0) ||
        (!add && tag == NULL && cat_check_tag(tag, errp) < 0)) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, add ? cat_image_tag_add_locked(cat, nid, id, tag,
                                                          errp)
                               : cat_image_tag_remove_locked(cat, nid, id,
                                                             tag, errp),
                      errp);
}

int
catalog_image_tag_add(struct catalog *cat, const char *id, const char *tag,
                      struct error **errp)
{
    return cat_image_tag(cat, id, tag, true, errp);
}

int
catalog_image_tag_remove(struct catalog *cat, const char *id,
                         const char *tag, struct error **errp)
{
    return cat_image_tag(cat, id, tag, false, errp);
}

int
catalog_image_tags(struct catalog *cat, const char *id, char ***tags,
                   size_t *n, struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    return cat_tx_end_read(cat, cat_must_exist_locked(cat, &cat_kind_image,
                                                      nid, id, errp) < 0
                                    ? -1
                                    : cat_image_load_tags(cat, nid, tags, n,
                                                          errp));
}

/* ---- Patches ---------------------------------------------------------- */

/* Check what of patch P the key/value code does not check. */
static int
cat_image_patch_check(const struct image_patch *p, struct error **errp)
{
    size_t i;

    if (p == NULL) {
        error_setg(errp, ERR_INVALID, "no image patch given");
        return -1;
    }
    if (p->clear_name && p->name != NULL) {
        error_setg(errp, ERR_INVALID, "a patch cannot both set and clear "
                   "the image name");
        return -1;
    }
    if (cat_check_name(&cat_kind_image, p->name, errp) < 0) {
        return -1;
    }
    if (p->min_ram < -1 || p->min_disk < -1) {
        error_setg(errp, ERR_INVALID, "min_ram and min_disk must not be "
                   "negative");
        return -1;
    }
    if (p->visibility != NULL && !catalog_visibility_valid(p->visibility)) {
        error_setg(errp, ERR_INVALID, "unknown image visibility '%s'",
                   p->visibility);
        return -1;
    }
    if (p->protected < -1 || p->protected > 1) {
        error_setg(errp, ERR_INVALID, "protected must be -1, 0 or 1");
        return -1;
    }
    if (p->replace_tags &&
        (p->ntags > CATALOG_TAGS_MAX || (p->ntags > 0 && p->tags == NULL))) {
        error_setg(errp, ERR_INVALID, "too many or missing image tags");
        return -1;
    }
    for (i = 0; p->replace_tags && i < p->ntags; i++) {
        if (cat_check_tag(p->tags[i], errp) < 0) {
            return -1;
        }
    }
    for (i = 0; p->set != NULL && i < p->nset; i++) {
        if (cat_image_key_writable(p->set[i].key, errp) < 0) {
            return -1;
        }
    }
    if (p->nexpect > 0 && p->expect == NULL) {
        error_setg(errp, ERR_INVALID, "expected statuses missing");
        return -1;
    }
    for (i = 0; i < p->nexpect; i++) {
        if (cat_check_status(&cat_kind_image, p->expect[i], errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Fail unless image ID (normalised; GIVEN as the caller wrote it) exists
 * and is in one of the statuses P expects.
 */
static int
cat_image_patch_expect_locked(struct catalog *cat, const char *id,
                              const char *given, const struct image_patch *p,
                              struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;

    st = cat_row_locked(cat, &cat_kind_image, "SELECT status FROM images "
                        "WHERE id = ?1", id, given, errp);
    if (st == NULL) {
        return -1;
    }
    if (p->nexpect > 0 &&
        !cat_status_in(db_column_text(st, 0), p->expect, p->nexpect)) {
        return cat_cas_failed_locked(cat, &cat_kind_image, id, given,
                                     p->expect, p->nexpect, errp);
    }
    return 0;
}

/* Change the columns P changes, and updated_at, of image ID. */
static int
cat_image_patch_row_locked(struct catalog *cat, const char *id,
                           const struct image_patch *p, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    CLEANUP_FREE char *sql = NULL;
    struct cat_buf b = { 0 };
    char now[UTIL_TIME_LEN];
    int i = 1, r = 0;

    /* Only fixed fragments go into the text; the values are bound in
     * the same order below.
     */
    cat_buf_printf(&b, "UPDATE images SET updated_at = ?");
    if (p->name != NULL || p->clear_name) {
        cat_buf_printf(&b, ", name = ?");
    }
    if (p->min_ram >= 0) {
        cat_buf_printf(&b, ", min_ram = ?");
    }
    if (p->min_disk >= 0) {
        cat_buf_printf(&b, ", min_disk = ?");
    }
    if (p->visibility != NULL) {
        cat_buf_printf(&b, ", visibility = ?");
    }
    if (p->protected >= 0) {
        cat_buf_printf(&b, ", protected = ?");
    }
    cat_buf_printf(&b, " WHERE id = ?");
    sql = cat_buf_steal(&b);
    if (sql == NULL) {
        return cat_too_long(errp);
    }
    st = cat_prepare(cat, sql, errp);
    if (st == NULL) {
        return -1;
    }
    util_now_iso8601(now);
    r = db_bind_text(st, i++, now, errp);
    if (r == 0 && (p->name != NULL || p->clear_name)) {
        r = db_bind_text(st, i++, p->name, errp);
    }
    if (r == 0 && p->min_ram >= 0) {
        r = db_bind_int64(st, i++, p->min_ram, errp);
    }
    if (r == 0 && p->min_disk >= 0) {
        r = db_bind_int64(st, i++, p->min_disk, errp);
    }
    if (r == 0 && p->visibility != NULL) {
        r = db_bind_text(st, i++, p->visibility, errp);
    }
    if (r == 0 && p->protected >= 0) {
        r = db_bind_int64(st, i++, p->protected, errp);
    }
    if (r < 0 || db_bind_text(st, i, id, errp) < 0) {
        return -1;
    }
    return cat_run(cat, st, errp);
}

/* Replace the tags of image ID with the N of TAGS. */
static int
cat_image_replace_tags_locked(struct catalog *cat, const char *id,
                              const char *const *tags, size_t n,
                              struct error **errp)
{
    size_t i;

    if (cat_exec_bound(cat, "DELETE FROM image_tags WHERE image_id = ?1",
                       errp, "s", id) < 0) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (cat_exec_bound(cat, "INSERT INTO image_tags (image_id, tag) "
                           "VALUES (?1, ?2) ON CONFLICT (image_id, tag) "
                           "DO NOTHING", errp, "ss", id, tags[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
cat_image_patch_locked(struct catalog *cat, const char *id,
                       const struct image_patch *p, struct error **errp)
{
    char nid[UTIL_UUID_LEN];

    if (cat_image_patch_check(p, errp) < 0) {
        return -1;
    }
    if (!cat_norm_id(id, nid)) {
        return cat_not_found(&cat_kind_image, id, errp);
    }
    if (cat_image_patch_expect_locked(cat, nid, id, p, errp) < 0 ||
        cat_image_patch_row_locked(cat, nid, p, errp) < 0 ||
        cat_kv_patch_locked(cat, &cat_kind_image, nid, id, p->set, p->nset,
                            p->unset, p->nunset, errp) < 0 ||
        (p->replace_tags &&
         cat_image_replace_tags_locked(cat, nid, p->tags, p->ntags,
                                       errp) < 0)) {
        return -1;
    }
    return 0;
}

int
catalog_image_patch(struct catalog *cat, const char *id,
                    const struct image_patch *p, struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_image_patch_locked(cat, id, p, errp), errp);
}
