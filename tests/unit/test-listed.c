/* listed.h: ranges of listed keys answer lookups inside them, and only
 * there; a range added over the start of the next is cut there; keys put
 * since are added; the bound refuses a listing; clear forgets.
 */
#include <stdio.h>

#include "listed.h"
#include "tap.h"

int
main(void)
{
    static const char *const p1[] = {"k10", "k12", "k14", "k19"};
    static const char *const p2[] = {"k30", "k31", "k40", "k41", "k50"};
    static const char *const p3[] = {"k60", "k70"};
    static const char *const p4[] = {"k20", "k22"};
    struct listed *l = listed_new(10);

    ok(listed_lookup(l, "k10") == -1, "empty: nothing is known");

    /* A page from k10 up to its last key, k19 (more followed). */
    ok(listed_add(l, "k10", "k19", p1, 4), "a first page, k10 to k19");
    ok(listed_lookup(l, "k12") == 1 && listed_lookup(l, "k19") == 1,
       "keys it listed are there, its last one included");
    ok(listed_lookup(l, "k11") == 0 && listed_lookup(l, "k10x") == 0,
       "keys inside it it did not list are not");
    ok(listed_lookup(l, "k09") == -1 && listed_lookup(l, "k19x") == -1 &&
           listed_lookup(l, "k2") == -1,
       "keys before its start and past its last are unknown");

    /* A page from k35 on that ran to the end of the key space. */
    ok(listed_add(l, "k35", NULL, p2 + 2, 3), "a last page, from k35 on");
    ok(listed_lookup(l, "k50") == 1 && listed_lookup(l, "zzz") == 0,
       "past its last key, up to the end: known absent");
    ok(listed_lookup(l, "k31") == -1, "before its start: unknown");

    /* A page from k30 whose keys run past k35: cut at k35, where the
     * later range answers.
     */
    ok(listed_add(l, "k30", "k50", p2, 5), "a page from k30 over k35");
    ok(listed_lookup(l, "k31") == 1 && listed_lookup(l, "k33") == 0,
       "it answers up to k35");
    ok(listed_count(l) == 9,
       "the keys it shares with the later range are kept once (%zu)",
       listed_count(l));

    /* A page starting inside a known range adds nothing. */
    ok(listed_add(l, "k11", "k70", p3, 2) && listed_count(l) == 9,
       "a page from a known key adds nothing");

    /* A key put since, inside a range and outside any. */
    listed_insert(l, "k13");
    listed_insert(l, "k25");
    ok(listed_lookup(l, "k13") == 1 && listed_lookup(l, "k25") == -1,
       "a key put inside a range is added; outside, still unknown");
    ok(listed_count(l) == 10, "ten keys now");

    /* The bound: ten keys, one more page refused whole. */
    ok(!listed_add(l, "k20", "k22", p4, 2) &&
           listed_lookup(l, "k20") == -1,
       "a page past the bound is refused, nothing recorded");
    listed_insert(l, "k11");
    ok(listed_lookup(l, "k11") == 0,
       "and a key put is no longer added (it reads as absent: put again)");

    listed_clear(l);
    ok(listed_count(l) == 0 && listed_lookup(l, "k12") == -1,
       "clear forgets everything");
    ok(listed_add(l, "k60", "k70", p3, 2) && listed_lookup(l, "k70") == 1,
       "and takes pages again");
    listed_free(l);
    listed_free(NULL);
    return tap_done();
}
