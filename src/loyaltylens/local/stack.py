"""Run the KServe servers as child processes on loopback: the predictor, the feature transformer, or both.

``start_propensity_stack`` is what ``loyaltylens serve all``, ``make run``, the tests and the benchmark use:

    with start_propensity_stack("path/to/model_dir", feature_store=store) as stack:
        httpx.post(f"{stack.transformer.http_url}/v1/models/{stack.model_name}:predict", json={...})
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from loyaltylens.features.store import FeatureStore
from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port
from loyaltylens.runtime.model_source import is_registry_uri

DEFAULT_MODEL_NAME = "propensity"


@dataclass(frozen=True)
class ServerAddress:
    """Where one KServe server listens (REST and gRPC) on loopback."""

    http_port: int
    grpc_port: int

    @classmethod
    def free(cls) -> ServerAddress:
        return cls(free_port(), free_port())

    @property
    def http_host(self) -> str:
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_host}"

    @property
    def grpc_target(self) -> str:
        return f"{LOOPBACK}:{self.grpc_port}"


@dataclass(frozen=True)
class PropensityStack:
    """The running servers: the predictor, and the transformer in front of it if one was started."""

    model_name: str
    predictor: ServerAddress
    transformer: ServerAddress | None
    processes: tuple[ServerProcess, ...]


def _kserve_flags(model_name: str, address: ServerAddress) -> list[str]:
    # No latency log line per request: at benchmark rates it is noise (the Prometheus histograms keep it).
    return [
        "--model_name",
        model_name,
        "--http_port",
        str(address.http_port),
        "--grpc_port",
        str(address.grpc_port),
        "--enable_latency_logging",
        "false",
    ]


def _ready_url(model_name: str, address: ServerAddress) -> str:
    return f"{address.http_url}/v2/models/{model_name}/ready"


def predictor_process(
    model_ref: str | Path,
    address: ServerAddress,
    log_path: Path,
    model_name: str = DEFAULT_MODEL_NAME,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """The propensity predictor (``python -m serving.propensity``) for a model directory or registry URI."""
    source_flag = "--model_uri" if is_registry_uri(model_ref) else "--model_dir"
    cmd = [
        sys.executable,
        "-m",
        "serving.propensity",
        *_kserve_flags(model_name, address),
        source_flag,
        str(model_ref),
    ]
    return ServerProcess(cmd, _ready_url(model_name, address), log_path, env=dict(env or {}))


def generator_process(
    model_ref: str | Path, address: ServerAddress, log_path: Path, model_name: str = "generator"
) -> ServerProcess:
    """The offer-copy generator (``python -m serving.generator``: KServe v1/v2 and OpenAI-compatible routes)
    for a model directory or registry URI."""
    source_flag = "--model_uri" if is_registry_uri(model_ref) else "--model_dir"
    cmd = [sys.executable, "-m", "serving.generator", *_kserve_flags(model_name, address), source_flag, str(model_ref)]
    return ServerProcess(cmd, _ready_url(model_name, address), log_path)


def offers_process(model_ref: str | Path, port: int, log_path: Path, host: str = LOOPBACK) -> ServerProcess:
    """The offer API (``python -m serving.offers``: ``POST /v1/offers``, ``/metrics``) deciding with
    ``model_ref`` (a model directory or registry URI); ready when /healthz answers (the chain is built on the
    first request)."""
    cmd = [sys.executable, "-m", "serving.offers", "--host", host, "--port", str(port), "--model", str(model_ref)]
    return ServerProcess(cmd, f"http://{LOOPBACK}:{port}/healthz", log_path)


def transformer_process(
    predictor_host: str,
    address: ServerAddress,
    log_path: Path,
    model_name: str = DEFAULT_MODEL_NAME,
    predictor_protocol: str = "v2",
    feature_store: FeatureStore | None = None,
    env: Mapping[str, str] | None = None,
) -> ServerProcess:
    """The feature transformer (``python -m serving.feature_transformer``) in front of ``predictor_host``
    (``host:http_port`` for ``v2``, ``host:grpc_port`` for ``grpc-v2``), reading ``feature_store``
    (default: the one its settings name)."""
    cmd = [
        sys.executable,
        "-m",
        "serving.feature_transformer",
        *_kserve_flags(model_name, address),
        "--predictor_host",
        predictor_host,
        "--predictor_protocol",
        predictor_protocol,
    ]
    if feature_store is not None:
        cmd += ["--feature_store_catalog", feature_store.catalog, "--feature_store_uri", feature_store.data_path]
    return ServerProcess(cmd, _ready_url(model_name, address), log_path, env=dict(env or {}))


@contextmanager
def start_propensity_stack(
    model_ref: str | Path,
    log_dir: Path,
    *,
    model_name: str = DEFAULT_MODEL_NAME,
    with_transformer: bool = True,
    predictor_protocol: str = "grpc-v2",
    feature_store: FeatureStore | None = None,
    transformer_address: ServerAddress | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[PropensityStack]:
    """Start the predictor (and the transformer calling it over ``predictor_protocol``), wait until each is
    ready, yield their addresses, and stop both on exit. The predictor takes free ports, the transformer
    ``transformer_address`` (default: free ports too); logs go to ``log_dir``."""
    predictor_address = ServerAddress.free()
    with ExitStack() as running:
        processes = [
            running.enter_context(
                predictor_process(model_ref, predictor_address, Path(log_dir) / "predictor.log", model_name, env)
            )
        ]
        if with_transformer:
            transformer_address = transformer_address or ServerAddress.free()
            predictor_host = (
                predictor_address.grpc_target if predictor_protocol == "grpc-v2" else predictor_address.http_host
            )
            processes.append(
                running.enter_context(
                    transformer_process(
                        predictor_host,
                        transformer_address,
                        Path(log_dir) / "transformer.log",
                        model_name,
                        predictor_protocol,
                        feature_store,
                        env,
                    )
                )
            )
        yield PropensityStack(
            model_name, predictor_address, transformer_address if with_transformer else None, tuple(processes)
        )
