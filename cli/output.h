/* vmsnap: how commands print their results, as the openstack client does
 * (cliff's formatters).
 *
 * A command builds either one record ("show": ordered field/value pairs)
 * or a list ("list": column names, then rows), then prints it in the
 * format the user asked for with -f, keeping the columns picked with -c.
 * Values are json-c objects, so the json format stays typed (numbers stay
 * numbers, a "properties" object stays an object); NULL is JSON null.
 *
 * Formats:
 * - table (default): a box table.  show prints two columns, Field and
 *   Value; list prints a header row, then the rows.  A value holding
 *   newlines takes several lines inside its cell.  In a list, a column is
 *   right-aligned when its value in the first row is a number (as
 *   cliff does).  An empty list prints nothing.
 * - json: show prints one object, list an array of objects, keyed by
 *   column name, indented by 2 like Python's json.dumps(indent=2).
 * - value: values only; show prints one per line, list one row per line
 *   with its values separated by a space.
 * - shell: show only: name="value" lines, the name lower-cased with every
 *   character other than a letter or digit turned into '_' ("Disk Format"
 *   -> disk_format; a leading digit gets a '_' in front), the value inside
 *   double quotes with \, ", $ and ` escaped by a backslash, so that the
 *   output can be eval'ed by sh.
 *
 * Text form of a value (table, value and shell): a string as is; a number
 * in decimal; true/false as True/False and null as None (what the
 * openstack client prints); an object as key='value' pairs sorted by key
 * and joined by ", " (key='value', key2='value2'), nested objects with
 * dotted keys (a.b='c') and null members as key= (the openstack client's
 * format_dict); an array as its elements' text forms joined by ", ", in
 * order.  This one readable, stable form is used for all three formats;
 * scripts that want the structure use -f json.
 *
 * Nothing here blocks except the write in output_print.  An output object
 * is not thread-safe.
 */
#ifndef VMSNAP_OUTPUT_H
#define VMSNAP_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "error.h"

enum output_format {
    OUTPUT_TABLE = 0, /* box table (default) */
    OUTPUT_JSON,      /* JSON object or array of objects */
    OUTPUT_VALUE,     /* bare values */
    OUTPUT_SHELL,     /* name="value" lines, single records only */
};

struct output;

/* A new, empty single record (never NULL: memory comes from xalloc.h).
 * Free with output_free.
 */
struct output *output_new_show(void);

/* A new, empty list with the columns COLUMNS (NULL-terminated, at least
 * one; the strings are copied).  Returns NULL if COLUMNS is empty.
 * Free with output_free.
 */
struct output *output_new_list(const char *const *columns);

/* Free O and every value it holds.  O may be NULL. */
void output_free(struct output *o);

/* Append field NAME (copied) with VALUE to a show record; VALUE may be
 * NULL (null) and output_add_field takes ownership of it.  A second field
 * of the same name replaces the value of the first, keeping its place.
 * Never fails visibly: if memory runs out (or O is a list), the value is
 * freed and output_print reports the failure later, as stdio's ferror
 * does.
 */
void output_add_field(struct output *o, const char *name, json_object *value);

/* output_add_field with a string (copied; NULL gives null) or an
 * integer.
 */
void output_add_str(struct output *o, const char *name, const char *value);
void output_add_int(struct output *o, const char *name, int64_t value);

/* Append a row to a list.  VALUES has one entry per column, in column
 * order; entries may be NULL (null).  Takes ownership of every entry.
 * Failures are reported by output_print, as for output_add_field.
 */
void output_add_row(struct output *o, json_object *const *values);

/* Map a -f argument ("table", "json", "value", "shell") to *FMT.
 * Returns 0, or -1 (*FMT untouched) with ERR_INVALID for any other name.
 */
int output_parse_format(const char *name, enum output_format *fmt,
                        struct error **errp);

/* Print O on FP in format FMT.  COLUMNS (NULL-terminated; NULL or empty
 * for all) picks the columns (list) or fields (show) to print and their
 * order, as repeated -c options do; a name given twice is printed once.
 * A name matches exactly, or else without regard to case if that leaves
 * one candidate.
 * The whole text is built first and written at once, so on error nothing
 * is written.  Returns 0, or -1 with ERR_INVALID ("no column named X";
 * shell asked for a list; bad FMT), or ERR_IO (memory ran out while
 * building O or the text, or the write failed).  Blocks on the write.
 */
int output_print(const struct output *o, FILE *fp, enum output_format fmt,
                 const char *const *columns, struct error **errp);

/* The text form of VALUE (see above) as a new string the caller frees, or
 * NULL if memory ran out.  VALUE may be NULL ("None").
 */
char *output_value_text(json_object *value);

#endif
