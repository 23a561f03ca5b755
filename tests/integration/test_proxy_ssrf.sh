#!/usr/bin/env bash
# SSRF / destination tiers (network.md §3, §1.5 step 5; policy.md §2.7),
# after the policy allowed the request: always-blocked and metadata
# addresses, internal addresses, allowed_ips (explicit and the implicit one
# of an IP-literal host), control-plane ports.  TAP.
#   test_proxy_ssrf.sh BIN SRC
#
# Name resolution without touching the system: the proxy runs in a private
# mount namespace where a test-owned file is bind-mounted over /etc/hosts
# (the proxy's own getaddrinfo reads it); the system /etc/hosts is never
# modified.  Every name used below is in that file, so no DNS query is made,
# and the proxy's network namespace has no route but the test's veth
# (10.214.0.0/24), so an address that passes the checks can reach nothing
# else either.
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init s 10.214.0 150
px_require unshare mount
px_net_up
px_origin_start
O=$PX_ORIGIN
S=$PX_SUBNET
T=$PX_TMP

cat >"$T/hosts" <<EOF
127.0.0.1 localhost
::1 localhost ip6-localhost
$O origin.ssrf.test private.ssrf.test
fc00::1 ula.ssrf.test
127.0.0.1 loop.ssrf.test
169.254.169.254 meta.ssrf.test
EOF

POLICY=$(px_write_policy ssrf.yaml <<'YAML'
version: 1
network_policies:
  a_loopback:
    endpoints:
      - host: 127.0.0.1
        ports: [8080]
      - host: 169.254.169.254
        ports: [80]
      - host: "[::1]"
        ports: [8080]
    binaries:
      - path: /**
  b_ula:
    endpoints:
      - host: "[fc00::1]"
        ports: [80]
      - host: "[fc00::1]"
        ports: [8080]
        allowed_ips: ["@SUBNET@.0/24"]
    binaries:
      - path: /**
  c_wildcard:
    endpoints:
      - host: "*.ssrf.test"
        ports: [80, 8080]
    binaries:
      - path: /**
  d_origin_literal:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8080, 9000, 6443]
      - host: "@ORIGIN@"
        ports: [8081]
        allowed_ips: ["@SUBNET@.128/25"]
    binaries:
      - path: /**
  e_origin_named:
    endpoints:
      - host: origin.ssrf.test
        ports: [8080, 9000, 6443]
        allowed_ips: ["@SUBNET@.0/24"]
      - host: bad.ssrf.test
        ports: [80]
        allowed_ips: ["0.0.0.0/0"]
    binaries:
      - path: /**
YAML
)
PX_WRAP=(unshare -m --propagation private sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts")
px_proxy_start "$POLICY"
PX_WRAP=()

n=0
# connect_expect NAME HOST:PORT EXPECTED_DETAIL (403 ssrf_denied)
connect_ssrf() {
  n=$((n + 1))
  printf 'CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$2" "$2" >"$T/req$n"
  px_raw "$T/resp$n" --send "$T/req$n"
  expect_json_response "$1" "$T/resp$n" "403 Forbidden" "{\"detail\":\"$3\",\"error\":\"ssrf_denied\"}"
}
# forward_ssrf NAME URL HOST_HEADER EXPECTED_DETAIL
forward_ssrf() {
  n=$((n + 1))
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' "$2" "$3" >"$T/req$n"
  px_raw "$T/resp$n" --send "$T/req$n"
  expect_json_response "$1" "$T/resp$n" "403 Forbidden" "{\"detail\":\"$4\",\"error\":\"ssrf_denied\"}"
}

# ---- always-blocked addresses, even when declared exactly
connect_ssrf "127.0.0.1 (declared exactly) -> 403 ssrf_denied" \
  127.0.0.1:8080 "CONNECT 127.0.0.1:8080 blocked: declared endpoint check failed"
forward_ssrf "forward to 127.0.0.1 (declared exactly) -> 403 ssrf_denied" \
  "http://127.0.0.1:8080/x" 127.0.0.1:8080 "GET 127.0.0.1:8080 blocked: declared endpoint check failed"
connect_ssrf "169.254.169.254 (metadata, declared exactly) -> 403 ssrf_denied" \
  169.254.169.254:80 "CONNECT 169.254.169.254:80 blocked: declared endpoint check failed"
forward_ssrf "forward to [::1] (declared exactly) -> 403 ssrf_denied" \
  "http://[::1]:8080/x" "[::1]:8080" "GET [::1]:8080 blocked: declared endpoint check failed"

# ---- internal addresses behind names that are not declared exactly
forward_ssrf "name -> fc00::1 (ULA, internal) -> 403 ssrf_denied" \
  "http://ula.ssrf.test/x" ula.ssrf.test "GET ula.ssrf.test:80 blocked: internal address"
connect_ssrf "CONNECT name -> fc00::1 (ULA, internal) -> 403 ssrf_denied" \
  ula.ssrf.test:80 "CONNECT ula.ssrf.test:80 blocked: internal address"
connect_ssrf "name -> 127.0.0.1 -> 403 ssrf_denied" \
  loop.ssrf.test:80 "CONNECT loop.ssrf.test:80 blocked: internal address"
connect_ssrf "name -> 169.254.169.254 -> 403 ssrf_denied" \
  meta.ssrf.test:80 "CONNECT meta.ssrf.test:80 blocked: internal address"
connect_ssrf "name -> the private origin without allowed_ips -> 403 ssrf_denied" \
  private.ssrf.test:8080 "CONNECT private.ssrf.test:8080 blocked: internal address"
forward_ssrf "forward: name -> the private origin without allowed_ips -> 403" \
  "http://private.ssrf.test:8080/x" private.ssrf.test:8080 "GET private.ssrf.test:8080 blocked: internal address"

# ---- fc00::1 as a literal host: with allowed_ips that do not cover it ->
# 403; declared without allowed_ips it is its own implicit allowed_ips
# (§3.3 tier 2), so it passes the SSRF step and only the connect fails
# (this namespace has no route to it): 502, not 403.
forward_ssrf "literal [fc00::1] with allowed_ips not covering it -> 403" \
  "http://[fc00::1]:8080/x" "[fc00::1]:8080" "GET [fc00::1]:8080 blocked: allowed_ips check failed"
n=$((n + 1))
printf 'GET http://[fc00::1]/x HTTP/1.1\r\nHost: [fc00::1]\r\n\r\n' >"$T/req$n"
px_raw "$T/resp$n" --send "$T/req$n" --timeout 20
expect_json_response "literal [fc00::1] declared without allowed_ips: implicit allowed_ips, connect fails -> 502" \
  "$T/resp$n" "502 Bad Gateway" '{"detail":"connection to [fc00::1]:80 failed","error":"upstream_unreachable"}'

# ---- the private origin, admitted
px_in curl -sS -p -x "$PX_URL" --max-time 10 "http://$O:8080/implicit" -o "$T/imp" -w '%{http_connect} %{http_code}' >"$T/imp.code" 2>/dev/null
expect_eq "literal 10.x origin (implicit allowed_ips): CONNECT 200" "200 200" "$(cat "$T/imp.code")"
px_in curl -sS -x "$PX_URL" --max-time 10 "http://$O:8080/implicit-fwd" -o "$T/impf" -w '%{http_code}' >"$T/impf.code" 2>/dev/null
expect_eq "literal 10.x origin (implicit allowed_ips): forward 200" 200 "$(cat "$T/impf.code")"
px_in curl -sS -p -x "$PX_URL" --max-time 10 "http://origin.ssrf.test:8080/named" -o "$T/named" -w '%{http_connect} %{http_code}' >"$T/named.code" 2>/dev/null
expect_eq "named origin admitted by allowed_ips: CONNECT 200" "200 200" "$(cat "$T/named.code")"
expect_eq "named origin admitted by allowed_ips: the origin answered" "/named" "$(px_json "$T/named" 'd["path"]')"
px_in curl -sS -x "$PX_URL" --max-time 10 "http://origin.ssrf.test:8080/named-fwd" -o "$T/namedf" -w '%{http_code}' >"$T/namedf.code" 2>/dev/null
expect_eq "named origin admitted by allowed_ips: forward 200" 200 "$(cat "$T/namedf.code")"
expect_eq "named origin: Host header kept as the name" "origin.ssrf.test:8080" \
  "$(px_json "$T/namedf" '[v for k,v in d["headers"] if k.lower()=="host"][0]')"

# ---- allowed_ips not covering the address, control-plane ports, bad lists
connect_ssrf "allowed_ips not covering the address -> 403" \
  "$O:8081" "CONNECT $O:8081 blocked: allowed_ips check failed"
forward_ssrf "forward: allowed_ips not covering the address -> 403" \
  "http://$O:8081/x" "$O:8081" "GET $O:8081 blocked: allowed_ips check failed"
connect_ssrf "control-plane port 6443 with allowed_ips -> 403" \
  origin.ssrf.test:6443 "CONNECT origin.ssrf.test:6443 blocked: allowed_ips check failed"
connect_ssrf "control-plane port 6443 on a literal host (implicit allowed_ips) -> 403" \
  "$O:6443" "CONNECT $O:6443 blocked: allowed_ips check failed"
connect_ssrf "allowed_ips overlapping an always-blocked range -> 403 invalid allowed_ips" \
  bad.ssrf.test:80 "CONNECT bad.ssrf.test:80 blocked: invalid allowed_ips in policy"

# ---- the log: every SSRF denial is an OCSF line with engine ssrf
expect_eq "SSRF denials are logged as OCSF DENIED lines with engine:ssrf (16 expected)" 16 \
  "$(grep ' OCSF ' "$PX_LOG" | grep ' DENIED ' | grep -c 'engine:ssrf')"
grep -F "resolves to internal address fc00::1" "$PX_LOG" >/dev/null &&
  ok "log gives the reason: '<host> resolves to internal address fc00::1'" ||
  not_ok "log gives the reason: '<host> resolves to internal address fc00::1'" "$(grep ula "$PX_LOG" | tail -3)"
grep -F "port 6443 is a blocked control-plane port" "$PX_LOG" >/dev/null &&
  ok "log gives the reason: control-plane port" || not_ok "log gives the reason: control-plane port"

px_proxy_alive "proxy still running after the SSRF scenarios"
px_proxy_stop
px_done
