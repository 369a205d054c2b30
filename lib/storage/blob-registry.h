/* vmsnap: the image-data stores built into this program, by name. */
#ifndef VMSNAP_BLOB_REGISTRY_H
#define VMSNAP_BLOB_REGISTRY_H

#include "blob.h"

/* Open the store CFG->store names ("file", "s3").  DATA_DIR is the data
 * directory.  NULL with ERR_INVALID for an unknown store.
 */
struct blob *blob_open(const struct config *cfg, const char *data_dir,
                       struct error **errp);

#endif
