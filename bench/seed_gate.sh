#!/usr/bin/env bash
# The seed's gate, step for step: the vendor's "A worked GitHub Actions job" (curl + jq), with its
# 10-second poll. Parametrised exactly like the seed's YAML `env:` block:
#   BASE AUTH PROMPT_ID DATASET_ID METRIC_IDS BASELINE_RUN_ID ROW_TOLERANCE AVG_TOLERANCE
# Each YAML step is a `bash -e` step on the runner; here each is a function run in a subshell, in
# order, stopping at the first failing step. Files go to $WORKDIR (default: a fresh temp dir).
set -euo pipefail

: "${BASE:?}" "${AUTH:?}" "${PROMPT_ID:?}" "${DATASET_ID:?}" "${BASELINE_RUN_ID:?}"
METRIC_IDS="${METRIC_IDS:-[1, 2, 3]}"
ROW_TOLERANCE="${ROW_TOLERANCE:--1.0}"
AVG_TOLERANCE="${AVG_TOLERANCE:--0.2}"
WORKDIR="${WORKDIR:-$(mktemp -d)}"
GITHUB_OUTPUT="$WORKDIR/github_output"
: > "$GITHUB_OUTPUT"
cd "$WORKDIR"

create() {
  run_id=$(curl -fsS -X POST "$BASE/runs" \
    -H "$AUTH" -H "Content-Type: application/json" \
    -d "{\"prompt_id\": $PROMPT_ID, \"dataset_id\": $DATASET_ID, \"metric_ids\": $METRIC_IDS}" \
    | jq -r '.id')
  echo "run_id=$run_id" >> "$GITHUB_OUTPUT"
}

start_generation() {
  curl -fsS -X POST "$BASE/runs/$1/generate" -H "$AUTH"
}

wait_for_run() {
  for i in $(seq 1 60); do
    status=$(curl -fsS "$BASE/runs/$1" -H "$AUTH" | jq -r '.status')
    echo "status=$status"
    case "$status" in
      completed) exit 0 ;;
      failed)    echo "Run failed"; exit 1 ;;
    esac
    sleep 10
  done
  echo "Timed out waiting for the run"; exit 1
}

gate() {
  curl -fsS "$BASE/runs/$BASELINE_RUN_ID/compare?with=$1" \
    -H "$AUTH" > diff.json

  jq --argjson rt "$ROW_TOLERANCE" --argjson at "$AVG_TOLERANCE" '
    (.rows | map(.per_metric[] | select(.delta != null and .delta < $rt))) as $rows
    | (.rows
        | map(.per_metric[] | select(.delta != null))
        | group_by(.metric_id)
        | map({metric_id: .[0].metric_id, mean_delta: (map(.delta) | add / length)})
        | map(select(.mean_delta < $at))) as $avgs
    | { rows: $rows, avgs: $avgs }
  ' diff.json | tee regressions.json

  if [ "$(jq '(.rows | length) + (.avgs | length)' regressions.json)" -gt 0 ]; then
    echo "Prompt regression detected"; exit 1
  fi
}

(create)
run_id=$(sed -n 's/^run_id=//p' "$GITHUB_OUTPUT" | tail -n 1)
(start_generation "$run_id")
echo
(wait_for_run "$run_id")
(gate "$run_id")
