/* vmsnap: checking a data directory and its catalog (see verify.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chunk.h"
#include "cleanup.h"
#include "datadir.h"
#include "hash.h"
#include "images.h"
#include "log.h"
#include "props.h"
#include "qemuimg.h"
#include "recover.h"
#include "run.h"
#include "servers.h"
#include "store.h"
#include "svc.h"
#include "util.h"
#include "verify.h"
#include "volumes.h"
#include "xalloc.h"
#include "xjson.h"

/* A tmp/ entry younger than this may be one its maker has not locked
 * yet (datadir_reap_tmp's grace).
 */
#define VERIFY_TMP_GRACE_S 60

/* A task queued for longer than this without being taken is lost (as
 * task_recover sees it).
 */
#define VERIFY_QUEUED_LOST_S 120

/* A worker whose task ended longer ago than this should have exited. */
#define VERIFY_WORKER_GRACE_S 30

/* How long to wait for a guest agent. */
#define VERIFY_AGENT_MS 3000

/* The checks of one pass. */
struct verify_pass {
    struct svc *svc;                /* the context */
    const struct verify_opts *opts; /* what to do */
    struct verify_report *r;        /* where findings go */
    struct chunk_store *cs;         /* the chunk store, once opened */
};

static void __attribute__((format(printf, 5, 6)))
verify_add(struct verify_pass *p, const char *check, bool repairable,
           const char *object, const char *fmt, ...)
{
    struct verify_report *r = p->r;
    struct verify_finding *f;
    va_list ap;

    r->findings = xrealloc(r->findings, (r->n + 1) * sizeof(*r->findings));
    f = &r->findings[r->n++];
    memset(f, 0, sizeof(*f));
    f->check = xstrdup(check);
    f->object = xstrdup(object);
    va_start(ap, fmt);
    f->problem = xvasprintf(fmt, ap);
    va_end(ap);
    f->repairable = repairable;
}

/* Is KIND/ID held by a live process?  An error counts as held: when in
 * doubt, nothing is called orphaned.
 */
static bool
verify_held(struct verify_pass *p, const char *kind, const char *id)
{
    return lock_held(svc_locks(p->svc), kind, id, NULL) != 0;
}

/* ISO 8601 time SECONDS ago, in the catalog's format. */
static void
verify_time_ago(int seconds, char out[UTIL_TIME_LEN])
{
    time_t t = time(NULL) - seconds;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, UTIL_TIME_LEN, "%Y-%m-%dT%H:%M:%S.000000Z", &tm);
}

/* ---- The catalog ------------------------------------------------------ */

static void
verify_catalog(struct verify_pass *p)
{
    struct error *err = NULL;

    if (catalog_check(svc_catalog(p->svc), &err) < 0) {
        verify_add(p, "catalog", false, "catalog", "%s", error_msg(err));
        error_free(err);
    }
}

/* ---- Records in a transitional state ---------------------------------- */

/* The tasks that a live process runs or is about to take: running with
 * their lock held, or queued recently.  Sets *STUCK for the others.
 */
static bool
verify_task_owned(struct verify_pass *p, const struct task *t)
{
    char limit[UTIL_TIME_LEN];

    if (strcmp(t->state, "running") == 0) {
        return verify_held(p, "task", t->id);
    }
    if (strcmp(t->state, "queued") == 0) {
        verify_time_ago(VERIFY_QUEUED_LOST_S, limit);
        return verify_held(p, "task", t->id) ||
               (t->created_at && strcmp(t->created_at, limit) >= 0);
    }
    return false;
}

/* Does a live task make image ID? */
static bool
verify_image_tasked(struct verify_pass *p, struct task **tasks, size_t n,
                    const char *id)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (tasks[i]->image_id && strcmp(tasks[i]->image_id, id) == 0 &&
            verify_task_owned(p, tasks[i])) {
            return true;
        }
    }
    return false;
}

static bool
verify_image_transitional(const char *status)
{
    static const char *const states[] = {"queued",    "saving",
                                         "importing", "uploading",
                                         "pending_delete", NULL};
    size_t i;

    for (i = 0; states[i]; i++) {
        if (strcmp(status, states[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void
verify_records_images(struct verify_pass *p, struct task **tasks,
                      size_t ntasks)
{
    struct image **list = NULL;
    size_t n = 0, i;

    if (catalog_image_list(svc_catalog(p->svc), NULL, &list, &n, NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        const struct image *img = list[i];
        CLEANUP_FREE char *obj = xasprintf("image %s", img->id);

        if (verify_image_transitional(img->status) &&
            !recover_image_at_rest(img) &&
            !verify_held(p, "image", img->id) &&
            !verify_image_tasked(p, tasks, ntasks, img->id)) {
            verify_add(p, "record", true, obj,
                       "left %s by a process that died", img->status);
        }
        if (strcmp(img->status, "killed") == 0 &&
            (img->fail_reason == NULL || *img->fail_reason == '\0')) {
            verify_add(p, "record", false, obj,
                       "killed, with no reason recorded");
        }
    }
    image_list_free(list, n);
}

static void
verify_records_volumes(struct verify_pass *p)
{
    struct catalog *cat = svc_catalog(p->svc);
    struct volume_snapshot **snaps = NULL;
    struct volume **vols = NULL;
    size_t n = 0, i;

    if (catalog_volume_list(cat, NULL, &vols, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            CLEANUP_FREE char *obj = xasprintf("volume %s", vols[i]->id);

            if ((strcmp(vols[i]->status, "creating") == 0 ||
                 strcmp(vols[i]->status, "deleting") == 0) &&
                !verify_held(p, "volume", vols[i]->id)) {
                verify_add(p, "record", true, obj,
                           "left %s by a process that died",
                           vols[i]->status);
            }
        }
        volume_list_free(vols, n);
    }
    n = 0;
    if (catalog_volume_snapshot_list_by(cat, NULL, &snaps, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            const struct volume_snapshot *vs = snaps[i];
            const char *owner =
                volume_snapshot_meta(vs, META_INSTANCE_SNAPSHOT_ID);
            CLEANUP_FREE char *obj = xasprintf("volume snapshot %s", vs->id);
            struct image *img = NULL;
            bool owned = false;

            if (strcmp(vs->status, "creating") != 0 &&
                strcmp(vs->status, "deleting") != 0) {
                continue;
            }
            /* Made or deleted with its image, under that image's lock;
             * or part of an image left half-made, which is the finding.
             */
            if (owner) {
                owned = verify_held(p, "image", owner);
                if (!owned &&
                    catalog_image_get(cat, owner, &img, NULL) == 0) {
                    owned = verify_image_transitional(img->status);
                    image_free(img);
                }
            }
            if (!owned) {
                verify_add(p, "record", true, obj,
                           "left %s by a process that died", vs->status);
            }
        }
        volume_snapshot_list_free(snaps, n);
    }
}

static void
verify_records(struct verify_pass *p)
{
    struct catalog *cat = svc_catalog(p->svc);
    struct instance **insts = NULL;
    struct task **tasks = NULL;
    size_t ntasks = 0, n = 0, i;

    if (catalog_task_list(cat, NULL, &tasks, &ntasks, NULL) < 0) {
        tasks = NULL;
        ntasks = 0;
    }
    for (i = 0; i < ntasks; i++) {
        CLEANUP_FREE char *obj = xasprintf("task %s", tasks[i]->id);

        if ((strcmp(tasks[i]->state, "running") == 0 ||
             strcmp(tasks[i]->state, "queued") == 0) &&
            !verify_task_owned(p, tasks[i])) {
            verify_add(p, "record", true, obj,
                       "%s (%s) left %s by a process that died",
                       tasks[i]->kind, tasks[i]->target_id
                                           ? tasks[i]->target_id
                                           : "",
                       tasks[i]->state);
        }
    }
    verify_records_images(p, tasks, ntasks);
    verify_records_volumes(p);
    if (catalog_instance_list(cat, &insts, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            CLEANUP_FREE char *obj = xasprintf("server %s", insts[i]->id);

            if (insts[i]->task_state &&
                !verify_held(p, "instance", insts[i]->id)) {
                verify_add(p, "record", true, obj,
                           "busy with '%s', which a process that died left",
                           insts[i]->task_state);
            }
        }
        instance_list_free(insts, n);
    }
    task_list_free(tasks, ntasks);
}

/* ---- Data -------------------------------------------------------------- */

/* Check the qcow2 file PATH: clean, and of virtual size VSIZE (< 0: not
 * recorded).  With SHARED, it may be in use (info only, -U).
 */
static void
verify_qcow2(struct verify_pass *p, const char *check, const char *obj,
             const char *path, const char *fmt, int64_t vsize, bool shared)
{
    struct qemuimg_info info = {0};
    struct error *err = NULL;

    if (qemuimg_info(path, fmt, &info, &err) < 0) {
        verify_add(p, check, false, obj, "%s", error_msg(err));
        error_free(err);
        return;
    }
    if (vsize >= 0 && info.virtual_size != vsize) {
        verify_add(p, check, false, obj,
                   "virtual size %lld, recorded %lld",
                   (long long)info.virtual_size, (long long)vsize);
    }
    if (!shared && strcmp(fmt, "raw") != 0 &&
        qemuimg_check(path, fmt, &err) < 0) {
        verify_add(p, check, false, obj, "%s", error_msg(err));
        error_free(err);
    }
    qemuimg_info_clear(&info);
}

/* A backup whose data is in the chunk store: its index is there as
 * recorded.  Its chunks are `vmsnap store verify`'s to read; making its
 * file here would fill the image store for a check.
 */
static void
verify_store_index(struct verify_pass *p, const char *check,
                   const char *obj, const char *index, const char *csum)
{
    struct error *err = NULL;

    if (index == NULL) {
        verify_add(p, check, false, obj, "held in the chunk store, but "
                   "records no index");
    } else if (store_check_index(p->svc, &p->cs, index, csum, &err) < 0) {
        verify_add(p, check, false, obj, "%s", error_msg(err));
        error_free(err);
    }
}

static void
verify_image_data(struct verify_pass *p, const struct image *img)
{
    char md5[HASH_MD5_HEX_LEN], sha512[HASH_SHA512_HEX_LEN];
    CLEANUP_FREE char *obj = xasprintf("image %s", img->id);
    CLEANUP_FREE char *path = NULL;
    struct error *err = NULL;
    struct stat st;

    if (img->location == NULL && store_holds(img)) {
        verify_store_index(p, "image data", obj,
                           image_prop(img, PROP_BACKUP_INDEX),
                           image_prop(img, PROP_BACKUP_INDEX_CSUM));
        return;
    }
    if (images_local_path(p->svc, img, &path, &err) < 0) {
        verify_add(p, "image data", false, obj, "%s", error_msg(err));
        error_free(err);
        return;
    }
    if (stat(path, &st) < 0) {
        verify_add(p, "image data", false, obj, "%s: %s", path,
                   strerror(errno));
        return;
    }
    if (img->size >= 0 && st.st_size != img->size) {
        verify_add(p, "image data", false, obj, "%lld bytes, recorded %lld",
                   (long long)st.st_size, (long long)img->size);
        return;
    }
    if (hash_file(path, md5, sha512, NULL, NULL, &err) < 0) {
        verify_add(p, "image data", false, obj, "%s", error_msg(err));
        error_free(err);
        return;
    }
    if (img->checksum == NULL || strcmp(img->checksum, md5) != 0) {
        verify_add(p, "image data", false, obj,
                   "MD5 %s, recorded %s", md5,
                   img->checksum ? img->checksum : "none");
    }
    if (img->os_hash_algo && strcmp(img->os_hash_algo, "sha512") == 0 &&
        (img->os_hash_value == NULL ||
         strcmp(img->os_hash_value, sha512) != 0)) {
        verify_add(p, "image data", false, obj,
                   "SHA-512 differs from the recorded one");
    }
    if (images_is_disk(img->disk_format)) {
        verify_qcow2(p, "image data", obj, path, img->disk_format,
                     img->virtual_size, false);
    }
}

static void
verify_data(struct verify_pass *p)
{
    struct catalog *cat = svc_catalog(p->svc);
    struct image_filter f = {.status = "active"};
    struct volume_snapshot **snaps = NULL;
    struct volume **vols = NULL;
    struct image **imgs = NULL;
    size_t n = 0, i;

    if (catalog_image_list(cat, &f, &imgs, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            p->r->images++;
            if (!p->opts->skip_data) {
                verify_image_data(p, imgs[i]);
            }
        }
        image_list_free(imgs, n);
    }
    n = 0;
    if (catalog_volume_list(cat, NULL, &vols, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            CLEANUP_FREE char *obj = xasprintf("volume %s", vols[i]->id);
            CLEANUP_FREE char *path =
                datadir_volume_file(svc_dir(p->svc), vols[i]->id);
            bool in_use = strcmp(vols[i]->status, "in-use") == 0;

            if (!in_use && strcmp(vols[i]->status, "available") != 0) {
                continue;
            }
            p->r->volumes++;
            if (access(path, F_OK) < 0) {
                verify_add(p, "volume data", false, obj, "%s: %s", path,
                           strerror(errno));
            } else if (!p->opts->skip_data) {
                verify_qcow2(p, "volume data", obj, path, "qcow2", -1,
                             in_use);
            }
        }
        volume_list_free(vols, n);
    }
    n = 0;
    if (catalog_volume_snapshot_list_by(cat, NULL, &snaps, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            CLEANUP_FREE char *obj =
                xasprintf("volume snapshot %s", snaps[i]->id);
            CLEANUP_FREE char *path = NULL;
            struct error *err = NULL;

            if (strcmp(snaps[i]->status, "available") != 0) {
                continue;
            }
            p->r->volume_snapshots++;
            if (snaps[i]->location == NULL &&
                store_holds_volume_snapshot(snaps[i])) {
                verify_store_index(
                    p, "volume snapshot data", obj,
                    volume_snapshot_meta(snaps[i], PROP_BACKUP_INDEX),
                    volume_snapshot_meta(snaps[i], PROP_BACKUP_INDEX_CSUM));
            } else if (volumes_snapshot_path(p->svc, snaps[i], &path, &err) <
                       0) {
                verify_add(p, "volume snapshot data", false, obj, "%s",
                           error_msg(err));
                error_free(err);
            } else if (access(path, F_OK) < 0) {
                verify_add(p, "volume snapshot data", false, obj, "%s: %s",
                           path, strerror(errno));
            } else if (!p->opts->skip_data) {
                verify_qcow2(p, "volume snapshot data", obj, path, "qcow2",
                             -1, false);
            }
        }
        volume_snapshot_list_free(snaps, n);
    }
}

/* ---- Files without a record ------------------------------------------- */

/* The ID a file or object name starts with ("<uuid>.qcow2"), into ID;
 * false when NAME does not start with one.
 */
static bool
verify_name_id(const char *name, char id[UTIL_UUID_LEN])
{
    size_t n = strcspn(name, ".");

    if (n != UTIL_UUID_LEN - 1) {
        return false;
    }
    memcpy(id, name, n);
    id[n] = '\0';
    return util_is_uuid(id);
}

/* Context of verify_object. */
struct verify_objects {
    struct verify_pass *p;  /* the pass */
    bool images;            /* listing images/, else volume-snapshots/ */
};

/* Is the object at LOCATION claimed by a record or a live lock? */
static bool
verify_object(const char *location, void *opaque)
{
    struct verify_objects *vo = opaque;
    struct verify_pass *p = vo->p;
    struct catalog *cat = svc_catalog(p->svc);
    const char *key = strchr(location, ':');
    const char *name;
    char id[UTIL_UUID_LEN];
    bool claimed;

    key = key ? key + 1 : location;
    name = strrchr(key, '/');
    name = name ? name + 1 : key;
    if (!verify_name_id(name, id)) {
        verify_add(p, "orphan", false, key, "not a name vmsnap makes");
        return true;
    }
    if (vo->images) {
        struct image *img = NULL;

        claimed = catalog_image_get(cat, id, &img, NULL) == 0 ||
                  verify_held(p, "image", id);
        image_free(img);
    } else {
        struct volume_snapshot *vs = NULL;

        /* A volume snapshot's record exists before its data. */
        claimed = catalog_volume_snapshot_get(cat, id, &vs, NULL) == 0;
        volume_snapshot_free(vs);
    }
    if (!claimed) {
        verify_add(p, "orphan", true, key, "no record or live lock claims it");
    }
    return true;
}

/* The entries of DIR (under the data directory) that no record of KIND
 * (a volume, a server) or live lock claims.
 */
static void
verify_dir(struct verify_pass *p, const char *sub, const char *kind)
{
    CLEANUP_FREE char *dir = xasprintf("%s/%s", svc_dir(p->svc), sub);
    struct catalog *cat = svc_catalog(p->svc);
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *obj = NULL;
        char id[UTIL_UUID_LEN];
        bool claimed;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        obj = xasprintf("%s/%s", sub, e->d_name);
        if (!verify_name_id(e->d_name, id)) {
            verify_add(p, "orphan", false, obj, "not a name vmsnap makes");
            continue;
        }
        if (strcmp(kind, "volume") == 0) {
            struct volume *vol = NULL;

            claimed = catalog_volume_get(cat, id, &vol, NULL) == 0;
            volume_free(vol);
        } else {
            struct instance *inst = NULL;

            claimed = catalog_instance_get(cat, id, &inst, NULL) == 0;
            instance_free(inst);
        }
        if (!claimed && !verify_held(p, kind, id)) {
            verify_add(p, "orphan", true, obj,
                       "no record or live lock claims it");
        }
    }
    closedir(d);
}

/* Entries of tmp/ past their grace that nobody holds locked. */
static void
verify_tmp(struct verify_pass *p)
{
    CLEANUP_FREE char *dir = xasprintf("%s/tmp", svc_dir(p->svc));
    time_t now = time(NULL);
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *path = NULL;
        CLEANUP_FREE char *obj = NULL;
        CLEANUP_CLOSE int fd = -1;
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        path = xasprintf("%s/%s", dir, e->d_name);
        if (lstat(path, &st) < 0 || now - st.st_mtime < VERIFY_TMP_GRACE_S) {
            continue;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
            continue;   /* its maker is at work */
        }
        obj = xasprintf("tmp/%s", e->d_name);
        verify_add(p, "orphan", true, obj,
                   "work files that no live process holds");
    }
    closedir(d);
}

static void
verify_one_lock(const char *name, void *opaque)
{
    struct verify_pass *p = opaque;
    CLEANUP_FREE char *obj = xasprintf("locks/%s.lock", name);

    verify_add(p, "lock", true, obj, "a lock file nobody holds");
}

static void
verify_files(struct verify_pass *p)
{
    struct verify_objects vo = {p, true};

    blob_list(svc_blob(p->svc), "images/", verify_object, &vo, NULL);
    vo.images = false;
    blob_list(svc_blob(p->svc), "volume-snapshots/", verify_object, &vo,
              NULL);
    verify_dir(p, "volumes", "volume");
    verify_dir(p, "instances", "instance");
    verify_tmp(p);
    locks_sweep(svc_locks(p->svc), false, verify_one_lock, p, NULL);
}

/* ---- Helper processes --------------------------------------------------- */

/* Read /proc/PID/NAME (at most 64 KiB) into a new buffer; *LEN bytes. */
static char *
verify_proc_read(int pid, const char *name, size_t *len)
{
    char path[64];
    CLEANUP_CLOSE int fd = -1;
    size_t cap = 65536, got = 0;
    char *buf;

    snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    buf = xmalloc(cap + 1);
    for (;;) {
        ssize_t n = read(fd, buf + got, cap - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
        if (got == cap) {
            break;
        }
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* Does the NUL-separated list BUF (LEN bytes) hold DIR, or a path under
 * it, or "VMSNAP_DATA_DIR=DIR"?
 */
static bool
verify_mentions(const char *buf, size_t len, const char *dir)
{
    size_t dl = strlen(dir), i = 0;

    while (i < len) {
        const char *s = buf + i;
        size_t sl = strlen(s);

        if (strncmp(s, "VMSNAP_DATA_DIR=", 16) == 0) {
            s += 16;
        }
        if (strncmp(s, dir, dl) == 0 && (s[dl] == '\0' || s[dl] == '/')) {
            return true;
        }
        i += sl + 1;
    }
    return false;
}

/* The command name of PID ("qemu-img") into NAME; false if gone. */
static bool
verify_comm(int pid, char name[32])
{
    CLEANUP_FREE char *comm = NULL;
    size_t len = 0;

    comm = verify_proc_read(pid, "comm", &len);
    if (comm == NULL) {
        return false;
    }
    comm[strcspn(comm, "\n")] = '\0';
    snprintf(name, 32, "%s", comm);
    return true;
}

/* The parent of PID, or 0. */
static int
verify_ppid(int pid)
{
    CLEANUP_FREE char *stat = NULL;
    size_t len = 0;
    const char *p;
    int ppid = 0;

    stat = verify_proc_read(pid, "stat", &len);
    /* "pid (comm) state ppid ...": comm may hold anything, even ')'. */
    p = stat ? strrchr(stat, ')') : NULL;
    if (p == NULL || sscanf(p + 1, " %*c %d", &ppid) != 1) {
        return 0;
    }
    return ppid;
}

/* Is a vmsnap-worker for task ID still expected to be running? */
static bool
verify_worker_owned(struct verify_pass *p, const char *id)
{
    char limit[UTIL_TIME_LEN];
    struct task *t = NULL;
    bool owned;

    if (!util_is_uuid(id) ||
        catalog_task_get(svc_catalog(p->svc), id, &t, NULL) < 0) {
        return false;
    }
    verify_time_ago(VERIFY_WORKER_GRACE_S, limit);
    owned = strcmp(t->state, "queued") == 0 ||
            strcmp(t->state, "running") == 0 || t->finished_at == NULL ||
            strcmp(t->finished_at, limit) >= 0;
    task_free(t);
    return owned;
}

static void
verify_procs(struct verify_pass *p)
{
    const char *dir = svc_dir(p->svc);
    struct dirent *e;
    DIR *d = opendir("/proc");

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        CLEANUP_FREE char *cmd = NULL;
        CLEANUP_FREE char *env = NULL;
        CLEANUP_FREE char *obj = NULL;
        char comm[32], parent[32], *end = NULL;
        size_t clen = 0, elen = 0;
        const char *last;
        long pid;
        int ppid;

        if (!isdigit((unsigned char)e->d_name[0])) {
            continue;
        }
        pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 1 || pid > INT_MAX || pid == getpid() ||
            !verify_comm((int)pid, comm) ||
            (strcmp(comm, "qemu-img") != 0 &&
             strcmp(comm, "vmsnap-worker") != 0)) {
            continue;
        }
        cmd = verify_proc_read((int)pid, "cmdline", &clen);
        env = verify_proc_read((int)pid, "environ", &elen);
        if (!(cmd && verify_mentions(cmd, clen, dir)) &&
            !(env && verify_mentions(env, elen, dir))) {
            continue;   /* not working on this data directory */
        }
        obj = xasprintf("pid %ld (%s)", pid, comm);
        if (strcmp(comm, "qemu-img") == 0) {
            /* A helper belongs to the vmsnap that started it. */
            ppid = verify_ppid((int)pid);
            if (ppid > 1 && verify_comm(ppid, parent) &&
                (strcmp(parent, "vmsnap") == 0 ||
                 strcmp(parent, "vmsnap-worker") == 0 ||
                 strcmp(parent, "vmsnapd") == 0)) {
                continue;
            }
            verify_add(p, "process", true, obj,
                       "a helper whose vmsnap is gone");
            continue;
        }
        /* A worker's last argument is its task. */
        last = cmd;
        for (size_t i = 0; cmd && i + 1 < clen; i++) {
            if (cmd[i] == '\0') {
                last = cmd + i + 1;
            }
        }
        if (last == NULL || !verify_worker_owned(p, last)) {
            verify_add(p, "process", true, obj,
                       "a worker whose task is over");
        }
    }
    closedir(d);
}

/* ---- Guests ------------------------------------------------------------- */

static void
verify_guests(struct verify_pass *p)
{
    struct instance **list = NULL;
    struct hv *hv = NULL;
    size_t n = 0, i;

    if (catalog_instance_list(svc_catalog(p->svc), &list, &n, NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        CLEANUP_FREE char *obj = xasprintf("server %s", list[i]->id);
        struct servers_domain sd;
        struct hv_state st;
        struct agent *a;
        int frozen;

        p->r->servers++;
        /* An operation holds the server's lock, and a snapshot may hold
         * its guest frozen: not a finding.
         */
        if (p->opts->skip_guests || !servers_has_agent(list[i]) ||
            verify_held(p, "instance", list[i]->id)) {
            continue;
        }
        if (hv == NULL) {
            hv = svc_hv(p->svc, NULL);
            if (hv == NULL) {
                p->r->guests_unreachable++;
                continue;
            }
        }
        if (servers_domain(p->svc, list[i], &sd, NULL) < 0) {
            p->r->guests_unreachable++;
            continue;
        }
        if (hv_state(hv, &sd.d, &st, NULL) < 0 ||
            strcmp(st.status, "ACTIVE") != 0) {
            servers_domain_clear(&sd);
            continue;
        }
        a = hv_agent_open(hv, &sd.d, VERIFY_AGENT_MS, 0, NULL);
        frozen = a ? agent_status(a, VERIFY_AGENT_MS, NULL) : -1;
        if (frozen < 0) {
            p->r->guests_unreachable++;
        } else if (frozen == AGENT_FROZEN) {
            if (p->opts->repair && agent_thaw(a, VERIFY_AGENT_MS, NULL) == 0) {
                log_warnx("server %s: thawed its guest, frozen with no "
                          "snapshot running",
                          list[i]->name);
            }
            verify_add(p, "guest", true, obj,
                       "frozen, and no snapshot holds it");
        }
        agent_close(a);
        servers_domain_clear(&sd);
    }
    instance_list_free(list, n);
}

/* ---- Repair ------------------------------------------------------------- */

/* Kill the helpers P found left, remove the orphans it found: what a
 * finding names was checked to be claimed by no record and no live lock.
 */
static void
verify_repair(struct verify_pass *p)
{
    const char *dir = svc_dir(p->svc);
    size_t i;

    for (i = 0; i < p->r->n; i++) {
        const struct verify_finding *f = &p->r->findings[i];
        int pid;

        if (strcmp(f->check, "process") == 0 &&
            sscanf(f->object, "pid %d", &pid) == 1 && pid > 1) {
            log_warnx("killing %s: %s", f->object, f->problem);
            kill(pid, SIGKILL);
        }
    }
    /* What dead processes left in the records, as the next command's
     * recovery would do it (also tmp/ and lock files).
     */
    recover_all(p->svc);
    for (i = 0; i < p->r->n; i++) {
        const struct verify_finding *f = &p->r->findings[i];
        CLEANUP_FREE char *path = NULL;
        CLEANUP_FREE char *loc = NULL;

        if (strcmp(f->check, "orphan") != 0 || !f->repairable) {
            continue;
        }
        log_warnx("removing %s: %s", f->object, f->problem);
        if (strncmp(f->object, "images/", 7) == 0 ||
            strncmp(f->object, "volume-snapshots/", 17) == 0) {
            loc = xasprintf("%s:%s", blob_scheme(svc_blob(p->svc)),
                            f->object);
            blob_remove(svc_blob(p->svc), loc, NULL);
        } else {
            const char *argv[] = {"rm", "-rf", "--", NULL, NULL};

            path = xasprintf("%s/%s", dir, f->object);
            argv[3] = path;
            run_check(argv, 60000, NULL, NULL);
        }
    }
}

/* ---- The whole ---------------------------------------------------------- */

static void
verify_pass_run(struct verify_pass *p, bool data)
{
    verify_catalog(p);
    verify_procs(p);
    verify_records(p);
    if (data) {
        verify_data(p);
    }
    verify_files(p);
    verify_guests(p);
}

static bool
verify_same(const struct verify_finding *a, const struct verify_finding *b)
{
    return strcmp(a->check, b->check) == 0 &&
           strcmp(a->object, b->object) == 0;
}

int
verify_run(struct svc *svc, const struct caller *who,
           const struct verify_opts *opts, struct verify_report **out,
           struct error **errp)
{
    struct verify_report *r = xcalloc(1, sizeof(*r));
    struct verify_report *again = NULL;
    struct verify_pass p = {svc, opts, r, NULL};
    size_t i, j;

    if (!who->admin) {
        error_setg(errp, ERR_INVALID, "verify is for administrators");
        free(r);
        return -1;
    }
    verify_pass_run(&p, true);
    if (opts->repair) {
        struct verify_opts o2 = *opts;

        r->repaired = true;
        verify_repair(&p);
        /* Check again (the data is not repaired: its findings stand). */
        again = xcalloc(1, sizeof(*again));
        o2.repair = false;
        p.r = again;
        p.opts = &o2;
        verify_pass_run(&p, false);
        for (i = 0; i < r->n; i++) {
            bool still = false;

            if (!r->findings[i].repairable) {
                continue;
            }
            for (j = 0; j < again->n && !still; j++) {
                still = verify_same(&r->findings[i], &again->findings[j]);
            }
            r->findings[i].repaired = !still;
        }
        /* What the repair itself left (it should leave nothing). */
        for (j = 0; j < again->n; j++) {
            bool known = false;

            for (i = 0; i < r->n && !known; i++) {
                known = verify_same(&r->findings[i], &again->findings[j]);
            }
            if (!known) {
                p.r = r;
                verify_add(&p, again->findings[j].check,
                           again->findings[j].repairable,
                           again->findings[j].object, "%s",
                           again->findings[j].problem);
            }
        }
        verify_report_free(again);
    }
    chunk_store_close(p.cs);
    *out = r;
    return 0;
}

size_t
verify_unrepaired(const struct verify_report *r)
{
    size_t i, n = 0;

    for (i = 0; i < r->n; i++) {
        n += !r->findings[i].repaired;
    }
    return n;
}

json_object *
verify_report_json(const struct verify_report *r)
{
    json_object *o = xjson_object();
    json_object *list = xjson_array();
    json_object *checked = xjson_object();
    size_t i;

    for (i = 0; i < r->n; i++) {
        const struct verify_finding *f = &r->findings[i];
        json_object *e = xjson_object();

        xjson_add(e, "check", xjson_string(f->check));
        xjson_add(e, "object", xjson_string(f->object));
        xjson_add(e, "problem", xjson_string(f->problem));
        xjson_add(e, "repairable", xjson_bool(f->repairable));
        xjson_add(e, "repaired", xjson_bool(f->repaired));
        xjson_append(list, e);
    }
    xjson_add(checked, "images", xjson_int64((int64_t)r->images));
    xjson_add(checked, "volumes", xjson_int64((int64_t)r->volumes));
    xjson_add(
        checked, "volume_snapshots",
        xjson_int64((int64_t)r->volume_snapshots));
    xjson_add(checked, "servers", xjson_int64((int64_t)r->servers));
    xjson_add(o, "findings", list);
    xjson_add(o, "checked", checked);
    xjson_add(
        o, "guests_unreachable",
        xjson_int64((int64_t)r->guests_unreachable));
    xjson_add(o, "repair", xjson_bool(r->repaired));
    return o;
}

void
verify_report_free(struct verify_report *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->n; i++) {
        free(r->findings[i].check);
        free(r->findings[i].object);
        free(r->findings[i].problem);
    }
    free(r->findings);
    free(r);
}
