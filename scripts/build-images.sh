#!/usr/bin/env bash
# `make images`: the serve and train images from components/Dockerfile, tagged as components.TRAIN_IMAGE
# and the chart's serve image. Where no registry is reachable (BASE_IMAGE unset and python:3.11-slim not
# pullable) the base is a Debian bookworm image made by scripts/make-base-image.sh. This machine's local
# wheels (pip's find-links, e.g. the CPU-only torch) reach the build through a loopback HTTP server and
# `--network host`; PyPI is reached with the base image's own CA bundle. Nothing of either is baked in.
#   scripts/build-images.sh [serve|train ...]     (default: both; timings in .loyaltylens/images.json)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
REPO=${IMAGE_REPO:-ghcr.io/loyaltylens}
TARGETS=${*:-serve train}
if [ -z "${BASE_IMAGE:-}" ]; then
    if docker image inspect python:3.11-slim >/dev/null 2>&1 || timeout 60 docker pull -q python:3.11-slim >/dev/null 2>&1; then
        BASE_IMAGE=python:3.11-slim
    else
        BASE_IMAGE=loyaltylens-base:bookworm
        scripts/make-base-image.sh "$BASE_IMAGE"
    fi
fi
args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --label "io.loyaltylens.source-digest=$(scripts/source-digest.sh)")
# A loopback server for the build: the system CA bundle (pip inside the build trusts it for PyPI; see
# components/build-pip.sh) and, under wheels/, pip's local find-links directory (e.g. the CPU-only torch).
served=$(mktemp -d)
# A fixed port: the URLs are build args, and a changed build arg would invalidate the layer cache.
port=${BUILD_SERVER_PORT:-38917}
python3 -m http.server --bind 127.0.0.1 --directory "$served" "$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server; rm -rf "$served"' EXIT
sleep 0.5
kill -0 $server 2>/dev/null || { echo "port $port is taken: set BUILD_SERVER_PORT" >&2; exit 1; }
if [ -f "${BUILD_CA_BUNDLE:=/etc/ssl/certs/ca-certificates.crt}" ]; then
    cp "$BUILD_CA_BUNDLE" "$served/ca-certificates.crt"
    args+=(--build-arg "PIP_CA_URL=http://127.0.0.1:$port/ca-certificates.crt")
fi
FIND_LINKS_DIR=$("${PYTHON:-python3}" -m pip config get global.find-links 2>/dev/null || true)
if [ -n "$FIND_LINKS_DIR" ] && [ -d "$FIND_LINKS_DIR" ]; then
    ln -s "$FIND_LINKS_DIR" "$served/wheels"
    # the PyPI index has no CPU-only torch and the PyTorch index is not reachable from here
    args+=(--build-arg "PIP_FIND_LINKS=http://127.0.0.1:$port/wheels/" --build-arg TORCH_INDEX_URL=)
fi
mkdir -p .loyaltylens
timings=()
for target in $TARGETS; do
    tag="$REPO/loyaltylens-$target:$VERSION"
    start=$(date +%s.%N)
    docker build --network host -f components/Dockerfile --target "$target" -t "$tag" "${args[@]}" .
    seconds=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
    size=$(docker image inspect -f '{{.Size}}' "$tag")
    echo "built $tag in ${seconds}s, $((size / 1000000)) MB"
    timings+=("\"$target\": {\"image\": \"$tag\", \"seconds\": $seconds, \"bytes\": $size}")
done
(IFS=,; echo "{${timings[*]}}") > .loyaltylens/images.json
