/* Unit tests of daemon/microversion.c: parsing and negotiation. */
#include <string.h>

#include "microversion.h"
#include "tap.h"

static const struct api_version nmin = {2, 1}, nmax = {2, 45};
static const struct api_version cmin = {3, 0}, cmax = {3, 0};

/* Select for SERVICE with the headers given; expect WANT (or STATUS). */
static void
sel(const char *service, const char *os, const char *legacy,
    struct api_version min, struct api_version max, int wmaj, int wmin,
    int wstatus)
{
    struct api_version v = {0, 0};
    struct error *err = NULL;
    int status = 0;
    int rc =
        microversion_select(service, os, legacy, min, max, &v, &status, &err);

    if (wstatus) {
        ok(rc < 0 && status == wstatus && err != NULL,
           "%s [%s] [%s] -> %d (%s)", service, os ? os : "-",
           legacy ? legacy : "-", wstatus, err ? error_msg(err) : "?");
    } else {
        ok(rc == 0 && v.major == wmaj && v.minor == wmin,
           "%s [%s] [%s] -> %d.%d (got %d.%d)", service, os ? os : "-",
           legacy ? legacy : "-", wmaj, wmin, v.major, v.minor);
    }
    error_free(err);
}

int
main(void)
{
    struct api_version v;
    struct error *err = NULL;
    int status = 0;

    ok(microversion_parse("2.1", &v, NULL) == 0 && v.major == 2 && v.minor == 1,
       "parse 2.1");
    ok(microversion_parse("2.95", &v, NULL) == 0 && v.minor == 95,
       "parse 2.95");
    ok(microversion_parse("2.01", &v, NULL) < 0, "2.01 refused");
    ok(microversion_parse("2", &v, NULL) < 0, "2 refused");
    ok(microversion_parse("2.x", &v, NULL) < 0, "2.x refused");
    ok(microversion_parse(" 2.1", &v, NULL) < 0, "blank refused");
    ok(microversion_parse("-2.1", &v, NULL) < 0, "sign refused");
    ok(microversion_parse("2.99999", &v, NULL) < 0, "huge refused");
    ok(microversion_cmp((struct api_version){2, 10},
                        (struct api_version){2, 9}) > 0,
       "2.10 is newer than 2.9");

    sel("compute", NULL, NULL, nmin, nmax, 2, 1, 0);
    sel("compute", NULL, "2.1", nmin, nmax, 2, 1, 0);
    sel("compute", NULL, "2.45", nmin, nmax, 2, 45, 0);
    sel("compute", NULL, "latest", nmin, nmax, 2, 45, 0);
    sel("compute", "compute 2.30", NULL, nmin, nmax, 2, 30, 0);
    sel("compute", "compute latest", NULL, nmin, nmax, 2, 45, 0);
    sel("compute", "COMPUTE 2.3", NULL, nmin, nmax, 2, 3, 0);
    sel("compute", "volume 3.0, compute 2.10", NULL, nmin, nmax, 2, 10, 0);
    sel("compute", "volume 3.0", "2.5", nmin, nmax, 2, 5, 0);
    sel("compute", "compute 2.20", "2.5", nmin, nmax, 2, 20, 0);
    sel("compute", "compute 2.46", NULL, nmin, nmax, 0, 0, 406);
    sel("compute", NULL, "2.0", nmin, nmax, 0, 0, 406);
    sel("compute", NULL, "3.0", nmin, nmax, 0, 0, 406);
    sel("compute", NULL, "two", nmin, nmax, 0, 0, 400);
    sel("compute", "compute", NULL, nmin, nmax, 0, 0, 400);
    sel("compute", "compute 2", NULL, nmin, nmax, 0, 0, 400);
    sel("volume", NULL, NULL, cmin, cmax, 3, 0, 0);
    sel("volume", "volume 3.0", NULL, cmin, cmax, 3, 0, 0);
    sel("volume", "volume 3.70", NULL, cmin, cmax, 0, 0, 406);
    sel("volume", "volume latest", NULL, cmin, cmax, 3, 0, 0);
    sel("volume", "compute 2.1", NULL, cmin, cmax, 3, 0, 0);

    microversion_select("compute", "compute 2.46", NULL, nmin, nmax, &v,
                        &status, &err);
    ok(err && strcmp(error_msg(err), "Version 2.46 is not supported by the "
                                     "API. Minimum is 2.1 and maximum is "
                                     "2.45.") == 0,
       "406 message as Nova's: %s", err ? error_msg(err) : "");
    error_free(err);
    return tap_done();
}
