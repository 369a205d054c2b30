/* vmsnap: the block_device_mapping property, parsed and formatted in one
 * place.
 *
 * An image made by an instance-level snapshot (or imported from such a
 * package) names the volume snapshots taken with it in its
 * block_device_mapping property (props.h, PROP_BDM): a JSON array with
 * one object per volume, in device order:
 *
 *   [{"device_index":1,"volume_id":"<uuid>","snapshot_id":"<uuid>",
 *     "size":1073741824,"volume_name":"data"}, ...]
 *
 * device_index   the volume's slot on the instance, 1 to
 *                BDM_MAX_DEVICE_INDEX, each slot once;
 * volume_id      the volume the snapshot was taken of (a UUID);
 * snapshot_id    the volume snapshot (a UUID), each snapshot once;
 * size           the volume's size in bytes, >= 0;
 * volume_name    optional: the volume's name, a name as text_valid_name
 *                (text.h) accepts it (the name of the new volume is made
 *                from it, and it is shown to people).
 * Other members are ignored (a later version may add some).  The value is
 * untrusted: a user can set any property, and an imported package brings
 * its own.  So it is parsed strictly (json-c strict mode, valid UTF-8, at
 * most BDM_MAX_TEXT bytes, nothing after the array) and every field is
 * checked; anything else is refused whole.
 *
 * The same rules hold for formatting: bdm_format writes only what
 * bdm_parse accepts.  UUIDs are kept and written in lower case.
 *
 * Nothing here blocks; the functions are thread-safe.
 */
#ifndef VMSNAP_BDM_H
#define VMSNAP_BDM_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Most entries in a mapping, and the highest device index: an instance
 * has at most 8 volumes (VOLUMES_MAX_PER_INSTANCE).
 */
#define BDM_MAX_ENTRIES 8
#define BDM_MAX_DEVICE_INDEX 8

/* Longest block_device_mapping text accepted, in bytes. */
#define BDM_MAX_TEXT (64 * 1024)

/* Room for a textual UUID and its NUL. */
#define BDM_UUID_LEN 37

/* One volume of a mapping.  A plain record; volume_name belongs to it.
 * (catalog/model.h uses this definition.)
 */
struct bdm_entry {
    int device_index;                /* 1 to BDM_MAX_DEVICE_INDEX */
    char volume_id[BDM_UUID_LEN];    /* the volume, lower case */
    char snapshot_id[BDM_UUID_LEN];  /* its snapshot, lower case */
    int64_t size;                    /* the volume's size, bytes, >= 0 */
    char *volume_name;               /* its name, or NULL */
};

/* Parse TEXT, a block_device_mapping value, into a new array of entries
 * sorted by device index: *OUT (free it with bdm_free) and *N (0 for an
 * empty array; *OUT is then NULL).  Returns 0, or -1 (*OUT and *N
 * untouched) with ERR_INVALID saying what is wrong ("block_device_mapping
 * entry 2: snapshot_id is not a UUID").
 */
int bdm_parse(const char *text, struct bdm_entry **out, size_t *n,
              struct error **errp);

/* Check the N entries of E by the rules above (an empty mapping is
 * valid).  Returns 0, or -1 with ERR_INVALID.
 */
int bdm_check(const struct bdm_entry *e, size_t n, struct error **errp);

/* The N entries of E as block_device_mapping text: a new string (caller
 * frees) of compact JSON, in device order whatever the order of E.
 * Returns NULL with ERR_INVALID when bdm_check refuses them.
 */
char *bdm_format(const struct bdm_entry *e, size_t n, struct error **errp);

/* The entry of E (N entries) for volume snapshot SNAPSHOT_ID (either
 * case), or NULL.
 */
const struct bdm_entry *bdm_find_snapshot(const struct bdm_entry *e,
                                          size_t n, const char *snapshot_id);

/* Free the N entries of E and the array.  E may be NULL. */
void bdm_free(struct bdm_entry *e, size_t n);

#endif
