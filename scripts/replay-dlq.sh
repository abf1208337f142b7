#!/usr/bin/env bash
# Replays the deployed service's dead-letter queue: reads the queue URLs from
# `terraform output` and runs `stocksctl dlq replay` with them, passing every other flag through.
# A dry run unless you pass --execute.
#
#   scripts/replay-dlq.sh                         # what would move
#   scripts/replay-dlq.sh --skip-stale --execute  # move the live ones, drop the stale ones
#   scripts/replay-dlq.sh --ticker MSFT --max 10 --rate 2/s --execute
set -euo pipefail
cd "$(dirname "$0")/.."

terraform=${TERRAFORM:-terraform}
command -v "$terraform" >/dev/null || { echo "error: $terraform not found (needed to read the queue URLs)" >&2; exit 2; }
dlq_url=$("$terraform" -chdir=terraform output -raw dlq_url)
queue_url=$("$terraform" -chdir=terraform output -raw jobs_queue_url)

# The region: stocksctl resolves it as every make target does (terraform.tfvars and
# TF_VAR_FILES, else AWS_REGION, else the profile).
var_files=()
for f in ${TF_VAR_FILES:-}; do var_files+=(--var-file "$f"); done
exec cargo run --quiet --locked --package stocksctl -- dlq replay --dlq-url "$dlq_url" --queue-url "$queue_url" \
  --terraform "$terraform" "${var_files[@]}" "$@"
