/* Unit tests of the catalog's volumes, attachments and volume
 * snapshots.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "test-catalog.h"
#include "util.h"

/* ---- Volumes ---------------------------------------------------------- */

static void
test_volumes(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-02-01T00:00:00.000000Z", "2026-02-03T00:00:00.000000Z",
        "2026-02-02T00:00:00.000000Z",
    };
    struct error *err = NULL;
    struct image *base = new_image("vol-base", "active");
    struct volume *vol = new_volume("data", 10737418240LL);
    struct volume *other = new_volume("data", 1024);
    struct volume *third = new_volume("scratch", 2048);
    struct volume *got = NULL;
    struct volume **list = NULL;
    char upper[UTIL_UUID_LEN];
    CLEANUP_FREE char *created = NULL, *want = NULL;
    char *users = NULL;
    const char *msg;
    size_t n = 0, i;

    ok(catalog_image_insert(cat, base, &err) == 0 && no_err(&err),
       "insert an image to make volumes from");
    vol->file = tc_strdup("/var/lib/vmsnap/volumes/data.qcow2");
    vol->source_image_id = tc_strdup(base->id);
    vol->created_at = tc_strdup(times[0]);
    volume_meta_set(vol, "purpose", "db", NULL);
    volume_meta_set(vol, "attached_mode", "rw", NULL);
    volume_meta_set(vol, "purpose", "database", NULL);
    ok(vol->nmeta == 2 && streq(volume_meta(vol, "purpose"), "database"),
       "in-memory volume metadata set replaces");
    ok(catalog_volume_insert(cat, vol, &err) == 0 && no_err(&err),
       "insert volume");
    ok(catalog_volume_get(cat, vol->id, &got, &err) == 0 && no_err(&err),
       "get volume by ID");
    if (got != NULL) {
        ok(streq(got->id, vol->id) && streq(got->name, "data") &&
               streq(got->status, "available") &&
               got->size == 10737418240LL && streq(got->file, vol->file) &&
               got->instance_id == NULL && got->device_index == -1 &&
               got->source_snapshot_id == NULL &&
               streq(got->source_image_id, base->id) &&
               streq(got->created_at, times[0]) &&
               streq(got->updated_at, times[0]),
           "volume fields read back");
        ok(got->nmeta == 2 && streq(got->meta[0].key, "attached_mode") &&
               streq(volume_meta(got, "purpose"), "database"),
           "volume metadata read back, sorted by key");
        created = tc_strdup(got->created_at);
    }
    volume_free(got);
    got = NULL;
    for (i = 0; i < UTIL_UUID_LEN; i++) {
        upper[i] = (vol->id[i] >= 'a' && vol->id[i] <= 'f')
                       ? (char)(vol->id[i] - 'a' + 'A') : vol->id[i];
    }
    ok(catalog_volume_get(cat, upper, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, vol->id),
       "get volume with an upper-case ID");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_get(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &got,
                          &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no volume with ID '1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
       "get of a missing volume is not found");
    ok(catalog_volume_insert(cat, vol, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "insert of a taken volume ID is a conflict");

    /* Refused inserts leave nothing behind. */
    {
        struct volume *bad = new_volume("bad", 1);

        free(bad->status);
        bad->status = tc_strdup("melting");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, "unknown volume status 'melting'"),
           "insert with an unknown status is refused");
        free(bad->status);
        bad->status = tc_strdup("in-use");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert in status in-use is refused");
        free(bad->status);
        bad->status = tc_strdup("creating");
        bad->instance_id = tc_strdup(vol->id);
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert of an attached volume is refused");
        free(bad->instance_id);
        bad->instance_id = NULL;
        bad->size = -1;
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with a negative size is refused");
        bad->size = 1;
        bad->source_image_id = tc_strdup("vol-base");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "image ID 'vol-base' is not a UUID"),
           "insert with a bad image reference is refused");
        free(bad->source_image_id);
        bad->source_image_id = NULL;
        bad->source_snapshot_id =
            tc_strdup("1b4e28ba-2fa1-41d2-883f-0016d3cca427");
        ok(catalog_volume_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND,
                      "no volume snapshot with ID "
                      "'1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
           "insert from a missing snapshot is not found");
        ok(catalog_volume_get(cat, bad->id, &got, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "nothing of a refused volume insert is left");
        volume_free(bad);
    }

    other->created_at = tc_strdup(times[1]);
    third->created_at = tc_strdup(times[2]);
    ok(catalog_volume_insert(cat, other, &err) == 0 &&
           catalog_volume_insert(cat, third, &err) == 0 && no_err(&err),
       "insert two more volumes");

    /* Find by name or ID. */
    ok(catalog_volume_find(cat, "scratch", &got, &err) == 0 &&
           no_err(&err) && streq(got->id, third->id),
       "find volume by unique name");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_find(cat, vol->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, vol->id),
       "find volume by ID");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_find(cat, "data", &got, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_CONFLICT,
       "find of a shared volume name is a conflict");
    msg = err ? error_msg(err) : "";
    want = util_strdup_printf("volume name 'data' is ambiguous: %s, %s",
                              other->id, vol->id);
    ok(streq(msg, want), "ambiguity lists both, newest first: %s", msg);
    error_free(err);
    err = NULL;
    ok(catalog_volume_find(cat, "nothing", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no volume named or with ID 'nothing'"),
       "find of an unknown volume is not found");

    /* List: newest first. */
    ok(catalog_volume_list(cat, NULL, &list, &n, &err) == 0 &&
           no_err(&err) && n == 3 && streq(list[0]->id, other->id) &&
           streq(list[1]->id, third->id) && streq(list[2]->id, vol->id) &&
           list[2]->nmeta == 2,
       "list volumes newest first, with metadata");
    volume_list_free(list, n);
    list = NULL;
    ok(catalog_volume_list(cat, vol->id, &list, &n, &err) == 0 &&
           no_err(&err) && n == 0,
       "no volumes are attached to an unknown server");
    volume_list_free(list, n);
    list = NULL;
    ok(catalog_volume_list(cat, "junk", &list, &n, &err) == 0 &&
           no_err(&err) && n == 0 && list == NULL,
       "nor to something that is not an ID");

    /* Status. */
    ok(catalog_volume_set_status(cat, third->id, "error", &err) == 0 &&
           catalog_volume_get(cat, third->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->status, "error"),
       "set volume status");
    volume_free(got);
    got = NULL;
    ok(catalog_volume_set_status(cat, third->id, "in-use", &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "volume scratch is not attached, so it cannot be in-use"),
       "status in-use is refused for a detached volume");
    ok(catalog_volume_set_status(cat, third->id, "lost", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "unknown volume status refused");
    ok(catalog_volume_set_status(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                 "error", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "status of a missing volume is not found");

    /* A volume made from an image is a user of the image. */
    ok(catalog_image_users(cat, base->id, &users, &err) == 1 &&
           no_err(&err),
       "the image has one user");
    free(want);
    want = util_strdup_printf("volume data (%s)", vol->id);
    ok(streq(users, want), "image users: %s", users ? users : "NULL");
    free(users);
    users = NULL;

    ok(catalog_volume_delete(cat, vol->id, &err) == 0 &&
           catalog_volume_delete(cat, other->id, &err) == 0 &&
           catalog_volume_delete(cat, third->id, &err) == 0 && no_err(&err),
       "delete volumes");
    ok(catalog_volume_get(cat, vol->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "deleted volume is gone");
    ok(catalog_volume_delete(cat, vol->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second volume delete is not found");
    ok(raw_int(db_path, "SELECT count(*) FROM volume_metadata") == 0,
       "their metadata is gone");
    ok(catalog_image_users(cat, base->id, NULL, &err) == 0 && no_err(&err),
       "the image has no users left");
    catalog_image_delete(cat, base->id, NULL);
    image_free(base);
    volume_free(vol);
    volume_free(other);
    volume_free(third);
}

/* Check that the volumes attached to server ID are exactly WANT (N of
 * them) with device indexes INDEX, in that order.
 */
static bool
attached_are(struct catalog *cat, const char *id,
             struct volume *const *want, const int *index, size_t n)
{
    struct error *err = NULL;
    struct volume **list = NULL;
    size_t got = 0, i;
    bool good;

    good = catalog_volume_list(cat, id, &list, &got, &err) == 0 &&
           no_err(&err) && got == n;
    for (i = 0; good && i < n; i++) {
        good = streq(list[i]->id, want[i]->id) &&
               list[i]->device_index == index[i] &&
               streq(list[i]->instance_id, id) &&
               streq(list[i]->status, "in-use");
    }
    if (!good) {
        for (i = 0; i < got; i++) {
            diag("attached: %s index %d", list[i]->id,
                 list[i]->device_index);
        }
    }
    volume_list_free(list, got);
    return good;
}

static void
test_volume_attach(struct catalog *cat)
{
    struct error *err = NULL;
    struct instance *s1 = new_instance("att-1", NULL);
    struct instance *s2 = new_instance("att-2", NULL);
    struct volume *v[4];
    struct volume *noname = new_volume(NULL, 1);
    struct volume *got = NULL;
    CLEANUP_FREE char *want = NULL;
    int index = 0;
    size_t i;

    ok(catalog_instance_insert(cat, s1, &err) == 0 &&
           catalog_instance_insert(cat, s2, &err) == 0 && no_err(&err),
       "insert two servers");
    for (i = 0; i < 4; i++) {
        char name[16];

        snprintf(name, sizeof(name), "att-v%zu", i + 1);
        v[i] = new_volume(name, 1 << 30);
        ok(catalog_volume_insert(cat, v[i], &err) == 0 && no_err(&err),
           "insert volume %s", name);
    }

    for (i = 0; i < 3; i++) {
        index = 0;
        ok(catalog_volume_attach(cat, v[i]->id, s1->id, &index, &err) == 0 &&
               no_err(&err) && index == (int)i + 1,
           "attach %s gets device index %zu (got %d)", v[i]->name, i + 1,
           index);
    }
    {
        struct volume *want3[] = { v[0], v[1], v[2] };
        const int idx3[] = { 1, 2, 3 };

        ok(attached_are(cat, s1->id, want3, idx3, 3),
           "server lists its volumes by device index");
    }

    free(want);
    want = util_strdup_printf("volume att-v1 is already attached to "
                              "server %s", s1->id);
    index = 77;
    ok(catalog_volume_attach(cat, v[0]->id, s2->id, &index, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want) && index == 77,
       "attaching to another server is refused");
    ok(catalog_volume_attach(cat, v[0]->id, s1->id, NULL, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "attaching twice to the same server is refused");

    ok(catalog_volume_detach(cat, v[1]->id, s1->id, &err) == 0 &&
           no_err(&err),
       "detach the second volume");
    {
        struct volume *want2[] = { v[0], v[2] };
        const int idx2[] = { 1, 3 };

        ok(attached_are(cat, s1->id, want2, idx2, 2),
           "the others keep device indexes 1 and 3");
    }
    ok(catalog_volume_get(cat, v[1]->id, &got, &err) == 0 && no_err(&err) &&
           got->instance_id == NULL && got->device_index == -1 &&
           streq(got->status, "available"),
       "the detached volume is available, index -1");
    volume_free(got);
    got = NULL;
    free(want);
    want = util_strdup_printf("volume att-v2 is not attached to server %s",
                              s1->id);
    ok(catalog_volume_detach(cat, v[1]->id, s1->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "detaching twice is refused");
    ok(catalog_volume_detach(cat, v[2]->id, s2->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "detaching from the wrong server is refused");
    ok(catalog_volume_detach(cat, v[2]->id, "att-1", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "detaching from a server name (not an ID) is refused");
    ok(catalog_volume_detach(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                             s1->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "detaching a missing volume is not found");

    ok(catalog_volume_attach(cat, v[1]->id, s1->id, &index, &err) == 0 &&
           no_err(&err) && index == 2,
       "attaching again takes the lowest free index, 2");
    ok(catalog_volume_attach(cat, v[3]->id, s2->id, &index, &err) == 0 &&
           no_err(&err) && index == 1,
       "indexes count per server: 1 on the other (got %d)", index);

    ok(catalog_volume_attach(cat, noname->id, s2->id, &index, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "attaching a volume not in the catalog is not found");
    ok(catalog_volume_insert(cat, noname, &err) == 0 && no_err(&err),
       "insert a volume without a name");
    ok(catalog_volume_attach(cat, noname->id,
                             "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &index,
                             &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no server with ID "
                  "'1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
       "attaching to a missing server is not found");
    ok(catalog_volume_attach(cat, noname->id, NULL, &index, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "attaching without a server is refused");
    catalog_volume_set_status(cat, noname->id, "error", NULL);
    free(want);
    want = util_strdup_printf("volume %s is not available: error",
                              noname->id);
    ok(catalog_volume_attach(cat, noname->id, s2->id, &index, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a volume in error cannot be attached (named by its ID)");

    /* Attached volumes stay in-use and cannot go. */
    free(want);
    want = util_strdup_printf("volume att-v1 is attached to server %s",
                              s1->id);
    ok(catalog_volume_delete(cat, v[0]->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "an attached volume cannot be deleted");
    ok(catalog_volume_set_status(cat, v[0]->id, "available", &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "the status of an attached volume stays in-use");
    ok(catalog_volume_get(cat, v[0]->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->instance_id, s1->id) && got->device_index == 1 &&
           streq(got->status, "in-use"),
       "the attachment is kept");
    volume_free(got);
    got = NULL;

    /* Clean up: detach everything, then everything can go. */
    ok(catalog_volume_detach(cat, v[0]->id, s1->id, &err) == 0 &&
           catalog_volume_detach(cat, v[1]->id, s1->id, &err) == 0 &&
           catalog_volume_detach(cat, v[2]->id, s1->id, &err) == 0 &&
           catalog_volume_detach(cat, v[3]->id, s2->id, &err) == 0 &&
           no_err(&err),
       "detach all");
    ok(attached_are(cat, s1->id, NULL, NULL, 0), "nothing is attached");
    for (i = 0; i < 4; i++) {
        catalog_volume_delete(cat, v[i]->id, NULL);
        volume_free(v[i]);
    }
    catalog_volume_delete(cat, noname->id, NULL);
    volume_free(noname);
    ok(raw_int(db_path, "SELECT count(*) FROM volumes") == 0,
       "no volumes are left");
    catalog_instance_delete(cat, s1->id, NULL);
    catalog_instance_delete(cat, s2->id, NULL);
    instance_free(s1);
    instance_free(s2);
}

/* ---- Volume snapshots ------------------------------------------------- */

static void
test_volume_snapshots(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-03-01T00:00:00.000000Z", "2026-03-02T00:00:00.000000Z",
        "2026-03-03T00:00:00.000000Z",
    };
    struct error *err = NULL;
    struct volume *vol = new_volume("snapped", 1 << 30);
    struct volume *from = new_volume("restored", 1 << 30);
    struct volume_snapshot *s[3];
    struct volume_snapshot *got = NULL;
    struct volume_snapshot **list = NULL;
    struct image *bdm = new_image("vm-snap", "active");
    struct catalog_match m[2];
    CLEANUP_FREE char *want = NULL;
    size_t n = 0, i;

    ok(catalog_volume_insert(cat, vol, &err) == 0 && no_err(&err),
       "insert a volume to snapshot");
    for (i = 0; i < 3; i++) {
        char name[16];

        snprintf(name, sizeof(name), "vs-%zu", i + 1);
        s[i] = new_snapshot(name, vol->id);
        s[i]->created_at = tc_strdup(times[i]);
        volume_snapshot_meta_set(s[i], "instance_snapshot_id",
                                 i < 2 ? "isnap-a" : "isnap-b", NULL);
        volume_snapshot_meta_set(s[i], "instance_uuid",
                                 i == 0 ? "srv-x" : "srv-y", NULL);
        ok(catalog_volume_snapshot_insert(cat, s[i], &err) == 0 &&
               no_err(&err),
           "insert snapshot %s", name);
    }
    s[0]->file = tc_strdup("/var/lib/vmsnap/snapshots/vs-1.qcow2");
    {
        struct volume_snapshot_data d = { .size = 1 << 20 };

        d.file = s[0]->file;
        ok(catalog_volume_snapshot_set_data(cat, s[0]->id, &d, &err) == 0 &&
               no_err(&err),
           "set the data of a snapshot");
    }
    ok(catalog_volume_snapshot_get(cat, s[0]->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->name, "vs-1") &&
           streq(got->volume_id, vol->id) &&
           streq(got->status, "available") && got->size == 1 << 20 &&
           streq(got->file, s[0]->file) &&
           streq(got->created_at, times[0]) && got->nmeta == 2 &&
           streq(volume_snapshot_meta(got, "instance_uuid"), "srv-x"),
       "snapshot fields and metadata read back");
    volume_snapshot_free(got);
    got = NULL;
    ok(catalog_volume_snapshot_insert(cat, s[0], &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "insert of a taken snapshot ID is a conflict");
    ok(catalog_volume_snapshot_get(cat, "vs-1", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no volume snapshot with ID 'vs-1'"),
       "get of a snapshot by name is not found");
    ok(catalog_volume_snapshot_find(cat, "vs-2", &got, &err) == 0 &&
           no_err(&err) && streq(got->id, s[1]->id),
       "find snapshot by name");
    volume_snapshot_free(got);
    got = NULL;
    ok(catalog_volume_snapshot_find(cat, s[2]->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->id, s[2]->id),
       "find snapshot by ID");
    volume_snapshot_free(got);
    got = NULL;
    ok(catalog_volume_snapshot_find(cat, "vs-9", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no volume snapshot named or with ID 'vs-9'"),
       "find of an unknown snapshot is not found");

    {
        struct volume_snapshot *bad = new_snapshot("bad", "not-a-volume");

        ok(catalog_volume_snapshot_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "volume ID 'not-a-volume' is not a UUID"),
           "a snapshot needs a volume ID");
        free(bad->volume_id);
        bad->volume_id = tc_strdup(vol->id);
        free(bad->status);
        bad->status = tc_strdup("in-use");
        ok(catalog_volume_snapshot_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "unknown volume snapshot status 'in-use'"),
           "snapshots are never in-use");
        volume_snapshot_free(bad);
    }

    /* Lists, all and filtered by metadata. */
    ok(catalog_volume_snapshot_list(cat, NULL, 0, &list, &n, &err) == 0 &&
           no_err(&err) && n == 3 && streq(list[0]->id, s[2]->id) &&
           streq(list[1]->id, s[1]->id) && streq(list[2]->id, s[0]->id) &&
           list[2]->nmeta == 2,
       "list snapshots newest first");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[0].key = "instance_snapshot_id";
    m[0].value = "isnap-a";
    ok(catalog_volume_snapshot_list(cat, m, 1, &list, &n, &err) == 0 &&
           no_err(&err) && n == 2 && streq(list[0]->id, s[1]->id) &&
           streq(list[1]->id, s[0]->id),
       "filter by instance_snapshot_id");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[1].key = "instance_uuid";
    m[1].value = "srv-x";
    ok(catalog_volume_snapshot_list(cat, m, 2, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, s[0]->id),
       "filter by two metadata items");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[0].value = "isnap-none";
    ok(catalog_volume_snapshot_list(cat, m, 1, &list, &n, &err) == 0 &&
           no_err(&err) && n == 0,
       "filter that matches no snapshot");
    volume_snapshot_list_free(list, n);
    list = NULL;
    m[0].value = NULL;
    ok(catalog_volume_snapshot_list(cat, m, 1, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) && list == NULL,
       "a filter without a value is refused");
    ok(catalog_volume_snapshot_list(cat, NULL, 1, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "missing filters are refused");
    ok(catalog_volume_snapshot_list(cat, m, CATALOG_PROPS_MAX + 1, &list,
                                    &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "too many filters are refused");

    /* A volume with snapshots stays. */
    free(want);
    want = util_strdup_printf("volume snapped has snapshots: %s, %s, %s",
                              s[2]->id, s[1]->id, s[0]->id);
    ok(catalog_volume_delete(cat, vol->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a volume with snapshots cannot be deleted");

    /* A volume made from a snapshot keeps it. */
    catalog_volume_snapshot_set_status(cat, s[0]->id, "creating", NULL);
    from->source_snapshot_id = tc_strdup(s[0]->id);
    free(want);
    want = tc_strdup("volume snapshot vs-1 is not available: creating");
    ok(catalog_volume_insert(cat, from, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "no volume from a snapshot that is not available");
    ok(catalog_volume_snapshot_set_status(cat, s[0]->id, "available",
                                          &err) == 0 &&
           catalog_volume_insert(cat, from, &err) == 0 && no_err(&err),
       "create a volume from a snapshot");
    free(want);
    want = util_strdup_printf("volume snapshot vs-1 is in use by volume "
                              "restored (%s)", from->id);
    ok(catalog_volume_snapshot_delete(cat, s[0]->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a snapshot a volume was made from cannot be deleted");
    ok(catalog_volume_delete(cat, from->id, &err) == 0 &&
           catalog_volume_snapshot_delete(cat, s[0]->id, &err) == 0 &&
           no_err(&err),
       "once the volume is gone the snapshot can go");
    ok(catalog_volume_snapshot_get(cat, s[0]->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "the deleted snapshot is gone");

    /* An image whose block device mapping names a snapshot keeps it; the
     * caller may give the ID in any case.
     */
    bdm->bdm = calloc(1, sizeof(*bdm->bdm));
    if (bdm->bdm == NULL) {
        abort();
    }
    bdm->nbdm = 1;
    bdm->bdm[0].device_index = 1;
    bdm->bdm[0].size = 1 << 20;
    snprintf(bdm->bdm[0].volume_id, sizeof(bdm->bdm[0].volume_id), "%s",
             vol->id);
    for (i = 0; i < UTIL_UUID_LEN; i++) {
        bdm->bdm[0].snapshot_id[i] =
            (s[1]->id[i] >= 'a' && s[1]->id[i] <= 'f')
                ? (char)(s[1]->id[i] - 'a' + 'A') : s[1]->id[i];
    }
    image_prop_set(bdm, "bdm_v2", "True", NULL);
    ok(catalog_image_insert(cat, bdm, &err) == 0 && no_err(&err),
       "insert an image whose mapping names a snapshot");
    free(want);
    want = util_strdup_printf("volume snapshot vs-2 is in use by image "
                              "vm-snap (%s)", bdm->id);
    ok(catalog_volume_snapshot_delete(cat, s[1]->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a snapshot an image maps cannot be deleted");
    ok(catalog_volume_snapshot_delete(cat, s[2]->id, &err) == 0 &&
           no_err(&err),
       "a snapshot nothing uses can be deleted");
    ok(catalog_image_set_status(cat, bdm->id, "deleted", NULL, &err) == 0 &&
           catalog_volume_snapshot_delete(cat, s[1]->id, &err) == 0 &&
           no_err(&err),
       "a deleted image no longer keeps it");
    ok(catalog_volume_snapshot_delete(cat, s[1]->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second snapshot delete is not found");
    ok(raw_int(db_path, "SELECT count(*) FROM volume_snapshot_metadata") ==
           0,
       "snapshot metadata is gone");
    ok(catalog_volume_snapshot_set_status(cat, s[1]->id, "error", &err) ==
               -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "status of a missing snapshot is not found");
    ok(catalog_volume_snapshot_set_status(cat, s[1]->id, "gone", &err) ==
               -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "unknown snapshot status is refused");

    ok(catalog_volume_delete(cat, vol->id, &err) == 0 && no_err(&err),
       "the volume can go once its snapshots are gone");
    /* A snapshot may refer to a volume that no longer exists. */
    ok(catalog_volume_snapshot_insert(cat, s[2], &err) == 0 &&
           no_err(&err),
       "a snapshot of a deleted volume can be recorded");
    catalog_volume_snapshot_delete(cat, s[2]->id, NULL);
    catalog_image_delete(cat, bdm->id, NULL);
    image_free(bdm);
    for (i = 0; i < 3; i++) {
        volume_snapshot_free(s[i]);
    }
    volume_free(vol);
    volume_free(from);
}

/* ---- Targeted writes and filters -------------------------------------- */

static void
test_volume_transition(struct catalog *cat)
{
    char project[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct volume *vol = new_volume("tv", 1 << 20);
    struct volume *other = new_volume("tv-other", 1 << 20);
    struct instance *srv = new_instance("tv-srv", NULL);
    struct volume *got = NULL;
    struct volume **list = NULL;
    struct volume_filter f;
    CLEANUP_FREE char *want = NULL;
    size_t n = 0;

    util_uuid_new(project);
    free(vol->status);
    vol->status = tc_strdup("creating");
    vol->project_id = tc_strdup(project);
    ok(catalog_volume_insert(cat, vol, &err) == 0 &&
           catalog_volume_insert(cat, other, &err) == 0 &&
           catalog_instance_insert(cat, srv, &err) == 0 && no_err(&err),
       "insert a volume being made, another, a server");
    ok(catalog_volume_transition(cat, vol->id, "creating", "available",
                                 &err) == 0 &&
           no_err(&err),
       "creating -> available");
    ok(catalog_volume_transition(cat, vol->id, "creating", "error",
                                 &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "volume tv is available, not creating"),
       "a second move from creating is refused");
    ok(catalog_volume_transition(cat, vol->id, NULL, "in-use", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "in-use is refused for a detached volume");
    catalog_volume_attach(cat, vol->id, srv->id, NULL, NULL);
    want = util_strdup_printf("volume tv is attached to server %s", srv->id);
    ok(catalog_volume_transition(cat, vol->id, "in-use", "deleting",
                                 &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "an attached volume stays in-use");
    ok(catalog_volume_get(cat, vol->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->project_id, project),
       "the project reads back");
    volume_free(got);

    memset(&f, 0, sizeof(f));
    f.project_id = project;
    ok(catalog_volume_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, vol->id),
       "list by project");
    volume_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.status = "available";
    ok(catalog_volume_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, other->id),
       "list by status");
    volume_list_free(list, n);
    f.status = "melting";
    ok(catalog_volume_list_by(cat, &f, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an unknown status filter is refused");
    memset(&f, 0, sizeof(f));
    f.instance_id = srv->id;
    f.project_id = project;
    ok(catalog_volume_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && list[0]->device_index == 1,
       "list attached ones of a project");
    volume_list_free(list, n);

    catalog_volume_detach(cat, vol->id, srv->id, NULL);
    catalog_volume_delete(cat, vol->id, NULL);
    catalog_volume_delete(cat, other->id, NULL);
    catalog_instance_delete(cat, srv->id, NULL);
    volume_free(vol);
    volume_free(other);
    instance_free(srv);
}

static void
test_snapshot_writes(struct catalog *cat)
{
    char project[UTIL_UUID_LEN], volume[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct volume_snapshot *s, *t, *got = NULL;
    struct volume_snapshot **list = NULL;
    struct volume_snapshot_filter f;
    struct volume_snapshot_data d = { .size = 1 << 21 };
    struct catalog_match m = { "instance_snapshot_id", "isnap" };
    CLEANUP_FREE char *file = NULL, *location = NULL;
    size_t n = 0;

    util_uuid_new(project);
    util_uuid_new(volume);
    s = new_snapshot("sw", volume);
    t = new_snapshot("sw-2", NO_SUCH_ID);
    free(s->status);
    s->status = tc_strdup("creating");
    s->project_id = tc_strdup(project);
    s->file = util_strdup_printf("/d/volume-snapshots/%s.qcow2", s->id);
    volume_snapshot_meta_set(s, "instance_snapshot_id", "isnap", NULL);
    ok(catalog_volume_snapshot_insert(cat, s, &err) == 0 &&
           catalog_volume_snapshot_insert(cat, t, &err) == 0 && no_err(&err),
       "insert a snapshot being made and another");
    location = util_strdup_printf("file:volume-snapshots/%s.qcow2", s->id);
    ok(catalog_volume_snapshot_get(cat, s->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->location, location) &&
           streq(got->project_id, project),
       "its location comes from its file, its project reads back");
    volume_snapshot_free(got);
    got = NULL;

    ok(catalog_volume_snapshot_transition(cat, s->id, "creating",
                                          "available", &err) == 0 &&
           no_err(&err),
       "creating -> available");
    ok(catalog_volume_snapshot_transition(cat, s->id, "creating", "error",
                                          &err) == -1 &&
           err_is(&err, ERR_CONFLICT,
                  "volume snapshot sw is available, not creating"),
       "a second move from creating is refused");
    file = util_strdup_printf("/elsewhere/%s.qcow2", s->id);
    d.file = file;
    ok(catalog_volume_snapshot_set_data(cat, s->id, &d, &err) == 0 &&
           no_err(&err) &&
           catalog_volume_snapshot_get(cat, s->id, &got, &err) == 0 &&
           got->size == 1 << 21 && streq(got->file, file) &&
           got->location == NULL && streq(got->status, "available") &&
           streq(volume_snapshot_meta(got, "instance_snapshot_id"), "isnap"),
       "set its data: nothing else changes");
    volume_snapshot_free(got);
    got = NULL;
    d.size = -1;
    ok(catalog_volume_snapshot_set_data(cat, s->id, &d, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a negative size is refused");
    d.size = 1;
    ok(catalog_volume_snapshot_set_data(cat, NO_SUCH_ID, &d, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a missing snapshot is not found");
    ok(catalog_volume_snapshot_set_data(cat, s->id, NULL, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "data facts must be given");
    {
        const struct prop set[2] = {
            {(char *)"vmsnap_backup_store", (char *)"file"},
            {(char *)"vmsnap_backup_index", (char *)"x.1"},
        };
        const struct prop again = {(char *)"vmsnap_backup_store",
                                   (char *)"chunks"};

        ok(catalog_volume_snapshot_set_meta(cat, s->id, set, 2, &err) == 0 &&
               catalog_volume_snapshot_set_meta(cat, s->id, &again, 1,
                                                &err) == 0 &&
               no_err(&err) &&
               catalog_volume_snapshot_get(cat, s->id, &got, &err) == 0 &&
               streq(volume_snapshot_meta(got, "vmsnap_backup_store"),
                     "chunks") &&
               streq(volume_snapshot_meta(got, "vmsnap_backup_index"),
                     "x.1") &&
               streq(volume_snapshot_meta(got, "instance_snapshot_id"),
                     "isnap") &&
               got->size == 1 << 21,
           "set metadata: items added, one replaced, the rest kept");
        volume_snapshot_free(got);
        got = NULL;
        ok(catalog_volume_snapshot_set_meta(cat, NO_SUCH_ID, set, 2,
                                            &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "metadata of a missing snapshot: not found");
    }

    memset(&f, 0, sizeof(f));
    f.project_id = project;
    ok(catalog_volume_snapshot_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, s->id),
       "list by project");
    volume_snapshot_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.volume_id = NO_SUCH_ID;
    ok(catalog_volume_snapshot_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, t->id),
       "list by volume");
    volume_snapshot_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.status = "available";
    f.match = &m;
    f.nmatch = 1;
    ok(catalog_volume_snapshot_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, s->id),
       "list by status and metadata");
    volume_snapshot_list_free(list, n);

    catalog_volume_snapshot_delete(cat, s->id, NULL);
    catalog_volume_snapshot_delete(cat, t->id, NULL);
    volume_snapshot_free(s);
    volume_snapshot_free(t);
}

int
main(void)
{
    struct catalog *cat;

    tc_setup("cat-volumes");
    cat = tc_open();
    test_volumes(cat);
    test_volume_attach(cat);
    test_volume_snapshots(cat);
    test_volume_transition(cat);
    test_snapshot_writes(cat);
    catalog_close(cat);
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
