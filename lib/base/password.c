/* vmsnap: password hashes (see password.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "password.h"
#include "util.h"

#define PASSWORD_PREFIX "$pbkdf2-sha256$"
#define SALT_LEN 16
#define HASH_LEN 32

/* PBKDF2-HMAC-SHA256 of PASSWORD into OUT[HASH_LEN]. */
static int
password_derive(const char *password, const unsigned char *salt,
                size_t salt_len, unsigned iter, unsigned char *out,
                struct error **errp)
{
    if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)salt_len,
                          (int)iter, EVP_sha256(), HASH_LEN, out) != 1) {
        error_setg(errp, ERR_IO, "PBKDF2 failed in libcrypto");
        return -1;
    }
    return 0;
}

static bool
password_len_ok(const char *password)
{
    size_t n = strnlen(password, PASSWORD_MAX_LEN + 1);

    return n >= 1 && n <= PASSWORD_MAX_LEN;
}

char *
password_hash(const char *password, unsigned iter, struct error **errp)
{
    unsigned char salt[SALT_LEN], hash[HASH_LEN];
    char salt64[32], hash64[64];

    if (!password_len_ok(password)) {
        error_setg(errp, ERR_INVALID, "a password must have 1 to %d bytes",
                   PASSWORD_MAX_LEN);
        return NULL;
    }
    if (iter == 0) {
        iter = PASSWORD_ITER_DEFAULT;
    }
    if (iter < PASSWORD_ITER_MIN || iter > PASSWORD_ITER_MAX) {
        error_setg(errp, ERR_INVALID, "iteration count %u out of range", iter);
        return NULL;
    }
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        error_setg(errp, ERR_IO, "no random bytes for a salt");
        return NULL;
    }
    if (password_derive(password, salt, sizeof(salt), iter, hash, errp) < 0) {
        return NULL;
    }
    b64_encode(salt, sizeof(salt), salt64, 0);
    b64_encode(hash, sizeof(hash), hash64, 0);
    OPENSSL_cleanse(hash, sizeof(hash));
    return util_strdup_printf(PASSWORD_PREFIX "%u$%s$%s", iter, salt64,
                              hash64);
}

/* Split ENCODED into its count, salt and hash; -1 with ERR_INVALID. */
static int
password_parse(const char *encoded, unsigned *iter, unsigned char *salt,
               size_t *salt_len, unsigned char *hash, struct error **errp)
{
    const char *p, *s, *h;
    char num[16];
    int64_t n = 0;
    long len;
    size_t plen = strlen(PASSWORD_PREFIX);

    if (encoded == NULL || strncmp(encoded, PASSWORD_PREFIX, plen) != 0) {
        error_setg(errp, ERR_INVALID, "not a pbkdf2-sha256 password hash");
        return -1;
    }
    p = encoded + plen;
    s = strchr(p, '$');
    h = s ? strchr(s + 1, '$') : NULL;
    if (s == NULL || h == NULL || strchr(h + 1, '$') != NULL ||
        (size_t)(s - p) >= sizeof(num)) {
        error_setg(errp, ERR_INVALID, "malformed password hash");
        return -1;
    }
    memcpy(num, p, (size_t)(s - p));
    num[s - p] = '\0';
    if (num[0] < '1' || num[0] > '9' || util_parse_int64(num, &n, NULL) < 0 ||
        n < PASSWORD_ITER_MIN || n > PASSWORD_ITER_MAX) {
        error_setg(errp, ERR_INVALID, "bad iteration count in password hash");
        return -1;
    }
    *iter = (unsigned)n;
    if ((size_t)(h - s - 1) > 64) {
        error_setg(errp, ERR_INVALID, "salt too long in password hash");
        return -1;
    }
    len = b64_decode(s + 1, (size_t)(h - s - 1), salt, 0, NULL);
    if (len < 8) {
        error_setg(errp, ERR_INVALID, "bad salt in password hash");
        return -1;
    }
    *salt_len = (size_t)len;
    if (strlen(h + 1) != b64_encoded_len(HASH_LEN, 0) ||
        b64_decode(h + 1, strlen(h + 1), hash, 0, NULL) != HASH_LEN) {
        error_setg(errp, ERR_INVALID, "bad hash in password hash");
        return -1;
    }
    return 0;
}

int
password_verify(const char *password, const char *encoded, struct error **errp)
{
    unsigned char salt[64], want[HASH_LEN + 2], got[HASH_LEN];
    size_t salt_len = 0;
    unsigned iter = 0;
    int same;

    if (password_parse(encoded, &iter, salt, &salt_len, want, errp) < 0) {
        return -1;
    }
    if (!password_len_ok(password)) {
        return 0;
    }
    if (password_derive(password, salt, salt_len, iter, got, errp) < 0) {
        return -1;
    }
    same = CRYPTO_memcmp(got, want, HASH_LEN) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return same ? 1 : 0;
}

bool
password_verify_none(const char *password)
{
    static const unsigned char salt[SALT_LEN] = "vmsnap-no-user!";
    unsigned char got[HASH_LEN];

    if (password_len_ok(password)) {
        password_derive(password, salt, sizeof(salt), PASSWORD_ITER_DEFAULT,
                        got, NULL);
        OPENSSL_cleanse(got, sizeof(got));
    }
    return false;
}
