"""Compile, run locally (kfp.local, one subprocess or container per component) or submit to a KFP endpoint.

Locally every component runs either in this same Python environment (``SubprocessRunner(use_venv=False)``),
a subprocess that inherits this process's environment and so reads the same settings, or in the train image
(``DockerRunner``, ``runner="docker"``), a container that gets only the service settings and its artifacts
(:mod:`loyaltylens.kfp_runner.containers`); on a cluster the
ConfigMap and Secrets give every pod the same settings (``loyaltylens.kfp_runner.platform``). Arguments the
caller does not give come from the settings, so ``LOYALTYLENS_N_CUSTOMERS`` and friends reach the run.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from loyaltylens.config import Settings
from loyaltylens.errors import InvalidInputError, LoyaltyLensError, NotFoundError

# name -> module in pipelines/ defining `pipeline` (the @dsl.pipeline function) and `COMPILED` (its YAML path)
PIPELINES: dict[str, str] = {
    "training": "pipelines.training",
    "rolling_evaluation": "pipelines.rolling_evaluation",
    "eval_gate": "pipelines.eval_gate",
    "retraining": "pipelines.retraining",
    "campaign": "pipelines.campaign",
}


@dataclass(frozen=True)
class LocalRun:
    pipeline: str
    arguments: dict
    seconds: float
    pipeline_root: Path
    log_path: Path | None = None
    task_status: dict[str, str] = field(default_factory=dict)  # task name -> SUCCESS / FAILURE, in run order


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    """kfp.local colours task and pipeline names in its messages; this is the plain text."""
    return _ANSI_ESCAPE.sub("", text)


class _TaskStatusRecorder(logging.Filter):
    """Collects kfp.local's "Task 'x' finished with status Y" records (text with ANSI colours).

    A filter on the root logger, because kfp.local replaces the root logger's handlers during a run.
    """

    _pattern = re.compile(r"Task '(?P<task>[^']+)' finished with status (?P<status>\w+)")

    def __init__(self) -> None:
        super().__init__()
        self.status: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        match = self._pattern.search(strip_ansi(record.getMessage()))
        if match:
            self.status[match["task"]] = match["status"]
        return True


def load_pipeline(name: str):
    if name not in PIPELINES:
        raise NotFoundError(f"unknown pipeline '{name}'; known: {', '.join(sorted(PIPELINES))}")
    return importlib.import_module(PIPELINES[name])


def parse_arguments(name: str, pairs: list[str]) -> dict:
    """``key=value`` strings typed by the pipeline function's signature; unknown keys are an error."""
    signature = inspect.signature(load_pipeline(name).pipeline.pipeline_func)
    arguments: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise InvalidInputError(f"parameter '{pair}' must look like key=value")
        if key not in signature.parameters:
            raise InvalidInputError(
                f"pipeline '{name}' has no parameter '{key}'; parameters: {', '.join(signature.parameters)}"
            )
        kind = signature.parameters[key].annotation
        try:
            arguments[key] = (raw.lower() in {"1", "true", "yes"}) if kind is bool else kind(raw)
        except ValueError:
            raise InvalidInputError(f"parameter '{key}' must be {kind.__name__}, got '{raw}'") from None
    return arguments


def arguments_from_settings(name: str, settings: Settings, given: dict | None = None) -> dict:
    """Every pipeline parameter named like a setting takes the setting's value, unless ``given`` sets it; a setting
    that is None (e.g. no campaign budget) leaves the pipeline's own default (KFP parameters cannot be null)."""
    signature = inspect.signature(load_pipeline(name).pipeline.pipeline_func)
    from_settings = {
        key: getattr(settings, key)
        for key in signature.parameters
        if key in type(settings).model_fields and getattr(settings, key) is not None
    }
    return {**from_settings, **(given or {})}


def compile_pipeline(name: str, out: Path | None = None) -> Path:
    from kfp import compiler

    module = load_pipeline(name)
    target = Path(out) if out else Path(module.COMPILED)
    compiler.Compiler().compile(module.pipeline, str(target))
    return target


RUNNERS: tuple[str, ...] = ("subprocess", "docker")


def run_local(
    name: str, arguments: dict, settings: Settings, log_path: Path | None = None, runner: str = "subprocess"
) -> LocalRun:
    """Run the pipeline with kfp.local; a failing component raises ``RuntimeError`` naming the task.

    With ``log_path``, kfp.local's output (every task's executor input/output and logs) goes to that file
    instead of stdout, and the returned run lists each task's status. ``runner="docker"`` runs every task in
    the train image (``components.TRAIN_IMAGE``, ``make images``) against the services the settings name.
    """
    from kfp import local

    if runner not in RUNNERS:
        raise InvalidInputError(f"unknown runner '{runner}'; expected one of {', '.join(RUNNERS)}")
    module = load_pipeline(name)
    pipeline_root = settings.pipeline_root
    pipeline_root.mkdir(parents=True, exist_ok=True)
    recorder = _TaskStatusRecorder()
    start = time.perf_counter()
    with contextlib.ExitStack() as stack, warnings.catch_warnings():
        if runner == "docker":
            from loyaltylens.kfp_runner.containers import container_service_env, docker_run_args, require_services

            require_services(settings)
            # the tasks run as the image's uid and write their outputs under the root kfp.local mounts
            pipeline_root.chmod(0o1777)
            env = stack.enter_context(container_service_env(settings))
            task_runner = local.DockerRunner(**docker_run_args(env))
        else:
            # a Postgres feedback store is read by the retraining pipeline's trigger check and fine-tune
            if module.USES_POSTGRES or settings.feedback_store == "postgres":
                from loyaltylens.local.postgres import with_postgres

                # Each task is a subprocess that reads its settings from this environment; the Postgres the
                # run uses (the embedded server, started here, when none is configured) reaches them by URL.
                postgres = with_postgres(settings).postgres_url
                stack.enter_context(_environ({"LOYALTYLENS_POSTGRES_URL": postgres}))
            task_runner = local.SubprocessRunner(use_venv=False)
        local.init(runner=task_runner, pipeline_root=str(pipeline_root), raise_on_error=True)
        logging.getLogger().addFilter(recorder)
        stack.callback(logging.getLogger().removeFilter, recorder)
        # The subprocess runner uses this environment by design, not TRAIN_IMAGE; resource limits only apply
        # on a cluster. Both warnings are expected here.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(contextlib.redirect_stdout(stack.enter_context(log_path.open("w"))))
        module.pipeline(**arguments)
    return LocalRun(name, arguments, time.perf_counter() - start, pipeline_root, log_path, recorder.status)


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """``values`` set in ``os.environ`` for the block; the previous values restored afterwards."""
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def submit(
    name: str,
    host: str,
    arguments: dict,
    experiment: str = "loyaltylens",
    namespace: str | None = None,
    caching: bool = True,
    wait: bool = False,
    timeout_s: int = 3600,
) -> str:
    """Submit the compiled pipeline to a KFP API endpoint; returns the run id.

    ``caching=False`` turns KFP's result cache off for every task of the run (the side-effect tasks have it
    off in the IR anyway); ``wait`` blocks until the run ends and raises unless it succeeded.
    """
    import kfp

    module = load_pipeline(name)
    with warnings.catch_warnings():  # kfp warns on every client that it needs a v2 backend: ours is one
        warnings.filterwarnings("ignore", message=".*only works with Kubeflow Pipeline v2.*", category=FutureWarning)
        client = kfp.Client(host=host, namespace=namespace)
    run = client.create_run_from_pipeline_package(
        str(module.COMPILED),
        arguments=arguments,
        experiment_name=experiment,
        run_name=f"{name}-{int(time.time())}",
        namespace=namespace,
        enable_caching=None if caching else False,
    )
    if wait:
        finished = client.wait_for_run_completion(run.run_id, timeout=timeout_s)
        if finished.state != "SUCCEEDED":
            raise LoyaltyLensError(f"pipeline run {run.run_id} on {host} ended {finished.state}")
    return run.run_id


def schedule(
    name: str,
    host: str,
    cron: str,
    arguments: dict,
    experiment: str = "loyaltylens",
    namespace: str | None = None,
) -> str:
    """Create a KFP recurring run of the compiled pipeline on ``cron`` (KFP's 6-field cron); returns its id.

    Every scheduled run retraces its side-effect tasks (registry moves, feature versions), so caching is off.
    """
    import kfp

    module = load_pipeline(name)
    with warnings.catch_warnings():  # kfp warns on every client that it needs a v2 backend: ours is one
        warnings.filterwarnings("ignore", message=".*only works with Kubeflow Pipeline v2.*", category=FutureWarning)
        client = kfp.Client(host=host, namespace=namespace)
    experiment_id = client.create_experiment(experiment, namespace=namespace).experiment_id
    recurring = client.create_recurring_run(
        experiment_id=experiment_id,
        job_name=f"{name}-schedule",
        cron_expression=cron,
        pipeline_package_path=str(module.COMPILED),
        params=arguments,
        enable_caching=False,
    )
    return recurring.recurring_run_id
