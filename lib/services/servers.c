/* vmsnap: servers, what Nova's compute API does (see servers.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accel.h"
#include "actions.h"
#include "cleanup.h"
#include "datadir.h"
#include "hash.h"
#include "images.h"
#include "log.h"
#include "props.h"
#include "qemuimg.h"
#include "run.h"
#include "servers.h"
#include "svc.h"
#include "util.h"
#include "volumes.h"
#include "xalloc.h"

#define SERVERS_DEFAULT_MEMORY_MB 256
#define SERVERS_AGENT_TIMEOUT_MS 3000

static bool
servers_meta_is(const struct instance *inst, const char *key,
                const char *value)
{
    const char *v = instance_meta(inst, key);

    return v && strcmp(v, value) == 0;
}

bool
servers_is_adopted(const struct instance *inst)
{
    return servers_meta_is(inst, META_ADOPTED, "yes");
}

bool
servers_has_agent(const struct instance *inst)
{
    return servers_meta_is(inst, META_AGENT, "yes");
}

bool
servers_stopped_cleanly(const struct instance *inst)
{
    return servers_meta_is(inst, META_SHUTDOWN, "clean");
}

bool
servers_requires_quiesce(const struct instance *inst)
{
    return servers_meta_is(inst, PROP_OS_REQUIRE_QUIESCE, "yes");
}

const char *
servers_flavor(const struct instance *inst)
{
    return instance_meta(inst, META_FLAVOR);
}

/* ---- Adoption --------------------------------------------------------- */

/* Recursively remove DIR (an instance directory: plain files only). */
static int
servers_remove_dir(const char *dir, struct error **errp)
{
    const char *argv[] = {"rm", "-rf", "--", dir, NULL};

    return run_check(argv, 60000, NULL, errp);
}

/* The directory of an adopted server: only what vmsnap put there (the
 * driver's backup-* leftovers) goes; the directory itself only when that
 * leaves it empty.  Never anything else: a domain found without its
 * record may keep its disks there.
 */
static void
servers_remove_adopted_dir(const char *dir)
{
    struct dirent *e;
    DIR *dh = opendir(dir);

    if (dh == NULL) {
        return;
    }
    while ((e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, "backup-", 7) == 0) {
            CLEANUP_FREE char *path = xasprintf("%s/%s", dir, e->d_name);

            if (unlink(path) < 0 && errno != ENOENT) {
                log_warnx("cannot remove %s: %s", path, strerror(errno));
            }
        }
    }
    closedir(dh);
    if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY) {
        log_warnx("cannot remove %s: %s", dir, strerror(errno));
    }
}

/* The metadata an adopted record carries from its domain F. */
static void
servers_found_meta(const struct hv_found *f, struct prop set[3],
                   size_t *nset, const char **unset, size_t *nunset)
{
    const char *q = hv_found_prop(f, PROP_OS_REQUIRE_QUIESCE);

    *nset = 0;
    *nunset = 0;
    set[(*nset)++] = (struct prop){(char *)META_ADOPTED, (char *)"yes"};
    set[(*nset)++] = (struct prop){(char *)META_AGENT,
                                   (char *)(f->agent ? "yes" : "no")};
    if (q && strcmp(q, "yes") == 0) {
        set[(*nset)++] = (struct prop){(char *)PROP_OS_REQUIRE_QUIESCE,
                                       (char *)"yes"};
    } else {
        unset[(*nunset)++] = PROP_OS_REQUIRE_QUIESCE;
    }
}

/* A new adopted record for domain F. */
static int
servers_adopt(struct svc *svc, const struct hv_found *f, struct error **errp)
{
    struct instance *inst = xcalloc(1, sizeof(*inst));
    struct prop set[3];
    const char *unset[1];
    size_t nset, nunset, i;
    int r = -1;

    snprintf(inst->id, sizeof(inst->id), "%s", f->id);
    inst->name = xstrdup(f->name);
    inst->cpus = f->cpus > 0 ? f->cpus : 1;
    inst->memory_mb = f->memory_mb > 0 ? f->memory_mb : 1;
    servers_found_meta(f, set, &nset, unset, &nunset);
    for (i = 0; i < nset; i++) {
        if (instance_meta_set(inst, set[i].key, set[i].value, errp) < 0) {
            goto out;
        }
    }
    r = catalog_instance_insert(svc_catalog(svc), inst, errp);
    if (r == 0) {
        log_debug("servers", "adopted domain %s (%s)", f->name, f->id);
    }
out:
    instance_free(inst);
    return r;
}

/* Bring adopted record INST in step with its domain F: name, size,
 * agent, os_require_quiesce.
 */
static void
servers_follow(struct svc *svc, const struct instance *inst,
               const struct hv_found *f)
{
    struct catalog *cat = svc_catalog(svc);
    struct prop set[3];
    const char *unset[1];
    size_t nset, nunset, i;
    bool differs = false;
    struct error *err = NULL;
    int cpus = f->cpus > 0 ? f->cpus : 1;
    int64_t mem = f->memory_mb > 0 ? f->memory_mb : 1;

    servers_found_meta(f, set, &nset, unset, &nunset);
    for (i = 0; i < nset; i++) {
        const char *v = instance_meta(inst, set[i].key);

        differs = differs || v == NULL || strcmp(v, set[i].value) != 0;
    }
    if (nunset && instance_meta(inst, unset[0]) != NULL) {
        differs = true;
    } else {
        nunset = 0;
    }
    if (differs &&
        catalog_instance_set_meta(cat, inst->id, set, nset, unset, nunset,
                                  &err) < 0) {
        log_warnx("server %s: %s", inst->name, error_msg(err));
        error_free(err);
        err = NULL;
    }
    if (strcmp(inst->name, f->name) != 0 || inst->cpus != cpus ||
        inst->memory_mb != mem) {
        /* Only these fields change: an edit made meanwhile stays. */
        if (catalog_instance_set_shape(cat, inst->id, f->name, cpus, mem,
                                       &err) < 0) {
            log_warnx("server %s follows domain %s: %s", inst->name,
                      f->name, error_msg(err));
            error_free(err);
        }
    }
}

/* Forget adopted record INST, whose domain is gone: unless a task holds
 * it (its lock is taken, or it is busy), its volumes are detached, the
 * record and what vmsnap kept for it go.
 */
static void
servers_forget(struct svc *svc, const struct instance *inst)
{
    struct lock *lk = NULL;
    struct catalog *cat = svc_catalog(svc);
    CLEANUP_FREE char *dir = NULL;
    struct volume **vols = NULL;
    size_t n = 0, i;

    if (inst->task_state ||
        svc_lock(svc, "instance", inst->id, false, &lk, NULL) < 0) {
        return;
    }
    if (catalog_volume_list(cat, inst->id, &vols, &n, NULL) == 0) {
        for (i = 0; i < n; i++) {
            catalog_volume_detach(cat, vols[i]->id, inst->id, NULL);
        }
        volume_list_free(vols, n);
    }
    if (catalog_instance_delete(cat, inst->id, NULL) == 0) {
        log_debug("servers", "domain %s (%s) is gone: its record too",
                  inst->name, inst->id);
        dir = datadir_instance_dir(svc_dir(svc), inst->id);
        servers_remove_adopted_dir(dir);
    }
    lock_release(lk);
}

/* Adopt the domains the driver sees and the catalog does not know, keep
 * adopted records in step, forget those whose domain is gone.  Nothing
 * to do with a driver that sees only vmsnap's own domains (qemu).
 */
static int
servers_sync(struct svc *svc, struct error **errp)
{
    struct hv *hv = svc_hv(svc, errp);
    struct hv_found *found = NULL;
    struct instance **list = NULL;
    size_t nf = 0, n = 0, i, j;

    if (hv == NULL) {
        return -1;
    }
    if (!hv_lists_domains(hv)) {
        return 0;
    }
    if (hv_list(hv, &found, &nf, errp) < 0 ||
        catalog_instance_list(svc_catalog(svc), &list, &n, errp) < 0) {
        hv_found_list_free(found, nf);
        return -1;
    }
    for (i = 0; i < nf; i++) {
        struct instance *inst = NULL;
        struct error *err = NULL;

        for (j = 0; j < n && inst == NULL; j++) {
            if (strcmp(list[j]->id, found[i].id) == 0) {
                inst = list[j];
            }
        }
        if (inst && servers_is_adopted(inst)) {
            servers_follow(svc, inst, &found[i]);
        } else if (inst == NULL && servers_adopt(svc, &found[i], &err) < 0) {
            /* Another process adopted it first, or the name is taken. */
            if (catalog_instance_get(svc_catalog(svc), found[i].id, &inst,
                                     NULL) < 0) {
                log_warnx("cannot adopt domain %s (%s): %s", found[i].name,
                          found[i].id, error_msg(err));
            }
            instance_free(inst);
            error_free(err);
        }
    }
    for (j = 0; j < n; j++) {
        bool seen = false;

        for (i = 0; i < nf && !seen; i++) {
            seen = strcmp(list[j]->id, found[i].id) == 0;
        }
        if (!seen && servers_is_adopted(list[j])) {
            servers_forget(svc, list[j]);
        }
    }
    instance_list_free(list, n);
    hv_found_list_free(found, nf);
    return 0;
}

int
servers_find(struct svc *svc, const struct caller *who, const char *ref,
             struct instance **out, struct error **errp)
{
    struct instance *inst = NULL;
    struct error *err = NULL, *serr = NULL;

    if (catalog_instance_find(svc_catalog(svc), ref, &inst, &err) < 0) {
        if (error_get_class(err) != ERR_NOT_FOUND) {
            error_propagate(errp, err);
            return -1;
        }
        error_free(err);
        /* Perhaps a domain the driver sees and the catalog does not know
         * yet.
         */
        if (servers_sync(svc, &serr) < 0) {
            error_prepend(&serr, "no server '%s' in the catalog, and the "
                          "hypervisor cannot tell: ", ref);
            error_propagate(errp, serr);
            return -1;
        }
        if (catalog_instance_find(svc_catalog(svc), ref, &inst, errp) < 0) {
            return -1;
        }
    }
    if (!svc_may_see(who, inst->project_id)) {
        instance_free(inst);
        error_setg(errp, ERR_NOT_FOUND, "no server named or with ID '%s'",
                   ref);
        return -1;
    }
    *out = inst;
    return 0;
}

int
servers_list(struct svc *svc, const struct caller *who,
             struct instance ***out, size_t *n, struct error **errp)
{
    struct instance **list = NULL;
    struct error *err = NULL;
    size_t i, j = 0, total = 0;

    /* A driver that cannot list now (libvirtd restarting) leaves the
     * records as they are; their states will say what is wrong.
     */
    if (servers_sync(svc, &err) < 0) {
        log_warnx("servers are not in step with the hypervisor: %s",
                  error_msg(err));
        error_free(err);
    }
    if (catalog_instance_list(svc_catalog(svc), &list, &total, errp) < 0) {
        return -1;
    }
    for (i = 0; i < total; i++) {
        if (svc_may_see(who, list[i]->project_id)) {
            list[j++] = list[i];
        } else {
            instance_free(list[i]);
        }
    }
    *out = list;
    *n = j;
    return 0;
}

int
servers_set_vm_state(struct svc *svc, const char *id, const char *state,
                     const char *shutdown, struct error **errp)
{
    struct prop set[2] = {
        {(char *)META_VM_STATE, (char *)state},
        {(char *)META_SHUTDOWN, (char *)shutdown},
    };

    return catalog_instance_set_meta(svc_catalog(svc), id, set,
                                     shutdown ? 2 : 1, NULL, 0, errp);
}

void
servers_domain_clear(struct servers_domain *sd)
{
    size_t i;

    volume_list_free(sd->vols, sd->nvols);
    for (i = 0; i < sizeof(sd->strings) / sizeof(sd->strings[0]); i++) {
        free(sd->strings[i]);
    }
    hv_found_clear(&sd->found);
    memset(sd, 0, sizeof(*sd));
}

/* The local file of image ID (kernel, ramdisk), kept in SD. */
static const char *
servers_boot_file(struct svc *svc, struct servers_domain *sd, size_t slot,
                  const char *id, struct error **errp)
{
    struct image *img = NULL;
    int r;

    if (catalog_image_get(svc_catalog(svc), id, &img, errp) < 0) {
        return NULL;
    }
    r = images_local_path(svc, img, &sd->strings[slot], errp);
    image_free(img);
    return r < 0 ? NULL : sd->strings[slot];
}

/* What every driver call on INST needs, asking nobody: its identity,
 * size, agent and state directory; no disks.  Enough for state, stop,
 * pause, the agent, destroy, and anything on an adopted server but its
 * disks.
 */
static void
servers_domain_ident(struct svc *svc, const struct instance *inst,
                     struct servers_domain *sd)
{
    struct hv_domain *d = &sd->d;

    memset(sd, 0, sizeof(*sd));
    d->id = inst->id;
    d->name = inst->name;
    d->cpus = inst->cpus;
    d->memory_mb = inst->memory_mb;
    d->accel = instance_meta(inst, META_ACCEL);
    d->cmdline = instance_meta(inst, META_CMDLINE);
    d->agent = servers_has_agent(inst);
    d->state_dir = sd->strings[0] = datadir_instance_dir(svc_dir(svc),
                                                         inst->id);
    d->disks = sd->disks;
}

/* The ID vmsnap gives disk TARGET of adopted domain ID: a UUID made from
 * both, the same every time, so that the volume snapshots of one disk
 * name one volume across snapshots.
 */
static void
servers_own_disk_id(const char *id, const char *target,
                    char out[UTIL_UUID_LEN])
{
    CLEANUP_FREE char *text = xasprintf("vmsnap-disk:%s/%s", id, target);
    char hex[HASH_MAX_HEX_LEN];

    if (hash_mem("sha256", text, strlen(text), hex, NULL) < 0) {
        util_uuid_new(out);
        return;
    }
    /* RFC 9562 version 8 (custom), variant 10. */
    hex[12] = '8';
    hex[16] = "89ab"[(hex[16] >= 'a' ? hex[16] - 'a' + 10
                                     : hex[16] - '0') & 3];
    snprintf(out, UTIL_UUID_LEN, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
             hex + 12, hex + 16, hex + 20);
}

/* The disks of adopted server INST (identity filled in SD already), from
 * the driver: its root disk, the volumes vmsnap hot-plugged that the
 * domain has now, then the domain's other disks.
 */
static int
servers_domain_adopted(struct svc *svc, const struct instance *inst,
                       struct servers_domain *sd, struct error **errp)
{
    struct hv *hv = svc_hv(svc, errp);
    const struct hv_found *f = &sd->found;
    const char *q;
    size_t i, j, kept = 0, n;

    if (hv == NULL || hv_find(hv, inst->id, &sd->found, errp) < 0) {
        return -1;
    }
    if (f->ndisks == 0) {
        error_setg(errp, ERR_INVALID, "domain %s has no disk vmsnap can "
                   "copy (a file or a block device)", f->name);
        return -1;
    }
    sd->d.agent = f->agent;
    q = hv_found_prop(f, PROP_OS_REQUIRE_QUIESCE);
    sd->require_quiesce = q && strcmp(q, "yes") == 0;
    sd->disks[0].index = 0;
    sd->disks[0].id = inst->id;
    sd->disks[0].path = f->disks[0].path;
    sd->disks[0].format = f->disks[0].format;
    sd->disks[0].readonly = f->disks[0].readonly;
    if (catalog_volume_list(svc_catalog(svc), inst->id, &sd->vols,
                            &sd->nvols, errp) < 0) {
        return -1;
    }
    /* Volumes attached live only are gone after the domain restarted
     * by other means: keep those the domain has now.
     */
    for (i = 0; i < sd->nvols; i++) {
        CLEANUP_FREE char *file = datadir_volume_file(svc_dir(svc),
                                                      sd->vols[i]->id);
        bool has = false;

        for (j = 1; j < f->ndisks && !has; j++) {
            has = strcmp(f->disks[j].path, file) == 0;
        }
        if (has && kept < SERVERS_MAX_VOLUMES) {
            sd->vols[kept++] = sd->vols[i];
        } else {
            volume_free(sd->vols[i]);
        }
    }
    sd->nvols = kept;
    for (i = 0; i < sd->nvols; i++) {
        volumes_hv_disk(svc, sd->vols[i], &sd->disks[1 + i]);
    }
    n = 1 + sd->nvols;
    for (j = 1; j < f->ndisks; j++) {
        struct hv_disk *dk;
        bool vol = false;

        for (i = 0; i < sd->nvols && !vol; i++) {
            vol = strcmp(f->disks[j].path, sd->vols[i]->file) == 0;
        }
        if (vol) {
            continue;
        }
        if (n >= 1 + SERVERS_MAX_VOLUMES) {
            sd->nleft_out++;
            continue;
        }
        servers_own_disk_id(inst->id, f->disks[j].target,
                            sd->own_ids[sd->nown]);
        dk = &sd->disks[n++];
        dk->index = (int)(n - 1);
        dk->id = sd->own_ids[sd->nown++];
        dk->path = f->disks[j].path;
        dk->format = f->disks[j].format;
        dk->readonly = f->disks[j].readonly;
    }
    sd->d.ndisks = n;
    return 0;
}

int
servers_domain(struct svc *svc, const struct instance *inst,
               struct servers_domain *sd, struct error **errp)
{
    struct hv_domain *d = &sd->d;
    const char *kernel = instance_meta(inst, META_KERNEL);
    const char *ramdisk = instance_meta(inst, META_RAMDISK);
    size_t i;

    servers_domain_ident(svc, inst, sd);
    if (servers_is_adopted(inst)) {
        if (servers_domain_adopted(svc, inst, sd, errp) < 0) {
            servers_domain_clear(sd);
            return -1;
        }
        return 0;
    }
    sd->strings[1] = xasprintf("%s/root.qcow2", d->state_dir);
    sd->disks[0].index = 0;
    sd->disks[0].id = inst->id;
    sd->disks[0].path = sd->strings[1];
    sd->disks[0].format = "qcow2";
    if (kernel && ramdisk) {
        d->kernel = servers_boot_file(svc, sd, 2, kernel, errp);
        d->initrd = d->kernel ? servers_boot_file(svc, sd, 3, ramdisk, errp)
                              : NULL;
        if (d->initrd == NULL) {
            servers_domain_clear(sd);
            return -1;
        }
    }
    if (catalog_volume_list(svc_catalog(svc), inst->id, &sd->vols,
                            &sd->nvols, errp) < 0) {
        servers_domain_clear(sd);
        return -1;
    }
    for (i = 0; i < sd->nvols && i < SERVERS_MAX_VOLUMES; i++) {
        volumes_hv_disk(svc, sd->vols[i], &sd->disks[1 + i]);
    }
    d->ndisks = 1 + i;
    return 0;
}

/* The state of INST, which runs on another host: only what the catalog
 * records (the state its user last asked for); its hypervisor is that
 * host's.
 */
static void
servers_remote_state(const struct instance *inst, struct hv_state *st)
{
    static const char *const map[][2] = {
        {"active", "ACTIVE"}, {"paused", "PAUSED"}, {"stopped", "SHUTOFF"},
        {"building", "BUILD"},
    };
    const char *want = instance_meta(inst, META_VM_STATE);
    size_t i;

    memset(st, 0, sizeof(*st));
    snprintf(st->status, sizeof(st->status), "UNKNOWN");
    snprintf(st->power, sizeof(st->power), "elsewhere");
    for (i = 0; want && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(want, map[i][0]) == 0) {
            snprintf(st->status, sizeof(st->status), "%s", map[i][1]);
        }
    }
}

int
servers_state(struct svc *svc, const struct instance *inst,
              struct hv_state *st, struct error **errp)
{
    const char *want = instance_meta(inst, META_VM_STATE);
    struct servers_domain sd;
    struct hv *hv;
    int r;

    if (!svc_is_local(svc, inst)) {
        servers_remote_state(inst, st);
        return 0;
    }
    hv = svc_hv(svc, errp);
    if (hv == NULL) {
        return -1;
    }
    servers_domain_ident(svc, inst, &sd);
    r = hv_state(hv, &sd.d, st, errp);
    servers_domain_clear(&sd);
    /* The driver of an adopted domain says itself why it is off. */
    if (r == 0 && strcmp(st->status, "SHUTOFF") == 0 && want &&
        !servers_is_adopted(inst) && st->fault[0] == '\0' &&
        (strcmp(want, "active") == 0 || strcmp(want, "paused") == 0)) {
        snprintf(st->fault, sizeof(st->fault),
                 "QEMU exited unexpectedly (the server was %s)", want);
    }
    return r;
}

/* An image property as a number in [1, MAX], or DEF when it is absent or
 * not such a number.
 */
static int64_t
servers_image_number(const struct image *img, const char *key, int64_t def,
                     int64_t max)
{
    const char *v = image_prop(img, key);
    int64_t n;

    if (v && util_parse_int64(v, &n, NULL) == 0 && n >= 1 && n <= max) {
        return n;
    }
    return def;
}

/* A new record for SPEC booting IMG, with what the image says captured
 * as metadata (the image may change later; the server does not).
 */
static struct instance *
servers_new_record(struct svc *svc, const struct caller *who,
                   const struct servers_new *spec, const struct image *img,
                   struct error **errp)
{
    const char *accel_override = spec->accel ? spec->accel
                                             : svc_config(svc)->accel;
    const char *kernel = image_prop(img, "kernel_id");
    const char *ramdisk = image_prop(img, "ramdisk_id");
    const char *agent = image_prop(img, "hw_qemu_guest_agent");
    const char *cmdline = image_prop(img, "os_command_line");
    const char *require = image_prop(img, "os_require_quiesce");
    struct instance *inst;
    enum accel_kind kind;

    if ((kernel == NULL) != (ramdisk == NULL)) {
        error_setg(errp, ERR_INVALID,
                   "image %s has only one of kernel_id and ramdisk_id",
                   img->id);
        return NULL;
    }
    if (accel_choose(accel_override, &kind, errp) < 0) {
        return NULL;
    }
    inst = xcalloc(1, sizeof(*inst));
    util_uuid_new(inst->id);
    inst->name = xstrdup(spec->name);
    inst->image_id = xstrdup(img->id);
    inst->project_id = who->project_id ? xstrdup(who->project_id) : NULL;
    inst->user_id = who->user_id ? xstrdup(who->user_id) : NULL;
    inst->host = xstrdup(svc_host(svc));
    /* A snapshot boots with the size of the instance it was taken of
     * (vmsnap_cpus, vmsnap_memory_mb) unless told otherwise.
     */
    inst->cpus = spec->cpus > 0
                     ? spec->cpus
                     : (int)servers_image_number(img, "vmsnap_cpus", 1, 256);
    inst->memory_mb =
        spec->memory_mb > 0
            ? spec->memory_mb
            : servers_image_number(img, "vmsnap_memory_mb",
                                   img->min_ram > SERVERS_DEFAULT_MEMORY_MB
                                       ? img->min_ram
                                       : SERVERS_DEFAULT_MEMORY_MB,
                                   1 << 22);
    if (inst->memory_mb < img->min_ram) {
        error_setg(errp, ERR_INVALID,
                   "image %s needs at least %lld MiB of memory", img->id,
                   (long long)img->min_ram);
        instance_free(inst);
        return NULL;
    }
    if (instance_meta_set(inst, META_ACCEL, accel_name(kind),
                          errp) < 0 ||
        instance_meta_set(inst, META_AGENT,
                          agent && strcmp(agent, "yes") == 0 ? "yes" : "no",
                          errp) < 0 ||
        (kernel &&
         instance_meta_set(inst, META_KERNEL, kernel, errp) < 0) ||
        (ramdisk &&
         instance_meta_set(inst, META_RAMDISK, ramdisk, errp) < 0) ||
        (cmdline &&
         instance_meta_set(inst, META_CMDLINE, cmdline, errp) < 0) ||
        (require && strcmp(require, "yes") == 0 &&
         instance_meta_set(inst, PROP_OS_REQUIRE_QUIESCE, "yes",
                           errp) < 0) ||
        (spec->flavor &&
         instance_meta_set(inst, META_FLAVOR, spec->flavor, errp) < 0) ||
        instance_meta_set(inst, META_VM_STATE, "building", errp) <
            0) {
        instance_free(inst);
        return NULL;
    }
    return inst;
}

/* Detach every volume of INST in the catalog; with DELETE, delete them
 * too (volumes made for INST by a failed create).
 */
static void
servers_release_volumes(struct svc *svc, const struct instance *inst,
                        bool delete)
{
    struct catalog *cat = svc_catalog(svc);
    struct volume **vols = NULL;
    size_t n = 0, i;

    if (catalog_volume_list(cat, inst->id, &vols, &n, NULL) < 0) {
        return;
    }
    for (i = 0; i < n; i++) {
        if (catalog_volume_detach(cat, vols[i]->id, inst->id, NULL) == 0 &&
            delete) {
            volumes_remove(svc, vols[i], NULL);
        }
    }
    volume_list_free(vols, n);
}

/* Boot INST (its lock held): build its domain and start it. */
static int
servers_boot(struct svc *svc, const struct instance *inst,
             struct error **errp)
{
    struct servers_domain sd;
    struct hv *hv = svc_hv(svc, errp);
    int r;

    if (hv == NULL || servers_domain(svc, inst, &sd, errp) < 0) {
        return -1;
    }
    r = hv_start(hv, &sd.d, errp);
    servers_domain_clear(&sd);
    if (r < 0) {
        return -1;
    }
    return servers_set_vm_state(svc, inst->id, "active", "none", errp);
}

int
servers_create(struct svc *svc, const struct caller *who,
               const struct servers_new *spec, struct instance **out,
               struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct image *img = NULL;
    struct instance *inst = NULL;
    struct lock *lk = NULL;
    CLEANUP_FREE char *dir = NULL;
    CLEANUP_FREE char *root = NULL;
    CLEANUP_FREE char *base = NULL;
    bool inserted = false, made_dir = false;
    char req[ACTIONS_REQ_LEN];

    if (spec->name == NULL || *spec->name == '\0') {
        error_setg(errp, ERR_INVALID, "a server needs a name");
        return -1;
    }
    if (images_find(svc, who, spec->image, &img, errp) < 0) {
        return -1;
    }
    if (strcmp(img->status, "active") != 0) {
        error_setg(errp, ERR_CONFLICT, "image %s is %s, not active",
                   img->id, img->status);
        goto fail;
    }
    if (!images_is_disk(img->disk_format) ||
        images_local_path(svc, img, &base, errp) < 0) {
        if (errp && *errp == NULL) {
            error_setg(errp, ERR_INVALID, "image %s has no disk to boot",
                       img->id);
        }
        goto fail;
    }
    inst = servers_new_record(svc, who, spec, img, errp);
    if (inst == NULL || catalog_instance_insert(cat, inst, errp) < 0) {
        goto fail;
    }
    inserted = true;
    actions_start(svc, who, inst->id, "create", req);
    dir = datadir_instance_dir(svc_dir(svc), inst->id);
    root = xasprintf("%s/root.qcow2", dir);
    made_dir = true;
    if (util_mkdir_p(dir, 0700, errp) < 0 ||
        svc_lock(svc, "instance", inst->id, true, &lk, errp) < 0 ||
        qemuimg_create_overlay(root, base, img->disk_format, errp) < 0 ||
        volumes_from_image_set(svc, who, inst, img, errp) < 0 ||
        servers_boot(svc, inst, errp) < 0) {
        goto fail;
    }
    actions_finish(svc, inst->id, req, NULL);
    lock_release(lk);
    image_free(img);
    if (catalog_instance_get(cat, inst->id, out, NULL) < 0) {
        *out = steal_pointer(&inst);
    }
    instance_free(inst);
    return 0;

fail:
    if (made_dir) {
        struct servers_domain sd;
        struct hv *hv = svc_hv(svc, NULL);

        if (hv && servers_domain(svc, inst, &sd, NULL) == 0) {
            hv_destroy(hv, &sd.d, NULL);
            servers_domain_clear(&sd);
        }
        servers_remove_dir(dir, NULL);
    }
    if (inserted) {
        servers_release_volumes(svc, inst, true);
        catalog_instance_delete(cat, inst->id, NULL);
    }
    lock_release(lk);
    instance_free(inst);
    image_free(img);
    return -1;
}

/* Find REF for WHO and take its lock (WAIT); the record is read again
 * under the lock.
 */
static int
servers_find_locked(struct svc *svc, const struct caller *who,
                    const char *ref, bool wait, struct instance **out,
                    struct lock **lk, struct error **errp)
{
    struct instance *inst = NULL;

    if (servers_find(svc, who, ref, &inst, errp) < 0) {
        return -1;
    }
    if (svc_must_be_local(svc, inst, errp) < 0 ||
        svc_lock(svc, "instance", inst->id, wait, lk, errp) < 0) {
        instance_free(inst);
        return -1;
    }
    if (catalog_instance_get(svc_catalog(svc), inst->id, out, errp) < 0) {
        lock_release(*lk);
        *lk = NULL;
        instance_free(inst);
        return -1;
    }
    instance_free(inst);
    return 0;
}

/* Run VERB on INST's domain, its lock held. */
static int
servers_act_locked(struct svc *svc, struct hv *hv,
                   const struct instance *inst, char verb, int timeout_s,
                   struct error **errp)
{
    struct servers_domain sd;
    bool clean = false;
    int r = -1;

    /* An adopted domain is started and stopped as the driver has it
     * defined: no disks of ours to describe.
     */
    if (servers_is_adopted(inst)) {
        servers_domain_ident(svc, inst, &sd);
    } else if (servers_domain(svc, inst, &sd, errp) < 0) {
        return -1;
    }
    switch (verb) {
    case 'S':
        r = hv_start(hv, &sd.d, errp);
        if (r == 0) {
            r = servers_set_vm_state(svc, inst->id, "active", "none", errp);
        }
        break;
    case 's':
        r = hv_stop(hv, &sd.d, timeout_s, &clean, errp);
        if (r == 0) {
            r = servers_set_vm_state(svc, inst->id, "stopped",
                                     clean ? "clean" : "forced", errp);
        }
        break;
    case 'p':
    case 'u':
        r = hv_pause(hv, &sd.d, verb == 'p', errp);
        if (r == 0) {
            r = servers_set_vm_state(svc, inst->id,
                                     verb == 'p' ? "paused" : "active", NULL,
                                     errp);
        }
        break;
    }
    servers_domain_clear(&sd);
    return r;
}

/* Run VERB on REF's domain under its lock, recorded as ACTION. */
static int
servers_act(struct svc *svc, const struct caller *who, const char *ref,
            char verb, int timeout_s, const char *action,
            struct error **errp)
{
    struct instance *inst = NULL;
    struct lock *lk = NULL;
    struct hv *hv = svc_hv(svc, errp);
    struct error *err = NULL;
    char req[ACTIONS_REQ_LEN];
    int r;

    if (hv == NULL ||
        servers_find_locked(svc, who, ref, true, &inst, &lk, errp) < 0) {
        return -1;
    }
    actions_start(svc, who, inst->id, action, req);
    r = servers_act_locked(svc, hv, inst, verb, timeout_s, &err);
    actions_finish(svc, inst->id, req, err);
    error_propagate(errp, err);
    lock_release(lk);
    instance_free(inst);
    return r;
}

int
servers_start(struct svc *svc, const struct caller *who, const char *ref,
              struct error **errp)
{
    return servers_act(svc, who, ref, 'S', 0, "start", errp);
}

int
servers_stop(struct svc *svc, const struct caller *who, const char *ref,
             int timeout_s, struct error **errp)
{
    return servers_act(svc, who, ref, 's', timeout_s, "stop", errp);
}

int
servers_pause(struct svc *svc, const struct caller *who, const char *ref,
              bool pause, struct error **errp)
{
    return servers_act(svc, who, ref, pause ? 'p' : 'u', 0,
                       pause ? "pause" : "unpause", errp);
}

int
servers_reboot(struct svc *svc, const struct caller *who, const char *ref,
               bool hard, int timeout_s, struct error **errp)
{
    struct instance *inst = NULL;
    struct lock *lk = NULL;
    struct hv *hv = svc_hv(svc, errp);
    struct error *err = NULL;
    struct hv_state st;
    char req[ACTIONS_REQ_LEN];
    int r;

    if (hv == NULL ||
        servers_find_locked(svc, who, ref, true, &inst, &lk, errp) < 0) {
        return -1;
    }
    actions_start(svc, who, inst->id, "reboot", req);
    r = servers_state(svc, inst, &st, &err);
    if (r == 0 && strcmp(st.status, "SHUTOFF") != 0) {
        r = servers_act_locked(svc, hv, inst, 's', hard ? 0 : timeout_s,
                               &err);
    }
    if (r == 0) {
        r = servers_act_locked(svc, hv, inst, 'S', 0, &err);
    }
    actions_finish(svc, inst->id, req, err);
    error_propagate(errp, err);
    lock_release(lk);
    instance_free(inst);
    return r;
}

/* Destroy INST's domain (HV_FLAGS as hv_destroy_flags), detach its
 * volumes, remove its directory, then its record: INST says task
 * deleting and its lock is held, so that a process that dies on the way
 * leaves a record that recovery finishes (servers_finish_delete), never
 * a directory without a record.  *WHOLE says whether nothing was
 * changed (the domain could not be destroyed).  Of an adopted server
 * only what vmsnap put in its directory goes, never its disks.
 */
static int
servers_purge(struct svc *svc, struct hv *hv, const struct instance *inst,
              unsigned hv_flags, bool *whole, struct error **errp)
{
    CLEANUP_FREE char *dir = datadir_instance_dir(svc_dir(svc), inst->id);
    bool adopted = servers_is_adopted(inst);
    struct servers_domain sd;
    int r;

    *whole = true;
    if (adopted) {
        servers_domain_ident(svc, inst, &sd);
    } else if (servers_domain(svc, inst, &sd, errp) < 0) {
        return -1;
    }
    r = hv_destroy_flags(hv, &sd.d, hv_flags, errp);
    servers_domain_clear(&sd);
    if (r < 0) {
        return -1;
    }
    *whole = false;
    /* Volumes outlive their server, as in Cinder: they are detached. */
    servers_release_volumes(svc, inst, false);
    if (adopted) {
        servers_remove_adopted_dir(dir);
    } else if (servers_remove_dir(dir, errp) < 0) {
        return -1;
    }
    return catalog_instance_delete(svc_catalog(svc), inst->id, errp);
}

void
servers_finish_delete(struct svc *svc, const struct instance *inst)
{
    struct error *err = NULL;
    struct hv *hv = svc_hv(svc, &err);
    bool whole;

    log_warnx("server %s was left being deleted by a process that died: "
              "finishing",
              inst->name);
    /* An adopted server is left deleting only by a forced delete: a
     * refused one changes nothing.
     */
    if (hv == NULL ||
        servers_purge(svc, hv, inst,
                      servers_is_adopted(inst) ? HV_DESTROY_FORCE : 0,
                      &whole, &err) < 0) {
        log_warnx("server %s: %s", inst->name, error_msg(err));
        error_free(err);
    }
}

int
servers_delete(struct svc *svc, const struct caller *who, const char *ref,
               struct error **errp)
{
    return servers_delete_flags(svc, who, ref, 0, errp);
}

int
servers_delete_flags(struct svc *svc, const struct caller *who,
                     const char *ref, unsigned flags, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct instance *inst = NULL;
    struct lock *lk = NULL;
    struct error *err = NULL;
    struct hv *hv = svc_hv(svc, errp);
    bool adopted, whole = true;
    int r = -1;

    if (hv == NULL || servers_find(svc, who, ref, &inst, errp) < 0) {
        return -1;
    }
    if (svc_must_be_local(svc, inst, errp) < 0) {
        instance_free(inst);
        return -1;
    }
    adopted = servers_is_adopted(inst);
    /* A running task holds the instance lock; a task_state without the
     * lock held was left by a process that died, and is replaced.
     */
    if (svc_lock(svc, "instance", inst->id, inst->task_state == NULL, &lk,
                 &err) < 0) {
        if (inst->task_state && error_get_class(err) == ERR_CONFLICT) {
            error_free(err);
            error_setg(errp, ERR_CONFLICT, "server %s is busy: %s",
                       inst->name, inst->task_state);
        } else {
            error_propagate(errp, err);
        }
        instance_free(inst);
        return -1;
    }
    if (inst->task_state) {
        log_warnx("server %s: clearing task '%s' left by a dead process",
                  inst->name, inst->task_state);
    }
    if (catalog_instance_set_task(cat, inst->id, inst->task_state,
                                  "deleting", errp) < 0) {
        goto out;
    }
    /* The driver knows who made the domain: it refuses one vmsnap did
     * not, unless forced.
     */
    r = servers_purge(svc, hv, inst,
                      flags & SERVERS_DELETE_FORCE ? HV_DESTROY_FORCE : 0,
                      &whole, &err);
    if (r < 0 && whole) {
        /* Still whole if the domain could not be destroyed: idle again.
         * Otherwise it stays deleting, for recovery to finish.
         */
        catalog_instance_set_task(cat, inst->id, "deleting", NULL, NULL);
        if (adopted && error_get_class(err) == ERR_CONFLICT) {
            error_free(err);
            err = NULL;
            error_setg(&err, ERR_CONFLICT,
                       "server %s is a domain vmsnap did not create: "
                       "delete --force undefines it (its disks stay)",
                       inst->name);
        }
    }
    error_propagate(errp, err);
out:
    lock_release(lk);
    instance_free(inst);
    return r;
}

int
servers_set_property(struct svc *svc, const struct caller *who,
                     const char *ref, const char *key, const char *value,
                     struct error **errp)
{
    struct instance *inst = NULL;
    struct servers_domain sd;
    struct prop set = {(char *)key, (char *)value};
    struct hv *hv;
    int r;

    if (key == NULL || strcmp(key, PROP_OS_REQUIRE_QUIESCE) != 0) {
        error_setg(errp, ERR_INVALID, "a server has no property '%s' "
                   "(only %s)", key ? key : "", PROP_OS_REQUIRE_QUIESCE);
        return -1;
    }
    if (value == NULL ||
        (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)) {
        error_setg(errp, ERR_INVALID, "%s must be yes or no", key);
        return -1;
    }
    if (servers_find(svc, who, ref, &inst, errp) < 0) {
        return -1;
    }
    if (!servers_is_adopted(inst)) {
        r = catalog_instance_set_meta(svc_catalog(svc), inst->id, &set, 1,
                                      NULL, 0, errp);
        instance_free(inst);
        return r;
    }
    /* The domain keeps it (it travels with the domain); the record
     * follows at once.
     */
    hv = svc_hv(svc, errp);
    if (hv == NULL) {
        instance_free(inst);
        return -1;
    }
    servers_domain_ident(svc, inst, &sd);
    r = hv_set_prop(hv, &sd.d, key, value, errp);
    servers_domain_clear(&sd);
    if (r == 0) {
        r = catalog_instance_set_meta(svc_catalog(svc), inst->id, &set, 1,
                                      NULL, 0, errp);
    }
    instance_free(inst);
    return r;
}

int
servers_console_path(struct svc *svc, const struct caller *who,
                     const char *ref, char **path, struct error **errp)
{
    struct instance *inst = NULL;
    CLEANUP_FREE char *dir = NULL;

    if (servers_find(svc, who, ref, &inst, errp) < 0) {
        return -1;
    }
    if (svc_must_be_local(svc, inst, errp) < 0) {
        instance_free(inst);
        return -1;
    }
    dir = datadir_instance_dir(svc_dir(svc), inst->id);
    *path = xasprintf("%s/console.log", dir);
    instance_free(inst);
    return 0;
}

struct agent *
servers_agent(struct svc *svc, const struct caller *who, const char *ref,
              int timeout_ms, struct error **errp)
{
    struct instance *inst = NULL;
    struct servers_domain sd;
    struct agent *a = NULL;
    struct hv *hv = svc_hv(svc, errp);

    if (hv == NULL || servers_find(svc, who, ref, &inst, errp) < 0) {
        return NULL;
    }
    if (svc_must_be_local(svc, inst, errp) == 0) {
        servers_domain_ident(svc, inst, &sd);
        a = hv_agent_open(hv, &sd.d, timeout_ms, 0, errp);
        servers_domain_clear(&sd);
    }
    instance_free(inst);
    return a;
}

/* Find server SREF and volume VREF for WHO, the server's lock held and
 * its domain filled.
 */
struct servers_vol_op {
    struct instance *inst;      /* the server */
    struct volume *vol;         /* the volume */
    struct lock *lk;            /* the server's lock */
    struct hv *hv;              /* the driver */
};

static int
servers_vol_begin(struct svc *svc, const struct caller *who, const char *sref,
                 const char *vref, struct servers_vol_op *op,
                 struct error **errp)
{
    memset(op, 0, sizeof(*op));
    op->hv = svc_hv(svc, errp);
    if (op->hv == NULL || servers_find(svc, who, sref, &op->inst, errp) < 0 ||
        svc_must_be_local(svc, op->inst, errp) < 0 ||
        volumes_find(svc, who, vref, &op->vol, errp) < 0 ||
        svc_lock(svc, "instance", op->inst->id, true, &op->lk, errp) < 0) {
        return -1;
    }
    return 0;
}

static void
servers_vol_end(struct servers_vol_op *op)
{
    lock_release(op->lk);
    instance_free(op->inst);
    volume_free(op->vol);
}

int
servers_attach_volume(struct svc *svc, const struct caller *who,
                      const char *sref, const char *vref, struct error **errp)
{
    struct catalog *cat = svc_catalog(svc);
    struct servers_vol_op op;
    struct servers_domain sd = {0};
    struct hv_state st;
    struct hv_disk disk;
    struct volume *vol = NULL;
    struct error *err = NULL;
    bool attached = false;
    char req[ACTIONS_REQ_LEN] = "";
    int index, r = -1;

    if (servers_vol_begin(svc, who, sref, vref, &op, &err) < 0) {
        goto out;
    }
    actions_start(svc, who, op.inst->id, "attach_volume", req);
    if (catalog_volume_attach(cat, op.vol->id, op.inst->id, &index, &err) <
        0) {
        goto out;
    }
    attached = true;
    if (index > SERVERS_MAX_VOLUMES) {
        error_setg(&err, ERR_CONFLICT,
                   "server %s has no free volume slot (at most %d, "
                   "numbered in attachment order)",
                   op.inst->name, SERVERS_MAX_VOLUMES);
        goto out;
    }
    if (catalog_volume_get(cat, op.vol->id, &vol, &err) < 0 ||
        servers_domain(svc, op.inst, &sd, &err) < 0 ||
        hv_state(op.hv, &sd.d, &st, &err) < 0) {
        goto out;
    }
    if (strcmp(st.status, "SHUTOFF") == 0) {
        r = 0;          /* recorded: attached at the next start */
        goto out;
    }
    volumes_hv_disk(svc, vol, &disk);
    r = hv_disk_attach(op.hv, &sd.d, &disk, &err);
out:
    if (r < 0 && attached) {
        catalog_volume_detach(cat, op.vol->id, op.inst->id, NULL);
    }
    if (req[0]) {
        actions_finish(svc, op.inst->id, req, r < 0 ? err : NULL);
    }
    error_propagate(errp, err);
    servers_domain_clear(&sd);
    volume_free(vol);
    servers_vol_end(&op);
    return r;
}

int
servers_detach_volume(struct svc *svc, const struct caller *who,
                      const char *sref, const char *vref, struct error **errp)
{
    struct servers_vol_op op;
    struct servers_domain sd = {0};
    struct hv_state st;
    struct hv_disk disk;
    struct error *err = NULL;
    char req[ACTIONS_REQ_LEN] = "";
    int r = -1;

    if (servers_vol_begin(svc, who, sref, vref, &op, &err) < 0) {
        goto out;
    }
    if (op.vol->instance_id == NULL ||
        strcmp(op.vol->instance_id, op.inst->id) != 0) {
        error_setg(&err, ERR_CONFLICT,
                   "volume %s is not attached to server %s",
                   op.vol->name ? op.vol->name : op.vol->id, op.inst->name);
        goto out;
    }
    actions_start(svc, who, op.inst->id, "detach_volume", req);
    if (servers_domain(svc, op.inst, &sd, &err) < 0 ||
        hv_state(op.hv, &sd.d, &st, &err) < 0) {
        goto out;
    }
    if (strcmp(st.status, "PAUSED") == 0) {
        /* A paused guest cannot answer the unplug request. */
        error_setg(&err, ERR_CONFLICT,
                   "server %s is paused: unpause it to detach a volume",
                   op.inst->name);
        goto out;
    }
    if (strcmp(st.status, "SHUTOFF") != 0) {
        volumes_hv_disk(svc, op.vol, &disk);
        if (hv_disk_detach(op.hv, &sd.d, &disk, &err) < 0) {
            goto out;
        }
    }
    r = catalog_volume_detach(svc_catalog(svc), op.vol->id, op.inst->id,
                              &err);
out:
    if (req[0]) {
        actions_finish(svc, op.inst->id, req, r < 0 ? err : NULL);
    }
    error_propagate(errp, err);
    servers_domain_clear(&sd);
    servers_vol_end(&op);
    return r;
}
