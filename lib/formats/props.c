/* vmsnap: the vocabulary of image properties and instance metadata (see
 * props.h).
 */
#include <stddef.h>
#include <string.h>

#include "props.h"

/* True if KEY is one of the N strings of LIST. */
static bool
props_in(const char *key, const char *const *list, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(key, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

bool
props_inherited_by_snapshot(const char *key)
{
    static const char *const not_inherited[] = {
        PROP_INSTANCE_UUID,
        PROP_BASE_IMAGE_REF,
        PROP_IMAGE_TYPE,
        PROP_BACKUP_TYPE,
        PROP_IMAGE_LOCATION,
        PROP_BDM,
        PROP_IMG_SIGNATURE,
        PROP_IMG_SIGNATURE_HASH_METHOD,
        PROP_IMG_SIGNATURE_KEY_TYPE,
        PROP_IMG_SIGNATURE_CERTIFICATE_UUID,
        PROP_CINDER_ENCRYPTION_KEY_ID,
    };

    if (strncmp(key, PROP_PREFIX_VMSNAP, strlen(PROP_PREFIX_VMSNAP)) == 0 ||
        strncmp(key, PROP_PREFIX_OS_GLANCE, strlen(PROP_PREFIX_OS_GLANCE)) ==
            0) {
        return false;
    }
    return !props_in(key, not_inherited,
                     sizeof(not_inherited) / sizeof(not_inherited[0]));
}

bool
props_rewritten_on_import(const char *key)
{
    static const char *const rewritten[] = {
        PROP_BDM,           PROP_KERNEL_ID,        PROP_RAMDISK_ID,
        PROP_VMSNAP_CPUS,   PROP_VMSNAP_MEMORY_MB, PROP_IMPORTED_FROM,
        PROP_INSTANCE_UUID, PROP_BACKUP_TYPE,
    };

    return props_in(key, rewritten, sizeof(rewritten) / sizeof(rewritten[0]));
}
