/* Unit tests of the chunk store's bytes (chunk-format.h): digests, chunk
 * blobs and indexes, valid and hostile.
 */
#include <zstd.h>

#include "test-chunk-util.h"

/* Seal a modified index: recompute its trailing checksum. */
static void
reseal(uint8_t *buf, size_t len)
{
    struct chunk_digest d;

    chunk_sha256(buf, len - CHUNK_DIGEST_LEN, &d, NULL);
    memcpy(buf + len - CHUNK_DIGEST_LEN, d.b, CHUNK_DIGEST_LEN);
}

/* True if parsing LEN bytes of BUF fails with ERR_PROTOCOL and a message
 * containing WANT.
 */
static bool
index_refused(const uint8_t *buf, size_t len, const char *want)
{
    struct error *err = NULL;
    struct chunk_index *ix = chunk_index_parse(buf, len, &err);
    bool r = ix == NULL && err && error_get_class(err) == ERR_PROTOCOL &&
             strstr(error_msg(err), want) != NULL;

    if (!r) {
        diag("got: %s", err ? error_msg(err) : "success");
    }
    chunk_index_free(ix);
    error_free(err);
    return r;
}

static bool
blob_refused(const uint8_t *buf, size_t len, const char *want)
{
    static uint8_t out[65536];
    struct error *err = NULL;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    size_t n = 0;
    bool r;

    r = chunk_blob_decode(dctx, buf, len, out, sizeof(out), &n, &err) < 0 &&
        err && error_get_class(err) == ERR_PROTOCOL &&
        strstr(error_msg(err), want) != NULL;
    if (!r) {
        diag("got: %s", err ? error_msg(err) : "success");
    }
    error_free(err);
    ZSTD_freeDCtx(dctx);
    return r;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

int
main(void)
{
    static uint8_t data[65536], blob[65536 + 1024], out[65536];
    struct chunk_digest d, d2;
    struct chunk_index *ix, *ix2;
    struct error *err = NULL;
    char hex[CHUNK_HEX_LEN];
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    uint8_t *ibuf = NULL, *copy;
    size_t blen = 0, ilen = 0, n = 0, i;
    uint64_t s = 5;
    int bad;

    /* Digests. */
    chunk_sha256("abc", 3, &d, &err);
    chunk_digest_hex(&d, hex);
    ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61"
                   "f20015ad") == 0,
       "SHA-256 of abc");
    ok(chunk_digest_parse(hex, &d2) == 0 && memcmp(&d, &d2, sizeof(d)) == 0,
       "hex round trip");
    hex[5] = 'A';
    ok(chunk_digest_parse(hex, &d2) < 0, "upper case refused");
    ok(chunk_digest_parse("abc", &d2) < 0, "short refused");
    chunk_digest_hex(&d, hex);
    ok(chunk_digest_parse(
           "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad0",
           &d2) < 0,
       "long refused");
    memset(&d2, 0, sizeof(d2));
    ok(chunk_digest_is_zero(&d2) && !chunk_digest_is_zero(&d),
       "the zero digest");
    ok(chunk_count_for(0, 4096) == 0 && chunk_count_for(1, 4096) == 1 &&
           chunk_count_for(8192, 4096) == 2 &&
           chunk_count_for(8193, 4096) == 3,
       "chunk counts");
    ok(chunk_size_valid(4096) && chunk_size_valid(16 << 20) &&
           !chunk_size_valid(2048) && !chunk_size_valid(32 << 20) &&
           !chunk_size_valid(65537),
       "chunk sizes");

    /* Blobs. */
    tc_fill(data, sizeof(data), 1);
    ok(chunk_blob_encode(cctx, 1, data, sizeof(data), blob, sizeof(blob),
                         &blen, &err) == 0 &&
           blob[5] == CHUNK_BLOB_ZSTD && blen < sizeof(data) / 2,
       "text is stored compressed (%zu bytes)", blen);
    ok(chunk_blob_decode(dctx, blob, blen, out, sizeof(out), &n, &err) == 0 &&
           n == sizeof(data) && memcmp(out, data, n) == 0,
       "and decodes");
    ok(chunk_blob_decode(dctx, blob, blen, out, 1000, &n, &err) < 0,
       "a blob longer than the room is refused");
    error_free(err);
    err = NULL;
    for (i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)tc_rand(&s);
    }
    ok(chunk_blob_encode(cctx, 1, data, sizeof(data), blob, sizeof(blob),
                         &blen, &err) == 0 &&
           blob[5] == 0 && blen == sizeof(data) + CHUNK_BLOB_HEADER_LEN,
       "random data is stored raw");
    ok(chunk_blob_decode(dctx, blob, blen, out, sizeof(out), &n, &err) == 0 &&
           n == sizeof(data) && memcmp(out, data, n) == 0,
       "and decodes");
    ok(blob_refused(blob, 10, "truncated"), "truncated header");
    ok(blob_refused(blob, blen - 1, "payload length"), "truncated payload");
    memcpy(blob, "XSCK", 4);
    ok(blob_refused(blob, blen, "magic"), "bad magic");
    memcpy(blob, "VSCK", 4);
    blob[4] = 2;
    ok(blob_refused(blob, blen, "version 2"), "unknown version");
    blob[4] = 1;
    blob[5] = 0x80;
    ok(blob_refused(blob, blen, "flags"), "unknown flags");
    blob[5] = 0;
    blob[7] = 1;
    ok(blob_refused(blob, blen, "flags"), "reserved bits set");
    blob[7] = 0;
    put32(blob + 8, 0);
    ok(blob_refused(blob, blen, "out of range"), "zero length");
    put32(blob + 8, 0xffffffffu);
    ok(blob_refused(blob, blen, "out of range"), "huge length");
    put32(blob + 8, sizeof(data) - 1);
    ok(blob_refused(blob, blen, "does not fit"),
       "a raw payload longer than the data");
    tc_fill(data, sizeof(data), 2);
    chunk_blob_encode(cctx, 1, data, sizeof(data), blob, sizeof(blob), &blen,
                      NULL);
    put32(blob + 8, 30000);
    ok(blob_refused(blob, blen, "decompress"),
       "a zstd frame larger than its header says");
    put32(blob + 8, sizeof(data));
    blob[blen / 2] ^= 0xff;
    blob[blen / 2 + 1] ^= 0x55;
    {
        struct error *e2 = NULL;
        int rc = chunk_blob_decode(dctx, blob, blen, out, sizeof(out), &n,
                                   &e2);

        chunk_sha256(out, sizeof(data), &d2, NULL);
        chunk_sha256(data, sizeof(data), &d, NULL);
        ok(rc < 0 || memcmp(&d, &d2, sizeof(d)) != 0,
           "a garbled zstd payload fails or hashes differently");
        error_free(e2);
    }

    /* Indexes. */
    ix = chunk_index_new(5 * 65536 + 100, 65536, &err);
    ok(ix && ix->count == 6 && chunk_index_chunk_len(ix, 5) == 100 &&
           chunk_index_chunk_len(ix, 4) == 65536,
       "a new index: 6 chunks, the last of 100 bytes");
    for (i = 0; ix && i < ix->count; i += 2) {
        chunk_sha256(&i, sizeof(i), &ix->digests[i], NULL);
    }
    ix->flags |= CHUNK_INDEX_HAS_PARENT;
    memset(ix->parent.b, 7, CHUNK_DIGEST_LEN);
    ok(chunk_index_serialize(ix, &ibuf, &ilen, &err) == 0 &&
           ilen == CHUNK_INDEX_HEADER_LEN + 7 * CHUNK_DIGEST_LEN,
       "serialise: %zu bytes", ilen);
    ix2 = chunk_index_parse(ibuf, ilen, &err);
    ok(ix2 && ix2->count == 6 && ix2->disk_size == ix->disk_size &&
           memcmp(ix2->digests, ix->digests, 6 * CHUNK_DIGEST_LEN) == 0 &&
           memcmp(&ix2->csum, &ix->csum, sizeof(d)) == 0 &&
           memcmp(&ix2->parent, &ix->parent, sizeof(d)) == 0,
       "parse gives it back");
    chunk_index_free(ix2);
    copy = malloc(ilen);
    bad = 0;
    for (i = 0; i < ilen; i++) {
        struct error *e2 = NULL;

        ix2 = chunk_index_parse(ibuf, i, &e2);
        bad += ix2 == NULL && e2 != NULL;
        chunk_index_free(ix2);
        error_free(e2);
    }
    ok(bad == (int)ilen, "every truncation is refused");
    bad = 0;
    for (i = 0; i < ilen * 8; i++) {
        struct error *e2 = NULL;

        memcpy(copy, ibuf, ilen);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        ix2 = chunk_index_parse(copy, ilen, &e2);
        bad += ix2 == NULL && e2 != NULL;
        chunk_index_free(ix2);
        error_free(e2);
    }
    ok(bad == (int)ilen * 8, "every flipped bit is refused (%d)", bad);
    memcpy(copy, ibuf, ilen);
    copy[ilen - 1] ^= 1;
    ok(index_refused(copy, ilen, "checksum"), "a wrong checksum");
    memcpy(copy, ibuf, ilen);
    copy[0] = 'X';
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "magic"), "bad magic");
    memcpy(copy, ibuf, ilen);
    put32(copy + 8, 2);
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "version 2"), "unknown version");
    memcpy(copy, ibuf, ilen);
    put32(copy + 12, 4096);
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "header length"), "header length");
    memcpy(copy, ibuf, ilen);
    put32(copy + 16, 65535);
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "chunk size"), "bad chunk size");
    memcpy(copy, ibuf, ilen);
    put32(copy + 20, 2);
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "flags"), "unknown flags");
    memcpy(copy, ibuf, ilen);
    copy[90] = 1;
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "flags"), "reserved bytes set");
    memcpy(copy, ibuf, ilen);
    put32(copy + 24, 0);
    put32(copy + 28, 0x10000000u); /* 2^60 bytes */
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "disagree"), "a huge disk size");
    memcpy(copy, ibuf, ilen);
    put32(copy + 32, 7);
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "disagree"),
       "a chunk count that does not match the size");
    memcpy(copy, ibuf, ilen);
    put32(copy + 24, 65536);
    put32(copy + 32, 1);
    reseal(copy, ilen);
    ok(index_refused(copy, ilen, "does not hold"),
       "a length that does not match the count");
    ok(chunk_index_new(1ll << 50, 65536, &err) == NULL &&
           error_get_class(err) == ERR_INVALID,
       "an index for 1 PiB is refused");
    error_free(err);
    err = NULL;
    ok(chunk_index_new(1ll << 40, 4096, &err) == NULL &&
           error_get_class(err) == ERR_INVALID,
       "an index of more than 2^25 chunks is refused");
    error_free(err);
    err = NULL;
    ix2 = chunk_index_new(0, 65536, &err);
    ok(ix2 && ix2->count == 0, "an empty disk");
    free(ibuf);
    ibuf = NULL;
    ok(ix2 && chunk_index_serialize(ix2, &ibuf, &ilen, &err) == 0 &&
           ilen == CHUNK_INDEX_HEADER_LEN + CHUNK_DIGEST_LEN,
       "serialises to a header and a checksum");
    chunk_index_free(ix2);
    ix2 = chunk_index_parse(ibuf, ilen, &err);
    ok(ix2 && ix2->count == 0 && ix2->disk_size == 0, "and parses");
    chunk_index_free(ix2);
    tc_noerr(&err, "index");

    free(copy);
    free(ibuf);
    chunk_index_free(ix);
    ZSTD_freeCCtx(cctx);
    ZSTD_freeDCtx(dctx);
    return tap_done();
}
