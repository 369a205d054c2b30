/* vmsnap tests: helpers shared by the chunk store tests (test-chunk*.c).
 *
 * Static functions in a header: each test program includes it once.
 */
#ifndef VMSNAP_TEST_CHUNK_UTIL_H
#define VMSNAP_TEST_CHUNK_UTIL_H

#define _XOPEN_SOURCE_EXTENDED 1
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "error.h"
#include "tap.h"

/* Deterministic pseudo-random bytes (xorshift64*). */
static inline uint64_t
tc_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

/* Fill BUF with LEN bytes of a compressible-looking pattern of SEED: text
 * words mixed with random bytes, so zstd has work to do.
 */
static inline void
tc_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    static const char *const words[] = {"vmsnap ", "chunk ", "index ",
                                        "qemu ", "backup ", "\n"};
    uint64_t s = seed * 2654435761u + 1;
    size_t i = 0, n;
    uint64_t r;

    while (i < len) {
        r = tc_rand(&s);
        if (r % 4 == 0) {
            buf[i++] = (uint8_t)(r >> 8);
            continue;
        }
        n = strlen(words[r % 6]);
        if (n > len - i) {
            n = len - i;
        }
        memcpy(buf + i, words[r % 6], n);
        i += n;
    }
}

static inline int
tc_rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(path);
}

static inline void
tc_rm_rf(const char *path)
{
    nftw(path, tc_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Report and free an unexpected error; false if there was one. */
static inline bool
tc_noerr(struct error **err, const char *what)
{
    if (*err == NULL) {
        return true;
    }
    diag("%s: %s", what, error_msg(*err));
    error_free(*err);
    *err = NULL;
    return false;
}

/* Write MODEL (SIZE bytes) to new index NAME (PARENT may be NULL) in
 * pieces of PIECE bytes, skipping zero pieces.  Returns 0 or -1.
 */
static inline int
tc_write_model(struct chunk_store *cs, const char *name, const char *parent,
               const uint8_t *model, int64_t size, size_t piece, int threads,
               struct chunk_writer_stats *st, struct chunk_index_info *info)
{
    struct chunk_writer_opts o = {threads, 0};
    struct chunk_writer *w = NULL;
    struct error *err = NULL;
    int64_t off;
    size_t n;

    if (chunk_writer_open(cs, name, size, parent, &o, &w, &err) < 0) {
        tc_noerr(&err, name);
        return -1;
    }
    for (off = 0; off < size; off += (int64_t)n) {
        n = (size_t)(size - off) < piece ? (size_t)(size - off) : piece;
        if (chunk_is_zero(model + off, n)) {
            continue;
        }
        if (chunk_writer_write(w, model + off, n, off, &err) < 0) {
            break;
        }
    }
    if (err == NULL) {
        chunk_writer_commit(w, info, &err);
    }
    if (st) {
        chunk_writer_stats(w, st);
    }
    chunk_writer_free(w);
    return tc_noerr(&err, name) ? 0 : -1;
}

/* True if index NAME reads back as MODEL (SIZE bytes). */
static inline bool
tc_reads_as(struct chunk_store *cs, const char *name, const uint8_t *model,
            int64_t size)
{
    struct chunk_reader *r = NULL;
    struct error *err = NULL;
    uint8_t *buf = malloc(size ? (size_t)size : 1);
    bool same = false;

    if (buf && chunk_reader_open(cs, name, &r, &err) == 0 &&
        chunk_reader_size(r) == size &&
        chunk_reader_read(r, buf, (size_t)size, 0, &err) == 0) {
        same = memcmp(buf, model, (size_t)size) == 0;
    }
    tc_noerr(&err, name);
    chunk_reader_close(r);
    free(buf);
    return same;
}

/* Number of regular files under DIR. */
static int tc_nfiles;
static uint64_t tc_nbytes;
static inline int
tc_count_one(const char *path, const struct stat *st, int flag,
             struct FTW *f)
{
    (void)path;
    (void)f;
    tc_nfiles += flag == FTW_F;
    tc_nbytes += flag == FTW_F ? (uint64_t)st->st_size : 0;
    return 0;
}

static inline int
tc_count_files(const char *dir)
{
    tc_nfiles = 0;
    nftw(dir, tc_count_one, 16, FTW_PHYS);
    return tc_nfiles;
}

/* Write LEN bytes at DATA to a new file PATH (replacing it). */
static inline void
tc_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        diag("cannot write %s: %s", path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
}

/* Bytes of the files under DIR. */
static inline uint64_t
tc_sum_sizes(const char *dir)
{
    tc_nbytes = 0;
    nftw(dir, tc_count_one, 16, FTW_PHYS);
    return tc_nbytes;
}

/* Sleep MS milliseconds: object times must move past the coarse clock
 * tick of the file system before a gc with no grace can tell them apart.
 */
static inline void
tc_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

#endif
