/* vmsnap: OVA packages, the tar container: every member checked, read
 * with its digest checked on the way, or written (see ovf-internal.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "cleanup.h"
#include "fileio.h"
#include "hash.h"
#include "ovf-internal.h"
#include "xalloc.h"

/* Block size libarchive reads the OVA with. */
#define OVF_TAR_BLOCK 10240

/* Set an error for a failed libarchive read. */
static int
ovf_tar_error(struct archive *a, const char *what, struct error **errp)
{
    int e = archive_errno(a);
    const char *s = archive_error_string(a);

    error_setg(errp, e == EIO || e == ENOMEM ? ERR_IO : ERR_INVALID,
               "package: damaged tar (%s): %s", what,
               s != NULL ? s : "unknown error");
    return -1;
}

/* Check the header of the next member; set *NAME and *SIZE. */
static int
ovf_check_entry(struct archive_entry *e, const char **name, int64_t *size,
                struct error **errp)
{
    const char *n = archive_entry_pathname(e);

    if (!ovf_member_name_ok(n)) {
        CLEANUP_FREE char *s = ovf_printable(n);

        error_setg(errp, ERR_INVALID,
                   "package: member name \"%s\" is not a "
                   "plain file name",
                   s);
        return -1;
    }
    if (archive_entry_filetype(e) != AE_IFREG ||
        archive_entry_hardlink(e) != NULL || archive_entry_symlink(e) != NULL) {
        error_setg(errp, ERR_INVALID,
                   "package: member %s is not a regular "
                   "file",
                   n);
        return -1;
    }
    /* A sparse member (GNU or pax sparse map) reads back with its holes
     * filled: a few KiB of tar would write gigabytes of zeros.  OVF
     * tools do not write them; refuse them.
     */
    if (archive_entry_sparse_count(e) > 0) {
        error_setg(errp, ERR_INVALID,
                   "package: member %s is a sparse file, which is not "
                   "accepted",
                   n);
        return -1;
    }
    if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0 ||
        archive_entry_size(e) > OVF_MAX_MEMBER_SIZE) {
        error_setg(errp, ERR_INVALID, "package: member %s has no valid size",
                   n);
        return -1;
    }
    *name = n;
    *size = archive_entry_size(e);
    return 0;
}

/* Read the current member (SIZE bytes, at most MAX) into memory. */
static int
ovf_read_small(struct archive *a, const char *name, int64_t size, size_t max,
               char **out, size_t *len, struct error **errp)
{
    size_t done = 0;
    char *buf;

    if (size > (int64_t)max) {
        error_setg(errp, ERR_INVALID, "package: %s is larger than %zu bytes",
                   name, max);
        return -1;
    }
    buf = xmalloc((size_t)size + 1);
    while (done < (size_t)size) {
        la_ssize_t n = archive_read_data(a, buf + done, (size_t)size - done);

        if (n < 0) {
            free(buf);
            return ovf_tar_error(a, name, errp);
        }
        if (n == 0) {
            free(buf);
            error_setg(errp, ERR_INVALID, "package: member %s is truncated",
                       name);
            return -1;
        }
        done += (size_t)n;
    }
    buf[done] = '\0';
    *out = buf;
    *len = done;
    return 0;
}

/* Extract the current member NAME (SIZE bytes) into the workdir,
 * checking its digest against manifest entry ME on the way.
 */
static int
ovf_extract(struct ovf_import *im, struct archive *a, const char *name,
            int64_t size, struct ovf_mf_entry *me, unsigned char *buf,
            struct error **errp)
{
    char hex[HASH_MAX_HEX_LEN];
    CLEANUP_CLOSE int fd = -1;
    struct hash_ctx *h = NULL;
    struct statvfs sv;
    int64_t done = 0;
    int r = -1;

    if (fstatvfs(im->dirfd, &sv) == 0 &&
        (uint64_t)size > (uint64_t)sv.f_bavail * sv.f_frsize) {
        error_setg_errno(errp, ERR_IO, ENOSPC,
                         "not enough space in %s for "
                         "%s (%" PRId64 " bytes)",
                         im->workdir, name, size);
        return -1;
    }
    im->made[im->nmade] = xstrdup(name);
    fd = openat(im->dirfd, name,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg_errno(errp, ERR_IO, errno, "create %s in %s", name,
                         im->workdir);
        free(im->made[im->nmade]);
        im->made[im->nmade] = NULL;
        return -1;
    }
    im->nmade++;

    h = hash_begin(me->alg, errp);
    if (h == NULL) {
        goto out;
    }
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, OVF_CHUNK);

        if (n < 0) {
            ovf_tar_error(a, name, errp);
            goto out;
        }
        if (n == 0) {
            break;
        }
        if (done + n > size) {
            error_setg(errp, ERR_INVALID,
                       "package: member %s is longer than "
                       "its header says",
                       name);
            goto out;
        }
        if (fileio_write_all(fd, buf, (size_t)n, name, errp) < 0) {
            goto out;
        }
        if (hash_update(h, buf, (size_t)n, errp) < 0) {
            goto out;
        }
        done += n;
    }
    if (done != size) {
        error_setg(errp, ERR_INVALID, "package: member %s is truncated", name);
        goto out;
    }
    if (hash_end(steal_pointer(&h), hex, errp) < 0) {
        goto out;
    }
    if (strcmp(hex, me->hex) != 0) {
        error_setg(errp, ERR_INVALID, "manifest: checksum mismatch for %s",
                   name);
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        error_setg_errno(errp, ERR_IO, errno, "close %s", name);
        goto out;
    }
    fd = -1;
    r = 0;
out:
    hash_ctx_free(h);
    return r;
}

/* Handle the first two members: the descriptor, then the manifest. */
static int
ovf_read_meta(struct ovf_import *im, struct archive *a, unsigned index,
              const char *name, int64_t size, struct error **errp)
{
    CLEANUP_FREE char *mf = NULL;
    char hex[HASH_MAX_HEX_LEN];
    struct ovf_mf_entry *me;
    size_t len = 0, n = strlen(name);

    if (index == 0) {
        if (n < 5 || strcmp(name + n - 4, ".ovf") != 0) {
            error_setg(errp, ERR_INVALID,
                       "package: the first member %s is "
                       "not an OVF descriptor (.ovf)",
                       name);
            return -1;
        }
        im->desc_name = xstrdup(name);
        return ovf_read_small(a, name, size, OVF_DESC_MAX, &im->desc,
                              &im->desc_len, errp);
    }

    im->mf_name = xasprintf("%.*s.mf", (int)(strlen(im->desc_name) - 4),
                            im->desc_name);
    if (strcmp(name, im->mf_name) != 0) {
        error_setg(errp, ERR_INVALID,
                   "package: the second member is %s, not "
                   "the manifest %s",
                   name, im->mf_name);
        return -1;
    }
    if (ovf_read_small(a, name, size, OVF_MF_MAX, &mf, &len, errp) < 0 ||
        ovf_parse_manifest(im, mf, len, errp) < 0) {
        return -1;
    }
    me = ovf_mf_find(im, im->desc_name);
    if (me == NULL) {
        error_setg(errp, ERR_INVALID, "manifest: descriptor %s is not listed",
                   im->desc_name);
        return -1;
    }
    if (hash_mem(me->alg, im->desc, im->desc_len, hex, errp) < 0) {
        return -1;
    }
    if (strcmp(hex, me->hex) != 0) {
        error_setg(errp, ERR_INVALID, "manifest: checksum mismatch for %s",
                   im->desc_name);
        return -1;
    }
    me->seen = true;
    if (ovf_parse_descriptor(im, errp) < 0) {
        return -1;
    }
    return ovf_cross_check(im, errp);
}

/* Handle a member after the manifest: a disk or a plain file. */
static int
ovf_read_disk(struct ovf_import *im, struct archive *a, const char *name,
              int64_t size, unsigned char *buf, struct error **errp)
{
    struct ovf_mf_entry *me = ovf_mf_find(im, name);
    size_t i;

    if (me == NULL) {
        error_setg(errp, ERR_INVALID,
                   "package: member %s is not listed in "
                   "the manifest",
                   name);
        return -1;
    }
    if (me->seen) {
        error_setg(errp, ERR_INVALID, "package: member %s appears twice", name);
        return -1;
    }
    me->seen = true;
    for (i = 0; i < im->nrefs; i++) {
        if (strcmp(im->refs[i].href, name) == 0 && im->refs[i].size >= 0 &&
            im->refs[i].size != size) {
            error_setg(errp, ERR_INVALID,
                       "descriptor: File %s has ovf:size "
                       "%" PRId64 " but member %s has %" PRId64 " bytes",
                       im->refs[i].id, im->refs[i].size, name, size);
            return -1;
        }
    }
    return ovf_extract(im, a, name, size, me, buf, errp);
}

int
ova_read(struct ovf_import *im, int fd, struct error **errp)
{
    CLEANUP_FREE unsigned char *buf = xmalloc(OVF_CHUNK);
    struct archive *a = xcheck(archive_read_new());
    struct archive_entry *e;
    unsigned index = 0;
    int r = -1, ar;
    size_t i;

    if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
        archive_read_support_filter_none(a) != ARCHIVE_OK ||
        archive_read_open_fd(a, fd, OVF_TAR_BLOCK) != ARCHIVE_OK) {
        error_setg(errp, ERR_INVALID, "package: not a tar file: %s",
                   archive_error_string(a));
        goto out;
    }
    while ((ar = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name;
        int64_t size;

        if (index >= OVF_MAX_MEMBERS) {
            error_setg(errp, ERR_INVALID, "package: more than %d members",
                       OVF_MAX_MEMBERS);
            goto out;
        }
        if (ovf_check_entry(e, &name, &size, errp) < 0) {
            goto out;
        }
        if (index < 2) {
            if (ovf_read_meta(im, a, index, name, size, errp) < 0) {
                goto out;
            }
        } else if (ovf_read_disk(im, a, name, size, buf, errp) < 0) {
            goto out;
        }
        index++;
    }
    if (ar != ARCHIVE_EOF) {
        ovf_tar_error(a, index == 0 ? "start" : "member header", errp);
        goto out;
    }
    if (index < 2) {
        error_setg(errp, ERR_INVALID, "package: %s",
                   index == 0 ? "empty tar"
                              : "no manifest after the descriptor");
        goto out;
    }
    for (i = 0; i < im->nmf; i++) {
        if (!im->mf[i].seen) {
            error_setg(errp, ERR_INVALID,
                       "package: file %s listed in the "
                       "manifest is missing",
                       im->mf[i].name);
            goto out;
        }
    }
    r = 0;
out:
    archive_read_free(a);
    return r;
}

/* Append file F to the tar A as a regular member; *DONE counts the bytes
 * written for PROGRESS.
 */
static int
ova_add(struct archive *a, const struct ovf_out_file *f, unsigned char *buf,
        int64_t *done, void (*progress)(int64_t done, void *opaque),
        void *opaque, struct error **errp)
{
    CLEANUP_CLOSE int fd = -1;
    struct archive_entry *e;
    int64_t copied = 0;
    struct stat st;

    fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "open %s", f->path);
        return -1;
    }
    if (st.st_size != f->size) {
        error_setg(errp, ERR_IO, "%s changed size while packaging", f->path);
        return -1;
    }
    e = xcheck(archive_entry_new());
    archive_entry_set_pathname(e, f->member);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, f->size);
    archive_entry_set_mtime(e, time(NULL), 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        error_setg(errp, ERR_IO, "package %s: %s", f->member,
                   archive_error_string(a));
        archive_entry_free(e);
        return -1;
    }
    archive_entry_free(e);

    for (;;) {
        ssize_t n = read(fd, buf, OVF_CHUNK);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read %s", f->path);
            return -1;
        }
        if (n == 0 || copied + n > f->size) {
            break;
        }
        if (archive_write_data(a, buf, (size_t)n) != n) {
            error_setg(errp, ERR_IO, "package %s: %s", f->member,
                       archive_error_string(a));
            return -1;
        }
        copied += n;
        *done += n;
        if (progress != NULL) {
            progress(*done, opaque);
        }
    }
    if (copied != f->size) {
        error_setg(errp, ERR_IO, "%s changed size while packaging", f->path);
        return -1;
    }
    return 0;
}

int
ova_write(int fd, const char *part, const struct ovf_out_file *const *files,
          size_t n, void (*progress)(int64_t done, void *opaque),
          void *opaque, struct error **errp)
{
    CLEANUP_FREE unsigned char *buf = xmalloc(OVF_CHUNK);
    struct archive *a = xcheck(archive_write_new());
    int64_t done = 0;
    int r = -1;
    size_t i;

    if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_open_fd(a, fd) != ARCHIVE_OK) {
        error_setg(errp, ERR_IO, "package %s: %s", part,
                   archive_error_string(a));
        goto out;
    }
    for (i = 0; i < n; i++) {
        if (ova_add(a, files[i], buf, &done, progress, opaque, errp) < 0) {
            goto out;
        }
    }
    if (archive_write_close(a) != ARCHIVE_OK) {
        error_setg(errp, ERR_IO, "package %s: %s", part,
                   archive_error_string(a));
        goto out;
    }
    if (fsync(fd) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "sync %s", part);
        goto out;
    }
    r = 0;
out:
    archive_write_free(a);
    return r;
}
