/* Tests of the chunk store's crash safety and of gc against concurrent
 * writers: writers SIGKILLed at random points, failures injected through
 * a wrapping backend, gc racing a writer in this process and in another.
 *
 * The invariant checked everywhere: no index references a missing chunk,
 * and gc cleans up whatever a dead writer left.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

#include "test-chunk-util.h"
#include "chunk-internal.h" /* chunk_key */
#include "cleanup.h"
#include "util.h"

#define CS 65536
#define NCH 256 /* chunks in the crash test's disk (16 MiB) */

static char root[64];

static struct chunk_store *
open_store(void)
{
    struct error *err = NULL;
    struct chunk_store *cs = chunk_store_open(root, &err);

    tc_noerr(&err, "open store");
    return cs;
}

/* Verify the store; true when nothing is missing or damaged. */
static bool
store_sound(struct chunk_store *cs, struct chunk_verify_report *vr)
{
    struct error *err = NULL;

    if (chunk_store_verify(cs, 0, NULL, NULL, NULL, vr, &err) < 0) {
        tc_noerr(&err, "verify");
        return false;
    }
    return vr->chunks_missing == 0 && vr->chunks_bad == 0 &&
           vr->indexes_bad == 0;
}

/* ---- failure injection ---- */

/* A backend that fails its Nth call (writers call it from threads). */
struct faulty {
    struct chunk_backend *inner; /* the real one */
    pthread_mutex_t mu;          /* guards the fields below */
    int countdown;               /* calls left before the failure */
    int calls;                   /* calls made */
    int exists_calls;            /* of which exists */
};

static bool
faulty_fail(struct faulty *f, struct error **errp)
{
    bool fail;

    pthread_mutex_lock(&f->mu);
    f->calls++;
    fail = --f->countdown == 0;
    pthread_mutex_unlock(&f->mu);
    if (fail) {
        error_setg(errp, ERR_IO, "injected failure");
    }
    return fail;
}

static int
faulty_put(void *be, const char *key, const void *buf, size_t len,
           unsigned flags, struct error **errp)
{
    struct faulty *f = be;

    if (faulty_fail(f, errp)) {
        return -1;
    }
    return f->inner->ops->put(f->inner->priv, key, buf, len, flags, errp);
}

static int
faulty_put_start(void *be, const char *key, const void *buf, size_t len,
                 void **token, struct error **errp)
{
    struct faulty *f = be;

    if (faulty_fail(f, errp)) {
        return -1;
    }
    return f->inner->ops->put_start(f->inner->priv, key, buf, len, token,
                                    errp);
}

static int
faulty_put_finish(void *be, void **tokens, size_t n, struct error **errp)
{
    struct faulty *f = be;

    if (faulty_fail(f, errp)) {
        f->inner->ops->put_cancel(f->inner->priv, tokens, n);
        return -1;
    }
    return f->inner->ops->put_finish(f->inner->priv, tokens, n, errp);
}

static void
faulty_put_cancel(void *be, void **tokens, size_t n)
{
    struct faulty *f = be;

    f->inner->ops->put_cancel(f->inner->priv, tokens, n);
}

static int
faulty_get(void *be, const char *key, size_t max, uint8_t **buf, size_t *len,
           struct error **errp)
{
    struct faulty *f = be;

    return f->inner->ops->get(f->inner->priv, key, max, buf, len, errp);
}

static int
faulty_touch(void *be, const char *key, struct error **errp)
{
    struct faulty *f = be;

    if (faulty_fail(f, errp)) {
        return -1;
    }
    return f->inner->ops->touch(f->inner->priv, key, errp);
}

static int
faulty_exists(void *be, const char *key, struct error **errp)
{
    struct faulty *f = be;

    pthread_mutex_lock(&f->mu);
    f->exists_calls++;
    pthread_mutex_unlock(&f->mu);
    if (faulty_fail(f, errp)) {
        return -1;
    }
    return f->inner->ops->exists(f->inner->priv, key, errp);
}

static int
faulty_list(void *be, const char *prefix,
            int (*fn)(const struct chunk_obj *obj, void *opaque),
            void *opaque, struct error **errp)
{
    struct faulty *f = be;

    return f->inner->ops->list(f->inner->priv, prefix, fn, opaque, errp);
}

static int
faulty_remove(void *be, const char *key, int64_t since,
              struct error **errp)
{
    struct faulty *f = be;

    return f->inner->ops->remove_unless_since(f->inner->priv, key, since,
                                              errp);
}

static int
faulty_sync(void *be, struct error **errp)
{
    struct faulty *f = be;

    if (faulty_fail(f, errp)) {
        return -1;
    }
    return f->inner->ops->sync(f->inner->priv, errp);
}

static int
faulty_writer_begin(void *be, void **token, int64_t *start,
                    struct error **errp)
{
    struct faulty *f = be;

    return f->inner->ops->writer_begin(f->inner->priv, token, start, errp);
}

static void
faulty_writer_end(void *be, void *token)
{
    struct faulty *f = be;

    f->inner->ops->writer_end(f->inner->priv, token);
}

static int
faulty_gc_begin(void *be, int64_t *now, int64_t *oldest, struct error **errp)
{
    struct faulty *f = be;

    return f->inner->ops->gc_begin(f->inner->priv, now, oldest, errp);
}

static void
faulty_close(void *be)
{
    struct faulty *f = be;

    chunk_backend_close(f->inner);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static const struct chunk_backend_ops faulty_ops = {
    .version = CHUNK_BACKEND_VERSION,
    .name = "faulty",
    .put = faulty_put,
    .put_start = faulty_put_start,
    .put_finish = faulty_put_finish,
    .put_cancel = faulty_put_cancel,
    .get = faulty_get,
    .touch = faulty_touch,
    .exists = faulty_exists,
    .list = faulty_list,
    .remove_unless_since = faulty_remove,
    .sync = faulty_sync,
    .writer_begin = faulty_writer_begin,
    .writer_end = faulty_writer_end,
    .gc_begin = faulty_gc_begin,
    .close = faulty_close,
};

/* The store over a backend failing at call N (0: never). */
static struct chunk_store *
open_faulty(int n, struct faulty **out)
{
    struct error *err = NULL;
    struct chunk_backend *be = calloc(1, sizeof(*be));
    struct faulty *f = calloc(1, sizeof(*f));
    struct chunk_store *cs;

    f->inner = chunk_backend_dir_open(root, false, &err);
    pthread_mutex_init(&f->mu, NULL);
    f->countdown = n;
    be->ops = &faulty_ops;
    be->priv = f;
    cs = chunk_store_open_backend(be, NULL, &err);
    tc_noerr(&err, "open faulty");
    *out = f;
    return cs;
}

/* Write an incremental of 8 chunks on "base" through a backend that
 * fails at call N.  Returns 1 if it committed, 0 if it failed, -1 on a
 * test problem; *CALLS is the number of calls it made.
 */
static int
faulty_backup(int n, uint8_t *data, int *calls)
{
    struct faulty *f = NULL;
    struct chunk_store *cs = open_faulty(n, &f);
    struct chunk_writer_opts o = {2, 0};
    struct chunk_writer *w = NULL;
    struct error *err = NULL;
    char name[32];
    int i, rc = 0;

    if (cs == NULL) {
        return -1;
    }
    snprintf(name, sizeof(name), "fault-%d", n);
    /* New data each time: chunks a failed run stored must not turn the
     * next run's puts into dedup hits, which would change its calls.
     */
    tc_fill(data, 8 * CS, 9000 + (uint64_t)n);
    if (chunk_writer_open(cs, name, 64 * CS, "base", &o, &w, &err) == 0) {
        for (i = 0; i < 8 && err == NULL; i++) {
            chunk_writer_write(w, data + (size_t)i * CS, CS,
                               (int64_t)(i * 2) * CS, &err);
        }
        if (err == NULL && chunk_writer_commit(w, NULL, &err) == 0) {
            rc = 1;
        }
    }
    error_free(err);
    chunk_writer_free(w);
    *calls = f->calls;
    chunk_store_close(cs);
    return rc;
}

/* Open index NAME of CS and check its chunks (chunk_reader_check). */
static int
check_index(struct chunk_store *cs, const char *name, struct error **errp)
{
    struct chunk_reader *r = NULL;
    int rc = chunk_reader_open(cs, name, &r, errp);

    if (rc == 0) {
        rc = chunk_reader_check(r, errp);
    }
    chunk_reader_close(r);
    return rc;
}

/* A parent's check, one lookup per chunk (the faulty wrapper has no
 * exists_sorted): a sound parent passes, a failed lookup fails the check
 * with its reason, a missing chunk is named.  The same through the local
 * store's own exists_sorted (all keys in one transaction of its map).
 */
static void
test_check_parent(void)
{
    struct chunk_gc_opts go = {0, false};
    struct chunk_gc_report gr;
    struct chunk_store *cs;
    struct chunk_digest d;
    struct faulty *f = NULL;
    struct error *err = NULL;
    uint8_t *data = malloc(64 * CS);
    char key[CHUNK_KEY_LEN], hex[CHUNK_HEX_LEN];
    int before = 0, lookups = 0, rc;

    tc_fill(data, 64 * CS, 777);
    cs = open_store();
    ok(tc_write_model(cs, "cp", NULL, data, 64 * CS, CS, 1, NULL, NULL) ==
           0,
       "check: a parent of 64 chunks");
    chunk_store_close(cs);

    cs = open_faulty(0, &f);
    rc = check_index(cs, "cp", &err);
    tc_noerr(&err, "check: sound");
    lookups = f->exists_calls;
    before = f->calls - lookups;
    ok(rc == 0 && lookups == 64,
       "check: a sound parent passes, each of its chunks looked up once "
       "(%d)", lookups);
    chunk_store_close(cs);

    cs = open_store();
    rc = check_index(cs, "cp", &err);
    tc_noerr(&err, "check: sound, sorted");
    ok(rc == 0, "check: a sound parent passes the store's sorted lookup");
    chunk_store_close(cs);

    cs = open_faulty(before + 30, &f);
    rc = check_index(cs, "cp", &err);
    ok(rc < 0 && err && strstr(error_msg(err), "injected failure") &&
           f->exists_calls < 64,
       "check: a lookup that fails stops the check with its reason "
       "(%d lookups)", f->exists_calls);
    error_free(err);
    err = NULL;
    chunk_store_close(cs);

    cs = open_faulty(0, &f);
    chunk_sha256(data + 40 * CS, CS, &d, &err);
    chunk_key(&d, key);
    chunk_digest_hex(&d, hex);
    rc = f->inner->ops->remove_unless_since(f->inner->priv, key, INT64_MAX,
                                            &err);
    tc_noerr(&err, "check: remove");
    ok(rc == 1, "check: chunk 40 of the parent removed behind its back");
    rc = check_index(cs, "cp", &err);
    ok(rc < 0 && err && error_get_class(err) == ERR_NOT_FOUND &&
           strstr(error_msg(err), hex),
       "check: the missing chunk is found and named");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    err = NULL;
    chunk_store_close(cs);

    cs = open_store();
    rc = check_index(cs, "cp", &err);
    ok(rc < 0 && err && error_get_class(err) == ERR_NOT_FOUND &&
           strstr(error_msg(err), hex),
       "check: the store's sorted lookup finds and names it too");
    error_free(err);
    err = NULL;
    chunk_store_close(cs);

    /* Leave the store as found: the gc tests count what they free. */
    cs = open_store();
    ok(chunk_store_remove_index(cs, "cp", &err) == 0, "check: delete cp");
    tc_sleep_ms(30);
    rc = chunk_store_gc(cs, &go, NULL, &gr, &err);
    ok(rc == 0 && gr.chunks_removed == 63,
       "check: gc frees cp's 63 other chunks (%llu)",
       (unsigned long long)gr.chunks_removed);
    tc_noerr(&err, "check: delete and gc");
    chunk_store_close(cs);
    free(data);
}

static void
test_faults(void)
{
    struct chunk_verify_report vr;
    struct chunk_store *cs;
    struct chunk_gc_report gr;
    struct chunk_gc_opts go = {0, false};
    struct error *err = NULL;
    uint8_t *data = malloc(64 * CS);
    int n, calls = 0, total = 0, failed = 0, committed = 0;
    bool sound = true;

    tc_fill(data, 64 * CS, 4242);
    cs = open_store();
    ok(tc_write_model(cs, "base", NULL, data, 64 * CS, CS, 2, NULL, NULL) ==
           0,
       "faults: a base index");
    chunk_store_close(cs);
    n = faulty_backup(0, data, &total);
    ok(n == 1, "faults: a backup without faults makes %d backend calls",
       total);
    for (n = 1; n <= total; n++) {
        int rc = faulty_backup(n, data, &calls);

        committed += rc == 1;
        failed += rc == 0;
        cs = open_store();
        if (!store_sound(cs, &vr)) {
            sound = false;
            diag("fault at call %d leaves the store broken", n);
        }
        chunk_store_close(cs);
    }
    ok(failed == total && committed == 0,
       "faults: a failure at any of the %d calls fails the backup (%d)",
       total, failed);
    ok(sound, "faults: no index references a missing chunk after any "
       "failure");
    cs = open_store();
    tc_sleep_ms(30);
    ok(chunk_store_gc(cs, &go, NULL, &gr, &err) == 0 &&
           gr.chunks_removed > 0,
       "faults: gc removes the chunks the failed backups left");
    tc_noerr(&err, "gc");
    n = store_sound(cs, &vr);
    ok(n && vr.indexes == 2,
       "faults: the store is sound and holds base and fault-0 only (%llu)",
       (unsigned long long)vr.indexes);
    chunk_store_close(cs);
    free(data);
}

/* ---- SIGKILL at random points ---- */

/* The child: backups of a 16 MiB disk until killed. */
static void
crash_child(int iter)
{
    struct chunk_store *cs = open_store();
    uint8_t *disk = malloc(NCH * CS);
    char name[32], parent[32];
    uint64_t s = (uint64_t)iter * 7919 + 1;
    int k, i;

    if (cs == NULL || disk == NULL) {
        _exit(2);
    }
    for (i = 0; i < NCH; i++) {
        tc_fill(disk + (size_t)i * CS, CS, (uint64_t)iter * 100000 + i);
    }
    parent[0] = '\0';
    for (k = 0;; k++) {
        snprintf(name, sizeof(name), "crash-%d-%d", iter, k);
        if (k > 0) {
            for (i = 0; i < 16; i++) {
                size_t at = (size_t)(tc_rand(&s) % (NCH * CS - 5000));

                tc_fill(disk + at, 5000, tc_rand(&s));
            }
        }
        if (tc_write_model(cs, name, parent[0] ? parent : NULL, disk,
                           NCH * CS, 3 * CS + 17, 2, NULL, NULL) < 0) {
            _exit(1);
        }
        memcpy(parent, name, sizeof(parent));
    }
}

static void
test_crash(void)
{
    struct chunk_verify_report vr;
    struct chunk_gc_report gr;
    struct chunk_gc_opts go = {0, false};
    struct chunk_store *cs;
    struct error *err = NULL;
    uint64_t s = 12345;
    int iter, status, bad = 0, exited = 0, indexes = 0;
    CLEANUP_FREE char *tmp = util_path_join(root, "tmp");
    CLEANUP_FREE char *writers = util_path_join(root, "writers");
    pid_t pid;

    for (iter = 0; iter < 16; iter++) {
        pid = fork();
        if (pid == 0) {
            crash_child(iter);
            _exit(0);
        }
        tc_sleep_ms(5 + (long)(tc_rand(&s) % 400));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        exited += !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        cs = open_store();
        if (!store_sound(cs, &vr)) {
            bad++;
            diag("after kill %d: %llu missing, %llu bad", iter,
                 (unsigned long long)vr.chunks_missing,
                 (unsigned long long)vr.chunks_bad);
        }
        indexes = (int)vr.indexes;
        chunk_store_close(cs);
    }
    ok(exited == 0, "crash: every child writer died by SIGKILL");
    ok(bad == 0, "crash: after each of 16 kills no index references a "
       "missing or damaged chunk (%d indexes committed)", indexes);
    diag("crash: %d files left in tmp/, %d writer registrations",
         tc_count_files(tmp), tc_count_files(writers));
    cs = open_store();
    tc_sleep_ms(30);
    ok(chunk_store_gc(cs, &go, NULL, &gr, &err) == 0, "crash: gc");
    tc_noerr(&err, "gc");
    diag("crash: gc removed %llu chunks, %llu work files",
         (unsigned long long)gr.chunks_removed,
         (unsigned long long)gr.tmp_removed);
    ok(tc_count_files(tmp) == 0 && tc_count_files(writers) == 0,
       "crash: gc leaves no work file and no dead writer registration");
    ok(store_sound(cs, &vr) && vr.chunks == gr.chunks_referenced,
       "crash: the store is sound and holds only referenced chunks");
    chunk_store_close(cs);
}

/* ---- gc against a writer ---- */

static void
test_gc_race_local(void)
{
    struct chunk_verify_report vr;
    struct chunk_gc_report gr;
    struct chunk_gc_opts go = {0, false};
    struct chunk_writer *w = NULL;
    struct chunk_store *cs = open_store();
    struct error *err = NULL;
    uint8_t *a = malloc(16 * CS), *g = malloc(16 * CS), *want;
    int i;

    want = malloc(16 * CS);
    tc_fill(a, 16 * CS, 777);
    tc_fill(g, 16 * CS, 888);
    ok(tc_write_model(cs, "P", NULL, a, 16 * CS, CS, 1, NULL, NULL) == 0 &&
           tc_write_model(cs, "D", NULL, g, 16 * CS, CS, 1, NULL, NULL) ==
               0 &&
           chunk_store_remove_index(cs, "D", &err) == 0,
       "race: index P, and D's chunks left unreferenced");
    tc_sleep_ms(30);

    /* W starts on P and reuses half of D's garbage (dedup hits). */
    ok(chunk_writer_open(cs, "W", 16 * CS, "P", NULL, &w, &err) == 0,
       "race: a writer starts on P");
    memcpy(want, a, 16 * CS);
    for (i = 0; i < 8; i++) {
        chunk_writer_write(w, g + (size_t)i * CS, CS, (int64_t)i * CS, &err);
        memcpy(want + (size_t)i * CS, g + (size_t)i * CS, CS);
    }
    ok(chunk_store_remove_index(cs, "P", &err) == 0,
       "race: P is deleted while W runs");
    tc_noerr(&err, "race setup");
    tc_sleep_ms(30);
    i = chunk_store_gc(cs, &go, NULL, &gr, &err);
    ok(i == 0 && gr.chunks_removed == 8,
       "race: gc removes only the 8 garbage chunks W did not reuse (%llu)",
       (unsigned long long)gr.chunks_removed);
    tc_noerr(&err, "race gc");
    tc_fill(want + 12 * CS, CS, 999);
    ok(chunk_writer_write(w, want + 12 * CS, CS, 12 * CS, &err) == 0 &&
           chunk_writer_commit(w, NULL, &err) == 0,
       "race: W commits after gc");
    tc_noerr(&err, "race commit");
    chunk_writer_free(w);
    ok(store_sound(cs, &vr) && tc_reads_as(cs, "W", want, 16 * CS),
       "race: W's index is whole: its parent's chunks and its dedup hits "
       "survived gc");
    ok(chunk_store_remove_index(cs, "W", &err) == 0, "race: delete W");
    tc_sleep_ms(30);
    /* W's 16 chunks, and the 9 of P that W touched, then replaced. */
    i = chunk_store_gc(cs, &go, NULL, &gr, &err);
    ok(i == 0 && gr.chunks_removed == 25,
       "race: with no writer, gc removes those 25 chunks (%llu)",
       (unsigned long long)gr.chunks_removed);
    tc_noerr(&err, "race gc 2");
    chunk_store_close(cs);
    free(a);
    free(g);
    free(want);
}

/* The writer process of the concurrent test: a chain of incrementals
 * with rotation, each made of chunks from a small pool (so that it keeps
 * reusing chunks that rotation just made garbage), each read back.
 */
static void
race_child(void)
{
    struct chunk_store *cs = open_store();
    uint8_t *disk = calloc(8, CS), *pool = malloc(24 * CS);
    char name[32], parent[32];
    struct error *err = NULL;
    struct chunk_writer *w = NULL;
    uint64_t s = 99;
    int k, i, j;

    for (j = 0; j < 24; j++) {
        tc_fill(pool + (size_t)j * CS, CS, 31337 + (uint64_t)j);
    }
    parent[0] = '\0';
    for (k = 0; k < 60; k++) {
        snprintf(name, sizeof(name), "chain-%d", k);
        if (chunk_writer_open(cs, name, 8 * CS, parent[0] ? parent : NULL,
                              NULL, &w, &err) < 0) {
            tc_noerr(&err, name);
            _exit(1);
        }
        for (i = 0; i < 3; i++) {
            int at = (int)(tc_rand(&s) % 8);

            j = (int)(tc_rand(&s) % 24);
            memcpy(disk + (size_t)at * CS, pool + (size_t)j * CS, CS);
            chunk_writer_write(w, disk + (size_t)at * CS, CS,
                               (int64_t)at * CS, &err);
        }
        tc_sleep_ms(3); /* let gc run in the middle */
        if (err || chunk_writer_commit(w, NULL, &err) < 0) {
            tc_noerr(&err, name);
            _exit(1);
        }
        chunk_writer_free(w);
        if (!tc_reads_as(cs, name, disk, 8 * CS)) {
            diag("race child: %s does not read back", name);
            _exit(1);
        }
        if (parent[0] && chunk_store_remove_index(cs, parent, &err) < 0) {
            tc_noerr(&err, parent);
            _exit(1);
        }
        memcpy(parent, name, sizeof(parent));
    }
    chunk_store_close(cs);
    _exit(0);
}

static void
test_gc_race_process(void)
{
    struct chunk_verify_report vr;
    struct chunk_gc_report gr;
    struct chunk_gc_opts go = {0, false};
    struct chunk_store *cs = open_store();
    struct error *err = NULL;
    uint64_t removed = 0;
    int status = 0, runs = 0, failed = 0;
    pid_t pid;

    pid = fork();
    if (pid == 0) {
        race_child();
    }
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (chunk_store_gc(cs, &go, NULL, &gr, &err) < 0) {
            tc_noerr(&err, "gc");
            failed++;
        }
        removed += gr.chunks_removed;
        runs++;
    }
    ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
       "race: 60 incrementals with rotation, each read back whole, while "
       "gc ran %d times and removed %llu chunks", runs,
       (unsigned long long)removed);
    ok(failed == 0 && runs > 10 && removed > 0,
       "race: gc really ran concurrently");
    status = store_sound(cs, &vr);
    ok(status && vr.indexes == 3,
       "race: the store is sound, the chain's last index kept (%llu)",
       (unsigned long long)vr.indexes);
    chunk_store_close(cs);
}

int
main(void)
{
    struct chunk_store_params params = {CS, 0};
    struct error *err = NULL;

    snprintf(root, sizeof(root), "/tmp/vmsnap-test-chunk-crash.XXXXXX");
    if (mkdtemp(root) == NULL ||
        chunk_store_create(root, &params, &err) < 0) {
        tc_noerr(&err, "create");
        return 1;
    }
    test_faults();
    test_check_parent();
    test_gc_race_local();
    test_gc_race_process();
    test_crash();
    tc_rm_rf(root);
    return tap_done();
}
