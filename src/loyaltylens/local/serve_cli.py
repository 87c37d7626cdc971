"""``loyaltylens serve ...``: run the KServe servers locally as child processes on loopback.

    loyaltylens serve propensity [--model-dir DIR | --model-uri URI] [--http-port 8080 --grpc-port 8081]
    loyaltylens serve transformer --predictor-host 127.0.0.1:8081 [--predictor-protocol grpc-v2]
    loyaltylens serve all [--model-dir DIR | --model-uri URI]
    loyaltylens serve generator [--model-dir DIR | --model-uri URI] [--http-port 8100 --grpc-port 8101]
    loyaltylens serve offers [--model-dir DIR | --model-uri URI] [--port 8060]

Without a model the registry's champion is served (``models:/<propensity_model_name>@champion`` from the
configured MLflow tracking URI; for the generator ``settings.generator_model_uri``). Each command prints the
URLs, then runs until Ctrl-C.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from loyaltylens.config import get_settings
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.local.launcher import LOOPBACK, ServerProcess
from loyaltylens.local.stack import (
    DEFAULT_MODEL_NAME,
    ServerAddress,
    generator_process,
    offers_process,
    predictor_process,
    start_propensity_stack,
    transformer_process,
)
from loyaltylens.runtime.model_source import champion_uri

app = typer.Typer(
    help="Serve with KServe: the propensity model (predictor, feature transformer, or both) or the copy generator;"
    " and the offer API over them."
)
console = Console()

ModelDir = Annotated[Path | None, typer.Option(help="Exported model directory (model.pt + feature_contract.json).")]
ModelUri = Annotated[str | None, typer.Option(help="MLflow registry URI; default: the champion alias.")]
ModelName = Annotated[str, typer.Option(help="Model name in the URL paths.")]
HttpPort = Annotated[int, typer.Option(help="REST port.")]
GrpcPort = Annotated[int, typer.Option(help="gRPC port.")]
PredictorProtocol = Annotated[str, typer.Option(help="How the transformer calls the predictor: v2 or grpc-v2.")]


def _model_ref(model_dir: Path | None, model_uri: str | None) -> str:
    if model_dir and model_uri:
        raise typer.BadParameter("give --model-dir or --model-uri, not both")
    return str(model_dir or model_uri or champion_uri(get_settings()))


def _log_dir() -> Path:
    return get_settings().data_dir / "logs" / "serve"


def _print_address(role: str, address: ServerAddress, model_name: str) -> None:
    console.print(
        f"{role:<12} REST {address.http_url}/v1/models/{model_name}:predict  "
        f"{address.http_url}/v2/models/{model_name}/infer  gRPC {address.grpc_target}"
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _handle_sigterm_like_ctrl_c() -> None:
    """``kill`` must stop the servers too: they run in their own sessions and would outlive the CLI. Ctrl-C is
    set explicitly as well: Python leaves SIGINT ignored when the parent ignored it (a shell's background job,
    ``nohup``, a test runner), and the CLI would then never stop."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)


def _wait_until_interrupted(servers: Sequence[ServerProcess]) -> None:
    """Block until Ctrl-C / SIGTERM, or fail when a server exits on its own; the caller stops the servers."""
    console.print("[dim]Ctrl-C to stop; logs in " + ", ".join(str(s.log_path) for s in servers) + "[/dim]")
    try:
        while True:
            for server in servers:
                if server.process.poll() is not None:
                    raise LoyaltyLensError(
                        f"server exited with code {server.process.returncode}; see {server.log_path}"
                    )
            time.sleep(0.5)
    except KeyboardInterrupt:
        console.print("stopping")


@app.command()
def propensity(
    model_dir: ModelDir = None,
    model_uri: ModelUri = None,
    model_name: ModelName = DEFAULT_MODEL_NAME,
    http_port: HttpPort = 8080,
    grpc_port: GrpcPort = 8081,
) -> None:
    """Serve the propensity predictor (v1 + v2 REST, v2 gRPC)."""
    _handle_sigterm_like_ctrl_c()
    address = ServerAddress(http_port, grpc_port)
    model_ref = _model_ref(model_dir, model_uri)
    with predictor_process(model_ref, address, _log_dir() / "predictor.log", model_name) as server:
        _print_address("predictor", address, model_name)
        _wait_until_interrupted([server])


@app.command()
def transformer(
    predictor_host: Annotated[str, typer.Option(help="Predictor host:port (the gRPC port for grpc-v2).")],
    predictor_protocol: PredictorProtocol = "grpc-v2",
    model_name: ModelName = DEFAULT_MODEL_NAME,
    http_port: HttpPort = 8090,
    grpc_port: GrpcPort = 8091,
) -> None:
    """Serve the feature transformer in front of a running predictor (features from the settings' store)."""
    _handle_sigterm_like_ctrl_c()
    address = ServerAddress(http_port, grpc_port)
    log_path = _log_dir() / "transformer.log"
    with transformer_process(predictor_host, address, log_path, model_name, predictor_protocol) as server:
        _print_address("transformer", address, model_name)
        _wait_until_interrupted([server])


@app.command("all")
def serve_all(
    model_dir: ModelDir = None,
    model_uri: ModelUri = None,
    model_name: ModelName = DEFAULT_MODEL_NAME,
    predictor_protocol: PredictorProtocol = "grpc-v2",
    http_port: Annotated[int, typer.Option(help="Transformer REST port (the predictor takes free ports).")] = 8080,
    grpc_port: Annotated[int, typer.Option(help="Transformer gRPC port.")] = 8081,
) -> None:
    """Serve the predictor and the feature transformer in front of it."""
    _handle_sigterm_like_ctrl_c()
    with start_propensity_stack(
        _model_ref(model_dir, model_uri),
        _log_dir(),
        model_name=model_name,
        predictor_protocol=predictor_protocol,
        transformer_address=ServerAddress(http_port, grpc_port),
    ) as stack:
        _print_address("predictor", stack.predictor, stack.model_name)
        _print_address("transformer", stack.transformer, stack.model_name)
        _wait_until_interrupted(stack.processes)


@app.command()
def generator(
    model_dir: Annotated[
        Path | None, typer.Option(help="Generator model directory (generator.json + weights).")
    ] = None,
    model_uri: ModelUri = None,
    model_name: ModelName = "generator",
    http_port: HttpPort = 8100,
    grpc_port: GrpcPort = 8101,
) -> None:
    """Serve the offer-copy generator (v1 + v2 REST, v2 gRPC, OpenAI-compatible /openai/v1)."""
    if model_dir and model_uri:
        raise typer.BadParameter("give --model-dir or --model-uri, not both")
    _handle_sigterm_like_ctrl_c()
    address = ServerAddress(http_port, grpc_port)
    model_ref = str(model_dir or model_uri or get_settings().generator_model_uri)
    with generator_process(model_ref, address, _log_dir() / "generator.log", model_name) as server:
        _print_address("generator", address, model_name)
        console.print(f"{'':<12} OpenAI {address.http_url}/openai/v1")
        _wait_until_interrupted([server])


@app.command()
def offers(model_dir: ModelDir = None, model_uri: ModelUri = None, port: HttpPort = 8060) -> None:
    """Serve the offer API: POST /v1/offers (the decision chain for 1..N customers), /metrics, /docs."""
    _handle_sigterm_like_ctrl_c()
    model_ref = _model_ref(model_dir, model_uri)
    with offers_process(model_ref, port, _log_dir() / "offers.log") as server:
        console.print(f"offers       http://{LOOPBACK}:{port}/v1/offers  metrics /metrics  API /docs  ({model_ref})")
        _wait_until_interrupted([server])
