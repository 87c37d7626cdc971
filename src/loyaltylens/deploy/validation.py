"""Validate KServe custom resources against the CRD schemas (``shared/schemas/kserve-v0.20.0``), strictly.

The CRDs' openAPIV3Schema allows unknown fields (the API server prunes them silently, or rejects them with
``kubectl apply --validate=strict``), so the schemas are made strict here: a misspelt field is an error
instead of vanishing on apply.
"""

from __future__ import annotations

from pathlib import Path

import yaml

CRD_FILES = (
    "serving.kserve.io_inferenceservices.yaml",
    "serving.kserve.io_servingruntimes.yaml",
    "serving.kserve.io_clusterservingruntimes.yaml",
)
KSERVE_GROUP = "serving.kserve.io/"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the InferenceService CRD is 2 MB


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


class KServeValidator:
    """(apiVersion, kind) -> strict JSON-schema validator, built from the CRD files in ``schema_dir``."""

    def __init__(self, schema_dir: Path):
        import jsonschema

        self.validators = {}
        for name in CRD_FILES:
            crd = yaml.load((Path(schema_dir) / name).read_text(), Loader=_Loader)
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
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self.validators[key].iter_errors(doc)
        ]


def kserve_documents(text: str) -> list[dict]:
    """The KServe objects in a multi-document YAML text."""
    return [
        doc for doc in yaml.safe_load_all(text) if doc and doc.get("apiVersion", "").startswith(KSERVE_GROUP)
    ]
