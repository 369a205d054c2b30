/* vmsnap: what the files of the catalog share (not for other modules).
 *
 * The catalog is written in layers:
 *   db.h, db-*.c     the database connection: the only SQL dialect code;
 *   catalog.c        the handle, opening and transactions;
 *   cat-schema.c     the schema and its migrations;
 *   cat-util.c       checks of what callers give, messages, small helpers;
 *   cat-engine.c     records of any kind, read, listed and found from a
 *                    description of their kind (struct cat_kind);
 *   cat-write.c      and written: key/value sets, deletes, moves from
 *                    status to status;
 *   cat-<kind>.c     what is a kind's own: its checks, its INSERT and
 *                    UPDATE, its targeted writes and its rules.
 *
 * Every statement is prepared with bound parameters.  The only SQL built
 * at run time comes from fixed fragments and the table and column names
 * of the cat_kind descriptors, never from input.  Every public function
 * runs in a transaction of its own, or in a savepoint when the caller has
 * one open, so that it is atomic; a function whose name ends in _locked
 * expects its caller to have opened one.
 */
#ifndef VMSNAP_CATALOG_INTERNAL_H
#define VMSNAP_CATALOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "db.h"
#include "dynbuf.h"
#include "props.h"

#define CAT_NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Room for SQL made of a fixed text and a table name. */
#define CAT_SQL_LEN 256

struct catalog {
    struct db *db;      /* the connection */
    char *path;         /* what it was opened on, for messages */
    unsigned depth;     /* transactions open: 0 none, 1 begin, >1 nested
                         * savepoints */
    bool aborted;       /* the backend ended the open transaction by
                         * itself, or a savepoint could not be undone:
                         * nothing more may commit */
};

/* ---- Statements (cat-util.c) ------------------------------------------ */

static inline void
cat_finalize(struct db_stmt **st)
{
    db_finalize(*st);
}

#define CLEANUP_STMT __attribute__((cleanup(cat_finalize)))

/* Fail with ERR_GENERIC "catalog: out of memory": the database library
 * could not hand over a value it holds (our own memory comes from
 * xalloc.h, which aborts).  Returns -1.
 */
int cat_oom(struct error **errp);

/* Fail with ERR_GENERIC: a statement built in a cat_buf passed
 * CAT_BUF_MAX.  Returns -1.
 */
int cat_too_long(struct error **errp);

/* Prepare SQL on CAT's connection; NULL with an error. */
struct db_stmt *cat_prepare(struct catalog *cat, const char *sql,
                            struct error **errp);

/* Bind parameters 1, 2, ... of ST from the arguments, one per letter of
 * TYPES: 's' const char * (NULL binds NULL), 'l' int64_t, 'z' int64_t
 * where a negative value binds NULL, 'i' int, 'd' double.
 */
int cat_bind(struct db_stmt *st, struct error **errp, const char *types,
             ...);

/* As cat_bind, from parameter FIRST on. */
int cat_bind_from(struct db_stmt *st, int first, struct error **errp,
                  const char *types, ...);

/* Step ST once: 1 for a row, 0 when done, -1 on error. */
int cat_step(struct db_stmt *st, struct error **errp);

/* Run ST, a statement that returns no rows. */
int cat_run(struct catalog *cat, struct db_stmt *st, struct error **errp);

/* Prepare SQL, bind the arguments as cat_bind does and run it (no
 * rows).
 */
int cat_exec_bound(struct catalog *cat, const char *sql, struct error **errp,
                   const char *types, ...);

/* Run SQL as cat_exec_bound does, in a write transaction of its own, and
 * return how many rows it changed, or -1.
 */
int cat_exec_count(struct catalog *cat, struct error **errp, const char *sql,
                   const char *types, ...);

/* Rows changed by the last statement of CAT. */
int64_t cat_changes(struct catalog *cat);

/* Copy text column COL of ST into *OUT (NULL for NULL).  -1 on OOM (no
 * error set).
 */
int cat_col_str(struct db_stmt *st, int col, char **out);

/* Copy a UUID column into a fixed buffer.  -1 if it is not one. */
int cat_col_id(struct db_stmt *st, int col, char out[UTIL_UUID_LEN]);

/* Copy ID into OUT in lower case if it is a UUID; false if it is not. */
bool cat_norm_id(const char *id, char out[UTIL_UUID_LEN]);

/* A growing string for messages and SQL: base/dynbuf.h's buffer, capped
 * at CAT_BUF_MAX and set up on first use, so that "struct cat_buf b =
 * { 0 }" is an empty one.  Appends that would pass the cap are dropped
 * and remembered.
 */
#define CAT_BUF_MAX ((size_t)1 << 20)

struct cat_buf {
    struct dynbuf d;
};

void cat_buf_printf(struct cat_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Return the text (caller frees; "" if nothing was appended), or NULL if
 * it passed CAT_BUF_MAX.  The buffer is emptied.
 */
char *cat_buf_steal(struct cat_buf *b);

/* How cat_rows reads a row into an element of an array. */
struct cat_row_reader {
    size_t size;   /* bytes of one element */
    /* Fill ELEM (zeroed) from the current row of ST; CTX is cat_rows's.
     * Returns 0, or -1 with an error (ELEM is then cleared).
     */
    int (*read)(struct catalog *cat, struct db_stmt *st, void *elem,
                const void *ctx, struct error **errp);
    /* Free what ELEM holds, also when only part of it was filled. */
    void (*clear)(void *elem, const void *ctx);
};

/* Read every row of ST with RD into a new array *OUT of *N elements
 * (NULL when there are none; the caller frees it as the type of the
 * elements wants).  Returns 0, or -1 with an error and nothing to free.
 */
int cat_rows(struct catalog *cat, struct db_stmt *st,
             const struct cat_row_reader *rd, const void *ctx, void **out,
             size_t *n, struct error **errp);

/* ---- Transactions (catalog.c) ----------------------------------------- */

/* Open a transaction, or a savepoint inside the open one.  WRITE asks for
 * the write lock at once; a read sees one consistent snapshot without
 * blocking writers.
 */
int cat_tx_begin(struct catalog *cat, bool write, struct error **errp);
int cat_tx_commit(struct catalog *cat, struct error **errp);
void cat_tx_rollback(struct catalog *cat);

/* End the transaction of a call whose steps returned R: commit it if R
 * is 0, else roll it back.  Returns 0, or -1 with the error of the steps
 * or of the commit.
 */
int cat_tx_end(struct catalog *cat, int r, struct error **errp);

/* End a read transaction whose steps returned R, and return R.  What was
 * read is one consistent snapshot whether or not the end succeeds, so a
 * failure to end it is only logged.
 */
int cat_tx_end_read(struct catalog *cat, int r);

/* ---- Kinds of record -------------------------------------------------- */

/* How a column is kept in the struct of its record. */
enum cat_col_type {
    CAT_COL_ID,        /* char [UTIL_UUID_LEN]; the column is never NULL */
    CAT_COL_TEXT,      /* char *, NULL for SQL NULL; the struct owns it */
    CAT_COL_INT64,     /* int64_t */
    CAT_COL_INT64_OPT, /* int64_t, -1 for SQL NULL */
    CAT_COL_INT,       /* int */
    CAT_COL_INT_OPT,   /* int, -1 for SQL NULL */
    CAT_COL_BOOL,      /* bool, stored as 0 or 1 */
    CAT_COL_DOUBLE,    /* double */
};

/* One column of a record's table and the struct member it is read into. */
struct cat_col {
    const char *name;       /* the column, named as the member */
    enum cat_col_type type; /* how the member keeps it */
    size_t offset;          /* offsetof the member */
};

/* Column MEMBER of struct TYPE, kept as CTYPE. */
#define CAT_COL(type, member, ctype)                                           \
    { #member, ctype, offsetof(type, member) }

/* The statements that read and write one key/value table. */
struct cat_kv_table {
    const char *select; /* ?1 owner -> rows (key, value) sorted by key */
    const char *clear;  /* ?1 owner: delete all its rows */
    const char *insert; /* ?1 owner, ?2 key, ?3 value */
    const char *upsert; /* ?1 owner, ?2 key, ?3 value: add or replace */
    const char *remove; /* ?1 owner, ?2 key: delete that row */
    const char *count;  /* ?1 owner -> one row: the number of its rows */
    const char *match;  /* condition of a list query: record r has the
                         * item ? = ?; NULL when no list filters by it */
};

struct catalog;

/* One kind of record: its table, how a row maps onto its struct, its
 * key/value table, the statements every kind has, and what messages call
 * it.  Its strings are the only names of tables and columns that go into
 * SQL built at run time.
 */
struct cat_kind {
    const char *noun;            /* "image", "server", ...: for messages */
    const char *item;            /* what messages call one key/value
                                  * item, or NULL without a kv table */
    const char *key_noun;        /* the same without the kind: "property",
                                  * "metadata item" */
    const char *keys_noun;       /* and in the plural: "properties" */
    const char *filter;          /* what they call a key/value filter */
    const char *table;           /* its table; cat_select calls it r */
    const struct cat_col *cols;  /* its columns, id first */
    size_t ncols;                /* entries in cols */
    size_t size;                 /* sizeof its struct */
    void (*free)(void *rec);     /* frees a record of the kind */
    size_t kv_offset;            /* offsetof its struct prop * member */
    size_t nkv_offset;           /* offsetof the size_t that counts them */
    struct cat_kv_table kv;      /* its key/value table (item not NULL) */
    /* Read what else a record holds besides its row and its key/value
     * set (an image's tags and volume snapshots), or NULL.
     */
    int (*read_more)(struct catalog *cat, void *rec, struct error **errp);
    const char *const *statuses; /* the statuses it may have, or NULL */
    size_t nstatuses;            /* entries in statuses */
    const char *status_col;      /* the column statuses are in: "status"
                                  * (NULL) or "state" */
    bool has_reason;             /* a status change also sets
                                  * fail_reason */
    bool named;                  /* it has a column name */
    const char *by_name;         /* ?1 name -> ids of the records a user
                                  * may mean, newest first; NULL: found
                                  * by ID only */
    const char *order;           /* ORDER BY of its lists, or NULL for
                                  * newest first (created_at, then seq) */
};

extern const struct cat_kind cat_kind_image;
extern const struct cat_kind cat_kind_instance;
extern const struct cat_kind cat_kind_volume;
extern const struct cat_kind cat_kind_snapshot;
extern const struct cat_kind cat_kind_task;
extern const struct cat_kind cat_kind_project;
extern const struct cat_kind cat_kind_user;

/* ---- Checks of what callers give (cat-util.c) ------------------------- */

/* True if STATUS is one of the N strings of LIST. */
bool cat_status_in(const char *status, const char *const *list, size_t n);

/* What a message calls a record: its name, or its ID when it has none. */
const char *cat_label(const char *name, const char *id);

/* Fail with ERR_NOT_FOUND "no NOUN with ID 'ID'", ID as the caller wrote
 * it.  Always returns -1.
 */
int cat_not_found(const struct cat_kind *k, const char *id,
                  struct error **errp);

/* Fail as cat_not_found unless the last write changed a row. */
int cat_changed(struct catalog *cat, const struct cat_kind *k,
                const char *id, struct error **errp);

/* Copy ID, which names a NOUN, into OUT in lower case, or fail with
 * ERR_INVALID "NOUN ID 'x' is not a UUID".
 */
int cat_check_id(const char *id, const char *noun, char out[UTIL_UUID_LEN],
                 struct error **errp);

/* Check the optional reference REF to a NOUN (for messages): NULL, or a
 * UUID that is copied in lower case into BUF.  *NORM becomes BUF, or NULL
 * when there is no reference.
 */
int cat_check_ref(const char *ref, const char *noun,
                  char buf[UTIL_UUID_LEN], const char **norm,
                  struct error **errp);

/* Check the optional NAME of a record of kind K (catalog_name_check). */
int cat_check_name(const struct cat_kind *k, const char *name,
                   struct error **errp);

/* Check the required NAME of a record of kind K: non-empty, and as
 * catalog_name_check; ERR_INVALID "NOUN name must be 1 to 255 bytes".
 */
int cat_check_name_required(const struct cat_kind *k, const char *name,
                            struct error **errp);

/* Fail with ERR_INVALID "unknown NOUN status 'x'" unless STATUS is one of
 * those of kind K.
 */
int cat_check_status(const struct cat_kind *k, const char *status,
                     struct error **errp);

/* Fail with ERR_INVALID unless CREATED is NULL (now) or a time. */
int cat_check_created(const char *created, struct error **errp);

/* Fail with ERR_INVALID "WHAT 'x' is not a word" unless S (NULL when
 * OPTIONAL) is 1 to 64 characters of [a-z0-9_].
 */
int cat_check_word(const char *what, const char *s, bool optional,
                   struct error **errp);

/* Check one key/value item given by a caller: a bounded key that is a
 * name, a bounded value (catalog_value_check).  NOUN names the item.
 */
int cat_check_item(const char *key, const char *value, const char *noun,
                   struct error **errp);

/* Check a key/value set given by a caller: items as cat_check_item, keys
 * distinct, not too many.  NOUN names one item.
 */
int cat_check_props(const struct prop *props, size_t n, const char *noun,
                    struct error **errp);

/* The location of the data of record ID of a NOUN kind: LOCATION when it
 * is not NULL, else the one FILE implies when it is
 * ".../DIR/<id>.<format>" (DIR "images" or "volume-snapshots"), else NULL.
 * *BUF (caller frees) holds a derived one.  Returns 0, or -1 with
 * ERR_INVALID (a location that is not "<scheme>:<key>") or OOM.
 */
int cat_location(const char *location, const char *file, const char *dir,
                 const char *id, char **buf, const char **out,
                 struct error **errp);

/* ---- Records of any kind (cat-engine.c, cat-write.c) ------------------ */

/* Free REC, a record of kind K; NULL is allowed. */
void cat_record_free(const struct cat_kind *k, void *rec);

/* Free the N records of kind K in LIST, and LIST.  NULL is allowed. */
void cat_list_free(const struct cat_kind *k, void **list, size_t n);

/* One condition of a list query: a fixed fragment " AND ..." with one
 * "?" per value.
 */
struct cat_cond {
    const char *sql;       /* the fragment */
    const char *values[3]; /* its values, in order (NULL binds NULL) */
    int nvalues;           /* entries in values */
};

#define CAT_QUERY_CONDS (2 * CATALOG_PROPS_MAX + CATALOG_TAGS_MAX + 16)

/* Which records of a kind cat_select reads.  A zeroed query reads them
 * all, in the kind's order.
 */
struct cat_query {
    const char *id;                      /* only this normalised ID */
    struct cat_cond conds[CAT_QUERY_CONDS]; /* all must hold */
    size_t nconds;                       /* entries in conds */
    const char *order;                   /* ORDER BY instead of the
                                          * kind's, or NULL */
    const char *marker;                  /* only records after this one
                                          * (an ID) in newest-first order */
    int64_t limit;                       /* at most this many; 0: all */
};

/* Add condition SQL with N values (0 to 3) to Q.  ERR_INVALID "too many
 * filters" when Q is full.
 */
int cat_query_add(struct cat_query *q, const char *sql, int n,
                  const char *v1, const char *v2, struct error **errp);

/* Add "column = VALUE" for column COL (a fixed name) unless VALUE is
 * NULL.
 */
int cat_query_eq(struct cat_query *q, const char *col, const char *value,
                 struct error **errp);

/* Add the key/value matches MATCH (N of them) of kind K: ERR_INVALID for
 * more than CATALOG_PROPS_MAX or a match without key or value.
 */
int cat_query_match(struct cat_query *q, const struct cat_kind *k,
                    const struct catalog_match *match, size_t n,
                    struct error **errp);

/* Prepare Q over kind K, with the columns of K->cols, and bind its
 * values.  Needs a transaction (for the marker).  Returns the statement,
 * or NULL with ERR_INVALID (an unknown marker), ERR_CONFLICT (busy) or
 * ERR_IO.
 */
struct db_stmt *cat_select(struct catalog *cat, const struct cat_kind *k,
                           const struct cat_query *q, struct error **errp);

/* Read record ID (as the caller wrote it) of kind K into *OUT. */
int cat_get_locked(struct catalog *cat, const struct cat_kind *k,
                   const char *id, void **out, struct error **errp);

/* Read the records of kind K that Q selects into a new array *OUT of *N
 * (NULL when there are none).
 */
int cat_list_locked(struct catalog *cat, const struct cat_kind *k,
                    const struct cat_query *q, void ***out, size_t *n,
                    struct error **errp);

/* The public get, find and list functions: cat_get_locked (or, with
 * BY_NAME, the record a user names: cat_find_id_locked first) and
 * cat_list_locked in a read transaction of their own.
 */
int cat_get(struct catalog *cat, const struct cat_kind *k, const char *key,
            bool by_name, void **out, struct error **errp);
int cat_list(struct catalog *cat, const struct cat_kind *k,
             const struct cat_query *q, void ***out, size_t *n,
             struct error **errp);

/* 1 if kind K has a record with ID (normalised), 0 if not, -1 on error. */
int cat_exists_locked(struct catalog *cat, const struct cat_kind *k,
                      const char *id, struct error **errp);

/* As cat_exists_locked, but 0 or ERR_NOT_FOUND (ID as GIVEN). */
int cat_must_exist_locked(struct catalog *cat, const struct cat_kind *k,
                          const char *id, const char *given,
                          struct error **errp);

/* Fail with ERR_CONFLICT "NOUN ID 'x' already exists" if kind K has a
 * record with ID (normalised).
 */
int cat_id_unused_locked(struct catalog *cat, const struct cat_kind *k,
                         const char *id, struct error **errp);

/* Fail with ERR_CONFLICT "NOUN name 'x' already exists" if a record of
 * kind K other than ID (normalised) is called NAME (kinds whose names
 * are unique).
 */
int cat_name_unused_locked(struct catalog *cat, const struct cat_kind *k,
                           const char *name, const char *id,
                           struct error **errp);

/* Resolve NAME_OR_ID to the ID of one record of kind K (see
 * catalog_image_find for the rules and errors).
 */
int cat_find_id_locked(struct catalog *cat, const struct cat_kind *k,
                       const char *name_or_id, char out[UTIL_UUID_LEN],
                       struct error **errp);

/* Prepare SQL, a query for the one row of a record of kind K, bind ?1 to
 * its ID (normalised; GIVEN as the caller wrote it) and step to that row.
 * Returns the statement on the row (the caller finalizes it), or NULL
 * with cat_not_found if there is no row, or another error.
 */
struct db_stmt *cat_row_locked(struct catalog *cat, const struct cat_kind *k,
                               const char *sql, const char *id,
                               const char *given, struct error **errp);

/* The next number of the insertion order (column seq of every record
 * table), from the counter catalog_sequence.
 */
int cat_next_seq_locked(struct catalog *cat, int64_t *seq,
                        struct error **errp);

/* Bump updated_at of record ID (normalised; GIVEN as the caller wrote it)
 * of kind K; ERR_NOT_FOUND if there is none.
 */
int cat_touch_locked(struct catalog *cat, const struct cat_kind *k,
                     const char *id, const char *given, struct error **errp);

/* A kind's own rule for deleting its record ID (normalised; GIVEN as the
 * caller wrote it): 0 to go on, or -1 with an error.
 */
typedef int cat_delete_rule(struct catalog *cat, const char *id,
                            const char *given, struct error **errp);

/* Delete record ID of kind K (as the caller wrote it) with its key/value
 * set, if RULE (NULL for none) lets it, in a transaction of its own.
 */
int cat_delete(struct catalog *cat, const struct cat_kind *k, const char *id,
               cat_delete_rule *rule, struct error **errp);

/* A kind's own rule for giving its record ID (normalised; GIVEN as the
 * caller wrote it) STATUS: 0 to go on, or -1 with an error.
 */
typedef int cat_status_rule(struct catalog *cat, const char *id,
                            const char *given, const char *status,
                            struct error **errp);

/* Move record ID of kind K (as the caller wrote it) to status TO, and for
 * a kind that has one set its fail_reason to REASON, if RULE (NULL for
 * none) lets it; bump updated_at.  With FROM not NULL this is a
 * compare-and-set: the record must be in status FROM, else ERR_CONFLICT
 * "NOUN NAME is STATUS, not FROM".  In a transaction of its own.
 */
int cat_transition(struct catalog *cat, const struct cat_kind *k,
                   const char *id, const char *from, const char *to,
                   const char *reason, cat_status_rule *rule,
                   struct error **errp);

/* Say why a compare-and-set of the status of record ID (normalised;
 * GIVEN as the caller wrote it) of kind K changed nothing: ERR_NOT_FOUND
 * if it is gone, else ERR_CONFLICT "NOUN NAME is STATUS, not A" ("not A,
 * B or C" for the N statuses of WANT).  Always returns -1.
 */
int cat_cas_failed_locked(struct catalog *cat, const struct cat_kind *k,
                          const char *id, const char *given,
                          const char *const *want, size_t n,
                          struct error **errp);

/* Reads a row (key, value) into a struct prop. */
extern const struct cat_row_reader cat_prop_reader;

/* Read the key/value set of OWNER from table T. */
int cat_load_kv(struct catalog *cat, const struct cat_kv_table *t,
                const char *owner, struct prop **props, size_t *n,
                struct error **errp);

/* Replace the key/value set of OWNER in table T. */
int cat_store_kv_locked(struct catalog *cat, const struct cat_kv_table *t,
                        const char *owner, const struct prop *props,
                        size_t n, struct error **errp);

/* Set the NSET items of SET and remove the NUNSET keys of UNSET in the
 * key/value set of record ID (normalised; GIVEN as the caller wrote it;
 * NAME for messages) of kind K.  A key to remove that is missing is
 * ERR_NOT_FOUND "NOUN NAME has no ITEM 'k'" ("image x has no property
 * 'k'"); a key both set and removed, a bad item or more than
 * CATALOG_PROPS_MAX items in the end are ERR_INVALID.  Removals happen
 * first.  Does not bump updated_at.
 */
int cat_kv_patch_locked(struct catalog *cat, const struct cat_kind *k,
                        const char *id, const char *given,
                        const struct prop *set, size_t nset,
                        const char *const *unset, size_t nunset,
                        struct error **errp);

/* Append "NOUN NAME (ID)" (or "NOUN ID" without a name) to B, from
 * columns ID_COL and NAME_COL of ST.
 */
void cat_describe(struct cat_buf *b, const char *noun, struct db_stmt *st,
                  int id_col, int name_col);

/* One query for what uses a record.  Each row is one user; its columns
 * are the user's id and name and, for an indirect user (VIA > 0), the
 * key, then (VIA 2) the id and name of the image in between.
 */
struct cat_users_query {
    const char *noun; /* what the user is */
    int via;          /* 0 direct, 1 through a key, 2 and an image */
    const char *sql;  /* ?1 the ID of the record used */
};

/* Describe in B, separated by ", ", the users of record ID that the N
 * QUERIES find.  Returns how many there are, or -1.
 */
int cat_users_locked(struct catalog *cat,
                     const struct cat_users_query *queries, size_t n,
                     const char *id, struct cat_buf *b, struct error **errp);

/* ---- Images: tags (cat-image-edit.c) ---------------------------------- */

/* Read the tags of image ID (normalised), sorted, into *TAGS (free with
 * catalog_tags_free) and *N.
 */
int cat_image_load_tags(struct catalog *cat, const char *id, char ***tags,
                        size_t *n, struct error **errp);

/* ---- Images: the block device mapping (cat-bdm.c) --------------------- */

/* Read the volume snapshots image IMG->id is made of into IMG->bdm and
 * IMG->nbdm (a row without a volume reads as volume_id "", one without a
 * size as size -1: see catalog-images.h, "Reading").
 */
int cat_bdm_load(struct catalog *cat, struct image *img,
                 struct error **errp);

/* Replace the mapping of image ID (normalised) with the N entries of E,
 * checked as catalog_image_set_bdm checks them (ERR_INVALID).
 */
int cat_bdm_store_locked(struct catalog *cat, const char *id,
                         const struct bdm_entry *e, size_t n,
                         struct error **errp);

/* The schema upgrade's move of VALUE, the block_device_mapping property
 * of image ID (as stored), into the relation: when bdm_parse accepts
 * VALUE, replace the image's mapping with its entries and remove the
 * property; when it refuses it, log why (log_warnx) and leave the
 * property and the mapping as they are.  Returns 0 in both cases, or -1
 * when a write fails.
 */
int cat_bdm_move_locked(struct catalog *cat, const char *id,
                        const char *value, struct error **errp);

/* Fail with ERR_INVALID "block_device_mapping is kept by vmsnap: ..."
 * when KEY is PROP_BDM, which no caller may write as a property (see
 * catalog-images.h, "The block device mapping").
 */
int cat_image_key_writable(const char *key, struct error **errp);

/* ---- Schema (cat-schema.c) -------------------------------------------- */

/* The schema version this program writes. */
extern const int cat_schema_version;

/* Bring the schema of CAT from VERSION to cat_schema_version.  Called in
 * a write transaction.
 */
int cat_migrate_locked(struct catalog *cat, int version,
                       struct error **errp);

/* Create the default project (named "admin") and remember its ID.
 * Called by the migration that adds projects.
 */
/* Add the flavors every new catalog has (cat-flavors.c). */
int cat_flavors_seed_locked(struct catalog *cat, struct error **errp);

int cat_project_default_create_locked(struct catalog *cat,
                                      char id[UTIL_UUID_LEN],
                                      struct error **errp);

#endif
