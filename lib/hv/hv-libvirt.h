/* vmsnap: the libvirt hypervisor driver (see docs/internals/libvirt.md).
 *
 * The driver sees every domain of one libvirt connection (compute.
 * libvirt_uri, default qemu:///system), also those an administrator made
 * with virsh or virt-manager.  It speaks only the libvirt C API (libvirt
 * and libvirt-qemu, >= 6.0; Debian 12 has 9.0), never virsh.
 *
 * Domains vmsnap defines carry an element of vmsnap's namespace in their
 * <metadata>:
 *     <vmsnap:instance xmlns:vmsnap="HV_LIBVIRT_NS" managed="yes"/>
 * ("managed": vmsnap made it, and may undefine it).  An administrator can
 * give a domain vmsnap did not create the image properties vmsnap honours
 * (os_require_quiesce, ...) in the same element:
 *     virsh metadata DOMAIN --uri HV_LIBVIRT_NS --key vmsnap --set
 *       '<instance><property name="os_require_quiesce">yes</property>
 *        </instance>'
 * hv_libvirt_props reads them.
 */
#ifndef VMSNAP_HV_LIBVIRT_H
#define VMSNAP_HV_LIBVIRT_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "hv.h"

/* vmsnap's XML namespace in libvirt <metadata>, and its usual prefix. */
#define HV_LIBVIRT_NS "http://vmsnap.invalid/xmlns/libvirt/instance/1"
#define HV_LIBVIRT_NS_PREFIX "vmsnap"

/* The driver's method table (struct hv_ops version 1), for the registry
 * under the name "libvirt".
 */
const struct hv_ops *hv_libvirt_ops(void);

/* Flags of hv_libvirt_destroy. */
#define HV_LIBVIRT_DESTROY_FORCE 0x1u /* also a domain vmsnap did not make */

/* The destroy method with flags: without HV_LIBVIRT_DESTROY_FORCE a domain
 * vmsnap did not define is refused (ERR_CONFLICT) and left as it is; with
 * it, it is powered off and undefined like one of ours.  The disks are
 * never touched.  A domain that does not exist is not an error.
 */
int hv_libvirt_destroy(struct hv *hv, const struct hv_domain *d,
                       unsigned flags, struct error **errp);

/* One property of a domain (see the top of this file). */
struct hv_libvirt_prop {
    char *name;   /* "os_require_quiesce" */
    char *value;  /* "yes" */
};

/* The properties set on domain ID (a UUID) in vmsnap's metadata, from its
 * persistent definition when it has one, else from the running one, and
 * whether vmsnap defined it (*MANAGED).  *OUT (caller frees with
 * hv_libvirt_props_free) may be empty.  Returns 0, or -1 with
 * ERR_NOT_FOUND (no such domain), ERR_IO (libvirt unreachable) or
 * ERR_PROTOCOL (metadata that is not ours to parse).
 */
int hv_libvirt_props(struct hv *hv, const char *id,
                     struct hv_libvirt_prop **out, size_t *n, bool *managed,
                     struct error **errp);

/* Free N properties of LIST and LIST; NULL is allowed. */
void hv_libvirt_props_free(struct hv_libvirt_prop *list, size_t n);

/* How long the backup steps that must reach libvirt after the copy
 * (finish, abort) keep trying to reconnect when libvirtd is away
 * (restarting): default HV_LIBVIRT_RECONNECT_MS.  For tests.
 */
#define HV_LIBVIRT_RECONNECT_MS 30000
void hv_libvirt_set_reconnect_ms(struct hv *hv, int ms);

#endif
