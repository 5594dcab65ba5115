#!/usr/bin/env bash
# The proxy's test suite under CPU contention: runs `vitest run packages/proxy` RUNS times (default 20) while one
# busy loop per core (stress-ng when installed, else node) keeps every core busy, and prints each run's pass/fail
# counts and a total. A flaky test shows here long before it shows in CI.
#
#   bash bench/proxy-stress.sh [RUNS] [vitest filter...]     e.g. bash bench/proxy-stress.sh 5 packages/proxy/test/hostile
set -u
cd "$(dirname "$0")/.."

RUNS=${1:-20}
shift || true
FILTER=("$@")
[ ${#FILTER[@]} -eq 0 ] && FILTER=(packages/proxy)
CORES=$(nproc)
LOGS=$(mktemp -d /tmp/proxy-stress.XXXXXX)

busy=()
suite=
stop_busy() {
  [ -n "$suite" ] && pkill -TERM -P "$suite" 2>/dev/null && kill "$suite" 2>/dev/null
  for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
}
trap stop_busy EXIT
trap 'exit 130' INT TERM

if command -v stress-ng >/dev/null 2>&1; then
  stress-ng --cpu "$CORES" --cpu-method loop --quiet &
  busy+=($!)
  load="stress-ng --cpu $CORES"
else
  for _ in $(seq "$CORES"); do
    node -e 'for (;;) {}' &
    busy+=($!)
  done
  load="$CORES node busy loops"
fi

echo "proxy suite (${FILTER[*]}) x $RUNS under $load; logs in $LOGS"
total_passed=0
total_failed=0
failed_runs=0
for run in $(seq "$RUNS"); do
  # Each run's JSON summary in its own file: other vitest runs on the machine cannot overwrite it.
  RESULTS="$LOGS/run-$run.json"
  started=$(date +%s)
  # In the background, so that a signal stops the script at once (bash runs traps only between commands).
  OLLAMA_OTEL_VITEST_JSON="$RESULTS" pnpm exec vitest run "${FILTER[@]}" >"$LOGS/run-$run.log" 2>&1 &
  suite=$!
  wait "$suite"
  code=$?
  seconds=$(($(date +%s) - started))
  counts=$(node -e '
    const fs = require("fs");
    try {
      const r = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
      const failed = r.testResults.flatMap((f) => f.assertionResults.filter((a) => a.status === "failed").map((a) => a.fullName));
      console.log(`${r.numPassedTests} ${r.numFailedTests} ${JSON.stringify(failed.slice(0, 5))}`);
    } catch { console.log("0 0 []"); }' "$RESULTS")
  read -r passed failed names <<<"$counts"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ "$code" -ne 0 ]; then
    failed_runs=$((failed_runs + 1))
    [ "$failed" -eq 0 ] && names="(exit $code, see $LOGS/run-$run.log)"
  fi
  printf 'run %2d: %4d passed, %2d failed, %4ds %s\n' "$run" "$passed" "$failed" "$seconds" "$([ "$code" -ne 0 ] && echo "$names")"
done
echo "total: $total_passed passed, $total_failed failed; $failed_runs of $RUNS runs failed"
[ "$failed_runs" -eq 0 ]
