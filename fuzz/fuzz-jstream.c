/* Fuzz target: the JSON message splitter on its own.
 *
 * Input byte 0 sets a chunk size (1 to 64 bytes), byte 1 the mode (bit 0:
 * 0xFF sentinels; bit 1: a tiny 64-byte message limit and depth 4); the
 * rest is the stream.  After an error in sentinel mode the splitter skips
 * to the next sentinel, as the guest agent client does.
 *
 * Oracle: the stream is split twice, in chunks of the chosen size and all
 * at once; the sequence of results (each message re-serialised, each
 * sentinel, each error) must be the same, or the target aborts.
 */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "jstream.h"

/* FNV-1a over the results, with a tag per kind of result. */
static void
fuzz_hash(uint64_t *h, const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        *h ^= (unsigned char)s[i];
        *h *= 0x100000001b3ULL;
    }
}

/* Split DATA in chunks of CHUNK bytes; return the hash of the results. */
static uint64_t
fuzz_split(const uint8_t *data, size_t size, size_t chunk, unsigned flags,
           bool tiny)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    struct error *err = NULL;
    struct jstream *js;
    json_object *msg;
    enum jstream_result r;
    const char *s;
    size_t off, n;

    js = jstream_new(tiny ? 64 : 0, tiny ? 4 : 0, flags, &err);
    if (js == NULL) {
        abort(); /* valid limits: cannot fail but for lack of memory */
    }
    for (off = 0; off < size; off += n) {
        n = size - off < chunk ? size - off : chunk;
        if (jstream_feed(js, data + off, n, &err) < 0) {
            abort(); /* we always drain, so the bound is never hit */
        }
        for (;;) {
            r = jstream_next(js, &msg, &err);
            if (r == JSTREAM_MESSAGE) {
                s = json_object_to_json_string_ext(msg,
                                                   JSON_C_TO_STRING_PLAIN);
                fuzz_hash(&h, "M", 1);
                fuzz_hash(&h, s, strlen(s));
                json_object_put(msg);
                continue;
            }
            if (r == JSTREAM_SENTINEL) {
                fuzz_hash(&h, "S", 1);
                continue;
            }
            if (r == JSTREAM_ERROR) {
                fuzz_hash(&h, "E", 1);
                error_free(err);
                err = NULL;
                if ((flags & JSTREAM_SENTINEL_FF) == 0) {
                    goto out;
                }
                jstream_skip_to_sentinel(js);
                continue;
            }
            break;
        }
    }
    fuzz_hash(&h, jstream_in_message(js) ? "P" : "-", 1);
    fuzz_hash(&h, jstream_has_data(js) ? "D" : "-", 1);
out:
    jstream_free(js);
    return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t chunk;
    unsigned flags;
    bool tiny;

    if (size < 2) {
        return 0;
    }
    chunk = (size_t)(data[0] % 64) + 1;
    flags = (data[1] & 1) ? JSTREAM_SENTINEL_FF : 0;
    tiny = (data[1] & 2) != 0;
    if (fuzz_split(data + 2, size - 2, chunk, flags, tiny) !=
        fuzz_split(data + 2, size - 2, size < 65536 ? size : 65536, flags,
                   tiny)) {
        abort(); /* the result depends on how the stream was split */
    }
    return 0;
}
