"""``VAETransformer``: a VAE's encoder as a scikit-learn transformer (like ``PCA``).

    emb = VAETransformer(n_components=10, epochs=30).fit(X_train)
    Z = emb.transform(X)              # (n, 10) posterior means E_q[z|x] (Kingma & Welling 2014)
    X_hat = emb.inverse_transform(Z)  # decoder means, back in X's units (the run's saved preprocessing inverted)

``fit`` trains a vaekit run on X (``recipe`` with ``model.latent_dim = n_components``; a temporary
or given ``work_dir``), or wraps an existing run (``run=DIR``, whose latent size must equal
``n_components``). Works inside ``Pipeline`` and ``GridSearchCV`` (every parameter is settable and
the estimator clones). Codes are computed ``batch_size`` rows at a time; ``batch_size=1`` makes a
row's code independent of the other rows bit for bit (batched float32 products differ in the last bits).
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from vaekit.sklearn._base import MIN_SAMPLES, RunHolder, check_x, model_inputs, too_few, train_run


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, RunHolder, BaseEstimator):
    """Posterior means as features (see the module docstring). Fitted attributes: ``run_dir_``,
    ``n_features_in_``, ``n_components_`` (= ``_n_features_out``)."""

    _parameter_constraints: dict = {
        "recipe": [str],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "overrides": [tuple, list, dict, None],
        "run": [str, Path, None],
        "work_dir": [str, Path, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, recipe: str = "vae", *, n_components: int = 16, epochs: int | None = 30, overrides: Any = (),
                 run: str | Path | None = None, work_dir: str | Path | None = None, random_state: int = 0,
                 device: str = "cpu", batch_size: int = 1024) -> None:
        self.recipe = recipe
        self.n_components = n_components
        self.epochs = epochs
        self.overrides = overrides
        self.run = run
        self.work_dir = work_dir
        self.random_state = random_state
        self.device = device
        self.batch_size = batch_size

    def fit(self, X: Any, y: Any = None) -> "VAETransformer":
        """Train a run on X (or wrap ``run``). ``y`` is ignored (unsupervised)."""
        self._validate_params()
        X = check_x(self, X, reset=True)
        self._loaded = None
        if self.run is not None:
            self.run_dir_ = Path(self.run)
            latent = int(self._run().model.latent_dim)
            if latent != self.n_components:
                raise ValueError(f"the run in {self.run} has {latent} latent dimensions but n_components={self.n_components}")
        else:
            if len(X) < MIN_SAMPLES:
                raise too_few(len(X))
            overrides = list(self.overrides.items()) if isinstance(self.overrides, dict) else list(self.overrides or ())
            overrides = [f"{k}={v}" for k, v in overrides] if isinstance(self.overrides, dict) else overrides
            self.run_dir_ = train_run(X, recipe=self.recipe, epochs=self.epochs,
                                      overrides=[*overrides, f"model.latent_dim={self.n_components}"],
                                      seed=self.random_state, work_dir=self.work_dir, device=self.device)
        self.n_components_ = self._n_features_out = int(self.n_components)
        self._run()  # loaded now, so transform() leaves the estimator's state as fit left it
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n, n_features) -> (n, n_components) posterior means, float64."""
        from vaekit.tasks.embed import embed

        check_is_fitted(self, "run_dir_")
        X = check_x(self, X, reset=False)
        run = self._run()
        return embed(run.model, model_inputs(run, X), batch_size=self.batch_size).numpy().astype(np.float64)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """(n, n_components) codes -> (n, n_features) decoder means in the original units."""
        import torch

        from vaekit.data.preprocessing import Preprocessing

        check_is_fitted(self, "run_dir_")
        from sklearn.utils import check_array

        Z = check_array(X, dtype=np.float32)
        if Z.shape[1] != self.n_components_:
            raise ValueError(f"X has {Z.shape[1]} features, but the codes have {self.n_components_} (n_components)")
        run = self._run()
        with torch.no_grad():
            out = [run.model.decode(torch.from_numpy(Z[i : i + self.batch_size]).to(run.model.device)).mean.cpu()
                   for i in range(0, len(Z), self.batch_size)]
        x = torch.cat(out) if out else torch.zeros(0, *run.shape)
        pre = Preprocessing.from_json(run.dataset["preprocessing"])
        if pre.kind == "table":
            table = pre.invert(x)
            return np.column_stack([np.asarray(c, dtype=np.float64) for c in table.columns])
        raw = np.asarray(pre.invert(x), dtype=np.float64)
        return raw.reshape(len(raw), -1)
