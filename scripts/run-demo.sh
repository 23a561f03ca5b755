#!/usr/bin/env bash
# The supervisor's main job on its bundled default policy: cage a workload
# and show what it may and may not reach.  Needs root (namespaces, nftables).
#   1. the bundled policy validates; the engine answers recorded requests;
#   2. a caged workload on the bundled policy: a request the policy denies
#      (403 from the proxy), a direct dial around the proxy (rejected by the
#      fence, reported as a bypass), a write outside its paths (Landlock);
#   3. an allowed request, end to end: a demo origin in its own network
#      namespace and the bundled policy plus one entry for it.
# Traffic stays on this machine (10.219.0.0/24 is created here and removed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh >/dev/null
bash scripts/build.sh release >/dev/null
BIN=./build/openshell-sandbox
tmp=$(mktemp -d)
ns=osh-demo-origin
cleanup() {
  [ -n "${origin_pid:-}" ] && kill "$origin_pid" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip link del osh-demo-h 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "== 1. policy check policies/default.yaml"
$BIN policy check policies/default.yaml
echo "== policy eval --batch < policies/demo-requests.jsonl"
paste -d '\n' policies/demo-requests.jsonl \
  <($BIN policy eval --policy policies/default.yaml --batch < policies/demo-requests.jsonl) \
  | sed 'n;s/^/   -> /'

echo
echo "== 2. a workload in the cage, bundled default policy"
$BIN -- /bin/sh -c '
  echo "   inside: $(id -un) uid=$(id -u); $(grep -E "^CapEff" /proc/self/status | tr "\t" " "); HTTPS_PROXY=$HTTPS_PROXY"
  printf "   denied by policy (example.com is not listed): "
  curl -sS -m 5 -o /dev/null https://example.com 2>&1 || true
  printf "   direct dial around the proxy: "
  curl -sS -m 3 --noproxy "*" http://10.200.0.1:80/ 2>&1 || true
  printf "   write outside the allowed paths: "
  touch /etc/demo 2>&1 || true
  exit 0' 2> >(grep -E "OCSF" | sed "s/^/   log: /" >&2)

echo
echo "== 3. an allowed request through the cage's proxy"
ip netns add "$ns"
ip link add osh-demo-h type veth peer name osh-demo-o
ip link set osh-demo-o netns "$ns"
ip addr add 10.219.0.1/24 dev osh-demo-h && ip link set osh-demo-h up
ip netns exec "$ns" ip addr add 10.219.0.2/24 dev osh-demo-o
ip netns exec "$ns" ip link set osh-demo-o up
ip netns exec "$ns" ip link set lo up
mkdir -p "$tmp/www" && echo "hello from the demo origin" > "$tmp/www/hello.txt"
ip netns exec "$ns" python3 -m http.server 8080 --bind 10.219.0.2 --directory "$tmp/www" \
  >/dev/null 2>&1 &
origin_pid=$!
cat policies/default.yaml > "$tmp/demo.yaml"
cat >> "$tmp/demo.yaml" <<'YAML'
  demo_origin:
    endpoints:
      - host: 10.219.0.2
        port: 8080
        allowed_ips: [10.219.0.2/32]
    binaries:
      - path: /usr/bin/curl
YAML
for _ in $(seq 50); do curl -s -o /dev/null http://10.219.0.2:8080/ && break; sleep 0.1; done
$BIN --policy-data "$tmp/demo.yaml" -- /bin/sh -c '
  printf "   allowed: "; curl -sS -m 5 http://10.219.0.2:8080/hello.txt'
echo "== done: cages left behind: $(ip netns list | grep -cE '^osh-[0-9a-f]{8}( |$)' || true)"
