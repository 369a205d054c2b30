/* bench/catalog-ops: catalog operations per second on one backend, for
 * bench/catalog.sh.  TARGET is what catalog_open takes (a SQLite file or
 * a PostgreSQL connection string); N images are inserted one a statement,
 * then each is read by ID, found by name, moved queued -> saving ->
 * active (compare and set), the whole list read once, and each deleted.
 * Prints one line a phase: "PHASE OPS SECONDS OPS_PER_S".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "error.h"
#include "model.h"
#include "util.h"
#include "xalloc.h"

static double
now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void
die(const char *what, struct error *err)
{
    fprintf(stderr, "catalog-ops: %s: %s\n", what,
            err ? error_msg(err) : "failed");
    exit(1);
}

static void
report(const char *phase, long ops, double t0)
{
    double s = now_s() - t0;

    printf("%s %ld %.3f %.0f\n", phase, ops, s, s > 0 ? ops / s : 0.0);
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    struct error *err = NULL;
    struct catalog *cat;
    char (*ids)[UTIL_UUID_LEN];
    struct image **list = NULL;
    size_t nlist = 0;
    long n, i;
    double t0;

    if (argc != 3 || (n = atol(argv[2])) <= 0) {
        fprintf(stderr, "usage: catalog-ops TARGET N\n");
        return 2;
    }
    cat = catalog_open(argv[1], &err);
    if (cat == NULL) {
        die("open", err);
    }
    ids = xcalloc((size_t)n, sizeof(*ids));

    t0 = now_s();
    for (i = 0; i < n; i++) {
        struct image img = {0};
        char name[32];

        util_uuid_new(img.id);
        snprintf(name, sizeof(name), "bench-%ld", i);
        img.name = name;
        img.status = (char *)"queued";
        img.disk_format = (char *)"qcow2";
        img.container_format = (char *)"bare";
        img.size = -1;
        img.virtual_size = -1;
        if (catalog_image_insert(cat, &img, &err) < 0) {
            die("insert", err);
        }
        memcpy(ids[i], img.id, sizeof(ids[i]));
    }
    report("insert", n, t0);

    t0 = now_s();
    for (i = 0; i < n; i++) {
        struct image *img = NULL;

        if (catalog_image_get(cat, ids[i], &img, &err) < 0) {
            die("get", err);
        }
        image_free(img);
    }
    report("get", n, t0);

    t0 = now_s();
    for (i = 0; i < n; i++) {
        struct image *img = NULL;
        char name[32];

        snprintf(name, sizeof(name), "bench-%ld", i);
        if (catalog_image_find(cat, name, &img, &err) < 0) {
            die("find", err);
        }
        image_free(img);
    }
    report("find-by-name", n, t0);

    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (catalog_image_transition(cat, ids[i], "queued", "saving", NULL,
                                     &err) < 0 ||
            catalog_image_transition(cat, ids[i], "saving", "active", NULL,
                                     &err) < 0) {
            die("transition", err);
        }
    }
    report("transition", 2 * n, t0);

    t0 = now_s();
    if (catalog_image_list(cat, NULL, &list, &nlist, &err) < 0) {
        die("list", err);
    }
    image_list_free(list, nlist);
    report("list-all", 1, t0);

    t0 = now_s();
    for (i = 0; i < n; i++) {
        if (catalog_image_delete(cat, ids[i], &err) < 0) {
            die("delete", err);
        }
    }
    report("delete", n, t0);

    free(ids);
    catalog_close(cat);
    return 0;
}
