/* vmsnapd: what Glance's files share (api-image.c: list, create, show,
 * patch, upload and download; api-image-delete.c: delete and tags).
 */
#ifndef VMSNAPD_API_IMAGE_H
#define VMSNAPD_API_IMAGE_H

#include <stdbool.h>

#include "api-common.h"
#include "svc.h"

/* A service error ERR as Glance answers it for R's image. */
void img_fail(struct api_req *r, const struct error *err);

/* R's image: visible to WHO, else NULL after a 404 as Glance words it.
 * Caller frees with image_free.
 */
struct image *img_get(struct api_req *r, struct svc *svc,
                      const struct caller *who);

/* R's image, to be changed by WHO: as img_get, and NULL after a 403
 * when WHO sees it (a public or community image) but is neither of its
 * project nor an administrator.  Caller frees with image_free.
 */
struct image *img_get_changeable(struct api_req *r, struct svc *svc,
                                 const struct caller *who);

/* DELETE /image/v2/images/{id}, PUT and DELETE .../tags/{tag}. */
void img_delete(struct api_req *r);
void img_tag_add(struct api_req *r);
void img_tag_remove(struct api_req *r);

#endif
