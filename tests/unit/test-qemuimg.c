/* Tests of the qemuimg module against the real qemu-img (skipped when it
 * is not installed), plus a fake qemu-img for malformed replies.
 */
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "qemuimg.h"
#include "run.h"
#include "tap.h"

#define MiB (1024 * 1024)

static char dir[] = "/tmp/vmsnap-test-qemuimg.XXXXXX";

/* What the progress callback saw. */
struct seen {
    int calls;     /* times called */
    double last;   /* last percentage */
    bool monotone; /* never went down, always within 0..100 */
};

static void
on_progress(double pct, void *opaque)
{
    struct seen *s = opaque;

    if (pct < s->last || pct < 0 || pct > 100) {
        s->monotone = false;
    }
    s->calls++;
    s->last = pct;
}

/* The fake qemu-img's path, as qemuimg_set_program keeps it. */
static char fake_prog[PATH_MAX];

/* DIR/NAME in a static buffer (one of four, rotating). */
static const char *
p(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];

    snprintf(b, PATH_MAX, "%s/%s", dir, name);
    return b;
}

static bool
err_has(struct error *err, enum error_class cls, const char *part)
{
    if (err == NULL) {
        diag("no error set");
        return false;
    }
    if (error_get_class(err) != cls || strstr(error_msg(err), part) == NULL) {
        diag("got class %d: %s", error_get_class(err), error_msg(err));
        return false;
    }
    return true;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text);

    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) < 0) {
        diag("cannot write %s", path);
        exit(1);
    }
}

/* Put data at every MiB of a raw file so that convert has work to do. */
static void
fill_raw(const char *path, int mib)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    char block[4096];
    int i;

    memset(block, 0xa5, sizeof(block));
    for (i = 0; fd >= 0 && i < mib; i++) {
        if (pwrite(fd, block, sizeof(block), (off_t)i * MiB) < 0) {
            break;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
}

static uint64_t
read_be64(int fd, off_t off)
{
    uint64_t v = 0;

    if (pread(fd, &v, sizeof(v), off) != sizeof(v)) {
        return 0;
    }
    return be64toh(v);
}

/* Set the 16-bit refcount of cluster CLUSTER of a fresh qcow2 image
 * (refcount_bits=16, one refcount block) to VALUE.  Header field 48 is
 * the refcount table offset; its first entry is the first block.
 */
static bool
set_refcount(const char *path, unsigned cluster, uint16_t value)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    uint64_t table, block;
    uint16_t be = htobe16(value);
    bool r;

    if (fd < 0) {
        return false;
    }
    table = read_be64(fd, 48);
    block = table ? read_be64(fd, (off_t)table) : 0;
    r = block != 0 &&
        pwrite(fd, &be, sizeof(be), (off_t)(block + 2 * cluster)) == sizeof(be);
    close(fd);
    return r;
}

static void
test_create_info(void)
{
    struct qemuimg_info info = {0};
    struct error *err = NULL;

    ok(qemuimg_create(p("a.raw"), "raw", 64 * MiB, &err) == 0,
       "create raw 64 MiB");
    ok(qemuimg_info(p("a.raw"), "raw", &info, &err) == 0, "info raw");
    ok(info.format && strcmp(info.format, "raw") == 0 &&
           info.virtual_size == 64 * MiB,
       "raw: format and virtual size");
    ok(info.backing_filename == NULL && info.backing_format == NULL &&
           info.cluster_size == 0 && !info.dirty_flag && info.actual_size >= 0,
       "raw: no backing file, no clusters, clean, actual size %lld",
       (long long)info.actual_size);
    qemuimg_info_clear(&info);

    ok(qemuimg_create(p("b.qcow2"), "qcow2", 1024LL * MiB, &err) == 0,
       "create qcow2 1 GiB");
    ok(qemuimg_info(p("b.qcow2"), "qcow2", &info, &err) == 0 &&
           strcmp(info.format, "qcow2") == 0 &&
           info.virtual_size == 1024LL * MiB && info.cluster_size == 65536 &&
           info.backing_filename == NULL && !info.dirty_flag &&
           info.actual_size > 0,
       "qcow2: format, size, cluster size");
    qemuimg_info_clear(&info);
    ok(qemuimg_info(p("b.qcow2"), NULL, &info, &err) == 0 &&
           strcmp(info.format, "qcow2") == 0,
       "probing finds qcow2");
    qemuimg_info_clear(&info);

    ok(qemuimg_info(p("a.raw"), "qcow2", &info, &err) == -1 &&
           err_has(err, ERR_GENERIC, "not in qcow2 format") &&
           info.format == NULL,
       "raw file claimed to be qcow2 is refused");
    error_free(err);
    err = NULL;

    ok(qemuimg_info(p("none"), "raw", &info, &err) == -1 &&
           err_has(err, ERR_NOT_FOUND, "No such file"),
       "info on a missing file: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;

    ok(qemuimg_info(p("a.raw"), "qcow2,file.filename=/etc/passwd", &info,
                    &err) == -1 &&
           err_has(err, ERR_INVALID, "invalid image format name"),
       "option string as format name refused");
    error_free(err);
    err = NULL;
    ok(qemuimg_create(p("x.raw"), "-q", MiB, &err) == -1 &&
           err_has(err, ERR_INVALID, "invalid image format name"),
       "option as format name refused");
    error_free(err);
    err = NULL;
    ok(qemuimg_create(p("x.raw"), "raw", -1, &err) == -1 &&
           err_has(err, ERR_INVALID, "negative"),
       "negative size refused");
    error_free(err);
    err = NULL;

    /* Relative paths, one looking like an option. */
    ok(chdir(dir) == 0 && qemuimg_create("-dash.raw", "raw", MiB, &err) == 0 &&
           qemuimg_info("-dash.raw", "raw", &info, &err) == 0 &&
           info.virtual_size == MiB,
       "relative path starting with '-' is a path, not an option");
    qemuimg_info_clear(&info);
}

static void
test_overlay(void)
{
    struct qemuimg_info info = {0};
    struct error *err = NULL;
    char base_abs[PATH_MAX];
    int r;

    /* The cwd is DIR (test_create_info): a relative backing path. */
    ok(qemuimg_create_overlay(p("ov.qcow2"), "b.qcow2", "qcow2", &err) == 0,
       "create overlay with a relative backing path");
    snprintf(base_abs, sizeof(base_abs), "%s", p("b.qcow2"));
    r = qemuimg_info(p("ov.qcow2"), "qcow2", &info, &err);
    ok(r == 0 && info.backing_filename != NULL &&
           strcmp(info.backing_filename, base_abs) == 0 &&
           info.backing_format && strcmp(info.backing_format, "qcow2") == 0 &&
           info.full_backing_filename &&
           strcmp(info.full_backing_filename, base_abs) == 0,
       "overlay records the absolute backing path and format (%s)",
       info.backing_filename ? info.backing_filename : "none");
    ok(info.virtual_size == 1024LL * MiB, "overlay has the backing's size");
    qemuimg_info_clear(&info);

    ok(qemuimg_create_overlay(p("ov2.qcow2"), p("nope"), "qcow2", &err) == -1 &&
           err_has(err, ERR_NOT_FOUND, "backing file"),
       "missing backing file: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;
    ok(qemuimg_create_overlay(p("ov2.qcow2"), p("b.qcow2"), NULL, &err) == -1 &&
           err_has(err, ERR_INVALID, "no image format"),
       "backing format is required");
    error_free(err);
}

static void
test_convert(void)
{
    struct qemuimg_info info = {0};
    struct seen seen = {.last = -1, .monotone = true};
    struct error *err = NULL;

    fill_raw(p("a.raw"), 64);
    ok(qemuimg_convert(p("a.raw"), "raw", p("c.qcow2"), "qcow2", on_progress,
                       &seen, &err) == 0,
       "convert raw to qcow2 with progress");
    ok(seen.calls >= 2 && seen.monotone && seen.last == 100,
       "progress called %d times, increasing, ends at %.2f", seen.calls,
       seen.last);
    ok(qemuimg_info(p("c.qcow2"), "qcow2", &info, &err) == 0 &&
           strcmp(info.format, "qcow2") == 0 && info.virtual_size == 64 * MiB,
       "converted image is a 64 MiB qcow2");
    qemuimg_info_clear(&info);

    ok(qemuimg_convert(p("ov.qcow2"), "qcow2", p("flat.raw"), "raw", NULL, NULL,
                       &err) == 0 &&
           qemuimg_info(p("flat.raw"), "raw", &info, &err) == 0 &&
           info.virtual_size == 1024LL * MiB,
       "convert without progress flattens an overlay");
    qemuimg_info_clear(&info);

    ok(qemuimg_convert(p("none"), "raw", p("d.raw"), "raw", NULL, NULL, &err) ==
               -1 &&
           err_has(err, ERR_NOT_FOUND, "No such file"),
       "convert of a missing source: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;
    ok(qemuimg_convert(p("a.raw"), "qcow2", p("d.raw"), "raw", NULL, NULL,
                       &err) == -1 &&
           err_has(err, ERR_GENERIC,
                   "qemu-img convert failed (exit 1): Could not open"),
       "convert failure reported without the qemu-img: prefix");
    error_free(err);
}

/* A watch that always stops. */
static int
watch_stop(void *opaque, struct error **errp)
{
    error_setg(errp, ERR_IO, "below the reserve");
    return -1;
}

/* Limits of a conversion (audit H4) and the measure of its size. */
static void
test_limits(void)
{
    struct qemuimg_limits lim = {.max_bytes = MiB};
    struct error *err = NULL;
    int64_t req = 0, full = 0;

    int r = qemuimg_measure(p("a.raw"), "raw", "qcow2", &req, &full, &err);

    ok(r == 0 && req > 0 && full > 64 * MiB && full >= req,
       "measure: %lld required, %lld fully allocated", (long long)req,
       (long long)full);
    if (err) {
        diag("%s", error_msg(err));
        error_free(err);
        err = NULL;
    }
    ok(qemuimg_convert_limited(p("a.raw"), "raw", p("lim.qcow2"), "qcow2",
                               &lim, NULL, NULL, &err) == -1 &&
           err_has(err, ERR_IO, "would be larger than 1048576 bytes"),
       "convert beyond max_bytes stops with ERR_IO");
    error_free(err);
    err = NULL;
    lim.max_bytes = 0;
    lim.watch = watch_stop;
    ok(qemuimg_convert_limited(p("a.raw"), "raw", p("lim2.qcow2"), "qcow2",
                               &lim, NULL, NULL, &err) == -1 &&
           err_has(err, ERR_IO, "below the reserve"),
       "a watch that returns -1 stops the convert with its error");
    error_free(err);
    err = NULL;
    lim.watch = NULL;
    lim.max_bytes = full + MiB;
    ok(qemuimg_convert_limited(p("a.raw"), "raw", p("lim3.qcow2"), "qcow2",
                               &lim, NULL, NULL, &err) == 0,
       "convert within the measured size succeeds");
    error_free(err);
}

static void
test_check(void)
{
    struct error *err = NULL;
    int r;

    ok(qemuimg_check(p("b.qcow2"), "qcow2", &err) == QEMUIMG_CHECK_OK,
       "check: clean qcow2");
    ok(qemuimg_check(p("a.raw"), "raw", &err) == QEMUIMG_CHECK_UNSUPPORTED,
       "check: raw has no checks");

    ok(qemuimg_create(p("leak.qcow2"), "qcow2", MiB, &err) == 0 &&
           truncate(p("leak.qcow2"), MiB) == 0 &&
           set_refcount(p("leak.qcow2"), 10, 1),
       "made a qcow2 with a leaked cluster");
    r = qemuimg_check(p("leak.qcow2"), "qcow2", &err);
    ok(r == QEMUIMG_CHECK_LEAKS, "check: leaks are reported as such (%d)", r);
    error_free(err);
    err = NULL;

    ok(qemuimg_create(p("bad.qcow2"), "qcow2", MiB, &err) == 0 &&
           set_refcount(p("bad.qcow2"), 0, 0),
       "made a qcow2 whose header cluster has refcount 0");
    ok(qemuimg_check(p("bad.qcow2"), "qcow2", &err) == -1 &&
           err_has(err, ERR_INVALID, "is corrupt: 1 corruptions"),
       "check: corruption is ERR_INVALID");
    error_free(err);
    err = NULL;

    ok(qemuimg_check(p("a.raw"), "qcow2", &err) == -1 &&
           err_has(err, ERR_GENERIC, "qemu-img check failed (exit 1)"),
       "check: wrong format fails");
    error_free(err);
}

/* Install a fake qemu-img printing REPLY (a shell snippet). */
static void
fake(const char *body)
{
    char script[4096];

    snprintf(script, sizeof(script), "#!/bin/sh\n%s\n", body);
    write_file(p("fake-qemu-img"), script, 0700);
    /* qemuimg_set_program keeps the pointer: not one of p's buffers. */
    snprintf(fake_prog, sizeof(fake_prog), "%s", p("fake-qemu-img"));
    qemuimg_set_program(fake_prog);
}

static void
test_fake(void)
{
    static const struct {
        const char *body;     /* fake qemu-img */
        enum error_class cls; /* expected class */
        const char *msg;      /* part of the expected message */
    } cases[] = {
        {"echo 'not json'", ERR_PROTOCOL, "not JSON"},
        {"echo '[1]'", ERR_PROTOCOL, "not a JSON object"},
        {"echo '{\"virtual-size\": 1}'", ERR_PROTOCOL, "no \"format\""},
        {"echo '{\"format\": 5, \"virtual-size\": 1}'", ERR_PROTOCOL,
         "\"format\" is not a string"},
        {"echo '{\"format\": \"raw\", \"virtual-size\": \"1\"}'", ERR_PROTOCOL,
         "\"virtual-size\" is not a size"},
        {"echo '{\"format\": \"raw\", \"virtual-size\": -1}'", ERR_PROTOCOL,
         "\"virtual-size\" is not a size"},
        {"echo '{\"format\": \"raw\", \"virtual-size\": 1, "
         "\"dirty-flag\": 1}'",
         ERR_PROTOCOL, "\"dirty-flag\" is not a boolean"},
        {"echo '{\"format\": \"raw\", \"virtual-size\": 1, "
         "\"backing-filename\": []}'",
         ERR_PROTOCOL, "\"backing-filename\" is not a string"},
        {"echo '{\"format\": \"raw\", \"virtual-size\": 1} x'", ERR_PROTOCOL,
         "trailing data"},
        {"echo 'qemu-img: boom' >&2; exit 1", ERR_GENERIC,
         "qemu-img info failed (exit 1): boom"},
        {"kill -KILL $$", ERR_GENERIC, "qemu-img info killed by signal 9"},
    };
    struct qemuimg_info info = {0};
    struct error *err = NULL;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fake(cases[i].body);
        ok(qemuimg_info(p("a.raw"), "raw", &info, &err) == -1 &&
               err_has(err, cases[i].cls, cases[i].msg) && info.format == NULL,
           "fake qemu-img: %s", cases[i].msg);
        error_free(err);
        err = NULL;
    }

    fake("echo '{\"format\": \"raw\", \"virtual-size\": 7, "
         "\"backing-filename\": \"/x\", \"actual-size\": 3}'; "
         "echo \"$@\" > "
         "args");
    ok(qemuimg_info(p("a.raw"), "raw", &info, &err) == 0 &&
           info.virtual_size == 7 && info.actual_size == 3 &&
           strcmp(info.backing_filename, "/x") == 0 && info.cluster_size == 0,
       "fake qemu-img: minimal valid reply");
    qemuimg_info_clear(&info);
    {
        const char *cat[] = {"cat", "args", NULL};
        char want[PATH_MAX + 64];
        char *args = NULL;
        int r;

        snprintf(want, sizeof(want), "info --output=json -U -f raw %s\n",
                 p("a.raw"));
        r = run_check(cat, 5000, &args, &err);
        ok(r == 0 && strcmp(args, want) == 0,
           "fake qemu-img got: info --output=json -U -f raw PATH");
        free(args);
    }
    qemuimg_set_program(NULL);
}

int
main(void)
{
    const char *version[] = {"qemu-img", "--version", NULL};
    const char *rm[] = {"rm", "-rf", dir, NULL};
    struct error *err = NULL;

    qemuimg_set_program(NULL);
    if (run_check(version, 10000, NULL, &err) < 0) {
        printf("1..0 # SKIP qemu-img not usable: %s\n", error_msg(err));
        error_free(err);
        return 0;
    }
    if (mkdtemp(dir) == NULL) {
        diag("mkdtemp failed");
        return 1;
    }
    test_create_info();
    test_overlay();
    test_convert();
    test_limits();
    test_check();
    test_fake();
    if (chdir("/") < 0 || run_check(rm, 30000, NULL, &err) < 0) {
        diag("cleanup of %s failed", dir);
        error_free(err);
    }
    return tap_done();
}
