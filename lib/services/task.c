/* vmsnap: long work as task records (see task.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "datadir.h"
#include "log.h"
#include "sock.h"
#include "svc.h"
#include "task.h"
#include "util.h"
#include "xalloc.h"

/* How often the progress of a task is written at most. */
#define TASK_PROGRESS_MS 500

/* How long a task may stay queued before recovery calls it lost (at
 * once when the process that queued it is known to be dead).
 */
#define TASK_LOST_QUEUED_S 120

struct task_run {
    struct svc *svc;                /* the context */
    struct task *task;              /* the record, as claimed */
    struct lock *lock;              /* the task's lock, held */
    bool background;                /* run by a worker */
    const struct progress *outer;   /* who else wants the progress */
    struct progress reporter;       /* task_progress's reporter */
    int64_t last_ms;                /* when progress was last written */
    double last_pct;                /* what was written */
    char last_phase[32];            /* in which phase */
};

/* The kind named NAME among KINDS (NULL-terminated), or NULL. */
static const struct task_kind *
task_kind_named(const struct task_kind *const *kinds, const char *name)
{
    size_t i;

    for (i = 0; kinds[i]; i++) {
        if (strcmp(kinds[i]->name, name) == 0) {
            return kinds[i];
        }
    }
    return NULL;
}

/* "host:pid", who runs a task (host.name: see svc.h). */
static char *
task_owner(struct svc *svc)
{
    return xasprintf("%s:%d", svc_host(svc), (int)getpid());
}

int
task_create(struct svc *svc, const struct caller *who, const char *kind,
            const char *target_kind, const char *target_id,
            const char *image_id, json_object *request, struct task **out,
            struct error **errp)
{
    struct task *t = xcalloc(1, sizeof(*t));
    int r;

    util_uuid_new(t->id);
    t->kind = xstrdup(kind);
    t->state = xstrdup("queued");
    t->target_kind = target_kind ? xstrdup(target_kind) : NULL;
    t->target_id = target_id ? xstrdup(target_id) : NULL;
    t->image_id = image_id ? xstrdup(image_id) : NULL;
    t->project_id = who->project_id ? xstrdup(who->project_id) : NULL;
    t->user_id = who->user_id ? xstrdup(who->user_id) : NULL;
    t->request = xstrdup(json_object_to_json_string_ext(
        request, JSON_C_TO_STRING_PLAIN));
    /* Until a runner claims it, its creator answers for it: a front end
     * runs it itself or waits until a worker it started claims it
     * (task_spawn).
     */
    t->owner = task_owner(svc);
    r = catalog_task_insert(svc_catalog(svc), t, errp);
    if (r == 0) {
        r = catalog_task_get(svc_catalog(svc), t->id, out, errp);
    }
    task_free(t);
    return r;
}

static void
task_report(const char *phase, double pct, void *opaque)
{
    struct task_run *t = opaque;
    int64_t now = sock_now_ms();

    progress_report(t->outer, phase, pct);
    if (strcmp(phase, t->last_phase) == 0 && pct < 100 &&
        now - t->last_ms < TASK_PROGRESS_MS) {
        return;
    }
    t->last_ms = now;
    t->last_pct = pct;
    snprintf(t->last_phase, sizeof(t->last_phase), "%s", phase);
    catalog_task_progress(svc_catalog(t->svc), t->task->id, phase, pct,
                          NULL);
}

const struct progress *
task_progress(struct task_run *t)
{
    return &t->reporter;
}

void
task_phase(struct task_run *t, const char *phase)
{
    snprintf(t->last_phase, sizeof(t->last_phase), "%s", phase);
    t->last_ms = sock_now_ms();
    t->last_pct = 0;
    catalog_task_progress(svc_catalog(t->svc), t->task->id, phase, 0, NULL);
    progress_report(t->outer, phase, 0);
}

void
task_warn(struct task_run *t, const char *fmt, ...)
{
    CLEANUP_FREE char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    log_warnx("%s", msg);
    catalog_task_add_warning(svc_catalog(t->svc), t->task->id, msg, NULL);
}

int
task_check(struct task_run *t, struct error **errp)
{
    return t->lock ? lock_check(t->lock, errp) : 0;
}

const struct task *
task_record(const struct task_run *t)
{
    return t->task;
}

bool
task_in_background(const struct task_run *t)
{
    return t->background;
}

/* Task ID will never run: it is recorded as failed with WHY, and what
 * was made for it is undone by its kind's recovery among KINDS (none
 * when KINDS is NULL), which is given the failed record (its error is
 * WHY, the reason it may give what it undoes).
 */
static void
task_abandon(struct svc *svc, const struct task_kind *const *kinds,
             const char *id, const char *why)
{
    struct catalog *cat = svc_catalog(svc);
    struct task_result lost = {"failed", NULL, why, "io"};
    const struct task_kind *kind;
    struct task *t = NULL;
    struct task *done = NULL;

    if (catalog_task_get(cat, id, &t, NULL) < 0) {
        return;
    }
    if (strcmp(t->state, "queued") == 0 &&
        catalog_task_finish(cat, id, &lost, NULL) == 0 &&
        kinds && (kind = task_kind_named(kinds, t->kind)) != NULL &&
        kind->recover) {
        catalog_task_get(cat, id, &done, NULL);
        kind->recover(svc, done ? done : t);
    }
    task_free(done);
    task_free(t);
}

int
task_execute(struct svc *svc, const struct task_kind *const *kinds,
             const char *id, unsigned flags,
             const struct progress *progress, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct task_run t = {.svc = svc, .outer = progress,
                         .background = (flags & TASK_BACKGROUND) != 0};
    CLEANUP_JSON_PUT json_object *req = NULL;
    CLEANUP_FREE char *owner = task_owner(svc);
    CLEANUP_FREE char *result = NULL;
    const struct task_kind *kind;
    struct task_result outcome = {0};
    struct lock *lk = NULL;
    struct error *err = NULL;
    int r;

    t.reporter.fn = task_report;
    t.reporter.opaque = &t;
    if (catalog_task_get(cat, id, &t.task, errp) < 0) {
        return -1;
    }
    kind = task_kind_named(kinds, t.task->kind);
    if (kind == NULL) {
        error_setg(errp, ERR_INVALID, "task %s is of unknown kind '%s'", id,
                   t.task->kind);
        task_free(t.task);
        return -1;
    }
    if (svc_lock(svc, "task", id, false, &lk, &err) < 0 ||
        catalog_task_claim(cat, id, owner, &err) < 0) {
        /* A conflict is another runner's: it runs the task.  Any other
         * failure (the lock's file cannot be made, the catalog cannot be
         * written) means the task will not run here: it must not stay
         * queued with what was made for it until a recovery finds it.
         */
        lock_release(lk);
        if (error_get_class(err) != ERR_CONFLICT) {
            task_abandon(svc, kinds, id, error_msg(err));
        }
        task_free(t.task);
        error_propagate(errp, err);
        return -1;
    }
    t.lock = lk;
    req = json_tokener_parse(t.task->request ? t.task->request : "{}");
    if (req == NULL || !json_object_is_type(req, json_type_object)) {
        error_setg(&err, ERR_INVALID, "task %s has a malformed request", id);
        r = -1;
    } else {
        r = kind->run(svc, &t, req, &result, &err);
    }
    outcome.state = r == 0 ? "succeeded" : "failed";
    outcome.image_id = result;
    outcome.error = err ? error_msg(err) : NULL;
    outcome.error_class = err ? error_class_name(error_get_class(err))
                              : NULL;
    if (catalog_task_finish(cat, id, &outcome, NULL) < 0) {
        log_warnx("task %s: cannot record its end", id);
    }
    lock_release(lk);
    task_free(t.task);
    error_propagate(errp, err);
    return r;
}

/* The vmsnap-worker program: the setting, else the installed one, else
 * the one beside this program (or in the build tree's worker/).
 */
static char *
task_worker_program(struct svc *svc, struct error **errp)
{
    const char *cfg = svc_config(svc)->worker;
    char self[PATH_MAX];
    ssize_t n;
    char *dir, *p;

    if (cfg && *cfg) {
        return xstrdup(cfg);
    }
#ifdef VMSNAP_LIBEXECDIR
    if (access(VMSNAP_LIBEXECDIR "/vmsnap-worker", X_OK) == 0) {
        return xstrdup(VMSNAP_LIBEXECDIR "/vmsnap-worker");
    }
#endif
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        dir = dirname(self);
        p = xasprintf("%s/vmsnap-worker", dir);
        if (access(p, X_OK) == 0) {
            return p;
        }
        free(p);
        p = xasprintf("%s/../worker/vmsnap-worker", dir);
        if (access(p, X_OK) == 0) {
            return p;
        }
        free(p);
    }
    error_setg(errp, ERR_INVALID,
               "cannot find vmsnap-worker: set worker.program");
    return NULL;
}

/* In the grandchild: become the worker. */
static void __attribute__((noreturn))
task_exec_worker(struct svc *svc, const char *prog, const char *id)
{
    const struct config *cfg = svc_config(svc);
    CLEANUP_FREE char *log = NULL;
    CLEANUP_FREE char *name = xasprintf("task-%s.log", id);
    const char *argv[8];
    size_t i = 0;
    int fd;

    setsid();
    log = datadir_log_file(svc_dir(svc), name);
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    argv[i++] = prog;
    argv[i++] = "--data-dir";
    argv[i++] = svc_dir(svc);
    if (cfg->file) {
        argv[i++] = "--config";
        argv[i++] = cfg->file;
    }
    argv[i++] = id;
    argv[i] = NULL;
    execv(prog, (char *const *)argv);
    fprintf(stderr, "vmsnap: cannot run %s: %s\n", prog, strerror(errno));
    _exit(127);
}

int
task_spawn_kinds(struct svc *svc, const struct task_kind *const *kinds,
                 const char *id, struct error **errp)
{
    CLEANUP_FREE char *prog = task_worker_program(svc, errp);
    pid_t pid;
    int status;

    if (prog == NULL) {
        task_abandon(svc, kinds, id, "no worker program");
        return -1;
    }
    fflush(NULL);
    /* Fork twice, so that the worker is nobody's child here: neither a
     * zombie of a daemon nor killed with a command's process group.
     */
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, ERR_IO, errno, "fork");
        task_abandon(svc, kinds, id, "the worker could not be started");
        return -1;
    }
    if (pid == 0) {
        pid_t grandchild = fork();

        if (grandchild == 0) {
            task_exec_worker(svc, prog, id);
        }
        _exit(grandchild < 0 ? 1 : 0);
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        error_setg(errp, ERR_IO, "cannot start the worker");
        task_abandon(svc, kinds, id, "the worker could not be started");
        return -1;
    }
    if (task_wait(svc, id, NULL, TASK_CLAIM_TIMEOUT_MS, errp) < 0) {
        /* A worker that claims it after all finds it failed. */
        task_abandon(svc, kinds, id, "the worker did not start");
        error_prepend(errp, "the worker did not take task %s: ", id);
        return -1;
    }
    return 0;
}

int
task_spawn(struct svc *svc, const char *id, struct error **errp)
{
    return task_spawn_kinds(svc, NULL, id, errp);
}

int
task_wait(struct svc *svc, const char *id, const char *phase, int timeout_ms,
          struct error **errp)
{
    int64_t deadline = sock_deadline(timeout_ms);

    for (;;) {
        struct task *t = NULL;
        bool done;

        if (catalog_task_get(svc_catalog(svc), id, &t, errp) < 0) {
            return -1;
        }
        /* No PHASE: waiting for the task to be taken at all. */
        done = strcmp(t->state, "succeeded") == 0 ||
               strcmp(t->state, "failed") == 0 ||
               (phase == NULL && strcmp(t->state, "queued") != 0) ||
               (phase && t->phase && strcmp(t->phase, phase) == 0);
        task_free(t);
        if (done) {
            return 0;
        }
        if (sock_remaining_ms(deadline) == 0) {
            error_setg(errp, ERR_TIMEOUT, "task %s: timed out waiting", id);
            return -1;
        }
        sock_sleep_ms(50, deadline);
    }
}

int
task_find(struct svc *svc, const struct caller *who, const char *id,
          struct task **out, struct error **errp)
{
    struct task *t = NULL;

    if (!util_is_uuid(id)) {
        error_setg(errp, ERR_NOT_FOUND, "no task with ID '%s'", id);
        return -1;
    }
    if (catalog_task_get(svc_catalog(svc), id, &t, errp) < 0) {
        return -1;
    }
    if (!svc_may_see(who, t->project_id)) {
        task_free(t);
        error_setg(errp, ERR_NOT_FOUND, "no task with ID '%s'", id);
        return -1;
    }
    *out = t;
    return 0;
}

int
task_list(struct svc *svc, const struct caller *who, const char *target_id,
          struct task ***out, size_t *n, struct error **errp)
{
    struct task_filter f = {.target_id = target_id};
    struct task **list = NULL;
    size_t i, j = 0, total = 0;

    if (catalog_task_list(svc_catalog(svc), &f, &list, &total, errp) < 0) {
        return -1;
    }
    for (i = 0; i < total; i++) {
        if (svc_may_see(who, list[i]->project_id)) {
            list[j++] = list[i];
        } else {
            task_free(list[i]);
        }
    }
    *out = list;
    *n = j;
    return 0;
}

/* Is a task queued or running whose IMAGE_ID (or TARGET_ID) is ID? */
static bool
task_pending_for(struct svc *svc, const char *id, bool image)
{
    static const char *const states[] = {"queued", "running"};
    bool found = false;
    size_t s, i;

    for (s = 0; s < 2 && !found; s++) {
        struct task_filter f = {.state = states[s]};
        struct task **list = NULL;
        size_t n = 0;

        if (catalog_task_list(svc_catalog(svc), &f, &list, &n, NULL) < 0) {
            return true;        /* when in doubt, leave it alone */
        }
        for (i = 0; i < n && !found; i++) {
            const char *v = image ? list[i]->image_id : list[i]->target_id;

            found = v && strcmp(v, id) == 0;
        }
        task_list_free(list, n);
    }
    return found;
}

bool
task_pending_for_image(struct svc *svc, const char *image_id)
{
    return task_pending_for(svc, image_id, true);
}

bool
task_pending_for_target(struct svc *svc, const char *target_id)
{
    return task_pending_for(svc, target_id, false);
}

bool
task_image_progress(struct svc *svc, const char *image_id, double *percent)
{
    static const char *const states[] = {"running", "queued"};
    bool found = false;
    size_t s, i;

    for (s = 0; s < 2 && !found; s++) {
        struct task_filter f = {.state = states[s]};
        struct task **list = NULL;
        size_t n = 0;

        if (catalog_task_list(svc_catalog(svc), &f, &list, &n, NULL) < 0) {
            return false;
        }
        for (i = 0; i < n && !found; i++) {
            if (list[i]->image_id && strcmp(list[i]->image_id, image_id) == 0) {
                *percent = list[i]->progress;
                found = true;
            }
        }
        task_list_free(list, n);
    }
    return found;
}

bool
task_images_progress(struct svc *svc, struct task_progress **out, size_t *n)
{
    static const char *const states[] = {"running", "queued"};
    struct task_progress *p = NULL;
    size_t s, i, count = 0;

    *out = NULL;
    *n = 0;
    for (s = 0; s < 2; s++) {
        struct task_filter f = {.state = states[s]};
        struct task **list = NULL;
        size_t nl = 0;
        double pct;

        if (catalog_task_list(svc_catalog(svc), &f, &list, &nl, NULL) < 0) {
            task_progress_free(p, count);
            return false;
        }
        for (i = 0; i < nl; i++) {
            if (list[i]->image_id == NULL ||
                task_progress_find(p, count, list[i]->image_id, &pct)) {
                continue;       /* none, or a running one came first */
            }
            p = xreallocarray(p, count + 1, sizeof(*p));
            p[count].image_id = xstrdup(list[i]->image_id);
            p[count].percent = list[i]->progress;
            count++;
        }
        task_list_free(list, nl);
    }
    *out = p;
    *n = count;
    return true;
}

bool
task_progress_find(const struct task_progress *p, size_t n,
                   const char *image_id, double *percent)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(p[i].image_id, image_id) == 0) {
            *percent = p[i].percent;
            return true;
        }
    }
    return false;
}

void
task_progress_free(struct task_progress *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(p[i].image_id);
    }
    free(p);
}

/* Did the process that queued T die?  Known only for one of this host:
 * a pid reused since makes it look alive, and then T waits out
 * TASK_LOST_QUEUED_S as one of another host does.
 */
static bool
task_creator_dead(struct svc *svc, const struct task *t)
{
    size_t n = strlen(svc_host(svc));
    char *end;
    long pid;

    if (t->owner == NULL || strncmp(t->owner, svc_host(svc), n) != 0 ||
        t->owner[n] != ':') {
        return false;
    }
    errno = 0;
    pid = strtol(t->owner + n + 1, &end, 10);
    if (errno || *end != '\0' || pid <= 0 || pid > INT32_MAX) {
        return false;
    }
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Is T (queued) older than TASK_LOST_QUEUED_S? */
static bool
task_long_queued(const struct task *t)
{
    char limit[UTIL_TIME_LEN];
    struct tm tm;
    time_t now = time(NULL) - TASK_LOST_QUEUED_S;

    gmtime_r(&now, &tm);
    strftime(limit, sizeof(limit), "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
    return t->created_at && strcmp(t->created_at, limit) < 0;
}

void
task_recover(struct svc *svc, const struct task_kind *const *kinds)
{
    struct catalog *cat = svc_catalog(svc);
    static const char *const states[] = {"running", "queued"};
    size_t s, i;

    for (s = 0; s < 2; s++) {
        struct task_filter f = {.state = states[s]};
        struct task **list = NULL;
        size_t n = 0;

        if (catalog_task_list(cat, &f, &list, &n, NULL) < 0) {
            continue;
        }
        for (i = 0; i < n; i++) {
            struct task *t = list[i];
            const struct task_kind *kind = task_kind_named(kinds, t->kind);
            struct lock *lk = NULL;

            if ((s == 1 && !task_long_queued(t) &&
                 !task_creator_dead(svc, t)) ||
                svc_lock(svc, "task", t->id, false, &lk, NULL) < 0) {
                continue;       /* someone runs it, or may soon */
            }
            log_warnx("task %s (%s of %s %s) was left %s by a process that "
                      "died: cleaning up",
                      t->id, t->kind, t->target_kind ? t->target_kind : "",
                      t->target_id ? t->target_id : "", t->state);
            if (kind && kind->recover) {
                kind->recover(svc, t);
            }
            {
                struct task_result dead = {"failed", NULL,
                                           "the process running it died",
                                           "generic"};

                catalog_task_finish(cat, t->id, &dead, NULL);
            }
            lock_release(lk);
        }
        task_list_free(list, n);
    }
}
