"""The audit of alias moves, kept in MLflow itself: MLflow keeps no history of aliases, so every move is one
finished run in the ``loyaltylens-registry-audit`` experiment, its facts as tags. Any process that reaches the
tracking store sees the same log (a pod's scratch disk holds nothing of it).

Tags of an audit run (the dashboard reads them): ``loyaltylens.audit.kind`` (prompt | model),
``.name``, ``.alias``, ``.action`` (activate | rollback | promote | ...), ``.previous``, ``.version``, ``.who``,
``.why``.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient

from loyaltylens.errors import InvalidInputError
from loyaltylens.registry.tracking import missing_or_raise

AUDIT_EXPERIMENT = "loyaltylens-registry-audit"
AUDIT_TAG_PREFIX = "loyaltylens.audit."
_FIELDS = ("kind", "name", "alias", "action", "previous", "version", "who", "why")


@dataclass(frozen=True)
class AuditEntry:
    when: str
    kind: str
    name: str
    alias: str
    action: str
    previous: str | None
    version: str
    who: str
    why: str


def require_reason(why: str) -> str:
    if not why.strip():
        raise InvalidInputError("say why: every registry change is audited with a reason")
    return why


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers with arbitrary uids)
        return f"uid:{os.getuid()}"


def record_move(
    client: MlflowClient,
    tracking_uri: str,
    *,
    kind: str,
    name: str,
    alias: str,
    action: str,
    previous: str | None,
    version: str,
    why: str,
    who: str | None = None,
) -> AuditEntry:
    """Write one audit run for an alias move and return its entry."""
    entry = AuditEntry(
        when=datetime.now(UTC).isoformat(timespec="seconds"),
        kind=kind,
        name=name,
        alias=alias,
        action=action,
        previous=previous,
        version=version,
        who=who or current_user(),
        why=require_reason(why),
    )
    tags = {f"{AUDIT_TAG_PREFIX}{field}": str(getattr(entry, field) or "") for field in _FIELDS}
    run = client.create_run(_experiment_id(client, tracking_uri), run_name=f"{action} {name}@{alias}", tags=tags)
    client.set_terminated(run.info.run_id)
    return entry


def audit_log(client: MlflowClient, tracking_uri: str, kind: str, name: str) -> list[AuditEntry]:
    """Every recorded move of ``kind`` ``name``, oldest first."""
    experiment = missing_or_raise(tracking_uri, lambda: client.get_experiment_by_name(AUDIT_EXPERIMENT))
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{AUDIT_TAG_PREFIX}kind` = '{kind}' and tags.`{AUDIT_TAG_PREFIX}name` = '{name}'",
        order_by=["attributes.start_time ASC"],
        max_results=10_000,
    )
    entries = []
    for run in runs:
        values = {field: run.data.tags.get(f"{AUDIT_TAG_PREFIX}{field}", "") for field in _FIELDS}
        when = datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC).isoformat(timespec="seconds")
        entries.append(AuditEntry(when=when, **{**values, "previous": values["previous"] or None}))
    return entries


def _experiment_id(client: MlflowClient, tracking_uri: str) -> str:
    experiment = missing_or_raise(tracking_uri, lambda: client.get_experiment_by_name(AUDIT_EXPERIMENT))
    return experiment.experiment_id if experiment is not None else client.create_experiment(AUDIT_EXPERIMENT)
