/* vmsnap: OVA packages, the import: the workdir, the OVA read (ova-tar.c)
 * and every disk checked, by its header and by qemu-img, against its
 * declaration before anyone opens it (see ovf.h, ovf_import).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "ovf-internal.h"
#include "qemuimg.h"
#include "xalloc.h"

/* Remove the files in NAMES (relative to DIRFD), as far as possible. */
static void
ovf_unlink_all(int dirfd, char **names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (names[i] != NULL) {
            (void)unlinkat(dirfd, names[i], 0);
        }
    }
}

/* Check the first bytes of disk I against its declared format: the
 * magic, and for qcow2 no backing file, no encryption and no external
 * data file (qemu-img would open files the package names).
 */
static int
ovf_check_magic(struct ovf_import *im, size_t i, const char *href,
                struct error **errp)
{
    const struct ovf_disk *d = &im->pkg->disks[i];
    unsigned char h[104] = {0};
    CLEANUP_CLOSE int fd = -1;
    ssize_t n;

    fd = openat(im->dirfd, href, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", href);
        return -1;
    }
    do {
        n = pread(fd, h, sizeof(h), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, ERR_IO, errno, "read %s", href);
        return -1;
    }
    if (strcmp(d->format, "vmdk") == 0) {
        uint64_t capacity = 0;
        int k;

        if (n < 20 || memcmp(h, "KDMV", 4) != 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %s is not a sparse VMDK "
                       "(descriptor files are not accepted)",
                       href);
            return -1;
        }
        /* A sparse header of capacity 0 makes QEMU read the embedded
         * descriptor as a whole descriptor file, whose extents can name
         * any host file (CVE-2024-32498).
         */
        for (k = 19; k >= 12; k--) {
            capacity = capacity << 8 | h[k];
        }
        if (capacity == 0) {
            error_setg(errp, ERR_INVALID,
                       "disk %s: a VMDK header of capacity 0 (one that "
                       "defers to an embedded descriptor) is not accepted",
                       href);
            return -1;
        }
        return 0;
    }
    if (n < 72 || memcmp(h, "QFI\xfb", 4) != 0) {
        error_setg(errp, ERR_INVALID, "disk %s is not a qcow2 image", href);
        return -1;
    }
    {
        uint32_t version = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
                           (uint32_t)h[6] << 8 | h[7];
        uint64_t backing = 0;
        uint32_t crypt = (uint32_t)h[32] << 24 | (uint32_t)h[33] << 16 |
                         (uint32_t)h[34] << 8 | h[35];
        int k;

        for (k = 8; k < 16; k++) {
            backing = backing << 8 | h[k];
        }
        if (backing != 0) {
            error_setg(errp, ERR_INVALID, "disk %s has a backing file", href);
            return -1;
        }
        if (crypt != 0) {
            error_setg(errp, ERR_INVALID, "disk %s is encrypted", href);
            return -1;
        }
        /* Incompatible feature bit 2: external data file. */
        if (version >= 3 && (n < 80 || (h[79] & 0x04) != 0)) {
            error_setg(errp, ERR_INVALID,
                       "disk %s has an external data "
                       "file",
                       href);
            return -1;
        }
    }
    return 0;
}

/* Check every extracted disk with qemu-img against its declaration. */
static int
ovf_check_images(struct ovf_import *im, struct error **errp)
{
    size_t i;

    for (i = 0; i < im->pkg->ndisks; i++) {
        const struct ovf_disk *d = &im->pkg->disks[i];
        const char *href = im->refs[im->ddisks[im->disk_of[i]].ref].href;
        struct qemuimg_info info;
        struct error *local = NULL;

        if (ovf_check_magic(im, i, href, errp) < 0) {
            return -1;
        }
        if (qemuimg_info(d->file, d->format, &info, &local) < 0) {
            enum error_class cls = error_get_class(local);

            error_setg(errp, cls == ERR_IO ? ERR_IO : ERR_INVALID,
                       "disk %s is not a valid %s image: %s", href, d->format,
                       error_msg(local));
            error_free(local);
            return -1;
        }
        if (strcmp(info.format, d->format) != 0 ||
            info.backing_filename != NULL || info.other_files) {
            error_setg(errp, ERR_INVALID,
                       "disk %s is not a plain, self-contained %s image",
                       href, d->format);
            qemuimg_info_clear(&info);
            return -1;
        }
        if (info.virtual_size != d->capacity) {
            error_setg(errp, ERR_INVALID,
                       "disk %s has %" PRId64 " bytes, the "
                       "descriptor says %" PRId64,
                       href, info.virtual_size, d->capacity);
            qemuimg_info_clear(&info);
            return -1;
        }
        qemuimg_info_clear(&info);
    }
    return 0;
}

/* Fail unless WORKDIR is an existing empty directory. */
static int
ovf_check_workdir(const char *workdir, struct error **errp)
{
    struct dirent *de;
    DIR *dir = opendir(workdir);

    if (dir == NULL) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "workdir %s", workdir);
        return -1;
    }
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            closedir(dir);
            error_setg(errp, ERR_INVALID, "workdir %s is not empty", workdir);
            return -1;
        }
    }
    closedir(dir);
    return 0;
}

void
ovf_import_clear(struct ovf_import *im)
{
    size_t i;

    for (i = 0; i < im->nmade; i++) {
        free(im->made[i]);
    }
    free(im->made);
    for (i = 0; i < im->nmf; i++) {
        free(im->mf[i].name);
    }
    free(im->mf);
    for (i = 0; i < im->nrefs; i++) {
        free(im->refs[i].id);
        free(im->refs[i].href);
    }
    free(im->refs);
    for (i = 0; i < im->nddisks; i++) {
        free(im->ddisks[i].id);
    }
    free(im->ddisks);
    free(im->disk_of);
    free(im->desc_name);
    free(im->desc);
    free(im->mf_name);
    ovf_package_free(im->pkg);
    if (im->dirfd >= 0) {
        close(im->dirfd);
    }
}

int
ovf_import(const char *ova_path, const char *workdir, struct ovf_package **out,
           struct error **errp)
{
    struct ovf_import im = {.workdir = workdir, .dirfd = -1};
    CLEANUP_CLOSE int fd = -1;
    struct stat st;
    int r = -1;

    ovf_xml_init();
    if (ova_path == NULL || workdir == NULL || out == NULL) {
        error_setg(errp, ERR_INVALID,
                   "import: no package, workdir or "
                   "result");
        return -1;
    }
    if (ovf_check_workdir(workdir, errp) < 0) {
        return -1;
    }
    fd = open(ova_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno == ENOENT ? ERR_NOT_FOUND : ERR_IO, errno,
                         "open %s", ova_path);
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "%s is not a regular file", ova_path);
        return -1;
    }
    im.dirfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    im.made = xcalloc(OVF_MAX_MEMBERS, sizeof(*im.made));
    if (im.dirfd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "workdir %s", workdir);
        goto out;
    }
    if (ova_read(&im, fd, errp) < 0 || ovf_check_images(&im, errp) < 0) {
        goto out;
    }
    *out = steal_pointer(&im.pkg);
    r = 0;
out:
    if (r < 0) {
        ovf_unlink_all(im.dirfd, im.made, im.nmade);
        error_prepend(errp, "%s: ", ova_path);
    }
    ovf_import_clear(&im);
    return r;
}
