/* vmsnap: where image data lives: the calls of the store interface (see
 * blob.h).
 */
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "xalloc.h"

struct blob {
    const struct blob_ops *ops;   /* the store */
    void *priv;                   /* its private state */
};

/* The prefixes under which vmsnap keeps objects. */
static const char *const blob_prefixes[] = {
    "images/", "volume-snapshots/", "chunks/", "indexes/", NULL,
};

struct blob *
blob_open_ops(const struct blob_ops *ops, const struct config *cfg,
              const char *data_dir, struct error **errp)
{
    struct blob *b = xcalloc(1, sizeof(*b));

    b->ops = ops;
    if (ops->open(b, cfg, data_dir, &b->priv, errp) < 0) {
        error_prepend(errp, "%s store: ", ops->scheme);
        free(b);
        return NULL;
    }
    return b;
}

void
blob_close(struct blob *b)
{
    if (b) {
        b->ops->close(b);
        free(b);
    }
}

const char *
blob_scheme(const struct blob *b)
{
    return b->ops->scheme;
}

void *
blob_priv(const struct blob *b)
{
    return b->priv;
}

bool
blob_key_valid(const char *key)
{
    const char *p;
    size_t i;

    for (i = 0; blob_prefixes[i]; i++) {
        if (strncmp(key, blob_prefixes[i], strlen(blob_prefixes[i])) == 0) {
            break;
        }
    }
    if (blob_prefixes[i] == NULL || strlen(key) > 255) {
        return false;
    }
    /* Plain names only: no empty, hidden or ".." component, nothing but
     * letters, digits and "._-" in between.
     */
    for (p = key; *p; ) {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

        if (n == 0 || *p == '.' || (p[n] != '/' && p[n] != '\0')) {
            return false;
        }
        p += n;
        if (*p == '/') {
            p++;
            if (*p == '\0') {
                return false;
            }
        }
    }
    return true;
}

const char *
blob_location_key(const char *location, const char *scheme)
{
    size_t n = strlen(scheme);

    if (location == NULL || strncmp(location, scheme, n) != 0 ||
        location[n] != ':' || !blob_key_valid(location + n + 1)) {
        return NULL;
    }
    return location + n + 1;
}

/* Refuse a key vmsnap would not make. */
static int
blob_check_key(const char *key, struct error **errp)
{
    if (!blob_key_valid(key)) {
        error_setg(errp, ERR_INVALID, "bad object key '%s'", key);
        return -1;
    }
    return 0;
}

/* Refuse a location that is not this store's. */
static int
blob_check_location(struct blob *b, const char *location,
                    struct error **errp)
{
    if (blob_location_key(location, b->ops->scheme) == NULL) {
        error_setg(errp, ERR_INVALID,
                   "location '%s' is not one of the %s store",
                   location ? location : "(none)", b->ops->scheme);
        return -1;
    }
    return 0;
}

int
blob_create(struct blob *b, const char *key, char **path,
            struct error **errp)
{
    if (blob_check_key(key, errp) < 0) {
        return -1;
    }
    return b->ops->create(b, key, path, errp);
}

int
blob_send_early(struct blob *b, const char *key, const char *path,
                struct file_follow *f, struct error **errp)
{
    if (blob_check_key(key, errp) < 0) {
        return -1;
    }
    if (!b->ops->send_early) {
        return 0;
    }
    return b->ops->send_early(b, key, path, f, errp) < 0 ? -1 : 1;
}

int
blob_commit(struct blob *b, const char *key, const char *path,
            const struct progress *p, char **location, struct error **errp)
{
    if (blob_check_key(key, errp) < 0) {
        return -1;
    }
    return b->ops->commit(b, key, path, p, location, errp);
}

void
blob_discard(struct blob *b, const char *key)
{
    if (blob_key_valid(key)) {
        b->ops->discard(b, key);
    }
}

int
blob_local_path(struct blob *b, const char *location,
                const struct progress *p, char **path, struct error **errp)
{
    if (blob_check_location(b, location, errp) < 0) {
        return -1;
    }
    return b->ops->local_path(b, location, p, path, errp);
}

int
blob_open_read(struct blob *b, const char *location,
               struct blob_reader **out, int64_t *size, struct error **errp)
{
    if (blob_check_location(b, location, errp) < 0) {
        return -1;
    }
    if (b->ops->open_read(b, location, out, size, errp) < 0) {
        return -1;
    }
    (*out)->b = b;
    return 0;
}

ssize_t
blob_read(struct blob_reader *r, void *buf, size_t len, int64_t offset,
          struct error **errp)
{
    return r->b->ops->read(r, buf, len, offset, errp);
}

void
blob_close_read(struct blob_reader *r)
{
    if (r) {
        r->b->ops->close_read(r);
    }
}

int
blob_remove(struct blob *b, const char *location, struct error **errp)
{
    if (blob_check_location(b, location, errp) < 0) {
        return -1;
    }
    return b->ops->remove(b, location, errp);
}

int
blob_list(struct blob *b, const char *prefix,
          bool (*fn)(const char *location, void *opaque), void *opaque,
          struct error **errp)
{
    return b->ops->list(b, prefix, fn, opaque, errp);
}
