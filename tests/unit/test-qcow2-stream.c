/* Tests of the sequential qcow2 writer (qcow2-stream.h) against the real
 * qemu-img: every image it writes must pass qemu-img check, read back as
 * exactly the data given, and its hashes must be those of the file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "qcow2-stream.h"
#include "run.h"
#include "tap.h"

static char dir[] = "/tmp/test-qcow2s.XXXXXX";

static const char *
p(const char *name)
{
    static char buf[4][256];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

/* The byte at OFFSET of cluster IDX's data. */
static unsigned char
pattern(uint64_t idx, size_t offset)
{
    return (unsigned char)((idx * 131 + offset / 512 * 7 + 1) | 1);
}

static bool
run_ok(const char *const *argv)
{
    struct run_result res;
    bool good = run_capture(argv, 120000, &res, NULL) == 0 &&
                res.status == 0;

    if (!good && res.err) {
        diag("%s: %s", argv[0], res.err);
    }
    run_result_clear(&res);
    return good;
}

/* Write an image of SIZE bytes with the clusters in IDX (N of them, in
 * order) holding the pattern; check it with qemu-img; compare the raw
 * read-back with what was given.
 */
static void
check_image(const char *name, int64_t size, const uint64_t *idx, size_t n)
{
    unsigned char *buf = malloc(QCOW2S_CLUSTER_SIZE);
    struct qcow2s_result res = {0};
    struct error *err = NULL;
    struct qcow2s *w;
    char md5[HASH_MD5_HEX_LEN], sha[HASH_SHA512_HEX_LEN];
    const char *img = p("img.qcow2"), *raw = p("img.raw");
    bool good = true, grows = true;
    int64_t planned = -1, last = 0;
    size_t i, k;
    int fd;

    unlink(img);
    unlink(raw);
    fd = open(img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    w = qcow2s_new(size, fd, &err);
    for (i = 0; w && i < n; i++) {
        qcow2s_mark(w, idx[i]);
    }
    good = w && qcow2s_begin(w, &err) == 0;
    if (good) {
        planned = qcow2s_planned_size(w);
    }
    for (i = 0; good && i < n; i++) {
        struct stat st;

        for (k = 0; k < QCOW2S_CLUSTER_SIZE; k++) {
            buf[k] = pattern(idx[i], k);
        }
        good = qcow2s_put_cluster(w, idx[i], buf, &err) == 0;
        /* What it says is written is in the file, never more than it
         * planned.
         */
        grows = grows && qcow2s_written(w) >= last &&
                qcow2s_written(w) <= planned && fstat(fd, &st) == 0 &&
                st.st_size >= qcow2s_written(w);
        last = qcow2s_written(w);
    }
    good = good && qcow2s_finish(w, &res, &err) == 0;
    close(fd);
    ok(good, "%s: written (%s)", name, err ? error_msg(err) : "ok");
    ok(grows && res.file_size == planned &&
           qcow2s_written(w) == planned,
       "%s: the size planned at begin is the file's (%lld)", name,
       (long long)planned);
    error_free(err);
    err = NULL;
    qcow2s_free(w);
    {
        const char *check[] = {"qemu-img", "check", "-f", "qcow2", img,
                               NULL};

        ok(run_ok(check), "%s: qemu-img check passes", name);
    }
    ok(hash_file(img, md5, sha, NULL, NULL, &err) == 0 &&
           strcmp(md5, res.md5) == 0 && strcmp(sha, res.sha512) == 0,
       "%s: MD5 and SHA-512 are those of the file", name);
    error_free(err);
    /* The data expected, as a sparse raw file; qemu-img compare skips
     * what both sides know to be zero, so a large disk costs nothing.
     */
    fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    good = fd >= 0 && ftruncate(fd, size) == 0;
    for (i = 0; good && i < n; i++) {
        size_t want = QCOW2S_CLUSTER_SIZE;
        off_t off = (off_t)(idx[i] * QCOW2S_CLUSTER_SIZE);

        if ((int64_t)off + (int64_t)want > size) {
            want = (size_t)(size - (int64_t)off);
        }
        for (k = 0; k < want; k++) {
            buf[k] = pattern(idx[i], k);
        }
        good = pwrite(fd, buf, want, off) == (ssize_t)want;
    }
    if (fd >= 0) {
        close(fd);
    }
    {
        const char *cmp[] = {"qemu-img", "compare", "-f", "raw", "-F",
                             "qcow2", raw, img, NULL};

        good = good && run_ok(cmp);
    }
    ok(good, "%s: reads back as the data given, zeros elsewhere", name);
    free(buf);
}

int
main(void)
{
    static const uint64_t few[] = {0, 1, 7, 100, 1023};
    static const uint64_t none[] = {0};
    uint64_t spread[40];
    struct error *err = NULL;
    struct qcow2s *w;
    unsigned char zero[QCOW2S_CLUSTER_SIZE] = {0};
    size_t i;
    int fd;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    check_image("64 MiB, 5 clusters", INT64_C(64) << 20, few, 5);
    check_image("empty image", INT64_C(1) << 20, none, 0);
    /* A size that is not a multiple of the cluster: the last cluster is
     * read up to the end of the disk only.
     */
    {
        static const uint64_t last[] = {0, 15};

        check_image("odd size, last cluster partial",
                    15 * QCOW2S_CLUSTER_SIZE + 12288, last, 2);
    }
    /* Several L2 tables (one per 512 MiB), some of them skipped. */
    for (i = 0; i < 40; i++) {
        spread[i] = i * 16384 + (i % 3) * 8191;
    }
    check_image("40 GiB, 40 clusters in 40 L2 ranges", INT64_C(40) << 30,
                spread, 40);

    /* Misuse is refused. */
    ok(qcow2s_new(0, 1, &err) == NULL && err != NULL, "size 0 is refused");
    error_free(err);
    err = NULL;
    fd = open(p("bad.qcow2"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    w = qcow2s_new(INT64_C(1) << 20, fd, NULL);
    qcow2s_mark(w, 1);
    qcow2s_mark(w, 3);
    qcow2s_begin(w, NULL);
    ok(qcow2s_put_cluster(w, 3, zero, NULL) == 0 &&
           qcow2s_put_cluster(w, 1, zero, &err) < 0,
       "a cluster out of order is refused");
    error_free(err);
    qcow2s_free(w);
    err = NULL;
    w = qcow2s_new(INT64_C(1) << 20, fd, NULL);
    qcow2s_mark(w, 2);
    qcow2s_begin(w, NULL);
    {
        struct qcow2s_result res;

        ok(qcow2s_put_cluster(w, 1, zero, &err) < 0,
           "a cluster not announced is refused");
        error_free(err);
        err = NULL;
        ok(qcow2s_finish(w, &res, &err) < 0,
           "finishing with clusters missing is refused");
        error_free(err);
    }
    qcow2s_free(w);
    close(fd);
    {
        const char *rm[] = {"rm", "-rf", dir, NULL};

        run_ok(rm);
    }
    return tap_done();
}
