/* vmsnap: flavors in the catalog (see catalog-flavors.h).  Their IDs are
 * Nova's free strings, not UUIDs, so they are not a kind of the engine.
 */
#include <stdlib.h>
#include <string.h>

#include "catalog-internal.h"
#include "cleanup.h"
#include "xalloc.h"

#define CAT_FLAVOR_COLS                                                        \
    "id, name, vcpus, ram_mb, disk_gb, ephemeral_gb, swap_mb, is_public, "  \
    "created_at"

bool
catalog_flavor_id_valid(const char *id)
{
    size_t i, n = id ? strlen(id) : 0;

    if (n == 0 || n > CATALOG_NAME_MAX || id[0] == ' ' || id[n - 1] == ' ') {
        return false;
    }
    for (i = 0; i < n; i++) {
        char c = id[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
              c == ' ')) {
            return false;
        }
    }
    return true;
}

static int
cat_flavor_check(const struct flavor *f, struct error **errp)
{
    if (!catalog_flavor_id_valid(f->id)) {
        error_setg(errp, ERR_INVALID,
                   "flavor ID '%s' is not 1 to 255 letters, digits, '.', "
                   "'-', '_' or inner spaces",
                   f->id ? f->id : "");
        return -1;
    }
    if (f->name == NULL || f->name[0] == '\0' ||
        strlen(f->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "flavor name must be 1 to %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (catalog_name_check("flavor", f->name, errp) < 0 ||
        cat_check_created(f->created_at, errp) < 0) {
        return -1;
    }
    if (f->vcpus <= 0 || f->ram_mb <= 0 || f->disk_gb < 0 ||
        f->ephemeral_gb < 0 || f->swap_mb < 0) {
        error_setg(errp, ERR_INVALID,
                   "a flavor has at least one vCPU and 1 MiB of memory, and "
                   "disks of 0 or more");
        return -1;
    }
    return 0;
}

/* Is there a flavor whose COLUMN ("id" or "name") is VALUE?  1, 0, or -1.
 */
static int
cat_flavor_exists_locked(struct catalog *cat, const char *column,
                         const char *value, struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;

    st = cat_prepare(cat, strcmp(column, "id") == 0
                              ? "SELECT 1 FROM flavors WHERE id = ?1"
                              : "SELECT 1 FROM flavors WHERE name = ?1",
                     errp);
    if (st == NULL || cat_bind(st, errp, "s", value) < 0) {
        return -1;
    }
    return cat_step(st, errp);
}

static int
cat_flavor_insert_locked(struct catalog *cat, const struct flavor *f,
                         struct error **errp)
{
    char now[UTIL_TIME_LEN];
    int r;

    if (cat_flavor_check(f, errp) < 0) {
        return -1;
    }
    r = cat_flavor_exists_locked(cat, "id", f->id, errp);
    if (r != 0) {
        if (r > 0) {
            error_setg(errp, ERR_CONFLICT, "flavor ID '%s' already exists",
                       f->id);
        }
        return -1;
    }
    r = cat_flavor_exists_locked(cat, "name", f->name, errp);
    if (r != 0) {
        if (r > 0) {
            error_setg(errp, ERR_CONFLICT,
                       "flavor name '%s' already exists", f->name);
        }
        return -1;
    }
    util_now_iso8601(now);
    return cat_exec_bound(cat,
                          "INSERT INTO flavors (" CAT_FLAVOR_COLS
                          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                          errp, "ssillllis", f->id, f->name, f->vcpus,
                          f->ram_mb, f->disk_gb, f->ephemeral_gb,
                          f->swap_mb, f->is_public ? 1 : 0,
                          f->created_at ? f->created_at : now);
}

int
catalog_flavor_insert(struct catalog *cat, const struct flavor *f,
                      struct error **errp)
{
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_flavor_insert_locked(cat, f, errp), errp);
}

/* The flavor in the current row of ST (the columns of CAT_FLAVOR_COLS). */
static struct flavor *
cat_flavor_read(struct db_stmt *st)
{
    struct flavor *f = xcalloc(1, sizeof(*f));

    if (cat_col_str(st, 0, &f->id) < 0 || cat_col_str(st, 1, &f->name) < 0 ||
        cat_col_str(st, 8, &f->created_at) < 0) {
        flavor_free(f);
        return NULL;
    }
    f->vcpus = (int)db_column_int64(st, 2);
    f->ram_mb = db_column_int64(st, 3);
    f->disk_gb = db_column_int64(st, 4);
    f->ephemeral_gb = db_column_int64(st, 5);
    f->swap_mb = db_column_int64(st, 6);
    f->is_public = db_column_int64(st, 7) != 0;
    return f;
}

/* Read the flavor whose COLUMN is VALUE into *OUT; 0, 1 (none) or -1. */
static int
cat_flavor_by_locked(struct catalog *cat, const char *column,
                     const char *value, struct flavor **out,
                     struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    int r;

    st = cat_prepare(cat, strcmp(column, "id") == 0
                              ? "SELECT " CAT_FLAVOR_COLS
                                " FROM flavors WHERE id = ?1"
                              : "SELECT " CAT_FLAVOR_COLS
                                " FROM flavors WHERE name = ?1",
                     errp);
    if (st == NULL || cat_bind(st, errp, "s", value) < 0 ||
        (r = cat_step(st, errp)) < 0) {
        return -1;
    }
    if (r == 0) {
        return 1;
    }
    *out = cat_flavor_read(st);
    return *out ? 0 : cat_oom(errp);
}

int
catalog_flavor_get(struct catalog *cat, const char *id, struct flavor **out,
                   struct error **errp)
{
    struct flavor *f = NULL;
    int r;

    if (id == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no flavor with ID ''");
        return -1;
    }
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    r = cat_tx_end_read(cat, cat_flavor_by_locked(cat, "id", id, &f, errp));
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_NOT_FOUND, "no flavor with ID '%s'", id);
        return -1;
    }
    *out = f;
    return 0;
}

/* By ID, else by name: 0, 1 (neither) or -1. */
static int
cat_flavor_find_locked(struct catalog *cat, const char *ref,
                       struct flavor **out, struct error **errp)
{
    int r = cat_flavor_by_locked(cat, "id", ref, out, errp);

    return r == 1 ? cat_flavor_by_locked(cat, "name", ref, out, errp) : r;
}

int
catalog_flavor_find(struct catalog *cat, const char *id_or_name,
                    struct flavor **out, struct error **errp)
{
    struct flavor *f = NULL;
    int r;

    if (id_or_name == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no flavor named or with ID ''");
        return -1;
    }
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    r = cat_tx_end_read(cat, cat_flavor_find_locked(cat, id_or_name, &f,
                                                    errp));
    if (r < 0) {
        return -1;
    }
    if (r > 0) {
        error_setg(errp, ERR_NOT_FOUND, "no flavor named or with ID '%s'",
                   id_or_name);
        return -1;
    }
    *out = f;
    return 0;
}

static int
cat_flavor_list_locked(struct catalog *cat, struct flavor ***out, size_t *n,
                       struct error **errp)
{
    CLEANUP_STMT struct db_stmt *st = NULL;
    struct flavor **list = NULL;
    size_t count = 0, cap = 0;
    int r;

    st = cat_prepare(cat, "SELECT " CAT_FLAVOR_COLS " FROM flavors "
                     "ORDER BY ram_mb, vcpus, id", errp);
    if (st == NULL) {
        return -1;
    }
    while ((r = cat_step(st, errp)) > 0) {
        struct flavor *f = cat_flavor_read(st);

        if (f == NULL) {
            flavor_list_free(list, count);
            return cat_oom(errp);
        }
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            list = xreallocarray(list, cap, sizeof(*list));
        }
        list[count++] = f;
    }
    if (r < 0) {
        flavor_list_free(list, count);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

int
catalog_flavor_list(struct catalog *cat, struct flavor ***out, size_t *n,
                    struct error **errp)
{
    if (cat_tx_begin(cat, false, errp) < 0) {
        return -1;
    }
    return cat_tx_end_read(cat, cat_flavor_list_locked(cat, out, n, errp));
}

static int
cat_flavor_delete_locked(struct catalog *cat, const char *id,
                         struct error **errp)
{
    if (cat_exec_bound(cat, "DELETE FROM flavors WHERE id = ?1", errp, "s",
                       id) < 0) {
        return -1;
    }
    if (cat_changes(cat) == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no flavor with ID '%s'", id);
        return -1;
    }
    return 0;
}

int
catalog_flavor_delete(struct catalog *cat, const char *id,
                      struct error **errp)
{
    if (id == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no flavor with ID ''");
        return -1;
    }
    if (cat_tx_begin(cat, true, errp) < 0) {
        return -1;
    }
    return cat_tx_end(cat, cat_flavor_delete_locked(cat, id, errp), errp);
}

/* The flavors of a new catalog (schema version 4): DevStack's m1.nano and
 * Nova's classic sizes.
 */
int
cat_flavors_seed_locked(struct catalog *cat, struct error **errp)
{
    static const struct {
        const char *id, *name;
        int vcpus;
        int64_t ram_mb, disk_gb;
    } seed[] = {
        {"42", "m1.nano", 1, 256, 1},
        {"1", "m1.tiny", 1, 512, 1},
        {"2", "m1.small", 1, 2048, 20},
        {"3", "m1.medium", 2, 4096, 40},
    };
    size_t i;

    for (i = 0; i < CAT_NELEMS(seed); i++) {
        struct flavor f = {0};

        f.id = (char *)seed[i].id;
        f.name = (char *)seed[i].name;
        f.vcpus = seed[i].vcpus;
        f.ram_mb = seed[i].ram_mb;
        f.disk_gb = seed[i].disk_gb;
        f.is_public = true;
        if (cat_flavor_insert_locked(cat, &f, errp) < 0) {
            return -1;
        }
    }
    return 0;
}
