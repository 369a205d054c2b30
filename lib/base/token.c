/* vmsnap: bearer tokens and their hashes (see token.h). */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64.h"
#include "token.h"

int
token_new(char out[TOKEN_LEN], struct error **errp)
{
    unsigned char raw[32];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        error_setg(errp, ERR_IO, "no random bytes for a token");
        return -1;
    }
    b64_encode(raw, sizeof(raw), out, B64_URL);
    return 0;
}

int
token_hash(const char *token, char out[TOKEN_HASH_LEN], struct error **errp)
{
    unsigned char md[32];
    unsigned int n = 0, i;

    if (EVP_Digest(token, strlen(token), md, &n, EVP_sha256(), NULL) != 1 ||
        n != sizeof(md)) {
        error_setg(errp, ERR_IO, "SHA-256 failed in libcrypto");
        return -1;
    }
    for (i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    return 0;
}

bool
token_well_formed(const char *s)
{
    size_t i;

    if (s == NULL || strlen(s) != TOKEN_LEN - 1) {
        return false;
    }
    for (i = 0; i < TOKEN_LEN - 1; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            return false;
        }
    }
    return true;
}
