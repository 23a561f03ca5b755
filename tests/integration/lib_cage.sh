# lib_cage.sh - shared helpers of the cage integration tests
# (tests/integration/test_cage_*.sh): the real supervisor in its default
# combined mode (network namespace + fence + proxy + caged workload).
# Sourced, never run.
#
# Topology of a test that needs test hosts (cg_origin_up), created per test
# run and torn down on every exit path:
#
#   root namespace                         netns CG_NSO ("origin")
#     CG_VA 10.216.0.1/24  <----------->     CG_VX 10.216.0.2/24
#     CG_VB 10.217.0.1/24  <----------->     CG_VY 10.217.0.2/24
#                                            10.200.0.0/24 via 10.216.0.1
#                                            (no default route)
#     (the supervisor's proxy runs here,     cg_srv.py recorder:
#      on 10.200.0.1:3128)                     HTTP :8080 :8081, TCP :8443,
#                                              UDP :9999 :53, UDP-Lite :9997
#
#   netns osh-<8 hex> (the cage, made by the supervisor itself):
#     veth-s-<id> 10.200.0.2/24, default via 10.200.0.1 (veth-h-<id>).
#
# Every listener records what reaches it (one line per datagram, accepted
# connection or HTTP request) in a log, so a test can prove that a blocked
# probe reached nothing.  Traffic only ever goes to 127.0.0.0/8, to the
# cage's own 10.200.0.0/24 and to the test hosts above; name resolution is
# never used (IP literals only).
#
# Only one cage can exist at a time (the supervisor's subnet is fixed), so
# cage runs are serial: cg_start first waits (bounded) until 10.200.0.0/24
# is free.  The namespace of every run is identified (the supervisor's
# "workload started: pid N in osh-<id>" line at --log-level info, plus a
# before/after diff of osh-<8 hex> namespaces and veth-h-* links), checked
# by cg_expect_clean, and removed by the harness if the supervisor left it.
#
# Usage:
#   BIN=$1 SRC=$2; . "$SRC/integration/lib_cage.sh"
#   cg_init TAG [TIME_LIMIT_S]
#   cg_origin_up                                  (optional)
#   P=$(cg_write_policy NAME <<'YAML' ... YAML)   (@A@ -> 10.216.0.2, @B@ -> 10.217.0.2)
#   W=$(cg_write_script NAME <<'SH' ... SH)       (0755, readable by the sandbox user)
#   cg_run LABEL MAX_S [supervisor args...] -- CMD...    (sets CG_RC, CG_OUT, CG_ERR, CG_MS, CG_NS)
#   or: cg_start LABEL [args...]; ...; cg_wait MAX_S
#   cg_expect_clean NAME; cg_expect_no_sanitizer NAME
#   cg_done
#
# TAP: ok/not_ok/expect_eq/expect_contains/expect_not_contains/expect_match/
# expect_lt.  A missing prerequisite is a failure (cg_bail), never a skip.

set -u

CG_N=0
CG_FAILS=0
CG_PIDS=()
CG_CAGES=()
CG_PATHS=()
CG_TMP=""
CG_NSO=""
CG_VA=""
CG_VB=""
CG_SUP_PID=""
CG_WATCHDOG=""
CG_RC=""
CG_OUT=""
CG_ERR=""
CG_MS=""
CG_NS=""
CG_LEFT=""

CG_SUBNET_A=10.216.0
CG_SUBNET_B=10.217.0
CG_A=10.216.0.2
CG_B=10.217.0.2
CG_HOST_IP=10.200.0.1
CG_SANDBOX_IP=10.200.0.2
CG_PROXY_URL=http://10.200.0.1:3128
# The workload runs as the sandbox user: the interpreter must be one it can
# execute (not a shim under /root).
CG_PY=/usr/bin/python3

# ---- TAP -------------------------------------------------------------------

ok() { CG_N=$((CG_N + 1)); echo "ok $CG_N - $1"; }
not_ok() {
  CG_N=$((CG_N + 1))
  CG_FAILS=$((CG_FAILS + 1))
  echo "not ok $CG_N - $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | head -c 6000 | sed 's/^/#   /'; fi
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
expect_match() { # name ERE text
  if printf '%s\n' "$3" | grep -qE -- "$2"; then ok "$1"; else not_ok "$1" "expected to match /$2/ | actual: $3"; fi
}
expect_lt() { # name limit actual (integers)
  if [ -n "$3" ] && [ "$3" -eq "$3" ] 2>/dev/null && [ "$3" -lt "$2" ]; then
    ok "$1"
  else
    not_ok "$1" "expected < $2 | actual: $3"
  fi
}

# Fatal: a prerequisite is missing or the harness cannot go on.
cg_bail() {
  not_ok "harness: $1" "${2:-}"
  echo "1..$CG_N"
  echo "Bail out! $1"
  exit 1
}

cg_require() {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 || cg_bail "required command '$c' not found"
  done
}

cg_done() {
  echo "1..$CG_N"
  [ "$CG_FAILS" -eq 0 ]
  exit $?
}

# ---- lifecycle -------------------------------------------------------------

cg_init() { # TAG [TIME_LIMIT_S]
  local tag=$1 limit=${2:-240}
  # System tools only; the supervisor passes PATH on to the workload.
  export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  [ "$(id -u)" -eq 0 ] || cg_bail "must run as root (network namespaces)"
  [ -x "$BIN" ] || cg_bail "supervisor binary '$BIN' is not executable"
  cg_require ip nsenter curl timeout mktemp
  [ -x "$CG_PY" ] || cg_bail "$CG_PY not found"
  CG_USER=sandbox
  CG_UID=$(id -u "$CG_USER" 2>/dev/null) && CG_GID=$(id -g "$CG_USER" 2>/dev/null) ||
    cg_bail "user '$CG_USER' does not exist (scripts/install-deps.sh creates it)"
  CG_TAG=$tag
  CG_TMP=$(mktemp -d "/tmp/osh-cage-$tag-$$.XXXXXX") || cg_bail "mktemp failed"
  # The workload (sandbox user) reads its scripts here and writes into sync/.
  chmod 755 "$CG_TMP"
  CG_SYNC=$CG_TMP/sync
  mkdir "$CG_SYNC" && chown "$CG_USER:$CG_GID" "$CG_SYNC" && chmod 755 "$CG_SYNC" ||
    cg_bail "cannot prepare $CG_SYNC"
  CG_NSO="oshcg-$tag-$$"
  CG_VA="cg$tag$$a"
  CG_VB="cg$tag$$b"
  CG_VX="cg$tag$$x"
  CG_VY="cg$tag$$y"
  [ ${#CG_VA} -le 15 ] || cg_bail "interface name $CG_VA too long"
  : >"$CG_TMP/sup.pid"
  trap cg_cleanup EXIT
  trap 'not_ok "interrupted (signal or time limit)"; echo "1..$CG_N"; exit 130' INT TERM HUP
  # Watchdog: the whole file stays under its time limit (below the ctest
  # TIMEOUT) even if a step misbehaves (each step is bounded too).  On
  # expiry it stops the current supervisor (its pid is in sup.pid: TERM,
  # then KILL) and the processes in the test's origin namespace, then TERMs
  # this shell, whose EXIT trap cleans up.  It polls, so it ends by itself
  # within a second of this shell.
  limit=${CG_TIME_LIMIT:-$limit}
  (
    i=0
    while [ $i -lt "$limit" ]; do
      sleep 1
      kill -0 $$ 2>/dev/null || exit 0
      i=$((i + 1))
    done
    echo "# watchdog: ${limit}s time limit reached" >&2
    p=$(cat "$CG_TMP/sup.pid" 2>/dev/null)
    if [ -n "$p" ]; then
      kill -TERM "$p" 2>/dev/null
      sleep 3
      kill -KILL "$p" 2>/dev/null
    fi
    for p in $(ip netns pids "$CG_NSO" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
    kill -TERM $$ 2>/dev/null
  ) &
  CG_WATCHDOG=$!
  cg_write_helpers
}

cg_cleanup() {
  local pid i ns id
  trap - EXIT INT TERM HUP
  {
    # A supervisor still running gets the chance to tear its cage down.
    if [ -n "$CG_SUP_PID" ] && kill -0 "$CG_SUP_PID"; then
      kill -TERM "$CG_SUP_PID"
      for i in $(seq 50); do kill -0 "$CG_SUP_PID" || break; sleep 0.1; done
      kill -KILL "$CG_SUP_PID"
      wait "$CG_SUP_PID"
      cg_collect_cages
    fi
    for pid in "${CG_PIDS[@]}"; do kill -KILL "$pid"; done
    for pid in "${CG_PIDS[@]}"; do wait "$pid"; done
    [ -n "$CG_WATCHDOG" ] && kill "$CG_WATCHDOG" && wait "$CG_WATCHDOG"
  } 2>/dev/null
  # Cages our supervisors left behind (reported by cg_expect_clean).  Only
  # names collected right after one of our runs: a cage that appears later
  # may be someone else's.
  for ns in "${CG_CAGES[@]}"; do cg_remove_cage "$ns"; done
  if [ -n "$CG_NSO" ]; then
    ip link del "$CG_VA" 2>/dev/null
    ip link del "$CG_VB" 2>/dev/null
    for pid in $(ip netns pids "$CG_NSO" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$CG_NSO" 2>/dev/null
  fi
  for i in "${CG_PATHS[@]}"; do rm -rf -- "$i"; done
  if [ -n "$CG_TMP" ] && [ -d "$CG_TMP" ]; then
    if [ "$CG_FAILS" -ne 0 ] && [ -n "${CG_KEEP_LOGS:-}" ]; then
      echo "# logs kept in $CG_TMP"
    else
      rm -rf "$CG_TMP"
    fi
  fi
}

# Tracks a background process (or a path) for cleanup.
cg_track() { CG_PIDS+=("$1"); }
cg_untrack() {
  local keep=() p
  for p in "${CG_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  CG_PIDS=("${keep[@]}")
}
cg_track_path() { CG_PATHS+=("$1"); }

# ---- cages (osh-<8 hex> namespaces) ----------------------------------------

# Names of the supervisor's namespaces and host-side veths present now.
cg_cage_list() {
  {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^osh-[0-9a-f]{8}$'
    ls /run/netns 2>/dev/null | grep -E '^osh-[0-9a-f]{8}$'
  } | sort -u
}
cg_veth_list() { ip -o link show 2>/dev/null | grep -oE 'veth-h-[0-9a-f]{8}' | sort -u; }

# The namespace named in a supervisor log ("workload started: ... in osh-X").
cg_cage_of_log() { grep -oE 'workload started: pid [0-9]+ in osh-[0-9a-f]{8}' "$1" 2>/dev/null | head -1 | grep -oE 'osh-[0-9a-f]{8}$'; }

# Waits (bounded) until no cage exists, i.e. 10.200.0.0/24 is free.
cg_wait_subnet_free() { # MAX_S
  local i
  for i in $(seq $((${1:-30} * 10))); do
    [ -z "$(ip -4 -o addr show to 10.200.0.0/24 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}

# Adds every cage created during this run (log + before/after diff) to
# CG_CAGES, so the EXIT trap can remove what the supervisor left.
cg_collect_cages() {
  local ns known
  [ -n "$CG_ERR" ] && ns=$(cg_cage_of_log "$CG_ERR") && [ -n "$ns" ] && cg_note_cage "$ns"
  [ -f "$CG_TMP/cages.before" ] || return 0
  for ns in $(cg_cage_list); do
    known=0
    grep -qxF "$ns" "$CG_TMP/cages.before" 2>/dev/null && known=1
    [ $known -eq 0 ] && cg_note_cage "$ns"
  done
  for ns in $(cg_veth_list); do
    grep -qxF "$ns" "$CG_TMP/veths.before" 2>/dev/null || cg_note_cage "osh-${ns#veth-h-}"
  done
}
cg_note_cage() {
  local c
  for c in "${CG_CAGES[@]}"; do [ "$c" = "$1" ] && return 0; done
  CG_CAGES+=("$1")
}

# Removes one cage: its processes (ours: the workload's), its host veth,
# the namespace file.
cg_remove_cage() { # osh-<id>
  local ns=$1 id=${1#osh-} p
  [ -e "/run/netns/$ns" ] || ip link show "veth-h-$id" >/dev/null 2>&1 || return 0
  echo "# cleanup: removing leftover cage $ns"
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  ip link del "veth-h-$id" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  [ -e "/run/netns/$ns" ] && { umount -l "/run/netns/$ns" 2>/dev/null; rm -f "/run/netns/$ns"; }
  return 0
}

# What a finished run left behind (empty: nothing): the namespace named in
# its log (ip netns list and /run/netns), its veth-h-<id>, and any osh-<8
# hex> namespace or veth-h-* link that did not exist before the run.
cg_leftovers() {
  local ns id left="" x
  ns=$(cg_cage_of_log "$CG_ERR")
  if [ -n "$ns" ]; then
    id=${ns#osh-}
    ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$ns" && left="$left netns:$ns"
    [ -e "/run/netns/$ns" ] && left="$left file:/run/netns/$ns"
    ip link show "veth-h-$id" >/dev/null 2>&1 && left="$left link:veth-h-$id"
  fi
  for x in $(cg_cage_list); do
    grep -qxF "$x" "$CG_TMP/cages.before" || case "$left" in *"$x"*) ;; *) left="$left new-netns:$x" ;; esac
  done
  for x in $(cg_veth_list); do
    grep -qxF "$x" "$CG_TMP/veths.before" || case "$left" in *"$x"*) ;; *) left="$left new-link:$x" ;; esac
  done
  echo "${left# }"
}

# ---- running the supervisor ------------------------------------------------

# cg_start LABEL [supervisor args...]: starts BIN in the background (its pid
# is the supervisor's: no wrapper), stdout/stderr in $CG_TMP/LABEL.out/.err.
cg_start() {
  local label=$1
  shift
  cg_wait_subnet_free 60 || cg_bail "10.200.0.0/24 still in use after 60 s (another cage running?)" \
    "$(ip -4 -o addr show to 10.200.0.0/24)"
  cg_cage_list >"$CG_TMP/cages.before"
  cg_veth_list >"$CG_TMP/veths.before"
  CG_OUT=$CG_TMP/$label.out
  CG_ERR=$CG_TMP/$label.err
  CG_NS=""
  CG_RC=""
  CG_T0=$(date +%s%N)
  "$BIN" "$@" >"$CG_OUT" 2>"$CG_ERR" </dev/null &
  CG_SUP_PID=$!
  echo "$CG_SUP_PID" >"$CG_TMP/sup.pid"
}

# cg_wait_log ERE MAX_S: waits (bounded) until the supervisor log matches,
# or the supervisor exits; 0 if it matched.
cg_wait_log() {
  local i
  for i in $(seq $((${2:-10} * 20))); do
    grep -qE -- "$1" "$CG_ERR" && return 0
    kill -0 "$CG_SUP_PID" 2>/dev/null || { grep -qE -- "$1" "$CG_ERR"; return; }
    sleep 0.05
  done
  return 1
}

# cg_wait [MAX_S]: waits for the supervisor to exit (TAP failure, then
# TERM/KILL, past MAX_S).  Sets CG_RC (exit status), CG_MS (ms since
# cg_start), CG_NS (its namespace), CG_LEFT (cg_leftovers).
cg_wait() {
  local max=${1:-60} i
  for i in $(seq $((max * 20))); do
    kill -0 "$CG_SUP_PID" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$CG_SUP_PID" 2>/dev/null; then
    not_ok "supervisor exits within ${max}s" "still running; stderr tail: $(tail -20 "$CG_ERR")"
    kill -TERM "$CG_SUP_PID" 2>/dev/null
    for i in $(seq 50); do kill -0 "$CG_SUP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CG_SUP_PID" 2>/dev/null
  fi
  wait "$CG_SUP_PID" 2>/dev/null
  CG_RC=$?
  CG_MS=$((($(date +%s%N) - CG_T0) / 1000000))
  CG_SUP_PID=""
  : >"$CG_TMP/sup.pid"
  CG_NS=$(cg_cage_of_log "$CG_ERR")
  # Teardown is synchronous in the supervisor; the kernel's veth removal may
  # lag a little behind the exit: allow 2 s before calling it a leftover.
  for i in $(seq 20); do
    CG_LEFT=$(cg_leftovers)
    [ -z "$CG_LEFT" ] && break
    sleep 0.1
  done
  cg_collect_cages
}

# cg_run LABEL MAX_S [supervisor args...]
cg_run() {
  local label=$1 max=$2
  shift 2
  cg_start "$label" "$@"
  cg_wait "$max"
}

# TAP: the last run left no namespace, namespace file or veth behind.
# Leftovers are removed (and reported), so that the next run can start.
cg_expect_clean() { # NAME
  local ns
  if [ -z "$CG_LEFT" ]; then
    ok "$1"
  else
    not_ok "$1" "left behind: $CG_LEFT"
    for ns in "${CG_CAGES[@]}"; do cg_remove_cage "$ns"; done
  fi
}

# Sanitizer/abort reports in a log.
cg_sanitizer_report() {
  # Any sanitizer message: reports, SUMMARY lines, DEADLYSIGNAL, and
  # runtime aborts such as TSan's "starting new threads after
  # multi-threaded fork is not supported. Dying".
  grep -E -A40 '[A-Za-z]+Sanitizer(:| has )|runtime error:' "$1" | head -80
}
cg_expect_no_sanitizer() { # NAME [LOG]
  local rep
  rep=$(cg_sanitizer_report "${2:-$CG_ERR}")
  if [ -z "$rep" ]; then ok "$1"; else not_ok "$1" "$rep"; fi
}

# ---- files -------------------------------------------------------------------

# cg_write_policy NAME < yaml: @A@/@B@ -> the test hosts; prints the path.
cg_write_policy() {
  local f="$CG_TMP/$1"
  sed -e "s/@A@/$CG_A/g" -e "s/@B@/$CG_B/g" >"$f" && chmod 644 "$f"
  echo "$f"
}
# cg_write_script NAME < text: an executable the sandbox user can run.
cg_write_script() {
  local f="$CG_TMP/$1"
  cat >"$f" && chmod 755 "$f"
  echo "$f"
}

# ---- test hosts ------------------------------------------------------------

# cg_origin_up: the origin namespace with 10.216.0.2 and 10.217.0.2 and the
# recorder (HTTP :8080, TCP :8443, UDP :9999 and :53, UDP-Lite :9997), log
# in CG_ORIGIN_LOG (HTTP also on :8081).  Bounded; checks reachability from the root namespace.
cg_origin_up() {
  local code h
  ip netns add "$CG_NSO" || cg_bail "ip netns add $CG_NSO failed"
  ip link add "$CG_VA" type veth peer name "$CG_VX" netns "$CG_NSO" &&
    ip link add "$CG_VB" type veth peer name "$CG_VY" netns "$CG_NSO" ||
    cg_bail "veth creation failed"
  ip -n "$CG_NSO" link set lo up &&
    ip addr add "$CG_SUBNET_A.1/24" dev "$CG_VA" &&
    ip addr add "$CG_SUBNET_B.1/24" dev "$CG_VB" &&
    ip -n "$CG_NSO" addr add "$CG_A/24" dev "$CG_VX" &&
    ip -n "$CG_NSO" addr add "$CG_B/24" dev "$CG_VY" &&
    ip link set "$CG_VA" up && ip link set "$CG_VB" up &&
    ip -n "$CG_NSO" link set "$CG_VX" up && ip -n "$CG_NSO" link set "$CG_VY" up &&
    ip -n "$CG_NSO" route add 10.200.0.0/24 via "$CG_SUBNET_A.1" ||
    cg_bail "origin network configuration failed"
  CG_ORIGIN_LOG=$CG_TMP/origin.log
  cg_listen_start origin "$CG_NSO" http:0.0.0.0:8080 http:0.0.0.0:8081 tcp:0.0.0.0:8443 udp:0.0.0.0:9999 \
    udp:0.0.0.0:53 udplite:0.0.0.0:9997
  CG_ORIGIN_LOG=$CG_LISTEN_LOG
  for h in "$CG_A" "$CG_B"; do
    code=$(curl -s --noproxy '*' --max-time 5 -o /dev/null -w '%{http_code}' "http://$h:8080/ready" 2>&1)
    [ "$code" = 200 ] || cg_bail "origin $h:8080 not reachable from the root namespace" "$code"
  done
}

# cg_listen_start NAME NETNS|- SPEC...: starts cg_srv.py (in NETNS, or in
# the root namespace for "-"), waits until every socket is bound.  Sets
# CG_LISTEN_LOG ($CG_TMP/NAME.log) and CG_LISTEN_PID.
cg_listen_start() {
  local name=$1 ns=$2 i
  shift 2
  CG_LISTEN_LOG=$CG_TMP/$name.log
  : >"$CG_LISTEN_LOG"
  if [ "$ns" = - ]; then
    "$CG_PY" "$CG_TMP/cg_srv.py" "$CG_LISTEN_LOG" "$CG_TMP/$name.ready" "$@" 2>"$CG_TMP/$name.stderr" &
  else
    nsenter --net="/run/netns/$ns" "$CG_PY" "$CG_TMP/cg_srv.py" "$CG_LISTEN_LOG" \
      "$CG_TMP/$name.ready" "$@" 2>"$CG_TMP/$name.stderr" &
  fi
  CG_LISTEN_PID=$!
  cg_track "$CG_LISTEN_PID"
  for i in $(seq 100); do
    [ -s "$CG_TMP/$name.ready" ] && return 0
    kill -0 "$CG_LISTEN_PID" 2>/dev/null || break
    sleep 0.05
  done
  cg_bail "listener '$name' did not start" "$(cat "$CG_TMP/$name.stderr")"
}

# Lines of a listener log matching an ERE (0 if none).
cg_count() { grep -cE -- "$2" "$1" 2>/dev/null; }

# ---- python helpers, written at init ---------------------------------------

cg_write_helpers() {
  cat >"$CG_TMP/cg_srv.py" <<'PY'
# cg_srv.py LOG READY SPEC...: a recorder.  SPEC is KIND:ADDR:PORT with KIND
# http, tcp, udp or udplite and ADDR an IPv4 address or [IPv6%ifname].
# Binds with IP_FREEBIND (the address may appear later).  Logs one line per
# HTTP request ("HTTP <peer> <local>:<port> <method> <path>"), accepted TCP
# connection ("TCP <peer> <local>:<port>") or datagram ("UDP|UDPLITE <peer>
# <local>:<port> <len>"); HTTP answers 200 "osh-cage-origin <local ip>\n",
# datagrams are echoed (so a probe that got through would see an answer).
import os, socket, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG, READY = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def log(line):
    with lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")

def parse(spec):
    kind, rest = spec.split(":", 1)
    addr, port = rest.rsplit(":", 1)
    if addr.startswith("["):
        addr = addr[1:-1]
        if "%" in addr:
            a, ifname = addr.split("%", 1)
            return kind, socket.AF_INET6, (a, int(port), 0, socket.if_nametoindex(ifname))
        return kind, socket.AF_INET6, (addr, int(port), 0, 0)
    return kind, socket.AF_INET, (addr, int(port))

def mksock(family, stype, proto, addr):
    s = socket.socket(family, stype, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET:
        s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND
    else:
        s.setsockopt(socket.IPPROTO_IPV6, 78, 1)  # IPV6_FREEBIND (kernel >= 4.15)
    s.bind(addr)
    return s

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_any(self):
        local = self.connection.getsockname()
        log("HTTP %s %s:%d %s %s" % (self.client_address[0], local[0], local[1], self.command, self.path))
        body = ("osh-cage-origin %s\n" % local[0]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
    do_GET = do_POST = do_HEAD = do_any

class V4Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

def tcp_loop(s):
    s.listen(64)
    while True:
        c, peer = s.accept()
        local = c.getsockname()
        log("TCP %s %s:%d" % (peer[0], local[0], local[1]))
        c.close()

def dgram_loop(s, tag):
    while True:
        data, peer = s.recvfrom(65536)
        local = s.getsockname()
        log("%s %s %s:%d %d" % (tag, peer[0], local[0], local[1], len(data)))
        try:
            s.sendto(data, peer)
        except OSError:
            pass

threads = []
for spec in sys.argv[3:]:
    kind, fam, addr = parse(spec)
    if kind == "http":
        srv = V4Server(addr, Handler)
        threads.append(threading.Thread(target=srv.serve_forever, daemon=True))
    elif kind == "tcp":
        s = mksock(fam, socket.SOCK_STREAM, 0, addr)
        threads.append(threading.Thread(target=tcp_loop, args=(s,), daemon=True))
    elif kind in ("udp", "udplite"):
        s = mksock(fam, socket.SOCK_DGRAM, 17 if kind == "udp" else 136, addr)
        threads.append(threading.Thread(target=dgram_loop, args=(s, kind.upper()), daemon=True))
    else:
        sys.exit("unknown kind %r" % kind)
for t in threads:
    t.start()
with open(READY + ".tmp", "w") as f:
    f.write("ready\n")
os.rename(READY + ".tmp", READY)
threading.Event().wait()
PY
  cat >"$CG_TMP/cg_ping.py" <<'PY'
# cg_ping.py ADDR: one ICMP echo over a raw socket (root), 2 s; prints
# "reply" or "none".
import os, select, socket, struct, sys, time
def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xffff)
    s += s >> 16
    return ~s & 0xffff
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
payload = b"osh-cage-control"
hdr = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, 1) + payload
s.sendto(pkt, (sys.argv[1], 0))
end = time.monotonic() + 2
while time.monotonic() < end:
    r, _, _ = select.select([s], [], [], max(0, end - time.monotonic()))
    if not r:
        break
    data, peer = s.recvfrom(2048)
    ihl = (data[0] & 15) * 4
    t, _, _, i, _ = struct.unpack("!BBHHH", data[ihl:ihl + 8])
    if t == 0 and i == ident and peer[0] == sys.argv[1]:
        print("reply")
        sys.exit(0)
print("none")
PY
}
