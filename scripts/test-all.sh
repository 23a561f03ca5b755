#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run):
#   1. install the Debian packages;  2. release build + every ctest test;
#   3. ASan+UBSan build + tests;     4. TSan build + tests;
#   5. libFuzzer harnesses, each for a bounded time (FUZZ_SECONDS, default 30).
# Stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

# TSan maps its shadow at fixed addresses; with more ASLR entropy than 28
# bits the kernel can place mappings there and TSan aborts at start.
if [ "$(id -u)" -eq 0 ] && [ "$(sysctl -n vm.mmap_rnd_bits 2>/dev/null || echo 28)" -gt 28 ]; then
  sysctl -qw vm.mmap_rnd_bits=28
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"

step() { printf '\n=== %s ===\n' "$*"; }

step "release build + tests"
bash scripts/build.sh release
ctest --test-dir build --output-on-failure -j 2

step "ASan+UBSan build + tests"
bash scripts/build.sh asan
ctest --test-dir build-asan --output-on-failure -j 2

step "TSan build + tests"
bash scripts/build.sh tsan
ctest --test-dir build-tsan --output-on-failure -j 2

step "fuzzers (${FUZZ_SECONDS:-30} s each)"
bash scripts/build.sh fuzz
bash tests/fuzz/run.sh build-fuzz "${FUZZ_SECONDS:-30}"

step "all tests passed"
