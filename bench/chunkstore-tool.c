/* chunkstore-tool: drive the chunk store from scripts (bench/chunkstore.sh)
 * and by hand, the way a backup would.
 *
 *   chunkstore-tool create ROOT CHUNK_SIZE [LEVEL]
 *   chunkstore-tool backup ROOT NAME IMAGE [-p PARENT] [-e EXTENTS]
 *                   [-t THREADS] [-l LEVEL] [--partial]
 *   chunkstore-tool restore ROOT NAME OUT
 *   chunkstore-tool stats|verify ROOT
 *   chunkstore-tool gc ROOT [GRACE_S]
 *   chunkstore-tool rm ROOT NAME
 *
 * backup reads the raw IMAGE.  Without -e it reads what is allocated
 * (SEEK_DATA/SEEK_HOLE, as a backup reads base:allocation) in whole
 * chunks.  With -e, EXTENTS lists "OFFSET LENGTH" lines (the dirty bitmap
 * of an incremental) and only the chunks they touch are read, whole,
 * from the image, as the design reads them from the point-in-time
 * export; --partial writes only the extents themselves and lets the
 * writer fill the rest of each chunk from the parent.  It prints one
 * line of JSON: seconds, what the writer did, and the store's size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
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
    fprintf(stderr, "chunkstore-tool: %s\n", err ? error_msg(err) : "?");
    error_free(err);
    return 1;
}

static int
usage(void)
{
    fprintf(stderr, "usage: chunkstore-tool create ROOT CHUNK_SIZE [LEVEL]\n"
                    "       chunkstore-tool backup ROOT NAME IMAGE [-p "
                    "PARENT] [-e EXTENTS] [-t N] [-l LEVEL] [--partial]\n"
                    "       chunkstore-tool restore ROOT NAME OUT\n"
                    "       chunkstore-tool stats|verify ROOT\n"
                    "       chunkstore-tool gc ROOT [GRACE_S]\n"
                    "       chunkstore-tool rm ROOT NAME\n");
    return 2;
}

static int
read_full(int fd, uint8_t *buf, size_t len, off_t off)
{
    ssize_t n;

    while (len > 0) {
        n = pread(fd, buf, len, off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        buf += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write the chunks of [START, END) of the image to W, whole chunks. */
static int
copy_chunks(struct chunk_writer *w, int fd, uint8_t *buf, uint32_t cs,
            int64_t size, int64_t start, int64_t end, int64_t *last,
            struct error **errp)
{
    int64_t c = start / cs * cs, n;

    if (c <= *last) {
        c = *last + cs; /* already copied with the previous extent */
    }
    for (; c < end && c < size; c += cs) {
        n = size - c < cs ? size - c : cs;
        if (read_full(fd, buf, (size_t)n, c) < 0) {
            error_setg_errno(errp, ERR_IO, errno, "read image");
            return -1;
        }
        if (chunk_writer_write(w, buf, (size_t)n, c, errp) < 0) {
            return -1;
        }
        *last = c;
    }
    return 0;
}

static int
do_backup(int argc, char **argv)
{
    struct chunk_writer_opts o = {-1, 0};
    struct chunk_writer_stats st;
    struct chunk_index_info info;
    struct chunk_stats ss;
    struct chunk_store *cs;
    struct chunk_writer *w = NULL;
    struct error *err = NULL;
    const char *parent = NULL, *extents = NULL;
    bool partial = false;
    int64_t size, off, hole, last = -1;
    uint8_t *buf;
    double t0, t1;
    uint32_t csz;
    int fd, i;

    if (argc < 5) {
        return usage();
    }
    for (i = 5; i < argc; i++) {
        if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            parent = argv[++i];
        } else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
            extents = argv[++i];
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            o.threads = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "-l") == 0 && i + 1 < argc) {
            o.zstd_level = (int)strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--partial") == 0) {
            partial = true;
        } else {
            return usage();
        }
    }
    t0 = now_s();
    cs = chunk_store_open(argv[2], &err);
    if (cs == NULL) {
        return die(err);
    }
    csz = chunk_store_chunk_size(cs);
    fd = open(argv[4], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(argv[4]);
        return 1;
    }
    size = lseek(fd, 0, SEEK_END);
    buf = malloc(csz > (1u << 20) ? csz : (1u << 20));
    if (chunk_writer_open(cs, argv[3], size, parent, &o, &w, &err) < 0) {
        return die(err);
    }
    if (extents) {
        FILE *f = fopen(extents, "r");
        long long eo, el;

        if (f == NULL) {
            perror(extents);
            return 1;
        }
        while (err == NULL && fscanf(f, "%lld %lld", &eo, &el) == 2) {
            if (!partial) {
                copy_chunks(w, fd, buf, csz, size, eo, eo + el, &last, &err);
                continue;
            }
            while (err == NULL && el > 0) {
                int64_t n = el < (1 << 20) ? el : (1 << 20);

                if (read_full(fd, buf, (size_t)n, eo) < 0) {
                    error_setg_errno(&err, ERR_IO, errno, "read image");
                } else {
                    chunk_writer_write(w, buf, (size_t)n, eo, &err);
                }
                eo += n;
                el -= n;
            }
        }
        fclose(f);
    } else {
        for (off = 0; err == NULL && off < size; off = hole) {
            off = lseek(fd, off, SEEK_DATA);
            if (off < 0) {
                break; /* no data after OFF */
            }
            hole = lseek(fd, off, SEEK_HOLE);
            copy_chunks(w, fd, buf, csz, size, off, hole, &last, &err);
        }
    }
    if (err || chunk_writer_commit(w, &info, &err) < 0) {
        return die(err);
    }
    t1 = now_s();
    chunk_writer_stats(w, &st);
    chunk_writer_free(w);
    if (chunk_store_stats(cs, NULL, NULL, &ss, &err) < 0) {
        return die(err);
    }
    printf("{\"seconds\": %.3f, \"disk_size\": %lld, \"chunk_size\": %u, "
           "\"bytes_in\": %llu, \"chunks\": %llu, \"chunks_new\": %llu, "
           "\"chunks_dedup\": %llu, \"chunks_inherited\": %llu, "
           "\"chunks_zero\": %llu, \"bytes_new\": %llu, "
           "\"bytes_stored\": %llu, \"bytes_parent_read\": %llu, "
           "\"store_bytes\": %llu, \"store_chunks\": %llu, "
           "\"csum\": \"%s\"}\n",
           t1 - t0, (long long)size, csz, (unsigned long long)st.bytes_in,
           (unsigned long long)st.chunks, (unsigned long long)st.chunks_new,
           (unsigned long long)st.chunks_dedup,
           (unsigned long long)st.chunks_inherited,
           (unsigned long long)st.chunks_zero,
           (unsigned long long)st.bytes_new,
           (unsigned long long)st.bytes_stored,
           (unsigned long long)st.bytes_parent_read,
           (unsigned long long)ss.stored_bytes,
           (unsigned long long)ss.chunks, info.csum);
    free(buf);
    close(fd);
    chunk_store_close(cs);
    return 0;
}

static void
print_index(const struct chunk_index_stats *is, void *opaque)
{
    (void)opaque;
    printf("  %s: disk %lld, %llu chunks, %llu with data (%llu bytes)\n",
           is->name, (long long)is->disk_size,
           (unsigned long long)is->chunks,
           (unsigned long long)is->data_chunks,
           (unsigned long long)is->data_bytes);
}

static void
print_problem(const struct chunk_problem *pr, void *opaque)
{
    size_t i;

    (void)opaque;
    printf("%s %s: %s", pr->what, pr->digest ? pr->digest : pr->index,
           pr->error);
    for (i = 0; pr->indexes && pr->indexes[i]; i++) {
        printf("%s%s", i ? ", " : " (in ", pr->indexes[i]);
    }
    printf("%s\n", pr->indexes && pr->indexes[0] ? ")" : "");
}

int
main(int argc, char **argv)
{
    struct chunk_store_params params = {0, 0};
    struct chunk_store *cs;
    struct error *err = NULL;

    if (argc < 3) {
        return usage();
    }
    if (strcmp(argv[1], "create") == 0 && argc >= 4) {
        params.chunk_size = (uint32_t)strtoul(argv[3], NULL, 10);
        params.zstd_level = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 0;
        return chunk_store_create(argv[2], &params, &err) < 0 ? die(err) : 0;
    }
    if (strcmp(argv[1], "backup") == 0) {
        return do_backup(argc, argv);
    }
    cs = chunk_store_open(argv[2], &err);
    if (cs == NULL) {
        return die(err);
    }
    if (strcmp(argv[1], "restore") == 0 && argc == 5) {
        struct chunk_reader *r = NULL;
        double t0 = now_s();

        if (chunk_reader_open(cs, argv[3], &r, &err) < 0 ||
            chunk_reader_restore(r, argv[4], NULL, &err) < 0) {
            return die(err);
        }
        printf("{\"seconds\": %.3f}\n", now_s() - t0);
        chunk_reader_close(r);
    } else if (strcmp(argv[1], "stats") == 0) {
        struct chunk_stats st;

        if (chunk_store_stats(cs, print_index, NULL, &st, &err) < 0) {
            return die(err);
        }
        printf("{\"indexes\": %llu, \"chunks\": %llu, \"stored_bytes\": "
               "%llu, \"referenced_chunks\": %llu, \"logical_bytes\": %llu, "
               "\"data_bytes\": %llu, \"dedup_ratio\": %.3f}\n",
               (unsigned long long)st.indexes, (unsigned long long)st.chunks,
               (unsigned long long)st.stored_bytes,
               (unsigned long long)st.referenced_chunks,
               (unsigned long long)st.logical_bytes,
               (unsigned long long)st.data_bytes, st.dedup_ratio);
    } else if (strcmp(argv[1], "verify") == 0) {
        struct chunk_verify_report vr;

        if (chunk_store_verify(cs, 0, print_problem, NULL, NULL, &vr, &err) <
            0) {
            return die(err);
        }
        printf("{\"indexes\": %llu, \"indexes_bad\": %llu, \"chunks\": %llu, "
               "\"chunks_bad\": %llu, \"chunks_missing\": %llu}\n",
               (unsigned long long)vr.indexes,
               (unsigned long long)vr.indexes_bad,
               (unsigned long long)vr.chunks,
               (unsigned long long)vr.chunks_bad,
               (unsigned long long)vr.chunks_missing);
        if (vr.indexes_bad || vr.chunks_bad || vr.chunks_missing) {
            chunk_store_close(cs);
            return 1;
        }
    } else if (strcmp(argv[1], "gc") == 0) {
        struct chunk_gc_opts go = {-1, false};
        struct chunk_gc_report gr;

        if (argc > 3) {
            go.grace_s = strtol(argv[3], NULL, 10);
        }
        if (chunk_store_gc(cs, &go, NULL, &gr, &err) < 0) {
            return die(err);
        }
        printf("{\"indexes\": %llu, \"chunks\": %llu, \"removed\": %llu, "
               "\"bytes_removed\": %llu, \"recent\": %llu}\n",
               (unsigned long long)gr.indexes, (unsigned long long)gr.chunks,
               (unsigned long long)gr.chunks_removed,
               (unsigned long long)gr.bytes_removed,
               (unsigned long long)gr.chunks_recent);
    } else if (strcmp(argv[1], "rm") == 0 && argc == 4) {
        if (chunk_store_remove_index(cs, argv[3], &err) < 0) {
            return die(err);
        }
    } else {
        chunk_store_close(cs);
        return usage();
    }
    chunk_store_close(cs);
    return 0;
}
