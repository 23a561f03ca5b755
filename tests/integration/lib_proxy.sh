# shellcheck shell=bash
# lib_proxy.sh - shared helpers of the egress-proxy integration tests
# (tests/integration/test_proxy_*.sh).  Sourced, never run.
#
# Topology, created per test run and torn down on every exit path:
#
#   netns PX_NSC ("client")                    netns PX_NSO ("origin")
#     lo 127.0.0.1: the proxy + the clients      lo
#     veth PX_VC  <SUBNET>.1/24  <----------->   veth PX_VO <SUBNET>.2/24
#                                                python origin:
#                                                  HTTP echo   :8080 :8081
#                                                  (keep-alive under /ka/)
#                                                  TCP echo    :9000
#
# The proxy and every client run inside PX_NSC (`px_in CMD...`), so all
# traffic stays between 127.0.0.1 and the test's own veth: nothing the proxy
# does (a DNS lookup, a wrong connect) can reach any other address, and the
# root namespace's interfaces and ports are never touched.  Names carry the
# test tag and $$, so test files can run in parallel (ctest -j).
#
# Usage:
#   BIN=$1 SRC=$2; . "$SRC/integration/lib_proxy.sh"
#   px_init TAG SUBNET_PREFIX [TIME_LIMIT_S]   e.g. px_init c 10.211.0 150
#   px_net_up; px_origin_start
#   px_write_policy NAME <<'YAML' ... YAML        (@ORIGIN@ -> SUBNET.2)
#   px_proxy_start POLICY_FILE [extra proxy flags...]
#   px_in curl ... -x "$PX_URL" ...
#   px_proxy_stop     (TERM; emits a TAP line: exit 0, no sanitizer report)
#   px_done           (plan + exit status)
#
# TAP: ok/not_ok/expect_eq/expect_contains/expect_not_contains/expect_file_bytes.
# A missing prerequisite is a failure (px_bail), never a silent skip.

set -u

PX_N=0
PX_FAILS=0
PX_PIDS=()
PX_TMP=""
PX_NSC=""
PX_NSO=""
PX_PID=""
PX_PORT=""
PX_LOG=""
PX_URL=""
PX_WATCHDOG=""

ok() { PX_N=$((PX_N + 1)); echo "ok $PX_N - $1"; }
not_ok() {
  PX_N=$((PX_N + 1))
  PX_FAILS=$((PX_FAILS + 1))
  echo "not ok $PX_N - $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | head -c 6000 | sed 's/^/#   /'; echo; fi
}
expect_eq() { # name expected actual
  if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2 | actual: $3"; fi
}
expect_contains() { # name needle haystack
  case "$3" in
  *"$2"*) ok "$1" ;;
  *) not_ok "$1" "expected to contain: $2 | actual: $3" ;;
  esac
}
expect_not_contains() { # name needle haystack
  case "$3" in
  *"$2"*) not_ok "$1" "expected NOT to contain: $2 | actual: $3" ;;
  *) ok "$1" ;;
  esac
}
# expect_file_bytes NAME FILE PRINTF_FORMAT [ARGS...]: FILE holds exactly
# the bytes printf would produce (use %s for JSON bodies, \r\n escapes).
expect_file_bytes() {
  local name=$1 file=$2
  shift 2
  # shellcheck disable=SC2059
  printf "$@" >"$PX_TMP/expected.bin"
  if cmp -s "$PX_TMP/expected.bin" "$file"; then
    ok "$name"
  else
    not_ok "$name" "expected: $(px_repr "$PX_TMP/expected.bin")
actual:   $(px_repr "$file")"
  fi
}
# expect_json_response NAME FILE "403 Forbidden" BODY: the proxy's own JSON
# answer (network.md §1.7), byte for byte.
expect_json_response() {
  expect_file_bytes "$1" "$2" \
    'HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$3" "${#4}" "$4"
}
# Python repr of a file's bytes (first 2000), for diagnostics.
px_repr() { "$PX_PY" -c 'import sys; print(repr(open(sys.argv[1],"rb").read()[:2000]))' "$1" 2>/dev/null; }

# Fatal: a prerequisite is missing or the harness cannot go on.
px_bail() {
  not_ok "harness: $1" "${2:-}"
  echo "Bail out! $1"
  exit 1
}

# Runs a command inside the client netns (where the proxy listens).
# nsenter execs the command (`ip netns exec` forks and waits): a background
# job's $! is the command itself, and a client's parent is the caller, which
# the binary-identity tests rely on.
px_in() { nsenter --net="/run/netns/$PX_NSC" "$@"; }
px_in_origin() { nsenter --net="/run/netns/$PX_NSO" "$@"; }

px_require() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || px_bail "required command '$c' not found"
  done
}

# ---- lifecycle -----------------------------------------------------------

px_init() { # TAG SUBNET_PREFIX [TIME_LIMIT_S]
  local tag=$1 limit=${3:-150}
  PX_SUBNET=$2
  PX_ORIGIN=$2.2
  PX_HOSTIP=$2.1
  [ "$(id -u)" -eq 0 ] || px_bail "must run as root (network namespaces)"
  [ -x "$BIN" ] || px_bail "proxy binary '$BIN' is not executable"
  px_require ip nsenter python3 curl cmp timeout sha256sum
  # The interpreter itself (not a wrapper script such as a pyenv shim), so
  # that a python client's pid is the python process.
  PX_PY=$(python3 -c 'import sys; print(sys.executable)') && [ -x "$PX_PY" ] ||
    px_bail "cannot locate the python3 executable"
  PX_TMP=$(mktemp -d "/tmp/osh-px-$tag-$$.XXXXXX") || px_bail "mktemp failed"
  PX_NSC="osh-px$tag-$$-c"
  PX_NSO="osh-px$tag-$$-o"
  PX_VC="px$tag$$c"
  PX_VO="px$tag$$o"
  [ ${#PX_VC} -le 15 ] || px_bail "interface name $PX_VC too long"
  trap px_cleanup EXIT
  trap 'not_ok "interrupted (signal or time limit)"; echo "1..$PX_N"; exit 130' INT TERM HUP
  # Watchdog: the whole file stays under its time limit (below the ctest
  # TIMEOUT) even if a step misbehaves (each step is bounded too).  On
  # expiry it kills the processes inside the test's namespaces (`ip netns
  # pids`: by pid, only ours), which ends the foreground step, then TERMs
  # this shell, whose EXIT trap cleans up.  It polls so that it ends by
  # itself within a second of this shell.
  limit=${PX_TIME_LIMIT:-$limit}
  (
    i=0
    while [ $i -lt "$limit" ]; do
      sleep 1
      kill -0 $$ 2>/dev/null || exit 0
      i=$((i + 1))
    done
    echo "# watchdog: ${limit}s time limit reached" >&2
    for ns in "$PX_NSC" "$PX_NSO"; do
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    done
    kill -TERM $$ 2>/dev/null
  ) &
  PX_WATCHDOG=$!
  px_write_helpers
}

px_cleanup() {
  local pid
  trap - EXIT INT TERM HUP
  {
    for pid in "${PX_PIDS[@]}"; do
      kill -KILL "$pid"
    done
    # All are children of this shell: wait reaps them (and keeps bash's
    # "Killed" job notices off the TAP stream).
    for pid in "${PX_PIDS[@]}"; do
      wait "$pid"
    done
    [ -n "$PX_WATCHDOG" ] && kill "$PX_WATCHDOG" && wait "$PX_WATCHDOG"
  } 2>/dev/null
  # Deleting a namespace destroys the veth end inside it, and with it the
  # peer; delete the links explicitly as well in case a namespace lingers.
  [ -n "$PX_NSC" ] && ip -n "$PX_NSC" link del "$PX_VC" 2>/dev/null
  [ -n "$PX_NSC" ] && ip netns del "$PX_NSC" 2>/dev/null
  [ -n "$PX_NSO" ] && ip netns del "$PX_NSO" 2>/dev/null
  if [ -n "$PX_TMP" ] && [ -d "$PX_TMP" ]; then
    if [ "$PX_FAILS" -ne 0 ] && [ -n "${PX_KEEP_LOGS:-}" ]; then
      echo "# logs kept in $PX_TMP"
    else
      rm -rf "$PX_TMP"
    fi
  fi
}

# Tracks a background process for cleanup.
px_track() { PX_PIDS+=("$1"); }
px_untrack() {
  local keep=() p
  for p in "${PX_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PX_PIDS=("${keep[@]}")
}

px_done() {
  echo "1..$PX_N"
  [ "$PX_FAILS" -eq 0 ]
  exit $?
}

# ---- network ---------------------------------------------------------------

px_net_up() {
  ip netns add "$PX_NSC" || px_bail "ip netns add $PX_NSC failed"
  ip netns add "$PX_NSO" || px_bail "ip netns add $PX_NSO failed"
  ip -n "$PX_NSC" link add "$PX_VC" type veth peer name "$PX_VO" netns "$PX_NSO" ||
    px_bail "veth creation failed"
  ip -n "$PX_NSC" link set lo up &&
    ip -n "$PX_NSO" link set lo up &&
    ip -n "$PX_NSC" addr add "$PX_HOSTIP/24" dev "$PX_VC" &&
    ip -n "$PX_NSO" addr add "$PX_ORIGIN/24" dev "$PX_VO" &&
    ip -n "$PX_NSC" link set "$PX_VC" up &&
    ip -n "$PX_NSO" link set "$PX_VO" up ||
    px_bail "veth configuration failed"
}

# Starts the python origin in PX_NSO and waits (bounded) until it answers.
px_origin_start() {
  local i
  # Not through px_in_origin: a backgrounded function would be a subshell,
  # and $! must be the server itself.
  nsenter --net="/run/netns/$PX_NSO" "$PX_PY" "$PX_TMP/origin.py" "$PX_ORIGIN" \
    "$PX_TMP/origin.ready" >"$PX_TMP/origin.log" 2>&1 &
  PX_ORIGIN_PID=$!
  px_track "$PX_ORIGIN_PID"
  for i in $(seq 100); do
    [ -s "$PX_TMP/origin.ready" ] && break
    kill -0 "$PX_ORIGIN_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$PX_TMP/origin.ready" ] || px_bail "origin did not start" "$(cat "$PX_TMP/origin.log")"
  # Reachable from the client side over the veth?
  px_in curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' \
    "http://$PX_ORIGIN:8080/ready" >"$PX_TMP/probe" 2>&1
  [ "$(cat "$PX_TMP/probe")" = 200 ] || px_bail "origin not reachable over the veth" "$(cat "$PX_TMP/probe")"
}

# ---- policies ---------------------------------------------------------------

# px_write_policy NAME < yaml: writes $PX_TMP/NAME with @ORIGIN@ and
# @SUBNET@ substituted; prints the path.
px_write_policy() {
  local f="$PX_TMP/$1"
  sed -e "s/@ORIGIN@/$PX_ORIGIN/g" -e "s/@SUBNET@/$PX_SUBNET/g" >"$f.tmp" && mv "$f.tmp" "$f"
  echo "$f"
}

# ---- the proxy ------------------------------------------------------------

# px_proxy_start POLICY [flags...]: starts `BIN --mode=network` in PX_NSC on
# a free 127.0.0.1 port and waits until it accepts.  Sets PX_PID, PX_PORT,
# PX_URL, PX_LOG.  PX_WRAP (array) may prefix the command, e.g. (prlimit
# --nofile=64:64) - it must exec the proxy so that PX_PID is the proxy.
px_proxy_start() {
  local policy=$1 attempt i
  shift
  PX_LOG="$PX_TMP/proxy.$((PX_N + 1)).log"
  for attempt in 1 2 3; do
    PX_PORT=$(px_in "$PX_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    [ -n "$PX_PORT" ] || px_bail "cannot find a free port"
    nsenter --net="/run/netns/$PX_NSC" ${PX_WRAP[@]+"${PX_WRAP[@]}"} "$BIN" --mode=network \
      --policy-data "$policy" --proxy-listen "127.0.0.1:$PX_PORT" --log-level info "$@" \
      >"$PX_LOG" 2>&1 &
    PX_PID=$!
    px_track "$PX_PID"
    for i in $(seq 100); do
      kill -0 "$PX_PID" 2>/dev/null || break
      if px_in "$PX_PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.5).close()' \
        "$PX_PORT" 2>/dev/null; then
        PX_URL="http://127.0.0.1:$PX_PORT"
        # Let the probe connection's EOF be processed before the test.
        sleep 0.2
        return 0
      fi
      sleep 0.1
    done
    kill -KILL "$PX_PID" 2>/dev/null
    wait "$PX_PID" 2>/dev/null
    px_untrack "$PX_PID"
    grep -q "Address already in use" "$PX_LOG" || break
  done
  px_bail "proxy did not start (policy $policy)" "$(cat "$PX_LOG")"
}

# Sanitizer/abort reports in a proxy log.
px_sanitizer_report() {
  grep -E -A40 'ERROR: (Address|Leak|Thread|Memory|UndefinedBehavior)Sanitizer|WARNING: ThreadSanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$1" | head -80
}

# px_proxy_alive NAME: TAP line, the proxy is still running.
px_proxy_alive() {
  if kill -0 "$PX_PID" 2>/dev/null; then
    ok "$1"
  else
    not_ok "$1" "proxy died; log tail: $(tail -40 "$PX_LOG")"
  fi
}

# px_proxy_stop [MAX_S]: SIGTERM, wait up to MAX_S (default 10) for the
# exit; TAP lines: exit status 0, and no sanitizer report in the log.
# Sets PX_STOP_MS (time to exit) and PX_STOP_RC.
px_proxy_stop() {
  local max=${1:-10} t0 t1 i rc=""
  t0=$(date +%s%N)
  kill -TERM "$PX_PID" 2>/dev/null
  for i in $(seq $((max * 20))); do
    if ! kill -0 "$PX_PID" 2>/dev/null; then break; fi
    sleep 0.05
  done
  t1=$(date +%s%N)
  PX_STOP_MS=$(((t1 - t0) / 1000000))
  if kill -0 "$PX_PID" 2>/dev/null; then
    not_ok "proxy exits within ${max}s of SIGTERM" "still running after ${PX_STOP_MS} ms; log tail: $(tail -20 "$PX_LOG")"
    kill -KILL "$PX_PID" 2>/dev/null
  fi
  wait "$PX_PID" 2>/dev/null
  rc=$?
  PX_STOP_RC=$rc
  px_untrack "$PX_PID"
  expect_eq "proxy exits 0 on SIGTERM (${PX_STOP_MS} ms)" 0 "$rc"
  local rep
  rep=$(px_sanitizer_report "$PX_LOG")
  if [ -z "$rep" ]; then ok "no sanitizer report in the proxy log"; else not_ok "no sanitizer report in the proxy log" "$rep"; fi
}

# Waits (bounded, seconds) until the proxy log matches an ERE; 0 if it did.
px_wait_log() { # ERE [MAX_S]
  local i
  for i in $(seq $((${2:-5} * 20))); do
    grep -qE -- "$1" "$PX_LOG" && return 0
    sleep 0.05
  done
  return 1
}

# Counts lines of the proxy log matching a fixed string.
px_log_count() { grep -cF -- "$1" "$PX_LOG"; }

# ---- clients ---------------------------------------------------------------

# px_raw OUT [pxc raw options...]: raw TCP exchange with the proxy (see
# pxc.py); received bytes in OUT, status ("EOF"/"RESET"/"TIMEOUT" and the
# elapsed ms) in OUT.status.
px_raw() {
  local out=$1
  shift
  px_in timeout 60 "$PX_PY" "$PX_TMP/pxc.py" raw --port "$PX_PORT" "$@" >"$out" 2>"$out.status"
}

# JSON field of an origin echo (python expression over `d`).
px_json() { # FILE EXPR
  "$PX_PY" -c 'import json,sys
try:
    d=json.load(open(sys.argv[1]))
except Exception as e:
    print("<not json: %s>" % e); sys.exit(0)
print(eval(sys.argv[2]))' "$1" "$2"
}

# Body of a raw HTTP response file (after the first blank line).
px_body() { "$PX_PY" -c 'import sys; b=open(sys.argv[1],"rb").read(); i=b.find(b"\r\n\r\n"); sys.stdout.buffer.write(b[i+4:] if i>=0 else b"")' "$1"; }

# Runs a python check script that prints "PASS name" / "FAIL name :: detail"
# lines; each becomes a TAP line.  A script that exits non-zero without
# output is a failure too.
px_py_checks() { # LABEL SCRIPT_FILE ARGS...
  local label=$1 script=$2 line name detail rc
  shift 2
  px_in timeout 120 "$PX_PY" "$script" "$@" >"$PX_TMP/py.out" 2>"$PX_TMP/py.err"
  rc=$?
  while IFS= read -r line; do
    case "$line" in
    PASS\ *) ok "${line#PASS }" ;;
    FAIL\ *)
      name=${line#FAIL }
      detail=${name#* :: }
      name=${name%% :: *}
      not_ok "$name" "$detail"
      ;;
    *) echo "# $line" ;;
    esac
  done <"$PX_TMP/py.out"
  if [ "$rc" -ne 0 ]; then
    not_ok "$label: python check script exits 0" "rc=$rc; stderr: $(tail -30 "$PX_TMP/py.err")"
  fi
}

# ---- python helpers, written at init ----------------------------------------

px_write_helpers() {
  cat >"$PX_TMP/origin.py" <<'PY'
# The test origin: HTTP/1.1 echo on :8080 and :8081, TCP echo on :9000.
# Paths /bytes/N and /chunked/N answer N bytes (Content-Length or chunked);
# paths under /ka/ keep the connection alive, every other answer carries
# "Connection: close".  Every HTTP answer is a JSON description of the request it got.
import asyncio, hashlib, json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ADDR, READY = sys.argv[1], sys.argv[2]

class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def _body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            data = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return data, "chunked"
                data += self.rfile.read(size)
                self.rfile.readline(3)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n), ("length" if "Content-Length" in self.headers else "none")
    def _send(self, code, body, ctype="application/json", chunked=False):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        # Upstream keep-alive only under /ka/ (so only those requests can
        # leave a proxy->origin connection for reuse); others close.
        if not self.path.startswith("/ka/"):
            self.send_header("Connection", "close")
            self.close_connection = True
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7777):
                part = body[i:i + 7777]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    def _any(self):
        body, framing = self._body()
        p = self.path
        if p.startswith("/bytes/") or p.startswith("/chunked/"):
            n = int(p.split("/")[2])
            data = (hashlib.sha256(b"osh").hexdigest().encode() * (n // 64 + 1))[:n]
            self._send(200, data, "application/octet-stream", p.startswith("/chunked/"))
            return
        d = {
            "method": self.command, "path": p, "version": self.request_version,
            "headers": [[k, v] for k, v in self.headers.items()],
            "framing": framing, "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body": body.decode("latin-1") if len(body) <= 4096 else None,
            "peer": "%s:%d" % self.client_address[:2],
            "port": self.server.server_address[1],
        }
        self._send(200, json.dumps(d).encode())
    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _any

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass

async def main():
    for port in (8080, 8081):
        s = Server((ADDR, port), Echo)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    srv = await asyncio.start_server(echo, ADDR, 9000, backlog=4096, limit=1 << 20)
    with open(READY + ".tmp", "w") as f:
        f.write("ready\n")
    os.rename(READY + ".tmp", READY)
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
PY
  cat >"$PX_TMP/pxc.py" <<'PY'
# pxc.py raw: a raw TCP client for the proxy.
#   --send FILE       bytes to send (repeatable: one write per file)
#   --delay-ms MS     pause between writes
#   --shut            shutdown(SHUT_WR) after the last write
#   --timeout S       give up reading after S seconds (default 10)
#   --until-close     (default) read until EOF; --max-bytes N stops earlier
# Writes the received bytes to stdout, "EOF|RESET|TIMEOUT <ms>" to stderr.
import argparse, socket, sys, time
ap = argparse.ArgumentParser()
ap.add_argument("mode")
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--send", action="append", default=[])
ap.add_argument("--delay-ms", type=int, default=0)
ap.add_argument("--shut", action="store_true")
ap.add_argument("--timeout", type=float, default=10.0)
ap.add_argument("--max-bytes", type=int, default=0)
a = ap.parse_args()
t0 = time.monotonic()
s = socket.create_connection((a.host, a.port), 5)
got, status = b"", "EOF"
try:
    for i, f in enumerate(a.send):
        if i and a.delay_ms:
            time.sleep(a.delay_ms / 1000)
        s.sendall(open(f, "rb").read())
    if a.shut:
        s.shutdown(socket.SHUT_WR)
except (BrokenPipeError, ConnectionResetError):
    status = "SENDFAIL"
deadline = t0 + a.timeout
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        status = "TIMEOUT"
        break
    s.settimeout(left)
    try:
        d = s.recv(65536)
    except socket.timeout:
        status = "TIMEOUT"
        break
    except ConnectionResetError:
        status = "RESET"
        break
    if not d:
        if status != "SENDFAIL":
            status = "EOF"
        break
    got += d
    if a.max_bytes and len(got) >= a.max_bytes:
        status = "MAX"
        break
sys.stdout.buffer.write(got)
sys.stderr.write("%s %d\n" % (status, (time.monotonic() - t0) * 1000))
PY
}
