/* vmsnapd: the web page's static files, served at / on the API's port.
 *
 * The page (www/ in the source tree; installed in
 * DATADIR/vmsnap/www) is a few files: index.html, its stylesheet, its
 * scripts and an icon.  It talks only to the REST API, with the token it
 * gets by logging in, so serving it is only this: GET (and HEAD) of
 * "/" (index.html) and of "/NAME" for a file directly in the directory.
 *
 * What is served, and what is not:
 *   - a NAME of letters, digits, '.', '-' and '_' that starts with a
 *     letter or digit, has no "..", and ends in an extension of the
 *     table in www.c (html, css, js, svg, png, ico, txt); anything else
 *     is 404, so no dot-file, no path outside the directory, no
 *     sub-directory and no listing;
 *   - only a regular file opened without following a symbolic link
 *     (O_NOFOLLOW): a link that points out of the directory is 404;
 *   - with its type (charset=utf-8 for text), an ETag from its size,
 *     modification time and inode, "Cache-Control: no-cache" (a browser
 *     revalidates every time and gets 304 when nothing changed: the page
 *     is current after an upgrade, and a visit costs a few hundred
 *     bytes), and headers that keep data from the API from turning into
 *     code: a Content-Security-Policy allowing nothing but this origin
 *     (no inline script, no other host), nosniff, no framing, no
 *     referrer.
 *
 * The routes are public (the files hold no data) and come last in the
 * daemon's tables, so the API's own one-segment paths ("/identity",
 * "/image", ...) keep their handlers.
 */
#ifndef VMSNAPD_WWW_H
#define VMSNAPD_WWW_H

#include <stdbool.h>

#include "router.h"

/* GET / and GET /{file}, from api_ctx.www_dir. */
extern const struct route_table www_routes;

/* True if NAME may be served (the rules above).  Pure: for tests. */
bool www_name_ok(const char *name);

/* The Content-Type of NAME by its extension, or NULL when it is not one
 * that is served.  Pure: for tests.
 */
const char *www_content_type(const char *name);

#endif
