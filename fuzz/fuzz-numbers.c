/* Fuzz target: the strict number parsers, against reference
 * implementations written here the slow, obvious way.
 *
 * Byte 0 picks the parser: util_parse_int64, util_parse_size, or the
 * OVF descriptor's ovf_parse_u63 and ovf_parse_units; the rest is the
 * text (cut at its first NUL, as a C string would be).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fuzz.h"
#include "ovf-internal.h"
#include "util.h"

/* Reference: [+-]digits, exactly, within int64_t. */
static bool
ref_int64(const char *s, int64_t *out)
{
    const char *p = s;
    bool neg = false;
    uint64_t v = 0, lim;

    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (*p == '\0') {
        return false;
    }
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p != '\0'; p++) {
        if (!isdigit((unsigned char)*p) ||
            v > (lim - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* Reference: digits, then nothing, B, or K/M/G/T/P/E (either case)
 * optionally followed by "iB".
 */
static bool
ref_size(const char *s, int64_t *out)
{
    static const char units[] = "KMGTPE";
    const char *p = s, *u;
    uint64_t v = 0, mult = 1;

    if (!isdigit((unsigned char)*p)) {
        return false;
    }
    for (; isdigit((unsigned char)*p); p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if ((*p == 'b' || *p == 'B') && p[1] == '\0') {
        p++;
    } else if (*p != '\0' && (u = strchr(units, toupper((unsigned char)*p))) !=
                                 NULL) {
        mult = (uint64_t)1 << (10 * (u - units + 1));
        p++;
        if (strcmp(p, "iB") == 0) {
            p += 2;
        }
    }
    if (*p != '\0' || v > (uint64_t)INT64_MAX / mult) {
        return false;
    }
    *out = (int64_t)(v * mult);
    return true;
}

/* Reference: blanks, digits (at most INT64_MAX), blanks. */
static bool
ref_u63(const char *s, int64_t *out)
{
    const char *blanks = " \t\r\n";
    const char *p = s + strspn(s, blanks);
    size_t n = strspn(p, "0123456789");
    char digits[20];

    if (n == 0 || p[n + strspn(p + n, blanks)] != '\0') {
        return false;
    }
    while (n > 1 && *p == '0') {
        p++;
        n--;
    }
    if (n > 19 || (n == 19 && strncmp(p, "9223372036854775807", 19) > 0)) {
        return false;
    }
    memcpy(digits, p, n);
    digits[n] = '\0';
    return ref_int64(digits, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct error *err = NULL;
    int64_t got = -7, want = -7;
    char *s;
    bool ok_got, ok_want;
    int r;

    if (size < 1) {
        return 0;
    }
    s = strndup((const char *)data + 1, size - 1);
    if (s == NULL) {
        return 0;
    }
    switch (data[0] % 4) {
    case 0:
        ok_got = util_parse_int64(s, &got, &err) == 0;
        ok_want = ref_int64(s, &want);
        break;
    case 1:
        ok_got = util_parse_size(s, &got, &err) == 0;
        ok_want = ref_size(s, &want);
        break;
    case 2:
        ok_got = ovf_parse_u63(s, &got) == 0;
        ok_want = ref_u63(s, &want);
        break;
    default:
        r = ovf_parse_units(s);
        ok_got = ok_want = true;
        got = want = r;
        if (r < -1 || r > 62) {
            abort(); /* units out of their documented range */
        }
        break;
    }
    if (ok_got != ok_want || (ok_got && got != want) ||
        (!ok_got && data[0] % 4 < 2 &&
         (err == NULL || error_get_class(err) != ERR_INVALID))) {
        abort(); /* the parser and the reference disagree */
    }
    error_free(err);
    free(s);
    return 0;
}
