# The Docker action's image. No `# syntax=` line: nothing here needs a newer Dockerfile frontend,
# and BuildKit would pull one from Docker Hub on every runner build.
#
# GitHub runs it as
#   docker run --workdir /github/workspace --rm -e INPUT_... -v "$GITHUB_WORKSPACE":/github/workspace ...
# so nothing here may rely on WORKDIR or on the user's repository being absent from the cwd.
#
# Base: the official, version-pinned slim Python image. Kept as a tag, not a digest
# (python:3.12-slim@sha256:...): a digest cannot be satisfied by a locally built stand-in,
# and .ci/container.sh builds this image daemonless against a local base tagged
# docker.io/library/python:3.12-slim (no registry there). Pin the digest here only together
# with a base image that the local build can match.
FROM python:3.12-slim

# Unbuffered: log lines and workflow commands reach the runner in order, as they happen.
# No .pyc writes at run time (the workspace is mounted read-write; the image is thrown away).
# PYTHONSAFEPATH: never put the script's folder or the cwd (the user's repository) on sys.path,
# so a ckaction.py or ckaction/ in the workspace cannot shadow the installed package.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Dependencies first: the locked closure (requirements.lock, compiled from requirements.txt by
# .ci/lock.sh), every file checked against its hash, so two builds of one tag run the same code.
# This layer is rebuilt only when the lock changes.
COPY requirements.lock /tmp/ckaction-deps/requirements.lock
RUN python -m pip install --no-cache-dir --require-hashes -r /tmp/ckaction-deps/requirements.lock \
    && rm -rf /tmp/ckaction-deps

# Then the package itself, into site-packages (no dependency resolution: they are all above);
# `pip check` fails the build if the lock and the package metadata (requirements.txt) ever disagree.
# The gate only: .dockerignore leaves out ckaction/emulator (tests, benchmarks, `ckaction demo`),
# and the build fails if it ever comes back.
COPY pyproject.toml requirements.txt README.md /tmp/ckaction-src/
COPY ckaction /tmp/ckaction-src/ckaction
RUN python -m pip install --no-cache-dir --no-deps /tmp/ckaction-src \
    && python -m pip check \
    && python -c "import importlib.util as u, sys; u.find_spec('ckaction.emulator') and sys.exit('ckaction/emulator must stay out of the image')" \
    && rm -rf /tmp/ckaction-src

COPY entrypoint.py /opt/ckaction/entrypoint.py

# No USER: the runner needs root to write into the mounted workspace and file-command folder.
# Absolute exec form: independent of PATH, WORKDIR and the --workdir the runner passes.
ENTRYPOINT ["/usr/local/bin/python", "/opt/ckaction/entrypoint.py"]
