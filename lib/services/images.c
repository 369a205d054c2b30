/* vmsnap: the image service (see images.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "hash.h"
#include "images.h"
#include "log.h"
#include "qemuimg.h"
#include "util.h"

#define COPY_CHUNK (1024 * 1024)

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

static bool
images_container_format_valid(const char *fmt)
{
    static const char *const ok[] = {"bare", "ovf", "ova"};
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strcmp(fmt, ok[i]) == 0) {
            return true;
        }
    }
    return false;
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

    if (qemuimg_info(path, disk_format, &info, errp) < 0) {
        error_prepend(errp, "%s is not a valid %s image: ", path,
                      disk_format);
        return -1;
    }
    if (strcmp(disk_format, "raw") == 0) {
        /* A raw file that probes as qcow2 (or anything else) would be
         * booted as a raw disk holding an image header: refuse it.
         */
        if (qemuimg_info(path, NULL, &probed, errp) < 0) {
            goto out;
        }
        if (strcmp(probed.format, "raw") != 0) {
            error_setg(errp, ERR_INVALID,
                       "%s holds a %s image, not raw data: use "
                       "--disk-format %s",
                       path, probed.format, probed.format);
            goto out;
        }
    }
    if (info.other_files) {
        error_setg(errp, ERR_INVALID,
                   "%s reads data from other files (external extents or a "
                   "data file): images must be self-contained",
                   path);
        goto out;
    }
    if (strcmp(disk_format, "raw") != 0 && info.backing_filename) {
        error_setg(errp, ERR_INVALID,
                   "%s has a backing file (%s): images must be "
                   "self-contained (flatten it with qemu-img convert)",
                   path, info.backing_filename);
        goto out;
    }
    *virtual_size = info.virtual_size;
    r = 0;
out:
    qemuimg_info_clear(&info);
    qemuimg_info_clear(&probed);
    return r;
}

static bool
images_all_zero(const char *buf, size_t n)
{
    return n > 0 && buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0;
}

int
images_copy_file(const char *src, const char *dest, int mode,
                 const char *phase, const struct progress *progress,
                 struct error **errp)
{
    CLEANUP_CLOSE int in = -1;
    CLEANUP_CLOSE int out = -1;
    CLEANUP_FREE char *buf = NULL;
    struct stat st;
    int64_t done = 0;

    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                         errno, "%s", src);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "%s is not a regular file", src);
        return -1;
    }
    out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s", dest);
        return -1;
    }
    buf = malloc(COPY_CHUNK);
    if (buf == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        goto fail;
    }
    for (;;) {
        ssize_t n = read(in, buf, COPY_CHUNK);
        ssize_t off = 0;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read %s", src);
            goto fail;
        }
        if (n == 0) {
            break;
        }
        /* Keep holes: a chunk of zeros becomes a hole (the size is set
         * with ftruncate at the end), so sparse raw images stay sparse.
         */
        if (images_all_zero(buf, n)) {
            if (lseek(out, n, SEEK_CUR) < 0) {
                error_setg_errno(errp, ERR_IO, errno, "seek %s", dest);
                goto fail;
            }
            off = n;
        }
        while (off < n) {
            ssize_t w = write(out, buf + off, n - off);

            if (w < 0 && errno == EINTR) {
                continue;
            }
            if (w < 0) {
                error_setg_errno(errp, ERR_IO, errno, "write %s", dest);
                goto fail;
            }
            off += w;
        }
        done += n;
        if (st.st_size > 0) {
            progress_report(progress, phase, 100.0 * done / st.st_size);
        }
    }
    if (ftruncate(out, done) < 0 || fsync(out) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "write %s", dest);
        goto fail;
    }
    return 0;

fail:
    unlink(dest);
    return -1;
}

struct hash_progress_ctx {
    const struct progress *progress; /* where to report */
};

static void
images_hash_progress(int64_t done, int64_t total, void *opaque)
{
    const struct hash_progress_ctx *ctx = opaque;

    if (total > 0) {
        progress_report(ctx->progress, "checksum", 100.0 * done / total);
    }
}

int
images_activate(struct store *store, struct image *img, const char *data_file,
                const struct progress *progress, struct error **errp)
{
    char md5[HASH_MD5_HEX_LEN], sha512[HASH_SHA512_HEX_LEN];
    struct hash_progress_ctx ctx = {progress};
    struct qemuimg_info info = {0};
    char *file = NULL, *checksum = NULL, *algo = NULL, *hashv = NULL;
    char *status = NULL;
    struct stat st;

    if (images_is_disk(img->disk_format)) {
        if (qemuimg_info(data_file, img->disk_format, &info, errp) < 0) {
            return -1;
        }
    }
    log_debug("images", "%s: hashing %s", img->id, data_file);
    if (hash_file(data_file, md5, sha512, images_hash_progress, &ctx,
                  errp) < 0 ||
        stat(data_file, &st) < 0) {
        if (errp && *errp == NULL) {
            error_setg_errno(errp, ERR_IO, errno, "%s", data_file);
        }
        qemuimg_info_clear(&info);
        return -1;
    }
    file = strdup(data_file);
    checksum = strdup(md5);
    algo = strdup("sha512");
    hashv = strdup(sha512);
    status = strdup("active");
    if (!file || !checksum || !algo || !hashv || !status) {
        free(file), free(checksum), free(algo), free(hashv), free(status);
        qemuimg_info_clear(&info);
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    free(img->file), img->file = file;
    free(img->checksum), img->checksum = checksum;
    free(img->os_hash_algo), img->os_hash_algo = algo;
    free(img->os_hash_value), img->os_hash_value = hashv;
    free(img->status), img->status = status;
    img->size = st.st_size;
    img->virtual_size = images_is_disk(img->disk_format) ? info.virtual_size
                                                         : st.st_size;
    qemuimg_info_clear(&info);
    log_debug("images", "%s: active, %lld bytes", img->id,
              (long long)img->size);
    return catalog_image_update(store_catalog(store), img, errp);
}

/* Fill a fresh record for SPEC in status queued. */
static struct image *
images_new_record(const struct images_new *spec, struct error **errp)
{
    struct image *img = calloc(1, sizeof(*img));
    size_t i;

    if (img == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return NULL;
    }
    util_uuid_new(img->id);
    img->name = strdup(spec->name);
    img->status = strdup("queued");
    img->disk_format = strdup(spec->disk_format);
    img->container_format =
        strdup(spec->container_format ? spec->container_format : "bare");
    img->size = -1;
    img->virtual_size = -1;
    img->min_ram = spec->min_ram;
    img->min_disk = spec->min_disk;
    if (!img->name || !img->status || !img->disk_format ||
        !img->container_format) {
        image_free(img);
        error_setg(errp, ERR_IO, "out of memory");
        return NULL;
    }
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
images_create(struct store *store, const struct images_new *spec,
              const struct progress *progress, struct image **out,
              struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    struct image *img = NULL;
    CLEANUP_FREE char *path = NULL;
    int64_t vsize = 0;
    bool inserted = false;
    int lock = -1;

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
                   "container format '%s' is not supported (bare, ovf, ova)",
                   spec->container_format);
        return -1;
    }
    if (spec->min_ram < 0 || spec->min_disk < 0) {
        error_setg(errp, ERR_INVALID, "min-ram and min-disk must be >= 0");
        return -1;
    }
    if (access(spec->file, R_OK) < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO,
                         errno, "%s", spec->file);
        return -1;
    }
    if (images_check_data(spec->file, spec->disk_format, &vsize, errp) < 0) {
        return -1;
    }
    img = images_new_record(spec, errp);
    if (img == NULL) {
        return -1;
    }
    lock = store_lock_image(store, img->id, false, errp);
    if (lock < 0 || catalog_image_insert(cat, img, errp) < 0) {
        goto fail;
    }
    inserted = true;
    if (catalog_image_set_status(cat, img->id, "saving", NULL, errp) < 0) {
        goto fail;
    }
    free(img->status);
    img->status = strdup("saving");
    path = store_image_path(store, img->id, spec->disk_format);
    if (path == NULL || img->status == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        goto fail;
    }
    if (images_copy_file(spec->file, path, 0444, "upload", progress,
                         errp) < 0) {
        goto fail;
    }
    if (images_activate(store, img, path, progress, errp) < 0) {
        unlink(path);
        goto fail;
    }
    /* Read the record back: the catalog fills in the timestamps. */
    if (catalog_image_get(cat, img->id, out, errp) < 0) {
        unlink(path);
        goto fail;
    }
    store_unlock_image(store, img->id, lock);
    image_free(img);
    return 0;

fail:
    if (inserted) {
        catalog_image_delete(cat, img->id, NULL);
    }
    store_unlock_image(store, img->id, lock);
    image_free(img);
    return -1;
}

int
images_delete(struct store *store, const struct image *img,
              struct error **errp)
{
    struct catalog *cat = store_catalog(store);
    CLEANUP_FREE char *users = NULL;
    int n;

    if (catalog_begin(cat, errp) < 0) {
        return -1;
    }
    n = catalog_image_users(cat, img->id, &users, errp);
    if (n < 0) {
        goto fail;
    }
    if (n > 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is in use by %s", img->id,
                   users);
        goto fail;
    }
    if (catalog_image_delete(cat, img->id, errp) < 0) {
        goto fail;
    }
    if (catalog_commit(cat, errp) < 0) {
        goto fail;
    }
    /* The record is gone first: a crash here leaves an orphan file,
     * never a record without data.
     */
    if (img->file && unlink(img->file) < 0 && errno != ENOENT) {
        error_setg_errno(errp, ERR_IO, errno, "remove %s", img->file);
        return -1;
    }
    return 0;

fail:
    catalog_rollback(cat);
    return -1;
}

int
images_save(const struct image *img, const char *dest,
            const struct progress *progress, struct error **errp)
{
    CLEANUP_FREE char *tmp = NULL;

    if (strcmp(img->status, "active") != 0 || img->file == NULL) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not active",
                   img->id, img->status);
        return -1;
    }
    tmp = util_strdup_printf("%s.part-%d", dest, (int)getpid());
    if (tmp == NULL) {
        error_setg(errp, ERR_IO, "out of memory");
        return -1;
    }
    if (images_copy_file(img->file, tmp, 0644, "download", progress,
                         errp) < 0) {
        return -1;
    }
    if (rename(tmp, dest) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "rename to %s", dest);
        unlink(tmp);
        return -1;
    }
    return 0;
}
