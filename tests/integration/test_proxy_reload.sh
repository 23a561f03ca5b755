#!/usr/bin/env bash
# Hot reload and shutdown of `openshell-sandbox --mode=network`
# (service/run_network.c; network.md §11.4, §14): SIGHUP with a valid
# policy changes decisions, a broken file keeps the last good generation
# and names the error as FILE:LINE:COL, an open raw tunnel survives a
# reload, denials are logged as OCSF DENIED lines, SIGTERM drains and exits
# 0.  Origin in a network namespace at 10.216.0.0/24.  TAP.
#   test_proxy_reload.sh BIN SRC
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init r 10.216.0 150
px_require mkfifo
px_net_up
px_origin_start
O=$PX_ORIGIN
T=$PX_TMP

px_write_policy allow.yaml >/dev/null <<'YAML'
version: 1
network_policies:
  origin:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8080, 9000]
        allowed_ips: ["@ORIGIN@/32"]
    binaries:
      - path: /**
YAML
px_write_policy deny.yaml >/dev/null <<'YAML'
version: 1
network_policies:
  elsewhere:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8081]
        allowed_ips: ["@ORIGIN@/32"]
      - host: 127.0.0.1
        ports: [8080]
    binaries:
      - path: /**
YAML
# Broken: a YAML syntax error on line 4, and (separately) an invalid port.
printf 'version: 1\nnetwork_policies:\n  origin:\n    endpoints: [\n' >"$T/broken-syntax.yaml"
printf 'version: 1\nnetwork_policies:\n  origin:\n    endpoints:\n      - host: "%s"\n        port: 99999\n    binaries:\n      - path: /**\n' "$O" >"$T/broken-port.yaml"

POLICY=$T/policy.yaml
cp "$T/allow.yaml" "$POLICY"
# install SRC: atomically replace the live policy file.
install_policy() { cp "$1" "$POLICY.new" && mv -f "$POLICY.new" "$POLICY"; }

connect_code() { # -> "<CONNECT status> <final status>"
  px_in curl -sS -p -x "$PX_URL" --max-time 10 "http://$O:8080/$1" -o /dev/null \
    -w '%{http_connect} %{http_code}' 2>/dev/null
}
forward_code() { px_in curl -sS -x "$PX_URL" --max-time 10 "http://$O:8080/$1" -o "$T/fwd.body" -w '%{http_code}' 2>/dev/null; }
hup() { # waits for the reload outcome line (ERE); 0 when it appeared
  local before
  before=$(grep -cE "$1" "$PX_LOG")
  kill -HUP "$PX_PID"
  for i in $(seq 100); do
    [ "$(grep -cE "$1" "$PX_LOG")" -gt "$before" ] && return 0
    sleep 0.05
  done
  return 1
}

px_proxy_start "$POLICY"
expect_eq "initial policy: CONNECT allowed" "200 200" "$(connect_code a1)"
expect_eq "initial policy: forward allowed" 200 "$(forward_code a2)"

# ---- broken files keep the last good generation
install_policy "$T/broken-syntax.yaml"
hup "reload of .* failed; keeping generation [0-9]+ \(last known good\)" &&
  ok "SIGHUP with a YAML syntax error: reload refused, last good generation kept" ||
  not_ok "SIGHUP with a YAML syntax error: reload refused, last good generation kept" "$(tail -5 "$PX_LOG")"
# The generation the proxy started with (its numbering is its own).
G0=$(grep -oE "failed; keeping generation [0-9]+" "$PX_LOG" | head -1 | grep -oE "[0-9]+$")
G0=${G0:-0}
grep -qE "$POLICY:[0-9]+:[0-9]+: .*YAML syntax error" "$PX_LOG" &&
  ok "syntax error logged as FILE:LINE:COL" || not_ok "syntax error logged as FILE:LINE:COL" "$(tail -5 "$PX_LOG")"
expect_eq "after the broken reload: CONNECT still allowed" "200 200" "$(connect_code b1)"
expect_eq "after the broken reload: forward still allowed" 200 "$(forward_code b2)"

install_policy "$T/broken-port.yaml"
hup "reload of .* failed; keeping generation $G0 " && ok "SIGHUP with an invalid port: reload refused, generation $G0 kept" ||
  not_ok "SIGHUP with an invalid port: reload refused, generation $G0 kept" "$(tail -5 "$PX_LOG")"
grep -qF "$POLICY:6:15: network_policies.origin.endpoints[0].port: invalid port '99999'" "$PX_LOG" &&
  ok "invalid port logged as FILE:6:15: path: message" ||
  not_ok "invalid port logged as FILE:6:15: path: message" "$(grep -F "$POLICY:" "$PX_LOG" | tail -3)"
expect_eq "after the second broken reload: forward still allowed" 200 "$(forward_code b3)"

# ---- a tunnel held open across a reload (python holder driven by a fifo)
cat >"$T/holder.py" <<'PY'
import socket, sys, time
port, origin, fifo, out = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], sys.argv[4]
EST = b"HTTP/1.1 200 Connection Established\r\n\r\n"
def say(line):
    with open(out, "a") as f:
        f.write(line + "\n")
s = socket.create_connection(("127.0.0.1", port), 5)
s.settimeout(5)
s.sendall(b"CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n" % (origin, origin))
est = b""
while len(est) < len(EST):
    d = s.recv(len(EST) - len(est))
    if not d:
        break
    est += d
say("OPEN %s" % ("ok" if est == EST else repr(est)))
deadline = time.monotonic() + 100
while time.monotonic() < deadline:
    with open(fifo) as f:
        for line in f:
            cmd, _, arg = line.strip().partition(" ")
            if cmd == "echo":
                try:
                    s.sendall(arg.encode())
                    got = b""
                    while len(got) < len(arg):
                        d = s.recv(100)
                        if not d:
                            break
                        got += d
                    say("ECHO %s" % got.decode(errors="replace"))
                except OSError as e:
                    say("ECHO error %r" % e)
            elif cmd == "eof":
                t0 = time.monotonic()
                s.settimeout(float(arg))
                try:
                    d = s.recv(100)
                    say("EOF %.2f %r" % (time.monotonic() - t0, d))
                except socket.timeout:
                    say("NOEOF")
                except OSError as e:
                    say("EOF %.2f %r" % (time.monotonic() - t0, e))
            elif cmd == "quit":
                sys.exit(0)
PY
mkfifo "$T/hold.fifo"
: >"$T/hold.out"
nsenter --net="/run/netns/$PX_NSC" "$PX_PY" "$T/holder.py" "$PX_PORT" "$O" "$T/hold.fifo" "$T/hold.out" \
  >"$T/holder.log" 2>&1 &
HOLDER=$!
px_track "$HOLDER"
hold_line() { # N [MAX_S]: prints the Nth line of the holder's output once there
  for i in $(seq $((${2:-10} * 20))); do
    [ "$(wc -l <"$T/hold.out")" -ge "$1" ] && { sed -n "${1}p" "$T/hold.out"; return 0; }
    kill -0 "$HOLDER" 2>/dev/null || break
    sleep 0.05
  done
  echo "<no line $1: $(cat "$T/holder.log")>"
}
hold_cmd() { timeout 5 sh -c 'echo "$1" >"$2"' _ "$1" "$T/hold.fifo"; }
expect_eq "held tunnel opened" "OPEN ok" "$(hold_line 1)"
hold_cmd "echo before-reload"
expect_eq "held tunnel echoes before the reload" "ECHO before-reload" "$(hold_line 2)"

# ---- a valid new policy: allowed -> denied
install_policy "$T/deny.yaml"
hup "reloaded $POLICY: generation $((G0 + 1)), sha256 [0-9a-f]{64}" &&
  ok "SIGHUP with a valid policy: generation $((G0 + 1)) published" ||
  not_ok "SIGHUP with a valid policy: generation $((G0 + 1)) published" "$(tail -5 "$PX_LOG")"
hold_cmd "echo after-reload"
expect_eq "the tunnel opened before the reload keeps working after it" "ECHO after-reload" "$(hold_line 3)"

ocsf_before_connect=$(grep -c 'OCSF NET:OPEN \[MED\] DENIED' "$PX_LOG")
ocsf_before_http=$(grep -c 'OCSF HTTP:GET \[MED\] DENIED' "$PX_LOG")
printf 'CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n' "$O" "$O" >"$T/c9000"
px_raw "$T/rc9000" --send "$T/c9000"
expect_json_response "new policy: CONNECT now denied (exact 403)" "$T/rc9000" "403 Forbidden" \
  "{\"detail\":\"CONNECT $O:9000 not permitted by policy\",\"error\":\"policy_denied\"}"
expect_eq "new policy: forward now denied" 403 "$(forward_code c2)"
expect_eq "new policy: forward deny body" \
  "{\"detail\":\"GET $O:8080/c2 not permitted by policy\",\"error\":\"policy_denied\"}" "$(cat "$T/fwd.body")"
printf 'CONNECT 127.0.0.1:8080 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n' >"$T/cssrf"
px_raw "$T/rcssrf" --send "$T/cssrf"
expect_json_response "new policy: SSRF deny (127.0.0.1 declared)" "$T/rcssrf" "403 Forbidden" \
  '{"detail":"CONNECT 127.0.0.1:8080 blocked: declared endpoint check failed","error":"ssrf_denied"}'

# ---- the denials as OCSF lines (the aggregator flushes within ~20 ms)
sleep 0.5
expect_eq "CONNECT deny + SSRF deny -> two more 'OCSF NET:OPEN [MED] DENIED' lines" $((ocsf_before_connect + 2)) \
  "$(grep -c 'OCSF NET:OPEN \[MED\] DENIED' "$PX_LOG")"
grep -E "OCSF NET:OPEN \[MED\] DENIED [^ ]+\([0-9]+\) -> $O:9000 \[policy:- engine:opa\] \[reason:endpoint $O:9000 is not allowed by any policy\]" "$PX_LOG" >/dev/null &&
  ok "CONNECT deny line: binary(pid) -> host:port [policy:- engine:opa] [reason:...]" ||
  not_ok "CONNECT deny line: binary(pid) -> host:port [policy:- engine:opa] [reason:...]" "$(grep OCSF "$PX_LOG")"
expect_eq "forward deny -> one 'OCSF HTTP:GET [MED] DENIED' line" $((ocsf_before_http + 1)) \
  "$(grep -c 'OCSF HTTP:GET \[MED\] DENIED' "$PX_LOG")"
grep -E "OCSF HTTP:GET \[MED\] DENIED /usr/bin/curl\([0-9]+\) -> GET http://$O:8080/c2 \[policy:- engine:opa\]" "$PX_LOG" >/dev/null &&
  ok "forward deny line names curl, the method and the URL, engine opa" ||
  not_ok "forward deny line names curl, the method and the URL, engine opa" "$(grep 'OCSF HTTP' "$PX_LOG")"
grep -E "OCSF NET:OPEN \[MED\] DENIED .* -> 127\.0\.0\.1:8080 \[policy:[^ ]* engine:ssrf\]" "$PX_LOG" >/dev/null &&
  ok "SSRF deny line has engine:ssrf" || not_ok "SSRF deny line has engine:ssrf" "$(grep OCSF "$PX_LOG" | tail -3)"

# ---- and back: denied -> allowed (generation 3)
install_policy "$T/allow.yaml"
hup "reloaded $POLICY: generation $((G0 + 2))," && ok "SIGHUP back to the first policy: generation $((G0 + 2))" ||
  not_ok "SIGHUP back to the first policy: generation $((G0 + 2))" "$(tail -5 "$PX_LOG")"
expect_eq "allowed again after the third reload" 200 "$(forward_code d1)"

# ---- SIGTERM: drains (the held tunnel keeps working meanwhile), exits 0
kill -TERM "$PX_PID"
t0=$(date +%s%N)
hold_cmd "echo during-drain"
expect_eq "an open tunnel keeps working during the drain" "ECHO during-drain" "$(hold_line 4)"
hold_cmd "eof 12"
# The drain grace is 5 s (osh_proxy_config.drain_ms default): exit 0 by then.
for i in $(seq 200); do kill -0 "$PX_PID" 2>/dev/null || break; sleep 0.05; done
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
if kill -0 "$PX_PID" 2>/dev/null; then
  not_ok "SIGTERM: exits within the drain time (5 s + 3 s margin)" "still running after $ms ms"
  kill -KILL "$PX_PID"
else
  ok "SIGTERM: exits within the drain time ($ms ms)"
fi
wait "$PX_PID"
expect_eq "SIGTERM: exit status 0" 0 $?
px_untrack "$PX_PID"
case "$(hold_line 5 12)" in
EOF*) ok "the tunnel still open at the end of the drain is closed" ;;
*) not_ok "the tunnel still open at the end of the drain is closed" "$(hold_line 5 1)" ;;
esac
grep -q "signal 15: stopping (draining connections)" "$PX_LOG" && ok "log: 'signal 15: stopping (draining connections)'" ||
  not_ok "log: 'signal 15: stopping (draining connections)'" "$(tail -3 "$PX_LOG")"
rep=$(px_sanitizer_report "$PX_LOG")
[ -z "$rep" ] && ok "no sanitizer report in the proxy log" || not_ok "no sanitizer report in the proxy log" "$rep"
hold_cmd "quit"

# ---- an idle proxy stops at once
px_proxy_start "$POLICY"
expect_eq "second instance serves" 200 "$(forward_code e1)"
px_proxy_stop 3
if [ "$PX_STOP_MS" -lt 2000 ]; then ok "idle proxy: SIGTERM exit under 2 s ($PX_STOP_MS ms)"; else not_ok "idle proxy: SIGTERM exit under 2 s" "$PX_STOP_MS ms"; fi
px_done
