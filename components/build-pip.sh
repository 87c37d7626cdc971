#!/bin/sh
# pip during an image build. With PIP_CA_URL (a loopback URL serving the build machine's CA bundle, e.g. for
# a TLS-inspecting proxy in front of PyPI) pip trusts that bundle for this one command; the file is deleted
# before the layer is committed, so no image carries it.
set -eu
if [ -n "${PIP_CA_URL:-}" ]; then
    python -c "import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], '/tmp/build-ca.crt')" "$PIP_CA_URL"
    trap 'rm -f /tmp/build-ca.crt' EXIT
    export PIP_CERT=/tmp/build-ca.crt
fi
pip "$@"
