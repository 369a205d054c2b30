/* vmsnap: the configuration, read in one place (see config.h). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "log.h"
#include "util.h"
#include "xalloc.h"

/* Longest line of the file, and the largest file read. */
#define CONFIG_LINE_MAX 4096
#define CONFIG_FILE_MAX (1024 * 1024)

enum config_type {
    CONFIG_STR,      /* any text */
    CONFIG_CHOICE,   /* one of the words in .choices */
    CONFIG_PROGRAM,  /* a program: a name looked up in PATH, or a path
                      * that must be safe to run as us */
    CONFIG_INT,      /* an int in [min, max] */
    CONFIG_SIZE,     /* bytes, with K/M/G/T suffixes, in [min, max] */
};

/* One setting: declared here once, with everything about it. */
struct config_setting {
    const char *name;        /* "section.key", or "key" for [DEFAULT] */
    const char *env;         /* its environment variable */
    enum config_type type;   /* how the text is checked and stored */
    size_t offset;           /* of the field in struct config */
    const char *def;         /* default, as text; NULL: computed */
    int64_t min, max;        /* range of CONFIG_INT and CONFIG_SIZE */
    const char *choices;     /* CONFIG_CHOICE: "a|b|c" */
    bool test_hook;          /* exists only in test builds */
    const char *help;        /* one line */
};

#define STR(f) CONFIG_STR, offsetof(struct config, f)
#define CHOICE(f) CONFIG_CHOICE, offsetof(struct config, f)
#define PROGRAM(f) CONFIG_PROGRAM, offsetof(struct config, f)
#define INT(f) CONFIG_INT, offsetof(struct config, f)
#define SIZE(f) CONFIG_SIZE, offsetof(struct config, f)

static const struct config_setting config_settings[] = {
    {"data_dir", "VMSNAP_DATA_DIR", STR(data_dir), NULL, 0, 0, NULL, false,
     "the data directory (default /var/lib/vmsnap for root)"},
    {"debug", "VMSNAP_DEBUG", STR(debug), "", 0, 0, NULL, false,
     "subsystems to trace, e.g. qmp,qga, or all"},
    {"compute.driver", "VMSNAP_COMPUTE_DRIVER", CHOICE(compute_driver),
     "qemu", 0, 0, "qemu|libvirt", false,
     "hypervisor driver: qemu (instances vmsnap starts) or libvirt"},
    {"compute.libvirt_uri", "VMSNAP_LIBVIRT_URI", STR(libvirt_uri),
     "qemu:///system", 0, 0, NULL, false,
     "libvirt connection of the libvirt driver"},
    {"compute.accel", "VMSNAP_ACCEL", CHOICE(accel), "auto", 0, 0,
     "auto|kvm|tcg", false,
     "accelerator of new instances: auto probes KVM"},
    {"compute.qemu", "VMSNAP_QEMU", PROGRAM(qemu), "qemu-system-x86_64", 0,
     0, NULL, false, "the QEMU system emulator"},
    {"compute.qemu_img", "VMSNAP_QEMU_IMG", PROGRAM(qemu_img), "qemu-img", 0,
     0, NULL, false, "the qemu-img program"},
    {"snapshot.freeze_timeout_ms", "VMSNAP_FREEZE_TIMEOUT_MS",
     INT(freeze_timeout_ms), "10000", 100, 600000, NULL, false,
     "how long the guest agent may take to freeze"},
    {"snapshot.max_frozen_ms", "VMSNAP_MAX_FROZEN_MS", INT(max_frozen_ms),
     "60000", 1000, 3600000, NULL, false,
     "how long past the freeze timeout a guest may stay frozen before "
     "the watchdog thaws it"},
    {"snapshot.copy_rate_limit", "VMSNAP_COPY_RATE_LIMIT",
     SIZE(copy_rate_limit), "0", 0, INT64_MAX, NULL, false,
     "bytes per second per disk a snapshot copy may use, 0: no limit"},
    {"snapshot.copy_inflight", "VMSNAP_COPY_INFLIGHT", INT(copy_inflight),
     "4", 1, 64, NULL, false,
     "read requests of 1 MiB the copy keeps in flight per disk"},
    {"snapshot.copy_stall_timeout_ms", "VMSNAP_COPY_STALL_TIMEOUT_MS",
     INT(copy_stall_ms), "120000", 1000, 3600000, NULL, false,
     "how long a disk's NBD server (QEMU, qemu-nbd) may send the copy "
     "nothing before the copy fails, taking it as hung"},
    {"snapshot.copy_yield_pct", "VMSNAP_COPY_YIELD_PCT", INT(copy_yield_pct),
     "5", 0, 100, NULL, false,
     "the copy of a running server slows down while the guest's vCPUs "
     "wait for a host core more than this share of the time (%), and "
     "speeds up when they do not; 0: never"},
    {"snapshot.copy_nice", "VMSNAP_COPY_NICE", INT(copy_nice), "10", 0, 19,
     NULL, false,
     "nice value of the copy's threads (reading, digests, compression), "
     "so that the guest's QEMU gets the cores first; 0: as vmsnap runs"},
    {"snapshot.presync", "VMSNAP_PRESYNC", INT(presync), "1", 0, 1, NULL,
     false,
     "1: flush the guest (sync through guest-exec) just before freezing "
     "it, so the freeze has less to write; 0: do not"},
    {"catalog.connection", "VMSNAP_CATALOG", STR(catalog), "", 0, 0, NULL,
     false, "empty: SQLite in the data directory; else a PostgreSQL "
            "connection string"},
    {"catalog.lease_ttl_s", "VMSNAP_LEASE_TTL_S", INT(lease_ttl_s), "30", 2,
     3600, NULL, false,
     "with a shared catalog: seconds a dead host's locks stay taken"},
    {"host.name", "VMSNAP_HOST_NAME", STR(host_name), NULL, 0, 0, NULL,
     false, "this host's name among those sharing a catalog (default: "
            "the machine's hostname)"},
    {"store.driver", "VMSNAP_STORE", CHOICE(store), "file", 0, 0, "file|s3",
     false, "where image data lives: file (the data directory) or s3"},
    {"store.s3_endpoint", "VMSNAP_S3_ENDPOINT", STR(s3_endpoint), "", 0, 0,
     NULL, false, "the S3 endpoint of the s3 store (http://host:port)"},
    {"store.s3_bucket", "VMSNAP_S3_BUCKET", STR(s3_bucket), "vmsnap", 0, 0,
     NULL, false, "the bucket of the s3 store"},
    {"store.s3_region", "VMSNAP_S3_REGION", STR(s3_region), "us-east-1", 0,
     0, NULL, false, "the region requests are signed for"},
    {"store.s3_credentials", "VMSNAP_S3_CREDENTIALS", STR(s3_credentials),
     "", 0, 0, NULL, false,
     "a file (mode 0600) holding the access key and the secret"},
    {"store.s3_part_size", "VMSNAP_S3_PART_SIZE", SIZE(s3_part_size), "32M",
     5 << 20, (int64_t)4 << 30, NULL, false,
     "the size of a multipart upload's parts"},
    {"store.s3_concurrency", "VMSNAP_S3_CONCURRENCY", INT(s3_concurrency),
     "3", 1, 16, NULL, false, "parts of one object sent at once"},
    {"store.cache_dir", "VMSNAP_S3_CACHE_DIR", STR(cache_dir), "", 0, 0,
     NULL, false,
     "local copies of objects for QEMU; empty: DATA_DIR/cache/s3"},
    {"store.cache_max", "VMSNAP_S3_CACHE_MAX", SIZE(cache_max), "10G",
     1 << 20, INT64_MAX, NULL, false, "the most the local cache holds"},
    {"store.lease_ttl_s", "VMSNAP_STORE_LEASE_TTL_S",
     INT(store_lease_ttl_s), "60", 2, 3600, NULL, false,
     "s3 store: seconds a dead host's backup or gc keeps the chunk store "
     "(gc and backups exclude each other)"},
    {"backup.chunk_size", "VMSNAP_CHUNK_SIZE", SIZE(chunk_size), "0",
     0, 16 << 20, NULL, false,
     "bytes per chunk (a power of two) of a new chunk store, 0: 64 KiB in "
     "the data directory, 1 MiB in the s3 store; an existing store keeps "
     "the size it was made with"},
    {"backup.incremental", "VMSNAP_BACKUP_INCREMENTAL",
     INT(backup_incremental), "0", 0, 1, NULL, false,
     "1: every backup goes into the chunk store, incremental when its "
     "chain allows (as with --incremental, and for the API's createBackup, "
     "which the openstack client cannot ask otherwise); 0: as asked"},
    {"limits.max_image_size", "VMSNAP_MAX_IMAGE_SIZE", SIZE(max_image_size),
     "0", 0, INT64_MAX, NULL, false,
     "largest image (bytes) an upload or import may write, 0: no limit"},
    {"limits.reserved_space", "VMSNAP_RESERVED_SPACE", SIZE(reserved_space),
     "64M", 0, INT64_MAX, NULL, false,
     "space uploads and imports leave free in the data directory"},
    {"daemon.listen", "VMSNAP_LISTEN", STR(listen), "127.0.0.1:8774", 0, 0,
     NULL, false, "address vmsnapd serves the REST API on (ADDR:PORT)"},
    {"daemon.tls_cert", "VMSNAP_TLS_CERT", STR(tls_cert), "", 0, 0, NULL,
     false, "PEM certificate chain of vmsnapd; with tls_key: HTTPS"},
    {"daemon.tls_key", "VMSNAP_TLS_KEY", STR(tls_key), "", 0, 0, NULL, false,
     "PEM private key of vmsnapd"},
    {"daemon.public_url", "VMSNAP_PUBLIC_URL", STR(public_url), "", 0, 0,
     NULL, false,
     "base URL in vmsnapd's service catalog; empty: from each request"},
    {"daemon.token_ttl", "VMSNAP_TOKEN_TTL", INT(token_ttl_s), "3600", 60,
     7 * 86400, NULL, false, "lifetime of the tokens vmsnapd issues (s)"},
    {"daemon.max_body", "VMSNAP_MAX_BODY", SIZE(max_body), "1M", 1024,
     1 << 30, NULL, false, "largest JSON request body vmsnapd reads"},
    {"worker.program", "VMSNAP_WORKER", PROGRAM(worker), "", 0, 0, NULL,
     false, "the vmsnap-worker program; empty: the one beside vmsnap"},
    {"test.break_disk", "VMSNAP_TEST_BREAK_DISK", INT(test_break_disk), "-1",
     -1, 64, NULL, true,
     "test hook: the copy of disk N fails half-way (cold: after 4 MiB)"},
    {"test.hold_frozen_ms", "VMSNAP_TEST_HOLD_FROZEN_MS",
     INT(test_hold_frozen_ms), "0", 0, 3600000, NULL, true,
     "test hook: hold the guest frozen this long"},
    {"test.backup_pause", "VMSNAP_TEST_BACKUP_PAUSE", STR(test_backup_pause),
     "", 0, 0, NULL, true,
     "test hook: a FIFO; a backup into the chunk store makes FIFO.paused "
     "and reads a line from FIFO before it commits its index"},
    {"test.request_pause", "VMSNAP_TEST_REQUEST_PAUSE",
     STR(test_request_pause), "", 0, 0, NULL, true,
     "test hook: a FIFO; a snapshot request makes FIFO.paused and reads a "
     "line from FIFO between recording its image and its task"},
};

#define N_SETTINGS (sizeof(config_settings) / sizeof(config_settings[0]))

bool
config_test_hooks_built(void)
{
#ifdef VMSNAP_TEST_HOOKS
    return true;
#else
    return false;
#endif
}

static char **
config_str_field(struct config *cfg, const struct config_setting *s)
{
    return (char **)((char *)cfg + s->offset);
}

static const struct config_setting *
config_find(const char *name)
{
    size_t i;

    for (i = 0; i < N_SETTINGS; i++) {
        if (strcmp(config_settings[i].name, name) == 0) {
            return &config_settings[i];
        }
    }
    return NULL;
}

/* Is WORD one of the '|'-separated CHOICES? */
static bool
config_is_choice(const char *choices, const char *word)
{
    size_t n = strlen(word);
    const char *p = choices;

    while (*p) {
        size_t len = strcspn(p, "|");

        if (len == n && strncmp(p, word, n) == 0) {
            return true;
        }
        p += len;
        if (*p == '|') {
            p++;
        }
    }
    return false;
}

/* A program given as a path is run as we are (root, often): refuse one
 * that someone else could have replaced (audit M7).
 */
static int
config_check_program(const char *name, const char *value,
                     struct error **errp)
{
    struct stat st;

    if (*value == '\0' || strchr(value, '/') == NULL) {
        return 0;
    }
    if (stat(value, &st) < 0) {
        error_setg_errno(errp, ERR_INVALID, errno, "%s: %s", name, value);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, ERR_INVALID, "%s: %s is not a regular file", name,
                   value);
        return -1;
    }
    if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
        (st.st_mode & (S_IWGRP | S_IWOTH))) {
        error_setg(errp, ERR_INVALID,
                   "%s: %s may be changed by another user (owner %u, mode "
                   "%03o): refusing to run it",
                   name, value, (unsigned)st.st_uid,
                   (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}

/* Store VALUE into setting S of CFG, checked for its type. */
static int
config_store(struct config *cfg, const struct config_setting *s,
             const char *value, struct error **errp)
{
    int64_t n;

    switch (s->type) {
    case CONFIG_CHOICE:
        if (!config_is_choice(s->choices, value)) {
            error_setg(errp, ERR_INVALID, "%s must be one of %s, not '%s'",
                       s->name, s->choices, value);
            return -1;
        }
        break;
    case CONFIG_PROGRAM:
        if (config_check_program(s->name, value, errp) < 0) {
            return -1;
        }
        break;
    case CONFIG_INT:
    case CONFIG_SIZE:
        if ((s->type == CONFIG_INT ? util_parse_int64(value, &n, errp)
                                   : util_parse_size(value, &n, errp)) < 0) {
            error_prepend(errp, "%s: ", s->name);
            return -1;
        }
        if (n < s->min || n > s->max) {
            error_setg(errp, ERR_INVALID,
                       "%s must be between %lld and %lld, not %s", s->name,
                       (long long)s->min, (long long)s->max, value);
            return -1;
        }
        if (s->type == CONFIG_INT) {
            *(int *)((char *)cfg + s->offset) = (int)n;
        } else {
            *(int64_t *)((char *)cfg + s->offset) = n;
        }
        return 0;
    case CONFIG_STR:
        break;
    }
    free(*config_str_field(cfg, s));
    *config_str_field(cfg, s) = xstrdup(value);
    return 0;
}

int
config_set(struct config *cfg, const char *name, const char *value,
           struct error **errp)
{
    const struct config_setting *s = config_find(name);

    if (s == NULL || (s->test_hook && !config_test_hooks_built())) {
        error_setg(errp, ERR_INVALID, "unknown setting '%s'", name);
        return -1;
    }
    return config_store(cfg, s, value, errp);
}

/* The data directory when nothing names one: /var/lib/vmsnap for root,
 * else under $XDG_DATA_HOME or ~/.local/share.
 */
static char *
config_default_data_dir(void)
{
    const char *xdg = secure_getenv("XDG_DATA_HOME");
    const char *home = secure_getenv("HOME");

    if (geteuid() == 0) {
        return xstrdup("/var/lib/vmsnap");
    }
    if (xdg && *xdg == '/') {
        return xasprintf("%s/vmsnap", xdg);
    }
    if (home && *home == '/') {
        return xasprintf("%s/.local/share/vmsnap", home);
    }
    return xstrdup("");
}

/* This host's name when nothing names it: the machine's hostname (its
 * first label is not enough: two machines may share it).
 */
static char *
config_default_host_name(void)
{
    char host[HOST_NAME_MAX + 1] = "";

    if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == '\0') {
        return xstrdup("localhost");
    }
    return xstrdup(host);
}

/* Parse one line of FILE (number LINENO) into CFG; *SECTION is the
 * current "[section]" (replaced by a section line).
 */
static int
config_parse_line(struct config *cfg, char *line, char *section,
                  size_t section_size, const char *file, int lineno,
                  struct error **errp)
{
    char *p = line, *eq, *key, *value, *end;
    CLEANUP_FREE char *name = NULL;

    p[strcspn(p, "#")] = '\0';
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' ||
                       end[-1] == '\r')) {
        *--end = '\0';
    }
    if (*p == '\0') {
        return 0;
    }
    if (*p == '[') {
        if (end[-1] != ']' || end - p < 3 ||
            (size_t)(end - p - 2) >= section_size) {
            error_setg(errp, ERR_INVALID, "%s:%d: bad section line", file,
                       lineno);
            return -1;
        }
        snprintf(section, section_size, "%.*s", (int)(end - p - 2), p + 1);
        if (strcmp(section, "DEFAULT") == 0) {
            section[0] = '\0';
        }
        return 0;
    }
    eq = strchr(p, '=');
    if (eq == NULL) {
        error_setg(errp, ERR_INVALID, "%s:%d: expected 'name = value'",
                   file, lineno);
        return -1;
    }
    key = p;
    value = eq + 1;
    while (eq > key && (eq[-1] == ' ' || eq[-1] == '\t')) {
        eq--;
    }
    *eq = '\0';
    while (*value == ' ' || *value == '\t') {
        value++;
    }
    name = *section ? xasprintf("%s.%s", section, key) : xstrdup(key);
    if (config_set(cfg, name, value, errp) < 0) {
        error_prepend(errp, "%s:%d: ", file, lineno);
        return -1;
    }
    return 0;
}

static int
config_read_file(struct config *cfg, const char *file, struct error **errp)
{
    char line[CONFIG_LINE_MAX], section[64] = "";
    struct stat st;
    FILE *fp;
    int lineno = 0, r = 0;

    fp = fopen(file, "re");
    if (fp == NULL) {
        error_setg_errno(errp, ERR_IO, errno, "cannot read %s", file);
        return -1;
    }
    if (fstat(fileno(fp), &st) == 0 && st.st_size > CONFIG_FILE_MAX) {
        fclose(fp);
        error_setg(errp, ERR_INVALID, "%s is larger than %d bytes", file,
                   CONFIG_FILE_MAX);
        return -1;
    }
    while (r == 0 && fgets(line, sizeof(line), fp)) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            error_setg(errp, ERR_INVALID, "%s:%d: line too long", file,
                       lineno);
            r = -1;
            break;
        }
        line[strcspn(line, "\n")] = '\0';
        r = config_parse_line(cfg, line, section, sizeof(section), file,
                              lineno, errp);
    }
    if (r == 0 && ferror(fp)) {
        error_setg_errno(errp, ERR_IO, errno, "cannot read %s", file);
        r = -1;
    }
    fclose(fp);
    return r;
}

/* Apply the VMSNAP_* variables of the environment. */
static int
config_read_env(struct config *cfg, struct error **errp)
{
    size_t i;

    for (i = 0; i < N_SETTINGS; i++) {
        const struct config_setting *s = &config_settings[i];
        const char *v = secure_getenv(s->env);

        if (v == NULL || *v == '\0') {
            continue;
        }
        if (s->test_hook && !config_test_hooks_built()) {
            log_warnx("%s is set, but this build has no test hooks: "
                      "ignored",
                      s->env);
            continue;
        }
        if (config_store(cfg, s, v, errp) < 0) {
            error_prepend(errp, "%s: ", s->env);
            return -1;
        }
    }
    return 0;
}

struct config *
config_load(const char *file, struct error **errp)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    const char *env_file = secure_getenv("VMSNAP_CONFIG");
    size_t i;

    for (i = 0; i < N_SETTINGS; i++) {
        const struct config_setting *s = &config_settings[i];

        if (s->def && config_store(cfg, s, s->def, errp) < 0) {
            abort();    /* a default that fails its own check is a bug */
        }
    }
    cfg->data_dir = config_default_data_dir();
    cfg->host_name = config_default_host_name();
    if (file == NULL && env_file && *env_file) {
        file = env_file;
    }
    if (file == NULL && access(CONFIG_DEFAULT_FILE, F_OK) == 0) {
        file = CONFIG_DEFAULT_FILE;
    }
    if (file) {
        cfg->file = xstrdup(file);
        if (config_read_file(cfg, file, errp) < 0) {
            config_free(cfg);
            return NULL;
        }
    }
    if (config_read_env(cfg, errp) < 0) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

void
config_free(struct config *cfg)
{
    size_t i;

    if (cfg == NULL) {
        return;
    }
    for (i = 0; i < N_SETTINGS; i++) {
        const struct config_setting *s = &config_settings[i];

        if (s->type != CONFIG_INT && s->type != CONFIG_SIZE) {
            free(*config_str_field(cfg, s));
        }
    }
    free(cfg->file);
    free(cfg);
}

void
config_foreach(const struct config *cfg,
               void (*fn)(const char *name, const char *value,
                          const char *help, void *opaque),
               void *opaque)
{
    size_t i;

    for (i = 0; i < N_SETTINGS; i++) {
        const struct config_setting *s = &config_settings[i];
        const char *p = (const char *)cfg + s->offset;
        char buf[32];

        if (s->test_hook && !config_test_hooks_built()) {
            continue;
        }
        switch (s->type) {
        case CONFIG_INT:
            snprintf(buf, sizeof(buf), "%d", *(const int *)p);
            fn(s->name, buf, s->help, opaque);
            break;
        case CONFIG_SIZE:
            snprintf(buf, sizeof(buf), "%lld",
                     (long long)*(const int64_t *)p);
            fn(s->name, buf, s->help, opaque);
            break;
        default:
            fn(s->name, *(char *const *)p, s->help, opaque);
            break;
        }
    }
}
