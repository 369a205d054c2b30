/* Fuzz target: the chunk store's parsers (chunk-format.h), the bytes a
 * damaged or hostile store hands to vmsnap.
 *
 * Input byte 0 picks the parser: 'I' an index, 'C' a chunk blob (decoded
 * into 64 KiB of room), 'D' a hex digest; the rest is the input.
 *
 * Oracles: an index that parses serialises back to the same bytes; a
 * blob that decodes gives at most the room and, encoded again and
 * decoded, the same data.  Anything else must fail with an error, never
 * crash or read out of bounds (the sanitizers watch).
 */
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "chunk-format.h"
#include "error.h"
#include "fuzz.h"

#define ROOM 65536

static void
fuzz_index(const uint8_t *data, size_t size)
{
    struct error *err = NULL;
    struct chunk_index *ix = chunk_index_parse(data, size, &err);
    uint8_t *buf = NULL;
    size_t len = 0;

    if (ix == NULL) {
        if (err == NULL) {
            abort(); /* failure without a reason */
        }
        error_free(err);
        return;
    }
    if (chunk_index_serialize(ix, &buf, &len, NULL) < 0 || len != size ||
        memcmp(buf, data, size) != 0) {
        abort(); /* parse and serialise disagree */
    }
    free(buf);
    chunk_index_free(ix);
}

static void
fuzz_blob(const uint8_t *data, size_t size)
{
    static uint8_t out[ROOM], again[ROOM], enc[ROOM + 1024];
    struct error *err = NULL;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t n = 0, m = 0, elen = 0;

    if (chunk_blob_decode(dctx, data, size, out, ROOM, &n, &err) < 0) {
        if (err == NULL) {
            abort();
        }
        error_free(err);
    } else {
        if (n == 0 || n > ROOM ||
            chunk_blob_encode(cctx, 1, out, n, enc, sizeof(enc), &elen,
                              NULL) < 0 ||
            chunk_blob_decode(dctx, enc, elen, again, ROOM, &m, NULL) < 0 ||
            m != n || memcmp(out, again, n) != 0) {
            abort(); /* a decoded chunk does not survive a round trip */
        }
    }
    ZSTD_freeDCtx(dctx);
    ZSTD_freeCCtx(cctx);
}

static void
fuzz_digest(const uint8_t *data, size_t size)
{
    char hex[CHUNK_HEX_LEN * 2];
    char back[CHUNK_HEX_LEN];
    struct chunk_digest d;

    if (size >= sizeof(hex)) {
        size = sizeof(hex) - 1;
    }
    memcpy(hex, data, size);
    hex[size] = '\0';
    if (chunk_digest_parse(hex, &d) == 0) {
        chunk_digest_hex(&d, back);
        if (strcmp(back, hex) != 0) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    switch (data[0]) {
    case 'I':
        fuzz_index(data + 1, size - 1);
        break;
    case 'C':
        fuzz_blob(data + 1, size - 1);
        break;
    case 'D':
        fuzz_digest(data + 1, size - 1);
        break;
    default:
        break;
    }
    return 0;
}
