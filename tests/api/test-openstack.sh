#!/bin/bash
# The real openstack client from Debian (python3-openstackclient 6.0)
# against the test build of vmsnapd: login, a wrong password, the token
# method, the catalog, version discovery, projects and users, logout, and
# all of it over TLS with a self-signed certificate (--os-cacert).
. "$(dirname "$0")/lib.sh"

if ! command -v openstack >/dev/null; then
    ok 1 "the openstack client is installed (scripts/setup.sh)"
    done_testing
    exit 1
fi
# No clouds.yaml or OS_* of the caller may steer the client.
unset $(env | awk -F= '/^OS_/ {print $1}')
export HOME=$T_DIR

# osc USER PASSWORD PROJECT ARGS...: the client as USER at $BASE.
osc() {
    local u=$1 p=$2 pr=$3
    shift 3
    openstack --os-auth-url "$BASE/identity/v3" --os-identity-api-version 3 \
        --os-username "$u" --os-password "$p" --os-project-name "$pr" \
        --os-user-domain-name Default --os-project-domain-name Default \
        "$@"
}

start_daemon main
ok $? "vmsnapd-test starts"
O=$T_DIR/out

osc alice secret1 demo token issue -f json >"$O" 2>&1
rc=$?
ok $(test $rc = 0 && [ "$(json "$O" "len(d['id'])")" = 43 ] && json "$O" "d['expires']" | grep -q '^20'; echo $?) "openstack token issue"
TOKEN=$(json "$O" "d['id']" 2>/dev/null)
PROJECT=$(json "$O" "d['project_id']" 2>/dev/null)
s=$(status GET "$BASE/test/whoami" -H "X-Auth-Token: $TOKEN")
ok $(test "$s" = 200 && [ "$(json "$T_DIR/body" "d['project_id']")" = "$PROJECT" ]; echo $?) "the issued token is accepted by the daemon"

osc alice wrong demo token issue >"$O" 2>&1
rc=$?
ok $(test $rc = 1 && grep -q 'The request you have made requires authentication. (HTTP 401)' "$O"; echo $?) "a wrong password: exit 1, the client's 401 text"
osc bob secret2 nosuch token issue >"$O" 2>&1
ok $(test $? = 1 && grep -q 'HTTP 401' "$O"; echo $?) "an unknown project: 401"

openstack --os-auth-url "$BASE/identity/v3" --os-auth-type token \
    --os-token "$TOKEN" --os-project-name other \
    --os-project-domain-name Default token issue -f json >"$O" 2>&1
ok $(test $? = 1 && grep -q 'HTTP 401' "$O"; echo $?) "--os-auth-type token to a project alice has no role on: 401"
openstack --os-auth-url "$BASE/identity/v3" --os-auth-type token \
    --os-token "$TOKEN" --os-project-name demo \
    --os-project-domain-name Default token issue -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "d['project_id']")" = "$PROJECT" ]; echo $?) "--os-auth-type token: a new token from a token"

osc alice secret1 demo catalog list -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "sorted(s['Type'] for s in d)")" = "['block-storage', 'compute', 'identity', 'image', 'volumev3']" ]; echo $?) "openstack catalog list"

osc alice secret1 demo versions show -f json >"$O" 2>&1
rc=$?
ok $(test $rc = 0 && json "$O" "sorted(set((v['Service Type'], v['Version'], v['Status']) for v in d if v['Service Type'] != 'identity'))" | grep -q "('compute', '2.1', 'CURRENT')"; echo $?) "openstack versions show finds compute 2.1"
ok $(json "$O" "sorted(set(v['Service Type'] for v in d))" | grep -q "'block-storage'.*'compute'.*'identity'.*'image'"; echo $?) "... and every service's version document"
[ $rc = 0 ] || diag "$(head -5 "$O")"

osc alice secret1 demo project list -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "sorted(p['Name'] for p in d)")" = "['demo', 'other']" ]; echo $?) "openstack project list (admin)"
osc carol secret3 other project list -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "[p['Name'] for p in d]")" = "['other']" ] && grep -q 'GET /identity/v3/projects 403' "$LOG"; echo $?) "a member's project list: 403 on all, the client falls back to its own"
osc alice secret1 demo project show other -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "d['name']")" = other ]; echo $?) "openstack project show by name (404 on the name, then ?name=)"
osc alice secret1 demo user list -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "[u['Name'] for u in d]")" = "['alice', 'bob', 'carol']" ]; echo $?) "openstack user list (admin)"

osc alice secret1 demo token revoke "$TOKEN" >"$O" 2>&1
ok $? "openstack token revoke"
s=$(status GET "$BASE/test/whoami" -H "X-Auth-Token: $TOKEN")
ok $(test "$s" = 401; echo $?) "the revoked token gets 401"

stop_daemon
ok $? "vmsnapd stops with 0"

# TLS with a self-signed certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
    -addext 'subjectAltName=IP:127.0.0.1' -keyout "$T_DIR/key.pem" \
    -out "$T_DIR/cert.pem" >/dev/null 2>&1
start_daemon tls --tls-cert "$T_DIR/cert.pem" --tls-key "$T_DIR/key.pem"
ok $? "vmsnapd starts with TLS"
osc alice secret1 demo --os-cacert "$T_DIR/cert.pem" token issue -f json >"$O" 2>&1
ok $(test $? = 0 && [ "$(json "$O" "len(d['id'])")" = 43 ]; echo $?) "openstack --os-cacert CERT token issue over HTTPS"
osc alice secret1 demo --os-cacert "$T_DIR/cert.pem" catalog list -f json >"$O" 2>&1
ok $(test $? = 0 && json "$O" "[e for s in d if s['Type'] == 'image' for e in s['Endpoints']]" | grep -q "https://127.0.0.1:$PORT/image"; echo $?) "the catalog over TLS has https URLs"
osc alice secret1 demo token issue >"$O" 2>&1
ok $(test $? = 1 && grep -qi 'certificate' "$O"; echo $?) "without --os-cacert the client refuses the certificate"
s=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/cert.pem" "$BASE/identity/v3")
ok $(test "$s" = 200; echo $?) "curl --cacert CERT: 200 over HTTPS"
curl -s -o /dev/null "$BASE/identity/v3"
ok $(test $? = 60; echo $?) "curl without --cacert: the certificate is refused"
s=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/identity/v3")
ok $(test "$s" != 200; echo $?) "plain HTTP to the TLS port gets no answer"
stop_daemon
ok $? "the TLS daemon stops with 0"

# TLS from the configuration ([daemon] tls_cert and tls_key, here through
# their environment variables) rather than options.
VMSNAP_TLS_CERT=$T_DIR/cert.pem VMSNAP_TLS_KEY=$T_DIR/key.pem \
    start_daemon tlscfg
ok $? "vmsnapd starts with tls_cert and tls_key configured"
s=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T_DIR/cert.pem" "https://127.0.0.1:$PORT/identity/v3")
ok $(test "$s" = 200; echo $?) "  and serves HTTPS (curl --cacert)"
stop_daemon
ok $? "  and stops with 0"

done_testing
