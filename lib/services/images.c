/* vmsnap: the image service (see images.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cleanup.h"
#include "fileio.h"
#include "hash.h"
#include "images.h"
#include "log.h"
#include "qemuimg.h"
#include "store.h"
#include "svc.h"
#include "util.h"
#include "xalloc.h"

bool
images_is_disk(const char *fmt)
{
    return fmt && (strcmp(fmt, "qcow2") == 0 || strcmp(fmt, "raw") == 0);
}

/* Kernel and ramdisk images (Glance's aki and ari formats) are plain
 * files that QEMU loads with -kernel and -initrd, not disks.
 */
static bool
images_is_boot_file(const char *fmt)
{
    return fmt && (strcmp(fmt, "aki") == 0 || strcmp(fmt, "ari") == 0);
}

bool
images_disk_format_valid(const char *fmt)
{
    return images_is_disk(fmt) || images_is_boot_file(fmt);
}

/* Glance's container formats. */
static bool
images_container_format_valid(const char *fmt)
{
    static const char *const ok[] = {"bare", "ovf", "ova", "aki", "ari",
                                     "ami", "docker", "compressed", NULL};
    size_t i;

    for (i = 0; ok[i]; i++) {
        if (strcmp(fmt, ok[i]) == 0) {
            return true;
        }
    }
    return false;
}

static bool
images_visibility_valid(const char *v)
{
    return strcmp(v, "private") == 0 || strcmp(v, "shared") == 0 ||
           strcmp(v, "community") == 0 || strcmp(v, "public") == 0;
}

char *
images_key(const char *id, const char *fmt)
{
    return xasprintf("images/%s.%s", id, fmt);
}

int
images_check_data(const char *path, const char *disk_format,
                  int64_t *virtual_size, struct error **errp)
{
    struct qemuimg_info info = {0};
    struct qemuimg_info probed = {0};
    struct stat st;
    int r = -1;

    if (images_is_boot_file(disk_format)) {
        if (stat(path, &st) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "%s", path);
            return -1;
        }
        *virtual_size = st.st_size;
        return 0;
    }
    if (strcmp(disk_format, "raw") == 0) {
        /* A raw file that probes as qcow2 (or anything else) would be
         * booted as a raw disk holding an image header: refuse it.  A
         * file that probes as raw is read by the raw driver, so the
         * probe's answer is the raw one: one qemu-img run, not two
         * (each costs tens of milliseconds of a Glance upload).
         */
        if (qemuimg_info(path, NULL, &probed, errp) < 0) {
            error_prepend(errp, "not a valid %s image: ", disk_format);
            goto out;
        }
        if (probed.format == NULL || strcmp(probed.format, "raw") != 0) {
            error_setg(errp, ERR_INVALID,
                       "the data holds a %s image, not raw data: use "
                       "--disk-format %s",
                       probed.format ? probed.format : "unknown",
                       probed.format ? probed.format : "raw");
            goto out;
        }
        info = probed;
        memset(&probed, 0, sizeof(probed));
    } else if (qemuimg_info(path, disk_format, &info, errp) < 0) {
        error_prepend(errp, "not a valid %s image: ", disk_format);
        return -1;
    }
    if (info.other_files) {
        error_setg(errp, ERR_INVALID,
                   "the image reads data from other files (external "
                   "extents or a data file): images must be "
                   "self-contained");
        goto out;
    }
    if (strcmp(disk_format, "raw") != 0 && info.backing_filename) {
        error_setg(errp, ERR_INVALID,
                   "the image has a backing file (%s): images must be "
                   "self-contained (flatten it with qemu-img convert)",
                   info.backing_filename);
        goto out;
    }
    if (info.encrypted) {
        error_setg(errp, ERR_INVALID,
                   "the image is encrypted: servers could not boot it");
        goto out;
    }
    if (strcmp(disk_format, "qcow2") == 0 &&
        qemuimg_check(path, disk_format, errp) < 0) {
        goto out;
    }
    *virtual_size = info.virtual_size;
    r = 0;
out:
    qemuimg_info_clear(&info);
    qemuimg_info_clear(&probed);
    return r;
}

/* May WHO see IMG?  Its project's, public and community images. */
static bool
images_visible(const struct caller *who, const struct image *img)
{
    if (svc_may_see(who, img->owner)) {
        return true;
    }
    return img->visibility && (strcmp(img->visibility, "public") == 0 ||
                               strcmp(img->visibility, "community") == 0);
}

int
images_find(struct svc *svc, const struct caller *who, const char *ref,
            struct image **out, struct error **errp)
{
    struct image *img = NULL;

    if (catalog_image_find(svc_catalog(svc), ref, &img, errp) < 0) {
        return -1;
    }
    if (!images_visible(who, img)) {
        image_free(img);
        error_setg(errp, ERR_NOT_FOUND, "no image named or with ID '%s'",
                   ref);
        return -1;
    }
    *out = img;
    return 0;
}

int
images_list(struct svc *svc, const struct caller *who,
            const struct image_filter *f, struct image ***out, size_t *n,
            struct error **errp)
{
    struct image_filter all = {.exclude_deleted = true};
    struct image **list = NULL;
    size_t i, j = 0, total = 0;

    if (catalog_image_list(svc_catalog(svc), f ? f : &all, &list, &total,
                           errp) < 0) {
        return -1;
    }
    for (i = 0; i < total; i++) {
        if (images_visible(who, list[i])) {
            list[j++] = list[i];
        } else {
            image_free(list[i]);
        }
    }
    *out = list;
    *n = j;
    return 0;
}

int
images_local_path(struct svc *svc, const struct image *img, char **path,
                  struct error **errp)
{
    if (img->location == NULL && store_holds(img)) {
        /* A backup in the chunk store becomes a file when needed. */
        CLEANUP_FREE char *key = images_key(img->id, "qcow2");

        return store_materialise(svc, img, key, NULL, path, errp);
    }
    if (img->location == NULL) {
        error_setg(errp, ERR_CONFLICT, "image %s has no data (it is %s)",
                   img->id, img->status);
        return -1;
    }
    return blob_local_path(svc_blob(svc), img->location, NULL, path, errp);
}

struct images_hash_ctx {
    const struct progress *progress; /* where to report */
};

static void
images_hash_progress(int64_t done, int64_t total, void *opaque)
{
    const struct images_hash_ctx *ctx = opaque;

    if (total > 0) {
        progress_report(ctx->progress, "checksum", 100.0 * done / total);
    }
}

int
images_activate(struct svc *svc, const char *id, const char *from,
                const char *disk_format, const char *location,
                const char *path, const struct progress *progress,
                struct error **errp)
{
    return images_activate_hashed(svc, id, from, disk_format, location,
                                  path, NULL, NULL, progress, errp);
}

int
images_activate_hashed(struct svc *svc, const char *id, const char *from,
                       const char *disk_format, const char *location,
                       const char *path, const char *md5_known,
                       const char *sha512_known,
                       const struct progress *progress, struct error **errp)
{
    char md5[HASH_MD5_HEX_LEN], sha512[HASH_SHA512_HEX_LEN];
    struct images_hash_ctx ctx = {progress};
    struct image_data data = {0};
    CLEANUP_FREE char *moved = NULL;
    struct stat st;
    int64_t vsize = 0;

    /* A store may take the file on commit (s3: into its cache, from
     * which it may be evicted): then read it where the store has it.
     */
    if (access(path, F_OK) < 0 && errno == ENOENT) {
        if (blob_local_path(svc_blob(svc), location, progress, &moved,
                            errp) < 0) {
            return -1;
        }
        path = moved;
    }
    if (images_check_data(path, disk_format, &vsize, errp) < 0) {
        return -1;
    }
    if (md5_known && sha512_known) {
        snprintf(md5, sizeof(md5), "%s", md5_known);
        snprintf(sha512, sizeof(sha512), "%s", sha512_known);
    } else {
        log_debug("images", "%s: hashing %s", id, path);
        if (hash_file(path, md5, sha512, images_hash_progress, &ctx,
                      errp) < 0) {
            return -1;
        }
    }
    if (stat(path, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", path);
        return -1;
    }
    data.size = st.st_size;
    data.virtual_size = vsize;
    data.checksum = md5;
    data.os_hash_algo = "sha512";
    data.os_hash_value = sha512;
    data.location = location;
    if (catalog_image_set_data(svc_catalog(svc), id, &data, errp) < 0 ||
        catalog_image_transition(svc_catalog(svc), id, from, "active", NULL,
                                 errp) < 0) {
        return -1;
    }
    log_debug("images", "%s: active, %lld bytes", id, (long long)st.st_size);
    return 0;
}

int
images_check_space(struct svc *svc, int64_t need, struct error **errp)
{
    const struct config *cfg = svc_config(svc);
    struct statvfs vfs;
    int64_t avail;

    if (cfg->max_image_size > 0 && need > cfg->max_image_size) {
        error_setg(errp, ERR_INVALID,
                   "the image is larger (%lld bytes) than the largest "
                   "allowed (limits.max_image_size: %lld)",
                   (long long)need, (long long)cfg->max_image_size);
        return -1;
    }
    if (statvfs(svc_dir(svc), &vfs) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "statvfs %s", svc_dir(svc));
        return -1;
    }
    avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    if (need > avail - cfg->reserved_space) {
        error_setg(errp, ERR_IO,
                   "not enough space in %s: %lld bytes needed, %lld free "
                   "of which %lld are kept in reserve",
                   svc_dir(svc), (long long)need, (long long)avail,
                   (long long)cfg->reserved_space);
        return -1;
    }
    return 0;
}

int
images_watch_space(void *opaque, struct error **errp)
{
    struct svc *svc = opaque;
    const struct config *cfg = svc_config(svc);
    struct statvfs vfs;
    int64_t avail;

    if (statvfs(svc_dir(svc), &vfs) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "statvfs %s", svc_dir(svc));
        return -1;
    }
    avail = (int64_t)vfs.f_bavail * (int64_t)vfs.f_frsize;
    if (avail < cfg->reserved_space) {
        error_setg(errp, ERR_IO,
                   "stopped: the free space in %s fell to %lld bytes, below "
                   "the %lld kept in reserve (limits.reserved_space)",
                   svc_dir(svc), (long long)avail,
                   (long long)cfg->reserved_space);
        return -1;
    }
    return 0;
}

/* Refuse an image whose guest-visible size VSIZE is more than
 * limits.max_image_size: what it may grow to when it is used.
 */
static int
images_check_virtual(struct svc *svc, int64_t vsize, struct error **errp)
{
    int64_t max = svc_config(svc)->max_image_size;

    if (max > 0 && vsize > max) {
        error_setg(errp, ERR_INVALID,
                   "the image's virtual size (%lld bytes) is larger than "
                   "the largest allowed (limits.max_image_size: %lld)",
                   (long long)vsize, (long long)max);
        return -1;
    }
    return 0;
}

/* images_watch_space for a copy (fileio_copy_opts.check). */
static int
images_copy_check(int64_t done, void *opaque, struct error **errp)
{
    return images_watch_space(opaque, errp);
}

static int
images_check_spec(const struct images_new *spec, struct error **errp)
{
    if (spec->name == NULL || *spec->name == '\0') {
        error_setg(errp, ERR_INVALID, "an image needs a name");
        return -1;
    }
    if (!images_disk_format_valid(spec->disk_format)) {
        error_setg(errp, ERR_INVALID,
                   "disk format '%s' is not supported (qcow2, raw, aki, ari)",
                   spec->disk_format ? spec->disk_format : "");
        return -1;
    }
    if (spec->container_format &&
        !images_container_format_valid(spec->container_format)) {
        error_setg(errp, ERR_INVALID,
                   "container format '%s' is not supported (bare, ovf, ova, "
                   "aki, ari, ami, docker, compressed)",
                   spec->container_format);
        return -1;
    }
    if (spec->visibility && !images_visibility_valid(spec->visibility)) {
        error_setg(errp, ERR_INVALID,
                   "visibility '%s' is not one of private, shared, "
                   "community, public",
                   spec->visibility);
        return -1;
    }
    if (spec->min_ram < 0 || spec->min_disk < 0) {
        error_setg(errp, ERR_INVALID, "min-ram and min-disk must be >= 0");
        return -1;
    }
    return 0;
}

/* A fresh record for SPEC in status queued, owned by WHO's project. */
static struct image *
images_new_record(const struct caller *who, const struct images_new *spec,
                  struct error **errp)
{
    struct image *img = xcalloc(1, sizeof(*img));
    size_t i;

    util_uuid_new(img->id);
    img->name = xstrdup(spec->name);
    img->status = xstrdup("queued");
    img->disk_format = xstrdup(spec->disk_format);
    img->container_format =
        xstrdup(spec->container_format ? spec->container_format : "bare");
    img->visibility = xstrdup(spec->visibility ? spec->visibility
                                               : "shared");
    img->owner = who->project_id ? xstrdup(who->project_id) : NULL;
    img->size = -1;
    img->virtual_size = -1;
    img->min_ram = spec->min_ram;
    img->min_disk = spec->min_disk;
    for (i = 0; i < spec->nprops; i++) {
        if (image_prop_set(img, spec->props[i].key, spec->props[i].value,
                           errp) < 0) {
            image_free(img);
            return NULL;
        }
    }
    return img;
}

int
images_create(struct svc *svc, const struct caller *who,
              const struct images_new *spec, const struct progress *progress,
              struct image **out, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct image *img = NULL;
    struct lock *lk = NULL;
    CLEANUP_FREE char *key = NULL;
    CLEANUP_FREE char *path = NULL;
    CLEANUP_FREE char *location = NULL;
    CLEANUP_CLOSE int in = -1;
    struct fileio_copy_opts copy = {0};
    int64_t size = 0, vsize = 0;
    bool inserted = false;

    struct stat st;

    if (images_check_spec(spec, errp) < 0) {
        return -1;
    }
    in = fileio_open_regular(spec->file, false, errp);
    if (in < 0) {
        return -1;
    }
    if (fstat(in, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", spec->file);
        return -1;
    }
    size = st.st_size;
    if (images_check_space(svc, size, errp) < 0) {
        return -1;
    }
    img = images_new_record(who, spec, errp);
    if (img == NULL) {
        goto fail;
    }
    /* Saving from the start: queued is where an image waits for data
     * nobody is making yet (images_reserve), which recovery leaves.
     */
    free(img->status);
    img->status = xstrdup("saving");
    if (svc_lock(svc, "image", img->id, false, &lk, errp) < 0 ||
        catalog_image_insert(cat, img, errp) < 0) {
        goto fail;
    }
    inserted = true;
    key = images_key(img->id, spec->disk_format);
    if (blob_create(svc_blob(svc), key, &path, errp) < 0) {
        goto fail;
    }
    /* Every check runs on the copy, never on the user's file, which
     * could be replaced between a check and the copy (audit H1); what we
     * copy is what we opened, no more than the size we checked.
     */
    copy.max_bytes = size;
    copy.phase = "upload";
    copy.progress = progress;
    copy.check = images_copy_check;
    copy.check_opaque = svc;
    if (fileio_copy_fd(in, spec->file, path, &copy, NULL, errp) < 0 ||
        images_check_data(path, spec->disk_format, &vsize, errp) < 0 ||
        images_check_virtual(svc, vsize, errp) < 0 ||
        blob_commit(svc_blob(svc), key, path, progress, &location, errp) <
            0 ||
        images_activate(svc, img->id, "saving", spec->disk_format, location,
                        path, progress, errp) < 0 ||
        catalog_image_get(cat, img->id, out, errp) < 0) {
        goto fail;
    }
    lock_release(lk);
    image_free(img);
    return 0;

fail:
    if (path) {
        blob_discard(svc_blob(svc), key);
    }
    /* Twice: a transient disk error passes.  Else the reaper finds it:
     * its lock is free once we are gone.
     */
    if (inserted && catalog_image_delete(cat, img->id, NULL) < 0 &&
        catalog_image_delete(cat, img->id, NULL) < 0) {
        svc_left_for_recovery("image", img->id);
    }
    lock_release(lk);
    image_free(img);
    return -1;
}

/* Glance's disk formats, which a package (container format ova) may
 * declare for its disks.
 */
static bool
images_glance_disk_format(const char *fmt)
{
    static const char *const ok[] = {"ami", "ari", "aki", "vhd", "vhdx",
                                     "vmdk", "raw", "qcow2", "vdi", "iso",
                                     "ploop", NULL};
    size_t i;

    for (i = 0; ok[i]; i++) {
        if (strcmp(fmt, ok[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool
images_is_package(const char *container_format)
{
    return container_format && strcmp(container_format, "ova") == 0;
}

int
images_reserve(struct svc *svc, const struct caller *who,
               const struct images_new *spec, struct image **out,
               struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct images_new check = *spec;
    struct image *img = NULL;
    size_t i;
    int r = -1;

    if (spec->name && strlen(spec->name) > CATALOG_NAME_MAX) {
        error_setg(errp, ERR_INVALID, "an image name has at most %d bytes",
                   CATALOG_NAME_MAX);
        return -1;
    }
    if (spec->id && !util_is_uuid(spec->id)) {
        error_setg(errp, ERR_INVALID, "image ID '%s' is not a UUID",
                   spec->id);
        return -1;
    }
    /* The formats may come later; those given must be good. */
    check.name = "-";
    if (check.disk_format == NULL || (images_is_package(spec->
                                                        container_format) &&
                                      images_glance_disk_format(
                                          spec->disk_format))) {
        check.disk_format = "raw";
    }
    if (images_check_spec(&check, errp) < 0) {
        return -1;
    }
    /* The record as images_create makes it, then what may be missing. */
    check.name = "";
    check.container_format = spec->container_format ? spec->container_format
                                                    : "bare";
    img = images_new_record(who, &check, errp);
    if (img == NULL) {
        return -1;
    }
    free(img->name);
    img->name = spec->name ? xstrdup(spec->name) : NULL;
    free(img->disk_format);
    img->disk_format = spec->disk_format ? xstrdup(spec->disk_format) : NULL;
    free(img->container_format);
    img->container_format =
        spec->container_format ? xstrdup(spec->container_format) : NULL;
    img->protected = spec->protected;
    if (spec->id) {
        for (i = 0; spec->id[i] && i < UTIL_UUID_LEN - 1; i++) {
            img->id[i] = (char)tolower((unsigned char)spec->id[i]);
        }
        img->id[i] = '\0';
    }
    if (spec->ntags > 0) {
        img->tags = xcalloc(spec->ntags, sizeof(*img->tags));
        for (i = 0; i < spec->ntags; i++) {
            img->tags[img->ntags++] = xstrdup(spec->tags[i]);
        }
    }
    if (catalog_image_insert(cat, img, errp) == 0) {
        r = catalog_image_get(cat, img->id, out, errp);
    }
    image_free(img);
    return r;
}

struct images_upload {
    struct image *img;  /* the record when the upload began */
    struct lock *lock;  /* the image's lock */
    char *key;          /* the staging object's key */
    char *path;         /* its local file */
    int fd;             /* open on it for writing */
};

static void
images_upload_free(struct images_upload *u)
{
    if (u->fd >= 0) {
        close(u->fd);
    }
    lock_release(u->lock);
    image_free(u->img);
    free(u->key);
    free(u->path);
    free(u);
}

int
images_upload_begin(struct svc *svc, const struct caller *who,
                    const char *ref, struct images_upload **out,
                    struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct images_upload *u = xcalloc(1, sizeof(*u));
    struct image *img = NULL;
    bool saving = false;

    u->fd = -1;
    if (images_find(svc, who, ref, &img, errp) < 0) {
        goto fail;
    }
    if (!svc_may_see(who, img->owner)) {
        error_setg(errp, ERR_CONFLICT,
                   "image %s belongs to another project", img->id);
        goto fail;
    }
    if (svc_lock(svc, "image", img->id, false, &u->lock, errp) < 0) {
        goto fail;
    }
    /* Read again under the lock: another upload may have just ended. */
    if (catalog_image_get(cat, img->id, &u->img, errp) < 0) {
        goto fail;
    }
    image_free(img);
    img = NULL;
    if (strcmp(u->img->status, "queued") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not queued: it has "
                   "data already or is being made", u->img->id,
                   u->img->status);
        goto fail;
    }
    if (u->img->disk_format == NULL || u->img->container_format == NULL) {
        error_setg(errp, ERR_INVALID, "the disk_format and container_format "
                   "of image %s must be set before its data", u->img->id);
        goto fail;
    }
    if (catalog_image_transition(cat, u->img->id, "queued", "saving", NULL,
                                 errp) < 0) {
        goto fail;
    }
    saving = true;
    u->key = images_key(u->img->id,
                        images_is_package(u->img->container_format)
                            ? "ova"
                            : u->img->disk_format);
    if (blob_create(svc_blob(svc), u->key, &u->path, errp) < 0) {
        goto fail;
    }
    u->fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (u->fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", u->path);
        goto fail;
    }
    *out = u;
    return 0;

fail:
    if (saving) {
        catalog_image_transition(cat, u->img->id, "saving", "queued", NULL,
                                 NULL);
    }
    image_free(img);
    images_upload_free(u);
    return -1;
}

int
images_upload_fd(const struct images_upload *u)
{
    return u->fd;
}

const struct image *
images_upload_image(const struct images_upload *u)
{
    return u->img;
}

void
images_upload_abort(struct svc *svc, struct images_upload *u,
                    const char *reason)
{
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    blob_discard(svc_blob(svc), u->key);
    if (catalog_image_transition(svc_catalog(svc), u->img->id, "saving",
                                 "killed", reason, NULL) < 0) {
        log_warnx("image %s: the end of its failed upload is not recorded",
                  u->img->id);
    }
    images_upload_free(u);
}

const char *
images_upload_path(const struct images_upload *u)
{
    return u->path;
}

int
images_upload_handoff(struct svc *svc, struct images_upload *u,
                      struct error **errp)
{
    struct error *err = NULL;

    close(u->fd);
    u->fd = -1;
    if (catalog_image_transition(svc_catalog(svc), u->img->id, "saving",
                                 "importing", NULL, &err) < 0) {
        blob_discard(svc_blob(svc), u->key);
        catalog_image_transition(svc_catalog(svc), u->img->id, NULL,
                                 "killed", error_msg(err), NULL);
        images_upload_free(u);
        error_propagate(errp, err);
        return -1;
    }
    /* The import takes the image's lock itself; the package stays until
     * it has read it.
     */
    images_upload_free(u);
    return 0;
}

int
images_upload_finish(struct svc *svc, struct images_upload *u,
                     const struct images_upload_data *d, struct image **out,
                     struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct image_data data = {0};
    CLEANUP_FREE char *location = NULL;
    struct error *err = NULL;
    int64_t vsize = 0;

    if (out) {
        *out = NULL;
    }
    close(u->fd);
    u->fd = -1;
    if (images_is_package(u->img->container_format)) {
        error_setg(&err, ERR_INVALID, "a package upload is finished by "
                   "package_upload_finish");
        goto fail;
    }
    if (images_check_data(u->path, u->img->disk_format, &vsize, &err) < 0 ||
        images_check_space(svc, vsize > d->size ? vsize - d->size : 0,
                           &err) < 0 ||
        blob_commit(svc_blob(svc), u->key, u->path, NULL, &location, &err) <
            0) {
        goto fail;
    }
    data.size = d->size;
    data.virtual_size = vsize;
    data.checksum = d->checksum;
    data.os_hash_algo = "sha512";
    data.os_hash_value = d->os_hash_value;
    data.location = location;
    if (catalog_image_set_data(cat, u->img->id, &data, &err) < 0 ||
        catalog_image_transition(cat, u->img->id, "saving", "active", NULL,
                                 &err) < 0) {
        blob_remove(svc_blob(svc), location, NULL);
        free(u->key);
        u->key = NULL;
        goto fail_committed;
    }
    if (out && catalog_image_get(cat, u->img->id, out, &err) < 0) {
        /* It is active; only the read back failed. */
        images_upload_free(u);
        error_propagate(errp, err);
        return -1;
    }
    images_upload_free(u);
    return 0;

fail:
    blob_discard(svc_blob(svc), u->key);
fail_committed:
    catalog_image_transition(cat, u->img->id, NULL, "killed",
                             error_msg(err), NULL);
    images_upload_free(u);
    error_propagate(errp, err);
    return -1;
}

/* Is image IMG being made by a live process? */
static bool
images_being_made(struct svc *svc, const struct image *img)
{
    static const char *const making[] = {"queued", "saving", "importing",
                                         "uploading", NULL};
    size_t i;

    for (i = 0; making[i]; i++) {
        if (strcmp(img->status, making[i]) == 0) {
            return lock_held(svc_locks(svc), "image", img->id, NULL) != 0;
        }
    }
    return false;
}

int
images_change(struct svc *svc, const struct caller *who, const char *ref,
              const struct images_change *ch, struct image **out,
              struct error **errp)
{
    struct image_patch p = {0};
    struct image *img = NULL;
    int r = -1;

    if (images_find(svc, who, ref, &img, errp) < 0) {
        return -1;
    }
    if (!svc_may_see(who, img->owner)) {
        error_setg(errp, ERR_CONFLICT,
                   "image %s belongs to another project", img->id);
        goto out;
    }
    if (ch->visibility && !images_visibility_valid(ch->visibility)) {
        error_setg(errp, ERR_INVALID,
                   "visibility '%s' is not one of private, shared, "
                   "community, public",
                   ch->visibility);
        goto out;
    }
    p.name = ch->name;
    p.clear_name = ch->clear_name;
    p.min_ram = ch->min_ram;
    p.min_disk = ch->min_disk;
    p.visibility = ch->visibility;
    p.set = ch->set;
    p.nset = ch->nset;
    p.unset = ch->unset;
    p.nunset = ch->nunset;
    p.protected = ch->protect > 0 ? 1 : ch->protect < 0 ? 0 : -1;
    p.replace_tags = ch->replace_tags;
    p.tags = ch->tags;
    p.ntags = ch->ntags;
    if (catalog_image_patch(svc_catalog(svc), img->id, &p, errp) < 0) {
        goto out;
    }
    r = out ? catalog_image_get(svc_catalog(svc), img->id, out, errp) : 0;
out:
    image_free(img);
    return r;
}

/* The data of IMG and the volume snapshots of its set are removed, then
 * its record (IMG is pending_delete, its lock held by the caller).  A
 * crash in between leaves it pending_delete with its lock free, which
 * recovery finishes: never a file without a record (audit H3).  If the
 * data cannot be removed, IMG goes back to status FROM and this fails.
 */
static int
images_purge(struct svc *svc, const struct image *img, const char *from,
             struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *key = images_key(img->id, img->disk_format
                                                     ? img->disk_format
                                                     : "qcow2");
    struct error *err = NULL;

    if (img->location) {
        if (blob_remove(svc_blob(svc), img->location, errp) < 0) {
            if (from) {
                catalog_image_transition(cat, img->id, "pending_delete",
                                         from, img->fail_reason, NULL);
            }
            return -1;
        }
    } else {
        blob_discard(svc_blob(svc), key);
    }
    /* The volume snapshots of its set are the caller's
     * (snapshot_delete_image, recovery).  The record's removal is tried
     * twice: a transient disk error passes.
     */
    if (catalog_image_delete(cat, img->id, &err) == 0) {
        return 0;
    }
    if (error_get_class(err) != ERR_NOT_FOUND &&
        error_get_class(err) != ERR_CONFLICT &&
        catalog_image_delete(cat, img->id, NULL) == 0) {
        error_free(err);
        return 0;
    }
    if (error_get_class(err) != ERR_NOT_FOUND) {
        svc_left_for_recovery("image", img->id);
    }
    error_propagate(errp, err);
    return -1;
}

void
images_finish_delete(struct svc *svc, const struct image *img)
{
    struct error *err = NULL;

    log_warnx("image %s (%s) was left being deleted by a process that "
              "died: finishing",
              img->id, img->name ? img->name : "");
    if (images_purge(svc, img, NULL, &err) < 0) {
        log_warnx("image %s: %s", img->id, error_msg(err));
        error_free(err);
    }
}

int
images_delete(struct svc *svc, const struct caller *who, const char *ref,
              struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *users = NULL;
    struct image *img = NULL;
    struct lock *lk = NULL;
    struct error *err = NULL;
    int n, r = -1;

    if (images_find(svc, who, ref, &img, errp) < 0) {
        return -1;
    }
    if (!svc_may_see(who, img->owner)) {
        error_setg(errp, ERR_CONFLICT,
                   "image %s belongs to another project", img->id);
        goto out;
    }
    /* Its maker holds the image's lock until the record is final, and
     * so does a delete until the record is gone.
     */
    if (images_being_made(svc, img) ||
        svc_lock(svc, "image", img->id, false, &lk, &err) < 0) {
        if (err == NULL || error_get_class(err) == ERR_CONFLICT) {
            error_free(err);
            error_setg(errp, ERR_CONFLICT,
                       "image %s is being made or deleted (%s)", img->id,
                       img->status);
        } else {
            error_propagate(errp, err);
        }
        goto out;
    }
    if (catalog_begin(cat, errp) < 0) {
        goto out;
    }
    n = catalog_image_users(cat, img->id, &users, errp);
    if (n > 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is in use by %s", img->id,
                   users);
    }
    if (n != 0 ||
        catalog_image_transition(cat, img->id, img->status, "pending_delete",
                                 img->fail_reason, errp) < 0) {
        catalog_rollback(cat);
        goto out;
    }
    if (catalog_commit(cat, errp) < 0) {
        goto out;
    }
    r = images_purge(svc, img, img->status, errp);
out:
    lock_release(lk);
    image_free(img);
    return r;
}

int
images_save(struct svc *svc, const struct caller *who, const char *ref,
            const char *dest, const struct progress *progress,
            struct error **errp)
{
    struct fileio_copy_opts copy = {.phase = "download",
                                    .progress = progress};
    struct fileio_pending out = {.fd = -1};
    CLEANUP_FREE char *src = NULL;
    CLEANUP_FREE char *key = NULL;
    CLEANUP_CLOSE int in = -1;
    struct image *img = NULL;
    int r = -1;

    if (images_find(svc, who, ref, &img, errp) < 0) {
        return -1;
    }
    if (strcmp(img->status, "active") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not active",
                   img->id, img->status);
        goto done;
    }
    /* A backup in the chunk store is materialised first, with progress. */
    if (img->location == NULL && store_holds(img)) {
        key = images_key(img->id, "qcow2");
        if (store_materialise(svc, img, key, progress, &src, errp) < 0) {
            goto done;
        }
    } else if (images_local_path(svc, img, &src, errp) < 0) {
        goto done;
    }
    /* DEST is whole or untouched, and a copy that dies leaves nothing
     * behind (audit L8).
     */
    in = fileio_open_regular(src, true, errp);
    if (in < 0 || fileio_pending_open(dest, 0600, &out, errp) < 0 ||
        fileio_copy_to_fd(in, src, out.fd, dest, &copy, NULL, errp) < 0 ||
        fileio_pending_publish(&out, true, errp) < 0) {
        goto done;
    }
    r = 0;
done:
    fileio_pending_clear(&out);
    image_free(img);
    return r;
}
