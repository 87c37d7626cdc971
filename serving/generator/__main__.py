"""``python -m serving.generator --model_name generator --http_port P [--model_dir DIR | --model_uri URI]``.

Takes every KServe model-server flag, plus where the model comes from: ``--model_dir`` or ``--model_uri``
(default: ``settings.generator_model_uri``, i.e. ``models:/loyaltylens-generator@champion``).
"""

import argparse

from kserve import ModelServer, model_server

from loyaltylens.config import get_settings
from loyaltylens.generation.model_store import resolve_generator_dir
from serving.generator.model import MAX_PROMPTS_PER_REQUEST, GeneratorModel
from serving.generator.openai_api import add_openai_routes

parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__)
source = parser.add_mutually_exclusive_group()
source.add_argument("--model_dir", help="Generator model directory (see loyaltylens.generation.local_model).")
source.add_argument("--model_uri", help="MLflow registry URI, e.g. models:/loyaltylens-generator@champion.")
parser.add_argument("--max_batch_rows", type=int, default=16, help="Most prompts generated in one batch.")
parser.add_argument("--batch_window_ms", type=float, default=5.0, help="How long a busy batch waits for company.")

if __name__ == "__main__":
    args = parser.parse_args()
    settings = get_settings()
    model = GeneratorModel(
        args.model_name,
        resolve_generator_dir(args.model_dir or args.model_uri or settings.generator_model_uri, settings),
        max_batch_size=MAX_PROMPTS_PER_REQUEST,
        max_batch_rows=args.max_batch_rows,
        batch_window_s=args.batch_window_ms / 1000,
    )
    model.load()
    add_openai_routes(model_server.app, model)
    ModelServer().start([model])
