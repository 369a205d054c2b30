/* vmsnap: the file store: objects are files under the data directory,
 * the key their relative path (blob-file.c).
 */
#ifndef VMSNAP_BLOB_FILE_H
#define VMSNAP_BLOB_FILE_H

#include "blob.h"

/* The ops table of the file store. */
const struct blob_ops *blob_file_ops(void);

#endif
