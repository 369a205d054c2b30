/* vmsnap: the configuration, read in one place.
 *
 * Every setting is declared once, in the table of config.c: its name in
 * the file, its environment variable, its type, its default and a line
 * of help.  The values come, later ones winning, from
 *   1. the defaults;
 *   2. the file: --config FILE, else $VMSNAP_CONFIG, else
 *      /etc/vmsnap/vmsnap.conf when it exists;
 *   3. the VMSNAP_* environment variables;
 *   4. what the front end sets from its own options (config_set).
 * The file is lines of "name = value"; "[section]" lines prefix the names
 * that follow with "section."; '#' starts a comment.  An unknown name, a
 * value of the wrong type or out of range is an error that names the file
 * and line.
 *
 * This module is the only one that calls getenv for vmsnap's own
 * settings.  Test hooks exist only in a build configured with
 * -Dtest_hooks=true (VMSNAP_TEST_HOOKS defined); elsewhere their
 * variables are ignored, with a warning when one is set.
 */
#ifndef VMSNAP_CONFIG_H
#define VMSNAP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

#define CONFIG_DEFAULT_FILE "/etc/vmsnap/vmsnap.conf"

/* The settings.  Strings are owned by the struct (never NULL unless the
 * field says so); read it, change it only through config_set.
 */
struct config {
    char *file;                 /* the file read, or NULL */

    /* [DEFAULT] */
    char *data_dir;             /* data_dir: the data directory */
    char *debug;                /* debug: subsystems to trace ("qmp,qga",
                                 * "all"), or "" */

    /* [compute] */
    char *compute_driver;       /* compute.driver: "qemu" or "libvirt" */
    char *libvirt_uri;          /* compute.libvirt_uri */
    char *accel;                /* compute.accel: "auto", "kvm", "tcg" */
    char *qemu;                 /* compute.qemu: the QEMU binary */
    char *qemu_img;             /* compute.qemu_img: the qemu-img binary */

    /* [snapshot] */
    int freeze_timeout_ms;      /* snapshot.freeze_timeout_ms */
    int max_frozen_ms;          /* snapshot.max_frozen_ms: how long past
                                 * the freeze's timeout the watchdog lets
                                 * a guest stay frozen */
    int64_t copy_rate_limit;    /* snapshot.copy_rate_limit: bytes per
                                 * second per disk, 0: none */
    int copy_inflight;          /* snapshot.copy_inflight: read requests
                                 * the copy keeps in flight */
    int copy_nice;              /* snapshot.copy_nice: the nice value of
                                 * the copy's threads */
    int copy_yield_pct;         /* snapshot.copy_yield_pct: the share of
                                 * time the guest's vCPUs may wait for a
                                 * core before the copy slows, 0: never */
    int copy_stall_ms;          /* snapshot.copy_stall_timeout_ms: how long
                                 * an NBD server may send nothing */
    int presync;                /* snapshot.presync: 1 to sync the guest
                                 * (guest-exec) before freezing it */

    /* [catalog] */
    char *catalog;              /* catalog.connection: "" (SQLite in the
                                 * data directory) or a PostgreSQL
                                 * connection string */
    int lease_ttl_s;            /* catalog.lease_ttl_s: how long a lease
                                 * (the lock of a shared catalog) lasts
                                 * unless its holder renews it */

    /* [host] */
    char *host_name;            /* host.name: this host among those that
                                 * share a catalog */

    /* [store] */
    char *store;                /* store.driver: "file" or "s3" */
    char *s3_endpoint;          /* store.s3_endpoint: "http://host:port" */
    char *s3_bucket;            /* store.s3_bucket */
    char *s3_region;            /* store.s3_region */
    char *s3_credentials;       /* store.s3_credentials: the file holding
                                 * the access key and secret */
    int64_t s3_part_size;       /* store.s3_part_size: multipart parts */
    int s3_concurrency;         /* store.s3_concurrency: parts at once */
    char *cache_dir;            /* store.cache_dir: local copies of
                                 * objects; "": DATA_DIR/cache/s3 */
    int64_t cache_max;          /* store.cache_max: bytes the cache holds
                                 * at most */
    int store_lease_ttl_s;      /* store.lease_ttl_s: how long a chunk
                                 * store lease in the s3 store (a backup
                                 * writing, a gc) outlives its holder */

    /* [backup] */
    int64_t chunk_size;         /* backup.chunk_size: bytes per chunk of a
                                 * new chunk store (a power of two), 0:
                                 * the store's default; an existing
                                 * store keeps its own */
    int backup_incremental;     /* backup.incremental: 1: every backup
                                 * into the chunk store */

    /* [limits] */
    int64_t max_image_size;     /* limits.max_image_size: bytes, 0: none */
    int64_t reserved_space;     /* limits.reserved_space: bytes kept free
                                 * in the data directory */

    /* [daemon]: vmsnapd, the REST API (its options override these) */
    char *listen;               /* daemon.listen: ADDR:PORT */
    char *tls_cert;             /* daemon.tls_cert: PEM chain, "" none */
    char *tls_key;              /* daemon.tls_key: PEM key, "" none */
    char *public_url;           /* daemon.public_url: base URL in the
                                 * service catalog, "" from each request */
    int token_ttl_s;            /* daemon.token_ttl: lifetime of tokens */
    int64_t max_body;           /* daemon.max_body: largest JSON body */

    /* [worker] */
    char *worker;               /* worker.program: the vmsnap-worker
                                 * binary, "" for the one beside the
                                 * running program */

    /* Test hooks (test builds only; else always their "off" value). */
    int test_break_disk;        /* VMSNAP_TEST_BREAK_DISK: the copy of
                                 * disk N fails half-way; -1: off */
    int test_hold_frozen_ms;    /* VMSNAP_TEST_HOLD_FROZEN_MS: hold the
                                 * freeze this long; 0: off */
    char *test_backup_pause;    /* VMSNAP_TEST_BACKUP_PAUSE: a FIFO; a
                                 * backup into the chunk store that has
                                 * written its chunks creates FIFO.paused
                                 * and waits for a line on FIFO before it
                                 * commits its index; "": off */
    char *test_request_pause;   /* VMSNAP_TEST_REQUEST_PAUSE: a FIFO; a
                                 * snapshot or backup request that has
                                 * recorded its image creates FIFO.paused
                                 * and waits for a line on FIFO before it
                                 * records its task; "": off */
};

/* Load the configuration: defaults, then FILE (NULL: $VMSNAP_CONFIG or
 * the default file if it exists; a FILE given that does not exist is an
 * error), then the environment.  Returns a new config (free with
 * config_free), or NULL with ERR_INVALID naming the file, line and
 * setting, or ERR_IO when the file cannot be read.
 */
struct config *config_load(const char *file, struct error **errp);

/* Set setting NAME ("snapshot.freeze_timeout_ms") from its text VALUE,
 * checked as the file's values are.  Returns 0, or -1 with ERR_INVALID.
 */
int config_set(struct config *cfg, const char *name, const char *value,
               struct error **errp);

/* Free CFG; NULL is allowed. */
void config_free(struct config *cfg);

/* Call FN for every setting in table order with its name, its value as
 * text and its help line (for "vmsnap config show").  Test hooks are
 * listed only in test builds.
 */
void config_foreach(const struct config *cfg,
                    void (*fn)(const char *name, const char *value,
                               const char *help, void *opaque),
                    void *opaque);

/* True in a build with test hooks compiled in. */
bool config_test_hooks_built(void);

#endif
