/* vmsnap: OVA packages (DMTF OVF, DSP0243) of one virtual system with
 * several disks.
 *
 * An OVA is one tar file (pax/ustar, written and read with libarchive)
 * whose members come in this order:
 *   NAME.ovf          the OVF descriptor (XML, written and read with
 *                     libxml2), always the first member;
 *   NAME.mf           the manifest, one line "SHA256(member)= hex" for the
 *                     descriptor, every disk and every plain file;
 *   NAME-diskN.EXT    the disks, in device order (root first);
 *   NAME-ROLE.bin     the plain files (a kernel, an initial ramdisk),
 *                     stored verbatim, in the order given.
 * NAME is the package name reduced to the characters [A-Za-z0-9._-].
 *
 * The descriptor uses the OVF 1.x envelope namespace (OVF_NS_ENVELOPE)
 * with the rasd, vssd and xsi namespaces.  It holds References (one File
 * per disk), a DiskSection (capacity in bytes, format URI), and one
 * VirtualSystem with an OperatingSystemSection and a
 * VirtualHardwareSection: CPU count (ResourceType 3), memory in MiB
 * (ResourceType 4, "byte * 2^20"), one storage controller (ResourceType
 * 20, subtype "virtio") and one disk Item (ResourceType 17) per disk,
 * with AddressOnParent its position.  What OVF has no place for (image
 * properties, each disk's role, name and origin, the os_type text, the
 * plain files) goes in a vmsnap:ImagePropertiesSection in namespace
 * OVF_NS_VMSNAP, marked ovf:required="false" so that other OVF tools skip
 * it:
 *
 *   <vmsnap:ImagePropertiesSection ovf:required="false" osType="linux">
 *     <Info>vmsnap image properties and disk origins</Info>
 *     <vmsnap:Property key="architecture">x86_64</vmsnap:Property>
 *     <vmsnap:Disk diskId="disk1" role="root" name="web1-snap"
 *                  ref="0b1c...-uuid"/>
 *     <vmsnap:File fileRef="file3" role="kernel" name="web1-kernel"
 *                  ref="7d2e...-uuid"/>
 *   </vmsnap:ImagePropertiesSection>
 *
 * A plain file is a File of References (and a line of the manifest) that
 * no Disk uses: it has no Disk and no Item, so other OVF tools ignore it,
 * and it is accepted on import only when a vmsnap:File declares it.
 *
 * Disk formats and their ovf:format URIs:
 *   "vmdk"   streamOptimized VMDK, OVF_FORMAT_VMDK_STREAM (VMware's URI,
 *            understood by every OVF tool);
 *   "qcow2"  QEMU's qcow2, OVF_FORMAT_QCOW2 (the URL of QEMU's qcow2
 *            specification; there is no registered URI).
 *
 * Both functions block (qemu-img, file I/O) for as long as the disks take.
 * They may run in several threads at once on different paths.
 */
#ifndef VMSNAP_OVF_H
#define VMSNAP_OVF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "progress.h"

/* Namespaces of the descriptor.  ovf_import also accepts OVF 2.0's
 * envelope namespace, OVF_NS_ENVELOPE2.
 */
#define OVF_NS_ENVELOPE "http://schemas.dmtf.org/ovf/envelope/1"
#define OVF_NS_ENVELOPE2 "http://schemas.dmtf.org/ovf/envelope/2"
#define OVF_NS_RASD                                                            \
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                       \
    "CIM_ResourceAllocationSettingData"
#define OVF_NS_VSSD                                                            \
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                       \
    "CIM_VirtualSystemSettingData"
#define OVF_NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define OVF_NS_VMSNAP "urn:x-vmsnap:ovf:1"

/* ovf:format URIs of the disk formats. */
#define OVF_FORMAT_VMDK_STREAM                                                 \
    "http://www.vmware.com/interfaces/specifications/vmdk.html"                \
    "#streamOptimized"
#define OVF_FORMAT_QCOW2 "https://www.qemu.org/docs/master/interop/qcow2.html"

/* Limits, on export and on import. */
#define OVF_MAX_DISKS 64        /* disks in one package */
#define OVF_MAX_FILES 8         /* plain files in one package */
#define OVF_MAX_PROPS 1024      /* image properties */
#define OVF_MAX_KEY_LEN 255     /* bytes of a property key */
#define OVF_MAX_VALUE_LEN 65535 /* bytes of a property value */
#define OVF_MAX_TEXT_LEN 255    /* bytes of a name, role, ref or os_type */
#define OVF_MAX_CPUS 1024       /* virtual CPUs */
#define OVF_MAX_MEMORY_MB (16 * 1024 * 1024) /* 16 TiB */

/* One image property (Glance's key/value metadata).  A plain record. */
struct ovf_prop {
    char *key;
    char *value;
};

/* One disk of the package.  A plain record; strings belong to it. */
struct ovf_disk {
    char *file;       /* export: the source image; import: the file
                       * extracted into the workdir */
    char *format;     /* format of FILE: export: required, never probed
                       * ("qcow2", "raw", ...); import: "vmdk" or "qcow2" */
    int64_t capacity; /* virtual size in bytes; export: 0 to take it from
                       * the image, else it must match the image */
    char *role;       /* "root" or "volume"; export: NULL means "root"
                       * for the first disk and "volume" for the others */
    char *name;       /* volume or image name; may be NULL */
    char *ref_id;     /* UUID of the image or volume snapshot it came
                       * from, for traceability; may be NULL */
};

/* One plain file of the package: not a disk, stored and extracted byte
 * for byte, never converted.  A plain record; strings belong to it.
 */
struct ovf_file {
    char *path;   /* export: the source file (a regular file); import: the
                   * file extracted into the workdir */
    char *role;   /* "kernel" or "ramdisk"; each role at most once */
    char *name;   /* name of the image it came from; may be NULL */
    char *ref_id; /* UUID of the image it came from; may be NULL */
};

/* One virtual system.  A plain record; everything belongs to it and is
 * released with ovf_package_free.
 */
struct ovf_package {
    char *name;             /* required, printable */
    int cpus;               /* 1 to OVF_MAX_CPUS */
    int64_t memory_mb;      /* 1 to OVF_MAX_MEMORY_MB */
    char *os_type;          /* "linux", "windows", ...; may be NULL */
    struct ovf_prop *props; /* image properties, keys unique */
    size_t nprops;
    struct ovf_disk *disks; /* device order; a "root" disk, if any, is
                             * the first one */
    size_t ndisks;          /* 1 to OVF_MAX_DISKS */
    struct ovf_file *files; /* plain files; may be NULL when nfiles is 0 */
    size_t nfiles;          /* 0 to OVF_MAX_FILES */
};

/* Free PKG and everything it holds.  PKG may be NULL.  The files the
 * disks and plain files name are left alone.
 */
void ovf_package_free(struct ovf_package *pkg);

/* Write PKG as an OVA at OVA_PATH.  Every disk is converted with qemu-img
 * from its FORMAT into DISK_FORMAT: "vmdk" (streamOptimized VMDK, the
 * default when DISK_FORMAT is NULL) or "qcow2"; the backing chain of each
 * source is flattened.  Plain files are copied as they are.  WORKDIR is
 * an existing directory for scratch files (room for every converted disk
 * and every plain file); a private directory is made in it and removed
 * before returning.  PROGRESS (may be NULL) hears the phases "convert",
 * "checksum" and "package", each from 0 to 100.
 * The tar is written to a new file that appears at OVA_PATH only when
 * it is whole and synced (fileio_pending: nothing is left behind by an
 * export that dies), so OVA_PATH is either absent or a whole package.
 * OVA_PATH must not exist.
 * Returns 0, or -1 with ERR_INVALID (bad package: no disks, bad counts,
 * text that is not printable UTF-8, duplicate property, unknown
 * DISK_FORMAT, capacity that does not match the image, a plain file with
 * an unknown or repeated role or that is not a regular file),
 * ERR_CONFLICT (OVA_PATH exists, or another export writes it),
 * ERR_NOT_FOUND (a source
 * image or plain file is missing), ERR_GENERIC (qemu-img failed) or
 * ERR_IO; on failure nothing made here is left behind.  Blocks until done
 * (no timeout).
 */
int ovf_export(const struct ovf_package *pkg, const char *ova_path,
               const char *disk_format, const char *workdir,
               const struct progress *progress, struct error **errp);

/* Read, verify and unpack the OVA at OVA_PATH into WORKDIR, an existing
 * empty directory, and set *OUT to a new package (free it with
 * ovf_package_free) whose disks[i].file are the extracted disk files
 * (WORKDIR/member), in device order, and whose files[i].path are the
 * extracted plain files, in the order of their vmsnap:File elements.
 * The package is treated as hostile:
 * - the tar has at most OVF_MAX_DISKS + OVF_MAX_FILES + 2 members, each a
 *   regular file
 *   (no links, devices or directories) with a plain name (no '/', no
 *   "..", no control characters), no name twice; each disk is checked
 *   against the free space of WORKDIR before it is written;
 * - the first member is the descriptor NAME.ovf (at most 4 MiB), the
 *   second the manifest NAME.mf (at most 1 MiB), whose SHA256 (or SHA512)
 *   lines must cover exactly the descriptor and the files of References,
 *   with matching digests, and the members must be exactly those;
 * - the descriptor is parsed without network access, without a DTD and
 *   without entity expansion; every attribute used is checked; every
 *   disk must be attached to the virtual system, every File used by
 *   exactly one Disk or declared by exactly one vmsnap:File (role kernel
 *   or ramdisk, each role once), never both;
 * - each disk file must be of its declared format (qemu-img info with
 *   that format, magic checked first), without a backing file or an
 *   external data file, and of the declared capacity.
 * Properties, roles, names, references, os_type and plain files come
 * from the vmsnap:ImagePropertiesSection when there is one; without it
 * there are no properties and no plain files, the first disk is "root"
 * and the others "volume".
 * Returns 0, or -1 with ERR_INVALID (the package is damaged or not
 * acceptable, the message says what, e.g. "manifest: checksum mismatch
 * for web1-disk1.vmdk"; or WORKDIR is not empty), ERR_NOT_FOUND (no
 * OVA_PATH or no WORKDIR) or ERR_IO (read or write failed, not enough
 * space in WORKDIR, qemu-img could not run); on failure WORKDIR is left
 * as it was found (empty) and *OUT untouched.  Blocks until done.
 */
int ovf_import(const char *ova_path, const char *workdir,
               struct ovf_package **out, struct error **errp);

#endif
