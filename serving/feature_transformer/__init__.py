"""KServe transformer: customer ids, or (customer, offer) id pairs -> feature store -> propensity predictor.

``python -m serving.feature_transformer --model_name propensity --predictor_host HOST:PORT``
"""
