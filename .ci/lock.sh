#!/usr/bin/env bash
# requirements.lock: the whole runtime closure, pinned and hashed, compiled from requirements.txt for
# every platform the action runs on (the Docker image on Linux; the composite variant on Linux,
# macOS and Windows), for the lowest Python the package supports.
#
#   .ci/lock.sh          recompile requirements.lock (keeps existing pins that still satisfy
#                        requirements.txt; add --upgrade to move every pin to the newest release)
#   .ci/lock.sh check    fail if requirements.lock is not what requirements.txt compiles to
#
# Needs uv (`pip install uv==0.13.9`: the version is pinned so that its output format is stable).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_FLOOR=3.11 # pyproject.toml's requires-python

compile() { # compile <output file> [extra uv flags]
  local output=$1
  shift
  uv pip compile requirements.txt --universal --generate-hashes --python-version "$PYTHON_FLOOR" \
    --index-url https://pypi.org/simple --custom-compile-command ".ci/lock.sh" --quiet \
    --output-file "$output" "$@"
}

if [ "${1:-}" = check ]; then
  # Compile over a copy of the lock, so that its pins are kept where they still fit: only a change
  # of requirements.txt (or a hand edit of the lock) makes a difference.
  fresh=$(mktemp)
  trap 'rm -f "$fresh"' EXIT
  cp requirements.lock "$fresh"
  compile "$fresh"
  if ! diff -u requirements.lock "$fresh"; then
    echo "requirements.lock is stale: run .ci/lock.sh and commit it" >&2
    exit 1
  fi
  echo "requirements.lock is fresh"
else
  compile requirements.lock "$@"
fi
