/* vmsnap: the hypervisor drivers built into this program (see
 * hv-registry.h).
 */
#include <string.h>

#include "hv-libvirt.h"
#include "hv-qemu.h"
#include "hv-registry.h"

struct hv *
hv_open(const char *name, const struct config *cfg, struct error **errp)
{
    if (strcmp(name, "qemu") == 0) {
        return hv_open_ops(hv_qemu_ops(), cfg, errp);
    }
    if (strcmp(name, "libvirt") == 0) {
        return hv_open_ops(hv_libvirt_ops(), cfg, errp);
    }
    error_setg(errp, ERR_INVALID,
               "no hypervisor driver named '%s' in this build", name);
    return NULL;
}
