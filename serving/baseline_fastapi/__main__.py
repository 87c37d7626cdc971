"""``python -m serving.baseline_fastapi --model_dir DIR --port P``: the baseline app, uvicorn, loopback."""

import argparse
import gc

import uvicorn

from loyaltylens.config import get_settings
from loyaltylens.local.launcher import LOOPBACK
from serving.baseline_fastapi.app import create_app

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--model_dir", required=True)
parser.add_argument("--port", type=int, required=True)

if __name__ == "__main__":
    args = parser.parse_args()
    app = create_app(args.model_dir, get_settings().max_batch_size)
    gc.freeze()  # the same process tuning as the KServe servers, so only the serving stacks differ
    uvicorn.run(app, host=LOOPBACK, port=args.port, access_log=False, log_level="warning")
