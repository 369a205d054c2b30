/* Unit tests of the error module. */
#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "error.h"
#include "tap.h"

int
main(void)
{
    struct error *err = NULL;

    error_setg(&err, ERR_NOT_FOUND, "no image %s", "web");
    ok(err != NULL, "error set");
    ok(strcmp(error_msg(err), "no image web") == 0, "message formatted");
    ok(error_get_class(err) == ERR_NOT_FOUND, "class kept");
    error_prepend(&err, "image show: ");
    ok(strcmp(error_msg(err), "image show: no image web") == 0, "prepend");
    error_free(err);
    err = NULL;

    error_setg_errno(&err, ERR_IO, ENOENT, "open %s", "x");
    ok(strcmp(error_msg(err), "open x: No such file or directory") == 0,
       "errno appended");
    error_free(err);
    err = NULL;

    error_set_peer(&err, "CommandNotFound", "The command foo was not found");
    ok(error_get_class(err) == ERR_PEER &&
           strcmp(error_peer_class(err), "CommandNotFound") == 0,
       "peer class kept");
    {
        struct error *dst = NULL;

        error_propagate(&dst, err);
        ok(dst == err, "propagate moves");
        error_propagate(&dst, NULL);
        ok(dst == err, "propagate NULL leaves dst");
        error_free(dst);
    }
    error_setg(NULL, ERR_GENERIC, "dropped");
    ok(true, "NULL errp drops the error");
    return tap_done();
}
