/* vmsnap: the service context (see svc.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob-registry.h"
#include "catalog.h"
#include "cleanup.h"
#include "datadir.h"
#include "hv-registry.h"
#include "log.h"
#include "qemuimg.h"
#include "svc.h"
#include "xalloc.h"

struct svc {
    const struct config *cfg;   /* borrowed */
    char *dir;                  /* the data directory, absolute */
    struct catalog *cat;        /* the catalog */
    struct blob *blob;          /* the image-data store */
    struct locks *locks;        /* the lock manager */
    struct hv *hv;              /* the hypervisor driver, or NULL until
                                 * first used */
    struct caller local;        /* the local admin */
};

/* The catalog file is ours alone (audit L9): made 0600 before SQLite
 * makes it (its -wal and -shm files take its mode), and an older one
 * that others can read is made so.
 */
static void
svc_private_catalog(const char *db)
{
    struct stat st;
    int fd;

    if (lstat(db, &st) == 0) {
        if (S_ISREG(st.st_mode) && (st.st_mode & 077) &&
            chmod(db, st.st_mode & 0700) < 0 && errno != EROFS) {
            log_warnx("chmod %s: %s", db, strerror(errno));
        }
        return;
    }
    fd = open(db, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              0600);
    if (fd >= 0) {
        close(fd);
    }
}

/* A host name is a word of [A-Za-z0-9._-]: it is shown, stored and
 * compared, and names this host's leases.
 */
static int
svc_check_host(const char *host, struct error **errp)
{
    size_t n = strspn(host, "abcdefghijklmnopqrstuvwxyz"
                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    if (*host == '\0' || host[n] != '\0' || n > 64) {
        error_setg(errp, ERR_INVALID, "host.name must be 1 to 64 letters, "
                   "digits, '.', '_' or '-'");
        return -1;
    }
    return 0;
}

struct svc *
svc_open(const struct config *cfg, struct error **errp)
{
    struct svc *svc = xcalloc(1, sizeof(*svc));
    CLEANUP_FREE char *db = NULL;

    svc->cfg = cfg;
    svc->local.admin = true;
    qemuimg_set_program(cfg->qemu_img);
    if (datadir_open(cfg->data_dir, &svc->dir, errp) < 0) {
        goto fail;
    }
    if (svc_check_host(cfg->host_name, errp) < 0) {
        goto fail;
    }
    if (*cfg->catalog != '\0') {
        /* Shared with other hosts: their locks must be seen here too. */
        if (!catalog_target_is_shared(cfg->catalog)) {
            error_setg(errp, ERR_INVALID, "catalog.connection must be a "
                       "PostgreSQL connection string (postgresql://... or "
                       "host=... dbname=...), or empty for SQLite in the "
                       "data directory");
            goto fail;
        }
        svc->cat = catalog_open(cfg->catalog, errp);
        svc->locks = locks_open_leases(cfg->catalog, cfg->host_name,
                                       cfg->lease_ttl_s);
    } else {
        db = xasprintf("%s/catalog.db", svc->dir);
        svc_private_catalog(db);
        svc->cat = catalog_open(db, errp);
        svc->locks = svc->cat ? locks_open_files(svc->dir, errp) : NULL;
    }
    if (svc->cat == NULL || svc->locks == NULL) {
        goto fail;
    }
    svc->blob = blob_open(cfg, svc->dir, errp);
    if (svc->blob == NULL) {
        goto fail;
    }
    return svc;

fail:
    svc_close(svc);
    return NULL;
}

void
svc_close(struct svc *svc)
{
    if (svc == NULL) {
        return;
    }
    hv_close(svc->hv);
    locks_close(svc->locks);
    blob_close(svc->blob);
    catalog_close(svc->cat);
    free(svc->dir);
    free(svc);
}

const struct config *
svc_config(const struct svc *svc)
{
    return svc->cfg;
}

const char *
svc_dir(const struct svc *svc)
{
    return svc->dir;
}

const char *
svc_host(const struct svc *svc)
{
    return svc->cfg->host_name;
}

bool
svc_is_local(const struct svc *svc, const struct instance *inst)
{
    /* A catalog of our own: every server is ours, whatever the host's
     * name was when it was made (the machine may have been renamed).
     */
    return !catalog_is_shared(svc->cat) || inst->host == NULL ||
           strcmp(inst->host, svc_host(svc)) == 0;
}

int
svc_must_be_local(const struct svc *svc, const struct instance *inst,
                  struct error **errp)
{
    if (svc_is_local(svc, inst)) {
        return 0;
    }
    error_setg(errp, ERR_CONFLICT, "server %s runs on host %s, not on this "
               "host (%s): ask there", inst->name, inst->host,
               svc_host(svc));
    return -1;
}

const struct caller *
svc_local_caller(struct svc *svc)
{
    return &svc->local;
}

struct catalog *
svc_catalog(struct svc *svc)
{
    return svc->cat;
}

struct blob *
svc_blob(struct svc *svc)
{
    return svc->blob;
}

struct locks *
svc_locks(struct svc *svc)
{
    return svc->locks;
}

struct hv *
svc_hv(struct svc *svc, struct error **errp)
{
    if (svc->hv == NULL) {
        svc->hv = hv_open(svc->cfg->compute_driver, svc->cfg, errp);
    }
    return svc->hv;
}

void
svc_use_hv(struct svc *svc, struct hv *hv)
{
    hv_close(svc->hv);
    svc->hv = hv;
}

int
svc_lock(struct svc *svc, const char *kind, const char *id, bool wait,
         struct lock **out, struct error **errp)
{
    return lock_take(svc->locks, kind, id, wait, out, errp);
}

bool
svc_may_see(const struct caller *who, const char *owner)
{
    if (who->admin) {
        return true;
    }
    if (owner == NULL || who->project_id == NULL) {
        return owner == who->project_id;
    }
    return strcmp(owner, who->project_id) == 0;
}

void
svc_left_for_recovery(const char *kind, const char *id)
{
    log_warnx("%s %s is left in the catalog for the next command to "
              "finish (the catalog could not be written)",
              kind, id);
}

void
svc_test_pause(const char *fifo, const char *what)
{
    CLEANUP_FREE char *mark = xasprintf("%s.paused", fifo);
    char line[64];
    int fd;

    log_warnx("test: %s paused, waiting on %s", what, fifo);
    fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) {
        close(fd);
    }
    /* Opening a FIFO for reading waits for its writer. */
    fd = open(fifo, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        log_warnx("test: %s: %s", fifo, strerror(errno));
        return;
    }
    while (read(fd, line, sizeof(line)) < 0 && errno == EINTR) {
        continue;
    }
    close(fd);
}
