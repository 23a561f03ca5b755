#!/usr/bin/env bash
# Runs every libFuzzer harness for a bounded time on a copy of its seeds.
#   tests/fuzz/run.sh BUILD_DIR SECONDS
# BUILD_DIR is the fuzz build (scripts/build.sh fuzz -> build-fuzz); the
# harnesses are in BUILD_DIR/fuzz/.  The policy and http_path harnesses must
# be there; any other fuzz_* found there runs too.  Each harness runs for
# SECONDS on its corpus (tests/fuzz/corpus/<name without fuzz_>/, empty if
# there is none) copied to a temporary directory, so the repository is never
# written; new inputs and crash artifacts stay there.  Harnesses run one
# after the other: the whole run takes about (harnesses x SECONDS).
#
# Prints one line per harness (executions, coverage, corpus size) and exits
# non-zero if any harness crashed, leaked, hit UB, timed out or ran out of
# memory.  The work directory is removed on success and kept (and named) on
# failure, with the reproducer and the log.
set -euo pipefail

if [[ $# -ne 2 || ! $2 =~ ^[0-9]+$ || $2 -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build=$1
secs=$2
if [[ ! -d $build ]]; then
  echo "$0: no build directory $build" >&2
  exit 2
fi
build=$(cd "$build" && pwd)
here=$(cd "$(dirname "$0")" && pwd)

required=(fuzz_policy_yaml fuzz_policy_json fuzz_http_path fuzz_http_head fuzz_bypass_parse)
harnesses=("${required[@]}")
for f in "$build"/fuzz/fuzz_*; do
  name=$(basename "$f")
  if [[ -x $f && ! " ${harnesses[*]} " =~ " $name " ]]; then
    harnesses+=("$name")
  fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/osh-fuzz.XXXXXX")

# Dictionaries, generated here so they need no file in the repository: the
# policy vocabulary (keys and enumerated values of policy.md §1) helps the
# mutator reach the loader's and validator's deeper paths.
policy_words=(version filesystem_policy include_workdir read_only read_write landlock
  compatibility hard_requirement best_effort process run_as_user run_as_group sandbox
  network_policies name endpoints binaries path harness host port ports protocol tls
  enforcement access rules deny_rules allowed_ips allow_encoded_slash persisted_queries
  graphql_persisted_queries graphql_max_body_bytes websocket_credential_rewrite
  request_body_credential_rewrite advisor_proposed allow method command query any glob
  operation_type operation_name fields rest websocket graphql sql skip terminate
  passthrough enforce audit read-only read-write full allow_registered deny mutation
  subscription GET HEAD POST PUT DELETE PATCH OPTIONS WEBSOCKET_TEXT
  "*.example.com" "**.example.com" "/**" "**" "/usr/bin/*" "10.0.0.0/8" "127.0.0.1" "::1")
{
  for w in "${policy_words[@]}"; do printf '"%s"\n' "$w"; done
  printf '"\\x0a  "\n"- "\n": "\n"{"\n"}"\n"["\n"]"\n"&a"\n"*a"\n"!!str"\n"---"\n'
} >"$work/policy_yaml.dict"
{
  for w in "${policy_words[@]}"; do printf '"\\"%s\\""\n' "$w"; done
  printf '"{"\n"}"\n"["\n"]"\n":"\n","\n"null"\n"true"\n"false"\n"\\\\u0000"\n'
} >"$work/policy_json.dict"
printf '"%s"\n' "%2F" "%2f" "%2e" "%2E" "%00" "%C3%A9" "/.." "/./" "//" "?" "#" ";" \
  "&" "=" "+" "http://" "https://" "%" >"$work/http_path.dict"

printf '"%s"\n' "GET " "CONNECT " "HTTP/1.1" "HTTP/1.0" "\\x0d\\x0a" "\\x0d\\x0a\\x0d\\x0a" \
  "Content-Length: " "Transfer-Encoding: chunked" "Connection: close" ": " "0\\x0d\\x0a" \
  ";ext" >"$work/http_head.dict"
printf '"%s"\n' "openshell:bypass:sandbox-abcd1234:" "DST=" "DPT=" "SPT=" "PROTO=" "UID=" \
  "GID=" " " "TCP" "UDP" "6,1234,5678,-;" >"$work/bypass_parse.dict"

failed=0
for name in "${harnesses[@]}"; do
  corpus=${name#fuzz_}
  bin=$build/fuzz/$name
  if [[ ! -x $bin ]]; then
    echo "$name: FAIL (no executable at $bin; build with scripts/build.sh fuzz)"
    failed=1
    continue
  fi
  mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
  if [[ -d $here/corpus/$corpus ]]; then
    cp "$here/corpus/$corpus"/* "$work/$name/corpus/"
  fi
  dict=()
  [[ -f $work/$corpus.dict ]] && dict=(-dict="$work/$corpus.dict")
  log=$work/$name/log
  rc=0
  # The outer timeout is a backstop only: libFuzzer stops itself after
  # -max_total_time, but not while one input is still running.
  (cd "$work/$name" &&
    timeout --kill-after=10 $((secs + 60)) "$bin" \
      -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
      ${dict[@]+"${dict[@]}"} -print_final_stats=1 \
      -artifact_prefix="$work/$name/artifacts/" corpus) >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$done_line")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  artifacts=$(ls "$work/$name/artifacts" 2>/dev/null | wc -l)
  if [[ $rc -eq 0 && $artifacts -eq 0 ]]; then
    status=ok
  else
    status="FAIL (exit $rc)"
    failed=1
  fi
  printf '%s: %s  execs=%s (%s/s)  cov=%s  ft=%s  corpus=%s  seconds=%s\n' \
    "$name" "$status" "${execs:-?}" "${eps:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$secs"
  if [[ $status != ok ]]; then
    for a in "$work/$name/artifacts"/*; do [[ -e $a ]] && echo "  reproducer: $a"; done
    echo "  log: $log"
    grep -E 'ERROR: |SUMMARY: |contract broken|runtime error' "$log" | head -n 5 | sed 's/^/  /'
  fi
done

if [[ $failed -ne 0 ]]; then
  echo "fuzz: FAILED; work directory kept: $work"
  exit 1
fi
rm -rf "$work"
echo "fuzz: all harnesses ok"
