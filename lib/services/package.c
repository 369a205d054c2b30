/* vmsnap: OVA packages of images (see package.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "images.h"
#include "log.h"
#include "ovf.h"
#include "package.h"
#include "qemuimg.h"
#include "util.h"
#include "volumes.h"

/* Memory of a package whose image records neither vmsnap_memory_mb nor
 * min_ram (the default of server create).
 */
#define PACKAGE_DEFAULT_MEMORY_MB 256

/* Image properties that export reads and import rewrites. */
#define PROP_BDM "block_device_mapping"
#define PROP_KERNEL "kernel_id"
#define PROP_RAMDISK "ramdisk_id"
#define PROP_CPUS "vmsnap_cpus"
#define PROP_MEMORY "vmsnap_memory_mb"
#define PROP_IMPORTED "imported_from"
#define PROP_IMPORT_OF PACKAGE_PROP_IMPORT_OF
#define PROP_OS_TYPE "os_type"

/* Volume snapshot metadata that import sets. */
#define META_SET "instance_snapshot_id"

/* The files an image boots with: the property that names the image, the
 * role of the plain file in a package, the image's disk format.
 */
static const struct {
    const char *prop;
    const char *role;
    const char *format;
} package_boot[] = {
    {PROP_KERNEL, "kernel", "aki"},
    {PROP_RAMDISK, "ramdisk", "ari"},
};

#define PACKAGE_NBOOT (sizeof(package_boot) / sizeof(package_boot[0]))

/* One entry of a block_device_mapping property.  Strings are borrowed
 * from the parsed JSON.
 */
struct package_bdm {
    int64_t device_index;    /* order on the instance, >= 1 */
    const char *snapshot_id; /* the volume snapshot, a UUID */
    const char *volume_id;   /* the volume it was taken of, or NULL */
    const char *volume_name; /* that volume's name, or NULL */
    bool matched;            /* import: a disk of the package is this one */
};

static int
package_nomem(struct error **errp)
{
    error_setg(errp, ERR_IO, "out of memory");
    return -1;
}

/* Set *DST to a copy of SRC (NULL gives NULL).  False if memory ran out. */
static bool
package_dup(char **dst, const char *src)
{
    *dst = src != NULL ? strdup(src) : NULL;
    return src == NULL || *dst != NULL;
}

/* The string member KEY of JSON object OBJ, or NULL. */
static const char *
package_json_str(json_object *obj, const char *key)
{
    json_object *v;

    if (!json_object_object_get_ex(obj, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return NULL;
    }
    return json_object_get_string(v);
}

/* Parse VALUE, a block_device_mapping property, into ENT (room for MAX
 * entries), sorted by device index (entries without one count from 1 in
 * array order; equal indexes keep their order).  *LIST gets the parsed
 * array, which the caller puts after the last use of ENT.
 * Returns 0, or -1 with ERR_INVALID (not an array of objects with a UUID
 * snapshot_id, a bad device_index, a snapshot named twice, more than MAX
 * entries); *LIST is NULL then.
 */
static int
package_parse_bdm(const char *value, json_object **list,
                  struct package_bdm *ent, size_t max, size_t *n,
                  struct error **errp)
{
    json_object *a = json_tokener_parse(value);
    size_t i, j, len;

    *list = NULL;
    *n = 0;
    if (a == NULL || !json_object_is_type(a, json_type_array)) {
        json_object_put(a);
        error_setg(errp, ERR_INVALID,
                   "block_device_mapping is not a JSON array");
        return -1;
    }
    len = json_object_array_length(a);
    if (len > max) {
        json_object_put(a);
        error_setg(errp, ERR_INVALID,
                   "block_device_mapping has %zu entries: at most %zu", len,
                   max);
        return -1;
    }
    for (i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(a, i), *v;
        struct package_bdm b = {.device_index = (int64_t)i + 1};

        b.snapshot_id = package_json_str(e, "snapshot_id");
        if (!json_object_is_type(e, json_type_object) ||
            !util_is_uuid(b.snapshot_id)) {
            json_object_put(a);
            error_setg(errp, ERR_INVALID,
                       "block_device_mapping entry %zu has no valid "
                       "snapshot_id",
                       i + 1);
            return -1;
        }
        if (json_object_object_get_ex(e, "device_index", &v) &&
            (!json_object_is_type(v, json_type_int) ||
             (b.device_index = json_object_get_int64(v)) < 1)) {
            json_object_put(a);
            error_setg(errp, ERR_INVALID,
                       "block_device_mapping entry %zu has a bad "
                       "device_index",
                       i + 1);
            return -1;
        }
        b.volume_id = package_json_str(e, "volume_id");
        b.volume_name = package_json_str(e, "volume_name");
        for (j = 0; j < *n; j++) {
            if (strcasecmp(ent[j].snapshot_id, b.snapshot_id) == 0) {
                json_object_put(a);
                error_setg(errp, ERR_INVALID,
                           "block_device_mapping names volume snapshot %s "
                           "twice",
                           b.snapshot_id);
                return -1;
            }
        }
        for (j = *n; j > 0 && ent[j - 1].device_index > b.device_index; j--) {
            ent[j] = ent[j - 1];
        }
        ent[j] = b;
        (*n)++;
    }
    *list = a;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Export.                                                             */

/* Parse property KEY of IMG, when it is set, as an integer from 1 to MAX
 * into *OUT (left alone when KEY is not set).
 */
static int
package_prop_int(const struct image *img, const char *key, int64_t max,
                 int64_t *out, struct error **errp)
{
    const char *v = image_prop(img, key);
    int64_t x;

    if (v == NULL) {
        return 0;
    }
    if (util_parse_int64(v, &x, NULL) < 0 || x < 1 || x > max) {
        error_setg(errp, ERR_INVALID,
                   "image %s: property %s is '%.32s', not a number from 1 "
                   "to %" PRId64,
                   img->id, key, v, max);
        return -1;
    }
    *out = x;
    return 0;
}

/* Add the volume snapshots that IMG's block_device_mapping names to PKG,
 * in device order.
 */
static int
package_export_volumes(struct store *store, const struct image *img,
                       struct ovf_package *pkg, struct error **errp)
{
    const char *value = image_prop(img, PROP_BDM);
    struct package_bdm ent[OVF_MAX_DISKS - 1];
    CLEANUP_JSON_PUT json_object *list = NULL;
    size_t n = 0, i;

    if (value == NULL) {
        return 0;
    }
    if (package_parse_bdm(value, &list, ent, OVF_MAX_DISKS - 1, &n, errp) < 0) {
        error_prepend(errp, "image %s: ", img->id);
        return -1;
    }
    for (i = 0; i < n; i++) {
        struct ovf_disk *d = &pkg->disks[pkg->ndisks];
        struct volume_snapshot *vs = NULL;
        bool ok;

        if (catalog_volume_snapshot_get(store_catalog(store),
                                        ent[i].snapshot_id, &vs, errp) < 0) {
            error_prepend(errp, "image %s, volume %zu: ", img->id, i + 1);
            return -1;
        }
        if (strcmp(vs->status, "available") != 0 || vs->file == NULL) {
            error_setg(errp, ERR_CONFLICT,
                       "image %s, volume %zu: volume snapshot %s is %s, not "
                       "available",
                       img->id, i + 1, vs->id, vs->status);
            volume_snapshot_free(vs);
            return -1;
        }
        pkg->ndisks++;
        ok = package_dup(&d->file, vs->file) &&
             package_dup(&d->format, "qcow2") &&
             package_dup(&d->role, "volume") &&
             package_dup(&d->name, ent[i].volume_name != NULL
                                       ? ent[i].volume_name
                                       : vs->name) &&
             package_dup(&d->ref_id, vs->id);
        volume_snapshot_free(vs);
        if (!ok) {
            return package_nomem(errp);
        }
    }
    return 0;
}

/* Add the kernel and ramdisk images that IMG names to PKG, as plain
 * files.
 */
static int
package_export_boot(struct store *store, const struct image *img,
                    struct ovf_package *pkg, struct error **errp)
{
    size_t i;

    for (i = 0; i < PACKAGE_NBOOT; i++) {
        const char *id = image_prop(img, package_boot[i].prop);
        struct ovf_file *f = &pkg->files[pkg->nfiles];
        struct image *b = NULL;
        bool ok;

        if (id == NULL) {
            continue;
        }
        if (catalog_image_get(store_catalog(store), id, &b, errp) < 0) {
            error_prepend(errp, "image %s, %s: ", img->id,
                          package_boot[i].prop);
            return -1;
        }
        if (strcmp(b->status, "active") != 0 || b->file == NULL) {
            error_setg(errp, ERR_CONFLICT,
                       "image %s, %s: image %s is %s, not active", img->id,
                       package_boot[i].prop, b->id, b->status);
            image_free(b);
            return -1;
        }
        if (b->disk_format == NULL ||
            strcmp(b->disk_format, package_boot[i].format) != 0) {
            error_setg(errp, ERR_INVALID,
                       "image %s, %s: image %s is not an %s image", img->id,
                       package_boot[i].prop, b->id, package_boot[i].format);
            image_free(b);
            return -1;
        }
        pkg->nfiles++;
        ok = package_dup(&f->path, b->file) &&
             package_dup(&f->role, package_boot[i].role) &&
             package_dup(&f->name, b->name) && package_dup(&f->ref_id, b->id);
        image_free(b);
        if (!ok) {
            return package_nomem(errp);
        }
    }
    return 0;
}

/* The package that describes IMG and its set, in *OUT (free with
 * ovf_package_free).
 */
static int
package_describe(struct store *store, const struct image *img,
                 struct ovf_package **out, struct error **errp)
{
    struct ovf_package *pkg = calloc(1, sizeof(*pkg));
    const char *os_type = image_prop(img, PROP_OS_TYPE);
    struct ovf_disk *root;
    int64_t cpus = 1, mem;
    size_t i;

    if (pkg == NULL) {
        return package_nomem(errp);
    }
    pkg->disks = calloc(OVF_MAX_DISKS, sizeof(*pkg->disks));
    pkg->files = calloc(PACKAGE_NBOOT, sizeof(*pkg->files));
    pkg->props = calloc(img->nprops + 1, sizeof(*pkg->props));
    if (pkg->disks == NULL || pkg->files == NULL || pkg->props == NULL ||
        !package_dup(&pkg->name, img->name != NULL && img->name[0] != '\0'
                                     ? img->name
                                     : img->id) ||
        !package_dup(&pkg->os_type,
                     os_type != NULL && os_type[0] != '\0' ? os_type : NULL)) {
        ovf_package_free(pkg);
        return package_nomem(errp);
    }
    mem = img->min_ram > 0 ? img->min_ram : PACKAGE_DEFAULT_MEMORY_MB;
    if (package_prop_int(img, PROP_CPUS, OVF_MAX_CPUS, &cpus, errp) < 0 ||
        package_prop_int(img, PROP_MEMORY, OVF_MAX_MEMORY_MB, &mem, errp) < 0) {
        ovf_package_free(pkg);
        return -1;
    }
    pkg->cpus = (int)cpus;
    pkg->memory_mb = mem;
    for (i = 0; i < img->nprops; i++) {
        struct ovf_prop *p = &pkg->props[pkg->nprops++];

        if (!package_dup(&p->key, img->props[i].key) ||
            !package_dup(&p->value, img->props[i].value)) {
            ovf_package_free(pkg);
            return package_nomem(errp);
        }
    }
    root = &pkg->disks[pkg->ndisks++];
    if (!package_dup(&root->file, img->file) ||
        !package_dup(&root->format, img->disk_format) ||
        !package_dup(&root->role, "root") ||
        !package_dup(&root->name, img->name) ||
        !package_dup(&root->ref_id, img->id)) {
        ovf_package_free(pkg);
        return package_nomem(errp);
    }
    if (package_export_volumes(store, img, pkg, errp) < 0 ||
        package_export_boot(store, img, pkg, errp) < 0) {
        ovf_package_free(pkg);
        return -1;
    }
    *out = pkg;
    return 0;
}

int
package_export(struct store *store, const struct image *img, const char *path,
               const char *disk_format, const struct progress *progress,
               struct error **errp)
{
    struct ovf_package *pkg = NULL;
    CLEANUP_FREE char *workdir = NULL;
    CLEANUP_CLOSE int dirfd = -1;
    int r;

    if (img == NULL || path == NULL || path[0] == '\0') {
        error_setg(errp, ERR_INVALID, "export: no image or no path");
        return -1;
    }
    if (strcmp(img->status, "active") != 0 || img->file == NULL) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not active", img->id,
                   img->status);
        return -1;
    }
    if (!images_is_disk(img->disk_format)) {
        error_setg(errp, ERR_INVALID,
                   "image %s is not a disk image (%s): only disk images "
                   "are exported, with their kernel and ramdisk",
                   img->id, img->disk_format ? img->disk_format : "none");
        return -1;
    }
    if (package_describe(store, img, &pkg, errp) < 0) {
        return -1;
    }
    dirfd = store_make_tmp_dir(store, "export", &workdir, errp);
    if (dirfd < 0) {
        ovf_package_free(pkg);
        return -1;
    }
    log_debug("package", "exporting %s (%zu disks, %zu files) to %s", img->id,
              pkg->ndisks, pkg->nfiles, path);
    r = ovf_export(pkg, path, disk_format, workdir, progress, errp);
    /* ovf_export removed its own scratch directory in WORKDIR. */
    if (rmdir(workdir) < 0) {
        log_warnx("cannot remove %s: %s", workdir, strerror(errno));
    }
    ovf_package_free(pkg);
    return r;
}

/* ------------------------------------------------------------------ */
/* Import.                                                             */

/* One volume disk of an import. */
struct package_vol {
    struct volume_snapshot *vs; /* its new record */
    bool file_made;             /* vs->file may exist */
    bool inserted;              /* vs is in the catalog */
};

/* What one import works with. */
struct package_import {
    struct store *store;             /* the data directory */
    const struct progress *progress; /* may be NULL */
    const char *name;                /* name of the new image */
    char *workdir;                   /* tmp/import-<uuid>, made here */
    struct ovf_package *pkg;         /* the package, unpacked in workdir */
    struct image *img;               /* the new root image's record */
    char *img_file;                  /* its data file */
    bool img_file_made;              /* img_file may exist */
    bool img_inserted;               /* img is in the catalog */
    struct package_vol vols[OVF_MAX_DISKS]; /* pkg->disks[i + 1] */
    size_t nvols;                           /* pkg->ndisks - 1 */
    struct image *boot[PACKAGE_NBOOT];      /* new kernel, ramdisk images */
    const struct ovf_file *boot_file[PACKAGE_NBOOT]; /* in pkg, or NULL */
    int64_t conv_total;  /* bytes of all disks */
    int64_t conv_done;   /* bytes of the disks converted */
    int64_t conv_weight; /* bytes of the disk converting */
    int lock;            /* store_lock_image of img, or -1 */
};

/* The value of property KEY in the package, or NULL. */
static const char *
package_prop(const struct ovf_package *pkg, const char *key)
{
    size_t i;

    for (i = 0; i < pkg->nprops; i++) {
        if (strcmp(pkg->props[i].key, key) == 0) {
            return pkg->props[i].value;
        }
    }
    return NULL;
}

/* The properties import rewrites or sets itself. */
static bool
package_prop_rewritten(const char *key)
{
    /* instance_uuid and backup_type name an instance of the exporting
     * host: kept, an imported backup would join the rotation of a local
     * instance that happens to share the ID.  imported_from keeps the
     * origin.
     */
    static const char *const keys[] = {
        PROP_BDM,    PROP_KERNEL,     PROP_RAMDISK,  PROP_CPUS,
        PROP_MEMORY, PROP_IMPORTED,   "instance_uuid", "backup_type",
    };
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(key, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* The new root image's record, in status importing, with the package's
 * properties except those rewritten later.  The import lock is taken
 * here, before the record exists (see store_lock_image).
 */
static int
package_new_image(struct package_import *im, struct error **errp)
{
    const struct ovf_package *pkg = im->pkg;
    struct image *img = calloc(1, sizeof(*img));
    char num[32];
    size_t i;

    if (img == NULL) {
        return package_nomem(errp);
    }
    im->img = img;
    util_uuid_new(img->id);
    im->lock = store_lock_image(im->store, img->id, false, errp);
    if (im->lock < 0) {
        return -1;
    }
    img->size = -1;
    img->virtual_size = -1;
    if (!package_dup(&img->name, im->name) ||
        !package_dup(&img->status, "importing") ||
        !package_dup(&img->disk_format, "qcow2") ||
        !package_dup(&img->container_format, "bare")) {
        return package_nomem(errp);
    }
    for (i = 0; i < pkg->nprops; i++) {
        if (!package_prop_rewritten(pkg->props[i].key) &&
            image_prop_set(img, pkg->props[i].key, pkg->props[i].value, errp) <
                0) {
            return -1;
        }
    }
    /* The hardware section is where OVF keeps these: take them from it,
     * so that a package made by another tool keeps them too.
     */
    snprintf(num, sizeof(num), "%d", pkg->cpus);
    if (image_prop_set(img, PROP_CPUS, num, errp) < 0) {
        return -1;
    }
    snprintf(num, sizeof(num), "%" PRId64, pkg->memory_mb);
    if (image_prop_set(img, PROP_MEMORY, num, errp) < 0) {
        return -1;
    }
    if (pkg->disks[0].ref_id != NULL &&
        image_prop_set(img, PROP_IMPORTED, pkg->disks[0].ref_id, errp) < 0) {
        return -1;
    }
    return 0;
}

/* Decide where kernel_id and ramdisk_id will point: at a new image made
 * from the package's plain file, or, when the package carries none, at
 * the image the property names, which must exist here.
 */
static int
package_plan_boot(struct package_import *im, struct error **errp)
{
    const struct ovf_package *pkg = im->pkg;
    size_t i, j;

    for (i = 0; i < PACKAGE_NBOOT; i++) {
        const char *id = package_prop(pkg, package_boot[i].prop);
        struct image *b = NULL;
        bool usable;

        for (j = 0; j < pkg->nfiles; j++) {
            if (strcmp(pkg->files[j].role, package_boot[i].role) == 0) {
                im->boot_file[i] = &pkg->files[j];
            }
        }
        if (im->boot_file[i] != NULL || id == NULL) {
            continue;
        }
        if (!util_is_uuid(id) ||
            catalog_image_get(store_catalog(im->store), id, &b, NULL) < 0) {
            error_setg(errp, ERR_INVALID,
                       "property %s names image %.40s, which the package "
                       "does not carry and this host does not have",
                       package_boot[i].prop, id);
            return -1;
        }
        usable = strcmp(b->status, "active") == 0 && b->disk_format &&
                 strcmp(b->disk_format, package_boot[i].format) == 0;
        image_free(b);
        if (!usable) {
            error_setg(errp, ERR_INVALID,
                       "property %s names image %s, which the package does "
                       "not carry and which is not an active %s image here",
                       package_boot[i].prop, id, package_boot[i].format);
            return -1;
        }
        if (image_prop_set(im->img, package_boot[i].prop, id, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The record of volume disk I (pkg->disks[I]) and its entry in the new
 * block_device_mapping, appended to BDM.  OLD (may be NULL) is the entry
 * of the package's own block_device_mapping for that disk.
 */
static int
package_new_volume(struct package_import *im, size_t i,
                   const struct package_bdm *old, json_object *bdm,
                   struct error **errp)
{
    const struct ovf_disk *d = &im->pkg->disks[i];
    struct volume_snapshot *vs = calloc(1, sizeof(*vs));
    const char *vname =
        old != NULL && old->volume_name != NULL ? old->volume_name : d->name;
    CLEANUP_FREE char *label = NULL;
    json_object *e;

    if (vs == NULL) {
        return package_nomem(errp);
    }
    im->vols[im->nvols++].vs = vs;
    util_uuid_new(vs->id);
    label = vname != NULL ? strdup(vname) : util_strdup_printf("vol%zu", i);
    vs->name =
        label != NULL ? util_strdup_printf("%s-%s", im->name, label) : NULL;
    if (old != NULL && util_is_uuid(old->volume_id)) {
        vs->volume_id = strdup(old->volume_id);
    } else {
        char id[UTIL_UUID_LEN];

        util_uuid_new(id);
        vs->volume_id = strdup(id);
    }
    vs->status = strdup("available");
    vs->size = d->capacity;
    vs->file = store_volume_snapshot_path(im->store, vs->id);
    if (vs->name == NULL || vs->volume_id == NULL || vs->status == NULL ||
        vs->file == NULL) {
        return package_nomem(errp);
    }
    if (volume_snapshot_meta_set(vs, META_SET, im->img->id, errp) < 0 ||
        (d->ref_id != NULL &&
         volume_snapshot_meta_set(vs, PROP_IMPORTED, d->ref_id, errp) < 0)) {
        return -1;
    }
    e = json_object_new_object();
    if (e == NULL || json_object_array_add(bdm, e) < 0) {
        json_object_put(e);
        return package_nomem(errp);
    }
    json_object_object_add(
        e, "device_index",
        json_object_new_int64(old != NULL ? old->device_index : (int64_t)i));
    json_object_object_add(e, "volume_id",
                           json_object_new_string(vs->volume_id));
    json_object_object_add(e, "snapshot_id", json_object_new_string(vs->id));
    json_object_object_add(e, "size", json_object_new_int64(vs->size));
    if (vname != NULL) {
        json_object_object_add(e, "volume_name", json_object_new_string(vname));
    }
    return 0;
}

/* Plan the volume snapshots: one per volume disk, matched to the
 * package's block_device_mapping by the snapshot ID each disk records,
 * and the new block_device_mapping that names them.
 */
static int
package_plan_volumes(struct package_import *im, struct error **errp)
{
    const struct ovf_package *pkg = im->pkg;
    const char *value = package_prop(pkg, PROP_BDM);
    struct package_bdm ent[OVF_MAX_DISKS];
    CLEANUP_JSON_PUT json_object *old = NULL;
    CLEANUP_JSON_PUT json_object *bdm = NULL;
    size_t n = 0, i, j;

    if (value != NULL &&
        package_parse_bdm(value, &old, ent, OVF_MAX_DISKS, &n, errp) < 0) {
        error_prepend(errp, "package property ");
        return -1;
    }
    bdm = json_object_new_array();
    if (bdm == NULL) {
        return package_nomem(errp);
    }
    for (i = 1; i < pkg->ndisks; i++) {
        const struct package_bdm *match = NULL;

        for (j = 0; j < n && pkg->disks[i].ref_id != NULL; j++) {
            if (!ent[j].matched &&
                strcasecmp(ent[j].snapshot_id, pkg->disks[i].ref_id) == 0) {
                ent[j].matched = true;
                match = &ent[j];
                break;
            }
        }
        if (package_new_volume(im, i, match, bdm, errp) < 0) {
            return -1;
        }
    }
    for (j = 0; j < n; j++) {
        if (!ent[j].matched) {
            error_setg(errp, ERR_INVALID,
                       "block_device_mapping names volume snapshot %s, "
                       "which the package does not carry",
                       ent[j].snapshot_id);
            return -1;
        }
    }
    if (im->nvols > 0 && image_prop_set(im->img, PROP_BDM,
                                        json_object_to_json_string_ext(
                                            bdm, JSON_C_TO_STRING_PLAIN),
                                        errp) < 0) {
        return -1;
    }
    return 0;
}

/* Check that the unpacked package describes a bootable image and plan
 * every record, before anything slow is done.
 */
static int
package_plan(struct package_import *im, struct error **errp)
{
    const struct ovf_package *pkg = im->pkg;
    size_t i;

    if (strcmp(pkg->disks[0].role, "root") != 0) {
        error_setg(errp, ERR_INVALID,
                   "the package has no root disk (its first disk is a "
                   "volume): it does not describe a bootable image");
        return -1;
    }
    if (pkg->ndisks - 1 > VOLUMES_MAX_PER_INSTANCE) {
        error_setg(errp, ERR_INVALID,
                   "the package has %zu volumes: an instance takes at most "
                   "%d",
                   pkg->ndisks - 1, VOLUMES_MAX_PER_INSTANCE);
        return -1;
    }
    if (im->name == NULL) {
        im->name = pkg->name;
    }
    if (im->name[0] == '\0' || strlen(im->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "an image name has 1 to %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (package_new_image(im, errp) < 0 || package_plan_boot(im, errp) < 0 ||
        package_plan_volumes(im, errp) < 0) {
        return -1;
    }
    im->conv_total = 0;
    for (i = 0; i < pkg->ndisks; i++) {
        im->conv_total += pkg->disks[i].capacity;
    }
    return 0;
}

static void
package_on_convert(double pct, void *opaque)
{
    struct package_import *im = opaque;
    double total = im->conv_total > 0 ? (double)im->conv_total : 1;
    double done = (double)im->conv_done + pct / 100 * (double)im->conv_weight;

    progress_report(im->progress, "convert",
                    done * 100 / total > 100 ? 100 : done * 100 / total);
}

/* Convert disk I of the package into a new qcow2 file DST, then drop
 * the unpacked disk: the data directory holds each disk twice only while
 * it converts.
 */
static int
package_convert(struct package_import *im, size_t i, const char *dst,
                struct error **errp)
{
    const struct ovf_disk *d = &im->pkg->disks[i];

    im->conv_weight = d->capacity;
    log_debug("package", "converting %s (%s) to %s", d->file, d->format, dst);
    if (qemuimg_convert(d->file, d->format, dst, "qcow2", package_on_convert,
                        im, errp) < 0) {
        error_prepend(errp, "disk %zu: ", i + 1);
        return -1;
    }
    im->conv_done += d->capacity;
    if (unlink(d->file) < 0 && errno != ENOENT) {
        log_warnx("cannot remove %s: %s", d->file, strerror(errno));
    }
    return 0;
}

/* Make every data file: the root image's and the volume snapshots'. */
static int
package_convert_disks(struct package_import *im, struct error **errp)
{
    size_t i;

    im->img_file = store_image_path(im->store, im->img->id, "qcow2");
    if (im->img_file == NULL) {
        return package_nomem(errp);
    }
    im->img_file_made = true;
    if (package_convert(im, 0, im->img_file, errp) < 0) {
        return -1;
    }
    for (i = 0; i < im->nvols; i++) {
        im->vols[i].file_made = true;
        if (package_convert(im, i + 1, im->vols[i].vs->file, errp) < 0) {
            return -1;
        }
    }
    progress_report(im->progress, "convert", 100);
    return 0;
}

/* Register the kernel and ramdisk the package carries as new images. */
static int
package_register_boot(struct package_import *im, struct error **errp)
{
    size_t i;

    for (i = 0; i < PACKAGE_NBOOT; i++) {
        const struct ovf_file *f = im->boot_file[i];
        /* PROP_IMPORT_OF ties the image to this import, so that what an
         * import killed half-way made can be found and removed (reap.c).
         */
        struct prop props[2] = {{(char *)PROP_IMPORT_OF, im->img->id},
                                {(char *)PROP_IMPORTED, NULL}};
        struct images_new spec = {0};
        CLEANUP_FREE char *name = NULL;

        if (f == NULL) {
            continue;
        }
        name = f->name != NULL ? strdup(f->name)
                               : util_strdup_printf("%s-%s", im->name, f->role);
        if (name == NULL) {
            return package_nomem(errp);
        }
        spec.name = name;
        spec.file = f->path;
        spec.disk_format = package_boot[i].format;
        props[1].value = f->ref_id;
        spec.props = props;
        spec.nprops = f->ref_id != NULL ? 2 : 1;
        if (images_create(im->store, &spec, im->progress, &im->boot[i], errp) <
            0) {
            error_prepend(errp, "%s: ", f->role);
            return -1;
        }
        if (image_prop_set(im->img, package_boot[i].prop, im->boot[i]->id,
                           errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Put the root image (importing) and its volume snapshots (available,
 * their files complete) in the catalog in one transaction, then hash the
 * root disk and make the image active.
 */
static int
package_register(struct package_import *im, struct error **errp)
{
    struct catalog *cat = store_catalog(im->store);
    size_t i;

    if (package_register_boot(im, errp) < 0) {
        return -1;
    }
    if (catalog_begin(cat, errp) < 0) {
        return -1;
    }
    if (catalog_image_insert(cat, im->img, errp) < 0) {
        catalog_rollback(cat);
        return -1;
    }
    for (i = 0; i < im->nvols; i++) {
        if (catalog_volume_snapshot_insert(cat, im->vols[i].vs, errp) < 0) {
            catalog_rollback(cat);
            return -1;
        }
    }
    if (catalog_commit(cat, errp) < 0) {
        return -1;
    }
    im->img_inserted = true;
    for (i = 0; i < im->nvols; i++) {
        im->vols[i].inserted = true;
    }
    if (images_activate(im->store, im->img, im->img_file, im->progress,
                        errp) < 0) {
        error_prepend(errp, "root disk: ");
        return -1;
    }
    return 0;
}

/* Undo a failed import: records first (the image before the volume
 * snapshots and the kernel it names, which it would keep in use), then
 * files.
 */
static void
package_undo(struct package_import *im)
{
    struct catalog *cat = store_catalog(im->store);
    struct error *err = NULL;
    size_t i;

    if (im->img_inserted && catalog_image_delete(cat, im->img->id, &err) < 0) {
        log_warnx("import: image %s stays: %s", im->img->id, error_msg(err));
        error_free(err);
        err = NULL;
    }
    for (i = 0; i < im->nvols; i++) {
        struct package_vol *v = &im->vols[i];

        if (v->inserted &&
            catalog_volume_snapshot_delete(cat, v->vs->id, &err) < 0) {
            log_warnx("import: volume snapshot %s stays: %s", v->vs->id,
                      error_msg(err));
            error_free(err);
            err = NULL;
        }
        if (v->file_made && unlink(v->vs->file) < 0 && errno != ENOENT) {
            log_warnx("import: cannot remove %s: %s", v->vs->file,
                      strerror(errno));
        }
    }
    if (im->img_file_made && unlink(im->img_file) < 0 && errno != ENOENT) {
        log_warnx("import: cannot remove %s: %s", im->img_file,
                  strerror(errno));
    }
    for (i = 0; i < PACKAGE_NBOOT; i++) {
        if (im->boot[i] != NULL &&
            images_delete(im->store, im->boot[i], &err) < 0) {
            log_warnx("import: image %s stays: %s", im->boot[i]->id,
                      error_msg(err));
            error_free(err);
            err = NULL;
        }
    }
}

/* Remove the unpacked package and the work directory, and free what IM
 * holds.
 */
static void
package_import_clear(struct package_import *im)
{
    size_t i;

    if (im->pkg != NULL) {
        for (i = 0; i < im->pkg->ndisks; i++) {
            (void)unlink(im->pkg->disks[i].file);
        }
        for (i = 0; i < im->pkg->nfiles; i++) {
            (void)unlink(im->pkg->files[i].path);
        }
    }
    if (im->workdir != NULL && rmdir(im->workdir) < 0) {
        log_warnx("import: cannot remove %s: %s", im->workdir, strerror(errno));
    }
    for (i = 0; i < im->nvols; i++) {
        volume_snapshot_free(im->vols[i].vs);
    }
    for (i = 0; i < PACKAGE_NBOOT; i++) {
        image_free(im->boot[i]);
    }
    if (im->img) {
        store_unlock_image(im->store, im->img->id, im->lock);
    }
    image_free(im->img);
    free(im->img_file);
    free(im->workdir);
    ovf_package_free(im->pkg);
}

int
package_import(struct store *store, const char *path, const char *name,
               const struct progress *progress, struct image **out,
               struct error **errp)
{
    struct package_import im = {
        .store = store, .progress = progress, .name = name, .lock = -1};
    struct error *local = NULL;
    CLEANUP_CLOSE int dirfd = -1;
    char *workdir;
    int r = -1;

    if (path == NULL || out == NULL) {
        error_setg(errp, ERR_INVALID, "import: no package or no result");
        return -1;
    }
    dirfd = store_make_tmp_dir(store, "import", &workdir, errp);
    if (dirfd < 0) {
        return -1;
    }
    im.workdir = workdir;
    /* ovf_import names PATH in its messages; the rest gets it here. */
    if (ovf_import(path, im.workdir, &im.pkg, &local) < 0) {
        goto out;
    }
    log_debug("package", "%s: %zu disks, %zu files, %zu properties", path,
              im.pkg->ndisks, im.pkg->nfiles, im.pkg->nprops);
    if (package_plan(&im, &local) < 0 ||
        package_convert_disks(&im, &local) < 0 ||
        package_register(&im, &local) < 0 ||
        catalog_image_get(store_catalog(store), im.img->id, out, &local) < 0) {
        error_prepend(&local, "%s: ", path);
        goto out;
    }
    r = 0;
out:
    if (r < 0) {
        package_undo(&im);
        error_propagate(errp, local);
    }
    package_import_clear(&im);
    return r;
}
