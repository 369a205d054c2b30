/* vmsnap fuzz targets: replay a corpus without libFuzzer.
 *
 * Usage: fuzz-TARGET-replay PATH...  Each PATH is a file or a directory
 * whose regular files are run in name order.  Prints one TAP line per
 * input; an input "fails" only by crashing, hanging (meson's timeout) or
 * tripping a sanitizer, which ends the program.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "log.h"
#include "tap.h"

/* Inputs larger than this are skipped (libFuzzer's default max_len is far
 * smaller).
 */
#define REPLAY_MAX_INPUT (8 * 1024 * 1024)

/* Read the whole file PATH into a new buffer; NULL on failure. */
static uint8_t *
replay_read(const char *path, size_t *len)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t off = 0;
    ssize_t n;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }
    if (fstat(fd, &st) == -1 || st.st_size > REPLAY_MAX_INPUT) {
        close(fd);
        return NULL;
    }
    buf = malloc((size_t)st.st_size + 1);
    while (buf != NULL && off < (size_t)st.st_size) {
        n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    close(fd);
    *len = off;
    return buf;
}

static void
replay_file(const char *path)
{
    size_t len = 0;
    uint8_t *buf = replay_read(path, &len);

    if (buf == NULL) {
        ok(false, "%s: cannot read", path);
        return;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    ok(true, "%s (%zu bytes)", path, len);
}

static int
replay_regular(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void
replay_path(const char *path)
{
    struct dirent **names = NULL;
    char full[4096];
    struct stat st;
    int i, n;

    if (stat(path, &st) == -1) {
        ok(false, "%s: %s", path, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        replay_file(path);
        return;
    }
    n = scandir(path, &names, replay_regular, alphasort);
    if (n < 0) {
        ok(false, "%s: %s", path, strerror(errno));
        return;
    }
    for (i = 0; i < n; i++) {
        if (snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name) <
                (int)sizeof(full) &&
            stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            replay_file(full);
        }
        free(names[i]);
    }
    free(names);
}

int
main(int argc, char **argv)
{
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR-OR-FILE...\n", argv[0]);
        return 2;
    }
    log_init("replay"); /* VMSNAP_DEBUG=qmp,qga shows the exchanges */
    for (i = 1; i < argc; i++) {
        replay_path(argv[i]);
    }
    return tap_done();
}
