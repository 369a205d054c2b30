/* Fuzz target: the QMP client fed an arbitrary monitor byte stream.
 *
 * The input is what "QEMU" sends: it drives the greeting and
 * qmp_capabilities handshake, one qmp_execute (ids 1 and 2 are the ones
 * the client uses) and one qmp_wait_event, all through the real client
 * code over a socketpair.
 */
#include <unistd.h>

#include "error.h"
#include "fuzz.h"
#include "qmp.h"

#define FUZZ_TIMEOUT 1000

static bool
fuzz_match(json_object *ev, void *opaque)
{
    json_object *data;

    /* Look into the event as a real predicate would. */
    return json_object_object_get_ex(ev, "data", &data) &&
           json_object_is_type(data, json_type_object);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error *err = NULL;
    json_object *ret, *ev = NULL;
    struct qmp *q;
    int fd, peer;

    fd = fuzzpeer_open(data, size, &peer);
    if (fd < 0) {
        return 0;
    }
    q = qmp_new_fd(fd, FUZZ_TIMEOUT, &err);
    if (q != NULL) {
        ret = qmp_execute(q, "query-status", NULL, FUZZ_TIMEOUT, &err);
        json_object_put(ret);
        error_free(err);
        err = NULL;
        if (qmp_wait_event(q, "JOB_STATUS_CHANGE", fuzz_match, NULL,
                           FUZZ_TIMEOUT, &ev, &err) == 0) {
            json_object_put(ev);
        }
        qmp_close(q);
    }
    error_free(err);
    close(peer);
    return 0;
}
