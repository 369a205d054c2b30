/* vmsnapd: Glance v2 (openstack-api.md §5, nova-glance.md §3).
 *
 *   GET    /image/v2/images                    list: filters, sort, pages
 *   POST   /image/v2/images                    reserve a record (queued)
 *   GET    /image/v2/images/{id}               show
 *   PATCH  /image/v2/images/{id}               JSON Patch of its fields,
 *                                              properties and tags
 *   DELETE /image/v2/images/{id}               delete
 *   PUT    /image/v2/images/{id}/file          upload its data (streamed)
 *   GET    /image/v2/images/{id}/file          download it (Range)
 *   PUT    /image/v2/images/{id}/tags/{tag}    add a tag
 *   DELETE /image/v2/images/{id}/tags/{tag}    remove one
 *
 * Deleting and tags are api-image-delete.c's, the schemas
 * api-image-schema.c's.
 * Records, rules and data are the image service's (lib/services/
 * images.h); this file maps Glance's requests and answers onto it.  An
 * upload is written straight into the image store's staging file,
 * hashed on the way (upload.h), then checked as the command checks a
 * copy; an image of container format ova is unpacked by an import task
 * in a worker.  Errors are Glance's HTML pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api-image.h"
#include "apis.h"
#include "cleanup.h"
#include "download.h"
#include "images.h"
#include "log.h"
#include "package.h"
#include "runner.h"
#include "task.h"
#include "upload.h"
#include "util.h"
#include "views.h"
#include "xalloc.h"
#include "xjson.h"

/* Glance's page sizes: the default and the most a request gets. */
#define IMG_LIMIT_DEFAULT 25
#define IMG_LIMIT_MAX 1000

/* Most operations in one PATCH. */
#define IMG_PATCH_MAX_OPS 256

/* Glance's image statuses. */
static const char *const img_statuses[] = {
    "queued", "saving", "uploading", "importing", "active", "deactivated",
    "killed", "pending_delete", "deleted", NULL,
};

/* Fields a client can never write, and names it can never use. */
static const char *const img_read_only[] = {
    "created_at", "updated_at", "status", "checksum", "size", "virtual_size",
    "os_hash_algo", "os_hash_value", "direct_url", "self", "file", "schema",
    "locations", "stores", "fail_reason", NULL,
};
static const char *const img_reserved[] = {
    "location", "deleted", "deleted_at", "block_device_mapping", NULL,
};

static bool
img_in(const char *const *list, const char *s)
{
    size_t i;

    for (i = 0; list[i]; i++) {
        if (strcmp(list[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* 403 for a field a client may not write; false if KEY is writable. */
static bool
img_refuse_field(struct api_req *r, const char *key)
{
    if (img_in(img_read_only, key)) {
        api_error(r, 403, "Attribute '%s' is read-only.", key);
        return true;
    }
    if (img_in(img_reserved, key) || strncmp(key, "os_glance", 9) == 0) {
        api_error(r, 403, "Attribute '%.64s' is reserved.", key);
        return true;
    }
    return false;
}

/* The Glance form of IMG. */
static json_object *
img_view(const struct image *img)
{
    return view_image(img, NULL);
}

/* Is IMG being made (queued or saving), so that a task may report its
 * progress?
 */
static bool
img_in_progress(const struct image *img)
{
    return img->status && (strcmp(img->status, "queued") == 0 ||
                           strcmp(img->status, "saving") == 0);
}

/* The Glance form of IMG as a show gives it: with the progress of the
 * task that makes it while it is queued or saving (vmsnap_progress,
 * views.h).
 */
static json_object *
img_view_live(struct svc *svc, const struct image *img)
{
    json_object *o = img_view(img);
    double pct;

    if (img_in_progress(img) && task_image_progress(svc, img->id, &pct)) {
        view_image_progress(o, pct);
    }
    return o;
}

/* R's image: visible to the caller, else 404 as Glance words it. */
struct image *
img_get(struct api_req *r, struct svc *svc, const struct caller *who)
{
    CLEANUP_ERROR struct error *err = NULL;
    const char *id = api_param(r, "image_id");
    struct image *img = NULL;

    if (images_find(svc, who, id, &img, &err) < 0) {
        if (error_get_class(err) == ERR_NOT_FOUND) {
            api_error(r, 404, "No image found with ID %s", id);
        } else {
            api_error_from(r, err);
        }
        return NULL;
    }
    return img;
}

struct image *
img_get_changeable(struct api_req *r, struct svc *svc,
                   const struct caller *who)
{
    struct image *img = img_get(r, svc, who);

    if (img == NULL || who->admin ||
        (img->owner && who->project_id &&
         strcmp(img->owner, who->project_id) == 0)) {
        return img;
    }
    api_error(r, 403, "You are not permitted to modify image %s.", img->id);
    image_free(img);
    return NULL;
}

/* A service error as Glance answers it for image ID. */
void
img_fail(struct api_req *r, const struct error *err)
{
    if (error_get_class(err) == ERR_NOT_FOUND) {
        api_error(r, 404, "No image found with ID %s",
                  api_param(r, "image_id"));
        return;
    }
    api_error_from(r, err);
}

/* ---- List -------------------------------------------------------------- */

/* One sort key of a listing. */
struct img_sort {
    const char *key; /* a field */
    bool desc;       /* descending */
};

#define IMG_MAX_SORT 8

/* The listing a request asks for. */
struct img_query {
    struct image_filter f;                    /* what the catalog filters */
    struct catalog_match props[CATALOG_PROPS_MAX]; /* property filters */
    const char *tags[CATALOG_TAGS_MAX];       /* tag filters */
    struct img_sort sort[IMG_MAX_SORT];       /* sort keys, in order */
    size_t nsort;                             /* entries in sort */
    bool sorted;                              /* not the default order */
    const char *protected_;                   /* "true"/"false" or NULL */
    const char *disk_format;                  /* or NULL */
    const char *container_format;             /* or NULL */
    const char *checksum;                     /* or NULL */
    const char *id;                           /* or NULL */
    int64_t size_min, size_max;               /* -1: none */
    bool in_memory;                           /* filters the catalog
                                               * does not do */
    int64_t limit;                            /* page size */
    const char *marker;                       /* after this image */
};

static bool
img_sort_key_ok(const char *k)
{
    static const char *const keys[] = {
        "name", "status", "container_format", "disk_format", "size", "id",
        "created_at", "updated_at", "virtual_size", "min_disk", "min_ram",
        "visibility", "owner", NULL,
    };

    return img_in(keys, k);
}

/* Add sort key K (DIR "asc", "desc" or NULL for the default). */
static int
img_add_sort(struct api_req *r, struct img_query *q, const char *k,
             const char *dir)
{
    if (!img_sort_key_ok(k)) {
        api_error(r, 400, "Invalid sort key: %.64s", k);
        return -1;
    }
    if (dir && strcmp(dir, "asc") != 0 && strcmp(dir, "desc") != 0) {
        api_error(r, 400, "Invalid sort direction: %.64s", dir);
        return -1;
    }
    if (q->nsort >= IMG_MAX_SORT) {
        api_error(r, 400, "Too many sort keys");
        return -1;
    }
    q->sort[q->nsort].key = k;
    q->sort[q->nsort].desc = dir == NULL || strcmp(dir, "desc") == 0;
    q->nsort++;
    return 0;
}

/* Glance's sort parameters: sort_key/sort_dir (repeatable, in pairs) or
 * sort=k1:asc,k2 (not both).  Keys and directions point into KEEP.
 */
static int
img_parse_sort(struct api_req *r, struct img_query *q, char **keep)
{
    const char *keys[IMG_MAX_SORT], *dirs[IMG_MAX_SORT];
    size_t nk = 0, nd = 0, i, n = http_req_nquery(r->http);
    const char *sort = http_req_query(r->http, "sort");

    for (i = 0; i < n; i++) {
        const char *k, *v;

        http_req_query_at(r->http, i, &k, &v);
        if (strcmp(k, "sort_key") == 0 && nk < IMG_MAX_SORT) {
            keys[nk++] = v;
        } else if (strcmp(k, "sort_dir") == 0 && nd < IMG_MAX_SORT) {
            dirs[nd++] = v;
        }
    }
    if (sort && (nk || nd)) {
        api_error(r, 400, "The 'sort' parameter cannot be used with "
                  "sort_key or sort_dir");
        return -1;
    }
    if (sort) {
        char *save = NULL, *tok;

        *keep = xstrdup(sort);
        for (tok = strtok_r(*keep, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            char *colon = strchr(tok, ':');

            if (colon) {
                *colon++ = '\0';
            }
            if (img_add_sort(r, q, tok, colon) < 0) {
                return -1;
            }
        }
    } else {
        if (nd > nk && nk > 0) {
            api_error(r, 400, "More sort directions than sort keys");
            return -1;
        }
        for (i = 0; i < nk; i++) {
            if (img_add_sort(r, q, keys[i],
                             i < nd ? dirs[i] : nd == 1 ? dirs[0] : NULL) <
                0) {
                return -1;
            }
        }
        if (nk == 0 && nd == 1 &&
            img_add_sort(r, q, "created_at", dirs[0]) < 0) {
            return -1;
        }
    }
    /* The catalog's own order is created_at descending. */
    q->sorted = !(q->nsort == 0 ||
                  (q->nsort == 1 && strcmp(q->sort[0].key, "created_at") ==
                                        0 &&
                   q->sort[0].desc));
    return 0;
}

/* A size filter. */
static int
img_parse_size(struct api_req *r, const char *k, const char *v, int64_t *out)
{
    if (util_parse_int64(v, out, NULL) < 0 || *out < 0) {
        api_error(r, 400, "Invalid value for %s: %.64s", k, v);
        return -1;
    }
    return 0;
}

/* Read R's query into *Q for caller WHO.  -1 when it has responded. */
static int
img_parse_query(struct api_req *r, const struct caller *who,
                struct img_query *q, char **keep)
{
    static const char *const ignored[] = {
        "limit", "marker", "sort", "sort_key", "sort_dir", "member_status",
        "os_hidden", NULL,
    };
    size_t i, n = http_req_nquery(r->http);
    const char *vis = http_req_query(r->http, "visibility");

    memset(q, 0, sizeof(*q));
    q->size_min = q->size_max = -1;
    q->f.exclude_deleted = true;
    if (api_query_int(r, "limit", IMG_LIMIT_DEFAULT, 0, INT64_MAX,
                      &q->limit) < 0 ||
        img_parse_sort(r, q, keep) < 0) {
        return -1;
    }
    if (q->limit > IMG_LIMIT_MAX) {
        q->limit = IMG_LIMIT_MAX;
    }
    q->marker = http_req_query(r->http, "marker");
    if (q->marker && !util_is_uuid(q->marker)) {
        api_error(r, 400, "marker not found: %.64s", q->marker);
        return -1;
    }
    /* Glance's visibility rule (catalog-images.h says how it maps). */
    if (vis && strcmp(vis, "all") != 0 && strcmp(vis, "public") != 0 &&
        strcmp(vis, "private") != 0 && strcmp(vis, "shared") != 0 &&
        strcmp(vis, "community") != 0) {
        api_error(r, 400, "Invalid visibility value: %.64s", vis);
        return -1;
    }
    if (!who->admin) {
        q->f.visible_to = who->project_id;
        q->f.include_community =
            vis && (strcmp(vis, "all") == 0 || strcmp(vis, "community") == 0);
    }
    if (vis && strcmp(vis, "all") != 0) {
        q->f.visibility = vis;
    }
    for (i = 0; i < n; i++) {
        const char *k, *v;

        http_req_query_at(r->http, i, &k, &v);
        if (img_in(ignored, k) || strcmp(k, "visibility") == 0) {
            continue;
        }
        if (strcmp(k, "name") == 0) {
            q->f.name = v;
        } else if (strcmp(k, "status") == 0) {
            q->f.status = v;
        } else if (strcmp(k, "owner") == 0) {
            q->f.owner = v;
        } else if (strcmp(k, "tag") == 0) {
            if (q->f.ntags >= CATALOG_TAGS_MAX) {
                api_error(r, 400, "Too many tag filters");
                return -1;
            }
            q->tags[q->f.ntags++] = v;
        } else if (strcmp(k, "protected") == 0) {
            if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
                api_error(r, 400, "Invalid value for protected: %.64s", v);
                return -1;
            }
            q->protected_ = v;
            q->in_memory = true;
        } else if (strcmp(k, "disk_format") == 0) {
            q->disk_format = v;
            q->in_memory = true;
        } else if (strcmp(k, "container_format") == 0) {
            q->container_format = v;
            q->in_memory = true;
        } else if (strcmp(k, "checksum") == 0) {
            q->checksum = v;
            q->in_memory = true;
        } else if (strcmp(k, "id") == 0) {
            q->id = v;
            q->in_memory = true;
        } else if (strcmp(k, "size_min") == 0) {
            if (img_parse_size(r, k, v, &q->size_min) < 0) {
                return -1;
            }
            q->in_memory = true;
        } else if (strcmp(k, "size_max") == 0) {
            if (img_parse_size(r, k, v, &q->size_max) < 0) {
                return -1;
            }
            q->in_memory = true;
        } else if (strcmp(k, "changes-since") == 0) {
            api_error(r, 400, "changes-since is not supported");
            return -1;
        } else {
            /* Any other key filters on a property of that name. */
            if (q->f.nprops >= CATALOG_PROPS_MAX) {
                api_error(r, 400, "Too many property filters");
                return -1;
            }
            q->props[q->f.nprops].key = k;
            q->props[q->f.nprops].value = v;
            q->f.nprops++;
        }
    }
    if (q->f.status && !img_in(img_statuses, q->f.status)) {
        api_error(r, 400, "Invalid status value: %.64s", q->f.status);
        return -1;
    }
    q->f.props = q->f.nprops ? q->props : NULL;
    q->f.tags = q->f.ntags ? q->tags : NULL;
    return 0;
}

static bool
img_match_mem(const struct img_query *q, const struct image *img)
{
    if (q->protected_ &&
        img->protected != (strcmp(q->protected_, "true") == 0)) {
        return false;
    }
    if (q->disk_format && (img->disk_format == NULL ||
                           strcmp(q->disk_format, img->disk_format) != 0)) {
        return false;
    }
    if (q->container_format &&
        (img->container_format == NULL ||
         strcmp(q->container_format, img->container_format) != 0)) {
        return false;
    }
    if (q->checksum && (img->checksum == NULL ||
                        strcmp(q->checksum, img->checksum) != 0)) {
        return false;
    }
    if (q->id && strcasecmp(q->id, img->id) != 0) {
        return false;
    }
    if (q->size_min >= 0 && (img->size < 0 || img->size < q->size_min)) {
        return false;
    }
    return q->size_max < 0 || (img->size >= 0 && img->size <= q->size_max);
}

/* Compare A and B on field KEY (nulls first). */
static int
img_cmp_field(const struct image *a, const struct image *b, const char *key)
{
    const char *sa = NULL, *sb = NULL;
    int64_t na = 0, nb = 0;
    bool num = true;

    if (strcmp(key, "size") == 0) {
        na = a->size, nb = b->size;
    } else if (strcmp(key, "virtual_size") == 0) {
        na = a->virtual_size, nb = b->virtual_size;
    } else if (strcmp(key, "min_disk") == 0) {
        na = a->min_disk, nb = b->min_disk;
    } else if (strcmp(key, "min_ram") == 0) {
        na = a->min_ram, nb = b->min_ram;
    } else {
        num = false;
        if (strcmp(key, "name") == 0) {
            sa = a->name, sb = b->name;
        } else if (strcmp(key, "status") == 0) {
            sa = a->status, sb = b->status;
        } else if (strcmp(key, "container_format") == 0) {
            sa = a->container_format, sb = b->container_format;
        } else if (strcmp(key, "disk_format") == 0) {
            sa = a->disk_format, sb = b->disk_format;
        } else if (strcmp(key, "id") == 0) {
            sa = a->id, sb = b->id;
        } else if (strcmp(key, "updated_at") == 0) {
            sa = a->updated_at, sb = b->updated_at;
        } else if (strcmp(key, "visibility") == 0) {
            sa = a->visibility, sb = b->visibility;
        } else if (strcmp(key, "owner") == 0) {
            sa = a->owner, sb = b->owner;
        } else {
            sa = a->created_at, sb = b->created_at;
        }
    }
    if (num) {
        return na < nb ? -1 : na > nb;
    }
    if (sa == NULL || sb == NULL) {
        return (sa != NULL) - (sb != NULL);
    }
    return strcmp(sa, sb);
}

/* qsort has no context argument: the keys of the sort in progress.  A
 * sort holds img_sort_lock.
 */
static const struct img_query *img_sort_query;
static pthread_mutex_t img_sort_lock = PTHREAD_MUTEX_INITIALIZER;

static int
img_cmp(const void *pa, const void *pb)
{
    const struct image *a = *(struct image *const *)pa;
    const struct image *b = *(struct image *const *)pb;
    size_t i;

    for (i = 0; i < img_sort_query->nsort; i++) {
        int c = img_cmp_field(a, b, img_sort_query->sort[i].key);

        if (c != 0) {
            return img_sort_query->sort[i].desc ? -c : c;
        }
    }
    /* Ties: the catalog's order (newest first), then the ID. */
    {
        int c = img_cmp_field(a, b, "created_at");

        return c != 0 ? -c : strcmp(a->id, b->id);
    }
}

/* GET /image/v2/images */
static void
img_list(struct api_req *r)
{
    static const char *const drop_marker[] = {"marker", NULL};
    struct svc *svc;
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_FREE char *keep = NULL;
    CLEANUP_FREE char *rest = NULL;
    struct image **list = NULL;
    struct img_query *q;
    struct caller who;
    json_object *top, *arr;
    size_t n = 0, i, j, start = 0, end;
    bool more;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    q = xcalloc(1, sizeof(*q));
    if (img_parse_query(r, &who, q, &keep) < 0) {
        free(q);
        return;
    }
    /* The catalog pages in its own order; any other order or filter is
     * done here, on everything the caller may see.
     */
    if (!q->sorted && !q->in_memory) {
        q->f.marker = q->marker;
        q->f.limit = (size_t)q->limit + 1;
    }
    if (images_list(svc, &who, &q->f, &list, &n, &err) < 0) {
        if (error_get_class(err) == ERR_INVALID && q->marker) {
            api_error(r, 400, "marker not found: %.64s", q->marker);
        } else {
            api_error_from(r, err);
        }
        free(q);
        return;
    }
    if (q->in_memory) {
        for (i = j = 0; i < n; i++) {
            if (img_match_mem(q, list[i])) {
                list[j++] = list[i];
            } else {
                image_free(list[i]);
            }
        }
        n = j;
    }
    if (q->sorted || q->in_memory) {
        if (q->sorted) {
            pthread_mutex_lock(&img_sort_lock);
            img_sort_query = q;
            qsort(list, n, sizeof(*list), img_cmp);
            pthread_mutex_unlock(&img_sort_lock);
        }
        if (q->marker) {
            for (i = 0; i < n && strcasecmp(list[i]->id, q->marker) != 0;
                 i++) {
            }
            if (i == n) {
                image_list_free(list, n);
                api_error(r, 400, "marker not found: %.64s", q->marker);
                free(q);
                return;
            }
            start = i + 1;
        }
    }
    end = start + (size_t)q->limit < n ? start + (size_t)q->limit : n;
    more = end < n;
    top = xjson_object();
    arr = xjson_array();
    {
        /* The pending tasks' progress, read once for the whole page. */
        struct task_progress *prog = NULL;
        size_t nprog = 0;
        bool loaded = false;

        for (i = start; i < end; i++) {
            json_object *o = img_view(list[i]);
            double pct;

            if (img_in_progress(list[i])) {
                if (!loaded) {
                    loaded = true;
                    task_images_progress(svc, &prog, &nprog);
                }
                if (task_progress_find(prog, nprog, list[i]->id, &pct)) {
                    view_image_progress(o, pct);
                }
            }
            xjson_append(arr, o);
        }
        task_progress_free(prog, nprog);
    }
    xjson_add(top, "images", arr);
    rest = api_query_without(r, drop_marker);
    {
        CLEANUP_FREE char *first =
            xasprintf("/v2/images%s%s", *rest ? "?" : "", rest);

        xjson_add(top, "first", xjson_string(first));
    }
    if (more && end > start) {
        CLEANUP_FREE char *next =
            xasprintf("/v2/images?%s%smarker=%s", rest, *rest ? "&" : "",
                      list[end - 1]->id);

        xjson_add(top, "next", xjson_string(next));
    }
    xjson_add(top, "schema", xjson_string("/v2/schemas/images"));
    image_list_free(list, n);
    free(q);
    api_respond_json(r, 200, top);
}

/* GET /image/v2/images/{image_id} */
static void
img_show(struct api_req *r)
{
    struct svc *svc;
    struct image *img;
    struct caller who;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    img = img_get(r, svc, &who);
    if (img) {
        api_respond_json(r, 200, img_view_live(svc, img));
        image_free(img);
    }
}

/* ---- Create ------------------------------------------------------------ */

/* A string member that may be null: *OUT is NULL for null.  Responds 400
 * for another type.
 */
static int
img_str_or_null(struct api_req *r, const char *key, json_object *v,
                size_t max, const char **out)
{
    if (json_object_is_type(v, json_type_null)) {
        *out = NULL;
        return 0;
    }
    if (!json_object_is_type(v, json_type_string)) {
        api_error(r, 400, "Invalid value for '%s': it must be a string",
                  key);
        return -1;
    }
    if ((size_t)json_object_get_string_len(v) > max) {
        api_error(r, 400, "Invalid value for '%s': longer than %zu bytes",
                  key, max);
        return -1;
    }
    *out = json_object_get_string(v);
    return 0;
}

static int
img_nonneg(struct api_req *r, const char *key, json_object *v, int64_t *out)
{
    if (!json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0) {
        api_error(r, 400, "Invalid value for '%s': it must be an integer "
                  ">= 0", key);
        return -1;
    }
    *out = json_object_get_int64(v);
    return 0;
}

static bool
img_visibility_ok(const char *v)
{
    return v && (strcmp(v, "public") == 0 || strcmp(v, "private") == 0 ||
                 strcmp(v, "shared") == 0 || strcmp(v, "community") == 0);
}

/* Tags from the JSON array V into TAGS (borrowed from V).  Responds 400
 * or 413.
 */
static int
img_tags(struct api_req *r, json_object *v, const char **tags, size_t *n)
{
    size_t i, len;

    if (!json_object_is_type(v, json_type_array)) {
        api_error(r, 400, "Invalid value for 'tags': it must be an array");
        return -1;
    }
    len = json_object_array_length(v);
    if (len > CATALOG_TAGS_MAX) {
        api_error(r, 413, "Maximum number of tags exceeded (%d)",
                  CATALOG_TAGS_MAX);
        return -1;
    }
    *n = 0;
    for (i = 0; i < len; i++) {
        json_object *t = json_object_array_get_idx(v, i);
        size_t j;
        bool dup = false;

        if (!json_object_is_type(t, json_type_string) ||
            json_object_get_string_len(t) == 0 ||
            json_object_get_string_len(t) > CATALOG_NAME_MAX) {
            api_error(r, 400, "Invalid tag: each is a string of 1 to %d "
                      "bytes", CATALOG_NAME_MAX);
            return -1;
        }
        for (j = 0; j < *n && !dup; j++) {
            dup = strcmp(tags[j], json_object_get_string(t)) == 0;
        }
        if (!dup) {
            tags[(*n)++] = json_object_get_string(t);
        }
    }
    return 0;
}

/* POST /image/v2/images */
static void
img_create(struct api_req *r)
{
    CLEANUP_JSON_PUT json_object *body = api_req_json(r);
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_FREE struct prop *props = NULL;
    CLEANUP_FREE const char **tags = NULL;
    struct images_new spec = {0};
    struct image *img = NULL;
    struct svc *svc;
    struct caller who;
    size_t nprops = 0;

    if (body == NULL || (svc = api_svc(r)) == NULL) {
        return;
    }
    api_who(r, &who);
    props = xcalloc(json_object_object_length(body) + 1, sizeof(*props));
    tags = xcalloc(CATALOG_TAGS_MAX, sizeof(*tags));
    json_object_object_foreach(body, key, v)
    {
        if (img_refuse_field(r, key)) {
            return;
        }
        if (strcmp(key, "id") == 0) {
            if (!json_object_is_type(v, json_type_string) ||
                !util_is_uuid(json_object_get_string(v))) {
                api_error(r, 400, "Invalid value for 'id': it must be a "
                          "UUID");
                return;
            }
            spec.id = json_object_get_string(v);
        } else if (strcmp(key, "name") == 0) {
            if (img_str_or_null(r, key, v, CATALOG_NAME_MAX, &spec.name) <
                0) {
                return;
            }
        } else if (strcmp(key, "visibility") == 0) {
            if (!json_object_is_type(v, json_type_string) ||
                !img_visibility_ok(json_object_get_string(v))) {
                api_error(r, 400, "Invalid value for 'visibility': one of "
                          "public, private, shared, community");
                return;
            }
            spec.visibility = json_object_get_string(v);
        } else if (strcmp(key, "protected") == 0 ||
                   strcmp(key, "os_hidden") == 0) {
            if (!json_object_is_type(v, json_type_boolean)) {
                api_error(r, 400, "Invalid value for '%s': it must be a "
                          "boolean", key);
                return;
            }
            if (strcmp(key, "protected") == 0) {
                spec.protected = json_object_get_boolean(v);
            }
        } else if (strcmp(key, "disk_format") == 0) {
            if (img_str_or_null(r, key, v, 64, &spec.disk_format) < 0) {
                return;
            }
        } else if (strcmp(key, "container_format") == 0) {
            if (img_str_or_null(r, key, v, 64, &spec.container_format) < 0) {
                return;
            }
        } else if (strcmp(key, "min_ram") == 0) {
            if (img_nonneg(r, key, v, &spec.min_ram) < 0) {
                return;
            }
        } else if (strcmp(key, "min_disk") == 0) {
            if (img_nonneg(r, key, v, &spec.min_disk) < 0) {
                return;
            }
        } else if (strcmp(key, "tags") == 0) {
            if (img_tags(r, v, tags, &spec.ntags) < 0) {
                return;
            }
            spec.tags = tags;
        } else if (strcmp(key, "owner") == 0) {
            api_error(r, 403, "Attribute 'owner' is set by vmsnap: an "
                      "image belongs to the project that creates it");
            return;
        } else {
            if (!json_object_is_type(v, json_type_string)) {
                api_error(r, 400, "Invalid value for property '%.64s': "
                          "properties are strings", key);
                return;
            }
            if (strlen(key) > CATALOG_KEY_MAX) {
                api_error(r, 400, "A property name has at most %d bytes",
                          CATALOG_KEY_MAX);
                return;
            }
            if (nprops >= CATALOG_PROPS_MAX) {
                api_error(r, 413, "Maximum number of properties exceeded "
                          "(%d)", CATALOG_PROPS_MAX);
                return;
            }
            props[nprops].key = key;
            props[nprops].value = (char *)json_object_get_string(v);
            nprops++;
        }
    }
    if (spec.visibility && strcmp(spec.visibility, "public") == 0 &&
        !who.admin) {
        api_error(r, 403, "Only an administrator may make an image public");
        return;
    }
    spec.props = props;
    spec.nprops = nprops;
    if (images_reserve(svc, &who, &spec, &img, &err) < 0) {
        api_error_from(r, err);
        return;
    }
    {
        CLEANUP_FREE char *loc = xasprintf("%s/image/v2/images/%s",
                                           api_base_url(r), img->id);

        http_add_header(r->http, "Location", loc);
    }
    api_respond_json(r, 201, img_view(img));
    image_free(img);
}

/* ---- Upload and download ------------------------------------------------ */

/* An upload's owner, between the handler and the end of the body. */
struct img_upload {
    struct svc *svc;                /* the request's context */
    struct images_upload *up;       /* the service's upload */
};

static void
img_upload_done(void *opaque, struct api_req *r,
                const struct upload_result *res)
{
    struct img_upload *u = opaque;
    CLEANUP_ERROR struct error *err = NULL;
    struct images_upload_data d;
    struct task *task = NULL;

    d.size = (int64_t)res->size;
    d.checksum = res->md5;
    d.os_hash_value = res->sha512;
    if ((images_is_package(images_upload_image(u->up)->container_format)
             ? package_upload_finish(u->svc, u->up, NULL, &task, &err)
             : images_upload_finish(u->svc, u->up, &d, NULL, &err)) < 0) {
        if (error_get_class(err) == ERR_INVALID) {
            /* Data that is not what it claims: Glance's 400. */
            api_error(r, 400, "%s", error_msg(err));
        } else {
            api_error_from(r, err);
        }
        free(u);
        return;
    }
    free(u);
    if (task && runner_spawn(r->svc, task->id, &err) < 0) {
        /* The import is recorded as failed; recovery removes the image
         * it was to fill.
         */
        task_free(task);
        api_error_from(r, err);
        return;
    }
    task_free(task);
    api_respond_empty(r, 204);
}

static void
img_upload_fail(void *opaque, enum upload_failure why)
{
    struct img_upload *u = opaque;
    const char *reason;

    switch (why) {
    case UPLOAD_TOO_LARGE:
        reason = "the upload was larger than the largest image allowed";
        break;
    case UPLOAD_NO_SPACE:
        reason = "the upload would have filled the data directory";
        break;
    case UPLOAD_SHORT:
        reason = "the upload ended before all its data came (the client "
                 "went away)";
        break;
    default:
        reason = "the upload's data could not be written";
        break;
    }
    images_upload_abort(u->svc, u->up, reason);
    free(u);
}

/* PUT /image/v2/images/{image_id}/file */
static void
img_upload(struct api_req *r)
{
    const char *type = http_req_header(r->http, "Content-Type");
    const char *declared = http_req_header(r->http, "x-openstack-image-size");
    CLEANUP_ERROR struct error *err = NULL;
    struct svc *svc = api_svc(r);
    const struct config *cfg;
    struct upload_limits lim = {0, 0};
    struct upload_target t;
    struct img_upload *u;
    struct caller who;

    if (svc == NULL) {
        return;
    }
    if (type == NULL || strncasecmp(type, "application/octet-stream", 24) !=
                            0) {
        api_error(r, 415, "Unsupported Content-Type: the data is sent as "
                  "application/octet-stream");
        return;
    }
    if (declared) {
        int64_t n;

        if (util_parse_int64(declared, &n, NULL) < 0 || n < 0 ||
            (http_req_content_length(r->http) >= 0 &&
             n != http_req_content_length(r->http))) {
            api_error(r, 400, "x-openstack-image-size does not match the "
                      "data");
            return;
        }
    }
    api_who(r, &who);
    u = xcalloc(1, sizeof(*u));
    u->svc = svc;
    if (images_upload_begin(svc, &who, api_param(r, "image_id"), &u->up,
                            &err) < 0) {
        free(u);
        if (error_get_class(err) == ERR_CONFLICT &&
            strstr(error_msg(err), "another project")) {
            api_error(r, 403, "You are not permitted to upload data to "
                      "image %s.", api_param(r, "image_id"));
        } else {
            img_fail(r, err);
        }
        return;
    }
    cfg = svc_config(svc);
    lim.max_size = cfg->max_image_size;
    lim.reserve = cfg->reserved_space;
    t.fd = images_upload_fd(u->up);
    t.done = img_upload_done;
    t.fail = img_upload_fail;
    t.opaque = u;
    upload_stream(r, &lim, &t);
}

/* GET /image/v2/images/{image_id}/file */
static void
img_download(struct api_req *r)
{
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_FREE char *path = NULL;
    struct download_source src;
    struct svc *svc;
    struct image *img;
    struct caller who;
    struct stat st;
    int fd;

    if (!api_begin(r, &svc, &who)) {
        return;
    }
    img = img_get(r, svc, &who);
    if (img == NULL) {
        return;
    }
    if (img->location == NULL) {
        /* Glance: an image without data has an empty body. */
        image_free(img);
        api_respond_empty(r, 204);
        return;
    }
    if (strcmp(img->status, "active") != 0) {
        api_error(r, 403, "Image %s is %s: its data cannot be downloaded",
                  img->id, img->status);
        image_free(img);
        return;
    }
    if (images_local_path(svc, img, &path, &err) < 0) {
        image_free(img);
        api_error_from(r, err);
        return;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) < 0) {
        log_warnx("image %s: %s: %s", img->id, path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        image_free(img);
        api_error(r, 500, "The image's data cannot be read");
        return;
    }
    memset(&src, 0, sizeof(src));
    src.size = (uint64_t)st.st_size;
    src.md5 = img->checksum;
    src.fd = fd;
    download_respond(r, &src);
    image_free(img);
}

/* ---- Patch ------------------------------------------------------------- */

/* Replace the tags of the in-memory S with the N of TAGS (copied). */
static void
img_set_tags(struct image *s, const char *const *tags, size_t n)
{
    size_t i;

    for (i = 0; i < s->ntags; i++) {
        free(s->tags[i]);
    }
    free(s->tags);
    s->tags = xcalloc(n ? n : 1, sizeof(*s->tags));
    for (s->ntags = 0, i = 0; i < n; i++) {
        s->tags[s->ntags++] = xstrdup(tags[i]);
    }
}


/* The user-editable state of an image while a patch is applied is a
 * struct image of its own (name, sizes, visibility, protection,
 * properties, tags), compared with the image at the end.
 */
static struct image *
img_state_of(const struct image *img)
{
    struct image *s = xcalloc(1, sizeof(*s));
    size_t i;

    memcpy(s->id, img->id, sizeof(s->id));
    s->name = img->name ? xstrdup(img->name) : NULL;
    s->min_ram = img->min_ram;
    s->min_disk = img->min_disk;
    s->visibility = xstrdup(img->visibility ? img->visibility : "shared");
    s->protected = img->protected;
    for (i = 0; i < img->nprops; i++) {
        image_prop_set(s, img->props[i].key, img->props[i].value, NULL);
    }
    img_set_tags(s, (const char *const *)img->tags, img->ntags);
    return s;
}

/* Remove property KEY from S; false if it has none. */
static bool
img_state_unset(struct image *s, const char *key)
{
    size_t i;

    for (i = 0; i < s->nprops; i++) {
        if (strcmp(s->props[i].key, key) == 0) {
            free(s->props[i].key);
            free(s->props[i].value);
            s->props[i] = s->props[--s->nprops];
            return true;
        }
    }
    return false;
}

/* The JSON Pointer PATH ("/name") as a member name (caller frees): one
 * level, "~1" is '/', "~0" is '~'.  NULL for anything else.
 */
static char *
img_pointer(const char *path)
{
    char *out, *o;
    const char *p;

    if (path == NULL || path[0] != '/' || strchr(path + 1, '/')) {
        return NULL;
    }
    out = o = xstrdup(path + 1);
    for (p = path + 1; *p; p++) {
        if (*p == '~') {
            if (p[1] == '1') {
                *o++ = '/';
            } else if (p[1] == '0') {
                *o++ = '~';
            } else {
                free(out);
                return NULL;
            }
            p++;
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

/* Apply one operation OP (add, replace, remove) of KEY with VALUE to S.
 * Responds and returns -1 when it cannot be applied.
 */
static int
img_apply(struct api_req *r, const struct caller *who, struct image *s,
          const char *op, const char *key, json_object *value)
{
    bool remove = strcmp(op, "remove") == 0;
    bool replace = strcmp(op, "replace") == 0;

    if (img_refuse_field(r, key)) {
        return -1;
    }
    if (strcmp(key, "id") == 0 || strcmp(key, "owner") == 0 ||
        strcmp(key, "disk_format") == 0 ||
        strcmp(key, "container_format") == 0 ||
        strcmp(key, "os_hidden") == 0) {
        api_error(r, 403, "Attribute '%s' is read-only.", key);
        return -1;
    }
    if (remove && (strcmp(key, "name") == 0 || strcmp(key, "min_ram") == 0 ||
                   strcmp(key, "min_disk") == 0 ||
                   strcmp(key, "visibility") == 0 ||
                   strcmp(key, "protected") == 0 ||
                   strcmp(key, "tags") == 0)) {
        api_error(r, 403, "Attribute '%s' cannot be removed.", key);
        return -1;
    }
    if (strcmp(key, "name") == 0) {
        const char *name;

        if (img_str_or_null(r, key, value, CATALOG_NAME_MAX, &name) < 0) {
            return -1;
        }
        free(s->name);
        s->name = name ? xstrdup(name) : NULL;
    } else if (strcmp(key, "min_ram") == 0) {
        return img_nonneg(r, key, value, &s->min_ram);
    } else if (strcmp(key, "min_disk") == 0) {
        return img_nonneg(r, key, value, &s->min_disk);
    } else if (strcmp(key, "visibility") == 0) {
        if (!json_object_is_type(value, json_type_string) ||
            !img_visibility_ok(json_object_get_string(value))) {
            api_error(r, 400, "Invalid value for 'visibility': one of "
                      "public, private, shared, community");
            return -1;
        }
        if (strcmp(json_object_get_string(value), "public") == 0 &&
            strcmp(s->visibility, "public") != 0 && !who->admin) {
            api_error(r, 403, "Only an administrator may make an image "
                      "public");
            return -1;
        }
        free(s->visibility);
        s->visibility = xstrdup(json_object_get_string(value));
    } else if (strcmp(key, "protected") == 0) {
        if (!json_object_is_type(value, json_type_boolean)) {
            api_error(r, 400, "Invalid value for 'protected': it must be a "
                      "boolean");
            return -1;
        }
        s->protected = json_object_get_boolean(value);
    } else if (strcmp(key, "tags") == 0) {
        const char *tags[CATALOG_TAGS_MAX];
        size_t n = 0;

        if (img_tags(r, value, tags, &n) < 0) {
            return -1;
        }
        img_set_tags(s, tags, n);
    } else if (remove) {
        if (!img_state_unset(s, key)) {
            api_error(r, 409, "Property %.64s does not exist.", key);
            return -1;
        }
    } else {
        if (replace && image_prop(s, key) == NULL) {
            api_error(r, 409, "Property %.64s does not exist.", key);
            return -1;
        }
        if (!json_object_is_type(value, json_type_string)) {
            api_error(r, 400, "Invalid value for property '%.64s': "
                      "properties are strings", key);
            return -1;
        }
        if (strlen(key) > CATALOG_KEY_MAX) {
            api_error(r, 400, "A property name has at most %d bytes",
                      CATALOG_KEY_MAX);
            return -1;
        }
        image_prop_set(s, key, json_object_get_string(value), NULL);
        if (s->nprops > CATALOG_PROPS_MAX) {
            api_error(r, 413, "Maximum number of properties exceeded (%d)",
                      CATALOG_PROPS_MAX);
            return -1;
        }
    }
    return 0;
}

static bool
img_tags_equal(const struct image *img, const struct image *s)
{
    size_t i, j;

    if (img->ntags != s->ntags) {
        return false;
    }
    for (i = 0; i < s->ntags; i++) {
        bool found = false;

        for (j = 0; j < img->ntags && !found; j++) {
            found = strcmp(img->tags[j], s->tags[i]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

/* Make IMG what S says through the service, in one change. */
static int
img_commit(struct svc *svc, const struct caller *who, const struct image *img,
           const struct image *s, struct image **out, struct error **errp)
{
    struct images_change ch = {0};
    CLEANUP_FREE struct prop *set = xcalloc(s->nprops + 1, sizeof(*set));
    CLEANUP_FREE const char **unset =
        xcalloc(img->nprops + 1, sizeof(*unset));
    size_t i;

    ch.min_ram = s->min_ram != img->min_ram ? s->min_ram : -1;
    ch.min_disk = s->min_disk != img->min_disk ? s->min_disk : -1;
    if ((s->name == NULL) != (img->name == NULL) ||
        (s->name && strcmp(s->name, img->name) != 0)) {
        ch.name = s->name;
        ch.clear_name = s->name == NULL;
    }
    if (strcmp(s->visibility, img->visibility ? img->visibility
                                              : "shared") != 0) {
        ch.visibility = s->visibility;
    }
    if (s->protected != img->protected) {
        ch.protect = s->protected ? 1 : -1;
    }
    if (!img_tags_equal(img, s)) {
        ch.replace_tags = true;
        ch.tags = (const char *const *)s->tags;
        ch.ntags = s->ntags;
    }
    for (i = 0; i < s->nprops; i++) {
        const char *old = image_prop(img, s->props[i].key);

        if (old == NULL || strcmp(old, s->props[i].value) != 0) {
            set[ch.nset++] = s->props[i];
        }
    }
    for (i = 0; i < img->nprops; i++) {
        if (image_prop(s, img->props[i].key) == NULL) {
            unset[ch.nunset++] = img->props[i].key;
        }
    }
    ch.set = set;
    ch.unset = unset;
    return images_change(svc, who, img->id, &ch, out, errp);
}

/* PATCH /image/v2/images/{image_id} */
static void
img_patch(struct api_req *r)
{
    const char *type = http_req_header(r->http, "Content-Type");
    CLEANUP_ERROR struct error *err = NULL;
    CLEANUP_JSON_PUT json_object *ops = NULL;
    struct svc *svc = api_svc(r);
    struct image *img = NULL, *after = NULL, *s;
    struct caller who;
    const char *body;
    size_t len = 0, i, n;

    if (svc == NULL) {
        return;
    }
    if (type == NULL ||
        (strncasecmp(type, "application/openstack-images-v2.1-json-patch",
                     44) != 0 &&
         strncasecmp(type, "application/openstack-images-v2.0-json-patch",
                     44) != 0)) {
        http_add_header(r->http, "Accept-Patch",
                        "application/openstack-images-v2.0-json-patch, "
                        "application/openstack-images-v2.1-json-patch");
        api_error(r, 415, "Unsupported Content-Type: an image is patched "
                  "with application/openstack-images-v2.1-json-patch");
        return;
    }
    body = http_req_body(r->http, &len);
    ops = api_parse_json(body, len, &err);
    if (ops == NULL) {
        api_error(r, 400, "%s", error_msg(err));
        return;
    }
    if (!json_object_is_type(ops, json_type_array)) {
        api_error(r, 400, "A JSON Patch is an array of operations");
        return;
    }
    n = json_object_array_length(ops);
    if (n > IMG_PATCH_MAX_OPS) {
        api_error(r, 413, "A patch has at most %d operations",
                  IMG_PATCH_MAX_OPS);
        return;
    }
    api_who(r, &who);
    img = img_get_changeable(r, svc, &who);
    if (img == NULL) {
        return;
    }
    s = img_state_of(img);
    for (i = 0; i < n; i++) {
        json_object *o = json_object_array_get_idx(ops, i);
        const char *op = api_json_str(o, "op");
        CLEANUP_FREE char *key = img_pointer(api_json_str(o, "path"));
        json_object *value = api_json_get(o, "value");

        if (!json_object_is_type(o, json_type_object) || op == NULL ||
            (strcmp(op, "add") != 0 && strcmp(op, "replace") != 0 &&
             strcmp(op, "remove") != 0)) {
            api_error(r, 400, "Operation %zu: op must be add, replace or "
                      "remove", i);
            goto out;
        }
        if (key == NULL || *key == '\0') {
            api_error(r, 400, "Operation %zu: path must name one member, as "
                      "/name", i);
            goto out;
        }
        if (strcmp(op, "remove") != 0 &&
            !json_object_object_get_ex(o, "value", &value)) {
            api_error(r, 400, "Operation %zu: %s needs a value", i, op);
            goto out;
        }
        if (img_apply(r, &who, s, op, key, value) < 0) {
            goto out;
        }
    }
    if (img_commit(svc, &who, img, s, &after, &err) < 0) {
        img_fail(r, err);
        goto out;
    }
    api_respond_json(r, 200, img_view(after));
    image_free(after);
out:
    image_free(s);
    image_free(img);
}

#define IMG_ID "/image/v2/images/{image_id:uuid}"

static const struct route image_routes_[] = {
    {"GET", "/image/v2/images", img_list, API_IMAGE, 0, ROUTE_BODY_NONE},
    {"POST", "/image/v2/images", img_create, API_IMAGE, 0, ROUTE_BODY_JSON},
    {"GET", IMG_ID, img_show, API_IMAGE, 0, ROUTE_BODY_NONE},
    {"PATCH", IMG_ID, img_patch, API_IMAGE, 0, ROUTE_BODY_JSON},
    {"DELETE", IMG_ID, img_delete, API_IMAGE, 0, ROUTE_BODY_NONE},
    {"PUT", IMG_ID "/file", img_upload, API_IMAGE, 0, ROUTE_BODY_STREAM},
    {"GET", IMG_ID "/file", img_download, API_IMAGE, 0, ROUTE_BODY_NONE},
    {"PUT", IMG_ID "/tags/{tag}", img_tag_add, API_IMAGE, 0,
     ROUTE_BODY_NONE},
    {"DELETE", IMG_ID "/tags/{tag}", img_tag_remove, API_IMAGE, 0,
     ROUTE_BODY_NONE},
    {NULL, NULL, NULL, API_OTHER, 0, ROUTE_BODY_NONE},
};

const struct route_table image_routes = {"/image", API_IMAGE,
                                         image_routes_};
