"""``python -m serving.feature_transformer --model_name propensity --predictor_host HOST:PORT --http_port P``.

Takes every KServe model-server flag. The predictor is called over v2 REST (``--predictor_protocol v2``,
the default here) or gRPC (``grpc-v2``); v1 cannot carry the feature tensor. Features are read from the
feature store the settings name (``LOYALTYLENS_FEATURE_STORE_CATALOG`` / ``_URI``, from the ConfigMap on a
cluster), or the one given by ``--feature_store_catalog`` and ``--feature_store_uri``. Requests with
``offer_ids`` need a store version with offer tables and a predictor serving the offer-aware (pair) model.
"""

import argparse
import gc

from kserve import ModelServer, PredictorConfig, model_server

from loyaltylens.config import get_settings
from loyaltylens.features.store import FeatureStore
from serving.feature_transformer.model import FeatureTransformer

parser = argparse.ArgumentParser(parents=[model_server.parser], description=__doc__)
parser.add_argument("--feature_store_catalog", help="DuckLake catalog of the feature store (default: settings).")
parser.add_argument("--feature_store_uri", help="Data path of the feature store (default: settings).")
parser.set_defaults(predictor_protocol="v2")

if __name__ == "__main__":
    args = parser.parse_args()
    if not args.predictor_host:
        parser.error("--predictor_host is required")
    if args.predictor_protocol == "v1":
        parser.error(
            "--predictor_protocol must be v2 or grpc-v2: the predictor is sent a v2 'features' tensor"
        )
    settings = get_settings()
    overrides = {"feature_store_catalog": args.feature_store_catalog, "feature_store_uri": args.feature_store_uri}
    settings = settings.model_copy(update={key: value for key, value in overrides.items() if value})
    store = FeatureStore.from_settings(settings)
    transformer = FeatureTransformer(args.model_name, store, max_batch_size=settings.max_batch_size)
    transformer.load()
    gc.freeze()  # as in serving.propensity: full collections skip the long-lived import-time heap
    predictor_config = PredictorConfig(
        predictor_host=args.predictor_host,
        predictor_protocol=args.predictor_protocol,
        predictor_use_ssl=args.predictor_use_ssl,
        predictor_request_timeout_seconds=args.predictor_request_timeout_seconds,
        predictor_request_retries=args.predictor_request_retries,
        predictor_health_check=args.enable_predictor_health_check,
    )
    # KServe's own defaults come from its import-time parse of argv, which knows nothing of our v2 default.
    ModelServer(predictor_config=predictor_config).start([transformer])
