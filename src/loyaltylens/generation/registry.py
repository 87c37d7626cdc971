"""The prompt registry: which version of each prompt is active, its history, and an audit log.

Sources are the YAML files under ``prompts/`` (any file name; each declares ``name`` and ``version``).
State lives under ``settings.prompt_state_dir``:

    state.json                       {"<name>": {"active": "1.1.0", "history": ["1.0.0"]}}  (atomic replace)
    versions/<name>/<version>.yaml   the exact text of every version ever activated
    audit.jsonl                      one JSON line per change: when, who, action, name, from, to, why

``activate`` snapshots the source text, so a later edit or removal of a source file never changes what an
activated version means, and ``rollback`` can always restore it. A prompt that has never been activated
resolves to its highest source version.
"""

from __future__ import annotations

import difflib
import getpass
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from loyaltylens.config import Settings, get_settings
from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.generation.prompts import PromptSpec, read_prompt_file


@dataclass(frozen=True)
class PromptVersion:
    """One known version: its spec, where its text comes from, and whether it is active."""

    spec: PromptSpec
    text: str
    source: str  # the source file, or "registry" for a snapshot whose source file is gone
    active: bool


@dataclass(frozen=True)
class AuditEntry:
    when: str
    who: str
    action: str
    name: str
    previous: str | None
    version: str
    why: str


class PromptRegistry:
    """Prompt versions from ``sources_dir`` plus the activation state in ``state_dir``."""

    def __init__(self, sources_dir: Path, state_dir: Path):
        self.sources_dir = Path(sources_dir)
        self.state_dir = Path(state_dir)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> PromptRegistry:
        settings = settings or get_settings()
        return cls(settings.prompts_dir, settings.prompt_state_dir)

    # --- reading -------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted({spec.name for spec, _ in self._texts()} | set(self._state()))

    def versions(self, name: str) -> list[PromptVersion]:
        """Every version of ``name`` (sources and snapshots), oldest first."""
        texts: dict[str, tuple[PromptSpec, str, str]] = {}
        snapshots = self.state_dir / "versions" / name
        for path in sorted(snapshots.glob("*.yaml")) if snapshots.is_dir() else []:
            spec = read_prompt_file(path)
            texts[spec.version] = (spec, path.read_text(), "registry")
        for spec, path in self._texts():
            if spec.name == name:
                texts[spec.version] = (spec, path.read_text(), str(path))
        if not texts:
            raise NotFoundError(f"no prompt '{name}' in {self.sources_dir} or the registry")
        active = self._active_version(name, [entry[0] for entry in texts.values()])
        return sorted(
            (PromptVersion(spec, text, source, spec.version == active) for spec, text, source in texts.values()),
            key=lambda version: version.spec.semver,
        )

    def get(self, name: str, version: str | None = None) -> PromptVersion:
        """``version`` of ``name``, or the active one."""
        versions = self.versions(name)
        for candidate in versions:
            if (version is None and candidate.active) or candidate.spec.version == version:
                return candidate
        known = ", ".join(v.spec.version for v in versions)
        raise NotFoundError(f"prompt '{name}' has no version {version} (known: {known})")

    def active(self, name: str) -> PromptSpec:
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
        return list(self._state().get(name, {}).get("history", []))

    def audit_log(self) -> list[AuditEntry]:
        path = self.state_dir / "audit.jsonl"
        if not path.is_file():
            return []
        return [AuditEntry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]

    # --- changing ------------------------------------------------------------------------------------
    def activate(self, name: str, version: str, why: str, who: str | None = None) -> PromptSpec:
        """Make ``version`` the active version of ``name``; the replaced one goes onto the history.

        Raises:
            NotFoundError: unknown prompt or version.
            InvalidInputError: empty reason, or a prompt the copy pipeline cannot fill.
        """
        _require_reason(why)
        chosen = self.get(name, version)
        chosen.spec.check_pipeline_fit()
        state = self._state()
        entry = state.get(name, {"active": None, "history": []})
        previous = self._active_version(name, [v.spec for v in self.versions(name)])
        if previous == version:
            return chosen.spec
        self._snapshot(chosen)
        self._snapshot(self.get(name, previous))  # so rollback restores it even if its source file goes
        state[name] = {"active": version, "history": [*entry["history"], previous]}
        self._write_state(state)
        self._audit("activate", name, previous, version, why, who)
        return chosen.spec

    def rollback(self, name: str, why: str, who: str | None = None) -> PromptSpec:
        """Re-activate the version the last activation replaced.

        Raises:
            NotFoundError: nothing to roll back to.
        """
        _require_reason(why)
        state = self._state()
        entry = state.get(name)
        if not entry or not entry["history"]:
            raise NotFoundError(f"prompt '{name}' has no previous version to roll back to")
        restored = entry["history"][-1]
        state[name] = {"active": restored, "history": entry["history"][:-1]}
        self._write_state(state)
        self._audit("rollback", name, entry["active"], restored, why, who)
        return self.get(name, restored).spec

    # --- helpers -------------------------------------------------------------------------------------
    def _texts(self) -> list[tuple[PromptSpec, Path]]:
        if not self.sources_dir.is_dir():
            return []
        return [(read_prompt_file(path), path) for path in sorted(self.sources_dir.glob("*.yaml"))]

    def _state(self) -> dict:
        path = self.state_dir / "state.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def _active_version(self, name: str, specs: list[PromptSpec]) -> str:
        active = self._state().get(name, {}).get("active")
        return active or max(specs, key=lambda spec: spec.semver).version

    def _snapshot(self, version: PromptVersion) -> None:
        target = self.state_dir / "versions" / version.spec.name / f"{version.spec.version}.yaml"
        if target.is_file():
            if yaml.safe_load(target.read_text()) != yaml.safe_load(version.text):
                raise InvalidInputError(
                    f"prompt {version.spec.ref} was activated before with different content; "
                    "bump its version instead of editing it"
                )
            return
        _atomic_write(target, version.text)

    def _write_state(self, state: dict) -> None:
        _atomic_write(self.state_dir / "state.json", json.dumps(state, indent=2, sort_keys=True))

    def _audit(self, action: str, name: str, previous: str | None, version: str, why: str, who: str | None) -> None:
        entry = AuditEntry(
            when=datetime.now(UTC).isoformat(timespec="seconds"),
            who=who or _current_user(),
            action=action,
            name=name,
            previous=previous,
            version=version,
            why=why,
        )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "audit.jsonl").open("a") as log:
            log.write(json.dumps(entry.__dict__) + "\n")


def _require_reason(why: str) -> None:
    if not why.strip():
        raise InvalidInputError("say why: every prompt change is audited with a reason")


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with arbitrary uids)
        return f"uid:{os.getuid()}"


def _atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same directory and one rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(text)
        tmp.flush()
        os.fsync(tmp.fileno())
    os.replace(tmp.name, path)
