/* vmsnap: the image-data stores built into this program (for blob.c). */
#ifndef VMSNAP_BLOB_STORES_H
#define VMSNAP_BLOB_STORES_H

#include "blob.h"

/* Files under the data directory (blob-file.c). */
const struct blob_ops *blob_file_ops(void);

/* Objects in an S3 bucket (blob-s3.c). */
const struct blob_ops *blob_s3_ops(void);

#endif
