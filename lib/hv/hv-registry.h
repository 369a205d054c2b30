/* vmsnap: the hypervisor drivers built into this program, by name. */
#ifndef VMSNAP_HV_REGISTRY_H
#define VMSNAP_HV_REGISTRY_H

#include "hv.h"

/* Open the driver named NAME ("qemu", "libvirt") with CFG.  Returns NULL
 * with ERR_INVALID for an unknown driver.
 */
struct hv *hv_open(const char *name, const struct config *cfg,
                   struct error **errp);

#endif
