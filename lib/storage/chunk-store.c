/* vmsnap: the chunk store itself: parameters, indexes, loading chunks
 * (see chunk.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <zstd.h>

#include "chunk-internal.h"
#include "cleanup.h"
#include "util.h"
#include "xalloc.h"

#define STORE_FORMAT 1
#define STORE_META_KEY "store.json"
#define STORE_META_MAX 65536

/* The most an index object may weigh: header, digests and csum. */
#define INDEX_MAX_BYTES                                                        \
    (CHUNK_INDEX_HEADER_LEN + (CHUNK_INDEX_MAX_COUNT + 1) * CHUNK_DIGEST_LEN)

void
chunk_key(const struct chunk_digest *d, char out[CHUNK_KEY_LEN])
{
    char hex[CHUNK_HEX_LEN];

    chunk_digest_hex(d, hex);
    snprintf(out, CHUNK_KEY_LEN, "chunks/%.3s/%s", hex, hex);
}

bool
chunk_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    return n > 0 && n <= CHUNK_NAME_MAX && name[0] != '.' &&
           strchr(name, '/') == NULL && chunk_key_valid(name);
}

char *
chunk_index_key(const char *name, struct error **errp)
{
    if (!chunk_name_valid(name)) {
        error_setg(errp, ERR_INVALID, "bad index name '%s'",
                   name ? name : "");
        return NULL;
    }
    return util_strdup_printf("indexes/%s.idx", name);
}

/* The parameters as store.json holds them; caller frees. */
static char *
store_meta_json(uint32_t chunk_size, int level)
{
    return util_strdup_printf(
        "{\"format\": %d, \"chunk_size\": %u, \"hash\": \"sha256\", "
        "\"compression\": \"zstd\", \"zstd_level\": %d, \"fanout\": 3}\n",
        STORE_FORMAT, chunk_size, level);
}

static int
store_meta_int(json_object *o, const char *field, int64_t *v,
               struct error **errp)
{
    json_object *f;

    if (!json_object_object_get_ex(o, field, &f) ||
        !json_object_is_type(f, json_type_int)) {
        error_setg(errp, ERR_PROTOCOL, "store.json: no integer '%s'", field);
        return -1;
    }
    *v = json_object_get_int64(f);
    return 0;
}

static int
store_meta_str(json_object *o, const char *field, const char *want,
               struct error **errp)
{
    json_object *f;

    if (!json_object_object_get_ex(o, field, &f) ||
        !json_object_is_type(f, json_type_string) ||
        strcmp(json_object_get_string(f), want) != 0) {
        error_setg(errp, ERR_PROTOCOL, "store.json: '%s' is not \"%s\"",
                   field, want);
        return -1;
    }
    return 0;
}

/* Parse store.json (LEN bytes at BUF) into CS. */
static int
store_meta_parse(struct chunk_store *cs, const uint8_t *buf, size_t len,
                 struct error **errp)
{
    CLEANUP_JSON_PUT json_object *o = NULL;
    json_tokener *tok;
    int64_t format, size, level, fanout;

    tok = xcheck(json_tokener_new());
    o = json_tokener_parse_ex(tok, (const char *)buf, (int)len);
    if (o == NULL || json_tokener_get_parse_end(tok) < len ||
        !json_object_is_type(o, json_type_object)) {
        json_tokener_free(tok);
        error_setg(errp, ERR_PROTOCOL, "store.json: not a JSON object");
        return -1;
    }
    json_tokener_free(tok);
    if (store_meta_int(o, "format", &format, errp) < 0 ||
        store_meta_int(o, "chunk_size", &size, errp) < 0 ||
        store_meta_int(o, "zstd_level", &level, errp) < 0 ||
        store_meta_int(o, "fanout", &fanout, errp) < 0 ||
        store_meta_str(o, "hash", "sha256", errp) < 0 ||
        store_meta_str(o, "compression", "zstd", errp) < 0) {
        return -1;
    }
    if (format != STORE_FORMAT) {
        error_setg(errp, ERR_PROTOCOL, "store.json: unknown format %lld",
                   (long long)format);
        return -1;
    }
    if (size < 0 || !chunk_size_valid((uint64_t)size) || fanout != 3 ||
        level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        error_setg(errp, ERR_PROTOCOL, "store.json: bad parameters");
        return -1;
    }
    cs->chunk_size = (uint32_t)size;
    cs->zstd_level = (int)level;
    return 0;
}

static int
store_params_check(const struct chunk_store_params *in, uint32_t *size,
                   int *level, struct error **errp)
{
    *size = in && in->chunk_size ? in->chunk_size : CHUNK_DEFAULT_SIZE;
    *level = in && in->zstd_level ? in->zstd_level : CHUNK_DEFAULT_LEVEL;
    if (!chunk_size_valid(*size)) {
        error_setg(errp, ERR_INVALID,
                   "chunk size %u is not a power of two between %u and %u",
                   *size, CHUNK_SIZE_MIN, CHUNK_SIZE_MAX);
        return -1;
    }
    if (*level < ZSTD_minCLevel() || *level > ZSTD_maxCLevel()) {
        error_setg(errp, ERR_INVALID, "zstd level %d out of range", *level);
        return -1;
    }
    return 0;
}

struct chunk_store *
chunk_store_open_backend(struct chunk_backend *be,
                         const struct chunk_store_params *create,
                         struct error **errp)
{
    struct error *local = NULL;
    CLEANUP_FREE uint8_t *buf = NULL;
    CLEANUP_FREE char *json = NULL;
    struct chunk_store *cs;
    uint32_t size;
    size_t len = 0;
    int level;

    cs = xcalloc(1, sizeof(*cs));
    cs->be = be;
    if (be->ops->get(be->priv, STORE_META_KEY, STORE_META_MAX, &buf, &len,
                     &local) == 0) {
        if (store_meta_parse(cs, buf, len, errp) < 0) {
            goto fail;
        }
        return cs;
    }
    if (create == NULL || error_get_class(local) != ERR_NOT_FOUND) {
        if (error_get_class(local) == ERR_NOT_FOUND) {
            error_free(local);
            error_setg(errp, ERR_NOT_FOUND, "not a chunk store (no %s)",
                       STORE_META_KEY);
        } else {
            error_propagate(errp, local);
        }
        goto fail;
    }
    error_free(local);
    if (store_params_check(create, &size, &level, errp) < 0) {
        goto fail;
    }
    json = store_meta_json(size, level);
    if (be->ops->put(be->priv, STORE_META_KEY, json, strlen(json),
                     CHUNK_PUT_EXCL, errp) < 0 ||
        be->ops->sync(be->priv, errp) < 0) {
        goto fail;
    }
    cs->chunk_size = size;
    cs->zstd_level = level;
    return cs;
fail:
    chunk_store_close(cs);
    return NULL;
}

int
chunk_store_create(const char *root, const struct chunk_store_params *params,
                   struct error **errp)
{
    struct chunk_store_params p = {0};
    struct chunk_backend *be;
    struct chunk_store *cs;
    uint32_t size;
    int level, rc;

    if (store_params_check(params, &size, &level, errp) < 0) {
        return -1;
    }
    be = chunk_backend_dir_open(root, true, errp);
    if (be == NULL) {
        return -1;
    }
    rc = be->ops->touch(be->priv, STORE_META_KEY, errp);
    if (rc != 0) {
        chunk_backend_close(be);
        if (rc > 0) {
            error_setg(errp, ERR_CONFLICT, "%s already holds a chunk store",
                       root);
        }
        return -1;
    }
    p.chunk_size = size;
    p.zstd_level = level;
    cs = chunk_store_open_backend(be, &p, errp);
    if (cs == NULL) {
        return -1;
    }
    chunk_store_close(cs);
    return 0;
}

struct chunk_store *
chunk_store_open(const char *root, struct error **errp)
{
    struct chunk_backend *be = chunk_backend_dir_open(root, false, errp);

    if (be == NULL) {
        return NULL;
    }
    return chunk_store_open_backend(be, NULL, errp);
}

void
chunk_store_close(struct chunk_store *cs)
{
    if (cs == NULL) {
        return;
    }
    chunk_backend_close(cs->be);
    free(cs);
}

uint32_t
chunk_store_chunk_size(const struct chunk_store *cs)
{
    return cs->chunk_size;
}

int
chunk_store_zstd_level(const struct chunk_store *cs)
{
    return cs->zstd_level;
}

int
chunk_store_load(struct chunk_store *cs, void *dctx,
                 const struct chunk_digest *d, uint8_t *buf, size_t cap,
                 uint32_t expect, size_t *len, uint64_t *stored,
                 struct error **errp)
{
    struct error *local = NULL;
    CLEANUP_FREE uint8_t *blob = NULL;
    char key[CHUNK_KEY_LEN];
    char hex[CHUNK_HEX_LEN];
    struct chunk_digest got;
    size_t blen = 0, n = 0;

    chunk_key(d, key);
    chunk_digest_hex(d, hex);
    if (cs->be->ops->get(cs->be->priv, key, chunk_blob_bound(cs->chunk_size),
                         &blob, &blen, &local) < 0) {
        if (error_get_class(local) == ERR_NOT_FOUND) {
            error_setg(errp, ERR_NOT_FOUND, "chunk %s is missing", hex);
        } else {
            error_setg(errp, error_get_class(local), "chunk %s: %s", hex,
                       error_msg(local));
        }
        error_free(local);
        return -1;
    }
    if (chunk_blob_decode(dctx, blob, blen, buf, cap, &n, &local) < 0) {
        error_setg(errp, ERR_PROTOCOL, "chunk %s is damaged: %s", hex,
                   error_msg(local));
        error_free(local);
        return -1;
    }
    if (chunk_sha256(buf, n, &got, errp) < 0) {
        return -1;
    }
    if (memcmp(got.b, d->b, CHUNK_DIGEST_LEN) != 0) {
        error_setg(errp, ERR_PROTOCOL, "chunk %s is corrupt (digest "
                   "mismatch)", hex);
        return -1;
    }
    if (expect != 0 && n != expect) {
        error_setg(errp, ERR_PROTOCOL,
                   "chunk %s has %zu bytes where the index needs %u", hex, n,
                   expect);
        return -1;
    }
    *len = n;
    if (stored) {
        *stored = blen;
    }
    return 0;
}

struct chunk_index *
chunk_store_load_index(struct chunk_store *cs, const char *name,
                       struct error **errp)
{
    struct error *local = NULL;
    CLEANUP_FREE char *key = chunk_index_key(name, errp);
    CLEANUP_FREE uint8_t *buf = NULL;
    struct chunk_index *ix;
    size_t len = 0;

    if (key == NULL) {
        return NULL;
    }
    if (cs->be->ops->get(cs->be->priv, key, INDEX_MAX_BYTES, &buf, &len,
                         &local) < 0) {
        if (error_get_class(local) == ERR_NOT_FOUND) {
            error_setg(errp, ERR_NOT_FOUND, "no index '%s'", name);
        } else {
            error_setg(errp, error_get_class(local), "index %s: %s", name,
                       error_msg(local));
        }
        error_free(local);
        return NULL;
    }
    ix = chunk_index_parse(buf, len, &local);
    if (ix == NULL) {
        error_setg(errp, error_get_class(local), "index %s is damaged: %s",
                   name, error_msg(local));
        error_free(local);
        return NULL;
    }
    if (ix->chunk_size != cs->chunk_size) {
        error_setg(errp, ERR_PROTOCOL,
                   "index %s has chunk size %u, the store %u", name,
                   ix->chunk_size, cs->chunk_size);
        chunk_index_free(ix);
        return NULL;
    }
    return ix;
}

int
chunk_store_index_info(struct chunk_store *cs, const char *name,
                       struct chunk_index_info *info, struct error **errp)
{
    struct chunk_index *ix = chunk_store_load_index(cs, name, errp);
    uint64_t i;

    if (ix == NULL) {
        return -1;
    }
    memset(info, 0, sizeof(*info));
    info->disk_size = ix->disk_size;
    info->chunk_size = ix->chunk_size;
    info->chunks = ix->count;
    for (i = 0; i < ix->count; i++) {
        info->zero_chunks += chunk_digest_is_zero(&ix->digests[i]);
    }
    info->created = ix->created;
    chunk_digest_hex(&ix->csum, info->csum);
    if (ix->flags & CHUNK_INDEX_HAS_PARENT) {
        chunk_digest_hex(&ix->parent, info->parent_csum);
    }
    chunk_index_free(ix);
    return 0;
}

int
chunk_store_remove_index(struct chunk_store *cs, const char *name,
                         struct error **errp)
{
    struct chunk_backend *be = cs->be;
    struct error *local = NULL;
    CLEANUP_FREE char *key = chunk_index_key(name, errp);
    CLEANUP_FREE uint8_t *buf = NULL;
    char tkey[CHUNK_HEX_LEN + 16];
    char hex[CHUNK_HEX_LEN];
    struct chunk_index *ix;
    void *reg = NULL;
    int64_t start = 0;
    size_t len = 0;
    int rc;

    if (key == NULL) {
        return -1;
    }
    /* Keep its digests under trash/ first (named by the index's csum, so
     * the same index twice is one entry): a writer that started on it as
     * a parent before this moment is still protected by gc (see
     * chunk-maint.c).  The object time of the trash entry is the time of
     * the deletion.
     */
    if (be->ops->get(be->priv, key, INDEX_MAX_BYTES, &buf, &len, &local) <
        0) {
        if (error_get_class(local) == ERR_NOT_FOUND) {
            error_free(local);
            error_setg(errp, ERR_NOT_FOUND, "no index '%s'", name);
        } else {
            error_propagate(errp, local);
        }
        return -1;
    }
    /* A damaged index goes without a trash entry: no writer can have
     * started on it (opening a parent checks it), and gc would refuse to
     * run on an entry whose chunks cannot be known.
     */
    ix = chunk_index_parse(buf, len, &local);
    error_free(local);
    if (ix) {
        chunk_digest_hex(&ix->csum, hex);
        chunk_index_free(ix);
        snprintf(tkey, sizeof(tkey), "trash/%s.idx", hex);
        /* Registered while we put, like a writer, so that gc leaves our
         * work file alone.
         */
        if (be->ops->writer_begin(be->priv, &reg, &start, errp) < 0) {
            return -1;
        }
        rc = be->ops->put(be->priv, tkey, buf, len, 0, errp);
        be->ops->writer_end(be->priv, reg);
        if (rc < 0) {
            return -1;
        }
    }
    rc = be->ops->remove_unless_since(be->priv, key, INT64_MAX, errp);
    if (rc == 0) {
        error_setg(errp, ERR_NOT_FOUND, "no index '%s'", name);
        return -1;
    }
    if (rc < 0 || be->ops->sync(be->priv, errp) < 0) {
        return -1;
    }
    return 0;
}

/* What chunk_store_list_indexes passes through the backend's list. */
struct list_ctx {
    int (*fn)(const char *name, void *opaque); /* the caller's */
    void *opaque;                              /* its data */
};

static int
list_index_obj(const struct chunk_obj *obj, void *opaque)
{
    struct list_ctx *lc = opaque;
    const char *name = obj->key + strlen("indexes/");
    size_t n = strlen(name);
    char buf[CHUNK_NAME_MAX + 5];

    /* Only "indexes/NAME.idx" directly under indexes/. */
    if (strncmp(obj->key, "indexes/", 8) != 0 || n < 5 || n >= sizeof(buf) ||
        strcmp(name + n - 4, ".idx") != 0) {
        return 0;
    }
    memcpy(buf, name, n - 4);
    buf[n - 4] = '\0';
    if (!chunk_name_valid(buf)) {
        return 0;
    }
    return lc->fn(buf, lc->opaque);
}

int
chunk_store_list_indexes(struct chunk_store *cs,
                         int (*fn)(const char *name, void *opaque),
                         void *opaque, struct error **errp)
{
    struct list_ctx lc = {fn, opaque};

    return cs->be->ops->list(cs->be->priv, "indexes/", list_index_obj, &lc,
                             errp);
}

void
chunk_set_add(struct chunk_set *s, const struct chunk_digest *d)
{
    struct chunk_digest *nd;
    size_t cap;

    if (s->n == s->cap) {
        /* Compact before growing: sets built from incrementals are
         * mostly duplicates.
         */
        if (s->n - s->sorted > s->n / 2) {
            chunk_set_compact(s);
        }
        if (s->n == s->cap) {
            cap = s->cap ? s->cap * 2 : 4096;
            nd = xreallocarray(s->d, cap, sizeof(*nd));
            s->d = nd;
            s->cap = cap;
        }
    }
    s->d[s->n++] = *d;
}

void
chunk_set_add_index(struct chunk_set *s, const struct chunk_index *ix)
{
    uint64_t i;

    for (i = 0; i < ix->count; i++) {
        if (!chunk_digest_is_zero(&ix->digests[i])) {
            chunk_set_add(s, &ix->digests[i]);
        }
    }
}

void
chunk_set_compact(struct chunk_set *s)
{
    size_t i, out = 0;

    if (s->n == 0) {
        return;
    }
    qsort(s->d, s->n, sizeof(*s->d), chunk_digest_cmp);
    for (i = 0; i < s->n; i++) {
        if (out == 0 || chunk_digest_cmp(&s->d[out - 1], &s->d[i]) != 0) {
            s->d[out++] = s->d[i];
        }
    }
    s->n = out;
    s->sorted = out;
}

bool
chunk_set_has(const struct chunk_set *s, const struct chunk_digest *d)
{
    return s->n > 0 &&
           bsearch(d, s->d, s->n, sizeof(*s->d), chunk_digest_cmp) != NULL;
}

void
chunk_set_free(struct chunk_set *s)
{
    free(s->d);
    memset(s, 0, sizeof(*s));
}
