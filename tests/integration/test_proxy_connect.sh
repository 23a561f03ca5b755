#!/usr/bin/env bash
# The CONNECT flow of the egress proxy (network.md §1.4, §1.5, §13) against
# an origin in a network namespace (10.211.0.0/24): the 200 and the tunnel,
# the exact 403 deny, an upstream that is down, the 8 KiB head limit (431),
# malformed targets, half-close, pipelined bytes after the head.  TAP.
#   test_proxy_connect.sh BIN SRC
set -u
BIN=$1
SRC=$2
. "$SRC/integration/lib_proxy.sh"
px_init c 10.211.0 150
px_net_up
px_origin_start
O=$PX_ORIGIN

POLICY=$(px_write_policy connect.yaml <<'YAML'
version: 1
network_policies:
  origin:
    endpoints:
      - host: "@ORIGIN@"
        ports: [8080, 9000, 9]
        allowed_ips: ["@ORIGIN@/32"]
    binaries:
      - path: /**
YAML
)
px_proxy_start "$POLICY"
T=$PX_TMP

# ---- allowed: curl through a tunnel (-p), the 200 then the origin's answer
px_in curl -sS -v -p -x "$PX_URL" --max-time 10 "http://$O:8080/hello?x=1" \
  -o "$T/allow.body" 2>"$T/allow.err"
expect_eq "curl -p through CONNECT exits 0" 0 $?
expect_contains "CONNECT answered 'HTTP/1.1 200 Connection Established'" \
  "< HTTP/1.1 200 Connection Established" "$(cat "$T/allow.err")"
expect_eq "origin answered the tunnelled GET" "GET /hello?x=1" "$(px_json "$T/allow.body" 'd["method"]+" "+d["path"]')"
expect_eq "tunnelled request reaches the origin from the proxy's side of the veth" \
  "$PX_HOSTIP" "$(px_json "$T/allow.body" 'd["peer"].split(":")[0]')"

# ---- exact 200 bytes, nothing else before the tunnelled bytes
printf 'CONNECT %s:9000 HTTP/1.1\r\nHost: %s:9000\r\n\r\n' "$O" "$O" >"$T/c9000"
printf 'ping-through-the-tunnel' >"$T/ping"
px_raw "$T/r200" --send "$T/c9000" --send "$T/ping" --delay-ms 300 --shut
expect_file_bytes "CONNECT 200 is exactly the status line, then the tunnel" "$T/r200" \
  'HTTP/1.1 200 Connection Established\r\n\r\nping-through-the-tunnel'
expect_contains "tunnel ends with EOF after the client's half-close" "EOF" "$(cat "$T/r200.status")"

# ---- denied: exact 403 (port not in the policy)
printf 'CONNECT %s:8081 HTTP/1.1\r\nHost: %s:8081\r\n\r\n' "$O" "$O" >"$T/deny"
px_raw "$T/rdeny" --send "$T/deny"
expect_json_response "CONNECT deny: exact 403 with policy_denied body and Connection: close" "$T/rdeny" \
  "403 Forbidden" "{\"detail\":\"CONNECT $O:8081 not permitted by policy\",\"error\":\"policy_denied\"}"
expect_contains "CONNECT deny: connection closed after the 403" "EOF" "$(cat "$T/rdeny.status")"

# A host name is lower-cased in the answer (and never resolved: denied first).
printf 'CONNECT Not-Allowed.EXAMPLE:443 HTTP/1.1\r\n\r\n' >"$T/deny2"
px_raw "$T/rdeny2" --send "$T/deny2"
expect_json_response "CONNECT deny of a host name: lower-cased host in the detail" "$T/rdeny2" \
  "403 Forbidden" '{"detail":"CONNECT not-allowed.example:443 not permitted by policy","error":"policy_denied"}'

# curl sees the 403 as a failed CONNECT.
px_in curl -sS -p -x "$PX_URL" --max-time 10 "http://$O:8081/" -o /dev/null 2>"$T/curl403.err"
expect_contains "curl -p reports the CONNECT 403" "403" "$(cat "$T/curl403.err")"

# ---- upstream down: allowed, nothing listening -> closed, no 200
printf 'CONNECT %s:9 HTTP/1.1\r\nHost: %s:9\r\n\r\n' "$O" "$O" >"$T/down"
px_raw "$T/rdown" --send "$T/down" --timeout 15
expect_eq "upstream down: no bytes at all (no 200, no error page)" 0 "$(stat -c %s "$T/rdown")"
case "$(cat "$T/rdown.status")" in
EOF* | RESET*) ok "upstream down: the connection is closed" ;;
*) not_ok "upstream down: the connection is closed" "$(cat "$T/rdown.status")" ;;
esac

# ---- the 8 KiB head limit (§1.4): 8192 bytes incl. the terminator pass,
# one more byte gets the bare 431.
"$PX_PY" - "$O" "$T" <<'PY'
import sys
o, t = sys.argv[1], sys.argv[2]
def head(total):
    start = ("CONNECT %s:9000 HTTP/1.1\r\nX-Pad: " % o).encode()
    end = b"\r\n\r\n"
    return start + b"a" * (total - len(start) - len(end)) + end
open(t + "/h8192", "wb").write(head(8192))
open(t + "/h8193", "wb").write(head(8193))
open(t + "/h9000", "wb").write(head(9000)[:-4])  # no terminator at all
PY
printf 'after-a-max-head' >"$T/afterhead"
px_raw "$T/r8192" --send "$T/h8192" --send "$T/afterhead" --delay-ms 300 --shut
expect_file_bytes "a head of exactly 8192 bytes is accepted" "$T/r8192" \
  'HTTP/1.1 200 Connection Established\r\n\r\nafter-a-max-head'
px_raw "$T/r8193" --send "$T/h8193"
expect_file_bytes "a head of 8193 bytes gets exactly the 431 status line" "$T/r8193" \
  'HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n'
px_raw "$T/r9000" --send "$T/h9000"
expect_file_bytes "9000 bytes without a terminator get exactly the 431 status line" "$T/r9000" \
  'HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n'
case "$(cat "$T/r9000.status")" in
EOF* | RESET*) ok "431: the connection is closed" ;;
*) not_ok "431: the connection is closed" "$(cat "$T/r9000.status")" ;;
esac

# ---- malformed CONNECT targets: closed silently (§1.5.1)
i=0
for target in "$O" "$O:" "$O:abc" "$O:99999" ":9000" "[::1]:9000" "$O:90a0" "$O:-1"; do
  i=$((i + 1))
  printf 'CONNECT %s HTTP/1.1\r\n\r\n' "$target" >"$T/bad$i"
  px_raw "$T/rbad$i" --send "$T/bad$i" --timeout 10
  st=$(cat "$T/rbad$i.status")
  if [ ! -s "$T/rbad$i" ] && { [ "${st%% *}" = EOF ] || [ "${st%% *}" = RESET ]; }; then
    ok "malformed CONNECT target '$target' is closed silently"
  else
    not_ok "malformed CONNECT target '$target' is closed silently" "status: $st; bytes: $(px_repr "$T/rbad$i")"
  fi
done

# ---- half-close, pipelining, bulk bytes (python: needs precise socket control)
cat >"$T/tunnel_checks.py" <<'PY'
import hashlib, socket, sys, threading, time
port, origin = int(sys.argv[1]), sys.argv[2]
EST = b"HTTP/1.1 200 Connection Established\r\n\r\n"

def res(name, cond, detail=""):
    print(("PASS %s" % name) if cond else ("FAIL %s :: %s" % (name, detail)), flush=True)

def connect(target, extra=b""):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(20)
    s.sendall(b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.encode(), target.encode()) + extra)
    return s

def read_exact(s, n):
    b = b""
    while len(b) < n:
        d = s.recv(n - len(b))
        if not d:
            break
        b += d
    return b

def read_all(s):
    b = b""
    while True:
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return b + b"<RESET>"
        if not d:
            return b
        b += d

# 1. Half-close: an HTTP request whose client shuts its write side down
#    right after sending still gets the whole answer, then EOF.
try:
    s = connect("%s:8080" % origin)
    est = read_exact(s, len(EST))
    s.sendall(b"GET /bytes/300000 HTTP/1.1\r\nHost: %s:8080\r\n\r\n" % origin.encode())
    s.shutdown(socket.SHUT_WR)
    data = read_all(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    want = (hashlib.sha256(b"osh").hexdigest().encode() * (300000 // 64 + 1))[:300000]
    res("half-close: CONNECT answered 200 before the request", est == EST, repr(est))
    res("half-close: full 300000-byte answer after the client's SHUT_WR",
        head.startswith(b"HTTP/1.") and body == want,
        "head=%r body_len=%d" % (head[:80], len(body)))
except Exception as e:
    res("half-close: full answer after the client's SHUT_WR", False, repr(e))

# 2. Half-close on a raw echo: 1 MiB up, SHUT_WR, 1 MiB back, then EOF.
try:
    s = connect("%s:9000" % origin)
    est = read_exact(s, len(EST))
    payload = hashlib.sha256(b"x").digest() * (1 << 15)  # 1 MiB
    def send():
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
    th = threading.Thread(target=send)
    th.start()
    back = read_all(s)
    th.join(20)
    s.close()
    res("half-close echo: 1 MiB comes back intact, then EOF",
        est == EST and back == payload, "est=%r got=%d bytes" % (est, len(back)))
except Exception as e:
    res("half-close echo: 1 MiB comes back intact, then EOF", False, repr(e))

# 3. Pipelined bytes written together with the CONNECT head are not lost.
try:
    s = connect("%s:9000" % origin, b"PIPELINED-HELLO")
    s.shutdown(socket.SHUT_WR)
    data = read_all(s)
    s.close()
    res("pipelined bytes after the CONNECT head reach the upstream",
        data == EST + b"PIPELINED-HELLO", repr(data[:200]))
except Exception as e:
    res("pipelined bytes after the CONNECT head reach the upstream", False, repr(e))

try:
    # More than the proxy's 8 KiB head buffer, in the same write as the head.
    big = hashlib.sha256(b"pipe").hexdigest().encode() * 2048  # 128 KiB
    s = connect("%s:9000" % origin, big)
    def finish():
        s.shutdown(socket.SHUT_WR)
    finish()
    data = read_all(s)
    s.close()
    res("128 KiB pipelined after the CONNECT head arrive intact and in order",
        data == EST + big, "got %d bytes, prefix ok=%s" % (len(data), data.startswith(EST)))
except Exception as e:
    res("128 KiB pipelined after the CONNECT head arrive intact and in order", False, repr(e))

try:
    req = b"GET /pipelined HTTP/1.1\r\nHost: %s:8080\r\nConnection: close\r\n\r\n" % origin.encode()
    s = connect("%s:8080" % origin, req)
    data = read_all(s)
    s.close()
    ok = data.startswith(EST + b"HTTP/1.") and b'"path": "/pipelined"' in data
    res("a pipelined HTTP request after the CONNECT head is answered", ok, repr(data[:300]))
except Exception as e:
    res("a pipelined HTTP request after the CONNECT head is answered", False, repr(e))

# 4. Bulk download through a tunnel: 8 MB, byte for byte.
try:
    n = 8000000
    s = connect("%s:8080" % origin)
    est = read_exact(s, len(EST))
    s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: %s:8080\r\nConnection: close\r\n\r\n" % (n, origin.encode()))
    data = read_all(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    want = (hashlib.sha256(b"osh").hexdigest().encode() * (n // 64 + 1))[:n]
    res("8 MB through a tunnel arrive intact", body == want,
        "len=%d sha_ok=%s" % (len(body), body == want))
except Exception as e:
    res("8 MB through a tunnel arrive intact", False, repr(e))

# 5. Many sequential tunnels: every one gets its own echo.
try:
    bad = []
    for i in range(50):
        s = connect("%s:9000" % origin)
        est = read_exact(s, len(EST))
        msg = b"msg-%d" % i
        s.sendall(msg)
        s.shutdown(socket.SHUT_WR)
        back = read_all(s)
        s.close()
        if est != EST or back != msg:
            bad.append((i, est, back))
    res("50 sequential tunnels each echo their own bytes", not bad, repr(bad[:3]))
except Exception as e:
    res("50 sequential tunnels each echo their own bytes", False, repr(e))
PY
px_py_checks "tunnel checks" "$T/tunnel_checks.py" "$PX_PORT" "$O"

# ---- the log: one OCSF denial per deny, the proxy still up
expect_eq "CONNECT denials are logged as OCSF NET:OPEN DENIED (3 expected)" 3 \
  "$(grep -c 'OCSF NET:OPEN \[MED\] DENIED' "$PX_LOG")"
px_proxy_alive "proxy still running after the CONNECT scenarios"
px_proxy_stop
px_done
