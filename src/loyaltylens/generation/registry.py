"""The prompt registry: prompt versions in MLflow's Prompt Registry, aliases ``production``/``candidate``.

Sources are the YAML files under ``prompts/`` (any file name; each declares ``name`` and ``version``).
:meth:`PromptRegistry.sync` registers every source version MLflow does not hold yet as a new, immutable
prompt version: its chat template (system + user, variables as ``{{var}}``) so that
``load_prompt("prompts:/offer_copy@production")`` works for any MLflow client, and the exact YAML text in the
version tag ``loyaltylens.source`` (with the semantic version in ``loyaltylens.semver``), so the project reads
back exactly what was registered even after its source file is edited or removed.

The deployment is the ``production`` alias; a prompt that has none yet resolves to its lowest (baseline)
version, so newer versions reach production only through :meth:`activate` (the eval gate or a person).
Every alias move is audited in MLflow (:mod:`loyaltylens.registry.audit`); the versions ``rollback`` restores
are a JSON list in the prompt tag ``loyaltylens.production_history``. Nothing lives under the data dir: an
activation by one process is seen by every process that reaches the same tracking store.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml
from mlflow import MlflowClient

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.generation.prompts import PIPELINE_VARIABLES, PromptSpec, read_prompt_file
from loyaltylens.registry.audit import AuditEntry, audit_log, record_move, require_reason
from loyaltylens.registry.models import validate_alias
from loyaltylens.registry.tracking import missing_or_raise, registry_client, unavailable

PRODUCTION = "production"
CANDIDATE = "candidate"
SEMVER_TAG = "loyaltylens.semver"
SOURCE_TAG = "loyaltylens.source"
HISTORY_TAG = "loyaltylens.production_history"
HISTORY_LIMIT = 50  # keeps the tag far below MLflow's value limit
AUDIT_KIND = "prompt"
_FIELD = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class PromptVersion:
    """One known version: its spec and YAML text, its MLflow version (None: not registered yet), its aliases."""

    spec: PromptSpec
    text: str
    source: str  # the source file, or "mlflow" for a registered version whose source file is gone
    mlflow_version: int | None
    aliases: tuple[str, ...]
    active: bool


class PromptRegistry:
    """Prompt versions from ``sources_dir`` registered in the MLflow store at ``tracking_uri``."""

    def __init__(self, sources_dir: Path, tracking_uri: str):
        self.sources_dir = Path(sources_dir)
        self.tracking_uri = tracking_uri

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> PromptRegistry:
        settings = settings or get_settings()
        return cls(settings.prompts_dir, settings.tracking_uri)

    @cached_property
    def client(self) -> MlflowClient:
        return registry_client(self.tracking_uri)

    # --- reading -------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        registered = self._call(lambda: self.client.search_prompts())
        return sorted({spec.name for spec, _ in self._sources()} | {prompt.name for prompt in registered})

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version of ``name`` (registered and not yet registered sources), oldest first."""
        registered = self._registered(name)
        found: dict[str, PromptVersion] = {}
        for spec, path in self._sources():
            if spec.name == name:
                found[spec.version] = PromptVersion(spec, path.read_text(), str(path), None, (), False)
        for semver, mlflow_version in registered.items():
            text = mlflow_version.tags[SOURCE_TAG]
            source = found[semver].source if semver in found else "mlflow"
            found[semver] = PromptVersion(
                read_text_spec(text), text, source, int(mlflow_version.version), tuple(mlflow_version.aliases), False
            )
        if not found:
            raise NotFoundError(f"no prompt '{name}' in {self.sources_dir} or the registry at {self.tracking_uri}")
        ordered = sorted(found.values(), key=lambda version: version.spec.semver)
        production = next((v for v in ordered if PRODUCTION in v.aliases), ordered[0])
        return [
            PromptVersion(v.spec, v.text, v.source, v.mlflow_version, v.aliases, v is production) for v in ordered
        ]

    def get(self, name: str, version: str | None = None) -> PromptVersion:
        """``version`` (a semantic version or an alias such as ``candidate``) of ``name``, or the active one."""
        versions = self.versions(name)
        for candidate in versions:
            if (version is None and candidate.active) or version in (candidate.spec.version, *candidate.aliases):
                return candidate
        known = ", ".join(v.spec.version for v in versions)
        raise NotFoundError(f"prompt '{name}' has no version {version} (known: {known})")

    def active(self, name: str) -> PromptSpec:
        """The spec at ``production`` (the lowest version while no alias is set)."""
        return self.get(name).spec

    def diff(self, name: str, old: str | None, new: str) -> str:
        """Unified diff of two versions' YAML text (``old`` None = the active version)."""
        before, after = self.get(name, old), self.get(name, new)
        return "".join(
            difflib.unified_diff(
                before.text.splitlines(keepends=True),
                after.text.splitlines(keepends=True),
                fromfile=f"{name}@{before.spec.version}",
                tofile=f"{name}@{after.spec.version}",
            )
        )

    def history(self, name: str) -> list[str]:
        """Versions ``rollback`` would restore, most recent last."""
        if not self._registered(name):  # also raises for an unreachable store, which get_prompt would hide
            return []
        prompt = self._call(lambda: self.client.get_prompt(name))
        return json.loads(prompt.tags.get(HISTORY_TAG, "[]")) if prompt is not None else []

    def audit_log(self, name: str) -> list[AuditEntry]:
        """Every alias move of ``name``, oldest first (read from MLflow)."""
        return self._call(lambda: audit_log(self.client, self.tracking_uri, AUDIT_KIND, name))

    # --- changing ------------------------------------------------------------------------------------
    def sync(self, name: str) -> dict[str, int]:
        """Register every source version of ``name`` MLflow does not hold yet; semver -> MLflow version.

        Raises:
            InvalidInputError: a source file changed a version that is already registered (bump it instead).
        """
        registered = self._registered(name)
        numbers = {semver: int(version.version) for semver, version in registered.items()}
        for spec, path in sorted(self._sources(), key=lambda item: item[0].semver):
            if spec.name != name:
                continue
            text = path.read_text()
            if spec.version in registered:
                if yaml.safe_load(registered[spec.version].tags[SOURCE_TAG]) != yaml.safe_load(text):
                    raise InvalidInputError(
                        f"prompt {spec.ref} is registered with different content than {path}; "
                        "bump its version instead of editing it"
                    )
                continue
            version = self._call(
                lambda spec=spec, text=text: self.client.register_prompt(
                    name,
                    chat_template(spec),
                    commit_message=spec.description or spec.ref,
                    tags={SEMVER_TAG: spec.version, SOURCE_TAG: text},
                )
            )
            numbers[spec.version] = int(version.version)
        return numbers

    def activate(
        self, name: str, version: str, why: str, who: str | None = None, alias: str = PRODUCTION
    ) -> PromptSpec:
        """Point ``alias`` (default ``production``) at ``version``; a replaced production version goes onto the
        history ``rollback`` pops. Audited.

        Raises:
            NotFoundError: unknown prompt or version.
            InvalidInputError: empty reason, or a prompt the copy pipeline cannot fill.
        """
        require_reason(why)
        validate_alias(alias)
        numbers = self.sync(name)
        chosen = self.get(name, version)
        check_registered_variables(chosen.spec)
        previous = self._alias_semver(name, alias)
        if previous == chosen.spec.version:
            return chosen.spec
        self._call(lambda: self.client.set_prompt_alias(name, alias, numbers[chosen.spec.version]))
        if alias == PRODUCTION:
            baseline = previous or self.versions(name)[0].spec.version  # what "active" meant before the alias
            if baseline != chosen.spec.version:
                self._write_history(name, [*self.history(name), baseline])
        record_move(
            self.client, self.tracking_uri, kind=AUDIT_KIND, name=name, alias=alias, action="activate",
            previous=previous, version=chosen.spec.version, why=why, who=who,
        )  # fmt: skip
        return chosen.spec

    def rollback(self, name: str, why: str, who: str | None = None) -> PromptSpec:
        """Point ``production`` back at the version the last activation replaced. Audited.

        Raises:
            NotFoundError: nothing to roll back to.
        """
        require_reason(why)
        history = self.history(name)
        if not history:
            raise NotFoundError(f"prompt '{name}' has no previous version to roll back to")
        restored, current = history[-1], self._alias_semver(name, PRODUCTION)
        numbers = self.sync(name)
        self._call(lambda: self.client.set_prompt_alias(name, PRODUCTION, numbers[restored]))
        self._write_history(name, history[:-1])
        record_move(
            self.client, self.tracking_uri, kind=AUDIT_KIND, name=name, alias=PRODUCTION, action="rollback",
            previous=current, version=restored, why=why, who=who,
        )  # fmt: skip
        return self.get(name, restored).spec

    # --- helpers -------------------------------------------------------------------------------------
    def _sources(self) -> list[tuple[PromptSpec, Path]]:
        if not self.sources_dir.is_dir():
            return []
        return [(read_prompt_file(path), path) for path in sorted(self.sources_dir.glob("*.yaml"))]

    def _registered(self, name: str) -> dict:
        """semver -> MLflow PromptVersion of every registered version of ``name`` (empty if none)."""
        # Not get_prompt: it answers None for an unreachable store too.
        versions = self._call(lambda: self.client.search_prompt_versions(name, max_results=1000))
        if versions is None:
            return {}
        found = {}
        for version in versions:  # search results carry no aliases: read each version once
            full = self._call(lambda version=version: self.client.get_prompt_version(name, version.version))
            found[full.tags[SEMVER_TAG]] = full
        return found

    def _alias_semver(self, name: str, alias: str) -> str | None:
        # Not get_prompt_version_by_alias: its "no such alias" carries a generic error code.
        return next((v.spec.version for v in self.versions(name) if alias in v.aliases), None)

    def _write_history(self, name: str, history: list[str]) -> None:
        self._call(lambda: self.client.set_prompt_tag(name, HISTORY_TAG, json.dumps(history[-HISTORY_LIMIT:])))

    def _call(self, call):
        """``call()`` with MLflow's "does not exist" as ``None`` and a failing store as an error."""
        try:
            return missing_or_raise(self.tracking_uri, call)
        except ValueError as exc:  # MLflow's client raises plain exceptions for some transport failures
            raise unavailable(self.tracking_uri, exc) from exc


def read_text_spec(text: str) -> PromptSpec:
    try:
        return PromptSpec.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValueError) as exc:
        raise InvalidInputError(f"registered prompt text is not a valid prompt ({exc})") from None


def chat_template(spec: PromptSpec) -> list[dict[str, str]]:
    """The MLflow chat template of ``spec``: the system text as is, user variables as ``{{var}}``."""
    return [
        {"role": "system", "content": spec.system.strip()},
        {"role": "user", "content": _FIELD.sub(r"{{\1}}", spec.user.strip())},
    ]


def check_registered_variables(spec: PromptSpec) -> None:
    """Refuse a prompt the copy pipeline cannot fill: declared variables, the template's fields and the
    variables MLflow parses from the registered chat template must all be :data:`PIPELINE_VARIABLES`."""
    spec.check_pipeline_fit()
    parsed = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", chat_template(spec)[1]["content"]))
    if not parsed <= PIPELINE_VARIABLES:
        raise InvalidInputError(f"prompt {spec.ref}: template variables {sorted(parsed - PIPELINE_VARIABLES)} "
                                "are not supplied by the pipeline")
