#!/usr/bin/env bash
# Supervisor start -> the workload's first instruction, and supervisor RSS.
#   bench/startup.sh [BIN] [RUNS]      (root; default build/openshell-sandbox, 20 runs)
# Start -> exec: the time from launching the supervisor until the caged
# workload (/bin/date, the first thing it does is read the clock) runs,
# median and p90 of RUNS.  The clock is the same CLOCK_REALTIME on both
# sides.  Teardown (about 30 ms of veth deletion) comes after and is not
# counted.  RSS: the supervisor's VmRSS while a caged `sleep` idles, and
# after its proxy served 2,000 requests from the workload (a local origin in
# a namespace this script creates and removes: 10.220.0.0/24).
set -euo pipefail
BIN=${1:-build/openshell-sandbox}
RUNS=${2:-20}
tmp=$(mktemp -d)
ns=osh-bench-origin
cleanup() {
  [ -n "${origin:-}" ] && kill "$origin" 2>/dev/null || true
  [ -n "${sup:-}" ] && kill "$sup" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del osh-bench-h 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

for i in $(seq "$RUNS"); do
  t0=$(date +%s%N)
  t1=$("$BIN" -- /bin/date +%s%N)
  echo $(( (t1 - t0) / 1000 ))
done | sort -n > "$tmp/us"
med=$(awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}' "$tmp/us")
p90=$(awk '{a[NR]=$1} END {i=int(NR*0.9); if (i<1) i=1; print a[i]}' "$tmp/us")
printf 'start_to_exec_ms median=%.2f p90=%.2f runs=%d\n' "$(echo "$med/1000" | bc -l)" \
  "$(echo "$p90/1000" | bc -l)" "$RUNS"

# Origin for the load part.
ip netns add "$ns"
ip link add osh-bench-h type veth peer name osh-bench-o
ip link set osh-bench-o netns "$ns"
ip addr add 10.220.0.1/24 dev osh-bench-h && ip link set osh-bench-h up
ip netns exec "$ns" ip addr add 10.220.0.2/24 dev osh-bench-o
ip netns exec "$ns" ip link set osh-bench-o up
ip netns exec "$ns" ip link set lo up
mkdir -p "$tmp/www" && head -c 1024 /dev/urandom > "$tmp/www/small"
ip netns exec "$ns" python3 -m http.server 8080 --bind 10.220.0.2 --directory "$tmp/www" \
  >/dev/null 2>&1 &
origin=$!
cat > "$tmp/policy.yaml" <<'YAML'
version: 1
network_policies:
  origin:
    endpoints:
      - host: 10.220.0.2
        port: 8080
        allowed_ips: [10.220.0.2/32]
    binaries:
      - path: /usr/bin/curl
YAML
for _ in $(seq 50); do curl -s -o /dev/null http://10.220.0.2:8080/small && break; sleep 0.1; done
cat > "$tmp/load.sh" <<'SH'
#!/bin/sh
sleep 2
# 20 curl processes x 100 requests each, keep-alive within each process.
i=0
while [ $i -lt 20 ]; do
  args=""
  j=0; while [ $j -lt 100 ]; do args="$args -o /dev/null http://10.220.0.2:8080/small"; j=$((j+1)); done
  curl -s $args
  i=$((i+1))
done
echo loaded > /tmp/osh-bench-loaded
sleep 3
SH
chmod 755 "$tmp/load.sh"; chmod 755 "$tmp"
rm -f /tmp/osh-bench-loaded
"$BIN" --policy-data "$tmp/policy.yaml" -- "$tmp/load.sh" &
sup=$!
sleep 1.5
idle=$(awk '/VmRSS/{print $2}' /proc/$sup/status)
for _ in $(seq 600); do [ -f /tmp/osh-bench-loaded ] && break; sleep 0.1; done
after=$(awk '/VmRSS/{print $2}' /proc/$sup/status)
hwm=$(awk '/VmHWM/{print $2}' /proc/$sup/status)
wait "$sup" || true
sup=
printf 'supervisor_rss_kib idle=%s after_2000_requests=%s hwm=%s\n' "$idle" "$after" "$hwm"
