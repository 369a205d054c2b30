/* vmsnap: OVA packages of images (see package.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bdm.h"
#include "cleanup.h"
#include "datadir.h"
#include "images.h"
#include "log.h"
#include "ovf.h"
#include "package.h"
#include "props.h"
#include "qemuimg.h"
#include "servers.h"
#include "svc.h"
#include "util.h"
#include "volumes.h"
#include "xalloc.h"
#include "xjson.h"

/* Memory of a package whose image records neither vmsnap_memory_mb nor
 * min_ram (the default of server create).
 */
#define PACKAGE_DEFAULT_MEMORY_MB 256

/* Bytes a converted qcow2 may hold beyond its capacity and metadata. */
#define PACKAGE_QCOW2_SLACK (16 * 1024 * 1024)

/* The files an image boots with: the property that names the image, the
 * role of the plain file in a package, the image's disk format.
 */
static const struct {
    const char *prop;
    const char *role;
    const char *format;
} package_boot[] = {
    {PROP_KERNEL_ID, "kernel", "aki"},
    {PROP_RAMDISK_ID, "ramdisk", "ari"},
};

#define PACKAGE_NBOOT (sizeof(package_boot) / sizeof(package_boot[0]))

/* ---- Export ----------------------------------------------------------- */

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

/* Add the volume snapshots of IMG's set to PKG, in device order. */
static int
package_export_volumes(struct svc *svc, const struct image *img,
                       struct ovf_package *pkg, struct error **errp)
{
    size_t i;

    for (i = 0; i < img->nbdm; i++) {
        const struct bdm_entry *e = &img->bdm[i];
        struct ovf_disk *d = &pkg->disks[pkg->ndisks];
        struct volume_snapshot *vs = NULL;
        char *path = NULL;

        if (catalog_volume_snapshot_get(svc_catalog(svc), e->snapshot_id,
                                        &vs, errp) < 0) {
            error_prepend(errp, "image %s, volume %zu: ", img->id, i + 1);
            return -1;
        }
        if (strcmp(vs->status, "available") != 0 ||
            volumes_snapshot_path(svc, vs, &path, errp) < 0) {
            if (errp && *errp == NULL) {
                error_setg(errp, ERR_CONFLICT,
                           "image %s, volume %zu: volume snapshot %s is "
                           "%s, not available",
                           img->id, i + 1, vs->id, vs->status);
            }
            volume_snapshot_free(vs);
            return -1;
        }
        pkg->ndisks++;
        d->file = path;
        d->format = xstrdup("qcow2");
        d->role = xstrdup("volume");
        d->name = xstrdup(e->volume_name ? e->volume_name
                          : vs->name     ? vs->name
                                         : vs->id);
        d->ref_id = xstrdup(vs->id);
        volume_snapshot_free(vs);
    }
    return 0;
}

/* Add the kernel and ramdisk images that IMG names to PKG, as plain
 * files.
 */
static int
package_export_boot(struct svc *svc, const struct image *img,
                    struct ovf_package *pkg, struct error **errp)
{
    size_t i;

    for (i = 0; i < PACKAGE_NBOOT; i++) {
        const char *id = image_prop(img, package_boot[i].prop);
        struct ovf_file *f = &pkg->files[pkg->nfiles];
        struct image *b = NULL;
        char *path = NULL;

        if (id == NULL) {
            continue;
        }
        if (catalog_image_get(svc_catalog(svc), id, &b, errp) < 0) {
            error_prepend(errp, "image %s, %s: ", img->id,
                          package_boot[i].prop);
            return -1;
        }
        if (strcmp(b->status, "active") != 0 || b->disk_format == NULL ||
            strcmp(b->disk_format, package_boot[i].format) != 0 ||
            images_local_path(svc, b, &path, errp) < 0) {
            if (errp && *errp == NULL) {
                error_setg(errp, ERR_CONFLICT,
                           "image %s, %s: image %s is not an active %s "
                           "image",
                           img->id, package_boot[i].prop, b->id,
                           package_boot[i].format);
            }
            image_free(b);
            return -1;
        }
        pkg->nfiles++;
        f->path = path;
        f->role = xstrdup(package_boot[i].role);
        f->name = b->name ? xstrdup(b->name) : NULL;
        f->ref_id = xstrdup(b->id);
        image_free(b);
    }
    return 0;
}

/* The package that describes IMG and its set, in *OUT (free with
 * ovf_package_free).
 */
static int
package_describe(struct svc *svc, const struct image *img,
                 struct ovf_package **out, struct error **errp)
{
    struct ovf_package *pkg = xcalloc(1, sizeof(*pkg));
    const char *os_type = image_prop(img, PROP_OS_TYPE);
    struct ovf_disk *root;
    int64_t cpus = 1, mem;
    size_t i;

    pkg->disks = xcalloc(OVF_MAX_DISKS, sizeof(*pkg->disks));
    pkg->files = xcalloc(PACKAGE_NBOOT, sizeof(*pkg->files));
    pkg->props = xcalloc(img->nprops + 1, sizeof(*pkg->props));
    pkg->name = xstrdup(img->name && *img->name ? img->name : img->id);
    pkg->os_type = os_type && *os_type ? xstrdup(os_type) : NULL;
    mem = img->min_ram > 0 ? img->min_ram : PACKAGE_DEFAULT_MEMORY_MB;
    if (package_prop_int(img, PROP_VMSNAP_CPUS, OVF_MAX_CPUS, &cpus, errp) <
            0 ||
        package_prop_int(img, PROP_VMSNAP_MEMORY_MB, OVF_MAX_MEMORY_MB, &mem,
                         errp) < 0) {
        ovf_package_free(pkg);
        return -1;
    }
    pkg->cpus = (int)cpus;
    pkg->memory_mb = mem;
    for (i = 0; i < img->nprops; i++) {
        struct ovf_prop *p = &pkg->props[pkg->nprops++];

        p->key = xstrdup(img->props[i].key);
        p->value = xstrdup(img->props[i].value);
    }
    /* The set travels as the property Nova keeps it in. */
    if (img->nbdm > 0) {
        struct ovf_prop *p = &pkg->props[pkg->nprops++];

        p->key = xstrdup(PROP_BDM);
        p->value = bdm_format(img->bdm, img->nbdm, errp);
        if (p->value == NULL) {
            ovf_package_free(pkg);
            return -1;
        }
    }
    root = &pkg->disks[pkg->ndisks++];
    root->format = xstrdup(img->disk_format);
    root->role = xstrdup("root");
    root->name = img->name ? xstrdup(img->name) : NULL;
    root->ref_id = xstrdup(img->id);
    if (images_local_path(svc, img, &root->file, errp) < 0 ||
        package_export_volumes(svc, img, pkg, errp) < 0 ||
        package_export_boot(svc, img, pkg, errp) < 0) {
        ovf_package_free(pkg);
        return -1;
    }
    *out = pkg;
    return 0;
}

int
package_export_request(struct svc *svc, const struct caller *who,
                       const char *ref, const char *path,
                       const char *disk_format, struct task **out,
                       struct error **errp)
{
    CLEANUP_JSON_PUT json_object *req = NULL;
    struct image *img = NULL;
    int r;

    if (path == NULL || *path == '\0') {
        error_setg(errp, ERR_INVALID, "export: no path");
        return -1;
    }
    if (strcmp(disk_format, "vmdk") != 0 && strcmp(disk_format, "qcow2") != 0) {
        error_setg(errp, ERR_INVALID,
                   "disk format '%s' is not supported (vmdk, qcow2)",
                   disk_format);
        return -1;
    }
    if (images_find(svc, who, ref, &img, errp) < 0) {
        return -1;
    }
    if (strcmp(img->status, "active") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not active", img->id,
                   img->status);
        image_free(img);
        return -1;
    }
    if (!images_is_disk(img->disk_format)) {
        error_setg(errp, ERR_INVALID,
                   "image %s is not a disk image (%s): only disk images "
                   "are exported, with their kernel and ramdisk",
                   img->id, img->disk_format ? img->disk_format : "none");
        image_free(img);
        return -1;
    }
    req = xjson_object();
    xjson_add(req, "image", xjson_string(img->id));
    xjson_add(req, "path", xjson_string(path));
    xjson_add(req, "disk_format", xjson_string(disk_format));
    r = task_create(svc, who, package_export_task_kind.name, "image",
                    img->id, NULL, req, out, errp);
    image_free(img);
    return r;
}

/* A string member of a task's request, or NULL. */
static const char *
package_req_str(json_object *req, const char *key)
{
    json_object *v;

    if (json_object_object_get_ex(req, key, &v) &&
        json_object_is_type(v, json_type_string)) {
        return json_object_get_string(v);
    }
    return NULL;
}

static int
package_export_run(struct svc *svc, struct task_run *t, json_object *req,
                   char **result, struct error **errp)
{
    const char *id = package_req_str(req, "image");
    const char *path = package_req_str(req, "path");
    const char *fmt = package_req_str(req, "disk_format");
    struct ovf_package *pkg = NULL;
    CLEANUP_FREE char *workdir = NULL;
    CLEANUP_CLOSE int dirfd = -1;
    struct image *img = NULL;
    int r;

    if (id == NULL || path == NULL || fmt == NULL) {
        error_setg(errp, ERR_INVALID, "export task without its arguments");
        return -1;
    }
    if (catalog_image_get(svc_catalog(svc), id, &img, errp) < 0) {
        return -1;
    }
    r = package_describe(svc, img, &pkg, errp);
    if (r == 0) {
        dirfd = datadir_make_tmp_dir(svc_dir(svc), "export", &workdir, errp);
        r = dirfd < 0 ? -1 : 0;
    }
    if (r == 0) {
        log_debug("package", "exporting %s (%zu disks, %zu files) to %s",
                  img->id, pkg->ndisks, pkg->nfiles, path);
        r = ovf_export(pkg, path, fmt, workdir, task_progress(t), errp);
        /* ovf_export removed its own scratch directory in WORKDIR. */
        if (rmdir(workdir) < 0) {
            log_warnx("cannot remove %s: %s", workdir, strerror(errno));
        }
    }
    ovf_package_free(pkg);
    image_free(img);
    return r;
}

static void
package_export_recover(struct svc *svc, const struct task *task)
{
    /* The package is written to an unnamed file, or on a file system
     * without O_TMPFILE to PATH.part under an flock (fileio_pending): a
     * PATH.part nobody holds was left by this export (scratch space under
     * tmp/ is datadir_reap_tmp's).
     */
    CLEANUP_JSON_PUT json_object *req =
        task->request ? json_tokener_parse(task->request) : NULL;
    const char *path = req ? package_req_str(req, "path") : NULL;
    CLEANUP_FREE char *part = path ? xasprintf("%s.part", path) : NULL;
    CLEANUP_CLOSE int fd = -1;

    if (part) {
        fd = open(part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(part) == 0) {
        log_warnx("removed %s, left by an export that died", part);
    }
}

const struct task_kind package_export_task_kind = {
    .name = "export",
    .run = package_export_run,
    .recover = package_export_recover,
};

/* True if member KEY of REQ is true. */
static bool
package_req_bool(json_object *req, const char *key)
{
    json_object *v;

    return json_object_object_get_ex(req, key, &v) &&
           json_object_is_type(v, json_type_boolean) &&
           json_object_get_boolean(v);
}

/* ---- Import ----------------------------------------------------------- */

/* One volume disk of an import. */
struct package_vol {
    struct volume_snapshot *vs; /* its new record */
    char *key;                  /* its object's key */
    char *path;                 /* where the data is converted to */
    char *location;             /* the committed object, or NULL */
};

/* What one import works with. */
struct package_import {
    struct svc *svc;                 /* the context */
    const struct caller *who;        /* on whose behalf */
    const struct progress *progress; /* may be NULL */
    const char *name;                /* name of the new image */
    const char *id;                  /* its ID, chosen by the request */
    char *workdir;                   /* tmp/import-<uuid>, made here */
    struct ovf_package *pkg;         /* the package, unpacked in workdir */
    struct image *img;               /* the new root image's record */
    struct lock *lock;               /* the image's lock */
    char *key;                       /* its object's key */
    char *path;                      /* where its data is converted to */
    char *location;                  /* the committed object, or NULL */
    bool inserted;                   /* the records are in the catalog */
    struct package_vol vols[OVF_MAX_DISKS]; /* pkg->disks[i + 1] */
    size_t nvols;                           /* pkg->ndisks - 1 */
    struct bdm_entry bdm[OVF_MAX_DISKS];    /* the new mapping */
    struct image *boot[PACKAGE_NBOOT];      /* new kernel, ramdisk images */
    const struct ovf_file *boot_file[PACKAGE_NBOOT]; /* in pkg, or NULL */
    int64_t conv_total;  /* bytes of all disks */
    int64_t conv_done;   /* bytes of the disks converted */
    int64_t conv_weight; /* bytes of the disk converting */
    struct image *into;  /* the image an upload reserved, which the
                          * import replaces (Glance's container format
                          * ova), or NULL */
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

/* An upload reserved the image: it keeps what its owner gave it (name,
 * visibility, protection, sizes, tags, properties over the package's)
 * and its creation time.
 */
static int
package_merge_into(struct package_import *im, struct error **errp)
{
    const struct image *r = im->into;
    struct image *img = im->img;
    size_t i;

    free(img->visibility);
    img->visibility = xstrdup(r->visibility ? r->visibility : "shared");
    img->protected = r->protected;
    img->min_ram = r->min_ram;
    img->min_disk = r->min_disk;
    img->created_at = r->created_at ? xstrdup(r->created_at) : NULL;
    for (i = 0; i < r->nprops; i++) {
        if (image_prop_set(img, r->props[i].key, r->props[i].value, errp) <
            0) {
            return -1;
        }
    }
    if (r->ntags > 0) {
        img->tags = xcalloc(r->ntags, sizeof(*img->tags));
        for (i = 0; i < r->ntags; i++) {
            img->tags[img->ntags++] = xstrdup(r->tags[i]);
        }
    }
    return 0;
}

/* The new root image's record, in status importing, with the package's
 * properties except those the import rewrites.  Its lock is taken here,
 * before the record exists.
 */
static int
package_new_image(struct package_import *im, struct error **errp)
{
    const struct ovf_package *pkg = im->pkg;
    struct image *img = xcalloc(1, sizeof(*img));
    CLEANUP_FREE char *cpus = xasprintf("%d", pkg->cpus);
    CLEANUP_FREE char *mem = xasprintf("%" PRId64, pkg->memory_mb);
    size_t i;

    im->img = img;
    snprintf(img->id, sizeof(img->id), "%s", im->id);
    if (svc_lock(im->svc, "image", img->id, false, &im->lock, errp) < 0) {
        return -1;
    }
    img->size = -1;
    img->virtual_size = -1;
    img->name = xstrdup(im->name);
    img->status = xstrdup("importing");
    img->disk_format = xstrdup("qcow2");
    img->container_format = xstrdup("bare");
    img->visibility = xstrdup("shared");
    img->owner = im->who->project_id ? xstrdup(im->who->project_id) : NULL;
    for (i = 0; i < pkg->nprops; i++) {
        if (!props_rewritten_on_import(pkg->props[i].key) &&
            image_prop_set(img, pkg->props[i].key, pkg->props[i].value,
                           errp) < 0) {
            return -1;
        }
    }
    /* The hardware section is where OVF keeps these: take them from it,
     * so that a package made by another tool keeps them too.
     */
    if (image_prop_set(img, PROP_VMSNAP_CPUS, cpus, errp) < 0 ||
        image_prop_set(img, PROP_VMSNAP_MEMORY_MB, mem, errp) < 0 ||
        (pkg->disks[0].ref_id &&
         image_prop_set(img, PROP_IMPORTED_FROM, pkg->disks[0].ref_id,
                        errp) < 0)) {
        return -1;
    }
    im->key = images_key(img->id, "qcow2");
    return im->into ? package_merge_into(im, errp) : 0;
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
            images_find(im->svc, im->who, id, &b, NULL) < 0) {
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
 * mapping.  OLD (may be NULL) is the entry of the package's own
 * block_device_mapping for that disk.
 */
static void
package_new_volume(struct package_import *im, size_t i,
                   const struct bdm_entry *old)
{
    const struct ovf_disk *d = &im->pkg->disks[i];
    struct package_vol *v = &im->vols[im->nvols];
    struct bdm_entry *e = &im->bdm[im->nvols];
    struct volume_snapshot *vs = xcalloc(1, sizeof(*vs));
    const char *vname = old && old->volume_name ? old->volume_name : d->name;
    CLEANUP_FREE char *label = vname ? xstrdup(vname)
                                     : xasprintf("vol%zu", i);

    im->nvols++;
    v->vs = vs;
    util_uuid_new(vs->id);
    vs->name = xasprintf("%s-%s", im->name, label);
    if (old && util_is_uuid(old->volume_id)) {
        vs->volume_id = xstrdup(old->volume_id);
    } else {
        char id[UTIL_UUID_LEN];

        util_uuid_new(id);
        vs->volume_id = xstrdup(id);
    }
    vs->status = xstrdup("creating");
    vs->size = d->capacity;
    vs->project_id = im->img->owner ? xstrdup(im->img->owner) : NULL;
    v->key = xasprintf("volume-snapshots/%s.qcow2", vs->id);
    volume_snapshot_meta_set(vs, META_INSTANCE_SNAPSHOT_ID, im->img->id,
                             NULL);
    if (d->ref_id) {
        volume_snapshot_meta_set(vs, PROP_IMPORTED_FROM, d->ref_id, NULL);
    }
    memset(e, 0, sizeof(*e));
    e->device_index = old ? old->device_index : (int)im->nvols;
    snprintf(e->volume_id, sizeof(e->volume_id), "%s", vs->volume_id);
    snprintf(e->snapshot_id, sizeof(e->snapshot_id), "%s", vs->id);
    e->size = vs->size;
    e->volume_name = vname ? xstrdup(vname) : NULL;
}

/* Plan the volume snapshots: one per volume disk, matched to the
 * package's block_device_mapping by the snapshot ID each disk records.
 */
static int
package_plan_volumes(struct package_import *im, struct error **errp)
{
    const struct ovf_package *pkg = im->pkg;
    const char *value = package_prop(pkg, PROP_BDM);
    struct bdm_entry *old = NULL;
    bool matched[OVF_MAX_DISKS] = {false};
    size_t n = 0, i, j;
    int r = 0;

    if (value && bdm_parse(value, &old, &n, errp) < 0) {
        error_prepend(errp, "package property ");
        return -1;
    }
    for (i = 1; i < pkg->ndisks; i++) {
        const struct bdm_entry *match = NULL;

        for (j = 0; j < n && pkg->disks[i].ref_id; j++) {
            if (!matched[j] &&
                strcasecmp(old[j].snapshot_id, pkg->disks[i].ref_id) == 0) {
                matched[j] = true;
                match = &old[j];
                break;
            }
        }
        package_new_volume(im, i, match);
    }
    for (j = 0; j < n && r == 0; j++) {
        if (!matched[j]) {
            error_setg(errp, ERR_INVALID,
                       "block_device_mapping names volume snapshot %s, "
                       "which the package does not carry",
                       old[j].snapshot_id);
            r = -1;
        }
    }
    bdm_free(old, n);
    return r;
}

/* Refuse a package whose disks, as declared, would not fit: larger than
 * the largest image allowed, or than the free space minus the reserve
 * (a tiny package can declare terabytes: audit H4).
 */
static int
package_check_space(struct package_import *im, struct error **errp)
{
    const struct config *cfg = svc_config(im->svc);
    struct statvfs vfs;
    int64_t avail;
    size_t i;

    for (i = 0; i < im->pkg->ndisks; i++) {
        if (cfg->max_image_size > 0 &&
            im->pkg->disks[i].capacity > cfg->max_image_size) {
            error_setg(errp, ERR_INVALID,
                       "disk %zu declares %" PRId64 " bytes, more than the "
                       "largest image allowed (limits.max_image_size: "
                       "%" PRId64 ")",
                       i + 1, im->pkg->disks[i].capacity,
                       cfg->max_image_size);
            return -1;
        }
    }
    if (statvfs(svc_dir(im->svc), &vfs) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "statvfs %s",
                         svc_dir(im->svc));
        return -1;
    }
    avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    if (im->conv_total > avail - cfg->reserved_space) {
        error_setg(errp, ERR_IO,
                   "the package's disks declare %" PRId64 " bytes, more than "
                   "the %" PRId64 " free in %s (of which %" PRId64 " are "
                   "kept in reserve)",
                   im->conv_total, avail, svc_dir(im->svc),
                   cfg->reserved_space);
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
    if (pkg->ndisks - 1 > SERVERS_MAX_VOLUMES) {
        error_setg(errp, ERR_INVALID,
                   "the package has %zu volumes: a server takes at most %d",
                   pkg->ndisks - 1, SERVERS_MAX_VOLUMES);
        return -1;
    }
    if (pkg->nprops > CATALOG_PROPS_MAX) {
        error_setg(errp, ERR_INVALID,
                   "the package has %zu properties: an image takes at most "
                   "%d",
                   pkg->nprops, CATALOG_PROPS_MAX);
        return -1;
    }
    if (im->name == NULL) {
        im->name = pkg->name;
    }
    im->conv_total = 0;
    for (i = 0; i < pkg->ndisks; i++) {
        im->conv_total += pkg->disks[i].capacity;
    }
    return package_check_space(im, errp) < 0 ||
                   package_new_image(im, errp) < 0 ||
                   package_plan_boot(im, errp) < 0 ||
                   package_plan_volumes(im, errp) < 0
               ? -1
               : 0;
}

/* Put the root image (importing) and its volume snapshots (creating) in
 * the catalog in one transaction, before any data is written: from here
 * a process that dies leaves records that recovery removes.
 */
static int
package_insert(struct package_import *im, struct error **errp)
{
    struct catalog *cat = svc_catalog(im->svc);
    size_t i;

    if (catalog_begin(cat, errp) < 0) {
        return -1;
    }
    if (im->into) {
        /* The reserved record gives way to the image made of the
         * package, under the same ID, in the same transaction.
         */
        struct image_patch unprotect = IMAGE_PATCH_INIT;

        unprotect.protected = 0;
        if (catalog_image_patch(cat, im->into->id, &unprotect, errp) < 0 ||
            catalog_image_delete(cat, im->into->id, errp) < 0) {
            goto fail;
        }
    }
    if (catalog_image_insert(cat, im->img, errp) < 0) {
        goto fail;
    }
    for (i = 0; i < im->nvols; i++) {
        if (catalog_volume_snapshot_insert(cat, im->vols[i].vs, errp) < 0) {
            goto fail;
        }
    }
    if (im->nvols > 0 &&
        catalog_image_set_bdm(cat, im->img->id, im->bdm, im->nvols, errp) <
            0) {
        goto fail;
    }
    if (catalog_commit(cat, errp) < 0) {
        return -1;
    }
    im->inserted = true;
    return 0;

fail:
    catalog_rollback(cat);
    return -1;
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

/* Convert disk I of the package into object KEY (its local file *PATH),
 * then drop the unpacked disk: the data directory holds each disk twice
 * only while it converts.
 */
static int
package_convert(struct package_import *im, size_t i, const char *key,
                char **path, struct error **errp)
{
    const struct ovf_disk *d = &im->pkg->disks[i];
    /* The output holds at most the declared capacity and the qcow2
     * metadata for it (a 64 KiB cluster costs 8 bytes of L2 table and 2
     * of refcount): a disk that expands beyond is stopped, and so is
     * any conversion once the free space falls below the reserve
     * (audit H4).
     */
    struct qemuimg_limits lim = {
        .max_bytes = d->capacity + d->capacity / 64 + PACKAGE_QCOW2_SLACK,
        .watch = images_watch_space,
        .watch_opaque = im->svc,
    };

    if (blob_create(svc_blob(im->svc), key, path, errp) < 0) {
        return -1;
    }
    im->conv_weight = d->capacity;
    log_debug("package", "converting %s (%s) to %s", d->file, d->format,
              *path);
    if (qemuimg_convert_limited(d->file, d->format, *path, "qcow2", &lim,
                                package_on_convert, im, errp) < 0) {
        error_prepend(errp, "disk %zu: ", i + 1);
        return -1;
    }
    im->conv_done += d->capacity;
    if (unlink(d->file) < 0 && errno != ENOENT) {
        log_warnx("cannot remove %s: %s", d->file, strerror(errno));
    }
    return 0;
}

/* Register the kernel and ramdisk the package carries as new images,
 * tagged with the import they belong to, and point the new image at
 * them.
 */
static int
package_register_boot(struct package_import *im, struct error **errp)
{
    struct prop set[PACKAGE_NBOOT];
    struct image_patch p = {.min_ram = -1, .min_disk = -1, .set = set};
    size_t i;

    for (i = 0; i < PACKAGE_NBOOT; i++) {
        const struct ovf_file *f = im->boot_file[i];
        struct prop props[2] = {
            {(char *)PROP_VMSNAP_IMPORT_OF, im->img->id},
            {(char *)PROP_IMPORTED_FROM, NULL},
        };
        struct images_new spec = {0};
        CLEANUP_FREE char *name = NULL;

        if (f == NULL) {
            continue;
        }
        name = f->name ? xstrdup(f->name)
                       : xasprintf("%s-%s", im->name, f->role);
        spec.name = name;
        spec.file = f->path;
        spec.disk_format = package_boot[i].format;
        props[1].value = f->ref_id;
        spec.props = props;
        spec.nprops = f->ref_id ? 2 : 1;
        if (images_create(im->svc, im->who, &spec, im->progress,
                          &im->boot[i], errp) < 0) {
            error_prepend(errp, "%s: ", f->role);
            return -1;
        }
        set[p.nset].key = (char *)package_boot[i].prop;
        set[p.nset].value = im->boot[i]->id;
        p.nset++;
    }
    if (p.nset == 0) {
        return 0;
    }
    return catalog_image_patch(svc_catalog(im->svc), im->img->id, &p, errp);
}

/* Make every object, commit it and make the records final: the volume
 * snapshots available, then the image active.
 */
static int
package_make(struct package_import *im, struct error **errp)
{
    struct catalog *cat = svc_catalog(im->svc);
    size_t i;

    if (package_convert(im, 0, im->key, &im->path, errp) < 0) {
        return -1;
    }
    for (i = 0; i < im->nvols; i++) {
        if (package_convert(im, i + 1, im->vols[i].key, &im->vols[i].path,
                            errp) < 0) {
            return -1;
        }
    }
    progress_report(im->progress, "convert", 100);
    if (package_register_boot(im, errp) < 0) {
        return -1;
    }
    for (i = 0; i < im->nvols; i++) {
        struct package_vol *v = &im->vols[i];
        struct volume_snapshot_data vd = {0};

        if (blob_commit(svc_blob(im->svc), v->key, v->path, NULL,
                        &v->location, errp) < 0) {
            return -1;
        }
        vd.location = v->location;
        if (catalog_volume_snapshot_set_data(cat, v->vs->id, &vd, errp) < 0 ||
            catalog_volume_snapshot_transition(cat, v->vs->id, "creating",
                                               "available", errp) < 0) {
            return -1;
        }
    }
    if (blob_commit(svc_blob(im->svc), im->key, im->path, NULL,
                    &im->location, errp) < 0 ||
        images_activate(im->svc, im->img->id, "importing", "qcow2",
                        im->location, im->path, im->progress, errp) < 0) {
        error_prepend(errp, "root disk: ");
        return -1;
    }
    return 0;
}

/* Remove the kernel and ramdisk images made for import IMAGE_ID. */
static void
package_remove_boot_images(struct svc *svc, const char *image_id)
{
    struct catalog_match m = {PROP_VMSNAP_IMPORT_OF, image_id};
    struct image_filter f = {.props = &m, .nprops = 1};
    struct image **boot = NULL;
    size_t n = 0, i;

    if (catalog_image_list(svc_catalog(svc), &f, &boot, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            struct error *err = NULL;

            if (images_delete(svc, svc_local_caller(svc), boot[i]->id,
                              &err) < 0) {
                log_warnx("import: image %s stays: %s", boot[i]->id,
                          error_msg(err));
                error_free(err);
            }
        }
        image_list_free(boot, n);
    }
}

void
package_import_undo(struct svc *svc, const struct image *img)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *key = images_key(img->id, "qcow2");
    struct error *err = NULL;

    log_warnx("image %s (%s) was left half-imported: removing it", img->id,
              img->name ? img->name : "");
    /* The image first: it keeps its volume snapshots and its kernel in
     * use.
     */
    catalog_image_set_bdm(cat, img->id, NULL, 0, NULL);
    /* Twice: a transient disk error passes. */
    if (catalog_image_delete(cat, img->id, &err) < 0 &&
        catalog_image_delete(cat, img->id, NULL) < 0) {
        log_warnx("import: image %s stays: %s", img->id, error_msg(err));
        error_free(err);
        svc_left_for_recovery("image", img->id);
        return;
    }
    error_free(err);
    if (img->location) {
        blob_remove(svc_blob(svc), img->location, NULL);
    } else {
        blob_discard(svc_blob(svc), key);
    }
    volumes_snapshot_delete_set(svc, img->id);
    package_remove_boot_images(svc, img->id);
}

/* Undo a failed import: records first, then data. */
static void
package_undo(struct package_import *im)
{
    size_t i;

    if (im->img == NULL) {
        return;
    }
    if (im->inserted) {
        struct image *now = NULL;

        if (catalog_image_get(svc_catalog(im->svc), im->img->id, &now,
                              NULL) == 0) {
            package_import_undo(im->svc, now);
            image_free(now);
        }
    } else {
        package_remove_boot_images(im->svc, im->img->id);
    }
    /* What no record names any more. */
    if (im->location == NULL && im->path) {
        blob_discard(svc_blob(im->svc), im->key);
    }
    for (i = 0; i < im->nvols; i++) {
        if (im->vols[i].location == NULL && im->vols[i].path) {
            blob_discard(svc_blob(im->svc), im->vols[i].key);
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

    if (im->pkg) {
        for (i = 0; i < im->pkg->ndisks; i++) {
            (void)unlink(im->pkg->disks[i].file);
        }
        for (i = 0; i < im->pkg->nfiles; i++) {
            (void)unlink(im->pkg->files[i].path);
        }
    }
    if (im->workdir && rmdir(im->workdir) < 0) {
        log_warnx("import: cannot remove %s: %s", im->workdir,
                  strerror(errno));
    }
    for (i = 0; i < im->nvols; i++) {
        volume_snapshot_free(im->vols[i].vs);
        free(im->vols[i].key);
        free(im->vols[i].path);
        free(im->vols[i].location);
    }
    for (i = 0; i < im->nvols; i++) {
        free(im->bdm[i].volume_name);
    }
    for (i = 0; i < PACKAGE_NBOOT; i++) {
        image_free(im->boot[i]);
    }
    lock_release(im->lock);
    image_free(im->img);
    image_free(im->into);
    free(im->key);
    free(im->path);
    free(im->location);
    free(im->workdir);
    ovf_package_free(im->pkg);
}

int
package_import_request(struct svc *svc, const struct caller *who,
                       const char *path, const char *name, struct task **out,
                       struct error **errp)
{
    CLEANUP_JSON_PUT json_object *req = NULL;
    CLEANUP_FREE char *abs = NULL;
    char id[UTIL_UUID_LEN];
    struct stat st;

    if (path == NULL || stat(path, &st) < 0) {
        error_setg_errno(errp, ERR_NOT_FOUND, errno, "%s",
                         path ? path : "(no package)");
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "%s is not a regular file", path);
        return -1;
    }
    /* The worker may run elsewhere in the file system's view: the path
     * it gets is absolute.
     */
    abs = realpath(path, NULL);
    if (abs == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "%s", path);
        return -1;
    }
    if (name && (*name == '\0' || strlen(name) > CATALOG_NAME_MAX)) {
        error_setg(errp, ERR_INVALID, "an image name has 1 to %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    /* The new image's ID is chosen now: the task names it from the
     * start, so that a worker that dies is traced to what it made.
     */
    util_uuid_new(id);
    req = xjson_object();
    xjson_add(req, "path", xjson_string(abs));
    xjson_add(req, "image", xjson_string(id));
    if (name) {
        xjson_add(req, "name", xjson_string(name));
    }
    return task_create(svc, who, package_import_task_kind.name, "image", id,
                       id, req, out, errp);
}

int
package_import_into_request(struct svc *svc, const struct caller *who,
                            const char *path, const char *image_id,
                            struct task **out, struct error **errp)
{
    CLEANUP_JSON_PUT json_object *req = NULL;

    if (!util_is_uuid(image_id) || path == NULL || *path != '/') {
        error_setg(errp, ERR_INVALID, "an import into an image needs its ID "
                   "and the absolute path of the package");
        return -1;
    }
    req = xjson_object();
    xjson_add(req, "path", xjson_string(path));
    xjson_add(req, "image", xjson_string(image_id));
    xjson_add(req, "into", xjson_bool(true));
    return task_create(svc, who, package_import_task_kind.name, "image",
                       image_id, image_id, req, out, errp);
}

int
package_upload_finish(struct svc *svc, struct images_upload *u,
                      struct image **out, struct task **task,
                      struct error **errp)
{
    const struct image *img = images_upload_image(u);
    struct caller owner = {NULL, img->owner, true, NULL};
    CLEANUP_FREE char *id = xstrdup(img->id);
    struct error *err = NULL;

    *task = NULL;
    if (out) {
        *out = NULL;
    }
    /* The task first: from then on recovery leaves the image to it. */
    if (package_import_into_request(svc, &owner, images_upload_path(u), id,
                                    task, &err) < 0) {
        images_upload_abort(svc, u, error_msg(err));
        error_propagate(errp, err);
        return -1;
    }
    if (images_upload_handoff(svc, u, &err) < 0) {
        struct task_result dropped = {"failed", NULL, "the upload failed",
                                      "generic"};

        catalog_task_finish(svc_catalog(svc), (*task)->id, &dropped, NULL);
        task_free(*task);
        *task = NULL;
        error_propagate(errp, err);
        return -1;
    }
    if (out && catalog_image_get(svc_catalog(svc), id, out, errp) < 0) {
        return -1;      /* the import runs all the same */
    }
    return 0;
}

/* Remove the package uploaded for image ID (the store's staging object
 * images_upload_begin made).
 */
static void
package_discard_upload(struct svc *svc, const char *id)
{
    CLEANUP_FREE char *key = images_key(id, "ova");

    blob_discard(svc_blob(svc), key);
}

/* After a failed import into the reserved image, its record stays,
 * killed with REASON (its owner sees why; the data is gone).
 */
static void
package_into_killed(struct package_import *im, const char *reason)
{
    struct catalog *cat = svc_catalog(im->svc);
    struct image *now = NULL;
    struct error *err = NULL;

    if (catalog_image_get(cat, im->into->id, &now, NULL) == 0) {
        image_free(now);
        catalog_image_set_bdm(cat, im->into->id, NULL, 0, NULL);
        catalog_image_transition(cat, im->into->id, NULL, "killed", reason,
                                 NULL);
        return;
    }
    /* The undo removed the replacing record: put the reservation back. */
    free(im->into->status);
    im->into->status = xstrdup("killed");
    free(im->into->fail_reason);
    im->into->fail_reason = reason ? xstrdup(reason) : NULL;
    free(im->into->location);
    im->into->location = NULL;
    free(im->into->file);
    im->into->file = NULL;
    bdm_free(im->into->bdm, im->into->nbdm);
    im->into->bdm = NULL;
    im->into->nbdm = 0;
    if (catalog_image_insert(cat, im->into, &err) < 0) {
        log_warnx("import into image %s: its record is gone: %s",
                  im->into->id, error_msg(err));
        error_free(err);
    }
}

static int
package_import_run(struct svc *svc, struct task_run *t, json_object *req,
                   char **result, struct error **errp)
{
    const struct task *task = task_record(t);
    /* The request was allowed when the task was made: the worker acts
     * for the same project, with the authority that was checked then.
     */
    struct caller who = {task->user_id, task->project_id, true};
    struct package_import im = {.svc = svc, .who = &who,
                                .progress = task_progress(t)};
    const char *path = package_req_str(req, "path");
    struct error *local = NULL;
    CLEANUP_CLOSE int dirfd = -1;
    int r = -1;

    im.name = package_req_str(req, "name");
    im.id = package_req_str(req, "image");
    if (path == NULL || !util_is_uuid(im.id)) {
        error_setg(errp, ERR_INVALID, "import task without its package");
        return -1;
    }
    if (package_req_bool(req, "into")) {
        if (catalog_image_get(svc_catalog(svc), im.id, &im.into, &local) <
            0) {
            error_propagate(errp, local);
            package_discard_upload(svc, im.id);
            return -1;
        }
        if (im.name == NULL) {
            im.name = im.into->name;
        }
    }
    dirfd = datadir_make_tmp_dir(svc_dir(svc), "import", &im.workdir, errp);
    if (dirfd < 0) {
        return -1;
    }
    /* ovf_import names PATH in its messages; the rest gets it here. */
    if (ovf_import(path, im.workdir, &im.pkg, &local) < 0) {
        goto out;
    }
    log_debug("package", "%s: %zu disks, %zu files, %zu properties", path,
              im.pkg->ndisks, im.pkg->nfiles, im.pkg->nprops);
    if (package_plan(&im, &local) < 0 || package_insert(&im, &local) < 0 ||
        package_make(&im, &local) < 0) {
        error_prepend(&local, "%s: ", path);
        goto out;
    }
    *result = xstrdup(im.img->id);
    r = 0;
out:
    if (r < 0) {
        package_undo(&im);
        if (im.into) {
            package_into_killed(&im, error_msg(local));
        }
        error_propagate(errp, local);
    }
    if (im.into) {
        package_discard_upload(svc, im.id);
    }
    package_import_clear(&im);
    return r;
}

static void
package_import_recover(struct svc *svc, const struct task *task)
{
    json_object *req = task->request ? json_tokener_parse(task->request)
                                     : NULL;

    /* The image it made (importing, its lock now free) is found and
     * removed by recovery's look at images (recover.c); an uploaded
     * package it was to read goes here.
     */
    if (req && package_req_bool(req, "into") && task->image_id) {
        package_discard_upload(svc, task->image_id);
    }
    json_object_put(req);
}

const struct task_kind package_import_task_kind = {
    .name = "import",
    .run = package_import_run,
    .recover = package_import_recover,
};
