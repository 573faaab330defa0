"""Serving: export a run as a SavedModel that takes raw strings, for TF Serving.

- `graph.py`: the serving contract (input `text`, the outputs per task) and the
  in-graph serving function; writes the SavedModel (TensorFlow backend).
- `export.py`: `export_run`, `ExportResult`: a verified version directory, from
  a run trained on any backend.
- `layout.py`: TF Serving's `NAME/VERSION/` directories.
- `runs.py`: the trained run's side: loading it, verification texts, reference answers.
- `verify.py`: the SavedModel reloaded in a fresh process (`python -m keras_clx.serving.verify`).
- `process.py`: the subprocesses' plumbing.
- `client.py`: `predict_saved_model`, rows as `Run.predict` formats them.

Nothing here is imported by `training/`, `models/`, `data/` or `evaluation/`.
"""
