/* Fuzz target: the guest agent client fed an arbitrary agent byte stream.
 *
 * The first input byte picks the command; the rest is what "the agent"
 * sends, cut into answers at blank lines (see fuzzpeer_start): the first
 * piece is there before we ask anything, the next answers our
 * guest-sync-delimited (id 1, so it must carry the 0xFF sentinel and
 * {"return": 1}), the next our command, and so on.  Then a guest-ping,
 * which resyncs (id 2) if the command failed.  All of it runs through the
 * real client code over a socketpair.
 */
#include <unistd.h>

#include "error.h"
#include "fuzz.h"
#include "qga.h"

#define FUZZ_TIMEOUT 1000

/* guest-exec-status polls go back to back; bound a run anyway. */
#define FUZZ_EXEC_TIMEOUT 200

static void
fuzz_command(struct qga *g, uint8_t which, struct error **errp)
{
    static const char *const args[] = { "-c", "true", NULL };
    struct qga_exec_result res;
    json_object *ret;

    switch (which % 6) {
    case 0:
        qga_fsfreeze_status(g, FUZZ_TIMEOUT, errp);
        break;
    case 1:
        qga_fsfreeze_freeze(g, FUZZ_TIMEOUT, errp);
        break;
    case 2:
        qga_fsfreeze_thaw(g, FUZZ_TIMEOUT, errp);
        break;
    case 3:
        if (qga_exec(g, "/bin/sh", args, "input", FUZZ_EXEC_TIMEOUT, &res,
                     errp) == 0) {
            qga_exec_result_clear(&res);
        }
        break;
    case 4:
        ret = qga_info(g, FUZZ_TIMEOUT, errp);
        json_object_put(ret);
        break;
    default:
        ret = qga_get_fsinfo(g, FUZZ_TIMEOUT, errp);
        json_object_put(ret);
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error *err = NULL;
    struct fuzzpeer *peer;
    struct qga *g;
    int fd;

    if (size < 1) {
        return 0;
    }
    fd = fuzzpeer_start(data + 1, size - 1, &peer);
    if (fd < 0) {
        return 0;
    }
    g = qga_new_fd(fd, &err);
    if (g != NULL) {
        qga_set_next_sync_id(g, 1);
        qga_set_exec_poll(g, 0, 0);
        fuzz_command(g, data[0], &err);
        error_free(err);
        err = NULL;
        qga_ping(g, FUZZ_TIMEOUT, &err);
        qga_close(g);
    }
    error_free(err);
    fuzzpeer_finish(peer);
    return 0;
}
