/* vmsnap: the qemu driver's private declarations, shared by its files:
 *   hv-qemu.c         the life cycle: command line, launch, state, stop
 *   hv-qemu-disk.c    disks on the command line and by hot-plug
 *   hv-qemu-backup.c  backups: blockdev-backup in one transaction
 *
 * A domain of this driver is a QEMU process started detached
 * (-daemonize) with its files in the domain's state directory:
 *   qmp.sock      QMP monitor for operations (one client at a time)
 *   status.sock   a second monitor, for state queries only, so that
 *                 "server show" answers while a snapshot holds qmp.sock
 *   qga.sock      the guest agent's channel, when the domain has one
 *   console.log   the serial console
 *   qemu.pid      QEMU's pid
 */
#ifndef VMSNAP_HV_QEMU_H
#define VMSNAP_HV_QEMU_H

#include <json-c/json.h>

#include "hv.h"
#include "qmp.h"

/* The driver's ops table (for hv-registry.c). */
const struct hv_ops *hv_qemu_ops(void);

/* Timeout of one QMP command of ours. */
#define QEMU_QMP_TIMEOUT_MS 30000

/* How many volume slots (PCIe root ports) a domain gets at boot. */
#define QEMU_MAX_VOLUMES 8

/* The path of NAME in D's state directory.  Caller frees. */
char *qemu_path(const struct hv_domain *d, const char *name);

/* The pid of D's QEMU if it runs, else 0: the pid file's process must
 * also carry D's UUID, since pids are reused.
 */
int qemu_pid(const struct hv_domain *d);

/* Connect to D's operations monitor; ERR_CONFLICT when D does not run.
 * Caller closes.
 */
struct qmp *qemu_qmp(const struct hv_domain *d, struct error **errp);

/* Run COMMAND with ARGS (consumed; NULL for none) on Q, dropping the
 * reply.
 */
int qemu_qmp_run(struct qmp *q, const char *command, json_object *args,
                 struct error **errp);

/* The block node and device names of DISK ("root"/"disk-root" for the
 * root disk, "vol-<id>"/"disk-vol-<id>" for a volume).
 */
void qemu_disk_node(const struct hv_disk *disk, char node[32]);
void qemu_disk_device(const struct hv_disk *disk, char dev[32]);

/* The -blockdev and -device arguments that attach DISK, at boot or by
 * hot-plug.  Caller puts.
 */
json_object *qemu_blockdev_args(const struct hv_disk *disk);
json_object *qemu_device_args(const struct hv_disk *disk);

/* Hot-plug and hot-unplug (hv-qemu-disk.c). */
int qemu_disk_attach(struct hv *hv, const struct hv_domain *d,
                     const struct hv_disk *disk, struct error **errp);
int qemu_disk_detach(struct hv *hv, const struct hv_domain *d,
                     const struct hv_disk *disk, struct error **errp);

/* Backups (hv-qemu-backup.c); see hv.h for the contracts. */
int qemu_backup_prepare(struct hv *hv, const struct hv_domain *d,
                        const struct hv_backup_spec *spec,
                        struct hv_backup **out, struct error **errp);
int qemu_backup_fix(struct hv_backup *b, struct error **errp);
int qemu_backup_wait(struct hv_backup *b, const struct progress *p,
                     struct error **errp);
int qemu_backup_finish(struct hv_backup *b, struct error **errp);
void qemu_backup_abort(struct hv_backup *b);
int qemu_backup_reap(struct hv *hv, const struct hv_domain *d,
                     const char *tag, struct error **errp);
int qemu_bitmap_check(struct hv *hv, const struct hv_domain *d,
                      const struct hv_disk *disk, const char *name,
                      char **why, struct error **errp);

#endif
