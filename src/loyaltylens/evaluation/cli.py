"""``loyaltylens eval run``: score a prompt version × a generator on the eval set; exit 1 when the gate fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(help="Evaluate prompt and generator versions on the versioned eval set.", no_args_is_help=True)
console = Console()


@app.command("run")
def run(
    prompt: Annotated[str | None, typer.Option(help="Prompt version or alias (default: production).")] = None,
    generator: Annotated[str, typer.Option(help="template, or backend (the configured copy backend).")] = "template",
    out: Annotated[Path | None, typer.Option(help="Directory for eval.json + eval.html.")] = None,
) -> None:
    """Evaluate; exit 1 when the prompt's eval thresholds are not met."""
    from loyaltylens.evaluation.harness import run_eval

    result = run_eval(prompt, generator, out_dir=out)
    for metric, value in result.means.items():
        console.print(f"{metric:>13}: {value:.3f}")
    verdict = "passed" if result.passed else "FAILED: " + "; ".join(result.reasons)
    console.print(f"{result.prompt} x {result.generator}: aggregate {result.aggregate:.3f} {verdict} "
                  f"(MLflow run {result.run_id})", highlight=False, soft_wrap=True)  # fmt: skip
    if not result.passed:
        raise typer.Exit(1)


@app.command("gate-generator")
def gate_generator(
    challenger: Annotated[str, typer.Option(help="Generator version or alias to gate.")] = "challenger",
) -> None:
    """The generator gate: the production prompt through the challenger and the champion generator versions;
    promote (an audited @champion move) or keep the champion and record why. Exit 1 when refused."""
    from loyaltylens.evaluation.generator_gate import gate_generator_challenger

    decision, run_id = gate_generator_challenger(challenger=challenger)
    verdict = "promoted" if decision.promote else "refused: " + "; ".join(decision.reasons)
    console.print(f"generator {challenger}: {verdict} (gate run {run_id})", highlight=False, soft_wrap=True)
    if not decision.promote:
        raise typer.Exit(1)
