#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each.
#   scripts/fuzz.sh [FUZZTIME] [PARALLEL]    defaults: 30s per target, 1 worker
# Each target's output goes to out/fuzz/<package>.<target>.log; the last
# "execs:" figure of each is printed at the end. A crash fails the run, and Go
# writes the crasher under the package's testdata/fuzz/<target>/ (commit it
# with the fix, so it stays a regression seed).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-30s}
parallel=${2:-1}
mkdir -p out/fuzz
status=0
summary=()
while read -r file target; do
  pkg=./$(dirname "$file")
  log=out/fuzz/$(echo "${pkg#./}" | tr / .).$target.log
  echo "fuzzing $pkg $target for $fuzztime"
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -parallel "$parallel" "$pkg" >"$log" 2>&1; then
    echo "FAILED: $pkg $target (see $log)"
    tail -n 30 "$log"
    status=1
  fi
  execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 || true)
  summary+=("$pkg $target ${execs:-execs: ?}")
done < <(git grep -n '^func Fuzz' -- '*_test.go' | sed -E 's/^([^:]+):[0-9]+:func (Fuzz[A-Za-z0-9_]*).*/\1 \2/')
printf '%s\n' "${summary[@]}"
exit $status
