/* Unit tests of lib/base/b64.c, password.c and token.c. */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "cleanup.h"
#include "password.h"
#include "tap.h"
#include "token.h"

/* Encode IN with FLAGS and compare with WANT. */
static void
enc(const char *in, unsigned flags, const char *want)
{
    char out[64];
    size_t n = b64_encode(in, strlen(in), out, flags);

    ok(strcmp(out, want) == 0 && n == strlen(want) &&
           n == b64_encoded_len(strlen(in), flags),
       "b64 \"%s\" flags %u -> %s (got %s)", in, flags, want, out);
}

/* Decoding IN with FLAGS gives WANT (NULL: fails). */
static void
dec(const char *in, unsigned flags, const char *want)
{
    CLEANUP_ERROR struct error *err = NULL;
    char out[64];
    long n = b64_decode(in, strlen(in), out, flags, &err);

    if (want == NULL) {
        ok(n < 0 && err && error_get_class(err) == ERR_INVALID,
           "b64 decode \"%s\" flags %u refused", in, flags);
        return;
    }
    ok(n == (long)strlen(want) && memcmp(out, want, (size_t)n) == 0,
       "b64 decode \"%s\" flags %u", in, flags);
}

static void
test_b64(void)
{
    static const unsigned char bin[] = {0xfb, 0xff, 0xfe};
    unsigned char back[8], rnd[257], rback[400];
    char out[400];
    CLEANUP_ERROR struct error *err = NULL;
    size_t i;
    long n;

    /* RFC 4648 §10 vectors. */
    enc("", B64_PAD, "");
    enc("f", B64_PAD, "Zg==");
    enc("fo", B64_PAD, "Zm8=");
    enc("foo", B64_PAD, "Zm9v");
    enc("foob", B64_PAD, "Zm9vYg==");
    enc("fooba", B64_PAD, "Zm9vYmE=");
    enc("foobar", B64_PAD, "Zm9vYmFy");
    enc("fooba", 0, "Zm9vYmE");
    enc("foob", B64_URL, "Zm9vYg");
    dec("Zm9vYg==", B64_PAD, "foob");
    dec("Zm9vYmE", 0, "fooba");
    dec("Zm9vYg", B64_PAD, NULL);   /* padding required */
    dec("Zm9vYg==", 0, NULL);       /* padding refused */
    dec("Zm9vY", 0, NULL);          /* impossible length */
    dec("Zh", 0, NULL);             /* non-zero trailing bits */
    dec("Zm9v Yg", 0, NULL);        /* blank */
    dec("Zm9v====", B64_PAD, NULL); /* too much padding */
    b64_encode(bin, sizeof(bin), out, 0);
    ok(strcmp(out, "+//+") == 0, "standard alphabet: %s", out);
    b64_encode(bin, sizeof(bin), out, B64_URL);
    ok(strcmp(out, "-__-") == 0, "URL alphabet: %s", out);
    n = b64_decode("-__-", 4, back, B64_URL, NULL);
    ok(n == 3 && memcmp(back, bin, 3) == 0, "URL alphabet decodes");
    dec("-__-", 0, NULL);
    for (i = 0; i < sizeof(rnd); i++) {
        rnd[i] = (unsigned char)(i * 131 + 7);
    }
    for (i = 0; i <= sizeof(rnd); i += 37) {
        b64_encode(rnd, i, out, B64_URL);
        n = b64_decode(out, strlen(out), rback, B64_URL, &err);
        if (n != (long)i || memcmp(rnd, rback, i) != 0) {
            break;
        }
    }
    ok(i > sizeof(rnd), "round trips of 0..257 bytes");
}

static void
test_password(void)
{
    static const char vec[] = "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$"
                              "cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M";
    static const char *const bad[] = {
        "",
        "pbkdf2",
        "$pbkdf2-sha256$",
        "$pbkdf2-sha1$1000$AAAAAAAAAAA$x",
        "$pbkdf2-sha256$999$MDEyMzQ1Njc4OWFiY2RlZg$"
        "cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
        "$pbkdf2-sha256$99999999999$MDEyMzQ1Njc4OWFiY2RlZg$"
        "cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
        "$pbkdf2-sha256$01000$MDEyMzQ1Njc4OWFiY2RlZg$"
        "cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
        "$pbkdf2-sha256$1000$MDEy$"
        "cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M",
        "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$cBg8D2Dun",
        "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$"
        "cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M$extra",
    };
    CLEANUP_FREE char *h1 = NULL, *h2 = NULL, *hd = NULL;
    CLEANUP_FREE char *longpw = NULL;
    CLEANUP_ERROR struct error *err = NULL;
    size_t i;

    ok(password_verify("correct horse", vec, NULL) == 1,
       "a hash made by Python's hashlib verifies");
    ok(password_verify("correct horsf", vec, NULL) == 0,
       "a wrong password does not");
    ok(password_verify("", vec, NULL) == 0, "an empty password does not");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct error *e = NULL;

        ok(password_verify("correct horse", bad[i], &e) == -1 && e &&
               error_get_class(e) == ERR_INVALID,
           "malformed hash %zu refused", i);
        error_free(e);
    }
    h1 = password_hash("s3cret", 1000, NULL);
    h2 = password_hash("s3cret", 1000, NULL);
    ok(h1 && h2 && strncmp(h1, "$pbkdf2-sha256$1000$", 20) == 0,
       "hash format: %s", h1 ? h1 : "NULL");
    ok(h1 && h2 && strcmp(h1, h2) != 0, "salts differ");
    ok(password_verify("s3cret", h1, NULL) == 1 &&
           password_verify("s3cret", h2, NULL) == 1,
       "both verify");
    ok(password_hash("", 0, &err) == NULL && err &&
           error_get_class(err) == ERR_INVALID,
       "an empty password cannot be hashed");
    error_free(steal_pointer(&err));
    ok(password_hash("x", 10, &err) == NULL && err,
       "an iteration count below the minimum is refused");
    error_free(steal_pointer(&err));
    longpw = malloc(PASSWORD_MAX_LEN + 2);
    memset(longpw, 'a', PASSWORD_MAX_LEN + 1);
    longpw[PASSWORD_MAX_LEN + 1] = '\0';
    ok(password_hash(longpw, 1000, &err) == NULL && err,
       "a password over the limit is refused");
    ok(password_verify(longpw, h1, NULL) == 0,
       "a password over the limit never matches");
    hd = password_hash("default cost", 0, NULL);
    ok(hd && strncmp(hd, "$pbkdf2-sha256$600000$", 22) == 0 &&
           password_verify("default cost", hd, NULL) == 1,
       "the default cost is 600000 iterations and verifies");
    ok(!password_verify_none("anything"), "verify_none never matches");
}

static void
test_token(void)
{
    char a[TOKEN_LEN], b[TOKEN_LEN], h[TOKEN_HASH_LEN];

    ok(token_new(a, NULL) == 0 && token_new(b, NULL) == 0 && strlen(a) == 43 &&
           strcmp(a, b) != 0,
       "tokens: 43 characters, different");
    ok(token_well_formed(a) && token_well_formed(b), "tokens well formed");
    ok(!token_well_formed("short") && !token_well_formed(NULL) &&
           !token_well_formed("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+"),
       "garbage is not a token");
    ok(token_hash("abc", h, NULL) == 0 &&
           strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff"
                     "61f20015ad") == 0,
       "token hash is SHA-256 hex");
}

int
main(void)
{
    test_b64();
    test_password();
    test_token();
    return tap_done();
}
