/* Unit tests of the catalog's images: records, lookups, lists, users,
 * targeted writes, tags, volume snapshots and locations.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bdm.h"
#include "catalog.h"
#include "cleanup.h"
#include "error.h"
#include "tap.h"
#include "test-catalog.h"
#include "util.h"

/* ---- Images ----------------------------------------------------------- */

static void
test_image_basics(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("web", "active");
    struct image *got = NULL;
    char upper[UTIL_UUID_LEN];
    size_t i;

    img->size = 1048576;
    img->virtual_size = 10737418240LL;
    img->checksum = tc_strdup("0123456789abcdef0123456789abcdef");
    img->os_hash_algo = tc_strdup("sha512");
    img->os_hash_value = tc_strdup("abc");
    img->min_ram = 256;
    img->min_disk = 10;
    img->file = tc_strdup("/var/lib/vmsnap/images/x.qcow2");
    image_prop_set(img, "os_distro", "debian", NULL);
    image_prop_set(img, "hw_qemu_guest_agent", "yes", NULL);
    image_prop_set(img, "os_distro", "debian12", NULL);
    ok(img->nprops == 2 && streq(image_prop(img, "os_distro"), "debian12"),
       "in-memory property set replaces");

    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert image");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err),
       "get image by ID");
    if (got != NULL) {
        ok(streq(got->id, img->id) && streq(got->name, "web") &&
               streq(got->status, "active") &&
               streq(got->disk_format, "qcow2") &&
               streq(got->container_format, "bare") &&
               got->size == 1048576 && got->virtual_size == 10737418240LL &&
               streq(got->checksum, img->checksum) &&
               streq(got->os_hash_algo, "sha512") &&
               streq(got->os_hash_value, "abc") && got->min_ram == 256 &&
               got->min_disk == 10 && streq(got->file, img->file) &&
               got->fail_reason == NULL,
           "fields read back");
        ok(got->nprops == 2 &&
               streq(got->props[0].key, "hw_qemu_guest_agent") &&
               streq(got->props[1].key, "os_distro") &&
               streq(image_prop(got, "os_distro"), "debian12"),
           "properties read back, sorted by key");
        ok(util_is_iso8601(got->created_at) &&
               streq(got->created_at, got->updated_at),
           "created_at set, updated_at equal to it");
    }
    image_free(got);
    got = NULL;

    for (i = 0; i < UTIL_UUID_LEN; i++) {
        upper[i] = (img->id[i] >= 'a' && img->id[i] <= 'f')
                       ? (char)(img->id[i] - 'a' + 'A') : img->id[i];
    }
    ok(catalog_image_get(cat, upper, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, img->id),
       "get with an upper-case ID");
    image_free(got);
    got = NULL;

    ok(catalog_image_insert(cat, img, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "insert of a taken ID is a conflict");

    {
        struct image *bad = new_image("bad", "sleeping");

        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, "unknown image status 'sleeping'"),
           "insert with an unknown status is refused");
        free(bad->status);
        bad->status = tc_strdup("queued");
        snprintf(bad->id, sizeof(bad->id), "not-a-uuid");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with a bad ID is refused");
        util_uuid_new(bad->id);
        bad->props = calloc(2, sizeof(*bad->props));
        bad->nprops = 2;
        bad->props[0].key = tc_strdup("k");
        bad->props[0].value = tc_strdup("1");
        bad->props[1].key = tc_strdup("k");
        bad->props[1].value = tc_strdup("2");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with a duplicate property is refused");
        free(bad->props[1].key);
        bad->props[1].key = tc_strdup("");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with an empty property name is refused");
        ok(catalog_image_get(cat, bad->id, &got, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "nothing of a refused insert is left");
        image_free(bad);
    }

    ok(catalog_image_get(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &got,
                         &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no image with ID '1b4e28ba-2fa1-41d2-883f-0016d3cca427'"),
       "get of a missing ID is not found");
    ok(catalog_image_get(cat, "web", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "get with a name is not found");
    image_free(img);
}

static void
test_image_find(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *a = new_image("dup", "active");
    struct image *b = new_image("dup", "active");
    struct image *c = new_image("solo", "active");
    struct image *got = NULL;
    const char *msg;

    ok(catalog_image_insert(cat, a, &err) == 0 &&
           catalog_image_insert(cat, b, &err) == 0 &&
           catalog_image_insert(cat, c, &err) == 0 && no_err(&err),
       "insert images for find");
    ok(catalog_image_find(cat, c->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, c->id),
       "find by ID");
    image_free(got);
    got = NULL;
    ok(catalog_image_find(cat, "solo", &got, &err) == 0 && no_err(&err) &&
           streq(got->id, c->id),
       "find by unique name");
    image_free(got);
    got = NULL;

    ok(catalog_image_find(cat, "dup", &got, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_CONFLICT,
       "find of a shared name is a conflict");
    msg = err ? error_msg(err) : "";
    ok(strncmp(msg, "image name 'dup' is ambiguous: ", 31) == 0 &&
           strstr(msg, a->id) != NULL && strstr(msg, b->id) != NULL,
       "ambiguity lists both IDs: %s", msg);
    error_free(err);
    err = NULL;

    ok(catalog_image_find(cat, "nothing", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND,
                  "no image named or with ID 'nothing'"),
       "find of an unknown name is not found");
    ok(catalog_image_find(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427", &got,
                          &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "find of an unknown ID is not found");

    ok(catalog_image_set_status(cat, a->id, "deleted", NULL, &err) == 0 &&
           no_err(&err),
       "mark one 'dup' deleted");
    ok(catalog_image_find(cat, "dup", &got, &err) == 0 && no_err(&err) &&
           streq(got->id, b->id),
       "find by name skips deleted images");
    image_free(got);
    got = NULL;
    ok(catalog_image_find(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->status, "deleted"),
       "find by ID still sees a deleted image");
    image_free(got);
    got = NULL;

    /* An image may be named like another image's ID: the ID wins. */
    {
        struct image *tricky = new_image(c->id, "active");

        ok(catalog_image_insert(cat, tricky, &err) == 0 && no_err(&err) &&
               catalog_image_find(cat, c->id, &got, &err) == 0 &&
               no_err(&err) && streq(got->id, c->id),
           "a full ID matches before a name");
        image_free(got);
        got = NULL;
        catalog_image_delete(cat, tricky->id, NULL);
        image_free(tricky);
    }

    catalog_image_delete(cat, a->id, NULL);
    catalog_image_delete(cat, b->id, NULL);
    catalog_image_delete(cat, c->id, NULL);
    image_free(a);
    image_free(b);
    image_free(c);
}

static void
test_image_list(struct catalog *cat)
{
    static const char *const times[] = {
        "2026-01-01T00:00:00.000000Z", "2026-01-03T00:00:00.000000Z",
        "2026-01-02T00:00:00.000000Z", "2026-01-02T00:00:00.000000Z",
    };
    struct error *err = NULL;
    struct image *img[4];
    struct image **list = NULL;
    size_t n = 0, i;
    struct catalog_match m[2];
    struct image_filter f;

    for (i = 0; i < 4; i++) {
        img[i] = new_image(i < 2 ? "lst-a" : "lst-b",
                           i == 3 ? "queued" : "active");
        img[i]->created_at = tc_strdup(times[i]);
        image_prop_set(img[i], "image_type", i % 2 ? "snapshot" : "image",
                       NULL);
        image_prop_set(img[i], "owner", i < 3 ? "ann" : "bob", NULL);
        ok(catalog_image_insert(cat, img[i], &err) == 0 && no_err(&err),
           "insert list image %zu", i);
    }

    ok(catalog_image_list(cat, NULL, &list, &n, &err) == 0 && no_err(&err) &&
           n >= 4,
       "list everything");
    /* Newest first: 1 (Jan 3), then 3 and 2 (same time; 3 inserted
     * later), then 0.  Other tests' images may sit around them.
     */
    {
        size_t pos[4] = { 0 };
        size_t j;

        for (j = 0; j < n; j++) {
            for (i = 0; i < 4; i++) {
                if (streq(list[j]->id, img[i]->id)) {
                    pos[i] = j + 1;
                }
            }
        }
        ok(pos[1] && pos[3] && pos[2] && pos[0] && pos[1] < pos[3] &&
               pos[3] < pos[2] && pos[2] < pos[0],
           "list is newest first, later insert first on ties");
    }
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.name = "lst-a";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, img[1]->id) &&
           streq(list[1]->id, img[0]->id) && list[0]->nprops == 2,
       "filter by name");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.name = "lst-b";
    f.status = "queued";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[3]->id),
       "filter by name and status");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    m[0].key = "image_type";
    m[0].value = "snapshot";
    f.props = m;
    f.nprops = 1;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, img[1]->id) &&
           streq(list[1]->id, img[3]->id),
       "filter by one property");
    image_list_free(list, n);

    m[1].key = "owner";
    m[1].value = "ann";
    f.nprops = 2;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[1]->id),
       "filter by two properties");
    image_list_free(list, n);

    m[1].value = "nobody";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 0,
       "filter that matches nothing");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.name = "lst-a";
    f.exclude_deleted = true;
    catalog_image_set_status(cat, img[0]->id, "deleted", NULL, NULL);
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[1]->id),
       "filter hides deleted images");
    image_list_free(list, n);

    memset(&f, 0, sizeof(f));
    f.status = "bogus";
    list = NULL;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL) && list == NULL,
       "filter with an unknown status is refused");

    for (i = 0; i < 4; i++) {
        catalog_image_delete(cat, img[i]->id, NULL);
        image_free(img[i]);
    }
}

static void
test_image_changes(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("chg", "queued");
    struct image *got = NULL;
    CLEANUP_FREE char *created = NULL, *before = NULL;

    image_prop_set(img, "keep", "1", NULL);
    image_prop_set(img, "drop", "2", NULL);
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert image to change");
    catalog_image_get(cat, img->id, &got, NULL);
    created = got ? tc_strdup(got->created_at) : NULL;
    before = got ? tc_strdup(got->updated_at) : NULL;
    image_free(got);
    got = NULL;

    /* Properties one by one. */
    ok(catalog_image_set_property(cat, img->id, "new", "x", &err) == 0 &&
           catalog_image_set_property(cat, img->id, "keep", "one", &err) ==
               0 &&
           no_err(&err),
       "set a new and an existing property");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err) &&
           got->nprops == 3 && streq(image_prop(got, "new"), "x") &&
           streq(image_prop(got, "keep"), "one") &&
           strcmp(got->updated_at, before) > 0 &&
           streq(got->created_at, created),
       "properties set, updated_at bumped");
    image_free(got);
    got = NULL;
    ok(catalog_image_unset_property(cat, img->id, "new", &err) == 0 &&
           no_err(&err),
       "unset a property");
    ok(catalog_image_unset_property(cat, img->id, "new", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "unset of an absent property is not found");
    ok(catalog_image_set_property(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                  "k", "v", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "set property on a missing image is not found");
    ok(catalog_image_set_property(cat, img->id, "", "v", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "set of an empty property name is refused");

    /* Status with a reason. */
    ok(catalog_image_set_status(cat, img->id, "killed", "upload failed",
                                &err) == 0 &&
           no_err(&err),
       "set status killed with a reason");
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->status, "killed") &&
           streq(got->fail_reason, "upload failed"),
       "status and reason read back");
    image_free(got);
    got = NULL;
    ok(catalog_image_set_status(cat, img->id, "active", NULL, &err) == 0 &&
           catalog_image_get(cat, img->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->status, "active") &&
           got->fail_reason == NULL,
       "a NULL reason clears it");
    image_free(got);
    got = NULL;
    ok(catalog_image_set_status(cat, img->id, "dancing", NULL, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "unknown status refused");
    ok(catalog_image_set_status(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                "active", NULL, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "status of a missing image is not found");

    /* The targeted writes: the data facts, then one patch that renames
     * and replaces the property set.
     */
    {
        struct image_data d = { .size = 4096, .virtual_size = 8192 };
        struct image_patch p = IMAGE_PATCH_INIT;
        struct prop only = { (char *)"only", (char *)"this" };
        const char *unset[8];
        size_t i;

        got = tc_image(cat, img->id);
        for (i = 0; got != NULL && i < got->nprops && i < 8; i++) {
            unset[i] = got->props[i].key;
        }
        p.name = "chg2";
        p.set = &only;
        p.nset = 1;
        p.unset = unset;
        p.nunset = i;
        ok(got != NULL &&
               catalog_image_set_data(cat, img->id, &d, &err) == 0 &&
               catalog_image_patch(cat, img->id, &p, &err) == 0 &&
               no_err(&err),
           "set the data and patch the image");
        image_free(got);
        got = NULL;
    }
    ok(catalog_image_get(cat, img->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "chg2") && got->size == 4096 &&
           got->virtual_size == 8192 && got->nprops == 1 &&
           streq(image_prop(got, "only"), "this") &&
           streq(got->created_at, created),
       "they replaced fields and properties, kept created_at");
    image_free(got);
    got = NULL;

    ok(catalog_image_delete(cat, img->id, &err) == 0 && no_err(&err),
       "delete image");
    ok(catalog_image_get(cat, img->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "deleted image is gone");
    ok(raw_int(db_path, "SELECT count(*) FROM image_properties "
                        "WHERE key = 'only'") == 0,
       "its properties are gone");
    ok(catalog_image_delete(cat, img->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second delete is not found");
    {
        struct image_patch p = IMAGE_PATCH_INIT;

        p.name = "gone";
        ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, NULL),
           "a patch of a missing image is not found");
    }
    image_free(img);
}

static void
test_image_users(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *kernel = new_image("vmlinuz", "active");
    struct image *snap = new_image("snap2", "active");
    struct image *gone = new_image("old", "deleted");
    struct instance *web1 = NULL, *web2 = NULL;
    char *users = NULL;
    CLEANUP_FREE char *want = NULL;

    image_prop_set(snap, "kernel_id", kernel->id, NULL);
    image_prop_set(gone, "kernel_id", kernel->id, NULL);
    ok(catalog_image_insert(cat, kernel, &err) == 0 &&
           catalog_image_insert(cat, snap, &err) == 0 &&
           catalog_image_insert(cat, gone, &err) == 0 && no_err(&err),
       "insert kernel, an image using it, and a deleted one");

    ok(catalog_image_users(cat, kernel->id, &users, &err) == 1 &&
           no_err(&err),
       "kernel has one user");
    want = util_strdup_printf("image snap2 (%s) via kernel_id", snap->id);
    ok(streq(users, want), "users: %s", users ? users : "NULL");
    free(users);
    users = NULL;

    web1 = new_instance("web1", snap->id);
    web2 = new_instance("web2", kernel->id);
    ok(catalog_instance_insert(cat, web1, &err) == 0 &&
           catalog_instance_insert(cat, web2, &err) == 0 && no_err(&err),
       "insert instances booted from snap2 and from the kernel");
    ok(catalog_image_users(cat, kernel->id, &users, &err) == 3 &&
           no_err(&err),
       "kernel now has three users");
    ok(users != NULL &&
           strstr(users, "image snap2") != NULL &&
           strstr(users, "instance web2") != NULL &&
           strstr(users, "instance web1") != NULL &&
           strstr(users, "via image snap2") != NULL,
       "users: %s", users ? users : "NULL");
    free(users);
    users = NULL;
    ok(catalog_image_users(cat, snap->id, &users, &err) == 1 &&
           no_err(&err) && strstr(users, "instance web1") != NULL,
       "snap2 has its instance as user: %s", users ? users : "NULL");
    free(users);
    users = NULL;
    ok(catalog_image_users(cat, gone->id, &users, &err) == 0 &&
           no_err(&err) && streq(users, ""),
       "unused image has no users");
    free(users);
    users = NULL;
    ok(catalog_image_users(cat, "not-an-id", NULL, &err) == 0 &&
           no_err(&err),
       "unknown ID has no users");

    catalog_instance_delete(cat, web1->id, NULL);
    catalog_instance_delete(cat, web2->id, NULL);
    catalog_image_delete(cat, snap->id, NULL);
    catalog_image_delete(cat, gone->id, NULL);
    ok(catalog_image_users(cat, kernel->id, NULL, &err) == 0 &&
           no_err(&err),
       "no users once they are gone");
    catalog_image_delete(cat, kernel->id, NULL);
    instance_free(web1);
    instance_free(web2);
    image_free(kernel);
    image_free(snap);
    image_free(gone);
}

/* ---- Targeted writes -------------------------------------------------- */

static void
test_image_transition(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("tr", "queued");
    struct image *got = NULL;
    CLEANUP_FREE char *before = NULL, *want = NULL;

    image_prop_set(img, "keep", "1", NULL);
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert an image to move");
    got = tc_image(cat, img->id);
    before = got ? tc_strdup(got->updated_at) : NULL;
    image_free(got);

    ok(catalog_image_transition(cat, img->id, "queued", "saving", NULL,
                                &err) == 0 &&
           no_err(&err),
       "queued -> saving");
    ok(catalog_image_transition(cat, img->id, "queued", "active", NULL,
                                &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "image tr is saving, not queued"),
       "a second move from queued is refused");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->status, "saving") &&
           streq(image_prop(got, "keep"), "1") &&
           strcmp(got->updated_at, before) > 0,
       "status moved, properties kept, updated_at bumped");
    image_free(got);

    ok(catalog_image_transition(cat, img->id, "saving", "killed",
                                "copy failed", &err) == 0 &&
           no_err(&err),
       "saving -> killed with a reason");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->status, "killed") &&
           streq(got->fail_reason, "copy failed"),
       "the reason is kept");
    image_free(got);
    ok(catalog_image_transition(cat, img->id, NULL, "deleted", NULL,
                                &err) == 0 &&
           no_err(&err),
       "from any status, a NULL reason");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->status, "deleted") &&
           got->fail_reason == NULL,
       "the reason is cleared");
    image_free(got);
    ok(catalog_image_transition(cat, img->id, "queued", "flying", NULL,
                                &err) == -1 &&
           err_is(&err, ERR_INVALID, "unknown image status 'flying'"),
       "an unknown status is refused");
    ok(catalog_image_transition(cat, img->id, "floating", "active", NULL,
                                &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an unknown expected status too");
    want = util_strdup_printf("no image with ID '%s'", NO_SUCH_ID);
    ok(catalog_image_transition(cat, NO_SUCH_ID, "queued", "active", NULL,
                                &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, want),
       "a missing image is not found");
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
}

static void
test_image_set_data(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("data", "saving");
    struct image *got = NULL;
    struct image_data d = { .size = 4096, .virtual_size = 8192 };
    CLEANUP_FREE char *file = NULL, *location = NULL;

    image_prop_set(img, "keep", "1", NULL);
    img->min_ram = 64;
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert an image being made");
    file = util_strdup_printf("/data/images/%s.qcow2", img->id);
    location = util_strdup_printf("file:images/%s.qcow2", img->id);
    d.checksum = "0123456789abcdef0123456789abcdef";
    d.os_hash_algo = "sha512";
    d.os_hash_value = "abcd";
    d.file = file;
    ok(catalog_image_set_data(cat, img->id, &d, &err) == 0 && no_err(&err),
       "set the data facts");
    got = tc_image(cat, img->id);
    ok(got != NULL && got->size == 4096 && got->virtual_size == 8192 &&
           streq(got->checksum, d.checksum) &&
           streq(got->os_hash_algo, "sha512") &&
           streq(got->os_hash_value, "abcd") && streq(got->file, file) &&
           streq(got->location, location),
       "they read back, with a location derived from the file");
    ok(got != NULL && streq(got->status, "saving") && got->min_ram == 64 &&
           streq(got->name, "data") && streq(image_prop(got, "keep"), "1"),
       "nothing else changed");
    image_free(got);

    d.location = "s3:images/x.qcow2";
    d.file = NULL;
    d.size = -1;
    ok(catalog_image_set_data(cat, img->id, &d, &err) == 0 && no_err(&err),
       "a location of another store");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->location, "s3:images/x.qcow2") &&
           got->file == NULL && got->size == -1,
       "every field is written as given");
    image_free(got);
    d.location = "file:/etc/shadow";
    ok(catalog_image_set_data(cat, img->id, &d, &err) == -1 &&
           err_is(&err, ERR_INVALID, "bad location 'file:/etc/shadow'"),
       "an absolute location is refused");
    d.location = "file:images/../../x";
    ok(catalog_image_set_data(cat, img->id, &d, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a location that climbs is refused");
    d.location = NULL;
    d.size = -5;
    ok(catalog_image_set_data(cat, img->id, &d, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a negative size is refused");
    d.size = 1;
    ok(catalog_image_set_data(cat, NO_SUCH_ID, &d, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a missing image is not found");
    ok(catalog_image_set_data(cat, img->id, NULL, &err) == -1 &&
           err_is(&err, ERR_INVALID, "no image data given"),
       "data facts must be given");
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
}

static void
test_image_patch(struct catalog *cat)
{
    static const char *const drop[] = { "drop" };
    static const char *const missing[] = { "nothing" };
    static const char *const tags[] = { "b", "a", "b" };
    static const char *const made[] = { "active", "queued" };
    struct error *err = NULL;
    struct image *img = new_image("patch", "active");
    struct image *got = NULL;
    struct image_patch p = IMAGE_PATCH_INIT;
    struct prop set[2] = { { (char *)"new", (char *)"1" },
                           { (char *)"keep", (char *)"2" } };
    CLEANUP_FREE char *before = NULL;

    image_prop_set(img, "keep", "1", NULL);
    image_prop_set(img, "drop", "x", NULL);
    img->min_ram = 128;
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert an image to patch");
    got = tc_image(cat, img->id);
    before = got ? tc_strdup(got->updated_at) : NULL;
    image_free(got);

    ok(catalog_image_patch(cat, img->id, &p, &err) == 0 && no_err(&err),
       "an empty patch");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->name, "patch") && got->min_ram == 128 &&
           got->nprops == 2 && strcmp(got->updated_at, before) > 0,
       "changes nothing but updated_at");
    image_free(got);

    p.name = "patched";
    p.min_ram = 256;
    p.min_disk = 3;
    p.visibility = "private";
    p.protected = 1;
    p.set = set;
    p.nset = 2;
    p.unset = drop;
    p.nunset = 1;
    p.replace_tags = true;
    p.tags = tags;
    p.ntags = 3;
    ok(catalog_image_patch(cat, img->id, &p, &err) == 0 && no_err(&err),
       "a patch of everything");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->name, "patched") && got->min_ram == 256 &&
           got->min_disk == 3 && streq(got->visibility, "private") &&
           got->protected && got->nprops == 2 &&
           streq(image_prop(got, "new"), "1") &&
           streq(image_prop(got, "keep"), "2") &&
           image_prop(got, "drop") == NULL && got->ntags == 2 &&
           streq(got->tags[0], "a") && streq(got->tags[1], "b"),
       "everything changed");
    image_free(got);

    p = (struct image_patch)IMAGE_PATCH_INIT;
    p.name = "lost";
    p.unset = missing;
    p.nunset = 1;
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "removing a missing property fails");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->name, "patched"),
       "and nothing of that patch is kept");
    image_free(got);

    p = (struct image_patch)IMAGE_PATCH_INIT;
    p.set = set;
    p.nset = 1;
    p.unset = (const char *const[]){ "new" };
    p.nunset = 1;
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "image property 'new' is both set and removed"),
       "a key both set and removed is refused");

    p = (struct image_patch)IMAGE_PATCH_INIT;
    p.clear_name = true;
    p.protected = 0;
    p.expect = made;
    p.nexpect = 2;
    ok(catalog_image_patch(cat, img->id, &p, &err) == 0 && no_err(&err),
       "an image in an expected status is patched");
    got = tc_image(cat, img->id);
    ok(got != NULL && got->name == NULL && !got->protected,
       "the name is removed, protected cleared");
    image_free(got);
    catalog_image_transition(cat, img->id, NULL, "saving", NULL, NULL);
    p.visibility = "public";
    {
        CLEANUP_FREE char *want =
            util_strdup_printf("image %s is saving, not active or queued",
                               img->id);

        ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
               err_is(&err, ERR_CONFLICT, want),
           "an image not in an expected status is not: %s", want);
    }
    p = (struct image_patch)IMAGE_PATCH_INIT;
    p.visibility = "everyone";
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_INVALID, "unknown image visibility 'everyone'"),
       "an unknown visibility is refused");
    p = (struct image_patch)IMAGE_PATCH_INIT;
    p.name = "x";
    p.clear_name = true;
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "setting and clearing the name is refused");
    p = (struct image_patch)IMAGE_PATCH_INIT;
    ok(catalog_image_patch(cat, NO_SUCH_ID, &p, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a missing image is not found");
    ok(catalog_image_patch(cat, img->id, NULL, &err) == -1 &&
           err_is(&err, ERR_INVALID, "no image patch given"),
       "a patch must be given");
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
}

/* Set properties p0 ... p<N-1> on image ID with patches of one. */
static void
fill_props(struct catalog *cat, const char *id, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        char key[16];

        snprintf(key, sizeof(key), "p%d", i);
        catalog_image_set_property(cat, id, key, "v", NULL);
    }
}

static void
test_image_patch_limits(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("full", "active");
    struct image_patch p = IMAGE_PATCH_INIT;
    struct prop more = { (char *)"more", (char *)"v" };
    struct image *got = NULL;
    CLEANUP_FREE char *want = NULL;

    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert an image to fill");
    fill_props(cat, img->id, CATALOG_PROPS_MAX);
    p.name = "overfull";
    p.set = &more;
    p.nset = 1;
    want = util_strdup_printf("image %s would have %d properties, at most %d",
                              img->id, CATALOG_PROPS_MAX + 1,
                              CATALOG_PROPS_MAX);
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_INVALID, want),
       "a patch past the property limit is refused");
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->name, "full") &&
           got->nprops == CATALOG_PROPS_MAX,
       "and changes nothing");
    image_free(got);
    ok(catalog_image_set_property(cat, img->id, "more", "v", &err) == -1 &&
           err_is(&err, ERR_INVALID, want),
       "so is one more property");
    ok(catalog_image_set_property(cat, img->id, "p0", "w", &err) == 0 &&
           no_err(&err),
       "but replacing one is fine");
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
}

/* The lost update of issue 8, at the catalog level: a process that makes
 * an image reads it, another process edits it meanwhile, the first
 * activates it: the edit stays.
 */
static void
test_lost_update(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("big", "queued");
    struct image *got = NULL;
    struct catalog *user = catalog_open(db_path, &err);
    struct image_patch p = IMAGE_PATCH_INIT;
    struct prop foo = { (char *)"foo", (char *)"bar" };
    struct image_data d = { .size = 6, .virtual_size = 6 };

    image_prop_set(img, "keep", "1", NULL);
    ok(user != NULL && catalog_image_insert(cat, img, &err) == 0 &&
           catalog_image_transition(cat, img->id, "queued", "saving", NULL,
                                    &err) == 0 &&
           no_err(&err),
       "an image being saved, and a second connection");
    if (user == NULL) {
        image_free(img);
        return;
    }
    p.set = &foo;
    p.nset = 1;
    p.name = "renamed";
    ok(catalog_image_patch(user, img->id, &p, &err) == 0 && no_err(&err),
       "the other connection sets a property and renames it");
    ok(catalog_image_set_data(cat, img->id, &d, &err) == 0 &&
           catalog_image_transition(cat, img->id, "saving", "active", NULL,
                                    &err) == 0 &&
           no_err(&err),
       "the maker sets the data and activates it");
    got = tc_image(user, img->id);
    ok(got != NULL && streq(got->status, "active") && got->size == 6 &&
           streq(image_prop(got, "foo"), "bar") &&
           streq(image_prop(got, "keep"), "1") &&
           streq(got->name, "renamed"),
       "the property and the name set meanwhile are kept");
    image_free(got);
    catalog_close(user);
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
}

/* ---- Tags ------------------------------------------------------------- */

static void
test_image_tags(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("tagged", "active");
    struct image *other = new_image("other", "active");
    struct image *got = NULL;
    struct image **list = NULL;
    struct image_filter f;
    char **tags = NULL;
    size_t n = 0;
    const char *want[] = { "blue", "green" };
    int i, refused = 0;

    img->tags = calloc(1, sizeof(*img->tags));
    img->tags[0] = tc_strdup("green");
    img->ntags = 1;
    ok(catalog_image_insert(cat, img, &err) == 0 &&
           catalog_image_insert(cat, other, &err) == 0 && no_err(&err),
       "insert an image with a tag");
    ok(catalog_image_tag_add(cat, img->id, "blue", &err) == 0 &&
           catalog_image_tag_add(cat, img->id, "blue", &err) == 0 &&
           catalog_image_tag_add(cat, other->id, "blue", &err) == 0 &&
           no_err(&err),
       "add tags (twice is fine)");
    ok(catalog_image_tags(cat, img->id, &tags, &n, &err) == 0 &&
           no_err(&err) && n == 2 && streq(tags[0], "blue") &&
           streq(tags[1], "green"),
       "the tags, sorted");
    catalog_tags_free(tags, n);
    got = tc_image(cat, img->id);
    ok(got != NULL && got->ntags == 2 && image_has_tag(got, "green") &&
           image_has_tag(got, "blue") && !image_has_tag(got, "red"),
       "a read image carries them");
    image_free(got);

    memset(&f, 0, sizeof(f));
    f.tags = want;
    f.ntags = 2;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img->id),
       "list by two tags");
    image_list_free(list, n);
    f.ntags = 1;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2,
       "list by one tag");
    image_list_free(list, n);

    ok(catalog_image_tag_remove(cat, img->id, "green", &err) == 0 &&
           no_err(&err),
       "remove a tag");
    {
        CLEANUP_FREE char *msg =
            util_strdup_printf("image %s has no tag 'green'", img->id);

        ok(catalog_image_tag_remove(cat, img->id, "green", &err) == -1 &&
               err_is(&err, ERR_NOT_FOUND, msg),
           "removing it twice is not found");
    }
    ok(catalog_image_tag_add(cat, img->id, "", &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an empty tag is refused");
    ok(catalog_image_tag_add(cat, img->id, "a\nb", &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "image tag name contains a control character"),
       "a tag with a newline is refused");
    ok(catalog_image_tag_add(cat, img->id, "rtl\xe2\x80\xaeoverride",
                             &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "image tag name contains a control character") &&
           catalog_image_tag_add(cat, img->id, "iso\xe2\x81\xa6late",
                                 &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "a tag with a bidirectional override or isolate is refused");
    ok(catalog_image_tag_add(cat, img->id, "caf\xc3\xa9 \xe2\x80\x94 ok",
                             &err) == 0,
       "a tag with other non-ASCII text is accepted");
    catalog_image_tag_remove(cat, img->id, "caf\xc3\xa9 \xe2\x80\x94 ok",
                             NULL);
    ok(catalog_image_tag_add(cat, NO_SUCH_ID, "x", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL) &&
           catalog_image_tags(cat, NO_SUCH_ID, &tags, &n, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "tags of a missing image are not found");
    /* It has one tag: of CATALOG_TAGS_MAX more, the last is refused. */
    for (i = 0; i < CATALOG_TAGS_MAX; i++) {
        char tag[16];

        snprintf(tag, sizeof(tag), "t%d", i);
        if (catalog_image_tag_add(cat, other->id, tag, &err) < 0) {
            refused += err_is(&err, ERR_INVALID, NULL);
        }
    }
    ok(refused == 1, "at most %d tags", CATALOG_TAGS_MAX);
    ok(catalog_image_delete(cat, other->id, &err) == 0 && no_err(&err) &&
           raw_int(db_path, "SELECT count(*) FROM image_tags") == 1,
       "a deleted image's tags go with it");
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
    image_free(other);
}

/* ---- The volume snapshots of an image --------------------------------- */

/* An available snapshot named NAME of a volume, in the catalog. */
static struct volume_snapshot *
add_snapshot(struct catalog *cat, const char *name)
{
    char volume_id[UTIL_UUID_LEN];
    struct volume_snapshot *s;

    util_uuid_new(volume_id);
    s = new_snapshot(name, volume_id);
    if (catalog_volume_snapshot_insert(cat, s, NULL) < 0) {
        diag("insert snapshot %s failed", name);
    }
    return s;
}

/* Make E the entry for snapshot S in slot INDEX (NAME borrowed). */
static void
set_entry(struct bdm_entry *e, int index, const struct volume_snapshot *s,
          int64_t size, const char *name)
{
    memset(e, 0, sizeof(*e));
    e->device_index = index;
    snprintf(e->volume_id, sizeof(e->volume_id), "%s", s->volume_id);
    snprintf(e->snapshot_id, sizeof(e->snapshot_id), "%s", s->id);
    e->size = size;
    e->volume_name = (char *)name;
}

/* Copy the UUID ID into OUT in upper case. */
static void
upper_uuid(const char *id, char out[UTIL_UUID_LEN])
{
    size_t i;

    for (i = 0; i < UTIL_UUID_LEN; i++) {
        out[i] = (id[i] >= 'a' && id[i] <= 'f') ? (char)(id[i] - 'a' + 'A')
                                                : id[i];
    }
}

/* catalog_image_set_bdm on image ID refuses the N entries of E with
 * ERR_INVALID and message WANT (NULL: any).
 */
static bool
bdm_refused(struct catalog *cat, const char *id, const struct bdm_entry *e,
            size_t n, const char *want)
{
    struct error *err = NULL;

    return catalog_image_set_bdm(cat, id, e, n, &err) == -1 &&
           err_is(&err, ERR_INVALID, want);
}

static void
test_image_bdm(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("vm-snap", "active");
    struct image *got = NULL;
    struct volume_snapshot *s1 = add_snapshot(cat, "s1");
    struct volume_snapshot *s2 = add_snapshot(cat, "s2");
    struct bdm_entry e[BDM_MAX_ENTRIES + 1];
    CLEANUP_FREE char *want = NULL, *row = NULL;
    size_t i;

    img->bdm = calloc(1, sizeof(*img->bdm));
    if (img->bdm == NULL) {
        abort();
    }
    set_entry(img->bdm, 1, s1, 0, NULL);
    img->bdm[0].device_index = 0;
    img->nbdm = 1;
    ok(catalog_image_insert(cat, img, &err) == -1 &&
           err_is(&err, ERR_INVALID, "block_device_mapping entry 1: "
                  "device_index is not from 1 to 8") &&
           catalog_image_get(cat, img->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "insert checks the entries as bdm_check does");
    img->bdm[0].device_index = 1;
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert an image made of a volume snapshot");
    got = tc_image(cat, img->id);
    ok(got != NULL && got->nbdm == 1 &&
           streq(got->bdm[0].snapshot_id, s1->id) &&
           streq(got->bdm[0].volume_id, s1->volume_id) &&
           got->bdm[0].size == 0 && got->bdm[0].volume_name == NULL,
       "it reads back");
    image_free(got);

    set_entry(&e[0], 2, s2, 1 << 20, "logs");
    set_entry(&e[1], 1, s1, 0, NULL);
    upper_uuid(s2->id, e[0].snapshot_id);
    upper_uuid(s2->volume_id, e[0].volume_id);
    ok(catalog_image_set_bdm(cat, img->id, e, 2, &err) == 0 && no_err(&err),
       "set two volume snapshots, one named in upper case");
    got = tc_image(cat, img->id);
    ok(got != NULL && got->nbdm == 2 && got->bdm[0].device_index == 1 &&
           streq(got->bdm[0].snapshot_id, s1->id) &&
           streq(got->bdm[0].volume_id, s1->volume_id) &&
           got->bdm[0].size == 0 && got->bdm[0].volume_name == NULL &&
           got->bdm[1].device_index == 2 &&
           streq(got->bdm[1].snapshot_id, s2->id) &&
           streq(got->bdm[1].volume_id, s2->volume_id) &&
           got->bdm[1].size == 1 << 20 &&
           streq(got->bdm[1].volume_name, "logs") &&
           image_prop(got, "block_device_mapping") == NULL,
       "they read back by device index, in lower case; no property");
    image_free(got);
    want = util_strdup_printf("volume snapshot s2 is in use by image "
                              "vm-snap (%s)", img->id);
    ok(catalog_volume_snapshot_delete(cat, s2->id, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, want),
       "a mapped snapshot cannot be deleted");

    /* bdm_check's rules, word for word. */
    e[1].device_index = 2;
    ok(bdm_refused(cat, img->id, e, 2, "block_device_mapping entry 2: "
                   "device_index used twice"),
       "a device index twice is refused");
    e[1].device_index = 1;
    snprintf(e[1].snapshot_id, sizeof(e[1].snapshot_id), "%s", s2->id);
    ok(bdm_refused(cat, img->id, e, 2, "block_device_mapping entry 2: "
                   "snapshot_id named twice"),
       "a snapshot twice, whatever its case, is refused");
    snprintf(e[1].snapshot_id, sizeof(e[1].snapshot_id), "s1");
    ok(bdm_refused(cat, img->id, e, 2, "block_device_mapping entry 2: "
                   "snapshot_id is not a UUID"),
       "a snapshot that is not a UUID is refused");
    snprintf(e[1].snapshot_id, sizeof(e[1].snapshot_id), "%s", s1->id);
    e[1].volume_id[0] = '\0';
    ok(bdm_refused(cat, img->id, e, 2, "block_device_mapping entry 2: "
                   "volume_id is not a UUID"),
       "an entry without its volume is refused");
    snprintf(e[1].volume_id, sizeof(e[1].volume_id), "%s", s1->volume_id);
    e[1].volume_name = (char *)"\x1b]0;PWNED\x07";
    ok(bdm_refused(cat, img->id, e, 2, "block_device_mapping entry 2: "
                   "volume_name: holds the control character U+001B at "
                   "byte 0"),
       "a volume name with escapes is refused");
    e[1].volume_name = NULL;
    e[1].size = -1;
    ok(bdm_refused(cat, img->id, e, 2, "block_device_mapping entry 2: "
                   "size is negative"),
       "an unknown size (-1) is refused");
    e[1].size = 0;
    e[1].device_index = 0;
    ok(bdm_refused(cat, img->id, e, 2, NULL),
       "device index 0 (the root disk) is refused");
    e[1].device_index = BDM_MAX_DEVICE_INDEX + 1;
    ok(bdm_refused(cat, img->id, e, 2, NULL),
       "a device index beyond %d is refused", BDM_MAX_DEVICE_INDEX);
    e[1].device_index = 1;
    for (i = 0; i < BDM_MAX_ENTRIES + 1; i++) {
        char vol[UTIL_UUID_LEN], snap[UTIL_UUID_LEN];

        util_uuid_new(vol);
        util_uuid_new(snap);
        memset(&e[i], 0, sizeof(e[i]));
        e[i].device_index = (int)i + 1;
        snprintf(e[i].volume_id, sizeof(e[i].volume_id), "%s", vol);
        snprintf(e[i].snapshot_id, sizeof(e[i].snapshot_id), "%s", snap);
    }
    ok(bdm_refused(cat, img->id, e, BDM_MAX_ENTRIES + 1,
                   "block_device_mapping has 9 entries: at most 8"),
       "more than %d entries are refused", BDM_MAX_ENTRIES);
    ok(bdm_refused(cat, img->id, NULL, 1, NULL),
       "entries that are missing are refused");
    got = tc_image(cat, img->id);
    ok(got != NULL && got->nbdm == 2, "refused mappings changed nothing");
    image_free(got);
    ok(catalog_image_set_bdm(cat, NO_SUCH_ID, e, 0, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a missing image is not found");

    /* A row an earlier build wrote without volume and size. */
    row = util_strdup_printf("INSERT INTO image_volume_snapshots (image_id, "
                             "device_index, snapshot_id) VALUES ('%s', 3, "
                             "'%s')", img->id, NO_SUCH_ID);
    raw_int(db_path, row);
    got = tc_image(cat, img->id);
    ok(got != NULL && got->nbdm == 3 && got->bdm[2].device_index == 3 &&
           streq(got->bdm[2].snapshot_id, NO_SUCH_ID) &&
           got->bdm[2].volume_id[0] == '\0' && got->bdm[2].size == -1 &&
           got->bdm[2].volume_name == NULL,
       "an old row without volume and size reads as \"\" and -1");
    ok(got != NULL && bdm_check(got->bdm, got->nbdm, &err) == -1 &&
           err_is(&err, ERR_INVALID, "block_device_mapping entry 3: "
                  "volume_id is not a UUID"),
       "and bdm_check tells it apart");
    image_free(got);

    set_entry(&e[0], 2, s2, 1 << 20, NULL);
    ok(catalog_image_set_bdm(cat, img->id, e, 1, &err) == 0 &&
           no_err(&err) &&
           catalog_volume_snapshot_delete(cat, s1->id, &err) == 0 &&
           no_err(&err),
       "the snapshot the mapping no longer names can go");
    {
        struct image_patch p = IMAGE_PATCH_INIT;

        p.name = "still";
        ok(catalog_image_patch(cat, img->id, &p, &err) == 0 && no_err(&err),
           "a patch of the image");
    }
    got = tc_image(cat, img->id);
    ok(got != NULL && got->nbdm == 1 && got->bdm[0].device_index == 2 &&
           streq(got->name, "still"),
       "leaves the relation as it was");
    image_free(got);
    ok(catalog_image_delete(cat, img->id, &err) == 0 && no_err(&err) &&
           raw_int(db_path, "SELECT count(*) FROM image_volume_snapshots") ==
               0 &&
           catalog_volume_snapshot_delete(cat, s2->id, &err) == 0 &&
           no_err(&err),
       "a deleted image's mapping goes with it");
    volume_snapshot_free(s1);
    volume_snapshot_free(s2);
    image_free(img);
}

/* block_device_mapping is not a property anyone may write. */
static void
test_image_bdm_reserved(struct catalog *cat)
{
    static const char refusal[] = "block_device_mapping is kept by vmsnap: "
                                  "it names the volume snapshots of the "
                                  "image's set";
    static const char *const unset[] = { "block_device_mapping" };
    struct error *err = NULL;
    struct image *img = new_image("reserved", "active");
    struct image *got = NULL;
    struct volume_snapshot *s1 = add_snapshot(cat, "r1");
    struct volume_snapshot *s2 = add_snapshot(cat, "r2");
    struct image_patch p = IMAGE_PATCH_INIT;
    struct prop set[2] = { { (char *)"ok", (char *)"1" },
                           { (char *)"block_device_mapping", NULL } };
    struct bdm_entry e;
    CLEANUP_FREE char *json = NULL;

    /* A valid mapping that names s2, which the image is not made of. */
    set_entry(&e, 1, s2, 0, NULL);
    json = bdm_format(&e, 1, NULL);
    set[1].value = json;

    image_prop_set(img, "block_device_mapping", json, NULL);
    ok(catalog_image_insert(cat, img, &err) == -1 &&
           err_is(&err, ERR_INVALID, refusal) &&
           catalog_image_get(cat, img->id, &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "insert refuses the property");
    catalog_props_free(img->props, img->nprops);
    img->props = NULL;
    img->nprops = 0;
    img->bdm = calloc(1, sizeof(*img->bdm));
    if (img->bdm == NULL) {
        abort();
    }
    set_entry(img->bdm, 1, s1, 0, NULL);
    img->nbdm = 1;
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert the image with its mapping instead");

    ok(catalog_image_set_property(cat, img->id, "block_device_mapping", json,
                                  &err) == -1 &&
           err_is(&err, ERR_INVALID, refusal),
       "set_property refuses it");
    p.set = set;
    p.nset = 2;
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_INVALID, refusal),
       "a patch that sets it is refused whole");
    got = tc_image(cat, img->id);
    ok(got != NULL && got->nprops == 0 && got->nbdm == 1 &&
           streq(got->bdm[0].snapshot_id, s1->id),
       "nothing changed: no property, the mapping as inserted");
    image_free(got);
    ok(catalog_volume_snapshot_delete(cat, s2->id, &err) == 0 &&
           no_err(&err),
       "the snapshot the refused property named can go");
    p.set = NULL;
    p.nset = 0;
    p.unset = unset;
    p.nunset = 1;
    ok(catalog_image_patch(cat, img->id, &p, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL) &&
           catalog_image_unset_property(cat, img->id, "block_device_mapping",
                                        &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "removing it is allowed, but the image has none");
    ok(catalog_image_delete(cat, img->id, &err) == 0 && no_err(&err) &&
           catalog_volume_snapshot_delete(cat, s1->id, &err) == 0 &&
           no_err(&err),
       "clean up");
    volume_snapshot_free(s1);
    volume_snapshot_free(s2);
    image_free(img);
}

/* ---- Tenancy, locations and paging ------------------------------------ */

/* True if LIST (N images) holds exactly the images of WANT (M), in any
 * order.
 */
static bool
images_are(struct image **list, size_t n, struct image *const *want,
           size_t m)
{
    size_t i, j, found = 0;

    for (i = 0; i < m; i++) {
        for (j = 0; j < n; j++) {
            found += streq(list[j]->id, want[i]->id);
        }
    }
    if (found != m || n != m) {
        for (j = 0; j < n; j++) {
            diag("listed %s (%s)", list[j]->name, list[j]->id);
        }
    }
    image_list_free(list, n);
    return found == m && n == m;
}

static void
test_image_tenancy(struct catalog *cat)
{
    static const char *const vis[] = { "private", "shared", "community",
                                       "public" };
    char p1[UTIL_UUID_LEN], p2[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct image *img[5], *got = NULL;
    struct image **list = NULL;
    struct image_filter f;
    size_t n = 0, i;
    CLEANUP_FREE char *want = NULL;

    util_uuid_new(p1);
    util_uuid_new(p2);
    /* p1 owns one image of each visibility; p2 one private one. */
    for (i = 0; i < 5; i++) {
        img[i] = new_image(i < 4 ? vis[i] : "theirs", "active");
        img[i]->owner = tc_strdup(i < 4 ? p1 : p2);
        img[i]->visibility = tc_strdup(i < 4 ? vis[i] : "private");
        ok(catalog_image_insert(cat, img[i], &err) == 0 && no_err(&err),
           "insert %s image", img[i]->visibility);
    }
    got = tc_image(cat, img[1]->id);
    ok(got != NULL && streq(got->owner, p1) &&
           streq(got->visibility, "shared") && !got->protected,
       "owner and visibility read back");
    image_free(got);

    memset(&f, 0, sizeof(f));
    f.owner = p2;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           images_are(list, n, &img[4], 1),
       "list by owner");
    f.owner = NULL;
    f.visible_to = p2;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           images_are(list, n, (struct image *[]){ img[3], img[4] }, 2),
       "another project sees its own and the public ones");
    f.include_community = true;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           images_are(list, n,
                      (struct image *[]){ img[2], img[3], img[4] }, 3),
       "and the community ones when asked");
    f.visibility = "community";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           images_are(list, n, &img[2], 1),
       "or only those");
    memset(&f, 0, sizeof(f));
    f.visible_to = p1;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           images_are(list, n, img, 4),
       "the owner sees all of its own");
    f.visibility = "sideways";
    ok(catalog_image_list(cat, &f, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an unknown visibility filter is refused");

    {
        struct image *bad = new_image("bad", "active");

        bad->visibility = tc_strdup("sideways");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "insert with an unknown visibility is refused");
        free(bad->visibility);
        bad->visibility = NULL;
        bad->owner = tc_strdup("admin");
        ok(catalog_image_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, "project ID 'admin' is not a UUID"),
           "an owner is a project ID");
        image_free(bad);
    }

    /* protected */
    {
        struct image_patch p = IMAGE_PATCH_INIT;

        p.protected = 1;
        catalog_image_patch(cat, img[0]->id, &p, NULL);
        want = util_strdup_printf("image private is protected");
        ok(catalog_image_delete(cat, img[0]->id, &err) == -1 &&
               err_is(&err, ERR_CONFLICT, want),
           "a protected image cannot be deleted");
        p.protected = 0;
        ok(catalog_image_patch(cat, img[0]->id, &p, &err) == 0 &&
               catalog_image_delete(cat, img[0]->id, &err) == 0 &&
               no_err(&err),
           "once unprotected it can");
    }
    for (i = 0; i < 5; i++) {
        catalog_image_delete(cat, img[i]->id, NULL);
        image_free(img[i]);
    }
}

static void
test_image_locations(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img = new_image("loc", "active");
    struct image *got = NULL;
    CLEANUP_FREE char *want = NULL;

    img->file = util_strdup_printf("/var/lib/vmsnap/images/%s.raw", img->id);
    ok(catalog_image_insert(cat, img, &err) == 0 && no_err(&err),
       "insert an image with a file in the data directory");
    want = util_strdup_printf("file:images/%s.raw", img->id);
    got = tc_image(cat, img->id);
    ok(got != NULL && streq(got->location, want),
       "it gets a location: %s", got ? got->location : "?");
    image_free(got);
    {
        struct image_data d = { .size = -1, .virtual_size = -1 };

        d.file = "/var/lib/vmsnap/images/other.raw";
        ok(catalog_image_set_data(cat, img->id, &d, &err) == 0 &&
               no_err(&err),
           "set the data to a file named otherwise");
        got = tc_image(cat, img->id);
        ok(got != NULL && got->location == NULL, "has no location");
        image_free(got);
        d.file = NULL;
        d.location = "nonsense";
        ok(catalog_image_set_data(cat, img->id, &d, &err) == -1 &&
               err_is(&err, ERR_INVALID, "bad location 'nonsense'"),
           "a location without a scheme is refused");
    }
    catalog_image_delete(cat, img->id, NULL);
    image_free(img);
}

static void
test_image_paging(struct catalog *cat)
{
    struct error *err = NULL;
    struct image *img[5];
    struct image **list = NULL;
    struct image_filter f;
    size_t n = 0, i;

    for (i = 0; i < 5; i++) {
        img[i] = new_image("page", "active");
        img[i]->created_at = tc_strdup(i < 3
                                           ? "2026-04-01T00:00:00.000000Z"
                                           : "2026-04-02T00:00:00.000000Z");
        catalog_image_insert(cat, img[i], &err);
    }
    ok(no_err(&err), "insert five images, three at the same time");
    memset(&f, 0, sizeof(f));
    f.name = "page";
    f.limit = 2;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, img[4]->id) &&
           streq(list[1]->id, img[3]->id),
       "the first page");
    image_list_free(list, n);
    f.marker = img[3]->id;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, img[2]->id) &&
           streq(list[1]->id, img[1]->id),
       "the second page goes on after the marker");
    image_list_free(list, n);
    f.marker = img[1]->id;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == 0 && no_err(&err) &&
           n == 1 && streq(list[0]->id, img[0]->id),
       "the last page, across equal times");
    image_list_free(list, n);
    f.marker = NO_SUCH_ID;
    ok(catalog_image_list(cat, &f, &list, &n, &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "no image with ID '" NO_SUCH_ID "' to list after"),
       "an unknown marker is refused");
    for (i = 0; i < 5; i++) {
        catalog_image_delete(cat, img[i]->id, NULL);
        image_free(img[i]);
    }
}

/* ---- Text rules ------------------------------------------------------- */

static void
test_image_names(struct catalog *cat)
{
    static const struct {
        const char *name;    /* a name */
        const char *fault;   /* how it is refused, or NULL */
    } names[] = {
        { "plain", NULL },
        { "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80", NULL },
        { "new\nline", "control character" },
        { "\x1b[31mred", "control character" },
        { "del\x7f", "control character" },
        { "c1 \xc2\x85", "control character" },
        { "tab\there", "control character" },
        { "bad \xff", "not valid UTF-8" },
        { "overlong \xc0\xaf", "not valid UTF-8" },
        { "surrogate \xed\xa0\x80", "not valid UTF-8" },
        { "cut \xe2\x9c", "not valid UTF-8" },
        { "above \xf4\x90\x80\x80", "not valid UTF-8" },
    };
    struct error *err = NULL;
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct image *img = new_image(names[i].name, "active");
        int r = catalog_image_insert(cat, img, &err);

        if (names[i].fault == NULL) {
            ok(r == 0 && no_err(&err), "name %zu is accepted", i);
        } else {
            const char *msg = err ? error_msg(err) : "";

            ok(r == -1 && strstr(msg, names[i].fault) != NULL &&
                   strncmp(msg, "image name ", 11) == 0 &&
                   err_is(&err, ERR_INVALID, NULL),
               "name %zu is refused: %s", i, names[i].fault);
        }
        catalog_image_delete(cat, img->id, NULL);
        image_free(img);
    }
    ok(catalog_name_check("server", NULL, &err) == 0 &&
           catalog_value_check("v", "two\nlines\tand a tab", &err) == 0 &&
           no_err(&err),
       "no name passes; a value may hold newlines and tabs");
    ok(catalog_value_check("image property 'k'", "a\rb", &err) == -1 &&
           err_is(&err, ERR_INVALID,
                  "image property 'k' contains a control character"),
       "but not a carriage return");
    {
        struct image *img = new_image("props", "active");

        ok(catalog_image_insert(cat, img, &err) == 0 &&
               catalog_image_set_property(cat, img->id, "description",
                                          "line 1\nline 2", &err) == 0 &&
               no_err(&err),
           "a property value with a newline is kept");
        ok(catalog_image_set_property(cat, img->id, "k\n", "v", &err) ==
                   -1 &&
               err_is(&err, ERR_INVALID, NULL),
           "a property key with a newline is refused");
        ok(catalog_image_set_property(cat, img->id, "k", "\x1b]0;x\x07",
                                      &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "image property 'k' contains a control character"),
           "a property value with escapes is refused");
        ok(catalog_image_set_property(cat, img->id, "k", "\xfe", &err) ==
                   -1 &&
               err_is(&err, ERR_INVALID,
                      "image property 'k' is not valid UTF-8"),
           "a property value that is not UTF-8 is refused");
        catalog_image_delete(cat, img->id, NULL);
        image_free(img);
    }
}

int
main(void)
{
    struct catalog *cat;

    tc_setup("cat-images");
    cat = tc_open();
    test_image_basics(cat);
    test_image_find(cat);
    test_image_list(cat);
    test_image_changes(cat);
    test_image_users(cat);
    test_image_transition(cat);
    test_image_set_data(cat);
    test_image_patch(cat);
    test_image_patch_limits(cat);
    test_lost_update(cat);
    test_image_tags(cat);
    test_image_bdm(cat);
    test_image_bdm_reserved(cat);
    test_image_tenancy(cat);
    test_image_locations(cat);
    test_image_paging(cat);
    test_image_names(cat);
    catalog_close(cat);
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
