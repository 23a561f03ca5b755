#!/usr/bin/env bash
# The supervisor's main job on its bundled default policy, as far as it is
# built today: validate the bundled policy, then answer a recorded set of
# requests (allowed, L7-denied, L4-denied, wrong binary) with the engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh release
echo "== policy check policies/default.yaml"
./build/openshell-sandbox policy check policies/default.yaml
echo "== policy eval --batch < policies/demo-requests.jsonl"
paste -d '\n' policies/demo-requests.jsonl \
  <(./build/openshell-sandbox policy eval --policy policies/default.yaml --batch < policies/demo-requests.jsonl) \
  | sed 'n;s/^/   -> /'
