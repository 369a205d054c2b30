/* vmsnapd: what Nova's two files share (api-compute.c: servers, their
 * actions, attachments and instance actions; api-flavor.c: flavors).
 */
#ifndef VMSNAPD_API_COMPUTE_H
#define VMSNAPD_API_COMPUTE_H

#include <json-c/json.h>

#include "api-common.h"

/* Nova's page size (max_limit). */
#define CMP_LIMIT_MAX 1000

/* Nova's links (self, bookmark) of a resource of COLLECTION ("servers",
 * "flavors") with ID.
 */
json_object *cmp_links(struct api_req *r, const char *collection,
                       const char *id);

#endif
