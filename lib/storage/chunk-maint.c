/* vmsnap: chunk store maintenance: verify, gc, stats (see chunk.h).
 *
 * All three start the same way: list the indexes and read each one into
 * a sorted set of the digests they reference (32 bytes per distinct
 * chunk, so 32 MiB per TiB of distinct data at 1 MiB chunks; never one
 * entry per reference).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "chunk-internal.h"
#include "cleanup.h"
#include "xalloc.h"

/* Names of the indexes, as listed. */
struct names {
    char **v;   /* the names */
    size_t n;   /* how many */
    size_t cap; /* room in V */
};

static void
names_free(struct names *nm)
{
    size_t i;

    for (i = 0; i < nm->n; i++) {
        free(nm->v[i]);
    }
    free(nm->v);
}

static int
names_add(const char *name, void *opaque)
{
    struct names *nm = opaque;

    if (nm->n == nm->cap) {
        nm->cap = nm->cap ? nm->cap * 2 : 64;
        nm->v = xreallocarray(nm->v, nm->cap, sizeof(*nm->v));
    }
    nm->v[nm->n++] = xstrdup(name);
    return 0;
}

static int
list_names(struct chunk_store *cs, struct names *nm, struct error **errp)
{
    return chunk_store_list_indexes(cs, names_add, nm, errp);
}

/* What walk_indexes calls for each index. */
struct index_walk {
    /* Called with each index read (may be NULL); -1 stops the walk. */
    int (*fn)(const char *name, const struct chunk_index *ix, void *opaque,
              struct error **errp);
    /* Called with each damaged index and why; NULL: a damaged index is
     * the walk's error.
     */
    void (*bad)(const char *name, const struct error *why, void *opaque);
    void *opaque;
    uint64_t *count;          /* counts the indexes read, may be NULL */
    const struct progress *p; /* phase PHASE, 0 to 100 over the indexes */
    const char *phase;
};

/* List the indexes of CS into NM and read each: add its digests to REF
 * and hand it to W.  An index deleted since the listing is skipped, a
 * damaged one goes to W->bad; the names of both are cleared from NM.
 */
static int
walk_indexes(struct chunk_store *cs, struct names *nm, struct chunk_set *ref,
             const struct index_walk *w, struct error **errp)
{
    size_t i;

    if (list_names(cs, nm, errp) < 0) {
        return -1;
    }
    for (i = 0; i < nm->n; i++) {
        struct error *local = NULL;
        struct chunk_index *ix = chunk_store_load_index(cs, nm->v[i],
                                                        &local);
        int rc;

        if (ix == NULL) {
            if (error_get_class(local) == ERR_NOT_FOUND) {
                error_free(local); /* deleted since the listing */
                free(nm->v[i]);
                nm->v[i] = NULL;
                continue;
            }
            if (w->bad == NULL) {
                error_propagate(errp, local);
                return -1;
            }
            w->bad(nm->v[i], local, w->opaque);
            error_free(local);
            free(nm->v[i]);
            nm->v[i] = NULL;
            continue;
        }
        if (w->count) {
            (*w->count)++;
        }
        chunk_set_add_index(ref, ix);
        rc = w->fn ? w->fn(nm->v[i], ix, w->opaque, errp) : 0;
        chunk_index_free(ix);
        if (rc < 0) {
            return -1;
        }
        if (w->phase) {
            progress_report(w->p, w->phase,
                            100.0 * (double)(i + 1) / (double)nm->n);
        }
    }
    return 0;
}

/* The digest a chunk key names, if it is one ("chunks/abc/abc..."). */
static bool
key_digest(const char *key, struct chunk_digest *d)
{
    if (strncmp(key, "chunks/", 7) != 0 || strlen(key) != CHUNK_KEY_LEN - 1 ||
        key[10] != '/' || memcmp(key + 7, key + 11, 3) != 0) {
        return false;
    }
    return chunk_digest_parse(key + 11, d) == 0;
}

/* ---- verify ---- */

/* A chunk verify found wrong. */
struct bad {
    struct chunk_digest d; /* its digest */
    char *error;           /* what is wrong */
    char **indexes;        /* names referencing it, NULL terminated */
    size_t nidx;           /* entries before the NULL */
};

struct verify_ctx {
    struct chunk_set present; /* chunks listed */
    struct bad *bad;          /* problems found */
    size_t nbad;              /* entries in BAD */
};

static int
verify_list_chunk(const struct chunk_obj *obj, void *opaque)
{
    struct verify_ctx *vc = opaque;
    struct chunk_digest d;

    if (!key_digest(obj->key, &d)) {
        return 0;
    }
    chunk_set_add(&vc->present, &d);
    return 0;
}

static int
bad_cmp(const void *a, const void *b)
{
    return chunk_digest_cmp(&((const struct bad *)a)->d,
                            &((const struct bad *)b)->d);
}

static void
verify_add_bad(struct verify_ctx *vc, const struct chunk_digest *d,
               const char *error)
{
    struct bad *nb = xreallocarray(vc->bad, vc->nbad + 1, sizeof(*nb));

    vc->bad = nb;
    memset(&nb[vc->nbad], 0, sizeof(*nb));
    nb[vc->nbad].d = *d;
    nb[vc->nbad].error = xstrdup(error);
    nb[vc->nbad].indexes = xcalloc(1, sizeof(char *));
    vc->nbad++;
}

/* Record that index NAME references bad chunk B. */
static void
bad_add_index(struct bad *b, const char *name)
{
    if (b->nidx > 0 && strcmp(b->indexes[b->nidx - 1], name) == 0) {
        return;
    }
    b->indexes = xreallocarray(b->indexes, b->nidx + 2, sizeof(char *));
    b->indexes[b->nidx++] = xstrdup(name);
    b->indexes[b->nidx] = NULL;
}

static void
verify_ctx_free(struct verify_ctx *vc)
{
    size_t i, j;

    for (i = 0; i < vc->nbad; i++) {
        for (j = 0; j < vc->bad[i].nidx; j++) {
            free(vc->bad[i].indexes[j]);
        }
        free(vc->bad[i].indexes);
        free(vc->bad[i].error);
    }
    free(vc->bad);
    chunk_set_free(&vc->present);
}

/* verify's walk over the indexes: report the damaged ones. */
struct verify_bad_index {
    struct chunk_verify_report *rep;
    void (*fn)(const struct chunk_problem *pr, void *opaque);
    void *opaque;
};

static void
verify_bad_index(const char *name, const struct error *why, void *opaque)
{
    struct verify_bad_index *vb = opaque;
    struct chunk_problem pr = {.what = "index", .index = name,
                               .error = error_msg(why)};

    vb->rep->indexes++;
    vb->rep->indexes_bad++;
    if (vb->fn) {
        vb->fn(&pr, vb->opaque);
    }
}

/* End what gc_begin began (a backend of version 2 may keep writers out
 * until then).
 */
static void
gc_end(struct chunk_backend *be)
{
    if (be->ops->version >= 2 && be->ops->gc_end != NULL) {
        be->ops->gc_end(be->priv);
    }
}

int
chunk_store_verify(struct chunk_store *cs, unsigned flags,
                   void (*fn)(const struct chunk_problem *pr, void *opaque),
                   void *opaque, const struct progress *p,
                   struct chunk_verify_report *rep, struct error **errp)
{
    struct chunk_backend *be = cs->be;
    struct names nm = {0};
    struct verify_ctx vc = {{0}};
    struct chunk_set ref = {0};
    struct verify_bad_index vb = {rep, fn, opaque};
    struct index_walk w = {.bad = verify_bad_index, .opaque = &vb,
                           .count = &rep->indexes};
    struct chunk_problem pr;
    CLEANUP_FREE uint8_t *buf = NULL;
    ZSTD_DCtx *dctx = NULL;
    int64_t start = 0, oldest = 0;
    char key[CHUNK_KEY_LEN], hex[CHUNK_HEX_LEN];
    size_t i, j, len;
    uint64_t stored;
    int rc = -1, last = -1, pct;
    bool began = false;

    memset(rep, 0, sizeof(*rep));
    buf = xmalloc(cs->chunk_size);
    dctx = xcheck(ZSTD_createDCtx());
    /* "Now" on the object clock: a damaged chunk put again after this
     * (a writer healing it) is never removed.
     */
    if (flags & CHUNK_VERIFY_REMOVE_BAD) {
        if (be->ops->gc_begin(be->priv, &start, &oldest, errp) < 0) {
            goto out;
        }
        began = true;
    }
    if (walk_indexes(cs, &nm, &ref, &w, errp) < 0) {
        goto out;
    }
    chunk_set_compact(&ref);
    if (be->ops->list(be->priv, "chunks/", verify_list_chunk, &vc,
                      errp) < 0) {
        goto out;
    }
    chunk_set_compact(&vc.present);

    progress_report(p, "verify", 0);
    for (i = 0; i < vc.present.n; i++) {
        struct error *local = NULL;

        len = 0;
        stored = 0;
        rep->chunks++;
        if (chunk_store_load(cs, dctx, &vc.present.d[i], buf, cs->chunk_size,
                             0, &len, &stored, &local) == 0) {
            rep->bytes += stored;
        } else if (error_get_class(local) == ERR_NOT_FOUND) {
            rep->chunks--; /* removed by gc since the listing */
        } else {
            rep->chunks_bad++;
            verify_add_bad(&vc, &vc.present.d[i], error_msg(local));
            if (flags & CHUNK_VERIFY_REMOVE_BAD) {
                chunk_key(&vc.present.d[i], key);
                if (be->ops->remove_unless_since(be->priv, key, start,
                                                 NULL) == 1) {
                    rep->chunks_removed++;
                }
            }
        }
        error_free(local);
        pct = (int)(100 * (i + 1) / vc.present.n);
        if (pct != last) {
            progress_report(p, "verify", pct);
            last = pct;
        }
    }
    for (i = 0; i < ref.n; i++) {
        if (!chunk_set_has(&vc.present, &ref.d[i])) {
            rep->chunks_missing++;
            verify_add_bad(&vc, &ref.d[i], "missing");
        }
    }
    if (flags & CHUNK_VERIFY_REMOVE_BAD) {
        be->ops->sync(be->priv, NULL);
    }

    /* Which indexes reference each problem chunk: read them again. */
    if (vc.nbad > 0) {
        qsort(vc.bad, vc.nbad, sizeof(*vc.bad), bad_cmp);
        for (i = 0; i < nm.n; i++) {
            struct chunk_index *ix;
            struct bad key_bad, *b;

            if (nm.v[i] == NULL) {
                continue;
            }
            ix = chunk_store_load_index(cs, nm.v[i], NULL);
            for (j = 0; ix && j < ix->count; j++) {
                key_bad.d = ix->digests[j];
                b = bsearch(&key_bad, vc.bad, vc.nbad, sizeof(*vc.bad),
                            bad_cmp);
                if (b) {
                    bad_add_index(b, nm.v[i]);
                }
            }
            chunk_index_free(ix);
        }
    }
    for (i = 0; fn && i < vc.nbad; i++) {
        chunk_digest_hex(&vc.bad[i].d, hex);
        memset(&pr, 0, sizeof(pr));
        pr.what = "chunk";
        pr.digest = hex;
        pr.error = vc.bad[i].error;
        pr.indexes = (const char *const *)vc.bad[i].indexes;
        fn(&pr, opaque);
    }
    rc = 0;
out:
    if (began) {
        gc_end(be);
    }
    ZSTD_freeDCtx(dctx);
    verify_ctx_free(&vc);
    chunk_set_free(&ref);
    names_free(&nm);
    return rc;
}

/* ---- gc ---- */

struct gc_ctx {
    struct chunk_store *cs;       /* the store */
    const struct chunk_set *ref;  /* referenced chunks */
    int64_t cutoff;               /* remove only what is older */
    bool dry_run;                 /* count only */
    struct chunk_gc_report *rep;  /* counts */
    struct error *err;            /* a failure of the backend */
};

static int
gc_chunk(const struct chunk_obj *obj, void *opaque)
{
    struct gc_ctx *gc = opaque;
    struct chunk_backend *be = gc->cs->be;
    struct chunk_digest d;
    int rc;

    if (!key_digest(obj->key, &d)) {
        return 0; /* not a chunk: leave it */
    }
    gc->rep->chunks++;
    if (chunk_set_has(gc->ref, &d)) {
        return 0;
    }
    if (obj->mtime_ns >= gc->cutoff) {
        gc->rep->chunks_recent++;
        return 0;
    }
    if (gc->dry_run) {
        gc->rep->chunks_removed++;
        gc->rep->bytes_removed += obj->size;
        return 0;
    }
    rc = be->ops->remove_unless_since(be->priv, obj->key, gc->cutoff,
                                      &gc->err);
    if (rc < 0) {
        return -1;
    }
    if (rc == 1) {
        gc->rep->chunks_removed++;
        gc->rep->bytes_removed += obj->size;
    } else {
        gc->rep->chunks_recent++; /* touched meanwhile */
    }
    return 0;
}

/* A deleted index kept under trash/: its key and deletion time. */
struct trash_entry {
    char *key;     /* "trash/<csum>.idx" */
    int64_t mtime; /* when the index was deleted */
};

struct trash_list {
    struct trash_entry *v; /* entries */
    size_t n;              /* how many */
};

static int
trash_add(const struct chunk_obj *obj, void *opaque)
{
    struct trash_list *tl = opaque;
    struct trash_entry *nv = xreallocarray(tl->v, tl->n + 1, sizeof(*nv));

    tl->v = nv;
    nv[tl->n].key = xstrdup(obj->key);
    nv[tl->n].mtime = obj->mtime_ns;
    tl->n++;
    return 0;
}

static void
trash_free(struct trash_list *tl)
{
    size_t i;

    for (i = 0; i < tl->n; i++) {
        free(tl->v[i].key);
    }
    free(tl->v);
}

/* Mark what the deleted indexes a live writer may still use reference,
 * and forget the others.
 */
static int
gc_trash(struct chunk_store *cs, struct chunk_set *ref, int64_t cutoff,
         bool dry_run, struct chunk_gc_report *rep, struct error **errp)
{
    struct chunk_backend *be = cs->be;
    struct trash_list tl = {0};
    struct error *local = NULL;
    size_t i;
    int rc = -1;

    if (be->ops->list(be->priv, "trash/", trash_add, &tl, errp) < 0) {
        goto out;
    }
    for (i = 0; i < tl.n; i++) {
        CLEANUP_FREE uint8_t *buf = NULL;
        struct chunk_index *ix;
        size_t len = 0;

        if (tl.v[i].mtime < cutoff) {
            /* Deleted before every live writer started: no one's parent. */
            if (!dry_run &&
                be->ops->remove_unless_since(be->priv, tl.v[i].key, cutoff,
                                             errp) < 0) {
                goto out;
            }
            rep->trash_removed++;
            continue;
        }
        if (be->ops->get(be->priv, tl.v[i].key, (size_t)1 << 31, &buf, &len,
                         &local) < 0) {
            if (error_get_class(local) == ERR_NOT_FOUND) {
                error_free(local); /* another gc forgot it */
                local = NULL;
                continue;
            }
            error_propagate(errp, local);
            goto out;
        }
        ix = chunk_index_parse(buf, len, &local);
        if (ix == NULL) {
            error_propagate(errp, local);
            error_prepend(errp, "gc refuses to run: %s: ", tl.v[i].key);
            goto out;
        }
        rep->trash_marked++;
        chunk_set_add_index(ref, ix);
        chunk_index_free(ix);
    }
    rc = 0;
out:
    trash_free(&tl);
    return rc;
}

static int
gc_tmp(const struct chunk_obj *obj, void *opaque)
{
    struct gc_ctx *gc = opaque;
    struct chunk_backend *be = gc->cs->be;
    int rc;

    if (obj->mtime_ns >= gc->cutoff || gc->dry_run) {
        return 0;
    }
    rc = be->ops->remove_unless_since(be->priv, obj->key, gc->cutoff,
                                      &gc->err);
    if (rc < 0) {
        return -1;
    }
    gc->rep->tmp_removed += (uint64_t)rc;
    return 0;
}

int
chunk_store_gc(struct chunk_store *cs, const struct chunk_gc_opts *opts,
               const struct progress *p, struct chunk_gc_report *rep,
               struct error **errp)
{
    struct chunk_backend *be = cs->be;
    struct names nm = {0};
    struct chunk_set ref = {0};
    struct gc_ctx gc = {0};
    struct index_walk w = {.count = &rep->indexes, .p = p,
                           .phase = "gc mark"};
    int64_t now = 0, oldest = 0, grace_s;
    int rc = -1;

    memset(rep, 0, sizeof(*rep));
    grace_s = opts && opts->grace_s >= 0 ? opts->grace_s : 300;
    /* The order matters: the clock and the writers first, then the
     * indexes, then the deleted ones.  A writer that commits after we
     * listed the indexes was either registered when gc_begin looked (the
     * cutoff is before its start) or started after "now"; either way
     * every chunk it put or touched is newer than the cutoff, and the
     * parent it inherits from is an index or was deleted after its start,
     * so after the cutoff: gc_trash marks it.
     */
    if (be->ops->gc_begin(be->priv, &now, &oldest, errp) < 0) {
        return -1;
    }
    gc.cutoff = (oldest < now ? oldest : now) - grace_s * 1000000000;
    progress_report(p, "gc mark", 0);
    if (walk_indexes(cs, &nm, &ref, &w, errp) < 0) {
        error_prepend(errp, "gc refuses to run: ");
        goto out;
    }
    /* After the indexes: an index deleted while we listed them is seen
     * in one listing or the other.
     */
    if (gc_trash(cs, &ref, gc.cutoff, opts && opts->dry_run, rep, errp) <
        0) {
        goto out;
    }
    chunk_set_compact(&ref);
    rep->chunks_referenced = ref.n;

    progress_report(p, "gc sweep", 0);
    gc.cs = cs;
    gc.ref = &ref;
    gc.dry_run = opts && opts->dry_run;
    gc.rep = rep;
    if (be->ops->list(be->priv, "chunks/", gc_chunk, &gc, errp) < 0 ||
        be->ops->list(be->priv, "tmp/", gc_tmp, &gc, errp) < 0) {
        error_propagate(errp, gc.err);
        gc.err = NULL;
        goto out;
    }
    if (!gc.dry_run && be->ops->sync(be->priv, errp) < 0) {
        goto out;
    }
    if (!gc.dry_run && be->ops->version >= 3 && be->ops->compact != NULL &&
        be->ops->compact(be->priv, &rep->bytes_compacted, errp) < 0) {
        error_prepend(errp, "gc compaction: ");
        goto out;
    }
    progress_report(p, "gc sweep", 100);
    rc = 0;
out:
    gc_end(be);
    error_free(gc.err);
    chunk_set_free(&ref);
    names_free(&nm);
    return rc;
}

/* ---- stats ---- */

static int
stats_chunk(const struct chunk_obj *obj, void *opaque)
{
    struct chunk_stats *st = opaque;
    struct chunk_digest d;

    if (key_digest(obj->key, &d)) {
        st->chunks++;
        st->stored_bytes += obj->size;
    }
    return 0;
}

/* stats' walk over the indexes: count each, tell the caller. */
struct stats_walk {
    struct chunk_stats *st;
    void (*fn)(const struct chunk_index_stats *is, void *opaque);
    void *opaque;
};

static int
stats_index(const char *name, const struct chunk_index *ix, void *opaque,
            struct error **errp)
{
    struct stats_walk *sw = opaque;
    struct chunk_index_stats is = {.name = name};
    uint64_t j;

    (void)errp;
    is.disk_size = ix->disk_size;
    is.chunks = ix->count;
    for (j = 0; j < ix->count; j++) {
        if (!chunk_digest_is_zero(&ix->digests[j])) {
            is.data_chunks++;
            is.data_bytes += chunk_index_chunk_len(ix, j);
        }
    }
    sw->st->logical_bytes += (uint64_t)ix->disk_size;
    sw->st->data_bytes += is.data_bytes;
    if (sw->fn) {
        sw->fn(&is, sw->opaque);
    }
    return 0;
}

int
chunk_store_stats(struct chunk_store *cs,
                  void (*fn)(const struct chunk_index_stats *is,
                             void *opaque),
                  void *opaque, struct chunk_stats *st, struct error **errp)
{
    struct names nm = {0};
    struct chunk_set ref = {0};
    struct stats_walk sw = {st, fn, opaque};
    struct index_walk w = {.fn = stats_index, .opaque = &sw,
                           .count = &st->indexes};
    int rc = -1;

    memset(st, 0, sizeof(*st));
    if (walk_indexes(cs, &nm, &ref, &w, errp) < 0) {
        goto out;
    }
    chunk_set_compact(&ref);
    st->referenced_chunks = ref.n;
    if (cs->be->ops->list(cs->be->priv, "chunks/", stats_chunk, st, errp) <
        0) {
        goto out;
    }
    st->disk_bytes = st->stored_bytes;
    if (cs->be->ops->version >= 3 && cs->be->ops->usage != NULL &&
        cs->be->ops->usage(cs->be->priv, &st->disk_bytes, errp) < 0) {
        goto out;
    }
    st->dedup_ratio =
        st->stored_bytes ? (double)st->data_bytes / (double)st->stored_bytes
                         : 0;
    rc = 0;
out:
    chunk_set_free(&ref);
    names_free(&nm);
    return rc;
}
