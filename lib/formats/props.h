/* vmsnap: the vocabulary of image properties and instance metadata.
 *
 * Every key vmsnap reads or writes is named here once (review c-4), so
 * that the snapshot engine, the package import and export, the compute
 * service, the catalog and the front ends agree on spelling and meaning.
 * Keys that come from OpenStack keep OpenStack's names and meaning
 * (Glance's common image properties, Nova's snapshot and backup
 * properties); keys of our own start with "vmsnap_".
 *
 * Values are strings, as in Glance.  Nothing here blocks or allocates.
 */
#ifndef VMSNAP_PROPS_H
#define VMSNAP_PROPS_H

#include <stdbool.h>

/* ---- Image properties set by a snapshot (Nova's createImage) ---- */

#define PROP_INSTANCE_UUID "instance_uuid"   /* the instance it was taken of */
#define PROP_BASE_IMAGE_REF "base_image_ref" /* the image that instance
                                              * booted from, first ancestor */
#define PROP_IMAGE_TYPE "image_type"         /* "snapshot" or "backup" */
#define PROP_IMAGE_LOCATION "image_location" /* "snapshot" */
#define PROP_BACKUP_TYPE "backup_type"       /* createBackup's rotation
                                              * class, e.g. "daily" */
#define PROP_BDM "block_device_mapping"      /* the volume snapshots taken
                                              * with it (JSON, bdm.h) */

/* ---- Image properties of our own, set by a snapshot ---- */

#define PROP_PREFIX_VMSNAP "vmsnap_"             /* all of them start so */
#define PROP_VMSNAP_CPUS "vmsnap_cpus"           /* vCPUs of the instance */
#define PROP_VMSNAP_MEMORY_MB "vmsnap_memory_mb" /* its memory, MiB */
#define PROP_VMSNAP_MODE "vmsnap_mode"           /* "live" or "cold" */
#define PROP_VMSNAP_QUIESCED "vmsnap_quiesced"   /* "yes" or "no" */
#define PROP_VMSNAP_FREEZE_MS "vmsnap_freeze_ms" /* guest frozen, ms */
#define PROP_VMSNAP_HOLD_MS "vmsnap_hold_ms"     /* the part of the freeze
                                                  * vmsnap controls, ms */
#define PROP_VMSNAP_COPY_MS "vmsnap_copy_ms"     /* copying the disks, ms */
#define PROP_VMSNAP_COPY_YIELD_MS "vmsnap_copy_yield_ms" /* of it, the copy
                                                  * giving way to the guest
                                                  * (snapshot.copy_yield_pct) */
#define PROP_VMSNAP_FREEZE_CALL_MS "vmsnap_freeze_call_ms" /* the agent's
                                                  * freeze: request to reply */
#define PROP_VMSNAP_FIX_MS "vmsnap_fix_ms"       /* fixing the point in time
                                                  * (the transaction), ms */
#define PROP_VMSNAP_POINT_IN_TIME "vmsnap_point_in_time" /* when the disks
                                                          * were cut */
#define PROP_VMSNAP_IMPORT_OF "vmsnap_import_of" /* the image an import is
                                                  * being made for */

/* ---- Image properties that say how to boot (Glance) ---- */

#define PROP_KERNEL_ID "kernel_id"             /* image of the kernel */
#define PROP_RAMDISK_ID "ramdisk_id"           /* image of the initrd */
#define PROP_OS_COMMAND_LINE "os_command_line" /* kernel command line */
#define PROP_OS_TYPE "os_type"                 /* "linux", "windows" */
#define PROP_ARCHITECTURE "architecture"       /* "x86_64", ... */
#define PROP_HW_QEMU_GUEST_AGENT "hw_qemu_guest_agent" /* "yes": the guest
                                                        * runs qemu-ga */
#define PROP_OS_REQUIRE_QUIESCE "os_require_quiesce"   /* "yes": refuse a
                                                        * snapshot that
                                                        * cannot quiesce */

/* ---- Image properties about origin and secrets (never inherited) ---- */

#define PROP_IMPORTED_FROM "imported_from" /* the ID an imported image
                                            * had where it was exported */
#define PROP_IMG_SIGNATURE "img_signature"
#define PROP_IMG_SIGNATURE_HASH_METHOD "img_signature_hash_method"
#define PROP_IMG_SIGNATURE_KEY_TYPE "img_signature_key_type"
#define PROP_IMG_SIGNATURE_CERTIFICATE_UUID "img_signature_certificate_uuid"
#define PROP_CINDER_ENCRYPTION_KEY_ID "cinder_encryption_key_id"
#define PROP_PREFIX_OS_GLANCE "os_glance" /* Glance's reserved namespace */

/* ---- Volume snapshot metadata ---- */

#define META_INSTANCE_SNAPSHOT_ID "instance_snapshot_id" /* the image of the
                                                          * instance-level
                                                          * snapshot */
/* A volume snapshot also records PROP_INSTANCE_UUID and, when imported,
 * PROP_IMPORTED_FROM.
 */

/* ---- Instance metadata ---- */

#define META_ACCEL "accel"       /* "kvm" or "tcg", chosen at create */
#define META_AGENT "agent"       /* "yes" when booted with a qga channel */
#define META_KERNEL "kernel_id"   /* kernel image ID, or absent */
#define META_RAMDISK "ramdisk_id" /* ramdisk image ID, or absent */
#define META_CMDLINE "cmdline"   /* kernel command line */
#define META_FLAVOR "flavor_id" /* the flavor it was made from (Nova's
                                 * flavor ID), or absent */
#define META_VM_STATE "vm_state" /* "active", "paused" or "stopped": what
                                  * the user last asked for */
#define META_SHUTDOWN "shutdown" /* how "server stop" went: "clean" (the
                                  * guest shut down when asked) or
                                  * "forced"; absent: running, or it stopped
                                  * some other way */
#define META_ADOPTED "adopted"   /* "yes": a domain the hypervisor driver
                                  * found and vmsnap did not create (libvirt):
                                  * its disks are its own, it has no image */
#define META_REAP_BACKUP "reap_backup" /* the tag (image ID) of a backup
                                        * whose leftovers in the server's
                                        * hypervisor another host's
                                        * recovery could not reap: the
                                        * server's own host does */

/* True when a snapshot copies property KEY from the image its instance
 * booted from.  Not copied: what describes the source's own origin
 * (instance_uuid, base_image_ref, image_type, image_location,
 * backup_type, block_device_mapping), signatures and encryption keys,
 * our own vmsnap_* properties and Glance's os_glance* namespace: a
 * snapshot sets those itself.  KEY may not be NULL.
 */
bool props_inherited_by_snapshot(const char *key);

/* True when an import does not take property KEY from the package but
 * rewrites or sets it itself: block_device_mapping (new volume snapshot
 * IDs), kernel_id and ramdisk_id (new image IDs), vmsnap_cpus and
 * vmsnap_memory_mb (from the descriptor's hardware), imported_from (the
 * origin); and instance_uuid and backup_type, which name an instance of
 * the exporting host (kept, an imported backup would join the rotation
 * of a local instance that happens to share the ID).  KEY may not be
 * NULL.
 */
bool props_rewritten_on_import(const char *key);

#endif
