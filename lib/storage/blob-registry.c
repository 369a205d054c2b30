/* vmsnap: the image-data stores built into this program (see
 * blob-registry.h).
 */
#include <string.h>

#include "blob-file.h"
#include "blob-registry.h"
#include "blob-s3.h"

struct blob *
blob_open(const struct config *cfg, const char *data_dir,
          struct error **errp)
{
    if (strcmp(cfg->store, "file") == 0) {
        return blob_open_ops(blob_file_ops(), cfg, data_dir, errp);
    }
    if (strcmp(cfg->store, "s3") == 0) {
        return blob_open_ops(blob_s3_ops(), cfg, data_dir, errp);
    }
    error_setg(errp, ERR_INVALID, "no image store named '%s' in this build",
               cfg->store);
    return NULL;
}
