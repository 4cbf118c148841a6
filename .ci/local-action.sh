#!/usr/bin/env bash
# A local copy of the Docker action that builds ./Dockerfile instead of pulling the released image.
#
#   .ci/local-action.sh DIR     then, in a workflow: `uses: ./DIR`
#
# action.yml names the prebuilt image of the version being prepared (docker://ghcr.io/...:<version>),
# which does not exist until it is released; the project's own self-tests (selftest.yml, and act
# in tests/container) run this copy, so they test the code of the commit and never need a pushed
# image. DIR gets action.yml with `image: Dockerfile` and the Dockerfile's build context.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=${1:?usage: .ci/local-action.sh DIR}
rm -rf "$dest"
mkdir -p "$dest"
cp -R Dockerfile .dockerignore requirements.txt requirements.lock pyproject.toml README.md \
  entrypoint.py ckaction "$dest"/
sed 's|^  image: docker://.*$|  image: Dockerfile|' action.yml >"$dest/action.yml"
grep -qx '  image: Dockerfile' "$dest/action.yml" \
  || { echo "local-action.sh: action.yml has no 'image: docker://' line to replace" >&2; exit 1; }
echo "local-action.sh: $dest/action.yml builds the Dockerfile" >&2
