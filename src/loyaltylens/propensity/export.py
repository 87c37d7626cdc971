"""Export a trained model as a self-contained directory: TorchScript file + feature contract.

Layout of a model directory (what the registry stores and every server loads):
    model.pt              TorchScript (torch.jit.script) taking raw features [N, F] -> probabilities [N, 1]
    feature_contract.json feature order, kinds, ranges and category codes (see contract.py)
    model.onnx            optional (``export_onnx``): the same graph in ONNX, for runtimes that load ONNX
                          (SageMaker's reference design), checked against eager with onnxruntime
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from loyaltylens.data.io import file_digest
from loyaltylens.errors import LoyaltyLensError
from loyaltylens.propensity.contract import CONTRACT_FILENAME, FeatureContract

MODEL_FILENAME = "model.pt"
ONNX_FILENAME = "model.onnx"
ONNX_OPSET = 17
# torch 2.x marks torch.jit as deprecated in favour of torch.export; TorchScript is still what TorchServe,
# KServe's pytorch runtime and SageMaker load, so the warning is expected here and silenced at these calls.
_JIT_DEPRECATION = r"`torch\.jit\.(script|load)` is deprecated"
PARITY_TOLERANCE = 1e-5


def export_model(
    model: torch.nn.Module, contract: FeatureContract, out_dir: Path, parity_rows: torch.Tensor | None = None
) -> Path:
    """Script ``model`` into ``out_dir/model.pt`` beside its contract; check eager/script parity on ``parity_rows``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=FutureWarning)
        scripted = torch.jit.script(model)
    if parity_rows is not None:
        with torch.no_grad():
            diff = (scripted(parity_rows) - model(parity_rows)).abs().max().item()
        if diff > PARITY_TOLERANCE:
            raise LoyaltyLensError(f"TorchScript parity check failed: max abs diff {diff:.2e} > {PARITY_TOLERANCE}")
    scripted.save(str(out_dir / MODEL_FILENAME))
    contract.save(out_dir / CONTRACT_FILENAME)
    return out_dir


def export_onnx(model: torch.nn.Module, contract: FeatureContract, out_dir: Path, parity_rows: torch.Tensor) -> Path:
    """Write ``model`` as ``out_dir/model.onnx`` (input ``contract.input_name`` ``[N, F]``, output
    ``contract.output_name`` ``[N, 1]``, dynamic batch) and check it against eager with onnxruntime."""
    import onnxruntime  # the train image has it; servers that never export need not

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ONNX_FILENAME
    model = model.eval()
    with warnings.catch_warnings():
        # The TorchScript-based exporter is the one that needs no extra packages (onnxscript); deprecated, not gone.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            model,
            (parity_rows[:1],),
            str(path),
            input_names=[contract.input_name],
            output_names=[contract.output_name],
            dynamic_axes={contract.input_name: {0: "batch"}, contract.output_name: {0: "batch"}},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {contract.input_name: parity_rows.numpy()})
    with torch.no_grad():
        diff = float(abs(onnx_out - model(parity_rows).numpy()).max())
    if diff > PARITY_TOLERANCE:
        raise LoyaltyLensError(f"ONNX parity check failed: max abs diff {diff:.2e} > {PARITY_TOLERANCE}")
    return path


def model_digest(model_dir: Path) -> str:
    """The identity of the TorchScript model in ``model_dir``: a hash of its bytes, the same wherever a registered
    version is downloaded to. The predictor answers with it as the v2 ``model_version``, so a client holding the
    margin model registered beside it can tell that both belong to the same version."""
    return file_digest(Path(model_dir) / MODEL_FILENAME)


def load_model_dir(model_dir: Path) -> tuple[torch.jit.ScriptModule, FeatureContract]:
    """Load a model directory written by :func:`export_model`, ready for inference on CPU."""
    model_dir = Path(model_dir)
    for name in (MODEL_FILENAME, CONTRACT_FILENAME):
        if not (model_dir / name).is_file():
            raise LoyaltyLensError(f"model directory {model_dir} has no {name}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=FutureWarning)
        model = torch.jit.load(str(model_dir / MODEL_FILENAME), map_location="cpu").eval()
    return model, FeatureContract.load(model_dir / CONTRACT_FILENAME)
