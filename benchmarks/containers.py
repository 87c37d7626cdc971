"""Containers benchmark: the images (`make images`) and what running in them costs.

One run measures:
  * image build time with the layer cache warm (``scripts/build-images.sh`` with nothing changed), and the
    cold figures of a first build when given ``--cold FILE`` (the ``.loyaltylens/images.json`` that build wrote);
  * each image's size;
  * wall time of the training pipeline with every task in the train image (kfp.local ``DockerRunner``) against
    the subprocess runner (the baseline), same population, both against the same local services;
  * serve-container cold start: ``docker run`` of the predictor (model pulled from ``models:/…@champion`` over
    the tracking server) until its ready endpoint answers, and its idle memory (``docker stats``).

Run from the repository root (dockerd up, images built):
    .venv/bin/python -m benchmarks.containers [--customers N] [--cold .loyaltylens/images-cold.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.report import ROOT, record
from components import TRAIN_IMAGE
from loyaltylens.config import get_settings
from loyaltylens.kfp_runner.containers import SERVE_IMAGE, container_service_env, in_container
from loyaltylens.kfp_runner.runner import run_local
from loyaltylens.local.services import local_services
from loyaltylens.local.stack import ServerAddress, predictor_process
from loyaltylens.propensity.registry import ModelRegistry
from loyaltylens.runtime.model_source import champion_uri

PERMISSIVE_GATE = {"gate_min_auc": 0.5, "gate_max_ece": 0.5, "gate_max_baseline_auc_gap": 1.0}


def build_cached() -> dict:
    start = time.perf_counter()
    subprocess.run(["scripts/build-images.sh"], cwd=ROOT, check=True, capture_output=True)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "per_image": json.loads((ROOT / ".loyaltylens" / "images.json").read_text())}


def image_bytes(image: str) -> int:
    return int(subprocess.check_output(["docker", "image", "inspect", "-f", "{{.Size}}", image], text=True))


def pipeline_seconds(arguments: dict, runner: str, workdir: Path) -> tuple[float, dict[str, str], dict]:
    """One training run against fresh local services; the subprocess runner gets per-task scratch dirs."""
    os.environ["LOYALTYLENS_DATA_DIR"] = str(workdir / "services")
    get_settings.cache_clear()
    with local_services(get_settings()) as services:
        os.environ.update(services.env)
        os.environ["LOYALTYLENS_DATA_DIR"] = str(workdir / "driver")
        os.environ["LOYALTYLENS_TASK_SCRATCH"] = "true"
        get_settings.cache_clear()
        settings = get_settings()
        run = run_local("training", arguments, settings, settings.logs_dir / "run.log", runner)
        if runner == "docker":
            ModelRegistry.from_settings(settings).ensure_champion()
            serving = serve_cold_start(settings, workdir)
        else:
            serving = {}
    for key in services.env:
        os.environ.pop(key)
    return run.seconds, run.task_status, serving


def serve_cold_start(settings, workdir: Path) -> dict:
    address = ServerAddress.free()
    predictor = predictor_process(champion_uri(settings), address, workdir / "predictor.log")
    with container_service_env(settings) as env:
        server = in_container(predictor, SERVE_IMAGE, env)
        start = time.perf_counter()
        with server:
            ready_s = time.perf_counter() - start
            time.sleep(5)  # idle: loaded, no requests
            name = server.cmd[server.cmd.index("--name") + 1]
            stats = subprocess.check_output(["docker", "stats", "--no-stream", "--format", "{{.MemUsage}}", name])
    return {"ready_seconds": ready_s, "idle_memory": stats.decode().split("/")[0].strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1500)
    parser.add_argument("--cold", type=Path, help="images.json of a cold build (scripts/build-images.sh)")
    args = parser.parse_args()
    arguments = {"n_customers": args.customers, "n_days": 150, "max_epochs": 2, "generator_train_steps": 30}
    arguments |= PERMISSIVE_GATE
    cached = build_cached()
    sizes = {image: image_bytes(image) for image in (TRAIN_IMAGE, SERVE_IMAGE)}
    with tempfile.TemporaryDirectory(prefix="bench-containers-") as tmp:
        subprocess_s, subprocess_tasks, _ = pipeline_seconds(arguments, "subprocess", Path(tmp) / "subprocess")
        docker_s, docker_tasks, serving = pipeline_seconds(arguments, "docker", Path(tmp) / "docker")
    cold = json.loads(args.cold.read_text()) if args.cold else {}
    results = {
        "arguments": arguments,
        "build_cached": cached,
        "build_cold": cold,
        "image_bytes": sizes,
        "pipeline_seconds": {"docker": docker_s, "subprocess": subprocess_s},
        "task_status": {"docker": docker_tasks, "subprocess": subprocess_tasks},
        "serve_container": serving,
    }
    rows = [
        {"measure": f"image size {image.rsplit('/', 1)[-1]}", "value": f"{size / 1e9:.2f} GB"}
        for image, size in sizes.items()
    ]
    rows += [
        {"measure": f"cold build {target} (no layer cache; base image exists)", "value": f"{info['seconds']:.0f} s"}
        for target, info in cold.items()
    ]
    rows += [
        {"measure": "cached rebuild, both images (nothing changed)", "value": f"{cached['seconds']:.1f} s"},
        {"measure": f"training pipeline, {args.customers} customers, DockerRunner", "value": f"{docker_s:.0f} s"},
        {"measure": "same, SubprocessRunner (baseline)", "value": f"{subprocess_s:.0f} s"},
        {"measure": "ratio docker / subprocess", "value": f"{docker_s / subprocess_s:.2f}x"},
        {
            "measure": "serve container cold start to ready (predictor, model from registry)",
            "value": f"{serving['ready_seconds']:.1f} s",
        },  # fmt: skip
        {"measure": "serve container idle memory (predictor)", "value": serving["idle_memory"]},
    ]
    notes = (
        "Machine shared with other sessions while measured (2 cores). Images: Debian bookworm base made with "
        "debootstrap (no registry reachable), CPU-only torch 2.13.0+cpu from this machine's wheel dir."
    )
    record(
        "containers", "Container images: build, size, pipeline in containers, serving cold start", results, rows, notes
    )
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
