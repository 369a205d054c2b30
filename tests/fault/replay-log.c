/* replay-log: replay a write log in the dm-log-writes format (as written
 * by the kernel's dm-log-writes target and by QEMU's blklogwrites block
 * driver) onto a copy of the device it started from.
 *
 *   replay-log LOG               print "entries N sectorsize S" and one
 *                                line "flush I" for each flush entry I
 *   replay-log LOG DEV FROM TO   apply entries FROM..TO-1 (counted from
 *                                0) to DEV, a file or block device
 *
 * The format (Documentation/admin-guide/device-mapper/log-writes.rst): the
 * log's first sector holds the super block {le64 magic, le64 version,
 * le64 nr_entries, le32 sectorsize}; each entry then takes one sector,
 * {le64 sector, le64 nr_sectors, le64 flags, le64 data_len}, followed by
 * nr_sectors sectors of data unless it is a discard.  Sectors are of the
 * log's sector size.  QEMU updates nr_entries only at a flush, so the
 * entries are read until the log ends or an entry is not valid, and the
 * count in the super block is ignored.
 *
 * A discard is replayed as zeroes (what it reads back as on most devices).
 * The state a power loss can leave right after flush I is the device with
 * entries 0..I applied: everything the flush made durable, and possibly
 * some of what came after (the replay of later prefixes covers those).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_FLUSH_FLAG (1u << 0)
#define LOG_FUA_FLAG (1u << 1)
#define LOG_DISCARD_FLAG (1u << 2)
#define LOG_MARK_FLAG (1u << 3)
#define LOG_METADATA_FLAG (1u << 4)
#define LOG_FLAGS                                                              \
    (LOG_FLUSH_FLAG | LOG_FUA_FLAG | LOG_DISCARD_FLAG | LOG_MARK_FLAG |        \
     LOG_METADATA_FLAG)
#define LOG_MAGIC 0x6a736677736872ULL
#define LOG_VERSION 1
#define LOG_SUPER_SIZE 28 /* 3 * le64 + le32, packed */
#define LOG_ENTRY_SIZE 32 /* 4 * le64, packed */

/* One entry, decoded. */
struct entry {
    uint64_t sector;     /* first device sector written */
    uint64_t nr_sectors; /* sectors written */
    uint64_t flags;      /* LOG_*_FLAG */
    uint64_t data_off;   /* offset of its data in the log */
};

static uint64_t
get_le64(const unsigned char *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return le64toh(v);
}

static uint32_t
get_le32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static int
read_full(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t r = pread(fd, (char *)buf + done, len - done,
                          (off_t)(off + done));

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

static int
write_full(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;

    while (done < len) {
        ssize_t r = pwrite(fd, (const char *)buf + done, len - done,
                           (off_t)(off + done));

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

/* The log: its fd, size and sector size, and a cursor over its entries. */
struct log {
    int fd;             /* the log file */
    uint64_t size;      /* its length in bytes */
    uint32_t ss;        /* sector size */
    uint64_t next;      /* offset of the next entry */
};

static int
log_open(struct log *lg, const char *path)
{
    unsigned char super[LOG_SUPER_SIZE];
    struct stat st;

    lg->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (lg->fd < 0 || fstat(lg->fd, &st) < 0) {
        fprintf(stderr, "replay-log: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (read_full(lg->fd, super, sizeof(super), 0) < 0) {
        fprintf(stderr, "replay-log: %s: no super block\n", path);
        return -1;
    }
    if (get_le64(super) != LOG_MAGIC || get_le64(super + 8) != LOG_VERSION) {
        fprintf(stderr, "replay-log: %s: not a write log (magic, version)\n",
                path);
        return -1;
    }
    lg->ss = get_le32(super + 24);
    if (lg->ss < 512 || (lg->ss & (lg->ss - 1)) != 0 || lg->ss > 1u << 20) {
        fprintf(stderr, "replay-log: %s: bad sector size %" PRIu32 "\n",
                path, lg->ss);
        return -1;
    }
    lg->size = (uint64_t)st.st_size;
    lg->next = lg->ss;
    return 0;
}

/* Read the next entry into E.  Returns 1, or 0 at the end of the log (a
 * short, zeroed or invalid entry, or data cut off by the end of the file).
 */
static int
log_next(struct log *lg, struct entry *e)
{
    unsigned char hdr[LOG_ENTRY_SIZE];
    uint64_t data;

    if (lg->next + lg->ss > lg->size ||
        read_full(lg->fd, hdr, sizeof(hdr), lg->next) < 0) {
        return 0;
    }
    e->sector = get_le64(hdr);
    e->nr_sectors = get_le64(hdr + 8);
    e->flags = get_le64(hdr + 16);
    if ((e->flags & ~(uint64_t)LOG_FLAGS) != 0 ||
        e->nr_sectors > (UINT64_MAX / lg->ss) / 2) {
        return 0;
    }
    e->data_off = lg->next + lg->ss;
    data = e->flags & LOG_DISCARD_FLAG ? 0 : e->nr_sectors * lg->ss;
    if (e->data_off + data > lg->size) {
        return 0;
    }
    lg->next = e->data_off + data;
    return 1;
}

static int
apply(const struct log *lg, const struct entry *e, int dev)
{
    static unsigned char buf[1 << 20];
    uint64_t left = e->nr_sectors * lg->ss, off = e->sector * lg->ss;
    uint64_t src = e->data_off;

    while (left > 0) {
        size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);

        if (e->flags & LOG_DISCARD_FLAG) {
            memset(buf, 0, n);
        } else if (read_full(lg->fd, buf, n, src) < 0) {
            return -1;
        }
        if (write_full(dev, buf, n, off) < 0) {
            return -1;
        }
        left -= n;
        off += n;
        src += n;
    }
    return 0;
}

static int
parse_u64(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && *s != '-' ? 0 : -1;
}

int
main(int argc, char **argv)
{
    struct log lg;
    struct entry e;
    uint64_t i = 0, from, to;
    int dev;

    if (argc != 2 && argc != 5) {
        fprintf(stderr, "usage: replay-log LOG [DEV FROM TO]\n");
        return 2;
    }
    if (log_open(&lg, argv[1]) < 0) {
        return 1;
    }
    if (argc == 2) {
        while (log_next(&lg, &e)) {
            if (e.flags & LOG_FLUSH_FLAG) {
                printf("flush %" PRIu64 "\n", i);
            }
            i++;
        }
        printf("entries %" PRIu64 " sectorsize %" PRIu32 "\n", i, lg.ss);
        return 0;
    }
    if (parse_u64(argv[3], &from) < 0 || parse_u64(argv[4], &to) < 0 ||
        from > to) {
        fprintf(stderr, "replay-log: bad range %s..%s\n", argv[3], argv[4]);
        return 2;
    }
    dev = open(argv[2], O_WRONLY | O_CLOEXEC);
    if (dev < 0) {
        fprintf(stderr, "replay-log: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    for (i = 0; i < to && log_next(&lg, &e); i++) {
        if (i >= from && apply(&lg, &e, dev) < 0) {
            fprintf(stderr, "replay-log: entry %" PRIu64 ": %s\n", i,
                    strerror(errno));
            return 1;
        }
    }
    if (i < to) {
        fprintf(stderr, "replay-log: the log has only %" PRIu64 " entries\n",
                i);
        return 1;
    }
    if (fsync(dev) < 0 || close(dev) < 0) {
        fprintf(stderr, "replay-log: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    return 0;
}
