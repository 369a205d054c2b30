/* Unit tests of the hash module: known vectors and a multi-MiB file. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cleanup.h"
#include "error.h"
#include "hash.h"
#include "hashpipe.h"
#include "tap.h"

/* What the progress callback saw. */
struct seen {
    int calls;     /* times called */
    int64_t last;  /* last DONE */
    int64_t total; /* last TOTAL */
    bool monotone; /* DONE never went down */
};

static void
on_progress(int64_t done, int64_t total, void *opaque)
{
    struct seen *s = opaque;

    if (done < s->last) {
        s->monotone = false;
    }
    s->calls++;
    s->last = done;
    s->total = total;
}

static void
write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0) {
        diag("cannot write %s", path);
        exit(1);
    }
}

/* Hex digest of BUF with algorithm NAME, computed in one call. */
static void
ref_hex(const char *name, const void *buf, size_t len, char *hex)
{
    unsigned char bin[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    EVP_Digest(buf, len, bin, &n, EVP_get_digestbyname(name), NULL);
    for (i = 0; i < n; i++) {
        snprintf(hex + 2 * i, 3, "%02x", bin[i]);
    }
}

/* hash_mem, the piecewise context and the hex encoder. */
static void
test_mem(const unsigned char *data, size_t len)
{
    char hex[HASH_MAX_HEX_LEN], ref[2 * EVP_MAX_MD_SIZE + 1];
    struct error *err = NULL;
    struct hash_ctx *h;
    size_t off;

    ok(hash_mem("sha256", "abc", 3, hex, &err) == 0 &&
           strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9c"
                       "b410ff61f20015ad") == 0,
       "hash_mem: abc sha256");
    ok(hash_mem("SHA512", "", 0, hex, &err) == 0 &&
           strncmp(hex, "cf83e1357eefb8bd", 16) == 0 && strlen(hex) == 128,
       "hash_mem: empty sha512, upper-case name");
    ok(hash_mem("no-such-digest", "abc", 3, hex, &err) == -1 &&
           err != NULL && error_get_class(err) == ERR_INVALID,
       "hash_mem: unknown algorithm");
    error_free(err);
    err = NULL;

    h = hash_begin("sha512", &err);
    for (off = 0; h != NULL && off < len; off += 65537) {
        hash_update(h, data + off, len - off < 65537 ? len - off : 65537,
                    &err);
    }
    ref_hex("sha512", data, len, ref);
    ok(h != NULL && hash_end(h, hex, &err) == 0 && strcmp(hex, ref) == 0,
       "piecewise digest equals the one-shot one");
    hash_ctx_free(hash_begin("md5", &err));
    hash_ctx_free(NULL);
    ok(err == NULL, "freeing unfinished contexts");

    hash_hex("\x00\x01\xab\xff", 4, hex);
    ok(strcmp(hex, "0001abff") == 0, "hex encoder");
    hash_hex("", 0, hex);
    ok(hex[0] == '\0', "hex of nothing");
}

/* The hash pipe: pieces of odd sizes from two alternating buffers (as
 * qcow2-stream feeds it) give the one-shot digests; refusals; a pipe
 * freed with a piece pending.
 */
static void
test_pipe(const unsigned char *data, size_t len)
{
    static const char *const algs[] = {"md5", "sha512", "sha256"};
    static const char *const bad[] = {"md5", "no-such-digest"};
    char hex[3][HASH_MAX_HEX_LEN], ref[2 * EVP_MAX_MD_SIZE + 1];
    unsigned char *bufs[2] = {malloc(300000), malloc(300000)};
    struct error *err = NULL;
    struct hash_pipe *p = hash_pipe_new(3, algs, &err);
    size_t off, piece, k = 0;
    bool fed = p != NULL;

    for (off = 0; fed && off < len; off += piece, k++) {
        piece = 1 + (off * 31 + 4099) % 299999;
        if (piece > len - off) {
            piece = len - off;
        }
        /* The buffer about to be overwritten was fed two calls ago: the
         * feed in between waited for it.
         */
        memcpy(bufs[k % 2], data + off, piece);
        fed = hash_pipe_feed(p, bufs[k % 2], piece, &err) == 0;
    }
    ok(fed && k > 10, "%zu pieces fed from two buffers", k);
    ok(fed && hash_pipe_end(p, hex, &err) == 0, "pipe ended");
    ref_hex("md5", data, len, ref);
    ok(strcmp(hex[0], ref) == 0, "pipe: md5 equals the one-shot one");
    ref_hex("sha512", data, len, ref);
    ok(strcmp(hex[1], ref) == 0, "pipe: sha512 equals the one-shot one");
    ref_hex("sha256", data, len, ref);
    ok(strcmp(hex[2], ref) == 0, "pipe: sha256 equals the one-shot one");
    hash_pipe_free(p);

    p = hash_pipe_new(1, algs, &err);
    ok(p && hash_pipe_end(p, hex, &err) == 0 &&
           strcmp(hex[0], "d41d8cd98f00b204e9800998ecf8427e") == 0,
       "pipe fed nothing: the empty digest");
    hash_pipe_free(p);

    ok(hash_pipe_new(2, bad, &err) == NULL && err &&
           error_get_class(err) == ERR_INVALID,
       "pipe: unknown algorithm refused");
    error_free(err);
    err = NULL;
    ok(hash_pipe_new(0, algs, &err) == NULL && err &&
           error_get_class(err) == ERR_INVALID,
       "pipe: no algorithm refused");
    error_free(err);
    err = NULL;

    /* Freed with a piece pending: the free waits for it (ASan and
     * MALLOC_PERTURB_ would see a read of the freed buffer otherwise).
     */
    p = hash_pipe_new(2, algs, &err);
    ok(p && hash_pipe_feed(p, data, len, &err) == 0 &&
           hash_pipe_wait(p, &err) == 0 &&
           hash_pipe_feed(p, data, len, &err) == 0,
       "pipe: fed twice, waited once");
    hash_pipe_free(p);
    hash_pipe_free(NULL);
    ok(err == NULL, "pipe freed with a piece pending");
    free(bufs[0]);
    free(bufs[1]);
}

int
main(void)
{
    char dir[] = "/tmp/vmsnap-test-hash.XXXXXX";
    char empty[64], abc[64], big[64];
    char md5[HASH_MD5_HEX_LEN], sha512[HASH_SHA512_HEX_LEN];
    char sha256[HASH_SHA256_HEX_LEN];
    char ref[2 * EVP_MAX_MD_SIZE + 1];
    struct seen seen = {.monotone = true};
    struct error *err = NULL;
    size_t big_len = 3 * 1024 * 1024 + 5, i;
    unsigned char *data;
    char *hex[3] = {NULL, NULL, NULL};
    int r;

    if (mkdtemp(dir) == NULL) {
        diag("mkdtemp failed");
        return 1;
    }
    snprintf(empty, sizeof(empty), "%s/empty", dir);
    snprintf(abc, sizeof(abc), "%s/abc", dir);
    snprintf(big, sizeof(big), "%s/big", dir);
    write_file(empty, "", 0);
    write_file(abc, "abc", 3);
    data = malloc(big_len);
    for (i = 0; i < big_len; i++) {
        data[i] = (unsigned char)(i * 7 + i / 1000);
    }
    write_file(big, data, big_len);

    ok(hash_file(empty, md5, sha512, NULL, NULL, &err) == 0, "empty file");
    ok(strcmp(md5, "d41d8cd98f00b204e9800998ecf8427e") == 0, "empty md5");
    ok(strcmp(sha512,
              "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9"
              "ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af92"
              "7da3e") == 0,
       "empty sha512");

    ok(hash_file(abc, md5, sha512, NULL, NULL, &err) == 0, "abc");
    ok(strcmp(md5, "900150983cd24fb0d6963f7d28e17f72") == 0, "abc md5");
    ok(strcmp(sha512,
              "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d3"
              "9a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54c"
              "a49f") == 0,
       "abc sha512");
    ok(hash_file_sha256(abc, sha256, NULL, NULL, &err) == 0 &&
           strcmp(sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9c"
                          "b410ff61f20015ad") == 0,
       "abc sha256");

    {
        const char *algs[] = {"sha1", "sha256", "md5"};

        ok(hash_file_multi(abc, 3, algs, hex, NULL, NULL, &err) == 0 &&
               strcmp(hex[0], "a9993e364706816aba3e25717850c26c9cd0d89d") ==
                   0 &&
               strcmp(hex[1], sha256) == 0 &&
               strcmp(hex[2], "900150983cd24fb0d6963f7d28e17f72") == 0,
           "multi: sha1, sha256 and md5 in one pass");
        for (i = 0; i < 3; i++) {
            free(hex[i]);
        }
    }

    test_pipe(data, big_len);
    ok(hash_file(big, md5, sha512, on_progress, &seen, &err) == 0,
       "3 MiB file");
    ref_hex("md5", data, big_len, ref);
    ok(strcmp(md5, ref) == 0, "big md5 matches a one-shot digest");
    ref_hex("sha512", data, big_len, ref);
    ok(strcmp(sha512, ref) == 0, "big sha512 matches a one-shot digest");
    ok(seen.calls >= 4 && seen.monotone, "progress called %d times",
       seen.calls);
    ok(seen.last == (int64_t)big_len && seen.total == (int64_t)big_len,
       "progress ends at done == total == size");

    {
        const char *bad[] = {"md5", "no-such-digest"};

        ok(hash_file_multi(abc, 2, bad, hex, NULL, NULL, &err) == -1 &&
               err != NULL && error_get_class(err) == ERR_INVALID &&
               strcmp(error_msg(err),
                      "unknown digest algorithm no-such-digest") == 0,
           "unknown algorithm refused");
        error_free(err);
        err = NULL;
        ok(hash_file_multi(abc, 0, bad, hex, NULL, NULL, &err) == -1 &&
               err != NULL && error_get_class(err) == ERR_INVALID,
           "no algorithm refused");
        error_free(err);
        err = NULL;
    }

    r = hash_file("/nonexistent/file", md5, sha512, NULL, NULL, &err);
    ok(r == -1 && err != NULL && error_get_class(err) == ERR_NOT_FOUND,
       "missing file: ERR_NOT_FOUND (%s)", err ? error_msg(err) : "");
    error_free(err);
    err = NULL;
    r = hash_file(dir, md5, sha512, NULL, NULL, &err);
    ok(r == -1 && err != NULL && error_get_class(err) == ERR_IO,
       "directory: ERR_IO (%s)", err ? error_msg(err) : "");
    error_free(err);

    test_mem(data, big_len);
    free(data);
    unlink(empty);
    unlink(abc);
    unlink(big);
    rmdir(dir);
    return tap_done();
}
