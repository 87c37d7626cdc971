"""``python -m serving.offers [--host H] [--port P]``: the offer API on the settings' champion, uvicorn, JSON logs.
``python -m serving.offers --openapi FILE`` writes its OpenAPI document instead (docs/offers-openapi.json)."""

import argparse
import json
from pathlib import Path

import uvicorn

from loyaltylens.config import get_settings
from loyaltylens.decision.offers import LazyService
from loyaltylens.decision.telemetry import OfferMetrics, configure_json_logging
from loyaltylens.local.launcher import LOOPBACK
from serving.offers.app import create_app, openapi_document

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default=LOOPBACK, help="Interface to bind (0.0.0.0 in a pod).")
parser.add_argument("--port", type=int, default=8060)
parser.add_argument("--model", default=None, help="Model dir or models:/ URI (default: the champion).")
parser.add_argument("--openapi", type=Path, default=None, help="Write the OpenAPI document here and exit.")

if __name__ == "__main__":
    args = parser.parse_args()
    if args.openapi is not None:
        args.openapi.write_text(json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n")
    else:
        configure_json_logging()
        settings, metrics = get_settings(), OfferMetrics()
        service = LazyService.from_settings(settings, metrics, args.model)
        uvicorn.run(create_app(service, metrics), host=args.host, port=args.port, access_log=False)
