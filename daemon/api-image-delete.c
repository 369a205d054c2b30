/* vmsnapd: Glance v2, deleting images and their tags (see api-image.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-image.h"
#include "cleanup.h"
#include "images.h"
#include "util.h"

/* ---- Delete and tags --------------------------------------------------- */

/* DELETE /image/v2/images/{image_id} */
void
img_delete(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct image *img;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    img = img_get_changeable(r, svc, &who);
    if (img == NULL) {
        return;
    }
    if (img->protected) {
        api_error(r, 403, "Image %s is protected and cannot be deleted.",
                  img->id);
        image_free(img);
        return;
    }
    if (images_delete(svc, &who, img->id, &err) < 0) {
        img_fail(r, err);
    } else {
        api_respond_empty(r, 204);
    }
    image_free(img);
}

/* PUT and DELETE /image/v2/images/{image_id}/tags/{tag} */
static void
img_tag(struct api_req *r, bool add)
{
    const char *tag = api_param(r, "tag");
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc;
    struct images_change ch = {0};
    const char **tags;
    struct image *img;
    struct caller who;
    size_t i, n = 0;
    bool had;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    img = img_get_changeable(r, svc, &who);
    if (img == NULL) {
        return;
    }
    had = image_has_tag(img, tag);
    if (had == add) {
        if (add) {
            api_respond_empty(r, 204);
        } else {
            api_error(r, 404, "Tag %.64s not found", tag);
        }
        image_free(img);
        return;
    }
    tags = xcalloc(img->ntags + 1, sizeof(*tags));
    for (i = 0; i < img->ntags; i++) {
        if (strcmp(img->tags[i], tag) != 0) {
            tags[n++] = img->tags[i];
        }
    }
    if (add) {
        tags[n++] = tag;
    }
    ch.min_ram = ch.min_disk = -1;
    ch.replace_tags = true;
    ch.tags = tags;
    ch.ntags = n;
    if (images_change(svc, &who, img->id, &ch, NULL, &err) < 0) {
        if (error_get_class(err) == ERR_INVALID &&
            n > CATALOG_TAGS_MAX) {
            api_error(r, 413, "Maximum number of tags exceeded (%d)",
                      CATALOG_TAGS_MAX);
        } else {
            img_fail(r, err);
        }
    } else {
        api_respond_empty(r, 204);
    }
    free(tags);
    image_free(img);
}

void
img_tag_add(struct api_req *r)
{
    img_tag(r, true);
}

void
img_tag_remove(struct api_req *r)
{
    img_tag(r, false);
}
