/* vmsnapd: options, start-up, signals and stop (see daemon.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "apis.h"
#include "cleanup.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "svcpool.h"
#include "util.h"
#include "www.h"

/* Free heap kept by the daemon's threads instead of returned to the
 * kernel (mallopt M_TRIM_THRESHOLD), and the size from which a block is
 * mapped on its own (M_MMAP_THRESHOLD; a listing's JSON text is one
 * such block).
 */
#define DAEMON_TRIM_THRESHOLD (16 * 1024 * 1024)
#define DAEMON_MMAP_THRESHOLD (16 * 1024 * 1024)

/* The microversions served: Nova 2.1 only and Cinder 3.0 only.  Every
 * command of the seeds passes with them (openstack-api.md §4, config A),
 * and one shape per resource is what the views implement.  A higher
 * maximum promises the behaviour of every microversion up to it (2.37:
 * networks required; 2.47: the flavor embedded in servers; ...), so it
 * rises only with the views that honour it.
 */
static const struct api_version daemon_compute_min = {2, 1};
static const struct api_version daemon_compute_max = {2, 1};
static const struct api_version daemon_volume_min = {3, 0};
static const struct api_version daemon_volume_max = {3, 0};

#define DAEMON_MAX_TABLES 16

/* The options. */
struct daemon_opts {
    const char *listen;     /* --listen */
    const char *config;     /* --config */
    const char *data_dir;   /* --data-dir */
    const char *tls_cert;   /* --tls-cert */
    const char *tls_key;    /* --tls-key */
    const char *public_url; /* --public-url */
    const char *port_file;  /* --port-file */
    const char *www_dir;    /* --www-dir */
    int64_t max_body;       /* --max-body */
    int64_t token_ttl;      /* --token-ttl */
    int64_t grace_s;        /* --shutdown-grace */
    int64_t max_conns;      /* --max-conns */
    bool quiet;             /* --quiet */
};

static void
daemon_usage(FILE *fp)
{
    fprintf(fp, "usage: vmsnapd [OPTIONS]\n"
                "Options not given take the [daemon] settings of the "
                "configuration.\n"
                "  --listen ADDR:PORT     address to serve on (default "
                "127.0.0.1:8774;\n"
                "                         IPv6 in brackets: [::1]:8774)\n"
                "  --config FILE          vmsnap configuration file\n"
                "  --data-dir DIR         data directory\n"
                "  --tls-cert FILE        PEM certificate chain (with "
                "--tls-key: HTTPS)\n"
                "  --tls-key FILE         PEM private key\n"
                "  --public-url URL       base URL put in the service catalog\n"
                "                         (default: from each request's Host)\n"
                "  --foreground           stay in the foreground (the "
                "default)\n"
                "  --port-file FILE       write the port there once listening\n"
                "  --max-body BYTES       largest JSON request body (default "
                "1M)\n"
                "  --token-ttl SECONDS    lifetime of tokens (default 3600)\n"
                "  --shutdown-grace SECONDS\n"
                "                         time requests get to end on SIGTERM "
                "(default 30)\n"
                "  --max-conns N          connections at once (default 256)\n"
                "  --quiet                no access log\n"
                "  --www-dir DIR          the web page's files (default "
                VMSNAP_WWW_DIR ")\n"
                "  --help, --version\n");
}

/* Parse a whole number of at least MIN for option NAME. */
static int
daemon_number(const char *name, const char *s, int64_t min, int64_t max,
              bool size, int64_t *out)
{
    CLEANUP_ERROR struct error *err = NULL;
    int rc =
        size ? util_parse_size(s, out, &err) : util_parse_int64(s, out, &err);

    if (rc < 0 || *out < min || *out > max) {
        fprintf(stderr,
                "vmsnapd: --%s %s: expected a number from %lld to "
                "%lld\n",
                name, s, (long long)min, (long long)max);
        return -1;
    }
    return 0;
}

/* Parse ARGV into *O; 0, 1 (done: help or version), or -1 (usage). */
static int
daemon_parse(int argc, char **argv, struct daemon_opts *o)
{
    enum {
        O_LISTEN = 256,
        O_CONFIG,
        O_DATA_DIR,
        O_TLS_CERT,
        O_TLS_KEY,
        O_PUBLIC_URL,
        O_FOREGROUND,
        O_PORT_FILE,
        O_MAX_BODY,
        O_TOKEN_TTL,
        O_GRACE,
        O_MAX_CONNS,
        O_QUIET,
        O_WWW_DIR,
        O_HELP,
        O_VERSION,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"config", required_argument, NULL, O_CONFIG},
        {"data-dir", required_argument, NULL, O_DATA_DIR},
        {"tls-cert", required_argument, NULL, O_TLS_CERT},
        {"tls-key", required_argument, NULL, O_TLS_KEY},
        {"public-url", required_argument, NULL, O_PUBLIC_URL},
        {"foreground", no_argument, NULL, O_FOREGROUND},
        {"port-file", required_argument, NULL, O_PORT_FILE},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"token-ttl", required_argument, NULL, O_TOKEN_TTL},
        {"shutdown-grace", required_argument, NULL, O_GRACE},
        {"max-conns", required_argument, NULL, O_MAX_CONNS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"www-dir", required_argument, NULL, O_WWW_DIR},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;

    /* Unset options (NULL, -1) take the configuration's values
     * (daemon_settle).
     */
    memset(o, 0, sizeof(*o));
    o->max_body = -1;
    o->token_ttl = -1;
    o->grace_s = 30;
    o->max_conns = 256;
    o->www_dir = VMSNAP_WWW_DIR;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            o->listen = optarg;
            break;
        case O_CONFIG:
            o->config = optarg;
            break;
        case O_DATA_DIR:
            o->data_dir = optarg;
            break;
        case O_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case O_TLS_KEY:
            o->tls_key = optarg;
            break;
        case O_PUBLIC_URL:
            o->public_url = optarg;
            break;
        case O_FOREGROUND:
            break;
        case O_PORT_FILE:
            o->port_file = optarg;
            break;
        case O_MAX_BODY:
            if (daemon_number("max-body", optarg, 1024, 1 << 30, true,
                              &o->max_body) < 0) {
                return -1;
            }
            break;
        case O_TOKEN_TTL:
            if (daemon_number("token-ttl", optarg, 1, 7 * 86400, false,
                              &o->token_ttl) < 0) {
                return -1;
            }
            break;
        case O_GRACE:
            if (daemon_number("shutdown-grace", optarg, 0, 3600, false,
                              &o->grace_s) < 0) {
                return -1;
            }
            break;
        case O_MAX_CONNS:
            if (daemon_number("max-conns", optarg, 1, 10000, false,
                              &o->max_conns) < 0) {
                return -1;
            }
            break;
        case O_QUIET:
            o->quiet = true;
            break;
        case O_WWW_DIR:
            o->www_dir = optarg;
            break;
        case O_HELP:
            daemon_usage(stdout);
            return 1;
        case O_VERSION:
            printf("vmsnapd %s\n", VMSNAP_VERSION);
            return 1;
        default:
            fprintf(stderr,
                    "vmsnapd: unknown option or missing value: "
                    "%s\n",
                    argv[optind - 1]);
            daemon_usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vmsnapd: unexpected argument %s\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* Fill the options not given from CFG (the [daemon] settings of the
 * configuration file and the VMSNAP_* environment), then check them.
 * 0, or -1 (usage, reported).
 */
static int
daemon_settle(struct daemon_opts *o, const struct config *cfg)
{
    if (o->listen == NULL) {
        o->listen = cfg->listen;
    }
    if (o->tls_cert == NULL && cfg->tls_cert[0]) {
        o->tls_cert = cfg->tls_cert;
    }
    if (o->tls_key == NULL && cfg->tls_key[0]) {
        o->tls_key = cfg->tls_key;
    }
    if (o->public_url == NULL && cfg->public_url[0]) {
        o->public_url = cfg->public_url;
    }
    if (o->max_body < 0) {
        o->max_body = cfg->max_body;
    }
    if (o->token_ttl < 0) {
        o->token_ttl = cfg->token_ttl_s;
    }
    {
        CLEANUP_ERROR struct error *err = NULL;
        struct sockaddr_storage ss;
        socklen_t len;

        if (http_parse_listen(o->listen, &ss, &len, &err) < 0) {
            fprintf(stderr, "vmsnapd: %s\n", error_msg(err));
            return -1;
        }
    }
    if ((o->tls_cert == NULL) != (o->tls_key == NULL)) {
        fprintf(stderr, "vmsnapd: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (o->public_url && strncmp(o->public_url, "http://", 7) != 0 &&
        strncmp(o->public_url, "https://", 8) != 0) {
        fprintf(stderr, "vmsnapd: --public-url must start with http:// or "
                        "https://\n");
        return -1;
    }
    return 0;
}

/* Tell systemd STATE ("READY=1") when it supervises us (sd_notify(3)'s
 * protocol: one datagram to the unix socket NOTIFY_SOCKET names).
 */
static void
daemon_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@')) {
        return;
    }
    len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0';
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
        log_warnx("cannot notify systemd: %s", strerror(errno));
    }
    close(fd);
}

/* Write PORT to PATH through a temporary file, so a reader never sees
 * half of it.
 */
static int
daemon_write_port(const char *path, int port)
{
    CLEANUP_FREE char *tmp = util_strdup_printf("%s.tmp", path);
    FILE *fp;

    fp = fopen(tmp, "we");
    if (fp == NULL) {
        return -1;
    }
    fprintf(fp, "%d\n", port);
    if (fclose(fp) != 0 || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The configuration: the file (--config, $VMSNAP_CONFIG or the default
 * one), the environment, then --data-dir.  NULL after reporting why.
 */
static struct config *
daemon_config(const struct daemon_opts *o)
{
    CLEANUP_ERROR struct error *err = NULL;
    struct config *cfg = config_load(o->config, &err);

    if (cfg && o->data_dir &&
        config_set(cfg, "data_dir", o->data_dir, &err) < 0) {
        config_free(cfg);
        cfg = NULL;
    }
    if (cfg == NULL) {
        error_report("vmsnapd", steal_pointer(&err));
        return NULL;
    }
    log_set_debug(cfg->debug);
    return cfg;
}

/* Fill TABLES (DAEMON_MAX_TABLES + 2 entries) with the route tables in
 * the order the router tries them, NULL-terminated: the APIs, then
 * SETUP's own (a test build's), then the web page's, last because its
 * "/{file}" would take any path.
 */
static void
daemon_tables(const struct route_table **tables,
              const struct daemon_setup *setup)
{
    size_t i, nt = 0;

    tables[nt++] = &discovery_routes;
    tables[nt++] = &identity_routes;
    tables[nt++] = &image_schema_routes;
    tables[nt++] = &image_routes;
    tables[nt++] = &flavor_routes;
    tables[nt++] = &compute_routes;
    tables[nt++] = &volume_routes;
    for (i = 0; setup->tables && setup->tables[i] && nt < DAEMON_MAX_TABLES;
         i++) {
        tables[nt++] = setup->tables[i];
    }
    tables[nt++] = &www_routes;
    tables[nt] = NULL;
}

/* The fallback host of URLs into OUT (LEN bytes): the address LISTEN
 * ("ADDR:PORT") with the PORT bound, or "localhost" for a wildcard
 * address.
 */
static void
daemon_local_host(const char *listen, int port, char *out, size_t len)
{
    const char *colon = strrchr(listen, ':');
    int hlen = (int)(colon - listen);

    if ((hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
        (hlen == 4 && strncmp(listen, "[::]", 4) == 0)) {
        snprintf(out, len, "localhost:%d", port);
    } else {
        snprintf(out, len, "%.*s:%d", hlen, listen, port);
    }
}

/* Wait for a signal of SET that stops us (SIGHUP is logged and
 * ignored); return it.
 */
static int
daemon_wait_signal(const sigset_t *set)
{
    int sig = 0;

    for (;;) {
        if (sigwait(set, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP) {
            return sig;
        }
        log_warnx("SIGHUP ignored");
    }
}

int
daemon_main(int argc, char **argv, const struct daemon_setup *setup)
{
    CLEANUP_ERROR struct error *err = NULL;
    const struct route_table *tables[DAEMON_MAX_TABLES + 2]; /* + www */
    struct identity_open_args idargs;
    struct http_server *srv = NULL;
    struct svcpool *pool = NULL;
    struct router *rt = NULL;
    struct config *cfg = NULL;
    bool identity_open = false;
    struct http_options hopts;
    struct daemon_opts o;
    struct api_ctx ctx;
    char local[64];
    sigset_t set;
    unsigned left;
    int rc, sig;

    rc = daemon_parse(argc, argv, &o);
    if (rc != 0) {
        return rc > 0 ? 0 : 2;
    }
    log_init("vmsnapd");
    /* Keep freed heap for the next request: a listing builds megabytes
     * of small JSON objects and its text, and giving the memory back
     * after each one made every request grow the heap again, page
     * fault by page fault (a sixth of the CPU of GET
     * /image/v2/images?limit=1000, perf: 39 ms -> 20-24 ms a request).
     */
    mallopt(M_TRIM_THRESHOLD, DAEMON_TRIM_THRESHOLD);
    mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
    if (o.config && access(o.config, R_OK) < 0) {
        fprintf(stderr, "vmsnapd: --config %s: %s\n", o.config,
                strerror(errno));
        return 1;
    }
    cfg = daemon_config(&o);
    if (cfg == NULL) {
        return 1;
    }
    if (daemon_settle(&o, cfg) < 0) {
        config_free(cfg);
        return 2;
    }
    rc = 1;
    /* Peers that go away must not kill us (http.c relies on it). */
    signal(SIGPIPE, SIG_IGN);
    /* The signals that stop us are taken by sigwait in this thread only:
     * block them before any thread starts, so every thread inherits the
     * mask.
     */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    memset(&ctx, 0, sizeof(ctx));
    ctx.identity = setup->identity;
    ctx.public_url = o.public_url;
    ctx.token_ttl_s = o.token_ttl;
    ctx.max_json_body = (size_t)o.max_body;
    ctx.data_dir = cfg->data_dir;
    ctx.www_dir = o.www_dir;
    ctx.compute_min = daemon_compute_min;
    ctx.compute_max = daemon_compute_max;
    ctx.volume_min = daemon_volume_min;
    ctx.volume_max = daemon_volume_max;
    if (setup->identity == NULL ||
        setup->identity->version < IDENTITY_OPS_VERSION) {
        fprintf(stderr, "vmsnapd: no usable identity backend\n");
        goto out;
    }
    /* The services first: opening the first context recovers what a
     * process that died left, before any request is answered.
     */
    pool = svcpool_new(cfg, (unsigned)o.max_conns, &err);
    if (pool == NULL) {
        error_prepend(&err, "data directory %s: ", cfg->data_dir);
        error_report("vmsnapd", steal_pointer(&err));
        goto out;
    }
    ctx.services = pool;
    idargs.data_dir = cfg->data_dir;
    idargs.config_file = o.config;
    idargs.services = pool;
    if (setup->identity->open(&idargs, &ctx.identity_priv, &err) < 0) {
        error_prepend(&err, "identity backend %s: ", setup->identity->name);
        error_report("vmsnapd", steal_pointer(&err));
        goto out;
    }
    identity_open = true;
    daemon_tables(tables, setup);
    rt = router_new(tables, &ctx);

    memset(&hopts, 0, sizeof(hopts));
    hopts.listen = o.listen;
    hopts.tls_cert = o.tls_cert;
    hopts.tls_key = o.tls_key;
    hopts.max_conns = (unsigned)o.max_conns;
    hopts.quiet = o.quiet;
    hopts.handlers = router_handlers(rt);
    srv = http_start(&hopts, &err);
    if (srv == NULL) {
        error_report("vmsnapd", steal_pointer(&err));
        goto out;
    }
    daemon_local_host(o.listen, http_port(srv), local, sizeof(local));
    ctx.local_host = local;
    if (o.port_file && daemon_write_port(o.port_file, http_port(srv)) < 0) {
        fprintf(stderr, "vmsnapd: cannot write --port-file %s: %s\n",
                o.port_file, strerror(errno));
        http_stop(srv, 0);
        goto out;
    }
    fprintf(stderr, "vmsnapd: listening on %s://%s (identity backend %s)\n",
            http_is_tls(srv) ? "https" : "http", local, setup->identity->name);
    daemon_notify("READY=1");

    sig = daemon_wait_signal(&set);
    daemon_notify("STOPPING=1");
    fprintf(stderr,
            "vmsnapd: %s: stopping; %u requests in flight get "
            "%llds\n",
            strsignal(sig), http_in_flight(srv), (long long)o.grace_s);
    left = http_stop(srv, (int)(o.grace_s * 1000));
    if (left > 0) {
        log_warnx("%u requests were cut at the end of the grace period", left);
    }
    rc = 0;
out:
    router_free(rt);
    if (identity_open) {
        setup->identity->close(ctx.identity_priv);
    }
    svcpool_free(pool);
    config_free(cfg);
    if (rc == 0) {
        fprintf(stderr, "vmsnapd: stopped\n");
    }
    return rc;
}
