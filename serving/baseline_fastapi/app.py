"""The propensity model behind a plain FastAPI app: the floor the KServe server is measured against.

It speaks the JSON subset of the v2 infer call the benchmark sends (one FP32 ``features`` tensor in, one
``propensity`` tensor out), validates with the same feature contract, and scores each request on its own
inline: no micro-batching, no protocol layers, no metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from loyaltylens.errors import InvalidInputError
from loyaltylens.propensity.export import load_model_dir


def create_app(model_dir: Path, max_batch_size: int) -> FastAPI:
    torch.set_num_threads(1)
    model, contract = load_model_dir(model_dir)
    app = FastAPI(title="propensity baseline")

    @app.get("/v2/health/ready")
    async def ready() -> dict:
        return {"ready": True}

    @app.post("/v2/models/{model_name}/infer")
    async def infer(model_name: str, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            tensor = body["inputs"][0]
            matrix = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # orjson's decode error is a ValueError
            return JSONResponse({"error": f"malformed v2 request: {exc!r}"}, status_code=400)
        try:
            features = contract.validate_matrix(matrix, max_batch_size)
        except InvalidInputError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with torch.inference_mode():
            probabilities = model(torch.from_numpy(features))
        payload = {
            "model_name": model_name,
            "outputs": [
                {
                    "name": contract.output_name,
                    "datatype": "FP32",
                    "shape": list(probabilities.shape),
                    "data": probabilities.reshape(-1).tolist(),
                }
            ],
        }
        return Response(orjson.dumps(payload), media_type="application/json")

    return app
