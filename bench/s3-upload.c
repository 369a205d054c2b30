/* bench/s3-upload: upload FILE as object KEY with vmsnap's S3 client
 * (lib/storage/s3.c), for bench/s3.sh.  Settings from the environment as
 * scripts/services.sh prints them (VMSNAP_S3_ENDPOINT, VMSNAP_S3_BUCKET,
 * VMSNAP_S3_REGION, VMSNAP_S3_CREDENTIALS); as the image store sends an
 * image (S3_IMAGE_MULTIPART_THRESHOLD: one PUT up to 2 GiB) unless
 * PART_MIB sets the part size (default 32), CONCURRENCY the parts sent at
 * once (default 3) and MULTIPART_MIB the largest file sent in one PUT (0:
 * what fits one part).  VMSNAP_DEBUG=s3 logs each request with its times,
 * PROGRESS=1 prints the progress reports.
 * Prints "SECONDS BYTES" on success.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "log.h"
#include "s3.h"
#include "util.h"

/* With PROGRESS set: the progress reports on stderr, one a line. */
static void
on_progress(const char *phase, double pct, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "%s %.0f%%\n", phase, pct);
}

int
main(int argc, char **argv)
{
    struct progress prog = { on_progress, NULL };
    struct s3_upload_opts opts = { 0 };
    struct s3_settings st = { 0 };
    struct error *err = NULL;
    struct timespec a, b;
    struct stat sb;
    struct s3 *s;
    int64_t part_mib = 32;
    int64_t conc = 0;
    int fd, rc;

    if (argc != 3) {
        fprintf(stderr, "usage: s3-upload FILE KEY\n");
        return 2;
    }
    st.endpoint = getenv("VMSNAP_S3_ENDPOINT");
    st.bucket = getenv("VMSNAP_S3_BUCKET");
    st.region = getenv("VMSNAP_S3_REGION");
    st.credentials = getenv("VMSNAP_S3_CREDENTIALS");
    if (getenv("PART_MIB") &&
        util_parse_int64(getenv("PART_MIB"), &part_mib, NULL) < 0) {
        fprintf(stderr, "s3-upload: bad PART_MIB\n");
        return 2;
    }
    st.part_size = part_mib * 1024 * 1024;
    if (getenv("CONCURRENCY") &&
        util_parse_int64(getenv("CONCURRENCY"), &conc, NULL) < 0) {
        fprintf(stderr, "s3-upload: bad CONCURRENCY\n");
        return 2;
    }
    st.concurrency = (int)conc;
    st.multipart_threshold = S3_IMAGE_MULTIPART_THRESHOLD;
    if (getenv("MULTIPART_MIB")) {
        int64_t mp;

        if (util_parse_int64(getenv("MULTIPART_MIB"), &mp, NULL) < 0 ||
            mp < 0) {
            fprintf(stderr, "s3-upload: bad MULTIPART_MIB\n");
            return 2;
        }
        st.multipart_threshold = mp * 1024 * 1024;
    }
    log_set_debug(getenv("VMSNAP_DEBUG"));
    s = s3_open(&st, &err);
    if (!s) {
        error_report("s3-upload", err);
        return 1;
    }
    fd = open(argv[1], O_RDONLY);
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(argv[1]);
        s3_close(s);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (getenv("PROGRESS")) {
        opts.progress = &prog;
        opts.size = (int64_t)sb.st_size;
    }
    rc = s3_upload_fd(s, argv[2], fd, &opts, &err);
    clock_gettime(CLOCK_MONOTONIC, &b);
    close(fd);
    s3_close(s);
    if (rc < 0) {
        error_report("s3-upload", err);
        return 1;
    }
    printf("%.3f %" PRId64 "\n",
           (double)(b.tv_sec - a.tv_sec) +
               (double)(b.tv_nsec - a.tv_nsec) / 1e9,
           (int64_t)sb.st_size);
    return 0;
}
