"""What the scikit-learn estimators share: turn X (n_samples, n_features) into a trained vaekit run
(or wrap an existing one), and X into model inputs through the run's *saved* preprocessing.

Training writes X to ``work_dir`` (a fresh temporary folder when None) as ``data.npz`` and trains
a run there with :func:`vaekit.training.fit` on the data spec ``npz:data.npz``: vaekit's own
seeded 80/10/10 split, early stopping on its validation part, preprocessing fitted on its
training part (8-bit data ÷ 255, other numbers min-max scaled per feature) and saved in the run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

MIN_SAMPLES = 10  # vaekit's 80/10/10 split needs at least one validation and one test example


def check_x(est: Any, X: Any, *, reset: bool) -> np.ndarray:
    """scikit-learn's input validation (2-D, finite, numeric, n_features_in_ kept / checked)."""
    from sklearn.utils.validation import validate_data

    return validate_data(est, X, reset=reset, dtype="numeric", ensure_min_features=1)


def too_few(n: int) -> ValueError:
    return ValueError(
        f"Found array with {n} sample(s) (n_samples = {n}) while a minimum of {MIN_SAMPLES} is required: "
        "vaekit splits the data 80/10/10 into training, validation and test examples"
    )


def train_run(X: np.ndarray, *, recipe: str, epochs: int | None, overrides: Any, seed: int,
              work_dir: str | Path | None, device: str) -> Path:
    """Train a run on the rows of X; returns its directory (``work_dir/run``)."""
    from vaekit.artifacts.lock import RunLock
    from vaekit.core.config import load_recipe, parse_overrides
    from vaekit.training import fit

    folder = Path(tempfile.mkdtemp(prefix="vaekit-sklearn-")) if work_dir is None else Path(work_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = (folder / "data.npz").resolve()
    with open(data, "wb") as fh:  # np.savez on a file object keeps the exact name
        np.savez(fh, x=np.ascontiguousarray(X))
    config = load_recipe(recipe)
    # Grey values, not coin flips: a feature vector is not an image of ink probabilities.
    config = config.with_overrides({"data": {"binarize": "none"}}, source="vaekit.sklearn")
    if overrides:
        items = list(overrides.items()) if isinstance(overrides, dict) else None
        nested = parse_overrides([f"{k}={v}" for k, v in items] if items is not None else list(overrides))
        config = config.with_overrides(nested)
    explicit: dict[str, Any] = {"data": {"name": f"npz:{data}"}, "train": {"seed": int(seed), "device": device}}
    if epochs is not None:
        explicit["train"]["epochs"] = int(epochs)
    config = config.with_overrides(explicit, source="estimator parameters")
    run_dir = folder / "run"
    if run_dir.exists():  # a refit in the same work_dir replaces the previous run
        import shutil

        shutil.rmtree(run_dir)
    lock = RunLock(run_dir, action="train")
    lock.acquire()
    try:
        fit(config, run_dir, resume=False, progress=False)
    finally:
        lock.release()
    return run_dir


def model_inputs(run: Any, X: np.ndarray) -> "Any":
    """X (n, d) through the run's saved preprocessing -> the float tensor the model sees."""
    from vaekit.data.preprocessing import Preprocessing

    pre = run.dataset.get("preprocessing")
    if pre is None:
        raise ValueError(f"{run.path} has no saved preprocessing (an old run); retrain it")
    pre = Preprocessing.from_json(pre)
    if pre.kind == "table":
        from vaekit.data import Table

        names = pre.names
        if X.shape[1] != len(names):
            raise ValueError(f"X has {X.shape[1]} features, but the run's table has {len(names)} columns ({', '.join(names)})")
        return pre.apply(Table(tuple(names), tuple(np.asarray(X[:, j]) for j in range(X.shape[1]))))
    raw_shape = tuple(pre.to_json().get("raw_shape") or ())
    if X.shape[1:] != raw_shape:
        if int(np.prod(raw_shape)) == X.shape[1]:  # flattened images of the run's shape
            X = X.reshape(len(X), *raw_shape)
        else:
            raise ValueError(f"X has {X.shape[1]} features, but the run's examples have raw shape {raw_shape}")
    return pre.apply(X)


class RunHolder:
    """Loads ``self.run_dir_`` on first use and pickles the directory, not the torch model."""

    run_dir_: Path
    device: str

    def _run(self) -> Any:
        if getattr(self, "_loaded", None) is None:
            from vaekit.artifacts.load import load

            self._loaded = load(self.run_dir_, device=self.device)
        return self._loaded

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in [k for k in state if k.startswith("_loaded") or k == "_background"]:
            state.pop(key)
        return state
