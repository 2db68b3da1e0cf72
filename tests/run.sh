#!/usr/bin/env bash
# Runs the whole test suite (lit + FileCheck, from llvm-19-tools) against
# build/nnd, and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
/usr/bin/python3 /usr/lib/llvm-19/build/utils/lit/lit.py -sv tests "$@" | tee "$log"
rc=${PIPESTATUS[0]}
count() { grep -oP "^\s*$1\s*:\s*\K[0-9]+" "$log" | head -1 || true; }
passed=$(count Passed)
failed=0
for kind in Failed Unresolved "Timed Out" "Unexpectedly Passed"; do
  n=$(count "$kind")
  failed=$((failed + ${n:-0}))
done
rm -f "$log"
echo "${passed:-0} passed, ${failed} failed"
exit "$rc"
