/* vmsnap: the hypervisor driver interface.
 *
 * The services (lib/services) never speak QMP, build a QEMU command line
 * or call libvirt: they describe what they want in the records below and
 * call a driver through struct hv_ops.  Two drivers implement it:
 *   qemu     QEMU processes vmsnap starts itself (hv-qemu*.c), the default;
 *   libvirt  the domains of a libvirt connection, also those vmsnap did
 *            not create (hv-libvirt.c);
 * and the tests add a third, a fake in memory that fails on demand.
 *
 * The table is versioned, as SQLite's sqlite3_io_methods: a driver sets
 * .version to the HV_OPS_VERSION it was written for, and fields added
 * after that version are not called on it.  A NULL method means "not
 * supported": hv_* wrappers turn it into ERR_INVALID "the DRIVER driver
 * cannot ...".
 *
 * Identity: a domain is named by the UUID of its instance (the libvirt
 * domain UUID, the QEMU -uuid).  Every method may block (QMP, libvirt
 * RPC, waiting for a process); none may be called while the guest is
 * frozen except backup_fix.
 */
#ifndef VMSNAP_HV_H
#define VMSNAP_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "diskcopy.h"
#include "error.h"
#include "progress.h"

/* 1: the first table; 2: find, destroy_flags, set_prop, bitmap_check;
 * hv_found says who made a domain, its properties and its block devices;
 * hv_state says how a domain went off.
 */
#define HV_OPS_VERSION 2

struct hv;          /* an open driver */
struct hv_backup;   /* a backup in progress (see backup_prepare) */
struct agent;       /* agent.h */

/* One disk of a domain. */
struct hv_disk {
    int index;            /* 0: the root disk; 1, 2, ...: volume slots */
    const char *id;       /* what the disk is: the volume's UUID, or the
                           * instance's for the root disk */
    const char *path;     /* local file or block device */
    const char *format;   /* "qcow2" or "raw" */
    const char *serial;   /* serial the guest sees, or NULL */
    bool readonly;        /* attach read-only */
};

/* A domain as the services want it, everything resolved: no catalog
 * lookups happen inside a driver.  Borrowed by every method.
 */
struct hv_domain {
    const char *id;          /* instance UUID */
    const char *name;        /* instance name */
    int cpus;                /* vCPUs, > 0 */
    int64_t memory_mb;       /* RAM in MiB, > 0 */
    const char *accel;       /* "kvm" or "tcg" */
    const char *kernel;      /* direct kernel boot: kernel file, or NULL */
    const char *initrd;      /* its ramdisk file, or NULL */
    const char *cmdline;     /* its command line, or NULL */
    const struct hv_disk *disks; /* root first, then volumes by index */
    size_t ndisks;           /* entries in disks, >= 1 */
    bool agent;              /* add the org.qemu.guest_agent.0 channel */
    const char *state_dir;   /* a private directory of this instance the
                              * driver may keep files in (sockets, logs) */
};

/* What a driver says about a domain.  Status is Nova's vocabulary. */
struct hv_state {
    char status[16];   /* ACTIVE, PAUSED, SHUTOFF, BUILD, ERROR */
    char power[16];    /* the hypervisor's run state ("running",
                        * "paused", "shutdown", "crashed", ...) */
    char fault[160];   /* why it is not in its expected state, or "" */
    int pid;           /* the QEMU process, 0 when none or unknown */
    int clean_off;     /* version 2, SHUTOFF only: 1 when the guest
                        * powered itself off (a clean shutdown), -1 when
                        * it was forced off or crashed, 0 when the driver
                        * does not know (the services then go by what
                        * they recorded) */
};

/* A property of a domain that the driver keeps with the domain itself
 * (libvirt: vmsnap's element of the domain's <metadata>), such as
 * os_require_quiesce for a domain vmsnap did not create.
 */
struct hv_prop {
    char *name;   /* "os_require_quiesce" */
    char *value;  /* "yes" */
};

/* A domain the driver found that vmsnap may not have made (list, find).
 * Every pointer is owned; free with hv_found_clear or hv_found_list_free.
 */
struct hv_found {
    char id[37];             /* UUID */
    char *name;              /* its name */
    struct hv_state state;   /* its state now */
    int cpus;                /* vCPUs */
    int64_t memory_mb;       /* RAM */
    bool agent;              /* has an org.qemu.guest_agent.0 channel */
    struct hv_found_disk {
        char *target;        /* the driver's name for it ("vda") */
        char *path;          /* file or block device */
        char *format;        /* "qcow2", "raw" */
        bool block;          /* version 2: path is a block device */
        bool readonly;       /* version 2: the guest cannot write it */
    } *disks;                /* root first */
    size_t ndisks;           /* entries in disks */
    /* Version 2: */
    bool managed;            /* vmsnap defined it (destroy may remove it
                              * without HV_DESTROY_FORCE) */
    struct hv_prop *props;   /* the properties set on it for vmsnap */
    size_t nprops;           /* entries in props */
};

/* Flags of destroy_flags. */
#define HV_DESTROY_FORCE 0x1u /* also a domain vmsnap did not create */

/* One disk a backup copies.
 *
 * Dirty bitmaps (incremental backups): BITMAP_NEW starts recording at the
 * point in time, created by backup_fix in the same operation that fixes
 * it, so no write falls between two backups.  With BITMAP_SINCE the copy
 * reads only what that bitmap marked at the point in time.  The driver
 * keeps at most one bitmap per disk between backups: prepare removes the
 * disk's other "vmsnap-" bitmaps (the leftovers of broken chains), finish
 * removes BITMAP_SINCE (the chain moved on to BITMAP_NEW), abort removes
 * BITMAP_NEW (BITMAP_SINCE stays: a retry is safe).  Names are words of
 * [A-Za-z0-9_.-] starting "vmsnap-"; the libvirt driver needs the same
 * BITMAP_NEW on every disk (it is one checkpoint).
 */
struct hv_backup_disk {
    const struct hv_disk *source; /* the disk of the running domain */
    const char *target;      /* file to copy into when COPY is NULL;
                              * prepare creates it as qcow2 of the
                              * source's virtual size */
    const char *bitmap_since;/* incremental: copy only what this dirty
                              * bitmap (or checkpoint) marks; NULL: all */
    const char *bitmap_new;  /* start tracking changes from the point in
                              * time in a bitmap of this name; NULL: no */
    int64_t bitmap_granularity; /* bytes one bit of BITMAP_NEW covers (a
                              * power of two, the chunk store's chunk
                              * size); 0: the driver's default.  The
                              * libvirt driver has no say and ignores
                              * it */
    struct diskcopy_target *copy; /* the copy path (diskcopy.h): where
                              * wait copies this disk and what it made
                              * (hashes, index); borrowed, written by
                              * wait.  NULL: a qcow2 file at TARGET.
                              * Drivers of version 1 ignore it. */
};

/* What one backup (a snapshot is a full backup) is to do. */
struct hv_backup_spec {
    const char *tag;         /* unique among this domain's backups (the
                              * image's UUID): names every node and job,
                              * so hv_backup_reap finds what a dead
                              * process left */
    const struct hv_backup_disk *disks; /* the disks, root first */
    size_t ndisks;           /* entries in disks, >= 1 */
    int64_t rate_limit;      /* bytes per second per disk, 0: none */
    int copy_inflight;       /* read requests the copy keeps in flight,
                              * 0: the copy path's default (version 2) */
    int copy_nice;           /* nice value of the copy's threads, 0:
                              * unchanged (version 2) */
    int copy_yield_pct;      /* the copy gives way to the guest when its
                              * vCPUs wait for a core more than this %
                              * of the time (pacer.h), 0: never
                              * (version 2) */
    int copy_stall_ms;       /* how long the NBD export may send nothing
                              * before the copy fails, 0: the copy
                              * path's default (version 2) */
    int break_disk;          /* test builds: the copy of disk N fails
                              * half-way; -1: none */
};

/* The method table of a driver.  Every method takes the open driver
 * first and a struct error ** last, and returns 0 (or a pointer) on
 * success, -1 (or NULL) with the error set.
 */
struct hv_ops {
    int version;             /* HV_OPS_VERSION the driver implements */
    const char *name;        /* "qemu", "libvirt", "fake" */

    /* Open the driver with the settings of CFG (borrowed, outlives the
     * driver); *PRIV is the driver's private state, passed back through
     * hv_priv.  close frees it; it never fails.
     */
    int (*open)(struct hv *hv, const struct config *cfg, void **priv,
                struct error **errp);
    void (*close)(struct hv *hv);

    /* Every domain the driver can see now, also those vmsnap did not
     * make (libvirt); *OUT is freed with hv_found_list_free.  The qemu
     * driver sees only running QEMUs it started.
     */
    int (*list)(struct hv *hv, struct hv_found **out, size_t *n,
                struct error **errp);

    /* Start domain D: build and launch it (qemu), or define it if needed
     * and start it (libvirt).  On failure nothing of it runs.
     */
    int (*start)(struct hv *hv, const struct hv_domain *d,
                 struct error **errp);

    /* Stop domain ID: a clean shutdown (through the agent when D has one,
     * else ACPI) that may take TIMEOUT_S seconds, then forced.  *CLEAN
     * says which ended it.  A stopped domain is not an error.
     */
    int (*stop)(struct hv *hv, const struct hv_domain *d, int timeout_s,
                bool *clean, struct error **errp);

    /* Pause (true) or resume (false) a running domain. */
    int (*pause)(struct hv *hv, const struct hv_domain *d, bool pause,
                 struct error **errp);

    /* Force domain D off at once (no clean shutdown) and remove what the
     * driver made for it (libvirt: the persistent definition, when vmsnap
     * defined it).  Never touches the disks.
     */
    int (*destroy)(struct hv *hv, const struct hv_domain *d,
                   struct error **errp);

    /* The state of domain D, from the hypervisor itself.  A dead or hung
     * hypervisor is a state (ERROR, with the fault), not an error.
     */
    int (*state)(struct hv *hv, const struct hv_domain *d,
                 struct hv_state *st, struct error **errp);

    /* Hot-plug DISK into running domain D, or hot-unplug it (waiting for
     * the guest to let go).
     */
    int (*disk_attach)(struct hv *hv, const struct hv_domain *d,
                       const struct hv_disk *disk, struct error **errp);
    int (*disk_detach)(struct hv *hv, const struct hv_domain *d,
                       const struct hv_disk *disk, struct error **errp);

    /* Open domain D's guest agent and synchronise within TIMEOUT_MS, or
     * leave the wait to the first call (FLAGS, agent.h agent_open_flags;
     * a driver whose agent needs no synchronising ignores them).
     * ERR_INVALID when D has no agent channel, ERR_CONFLICT when D is not
     * running.  Close with agent_close.
     */
    struct agent *(*agent_open)(struct hv *hv, const struct hv_domain *d,
                                int timeout_ms, unsigned flags,
                                struct error **errp);

    /* Backups, in the order the snapshot engine calls them:
     *   prepare  everything slow, before the guest is frozen: create the
     *            targets, open them in the hypervisor;
     *   fix      ONE operation that fixes the point in time of every disk
     *            at the same instant and whose cost does not grow with the
     *            disks' size (it runs while the guest is frozen);
     *   wait     let the copy run, reporting progress, until every disk is
     *            copied; with several disks, one that fails fails them all;
     *   finish   flush and close the targets (they are complete on disk);
     *   abort    undo whatever was done, at any step; never fails; frees B.
     * finish frees B on success; on failure the caller calls abort.  The
     * caller runs one backup of a domain at a time (the services hold its
     * instance lock), so prepare may end what an earlier backup of D left
     * (an abort that could not reach the hypervisor).
     */
    int (*backup_prepare)(struct hv *hv, const struct hv_domain *d,
                          const struct hv_backup_spec *spec,
                          struct hv_backup **out, struct error **errp);
    int (*backup_fix)(struct hv_backup *b, struct error **errp);
    int (*backup_wait)(struct hv_backup *b, const struct progress *p,
                       struct error **errp);
    int (*backup_finish)(struct hv_backup *b, struct error **errp);
    void (*backup_abort)(struct hv_backup *b);

    /* Remove what a backup tagged TAG left in domain D when the process
     * running it died: jobs, nodes, NBD exports, scratch files.  Nothing
     * left is not an error.
     */
    int (*backup_reap)(struct hv *hv, const struct hv_domain *d,
                       const char *tag, struct error **errp);

    /* Methods above are valid for version 1. */

    /* Can dirty bitmap (or checkpoint) NAME of DISK of running domain D
     * serve an incremental backup?  Returns 1 if so, 0 if not with *WHY
     * (caller frees) saying why ("missing: QEMU was restarted without a
     * clean stop", "inconsistent", ...), -1 with the error when it cannot
     * be known.  Never changes anything.
     */
    int (*bitmap_check)(struct hv *hv, const struct hv_domain *d,
                        const struct hv_disk *disk, const char *name,
                        char **why, struct error **errp);
    /* True when the disks of one backup share one set of bitmaps (a
     * libvirt checkpoint): their BITMAP_SINCE must then be the same for
     * every disk, or NULL for every disk.
     */
    bool one_checkpoint;
    /* Domain ID as list describes it, into *OUT (the caller clears it
     * with hv_found_clear).  ERR_NOT_FOUND when the driver has no such
     * domain.
     */
    int (*find)(struct hv *hv, const char *id, struct hv_found *out,
                struct error **errp);

    /* destroy, with FLAGS: without HV_DESTROY_FORCE a domain vmsnap did
     * not create is refused (ERR_CONFLICT) and left as it is; with it,
     * it is forced off and its definition removed like one of ours.
     * Never touches the disks.  A domain that does not exist is not an
     * error.
     */
    int (*destroy_flags)(struct hv *hv, const struct hv_domain *d,
                         unsigned flags, struct error **errp);

    /* Set property NAME of domain D to VALUE (NULL: remove it), where
     * the driver keeps them with the domain (hv_found.props).
     */
    int (*set_prop)(struct hv *hv, const struct hv_domain *d,
                    const char *name, const char *value,
                    struct error **errp);

    /* Methods above are valid for version 2. */
};

/* Open a driver from its table (the drivers built in are opened by name
 * with hv_open, hv-registry.h; the tests open their fake this way).
 */
struct hv *hv_open_ops(const struct hv_ops *ops, const struct config *cfg,
                       struct error **errp);

/* Close HV; NULL is allowed. */
void hv_close(struct hv *hv);

/* The driver's name and its private state (for the driver itself). */
const char *hv_name(const struct hv *hv);
void *hv_priv(const struct hv *hv);

/* The calls, one per method: each checks that the driver has the method
 * (else ERR_INVALID "the NAME driver cannot VERB") and passes through.
 */
int hv_list(struct hv *hv, struct hv_found **out, size_t *n,
            struct error **errp);
int hv_start(struct hv *hv, const struct hv_domain *d, struct error **errp);
int hv_stop(struct hv *hv, const struct hv_domain *d, int timeout_s,
            bool *clean, struct error **errp);
int hv_pause(struct hv *hv, const struct hv_domain *d, bool pause,
             struct error **errp);
int hv_destroy(struct hv *hv, const struct hv_domain *d,
               struct error **errp);
int hv_state(struct hv *hv, const struct hv_domain *d, struct hv_state *st,
             struct error **errp);
int hv_disk_attach(struct hv *hv, const struct hv_domain *d,
                   const struct hv_disk *disk, struct error **errp);
int hv_disk_detach(struct hv *hv, const struct hv_domain *d,
                   const struct hv_disk *disk, struct error **errp);
struct agent *hv_agent_open(struct hv *hv, const struct hv_domain *d,
                            int timeout_ms, unsigned flags,
                            struct error **errp);
int hv_backup_prepare(struct hv *hv, const struct hv_domain *d,
                      const struct hv_backup_spec *spec,
                      struct hv_backup **out, struct error **errp);
int hv_backup_fix(struct hv_backup *b, struct error **errp);
int hv_backup_wait(struct hv_backup *b, const struct progress *p,
                   struct error **errp);
int hv_backup_finish(struct hv_backup *b, struct error **errp);
void hv_backup_abort(struct hv_backup *b);
int hv_backup_reap(struct hv *hv, const struct hv_domain *d,
                   const char *tag, struct error **errp);

/* The bitmap_check method; a driver without it (or of version 1) keeps
 * no bitmaps: 0 with *WHY "the DRIVER driver keeps no dirty bitmaps".
 */
int hv_bitmap_check(struct hv *hv, const struct hv_domain *d,
                    const struct hv_disk *disk, const char *name,
                    char **why, struct error **errp);
/* Version 2.  hv_find: ERR_INVALID "the NAME driver cannot find domains"
 * when the driver has no find.  hv_destroy_flags: a driver without
 * destroy_flags has only domains vmsnap made, so it gets destroy.
 * hv_set_prop: ERR_INVALID when the driver keeps no properties.
 */
int hv_find(struct hv *hv, const char *id, struct hv_found *out,
            struct error **errp);
int hv_destroy_flags(struct hv *hv, const struct hv_domain *d,
                     unsigned flags, struct error **errp);
int hv_set_prop(struct hv *hv, const struct hv_domain *d, const char *name,
                const char *value, struct error **errp);

/* True when the driver sees domains vmsnap did not make (it has list):
 * the services then adopt them (servers.h).
 */
bool hv_lists_domains(const struct hv *hv);

/* True when the disks of one backup read one checkpoint together
 * (hv_ops.one_checkpoint): all incremental on it, or all full.
 */
bool hv_one_checkpoint(const struct hv *hv);

/* Free the N entries of LIST and LIST; NULL is allowed. */
void hv_found_list_free(struct hv_found *list, size_t n);

/* Free what *F owns and zero it; NULL is allowed. */
void hv_found_clear(struct hv_found *f);

/* The value of property NAME of F, or NULL. */
const char *hv_found_prop(const struct hv_found *f, const char *name);

/* Free the N entries of LIST and LIST; NULL is allowed. */
void hv_props_free(struct hv_prop *list, size_t n);

/* Every struct hv_backup starts with this, so the wrappers find the
 * driver.  Drivers embed it first and set it in backup_prepare.
 */
struct hv_backup {
    struct hv *hv;           /* the driver that made it */
};

#endif
