/* guest-writer: runs INSIDE the test guest (built static by the bench
 * scripts and copied into the bench image) and measures what the guest
 * feels while the host snapshots or backs it up.
 *
 *   guest-writer FILE SECONDS [STAMPFILE]
 *   guest-writer --random FILE MIB
 *
 * Appends 4 KiB records to FILE, fdatasync after every 8th (a database
 * log's pattern), for SECONDS, or, with STAMPFILE, until that file exists
 * (so the host can end it).  Prints one line of JSON: bytes written per
 * second, the longest gap between two completed writes in ms (a freeze,
 * or a copy that starves the guest, shows as a gap), and "gaps": the
 * first MAX_GAPS gaps over GAP_MS as [start, ms], start in seconds on the
 * clock of /proc/uptime (CLOCK_BOOTTIME), the clock the bench's fsfreeze
 * hook stamps, so the host can tell the freeze's gaps from the copy's;
 * "start" (same clock) and "per_100ms": the bytes written in each 100 ms
 * from start (the first MAX_SLOTS), to take the rate of any part of it.
 *
 * --random overwrites MIB MiB of the existing FILE in 64 KiB blocks at
 * random places (a changed 1 % spread over the data), then syncs.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_GAPS = 256, GAP_MS = 40, MAX_SLOTS = 6000 };

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
random_writes(const char *file, long mib)
{
    static char blk[65536];
    long blocks, i, j;
    off_t size;
    int fd = open(file, O_WRONLY);

    if (fd < 0 || (size = lseek(fd, 0, SEEK_END)) < (off_t)sizeof(blk)) {
        perror(file);
        return 1;
    }
    blocks = (long)(size / (off_t)sizeof(blk));
    srandom((unsigned)time(NULL));
    for (i = 0; i < mib * 16; i++) {
        for (j = 0; j < (long)sizeof(blk); j++) {
            blk[j] = (char)random();
        }
        if (pwrite(fd, blk, sizeof(blk),
                   (off_t)(random() % blocks) * (off_t)sizeof(blk)) !=
            (ssize_t)sizeof(blk)) {
            perror("pwrite");
            return 1;
        }
    }
    if (fsync(fd) < 0) {
        perror("fsync");
        return 1;
    }
    close(fd);
    return 0;
}

int
main(int argc, char **argv)
{
    static char rec[4096];
    static double gaps[MAX_GAPS][2];
    static long long slots[MAX_SLOTS];
    double start, last, gap = 0, end, t;
    long long bytes = 0, n = 0;
    int fd, ngaps = 0, nslots = 0, i;

    if (argc == 4 && strcmp(argv[1], "--random") == 0) {
        return random_writes(argv[2], strtol(argv[3], NULL, 10));
    }
    if (argc < 3) {
        fprintf(stderr, "usage: guest-writer FILE SECONDS [STAMPFILE]\n"
                        "       guest-writer --random FILE MIB\n");
        return 2;
    }
    fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0644);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    memset(rec, 'w', sizeof(rec));
    start = last = now_ms();
    end = start + strtod(argv[2], NULL) * 1000;
    for (;;) {
        if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec)) {
            perror("write");
            return 1;
        }
        if (++n % 8 == 0 && fdatasync(fd) < 0) {
            perror("fdatasync");
            return 1;
        }
        bytes += (long long)sizeof(rec);
        t = now_ms();
        if (t - last > gap) {
            gap = t - last;
        }
        i = (int)((t - start) / 100);
        if (i < MAX_SLOTS) {
            slots[i] += (long long)sizeof(rec);
            nslots = i + 1;
        }
        if (t - last > GAP_MS && ngaps < MAX_GAPS) {
            gaps[ngaps][0] = last / 1000;
            gaps[ngaps++][1] = t - last;
        }
        last = t;
        if (argc > 3 ? access(argv[3], F_OK) == 0 : t >= end) {
            break;
        }
        /* Keep the file small: a log that is rotated. */
        if (bytes % (64 << 20) == 0 && ftruncate(fd, 0) < 0) {
            perror("ftruncate");
            return 1;
        }
    }
    printf("{\"seconds\": %.3f, \"bytes_per_s\": %.0f, \"max_gap_ms\": "
           "%.1f, \"gaps\": [",
           (last - start) / 1000, (double)bytes * 1000 / (last - start), gap);
    for (i = 0; i < ngaps; i++) {
        printf("%s[%.3f, %.1f]", i ? ", " : "", gaps[i][0], gaps[i][1]);
    }
    printf("], \"start\": %.3f, \"per_100ms\": [", start / 1000);
    for (i = 0; i < nslots; i++) {
        printf("%s%lld", i ? ", " : "", slots[i]);
    }
    printf("]}\n");
    return 0;
}
