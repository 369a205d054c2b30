/* Unit tests of the catalog's instances and their actions. */
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

/* ---- Instances -------------------------------------------------------- */

static void
test_instances(struct catalog *cat)
{
    struct error *err = NULL;
    struct instance *a = new_instance("srv-a", NULL);
    struct instance *b = new_instance("srv-b", NULL);
    struct instance *dup = new_instance("srv-a", NULL);
    struct instance *got = NULL;
    struct instance **list = NULL;
    size_t n = 0;

    instance_meta_set(a, "vm_state", "active", NULL);
    ok(catalog_instance_insert(cat, a, &err) == 0 &&
           catalog_instance_insert(cat, b, &err) == 0 && no_err(&err),
       "insert instances");
    ok(catalog_instance_insert(cat, dup, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "server name 'srv-a' already exists"),
       "instance names are unique");
    ok(catalog_instance_get(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "srv-a") && got->memory_mb == 512 &&
           got->cpus == 1 && got->image_id == NULL &&
           got->task_state == NULL &&
           streq(instance_meta(got, "vm_state"), "active") &&
           util_is_iso8601(got->created_at),
       "get instance");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_find(cat, "srv-b", &got, &err) == 0 &&
           no_err(&err) && streq(got->id, b->id),
       "find instance by name");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_find(cat, b->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->id, b->id),
       "find instance by ID");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_find(cat, "srv-x", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no server named or with ID 'srv-x'"),
       "find of an unknown instance");
    ok(catalog_instance_get(cat, "srv-a", &got, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no server with ID 'srv-a'"),
       "get with a name is not found");

    ok(catalog_instance_list(cat, &list, &n, &err) == 0 && no_err(&err) &&
           n == 2 && streq(list[0]->id, b->id) &&
           streq(list[1]->id, a->id),
       "list instances newest first");
    instance_list_free(list, n);

    /* Task compare-and-set. */
    ok(catalog_instance_set_task(cat, a->id, NULL, "image_snapshot",
                                 &err) == 0 &&
           no_err(&err),
       "start a task on an idle instance");
    ok(catalog_instance_set_task(cat, a->id, NULL, "image_backup", &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT,
                  "server srv-a is busy: image_snapshot"),
       "a second task is refused");
    ok(catalog_instance_set_task(cat, a->id, "image_backup", NULL, &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "clearing with the wrong expectation is refused");

    /* The targeted writes must not change the task. */
    {
        struct prop kv = { (char *)"k", (char *)"v" };

        ok(catalog_instance_set_shape(cat, a->id, "srv-a2", 3, 1024,
                                      &err) == 0 &&
               catalog_instance_set_meta(cat, a->id, &kv, 1, NULL, 0,
                                         &err) == 0 &&
               no_err(&err),
           "set the shape and the metadata of an instance");
    }
    ok(catalog_instance_get(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           streq(got->name, "srv-a2") && got->memory_mb == 1024 &&
           got->cpus == 3 && streq(got->task_state, "image_snapshot") &&
           streq(instance_meta(got, "k"), "v"),
       "they changed fields and metadata, kept the task");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_set_shape(cat, a->id, "srv-a2", 0, 1024, &err) ==
               -1 &&
           err_is(&err, ERR_INVALID, "server srv-a2 needs memory and CPUs"),
       "a shape without CPUs is refused");
    ok(catalog_instance_set_shape(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                  "x", 1, 1, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "the shape of a missing instance is not found");
    ok(catalog_instance_get(cat, a->id, &got, &err) == 0 && no_err(&err) &&
           got->cpus == 3,
       "and they changed nothing");
    instance_free(got);
    got = NULL;

    ok(catalog_instance_set_task(cat, a->id, "image_snapshot", NULL, &err) ==
               0 &&
           no_err(&err),
       "finish the task");
    ok(catalog_instance_set_task(cat, a->id, "image_snapshot", NULL, &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT,
                  "server srv-a2 is not busy with image_snapshot"),
       "finishing twice is refused");
    ok(catalog_instance_set_task(cat, "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
                                 NULL, "x", &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "task on a missing instance is not found");

    ok(catalog_instance_set_shape(cat, b->id, "srv-a2", b->cpus,
                                  b->memory_mb, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, "server name 'srv-a2' already exists"),
       "rename onto a taken name is refused");

    ok(catalog_instance_delete(cat, a->id, &err) == 0 &&
           catalog_instance_delete(cat, b->id, &err) == 0 && no_err(&err),
       "delete instances");
    ok(catalog_instance_delete(cat, a->id, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "second delete is not found");
    ok(raw_int(db_path, "SELECT count(*) FROM instance_metadata") == 0,
       "their metadata is gone");
    instance_free(a);
    instance_free(b);
    instance_free(dup);
}


/* ---- Targeted metadata writes ----------------------------------------- */

static void
test_instance_meta(struct catalog *cat)
{
    static const char *const drop[] = { "drop" };
    static const char *const missing[] = { "missing" };
    struct error *err = NULL;
    struct instance *inst = new_instance("meta", NULL);
    struct instance *got = NULL;
    struct prop set[2] = { { (char *)"vm_state", (char *)"stopped" },
                           { (char *)"new", (char *)"1" } };
    CLEANUP_FREE char *before = NULL, *want = NULL;

    instance_meta_set(inst, "vm_state", "active", NULL);
    instance_meta_set(inst, "drop", "x", NULL);
    ok(catalog_instance_insert(cat, inst, &err) == 0 &&
           catalog_instance_set_task(cat, inst->id, NULL, "image_snapshot",
                                     &err) == 0 &&
           no_err(&err),
       "insert a busy instance with metadata");
    catalog_instance_get(cat, inst->id, &got, NULL);
    before = got ? tc_strdup(got->updated_at) : NULL;
    instance_free(got);
    got = NULL;

    ok(catalog_instance_set_meta(cat, inst->id, set, 2, drop, 1, &err) ==
               0 &&
           no_err(&err),
       "set two items and remove one");
    ok(catalog_instance_get(cat, inst->id, &got, &err) == 0 &&
           no_err(&err) && got->nmeta == 2 &&
           streq(instance_meta(got, "vm_state"), "stopped") &&
           streq(instance_meta(got, "new"), "1") &&
           instance_meta(got, "drop") == NULL &&
           streq(got->task_state, "image_snapshot") &&
           strcmp(got->updated_at, before) > 0,
       "the metadata changed, the task did not");
    instance_free(got);
    got = NULL;

    want = util_strdup_printf("server %s has no metadata item 'missing'",
                              inst->id);
    ok(catalog_instance_set_meta(cat, inst->id, set, 1, missing, 1, &err) ==
               -1 &&
           err_is(&err, ERR_NOT_FOUND, want),
       "removing a missing item fails");
    set[0].value = (char *)"paused";
    ok(catalog_instance_set_meta(cat, inst->id, set, 1, missing, 1, &err) ==
               -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL) &&
           catalog_instance_get(cat, inst->id, &got, &err) == 0 &&
           streq(instance_meta(got, "vm_state"), "stopped"),
       "and nothing of it is kept");
    instance_free(got);
    got = NULL;
    ok(catalog_instance_set_meta(cat, inst->id, set, 1,
                                 (const char *const[]){ "vm_state" }, 1,
                                 &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an item both set and removed is refused");
    set[0].value = (char *)"a\x1b";
    ok(catalog_instance_set_meta(cat, inst->id, set, 1, NULL, 0, &err) ==
               -1 &&
           err_is(&err, ERR_INVALID,
                  "server metadata item 'vm_state' contains a control "
                  "character"),
       "a value with an escape is refused");
    ok(catalog_instance_set_meta(cat, NO_SUCH_ID, NULL, 0, NULL, 0, &err) ==
               -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a missing server is not found");
    catalog_instance_delete(cat, inst->id, NULL);
    instance_free(inst);
}

/* ---- Tenancy ---------------------------------------------------------- */

static void
test_instance_tenancy(struct catalog *cat)
{
    char project[UTIL_UUID_LEN], user[UTIL_UUID_LEN], image[UTIL_UUID_LEN];
    struct error *err = NULL;
    struct instance *here = new_instance("here", NULL);
    struct instance *there = new_instance("there", NULL);
    struct instance *got = NULL;
    struct instance **list = NULL;
    struct instance_filter f;
    size_t n = 0;

    util_uuid_new(project);
    util_uuid_new(user);
    util_uuid_new(image);
    here->project_id = tc_strdup(project);
    here->user_id = tc_strdup(user);
    there->host = tc_strdup("host-2");
    there->image_id = tc_strdup(image);
    ok(catalog_instance_insert(cat, here, &err) == 0 &&
           catalog_instance_insert(cat, there, &err) == 0 && no_err(&err),
       "insert instances of a project and of another host");
    ok(catalog_instance_get(cat, here->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->project_id, project) &&
           streq(got->user_id, user) && got->host == NULL,
       "project, user and host read back");
    if (got != NULL) {
        ok(catalog_instance_set_shape(cat, here->id, "here2", got->cpus,
                                      got->memory_mb, &err) == 0 &&
               no_err(&err),
           "a new shape");
    }
    instance_free(got);
    got = NULL;
    ok(catalog_instance_get(cat, here->id, &got, &err) == 0 &&
           no_err(&err) && streq(got->name, "here2") &&
           streq(got->project_id, project),
       "keeps the project");
    instance_free(got);

    memset(&f, 0, sizeof(f));
    f.project_id = project;
    ok(catalog_instance_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, here->id),
       "list by project");
    instance_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.host = "host-2";
    ok(catalog_instance_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, there->id),
       "list by host");
    instance_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.local = true;
    ok(catalog_instance_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, here->id),
       "list those of this host");
    instance_list_free(list, n);
    memset(&f, 0, sizeof(f));
    f.image_id = image;
    ok(catalog_instance_list_by(cat, &f, &list, &n, &err) == 0 &&
           no_err(&err) && n == 1 && streq(list[0]->id, there->id),
       "list by image");
    instance_list_free(list, n);

    {
        struct instance *bad = new_instance("bad", NULL);

        bad->project_id = tc_strdup("demo");
        ok(catalog_instance_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID, "project ID 'demo' is not a UUID"),
           "a project is named by its ID");
        free(bad->project_id);
        bad->project_id = NULL;
        free(bad->name);
        bad->name = tc_strdup("web\r\n1");
        ok(catalog_instance_insert(cat, bad, &err) == -1 &&
               err_is(&err, ERR_INVALID,
                      "server name contains a control character"),
           "a server name with a line break is refused");
        instance_free(bad);
    }
    catalog_instance_delete(cat, here->id, NULL);
    catalog_instance_delete(cat, there->id, NULL);
    instance_free(here);
    instance_free(there);
}

/* ---- Actions ---------------------------------------------------------- */

static void
test_instance_actions(struct catalog *cat)
{
    struct error *err = NULL;
    struct instance *inst = new_instance("acting", NULL);
    struct instance_action a = { .action = (char *)"create" };
    struct instance_action **list = NULL;
    char project[UTIL_UUID_LEN];
    size_t n = 0;

    util_uuid_new(project);
    ok(catalog_instance_insert(cat, inst, &err) == 0 && no_err(&err),
       "insert an instance to act on");
    a.instance_id = inst->id;
    a.request_id = (char *)"req-1";
    a.project_id = project;
    a.start_time = (char *)"2026-05-01T00:00:00.000000Z";
    ok(catalog_instance_action_start(cat, &a, &err) == 0 && no_err(&err),
       "start an action");
    a.request_id = (char *)"req-2";
    a.action = (char *)"createImage";
    a.start_time = NULL;
    ok(catalog_instance_action_start(cat, &a, &err) == 0 && no_err(&err),
       "start another");
    ok(catalog_instance_action_start(cat, &a, &err) == -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "the same request twice is refused");
    ok(catalog_instance_action_finish(cat, inst->id, "req-2",
                                      "Error: no space", &err) == 0 &&
           no_err(&err),
       "finish it with a message");
    ok(catalog_instance_action_finish(cat, inst->id, "req-2", NULL, &err) ==
               -1 &&
           err_is(&err, ERR_CONFLICT, NULL),
       "finishing twice is refused");
    ok(catalog_instance_action_finish(cat, inst->id, "req-9", NULL, &err) ==
               -1 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "finishing an unknown request is not found");
    ok(catalog_instance_action_list(cat, inst->id, &list, &n, &err) == 0 &&
           no_err(&err) && n == 2 && streq(list[0]->request_id, "req-2") &&
           streq(list[0]->action, "createImage") &&
           streq(list[0]->message, "Error: no space") &&
           util_is_iso8601(list[0]->finish_time) &&
           streq(list[1]->request_id, "req-1") &&
           list[1]->finish_time == NULL &&
           streq(list[1]->project_id, project) &&
           streq(list[1]->instance_id, inst->id),
       "list them, newest first");
    instance_action_list_free(list, n);
    a.instance_id = (char *)NO_SUCH_ID;
    ok(catalog_instance_action_start(cat, &a, &err) == -1 &&
           err_is(&err, ERR_NOT_FOUND, "no server with ID '" NO_SUCH_ID "'"),
       "an action on a missing server is not found");
    a.instance_id = inst->id;
    a.action = (char *)"";
    ok(catalog_instance_action_start(cat, &a, &err) == -1 &&
           err_is(&err, ERR_INVALID, NULL),
       "an action needs a name");
    ok(catalog_instance_delete(cat, inst->id, &err) == 0 && no_err(&err) &&
           catalog_instance_action_list(cat, inst->id, &list, &n, &err) ==
               0 &&
           no_err(&err) && n == 0,
       "the actions go with their instance");
    instance_action_list_free(list, n);
    instance_free(inst);
}

int
main(void)
{
    struct catalog *cat;

    tc_setup("cat-servers");
    cat = tc_open();
    test_instances(cat);
    test_instance_meta(cat);
    test_instance_tenancy(cat);
    test_instance_actions(cat);
    catalog_close(cat);
    remove_tmpdir();
    free(db_path);
    return tap_done();
}
