"""The MLflow registry, generic over what is registered: model directories (propensity models, the local copy
generator) in :mod:`.models`, and the audit of alias moves (prompts and models alike) in :mod:`.audit`.

Everything goes through an explicit ``MlflowClient`` (:func:`.tracking.registry_client`), never MLflow's
process-global tracking URI, so one process can use several registries. An unreachable tracking store is a
:class:`loyaltylens.errors.ServiceUnavailableError`, never "not registered" or an empty list.
"""
