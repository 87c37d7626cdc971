"""Make ``GET /v1/models/{name}`` describe the model's inputs, not just its readiness.

KServe answers that path with ``{"name", "ready"}`` only, and its v2 metadata schema has no room for
feature names or category labels. Registering this route on the server's app before KServe adds its own
makes it the one that answers: same status codes (404 unknown model, 503 not ready), plus the v2 tensor
metadata and the full feature contract (names, order, kinds, ranges, category codes) clients need to
build v1 records or v2 rows.
"""

from __future__ import annotations

from fastapi import FastAPI
from kserve.errors import ModelNotFound, ModelNotReady

from serving.propensity.model import PropensityModel


def add_description_route(app: FastAPI, model: PropensityModel) -> None:
    async def describe(model_name: str) -> dict:
        if model_name != model.name:
            raise ModelNotFound(model_name)
        if not model.ready:
            raise ModelNotReady(model_name)
        return {
            "name": model.name,
            "ready": True,
            "inputs": model.get_input_types(),
            "outputs": model.get_output_types(),
            "feature_contract": model.contract.to_dict(),
        }

    app.add_api_route("/v1/models/{model_name}", describe, methods=["GET"], tags=["V1"])
