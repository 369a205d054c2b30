/* Unit tests of the chunk store on real files with real zstd: full and
 * incremental indexes, chains, dedup, zero chunks, damage, gc, restore.
 */
#include <inttypes.h>
#include <sys/file.h>

#include <sqlite3.h>

#include "test-chunk-util.h"
#include "cleanup.h"
#include "util.h"
#include "xalloc.h"

#define CS 65536                      /* chunk size of the test store */
#define SIZE (64 * CS + 1000)         /* a disk with a short last chunk */

static char root[64];

/* The model disk: chunks of text, zeros and repeats. */
static void
make_full(uint8_t *m)
{
    int i;

    memset(m, 0, SIZE);
    for (i = 0; i < 64; i++) {
        if (i % 5 == 3) {
            continue; /* zero chunk */
        }
        tc_fill(m + (size_t)i * CS, CS, i % 7 == 6 ? 6 : (uint64_t)i);
    }
    tc_fill(m + 64 * CS, 1000, 99);
}

/* Run SQL, with ARG (may be NULL) as ?1, on the store's pack map
 * (packs.db, a connection of the test's own): the first column of its
 * first row, -1 if none.
 */
static int64_t
map_int(const char *sql, const char *arg)
{
    CLEANUP_FREE char *path = util_path_join(root, "packs.db");
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;

    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (arg) {
            sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
        }
        if (sqlite3_step(st) == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
        }
    } else {
        diag("packs.db: %s", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Chunks the store holds: rows of its pack map, and chunk files of the
 * layout before packs.
 */
static int
count_chunks(void)
{
    CLEANUP_FREE char *dir = util_path_join(root, "chunks");

    return (int)map_int("SELECT count(*) FROM chunk", NULL) +
           tc_count_files(dir);
}

/* Bytes of the store's pack files. */
static uint64_t
pack_bytes(void)
{
    CLEANUP_FREE char *dir = util_path_join(root, "packs");

    return tc_sum_sizes(dir);
}

/* Where chunk HEX's blob is: its pack file (caller frees), *OFF, *LEN;
 * NULL if the map has no row for it.
 */
static char *
chunk_location(const char *hex, int64_t *off, int64_t *len)
{
    CLEANUP_FREE char *key = util_strdup_printf("chunks/%.3s/%s", hex, hex);
    int64_t pack = map_int("SELECT pack FROM chunk WHERE key = ?1", key);

    if (pack < 0) {
        return NULL;
    }
    *off = map_int("SELECT off FROM chunk WHERE key = ?1", key);
    *len = map_int("SELECT len FROM chunk WHERE key = ?1", key);
    return util_strdup_printf("%s/packs/%016" PRIx64 ".pack", root,
                              (uint64_t)pack);
}

/* The digest of chunk I of index NAME, as hex. */
static void
chunk_hex_of(struct chunk_store *cs, const char *name, uint64_t i, char *hex)
{
    struct chunk_reader *r = NULL;

    hex[0] = '\0';
    if (chunk_reader_open(cs, name, &r, NULL) == 0) {
        chunk_digest_hex(&chunk_reader_index(r)->digests[i], hex);
    }
    chunk_reader_close(r);
}

static void
problem(const struct chunk_problem *pr, void *opaque)
{
    char *seen = opaque;
    size_t i;

    diag("verify: %s %s: %s", pr->what, pr->digest ? pr->digest : pr->index,
         pr->error);
    for (i = 0; pr->indexes && pr->indexes[i]; i++) {
        size_t n = strlen(seen);

        snprintf(seen + n, 256 - n, "%s,", pr->indexes[i]);
    }
}

static int
extent_sum(int64_t off, int64_t len, void *opaque)
{
    int64_t *sum = opaque;

    (void)off;
    *sum += len;
    return 0;
}

int
main(void)
{
    struct chunk_store_params params = {CS, 0};
    struct chunk_store *cs = NULL;
    struct error *err = NULL;
    struct chunk_writer_stats st;
    struct chunk_index_info info, info2;
    struct chunk_writer *w = NULL;
    struct chunk_reader *r = NULL;
    struct chunk_verify_report vr;
    struct chunk_gc_report gr;
    struct chunk_gc_opts gopts = {0, false};
    struct chunk_stats ss;
    uint8_t *full, *inc, *m3, *buf;
    char hex[CHUNK_HEX_LEN], seen[256];
    char csum[3][CHUNK_HEX_LEN];
    int n0, n1, i, threads[3] = {0, 1, 4};
    int64_t sum;
    struct stat sb;

    snprintf(root, sizeof(root), "/tmp/vmsnap-test-chunk.XXXXXX");
    if (mkdtemp(root) == NULL) {
        diag("mkdtemp failed");
        return 1;
    }
    full = malloc(SIZE);
    inc = malloc(SIZE);
    m3 = malloc(SIZE + 3 * CS);
    buf = malloc(SIZE + 3 * CS);
    make_full(full);

    /* Store creation. */
    ok(chunk_store_create(root, &params, &err) == 0 && tc_noerr(&err, "c"),
       "create a store");
    ok(chunk_store_create(root, &params, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT,
       "creating it again is a conflict");
    error_free(err);
    err = NULL;
    params.chunk_size = 1000;
    ok(chunk_store_create("/tmp/vmsnap-nowhere", &params, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a chunk size that is not a power of two is refused");
    error_free(err);
    err = NULL;
    ok(chunk_store_open("/tmp/vmsnap-nowhere", &err) == NULL &&
           error_get_class(err) == ERR_NOT_FOUND,
       "opening a missing store: not found");
    error_free(err);
    err = NULL;
    cs = chunk_store_open(root, &err);
    ok(cs != NULL && chunk_store_chunk_size(cs) == CS,
       "open: chunk size from store.json");
    tc_noerr(&err, "open");

    /* Full backup, the same bytes with 0, 1 and 4 threads: same index. */
    for (i = 0; i < 3; i++) {
        char name[16];

        snprintf(name, sizeof(name), "full%d", i);
        ok(tc_write_model(cs, name, NULL, full, SIZE, 10000, threads[i], &st,
                          &info) == 0,
           "full backup in 10000-byte pieces, %d threads", threads[i]);
        memcpy(csum[i], info.csum, CHUNK_HEX_LEN);
        ok(tc_reads_as(cs, name, full, SIZE),
           "full backup reads back byte-identical (%d threads)", threads[i]);
    }
    {
        struct chunk_reader *rr[3] = {NULL, NULL, NULL};
        bool same = true;

        for (i = 0; i < 3; i++) {
            char name[16];

            snprintf(name, sizeof(name), "full%d", i);
            if (chunk_reader_open(cs, name, &rr[i], NULL) < 0) {
                same = false;
            }
        }
        for (i = 1; same && i < 3; i++) {
            same = memcmp(chunk_reader_index(rr[0])->digests,
                          chunk_reader_index(rr[i])->digests,
                          65 * CHUNK_DIGEST_LEN) == 0;
        }
        for (i = 0; i < 3; i++) {
            chunk_reader_close(rr[i]);
        }
        ok(same, "threads do not change the digests (index %.12s)",
           csum[0]);
    }
    ok(info.zero_chunks == 13 && info.chunks == 65,
       "zero chunks are zero digests: %llu of %llu",
       (unsigned long long)info.zero_chunks,
       (unsigned long long)info.chunks);
    /* 65 chunks, 13 zero, chunks 6, 13, 20, ... share seed 6. */
    n0 = count_chunks();
    /* 52 non-zero chunks; 7 of them (6, 20, 27, ...) have one content. */
    ok(n0 == 52 - 6, "zero chunks not stored, repeats stored once: "
       "%d chunks", n0);
    ok(st.chunks_new == 0 && st.chunks_dedup == 52,
       "the third identical full stores nothing new (%llu new, %llu dedup)",
       (unsigned long long)st.chunks_new,
       (unsigned long long)st.chunks_dedup);

    /* Incremental: small changes in a few chunks, one whole chunk, a
     * zeroed range, a write across a chunk boundary.
     */
    memcpy(inc, full, SIZE);
    ok(chunk_writer_open(cs, "inc1", SIZE, "full0", NULL, &w, &err) == 0,
       "open an incremental on full0");
    tc_noerr(&err, "open inc1");
    tc_fill(inc + 5 * CS + 100, 200, 1001);
    tc_fill(inc + 10 * CS - 50, 100, 1002);
    tc_fill(inc + 20 * CS, CS, 1003);
    memset(inc + 30 * CS, 0, 2 * CS + 10);
    tc_fill(inc + 64 * CS + 10, 20, 1004);
    chunk_writer_write(w, inc + 5 * CS + 100, 200, 5 * CS + 100, &err);
    chunk_writer_write(w, inc + 10 * CS - 50, 100, 10 * CS - 50, &err);
    chunk_writer_write(w, inc + 20 * CS, CS, 20 * CS, &err);
    chunk_writer_zero(w, 30 * CS, 2 * CS + 10, &err);
    chunk_writer_write(w, inc + 64 * CS + 10, 20, 64 * CS + 10, &err);
    ok(tc_noerr(&err, "writes") && chunk_writer_commit(w, &info2, &err) == 0,
       "commit the incremental");
    tc_noerr(&err, "commit inc1");
    chunk_writer_stats(w, &st);
    chunk_writer_free(w);
    w = NULL;
    ok(strcmp(info2.parent_csum, csum[0]) == 0,
       "the incremental records its parent's checksum");
    /* 5, 9 and 10, 20, 32 (zeroed in part), 64 */
    ok(st.chunks_new == 6 && st.bytes_parent_read > 0,
       "only changed chunks are new (%llu), partial ones filled from the "
       "parent (%llu bytes read)", (unsigned long long)st.chunks_new,
       (unsigned long long)st.bytes_parent_read);
    ok(tc_reads_as(cs, "inc1", inc, SIZE),
       "incremental reads back byte-identical");
    ok(tc_reads_as(cs, "full0", full, SIZE), "its parent is unchanged");

    /* Chain: inc2 and inc3, then delete inc1 and inc2. */
    tc_fill(inc + 40 * CS + 7, 3000, 2001);
    ok(chunk_writer_open(cs, "inc2", SIZE, "inc1", NULL, &w, &err) == 0 &&
           chunk_writer_write(w, inc + 40 * CS + 7, 3000, 40 * CS + 7,
                              &err) == 0 &&
           chunk_writer_commit(w, NULL, &err) == 0,
       "inc2 on inc1");
    tc_noerr(&err, "inc2");
    chunk_writer_free(w);
    tc_fill(inc + 2 * CS, 3 * CS, 3001);
    tc_fill(inc + 40 * CS, CS, 3002);
    ok(chunk_writer_open(cs, "inc3", SIZE, "inc2", NULL, &w, &err) == 0 &&
           chunk_writer_write(w, inc + 2 * CS, 3 * CS, 2 * CS, &err) == 0 &&
           chunk_writer_write(w, inc + 40 * CS, CS, 40 * CS, &err) == 0 &&
           chunk_writer_commit(w, NULL, &err) == 0,
       "inc3 on inc2");
    tc_noerr(&err, "inc3");
    chunk_writer_free(w);
    w = NULL;
    ok(chunk_store_remove_index(cs, "inc1", &err) == 0 &&
           chunk_store_remove_index(cs, "inc2", &err) == 0,
       "delete the middle of the chain");
    tc_noerr(&err, "remove");
    ok(chunk_store_remove_index(cs, "inc2", &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "deleting it twice: not found");
    error_free(err);
    err = NULL;
    tc_sleep_ms(30);
    n0 = count_chunks();
    ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0, "gc");
    tc_noerr(&err, "gc");
    n1 = count_chunks();
    /* inc3 inherits inc1's chunks (5, 9, 10, 20, 32, 64) and replaced
     * inc2's chunk 40: that one alone is referenced by no index left.
     */
    ok(gr.chunks_removed == 1 && n1 == n0 - 1,
       "gc removed exactly the one chunk only inc2 referenced (%llu)",
       (unsigned long long)gr.chunks_removed);
    ok(tc_reads_as(cs, "inc3", inc, SIZE),
       "the last of the chain still restores byte-identical");
    ok(chunk_reader_open(cs, "inc3", &r, &err) == 0, "open inc3 to restore");
    snprintf(seen, sizeof(seen), "%s/restored.raw", root);
    ok(chunk_reader_restore(r, seen, NULL, &err) == 0, "restore to a file");
    tc_noerr(&err, "restore");
    {
        FILE *f = fopen(seen, "rb");
        size_t got = f ? fread(buf, 1, SIZE + 1, f) : 0;

        if (f) {
            fclose(f);
        }
        ok(got == SIZE && memcmp(buf, inc, SIZE) == 0,
           "the restored raw file is the disk");
    }
    if (stat(seen, &sb) < 0) {
        memset(&sb, 0, sizeof(sb));
    }
    ok(sb.st_size == SIZE && sb.st_blocks * 512 < SIZE,
       "and it is sparse (%lld of %d bytes allocated)",
       (long long)sb.st_blocks * 512, SIZE);
    ok(chunk_reader_restore(r, seen, NULL, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT,
       "restore does not overwrite a file");
    error_free(err);
    err = NULL;
    sum = 0;
    /* Zero in inc3: full's 13, plus 30 and 31, less 3: 14 of 65. */
    i = chunk_reader_extents(r, extent_sum, &sum, &err);
    ok(i == 0 && sum == 50 * CS + 1000,
       "allocated extents cover the non-zero chunks (%lld bytes)",
       (long long)sum);
    tc_noerr(&err, "extents");
    ok(chunk_reader_read(r, buf, 10, SIZE - 5, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a read past the end is refused");
    error_free(err);
    err = NULL;
    chunk_reader_close(r);
    r = NULL;

    /* gc frees exactly what a deleted index alone referenced. */
    memcpy(m3, full, SIZE);
    for (i = 0; i < 8; i++) {
        tc_fill(m3 + (size_t)(i * 8 + 1) * CS, CS, 5000 + (uint64_t)i);
    }
    i = tc_write_model(cs, "other", NULL, m3, SIZE, CS, 2, &st, NULL);
    ok(i == 0 && st.chunks_new == 8,
       "another disk sharing all but 8 chunks with full0 (%llu new)",
       (unsigned long long)st.chunks_new);
    n0 = count_chunks();
    ok(chunk_store_remove_index(cs, "other", &err) == 0, "delete it");
    tc_noerr(&err, "rm other");
    gopts.grace_s = 3600;
    ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0 &&
           gr.chunks_removed == 0 && gr.trash_marked == 1,
       "gc within the grace period keeps its 8 chunks");
    tc_noerr(&err, "gc grace");
    gopts.grace_s = 0;
    gopts.dry_run = true;
    tc_sleep_ms(30);
    ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0 &&
           gr.chunks_removed == 8 && count_chunks() == n0,
       "a dry run counts 8 and removes nothing");
    gopts.dry_run = false;
    ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0 &&
           gr.chunks_removed == 8 && count_chunks() == n0 - 8,
       "gc removes exactly those 8");
    tc_noerr(&err, "gc 8");
    ok(tc_reads_as(cs, "full0", full, SIZE) &&
           tc_reads_as(cs, "inc3", inc, SIZE),
       "and every kept index still reads");

    /* Stats. */
    i = chunk_store_stats(cs, NULL, NULL, &ss, &err);
    ok(i == 0 && ss.indexes == 4 && ss.chunks == (uint64_t)count_chunks() &&
           ss.referenced_chunks == ss.chunks && ss.dedup_ratio > 4,
       "stats: %llu indexes, %llu chunks, %llu stored bytes for %llu data "
       "bytes: x%.2f", (unsigned long long)ss.indexes,
       (unsigned long long)ss.chunks, (unsigned long long)ss.stored_bytes,
       (unsigned long long)ss.data_bytes, ss.dedup_ratio);
    tc_noerr(&err, "stats");

    /* Growth and rewrite: a bigger disk on full0; the same place twice. */
    memset(m3, 0, SIZE + 3 * CS);
    memcpy(m3, full, SIZE);
    ok(chunk_writer_open(cs, "grown", SIZE + 3 * CS, "full0", NULL, &w,
                         &err) == 0,
       "an incremental of a grown disk");
    tc_fill(m3 + 3 * CS, CS, 7001);
    chunk_writer_write(w, m3 + 3 * CS, CS, 3 * CS, &err);
    tc_fill(m3 + 3 * CS + 10, 10, 7002);
    chunk_writer_write(w, m3 + 3 * CS + 10, 10, 3 * CS + 10, &err);
    tc_fill(m3 + SIZE + CS, 5, 7003);
    chunk_writer_write(w, m3 + SIZE + CS, 5, SIZE + CS, &err);
    ok(tc_noerr(&err, "grown w") && chunk_writer_commit(w, NULL, &err) == 0,
       "commit it");
    tc_noerr(&err, "grown");
    chunk_writer_free(w);
    w = NULL;
    ok(tc_reads_as(cs, "grown", m3, SIZE + 3 * CS),
       "it reads as the parent, grown with zeros, the last write winning");

    /* Damage: a flipped byte, then a missing chunk. */
    chunk_hex_of(cs, "full0", 1, hex);
    {
        int64_t off = 0, len = 0;
        CLEANUP_FREE char *p = chunk_location(hex, &off, &len);
        int fd = p ? open(p, O_RDWR) : -1;
        uint8_t b = 0;

        if (fd < 0 || pread(fd, &b, 1, off + 100) != 1) {
            diag("cannot open %s", p ? p : hex);
        }
        b ^= 0x40;
        if (fd >= 0 && pwrite(fd, &b, 1, off + 100) == 1) {
            close(fd);
        }
    }
    ok(chunk_reader_open(cs, "full0", &r, &err) == 0 &&
           chunk_reader_read(r, buf, 10, CS + 5, &err) < 0 &&
           error_get_class(err) == ERR_PROTOCOL &&
           strstr(error_msg(err), hex) && strstr(error_msg(err), "full0"),
       "a damaged chunk is refused");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    err = NULL;
    ok(chunk_reader_read(r, buf, 10, 0, &err) == 0 &&
           memcmp(buf, full, 10) == 0,
       "the other chunks still read");
    chunk_reader_close(r);
    r = NULL;
    seen[0] = '\0';
    i = chunk_store_verify(cs, 0, problem, seen, NULL, &vr, &err);
    ok(i == 0 && vr.chunks_bad == 1 && vr.chunks_missing == 0 &&
           vr.indexes_bad == 0,
       "verify finds the damaged chunk (%llu of %llu)",
       (unsigned long long)vr.chunks_bad, (unsigned long long)vr.chunks);
    ok(strstr(seen, "full0,") && strstr(seen, "full1,") &&
           strstr(seen, "full2,") && strstr(seen, "inc3,") &&
           strstr(seen, "grown,"),
       "and names the indexes that reference it: %s", seen);
    ok(chunk_store_verify(cs, CHUNK_VERIFY_REMOVE_BAD, NULL, NULL, NULL, &vr,
                          &err) == 0 &&
           vr.chunks_removed == 1,
       "verify can remove it");
    ok(chunk_store_verify(cs, 0, NULL, NULL, NULL, &vr, &err) == 0 &&
           vr.chunks_bad == 0 && vr.chunks_missing == 1,
       "then it is missing");
    ok(chunk_reader_open(cs, "full0", &r, &err) == 0 &&
           chunk_reader_read(r, buf, 10, CS + 5, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND &&
           strstr(error_msg(err), hex),
       "a missing chunk is refused");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    err = NULL;
    chunk_reader_close(r);
    r = NULL;
    ok(chunk_reader_open(cs, "full0", &r, &err) == 0 &&
           chunk_reader_check(r, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND && strstr(error_msg(err), hex),
       "a check of a parent with a hole names the missing chunk");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    err = NULL;
    chunk_reader_close(r);
    r = NULL;
    ok(tc_write_model(cs, "heal", NULL, full, SIZE, CS, 1, &st, NULL) == 0 &&
           st.chunks_new == 1,
       "the next full backup stores the chunk again");
    ok(tc_reads_as(cs, "full0", full, SIZE), "and full0 reads again");

    /* A damaged index. */
    {
        CLEANUP_FREE char *p =
            util_strdup_printf("%s/indexes/full1.idx", root);
        int fd = open(p, O_RDWR);

        if (fd < 0 || ftruncate(fd, 150) < 0) {
            diag("cannot truncate %s", p);
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    ok(chunk_reader_open(cs, "full1", &r, &err) < 0 &&
           error_get_class(err) == ERR_PROTOCOL &&
           strstr(error_msg(err), "full1"),
       "a truncated index is refused");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    err = NULL;
    ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) < 0 &&
           error_get_class(err) == ERR_PROTOCOL,
       "gc refuses to run with a damaged index");
    if (err) {
        diag("%s", error_msg(err));
    }
    error_free(err);
    err = NULL;
    ok(chunk_store_verify(cs, 0, NULL, NULL, NULL, &vr, &err) == 0 &&
           vr.indexes_bad == 1,
       "verify reports it");
    /* With a grace, gc reads the trash entries of recent deletions. */
    gopts.grace_s = 3600;
    ok(chunk_store_remove_index(cs, "full1", &err) == 0 &&
           chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0,
       "deleted, it leaves no trash entry: gc runs again");
    tc_noerr(&err, "rm damaged");
    gopts.grace_s = 0;

    /* Bad calls. */
    ok(chunk_writer_open(cs, "../x", SIZE, NULL, NULL, &w, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a bad index name is refused");
    error_free(err);
    err = NULL;
    ok(chunk_writer_open(cs, "full0", SIZE, NULL, NULL, &w, &err) < 0 &&
           error_get_class(err) == ERR_CONFLICT,
       "an existing index name is a conflict");
    error_free(err);
    err = NULL;
    ok(chunk_writer_open(cs, "x", SIZE, "nope", NULL, &w, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "a missing parent is not found");
    error_free(err);
    err = NULL;
    ok(chunk_writer_open(cs, "x", -1, NULL, NULL, &w, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a negative disk size is refused");
    error_free(err);
    err = NULL;
    ok(chunk_writer_open(cs, "x", 1ll << 60, NULL, NULL, &w, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a huge disk size is refused");
    error_free(err);
    err = NULL;
    ok(chunk_writer_open(cs, "x", SIZE, NULL, NULL, &w, &err) == 0 &&
           chunk_writer_write(w, full, 10, SIZE - 5, &err) < 0 &&
           error_get_class(err) == ERR_INVALID,
       "a write past the end is refused");
    error_free(err);
    err = NULL;
    chunk_writer_free(w);
    w = NULL;
    ok(chunk_reader_open(cs, "x", &r, &err) < 0 &&
           error_get_class(err) == ERR_NOT_FOUND,
       "an abandoned writer leaves no index");
    error_free(err);
    err = NULL;
    ok(chunk_reader_open(cs, "full0", &r, &err) == 0, "reopen");
    chunk_reader_close(r);
    r = NULL;

    /* Packs.  A backup of its own content, deleted: gc removes its
     * chunks' rows and compaction gives their pack space back.  (The
     * store is reopened first: the pack a store appends to stays its
     * writer's until it closes, and compaction leaves it alone.)
     */
    {
        uint8_t *big = xmalloc(SIZE);
        uint64_t before, after;
        int64_t off = 0, len = 0;
        CLEANUP_FREE char *pack = NULL;
        CLEANUP_FREE char *file = NULL;
        CLEANUP_FREE char *key = NULL;
        uint8_t *blob = NULL;

        for (i = 0; i < 64; i++) {
            tc_fill(big + (size_t)i * CS, CS, 5000 + (uint64_t)i);
        }
        tc_fill(big + 64 * CS, 1000, 5999);
        ok(tc_write_model(cs, "big", NULL, big, SIZE, CS, 2, &st, NULL) ==
                   0 &&
               st.chunks_new == 65,
           "packs: a backup of 65 new chunks");
        chunk_store_close(cs);
        cs = chunk_store_open(root, &err);
        tc_noerr(&err, "reopen");
        ok(cs && chunk_store_remove_index(cs, "big", &err) == 0,
           "packs: delete it");
        tc_noerr(&err, "rm big");
        before = pack_bytes();
        tc_sleep_ms(30);
        i = chunk_store_gc(cs, &gopts, NULL, &gr, &err);
        tc_noerr(&err, "gc big");
        ok(i == 0 && gr.chunks_removed >= 65 && gr.bytes_compacted > 0,
           "packs: gc removes its 65 chunks (%llu) and compacts (%llu bytes)",
           (unsigned long long)gr.chunks_removed,
           (unsigned long long)gr.bytes_compacted);
        after = pack_bytes();
        ok(after < before && before - after == gr.bytes_compacted,
           "packs: the pack files shrank by that much (%llu -> %llu)",
           (unsigned long long)before, (unsigned long long)after);
        ok(tc_reads_as(cs, "full0", full, SIZE) &&
               chunk_store_verify(cs, 0, NULL, NULL, NULL, &vr, &err) == 0 &&
               vr.chunks_bad == 0 && vr.chunks_missing == 0,
           "packs: what is kept still reads, verify finds nothing wrong");
        tc_noerr(&err, "verify");

        {
            struct chunk_stats ps;

            ok(chunk_store_stats(cs, NULL, NULL, &ps, &err) == 0 &&
                   ps.disk_bytes == pack_bytes() &&
                   ps.disk_bytes >= ps.stored_bytes,
               "packs: store stats give the packs' size as disk bytes "
               "(%llu, %llu stored)", (unsigned long long)ps.disk_bytes,
               (unsigned long long)ps.stored_bytes);
            tc_noerr(&err, "stats");
        }

        /* An orphan: a pack no row names and no writer holds. */
        file = util_strdup_printf("%s/packs/00000000000000ab.pack", root);
        tc_write_file(file, "left by a crash", 15);
        ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0 &&
               gr.bytes_compacted == 15 && access(file, F_OK) < 0,
           "packs: gc removes an orphan pack");
        tc_noerr(&err, "gc orphan");

        /* Packs being made ("<id>.new", empty): one a dead maker left
         * long ago goes; one just made, or one still locked, stays.
         */
        {
            static const char *const ids[] = {"cd", "ce", "cf"};
            char *nf[3];
            int held;

            for (i = 0; i < 3; i++) {
                nf[i] = util_strdup_printf("%s/packs/00000000000000%s.new",
                                           root, ids[i]);
                tc_write_file(nf[i], "", 0);
                if (i != 1) {
                    struct timespec old[2] = {{time(NULL) - 3600, 0},
                                              {time(NULL) - 3600, 0}};

                    utimensat(AT_FDCWD, nf[i], old, 0);
                }
            }
            held = open(nf[2], O_RDONLY | O_CLOEXEC);
            ok(held >= 0 && flock(held, LOCK_EX) == 0,
               "packs: an old .new held by its maker");
            ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0 &&
                   access(nf[0], F_OK) < 0,
               "packs: gc removes a .new a dead maker left");
            tc_noerr(&err, "gc .new");
            ok(access(nf[1], F_OK) == 0 && access(nf[2], F_OK) == 0,
               "packs: and keeps one just made and one its maker holds");
            close(held);
            for (i = 0; i < 3; i++) {
                unlink(nf[i]);
                free(nf[i]);
            }
        }

        /* A store written before packs: chunk 0 of full0 as a file of
         * its own, not in the map.
         */
        chunk_hex_of(cs, "full0", 0, hex);
        pack = chunk_location(hex, &off, &len);
        blob = xmalloc(len > 0 ? (size_t)len : 1);
        {
            CLEANUP_CLOSE int fd = pack ? open(pack, O_RDONLY) : -1;

            ok(fd >= 0 && len > 0 && pread(fd, blob, (size_t)len, off) == len,
               "packs: read chunk %.12s's blob", hex);
        }
        free(file);
        file = util_strdup_printf("%s/chunks/%.3s", root, hex);
        mkdir(file, 0700);
        free(file);
        file = util_strdup_printf("%s/chunks/%.3s/%s", root, hex, hex);
        tc_write_file(file, blob, (size_t)len);
        key = util_strdup_printf("chunks/%.3s/%s", hex, hex);
        map_int("DELETE FROM chunk WHERE key = ?1", key);
        chunk_store_close(cs);
        cs = chunk_store_open(root, &err);
        tc_noerr(&err, "reopen");
        ok(cs && tc_reads_as(cs, "full0", full, SIZE) &&
               map_int("SELECT count(*) FROM chunk WHERE key = ?1", key) == 0,
           "packs: an older store's chunk file still reads");
        ok(chunk_store_verify(cs, 0, NULL, NULL, NULL, &vr, &err) == 0 &&
               vr.chunks_bad == 0 && vr.chunks_missing == 0,
           "packs: verify sees it");
        ok(chunk_store_gc(cs, &gopts, NULL, &gr, &err) == 0 &&
               access(file, F_OK) == 0,
           "packs: gc keeps it while full0 references it");
        tc_noerr(&err, "gc legacy");
        free(blob);
        free(big);
    }

    chunk_store_close(cs);
    free(full);
    free(inc);
    free(m3);
    free(buf);
    tc_rm_rf(root);
    return tap_done();
}
