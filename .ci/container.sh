#!/usr/bin/env bash
# Build the Docker action's image (tag localhost/ckaction:test) from ./Dockerfile.
#
#   .ci/container.sh          build (idempotent; fast once the base image exists)
#   .ci/container.sh env      print the engine and its environment as KEY=VALUE lines, for tests
#
# With a working Docker engine (`docker info` succeeds) it just runs `docker build`. Otherwise it
# follows the daemonless podman recipe (/work/shared/container-recipe.md): runc instead of crun
# (hybrid cgroups), rlimits lowered to what the host allows, storage in a cache folder of its own,
# and, since no registry is reachable, a Debian base built with debootstrap and tagged
# docker.io/library/python:3.12-slim so that `FROM python:3.12-slim` resolves with --pull=never.
#
# Environment: CKACTION_IMAGE (default localhost/ckaction:test), CKACTION_CONTAINER_CACHE (podman
# state, default ~/.cache/ckaction-containers), CKACTION_CONTAINER_ENGINE=docker|podman to force.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${CKACTION_IMAGE:-localhost/ckaction:test}
W=${CKACTION_CONTAINER_CACHE:-${HOME:-/root}/.cache/ckaction-containers}
BASE=docker.io/library/python:3.12-slim
SUITE=bookworm
MIRROR=${CKACTION_DEBIAN_MIRROR:-http://deb.debian.org/debian}

die() { echo "container.sh: $*" >&2; exit 1; }
log() { echo "container.sh: $*" >&2; }

pick_engine() {
  case "${CKACTION_CONTAINER_ENGINE:-}" in
    docker | podman) echo "$CKACTION_CONTAINER_ENGINE"; return ;;
    "") ;;
    *) die "CKACTION_CONTAINER_ENGINE must be docker or podman, not '$CKACTION_CONTAINER_ENGINE'" ;;
  esac
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
  else
    echo podman
  fi
}

podman_env() {
  export CONTAINERS_CONF="$W/containers.conf" CONTAINERS_STORAGE_CONF="$W/storage.conf"
}

setup_podman() {
  mkdir -p "$W" || die "cannot create cache folder $W"
  if ! command -v podman >/dev/null 2>&1 || ! command -v runc >/dev/null 2>&1 \
      || ! command -v debootstrap >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 \
      || die "podman, runc and debootstrap are needed and apt-get is not available to install them"
    [ "$(id -u)" -eq 0 ] || die "podman, runc and debootstrap are missing; run as root to install them"
    log "installing podman buildah runc debootstrap with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends podman buildah runc debootstrap >/dev/null \
      || die "apt-get install podman buildah runc debootstrap failed"
  fi
  # Rewritten each time (cheap, and keeps an old cache folder in line with this script).
  printf '[containers]\ndefault_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' \
    >"$W/containers.conf"
  printf '[storage]\ndriver = "overlay"\nrunroot = "%s/run"\ngraphroot = "%s/root"\n' "$W" "$W" \
    >"$W/storage.conf"
  podman_env
  podman info >/dev/null 2>&1 || die "podman does not work here: $(podman info 2>&1 | tail -n 3)"
}

build_base() {
  podman image exists "$BASE" && return
  log "no local $BASE: building a stand-in with debootstrap ($SUITE) in $W/rootfs"
  local rootfs="$W/rootfs"
  if [ ! -x "$rootfs/usr/bin/python3" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      "$SUITE" "$rootfs" "$MIRROR" >"$W/debootstrap.log" 2>&1 \
      || { rm -rf "$rootfs"; die "debootstrap failed, see $W/debootstrap.log: $(tail -n 3 "$W/debootstrap.log")"; }
  fi
  # The official image has no PEP 668 marker, trusts the host's CAs here, and has /usr/local/bin/python.
  rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
  tar -C "$rootfs" -c . | podman import -q --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' - "$BASE" >/dev/null \
    || die "podman import of the debootstrap base failed"
}

ENGINE=$(pick_engine)

if [ "${1:-build}" = env ]; then
  echo "ENGINE=$ENGINE"
  echo "IMAGE=$IMAGE"
  if [ "$ENGINE" = podman ]; then
    echo "CONTAINERS_CONF=$W/containers.conf"
    echo "CONTAINERS_STORAGE_CONF=$W/storage.conf"
  fi
  exit 0
fi
[ "${1:-build}" = build ] || die "usage: $0 [build|env]"

start=$SECONDS
LOG=$(mktemp "${TMPDIR:-/tmp}/ckaction-build.XXXXXX.log")
if [ "$ENGINE" = docker ]; then
  log "building $IMAGE with docker"
  docker build -t "$IMAGE" . >"$LOG" 2>&1 || { tail -n 40 "$LOG" >&2; die "docker build failed (full log: $LOG)"; }
else
  setup_podman
  build_base
  log "building $IMAGE with podman (cache $W)"
  # --network=host: no bridge is created (none is available here); pip needs the network.
  podman build --pull=never --network=host -t "$IMAGE" . >"$LOG" 2>&1 \
    || { tail -n 40 "$LOG" >&2; die "podman build failed (full log: $LOG)"; }
fi
rm -f "$LOG"
log "built $IMAGE with $ENGINE in $((SECONDS - start)) s"
