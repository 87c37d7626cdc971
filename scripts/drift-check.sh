#!/usr/bin/env bash
# `make drift`: the drift check end to end on a small simulated population, through the installed CLI.
# An undrifted period must exit 0 (no retraining recommended); a promotion season must exit 3 (retrain).
# Usage: scripts/drift-check.sh [loyaltylens executable]   (default: .venv/bin/loyaltylens)
set -uo pipefail
LOYALTYLENS="${1:-.venv/bin/loyaltylens}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export LOYALTYLENS_N_CUSTOMERS="${LOYALTYLENS_N_CUSTOMERS:-3000}" LOYALTYLENS_N_DAYS="${LOYALTYLENS_N_DAYS:-180}"
DRIFT_DAYS=42
AS_OF="$(date -u -d "${LOYALTYLENS_START_DATE:-2025-11-01} + $((LOYALTYLENS_N_DAYS - DRIFT_DAYS)) days" +%F)"

check() {  # check NAME EXPECTED_EXIT [data generate options...]
  local name="$1" expected="$2"; shift 2
  export LOYALTYLENS_DATA_DIR="$WORK/$name"
  "$LOYALTYLENS" data generate --out "$WORK/$name/dataset" --drift-days "$DRIFT_DAYS" "$@" >/dev/null || exit 1
  "$LOYALTYLENS" features build --dataset "$WORK/$name/dataset" --as-of "$AS_OF" >/dev/null || exit 1
  "$LOYALTYLENS" features build --dataset "$WORK/$name/dataset" >/dev/null || exit 1
  "$LOYALTYLENS" drift check --reference v0001 --html "$WORK/$name/drift.html"
  local code=$?
  if [ "$code" -ne "$expected" ]; then
    echo "drift check on the $name period exited $code, expected $expected" >&2
    exit 1
  fi
  echo "drift check on the $name period: exit $code as expected"
}

check undrifted 0
check promotion 3 --drift promotion
