/* vmsnap: what the files of the libvirt driver share (hv-libvirt.c,
 * hv-libvirt-xml.c, hv-libvirt-backup.c, agent-libvirt.c).  Not for use
 * outside them.
 *
 * Connections: the driver keeps one libvirt connection and opens a new one
 * when it finds the old one dead (libvirtd restarted).  There is no event
 * loop, hence no keepalive and no threads of libvirt's in our process, so
 * forking stays safe; a libvirtd that dies shows up as an error on the
 * next call, one that hangs blocks that call.
 */
#ifndef VMSNAP_HV_LIBVIRT_PRIV_H
#define VMSNAP_HV_LIBVIRT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>
#include <libxml/tree.h>

#include "config.h"
#include "error.h"
#include "hv-libvirt.h"
#include "hv.h"

/* The driver's private state (hv_priv). */
struct lv {
    const struct config *cfg; /* borrowed, outlives the driver */
    char *uri;                /* the connection URI */
    virConnectPtr conn;       /* NULL when not connected */
    unsigned gen;             /* counts the connections opened */
    int reconnect_ms;         /* see hv_libvirt_set_reconnect_ms */
};

/* One disk of a domain, read from its XML. */
struct lv_xdisk {
    char *target;     /* "vda" */
    char *path;       /* source file or block device */
    char *format;     /* driver type: "qcow2", "raw", ... or "" */
    char *serial;     /* <serial>, or NULL */
    bool block;       /* type='block' */
    bool readonly;    /* <readonly/> */
    int boot;         /* <boot order>, 0: none */
};

/* What the driver reads from a domain's XML. */
struct lv_xdom {
    struct lv_xdisk *disks;  /* file and block disks, root first */
    size_t ndisks;           /* entries in disks */
    bool agent;              /* has the org.qemu.guest_agent.0 channel */
    bool managed;            /* vmsnap's metadata says managed="yes" */
    struct hv_prop *props;   /* the properties in that metadata */
    size_t nprops;           /* entries in props */
    char **targets;          /* the target of every <disk>, whatever its
                              * kind (cdroms, network disks too) */
    size_t ntargets;         /* entries in targets */
};

/* Connection: make sure LV has a live connection, opening one when it has
 * none or the old one died.  Returns it (borrowed), or NULL with ERR_IO.
 */
virConnectPtr lv_conn(struct lv *lv, struct error **errp);

/* As lv_conn, retrying for up to TIMEOUT_MS while libvirtd is away. */
virConnectPtr lv_conn_wait(struct lv *lv, int timeout_ms,
                           struct error **errp);

/* Set *ERRP from libvirt's last error, as "WHAT: <libvirt's message>",
 * with a class that follows libvirt's error code (no domain: NOT_FOUND,
 * not applicable now: CONFLICT, lost connection: IO, ...).  When the
 * connection of LV (may be NULL) died, forget it so that the next call
 * reconnects.  Returns -1.
 */
int lv_fail(struct lv *lv, struct error **errp, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As lv_fail, for a call to the guest agent: an error the agent returned
 * is ERR_PEER, no answer ERR_TIMEOUT, and a domain that is gone or not
 * running any more ERR_IO with *DEAD set.
 */
int lv_fail_agent(struct lv *lv, bool *dead, struct error **errp,
                  const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* libvirt's last error code (virErrorNumber), 0 when there is none. */
int lv_last_code(void);

/* The domain with UUID ID (a textual UUID), or NULL with ERR_NOT_FOUND
 * ("no domain ID in libvirt") or ERR_IO.  The caller frees it
 * (virDomainFree).
 */
virDomainPtr lv_lookup(struct lv *lv, const char *id, struct error **errp);

/* Parse domain XML TEXT into *X (release with lv_xdom_clear).  Returns 0,
 * or -1 with ERR_PROTOCOL.
 */
int lv_xdom_parse(const char *text, struct lv_xdom *x, struct error **errp);
void lv_xdom_clear(struct lv_xdom *x);

/* Read and parse the XML of DOM (FLAGS of virDomainGetXMLDesc). */
int lv_xdom_read(struct lv *lv, virDomainPtr dom, unsigned flags,
                 struct lv_xdom *x, struct error **errp);

/* The disk of X whose source is PATH (compared after resolving symlinks),
 * or NULL.
 */
const struct lv_xdisk *lv_xdom_find(const struct lv_xdom *x,
                                    const char *path);

/* The name of the Nth virtio disk: vda ... vdz, vdaa ... (as Linux). */
void lv_vd_name(int n, char out[16]);

/* Building XML with libxml2, whose builders fail only when memory runs
 * out and then die (the OOM rule, xalloc.h):
 * a new document whose root is an element NAME (*ROOT);
 */
xmlDocPtr lv_doc(const char *name, xmlNodePtr *root);
/* a child NAME of PARENT holding TEXT (escaped; NULL: empty);
 */
xmlNodePtr lv_el(xmlNodePtr parent, const char *name, const char *text);
/* an attribute NAME=VALUE of NODE (a NULL VALUE sets none);
 */
void lv_set(xmlNodePtr node, const char *name, const char *value);
/* NODE of DOC serialised without an XML declaration, indented when
 * FORMAT (caller frees).
 */
char *lv_dump_fmt(xmlDocPtr doc, xmlNodePtr node, int format);

/* The persistent definition of domain D, marked as vmsnap's (caller
 * frees), or NULL with ERR_INVALID (a bad field of D), ERR_NOT_FOUND (a
 * disk file missing) or ERR_IO (a disk file that cannot be looked at).
 */
char *lv_domain_xml(const struct lv *lv, const struct hv_domain *d,
                    struct error **errp);

/* The <disk> XML that hot-plugs DISK as virtio disk TARGET (caller
 * frees), or NULL with the errors of lv_domain_xml.
 */
char *lv_disk_xml(const struct hv_disk *disk, const char *target,
                  struct error **errp);

/* vmsnap's <instance> element for virDomainSetMetadata: MANAGED and the
 * N properties PROPS (caller frees), or NULL with ERR_INVALID (a property
 * name that is not a word).
 */
char *lv_meta_xml(bool managed, const struct hv_prop *props, size_t n,
                  struct error **errp);

/* The <disk> XML libvirt needs to find disk D for a detach (caller
 * frees).  Never NULL.
 */
char *lv_detach_xml(const struct lv_xdisk *d);

/* libvirt's timeouts are whole seconds: TIMEOUT_MS rounded up, >= 1. */
int lv_seconds(int timeout_ms);

/* The agent of DOMAIN (hv.h agent_open) on LV's connection URI. */
struct agent *lv_agent_open(struct lv *lv, const struct hv_domain *d,
                            int timeout_ms, struct error **errp);

/* The backup methods (hv-libvirt-backup.c). */
int lv_backup_prepare(struct hv *hv, const struct hv_domain *d,
                      const struct hv_backup_spec *spec,
                      struct hv_backup **out, struct error **errp);
int lv_backup_fix(struct hv_backup *b, struct error **errp);
int lv_backup_wait(struct hv_backup *b, const struct progress *p,
                   struct error **errp);
int lv_backup_finish(struct hv_backup *b, struct error **errp);
void lv_backup_abort(struct hv_backup *b);
int lv_bitmap_check(struct hv *hv, const struct hv_domain *d,
                    const struct hv_disk *disk, const char *name, char **why,
                    struct error **errp);
int lv_backup_reap(struct hv *hv, const struct hv_domain *d,
                   const char *tag, struct error **errp);

#endif
