/* vmsnap: base64 in both alphabets (see b64.h). */
#include <stdint.h>
#include <string.h>

#include "b64.h"

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64_encoded_len(size_t len, unsigned flags)
{
    if (flags & B64_PAD) {
        return (len + 2) / 3 * 4;
    }
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

size_t
b64_encode(const void *in, size_t len, char *out, unsigned flags)
{
    const unsigned char *p = in;
    const char *abc = (flags & B64_URL) ? b64_url : b64_std;
    size_t i, o = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        out[o++] = abc[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;

        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        if (flags & B64_PAD) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;

        out[o++] = abc[v >> 18];
        out[o++] = abc[(v >> 12) & 63];
        out[o++] = abc[(v >> 6) & 63];
        if (flags & B64_PAD) {
            out[o++] = '=';
        }
    }
    out[o] = '\0';
    return o;
}

/* Value of C in the alphabet FLAGS names, or -1. */
static int
b64_value(char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (flags & B64_URL) {
        return c == '-' ? 62 : c == '_' ? 63 : -1;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long
b64_decode(const char *in, size_t len, void *out, unsigned flags,
           struct error **errp)
{
    unsigned char *q = out;
    size_t i, data = len, o = 0, rem;
    uint32_t acc = 0;
    int bits = 0;

    if (flags & B64_PAD) {
        if (len % 4 != 0) {
            error_setg(errp, ERR_INVALID,
                       "base64: length %zu is not a "
                       "multiple of 4",
                       len);
            return -1;
        }
        while (data > 0 && len - data < 2 && in[data - 1] == '=') {
            data--;
        }
    }
    rem = data % 4;
    if (rem == 1 || ((flags & B64_PAD) && rem != 0 && data + 4 - rem != len)) {
        error_setg(errp, ERR_INVALID, "base64: impossible length %zu", len);
        return -1;
    }
    for (i = 0; i < data; i++) {
        int v = b64_value(in[i], flags);

        if (v < 0) {
            error_setg(errp, ERR_INVALID, "base64: bad character at %zu", i);
            return -1;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            q[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        error_setg(errp, ERR_INVALID, "base64: non-zero trailing bits");
        return -1;
    }
    return (long)o;
}
