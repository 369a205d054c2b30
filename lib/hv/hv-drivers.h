/* vmsnap: the hypervisor drivers built into this program (for hv.c). */
#ifndef VMSNAP_HV_DRIVERS_H
#define VMSNAP_HV_DRIVERS_H

#include "hv.h"

/* QEMU processes vmsnap starts itself (hv-qemu.c). */
const struct hv_ops *hv_qemu_ops(void);

/* The domains of a libvirt connection (hv-libvirt.c). */
const struct hv_ops *hv_libvirt_ops(void);

#endif
