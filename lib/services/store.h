/* vmsnap: backups in the chunk store (issue 12).
 *
 * A backup made with --incremental keeps its data in the data directory's
 * deduplicating chunk store (<data dir>/chunkstore, storage/chunk.h), one
 * index per disk, named "<image id>.<disk>" (disk 0 the root, then the
 * volumes in the order of the image's block_device_mapping).  It is an
 * image like any other in the catalog (status, properties, rotation),
 * with no location until it is needed as a file: booting a server from
 * it, saving or exporting it materialises it (store_materialise) into a
 * qcow2 image file of the image store, written by the copy path with its
 * MD5 and SHA-512 computed as it is written; from then on it is also an
 * ordinary image with data.  With --all-volumes each volume's data is a
 * volume snapshot of the set, kept in the store the same way and
 * materialised when a volume is made from it
 * (store_materialise_volume_snapshot).
 *
 * What the catalog records on such an image (properties), and on each
 * such volume snapshot (metadata) for its volume:
 *   vmsnap_backup_store        "chunks"
 *   vmsnap_backup_mode         "full" or "incremental"
 *   vmsnap_backup_full_reason  why a full was made ("first backup of ...",
 *                              "dirty bitmap ... is inconsistent (QEMU
 *                              was killed)", ...)
 *   vmsnap_backup_parent       incremental: the backup (the image, or for
 *                              a volume its volume snapshot) it was made
 *                              on
 *   vmsnap_backup_bitmap       the dirty bitmap started at its point in
 *                              time ("" when the disk cannot keep one)
 *   vmsnap_backup_index, vmsnap_backup_index_csum: its index and checksum
 *   vmsnap_backup_disk_file    "DEV:INODE:PATH" of the disk copied
 *   vmsnap_backup_bytes_read, _dirty, _new, _stored: what it cost.
 *
 * A chain is never trusted: before an incremental, store_plan_backup
 * checks, disk by disk, that the newest backup of the server in the
 * store exists and is active (and holds that volume), that its index is
 * there with the recorded checksum and that
 * every chunk it references exists, that the disk is the same file of
 * the same size, and that the driver's dirty bitmap is whole
 * (hv_bitmap_check).  Any doubt makes a full backup, which says why.
 */
#ifndef VMSNAP_STORE_H
#define VMSNAP_STORE_H

#include <stdbool.h>

#include <json-c/json.h>

#include "catalog.h"
#include "diskcopy.h"
#include "error.h"
#include "hv.h"
#include "progress.h"
#include "svc.h"

#define STORE_DIR "chunkstore"   /* in the data directory */
#define STORE_S3_CHUNK_SIZE (1u << 20) /* unset backup.chunk_size, on s3 */

/* Property names (see above). */
#define PROP_BACKUP_STORE "vmsnap_backup_store"
#define PROP_BACKUP_MODE "vmsnap_backup_mode"
#define PROP_BACKUP_FULL_REASON "vmsnap_backup_full_reason"
#define PROP_BACKUP_PARENT "vmsnap_backup_parent"
#define PROP_BACKUP_BITMAP "vmsnap_backup_bitmap"
#define PROP_BACKUP_INDEX "vmsnap_backup_index"
#define PROP_BACKUP_INDEX_CSUM "vmsnap_backup_index_csum"
#define PROP_BACKUP_DISK_FILE "vmsnap_backup_disk_file"

/* Open the data directory's chunk store, creating it (chunk size: the
 * configuration's backup.chunk_size) when CREATE is set.  ERR_NOT_FOUND
 * when there is none and CREATE is not set.  Close with
 * chunk_store_close.
 */
struct chunk_store *store_open(struct svc *svc, bool create,
                               struct error **errp);

/* Test hook (test.backup_pause): svc_test_pause on the FIFO OPAQUE. */
void store_test_pause(void *opaque);

/* Does IMG (VS) keep its data in the chunk store? */
bool store_holds(const struct image *img);
bool store_holds_volume_snapshot(const struct volume_snapshot *vs);

/* What one backup of a disk into the store is to do. */
struct store_plan {
    char *index;        /* the new index "<image id>.<disk>" */
    char *parent_id;    /* incremental: the backup record (image or
                         * volume snapshot) it is made on */
    char *parent_index; /* incremental: that backup's index */
    char *since;        /* incremental: the bitmap to read */
    char *bitmap_new;   /* the bitmap to start, NULL when the disk cannot
                         * keep one */
    char *full_reason;  /* a full: why; NULL for an incremental */
    char *disk_file;    /* "DEV:INODE:PATH" of the disk */
};

/* Plan the backup IMG (being made) of DISK, disk DISK_INDEX of server
 * INST (0 the root, else volume VOLUME_ID), running as domain D on
 * driver HV: an incremental on the server's newest backup in the store
 * when its chain for that disk is sound, else a full with the reason.
 * HV NULL: the server is stopped, a full that starts no bitmap.  Fails
 * only when the facts cannot be read.  Clear PLAN with store_plan_clear.
 */
int store_plan_backup(struct svc *svc, struct hv *hv,
                      const struct hv_domain *d, const struct hv_disk *disk,
                      size_t disk_index, const char *volume_id,
                      const struct instance *inst, const struct image *img,
                      struct store_plan *plan, struct error **errp);
void store_plan_clear(struct store_plan *plan);

/* Make every one of the N PLANS of a set full when one is (each then
 * says why): for a driver whose backup reads one checkpoint for all the
 * disks (hv_one_checkpoint).
 */
void store_plans_one_chain(struct store_plan *plans, size_t n);

/* Record on image ID (saving) what the copy T of PLAN made and make it
 * active.
 */
int store_record_backup(struct svc *svc, const char *id,
                        const struct store_plan *plan,
                        const struct diskcopy_target *t,
                        struct error **errp);

/* Record on volume snapshot ID (creating, of SIZE bytes) what the copy
 * T of PLAN made and make it available.
 */
int store_record_volume(struct svc *svc, const char *id, int64_t size,
                        const struct store_plan *plan,
                        const struct diskcopy_target *t,
                        struct error **errp);

/* Delete the index of IMG (VS) from the store (its chunks go at the next
 * gc).  Errors are logged: the record is gone either way.
 */
void store_forget(struct svc *svc, const struct image *img);
void store_forget_volume_snapshot(struct svc *svc,
                                  const struct volume_snapshot *vs);

/* Delete every index of backup ID ("ID.<disk>") from the store: the
 * recovery of a backup whose process died, which may have committed some
 * before it could record them.
 */
void store_forget_all(struct svc *svc, const char *id);

/* Make IMG's data (a backup in the store) a qcow2 file of the image
 * store under KEY (images_key), if it is not one already, and record its
 * location, size and hashes; *PATH (caller frees) is the local file.
 * Every chunk read is checked: a damaged one is ERR_PROTOCOL naming it,
 * and nothing is made.
 */
int store_materialise(struct svc *svc, const struct image *img,
                      const char *key, const struct progress *p,
                      char **path, struct error **errp);

/* The same for volume snapshot VS, as the file
 * volume-snapshots/<id>.qcow2.
 */
int store_materialise_volume_snapshot(struct svc *svc,
                                      const struct volume_snapshot *vs,
                                      const struct progress *p, char **path,
                                      struct error **errp);

/* Is INDEX in the store with checksum CSUM?  0, or -1 with ERR_NOT_FOUND
 * (no such index), ERR_PROTOCOL (damaged, or another checksum) or the
 * store's errors.  Reads the index only, not its chunks.  *CSP is the
 * store: NULL, it is opened and left there for the next call (a pass over
 * every backup opens it once); the caller closes it (chunk_store_close).
 */
int store_check_index(struct svc *svc, struct chunk_store **csp,
                      const char *index, const char *csum,
                      struct error **errp);

/* `vmsnap store verify`: read every chunk and check it; *REPORT (caller
 * puts) lists the counts and each problem with the backups it touches.
 * With REPAIR, damaged chunks are removed, so that the next backup of
 * that data stores it again and incrementals on a damaged backup become
 * full.  Returns 0 when verify ran (problems or not), -1 when it could
 * not.
 */
int store_verify(struct svc *svc, bool repair, const struct progress *p,
                 json_object **report, struct error **errp);

/* `vmsnap store gc`: remove the indexes no backup in the catalog names
 * (left by a deletion or a failed backup cut short between the catalog
 * and the store: "indexes_orphaned"), then the chunks no index references
 * (safe against backups running meanwhile; GRACE_S < 0: the default).
 */
int store_gc(struct svc *svc, bool dry_run, int64_t grace_s,
             const struct progress *p, json_object **report,
             struct error **errp);

/* `vmsnap store show`: usage, dedup ratio, and every backup's index. */
int store_show(struct svc *svc, json_object **report, struct error **errp);

#endif
