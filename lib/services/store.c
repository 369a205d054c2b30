/* vmsnap: backups in the chunk store (see store.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chunk-backend.h"
#include "chunk.h"
#include "cleanup.h"
#include "log.h"
#include "props.h"
#include "qemuimg.h"
#include "store.h"
#include "svc.h"
#include "util.h"
#include "xalloc.h"
#include "xjson.h"

/* The chunk store in the s3 store's bucket, under STORE_DIR "/". */
static struct chunk_store *
store_open_s3(struct svc *svc, bool create,
              const struct chunk_store_params *params, struct error **errp)
{
    const struct config *cfg = svc_config(svc);
    struct chunk_backend_s3_settings set = {
        .s3 = {
            .endpoint = cfg->s3_endpoint,
            .bucket = cfg->s3_bucket,
            .region = cfg->s3_region,
            .credentials = cfg->s3_credentials,
        },
        .prefix = STORE_DIR "/",
        .holder = svc_host(svc),
        .lease_ttl_s = cfg->store_lease_ttl_s,
    };
    struct error *err = NULL;
    struct chunk_backend *be;
    struct chunk_store *cs;

    if (*cfg->s3_endpoint == '\0' || *cfg->s3_credentials == '\0') {
        error_setg(errp, ERR_INVALID,
                   "the s3 store needs store.s3_endpoint and "
                   "store.s3_credentials");
        return NULL;
    }
    be = chunk_backend_s3_open(&set, create, errp);
    if (be == NULL) {
        return NULL;
    }
    cs = chunk_store_open_backend(be, create ? params : NULL, &err);
    if (cs || !create || error_get_class(err) != ERR_CONFLICT) {
        error_propagate(errp, err);
        return cs;
    }
    /* Another host made it between our look and our put: open theirs. */
    error_free(err);
    be = chunk_backend_s3_open(&set, false, errp);
    return be ? chunk_store_open_backend(be, NULL, errp) : NULL;
}

struct chunk_store *
store_open(struct svc *svc, bool create, struct error **errp)
{
    CLEANUP_FREE char *root = xasprintf("%s/%s", svc_dir(svc), STORE_DIR);
    struct chunk_store_params params = {
        .chunk_size = (uint32_t)svc_config(svc)->chunk_size,
    };
    struct error *err = NULL;
    struct chunk_store *cs;

    if (strcmp(svc_config(svc)->store, "s3") == 0) {
        /* Each chunk is a request there (tens of ms each on Swift here:
         * a 256 MiB backup took 233 s in 64 KiB chunks, 24 s in 1 MiB),
         * so the size left unset is larger.
         */
        if (params.chunk_size == 0) {
            params.chunk_size = STORE_S3_CHUNK_SIZE;
        }
        return store_open_s3(svc, create, &params, errp);
    }
    cs = chunk_store_open(root, &err);
    if (cs || !create || error_get_class(err) != ERR_NOT_FOUND) {
        error_propagate(errp, err);
        return cs;
    }
    error_free(err);
    err = NULL;
    /* Two processes may race to make it: the loser finds it made.  The
     * chunk size is the configuration's now and the store's forever
     * (store.json): a store made before keeps its own.
     */
    if (chunk_store_create(root, &params, &err) < 0 &&
        error_get_class(err) != ERR_CONFLICT) {
        error_propagate(errp, err);
        return NULL;
    }
    error_free(err);
    return chunk_store_open(root, errp);
}

void
store_test_pause(void *opaque)
{
    svc_test_pause(opaque, "backup before its commit");
}

bool
store_holds(const struct image *img)
{
    const char *v = image_prop(img, PROP_BACKUP_STORE);

    return v && strcmp(v, "chunks") == 0;
}

void
store_plan_clear(struct store_plan *plan)
{
    free(plan->index);
    free(plan->parent_id);
    free(plan->parent_index);
    free(plan->since);
    free(plan->bitmap_new);
    free(plan->full_reason);
    free(plan->disk_file);
    memset(plan, 0, sizeof(*plan));
}

/* The newest active backup of server INST in the store, other than
 * EXCEPT, or NULL (caller frees).
 */
static struct image *
store_last_backup(struct svc *svc, const struct instance *inst,
                  const char *except, struct error **errp)
{
    const struct catalog_match m[] = {
        {PROP_INSTANCE_UUID, inst->id},
        {PROP_BACKUP_STORE, "chunks"},
    };
    struct image_filter f = {.status = "active", .exclude_deleted = true,
                             .props = m, .nprops = 2};
    struct image **list = NULL, *found = NULL;
    size_t n = 0, i;

    if (catalog_image_list(svc_catalog(svc), &f, &list, &n, errp) < 0) {
        return NULL;
    }
    /* Newest first. */
    for (i = 0; i < n && found == NULL; i++) {
        if (strcmp(list[i]->id, except) != 0) {
            found = list[i];
            list[i] = NULL;
        }
    }
    image_list_free(list, n);
    if (found == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no backup in the store");
    }
    return found;
}

/* What a backup recorded about one of its disks in the store: the
 * properties of the image for its root disk, the metadata of one of its
 * volume snapshots for a volume.  The strings are borrowed from there.
 */
struct store_rec {
    const char *id;     /* the image or the volume snapshot */
    const char *since;  /* the bitmap it started */
    const char *file;   /* the disk it copied */
    const char *index;  /* its index and that index's checksum */
    const char *csum;
};

static void
store_rec_of_image(const struct image *img, struct store_rec *rec)
{
    rec->id = img->id;
    rec->since = image_prop(img, PROP_BACKUP_BITMAP);
    rec->file = image_prop(img, PROP_BACKUP_DISK_FILE);
    rec->index = image_prop(img, PROP_BACKUP_INDEX);
    rec->csum = image_prop(img, PROP_BACKUP_INDEX_CSUM);
}

static void
store_rec_of_vsnap(const struct volume_snapshot *vs, struct store_rec *rec)
{
    rec->id = vs->id;
    rec->since = volume_snapshot_meta(vs, PROP_BACKUP_BITMAP);
    rec->file = volume_snapshot_meta(vs, PROP_BACKUP_DISK_FILE);
    rec->index = volume_snapshot_meta(vs, PROP_BACKUP_INDEX);
    rec->csum = volume_snapshot_meta(vs, PROP_BACKUP_INDEX_CSUM);
}

/* The volume snapshot of backup P (an image) that holds volume
 * VOLUME_ID in the store, available, or NULL (caller frees).
 */
static struct volume_snapshot *
store_vsnap_of(struct svc *svc, const struct image *p, const char *volume_id,
               struct error **errp)
{
    struct catalog_match m = {META_INSTANCE_SNAPSHOT_ID, p->id};
    struct volume_snapshot **list = NULL, *found = NULL;
    size_t n = 0, i;

    if (catalog_volume_snapshot_list(svc_catalog(svc), &m, 1, &list, &n,
                                     errp) < 0) {
        return NULL;
    }
    for (i = 0; i < n && found == NULL; i++) {
        if (list[i]->volume_id && strcmp(list[i]->volume_id, volume_id) == 0 &&
            strcmp(list[i]->status, "available") == 0 &&
            store_holds_volume_snapshot(list[i])) {
            found = list[i];
            list[i] = NULL;
        }
    }
    volume_snapshot_list_free(list, n);
    if (found == NULL) {
        error_setg(errp, ERR_NOT_FOUND, "no volume snapshot of %s in %s",
                   volume_id, p->id);
    }
    return found;
}

/* Check the chain from the disk of backup P that REC describes to DISK
 * now: 1 when it is sound, 0 when it is not with *WHY (caller frees),
 * -1 with the error when that cannot be known.
 */
static int
store_check_chain(struct svc *svc, struct hv *hv, const struct hv_domain *d,
                  const struct hv_disk *disk, const struct image *p,
                  const struct store_rec *rec, const struct store_plan *plan,
                  char **whyp, struct error **errp)
{
    const char *since = rec->since;
    const char *file = rec->file;
    const char *index = rec->index;
    const char *csum = rec->csum;
    const struct chunk_index *ix;
    struct chunk_reader *pr = NULL;
    struct chunk_store *cs;
    struct qemuimg_info qi = {0};
    struct error *err = NULL;
    char hex[CHUNK_HEX_LEN];
    char *why = NULL;
    int r = 0;

    if (since == NULL || *since == '\0') {
        *whyp = xasprintf("the previous backup %s started no dirty bitmap",
                          p->id);
        return 0;
    }
    if (file == NULL || strcmp(file, plan->disk_file) != 0) {
        *whyp = xasprintf("the disk was replaced since the previous backup "
                          "%s",
                          p->id);
        return 0;
    }
    if (index == NULL || csum == NULL) {
        *whyp = xasprintf("the previous backup %s records no index", p->id);
        return 0;
    }
    /* The parent's index read once: its checksum, its size, then its
     * chunks.
     */
    cs = store_open(svc, false, &err);
    if (cs == NULL || chunk_reader_open(cs, index, &pr, &err) < 0) {
        why = xasprintf("the previous backup %s is damaged: %s", p->id,
                        error_msg(err));
        goto out;
    }
    ix = chunk_reader_index(pr);
    chunk_digest_hex(&ix->csum, hex);
    if (strcmp(hex, csum) != 0) {
        why = xasprintf("the index of the previous backup %s does not match "
                        "its recorded checksum",
                        p->id);
        goto out;
    }
    if (qemuimg_info(disk->path, disk->format, &qi, errp) < 0) {
        r = -1;
        goto out;
    }
    if (qi.virtual_size != ix->disk_size) {
        why = xasprintf("the disk was resized since the previous backup %s",
                        p->id);
        goto out;
    }
    /* Every chunk of the parent must exist: verify --repair removes
     * damaged ones, and an incremental must not inherit a hole.
     */
    if (chunk_reader_check(pr, &err) < 0) {
        why = xasprintf("the previous backup %s is damaged: %s", p->id,
                        error_msg(err));
        goto out;
    }
    r = hv_bitmap_check(hv, d, disk, since, &why, errp);
out:
    qemuimg_info_clear(&qi);
    chunk_reader_close(pr);
    chunk_store_close(cs);
    error_free(err);
    if (why) {
        *whyp = why;
        return 0;
    }
    return r;
}

int
store_plan_backup(struct svc *svc, struct hv *hv, const struct hv_domain *d,
                  const struct hv_disk *disk, size_t disk_index,
                  const char *volume_id, const struct instance *inst,
                  const struct image *img, struct store_plan *plan,
                  struct error **errp)
{
    struct volume_snapshot *pvs = NULL;
    struct error *err = NULL;
    struct image *p = NULL;
    struct store_rec rec;
    struct stat st;
    char *why = NULL;
    int r;

    memset(plan, 0, sizeof(*plan));
    plan->index = xasprintf("%s.%zu", img->id, disk_index);
    if (stat(disk->path, &st) < 0) {
        error_setg_errno(errp, ERR_IO, errno, "%s", disk->path);
        return -1;
    }
    plan->disk_file = xasprintf("%llu:%llu:%s", (unsigned long long)st.st_dev,
                                (unsigned long long)st.st_ino, disk->path);
    if (strcmp(disk->format, "qcow2") != 0) {
        plan->full_reason = xasprintf("disk %s is %s: only qcow2 keeps a "
                                      "persistent dirty bitmap",
                                      disk->id, disk->format);
        return 0;
    }
    if (hv == NULL) {
        plan->full_reason = xasprintf("server %s is stopped: changes are "
                                      "tracked by a running QEMU only",
                                      inst->name);
        return 0;
    }
    plan->bitmap_new = xasprintf("vmsnap-%s", img->id);
    p = store_last_backup(svc, inst, img->id, &err);
    if (p && disk_index > 0) {
        pvs = store_vsnap_of(svc, p, volume_id, &err);
    }
    if (err) {
        if (error_get_class(err) != ERR_NOT_FOUND) {
            error_propagate(errp, err);
            image_free(p);
            return -1;
        }
        error_free(err);
        plan->full_reason =
            p == NULL ? xasprintf("first backup of server %s in the store",
                                  inst->name)
                      : xasprintf("the previous backup %s did not back up "
                                  "volume %s",
                                  p->id, volume_id);
        image_free(p);
        return 0;
    }
    if (pvs) {
        store_rec_of_vsnap(pvs, &rec);
    } else {
        store_rec_of_image(p, &rec);
    }
    r = store_check_chain(svc, hv, d, disk, p, &rec, plan, &why, errp);
    if (r == 0) {
        plan->full_reason = why;
    } else if (r > 0) {
        plan->parent_id = xstrdup(rec.id);
        plan->parent_index = xstrdup(rec.index);
        plan->since = xstrdup(rec.since);
    }
    volume_snapshot_free(pvs);
    image_free(p);
    return r < 0 ? -1 : 0;
}

void
store_plans_one_chain(struct store_plan *plans, size_t n)
{
    const char *why = NULL;
    size_t i, full = 0;

    for (i = 0; i < n && why == NULL; i++) {
        if (plans[i].full_reason) {
            full = i;
            why = plans[i].full_reason;
        }
    }
    if (why == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        if (plans[i].full_reason == NULL) {
            plans[i].full_reason = xasprintf(
                "its disks are backed up on one checkpoint, and disk %zu "
                "is backed up whole (%s)",
                full, why);
            free(plans[i].parent_id);
            free(plans[i].parent_index);
            free(plans[i].since);
            plans[i].parent_id = plans[i].parent_index = plans[i].since =
                NULL;
        }
    }
}

/* The properties recording what the copy T of PLAN made, in SET (room
 * for STORE_REC_PROPS), their values' text in B; returns how many.
 */
#define STORE_REC_PROPS 11
struct store_rec_text {
    char read[24], dirty[24], bnew[24], stored[24];
};

static size_t
store_rec_props(const struct store_plan *plan, const struct diskcopy_target *t,
                struct store_rec_text *b, struct prop *set)
{
    size_t n = 0;

    snprintf(b->read, sizeof(b->read), "%lld", (long long)t->bytes_read);
    snprintf(b->dirty, sizeof(b->dirty), "%lld", (long long)t->bytes_dirty);
    snprintf(b->bnew, sizeof(b->bnew), "%llu",
             (unsigned long long)t->stats.bytes_new);
    snprintf(b->stored, sizeof(b->stored), "%llu",
             (unsigned long long)t->stats.bytes_stored);
    set[n++] = (struct prop){(char *)PROP_BACKUP_STORE, (char *)"chunks"};
    set[n++] = (struct prop){(char *)PROP_BACKUP_MODE,
                             (char *)(plan->parent_id ? "incremental"
                                                      : "full")};
    set[n++] = (struct prop){(char *)PROP_BACKUP_BITMAP,
                             plan->bitmap_new ? plan->bitmap_new : (char *)""};
    set[n++] = (struct prop){(char *)PROP_BACKUP_INDEX, plan->index};
    set[n++] = (struct prop){(char *)PROP_BACKUP_INDEX_CSUM,
                             (char *)t->info.csum};
    set[n++] = (struct prop){(char *)PROP_BACKUP_DISK_FILE, plan->disk_file};
    set[n++] = (struct prop){(char *)"vmsnap_backup_bytes_read", b->read};
    set[n++] = (struct prop){(char *)"vmsnap_backup_bytes_new", b->bnew};
    set[n++] = (struct prop){(char *)"vmsnap_backup_bytes_stored", b->stored};
    if (plan->parent_id) {
        set[n++] = (struct prop){(char *)PROP_BACKUP_PARENT, plan->parent_id};
        set[n++] = (struct prop){(char *)"vmsnap_backup_bytes_dirty",
                                 b->dirty};
    } else {
        set[n++] = (struct prop){(char *)PROP_BACKUP_FULL_REASON,
                                 plan->full_reason ? plan->full_reason
                                                   : (char *)"full"};
    }
    return n;
}

int
store_record_backup(struct svc *svc, const char *id,
                    const struct store_plan *plan,
                    const struct diskcopy_target *t, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct prop set[STORE_REC_PROPS];
    struct store_rec_text b;
    struct image_patch patch = {.min_ram = -1, .min_disk = -1};
    struct image_data data = {0};

    patch.set = set;
    patch.nset = store_rec_props(plan, t, &b, set);
    /* The data as Glance would count it: the bytes of its chunks that are
     * not zero.
     */
    data.size = (int64_t)((t->info.chunks - t->info.zero_chunks) *
                          t->info.chunk_size);
    if (data.size > t->virtual_size) {
        data.size = t->virtual_size;
    }
    data.virtual_size = t->virtual_size;
    if (catalog_image_patch(cat, id, &patch, errp) < 0 ||
        catalog_image_set_data(cat, id, &data, errp) < 0 ||
        catalog_image_transition(cat, id, "saving", "active", NULL, errp) <
            0) {
        return -1;
    }
    return 0;
}

int
store_record_volume(struct svc *svc, const char *id, int64_t size,
                    const struct store_plan *plan,
                    const struct diskcopy_target *t, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct prop set[STORE_REC_PROPS];
    struct store_rec_text b;
    struct volume_snapshot_data vd = {.size = size};
    size_t n = store_rec_props(plan, t, &b, set);

    if (catalog_volume_snapshot_set_meta(cat, id, set, n, errp) < 0 ||
        catalog_volume_snapshot_set_data(cat, id, &vd, errp) < 0 ||
        catalog_volume_snapshot_transition(cat, id, "creating", "available",
                                           errp) < 0) {
        return -1;
    }
    return 0;
}

bool
store_holds_volume_snapshot(const struct volume_snapshot *vs)
{
    const char *v = volume_snapshot_meta(vs, PROP_BACKUP_STORE);

    return v && strcmp(v, "chunks") == 0;
}

/* Delete INDEX, the index of backup record ID (a NOUN), from the store. */
static void
store_forget_index(struct svc *svc, const char *noun, const char *id,
                   const char *index)
{
    struct error *err = NULL;
    struct chunk_store *cs;

    cs = store_open(svc, false, &err);
    if (cs == NULL || chunk_store_remove_index(cs, index, &err) < 0) {
        if (error_get_class(err) != ERR_NOT_FOUND) {
            log_warnx("%s %s: its index stays in the store: %s", noun, id,
                      error_msg(err));
        }
    }
    error_free(err);
    chunk_store_close(cs);
}

void
store_forget(struct svc *svc, const struct image *img)
{
    const char *index = image_prop(img, PROP_BACKUP_INDEX);

    if (store_holds(img) && index) {
        store_forget_index(svc, "backup", img->id, index);
    }
}

void
store_forget_volume_snapshot(struct svc *svc, const struct volume_snapshot *vs)
{
    const char *index = volume_snapshot_meta(vs, PROP_BACKUP_INDEX);

    if (store_holds_volume_snapshot(vs) && index) {
        store_forget_index(svc, "volume snapshot", vs->id, index);
    }
}

/* The indexes of one backup: "<id>." and anything. */
struct store_named {
    const char *prefix;
    size_t len;
    char **names;
    size_t n;
};

static int
store_collect(const char *name, void *opaque)
{
    struct store_named *sn = opaque;

    if (strncmp(name, sn->prefix, sn->len) == 0) {
        sn->names = xrealloc(sn->names, (sn->n + 1) * sizeof(*sn->names));
        sn->names[sn->n++] = xstrdup(name);
    }
    return 0;
}

void
store_forget_all(struct svc *svc, const char *id)
{
    CLEANUP_FREE char *prefix = xasprintf("%s.", id);
    struct store_named sn = {.prefix = prefix, .len = strlen(prefix)};
    struct error *err = NULL;
    struct chunk_store *cs = store_open(svc, false, &err);
    size_t i;

    if (cs && chunk_store_list_indexes(cs, store_collect, &sn, &err) == 0) {
        for (i = 0; i < sn.n; i++) {
            log_debug("store", "removing index %s of dead backup %s",
                      sn.names[i], id);
            chunk_store_remove_index(cs, sn.names[i], NULL);
        }
    }
    if (err && error_get_class(err) != ERR_NOT_FOUND) {
        log_warnx("backup %s: its indexes stay in the store: %s", id,
                  error_msg(err));
    }
    for (i = 0; i < sn.n; i++) {
        free(sn.names[i]);
    }
    free(sn.names);
    error_free(err);
    chunk_store_close(cs);
}

/* Write INDEX out of the store as a qcow2 file of the image store under
 * KEY, committed: *LOCATION (caller frees), T the copy's facts (size,
 * hashes).  Nothing stays behind on failure.
 */
static int
store_write_out(struct svc *svc, const char *index, const char *key,
                const struct progress *p, struct diskcopy_target *t,
                char **location, struct error **errp)
{
    struct diskcopy_opts o = {.progress = p, .sync = true};
    struct diskcopy_source *src = NULL;
    struct chunk_reader *rd = NULL;
    struct chunk_store *cs = NULL;
    CLEANUP_FREE char *file = NULL;
    int r = -1;

    memset(t, 0, sizeof(*t));
    t->kind = DISKCOPY_QCOW2;
    cs = store_open(svc, false, errp);
    if (cs == NULL || chunk_reader_open(cs, index, &rd, errp) < 0 ||
        blob_create(svc_blob(svc), key, &file, errp) < 0) {
        goto out;
    }
    src = diskcopy_source_chunks(rd);
    t->path = file;
    if (diskcopy_run(src, t, &o, errp) < 0 ||
        blob_commit(svc_blob(svc), key, file, p, location, errp) < 0) {
        blob_discard(svc_blob(svc), key);
        goto out;
    }
    r = 0;
out:
    t->path = NULL;
    diskcopy_source_close(src);
    chunk_reader_close(rd);
    chunk_store_close(cs);
    return r;
}

int
store_materialise(struct svc *svc, const struct image *img0,
                  const char *key, const struct progress *p, char **path,
                  struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct diskcopy_target t;
    struct image *img = NULL;
    struct image_data data = {0};
    struct lock *lk = NULL;
    CLEANUP_FREE char *location = NULL;
    const char *index;
    int r = -1;

    /* One materialisation at a time; another may have finished it. */
    if (svc_lock(svc, "image", img0->id, true, &lk, errp) < 0 ||
        catalog_image_get(cat, img0->id, &img, errp) < 0) {
        goto out;
    }
    if (img->location) {
        r = blob_local_path(svc_blob(svc), img->location, p, path, errp);
        goto out;
    }
    index = image_prop(img, PROP_BACKUP_INDEX);
    if (!store_holds(img) || index == NULL ||
        strcmp(img->status, "active") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s has no data (it is %s)",
                   img->id, img->status);
        goto out;
    }
    log_debug("store", "materialising backup %s from index %s", img->id,
              index);
    if (store_write_out(svc, index, key, p, &t, &location, errp) < 0) {
        goto out;
    }
    data.size = t.qcow2.file_size;
    data.virtual_size = t.virtual_size;
    data.checksum = t.qcow2.md5;
    data.os_hash_algo = "sha512";
    data.os_hash_value = t.qcow2.sha512;
    data.location = location;
    if (catalog_image_set_data(cat, img->id, &data, errp) < 0) {
        blob_remove(svc_blob(svc), location, NULL);
        goto out;
    }
    r = blob_local_path(svc_blob(svc), location, p, path, errp);
out:
    if (r < 0) {
        error_prepend(errp, "restore of backup %s: ", img0->id);
    }
    image_free(img);
    lock_release(lk);
    return r;
}

int
store_materialise_volume_snapshot(struct svc *svc,
                                  const struct volume_snapshot *vs0,
                                  const struct progress *p, char **path,
                                  struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *key = xasprintf("volume-snapshots/%s.qcow2", vs0->id);
    CLEANUP_FREE char *location = NULL;
    struct volume_snapshot *vs = NULL;
    struct volume_snapshot_data vd = {0};
    struct diskcopy_target t;
    struct lock *lk = NULL;
    const char *index;
    int r = -1;

    if (svc_lock(svc, "volume-snapshot", vs0->id, true, &lk, errp) < 0 ||
        catalog_volume_snapshot_get(cat, vs0->id, &vs, errp) < 0) {
        goto out;
    }
    if (vs->location) {
        r = blob_local_path(svc_blob(svc), vs->location, p, path, errp);
        goto out;
    }
    index = volume_snapshot_meta(vs, PROP_BACKUP_INDEX);
    if (!store_holds_volume_snapshot(vs) || index == NULL ||
        strcmp(vs->status, "available") != 0) {
        error_setg(errp, ERR_CONFLICT,
                   "volume snapshot %s has no data (it is %s)", vs->id,
                   vs->status);
        goto out;
    }
    log_debug("store", "materialising volume snapshot %s from index %s",
              vs->id, index);
    if (store_write_out(svc, index, key, p, &t, &location, errp) < 0) {
        goto out;
    }
    vd.size = vs->size;
    vd.location = location;
    if (catalog_volume_snapshot_set_data(cat, vs->id, &vd, errp) < 0) {
        blob_remove(svc_blob(svc), location, NULL);
        goto out;
    }
    r = blob_local_path(svc_blob(svc), location, p, path, errp);
out:
    if (r < 0) {
        error_prepend(errp, "restore of volume snapshot %s: ", vs0->id);
    }
    volume_snapshot_free(vs);
    lock_release(lk);
    return r;
}

int
store_check_index(struct svc *svc, struct chunk_store **csp,
                  const char *index, const char *csum, struct error **errp)
{
    struct chunk_index_info info;

    if (*csp == NULL && (*csp = store_open(svc, false, errp)) == NULL) {
        return -1;
    }
    if (chunk_store_index_info(*csp, index, &info, errp) < 0) {
        return -1;
    }
    if (csum == NULL || strcmp(info.csum, csum) != 0) {
        error_setg(errp, ERR_PROTOCOL,
                   "index %s does not match its recorded checksum", index);
        return -1;
    }
    return 0;
}

/* ---- Maintenance ------------------------------------------------------- */

/* The backup an index belongs to: its name up to the first '.'. */
static json_object *
store_backup_of(const char *index)
{
    const char *dot = strchr(index, '.');

    return xjson_string_len(index, dot ? (size_t)(dot - index)
                                       : strlen(index));
}

static void
store_problem(const struct chunk_problem *pr, void *opaque)
{
    json_object *problems = opaque;
    json_object *o = xjson_object();
    json_object *idx = xjson_array();
    json_object *backups = xjson_array();
    size_t i;

    xjson_add(o, "what", xjson_string(pr->what));
    if (pr->digest) {
        xjson_add(o, "digest", xjson_string(pr->digest));
    }
    if (pr->index) {
        xjson_add(o, "index", xjson_string(pr->index));
        xjson_append(backups, store_backup_of(pr->index));
    }
    xjson_add(o, "error", xjson_string(pr->error));
    for (i = 0; pr->indexes && pr->indexes[i]; i++) {
        xjson_append(idx, xjson_string(pr->indexes[i]));
        xjson_append(backups, store_backup_of(pr->indexes[i]));
    }
    xjson_add(o, "indexes", idx);
    xjson_add(o, "backups", backups);
    xjson_append(problems, o);
}

static void
store_add_u64(json_object *o, const char *key, uint64_t v)
{
    xjson_add(o, key, xjson_int64((int64_t)v));
}

int
store_verify(struct svc *svc, bool repair, const struct progress *p,
             json_object **report, struct error **errp)
{
    struct chunk_store *cs = store_open(svc, true, errp);
    struct chunk_verify_report rep = {0};
    json_object *problems, *o;
    int r;

    if (cs == NULL) {
        return -1;
    }
    problems = xjson_array();
    r = chunk_store_verify(cs, repair ? CHUNK_VERIFY_REMOVE_BAD : 0,
                           store_problem, problems, p, &rep, errp);
    chunk_store_close(cs);
    if (r < 0) {
        json_object_put(problems);
        return -1;
    }
    o = xjson_object();
    store_add_u64(o, "indexes", rep.indexes);
    store_add_u64(o, "indexes_bad", rep.indexes_bad);
    store_add_u64(o, "chunks", rep.chunks);
    store_add_u64(o, "chunks_bad", rep.chunks_bad);
    store_add_u64(o, "chunks_missing", rep.chunks_missing);
    store_add_u64(o, "chunks_removed", rep.chunks_removed);
    store_add_u64(o, "bytes", rep.bytes);
    xjson_add(o, "problems", problems);
    *report = o;
    return 0;
}

/* Does a volume snapshot's metadata name INDEX (in any status: one
 * being deleted forgets it itself)?  -1 when the catalog cannot tell.
 */
static int
store_index_of_vsnap(struct svc *svc, const char *index, struct error **errp)
{
    struct catalog_match m = {PROP_BACKUP_INDEX, index};
    struct volume_snapshot **list = NULL;
    size_t n = 0;

    if (catalog_volume_snapshot_list(svc_catalog(svc), &m, 1, &list, &n,
                                     errp) < 0) {
        return -1;
    }
    volume_snapshot_list_free(list, n);
    return n > 0;
}

/* Is INDEX an orphan: no volume snapshot names it, and its backup (the
 * image its name starts with) is gone, deleted or killed, or active but
 * naming it no more (a deletion cut short between the catalog and the
 * store)?  A backup being made keeps its indexes: its record exists
 * before its first index.  An index not named "<uuid>.<n>" is not ours
 * to judge.  1, 0, or -1 on a catalog error.
 */
static int
store_index_orphan(struct svc *svc, const char *index, struct error **errp)
{
    const char *dot = strchr(index, '.');
    char id[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct image *img = NULL;
    const char *v;
    int r;

    if (dot == NULL || (size_t)(dot - index) != sizeof(id) - 1) {
        return 0;
    }
    memcpy(id, index, sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    if (!util_is_uuid(id)) {
        return 0;
    }
    r = store_index_of_vsnap(svc, index, errp);
    if (r != 0) {
        return r < 0 ? -1 : 0;
    }
    if (catalog_image_get(svc_catalog(svc), id, &img, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            error_free(err);
            return 1;
        }
        error_propagate(errp, err);
        return -1;
    }
    v = image_prop(img, PROP_BACKUP_INDEX);
    r = strcmp(img->status, "deleted") == 0 ||
        strcmp(img->status, "killed") == 0 ||
        (strcmp(img->status, "active") == 0 &&
         (v == NULL || strcmp(v, index) != 0));
    image_free(img);
    return r;
}

/* Remove (or with DRY_RUN count) the orphan indexes of the store, so that
 * gc frees their chunks.
 */
static int
store_drop_orphans(struct svc *svc, struct chunk_store *cs, bool dry_run,
                   uint64_t *count, struct error **errp)
{
    struct store_named sn = {.prefix = "", .len = 0};
    size_t i;
    int r = 0;

    *count = 0;
    if (chunk_store_list_indexes(cs, store_collect, &sn, errp) < 0) {
        r = -1;
    }
    for (i = 0; i < sn.n && r == 0; i++) {
        int o = store_index_orphan(svc, sn.names[i], errp);

        if (o < 0) {
            r = -1;
        } else if (o > 0) {
            log_warnx("index %s belongs to no backup in the catalog: %s",
                      sn.names[i], dry_run ? "gc would remove it"
                                           : "removing it");
            if (!dry_run &&
                chunk_store_remove_index(cs, sn.names[i], errp) < 0) {
                r = -1;
            }
            (*count)++;
        }
    }
    for (i = 0; i < sn.n; i++) {
        free(sn.names[i]);
    }
    free(sn.names);
    return r;
}

int
store_gc(struct svc *svc, bool dry_run, int64_t grace_s,
         const struct progress *p, json_object **report, struct error **errp)
{
    struct chunk_store *cs = store_open(svc, true, errp);
    struct chunk_gc_opts go = {.grace_s = grace_s, .dry_run = dry_run};
    struct chunk_gc_report rep = {0};
    uint64_t orphans = 0;
    json_object *o;
    int r;

    if (cs == NULL) {
        return -1;
    }
    r = store_drop_orphans(svc, cs, dry_run, &orphans, errp);
    if (r == 0) {
        r = chunk_store_gc(cs, &go, p, &rep, errp);
    }
    chunk_store_close(cs);
    if (r < 0) {
        return -1;
    }
    o = xjson_object();
    xjson_add(o, "dry_run", xjson_bool(dry_run));
    store_add_u64(o, "indexes_orphaned", orphans);
    store_add_u64(o, "indexes", rep.indexes);
    store_add_u64(o, "chunks", rep.chunks);
    store_add_u64(o, "chunks_referenced", rep.chunks_referenced);
    store_add_u64(o, "chunks_removed", rep.chunks_removed);
    store_add_u64(o, "bytes_removed", rep.bytes_removed);
    store_add_u64(o, "bytes_compacted", rep.bytes_compacted);
    store_add_u64(o, "chunks_recent", rep.chunks_recent);
    store_add_u64(o, "tmp_removed", rep.tmp_removed);
    store_add_u64(o, "trash_marked", rep.trash_marked);
    store_add_u64(o, "trash_removed", rep.trash_removed);
    *report = o;
    return 0;
}

static void
store_index_stat(const struct chunk_index_stats *is, void *opaque)
{
    json_object *o = xjson_object();

    xjson_add(o, "index", xjson_string(is->name));
    xjson_add(o, "backup", store_backup_of(is->name));
    xjson_add(o, "disk_size", xjson_int64(is->disk_size));
    store_add_u64(o, "chunks", is->chunks);
    store_add_u64(o, "data_chunks", is->data_chunks);
    store_add_u64(o, "data_bytes", is->data_bytes);
    xjson_append(opaque, o);
}

int
store_show(struct svc *svc, json_object **report, struct error **errp)
{
    struct chunk_store *cs = store_open(svc, true, errp);
    struct chunk_stats st = {0};
    json_object *indexes, *o;
    int r;

    if (cs == NULL) {
        return -1;
    }
    indexes = xjson_array();
    r = chunk_store_stats(cs, store_index_stat, indexes, &st, errp);
    o = xjson_object();
    xjson_add(o, "chunk_size", xjson_int64(chunk_store_chunk_size(cs)));
    chunk_store_close(cs);
    if (r < 0) {
        json_object_put(indexes);
        json_object_put(o);
        return -1;
    }
    store_add_u64(o, "indexes", st.indexes);
    store_add_u64(o, "chunks", st.chunks);
    store_add_u64(o, "stored_bytes", st.stored_bytes);
    store_add_u64(o, "disk_bytes", st.disk_bytes);
    store_add_u64(o, "referenced_chunks", st.referenced_chunks);
    store_add_u64(o, "logical_bytes", st.logical_bytes);
    store_add_u64(o, "data_bytes", st.data_bytes);
    xjson_add(o, "dedup_ratio", xjson_double(st.dedup_ratio));
    xjson_add(o, "backups", indexes);
    *report = o;
    return 0;
}
