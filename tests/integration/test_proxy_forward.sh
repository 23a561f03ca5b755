#!/usr/bin/env bash
# The forward-proxy flow (absolute-form "GET http://host/path", network.md
# §1.6, §1.6.1, §13) against an echo origin in a network namespace
# (10.212.0.0/24): allow and the exact deny, keep-alive, request bodies
# (Content-Length and chunked), hop-by-hop headers, Via, https:// URIs, the
# L7 REST rules (enforce and audit) with path canonicalization.  TAP.
#   test_proxy_forward.sh BIN SRC
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init f 10.212.0 150
px_net_up
px_origin_start
O=$PX_ORIGIN

# 8080: L4 only (policy "plain"); 8081: L7 REST, enforce (policy "rest").
# Audit mode runs against a second proxy with its own policy (below).
POLICY=$(px_write_policy forward.yaml <<'YAML'
version: 1
network_policies:
  plain:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8080, 9]
        allowed_ips: ["@ORIGIN@/32"]
    binaries:
      - path: /**
  rest:
    endpoints:
      - host: "@ORIGIN@"
        port: 8081
        allowed_ips: ["@ORIGIN@/32"]
        protocol: rest
        enforcement: enforce
        rules:
          - allow: {method: GET, path: "/ok/**"}
          - allow: {method: GET, path: "/y"}
          - allow: {method: POST, path: "/ok/upload"}
    binaries:
      - path: /**
YAML
)
AUDIT_POLICY=$(px_write_policy audit.yaml <<'YAML'
version: 1
network_policies:
  audited:
    endpoints:
      - host: "@ORIGIN@"
        port: 8081
        allowed_ips: ["@ORIGIN@/32"]
        protocol: rest
        enforcement: audit
        rules:
          - allow: {method: GET, path: "/ok/**"}
    binaries:
      - path: /**
YAML
)
px_proxy_start "$POLICY"
T=$PX_TMP
CURL=(px_in curl -sS --max-time 10 -x "$PX_URL")

# ---- allow
"${CURL[@]}" "http://$O:8080/hello/world?q=1&r=2" -o "$T/get.body" -D "$T/get.head" 2>"$T/get.err"
expect_eq "forward GET allowed: curl exits 0" 0 $?
expect_eq "forward GET: 200" "HTTP/1.1 200 OK" "$(head -1 "$T/get.head" | tr -d '\r')"
expect_eq "forward GET: origin got the origin-form target with the query" \
  "GET /hello/world?q=1&r=2 HTTP/1.1" "$(px_json "$T/get.body" 'd["method"]+" "+d["path"]+" "+d["version"]')"

# ---- deny: exact 403 (port not in any policy), path and query in the detail
printf 'GET http://%s:8082/path/x?q=1 HTTP/1.1\r\nHost: %s:8082\r\n\r\n' "$O" "$O" >"$T/deny"
px_raw "$T/rdeny" --send "$T/deny"
expect_json_response "forward deny: exact 403 policy_denied body" "$T/rdeny" "403 Forbidden" \
  "{\"detail\":\"GET $O:8082/path/x?q=1 not permitted by policy\",\"error\":\"policy_denied\"}"
expect_contains "forward deny: connection closed" "EOF" "$(cat "$T/rdeny.status")"
printf 'DELETE http://Some.Host.EXAMPLE/a/b HTTP/1.1\r\nHost: Some.Host.EXAMPLE\r\n\r\n' >"$T/deny2"
px_raw "$T/rdeny2" --send "$T/deny2"
expect_json_response "forward deny of a host name: method, lower-cased host, default port 80" "$T/rdeny2" \
  "403 Forbidden" '{"detail":"DELETE some.host.example:80/a/b not permitted by policy","error":"policy_denied"}'

# ---- upstream down: allowed port with nothing listening -> 502 JSON
printf 'GET http://%s:9/x HTTP/1.1\r\nHost: %s:9\r\n\r\n' "$O" "$O" >"$T/down"
px_raw "$T/rdown" --send "$T/down" --timeout 15
expect_json_response "forward to a down upstream: exact 502 upstream_unreachable" "$T/rdown" \
  "502 Bad Gateway" "{\"detail\":\"connection to $O:9 failed\",\"error\":\"upstream_unreachable\"}"

# ---- keep-alive: two requests on one client connection (curl reuses it).
# The origin closes its side after each answer here, so this is about the
# client connection only.
"${CURL[@]}" -v "http://$O:8080/first" "http://$O:8080/second" -o "$T/ka1" -o "$T/ka2" 2>"$T/ka.err"
rc=$?
expect_eq "keep-alive: curl with two URLs exits 0" 0 "$rc"
expect_contains "keep-alive: curl re-used the client connection" "Re-using existing connection" "$(cat "$T/ka.err")"
expect_eq "keep-alive: first answer" "/first" "$(px_json "$T/ka1" 'd["path"]')"
expect_eq "keep-alive: second answer on the same connection" "/second" "$(px_json "$T/ka2" 'd["path"]')"

# ---- pipelined requests in one write on one client connection, the
# second with its body in the same segment: answered in order.
printf 'GET http://%s:8080/pipe/1 HTTP/1.1\r\nHost: %s:8080\r\n\r\nPOST http://%s:8080/pipe/2 HTTP/1.1\r\nHost: %s:8080\r\nContent-Length: 11\r\n\r\nhello-body!GET http://%s:8080/pipe/3 HTTP/1.1\r\nHost: %s:8080\r\nConnection: close\r\n\r\n' \
  "$O" "$O" "$O" "$O" "$O" "$O" >"$T/pipe"
px_raw "$T/rpipe" --send "$T/pipe" --timeout 15
got=$("$PX_PY" - "$T/rpipe" <<'PY'
import json, sys
b = open(sys.argv[1], "rb").read()
out = []
while b:
    head, sep, rest = b.partition(b"\r\n\r\n")
    if not sep:
        out.append("<trailing %r>" % head[:60]); break
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    body, b = rest[:n], rest[n:]
    try:
        d = json.loads(body)
        out.append("%s %s %s" % (d["method"], d["path"], d["body"]))
    except Exception:
        out.append("<%r>" % body[:60])
print(" | ".join(out))
PY
)
expect_eq "three pipelined requests (one with a body) answered in order" \
  "GET /pipe/1  | POST /pipe/2 hello-body! | GET /pipe/3 " "$got"

# ---- request bodies arrive intact (the origin echoes a sha256)
for size in 300000 20000000; do
  head -c $size /dev/urandom >"$T/upload.bin"
  want=$(sha256sum <"$T/upload.bin" | cut -d' ' -f1)
  rm -f "$T/post.body"
  "${CURL[@]}" --max-time 30 --data-binary @"$T/upload.bin" -H 'Content-Type: application/octet-stream' \
    "http://$O:8080/upload" -o "$T/post.body" 2>"$T/post.err"
  expect_eq "POST with Content-Length ($size bytes): body arrives intact" "POST length $size $want" \
    "$(px_json "$T/post.body" 'd["method"]+" "+d["framing"]+" "+str(d["body_len"])+" "+d["body_sha256"]')"
done
# Chunked uploads, below and above 256 KiB (curl sends them after an
# "Expect: 100-continue" round trip; the second variant without it).
for variant in "100000 -" "2000000 -" "2000000 -HExpect:"; do
  set -- $variant
  size=$1
  extra=()
  [ "$2" != - ] && extra=("$2")
  head -c "$size" /dev/urandom >"$T/upload.bin"
  want=$(sha256sum <"$T/upload.bin" | cut -d' ' -f1)
  rm -f "$T/chunk.body"
  "${CURL[@]}" --data-binary @"$T/upload.bin" -H 'Transfer-Encoding: chunked' ${extra[@]+"${extra[@]}"} \
    "http://$O:8080/upload-chunked" -o "$T/chunk.body" 2>"$T/chunk.err"
  rc=$?
  expect_eq "POST chunked ($size bytes${extra[0]:+, no Expect}): body arrives intact, still chunked (curl rc $rc)" \
    "POST chunked $size $want" \
    "$(px_json "$T/chunk.body" 'd["method"]+" "+d["framing"]+" "+str(d["body_len"])+" "+d["body_sha256"]')"
done
# A hand-made chunked body with a chunk extension and a trailer.
printf 'POST http://%s:8080/raw-chunked HTTP/1.1\r\nHost: %s:8080\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n' "$O" "$O" >"$T/rawchunk"
px_raw "$T/rrawchunk" --send "$T/rawchunk"
px_body "$T/rrawchunk" >"$T/rrawchunk.body"
expect_eq "hand-made chunked body (extension, trailer) arrives decoded as 'hello, world'" "chunked hello, world" \
  "$(px_json "$T/rrawchunk.body" 'd["framing"]+" "+d["body"]')"

# ---- responses: large Content-Length and chunked answers, byte for byte
"$PX_PY" -c 'import hashlib,sys; n=int(sys.argv[1]); sys.stdout.buffer.write((hashlib.sha256(b"osh").hexdigest().encode()*(n//64+1))[:n])' 5000000 >"$T/want5m"
"${CURL[@]}" "http://$O:8080/bytes/5000000" -o "$T/got5m" 2>/dev/null
if cmp -s "$T/want5m" "$T/got5m"; then ok "5 MB Content-Length answer arrives intact"; else not_ok "5 MB Content-Length answer arrives intact" "got $(stat -c %s "$T/got5m") bytes"; fi
"${CURL[@]}" "http://$O:8080/chunked/5000000" -o "$T/gotc5m" -D "$T/gotc5m.head" 2>/dev/null
if cmp -s "$T/want5m" "$T/gotc5m"; then ok "5 MB chunked answer arrives intact"; else not_ok "5 MB chunked answer arrives intact" "got $(stat -c %s "$T/gotc5m") bytes"; fi

# ---- hop-by-hop headers dropped, Via added, Host kept
printf 'GET http://%s:8080/hop HTTP/1.1\r\nHost: %s:8080\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic c2VjcmV0OnNlY3JldA==\r\nConnection: close, X-Hop-Secret\r\nX-Hop-Secret: must-not-pass\r\nKeep-Alive: timeout=5\r\nX-End-To-End: kept\r\n\r\n' "$O" "$O" >"$T/hop"
px_raw "$T/rhop" --send "$T/hop"
px_body "$T/rhop" >"$T/rhop.body"
hdrs=$(px_json "$T/rhop.body" '"|".join(k.lower()+"="+v for k,v in d["headers"])')
expect_not_contains "Proxy-Connection is not forwarded" "proxy-connection=" "$hdrs"
expect_not_contains "Proxy-Authorization is not forwarded" "proxy-authorization=" "$hdrs"
expect_not_contains "a header named in Connection is not forwarded" "x-hop-secret=" "$hdrs"
expect_not_contains "Keep-Alive is not forwarded" "keep-alive=" "$hdrs"
expect_contains "an end-to-end header is forwarded" "x-end-to-end=kept" "$hdrs"
expect_contains "Via: 1.1 openshell-sandbox is added" "via=1.1 openshell-sandbox" "$hdrs"
expect_contains "Host is kept" "host=$O:8080" "$hdrs"
expect_eq "exactly one Host header upstream" 1 "$(px_json "$T/rhop.body" 'sum(1 for k,v in d["headers"] if k.lower()=="host")')"
printf 'GET http://%s:8080/via HTTP/1.1\r\nHost: %s:8080\r\nVia: 1.0 upstream-hop\r\nConnection: close\r\n\r\n' "$O" "$O" >"$T/via"
px_raw "$T/rvia" --send "$T/via"
px_body "$T/rvia" >"$T/rvia.body"
expect_eq "an existing Via is kept unchanged (no second Via)" "1.0 upstream-hop" \
  "$(px_json "$T/rvia.body" '",".join(v for k,v in d["headers"] if k.lower()=="via")')"

# ---- https:// absolute URI -> 400 'Use CONNECT for HTTPS URLs'
printf 'GET https://%s:8080/secure HTTP/1.1\r\nHost: %s:8080\r\n\r\n' "$O" "$O" >"$T/https"
px_raw "$T/rhttps" --send "$T/https"
expect_eq "https:// URI: status 400" "HTTP/1.1 400 Bad Request" "$(head -1 "$T/rhttps" | tr -d '\r')"
expect_eq "https:// URI: body is 'Use CONNECT for HTTPS URLs'" "Use CONNECT for HTTPS URLs" "$(px_body "$T/rhttps")"
cl=$(grep -i '^content-length:' "$T/rhttps" | tr -d '\r' | awk '{print $2}')
expect_eq "https:// URI: Content-Length matches the body" "$(px_body "$T/rhttps" | wc -c)" "$cl"

# ---- origin-form target is not a proxy request -> bare 400
printf 'GET /not-absolute HTTP/1.1\r\nHost: %s:8080\r\n\r\n' "$O" >"$T/origin-form"
px_raw "$T/rof" --send "$T/origin-form"
expect_file_bytes "origin-form request line: exactly 'HTTP/1.1 400 Bad Request' and no body" "$T/rof" \
  'HTTP/1.1 400 Bad Request\r\n\r\n'

# ---- L7 REST, enforce (port 8081)
"${CURL[@]}" "http://$O:8081/ok/fine" -o "$T/l7ok" -w '%{http_code}' >"$T/l7ok.code" 2>/dev/null
expect_eq "L7 enforce: allowed path passes (200)" 200 "$(cat "$T/l7ok.code")"
expect_eq "L7 enforce: allowed path reaches the origin" "/ok/fine" "$(px_json "$T/l7ok" 'd["path"]')"
printf 'GET http://%s:8081/x HTTP/1.1\r\nHost: %s:8081\r\n\r\n' "$O" "$O" >"$T/l7deny"
px_raw "$T/rl7deny" --send "$T/l7deny"
expect_json_response "L7 enforce: denied path gets the exact 403" "$T/rl7deny" "403 Forbidden" \
  "{\"detail\":\"GET $O:8081/x denied by L7 policy: GET /x not permitted by policy\",\"error\":\"policy_denied\"}"
# canonicalization: /ok/%2e%2e/x is evaluated as /x (denied) ...
printf 'GET http://%s:8081/ok/%%2e%%2e/x HTTP/1.1\r\nHost: %s:8081\r\n\r\n' "$O" "$O" >"$T/l7dot"
px_raw "$T/rl7dot" --send "$T/l7dot"
expect_json_response "L7: /ok/%2e%2e/x is evaluated as /x and denied" "$T/rl7dot" "403 Forbidden" \
  "{\"detail\":\"GET $O:8081/x denied by L7 policy: GET /x not permitted by policy\",\"error\":\"policy_denied\"}"
# ... and /ok/%2e%2e/y (allowed as /y) is forwarded as /y.
"${CURL[@]}" --path-as-is "http://$O:8081/ok/%2e%2e/y?k=v" -o "$T/l7y" -w '%{http_code}' >"$T/l7y.code" 2>/dev/null
expect_eq "L7: /ok/%2e%2e/y is allowed as /y" 200 "$(cat "$T/l7y.code")"
expect_eq "L7: the canonical path (with the raw query) is what the origin gets" "/y?k=v" "$(px_json "$T/l7y" 'd["path"]')"
"${CURL[@]}" --path-as-is "http://$O:8081/ok//a/./b;p=1/c" -o "$T/l7c" 2>/dev/null
expect_eq "L7: '//', '.', ';params' are canonicalized before forwarding" "/ok/a/b/c" "$(px_json "$T/l7c" 'd["path"]')"
printf 'GET http://%s:8081/ok/%%2e%%2e/%%2e%%2e/etc HTTP/1.1\r\nHost: %s:8081\r\n\r\n' "$O" "$O" >"$T/l7esc"
px_raw "$T/rl7esc" --send "$T/l7esc"
expect_json_response "L7: a path escaping the root is a 400 invalid_request_target" "$T/rl7esc" "400 Bad Request" \
  '{"detail":"request-target must be canonical","error":"invalid_request_target"}'
"${CURL[@]}" --data-binary 'l7-body' "http://$O:8081/ok/upload" -o "$T/l7post" 2>/dev/null
expect_eq "L7: allowed POST carries its body" "POST l7-body" "$(px_json "$T/l7post" 'd["method"]+" "+d["body"]')"
expect_contains "L7 deny logged as an OCSF HTTP denial" "HTTP:GET [MED] DENIED" "$(grep OCSF "$PX_LOG")"

# ---- upstream reuse (last on this proxy: a stuck pooled connection must
# not take the other checks down with it).  The origin keeps /ka/
# connections alive, so the proxy may hand a pooled proxy->origin
# connection to the next request.
# Every request must still be answered, on one client connection ...
"${CURL[@]}" -v "http://$O:8080/ka/1" "http://$O:8080/ka/2" "http://$O:8080/ka/3" \
  -o "$T/kaa1" -o "$T/kaa2" -o "$T/kaa3" 2>"$T/kaa.err"
rc=$?
expect_eq "upstream keep-alive: three requests on one client connection, curl exits 0" 0 "$rc"
expect_eq "upstream keep-alive: all three answered" "/ka/1 /ka/2 /ka/3" \
  "$(px_json "$T/kaa1" 'd["path"]') $(px_json "$T/kaa2" 'd["path"]') $(px_json "$T/kaa3" 'd["path"]')"
[ "$rc" -ne 0 ] && echo "# curl: $(grep -E '^curl:' "$T/kaa.err" | head -2)"
# ... and on successive client connections.
for i in 1 2 3 4; do
  "${CURL[@]}" -H 'Connection: close' "http://$O:8080/ka/seq$i" -o "$T/seq$i" 2>"$T/seq$i.err"
  rc=$?
  expect_eq "upstream keep-alive: request $i on a new client connection is answered (curl rc $rc)" \
    "/ka/seq$i" "$(px_json "$T/seq$i" 'd["path"]')"
done
# The pooled connection really is reused (same origin-side peer).
"${CURL[@]}" "http://$O:8080/ka/p1" "http://$O:8080/ka/p2" -o "$T/p1" -o "$T/p2" 2>/dev/null
expect_eq "upstream keep-alive: the second request rides the same proxy->origin connection" \
  "$(px_json "$T/p1" 'd["peer"]')" "$(px_json "$T/p2" 'd["peer"]')"

px_proxy_alive "proxy still running after the forward scenarios"
px_proxy_stop

# ---- L7 REST, audit: a not-permitted request is forwarded
px_proxy_start "$AUDIT_POLICY"
CURL=(px_in curl -sS --max-time 10 -x "$PX_URL")
"${CURL[@]}" "http://$O:8081/not/permitted" -o "$T/audit" -w '%{http_code}' >"$T/audit.code" 2>/dev/null
expect_eq "L7 audit: a not-permitted request is forwarded (200)" 200 "$(cat "$T/audit.code")"
expect_eq "L7 audit: the origin got it" "/not/permitted" "$(px_json "$T/audit" 'd["path"]')"
"${CURL[@]}" "http://$O:8081/ok/yes" -o "$T/audit2" -w '%{http_code}' >"$T/audit2.code" 2>/dev/null
expect_eq "L7 audit: a permitted request is forwarded too" 200 "$(cat "$T/audit2.code")"
px_proxy_stop
px_done
