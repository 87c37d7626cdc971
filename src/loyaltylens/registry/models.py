"""Versions of one registered model in MLflow: training runs, versions and the aliases servers load.

Generic over what a version holds: a model directory with ``required_file`` in it (the propensity model's
``model.pt``, the copy generator's metadata file). A version is created from its run's ``model/`` artifact
directory, so ``models:/<name>@champion`` downloads exactly the directory that was registered. New versions
get the ``challenger`` alias; ``promote`` moves ``champion`` and pushes the replaced champion onto a history
kept in a registered-model tag, which ``rollback`` pops. Aliases only: stages are deprecated.
:func:`fetch_model_dir` downloads a version once into a local cache (staged, then renamed into place).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, Run
from mlflow.entities.model_registry import ModelVersion, RegisteredModel

from loyaltylens.errors import InvalidInputError, NotFoundError
from loyaltylens.registry.tracking import missing_or_raise, registry_client

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT_PATH = "model"  # the model directory inside a run's artifacts
PLOTS_ARTIFACT_PATH = "plots"
MODELS_URI_PREFIX = "models:/"
LINEAGE_TAG_PREFIX = "loyaltylens."  # run tags: loyaltylens.feature_version, loyaltylens.dataset_hash, ...
METRIC_TAG_PREFIX = "metric."  # version tags mirroring the final metrics, so listing needs no run lookups
GATE_TAG = "loyaltylens.gate"  # run tag: why the registration gate refused the run's candidate
HISTORY_TAG = "loyaltylens.champion_history"  # JSON list of former champions, most recent last
RUN_KIND_TAG = "loyaltylens.run_kind"  # runs that are not a candidate's training, e.g. "rolling-origin evaluation"
HISTORY_LIMIT = 50  # keeps the tag far below MLflow's 5000-character value limit
_ALIAS_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,255}")
_REF_FORMS = "an alias (champion), a version number (3), models:/<name>@<alias> or models:/<name>/<version>"


class ModelRef(NamedTuple):
    """A parsed model reference: exactly one of ``version`` and ``alias`` is set."""

    name: str
    version: int | None
    alias: str | None


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version as ``list_versions`` reports it."""

    version: int
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    created: datetime
    run_id: str


def validate_alias(alias: str) -> str:
    """Return ``alias`` if MLflow accepts it as an alias name, else raise ``InvalidInputError`` saying why."""
    if alias.lower() == "latest" or re.fullmatch(r"v\d+", alias, re.IGNORECASE):
        raise InvalidInputError(
            f"alias '{alias}' is reserved by MLflow ('latest' and v<number> name versions)"
        )
    if not _ALIAS_PATTERN.fullmatch(alias):
        raise InvalidInputError(f"alias '{alias}' must be 1-255 letters, digits, '_' or '-'")
    return alias


def parse_model_ref(ref: str | int, model_name: str) -> ModelRef:
    """Parse ``ref`` (see ``_REF_FORMS``) for the registered model ``model_name``.

    Raises:
        InvalidInputError: malformed reference, reserved alias, or a URI naming another model.
    """
    text = str(ref).strip()
    name = model_name
    if text.startswith(MODELS_URI_PREFIX):
        body = text[len(MODELS_URI_PREFIX) :]
        if "@" in body:
            name, _, text = body.partition("@")
        elif "/" in body:
            name, _, text = body.rpartition("/")
            if not text.isdigit():
                raise InvalidInputError(f"cannot parse model reference '{ref}'; use {_REF_FORMS}")
        else:
            raise InvalidInputError(f"cannot parse model reference '{ref}'; use {_REF_FORMS}")
        if name != model_name:
            raise InvalidInputError(f"'{ref}' names model '{name}', but this registry holds '{model_name}'")
    if text.isdigit():
        return ModelRef(name, int(text), None)
    if not text:
        raise InvalidInputError(f"empty model reference; use {_REF_FORMS}")
    return ModelRef(name, None, validate_alias(text))


class ModelRegistry:
    """Training runs and versions of one registered model in one MLflow tracking store.

    Subclasses name the file every version's directory holds (``required_file``) and may refine
    :meth:`check_model_dir` (e.g. load the model) and :meth:`_stamp_version` (write the version number into
    the directory before it is uploaded).
    """

    required_file: str = ""  # a file every registered model directory holds; "" = any directory

    def __init__(self, tracking_uri: str, model_name: str, artifact_root: Path | None = None):
        """``artifact_root``: where new runs store artifacts (default: the tracking store's own choice).

        Nothing is created until the registry is first used.
        """
        self.tracking_uri = tracking_uri
        self.model_name = model_name
        self.artifact_root = Path(artifact_root).resolve() if artifact_root is not None else None

    def check_model_dir(self, model_dir: Path) -> None:
        """Refuse a directory servers could not load (here: one without ``required_file``).

        Raises:
            NotFoundError: ``model_dir`` lacks ``required_file``.
        """
        if self.required_file and not (Path(model_dir) / self.required_file).is_file():
            raise NotFoundError(f"{model_dir} is not a '{self.model_name}' model directory (no {self.required_file})")

    def _stamp_version(self, staged: Path, version: int) -> None:
        """Hook: adjust the staged copy of a directory being registered as ``version`` (default: nothing)."""

    @cached_property
    def client(self) -> MlflowClient:
        """The MLflow client, made on first use: connecting to a SQLite store creates its database file."""
        return registry_client(self.tracking_uri)

    # --- runs ------------------------------------------------------------------------------------------
    def log_training_run(
        self,
        *,
        params: Mapping[str, object],
        epoch_metrics: Sequence[Mapping[str, float]],
        metrics: Mapping[str, float],
        model_dir: Path,
        lineage: Mapping[str, str],
        plots: Iterable[Path] = (),
        run_name: str | None = None,
    ) -> str:
        """Record one training run and return its id.

        Args:
            params: hyper-parameters and settings (logged as params).
            epoch_metrics: one mapping per epoch, logged with ``step`` = epoch number (1-based).
            metrics: final metrics (flat names, see :mod:`loyaltylens.propensity.evaluate`).
            model_dir: the exported model directory, logged under ``model/``.
            lineage: feature version, dataset hash, schema hash, ...; logged as ``loyaltylens.*`` tags.
            plots: image files logged under ``plots/``.
        """
        run = self.client.create_run(
            self._experiment_id(),
            run_name=run_name,
            tags={f"{LINEAGE_TAG_PREFIX}{key}": str(value) for key, value in lineage.items()},
        )
        run_id = run.info.run_id
        try:
            now = _now_ms()
            history = [
                Metric(key, float(value), now, step)
                for step, epoch in enumerate(epoch_metrics, start=1)
                for key, value in epoch.items()
            ]
            final = [Metric(key, float(value), now, 0) for key, value in metrics.items()]
            # log_batch caps a call at 1000 metrics / 100 params; chunks keep long runs within it.
            for chunk in _chunks(history + final, 1000):
                self.client.log_batch(run_id, metrics=chunk)
            for chunk in _chunks([Param(key, str(value)) for key, value in params.items()], 100):
                self.client.log_batch(run_id, params=chunk)
            self.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT_PATH)
            for plot in plots:
                self.client.log_artifact(run_id, str(plot), PLOTS_ARTIFACT_PATH)
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id)
        return run_id

    def log_evaluation_run(
        self, *, run_name: str, params: Mapping[str, object], metrics: Mapping[str, float], report: str
    ) -> str:
        """Record an evaluation that is not one candidate's training (e.g. a rolling-origin backtest of the
        training recipe) as its own run in the model's experiment, ``report`` (markdown) as ``report.md``."""
        run = self.client.create_run(self._experiment_id(), run_name=run_name, tags={RUN_KIND_TAG: run_name})
        run_id = run.info.run_id
        try:
            now = _now_ms()
            for chunk in _chunks([Metric(key, float(value), now, 0) for key, value in metrics.items()], 1000):
                self.client.log_batch(run_id, metrics=chunk)
            for chunk in _chunks([Param(key, str(value)) for key, value in params.items()], 100):
                self.client.log_batch(run_id, params=chunk)
            self.client.log_text(run_id, report, "report.md")
        except BaseException:
            self.client.set_terminated(run_id, status="FAILED")
            raise
        self.client.set_terminated(run_id)
        return run_id

    def latest_run_of_kind(self, kind: str) -> Run | None:
        """The newest finished run tagged ``RUN_KIND_TAG = kind`` (see :meth:`log_evaluation_run`), if any."""
        experiment = self.client.get_experiment_by_name(self.model_name)
        if experiment is None:
            return None
        runs = self.client.search_runs(
            [experiment.experiment_id],
            filter_string=f"tags.`{RUN_KIND_TAG}` = '{kind}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0] if runs else None

    # --- versions --------------------------------------------------------------------------------------
    def register(self, model_dir: Path, run_id: str, metrics: Mapping[str, float]) -> int:
        """Register ``model_dir`` (produced by ``run_id``) as a new version with alias ``challenger``.

        The directory is uploaded into the run's ``model/`` artifacts with the version number stamped into
        its model card, replacing the copy ``log_training_run`` made, so the version holds exactly the
        directory that was gated. ``model_dir`` itself is not modified.

        Raises:
            LoyaltyLensError: ``model_dir`` is not a loadable model directory (:meth:`check_model_dir`).
            NotFoundError: no run ``run_id``.
        """
        self.check_model_dir(Path(model_dir))  # refuse to register something servers cannot load
        run = self._get_run(run_id)
        self._ensure_registered_model()
        source = f"{run.info.artifact_uri}/{MODEL_ARTIFACT_PATH}"
        tags = {f"{METRIC_TAG_PREFIX}{key}": repr(float(value)) for key, value in metrics.items()}
        version = int(
            self.client.create_model_version(self.model_name, source, run_id=run_id, tags=tags).version
        )
        try:
            with tempfile.TemporaryDirectory() as staging:
                staged = Path(shutil.copytree(model_dir, Path(staging) / MODEL_ARTIFACT_PATH))
                self._stamp_version(staged, version)
                self.client.log_artifacts(run_id, str(staged), MODEL_ARTIFACT_PATH)
        except BaseException:
            self.client.delete_model_version(self.model_name, str(version))  # no version without its files
            raise
        self.client.set_registered_model_alias(self.model_name, CHALLENGER, str(version))
        return version

    def promote(self, version: int | None = None) -> int:
        """Make ``version`` (default: the challenger) the champion and return it.

        The replaced champion is remembered for :meth:`rollback`; the ``challenger`` alias is removed
        when it pointed at the promoted version. Promoting the current champion changes nothing.

        Raises:
            NotFoundError: no such version, or no challenger when ``version`` is omitted.
        """
        aliases = self._aliases()
        if version is None:
            if CHALLENGER not in aliases:
                raise NotFoundError(
                    f"model '{self.model_name}' has no {CHALLENGER} to promote; pass a version"
                )
            version = aliases[CHALLENGER]
        self._get_version(version)
        current = aliases.get(CHAMPION)
        if current == version:
            return version
        if current is not None:
            self._write_history([*self._history(), current])
        self.client.set_registered_model_alias(self.model_name, CHAMPION, str(version))
        if aliases.get(CHALLENGER) == version:
            self.client.delete_registered_model_alias(self.model_name, CHALLENGER)
        return version

    def ensure_champion(self) -> int | None:
        """The serving policy for a fresh registry: with no champion yet, the challenger becomes champion.

        Returns the promoted version, or ``None`` when a champion already exists (later candidates stay
        challengers until promoted on purpose).

        Raises:
            NotFoundError: neither a champion nor a challenger exists (every candidate failed the gate).
        """
        aliases = self._aliases()
        if CHAMPION in aliases:
            return None
        if CHALLENGER not in aliases:
            raise NotFoundError(
                f"no model to serve: '{self.model_name}' has no {CHAMPION} and no {CHALLENGER} (the training "
                f"gate refused every candidate; the reason is the '{GATE_TAG}' tag of its MLflow run)"
            )
        return self.promote()

    def record_rejection(self, run_id: str, reasons: Sequence[str]) -> None:
        """Note on the run why the gate refused its candidate; the registry itself stays as it is."""
        self._get_run(run_id)
        self.client.set_tag(run_id, GATE_TAG, "rejected: " + "; ".join(reasons))

    def rollback(self) -> int:
        """Give ``champion`` back to the previous champion and return its version.

        Raises:
            NotFoundError: there is no previous champion (nothing was ever replaced, or every
                replacement has already been rolled back).
        """
        history = self._history()
        if not history:
            raise NotFoundError(
                f"model '{self.model_name}' has no previous champion to roll back to "
                "(no promotion has replaced a champion yet)"
            )
        previous = history[-1]
        self.client.set_registered_model_alias(self.model_name, CHAMPION, str(previous))
        self._write_history(history[:-1])
        return previous

    def list_versions(self) -> list[ModelVersionInfo]:
        """Every version, oldest first, with its aliases, registration metrics and creation time."""
        if self._registered_model() is None:
            return []
        aliases_of: dict[int, list[str]] = {}
        for alias, version in self._aliases().items():
            aliases_of.setdefault(version, []).append(alias)
        versions = self.client.search_model_versions(f"name='{self.model_name}'")
        return sorted(
            (
                ModelVersionInfo(
                    version=int(mv.version),
                    aliases=tuple(sorted(aliases_of.get(int(mv.version), []))),
                    metrics={
                        key[len(METRIC_TAG_PREFIX) :]: float(value)
                        for key, value in mv.tags.items()
                        if key.startswith(METRIC_TAG_PREFIX)
                    },
                    created=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
                    run_id=mv.run_id,
                )
                for mv in versions
            ),
            key=lambda info: info.version,
        )

    def resolve(self, ref: str | int) -> int:
        """The version number ``ref`` (alias, number or ``models:/`` URI) points at.

        Raises:
            InvalidInputError: malformed reference.
            NotFoundError: unknown alias or version.
        """
        parsed = parse_model_ref(ref, self.model_name)
        if parsed.version is not None:
            self._get_version(parsed.version)
            return parsed.version
        version = self._aliases().get(parsed.alias)
        if version is None:
            raise NotFoundError(f"model '{self.model_name}' has no version with alias '{parsed.alias}'")
        return version

    def download(self, ref: str | int, dst_dir: Path | None = None) -> Path:
        """Copy the model directory of ``ref`` into ``dst_dir`` (default: a new temp dir the caller owns).

        The result is the directory that was registered (it holds ``required_file``).
        """
        import mlflow  # the artifacts API; the client above covers everything else
        version = self.resolve(ref)
        source = self.client.get_model_version_download_uri(self.model_name, str(version))
        dst_dir = (
            Path(dst_dir) if dst_dir is not None else Path(tempfile.mkdtemp(prefix="loyaltylens-model-"))
        )
        # Always into dst_dir: without it MLflow returns a local artifact store path as is, and a caller
        # writing into that would alter the registered version.
        local = Path(
            mlflow.artifacts.download_artifacts(source, dst_path=str(dst_dir), tracking_uri=self.tracking_uri)
        )
        if self.required_file and not (local / self.required_file).is_file():
            raise NotFoundError(
                f"version {version} of '{self.model_name}' has no {self.required_file} in {source}"
            )
        return local

    # --- helpers ---------------------------------------------------------------------------------------
    def _experiment_id(self) -> str:
        experiment = self.client.get_experiment_by_name(self.model_name)
        if experiment is not None:
            return experiment.experiment_id
        location = self.artifact_root.as_uri() if self.artifact_root is not None else None
        return self.client.create_experiment(self.model_name, artifact_location=location)

    def _get_run(self, run_id: str) -> Run:
        run = missing_or_raise(self.tracking_uri, lambda: self.client.get_run(run_id))
        if run is None:
            raise NotFoundError(f"no MLflow run '{run_id}' in {self.tracking_uri}")
        return run

    def _get_version(self, version: int) -> ModelVersion:
        found = missing_or_raise(
            self.tracking_uri, lambda: self.client.get_model_version(self.model_name, str(version))
        )
        if found is None:
            raise NotFoundError(f"model '{self.model_name}' has no version {version}")
        return found

    def _registered_model(self) -> RegisteredModel | None:
        """The registered model, ``None`` if it does not exist; an unreachable store raises
        ``ServiceUnavailableError`` (never "not registered")."""
        return missing_or_raise(self.tracking_uri, lambda: self.client.get_registered_model(self.model_name))

    def _ensure_registered_model(self) -> None:
        if self._registered_model() is None:
            self.client.create_registered_model(self.model_name)

    def _aliases(self) -> dict[str, int]:
        """alias -> version of the registered model (empty if it does not exist yet)."""
        model = self._registered_model()
        return {alias: int(version) for alias, version in (model.aliases if model else {}).items()}

    def _history(self) -> list[int]:
        """Former champions, most recent last."""
        model = self._registered_model()
        return json.loads(model.tags.get(HISTORY_TAG, "[]")) if model else []

    def _write_history(self, history: list[int]) -> None:
        self.client.set_registered_model_tag(
            self.model_name, HISTORY_TAG, json.dumps(history[-HISTORY_LIMIT:])
        )


def _now_ms() -> int:
    return int(datetime.now(tz=UTC).timestamp() * 1000)


def _chunks(items: list, size: int) -> Iterable[list]:
    return (items[start : start + size] for start in range(0, len(items), size))


def fetch_model_dir(registry: ModelRegistry, model_ref: str, download_root: Path) -> Path:
    """A local directory of the version ``model_ref`` (alias, number or ``models:/`` URI) points at.

    Each version is downloaded once into ``download_root/<name>-v<version>`` (registered versions are
    immutable, so a later start reuses it); the download goes to a staging directory first and is renamed
    into place, so a crashed download is never mistaken for a model.

    Raises:
        NotFoundError: no such model / alias / version, or the version lacks ``registry.required_file``.
        InvalidInputError: a malformed reference.
        ServiceUnavailableError: the tracking store cannot be reached.
    """
    version = registry.resolve(model_ref)
    target = Path(download_root) / f"{registry.model_name}-v{version}"
    marker = registry.required_file
    if target.is_dir() and (not marker or (target / marker).is_file()):
        return target
    logger.info("downloading %s v%d from %s into %s", registry.model_name, version, registry.tracking_uri, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as staging:
        downloaded = registry.download(version, Path(staging))
        try:
            downloaded.rename(target)
        except OSError:  # another process put the same version in place first; theirs is identical
            if not (target / marker).exists():
                raise
    return target
