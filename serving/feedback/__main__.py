"""``python -m serving.feedback [--host H] [--port P]``: the feedback service on the settings' store, uvicorn."""

import argparse

import uvicorn

from loyaltylens.config import get_settings
from loyaltylens.feedback.api import create_app
from loyaltylens.feedback.store import open_feedback_store
from loyaltylens.local.launcher import LOOPBACK

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--host", default=LOOPBACK, help="Interface to bind (0.0.0.0 in a pod).")
parser.add_argument("--port", type=int, default=8070)

if __name__ == "__main__":
    args = parser.parse_args()
    settings = get_settings()
    with open_feedback_store(settings) as store:
        app = create_app(store, settings.feedback_ui_dir)
        # uvloop and httptools (uvicorn[standard]) named, not left to "auto": the write path's CPU per request
        # is mostly the server's, and the pure-Python fallbacks would quietly double it.
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
