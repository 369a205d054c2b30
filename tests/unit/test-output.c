/* Unit tests of the CLI output formatter: exact text of every format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cleanup.h"
#include "error.h"
#include "output.h"
#include "tap.h"

/* Print O and return the text (caller frees), or NULL on error (the
 * error goes to *ERRP).
 */
static char *
render(const struct output *o, enum output_format fmt, const char *const *cols,
       struct error **errp)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    int r;

    if (fp == NULL) {
        return NULL;
    }
    r = output_print(o, fp, fmt, cols, errp);
    fclose(fp);
    if (r < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static bool
same(const char *got, const char *want)
{
    if (got != NULL && strcmp(got, want) == 0) {
        return true;
    }
    diag("got:\n%s", got ? got : "(error)");
    diag("want:\n%s", want);
    return false;
}

static void
check(const struct output *o, enum output_format fmt, const char *const *cols,
      const char *want, const char *name)
{
    struct error *err = NULL;
    char *got = render(o, fmt, cols, &err);

    if (err != NULL) {
        diag("error: %s", error_msg(err));
        error_free(err);
    }
    ok(same(got, want), "%s", name);
    free(got);
}

static struct output *
make_show(void)
{
    struct output *o = output_new_show();
    json_object *props = json_object_new_object();

    json_object_object_add(props, "os_distro",
                           json_object_new_string("cirros"));
    json_object_object_add(props, "hw_qemu_guest_agent",
                           json_object_new_string("yes"));
    output_add_str(o, "id", "abc");
    output_add_str(o, "name", "cirros");
    output_add_int(o, "size", 12345);
    output_add_field(o, "protected", json_object_new_boolean(0));
    output_add_field(o, "properties", props);
    output_add_field(o, "kernel_id", NULL);
    output_add_str(o, "description", "line1\nline2");
    return o;
}

static void
test_show(void)
{
    struct output *o = make_show();
    static const char *const sel[] = {"size", "ID", "size", NULL};
    static const char *const bad[] = {"name", "nope", NULL};
    struct error *err = NULL;
    json_object *parsed, *v = NULL;
    char *text;

    check(o, OUTPUT_TABLE, NULL,
          "+-------------+-----------------------------------------------+\n"
          "| Field       | Value                                         |\n"
          "+-------------+-----------------------------------------------+\n"
          "| id          | abc                                           |\n"
          "| name        | cirros                                        |\n"
          "| size        | 12345                                         |\n"
          "| protected   | False                                         |\n"
          "| properties  | hw_qemu_guest_agent='yes', os_distro='cirros' |\n"
          "| kernel_id   | None                                          |\n"
          "| description | line1                                         |\n"
          "|             | line2                                         |\n"
          "+-------------+-----------------------------------------------+\n",
          "show table");
    /* One line per field: a newline inside a value must not look like
     * a field of its own (audit M1).
     */
    check(o, OUTPUT_VALUE, NULL,
          "abc\ncirros\n12345\nFalse\n"
          "hw_qemu_guest_agent='yes', os_distro='cirros'\nNone\n"
          "line1\\nline2\n",
          "show value: a newline is escaped");
    check(o, OUTPUT_SHELL, NULL,
          "id=\"abc\"\nname=\"cirros\"\nsize=\"12345\"\n"
          "protected=\"False\"\n"
          "properties=\"hw_qemu_guest_agent='yes', os_distro='cirros'\"\n"
          "kernel_id=\"None\"\ndescription=\"line1\nline2\"\n",
          "show shell");
    check(o, OUTPUT_JSON, NULL,
          "{\n"
          "  \"id\": \"abc\",\n"
          "  \"name\": \"cirros\",\n"
          "  \"size\": 12345,\n"
          "  \"protected\": false,\n"
          "  \"properties\": {\n"
          "    \"os_distro\": \"cirros\",\n"
          "    \"hw_qemu_guest_agent\": \"yes\"\n"
          "  },\n"
          "  \"kernel_id\": null,\n"
          "  \"description\": \"line1\\nline2\"\n"
          "}\n",
          "show json");

    text = render(o, OUTPUT_JSON, NULL, &err);
    parsed = text ? json_tokener_parse(text) : NULL;
    ok(parsed != NULL && json_object_is_type(parsed, json_type_object),
       "show json parses");
    ok(json_object_object_get_ex(parsed, "size", &v) &&
           json_object_is_type(v, json_type_int) &&
           json_object_get_int64(v) == 12345,
       "show json: size is a number");
    ok(json_object_object_get_ex(parsed, "properties", &v) &&
           json_object_is_type(v, json_type_object),
       "show json: properties is an object");
    ok(json_object_object_get_ex(parsed, "protected", &v) &&
           json_object_is_type(v, json_type_boolean),
       "show json: protected is a boolean");
    ok(json_object_object_get_ex(parsed, "kernel_id", &v) && v == NULL,
       "show json: kernel_id is null");
    json_object_put(parsed);
    free(text);

    check(o, OUTPUT_TABLE, sel,
          "+-------+-------+\n"
          "| Field | Value |\n"
          "+-------+-------+\n"
          "| size  | 12345 |\n"
          "| id    | abc   |\n"
          "+-------+-------+\n",
          "show table -c size -c ID -c size: picked, ordered, once, case "
          "folded");
    check(o, OUTPUT_VALUE, sel, "12345\nabc\n", "show value -c");
    check(o, OUTPUT_SHELL, sel, "size=\"12345\"\nid=\"abc\"\n",
          "show shell -c");
    check(o, OUTPUT_JSON, sel, "{\n  \"size\": 12345,\n  \"id\": \"abc\"\n}\n",
          "show json -c");

    text = render(o, OUTPUT_TABLE, bad, &err);
    ok(text == NULL && err != NULL && error_get_class(err) == ERR_INVALID &&
           strcmp(error_msg(err), "no column named nope") == 0,
       "unknown column refused");
    error_free(err);
    err = NULL;

    /* A later field of the same name replaces the value in place. */
    output_add_str(o, "name", "new");
    check(o, OUTPUT_VALUE, (const char *const[]){"id", "name", NULL},
          "abc\nnew\n", "same field twice: replaced");
    output_free(o);
}

static void
test_show_special(void)
{
    struct output *o = output_new_show();
    json_object *nested = json_object_new_object();
    json_object *inner = json_object_new_object();
    json_object *arr = json_object_new_array();

    json_object_object_add(inner, "b", json_object_new_string("c"));
    json_object_object_add(nested, "z", NULL);
    json_object_object_add(nested, "a", inner);
    json_object_array_add(arr, json_object_new_string("x"));
    json_object_array_add(arr, json_object_new_int(2));
    output_add_str(o, "Disk Format", "qcow2");
    output_add_str(o, "weird", "a\"b$c`d\\e");
    output_add_field(o, "nested", nested);
    output_add_field(o, "tags", arr);
    output_add_field(o, "ratio", json_object_new_double(1.5));
    output_add_field(o, "whole", json_object_new_double(2.0));
    output_add_str(o, "2nd", "héllo");
    output_add_field(o, "empty", json_object_new_object());

    check(o, OUTPUT_SHELL, NULL,
          "disk_format=\"qcow2\"\n"
          "weird=\"a\\\"b\\$c\\`d\\\\e\"\n"
          "nested=\"a.b='c', z=\"\n"
          "tags=\"x, 2\"\n"
          "ratio=\"1.5\"\n"
          "whole=\"2.0\"\n"
          "_2nd=\"héllo\"\n"
          "empty=\"\"\n",
          "shell: names, quoting, nested objects, arrays, doubles");
    check(o, OUTPUT_TABLE, NULL,
          "+-------------+-------------+\n"
          "| Field       | Value       |\n"
          "+-------------+-------------+\n"
          "| Disk Format | qcow2       |\n"
          "| weird       | a\"b$c`d\\e   |\n"
          "| nested      | a.b='c', z= |\n"
          "| tags        | x, 2        |\n"
          "| ratio       | 1.5         |\n"
          "| whole       | 2.0         |\n"
          "| 2nd         | héllo       |\n"
          "| empty       |             |\n"
          "+-------------+-------------+\n",
          "table: UTF-8 counted by characters");
    check(o, OUTPUT_JSON, NULL,
          "{\n"
          "  \"Disk Format\": \"qcow2\",\n"
          "  \"weird\": \"a\\\"b$c`d\\\\e\",\n"
          "  \"nested\": {\n"
          "    \"z\": null,\n"
          "    \"a\": {\n"
          "      \"b\": \"c\"\n"
          "    }\n"
          "  },\n"
          "  \"tags\": [\n"
          "    \"x\",\n"
          "    2\n"
          "  ],\n"
          "  \"ratio\": 1.5,\n"
          "  \"whole\": 2.0,\n"
          "  \"2nd\": \"héllo\",\n"
          "  \"empty\": {}\n"
          "}\n",
          "json: nesting, arrays, doubles, empty object");
    output_free(o);

    o = output_new_show();
    check(o, OUTPUT_TABLE, NULL, "", "empty show: table prints nothing");
    check(o, OUTPUT_JSON, NULL, "{}\n", "empty show: json {}");
    output_free(o);
}

static struct output *
make_list(void)
{
    static const char *const cols[] = {"ID", "Name", "Size", NULL};
    struct output *o = output_new_list(cols);
    json_object *r1[] = {json_object_new_string("a1"),
                         json_object_new_string("one"),
                         json_object_new_int64(10)};
    json_object *r2[] = {json_object_new_string("b2"),
                         json_object_new_string("two-long"),
                         json_object_new_int64(2048)};
    json_object *r3[] = {json_object_new_string("c3"), NULL, NULL};

    output_add_row(o, r1);
    output_add_row(o, r2);
    output_add_row(o, r3);
    return o;
}

static void
test_list(void)
{
    struct output *o = make_list();
    static const char *const sel[] = {"Size", "id", NULL};
    struct error *err = NULL;
    json_object *parsed, *row, *v = NULL;
    char *text;

    check(o, OUTPUT_TABLE, NULL,
          "+----+----------+------+\n"
          "| ID | Name     | Size |\n"
          "+----+----------+------+\n"
          "| a1 | one      |   10 |\n"
          "| b2 | two-long | 2048 |\n"
          "| c3 | None     | None |\n"
          "+----+----------+------+\n",
          "list table: numbers right-aligned");
    check(o, OUTPUT_VALUE, NULL, "a1 one 10\nb2 two-long 2048\nc3 None None\n",
          "list value");
    check(o, OUTPUT_JSON, NULL,
          "[\n"
          "  {\n"
          "    \"ID\": \"a1\",\n"
          "    \"Name\": \"one\",\n"
          "    \"Size\": 10\n"
          "  },\n"
          "  {\n"
          "    \"ID\": \"b2\",\n"
          "    \"Name\": \"two-long\",\n"
          "    \"Size\": 2048\n"
          "  },\n"
          "  {\n"
          "    \"ID\": \"c3\",\n"
          "    \"Name\": null,\n"
          "    \"Size\": null\n"
          "  }\n"
          "]\n",
          "list json");
    check(o, OUTPUT_TABLE, sel,
          "+------+----+\n"
          "| Size | ID |\n"
          "+------+----+\n"
          "|   10 | a1 |\n"
          "| 2048 | b2 |\n"
          "| None | c3 |\n"
          "+------+----+\n",
          "list table -c Size -c id");
    check(o, OUTPUT_VALUE, sel, "10 a1\n2048 b2\nNone c3\n", "list value -c");
    check(o, OUTPUT_JSON, (const char *const[]){"Name", NULL},
          "[\n"
          "  {\n"
          "    \"Name\": \"one\"\n"
          "  },\n"
          "  {\n"
          "    \"Name\": \"two-long\"\n"
          "  },\n"
          "  {\n"
          "    \"Name\": null\n"
          "  }\n"
          "]\n",
          "list json -c Name");

    text = render(o, OUTPUT_JSON, NULL, &err);
    parsed = text ? json_tokener_parse(text) : NULL;
    ok(json_object_is_type(parsed, json_type_array) &&
           json_object_array_length(parsed) == 3,
       "list json parses as an array of 3");
    row = json_object_array_get_idx(parsed, 1);
    ok(json_object_object_get_ex(row, "Size", &v) &&
           json_object_is_type(v, json_type_int) &&
           json_object_get_int64(v) == 2048,
       "list json: Size is a number");
    json_object_put(parsed);
    free(text);

    text = render(o, OUTPUT_SHELL, NULL, &err);
    ok(text == NULL && err != NULL && error_get_class(err) == ERR_INVALID,
       "shell format refused for lists");
    error_free(err);
    err = NULL;
    text = render(o, OUTPUT_VALUE, (const char *const[]){"Nam", NULL}, &err);
    ok(text == NULL && err != NULL &&
           strcmp(error_msg(err), "no column named Nam") == 0,
       "list: unknown column refused");
    error_free(err);
    output_free(o);
}

static void
test_list_special(void)
{
    static const char *const cols[] = {"Name", "Notes", NULL};
    struct output *o = output_new_list(cols);
    json_object *r1[] = {json_object_new_string("a"),
                         json_object_new_string("x\nlonger line\ny")};
    json_object *r2[] = {json_object_new_string("bb"),
                         json_object_new_string("")};

    check(o, OUTPUT_TABLE, NULL, "", "empty list: table prints nothing");
    check(o, OUTPUT_VALUE, NULL, "", "empty list: value prints nothing");
    check(o, OUTPUT_JSON, NULL, "[]\n", "empty list: json []");

    output_add_row(o, r1);
    output_add_row(o, r2);
    check(o, OUTPUT_TABLE, NULL,
          "+------+-------------+\n"
          "| Name | Notes       |\n"
          "+------+-------------+\n"
          "| a    | x           |\n"
          "|      | longer line |\n"
          "|      | y           |\n"
          "| bb   |             |\n"
          "+------+-------------+\n",
          "list table: multi-line cell");
    output_free(o);

    ok(output_new_list((const char *const[]){NULL}) == NULL,
       "a list needs columns");
}

static void
test_formats(void)
{
    enum output_format fmt = OUTPUT_TABLE;
    struct error *err = NULL;
    char *s;
    int r;

    ok(output_parse_format("json", &fmt, &err) == 0 && fmt == OUTPUT_JSON,
       "parse json");
    ok(output_parse_format("value", &fmt, &err) == 0 && fmt == OUTPUT_VALUE,
       "parse value");
    ok(output_parse_format("shell", &fmt, &err) == 0 && fmt == OUTPUT_SHELL,
       "parse shell");
    ok(output_parse_format("table", &fmt, &err) == 0 && fmt == OUTPUT_TABLE,
       "parse table");
    r = output_parse_format("yaml", &fmt, &err);
    ok(r == -1 && err != NULL && error_get_class(err) == ERR_INVALID &&
           fmt == OUTPUT_TABLE,
       "unknown format refused: %s", err ? error_msg(err) : "");
    error_free(err);

    s = output_value_text(NULL);
    ok(s && strcmp(s, "None") == 0, "text of null");
    free(s);
}

int
main(void)
{
    test_show();
    test_show_special();
    test_list();
    test_list_special();
    test_formats();
    return tap_done();
}
