/* Unit tests of reading an OVA's tar (ova_read, ovf-internal.h) on the
 * packages of the fuzz corpus: which are accepted, which refused and
 * why, and that a refused package leaves nothing behind.
 *
 * Usage: test-ova CORPUS-DIR (fuzz/corpus/ova).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "ovf-internal.h"
#include "tap.h"
#include "xalloc.h"

static const struct {
    const char *file; /* in the corpus */
    const char *why;  /* part of the error, or NULL when accepted */
} packages[] = {
    { "good-min", NULL },
    { "ustar", NULL },
    { "gnu-sparse", "is a sparse file" },
    { "wrong-digest", "checksum mismatch for d.vmdk" },
    { "missing-disk", "d.vmdk listed in the manifest is missing" },
    { "extra-member", "x.bin is not listed in the manifest" },
    { "manifest-first", "is not an OVF descriptor" },
    { "symlink", "link is not a regular file" },
    { "traversal", "is not a plain file name" },
    { "truncated", "damaged tar" },
};

static int
count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int n = 0;

    while (d != NULL && (de = readdir(d)) != NULL) {
        n += de->d_name[0] != '.';
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

int
main(int argc, char **argv)
{
    char dir[] = "/tmp/vmsnap-test-ova.XXXXXX";
    char path[PATH_MAX];
    size_t i, j;

    if (argc != 2 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 2;
    }
    for (i = 0; i < sizeof(packages) / sizeof(packages[0]); i++) {
        struct ovf_import im = {.workdir = dir};
        struct error *err = NULL;
        CLEANUP_CLOSE int fd = -1;
        int r;

        snprintf(path, sizeof(path), "%s/%s", argv[1], packages[i].file);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        im.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        im.made = xcalloc(OVF_MAX_MEMBERS, sizeof(*im.made));
        r = ova_read(&im, fd, &err);
        if (packages[i].why == NULL) {
            ok(r == 0 && err == NULL && im.nmade == 1 &&
                   count_entries(dir) == 1,
               "%s accepted, its disk extracted", packages[i].file);
        } else {
            ok(r < 0 && err != NULL && error_get_class(err) == ERR_INVALID &&
                   strstr(error_msg(err), packages[i].why) != NULL,
               "%s refused: %s", packages[i].file,
               err != NULL ? error_msg(err) : "accepted");
        }
        /* ova_read records what it made; ovf_import removes it. */
        for (j = 0; j < im.nmade; j++) {
            unlinkat(im.dirfd, im.made[j], 0);
        }
        error_free(err);
        ovf_import_clear(&im);
    }
    ok(count_entries(dir) == 0, "nothing else was written");
    rmdir(dir);
    return tap_done();
}
