/* Unit tests of the pure helpers of daemon/http.c: Range parsing,
 * percent-decoding, listen addresses, reason phrases.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "http.h"
#include "tap.h"

static void
range(const char *h, uint64_t size, enum http_range want, uint64_t f,
      uint64_t l)
{
    uint64_t first = 99, last = 99;
    enum http_range got = http_parse_range(h, size, &first, &last);

    ok(got == want && (want != HTTP_RANGE_PARTIAL || (first == f && last == l)),
       "Range %s of %llu: %d [%llu, %llu]", h ? h : "(none)",
       (unsigned long long)size, (int)got, (unsigned long long)first,
       (unsigned long long)last);
}

static void
unesc(const char *in, bool plus, const char *want)
{
    CLEANUP_FREE char *out = http_unescape(in, strlen(in), plus);

    if (want == NULL) {
        ok(out == NULL, "unescape \"%s\" refused", in);
    } else {
        ok(out && strcmp(out, want) == 0, "unescape \"%s\" -> \"%s\"", in,
           want);
    }
}

static void
listen_ok(const char *spec, int family, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    int rc = http_parse_listen(spec, &ss, &len, NULL);
    int got = ss.ss_family == AF_INET6
                  ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                  : ntohs(((struct sockaddr_in *)&ss)->sin_port);

    ok(rc == 0 && ss.ss_family == family && got == port, "listen %s parses",
       spec);
}

static void
listen_bad(const char *spec)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    struct error *err = NULL;

    ok(http_parse_listen(spec, &ss, &len, &err) < 0 && err &&
           error_get_class(err) == ERR_INVALID,
       "listen \"%s\" refused", spec ? spec : "(null)");
    error_free(err);
}

int
main(void)
{
    range(NULL, 100, HTTP_RANGE_NONE, 0, 0);
    range("bytes=0-9", 100, HTTP_RANGE_PARTIAL, 0, 9);
    range("bytes=10-", 100, HTTP_RANGE_PARTIAL, 10, 99);
    range("bytes=-10", 100, HTTP_RANGE_PARTIAL, 90, 99);
    range("bytes=-1000", 100, HTTP_RANGE_PARTIAL, 0, 99);
    range("bytes=50-1000", 100, HTTP_RANGE_PARTIAL, 50, 99);
    range("bytes=99-99", 100, HTTP_RANGE_PARTIAL, 99, 99);
    range("bytes=100-", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    range("bytes=100-200", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    range("bytes=-0", 100, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    range("bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0);
    range("bytes=9-3", 100, HTTP_RANGE_NONE, 0, 0);
    range("bytes=0-1,5-6", 100, HTTP_RANGE_NONE, 0, 0);
    range("bytes=a-b", 100, HTTP_RANGE_NONE, 0, 0);
    range("bytes=-", 100, HTTP_RANGE_NONE, 0, 0);
    range("items=0-1", 100, HTTP_RANGE_NONE, 0, 0);
    range("bytes=99999999999999999999-", 100, HTTP_RANGE_NONE, 0, 0);
    range("bytes=0-18446744073709551615", 100, HTTP_RANGE_NONE, 0, 0);

    unesc("a%20b", false, "a b");
    unesc("a+b", false, "a+b");
    unesc("a+b", true, "a b");
    unesc("%2F%2f", false, "//");
    unesc("%e2%82%ac", false, "\xe2\x82\xac");
    unesc("%", false, NULL);
    unesc("%4", false, NULL);
    unesc("%zz", false, NULL);
    unesc("a%00b", false, NULL);
    unesc("", false, "");

    listen_ok("127.0.0.1:8774", AF_INET, 8774);
    listen_ok("0.0.0.0:0", AF_INET, 0);
    listen_ok("[::1]:8774", AF_INET6, 8774);
    listen_ok("[::]:65535", AF_INET6, 65535);
    listen_bad(NULL);
    listen_bad("");
    listen_bad("localhost:8774");
    listen_bad("127.0.0.1");
    listen_bad("127.0.0.1:");
    listen_bad("127.0.0.1:65536");
    listen_bad("127.0.0.1:-1");
    listen_bad("127.0.0.1:+80");
    listen_bad("::1:8774");
    listen_bad("[::1]");
    listen_bad("[nope]:80");
    listen_bad("1.2.3:80");

    ok(strcmp(http_reason(404), "Not Found") == 0, "reason of 404");
    ok(strcmp(http_reason(413), "Content Too Large") == 0 ||
           strcmp(http_reason(413), "Payload Too Large") == 0 ||
           strcmp(http_reason(413), "Request Entity Too Large") == 0,
       "reason of 413: %s", http_reason(413));
    ok(strcmp(http_reason(799), "Unknown") == 0, "reason of 799");
    return tap_done();
}
