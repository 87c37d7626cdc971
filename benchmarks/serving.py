"""Serving benchmark: latency and throughput of the propensity model behind each server, in one run.

Targets (all serving the same exported TorchScript model, batch-1 requests of one customer row):
  - KServe predictor (``python -m serving.propensity``): v2 REST, v2 gRPC (raw binary contents), v1 REST
  - TorchServe (``loyaltylens.local.torchserve``, one worker, the project's handler), v1 REST
  - a plain FastAPI app (``serving/baseline_fastapi``) under uvicorn: no batching, no protocol layers

For each target and concurrency (1, 8, 32) an asyncio load generator keeps that many requests in flight
over keep-alive connections for a bounded number of requests or seconds, and records p50/p99 latency and
requests per second; each server's resident memory (its whole process tree) is read after its load.
Everything runs on loopback. The model is untrained: serving cost does not depend on its weights.

    .venv/bin/python -m benchmarks.serving            # full run, recorded in BENCHMARKS.md
    .venv/bin/python -m benchmarks.serving --quick    # smoke run (fewer requests), printed only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import numpy as np
import psutil
from kserve import InferInput, InferRequest
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import GRPCInferenceServiceStub

from benchmarks.report import record
from loyaltylens.local import torchserve
from loyaltylens.local.launcher import LOOPBACK, ServerProcess, free_port
from loyaltylens.local.stack import PropensityStack, start_propensity_stack
from loyaltylens.propensity.contract import FeatureContract
from tests.model_samples import export_untrained_model, random_feature_rows

CONCURRENCIES = (1, 8, 32)
MODEL_NAME = "propensity"
ROW_POOL = 256  # distinct request rows, cycled


@dataclass(frozen=True)
class LoadBudget:
    requests: int  # per (target, concurrency) cell
    max_seconds: float
    warmup_requests: int


FULL = LoadBudget(requests=3000, max_seconds=8.0, warmup_requests=300)
QUICK = LoadBudget(requests=300, max_seconds=2.0, warmup_requests=50)


# --- request bodies ----------------------------------------------------------------------------------


def v2_json_body(row: np.ndarray) -> bytes:
    tensor = {"name": "features", "shape": [1, len(row)], "datatype": "FP32", "data": row.tolist()}
    return json.dumps({"inputs": [tensor]}).encode()


def v1_json_body(row: np.ndarray) -> bytes:
    return json.dumps({"instances": [row.tolist()]}).encode()


def v2_grpc_message(row: np.ndarray):
    tensor = InferInput("features", [1, len(row)], "FP32")
    tensor.set_data_from_numpy(row.reshape(1, -1), binary_data=True)
    return InferRequest(model_name=MODEL_NAME, infer_inputs=[tensor]).to_grpc()


# --- load generation -------------------------------------------------------------------------------------


async def run_load(send: Callable[[int], Awaitable[None]], concurrency: int, budget: LoadBudget) -> dict:
    """Keep ``concurrency`` calls of ``send(i)`` in flight until the budget is spent; latency stats in ms."""
    for i in range(budget.warmup_requests):
        await send(i)
    latencies: list[float] = []
    issued = 0
    deadline = time.perf_counter() + budget.max_seconds

    async def worker() -> None:
        nonlocal issued
        while issued < budget.requests and time.perf_counter() < deadline:
            issued += 1
            start = time.perf_counter()
            await send(issued)
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1e3
    return {
        "requests": len(latencies),
        "seconds": round(elapsed, 3),
        "req_per_s": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def http_sender(session: aiohttp.ClientSession, url: str, bodies: list[bytes], headers: dict[str, str]):
    async def send(i: int) -> None:
        async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}: {await response.text()}")

    return send


def grpc_sender(stub: GRPCInferenceServiceStub, messages: list):
    async def send(i: int) -> None:
        await stub.ModelInfer(messages[i % len(messages)])

    return send


async def measure_http(url: str, bodies: list[bytes], headers: dict[str, str], budget: LoadBudget) -> dict:
    results = {}
    for concurrency in CONCURRENCIES:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            results[concurrency] = await run_load(
                http_sender(session, url, bodies, headers), concurrency, budget
            )
    return results


async def measure_grpc(target: str, messages: list, budget: LoadBudget) -> dict:
    results = {}
    for concurrency in CONCURRENCIES:
        async with grpc.aio.insecure_channel(target) as channel:
            results[concurrency] = await run_load(
                grpc_sender(GRPCInferenceServiceStub(channel), messages), concurrency, budget
            )
    return results


def tree_rss_mb(processes: list[psutil.Process]) -> float:
    """Resident memory of the processes and all their descendants, in MB."""
    members = {p.pid: p for root in processes for p in [root, *root.children(recursive=True)]}
    total = 0
    for process in members.values():
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


# --- the targets -----------------------------------------------------------------------------------------

JSON_HEADERS = {"content-type": "application/json"}


def bench_kserve(stack: PropensityStack, rows: np.ndarray, budget: LoadBudget) -> dict:
    base = stack.predictor.http_url
    server = psutil.Process(stack.processes[0].pid)
    out = {
        "KServe v2 REST": asyncio.run(
            measure_http(
                f"{base}/v2/models/{MODEL_NAME}/infer", [v2_json_body(r) for r in rows], JSON_HEADERS, budget
            )
        ),
        "KServe v2 gRPC": asyncio.run(
            measure_grpc(stack.predictor.grpc_target, [v2_grpc_message(r) for r in rows], budget)
        ),
        "KServe v1 REST": asyncio.run(
            measure_http(
                f"{base}/v1/models/{MODEL_NAME}:predict",
                [v1_json_body(r) for r in rows],
                JSON_HEADERS,
                budget,
            )
        ),
    }
    rss = tree_rss_mb([server])
    return {name: {"cells": cells, "rss_mb": rss} for name, cells in out.items()}


def bench_torchserve(model_dir: Path, workdir: Path, rows: np.ndarray, budget: LoadBudget) -> dict:
    with torchserve.TorchServeServer(
        model_dir, workdir, MODEL_NAME, workers=1, threads_per_worker=1
    ) as server:
        headers = {**JSON_HEADERS, **server.inference_headers}
        cells = asyncio.run(
            measure_http(server.inference_url, [v1_json_body(r) for r in rows], headers, budget)
        )
        return {"TorchServe v1 REST": {"cells": cells, "rss_mb": tree_rss_mb(server.processes())}}


def bench_fastapi(model_dir: Path, log_dir: Path, rows: np.ndarray, budget: LoadBudget) -> dict:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "serving.baseline_fastapi",
        "--model_dir",
        str(model_dir),
        "--port",
        str(port),
    ]
    with ServerProcess(cmd, f"http://{LOOPBACK}:{port}/v2/health/ready", log_dir / "baseline.log") as server:
        url = f"http://{LOOPBACK}:{port}/v2/models/{MODEL_NAME}/infer"
        cells = asyncio.run(measure_http(url, [v2_json_body(r) for r in rows], JSON_HEADERS, budget))
        return {
            "FastAPI baseline (v2 JSON)": {
                "cells": cells,
                "rss_mb": tree_rss_mb([psutil.Process(server.pid)]),
            }
        }


def table_rows(results: dict) -> list[dict]:
    rows = []
    for target, result in results.items():
        for concurrency, cell in result["cells"].items():
            rows.append(
                {
                    "server / protocol": target,
                    "concurrency": concurrency,
                    "p50 ms": cell["p50_ms"],
                    "p99 ms": cell["p99_ms"],
                    "req/s": round(cell["req_per_s"]),
                    "RSS MB": round(result["rss_mb"]),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="Few requests per cell: a smoke run.")
    args = parser.parse_args()
    budget = QUICK if args.quick else FULL
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure; say how much there was

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        scratch = Path(scratch)
        model_dir = export_untrained_model(scratch / "model")
        rows = random_feature_rows(FeatureContract.load(model_dir), ROW_POOL)
        results: dict = {}
        with start_propensity_stack(model_dir, scratch / "logs", with_transformer=False) as kserve_stack:
            results.update(bench_kserve(kserve_stack, rows, budget))
        results.update(bench_torchserve(model_dir, scratch / "torchserve", rows, budget))
        results.update(bench_fastapi(model_dir, scratch / "logs", rows, budget))

    v2 = results["KServe v2 REST"]["cells"]
    checks = {
        "v2 REST p50 at concurrency 1 <= 1.5 ms": v2[1]["p50_ms"] <= 1.5,
        "v2 REST req/s at concurrency 32 > at concurrency 1": v2[32]["req_per_s"] > v2[1]["req_per_s"],
        "v2 REST req/s at concurrency 32 >= TorchServe's": (
            v2[32]["req_per_s"] >= results["TorchServe v1 REST"]["cells"][32]["req_per_s"]
        ),
    }
    rows_out = table_rows(results)
    for row in rows_out:
        print("  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    notes = (
        "Targets: "
        + "; ".join(f"{name}: {'met' if ok else 'NOT met'}" for name, ok in checks.items())
        + f". Per cell: {budget.requests} requests or {budget.max_seconds:.0f} s after "
        f"{budget.warmup_requests} warm-up requests, each one customer row. The load generator "
        "(aiohttp / grpc.aio, one process) shares the machine's CPUs with the server under test. "
        "TorchServe: one worker, one torch thread; KServe: one process, one torch thread, micro-batching. "
        f"1-minute load average before the run: {load_before:.1f} on {os.cpu_count()} CPUs."
    )
    print(notes)
    if args.quick:
        return  # a smoke run's figures are too few to replace the recorded ones
    path = record(
        name="serving",
        title="Serving: KServe (v1/v2 REST, v2 gRPC) vs TorchServe vs plain FastAPI",
        results={
            "budget": budget.__dict__,
            "load_average_before": load_before,
            "targets": results,
            "checks": checks,
        },
        rows=rows_out,
        notes=notes,
    )
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
