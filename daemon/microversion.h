/* vmsnapd: Nova and Cinder microversions (openstack-api.md §4).
 *
 * A client asks for a microversion with "OpenStack-API-Version: compute
 * 2.1" (several services may share one header, comma-separated, and the
 * header may be repeated) or, for Nova only, with the older
 * "X-OpenStack-Nova-API-Version: 2.1".  No header means the minimum;
 * "latest" means the maximum.  A version outside the range is refused
 * with 406, a malformed one with 400, as Nova does.  The chosen version is
 * echoed in the response, with a Vary header.
 *
 * Pure functions except microversion_apply, which reads the request's
 * headers and adds response headers.
 */
#ifndef VMSNAPD_MICROVERSION_H
#define VMSNAPD_MICROVERSION_H

#include <stdbool.h>

#include "api-common.h"
#include "error.h"

/* Parse "X.Y" (decimal, no sign, no leading zeros but "0") into *V.
 * Returns 0, or -1 with ERR_INVALID.
 */
int microversion_parse(const char *s, struct api_version *v,
                       struct error **errp);

/* -1, 0, 1 as A is older than, the same as, newer than B. */
int microversion_cmp(struct api_version a, struct api_version b);

/* Choose the version of SERVICE ("compute", "volume") that a request
 * asks for.  OPENSTACK is the OpenStack-API-Version values joined with
 * ", " (NULL if absent); LEGACY is the X-OpenStack-Nova-API-Version value
 * (NULL if absent or not Nova).  MIN and MAX are the range served.
 * Returns 0 with *OUT set, or -1 with *STATUS 400 (malformed) or 406
 * (outside the range), and ERR_INVALID with the message for the client.
 */
int microversion_select(const char *service, const char *openstack,
                        const char *legacy, struct api_version min,
                        struct api_version max, struct api_version *out,
                        int *status, struct error **errp);

/* For a request R of the compute or volume service: choose its version
 * from its headers into R->version and add the echo headers.  On failure
 * responds (400 or 406) and returns -1.
 */
int microversion_apply(struct api_req *r);

#endif
