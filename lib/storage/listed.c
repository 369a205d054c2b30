/* vmsnap: what listings said (see listed.h).
 *
 * Ranges are kept sorted by their first key, each with the end it covers
 * as an exclusive limit: a listing that covered up to key K inclusive
 * covers up to K "\x01" exclusive (no key, a C string, sorts between
 * the two), which makes cutting a range at the start of the next one the
 * same operation as ending it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "listed.h"
#include "xalloc.h"

struct listed_range {
    char *lo;    /* first key covered */
    char *limit; /* first key past the range; NULL: none */
    char **keys; /* listed there, sorted */
    size_t n;    /* entries in KEYS */
    size_t cap;  /* room in KEYS */
};

struct listed {
    pthread_mutex_t mu;         /* guards the fields below */
    struct listed_range *r;     /* sorted by lo, disjoint */
    size_t n;                   /* entries in R */
    size_t cap;                 /* room in R */
    size_t keys;                /* keys in all ranges */
    size_t max_keys;            /* most kept */
};

struct listed *
listed_new(size_t max_keys)
{
    struct listed *l = xcalloc(1, sizeof(*l));

    pthread_mutex_init(&l->mu, NULL);
    l->max_keys = max_keys;
    return l;
}

static void
range_clear(struct listed_range *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        free(r->keys[i]);
    }
    free(r->keys);
    free(r->lo);
    free(r->limit);
}

void
listed_clear(struct listed *l)
{
    size_t i;

    pthread_mutex_lock(&l->mu);
    for (i = 0; i < l->n; i++) {
        range_clear(&l->r[i]);
    }
    l->n = 0;
    l->keys = 0;
    pthread_mutex_unlock(&l->mu);
}

void
listed_free(struct listed *l)
{
    if (l == NULL) {
        return;
    }
    listed_clear(l);
    free(l->r);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

/* Index of the first range whose lo sorts after KEY (0 to l->n). */
static size_t
range_after(const struct listed *l, const char *key)
{
    size_t lo = 0, hi = l->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (strcmp(l->r[mid].lo, key) <= 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* The range that covers KEY, or NULL. */
static struct listed_range *
range_of(struct listed *l, const char *key)
{
    size_t i = range_after(l, key);
    struct listed_range *r;

    if (i == 0) {
        return NULL;
    }
    r = &l->r[i - 1];
    return r->limit == NULL || strcmp(key, r->limit) < 0 ? r : NULL;
}

/* Index in R's keys of the first key not before KEY; *FOUND if equal. */
static size_t
key_at(const struct listed_range *r, const char *key, bool *found)
{
    size_t lo = 0, hi = r->n;
    int c;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        c = strcmp(r->keys[mid], key);
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = lo < r->n && strcmp(r->keys[lo], key) == 0;
    return lo;
}

int
listed_lookup(struct listed *l, const char *key)
{
    struct listed_range *r;
    bool found = false;
    int rc = -1;

    pthread_mutex_lock(&l->mu);
    r = range_of(l, key);
    if (r) {
        key_at(r, key, &found);
        rc = found ? 1 : 0;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

bool
listed_add(struct listed *l, const char *lo, const char *hi,
           const char *const *keys, size_t n)
{
    struct listed_range nr = {0};
    size_t i, at;
    bool ok = true;

    pthread_mutex_lock(&l->mu);
    if (range_of(l, lo)) {
        goto out; /* known already: nothing to add */
    }
    at = range_after(l, lo);
    nr.limit = hi ? xasprintf("%s\x01", hi) : NULL;
    if (at < l->n &&
        (nr.limit == NULL || strcmp(nr.limit, l->r[at].lo) > 0)) {
        free(nr.limit);
        nr.limit = xstrdup(l->r[at].lo); /* the next range answers on */
    }
    while (n > 0 && nr.limit && strcmp(keys[n - 1], nr.limit) >= 0) {
        n--;
    }
    if (l->keys + n > l->max_keys) {
        free(nr.limit);
        ok = false;
        goto out;
    }
    nr.lo = xstrdup(lo);
    nr.keys = xcalloc(n ? n : 1, sizeof(*nr.keys));
    for (i = 0; i < n; i++) {
        nr.keys[i] = xstrdup(keys[i]);
    }
    nr.n = nr.cap = n;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->r = xreallocarray(l->r, l->cap, sizeof(*l->r));
    }
    memmove(&l->r[at + 1], &l->r[at], (l->n - at) * sizeof(*l->r));
    l->r[at] = nr;
    l->n++;
    l->keys += n;
out:
    pthread_mutex_unlock(&l->mu);
    return ok;
}

void
listed_insert(struct listed *l, const char *key)
{
    struct listed_range *r;
    bool found = false;
    size_t at;

    pthread_mutex_lock(&l->mu);
    r = range_of(l, key);
    if (r && l->keys < l->max_keys) {
        at = key_at(r, key, &found);
        if (!found) {
            if (r->n == r->cap) {
                r->cap = r->cap ? 2 * r->cap : 16;
                r->keys = xreallocarray(r->keys, r->cap, sizeof(*r->keys));
            }
            memmove(&r->keys[at + 1], &r->keys[at],
                    (r->n - at) * sizeof(*r->keys));
            r->keys[at] = xstrdup(key);
            r->n++;
            l->keys++;
        }
    }
    pthread_mutex_unlock(&l->mu);
}

size_t
listed_count(struct listed *l)
{
    size_t n;

    pthread_mutex_lock(&l->mu);
    n = l->keys;
    pthread_mutex_unlock(&l->mu);
    return n;
}
