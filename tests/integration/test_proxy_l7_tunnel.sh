#!/usr/bin/env bash
# L7 rules and CONNECT tunnels: fail closed.  An endpoint with L7 rules is
# answered 403 on CONNECT (its rules cannot be enforced inside a tunnel yet),
# never tunneled raw; the same requests as forward HTTP are decided by the
# rules; an L4-only endpoint and `tls: skip` (the policy's explicit opt-out)
# still tunnel.  TAP.
#   test_proxy_l7_tunnel.sh BIN SRC
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init l7t 10.217.0 120
px_net_up
px_origin_start
O=$PX_ORIGIN

POLICY=$(px_write_policy l7tunnel.yaml <<'YAML'
version: 1
network_policies:
  rest_rules:
    endpoints:
      - host: "@ORIGIN@"
        port: 8080
        protocol: rest
        enforcement: enforce
        allowed_ips: ["@ORIGIN@/32"]
        rules:
          - allow: {method: GET, path: "/allowed/**"}
    binaries:
      - path: /**
  rest_skip:
    endpoints:
      - host: "@ORIGIN@"
        port: 8081
        protocol: rest
        tls: skip
        enforcement: enforce
        allowed_ips: ["@ORIGIN@/32"]
        rules:
          - allow: {method: GET, path: "/allowed/**"}
    binaries:
      - path: /**
  l4_only:
    endpoints:
      - host: "@ORIGIN@"
        port: 9000
        allowed_ips: ["@ORIGIN@/32"]
    binaries:
      - path: /**
YAML
)
px_proxy_start "$POLICY"
T=$PX_TMP
WANT_DETAIL="CONNECT $O:8080 refused: the endpoint's L7 rules cannot be enforced inside a CONNECT tunnel yet"

# ---- the issue's reproduction: DELETE through a tunnel never reaches the origin
px_in curl -sS -v -p -X DELETE -x "$PX_URL" --max-time 10 "http://$O:8080/small" \
  -o "$T/del.body" 2>"$T/del.err"
rc=$?
expect_contains "curl -p -X DELETE: CONNECT answered 403" "< HTTP/1.1 403" "$(cat "$T/del.err")"
expect_eq "curl -p -X DELETE fails (nothing tunneled)" 1 "$([ "$rc" -ne 0 ] && echo 1 || echo 0)"
expect_not_contains "curl -p -X DELETE: no origin answer" '"method": "DELETE"' "$(cat "$T/del.body" 2>/dev/null)"

# Exact answer, raw.
printf 'CONNECT %s:8080 HTTP/1.1\r\nHost: %s:8080\r\n\r\nDELETE /small HTTP/1.1\r\nHost: %s:8080\r\n\r\n' \
  "$O" "$O" "$O" >"$T/c8080"
px_raw "$T/r8080" --send "$T/c8080" --delay-ms 300 --shut
expect_json_response "CONNECT to an L7 endpoint: exact 403 policy_denied with the reason" "$T/r8080" \
  "403 Forbidden" "{\"detail\":\"$WANT_DETAIL\",\"error\":\"policy_denied\"}"
expect_not_contains "pipelined DELETE after a refused CONNECT never reaches the origin" \
  '"method"' "$(cat "$T/r8080")"

# A GET the rules would allow is refused too: no tunnel can enforce them.
px_in curl -sS -p -x "$PX_URL" --max-time 10 "http://$O:8080/allowed/x" -o "$T/get.body" 2>"$T/get.err"
expect_contains "curl -p GET of an allowed path: CONNECT still 403 (rules not enforceable)" "403" \
  "$(cat "$T/get.err")"

# ---- the same requests as forward HTTP are decided by the rules
code=$(px_in curl -s -o "$T/fdel.body" -w '%{http_code}' -X DELETE -x "$PX_URL" --max-time 10 \
  "http://$O:8080/small")
expect_eq "forward DELETE /small: 403 by the L7 rules" 403 "$code"
code=$(px_in curl -s -o "$T/fget.body" -w '%{http_code}' -x "$PX_URL" --max-time 10 \
  "http://$O:8080/allowed/x")
expect_eq "forward GET /allowed/x: 200" 200 "$code"
expect_eq "forward GET /allowed/x reached the origin" "GET /allowed/x" \
  "$(px_json "$T/fget.body" 'd["method"]+" "+d["path"]')"

# ---- tls: skip is the policy's explicit opt-out: raw tunnel as the reference
px_in curl -sS -p -x "$PX_URL" --max-time 10 -X DELETE "http://$O:8081/skip" -o "$T/skip.body" \
  2>"$T/skip.err"
expect_eq "tls: skip endpoint with L7 rules: tunneled raw (DELETE reaches the origin)" \
  "DELETE /skip" "$(px_json "$T/skip.body" 'd["method"]+" "+d["path"]')"

# ---- an L4-only endpoint still tunnels
printf 'CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n' "$O" "$O" >"$T/c9000"
printf 'l4-only-echo' >"$T/ping"
px_raw "$T/r9000" --send "$T/c9000" --send "$T/ping" --delay-ms 300 --shut
expect_file_bytes "L4-only endpoint: tunnel as before" "$T/r9000" \
  'HTTP/1.1 200 Connection Established\r\n\r\nl4-only-echo'

# ---- every refusal is an OCSF denial with the reason
expect_eq "refused CONNECTs are logged as OCSF NET:OPEN DENIED (3 expected)" 3 \
  "$(grep 'OCSF NET:OPEN \[MED\] DENIED' "$PX_LOG" | grep -c 'cannot be enforced inside a CONNECT tunnel')"
px_proxy_alive "proxy still running"
px_proxy_stop
px_done
