/* Fuzz target: an OVA read as the import reads it (ova_read: every tar
 * member checked, the descriptor and manifest parsed and checked, disks
 * and plain files extracted with their digests checked), stopping before
 * qemu-img looks at the disks.
 *
 * The input is the tar.  It is read from a memfd; members are extracted
 * into a private directory in /tmp, emptied after every run, and writes
 * are capped at 4 MiB (RLIMIT_FSIZE) so that a member that claims to be
 * huge cannot fill the disk.  Oracle: a package that ova_read accepts
 * has every member of its manifest extracted, and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "error.h"
#include "fuzz.h"
#include "ovf-internal.h"
#include "xalloc.h"

#define FUZZ_FSIZE (4 * 1024 * 1024)

static char fuzz_dir[] = "/tmp/vmsnap-fuzz-ova.XXXXXX";
static int fuzz_dirfd = -1;

static void
fuzz_cleanup(void)
{
    if (fuzz_dirfd >= 0) {
        close(fuzz_dirfd);
        rmdir(fuzz_dir);
    }
}

/* Make the workdir and cap file sizes, once. */
static bool
fuzz_setup(void)
{
    struct rlimit rl = {.rlim_cur = FUZZ_FSIZE, .rlim_max = FUZZ_FSIZE};

    if (fuzz_dirfd >= 0) {
        return true;
    }
    if (mkdtemp(fuzz_dir) == NULL) {
        return false;
    }
    fuzz_dirfd = open(fuzz_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &rl);
    atexit(fuzz_cleanup);
    return fuzz_dirfd >= 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ovf_import im = {.dirfd = -1, .workdir = fuzz_dir};
    struct error *err = NULL;
    size_t i;
    int fd, r;

    if (!fuzz_setup()) {
        return 0;
    }
    fd = memfd_create("ova", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size ||
        lseek(fd, 0, SEEK_SET) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    im.dirfd = dup(fuzz_dirfd);
    im.made = xcalloc(OVF_MAX_MEMBERS, sizeof(*im.made));
    r = ova_read(&im, fd, &err);
    if (r == 0) {
        for (i = 0; i < im.nmf; i++) {
            if (!im.mf[i].seen) {
                abort(); /* accepted with a listed member missing */
            }
        }
        if (im.nmade + 1 != im.nmf) {
            abort(); /* extracted more or less than the manifest lists */
        }
    }
    error_free(err);
    for (i = 0; i < im.nmade; i++) {
        if (unlinkat(fuzz_dirfd, im.made[i], 0) < 0 && errno != ENOENT) {
            abort();
        }
    }
    ovf_import_clear(&im);
    close(fd);
    return 0;
}
