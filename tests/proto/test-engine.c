/* vmsnap tests: the snapshot engine against the fake hypervisor driver
 * (hv-fake.h), with the real catalog (SQLite), the real file store and
 * the real qemu-img: every failure path of a snapshot, and recovery from
 * a worker that died, without QEMU.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "hv-fake.h"
#include "images.h"
#include "props.h"
#include "recover.h"
#include "run.h"
#include "qemuimg.h"
#include "servers.h"
#include "backup.h"
#include "snapshot.h"
#include "store.h"
#include "svc.h"
#include "tap.h"
#include "runner.h"
#include "task.h"
#include "xalloc.h"

static char data_dir[] = "/tmp/vmsnap-engine.XXXXXX";
static struct config *cfg;
static struct svc *svc;

/* Open the context on the fake driver, then recover as a front end
 * does.
 */
static void
open_svc(void)
{
    struct error *err = NULL;

    svc = svc_open(cfg, &err);
    if (svc == NULL) {
        fprintf(stderr, "svc_open: %s\n", error_msg(err));
        exit(1);
    }
    svc_use_hv(svc, hv_open_ops(fake_hv_ops(), cfg, NULL));
    recover_all(svc);
}

/* Entries in DIR (relative to the data directory) but "." and "..". */
static int
count_files(const char *dir)
{
    CLEANUP_FREE char *path = xasprintf("%s/%s", data_dir, dir);
    struct dirent *e;
    DIR *d = opendir(path);
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static int
count_images(void)
{
    struct image **list = NULL;
    size_t n = 0;

    if (images_list(svc, svc_local_caller(svc), NULL, &list, &n, NULL) < 0) {
        return -1;
    }
    image_list_free(list, n);
    return (int)n;
}

/* The server "vm": its task state, or "" when idle. */
static char *
server_task(void)
{
    struct instance *inst = NULL;
    char *t;

    if (servers_find(svc, svc_local_caller(svc), "vm", &inst, NULL) < 0) {
        return xstrdup("?");
    }
    t = xstrdup(inst->task_state ? inst->task_state : "");
    instance_free(inst);
    return t;
}

/* Ask for snapshot NAME of "vm" and run it here (or BACKGROUND as a
 * worker would).  Returns the task's outcome; *TASK_ID gets its ID.
 */
static int
snapshot(const char *name, bool background, char task_id[UTIL_UUID_LEN],
         struct error **errp)
{
    struct snapshot_opts so = {.name = name};
    struct image *img = NULL;
    struct task *t = NULL;
    int r;

    if (snapshot_request(svc, svc_local_caller(svc), "vm", &so, &img, &t,
                         errp) < 0) {
        return -1;
    }
    snprintf(task_id, UTIL_UUID_LEN, "%s", t->id);
    r = runner_run(svc, t->id, background ? TASK_BACKGROUND : 0, NULL, errp);
    image_free(img);
    task_free(t);
    return r;
}

static void
test_success(void)
{
    char tid[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct image *img = NULL;
    CLEANUP_FREE char *task = NULL;
    int n0 = count_images();

    ok(snapshot("snap-ok", false, tid, &err) == 0, "a live snapshot works%s%s",
       err ? ": " : "", err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    ok(images_find(svc, svc_local_caller(svc), "snap-ok", &img, &err) == 0 &&
           strcmp(img->status, "active") == 0,
       "the image is active");
    ok(img && image_prop(img, PROP_VMSNAP_QUIESCED) &&
           strcmp(image_prop(img, PROP_VMSNAP_QUIESCED), "yes") == 0,
       "it was quiesced");
    ok(img && image_prop(img, PROP_VMSNAP_MODE) &&
           strcmp(image_prop(img, PROP_VMSNAP_MODE), "live") == 0,
       "it was live");
    ok(fake_hv.freezes == 1 && fake_hv.thaws == 1 && !fake_hv.frozen,
       "frozen once, thawed once (%d, %d)", fake_hv.freezes, fake_hv.thaws);
    ok(fake_hv.backups_open == 0, "no backup left open");
    task = server_task();
    ok(strcmp(task, "") == 0, "the server is idle again");
    ok(count_images() == n0 + 1, "one image more");
    image_free(img);
    error_free(err);
}

/* A failure at WHERE leaves nothing: no image, no data, the guest thawed,
 * the server idle, the task failed with the reason.
 */
static void
test_failure(enum fake_fail where, const char *what)
{
    char tid[UTIL_UUID_LEN], name[64];
    struct error *err = NULL;
    struct task *t = NULL;
    CLEANUP_FREE char *task = NULL;
    int n0 = count_images(), f0 = count_files("images");

    snprintf(name, sizeof(name), "snap-%s", what);
    fake_hv.fail = where;
    ok(snapshot(name, false, tid, &err) < 0, "%s: the snapshot fails", what);
    fake_hv.fail = FAKE_NONE;
    diag("%s: %s", what, err ? error_msg(err) : "(no error)");
    error_free(err);
    err = NULL;
    ok(count_images() == n0, "%s: no image stays", what);
    ok(count_files("images") == f0, "%s: no data stays", what);
    ok(!fake_hv.frozen, "%s: the guest is thawed", what);
    ok(fake_hv.backups_open == 0, "%s: no backup left open", what);
    task = server_task();
    ok(strcmp(task, "") == 0, "%s: the server is idle again", what);
    ok(task_find(svc, svc_local_caller(svc), tid, &t, &err) == 0 &&
           strcmp(t->state, "failed") == 0 && t->error && *t->error,
       "%s: the task failed with its reason", what);
    task_free(t);
    error_free(err);
}

/* In the background, nobody hears the error: the image stays killed with
 * the reason.
 */
static void
test_background_failure(void)
{
    char tid[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct image *img = NULL;

    fake_hv.fail = FAKE_WAIT;
    ok(snapshot("snap-bg", true, tid, &err) < 0,
       "a background copy that fails fails its task");
    fake_hv.fail = FAKE_NONE;
    error_free(err);
    err = NULL;
    ok(images_find(svc, svc_local_caller(svc), "snap-bg", &img, &err) == 0 &&
           strcmp(img->status, "killed") == 0 && img->fail_reason &&
           strstr(img->fail_reason, "copy"),
       "its image stays killed with the reason (%s)",
       img && img->fail_reason ? img->fail_reason : "none");
    ok(img && img->location == NULL && count_files("images") >= 0,
       "the killed image has no data");
    image_free(img);
    error_free(err);
}

/* Quiesce: without os_require_quiesce an agent that cannot freeze makes a
 * crash-consistent snapshot with a warning; with it, no snapshot.
 */
static void
test_quiesce(void)
{
    struct prop set = {(char *)"os_require_quiesce", (char *)"yes"};
    struct images_change ch = {.min_ram = -1, .min_disk = -1, .set = &set,
                               .nset = 1};
    char tid[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct image *img = NULL;
    struct task *t = NULL;
    int n0;

    fake_hv.fail = FAKE_AGENT_FREEZE;
    ok(snapshot("snap-cc", false, tid, &err) == 0,
       "an agent that cannot freeze: crash-consistent");
    error_free(err);
    err = NULL;
    ok(images_find(svc, svc_local_caller(svc), "snap-cc", &img, NULL) == 0 &&
           strcmp(image_prop(img, PROP_VMSNAP_QUIESCED), "no") == 0,
       "recorded as not quiesced");
    ok(task_find(svc, svc_local_caller(svc), tid, &t, NULL) == 0 &&
           t->warnings && strstr(t->warnings, "crash-consistent"),
       "the task carries the warning (%s)",
       t && t->warnings ? t->warnings : "none");
    image_free(img);
    task_free(t);
    ok(images_change(svc, svc_local_caller(svc), "base", &ch, NULL, &err) ==
           0,
       "os_require_quiesce=yes set on the base image");
    error_free(err);
    err = NULL;
    n0 = count_images();
    ok(snapshot("snap-must", false, tid, &err) < 0 && err &&
           strstr(error_msg(err), "os_require_quiesce"),
       "then the snapshot fails and says why");
    error_free(err);
    err = NULL;
    ok(count_images() == n0, "and leaves no image");
    fake_hv.fail = FAKE_NONE;
    {
        const char *keys[] = {"os_require_quiesce"};
        struct images_change un = {.min_ram = -1, .min_disk = -1,
                                   .unset = keys, .nunset = 1};

        images_change(svc, svc_local_caller(svc), "base", &un, NULL, NULL);
    }
}

/* Queue a task of no known kind, its creator OWNER; its ID into ID. */
static void
queue_task(const char *owner, char *id)
{
    struct task t = {.kind = (char *)"noop", .owner = (char *)owner};

    util_uuid_new(t.id);
    snprintf(id, UTIL_UUID_LEN, "%s", t.id);
    if (catalog_task_insert(svc_catalog(svc), &t, NULL) < 0) {
        *id = '\0';
    }
}

static const char *
task_state_of(const char *id)
{
    static char state[16];
    struct task *t = NULL;

    snprintf(state, sizeof(state), "%s", "none");
    if (catalog_task_get(svc_catalog(svc), id, &t, NULL) == 0) {
        snprintf(state, sizeof(state), "%s", t->state);
        task_free(t);
    }
    return state;
}

/* A task still queued is lost at once when the process that queued it
 * on this host is dead; else it has two minutes to be claimed.
 */
static void
test_queued_recovery(void)
{
    char dead[UTIL_UUID_LEN], alive[UTIL_UUID_LEN], other[UTIL_UUID_LEN];
    CLEANUP_FREE char *o1 = NULL;
    CLEANUP_FREE char *o2 = NULL;
    CLEANUP_FREE char *o3 = NULL;
    pid_t pid = fork();

    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, NULL, 0);      /* a pid now dead */
    o1 = xasprintf("%s:%d", svc_host(svc), (int)pid);
    o2 = xasprintf("%s:%d", svc_host(svc), (int)getpid());
    o3 = xasprintf("%s-elsewhere:%d", svc_host(svc), (int)pid);
    queue_task(o1, dead);
    queue_task(o2, alive);
    queue_task(o3, other);
    task_recover(svc, runner_kinds);
    ok(*dead && strcmp(task_state_of(dead), "failed") == 0,
       "a task queued by a process of this host that died is lost at once");
    ok(*alive && strcmp(task_state_of(alive), "queued") == 0,
       "one whose creator lives stays queued");
    ok(*other && strcmp(task_state_of(other), "queued") == 0,
       "one queued on another host waits out its grace");
    catalog_task_delete(svc_catalog(svc), alive, NULL);
    catalog_task_delete(svc_catalog(svc), other, NULL);
}

/* An image reserved for data to come (Glance's POST /v2/images) rests in
 * queued, with no lock and no task: recovery leaves it, and an upload
 * then fills it.
 */
static void
test_reserved_recovery(void)
{
    struct images_new spec = {.name = "reserved", .disk_format = "raw",
                              .container_format = "bare"};
    struct image *img = NULL, *now = NULL;
    struct error *err = NULL;

    ok(images_reserve(svc, svc_local_caller(svc), &spec, &img, &err) == 0 &&
           strcmp(img->status, "queued") == 0,
       "an image reserved for its data is queued");
    if (err) {
        diag("%s", error_msg(err));
        error_free(err);
        err = NULL;
    }
    recover_all(svc);
    if (img) {
        images_find(svc, svc_local_caller(svc), img->id, &now, &err);
    }
    ok(now && strcmp(now->status, "queued") == 0,
       "recovery leaves it queued: nobody died making it (%s)",
       now ? now->status : "gone");
    if (err) {
        diag("%s", error_msg(err));
        error_free(err);
    }
    if (img) {
        images_delete(svc, svc_local_caller(svc), img->id, NULL);
    }
    image_free(now);
    image_free(img);
}

/* A task whose runner cannot take its lock (here its lock file's name is
 * a directory: an I/O error, not another runner) fails at once, and its
 * recovery undoes what was queued for it: the command returns leaving no
 * queued image, only a killed one that says why.
 */
static void
test_lock_failure(void)
{
    struct snapshot_opts so = {.name = "snap-nolock"};
    struct image *img = NULL;
    struct task *t = NULL;
    struct error *err = NULL;
    CLEANUP_FREE char *lockdir = NULL;
    CLEANUP_FREE char *task = NULL;
    int n0 = count_images();
    int r = -1;

    if (snapshot_request(svc, svc_local_caller(svc), "vm", &so, &img, &t,
                         &err) == 0) {
        lockdir = xasprintf("%s/locks/task-%s.lock", data_dir, t->id);
        mkdir(lockdir, 0700);
        r = runner_run(svc, t->id, 0, NULL, &err);
    }
    ok(r < 0 && err && error_get_class(err) == ERR_IO,
       "the task's lock cannot be made: an I/O error (%s)",
       err ? error_msg(err) : "none");
    ok(t && strcmp(task_state_of(t->id), "failed") == 0,
       "the task is failed, not left queued");
    image_free(img);
    img = NULL;
    if (t) {
        images_find(svc, svc_local_caller(svc), t->image_id, &img, NULL);
    }
    ok(img && strcmp(img->status, "killed") == 0 && img->fail_reason &&
           strstr(img->fail_reason, "Is a directory"),
       "its image is killed, with the reason (%s)",
       img && img->fail_reason ? img->fail_reason : "none");
    ok(count_images() == n0 + 1, "no other image");
    task = server_task();
    ok(strcmp(task, "") == 0, "the server is idle");
    if (lockdir) {
        rmdir(lockdir);
    }
    error_free(err);
    image_free(img);
    task_free(t);
}

/* A set whose disks share one checkpoint: one full disk makes all full. */
static void
test_one_chain(void)
{
    struct store_plan p[3];
    size_t i;

    memset(p, 0, sizeof(p));
    for (i = 0; i < 3; i++) {
        p[i].parent_id = xstrdup("parent");
        p[i].parent_index = xstrdup("parent.0");
        p[i].since = xstrdup("vmsnap-parent");
    }
    store_plans_one_chain(p, 3);
    ok(p[0].full_reason == NULL && p[1].full_reason == NULL &&
           p[2].parent_index != NULL,
       "a set all incremental stays so");
    free(p[1].parent_id);
    free(p[1].parent_index);
    free(p[1].since);
    p[1].parent_id = p[1].parent_index = p[1].since = NULL;
    p[1].full_reason = xstrdup("disk x is raw");
    store_plans_one_chain(p, 3);
    ok(p[0].full_reason && p[2].full_reason &&
           strstr(p[0].full_reason, "disk 1 is backed up whole (disk x is "
                                    "raw)") &&
           p[0].parent_index == NULL && p[0].since == NULL &&
           p[2].parent_id == NULL && strcmp(p[1].full_reason,
                                            "disk x is raw") == 0,
       "one full disk makes the others full, each saying why (%s)",
       p[0].full_reason ? p[0].full_reason : "none");
    for (i = 0; i < 3; i++) {
        store_plan_clear(&p[i]);
    }
}

/* A worker that died mid-snapshot: the next context recovers. */
static void
test_recovery(void)
{
    struct snapshot_opts so = {.name = "snap-dead"};
    struct image *img = NULL, *now = NULL;
    struct task *t = NULL, *after = NULL;
    struct error *err = NULL;
    CLEANUP_FREE char *task = NULL;

    ok(snapshot_request(svc, svc_local_caller(svc), "vm", &so, &img, &t,
                        &err) == 0,
       "a snapshot is asked for");
    error_free(err);
    err = NULL;
    /* Its worker claims it and dies: the task is running, its lock
     * free.
     */
    ok(catalog_task_claim(svc_catalog(svc), t->id, "elsewhere:1", &err) == 0,
       "a worker took it");
    error_free(err);
    err = NULL;
    svc_close(svc);
    open_svc();
    ok(task_find(svc, svc_local_caller(svc), t->id, &after, NULL) == 0 &&
           strcmp(after->state, "failed") == 0,
       "recovery marks the task failed");
    ok(images_find(svc, svc_local_caller(svc), img->id, &now, NULL) == 0 &&
           strcmp(now->status, "killed") == 0,
       "and its image killed");
    task = server_task();
    ok(strcmp(task, "") == 0, "and the server idle");
    ok(fake_hv.reaps > 0, "the driver was asked to remove leftovers");
    image_free(img);
    image_free(now);
    task_free(t);
    task_free(after);
}

/* Backups into the chunk store on a driver that keeps no dirty bitmaps:
 * --incremental is never an error, each backup is full and says why;
 * the backup restores to the disk; a raw disk is planned full too.
 */
static void
test_store(void)
{
    struct snapshot_opts so = {.name = "inc1", .incremental = true};
    struct image *img = NULL, *got = NULL;
    struct task *t = NULL;
    struct error *err = NULL;
    CLEANUP_FREE char *path = NULL;
    const char *reason;
    int r;

    r = backup_request(svc, svc_local_caller(svc), "vm", &so, "daily", 3,
                       &img, &t, &err);
    r = r == 0 ? runner_run(svc, t->id, 0, NULL, &err) : -1;
    ok(r == 0, "an --incremental backup on the fake driver works%s%s",
       err ? ": " : "", err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    task_free(t);
    t = NULL;
    ok(img && images_find(svc, svc_local_caller(svc), img->id, &got,
                          NULL) == 0 &&
           strcmp(got->status, "active") == 0 && store_holds(got) &&
           got->location == NULL,
       "  it is active, in the store, with no file");
    reason = got ? image_prop(got, PROP_BACKUP_FULL_REASON) : NULL;
    ok(reason && strstr(reason, "first backup") &&
           strcmp(image_prop(got, PROP_BACKUP_MODE), "full") == 0,
       "  it is full and says why (%s)", reason ? reason : "none");
    {
        struct snapshot_opts so2 = {.name = "inc2", .incremental = true};
        struct image *img2 = NULL, *got2 = NULL;

        r = backup_request(svc, svc_local_caller(svc), "vm", &so2, "daily",
                           3, &img2, &t, &err);
        r = r == 0 ? runner_run(svc, t->id, 0, NULL, &err) : -1;
        task_free(t);
        t = NULL;
        reason = r == 0 && images_find(svc, svc_local_caller(svc), img2->id,
                                       &got2, NULL) == 0
                     ? image_prop(got2, PROP_BACKUP_FULL_REASON)
                     : NULL;
        ok(reason && strstr(reason, "keeps no dirty bitmaps"),
           "the next one is full too: the driver keeps no bitmaps (%s)",
           reason ? reason : err ? error_msg(err) : "none");
        error_free(err);
        err = NULL;
        image_free(got2);
        image_free(img2);
    }
    ok(got && images_local_path(svc, got, &path, &err) == 0,
       "  it is materialised on use%s%s", err ? ": " : "",
       err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    if (path) {
        struct servers_domain sd;
        struct instance *inst = NULL;
        const char *cmp[] = {"qemu-img", "compare", "-U", path, NULL, NULL};

        servers_find(svc, svc_local_caller(svc), "vm", &inst, NULL);
        if (inst && servers_domain(svc, inst, &sd, NULL) == 0) {
            cmp[4] = sd.d.disks[0].path;
            ok(run_check(cmp, 60000, NULL, NULL) == 0,
               "  and restores to the disk");
            servers_domain_clear(&sd);
        }
        instance_free(inst);
    }
    image_free(got);
    got = NULL;
    ok(images_find(svc, svc_local_caller(svc), img->id, &got, NULL) == 0 &&
           got->checksum && got->location,
       "  then it has a file and its checksum");
    image_free(got);
    got = NULL;

    /* A raw disk cannot keep a bitmap: a full, not an error. */
    {
        struct hv_disk raw = {.index = 0, .id = "raw-disk",
                              .format = "raw"};
        struct store_plan plan;
        struct instance *inst = NULL;
        CLEANUP_FREE char *file = xasprintf("%s/raw.img", data_dir);
        FILE *f = fopen(file, "w");

        if (f) {
            fclose(f);
        }
        raw.path = file;
        servers_find(svc, svc_local_caller(svc), "vm", &inst, NULL);
        ok(inst && store_plan_backup(svc, svc_hv(svc, NULL), NULL, &raw, 0,
                                     NULL, inst, img, &plan, &err) == 0 &&
               plan.full_reason && strstr(plan.full_reason, "raw") &&
               plan.bitmap_new == NULL && plan.parent_index == NULL,
           "a raw disk is planned as a full that says why (%s)",
           plan.full_reason ? plan.full_reason : "?");
        error_free(err);
        err = NULL;
        store_plan_clear(&plan);
        instance_free(inst);
    }
    ok(images_delete(svc, svc_local_caller(svc), img->id, NULL) == 0,
       "the backup is deleted with its index");
    image_free(img);
}

static int
make_base(void)
{
    CLEANUP_FREE char *file = xasprintf("%s.qcow2", data_dir);
    struct images_new spec = {.name = "base", .file = file,
                              .disk_format = "qcow2"};
    struct prop agent = {(char *)"hw_qemu_guest_agent", (char *)"yes"};
    struct servers_new vm = {.name = "vm", .image = "base", .accel = "tcg"};
    struct instance *inst = NULL;
    struct image *img = NULL;
    struct error *err = NULL;

    spec.props = &agent;
    spec.nprops = 1;
    if (qemuimg_create(file, "qcow2", 16 << 20, &err) < 0 ||
        images_create(svc, svc_local_caller(svc), &spec, NULL, &img, &err) <
            0 ||
        servers_create(svc, svc_local_caller(svc), &vm, &inst, &err) < 0) {
        fprintf(stderr, "setup: %s\n", error_msg(err));
        return -1;
    }
    unlink(file);
    image_free(img);
    instance_free(inst);
    return 0;
}

int
main(void)
{
    struct error *err = NULL;

    if (mkdtemp(data_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    cfg = config_load("/dev/null", &err);
    if (cfg == NULL || config_set(cfg, "data_dir", data_dir, &err) < 0) {
        fprintf(stderr, "config: %s\n", error_msg(err));
        return 1;
    }
    open_svc();
    ok(make_base() == 0, "an image and a server on the fake driver");
    test_success();
    test_failure(FAKE_PREPARE, "prepare");
    test_failure(FAKE_FIX, "fix");
    test_failure(FAKE_WAIT, "copy");
    test_failure(FAKE_FINISH, "finish");
    test_background_failure();
    test_quiesce();
    test_recovery();
    test_queued_recovery();
    test_reserved_recovery();
    test_lock_failure();
    test_one_chain();
    test_store();
    svc_close(svc);
    config_free(cfg);
    {
        const char *argv[] = {"rm", "-rf", "--", data_dir, NULL};

        run_check(argv, 60000, NULL, NULL);
    }
    return tap_done();
}
