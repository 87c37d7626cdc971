#!/usr/bin/env bash
# A Debian bookworm image with Python 3.11 from Debian's packages, for machines that reach Debian's archive
# but no container registry (so `FROM python:3.11-slim` cannot be pulled). It behaves like python:3.11-slim
# where components/Dockerfile relies on it: `python` and `pip` on PATH (a venv at /opt/venv, because
# Debian's own python refuses system-wide pip installs), ca-certificates, useradd.
#   scripts/make-base-image.sh [TAG]    (default loyaltylens-base:bookworm; a no-op when the tag exists)
set -euo pipefail
TAG=${1:-loyaltylens-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if docker image inspect "$TAG" >/dev/null 2>&1 && [ -z "${REBUILD_BASE:-}" ]; then
    echo "base image $TAG exists (REBUILD_BASE=1 rebuilds it)"; exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap missing: apt-get install -y debootstrap" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/loyaltylens-rootfs.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$ROOT" "$MIRROR"
chroot "$ROOT" python3 -m venv /opt/venv
chroot "$ROOT" /opt/venv/bin/pip install --no-cache-dir --quiet --upgrade pip
# Slim like the -slim images: no apt lists, docs, man pages or locales beyond C.
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* \
    "$ROOT"/usr/share/locale/* "$ROOT"/var/log/*
tar -C "$ROOT" -c . | docker import \
    --change 'ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$TAG"
docker image ls "$TAG"
