/* Tests of the S3 client (lib/storage/s3.c) and the s3 store
 * (lib/storage/blob-s3.c) against a real Swift with its S3 API, started
 * by test-s3.sh through scripts/services.sh.  The environment carries the
 * settings services.sh printed (VMSNAP_S3_*), SERVICES (the script, to
 * stop and restart the object store mid-upload) and TEST_DIR (scratch).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "blob-s3.h"
#include "chunk-backend.h"
#include "cleanup.h"
#include "file-follow.h"
#include "hash.h"
#include "log.h"
#include "run.h"
#include "s3.h"
#include "tap.h"
#include "util.h"
#include "xalloc.h"

#define MiB (1024 * 1024)

/* Until lib/storage/blob.c lands, the ops table is driven through this
 * stand-in for the one accessor it uses; the integrator may switch the
 * test to blob_open once config.c has the s3 settings.
 */
struct blob {
    void *priv;
};

void *blob_priv(const struct blob *b);

void *
blob_priv(const struct blob *b)
{
    return b->priv;
}

static const char *endpoint, *bucket, *creds, *services, *test_dir;
static char prefix[64];         /* this run's keys: images/t-<uuid>/ */

static char *
key_of(const char *name)
{
    return util_strdup_printf("%s%s", prefix, name);
}

static struct s3 *
client(int64_t part_size, const char *cred_file, int attempts)
{
    struct s3_settings st = {
        .endpoint = endpoint, .bucket = bucket, .region = "us-east-1",
        .credentials = cred_file, .part_size = part_size,
        .max_attempts = attempts, .connect_timeout_ms = 2000,
        .low_speed_time_s = 10,
    };
    struct error *err = NULL;
    struct s3 *s = s3_open(&st, &err);

    if (!s) {
        diag("s3_open: %s", error_msg(err));
        error_free(err);
    }
    return s;
}

static unsigned char *
random_bytes(size_t n, unsigned seed)
{
    unsigned char *b = malloc(n);
    size_t i;
    uint32_t x = seed * 2654435761u + 1;

    for (i = 0; b && i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

static char *
write_file(const char *name, const unsigned char *data, size_t n)
{
    char *path = util_strdup_printf("%s/%s", test_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    if (fd < 0 || write(fd, data, n) != (ssize_t)n) {
        diag("write %s: %s", path, strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
    return path;
}

static bool
file_equals(const char *path, const unsigned char *data, size_t n)
{
    CLEANUP_CLOSE int fd = open(path, O_RDONLY);
    CLEANUP_FREE unsigned char *buf = malloc(n + 1);
    size_t got = 0;
    ssize_t r;

    if (fd < 0 || !buf) {
        return false;
    }
    while ((r = read(fd, buf + got, n + 1 - got)) > 0) {
        got += (size_t)r;
    }
    return got == n && memcmp(buf, data, n) == 0;
}

static bool
services_cmd(const char *verb)
{
    const char *argv[] = { "bash", services, verb, "s3", NULL };
    struct error *err = NULL;

    if (run_check(argv, 180000, NULL, &err) < 0) {
        diag("services.sh %s s3: %s", verb, error_msg(err));
        error_free(err);
        return false;
    }
    return true;
}

static bool
err_has(struct error *err, enum error_class cls, const char *text)
{
    if (!err) {
        return false;
    }
    diag("error: %s", error_msg(err));
    return error_get_class(err) == cls && strstr(error_msg(err), text);
}

/* --- collecting callbacks ------------------------------------------------- */

struct keys {
    char **v;
    int n;
    int stop_after;            /* 0: never */
};

static bool
collect_key(const char *key, int64_t size, void *opaque)
{
    struct keys *k = opaque;

    k->v = realloc(k->v, (size_t)(k->n + 1) * sizeof(*k->v));
    k->v[k->n++] = strdup(key);
    return k->stop_after == 0 || k->n < k->stop_after;
}

static void
keys_free(struct keys *k)
{
    int i;

    for (i = 0; i < k->n; i++) {
        free(k->v[i]);
    }
    free(k->v);
    memset(k, 0, sizeof(*k));
}

struct uploads {
    int n;
    char key[1100];
    char id[4200];
};

static bool
collect_upload(const char *key, const char *id, time_t t, void *opaque)
{
    struct uploads *u = opaque;

    u->n++;
    snprintf(u->key, sizeof(u->key), "%s", key);
    snprintf(u->id, sizeof(u->id), "%s", id);
    return true;
}

static int
count_uploads(struct s3 *s, const char *pfx)
{
    struct uploads u = { 0 };
    struct error *err = NULL;

    if (s3_list_uploads(s, pfx, collect_upload, &u, &err) < 0) {
        diag("list uploads: %s", error_msg(err));
        error_free(err);
        return -1;
    }
    return u.n;
}

struct mem {
    unsigned char *buf;
    size_t len, cap;
};

static int
mem_sink(const void *data, size_t len, void *opaque, struct error **errp)
{
    struct mem *m = opaque;

    if (m->len + len > m->cap) {
        error_setg(errp, ERR_GENERIC, "test sink full");
        return -1;
    }
    memcpy(m->buf + m->len, data, len);
    m->len += len;
    return 0;
}

/* --- the S3 client -------------------------------------------------------- */

/* Finds one key's LastModified in a listing. */
struct obj_time {
    const char *key;
    int64_t mtime_ns;          /* -1: not seen */
};

static bool
find_time(const struct s3_object *obj, void *opaque)
{
    struct obj_time *ot = opaque;

    if (!strcmp(obj->key, ot->key)) {
        ot->mtime_ns = obj->mtime_ns;
    }
    return true;
}

static void
test_objects(struct s3 *s)
{
    CLEANUP_FREE char *key = key_of("small");
    CLEANUP_FREE char *missing = key_of("missing");
    const char text[] = "a small object\n";
    struct error *err = NULL;
    void *buf = NULL;
    size_t len = 0;
    int64_t size = -1;

    ok(s3_bucket_exists(s, NULL) == 1, "the bucket exists");
    ok(s3_bucket_create(s, NULL) == 0, "creating our own bucket again is "
                                       "fine");
    ok(s3_put(s, key, text, strlen(text), 0, NULL) == 0, "put");
    ok(s3_head(s, key, &size, NULL) == 1 && size == (int64_t)strlen(text),
       "head gives the size");
    {
        struct obj_time ot = { key, -1 };
        int64_t mt = -1, now = (int64_t)time(NULL) * 1000000000;

        ok(s3_stat(s, key, &size, &mt, NULL) == 1 &&
               size == (int64_t)strlen(text) && mt > now - 30000000000LL &&
               mt < now + 30000000000LL,
           "stat gives the size and a Last-Modified of about now");
        ok(s3_list_objects(s, key, 0, find_time, &ot, NULL) == 0 &&
               ot.mtime_ns >= mt - 1000000000 &&
               ot.mtime_ns <= mt + 1000000000,
           "the listing's LastModified is stat's, within its second");
    }
    ok(s3_get(s, key, 1024, &buf, &len, NULL) == 0 &&
           len == strlen(text) && !memcmp(buf, text, len),
       "get gives the bytes");
    free(buf);
    buf = NULL;
    ok(s3_get(s, key, 4, &buf, &len, &err) < 0 &&
           err_has(err, ERR_INVALID, "larger than 4 bytes") && !buf,
       "get refuses an object over its cap");
    error_free(err);
    err = NULL;
    ok(s3_get(s, missing, 1024, &buf, &len, &err) < 0 &&
           err_has(err, ERR_NOT_FOUND, "NoSuchKey") &&
           strstr(error_msg(err), "HTTP 404"),
       "get of a missing object: not found, with the server's code");
    error_free(err);
    err = NULL;
    ok(s3_head(s, missing, &size, NULL) == 0, "head of a missing object: 0");
    ok(s3_put(s, key, text, 3, S3_PUT_IF_ABSENT, &err) < 0 &&
           err_has(err, ERR_CONFLICT, "exists"),
       "put if absent on an existing object: conflict");
    error_free(err);
    err = NULL;
    ok(s3_put(s, missing, text, 3, S3_PUT_IF_ABSENT, NULL) == 0 &&
           s3_head(s, missing, &size, NULL) == 1 && size == 3,
       "put if absent on a new key writes it");
    ok(s3_delete(s, key, NULL) == 0 && s3_head(s, key, NULL, NULL) == 0,
       "delete");
    ok(s3_delete(s, key, NULL) == 0, "delete of a missing object is fine");
    ok(s3_delete(s, missing, NULL) == 0, "cleanup");
}

/* Send stderr to the file PATH with the S3 client's debug log on (its
 * requests, one line each).  Returns the saved stderr for
 * debug_log_end, or -1.
 */
static int
debug_log_start(const char *path)
{
    int saved, fd;

    fflush(stderr);
    saved = dup(2);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (saved < 0 || fd < 0 || dup2(fd, 2) < 0) {
        ok(false, "capture the debug log: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        if (saved >= 0) {
            close(saved);
        }
        return -1;
    }
    close(fd);
    log_set_debug("s3");
    return saved;
}

/* Turn the debug log off, give stderr back (SAVED) and return what PATH
 * got (caller frees; at most 1 MiB).
 */
static char *
debug_log_end(int saved, const char *path)
{
    size_t len = 0, cap = 1 << 20;
    char *log = xcalloc(1, cap + 1);
    int fd;

    log_set_debug(NULL);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd >= 0 && len < cap) {
        ssize_t n = read(fd, log + len, cap - len);

        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    if (fd >= 0) {
        close(fd);
    }
    return log;
}

/* Lines of LOG that contain WHAT. */
static int
debug_log_count(const char *log, const char *what)
{
    const char *p = log;
    int n = 0;

    while ((p = strstr(p, what)) != NULL) {
        n++;
        p += strlen(what);
    }
    return n;
}

/* The first PUT if absent of a fresh client finds out whether the
 * server has conditional PUTs (Swift's s3api answers 501) without
 * retrying: a 501 says the server lacks the feature, not that it is in
 * passing trouble (each retry waited, 3.5 s in all before a backup's
 * index went up).
 */
static void
test_conditional_put(void)
{
    CLEANUP_FREE char *key = key_of("conditional");
    CLEANUP_FREE char *logpath = util_strdup_printf("%s/s3-debug.log",
                                                    test_dir);
    CLEANUP_FREE char *log = NULL;
    struct s3 *s = client(0, creds, 5);
    struct error *err = NULL;
    int saved, rc;

    if (!ok(s != NULL, "conditional: a fresh client")) {
        return;
    }
    saved = debug_log_start(logpath);
    if (saved < 0) {
        s3_close(s);
        return;
    }
    rc = s3_put(s, key, "x", 1, S3_PUT_IF_ABSENT, &err);
    log = debug_log_end(saved, logpath);
    ok(rc == 0 && s3_head(s, key, NULL, NULL) == 1,
       "conditional: the first put if absent writes the object");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    if (!ok(log && strstr(log, "no conditional PUT here") &&
                !strstr(log, "retrying"),
            "conditional: the server's 501 is learnt at once, not retried")) {
        char *line, *save = NULL;

        for (line = log ? strtok_r(log, "\n", &save) : NULL; line;
             line = strtok_r(NULL, "\n", &save)) {
            diag("%s", line);
        }
    }
    s3_delete(s, key, NULL);
    s3_close(s);
}

static void
test_list(struct s3 *s)
{
    CLEANUP_FREE char *lp = key_of("list/");
    struct keys k = { 0 };
    int i, sorted = 1, n = 23;

    for (i = 0; i < n; i++) {
        CLEANUP_FREE char *key = util_strdup_printf("%sk%03d", lp, i);
        if (s3_put(s, key, "x", 1, 0, NULL) < 0) {
            break;
        }
    }
    ok(i == n, "put %d objects", n);
    i = s3_list(s, lp, 5, collect_key, &k, NULL);
    ok(i == 0 && k.n == n, "list in pages of 5 gives all %d (got %d)", n,
       k.n);
    for (i = 1; i < k.n; i++) {
        sorted &= strcmp(k.v[i - 1], k.v[i]) < 0;
    }
    ok(sorted && k.n > 0 && !strncmp(k.v[0], lp, strlen(lp)),
       "in key order, under the prefix");
    keys_free(&k);
    k.stop_after = 7;
    ok(s3_list(s, lp, 5, collect_key, &k, NULL) == 0 && k.n == 7,
       "list stops when told to");
    keys_free(&k);
    ok(s3_list(s, "images/no-such-prefix/", 0, collect_key, &k, NULL) == 0 &&
           k.n == 0,
       "an empty listing");
    keys_free(&k);
    for (i = 0; i < n; i++) {
        CLEANUP_FREE char *key = util_strdup_printf("%sk%03d", lp, i);
        s3_delete(s, key, NULL);
    }
}

struct src {
    const unsigned char *data;
    size_t len, pos;
    size_t stop_at;            /* run services.sh down here; 0: never */
    bool stopped;
};

static ssize_t
src_read(void *buf, size_t len, void *opaque, struct error **errp)
{
    struct src *sr = opaque;

    if (sr->stop_at && !sr->stopped && sr->pos >= sr->stop_at) {
        sr->stopped = true;
        diag("stopping the object store mid-upload");
        services_cmd("down");
    }
    if (len > sr->len - sr->pos) {
        len = sr->len - sr->pos;
    }
    memcpy(buf, sr->data + sr->pos, len);
    sr->pos += len;
    return (ssize_t)len;
}

struct prog {
    double last;
    int calls;
};

static void
prog_fn(const char *phase, double pct, void *opaque)
{
    struct prog *p = opaque;

    p->last = pct;
    p->calls++;
}

static char started_id[4200];

static struct blob_s3 *store(const char *cache, int64_t cache_max);

static int
on_started(const char *key, const char *id, void *opaque,
           struct error **errp)
{
    snprintf(started_id, sizeof(started_id), "%s", id);
    return 0;
}

static void
test_multipart(struct s3 *s)
{
    CLEANUP_FREE char *key = key_of("big");
    size_t n = 12 * MiB + 123;
    CLEANUP_FREE unsigned char *data = random_bytes(n, 1);
    CLEANUP_FREE char *path = write_file("big", data, n);
    CLEANUP_CLOSE int fd = open(path, O_RDONLY);
    struct prog pr = { 0 };
    struct progress p = { prog_fn, &pr };
    struct s3_upload_opts o = { .progress = &p, .size = (int64_t)n,
                                .started = on_started };
    struct mem m = { .buf = malloc(n + 16), .cap = n + 16 };
    struct error *err = NULL;
    int64_t size = 0, got = 0;

    started_id[0] = '\0';
    ok(s3_upload_fd(s, key, fd, &o, &err) == 0, "multipart upload of "
                                                "12 MiB in 5 MiB parts");
    if (err) {
        diag("%s", error_msg(err));
        error_free(err);
        err = NULL;
    }
    ok(started_id[0] != '\0', "it was a multipart upload");
    ok(pr.calls >= 3 && pr.last == 100.0, "progress reported (%d calls)",
       pr.calls);
    ok(s3_head(s, key, &size, NULL) == 1 && size == (int64_t)n,
       "the object has the file's size");
    ok(s3_get_range(s, key, 0, -1, mem_sink, &m, &got, NULL) == 0 &&
           got == (int64_t)n && m.len == n && !memcmp(m.buf, data, n),
       "read back whole, streamed: the same bytes");
    ok(count_uploads(s, prefix) == 0, "no upload left in progress");

    /* Ranged reads. */
    m.len = 0;
    ok(s3_get_range(s, key, 5 * MiB - 10, 100, mem_sink, &m, &got, NULL) ==
               0 && got == 100 && m.len == 100 &&
           !memcmp(m.buf, data + 5 * MiB - 10, 100),
       "a range across a part boundary");
    m.len = 0;
    ok(s3_get_range(s, key, (int64_t)n - 50, 1000, mem_sink, &m, &got,
                    NULL) == 0 && got == 50 &&
           !memcmp(m.buf, data + n - 50, 50),
       "a range running past the end gives what there is");
    m.len = 0;
    ok(s3_get_range(s, key, (int64_t)n + 10, 10, mem_sink, &m, &got, &err) <
               0 && err_has(err, ERR_INVALID, "past the end"),
       "a range past the end is an error");
    error_free(err);
    err = NULL;
    m.len = 0;
    {
        CLEANUP_FREE char *missing = key_of("missing");
        ok(s3_get_range(s, missing, 0, 10, mem_sink, &m, &got, &err) < 0 &&
               err_has(err, ERR_NOT_FOUND, "NoSuchKey"),
           "a range of a missing object: not found");
        error_free(err);
        err = NULL;
    }
    s3_delete(s, key, NULL);

    /* The same file one part at a time (settings.concurrency 1). */
    {
        struct s3_settings st = {
            .endpoint = endpoint, .bucket = bucket, .credentials = creds,
            .part_size = 5 * MiB, .concurrency = 1,
        };
        struct s3 *one = s3_open(&st, NULL);

        started_id[0] = '\0';
        m.len = 0;
        ok(one && lseek(fd, 0, SEEK_SET) == 0 &&
               s3_upload_fd(one, key, fd, &o, NULL) == 0 && started_id[0] &&
               s3_get_range(one, key, 0, -1, mem_sink, &m, &got, NULL) == 0 &&
               m.len == n && !memcmp(m.buf, data, n),
           "the same, one part at a time: the same bytes");
        s3_delete(s, key, NULL);
        s3_close(one);
    }
    free(m.buf);
}

static void
test_bad_credentials(void)
{
    CLEANUP_FREE char *bad = util_strdup_printf("%s/bad-creds", test_dir);
    CLEANUP_FREE char *open_to_all = NULL;
    struct error *err = NULL;
    struct s3 *s;
    FILE *f;

    f = fopen(bad, "w");
    fprintf(f, "# wrong secret\naccess_key = vmsnap:vmsnap\n"
               "secret_key = not-the-secret\n");
    fclose(f);
    chmod(bad, 0600);
    s = client(0, bad, 2);
    ok(s != NULL, "a well-formed credentials file opens");
    if (s) {
        ok(s3_head(s, "images/x", NULL, &err) < 0 &&
               err_has(err, ERR_PEER, "HTTP 403") &&
               (strstr(error_msg(err), "SignatureDoesNotMatch") ||
                strstr(error_msg(err), "AccessDenied") ||
                strstr(error_msg(err), "InvalidAccessKeyId") ||
                strstr(error_msg(err), "403")),
           "a wrong secret: a clear 403 error");
        error_free(err);
        err = NULL;
        ok(s3_list(s, "images/", 0, collect_key, NULL, &err) < 0 &&
               err_has(err, ERR_PEER, "SignatureDoesNotMatch") &&
               !strcmp(error_peer_class(err), "SignatureDoesNotMatch"),
           "with the server's code as the peer class");
        error_free(err);
        err = NULL;
        s3_close(s);
    }
    chmod(bad, 0644);
    s = client(0, bad, 1);
    ok(!s, "a credentials file readable by others is refused");
    open_to_all = util_strdup_printf("%s/plain-creds", test_dir);
    f = fopen(open_to_all, "w");
    fprintf(f, "only-one-line\n");
    fclose(f);
    chmod(open_to_all, 0600);
    s = client(0, open_to_all, 1);
    ok(!s, "a credentials file without the secret is refused");
}

static void
test_stop_mid_upload(void)
{
    CLEANUP_FREE char *key = key_of("interrupted");
    size_t n = 16 * MiB;
    CLEANUP_FREE unsigned char *data = random_bytes(n, 2);
    struct src sr = { .data = data, .len = n, .stop_at = 10 * MiB };
    struct s3_upload_opts o = { .started = on_started };
    struct error *err = NULL;
    struct s3 *s = client(5 * MiB, creds, 3);
    int left;

    if (!s) {
        ok(false, "client");
        return;
    }
    started_id[0] = '\0';
    ok(s3_upload(s, key, src_read, &sr, &o, &err) < 0 && err &&
           (error_get_class(err) == ERR_IO ||
            error_get_class(err) == ERR_PEER ||
            error_get_class(err) == ERR_TIMEOUT) &&
           strstr(error_msg(err), "part 3") &&
           strstr(error_msg(err), "abort of upload"),
       "object store stopped mid-upload: a clear error naming the part "
       "and the failed abort");
    if (err) {
        diag("error: %s", error_msg(err));
        error_free(err);
        err = NULL;
    }
    ok(services_cmd("up"), "object store restarted");
    left = count_uploads(s, key);
    ok(left == 1, "its upload is listed as left (%d)", left);
    {
        CLEANUP_FREE char *cache = util_strdup_printf("%s/cache-sweep",
                                                      test_dir);
        struct blob_s3 *bs = store(cache, 0);
        int aborted = bs ? blob_s3_sweep_uploads(bs, 0, NULL) : -1;

        ok(aborted >= 1 && count_uploads(s, key) == 0,
           "the sweep by age aborts it (%d aborted): no part left",
           aborted);
        blob_s3_close(bs);
    }
    ok(s3_abort_upload(s, key, started_id, NULL) == 0,
       "aborting it again is fine");
    ok(s3_head(s, key, NULL, NULL) == 0, "no object was made");
    s3_close(s);
}

/* The pid of Swift server NAME, from services.sh's pid file, or -1. */
static pid_t
server_pid(const char *name)
{
    CLEANUP_FREE char *path = util_strdup_printf(
        "%s/swift/run/%s.pid", getenv("VMSNAP_SERVICES_DIR"), name);
    FILE *f = path ? fopen(path, "r") : NULL;
    long pid = -1;

    if (f) {
        if (fscanf(f, "%ld", &pid) != 1) {
            pid = -1;
        }
        fclose(f);
    }
    return (pid_t)pid;
}

static void
test_server_trouble(void)
{
    CLEANUP_FREE char *key = key_of("trouble");
    struct s3_settings st = {
        .endpoint = endpoint, .bucket = bucket, .credentials = creds,
        .max_attempts = 2, .connect_timeout_ms = 2000,
        .low_speed_time_s = 2,
    };
    struct s3 *s = s3_open(&st, NULL);
    struct error *err = NULL;
    pid_t pid;
    time_t t0;

    if (!ok(s != NULL, "client")) {
        return;
    }
    /* The object server gone, the proxy up: HTTP 503, retried. */
    pid = server_pid("object");
    ok(pid > 0 && kill(pid, SIGTERM) == 0, "object server stopped");
    ok(s3_put(s, key, "x", 1, 0, &err) < 0 &&
           err_has(err, ERR_PEER, "HTTP 503") &&
           strstr(error_msg(err), "after 2 tries"),
       "a write meets a clear 503 error after its retries");
    error_free(err);
    err = NULL;
    ok(services_cmd("up"), "services.sh up starts what is missing");
    ok(s3_put(s, key, "x", 1, 0, NULL) == 0 &&
           s3_head(s, key, NULL, NULL) == 1,
       "and writes work again, without repair");

    /* A proxy that accepts connections and never answers: the low-speed
     * limit ends each try.
     */
    pid = server_pid("proxy");
    ok(pid > 0 && kill(pid, SIGSTOP) == 0, "proxy frozen");
    t0 = time(NULL);
    ok(s3_head(s, key, NULL, &err) < 0 &&
           err_has(err, ERR_TIMEOUT, "after 2 tries"),
       "a hung server: a timeout error");
    ok(time(NULL) - t0 < 20, "within the bounded wait (%ld s)",
       (long)(time(NULL) - t0));
    error_free(err);
    err = NULL;
    kill(pid, SIGCONT);
    ok(s3_delete(s, key, NULL) == 0, "the proxy thawed: requests work");
    s3_close(s);
}

/* --- the s3 store --------------------------------------------------------- */

/* A store whose files of at most ONE_PUT bytes go in one PUT (0: what
 * fits a part of 5 MiB).
 */
static struct blob_s3 *
store_put(const char *cache, int64_t cache_max, int64_t one_put)
{
    struct blob_s3_settings st = {
        .s3 = { .endpoint = endpoint, .bucket = bucket,
                .region = "us-east-1", .credentials = creds,
                .part_size = 5 * MiB, .max_attempts = 3,
                .connect_timeout_ms = 2000, .low_speed_time_s = 10,
                .multipart_threshold = one_put },
        .cache_dir = cache, .cache_max = cache_max, .grace_s = -1,
    };
    struct error *err = NULL;
    struct blob_s3 *bs = blob_s3_open(&st, test_dir, &err);

    if (!bs) {
        diag("blob_s3_open: %s", error_msg(err));
        error_free(err);
    }
    return bs;
}

static struct blob_s3 *
store(const char *cache, int64_t cache_max)
{
    return store_put(cache, cache_max, 0);
}

static bool
exists(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0;
}

struct locs {
    int n;
    bool found;
    const char *want;
};

static bool
collect_loc(const char *loc, void *opaque)
{
    struct locs *l = opaque;

    l->n++;
    l->found |= !strcmp(loc, l->want);
    return true;
}

static void
test_store(void)
{
    const struct blob_ops *ops = blob_s3_ops();
    CLEANUP_FREE char *cache = util_strdup_printf("%s/cache", test_dir);
    CLEANUP_FREE char *k1 = key_of("one.raw");
    CLEANUP_FREE char *k2 = key_of("two.raw");
    CLEANUP_FREE char *k3 = key_of("three.raw");
    CLEANUP_FREE char *e1 = NULL;
    CLEANUP_FREE char *e2 = NULL;
    CLEANUP_FREE char *path = NULL;
    CLEANUP_FREE char *path2 = NULL;
    CLEANUP_FREE char *loc1 = NULL;
    CLEANUP_FREE char *loc2 = NULL;
    CLEANUP_FREE char *lp = NULL;
    size_t n = 6 * MiB + 7;
    CLEANUP_FREE unsigned char *d1 = random_bytes(n, 3);
    CLEANUP_FREE unsigned char *d2 = random_bytes(n, 4);
    struct blob b = { 0 }, b2 = { 0 };
    struct blob_reader *rd = NULL;
    struct error *err = NULL;
    struct prog pr = { 0 };
    struct progress p = { prog_fn, &pr };
    struct locs l = { 0 };
    struct blob_s3 *bs;
    int64_t size = 0, left;
    char buf[100];
    int fd, qemu_fd;

    ok(ops->version == BLOB_OPS_VERSION && !strcmp(ops->scheme, "s3"),
       "ops table: version and scheme");
    bs = store(cache, 8 * MiB);
    b.priv = bs;
    if (!ok(bs != NULL, "store opens")) {
        return;
    }
    e1 = util_strdup_printf("%s/objects/%s", cache, k1);
    e2 = util_strdup_printf("%s/objects/%s", cache, k2);

    ok(ops->create(&b, k1, &path, NULL) == 0 && path &&
           strstr(path, "/staging/") && !exists(path),
       "create gives a staging path that does not exist yet");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ok(fd >= 0 && write(fd, d1, n) == (ssize_t)n, "the caller fills it");
    close(fd);
    ok(ops->create(&b, k1, &path2, &err) < 0 &&
           err_has(err, ERR_CONFLICT, "being made"),
       "create of a key being made: conflict");
    error_free(err);
    err = NULL;
    ok(ops->commit(&b, k1, path, &p, &loc1, NULL) == 0 && loc1 &&
           !strcmp(loc1 + 3, k1) && !strncmp(loc1, "s3:", 3),
       "commit uploads and gives s3:KEY");
    ok(pr.last == 100.0, "with progress");
    ok(s3_head(blob_s3_client(bs), k1, &size, NULL) == 1 &&
           size == (int64_t)n,
       "the object is in the bucket");
    ok(!exists(path) && file_equals(e1, d1, n),
       "the staging file became a cache entry");
    ok(ops->create(&b, k1, &path2, &err) < 0 &&
           err_has(err, ERR_CONFLICT, "exists"),
       "create of an existing key: conflict");
    error_free(err);
    err = NULL;

    free(path);
    path = NULL;
    ok(ops->local_path(&b, loc1, NULL, &path, NULL) == 0 &&
           !strcmp(path, e1) && file_equals(path, d1, n),
       "local_path of a cached object: the cache entry");
    free(path);
    path = NULL;
    unlink(e1);
    pr.calls = 0;
    ok(ops->local_path(&b, loc1, &p, &path, NULL) == 0 &&
           file_equals(path, d1, n) && pr.calls > 0,
       "cache entry deleted: local_path downloads it again, with progress");
    free(path);
    path = NULL;

    /* A second object: the cache (8 MiB) cannot hold both, but the first
     * is held by local_path, so it stays, over the limit.
     */
    ok(ops->create(&b, k2, &path, NULL) == 0, "create a second object");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ok(fd >= 0 && write(fd, d2, n) == (ssize_t)n, "filled");
    close(fd);
    ok(ops->commit(&b, k2, path, NULL, &loc2, NULL) == 0, "committed");
    ok(exists(e1), "the entry in use was not evicted");
    ok(!exists(e2), "the unused one was, to keep the cache bounded");

    /* Another process's view: a second store over the same cache. */
    b2.priv = store(cache, 8 * MiB);
    ok(b2.priv != NULL, "a second store on the same cache");
    left = b2.priv ? blob_s3_evict(b2.priv, 0, NULL) : -1;
    ok(exists(e1) && left > 0,
       "eviction never removes an entry another store holds");
    free(path);
    path = NULL;
    ok(ops->local_path(&b, loc2, NULL, &path, NULL) == 0 &&
           file_equals(path, d2, n),
       "local_path of the evicted object fetches it back");
    ops->close(&b);
    b.priv = NULL;
    /* As QEMU does with a backing file: an OFD read lock. */
    qemu_fd = open(e2, O_RDONLY);
    {
        struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET,
                            .l_start = 100, .l_len = 1 };
        ok(qemu_fd >= 0 && fcntl(qemu_fd, F_OFD_SETLK, &fl) == 0,
           "an image lock on the second entry, as QEMU takes");
    }
    left = b2.priv ? blob_s3_evict(b2.priv, 0, NULL) : -1;
    ok(!exists(e1), "once its holder closed, the first entry is evicted");
    ok(exists(e2) && left > 0, "an entry QEMU has locked is not");
    close(qemu_fd);
    left = b2.priv ? blob_s3_evict(b2.priv, 0, NULL) : -1;
    ok(!exists(e2) && left == 0, "unlocked, it goes too");

    /* Reading without a cached copy: ranged GETs. */
    ok(ops->open_read(&b2, loc1, &rd, &size, NULL) == 0 &&
           size == (int64_t)n && rd->b == &b2,
       "open_read gives the size");
    ok(rd && ops->read(rd, buf, sizeof(buf), 5 * MiB - 3, NULL) ==
                 (ssize_t)sizeof(buf) &&
           !memcmp(buf, d1 + 5 * MiB - 3, sizeof(buf)),
       "read at an offset");
    ok(rd && ops->read(rd, buf, sizeof(buf), (int64_t)n - 10, NULL) == 10 &&
           !memcmp(buf, d1 + n - 10, 10),
       "a read at the end is short");
    ok(rd && ops->read(rd, buf, sizeof(buf), (int64_t)n, NULL) == 0,
       "a read past the end gives 0");
    if (rd) {
        ops->close_read(rd);
    }
    {
        CLEANUP_FREE char *missing = util_strdup_printf("s3:%s", k3);
        ok(ops->open_read(&b2, missing, &rd, &size, &err) < 0 &&
               err_has(err, ERR_NOT_FOUND, "does not exist"),
           "open_read of a missing object: not found");
        error_free(err);
        err = NULL;
        ok(ops->local_path(&b2, missing, NULL, &lp, &err) < 0 &&
               err_has(err, ERR_NOT_FOUND, "does not exist"),
           "local_path of a missing object: not found");
        error_free(err);
        err = NULL;
    }
    ok(ops->local_path(&b2, "file:images/x", NULL, &lp, &err) < 0 &&
           err_has(err, ERR_INVALID, "not a location"),
       "another scheme's location is refused");
    error_free(err);
    err = NULL;
    ok(ops->create(&b2, "images/../../etc/passwd", &lp, &err) < 0 &&
           err_has(err, ERR_INVALID, "bad object key"),
       "a key that climbs out is refused");
    error_free(err);
    err = NULL;

    l.want = loc1;
    ok(ops->list(&b2, prefix, collect_loc, &l, NULL) == 0 && l.n == 2 &&
           l.found,
       "list gives the locations under a prefix");

    /* Discard. */
    free(path);
    path = NULL;
    ok(ops->create(&b2, k3, &path, NULL) == 0, "create a third");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    close(fd);
    ops->discard(&b2, k3);
    ok(!exists(path) && s3_head(blob_s3_client(b2.priv), k3, NULL, NULL) ==
                            0,
       "discard removes the staging file; nothing in the bucket");
    free(path);
    path = NULL;
    ok(ops->create(&b2, k3, &path, NULL) == 0, "the key can be made again");
    ops->discard(&b2, k3);

    /* Discard of a key this store is not making: a maker that died or
     * failed, maybe after its upload and before any record took the
     * location.  The object goes, unless another store is making the
     * key now.
     */
    free(path);
    path = NULL;
    b.priv = store(cache, 8 * MiB);
    ok(b.priv != NULL && ops->create(&b, k3, &path, NULL) == 0,
       "another store makes a key");
    fd = path ? open(path, O_WRONLY | O_CREAT | O_EXCL, 0644) : -1;
    close(fd);
    ops->discard(&b2, k3);
    ok(path && exists(path), "discard leaves a key another store is making");
    {
        CLEANUP_FREE char *loc3 = NULL;

        ok(b.priv && ops->commit(&b, k3, path, NULL, &loc3, NULL) == 0 &&
               s3_head(blob_s3_client(b2.priv), k3, NULL, NULL) == 1,
           "which it then commits");
        ops->discard(&b, k3);
        ok(s3_head(blob_s3_client(b2.priv), k3, NULL, NULL) == 0,
           "discard of a committed key no record took: the object goes");
    }
    if (b.priv) {
        ops->close(&b);
        b.priv = NULL;
    }

    ok(ops->remove(&b2, loc1, NULL) == 0 && ops->remove(&b2, loc2, NULL) == 0 &&
           s3_head(blob_s3_client(b2.priv), k1, NULL, NULL) == 0,
       "remove");
    ok(ops->remove(&b2, loc1, NULL) == 0, "remove of a missing object is fine");
    ops->close(&b2);
}

/* A progress reporter that stops the object store at the first report
 * after a part went in.
 */
static void
stop_fn(const char *phase, double pct, void *opaque)
{
    bool *done = opaque;

    if (!*done && pct > 0 && pct < 100) {
        *done = true;
        diag("stopping the object store mid-commit (%.0f%%)", pct);
        services_cmd("down");
    }
}

static void
test_store_stop_mid_upload(void)
{
    CLEANUP_FREE char *cache = util_strdup_printf("%s/cache2", test_dir);
    CLEANUP_FREE char *key = key_of("cut.raw");
    CLEANUP_FREE char *path = NULL;
    CLEANUP_FREE char *loc = NULL;
    size_t n = 16 * MiB;
    CLEANUP_FREE unsigned char *data = random_bytes(n, 5);
    struct blob b = { 0 };
    struct error *err = NULL;
    const struct blob_ops *ops = blob_s3_ops();
    struct s3 *s;
    int fd, left;

    b.priv = store(cache, 64 * MiB);
    if (!ok(b.priv != NULL, "store opens")) {
        return;
    }
    ok(ops->create(&b, key, &path, NULL) == 0, "create");
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    ok(fd >= 0 && write(fd, data, n) == (ssize_t)n, "filled with 16 MiB");
    close(fd);
    {
        /* Stop the object store when the first part is in. */
        bool done = false;
        struct progress p = { stop_fn, &done };

        ok(ops->commit(&b, key, path, &p, &loc, &err) < 0 && err &&
               strstr(error_msg(err), "upload of") &&
               strstr(error_msg(err), "abort of upload"),
           "object store stopped mid-commit: a clear error");
        if (err) {
            diag("error: %s", error_msg(err));
            error_free(err);
            err = NULL;
        }
    }
    ops->discard(&b, key);
    ok(!exists(path), "discarded");
    ops->close(&b);
    ok(services_cmd("up"), "object store restarted");
    b.priv = store(cache, 64 * MiB);
    ok(b.priv != NULL, "the store opens again (and aborts what was left)");
    s = b.priv ? blob_s3_client(b.priv) : NULL;
    left = s ? count_uploads(s, key) : -1;
    ok(left == 0, "no upload and no part left (%d)", left);
    ok(s && s3_head(s, key, NULL, NULL) == 0, "no object was made");
    if (b.priv) {
        ops->close(&b);
    }
}

/* The maker of a file the store sends as it is written (send_early):
 * writes DATA in 1 MiB pieces, telling F as it goes, then its MD5.
 */
enum maker_end {
    MAKER_WHOLE,              /* the right MD5 at the end */
    MAKER_BAD_MD5,            /* a wrong one: the file is not what it says */
    MAKER_GIVES_UP,           /* fails half-way */
};

struct maker {
    const char *path;
    const unsigned char *data;
    size_t n;
    struct file_follow *f;
    enum maker_end end;
    int64_t sent_at_half;     /* GIVES_UP: bytes the server had then */
};

static void *
maker_thread(void *arg)
{
    struct maker *m = arg;
    char hex[HASH_MAX_HEX_LEN];
    int fd = open(m->path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    size_t off;

    if (fd < 0) {
        file_follow_fail(m->f, "cannot create the file");
        return NULL;
    }
    file_follow_size(m->f, (int64_t)m->n);
    for (off = 0; off < m->n; off += MiB) {
        size_t len = m->n - off < MiB ? m->n - off : MiB;

        if (m->end == MAKER_GIVES_UP && off >= m->n / 2) {
            file_follow_fail(m->f, "the test's maker gave up");
            close(fd);
            return NULL;
        }
        if (write(fd, m->data + off, len) != (ssize_t)len) {
            file_follow_fail(m->f, "write failed");
            close(fd);
            return NULL;
        }
        file_follow_wrote(m->f, (int64_t)(off + len));
    }
    close(fd);
    hash_mem("md5", m->data, m->n, hex, NULL);
    if (m->end == MAKER_BAD_MD5) {
        hex[0] = hex[0] == '0' ? '1' : '0';
    }
    file_follow_done(m->f, hex);
    return NULL;
}

/* One object made by a maker while the store sends it; the commit's
 * result, *LOC set on success, *ERR on failure.
 */
static int
send_while_made(struct blob *b, const char *key, const unsigned char *data,
                size_t n, enum maker_end end, char **loc, struct error **err)
{
    const struct blob_ops *ops = blob_s3_ops();
    CLEANUP_FREE char *path = NULL;
    struct file_follow *f = file_follow_new();
    struct maker m = { .data = data, .n = n, .f = f, .end = end };
    pthread_t tid;
    int r = -1;

    if (ops->create(b, key, &path, err) < 0) {
        file_follow_free(f);
        return -1;
    }
    m.path = path;
    if (ops->send_early(b, key, path, f, err) < 0 ||
        pthread_create(&tid, NULL, maker_thread, &m) != 0) {
        ops->discard(b, key);
        file_follow_free(f);
        return -1;
    }
    pthread_join(tid, NULL);
    if (end != MAKER_GIVES_UP) {
        r = ops->commit(b, key, path, NULL, loc, err);
    }
    if (r < 0) {
        ops->discard(b, key);
    }
    file_follow_free(f);
    return r;
}

static void
test_store_send_early(bool one_put)
{
    CLEANUP_FREE char *cache = util_strdup_printf("%s/cache3", test_dir);
    CLEANUP_FREE char *k1 = key_of("early-1.qcow2");
    CLEANUP_FREE char *k2 = key_of("early-2.qcow2");
    CLEANUP_FREE char *k3 = key_of("early-3.qcow2");
    CLEANUP_FREE char *k4 = key_of("early-4.qcow2");
    CLEANUP_FREE char *loc = NULL;
    CLEANUP_FREE char *staging = NULL;
    CLEANUP_FREE char *lp = NULL;
    size_t n = 24 * MiB + 12345;
    CLEANUP_FREE unsigned char *data = random_bytes(n, 9);
    struct blob b = { 0 };
    struct error *err = NULL;
    const struct blob_ops *ops = blob_s3_ops();
    struct s3 *s;
    void *got = NULL;
    size_t got_len = 0;

    diag("sending while the file is written, %s",
         one_put ? "in one PUT" : "in parts of 5 MiB");
    b.priv = store_put(cache, 256 * MiB, one_put ? 64 * MiB : 0);
    if (!ok(b.priv != NULL, "store opens")) {
        return;
    }
    s = blob_s3_client(b.priv);

    /* Whole: the object is the file, byte for byte, in one PUT checked
     * against the maker's MD5.
     */
    ok(send_while_made(&b, k1, data, n, MAKER_WHOLE, &loc, &err) == 0,
       "an object sent while its file is written, then committed");
    if (err) {
        diag("error: %s", error_msg(err));
        error_free(err);
        err = NULL;
    }
    ok(s3_get(s, k1, n + 1, &got, &got_len, NULL) == 0 && got_len == n &&
           memcmp(got, data, n) == 0,
       "  the object holds exactly the file's bytes");
    free(got);
    got = NULL;
    ok(loc && ops->local_path(&b, loc, NULL, &lp, NULL) == 0 &&
           file_equals(lp, data, n),
       "  and the file became its cache entry");

    /* In one PUT the object's ETag is checked against the maker's MD5
     * (the client does not hash it again): a maker whose MD5 is not what
     * it wrote fails the commit and nothing stays.  (Parts are each
     * checked against the MD5 of what was sent.)
     */
    if (one_put) {
        ok(send_while_made(&b, k2, data, n, MAKER_BAD_MD5, NULL, &err) <
                   0 && err && strstr(error_msg(err), "ETag"),
           "a file whose MD5 does not match the server's ETag: refused");
        if (err) {
            diag("error: %s", error_msg(err));
            error_free(err);
            err = NULL;
        }
        ok(s3_head(s, k2, NULL, NULL) == 0, "  and no object is left");
    }

    /* The maker gives up half-way: discard stops the sending. */
    ok(send_while_made(&b, k3, data, n, MAKER_GIVES_UP, NULL, NULL) < 0,
       "a maker that gives up half-way");
    staging = util_strdup_printf("%s/staging/%s", cache, k3);
    ok(s3_head(s, k3, NULL, NULL) == 0 && !exists(staging),
       "  no object, no staging file");
    ok(count_uploads(s, k3) == 0, "  no upload left in the bucket");

    /* Discarded before its maker wrote anything: the sender waiting for
     * the size stops too.
     */
    {
        CLEANUP_FREE char *path = NULL;
        struct file_follow *f = file_follow_new();

        ok(ops->create(&b, k4, &path, NULL) == 0 &&
               ops->send_early(&b, k4, path, f, NULL) == 0,
           "a sending begun");
        ok(ops->send_early(&b, k4, path, f, &err) < 0 &&
               err_has(err, ERR_INVALID, "being sent already"),
           "  a second one for the same key is refused");
        error_free(err);
        err = NULL;
        ops->discard(&b, k4);
        ok(s3_head(s, k4, NULL, NULL) == 0,
           "  discarded before a byte was written: returns, no object");
        file_follow_free(f);
    }
    if (loc) {
        ops->remove(&b, loc, NULL);
    }
    ops->close(&b);
}

/* The chunk store's S3 backend against the contract of chunk-backend.h:
 * objects, times, and gc and writers excluding each other by leases.
 */
static struct chunk_backend *
chunk_be(const char *pfx, int ttl)
{
    struct chunk_backend_s3_settings st = {
        .s3 = { .endpoint = endpoint, .bucket = bucket,
                .credentials = creds },
        .prefix = pfx,
        .holder = "test",
        .lease_ttl_s = ttl,
    };

    return chunk_backend_s3_open(&st, false, NULL);
}

static int
count_obj(const struct chunk_obj *obj, void *opaque)
{
    int *n = opaque;

    (void)obj;
    (*n)++;
    return 0;
}

/* exists_sorted (the chain check of an incremental) against the store
 * of test_chunk_backend, which holds chunks/abc/2, and 1,010 more chunks
 * (more than a listing's page): keys that one page answers, a key
 * missing in the middle, past the last, and sparse keys that pages
 * answer badly and HEADs finish.
 */
#define XS_N 1010

/* While A holds a writer lease, touch answers from listings: the XS_N
 * chunks of NAMES, touched out of order as a backup finds them, and two
 * absent keys take a few listings and no HEAD; a chunk put meanwhile is
 * found without one.  Once the lease ends, a touch is a HEAD again (a gc
 * may run from then on).
 */
static void
test_touch_listed(struct chunk_backend *a, char (*names)[32])
{
    CLEANUP_FREE char *logpath = util_strdup_printf("%s/s3-touch.log",
                                                    test_dir);
    CLEANUP_FREE char *log = NULL;
    static const char put_key[] = "chunks/abd/k0006y";
    void *reg = NULL, *tok = NULL;
    int64_t start = 0;
    int saved, present = 0, absent = 0, found_put, after_end;
    size_t i;

    if (!ok(a->ops->writer_begin(a->priv, &reg, &start, NULL) == 0,
            "touch: a writer lease")) {
        return;
    }
    saved = debug_log_start(logpath);
    if (saved < 0) {
        a->ops->writer_end(a->priv, reg);
        return;
    }
    for (i = 0; i < XS_N; i++) {
        present += a->ops->touch(a->priv, names[(i * 7) % XS_N], NULL) == 1;
    }
    absent += a->ops->touch(a->priv, "chunks/abd/k0005x", NULL) == 0;
    absent += a->ops->touch(a->priv, "chunks/abd/zzz", NULL) == 0;
    found_put = a->ops->put_start(a->priv, put_key, "y", 1, &tok, NULL) == 0 &&
                a->ops->put_finish(a->priv, &tok, 1, NULL) == 0 &&
                a->ops->touch(a->priv, put_key, NULL) == 1;
    a->ops->writer_end(a->priv, reg);
    after_end = a->ops->touch(a->priv, names[3], NULL);
    log = debug_log_end(saved, logpath);

    ok(present == XS_N && absent == 2,
       "touch: %d of %d stored chunks present, %d of 2 absent ones absent",
       present, XS_N, absent);
    ok(found_put, "touch: a chunk put meanwhile is present");
    ok(debug_log_count(log, "s3 PUT ") >= 1 &&
           debug_log_count(log, "s3 GET ") <= 4,
       "touch: they took %d listings (at most 4)",
       debug_log_count(log, "s3 GET "));
    ok(after_end == 1 && debug_log_count(log, "s3 HEAD ") == 1,
       "touch: and no HEAD but the one after the lease ended (%d)",
       debug_log_count(log, "s3 HEAD "));
    a->ops->remove_unless_since(a->priv, put_key, INT64_MAX, NULL);
}

static void
test_exists_sorted(struct chunk_backend *a)
{
    static char names[XS_N + 2][32];
    static const char *keys[XS_N + 2];
    void *tok[101];
    size_t i, k, at;
    bool put = true;
    int rc;

    for (i = 0; i < XS_N; i++) {
        snprintf(names[i], sizeof(names[i]), "chunks/abd/k%04zu", i);
    }
    for (i = 0; i < XS_N && put; i += k) {
        for (k = 0; k < 101 && i + k < XS_N && put; k++) {
            put = a->ops->put_start(a->priv, names[i + k], "x", 1, &tok[k],
                                    NULL) == 0;
        }
        put = put && a->ops->put_finish(a->priv, tok, k, NULL) == 0;
    }
    ok(put, "exists_sorted: %d chunks put", XS_N);

    for (i = 0; i < 40; i++) {
        keys[i] = names[i];
    }
    at = 99;
    rc = a->ops->exists_sorted(a->priv, keys, 40, &at, NULL);
    ok(rc == 0 && at == 40, "exists_sorted: 40 present keys found (%zu)",
       at);
    snprintf(names[XS_N], sizeof(names[XS_N]), "chunks/abd/k0019x");
    memmove(&keys[21], &keys[20], 20 * sizeof(keys[0]));
    keys[20] = names[XS_N];
    rc = a->ops->exists_sorted(a->priv, keys, 41, &at, NULL);
    ok(rc == 0 && at == 20,
       "exists_sorted: a missing key in the middle is the first missing "
       "(%zu)", at);
    snprintf(names[XS_N + 1], sizeof(names[XS_N + 1]), "chunks/abz/none");
    keys[0] = names[5];
    keys[1] = names[XS_N - 1];
    keys[2] = names[XS_N + 1];
    rc = a->ops->exists_sorted(a->priv, keys, 3, &at, NULL);
    ok(rc == 0 && at == 2,
       "exists_sorted: a key past the store's last is missing (%zu)", at);
    /* A page of 1,000 keys that answers for one: HEADs do the rest. */
    keys[0] = names[0];
    keys[1] = names[XS_N - 5];
    rc = a->ops->exists_sorted(a->priv, keys, 2, &at, NULL);
    ok(rc == 0 && at == 2,
       "exists_sorted: sparse keys, the last found by HEAD (%zu)", at);
    snprintf(names[XS_N], sizeof(names[XS_N]), "chunks/abd/k%04dx",
             XS_N - 5);
    keys[1] = names[XS_N];
    rc = a->ops->exists_sorted(a->priv, keys, 2, &at, NULL);
    ok(rc == 0 && at == 1,
       "exists_sorted: sparse keys, the last missing by HEAD (%zu)", at);
    test_touch_listed(a, names);
    for (i = 0; i < XS_N; i++) {
        a->ops->remove_unless_since(a->priv, names[i], INT64_MAX, NULL);
    }
}

static void
test_chunk_backend(void)
{
    char id[UTIL_UUID_LEN];
    CLEANUP_FREE char *pfx = NULL;
    struct chunk_backend *a, *b;
    struct error *err = NULL;
    void *tok[2] = { NULL, NULL }, *reg = NULL, *reg2 = NULL;
    uint8_t *buf = NULL;
    size_t len = 0;
    int64_t start = 0, now = 0, oldest = 0, t0;
    int n = 0;

    util_uuid_new(id);
    pfx = util_strdup_printf("chunkstore-t-%s/", id);
    a = chunk_be(pfx, 3);
    b = chunk_be(pfx, 3);
    if (!ok(a && b, "two S3 chunk backends on one prefix open")) {
        chunk_backend_close(a);
        chunk_backend_close(b);
        return;
    }
    ok(a->ops->put(a->priv, "indexes/x.idx", "abc", 3, CHUNK_PUT_EXCL,
                   NULL) == 0, "put (exclusive) of a new key");
    ok(a->ops->put(a->priv, "indexes/x.idx", "abc", 3, CHUNK_PUT_EXCL,
                   &err) < 0 && error_get_class(err) == ERR_CONFLICT,
       "put exclusive of an existing key: ERR_CONFLICT");
    error_free(err);
    err = NULL;
    ok(a->ops->get(a->priv, "indexes/x.idx", 2, &buf, &len, &err) < 0 &&
           error_get_class(err) == ERR_PROTOCOL,
       "get over MAX: ERR_PROTOCOL");
    error_free(err);
    err = NULL;
    ok(a->ops->put_start(a->priv, "chunks/abc/1", "one", 3, &tok[0],
                         NULL) == 0 &&
           a->ops->put_start(a->priv, "chunks/abc/2", "two", 3, &tok[1],
                             NULL) == 0 &&
           a->ops->put_finish(a->priv, tok, 2, NULL) == 0,
       "put_start twice, put_finish");
    ok(b->ops->get(b->priv, "chunks/abc/2", 16, &buf, &len, NULL) == 0 &&
           len == 3 && !memcmp(buf, "two", 3),
       "the other backend reads it");
    free(buf);
    ok(a->ops->touch(a->priv, "chunks/abc/1", NULL) == 1 &&
           a->ops->touch(a->priv, "chunks/abc/9", NULL) == 0,
       "touch: 1 present, 0 absent");
    ok(a->ops->list(a->priv, "chunks/", count_obj, &n, NULL) == 0 && n == 2,
       "list under chunks/ gives the two");
    t0 = (int64_t)time(NULL) * 1000000000;
    ok(a->ops->remove_unless_since(a->priv, "chunks/abc/1", t0 - 60000000000LL,
                                   NULL) == 0,
       "remove_unless_since a time before its put keeps it");
    ok(a->ops->remove_unless_since(a->priv, "chunks/abc/1", INT64_MAX,
                                   NULL) == 1 &&
           a->ops->get(a->priv, "chunks/abc/1", 16, &buf, &len, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "remove_unless_since INT64_MAX removes; get: ERR_NOT_FOUND");
    error_free(err);
    err = NULL;
    test_exists_sorted(a);

    /* Leases: a writer on A keeps B's gc out, and the other way. */
    ok(a->ops->writer_begin(a->priv, &reg, &start, NULL) == 0,
       "writer_begin on A");
    ok(b->ops->gc_begin(b->priv, &now, &oldest, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT &&
           strstr(error_msg(err), "holds lease"),
       "gc_begin on B while A writes: ERR_CONFLICT naming the lease");
    diag("%s", error_msg(err));
    error_free(err);
    err = NULL;
    a->ops->writer_end(a->priv, reg);
    ok(b->ops->gc_begin(b->priv, &now, &oldest, NULL) == 0 &&
           oldest == INT64_MAX && now > start,
       "after writer_end, gc_begin on B works (oldest: none)");
    t0 = time(NULL);
    ok(a->ops->writer_begin(a->priv, &reg2, &start, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT &&
           strstr(error_msg(err), "a gc is running"),
       "writer_begin on A during B's gc waits, then ERR_CONFLICT");
    diag("waited %ld s: %s", (long)(time(NULL) - t0), error_msg(err));
    ok(time(NULL) - t0 >= 14, "  after 5 TTLs (15 s)");
    error_free(err);
    err = NULL;
    b->ops->gc_end(b->priv);
    ok(a->ops->writer_begin(a->priv, &reg2, &start, NULL) == 0,
       "after gc_end, writer_begin works");
    a->ops->writer_end(a->priv, reg2);
    a->ops->remove_unless_since(a->priv, "chunks/abc/2", INT64_MAX, NULL);
    a->ops->remove_unless_since(a->priv, "indexes/x.idx", INT64_MAX, NULL);
    n = 0;
    ok(a->ops->list(a->priv, "", count_obj, &n, NULL) == 0 && n == 0,
       "nothing left under the prefix, leases included");
    chunk_backend_close(a);
    chunk_backend_close(b);
}

int
main(void)
{
    char id[UTIL_UUID_LEN];
    struct s3 *s;

    endpoint = getenv("VMSNAP_S3_ENDPOINT");
    bucket = getenv("VMSNAP_S3_BUCKET");
    creds = getenv("VMSNAP_S3_CREDENTIALS");
    services = getenv("SERVICES");
    test_dir = getenv("TEST_DIR");
    if (!endpoint || !bucket || !creds || !services || !test_dir) {
        ok(false, "VMSNAP_S3_*, SERVICES and TEST_DIR are set");
        return tap_done();
    }
    util_uuid_new(id);
    snprintf(prefix, sizeof(prefix), "images/t-%s/", id);

    s = client(5 * MiB, creds, 3);
    if (!ok(s != NULL, "client opens")) {
        return tap_done();
    }
    test_objects(s);
    test_conditional_put();
    test_list(s);
    test_multipart(s);
    s3_close(s);
    test_bad_credentials();
    test_server_trouble();
    test_store();
    test_stop_mid_upload();
    test_store_stop_mid_upload();
    test_store_send_early(true);
    test_store_send_early(false);
    test_chunk_backend();
    return tap_done();
}
