"""Validate rendered Kubernetes objects against their schemas, strictly (an unknown field is an error).

- KServe kinds (``serving.kserve.io/*``) against the KServe v0.20.0 CRD schemas vendored in this package
  (``schemas/kserve-v0.20.0``, Apache-2.0, from kserve/kserve ``config/crd/full``; LICENSE beside them).
  The CRDs' openAPIV3Schema allows unknown fields (the API server prunes them silently, or rejects them with
  ``kubectl apply --validate=strict``), so the schemas are made strict here: a misspelt field is an error
  instead of vanishing on apply.
- Prometheus Operator kinds (``monitoring.coreos.com/*``: the offer API's ServiceMonitor) the same way, against
  the v0.93.0 CRD vendored in ``schemas/prometheus-operator-v0.93.0`` (Apache-2.0, from
  prometheus-operator/prometheus-operator ``example/prometheus-operator-crd``; LICENSE beside it).
- Every other kind against the Kubernetes OpenAPI schemas shipped offline by ``kubernetes-validate``, in
  their strict variant, for the Kubernetes minor of the kubectl that ``scripts/install-k8s-tools.sh`` installs.

Example::

    >>> validator = ManifestValidator()
    >>> validator.errors({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dta": {}})
    ["ConfigMap/x: (root): Additional properties are not allowed ('dta' was unexpected)"]
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml

KUBERNETES_VERSION = "1.37"  # kubectl 1.37 from scripts/install-k8s-tools.sh
KSERVE_SCHEMA_DIR: Traversable = Path(__file__).resolve().parent / "schemas" / "kserve-v0.20.0"
CRD_FILES = (
    "serving.kserve.io_inferenceservices.yaml",
    "serving.kserve.io_servingruntimes.yaml",
    "serving.kserve.io_clusterservingruntimes.yaml",
    "serving.kserve.io_inferencegraphs.yaml",
)
KSERVE_GROUP = "serving.kserve.io/"
MONITORING_SCHEMA_DIR: Traversable = Path(__file__).resolve().parent / "schemas" / "prometheus-operator-v0.93.0"
MONITORING_CRD_FILES = ("monitoring.coreos.com_servicemonitors.yaml",)
MONITORING_GROUP = "monitoring.coreos.com/"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the InferenceService CRD is 2 MB


def object_name(doc: dict) -> str:
    """``Kind/name`` of a Kubernetes object, the way errors name it."""
    return f"{doc.get('kind', '?')}/{(doc.get('metadata') or {}).get('name', '?')}"


def load_documents(text: str) -> list[dict]:
    """The objects of a multi-document YAML text (a kustomize or ``helm template`` rendering), empty ones dropped."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc]


def strict_schema(schema: object) -> object:
    """Copy of ``schema`` where objects with declared properties reject undeclared ones."""
    if isinstance(schema, dict):
        out = {key: strict_schema(value) for key, value in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


class CrdValidator:
    """(apiVersion, kind) -> strict JSON-schema validator, built from the CRD ``files`` in ``schema_dir``."""

    def __init__(self, schema_dir: Traversable | Path = KSERVE_SCHEMA_DIR, files: tuple[str, ...] = CRD_FILES):
        import jsonschema

        self.validators = {}
        for name in files:
            crd = yaml.load((schema_dir / name).read_text(), Loader=_Loader)
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                schema = strict_schema(version["schema"]["openAPIV3Schema"])
                self.validators[(f"{group}/{version['name']}", kind)] = jsonschema.Draft7Validator(schema)

    def errors(self, doc: dict) -> list[str]:
        """Every schema violation of ``doc`` as ``path: message``; a kind without a schema is one error."""
        key = (doc.get("apiVersion"), doc.get("kind"))
        if key not in self.validators:
            return [f"no CRD schema for {key}"]
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in self.validators[key].iter_errors(doc)
        ]


@lru_cache(maxsize=1)
def kserve_validator() -> CrdValidator:
    """The validator over the vendored schemas, built once per process (loading the CRDs takes a second)."""
    return CrdValidator()


@lru_cache(maxsize=1)
def monitoring_validator() -> CrdValidator:
    """The validator over the vendored Prometheus Operator CRDs, built once per process."""
    return CrdValidator(MONITORING_SCHEMA_DIR, MONITORING_CRD_FILES)


def kubernetes_errors(doc: dict, version: str = KUBERNETES_VERSION) -> list[str]:
    """The first violation of ``doc`` against the strict Kubernetes OpenAPI schema of its kind, as
    ``path: message`` (kubernetes-validate stops at the first); a kind it has no schema for is one error."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{'/'.join(map(str, error.path)) or '(root)'}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [error.message]
    return []


class ManifestValidator:
    """Routes each object to its schema: KServe and Prometheus Operator kinds to the vendored CRDs, the rest to
    Kubernetes' OpenAPI."""

    def __init__(self, kubernetes_version: str = KUBERNETES_VERSION):
        self.kubernetes_version = kubernetes_version

    def errors(self, doc: dict) -> list[str]:
        """Every violation of one object, each prefixed with ``Kind/name``."""
        api_version = doc.get("apiVersion", "")
        crds = {KSERVE_GROUP: kserve_validator, MONITORING_GROUP: monitoring_validator}
        group = next((group for group in crds if api_version.startswith(group)), None)
        if group is not None:
            # The CRDs type metadata as a bare object; Kubernetes' ObjectMeta schema, carried by a ConfigMap
            # (whose only other fields are optional), catches a misspelt label or annotation field there.
            carrier = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc.get("metadata") or {}}
            found = crds[group]().errors(doc) + kubernetes_errors(carrier, self.kubernetes_version)
        else:
            found = kubernetes_errors(doc, self.kubernetes_version)
        return [f"{object_name(doc)}: {error}" for error in found]

    def all_errors(self, docs: list[dict]) -> list[str]:
        """Every violation of every object in ``docs``."""
        return [error for doc in docs for error in self.errors(doc)]
