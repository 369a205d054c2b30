/* Unit tests of daemon/upload.c's writer: hashes, limits, failures. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "tap.h"
#include "upload.h"

static void
ref_hex(const char *name, const void *buf, size_t len, char *hex)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_Digest(buf, len, bin, &n, EVP_get_digestbyname(name), NULL);
    for (i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", bin[i]);
    }
}

static int
tmpfile_fd(char *path)
{
    int fd;

    snprintf(path, 64, "/tmp/vmsnap-upload-XXXXXX");
    fd = mkstemp(path);
    if (fd < 0) {
        diag("mkstemp failed");
        exit(1);
    }
    return fd;
}

int
main(void)
{
    char path[64], md5[HASH_MD5_HEX_LEN], sha[HASH_SHA512_HEX_LEN];
    struct upload_limits lim = {0, 0};
    struct upload_result res;
    enum upload_failure why = UPLOAD_OK;
    struct error *err = NULL;
    struct upload *u;
    size_t len = 21 * 1024 * 1024 + 17, off; /* wraps the ring twice */
    unsigned char *data = malloc(len);
    struct stat st;
    int fd, full;

    for (off = 0; off < len; off++) {
        data[off] = (unsigned char)(off * 7 + off / 4096);
    }
    ref_hex("md5", data, len, md5);
    ref_hex("sha512", data, len, sha);

    /* Pieces of odd sizes, unknown length. */
    fd = tmpfile_fd(path);
    u = upload_new(fd, NULL, -1, &why, NULL);
    for (off = 0; u && off < len;) {
        size_t n = len - off < 65537 ? len - off : 65537;

        if (upload_write(u, data + off, n, NULL) < 0) {
            break;
        }
        off += n;
    }
    ok(u && off == len && upload_size(u) == len, "pieces written");
    ok(upload_finish(u, &res, NULL) == 0 && res.size == len &&
           strcmp(res.md5, md5) == 0 && strcmp(res.sha512, sha) == 0,
       "MD5 and SHA-512 computed on the way");
    ok(fstat(fd, &st) == 0 && (size_t)st.st_size == len,
       "the file has every byte");
    upload_free(u);
    close(fd);
    unlink(path);

    /* Declared length, exact. */
    fd = tmpfile_fd(path);
    u = upload_new(fd, &lim, 10, &why, NULL);
    ok(u && upload_write(u, data, 10, NULL) == 0 &&
           upload_finish(u, &res, NULL) == 0 && res.size == 10,
       "a declared length that is met");
    upload_free(u);

    /* Declared length, more comes. */
    u = upload_new(fd, &lim, 10, &why, NULL);
    ok(u && upload_write(u, data, 11, &err) < 0 &&
           upload_failure(u) == UPLOAD_TOO_LARGE &&
           upload_status(upload_failure(u)) == 413,
       "more than declared: too large (413)");
    error_free(err);
    err = NULL;
    ok(upload_write(u, data, 1, NULL) < 0 && upload_finish(u, &res, NULL) < 0,
       "a failed upload stays failed");
    upload_free(u);

    /* Declared length, less comes. */
    u = upload_new(fd, &lim, 10, &why, NULL);
    ok(u && upload_write(u, data, 9, NULL) == 0 &&
           upload_finish(u, &res, &err) < 0 &&
           upload_failure(u) == UPLOAD_SHORT &&
           upload_status(UPLOAD_SHORT) == 400,
       "less than declared: short (400): %s", err ? error_msg(err) : "-");
    error_free(err);
    err = NULL;
    upload_free(u);

    /* Maximum size. */
    lim.max_size = 100;
    u = upload_new(fd, &lim, 101, &why, &err);
    ok(u == NULL && why == UPLOAD_TOO_LARGE && err &&
           error_get_class(err) == ERR_INVALID,
       "a declared length over the maximum fails at once: %s",
       err ? error_msg(err) : "-");
    error_free(err);
    err = NULL;
    u = upload_new(fd, &lim, -1, &why, NULL);
    ok(u && upload_write(u, data, 60, NULL) == 0 &&
           upload_write(u, data, 41, NULL) < 0 &&
           upload_failure(u) == UPLOAD_TOO_LARGE,
       "an unknown length stops at the maximum");
    upload_free(u);
    lim.max_size = 0;

    /* Free-space reserve. */
    lim.reserve = INT64_MAX / 4;
    u = upload_new(fd, &lim, 10, &why, NULL);
    ok(u == NULL && why == UPLOAD_NO_SPACE,
       "a reserve larger than the free space: refused at once");
    u = upload_new(fd, &lim, -1, &why, NULL);
    ok(u && upload_write(u, data, 10, NULL) < 0 &&
           upload_failure(u) == UPLOAD_NO_SPACE &&
           upload_status(UPLOAD_NO_SPACE) == 413,
       "unknown length: refused at the first write (413)");
    upload_free(u);
    lim.reserve = 0;
    close(fd);
    unlink(path);

    /* A full disk. */
    full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (full >= 0) {
        u = upload_new(full, NULL, -1, &why, NULL);
        /* The write happens behind the call: its failure is told by a
         * later call, at the latest by upload_finish.
         */
        ok(u &&
               (upload_write(u, data, 4096, &err) < 0 ||
                upload_finish(u, &res, &err) < 0) &&
               upload_failure(u) == UPLOAD_NO_SPACE && err &&
               error_get_class(err) == ERR_IO,
           "ENOSPC is no space: %s", err ? error_msg(err) : "-");
        error_free(err);
        err = NULL;
        upload_free(u);
        close(full);
    } else {
        ok(false, "/dev/full exists");
    }

    /* A bad descriptor. */
    u = upload_new(-1, NULL, -1, &why, NULL);
    ok(u &&
           (upload_write(u, data, 10, NULL) < 0 ||
            upload_finish(u, &res, NULL) < 0) &&
           upload_failure(u) == UPLOAD_IO && upload_status(UPLOAD_IO) == 500,
       "a write error is I/O (500)");
    ok(upload_write(u, data, 10, NULL) < 0 &&
           upload_finish(u, &res, NULL) < 0,
       "and the upload stays failed");
    upload_free(u);

    /* A failure while slots are in flight: many slots, then the error. */
    full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    u = full >= 0 ? upload_new(full, NULL, -1, &why, NULL) : NULL;
    for (off = 0; u && off < len;) {
        size_t n = len - off < 300001 ? len - off : 300001;

        if (upload_write(u, data + off, n, NULL) < 0) {
            break;
        }
        off += n;
    }
    ok(u && upload_finish(u, &res, NULL) < 0 &&
           upload_failure(u) == UPLOAD_NO_SPACE,
       "a failed write in the middle of the ring fails the upload "
       "(after %zu bytes taken)", off);
    if (full >= 0) {
        close(full);
    }
    upload_free(u);
    free(data);
    return tap_done();
}
