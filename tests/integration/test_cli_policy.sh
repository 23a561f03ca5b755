#!/usr/bin/env bash
# The CLI contract of `policy check` / `policy eval` (README, issue 2):
# exit codes, the FILE:LINE:COL: path: message error lines, the eval JSON
# object, and --batch going on past malformed lines.  TAP output.
set -u
BIN=$1
SRC=$2
DATA=$SRC/data/cli
n=0
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '#   %s\n' "$2"; }
expect_eq() { # name expected actual
  if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2 | actual: $3"; fi
}

# ---- policy check
"$BIN" policy check "$DATA/valid.yaml" >"$tmp/out" 2>"$tmp/err"
expect_eq "check valid exits 0" 0 $?
expect_eq "check valid prints no error lines" "" "$(cat "$tmp/out")"

"$BIN" policy check "$DATA/invalid.yaml" >"$tmp/out" 2>"$tmp/err"
expect_eq "check invalid exits 1" 1 $?
expect_eq "check invalid reports 4 errors" 4 "$(wc -l <"$tmp/out")"
if grep -qvE '^[^:]+:[0-9]+:[0-9]+: [^ ]+: .+' "$tmp/out"; then
  not_ok "every error line is FILE:LINE:COL: path: message" "$(cat "$tmp/out")"
else
  ok "every error line is FILE:LINE:COL: path: message"
fi
grep -q "invalid.yaml:6:15: network_policies.bad.endpoints\[0\].port: invalid port '99999'" "$tmp/out" \
  && ok "bad port names line, column and field" || not_ok "bad port names line, column and field" "$(cat "$tmp/out")"
grep -q "invalid.yaml:11:9: network_policies.bad.endpoints\[1\].colour: unknown field 'colour'" "$tmp/out" \
  && ok "unknown key is reported at the key" || not_ok "unknown key is reported at the key" "$(cat "$tmp/out")"
grep -q "TLD wildcard '\*.com' is not allowed" "$tmp/out" && ok "TLD wildcard rejected" || not_ok "TLD wildcard rejected"
grep -q "rules list cannot be empty" "$tmp/out" && ok "empty rules rejected" || not_ok "empty rules rejected"

"$BIN" policy check "$DATA/valid.yaml" "$tmp/missing.yaml" >"$tmp/out" 2>/dev/null
expect_eq "check with a missing file exits 1" 1 $?
grep -q "missing.yaml:0:0: (file): cannot open: No such file or directory" "$tmp/out" \
  && ok "missing file reported" || not_ok "missing file reported" "$(cat "$tmp/out")"

printf 'version: 1\nnetwork_policies: [\n' >"$tmp/syntax.yaml"
"$BIN" policy check "$tmp/syntax.yaml" >"$tmp/out" 2>/dev/null
expect_eq "YAML syntax error exits 1" 1 $?
grep -qE "syntax.yaml:3:1: \(document\): YAML syntax error" "$tmp/out" \
  && ok "YAML syntax error has position" || not_ok "YAML syntax error has position" "$(cat "$tmp/out")"

# ---- policy eval (single)
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host API.GitHub.com --port 443 --binary /usr/bin/curl \
      --method GET --path /repos/a/b)
expect_eq "eval L7 allow" '{"allow":true,"decision":"allow","matched_policy":"github","reason":""}' "$out"
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host api.github.com --port 443 --binary /usr/bin/curl \
      --method GET --path /repos/a/secret/x)
expect_eq "eval L7 deny rule" '{"allow":false,"decision":"deny","matched_policy":"github","reason":"GET /repos/a/secret/x blocked by deny rule"}' "$out"
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host x.audit.example.com --port 8080 --binary /usr/bin/wget \
      --method DELETE --path /thing)
expect_eq "eval L7 audit" '{"allow":false,"decision":"audit","matched_policy":"audit","reason":"DELETE /thing not permitted by policy"}' "$out"
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host example.org --port 443)
expect_eq "eval L4 deny" '{"allow":false,"decision":"deny","matched_policy":null,"reason":"endpoint example.org:443 is not allowed by any policy"}' "$out"
"$BIN" policy eval --policy "$DATA/valid.yaml" --host a >/dev/null 2>&1
expect_eq "eval without --port exits 2" 2 $?
"$BIN" policy eval --policy "$DATA/invalid.yaml" --host a --port 1 >/dev/null 2>"$tmp/err"
expect_eq "eval on an invalid policy exits 2" 2 $?
grep -q "invalid port" "$tmp/err" && ok "eval prints policy errors on stderr" || not_ok "eval prints policy errors on stderr"
"$BIN" policy eval --policy "$DATA/valid.yaml" --host a --port 70000 >/dev/null 2>&1
expect_eq "eval with a bad port exits 2" 2 $?

# ---- special hosts (policy.md §4): answered by the proxy, not the policy
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host inference.local --port 443)
expect_eq "CONNECT inference.local:443 bypasses policy" '{"allow":true,"decision":"allow","matched_policy":null,"reason":""}' "$out"
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host inference.local --port 443 --method POST --path /v1/chat/completions)
expect_eq "inference route allowed" '{"allow":true,"decision":"allow","matched_policy":null,"reason":""}' "$out"
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host inference.local --port 443 --method GET --path /admin)
expect_eq "inference non-route closed" '{"allow":false,"decision":"deny","matched_policy":null,"reason":"connection not allowed by policy"}' "$out"
out=$("$BIN" policy eval --policy "$DATA/valid.yaml" --host inference.local --port 8443)
expect_eq "inference.local on another port goes through policy" '{"allow":false,"decision":"deny","matched_policy":null,"reason":"endpoint inference.local:8443 is not allowed by any policy"}' "$out"

# ---- policy eval --batch
cat >"$tmp/req.jsonl" <<'JSONL'
{"host":"api.github.com","port":443,"binary":"/usr/bin/curl","method":"GET","path":"/repos/x","query":{"a":["1","2"]}}
this is not json
{"host":"api.github.com","port":"443"}
{"host":"api.github.com","port":443,"binary":"/usr/bin/wget"}

{"host":"api.github.com","port":443,"binary":"/opt/curl","ancestors":["/usr/bin/curl"],"method":"GET","path":"/repos/a/%2e%2e/x"}
JSONL
"$BIN" policy eval --policy "$DATA/valid.yaml" --batch <"$tmp/req.jsonl" >"$tmp/out"
expect_eq "batch exits 0" 0 $?
expect_eq "batch answers one line per input line" 6 "$(wc -l <"$tmp/out")"
expect_eq "batch line 1" '{"allow":true,"decision":"allow","matched_policy":"github","reason":""}' "$(sed -n 1p "$tmp/out")"
sed -n 2p "$tmp/out" | grep -q '^{"error":"invalid JSON' && ok "batch malformed line -> error" || not_ok "batch malformed line -> error" "$(sed -n 2p "$tmp/out")"
expect_eq "batch bad port type" '{"error":"port: expected an integer in 0..65535"}' "$(sed -n 3p "$tmp/out")"
sed -n 4p "$tmp/out" | grep -q "binary '/usr/bin/wget' not allowed in policy 'github'" && ok "batch binary deny" || not_ok "batch binary deny"
sed -n 5p "$tmp/out" | grep -q '^{"error":' && ok "batch empty line -> error" || not_ok "batch empty line -> error"
expect_eq "batch ancestor grant + canonical path" '{"allow":true,"decision":"allow","matched_policy":"github","reason":""}' "$(sed -n 6p "$tmp/out")"

echo "1..$n"
[ "$fails" -eq 0 ]
