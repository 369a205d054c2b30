/* Fuzz target: the JSON message splitter on its own.
 *
 * Input byte 0 sets the chunk size (1 to 64 bytes), byte 1 the mode (bit
 * 0: 0xFF sentinels; bit 1: a tiny 64-byte message limit and depth 4);
 * the rest is the stream.  After an error in sentinel mode the splitter
 * skips to the next sentinel, as the guest agent client does.
 */
#include "error.h"
#include "fuzz.h"
#include "jstream.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error *err = NULL;
    struct jstream *js;
    json_object *msg;
    enum jstream_result r;
    size_t chunk, off, n;
    unsigned flags;
    bool tiny;

    if (size < 2) {
        return 0;
    }
    chunk = (size_t)(data[0] % 64) + 1;
    flags = (data[1] & 1) ? JSTREAM_SENTINEL_FF : 0;
    tiny = (data[1] & 2) != 0;
    js = jstream_new(tiny ? 64 : 0, tiny ? 4 : 0, flags, &err);
    if (js == NULL) {
        error_free(err);
        return 0;
    }
    for (off = 2; off < size; off += n) {
        n = size - off < chunk ? size - off : chunk;
        if (jstream_feed(js, data + off, n, &err) < 0) {
            break;
        }
        for (;;) {
            r = jstream_next(js, &msg, &err);
            if (r == JSTREAM_MESSAGE) {
                json_object_put(msg);
                continue;
            }
            if (r == JSTREAM_ERROR) {
                error_free(err);
                err = NULL;
                if (flags == 0) {
                    goto out;
                }
                jstream_skip_to_sentinel(js);
                continue;
            }
            break;
        }
    }
    (void)jstream_in_message(js);
out:
    error_free(err);
    jstream_free(js);
    return 0;
}
