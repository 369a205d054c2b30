#!/bin/bash
# The web page's files as vmsnapd serves them (daemon/www.c), driven with
# curl against the test build: types, caching, security headers, and
# nothing outside the directory (dot-files, sub-directories, symbolic
# links, encoded dots).
. "$SRCDIR/tests/api/lib.sh"

# A copy of www/ with traps beside the real files.
W=$T_DIR/www
mkdir -p "$W/sub" "$T_DIR/outside"
cp "$SRCDIR"/www/* "$W/"
echo secret >"$T_DIR/outside/secret.txt"
echo hidden >"$W/.hidden.txt"
echo nested >"$W/sub/nested.txt"
mkdir "$W/dir.txt"
ln -s "$T_DIR/outside/secret.txt" "$W/link.txt"
printf 'x' >"$W/notes.md"

start_daemon www --www-dir "$W"
ok $? "vmsnapd-test starts with --www-dir"
B=$BASE

s=$(status GET "$B/")
ok $(test "$s" = 200 && cmp -s "$T_DIR/body" "$SRCDIR/www/index.html"; echo $?) "GET /: 200, index.html"
ok $(test "$(header Content-Type)" = "text/html; charset=utf-8"; echo $?) "index.html is text/html; charset=utf-8"
ok $(test "$(header Cache-Control)" = no-cache && header ETag | grep -qE '^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$'; echo $?) "Cache-Control: no-cache and a strong ETag"
ok $(header Content-Security-Policy | grep -q "default-src 'none'; script-src 'self'" && test "$(header X-Content-Type-Options)" = nosniff && test "$(header X-Frame-Options)" = DENY && test "$(header Referrer-Policy)" = no-referrer; echo $?) "CSP (only this origin, no inline script), nosniff, no framing, no referrer"
etag=$(header ETag)
rm -f "$T_DIR/body"
s=$(status GET "$B/" -H "If-None-Match: $etag")
ok $(test "$s" = 304 && ! test -s "$T_DIR/body"; echo $?) "If-None-Match with the ETag: 304, no body"
s=$(status GET "$B/" -H 'If-None-Match: "other"')
ok $(test "$s" = 200; echo $?) "another ETag: 200"
s=$(status HEAD "$B/index.html" -I)
ok $(test "$s" = 200 && test "$(header Content-Length)" = "$(stat -c %s "$SRCDIR/www/index.html")"; echo $?) "HEAD /index.html: 200 with the length"

for f in "$SRCDIR"/www/*; do
    n=$(basename "$f")
    case $n in
    *.html) t="text/html; charset=utf-8" ;;
    *.js) t="text/javascript; charset=utf-8" ;;
    *.css) t="text/css; charset=utf-8" ;;
    *.svg) t="image/svg+xml" ;;
    *.png) t="image/png" ;;
    *) t="" ;;
    esac
    s=$(status GET "$B/$n")
    ok $(test "$s" = 200 && test "$(header Content-Type)" = "$t" && cmp -s "$T_DIR/body" "$f"; echo $?) "GET /$n: 200, $t, the file's bytes"
done

for p in /.hidden.txt /sub/nested.txt /sub /sub/ /dir.txt /link.txt \
         /notes.md /%2e%2e/outside/secret.txt /..%2foutside%2fsecret.txt \
         /%2e%2e%2foutside%2fsecret.txt /nothing.js /index.html%00.js; do
    s=$(status GET "$B$p" --path-as-is)
    ok $(test "$s" = 404 && ! grep -q -e secret -e hidden -e nested "$T_DIR/body"; echo $?) "GET $p: 404, nothing of it"
done
s=$(status GET "$B/../outside/secret.txt" --path-as-is)
ok $(test "$s" != 200 && ! grep -q secret "$T_DIR/body"; echo $?) "GET /../outside/secret.txt: refused ($s)"

s=$(status POST "$B/index.html" -d x)
ok $(test "$s" = 405 && test "$(header Allow)" = GET; echo $?) "POST /index.html: 405, Allow: GET"
s=$(status GET "$B/identity")
ok $(test "$s" = 300; echo $?) "GET /identity is still Keystone's version list"
s=$(status GET "$B/image")
ok $(test "$s" = 300; echo $?) "GET /image is still Glance's version list"

stop_daemon
start_daemon nowww --www-dir "$T_DIR/missing"
s=$(status GET "$BASE/")
ok $(test "$s" = 404 && grep -q 'Not Found' "$T_DIR/body"; echo $?) "a missing --www-dir: 404, the API still serves"
s=$(status GET "$BASE/identity/v3")
ok $(test "$s" = 200; echo $?) "GET /identity/v3: 200"
stop_daemon

done_testing
