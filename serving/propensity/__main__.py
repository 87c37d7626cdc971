"""``python -m serving.propensity --model_name propensity --model_dir DIR --http_port P --grpc_port G``.

Takes every KServe model-server flag, plus where the model comes from: ``--model_dir`` or
``--model_uri`` (default: the registry's champion, ``models:/<propensity_model_name>@champion``).
"""

import argparse
import gc

from kserve import ModelServer, model_server

from loyaltylens.config import get_settings
from loyaltylens.runtime.batching import DEFAULT_MAX_BATCH_ROWS, DEFAULT_WINDOW_S
from loyaltylens.runtime.model_source import champion_uri
from serving.propensity.description import add_description_route
from serving.propensity.model import PropensityModel

parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__)
source = parser.add_mutually_exclusive_group()
source.add_argument("--model_dir", help="Exported model directory (model.pt + feature_contract.json).")
source.add_argument("--model_uri", help="MLflow registry URI, e.g. models:/loyaltylens-propensity@champion.")
parser.add_argument(
    "--max_batch_rows", type=int, default=DEFAULT_MAX_BATCH_ROWS, help="Micro-batch row limit."
)
parser.add_argument(
    "--batch_window_ms", type=float, default=DEFAULT_WINDOW_S * 1000, help="Micro-batch window."
)

if __name__ == "__main__":
    args = parser.parse_args()
    settings = get_settings()
    model = PropensityModel(
        args.model_name,
        args.model_dir or args.model_uri or champion_uri(settings),
        tracking_uri=settings.tracking_uri,
        download_root=settings.models_dir,
        max_batch_size=settings.max_batch_size,
        max_batch_rows=args.max_batch_rows,
        batch_window_s=args.batch_window_ms / 1000,
    )
    model.load()
    add_description_route(model_server.app, model)
    # Everything imported and loaded so far lives as long as the process: frozen, full garbage collections
    # stop walking it (measured: p99 at concurrency 32 from ~200 ms to ~45 ms).
    gc.freeze()
    ModelServer().start([model])
