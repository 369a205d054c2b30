#!/bin/bash
# The test build of vmsnapd driven with curl: version documents, login,
# the token check, errors in each service's shape, body limits,
# microversions, streamed uploads and Range downloads, client
# disconnects, keep-alive, IPv6, TLS, and an orderly stop.
. "$(dirname "$0")/lib.sh"

start_daemon main --max-body 64K
ok $? "vmsnapd-test starts and answers"
B=$BASE
J=$T_DIR/body

# --- Version documents (openstack-api.md §3) ---------------------------
s=$(status GET "$B/identity")
ok $(test "$s" = 300 && [ "$(json "$J" "d['versions']['values'][0]['id']")" = v3.14 ]; echo $?) "GET /identity: 300, Keystone v3.14"
s=$(status GET "$B/identity/v3")
ok $(test "$s" = 200 && [ "$(json "$J" "d['version']['links'][0]['href']")" = "$B/identity/v3/" ]; echo $?) "GET /identity/v3: 200, self link at the request's host"
s=$(status GET "$B/image")
ok $(test "$s" = 300 && [ "$(json "$J" "d['versions'][0]['status']")" = CURRENT ]; echo $?) "GET /image: 300, a CURRENT v2"
s=$(status GET "$B/image/versions")
ok $(test "$s" = 200 && [ "$(json "$J" "d['versions'][-1]['links'][0]['href']")" = "$B/image/v2/" ]; echo $?) "GET /image/versions: 200"
s=$(status GET "$B/compute/v2.1")
ok $(test "$s" = 200 && [ "$(json "$J" "d['version']['version'] + ' ' + d['version']['min_version']")" = "2.1 2.1" ]; echo $?) "GET /compute/v2.1: microversions 2.1 to 2.1"
s=$(status GET "$B/compute/v2.1/")
ok $(test "$s" = 200; echo $?) "GET /compute/v2.1/ (trailing slash): 200"
s=$(status GET "$B/compute")
ok $(test "$s" = 200 && [ "$(json "$J" "d['versions'][0]['id']")" = v2.1 ]; echo $?) "GET /compute: 200"
s=$(status GET "$B/volume/")
ok $(test "$s" = 300 && [ "$(json "$J" "d['versions'][0]['version']")" = 3.0 ]; echo $?) "GET /volume/: 300, Cinder 3.0"
s=$(status GET "$B/volume/v3/")
ok $(test "$s" = 200; echo $?) "GET /volume/v3/: 200"
s=$(status GET "$B/identity/v3" -H 'Host: evil"<>')
ok $(test "$s" = 200 && json "$J" "d['version']['links'][0]['href']" | grep -q "^http://127.0.0.1:$PORT/"; echo $?) "a malformed Host falls back to the listen address"

# --- Login (POST /identity/v3/auth/tokens) -------------------------------
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(auth_body alice secret1 demo)")
TA=$(header X-Subject-Token)
ok $(test "$s" = 201 && [ ${#TA} -eq 43 ]; echo $?) "alice logs in: 201 and a 43-character X-Subject-Token"
cp "$J" "$T_DIR/token.json"
TJ=$T_DIR/token.json
PID_DEMO=$(json "$TJ" "d['token']['project']['id']")
ok $(test "$(json "$TJ" "sorted(s['type'] for s in d['token']['catalog'])")" = "['block-storage', 'compute', 'identity', 'image', 'volumev3']"; echo $?) "the catalog names identity, image, compute, volumev3, block-storage"
ok $(test "$(json "$TJ" "[e['url'] for s in d['token']['catalog'] if s['type'] == 'volumev3' for e in s['endpoints'] if e['interface'] == 'public'][0]")" = "$B/volume/v3/$PID_DEMO"; echo $?) "volumev3 endpoint carries the project id"
ok $(test "$(json "$TJ" "[e['url'] for s in d['token']['catalog'] if s['type'] == 'compute' for e in s['endpoints']][0]")" = "$B/compute/v2.1"; echo $?) "compute endpoint is /compute/v2.1"
ok $(json "$TJ" "d['token']['expires_at']" | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.000000Z$'; echo $?) "expires_at is ISO 8601 with Z"
ok $(test "$(json "$TJ" "[r['name'] for r in d['token']['roles']]")" = "['admin', 'member', 'reader']" && test "$(json "$TJ" "d['token']['methods']")" = "['password']"; echo $?) "roles of an admin; methods"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(auth_body bob secret2 demo)")
TB=$(header X-Subject-Token)
ok $(test "$s" = 201 && [ "$(json "$J" "[r['name'] for r in d['token']['roles']]")" = "['member', 'reader']" ]; echo $?) "bob logs in as a member"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(auth_body alice wrong demo)")
ok $(test "$s" = 401 && [ "$(json "$J" "d['error']['message']")" = "The request you have made requires authentication." ] && header WWW-Authenticate | grep -q '^Keystone uri='; echo $?) "a wrong password: 401 in Keystone's shape"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(auth_body nobody wrong demo)")
ok $(test "$s" = 401; echo $?) "an unknown user: 401"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(auth_body carol secret3 demo)")
ok $(test "$s" = 401; echo $?) "a project the user has no role on: 401"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "$(auth_body bob secret2 "")")
TU=$(header X-Subject-Token)
ok $(test "$s" = 201 && json "$J" "'catalog' not in d['token'] and 'project' not in d['token']" | grep -q True; echo $?) "no scope: an unscoped token without a catalog"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d "{\"auth\":{\"identity\":{\"methods\":[\"token\"],\"token\":{\"id\":\"$TU\"}},\"scope\":{\"project\":{\"name\":\"other\",\"domain\":{\"id\":\"default\"}}}}}")
ok $(test "$s" = 201 && [ "$(json "$J" "d['token']['project']['name'] + ' ' + d['token']['methods'][0]")" = "other token" ]; echo $?) "the token method rescopes an unscoped token"

# --- Malformed and oversize bodies --------------------------------------
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d '{"auth": {')
ok $(test "$s" = 400 && json "$J" "d['error']['message']" | grep -q 'Malformed request body'; echo $?) "malformed JSON: 400"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d '{"auth":{"identity":{"methods":"password"}}}')
ok $(test "$s" = 400 && json "$J" "d['error']['message']" | grep -q "body.auth.identity.methods. Value: \"password\". \"password\" is not of type 'array'"; echo $?) "a wrong type: 400 naming the field"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d '{}')
ok $(test "$s" = 400 && json "$J" "d['error']['message']" | grep -q "'auth' is a required property"; echo $?) "a missing member: 400"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -d '[1]')
ok $(test "$s" = 400; echo $?) "not an object: 400"
head -c 70000 /dev/zero | tr '\0' ' ' >"$T_DIR/big.json"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' --data-binary @"$T_DIR/big.json")
ok $(test "$s" = 413 && json "$J" "d['error']['code']" | grep -q 413; echo $?) "a body over --max-body (Content-Length): 413"
s=$(status POST "$B/identity/v3/auth/tokens" -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$T_DIR/big.json")
ok $(test "$s" = 413; echo $?) "a chunked body over --max-body: 413"

s=$(head -c 70000000 /dev/zero | curl -sk -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @- "$B/identity/v3/auth/tokens")
ok $(test "$s" -lt 200 && grep -q 'unwanted body; disconnecting' "$LOG"; echo $?) "an endless body past the limit: read up to 64 MiB, then disconnected"
s=$(status GET "$B/identity/v3")
ok $(test "$s" = 200; echo $?) "the daemon goes on"

# --- Unknown routes: 404 and 405 in each service's shape ----------------
s=$(status GET "$B/identity/v3/nothing")
ok $(test "$s" = 404 && json "$J" "d['error']['title']" | grep -q 'Not Found'; echo $?) "Keystone 404: {\"error\": ...}"
s=$(status GET "$B/image/v2/images/cirros")
ok $(test "$s" = 404 && grep -q '<h1>404 Not Found</h1>' "$J" && header Content-Type | grep -q text/html; echo $?) "Glance 404: webob HTML"
s=$(status GET "$B/compute/v2.1/servers/vm1" -H "X-Auth-Token: $TA")
ok $(test "$s" = 404 && json "$J" "d['itemNotFound']['code']" | grep -q 404; echo $?) "Nova 404: itemNotFound"
s=$(status GET "$B/volume/v3/$PID_DEMO/volumes/v1")
ok $(test "$s" = 404 && json "$J" "d['itemNotFound']['message']" | grep -q 'could not be found'; echo $?) "Cinder 404: itemNotFound"
s=$(status DELETE "$B/identity/v3/auth/catalog" -H "X-Auth-Token: $TA")
ok $(test "$s" = 405 && [ "$(header Allow)" = GET ]; echo $?) "405 with Allow"
ok $(test -n "$(header x-openstack-request-id)"; echo $?) "responses carry x-openstack-request-id"

# --- The token check ------------------------------------------------------
s=$(status GET "$B/test/whoami")
ok $(test "$s" = 401; echo $?) "no X-Auth-Token: 401"
s=$(status GET "$B/test/whoami" -H 'X-Auth-Token: garbage')
ok $(test "$s" = 401; echo $?) "a garbage token: 401"
s=$(status GET "$B/test/whoami" -H "X-Auth-Token: ${TA%?}x")
ok $(test "$s" = 401; echo $?) "an unknown token: 401"
s=$(status GET "$B/test/whoami" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && [ "$(json "$J" "str(d['admin']) + ' ' + d['project_id']")" = "True $PID_DEMO" ]; echo $?) "a good token: the caller record (admin, project)"
s=$(status GET "$B/test/whoami" -H "X-Auth-Token: $TB")
ok $(test "$s" = 200 && [ "$(json "$J" "d['admin']")" = False ]; echo $?) "a member is not admin"
s=$(status GET "$B/compute/v2.1/vmsnap-test/version" -H "X-Auth-Token: $TU")
ok $(test "$s" = 401 && json "$J" "d['error']['code']" | grep -q 401; echo $?) "an unscoped token on a service: 401"
s=$(status GET "$B/identity/v3/auth/projects" -H "X-Auth-Token: $TU")
ok $(test "$s" = 200 && [ "$(json "$J" "[p['name'] for p in d['projects']]")" = "['demo', 'other']" ]; echo $?) "an unscoped token lists its projects"
s=$(status GET "$B/identity/v3/auth/tokens" -H "X-Auth-Token: $TA" -H "X-Subject-Token: $TB")
ok $(test "$s" = 200 && [ "$(header X-Subject-Token)" = "$TB" ] && [ "$(json "$J" "d['token']['user']['name']")" = bob ]; echo $?) "an admin validates another's token"
s=$(status GET "$B/identity/v3/auth/tokens" -H "X-Auth-Token: $TB" -H "X-Subject-Token: $TA")
ok $(test "$s" = 403; echo $?) "a member may not validate another's token: 403"
s=$(status GET "$B/identity/v3/projects" -H "X-Auth-Token: $TB")
ok $(test "$s" = 403 && json "$J" "d['error']['message']" | grep -q 'identity:list_projects'; echo $?) "a member may not list projects: 403"
s=$(status GET "$B/identity/v3/users?name=carol" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && [ "$(json "$J" "[u['name'] for u in d['users']]")" = "['carol']" ]; echo $?) "an admin lists users by name"
s=$(status DELETE "$B/identity/v3/auth/tokens" -H "X-Auth-Token: $TB" -H "X-Subject-Token: $TB")
ok $(test "$s" = 204; echo $?) "bob logs out: 204"
s=$(status GET "$B/test/whoami" -H "X-Auth-Token: $TB")
ok $(test "$s" = 401; echo $?) "a revoked token: 401"

# --- Query strings ---------------------------------------------------------
s=$(status GET "$B/test/query?a=1&a=2&b=x+y&c=%2F%26&d&&e=" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && [ "$(json "$J" "d")" = "[['a', '1'], ['a', '2'], ['b', 'x y'], ['c', '/&'], ['d', ''], ['e', '']]" ]; echo $?) "query: repeated keys kept in order, decoded"
s=$(status GET "$B/test/query?a=%zz" -H "X-Auth-Token: $TA")
ok $(test "$s" = 400 && json "$J" "d['error']['message']" | grep -q 'query string is malformed'; echo $?) "a bad escape in the query: 400"

# --- Microversions ----------------------------------------------------------
V=$B/compute/v2.1/vmsnap-test/version
s=$(status GET "$V" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && [ "$(json "$J" "d['version']")" = 2.1 ] && [ "$(header OpenStack-API-Version)" = "compute 2.1" ] && [ "$(header X-OpenStack-Nova-API-Version)" = 2.1 ] && header Vary | grep -q OpenStack-API-Version; echo $?) "no header: Nova 2.1, echoed"
s=$(status GET "$V" -H "X-Auth-Token: $TA" -H 'OpenStack-API-Version: volume 3.0, compute latest')
ok $(test "$s" = 200 && [ "$(json "$J" "d['version']")" = 2.1 ]; echo $?) "compute latest: 2.1"
s=$(status GET "$V" -H "X-Auth-Token: $TA" -H 'X-OpenStack-Nova-API-Version: 2.45')
ok $(test "$s" = 406 && [ "$(json "$J" "d['computeFault']['message']")" = "Version 2.45 is not supported by the API. Minimum is 2.1 and maximum is 2.1." ]; echo $?) "2.45: 406 computeFault, Nova's message"
s=$(status GET "$V" -H "X-Auth-Token: $TA" -H 'OpenStack-API-Version: compute 2.x')
ok $(test "$s" = 400 && json "$J" "d['badRequest']['code']" | grep -q 400; echo $?) "a malformed version: 400 badRequest"
s=$(status GET "$B/volume/v3/$PID_DEMO/vmsnap-test" -H "X-Auth-Token: $TA" -H 'OpenStack-API-Version: volume 3.0')
ok $(test "$s" = 200 && [ "$(header OpenStack-API-Version)" = "volume 3.0" ]; echo $?) "Cinder 3.0 echoed"
s=$(status GET "$B/volume/v3/$PID_DEMO/vmsnap-test" -H "X-Auth-Token: $TA" -H 'OpenStack-API-Version: volume 3.70')
ok $(test "$s" = 406; echo $?) "Cinder 3.70: 406"
TB2=$(token bob secret2 demo)
s=$(status GET "$B/volume/v3/0123456789abcdef0123456789abcdef/vmsnap-test" -H "X-Auth-Token: $TB2")
ok $(test "$s" = 400 && json "$J" "d['badRequest']['message']" | grep -q "doesn't match Context's project_id"; echo $?) "a member with another project in the URL: 400"

# --- Strict JSON in Nova's shape -----------------------------------------
E=$B/compute/v2.1/vmsnap-test/echo
s=$(status POST "$E" -H "X-Auth-Token: $TA" -H 'Content-Type: application/json' -d '{"server": {"name": "vm1", "min_count": 1}}')
ok $(test "$s" = 200; echo $?) "a good body passes the schema"
s=$(status POST "$E" -H "X-Auth-Token: $TA" -d '{"server": {"name": 5}}')
ok $(test "$s" = 400 && json "$J" "d['badRequest']['message']" | grep -q "body.server.name. Value: 5. 5 is not of type 'string'"; echo $?) "a wrong type: 400 badRequest naming the field"
s=$(status POST "$E" -H "X-Auth-Token: $TA" -d '{"server": {"name": "a", "flavor": "x"}}')
ok $(test "$s" = 400 && json "$J" "d['badRequest']['message']" | grep -q "Additional properties are not allowed ('flavor' was unexpected)"; echo $?) "an unknown field: 400"
s=$(status POST "$E" -H "X-Auth-Token: $TA" -d '{"server": {"name": "<script>"}')
ok $(test "$s" = 400 && json "$J" "d['badRequest']['message']" | grep -q 'Malformed'; echo $?) "malformed JSON: 400 badRequest"

# --- Flavors: their own table (api-flavor.c), before the servers' ------
s=$(status GET "$B/compute/v2.1/flavors/detail" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && json "$J" "' '.join(f['name'] for f in d['flavors'])" | grep -qw m1.tiny; echo $?) "flavors listed in detail"
s=$(status GET "$B/compute/v2.1/flavors/1" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && test "$(json "$J" "d['flavor']['name']")" = m1.tiny; echo $?) "a flavor shown by its ID"
s=$(status GET "$B/compute/v2.1/flavors/nosuch" -H "X-Auth-Token: $TA")
ok $(test "$s" = 404 && json "$J" "d['itemNotFound']['message']" | grep -q nosuch; echo $?) "an unknown flavor: 404 itemNotFound"

# --- Glance: its schemas, their own table (api-image-schema.c) --------
s=$(status GET "$B/image/v2/schemas/image" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && test "$(json "$J" "d['name']")" = image; echo $?) "the image schema"
s=$(status GET "$B/image/v2/schemas/images" -H "X-Auth-Token: $TA")
ok $(test "$s" = 200 && test "$(json "$J" "d['name']")" = images; echo $?) "the images schema"

# --- Uploads through daemon/upload.c --------------------------------------
head -c 3000017 /dev/urandom >"$T_DIR/up.bin"
MD5=$(md5sum <"$T_DIR/up.bin" | cut -d' ' -f1)
SHA=$(sha512sum <"$T_DIR/up.bin" | cut -d' ' -f1)
s=$(status PUT "$B/test/blobs/b1" -H "X-Auth-Token: $TA" -T "$T_DIR/up.bin")
ok $(test "$s" = 200 && [ "$(json "$J" "d['checksum']")" = "$MD5" ] && [ "$(json "$J" "d['os_hash_value']")" = "$SHA" ] && [ "$(json "$J" "d['size']")" = 3000017 ]; echo $?) "upload with Content-Length: MD5 and SHA-512 on the way"
ok $(cmp -s "$T_DIR/up.bin" "$DATA/blobs/b1"; echo $?) "the file holds the bytes"
s=$(cat "$T_DIR/up.bin" | curl -sk -o "$J" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TA" -H 'Transfer-Encoding: chunked' --data-binary @- "$B/test/blobs/b2")
ok $(test "$s" = 200 && [ "$(json "$J" "d['checksum']")" = "$MD5" ]; echo $?) "chunked upload from a pipe: same hashes"
s=$(status PUT "$B/test/blobs/b1" -H "X-Auth-Token: $TA" -T "$T_DIR/up.bin")
ok $(test "$s" = 409; echo $?) "a second upload to the same name: 409 (the sink refused)"
s=$(status PUT "$B/test/blobs/b3?max_size=1M" -H "X-Auth-Token: $TA" -T "$T_DIR/up.bin")
ok $(test "$s" = 413 && ! ls "$DATA"/blobs/*b3* >/dev/null 2>&1; echo $?) "over the maximum (declared): 413, no file left"
s=$(cat "$T_DIR/up.bin" | curl -sk -o "$J" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TA" -H 'Transfer-Encoding: chunked' --data-binary @- "$B/test/blobs/b3?max_size=1M")
ok $(test "$s" = 413 && ! ls "$DATA"/blobs/*b3* >/dev/null 2>&1; echo $?) "over the maximum (chunked, found on the way): 413, no file left"
s=$(status PUT "$B/test/blobs/b3?reserve=1000000T" -H "X-Auth-Token: $TA" -T "$T_DIR/up.bin")
ok $(test "$s" = 413 && ! ls "$DATA"/blobs/*b3* >/dev/null 2>&1; echo $?) "free-space reserve: 413, no file left"
s=$(status PUT "$B/test/blobs/b3" -T "$T_DIR/up.bin")
ok $(test "$s" = 401 && ! ls "$DATA"/blobs/*b3* >/dev/null 2>&1; echo $?) "an upload without a token: 401 before the body"

# A client that goes away in the middle of an upload.
head -c 20000000 /dev/zero >"$T_DIR/big.bin"
curl -sk -o /dev/null -X PUT -H "X-Auth-Token: $TA" --limit-rate 1M -T "$T_DIR/big.bin" "$B/test/blobs/b4" &
CURL=$!
wait_for 30 test -s "$DATA/blobs/.b4.part"
ok $? "a slow upload is being written"
kill -KILL $CURL
wait $CURL 2>/dev/null
wait_for 30 test ! -e "$DATA/blobs/.b4.part"
ok $? "the client disconnects: the sink sees abort and no file is left"
ok $(grep -q 'upload to /test/blobs/b4: the body ended early' "$LOG"; echo $?) "the abort is logged"

# --- Downloads with Range ----------------------------------------------------
for path in b1 b1/reader; do
    s=$(status GET "$B/test/blobs/$path" -H "X-Auth-Token: $TA")
    ok $(test "$s" = 200 && cmp -s "$J" "$T_DIR/up.bin" && [ "$(header Content-MD5)" = "$MD5" ] && [ "$(header Accept-Ranges)" = bytes ]; echo $?) "GET $path: 200, every byte, Content-MD5"
    s=$(status GET "$B/test/blobs/$path" -H "X-Auth-Token: $TA" -r 1000-1999)
    ok $(test "$s" = 206 && [ "$(header Content-Range)" = "bytes 1000-1999/3000017" ] && cmp -s "$J" <(tail -c +1001 "$T_DIR/up.bin" | head -c 1000); echo $?) "GET $path bytes=1000-1999: 206 and those bytes"
    s=$(status GET "$B/test/blobs/$path" -H "X-Auth-Token: $TA" -H 'Range: bytes=-17')
    ok $(test "$s" = 206 && cmp -s "$J" <(tail -c 17 "$T_DIR/up.bin"); echo $?) "GET $path bytes=-17: the last 17 bytes"
    s=$(status GET "$B/test/blobs/$path" -H "X-Auth-Token: $TA" -r 3000017-)
    ok $(test "$s" = 416 && [ "$(header Content-Range)" = "bytes */3000017" ]; echo $?) "GET $path past the end: 416 with Content-Range"
done

# --- Connections ---------------------------------------------------------------
curl -sv -o /dev/null -o /dev/null "$B/identity/v3/nothing" "$B/identity/v3" 2>"$T_DIR/verbose"
ok $(grep -q 'Re-using existing connection' "$T_DIR/verbose"; echo $?) "keep-alive survives a 404"
exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GARBAGE \x01\x02\r\n\r\n' >&3 && exec 3>&-
s=$(status GET "$B/identity/v3")
ok $(test "$s" = 200; echo $?) "a garbage request does not hurt the daemon"
ok $(grep -qE '^vmsnapd: access: 127\.0\.0\.1 PUT /test/blobs/b1 200 in=3000017 out=[0-9]+ [0-9.]+ms$' "$LOG"; echo $?) "the access log has method, path, status, bytes and time"
# -F --: a token is base64url and may begin with '-', which grep would
# otherwise take for options (a leading "-v...e" inverts the match).
grep -F -- "$TA" "$LOG" >"$T_DIR/token-in-log"
ok $(test $? = 1; echo $?) "tokens never reach the log"
sed 's/^/# in the log: /' "$T_DIR/token-in-log"

# --- Stop ----------------------------------------------------------------------
# A slow upload in flight when SIGTERM comes: it finishes, new
# connections are refused, the exit status is 0.
head -c 1500000 /dev/urandom >"$T_DIR/slow.bin"
curl -sk -o "$T_DIR/slow.out" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TA" --limit-rate 1M -T "$T_DIR/slow.bin" "$B/test/blobs/slow" >"$T_DIR/slow.code" &
CURL=$!
wait_for 30 test -s "$DATA/blobs/.slow.part"
kill -TERM "$PID"
wait_for 10 refused "$B/identity/v3"
ok $? "after SIGTERM, new connections are refused"
wait $CURL
ok $(test "$(cat "$T_DIR/slow.code")" = 200 && cmp -s "$T_DIR/slow.bin" "$DATA/blobs/slow"; echo $?) "the upload in flight completes"
wait "$PID"
ok $? "vmsnapd exits 0"

# A grace period too short for the upload in flight: it is cut, and its
# file removed.
start_daemon grace --shutdown-grace 1
TA=$(token alice secret1 demo)
curl -sk -o /dev/null -X PUT -H "X-Auth-Token: $TA" --limit-rate 100K -T "$T_DIR/slow.bin" "$BASE/test/blobs/cut" &
CURL=$!
wait_for 30 test -s "$DATA/blobs/.cut.part"
kill -TERM "$PID"
wait "$PID"
ok $? "with an upload past the grace period, vmsnapd still exits 0"
ok $(test ! -e "$DATA/blobs/.cut.part" && test ! -e "$DATA/blobs/cut"; echo $?) "the cut upload left no file"
wait $CURL 2>/dev/null

# --- IPv6, a taken port, bad options -------------------------------------
if ip -6 addr show dev lo 2>/dev/null | grep -q '::1'; then
    dd=$T_DIR/v6
    write_identity "$dd"
    "$VMSNAPD" --listen '[::1]:0' --port-file "$dd/port" --data-dir "$dd" >"$dd/log" 2>&1 &
    P6=$!
    T_PIDS+=("$P6")
    wait_for 30 test -s "$dd/port"
    s=$(curl -s -o "$J" -w '%{http_code}' "http://[::1]:$(cat "$dd/port")/identity/v3")
    ok $(test "$s" = 200 && json "$J" "d['version']['links'][0]['href']" | grep -q '^http://\[::1\]:'; echo $?) "an IPv6 literal: [::1]"
    kill -TERM $P6
    wait $P6
    ok $? "the IPv6 daemon stops with 0"
else
    ok 1 "IPv6 loopback (::1) is configured on lo"
fi
start_daemon taken
"$VMSNAPD" --listen "127.0.0.1:$PORT" --data-dir "$DATA" 2>"$T_DIR/taken.err"
rc=$?
ok $(test $rc = 1 && grep -q 'cannot listen on' "$T_DIR/taken.err"; echo $?) "a taken port: exit 1 with the reason"
"$VMSNAPD" --bogus 2>/dev/null
ok $(test $? = 2; echo $?) "an unknown option: exit 2"
"$VMSNAPD" --listen localhost:80 --data-dir "$DATA" 2>"$T_DIR/bad.err"
ok $(test $? = 2 && grep -q 'IPv4 literal' "$T_DIR/bad.err"; echo $?) "a host name instead of an address: usage error (2)"
"$VMSNAPD" --tls-cert /nonexistent 2>/dev/null
ok $(test $? = 2; echo $?) "half a TLS pair: exit 2"
stop_daemon
ok $? "SIGTERM: exit 0"

# --- systemd readiness (Type=notify) ----------------------------------------
python3 - "$T_DIR/notify.sock" >"$T_DIR/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
for _ in range(2):
    print(s.recv(256).decode(), flush=True)
PY
NPY=$!
wait_for 10 test -S "$T_DIR/notify.sock"
NOTIFY_SOCKET=$T_DIR/notify.sock start_daemon notify
wait_for 10 grep -q READY=1 "$T_DIR/notify.out"
ok $? "under systemd: READY=1 once listening"
stop_daemon
wait $NPY
ok $(grep -q STOPPING=1 "$T_DIR/notify.out"; echo $?) "under systemd: STOPPING=1 on SIGTERM"

# --- TLS with a self-signed certificate ---------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext 'subjectAltName=IP:127.0.0.1' -keyout "$T_DIR/key.pem" \
    -out "$T_DIR/cert.pem" >/dev/null 2>&1
ok $? "openssl makes a self-signed certificate"
start_daemon tls --tls-cert "$T_DIR/cert.pem" --tls-key "$T_DIR/key.pem"
ok $? "vmsnapd starts with TLS"
s=$(curl -s --cacert "$T_DIR/cert.pem" -o "$J" -w '%{http_code}' "$BASE/identity/v3")
ok $(test "$s" = 200 && json "$J" "d['version']['links'][0]['href']" | grep -q "^https://127.0.0.1:$PORT/identity/v3/"; echo $?) "HTTPS with the CA: 200 and https links"
curl -s -o /dev/null "$BASE/identity/v3" 2>/dev/null
ok $(test $? -ne 0; echo $?) "an unknown CA is refused by the client"
curl -s -o /dev/null "http://127.0.0.1:$PORT/identity/v3" 2>/dev/null
s=$(curl -s --cacert "$T_DIR/cert.pem" -o /dev/null -w '%{http_code}' "$BASE/identity/v3")
ok $(test "$s" = 200; echo $?) "plain HTTP to the TLS port does not hurt it"
TT=$(curl -s --cacert "$T_DIR/cert.pem" -D - -o /dev/null -H 'Content-Type: application/json' -d "$(auth_body alice secret1 demo)" "$BASE/identity/v3/auth/tokens" | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}' | tr -d '\r')
s=$(curl -s --cacert "$T_DIR/cert.pem" -o "$T_DIR/tls.bin" -w '%{http_code}' -X PUT -H "X-Auth-Token: $TT" -T "$T_DIR/up.bin" "$BASE/test/blobs/t1")
s2=$(curl -s --cacert "$T_DIR/cert.pem" -o "$T_DIR/tls.get" -w '%{http_code}' -H "X-Auth-Token: $TT" -r 5-9 "$BASE/test/blobs/t1")
ok $(test "$s" = 200 && test "$s2" = 206 && cmp -s "$T_DIR/tls.get" <(tail -c +6 "$T_DIR/up.bin" | head -c 5); echo $?) "upload and Range download over TLS"
"$VMSNAPD" --listen 127.0.0.1:0 --data-dir "$DATA" --tls-cert "$T_DIR/cert.pem" --tls-key "$T_DIR/missing.pem" 2>"$T_DIR/tls.err"
ok $(test $? = 1 && grep -q 'missing.pem' "$T_DIR/tls.err"; echo $?) "a missing key file: exit 1 naming it"
stop_daemon
ok $? "the TLS daemon stops with 0"

done_testing
