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
 * list and find report them (struct hv_found's props), set_prop writes
 * them.
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

/* The driver's method table (struct hv_ops version 2), for the registry
 * under the name "libvirt".  Beyond version 1 it has find (the domain's
 * disks, whether vmsnap defined it, its properties), destroy_flags
 * (HV_DESTROY_FORCE undefines a domain vmsnap did not define) and
 * set_prop (writes vmsnap's metadata into the persistent definition).
 */
const struct hv_ops *hv_libvirt_ops(void);

/* How long the backup steps that must reach libvirt after the copy
 * (finish, abort) keep trying to reconnect when libvirtd is away
 * (restarting): default HV_LIBVIRT_RECONNECT_MS.  For tests.
 */
#define HV_LIBVIRT_RECONNECT_MS 30000
void hv_libvirt_set_reconnect_ms(struct hv *hv, int ms);

#endif
