/* Unit tests of the catalog's flavors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "error.h"
#include "tap.h"
#include "test-catalog.h"

int
main(void)
{
    struct catalog *cat;
    struct error *err = NULL;
    struct flavor f = {0}, *got = NULL;
    struct flavor **list = NULL;
    size_t n = 0;

    tc_setup("flavors");
    cat = tc_open();

    ok(catalog_flavor_list(cat, &list, &n, &err) == 0 && n == 4 &&
           strcmp(list[0]->name, "m1.nano") == 0 &&
           strcmp(list[0]->id, "42") == 0 && list[0]->ram_mb == 256 &&
           list[0]->vcpus == 1 && list[0]->disk_gb == 1 &&
           list[0]->is_public && strcmp(list[3]->name, "m1.medium") == 0,
       "a new catalog has four flavors, smallest first");
    no_err(&err);
    flavor_list_free(list, n);

    f.id = "big-1";
    f.name = "vmsnap.big";
    f.vcpus = 4;
    f.ram_mb = 8192;
    f.disk_gb = 80;
    f.swap_mb = 512;
    ok(catalog_flavor_insert(cat, &f, &err) == 0, "a flavor is added");
    no_err(&err);
    ok(catalog_flavor_get(cat, "big-1", &got, &err) == 0 &&
           strcmp(got->name, "vmsnap.big") == 0 && got->vcpus == 4 &&
           got->ram_mb == 8192 && got->disk_gb == 80 && got->swap_mb == 512 &&
           !got->is_public && got->created_at != NULL,
       "... and read back by ID");
    no_err(&err);
    flavor_free(got);
    got = NULL;
    ok(catalog_flavor_find(cat, "vmsnap.big", &got, &err) == 0 &&
           strcmp(got->id, "big-1") == 0,
       "a flavor is found by name");
    flavor_free(got);
    got = NULL;
    ok(catalog_flavor_get(cat, "vmsnap.big", &got, &err) < 0 &&
           err_is(&err, ERR_NOT_FOUND, "no flavor with ID 'vmsnap.big'"),
       "get takes IDs only (a name is the client's 404)");
    ok(catalog_flavor_insert(cat, &f, &err) < 0 &&
           err_is(&err, ERR_CONFLICT, "flavor ID 'big-1' already exists"),
       "an ID is unique");
    f.id = "big-2";
    ok(catalog_flavor_insert(cat, &f, &err) < 0 &&
           err_is(&err, ERR_CONFLICT,
                  "flavor name 'vmsnap.big' already exists"),
       "a name is unique");
    f.name = "zero";
    f.vcpus = 0;
    ok(catalog_flavor_insert(cat, &f, &err) < 0 &&
           err_is(&err, ERR_INVALID, NULL),
       "a flavor without a vCPU is refused");
    f.vcpus = 1;
    f.id = "a/b";
    ok(catalog_flavor_insert(cat, &f, &err) < 0 &&
           err_is(&err, ERR_INVALID, NULL),
       "an ID with a slash is refused");
    ok(!catalog_flavor_id_valid(" x") && !catalog_flavor_id_valid("") &&
           catalog_flavor_id_valid("m1 tiny") &&
           catalog_flavor_id_valid("1b4e28ba-2fa1-41d2-883f-0016d3cca427"),
       "flavor ID rules");
    ok(catalog_flavor_delete(cat, "big-1", &err) == 0 &&
           catalog_flavor_get(cat, "big-1", &got, &err) < 0 &&
           err_is(&err, ERR_NOT_FOUND, NULL),
       "a flavor is deleted");
    ok(catalog_flavor_delete(cat, "big-1", &err) < 0 &&
           err_is(&err, ERR_NOT_FOUND, "no flavor with ID 'big-1'"),
       "... once");

    catalog_close(cat);
    remove_tmpdir();
    return tap_done();
}
