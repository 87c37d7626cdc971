"""KFP's result cache must never stand in for a task with a side effect: on a backend a cache hit skips the
task, so the model would not be registered, the rejection not recorded, the offer index not written."""

import yaml

from pipelines import training

SIDE_EFFECT_TASKS = {"register-model", "record-rejection", "index-offers", "train-generator"}


def _tasks(path) -> dict[str, dict]:
    """Every task of the compiled IR (the first YAML document; the second is the platform spec), the root
    DAG's and those inside condition sub-DAGs."""
    ir = next(yaml.safe_load_all(path.read_text()))
    dags = [ir["root"]["dag"]] + [spec["dag"] for spec in ir["components"].values() if "dag" in spec]
    return {name: task for dag in dags for name, task in dag["tasks"].items()}


def test_side_effect_tasks_are_never_cached_in_the_compiled_ir(tmp_path):
    from kfp import compiler

    target = tmp_path / "training.yaml"
    compiler.Compiler().compile(training.pipeline, str(target))
    tasks = _tasks(target)
    assert SIDE_EFFECT_TASKS <= set(tasks)
    for name in SIDE_EFFECT_TASKS:
        assert not tasks[name].get("cachingOptions", {}).get("enableCache", False), name
    # the pure steps keep their cache: a rerun with the same inputs reuses them
    assert tasks["load-data"]["cachingOptions"]["enableCache"] is True


def test_the_committed_ir_has_the_same_caching():
    tasks = _tasks(training.COMPILED)
    assert [name for name in SIDE_EFFECT_TASKS if tasks[name].get("cachingOptions", {}).get("enableCache")] == []


def test_evaluation_emits_classification_metrics_for_the_kfp_ui():
    """The ROC curve and confusion matrix render in the KFP UI only from a system.ClassificationMetrics output."""
    ir = next(yaml.safe_load_all(training.COMPILED.read_text()))
    outputs = ir["components"]["comp-evaluate-model"]["outputDefinitions"]["artifacts"]
    assert outputs["classification"]["artifactType"]["schemaTitle"] == "system.ClassificationMetrics"


def test_the_retraining_pipeline_never_caches_what_reads_or_moves_services():
    from pipelines import retraining

    tasks = _tasks(retraining.COMPILED)
    uncached = {
        "check-triggers", "build-features", "train-generator", "register-model", "record-rejection",
        "evaluate-propensity-challenger", "promote-propensity-challenger", "keep-propensity-champion",
        "record-no-trigger",
    }  # fmt: skip
    assert uncached <= set(tasks)
    assert [name for name in uncached if tasks[name].get("cachingOptions", {}).get("enableCache")] == []
