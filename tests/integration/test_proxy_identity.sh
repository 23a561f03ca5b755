#!/usr/bin/env bash
# Binary identity of the caller (network.md §2, policy.md §2.3): the policy
# names binaries by path; the proxy finds the process owning the client
# socket, its exe and its ancestors, and pins every binary by SHA-256 on
# first use (TOFU).  Origin in a network namespace at 10.213.0.0/24.  TAP.
#   test_proxy_identity.sh BIN SRC
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init i 10.213.0 150
[ -x /usr/bin/curl ] || px_bail "/usr/bin/curl is required"
[ -x /usr/bin/bash ] || px_bail "/usr/bin/bash is required"
px_net_up
px_origin_start
O=$PX_ORIGIN
T=$PX_TMP

# Private copies: the one the policy names, one it does not, and a wrapper
# shell the policy names as a (grand)parent.
mkdir -p "$T/bin"
cp /usr/bin/curl "$T/bin/curl-allowed"
cp /usr/bin/curl "$T/bin/curl-other"
cp /usr/bin/bash "$T/bin/wrapper-bash"
cp /usr/bin/curl "$T/curl.orig"
chmod 755 "$T/bin/"*
ALLOWED=$T/bin/curl-allowed
OTHER=$T/bin/curl-other
WRAPPER=$T/bin/wrapper-bash

POLICY=$(px_write_policy identity.yaml <<YAML
version: 1
network_policies:
  byname:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8080, 9000]
        allowed_ips: ["@ORIGIN@/32"]
    binaries:
      - path: $ALLOWED
      - path: $WRAPPER
YAML
)
px_proxy_start "$POLICY"

# $1 = curl binary; tunnel (-p) or forward; prints the HTTP code curl saw
# for the final answer (000 when the CONNECT itself was refused) and keeps
# the body/stderr in $T/last.*.
via_connect() { px_in "$1" -sS -p -x "$PX_URL" --max-time 10 "http://$O:8080/c" -o "$T/last.body" -w '%{http_code} %{http_connect}' 2>"$T/last.err"; }
via_forward() { px_in "$1" -sS -x "$PX_URL" --max-time 10 "http://$O:8080/f" -o "$T/last.body" -w '%{http_code}' 2>"$T/last.err"; }

# ---- named binary: allowed, both flows
expect_eq "named binary: CONNECT allowed (200 after 200)" "200 200" "$(via_connect "$ALLOWED")"
expect_eq "named binary: forward allowed" 200 "$(via_forward "$ALLOWED")"

# ---- the same bytes at another path: denied, both flows, exact bodies
expect_eq "unnamed copy: CONNECT refused with 403" "000 403" "$(via_connect "$OTHER")"
expect_eq "unnamed copy: forward refused with 403" 403 "$(via_forward "$OTHER")"
expect_eq "unnamed copy: forward 403 body" \
  "{\"detail\":\"GET $O:8080/f not permitted by policy\",\"error\":\"policy_denied\"}" "$(cat "$T/last.body")"
grep -F "binary '$OTHER' not allowed in policy 'byname'" "$PX_LOG" >/dev/null &&
  ok "deny reason names the unnamed binary and the policy" ||
  not_ok "deny reason names the unnamed binary and the policy" "$(grep -i denied "$PX_LOG" | tail -3)"
expect_contains "OCSF denial line attributes the connection to the unnamed copy" \
  "DENIED $OTHER(" "$(grep OCSF "$PX_LOG")"
expect_eq "system curl (not named either): forward refused" 403 "$(via_forward /usr/bin/curl)"

# ---- ancestor grant: the unnamed copy run under the named wrapper shell
# (the trailing 'exit' keeps bash from exec-ing curl in its own place).
anc_connect=$(px_in "$WRAPPER" -c '"$0" -sS -p -x "$1" --max-time 10 "$2" -o /dev/null -w "%{http_code} %{http_connect}"; exit $?' \
  "$OTHER" "$PX_URL" "http://$O:8080/anc" 2>"$T/anc.err")
expect_eq "ancestor grant: unnamed curl under the named wrapper, CONNECT allowed" "200 200" "$anc_connect"
anc_fwd=$(px_in "$WRAPPER" -c '"$0" -sS -x "$1" --max-time 10 "$2" -o /dev/null -w "%{http_code}"; exit $?' \
  "$OTHER" "$PX_URL" "http://$O:8080/anc" 2>>"$T/anc.err")
expect_eq "ancestor grant: unnamed curl under the named wrapper, forward allowed" 200 "$anc_fwd"
# Control: the same command under the system bash is denied.
ctl=$(px_in /usr/bin/bash -c '"$0" -sS -x "$1" --max-time 10 "$2" -o /dev/null -w "%{http_code}"; exit $?' \
  "$OTHER" "$PX_URL" "http://$O:8080/anc" 2>>"$T/anc.err")
expect_eq "control: same command under an unnamed bash is denied" 403 "$ctl"

# ---- TOFU: metadata-only change is fine
touch "$ALLOWED"
expect_eq "TOFU: touch (same bytes, new mtime) still allowed" 200 "$(via_forward "$ALLOWED")"

# ---- TOFU: new bytes at the pinned path (new file renamed over it: the
# old one may still be a running text file) -> denied from then on.
{ cat "$T/curl.orig"; printf 'tampered'; } >"$T/bin/.curl-allowed.new"
chmod 755 "$T/bin/.curl-allowed.new"
mv -f "$T/bin/.curl-allowed.new" "$ALLOWED"
expect_eq "TOFU: replaced bytes: CONNECT refused with 403" "000 403" "$(via_connect "$ALLOWED")"
expect_eq "TOFU: replaced bytes: forward refused with 403" 403 "$(via_forward "$ALLOWED")"
expect_eq "TOFU: replaced bytes: forward 403 body" \
  "{\"detail\":\"GET $O:8080/f not permitted by policy\",\"error\":\"policy_denied\"}" "$(cat "$T/last.body")"
grep -F "Binary integrity violation: $ALLOWED hash changed" "$PX_LOG" >/dev/null &&
  ok "log shows 'Binary integrity violation: <path> hash changed'" ||
  not_ok "log shows 'Binary integrity violation: <path> hash changed'" "$(grep -i -E 'denied|integrity' "$PX_LOG" | tail -4)"
expect_eq "TOFU: the violation is sticky (second try still refused)" 403 "$(via_forward "$ALLOWED")"

# ---- restoring the original bytes restores access (cache entry unchanged)
cp "$T/curl.orig" "$T/bin/.curl-allowed.new"
chmod 755 "$T/bin/.curl-allowed.new"
mv -f "$T/bin/.curl-allowed.new" "$ALLOWED"
expect_eq "TOFU: original bytes restored: allowed again" 200 "$(via_forward "$ALLOWED")"

px_proxy_alive "proxy still running after the identity scenarios"
px_proxy_stop
px_done
