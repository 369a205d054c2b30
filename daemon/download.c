/* vmsnapd: streamed downloads with Range support (see download.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "download.h"
#include "xalloc.h"

/* Shifts offsets of a ranged reader by the range's start. */
struct download_window {
    http_reader_fn *read;    /* the source's reader */
    void *opaque;            /* its state */
    void (*free_fn)(void *); /* releases it */
    uint64_t first;          /* first byte of the range */
};

static ssize_t
download_window_read(void *opaque, uint64_t offset, void *buf, size_t max)
{
    struct download_window *w = opaque;

    return w->read(w->opaque, w->first + offset, buf, max);
}

static void
download_window_free(void *opaque)
{
    struct download_window *w = opaque;

    if (w->free_fn) {
        w->free_fn(w->opaque);
    }
    free(w);
}

static void
download_release(const struct download_source *src)
{
    if (src->fd >= 0) {
        close(src->fd);
    } else if (src->free_fn) {
        src->free_fn(src->opaque);
    }
}

void
download_respond(struct api_req *r, const struct download_source *src)
{
    uint64_t first = 0, last = 0, len;
    char hdr[96];
    int status = 200;

    switch (http_parse_range(http_req_header(r->http, "Range"), src->size,
                             &first, &last)) {
    case HTTP_RANGE_UNSATISFIABLE:
        download_release(src);
        snprintf(hdr, sizeof(hdr), "bytes */%" PRIu64, src->size);
        http_add_header(r->http, "Content-Range", hdr);
        api_error(r, 416,
                  "Requested range not satisfiable: the resource "
                  "has %" PRIu64 " bytes",
                  src->size);
        return;
    case HTTP_RANGE_PARTIAL:
        status = 206;
        snprintf(hdr, sizeof(hdr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                 first, last, src->size);
        http_add_header(r->http, "Content-Range", hdr);
        len = last - first + 1;
        break;
    case HTTP_RANGE_NONE:
    default:
        first = 0;
        len = src->size;
        if (src->md5) {
            http_add_header(r->http, "Content-MD5", src->md5);
        }
        break;
    }
    http_add_header(r->http, "Accept-Ranges", "bytes");
    http_add_header(r->http, "Content-Type", "application/octet-stream");
    if (src->fd >= 0) {
        http_respond_fd(r->http, status, src->fd, first, len);
        return;
    }
    if (first == 0) {
        http_respond_reader(r->http, status, len, src->read, src->opaque,
                            src->free_fn);
        return;
    }
    {
        struct download_window *w = xcalloc(1, sizeof(*w));

        w->read = src->read;
        w->opaque = src->opaque;
        w->free_fn = src->free_fn;
        w->first = first;
        http_respond_reader(r->http, status, len, download_window_read, w,
                            download_window_free);
    }
}
