/* vmsnap: servers (instances), what Nova's compute API does.
 *
 * A server is a catalog record plus a domain of the hypervisor driver
 * (hv.h) and a directory instances/<uuid>/ holding its root disk
 * (root.qcow2, a qcow2 overlay on the image it booted from, which is
 * never written) and the driver's files.  Its status always comes from
 * the hypervisor (hv_state), so a QEMU that died shows SHUTOFF with a
 * fault, never a stale ACTIVE.
 *
 * Operations that change a server take its instance lock and are
 * recorded as its actions (actions.h).  Every function takes the caller:
 * a member sees and acts only on its project's servers (another
 * project's is "not found").
 *
 * Adopted servers.  A driver that sees domains vmsnap did not create
 * (libvirt: every domain of the connection) has them adopted as catalog
 * records when servers are listed, or looked up and not found: the
 * record's ID is the domain's UUID, its name the domain's, it has no
 * image and no root.qcow2 (metadata adopted=yes).  Its disks are the
 * domain's own files and block devices, read from the driver whenever
 * they are needed (servers_domain): the root disk first, then the others.
 * The record follows the domain: renamed, resized, its agent channel and
 * its os_require_quiesce property (hv_found.props) copied; a domain gone
 * from the driver takes its adopted record with it at the next listing
 * (unless a task holds it).  A record of a server vmsnap created whose
 * domain was removed behind its back stays, SHUTOFF with a fault (start
 * defines it again, delete removes it).
 * Several hosts may share one catalog (svc.h): a server belongs to the
 * host that created it (its host, Nova's OS-EXT-SRV-ATTR:host), where its
 * QEMU runs.  Every host lists every host's servers, but acts only on its
 * own: starting, stopping, deleting, snapshotting or reaching the agent
 * of another host's server is ERR_CONFLICT "server NAME runs on host H,
 * not on this host (ME): ask there".  The state of another host's server
 * is what its user last asked for (ACTIVE, PAUSED, SHUTOFF, BUILD, or
 * UNKNOWN), with the power state "elsewhere".
 */
#ifndef VMSNAP_SERVERS_H
#define VMSNAP_SERVERS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"
#include "catalog.h"
#include "error.h"
#include "hv.h"
#include "svc.h"

/* How many volumes one server can have attached. */
#define SERVERS_MAX_VOLUMES 8

/* What "server create" asks for. */
struct servers_new {
    const char *name;   /* unique server name */
    const char *image;  /* image name or ID to boot */
    int64_t memory_mb;  /* 0: the image's vmsnap_memory_mb, else the
                         * larger of 256 and its min_ram */
    int cpus;           /* 0: the image's vmsnap_cpus, else 1 */
    const char *accel;  /* "kvm", "tcg", "auto" or NULL (the setting) */
    const char *flavor; /* the flavor's ID to record (its size is given
                         * above), or NULL */
};

/* A server's domain as the hypervisor driver wants it, with the storage
 * behind its pointers.  Fill with servers_domain, clear with
 * servers_domain_clear.  disks[1 + i] is the volume vols[i]; an adopted
 * server's own disks other than the root follow them
 * (disks[1 + nvols + k], k < nown).
 */
struct servers_domain {
    struct hv_domain d;                         /* what the driver gets */
    struct hv_disk disks[1 + SERVERS_MAX_VOLUMES]; /* root, volumes, own */
    struct volume **vols;                       /* the volumes, owned */
    size_t nvols;                               /* entries in vols */
    char *strings[8];                           /* owned paths and names */
    /* Adopted servers: */
    struct hv_found found;                      /* the domain as the driver
                                                 * sees it (owns the disks'
                                                 * strings) */
    size_t nown;                                /* its own disks after the
                                                 * volumes */
    size_t nleft_out;                           /* disks beyond the slots,
                                                 * left out of disks */
    char own_ids[SERVERS_MAX_VOLUMES][UTIL_UUID_LEN]; /* their IDs */
    bool require_quiesce;                       /* the domain's own
                                                 * os_require_quiesce=yes */
};

/* Create and boot server SPEC.  On success *OUT (caller frees) is the new
 * server, running; on failure nothing is left behind.
 */
int servers_create(struct svc *svc, const struct caller *who,
                   const struct servers_new *spec, struct instance **out,
                   struct error **errp);

/* Find server REF (a UUID, else a name) that WHO may see.  *OUT: caller
 * frees.  ERR_NOT_FOUND "no server named or with ID 'x'".
 */
int servers_find(struct svc *svc, const struct caller *who, const char *ref,
                 struct instance **out, struct error **errp);

/* The servers WHO may see, newest first (free with instance_list_free). */
int servers_list(struct svc *svc, const struct caller *who,
                 struct instance ***out, size_t *n, struct error **errp);

/* The state of INST from its hypervisor, with a fault when it is not in
 * the state the user last asked for.
 */
int servers_state(struct svc *svc, const struct instance *inst,
                  struct hv_state *st, struct error **errp);

/* The life cycle of server REF.  Stop is clean (agent or ACPI) for up to
 * TIMEOUT_S seconds, then forced; stopping a stopped server is no error.
 * Delete stops it at once, detaches its volumes (they stay) and removes
 * it; a server busy with a task is ERR_CONFLICT.
 */
int servers_start(struct svc *svc, const struct caller *who, const char *ref,
                  struct error **errp);
int servers_stop(struct svc *svc, const struct caller *who, const char *ref,
                 int timeout_s, struct error **errp);
int servers_pause(struct svc *svc, const struct caller *who, const char *ref,
                  bool pause, struct error **errp);
int servers_delete(struct svc *svc, const struct caller *who, const char *ref,
                   struct error **errp);

/* Recovery: finish the delete of INST, left with task deleting by a
 * process that died (its lock free).  Errors are logged.
 */
void servers_finish_delete(struct svc *svc, const struct instance *inst);

/* Reboot server REF: stop it (HARD: at once; else cleanly, forced after
 * TIMEOUT_S seconds) and start it again.  A stopped server is started.
 */
int servers_reboot(struct svc *svc, const struct caller *who,
                   const char *ref, bool hard, int timeout_s,
                   struct error **errp);

/* Flags of servers_delete_flags. */
#define SERVERS_DELETE_FORCE 0x1u /* also a domain vmsnap did not create */

/* servers_delete with FLAGS.  A server vmsnap did not create (adopted,
 * and the driver says the domain is not vmsnap's) is refused with
 * ERR_CONFLICT unless SERVERS_DELETE_FORCE: then its domain is forced
 * off and undefined, and its record goes; its disks are never touched.
 * The domain and disks of a server vmsnap created go without the flag.
 */
int servers_delete_flags(struct svc *svc, const struct caller *who,
                         const char *ref, unsigned flags,
                         struct error **errp);

/* Set property KEY of server REF to VALUE.  Only os_require_quiesce
 * ("yes" or "no") for now.  On an adopted server it is written into the
 * domain through the driver (libvirt: vmsnap's metadata of its persistent
 * definition), where it lives; on a server vmsnap created, into its
 * record.  ERR_INVALID for another key or value.
 */
int servers_set_property(struct svc *svc, const struct caller *who,
                         const char *ref, const char *key, const char *value,
                         struct error **errp);

/* The path of server REF's serial console log (caller frees). */
int servers_console_path(struct svc *svc, const struct caller *who,
                         const char *ref, char **path, struct error **errp);

/* Attach volume VREF to server SREF, or detach it.  On a running server
 * the disk is hot-plugged (hot-unplugged, waiting for the guest to let
 * go); on a stopped one the attachment is recorded and takes effect at
 * its next start.  ERR_CONFLICT when the volume is attached elsewhere,
 * the server has no free slot, or (detach) the server is paused.
 */
int servers_attach_volume(struct svc *svc, const struct caller *who,
                          const char *sref, const char *vref,
                          struct error **errp);
int servers_detach_volume(struct svc *svc, const struct caller *who,
                          const char *sref, const char *vref,
                          struct error **errp);

/* Open server REF's guest agent within TIMEOUT_MS (close with
 * agent_close).
 */
struct agent *servers_agent(struct svc *svc, const struct caller *who,
                            const char *ref, int timeout_ms,
                            struct error **errp);

/* Fill *SD with INST's domain (volumes from the catalog, boot files from
 * the image store; an adopted server's disks from the driver, with the
 * volumes among them).  For the snapshot engine and volumes.c.
 */
int servers_domain(struct svc *svc, const struct instance *inst,
                   struct servers_domain *sd, struct error **errp);
void servers_domain_clear(struct servers_domain *sd);

/* Facts recorded on an instance. */
bool servers_is_adopted(const struct instance *inst);
bool servers_has_agent(const struct instance *inst);
bool servers_stopped_cleanly(const struct instance *inst);
bool servers_requires_quiesce(const struct instance *inst);

/* The ID of the flavor INST was made from (borrowed), or NULL. */
const char *servers_flavor(const struct instance *inst);

/* Record that the user asked for STATE ("active", "paused", "stopped")
 * and, unless NULL, how the last shutdown went.
 */
int servers_set_vm_state(struct svc *svc, const char *id, const char *state,
                         const char *shutdown, struct error **errp);

#endif
