/* copy-tool: run the copy path (lib/storage/diskcopy.h) from scripts, as
 * the bench and the tests do.
 *
 *   copy-tool qcow2 SOCK EXPORT OUT [-n INFLIGHT] [-r RATE]
 *   copy-tool chunks SOCK EXPORT ROOT NAME [-p PARENT -b BITMAP]
 *   copy-tool restore ROOT NAME OUT
 *
 * qcow2 copies the NBD export EXPORT on the unix socket SOCK into a new
 * qcow2 file OUT; chunks into index NAME of the chunk store at ROOT (made
 * if missing), incremental on PARENT with the export's dirty bitmap
 * BITMAP; restore writes index NAME of ROOT as a qcow2 file.  Each prints
 * one line of JSON: seconds, bytes read, and the file's size and hashes
 * or the writer's counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskcopy.h"
#include "error.h"
#include "sock.h"

/* Seconds on the monotonic clock. */
static double
now_s(void)
{
    return (double)sock_now_ms() / 1e3;
}

static int
die(struct error *err)
{
    fprintf(stderr, "copy-tool: %s\n", err ? error_msg(err) : "?");
    error_free(err);
    return 1;
}

static int
usage(void)
{
    fprintf(stderr,
            "usage: copy-tool qcow2 SOCK EXPORT OUT [-n N] [-r RATE]\n"
            "       copy-tool chunks SOCK EXPORT ROOT NAME [-p PARENT -b "
            "BITMAP]\n"
            "       copy-tool restore ROOT NAME OUT\n");
    return 2;
}

static void
print_result(const struct diskcopy_target *t, double secs)
{
    printf("{\"seconds\": %.3f, \"virtual_size\": %lld, \"bytes_read\": "
           "%lld, \"bytes_dirty\": %lld, \"requests\": %lld",
           secs, (long long)t->virtual_size, (long long)t->bytes_read,
           (long long)t->bytes_dirty, (long long)t->requests);
    if (t->kind == DISKCOPY_QCOW2) {
        printf(", \"file_size\": %lld, \"md5\": \"%s\", \"sha512\": \"%s\"",
               (long long)t->qcow2.file_size, t->qcow2.md5,
               t->qcow2.sha512);
    } else {
        printf(", \"chunks_new\": %llu, \"chunks_dedup\": %llu, "
               "\"chunks_inherited\": %llu, \"chunks_zero\": %llu, "
               "\"bytes_new\": %llu, \"bytes_stored\": %llu",
               (unsigned long long)t->stats.chunks_new,
               (unsigned long long)t->stats.chunks_dedup,
               (unsigned long long)t->stats.chunks_inherited,
               (unsigned long long)t->stats.chunks_zero,
               (unsigned long long)t->stats.bytes_new,
               (unsigned long long)t->stats.bytes_stored);
    }
    printf("}\n");
}

int
main(int argc, char **argv)
{
    struct diskcopy_target t = {0};
    struct diskcopy_opts o = {.sync = true};
    struct diskcopy_source *src = NULL;
    struct chunk_store *cs = NULL;
    struct chunk_reader *rd = NULL;
    struct error *err = NULL;
    const char *bitmap = NULL;
    double t0;
    int i, first, r;

    if (argc < 5) {
        return usage();
    }
    if (strcmp(argv[1], "restore") == 0) {
        cs = chunk_store_open(argv[2], &err);
        if (cs == NULL || chunk_reader_open(cs, argv[3], &rd, &err) < 0) {
            chunk_store_close(cs);
            return die(err);
        }
        src = diskcopy_source_chunks(rd);
        t.kind = DISKCOPY_QCOW2;
        t.path = argv[4];
        first = 5;
    } else if (strcmp(argv[1], "qcow2") == 0) {
        t.kind = DISKCOPY_QCOW2;
        t.path = argv[4];
        first = 5;
    } else if (strcmp(argv[1], "chunks") == 0 && argc >= 6) {
        t.kind = DISKCOPY_CHUNKS;
        cs = chunk_store_open(argv[4], NULL);
        if (cs == NULL && (chunk_store_create(argv[4], NULL, &err) < 0 ||
                           (cs = chunk_store_open(argv[4], &err)) == NULL)) {
            return die(err);
        }
        t.store = cs;
        t.index = argv[5];
        first = 6;
    } else {
        return usage();
    }
    for (i = first; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "-n") == 0) {
            o.inflight = (int)strtol(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "-r") == 0) {
            o.rate_limit = strtoll(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "-p") == 0) {
            t.parent = argv[i + 1];
        } else if (strcmp(argv[i], "-b") == 0) {
            bitmap = argv[i + 1];
        } else {
            return usage();
        }
    }
    if (src == NULL) {
        src = diskcopy_source_nbd(argv[2], argv[3], bitmap, &err);
        if (src == NULL) {
            chunk_store_close(cs);
            return die(err);
        }
    }
    t0 = now_s();
    r = diskcopy_run(src, &t, &o, &err);
    diskcopy_source_close(src);
    chunk_reader_close(rd);
    chunk_store_close(cs);
    if (r < 0) {
        return die(err);
    }
    print_result(&t, now_s() - t0);
    return 0;
}
