/* vmsnap: OVA packages, private declarations shared by the ovf files.
 *
 * ovf.h is the module's API; this header is for its own files only (and
 * for the tests and fuzzers that drive the parsers directly).  Each file
 * has one job:
 *   ovf-common.c    records, validation of text and names, numbers;
 *   ovf-write.c     the export: conversion, descriptor XML, manifest;
 *   ovf-manifest.c  reading the manifest and checking it against the
 *                   descriptor;
 *   ovf-read.c      reading the descriptor (libxml2, hostile input);
 *   ova-tar.c       the tar container: member checks, reading with
 *                   digests, writing;
 *   ovf-import.c    the import: workdir, disk header and qemu-img checks.
 */
#ifndef VMSNAP_OVF_INTERNAL_H
#define VMSNAP_OVF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "hash.h"
#include "ovf.h"

/* OVF 2.0's storage items carry their fields in this namespace. */
#define OVF_NS_SASD                                                            \
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"                       \
    "CIM_StorageAllocationSettingData"

/* oVirt writes this URI for its qcow2 disks; accepted on import. */
#define OVF_FORMAT_QCOW2_OVIRT                                                 \
    "http://www.gnome.org/~markmc/qcow-image-format.html"

/* The VMware URI prefix shared by its sparse VMDK variants. */
#define OVF_FORMAT_VMDK_PREFIX                                                 \
    "http://www.vmware.com/interfaces/specifications/vmdk.html#"

/* CIM_OperatingSystem OSType values we write and recognise. */
#define OVF_OS_OTHER 1
#define OVF_OS_LINUX 36
#define OVF_OS_LINUX64 101

/* CIM ResourceType values (CIM_ResourceAllocationSettingData). */
#define OVF_RT_CPU 3
#define OVF_RT_MEMORY 4
#define OVF_RT_DISK 17
#define OVF_RT_OTHER_STORAGE 20

/* Limits of the import side. */
#define OVF_DESC_MAX (4 * 1024 * 1024) /* bytes of the descriptor */
#define OVF_MF_MAX (1024 * 1024)       /* bytes of the manifest */
#define OVF_MAX_REFS (OVF_MAX_DISKS + OVF_MAX_FILES) /* Files */
#define OVF_MAX_MEMBERS (OVF_MAX_REFS + 2)
#define OVF_MAX_NAME 255                       /* bytes of a member name */
#define OVF_MAX_MEMBER_SIZE ((int64_t)1 << 46) /* 64 TiB */

/* Size of one read or write when copying members. */
#define OVF_CHUNK (1024 * 1024)

/* ---- ovf-common.c ---- */

/* Initialise libxml2 once per process; any thread may call it. */
void ovf_xml_init(void);

/* Free what disk record D holds and zero it. */
void ovf_disk_clear(struct ovf_disk *d);

/* True if ROLE is the role of a plain file: "kernel" or "ramdisk". */
bool ovf_file_role_ok(const char *role);

/* True if ROLE is the role of a disk: "root" or "volume". */
bool ovf_disk_role_ok(const char *role);

/* True if NAME and REF, the origin of a disk or plain file (each may be
 * NULL), are printable UTF-8 of at most OVF_MAX_TEXT_LEN bytes.
 */
bool ovf_origin_ok(const char *name, const char *ref);

/* True if S is at most MAX bytes of UTF-8 that XML 1.0 can carry and
 * holds no control character other than tab, newline and carriage
 * return, and those only when MULTILINE.
 */
bool ovf_text_ok(const char *s, size_t max, bool multiline);

/* True if NAME may be a member of a package: a plain file name, no
 * directory part, no "..", no backslash, no control character.  NAME may
 * be NULL (false).
 */
bool ovf_member_name_ok(const char *name);

/* A new copy of S safe to put in a message: at most 64 bytes, control
 * characters as '?'.  S may be NULL ("").  Never returns NULL.
 */
char *ovf_printable(const char *s);

/* Parse S, after surrounding blanks, as a whole non-negative decimal
 * integer of at most INT64_MAX.  Returns 0, or -1 (nothing set).
 */
int ovf_parse_u63(const char *s, int64_t *out);

/* Parse allocation units as a power of two of bytes: "byte", "byte * 2^N"
 * (DSP0004 programmatic units, blanks free), or the older words
 * "KiloBytes", "MegaBytes", "GigaBytes" (and KB, MB, GB).  Returns N (0
 * to 62), or -1 if S is none of those.
 */
int ovf_parse_units(const char *s);

/* ---- the import's state (ovf-manifest.c, ovf-read.c, ova-tar.c,
 * ovf-import.c) ---- */

/* One line of the manifest. */
struct ovf_mf_entry {
    char *name;                    /* member it covers */
    const char *alg;               /* "SHA256" or "SHA512" */
    char hex[HASH_SHA512_HEX_LEN]; /* digest, lower case */
    bool seen;                     /* the member was read */
};

/* A File of References. */
struct ovf_ref {
    char *id;     /* ovf:id */
    char *href;   /* ovf:href: the member's name */
    int64_t size; /* ovf:size, -1 if not given */
    bool used;    /* a Disk points at it */
    bool plain;   /* a vmsnap:File declares it */
};

/* A Disk of the DiskSection. */
struct ovf_ddisk {
    char *id;           /* ovf:diskId */
    size_t ref;         /* index in refs */
    int64_t capacity;   /* bytes */
    const char *format; /* "vmdk" or "qcow2" */
    bool attached;      /* an Item uses it */
};

/* What one import works with.  Zero it, set workdir and dirfd, and
 * release it with ovf_import_clear.
 */
struct ovf_import {
    const char *workdir;      /* where members are extracted, borrowed */
    int dirfd;                /* WORKDIR, or -1 */
    char **made;              /* files created in WORKDIR */
    size_t nmade;             /* entries in made */
    char *desc_name;          /* member name of the descriptor */
    char *desc;               /* its bytes, NUL-terminated */
    size_t desc_len;          /* their number */
    char *mf_name;            /* member name of the manifest */
    struct ovf_mf_entry *mf;  /* manifest lines, OVF_MAX_MEMBERS */
    size_t nmf;               /* entries in mf */
    struct ovf_ref *refs;     /* Files, OVF_MAX_REFS */
    size_t nrefs;             /* entries in refs */
    struct ovf_ddisk *ddisks; /* Disks, OVF_MAX_DISKS */
    size_t nddisks;           /* entries in ddisks */
    struct ovf_package *pkg;  /* what we return */
    size_t *disk_of;          /* pkg disk i is ddisks[disk_of[i]] */
    const char *ns_env;       /* envelope namespace of the descriptor */
};

/* Free what IM holds and close its dirfd (files it made are left). */
void ovf_import_clear(struct ovf_import *im);

/* ---- ovf-manifest.c ---- */

/* The manifest line covering member NAME, or NULL. */
struct ovf_mf_entry *ovf_mf_find(struct ovf_import *im, const char *name);

/* Parse the manifest TEXT (LEN bytes plus a NUL; modified) into IM->mf:
 * lines "SHA256(NAME)= HEX" or "SHA512(NAME)= HEX", NAME a plain member
 * name listed once and not IM->mf_name (which must be set).  Returns 0,
 * or -1 with ERR_INVALID ("manifest: ...").
 */
int ovf_parse_manifest(struct ovf_import *im, char *text, size_t len,
                       struct error **errp);

/* Check that the manifest lists exactly the descriptor and the Files of
 * References (both parsed).  Returns 0, or -1 with ERR_INVALID.
 */
int ovf_cross_check(struct ovf_import *im, struct error **errp);

/* ---- ovf-read.c ---- */

/* Parse the descriptor IM->desc (IM->desc_name and IM->mf_name set)
 * without network access, DTD or entities, into IM->pkg, IM->refs and
 * IM->ddisks.  Disk and plain-file paths are WORKDIR/href.  Returns 0, or
 * -1 with ERR_INVALID ("descriptor: ...").
 */
int ovf_parse_descriptor(struct ovf_import *im, struct error **errp);

/* ---- ova-tar.c ---- */

/* One file that goes into a package's tar. */
struct ovf_out_file {
    char *member;                     /* name in the tar */
    char *path;                       /* where it is, in the scratch dir */
    int64_t size;                     /* bytes */
    char sha256[HASH_SHA256_HEX_LEN]; /* hex digest */
};

/* Write the N files of FILES, in this order, as the regular members of a
 * pax tar into FD (the file PART, named in messages), then fsync FD.
 * Each file must still have its recorded size.  PROGRESS (may be NULL)
 * is called with the bytes written so far, OPAQUE passed along.
 * Returns 0, or -1 with ERR_IO.
 */
int ova_write(int fd, const char *part, const struct ovf_out_file *const *files,
              size_t n, void (*progress)(int64_t done, void *opaque),
              void *opaque, struct error **errp);

/* Read the whole OVA tar FD: the descriptor and the manifest (parsed and
 * checked), then every disk and plain file, extracted into IM->workdir
 * with its digest checked against the manifest on the way.  Every
 * member is checked (see ovf_import in ovf.h).  Files made are recorded
 * in IM->made.  Returns 0, or -1 with ERR_INVALID or ERR_IO.
 */
int ova_read(struct ovf_import *im, int fd, struct error **errp);

#endif
