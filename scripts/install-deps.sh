#!/usr/bin/env bash
# Installs every Debian 12 package the build, the tests, the fuzzers and the
# benchmarks need. Idempotent: apt-get skips what is already installed.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev git
  # libraries the supervisor links
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev libssl-dev libseccomp-dev
  libnl-3-dev libnl-route-3-dev libnftnl-dev libmnl-dev libjansson-dev
  libyaml-dev liburcu-dev libc-ares-dev libcap-ng-dev
  # tests
  libcmocka-dev curl python3 python3-grpcio iproute2 nftables procps
)

# The workload runs as the unprivileged user "sandbox" (policy.md §1.2:
# run_as_user must be "sandbox").  Create it once, like the reference image.
ensure_sandbox_user() {
  if ! getent passwd sandbox >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO useradd --system --user-group --home-dir /sandbox --no-create-home \
      --shell /usr/sbin/nologin sandbox
  fi
  if [ ! -d /sandbox ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO install -d -o sandbox -g sandbox -m 0750 /sandbox
  fi
}

need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ "${#need[@]}" -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  ensure_sandbox_user
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y --no-install-recommends "${need[@]}"
ensure_sandbox_user
