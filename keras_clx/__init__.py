"""keras-clx: zero-shot cross-lingual text classification with Keras 3.

The public API is re-exported here and imported on first use, so that
`import keras_clx` (and the CLI) does not import Keras before the backend is chosen.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # recipes and runs
    "Recipe": "keras_clx.recipes",
    "load_recipe": "keras_clx.recipes",
    "base_recipe": "keras_clx.recipes",
    "apply_overrides": "keras_clx.recipes",
    "check_recipe": "keras_clx.recipe_check",
    "fit": "keras_clx.runs",
    "evaluate": "keras_clx.experiment",
    "load_run": "keras_clx.experiment",
    "Run": "keras_clx.experiment",
    "RunDir": "keras_clx.run_dir",
    "LeaveOneOutRun": "keras_clx.multisource",
    # studies: seeds x variants, paired statistics
    "run_study": "keras_clx.study",
    "make_plan": "keras_clx.study",
    "StudyPlan": "keras_clx.study_plan",
    "study_report": "keras_clx.study_report",
    # data
    "Example": "keras_clx.data.records",
    "Span": "keras_clx.data.records",
    "LabelVocabulary": "keras_clx.data.records",
    "CrossLingualCorpus": "keras_clx.data.corpus",
    "LanguageData": "keras_clx.data.corpus",
    "DemoConfig": "keras_clx.data.demo",
    "make_demo_corpus": "keras_clx.data.demo",
    "load_corpus": "keras_clx.data.datasets",
    "read_mtod": "keras_clx.data.readers",
    "read_mldoc": "keras_clx.data.readers",
    "read_table": "keras_clx.data.table",
    "read_texts": "keras_clx.data.readers",
    "read_semeval": "keras_clx.data.semeval",
    "read_xnli": "keras_clx.data.pairs",
    "read_pawsx": "keras_clx.data.pairs",
    "read_conll": "keras_clx.data.conll",
    "token_dataset": "keras_clx.data.token_pipeline",
    "read_dictionary": "keras_clx.data.dictionaries",
    "CodeSwitcher": "keras_clx.data.code_switch",
    # models
    "build_backbone": "keras_clx.models.backbones",
    "SequenceClassifier": "keras_clx.models.sequence_classifier",
    "TokenClassifier": "keras_clx.models.token_classifier",
    # masked-LM pretraining on multilingual unlabelled text
    "pretrain": "keras_clx.pretraining",
    "PretrainResult": "keras_clx.pretraining",
    "sampling_rates": "keras_clx.pretraining",
    # export for TF Serving
    "export_run": "keras_clx.serving.export",
    "predict_saved_model": "keras_clx.serving.client",
    "ExportResult": "keras_clx.serving.export",
    # transfer train step: embedding perturbation (paper 000), instance weighting (paper 004)
    "TransferConfig": "keras_clx.training.steps",
    "TransferGuard": "keras_clx.training.guard_rails",
    "instance_weights": "keras_clx.training.weighting",
    "paired_dataset": "keras_clx.data.pipeline",
    "predict_texts": "keras_clx.data.pipeline",
    # self-training (paper 000)
    "SelfTrainingCallback": "keras_clx.training.self_training",
    "SelfTrainingSettings": "keras_clx.training.rounds",
    "select_pseudo_labels": "keras_clx.training.selection",
    "SoftLabelCrossentropy": "keras_clx.training.selection",
    "LabelAccuracy": "keras_clx.training.selection",
    "RoundSchedule": "keras_clx.training.round_schedule",
    "RoundHistory": "keras_clx.training.round_history",
    # evaluation
    "Report": "keras_clx.evaluation.report",
    "entity_scores": "keras_clx.evaluation.entity_f1",
    # errors
    "ClxError": "keras_clx.errors",
    "DataError": "keras_clx.errors",
    "RecipeError": "keras_clx.errors",
    "DivergenceError": "keras_clx.errors",
    "DivergenceGuard": "keras_clx.training.divergence",
    "TrainingCheckpoint": "keras_clx.training.checkpoints",
    "BestEpoch": "keras_clx.training.epoch_eval",
    "DevEvaluation": "keras_clx.training.epoch_eval",
    "ScalarLogger": "keras_clx.training.scalars",
    "LinearWarmupDecay": "keras_clx.training.optimization",
    "SmoothedSparseCrossentropy": "keras_clx.training.losses",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_clx' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
