/* Unit tests of the catalog's tasks: their life, progress, warnings and
 * results; several processes racing to claim one task, and adding
 * warnings to one task at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "test-catalog.h"
#include "util.h"

#ifndef NCHILD
#define NCHILD 4     /* processes in the races */
#endif
#define NWARN 10     /* warnings each of them adds */

/* A new queued task of KIND on server TARGET (NULL: none). */
static struct task *
new_task(const char *kind, const char *target)
{
    struct task *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        abort();
    }
    util_uuid_new(t->id);
    t->kind = tc_strdup(kind);
    if (target != NULL) {
        t->target_kind = tc_strdup("server");
        t->target_id = tc_strdup(target);
    }
    return t;
}

/* Read task ID, or NULL. */
static struct task *
get_task(struct catalog *cat, const char *id)
{
    struct error *err = NULL;
    struct task *t = NULL;

    if (catalog_task_get(cat, id, &t, &err) < 0) {
        diag("get task: %s", error_msg(err));
        error_free(err);
    }
    return t;
}

/* The number of strings in the JSON array text S, or -1. */
static int
json_count(const char *s)
{
    json_object *a = s ? json_tokener_parse(s) : NULL;
    int n = -1;

    if (a != NULL && json_object_is_type(a, json_type_array)) {
        n = (int)json_object_array_length(a);
    }
    json_object_put(a);
    return n;
}

static void
test_task_life(struct catalog *cat)
{
    char server[UTIL_UUID_LEN], image[UTIL_UUID_LEN], project[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct task *t, *got;
    struct task_result res = { .state = "succeeded" };
    CLEANUP_FREE char *want = NULL;

    util_uuid_new(server);
    util_uuid_new(image);
    util_uuid_new(project);
    t = new_task("image_snapshot", server);
    t->project_id = tc_strdup(project);
    t->request = tc_strdup("{\"name\": \"snap\"}");
    ok(catalog_task_insert(cat, t, &err) == 0 && no_err(&err),
       "insert a task");
    got = get_task(cat, t->id);
    ok(got != NULL && streq(got->state, "queued") &&
           streq(got->kind, "image_snapshot") &&
           streq(got->target_kind, "server") &&
           streq(got->target_id, server) &&
           streq(got->project_id, project) &&
           streq(got->request, "{\"name\": \"snap\"}") &&
           got->progress == 0 && streq(got->warnings, "[]") &&
           got->owner == NULL && got->started_at == NULL &&
           got->finished_at == NULL && util_is_iso8601(got->created_at) &&
           streq(got->created_at, got->updated_at),
       "it is queued, with no progress and no warnings");
    task_free(got);

    want = util_strdup_printf("task %s is queued, not running", t->id);
    ok(catalog_task_progress(cat, t->id, "copying", 10, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a queued task has no progress");
    ok(catalog_task_claim(cat, t->id, "host1:123", &err) == 0 &&
           no_err(&err),
       "claim it");
    free(want);
    want = util_strdup_printf("task %s is running, not queued", t->id);
    ok(catalog_task_claim(cat, t->id, "host2:456", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a second claim is refused");
    ok(catalog_task_progress(cat, t->id, "copying", 42.5, &err) == 0 &&
           catalog_task_progress(cat, t->id, NULL, 50, &err) == 0 &&
           no_err(&err),
       "report progress twice, the second without a phase");
    got = get_task(cat, t->id);
    ok(got != NULL && streq(got->state, "running") &&
           streq(got->owner, "host1:123") &&
           util_is_iso8601(got->started_at) && got->progress == 50 &&
           streq(got->phase, "copying"),
       "running, owned, with its progress and phase");
    task_free(got);
    ok(catalog_task_progress(cat, t->id, "x", 101, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) &&
           catalog_task_progress(cat, t->id, "x", -1, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "progress out of 0-100 is refused");

    ok(catalog_task_add_warning(cat, t->id, "the snapshot is "
                                "crash-consistent, not quiesced", &err) ==
               0 &&
           catalog_task_add_warning(cat, t->id, "second \"one\"", &err) ==
               0 &&
           no_err(&err),
       "add two warnings");
    got = get_task(cat, t->id);
    ok(got != NULL && json_count(got->warnings) == 2 &&
           strstr(got->warnings, "crash-consistent") != NULL,
       "the warnings are a JSON array: %s", got ? got->warnings : "?");
    task_free(got);
    ok(catalog_task_add_warning(cat, t->id, "\x1b[2J", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) &&
           catalog_task_add_warning(cat, t->id, "", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an empty warning or one with escapes is refused");

    res.image_id = image;
    res.error = "no";
    ok(catalog_task_finish(cat, t->id, &res, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a success with an error is refused");
    res.error = NULL;
    ok(catalog_task_finish(cat, t->id, &res, &err) == 0 && no_err(&err),
       "it succeeds");
    got = get_task(cat, t->id);
    ok(got != NULL && streq(got->state, "succeeded") &&
           streq(got->image_id, image) && got->progress == 100 &&
           util_is_iso8601(got->finished_at) && got->error == NULL,
       "succeeded, with its image, progress 100");
    task_free(got);
    free(want);
    want = util_strdup_printf("task %s is succeeded, not running or queued",
                              t->id);
    res.state = "failed";
    ok(catalog_task_finish(cat, t->id, &res, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a finished task cannot finish again");
    ok(catalog_task_add_warning(cat, t->id, "late", &err) == 0 &&
           no_err(&err),
       "a warning may still come after the end");
    ok(catalog_task_delete(cat, t->id, &err) == 0 && no_err(&err) &&
           catalog_task_get(cat, t->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "delete it");
    task_free(t);
}

static void
test_task_failures(struct catalog *cat)
{
    struct error *err = NULL;
    struct task *t = new_task("upload", NULL), *got;
    struct task_result res = { .state = "failed", .error = "disk full",
                               .error_class = "io" };

    ok(catalog_task_insert(cat, t, &err) == 0 && no_err(&err),
       "insert a task");
    res.state = "succeeded";
    res.error = NULL;
    res.error_class = NULL;
    ok(catalog_task_finish(cat, t->id, &res, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "a queued task cannot succeed");
    res.state = "failed";
    res.error = "disk full";
    res.error_class = "io";
    ok(catalog_task_finish(cat, t->id, &res, &err) == 0 && no_err(&err),
       "but it can fail without having started");
    got = get_task(cat, t->id);
    ok(got != NULL && streq(got->state, "failed") &&
           streq(got->error, "disk full") && streq(got->error_class, "io") &&
           got->started_at == NULL && util_is_iso8601(got->finished_at),
       "failed, with its error and class");
    task_free(got);
    res.state = "done";
    ok(catalog_task_finish(cat, t->id, &res, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an unknown end is refused");
    ok(catalog_task_claim(cat, NO_SUCH_ID, "h:1", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no task with ID '" NO_SUCH_ID "'"),
       "claiming a missing task is not found");
    ok(catalog_task_claim(cat, t->id, "", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a claim needs an owner");
    catalog_task_delete(cat, t->id, NULL);
    task_free(t);

    t = new_task("upload", NULL);
    t->owner = tc_strdup("host1:77");
    ok(catalog_task_insert(cat, t, &err) == 0 && no_err(&err) &&
           (got = get_task(cat, t->id)) != NULL &&
           streq(got->state, "queued") && streq(got->owner, "host1:77"),
       "a queued task keeps the owner it was inserted with (its creator)");
    task_free(got);
    ok(catalog_task_claim(cat, t->id, "host2:88", &err) == 0 &&
           (got = get_task(cat, t->id)) != NULL &&
           streq(got->owner, "host2:88"),
       "  until a claim makes the runner its owner");
    task_free(got);
    catalog_task_delete(cat, t->id, NULL);
    task_free(t);

    t = new_task("Image Snapshot", NULL);
    ok(catalog_task_insert(cat, t, &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "task kind 'Image Snapshot' is not a word"),
       "a kind is a word");
    free(t->kind);
    t->kind = tc_strdup("backup");
    t->target_kind = tc_strdup("server");
    ok(catalog_task_insert(cat, t, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a target kind needs a target");
    free(t->target_kind);
    t->target_kind = NULL;
    t->state = tc_strdup("running");
    ok(catalog_task_insert(cat, t, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a new task is queued");
    task_free(t);
}

static void
test_task_list(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-06-01T00:00:00.000000Z", "2026-06-02T00:00:00.000000Z",
        "2026-06-02T00:00:00.000000Z", "2026-06-03T00:00:00.000000Z",
    };
    char server[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct task *t[4], *got = NULL;
    struct task **list = NULL;
    struct task_filter f;
    struct task_result res = { .state = "succeeded" };
    size_t n = 0, i;

    util_uuid_new(server);
    for (i = 0; i < 4; i++) {
        t[i] = new_task(i < 2 ? "backup" : "export", i % 2 ? server : NULL);
        t[i]->created_at = tc_strdup(times[i]);
        catalog_task_insert(cat, t[i], &err);
    }
    ok(no_err(&err), "insert four tasks");
    ok(catalog_task_list(cat, NULL, &list, &n, &err) == 0 && no_err(&err) &&
           n == 4 && streq(list[0]->id, t[3]->id) &&
           streq(list[1]->id, t[2]->id) && streq(list[2]->id, t[1]->id) &&
           streq(list[3]->id, t[0]->id),
       "all of them, newest first, later insert first on ties");
    task_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.target_kind = "server";
    f.target_id = server;
    ok(catalog_task_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, t[3]->id),
       "by target");
    task_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.kind = "backup";
    f.limit = 1;
    ok(catalog_task_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, t[1]->id),
       "by kind, at most one");
    task_list_free(list, n);

    catalog_task_claim(cat, t[0]->id, "h:1", NULL);
    catalog_task_finish(cat, t[0]->id, &res, NULL);
    catalog_task_claim(cat, t[1]->id, "h:1", NULL);
    memset(&f, 0, sizeof(f));
    f.state = "running";
    ok(catalog_task_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, t[1]->id),
       "by state");
    task_list_free(list, n);
    f.state = "stuck";
    ok(catalog_task_list(cat, &f, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an unknown state is refused");

    ok(catalog_task_prune(cat, "2000-01-01T00:00:00.000000Z", &err) == 0 &&
           no_err(&err),
       "nothing finished before 2000");
    ok(catalog_task_prune(cat, "2999-01-01T00:00:00.000000Z", &err) == 1 &&
           no_err(&err),
       "prune the finished task, not the others");
    ok(catalog_task_get(cat, t[0]->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL) &&
           raw_int(db_path, "SELECT count(*) FROM tasks") == 3,
       "it is gone, the others are there");
    ok(catalog_task_prune(cat, "yesterday", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a bad time is refused");
    for (i = 0; i < 4; i++) {
        catalog_task_delete(cat, t[i]->id, NULL);
        task_free(t[i]);
    }
}

static void
test_task_warning_limit(struct catalog *cat)
{
    struct error *err = NULL;
    struct task *t = new_task("import", NULL), *got;
    int i, failed = 0;

    catalog_task_insert(cat, t, &err);
    for (i = 0; i < 70; i++) {
        failed += catalog_task_add_warning(cat, t->id, "again", &err) < 0;
    }
    ok(no_err(&err) && failed == 0, "70 warnings are accepted");
    got = get_task(cat, t->id);
    ok(got != NULL && json_count(got->warnings) == 64 &&
           strstr(got->warnings, "further warnings were dropped") != NULL,
       "64 are kept, the last saying that more were dropped");
    task_free(got);
    catalog_task_delete(cat, t->id, NULL);
    task_free(t);
}

/* ---- Races ------------------------------------------------------------ */

/* One racer: open the catalog, wait for the parent to close GATE, claim
 * task ID (exit 0 if it won, 3 if refused), then add NWARN warnings to
 * task WARN_ID.
 */
static int
racer(const char *id, const char *warn_id, int me, int gate)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);
    char owner[32], text[32];
    int r = 1, i;
    char c;

    if (cat == NULL) {
        fprintf(stderr, "racer: %s\n", error_msg(err));
        error_free(err);
        return 1;
    }
    while (read(gate, &c, 1) < 0 && errno == EINTR) {
    }
    snprintf(owner, sizeof(owner), "host:%d", me);
    if (catalog_task_claim(cat, id, owner, &err) == 0) {
        r = 0;
    } else if (error_get_class(err) == ERR_CONFLICT &&
               strstr(error_msg(err), "is running, not queued") != NULL) {
        r = 3;
    } else {
        fprintf(stderr, "racer claim: %s\n", error_msg(err));
    }
    error_free(err);
    err = NULL;
    for (i = 0; i < NWARN && r != 1; i++) {
        snprintf(text, sizeof(text), "racer %d warning %d", me, i);
        if (catalog_task_add_warning(cat, warn_id, text, &err) < 0) {
            fprintf(stderr, "racer warning: %s\n", error_msg(err));
            error_free(err);
            err = NULL;
            r = 1;
        }
    }
    catalog_close(cat);
    return r;
}

static void
test_task_races(void)
{
    struct error *err = NULL;
    struct catalog *cat = catalog_open(db_path, &err);
    struct task *t = new_task("backup", NULL);
    struct task *w = new_task("backup", NULL);
    struct task *got;
    pid_t pids[NCHILD];
    int gate[2], i, won = 0, lost = 0;

    ok(cat != NULL && catalog_task_insert(cat, t, &err) == 0 &&
           catalog_task_insert(cat, w, &err) == 0 && no_err(&err),
       "a task to race for, one to add warnings to");
    catalog_close(cat);
    if (pipe(gate) < 0) {
        abort();
    }
    fflush(stdout);
    for (i = 0; i < NCHILD; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            int r;

            close(gate[1]);
            r = racer(t->id, w->id, i, gate[0]);
            task_free(t);
            task_free(w);
            _exit(r);
        }
    }
    usleep(50 * 1000);
    close(gate[0]);
    close(gate[1]);
    for (i = 0; i < NCHILD; i++) {
        int status = 0;

        if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] &&
            WIFEXITED(status)) {
            won += WEXITSTATUS(status) == 0;
            lost += WEXITSTATUS(status) == 3;
        }
    }
    ok(won == 1 && lost == NCHILD - 1,
       "one of %d workers claimed the task (%d won, %d refused)", NCHILD,
       won, lost);
    cat = catalog_open(db_path, &err);
    got = cat ? get_task(cat, w->id) : NULL;
    ok(got != NULL && json_count(got->warnings) == NCHILD * NWARN,
       "all %d warnings added at once are kept", NCHILD * NWARN);
    task_free(got);
    catalog_close(cat);
    task_free(t);
    task_free(w);
}

int
main(void)
{
    struct catalog *cat;

    tc_setup("cat-tasks");
    cat = tc_open();
    ok(catalog_task_state_valid("running") &&
           !catalog_task_state_valid("done"),
       "task states");
    test_task_life(cat);
    test_task_failures(cat);
    test_task_list(cat);
    test_task_warning_limit(cat);
    catalog_close(cat);
    test_task_races();
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
