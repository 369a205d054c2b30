/* Unit tests of the block_device_mapping parser and formatter, and of
 * the property vocabulary.
 */
#include <stdlib.h>
#include <string.h>

#include "bdm.h"
#include "cleanup.h"
#include "error.h"
#include "props.h"
#include "tap.h"

#define U1 "0b1c2d3e-4f50-4162-8374-95a6b7c8d9e0"
#define U2 "11111111-2222-4333-8444-555555555555"
#define U3 "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
#define U4 "AAAAAAAA-BBBB-4CCC-8DDD-FFFFFFFFFFFF"

/* What snapshot.c wrote before this module (json-c, PLAIN). */
static const char legacy[] =
    "[{\"device_index\":2,\"volume_id\":\"" U1 "\",\"snapshot_id\":\"" U2
    "\",\"size\":1073741824,\"volume_name\":\"data\"},"
    "{\"device_index\":1,\"volume_id\":\"" U3 "\",\"snapshot_id\":\"" U4
    "\",\"size\":0}]";

static bool
refused(const char *text, const char *part)
{
    struct bdm_entry *e = (struct bdm_entry *)1;
    struct error *err = NULL;
    size_t n = 99;
    bool good;

    good = bdm_parse(text, &e, &n, &err) == -1 && err != NULL &&
           error_get_class(err) == ERR_INVALID &&
           strstr(error_msg(err), part) != NULL &&
           e == (struct bdm_entry *)1 && n == 99;
    if (!good) {
        diag("%s", err != NULL ? error_msg(err) : "accepted");
    }
    error_free(err);
    return good;
}

static void
test_parse(void)
{
    struct bdm_entry *e = NULL;
    struct error *err = NULL;
    CLEANUP_FREE char *text = NULL;
    size_t n = 0;

    ok(bdm_parse(legacy, &e, &n, &err) == 0 && n == 2,
       "what vmsnap wrote parses");
    ok(e[0].device_index == 1 && e[1].device_index == 2,
       "sorted by device index");
    ok(strcmp(e[0].snapshot_id, "aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff") == 0,
       "UUIDs in lower case");
    ok(e[0].volume_name == NULL && strcmp(e[1].volume_name, "data") == 0 &&
           e[1].size == 1073741824 && e[0].size == 0,
       "fields read");
    ok(bdm_find_snapshot(e, n, U4) == &e[0] &&
           bdm_find_snapshot(e, n, U2) == &e[1] &&
           bdm_find_snapshot(e, n, U1) == NULL &&
           bdm_find_snapshot(e, n, NULL) == NULL,
       "find by snapshot, either case");
    text = bdm_format(e, n, &err);
    ok(text != NULL &&
           strcmp(text,
                  "[{\"device_index\":1,\"volume_id\":\"" U3
                  "\",\"snapshot_id\":\"aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff"
                  "\",\"size\":0},{\"device_index\":2,\"volume_id\":\"" U1
                  "\",\"snapshot_id\":\"" U2 "\",\"size\":1073741824,"
                  "\"volume_name\":\"data\"}]") == 0,
       "formatted: %s", text ? text : "NULL");
    bdm_free(e, n);
    e = NULL;
    ok(bdm_parse(text, &e, &n, &err) == 0 && n == 2, "round trip");
    bdm_free(e, n);
    e = NULL;
    ok(bdm_parse(" [ ] \n", &e, &n, &err) == 0 && n == 0 && e == NULL,
       "an empty array is no volumes");
    ok(bdm_parse("[{\"device_index\":8,\"volume_id\":\"" U1 "\","
                 "\"snapshot_id\":\"" U2 "\",\"size\":1,\"boot_index\":0,"
                 "\"extra\":{\"a\":[1]}}]",
                 &e, &n, &err) == 0 && n == 1,
       "other members are ignored");
    bdm_free(e, n);
    bdm_free(NULL, 0);
    ok(err == NULL, "no error");
}

static void
test_refused(void)
{
    char big[BDM_MAX_TEXT + 16];

    ok(refused("", "not valid JSON"), "empty text");
    ok(refused("{}", "not a JSON array"), "an object");
    ok(refused("[1]", "entry 1: is not an object"), "a number entry");
    ok(refused("[{\"device_index\":1}] x", "not valid JSON"),
       "trailing garbage");
    ok(refused("[{\"device_index\":1,}]", "not valid JSON"),
       "non-strict JSON");
    ok(refused("[{\"volume_name\":\"\xff\"}]", "not valid JSON"),
       "invalid UTF-8");
    ok(refused("[{\"volume_id\":\"" U1 "\",\"snapshot_id\":\"" U2
               "\",\"size\":1}]",
               "device_index"),
       "no device_index");
    ok(refused("[{\"device_index\":0,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "\",\"size\":1}]",
               "device_index is not from 1 to 8"),
       "device_index 0");
    ok(refused("[{\"device_index\":9,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "\",\"size\":1}]",
               "device_index"),
       "device_index 9");
    ok(refused("[{\"device_index\":1.0,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "\",\"size\":1}]",
               "device_index"),
       "device_index not an integer");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"x\","
               "\"snapshot_id\":\"" U2 "\",\"size\":1}]",
               "volume_id is not a UUID"),
       "bad volume_id");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "x\",\"size\":1}]",
               "snapshot_id is not a UUID"),
       "bad snapshot_id");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "\",\"size\":-1}]",
               "size"),
       "negative size");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2
               "\",\"size\":9223372036854775808}]",
               "size"),
       "size beyond int64");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "\",\"size\":\"1\"}]",
               "size"),
       "size as a string");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2
               "\",\"size\":1,\"volume_name\":\"a\\u001b[2Jb\"}]",
               "volume_name: holds the control character U+001B"),
       "volume_name with an escape sequence (audit M1)");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2
               "\",\"size\":1,\"volume_name\":\"a\\nvmsnap: ok\"}]",
               "volume_name"),
       "volume_name with a newline");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2
               "\",\"size\":1,\"volume_name\":\"a\\u0000b\"}]",
               "volume_name is not a string"),
       "volume_name with a NUL");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2
               "\",\"size\":1,\"volume_name\":null}]",
               "volume_name is not a string"),
       "volume_name null");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U2 "\",\"size\":1},"
               "{\"device_index\":1,\"volume_id\":\"" U3
               "\",\"snapshot_id\":\"" U4 "\",\"size\":1}]",
               "entry 2: device_index used twice"),
       "device_index twice");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U1
               "\",\"snapshot_id\":\"" U3 "\",\"size\":1},"
               "{\"device_index\":2,\"volume_id\":\"" U2
               "\",\"snapshot_id\":\"" U3 "\",\"size\":1}]",
               "snapshot_id named twice"),
       "snapshot twice");
    ok(refused("[{\"device_index\":1,\"volume_id\":\"" U3
               "\",\"snapshot_id\":\"" U1 "\",\"size\":1},"
               "{\"device_index\":2,\"volume_id\":\"" U3
               "\",\"snapshot_id\":\"" U2 "\",\"size\":1}]",
               "volume_id named twice"),
       "volume twice");
    ok(refused("[1,2,3,4,5,6,7,8,9]", "9 entries: at most 8"),
       "nine entries");
    ok(refused("[[[[[[[[[[1]]]]]]]]]]", "not valid JSON"), "too deep");
    memset(big, ' ', sizeof(big));
    big[0] = '[';
    big[sizeof(big) - 2] = ']';
    big[sizeof(big) - 1] = '\0';
    ok(refused(big, "too long"), "longer than BDM_MAX_TEXT");
    ok(refused(NULL, "missing"), "NULL");
}

static void
test_format(void)
{
    struct bdm_entry e[BDM_MAX_ENTRIES + 1];
    struct error *err = NULL;
    CLEANUP_FREE char *text = NULL;
    size_t i;

    memset(e, 0, sizeof(e));
    for (i = 0; i < BDM_MAX_ENTRIES + 1; i++) {
        e[i].device_index = (int)(BDM_MAX_ENTRIES - i);
        snprintf(e[i].volume_id, sizeof(e[i].volume_id),
                 "00000000-0000-4000-8000-%012zu", i);
        snprintf(e[i].snapshot_id, sizeof(e[i].snapshot_id),
                 "00000000-0000-4000-9000-%012zu", i);
        e[i].size = (int64_t)i * 512;
    }
    e[0].volume_name = (char *)"vol \"one\" / \xc3\xa9";
    text = bdm_format(e, BDM_MAX_ENTRIES, &err);
    ok(text != NULL && strncmp(text, "[{\"device_index\":1,", 19) == 0 &&
           strstr(text, "\"volume_name\":\"vol \\\"one\\\" / \xc3\xa9\"") !=
               NULL,
       "eight entries formatted in device order");
    ok(bdm_format(e, BDM_MAX_ENTRIES + 1, &err) == NULL && err != NULL,
       "nine refused");
    error_free(err);
    err = NULL;
    e[1].volume_name = (char *)"bad\rname";
    ok(bdm_format(e, 2, &err) == NULL && err != NULL &&
           strstr(error_msg(err), "volume_name") != NULL,
       "what bdm_parse refuses is not written");
    error_free(err);
}

static void
test_props(void)
{
    static const char *const not_inherited[] = {
        PROP_INSTANCE_UUID, PROP_BASE_IMAGE_REF, PROP_IMAGE_TYPE,
        PROP_BACKUP_TYPE, PROP_IMAGE_LOCATION, PROP_BDM, PROP_IMG_SIGNATURE,
        PROP_CINDER_ENCRYPTION_KEY_ID, PROP_VMSNAP_QUIESCED,
        PROP_VMSNAP_CPUS, "vmsnap_anything", "os_glance_import_method",
    };
    static const char *const inherited[] = {
        PROP_KERNEL_ID, PROP_RAMDISK_ID, PROP_OS_COMMAND_LINE,
        PROP_HW_QEMU_GUEST_AGENT, PROP_OS_REQUIRE_QUIESCE, PROP_OS_TYPE,
        PROP_ARCHITECTURE, "hw_disk_bus", "owner_specified.x", "vmsnap",
    };
    bool good = true;
    size_t i;

    for (i = 0; i < sizeof(not_inherited) / sizeof(not_inherited[0]); i++) {
        if (props_inherited_by_snapshot(not_inherited[i])) {
            diag("%s inherited", not_inherited[i]);
            good = false;
        }
    }
    for (i = 0; i < sizeof(inherited) / sizeof(inherited[0]); i++) {
        if (!props_inherited_by_snapshot(inherited[i])) {
            diag("%s not inherited", inherited[i]);
            good = false;
        }
    }
    ok(good, "props_inherited_by_snapshot");
    ok(props_rewritten_on_import(PROP_BDM) &&
           props_rewritten_on_import(PROP_KERNEL_ID) &&
           props_rewritten_on_import(PROP_VMSNAP_MEMORY_MB) &&
           props_rewritten_on_import(PROP_INSTANCE_UUID) &&
           props_rewritten_on_import(PROP_BACKUP_TYPE) &&
           props_rewritten_on_import(PROP_IMPORTED_FROM) &&
           !props_rewritten_on_import(PROP_OS_TYPE) &&
           !props_rewritten_on_import(PROP_VMSNAP_QUIESCED) &&
           !props_rewritten_on_import(PROP_HW_QEMU_GUEST_AGENT),
       "props_rewritten_on_import");
}

int
main(void)
{
    test_parse();
    test_refused();
    test_format();
    test_props();
    return tap_done();
}
