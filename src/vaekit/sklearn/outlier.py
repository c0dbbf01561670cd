"""``VAEOutlierDetector``: a VAE as a scikit-learn outlier detector (the API of IsolationForest /
OneClassSVM, with PyOD's extras).

    det = VAEOutlierDetector(epochs=30, contamination=0.05).fit(X_train)
    det.predict(X)            # +1 inlier, -1 outlier (scikit-learn's convention)
    det.score_samples(X)      # higher = more normal: log p(x) estimate (nats) for score="iwae"
    det.decision_function(X)  # score_samples - offset_: negative = outlier
    det.anomaly_score(X)      # higher = more anomalous (PyOD's decision_function convention)

``fit`` trains a vaekit run on X (:mod:`vaekit.sklearn._base`: a temporary or given ``work_dir``)
or, with ``run=DIR``, wraps an existing run without training. Scores are computed ``batch_size``
examples at a time with draws shared by every example, so an example's score does not depend on
the other rows of X — up to the last bits of float32 arithmetic, which vary with the batch size;
``batch_size=1`` makes it bit for bit (and scoring several times slower). New data always goes through the
run's saved preprocessing (never re-fitted). The scores are those of
:func:`vaekit.tasks.anomaly.anomaly_scores`: ``"iwae"`` (IW-k NLL, Burda et al. 2015, default),
``"elbo"``, ``"recon"``, ``"excess"`` (IW-k NLL minus the Bernoulli entropy of the input,
the input-complexity correction in the spirit of Serrà et al. 2020), or ``"ratio"`` (the ``method`` parameter) (Ren et al. 2019: a second, *background* run is trained on
X perturbed at rate ``background_rate``, and the score is the difference of the two NLLs).
``offset_`` is the ``contamination`` quantile of the training scores, so that fraction of the
training rows is predicted an outlier.
"""

from __future__ import annotations

from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from vaekit.sklearn._base import MIN_SAMPLES, RunHolder, check_x, model_inputs, too_few, train_run


class VAEOutlierDetector(OutlierMixin, RunHolder, BaseEstimator):
    """Outlier detection with a VAE's likelihood (see the module docstring).

    Parameters: ``recipe`` (a vaekit recipe, default ``"vae"``), ``epochs`` (None: the recipe's,
    with its early stopping), ``overrides`` (``--set`` strings or a dict, e.g.
    ``{"model.latent_dim": 8}``), ``method`` (the score: iwae, elbo, recon, excess or ratio), ``k`` (importance samples), ``contamination`` (the
    expected fraction of outliers, in (0, 0.5]), ``background_rate`` (for ``method="ratio"``),
    ``run`` (an existing run directory: wrap it, train nothing), ``work_dir`` (where runs are
    trained; None: a temporary folder), ``random_state`` (training and scoring seed), ``device``, ``batch_size`` (examples scored per pass).

    Fitted attributes: ``run_dir_``, ``background_dir_`` (``method="ratio"``), ``offset_``,
    ``decision_scores_`` (anomaly scores of the training rows, higher = more anomalous, as PyOD),
    ``threshold_`` (the anomaly score above which a row is an outlier), ``n_features_in_``.
    """

    _parameter_constraints: dict = {
        "recipe": [str],
        "epochs": [Interval(Integral, 1, None, closed="left"), None],
        "overrides": [tuple, list, dict, None],
        "method": [StrOptions({"iwae", "elbo", "recon", "excess", "ratio"})],
        "k": [Interval(Integral, 1, None, closed="left")],
        "contamination": [Interval(Real, 0, 0.5, closed="right")],
        "background_rate": [Interval(Real, 0, 1, closed="neither")],
        "run": [str, Path, None],
        "work_dir": [str, Path, None],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "device": [str],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, recipe: str = "vae", *, epochs: int | None = 30, overrides: Any = (), method: str = "iwae",
                 k: int = 50, contamination: float = 0.1, background_rate: float = 0.2, run: str | Path | None = None,
                 work_dir: str | Path | None = None, random_state: int = 0, device: str = "cpu",
                 batch_size: int = 256) -> None:
        self.recipe = recipe
        self.epochs = epochs
        self.overrides = overrides
        self.method = method
        self.k = k
        self.contamination = contamination
        self.background_rate = background_rate
        self.run = run
        self.work_dir = work_dir
        self.random_state = random_state
        self.device = device
        self.batch_size = batch_size

    # ------------------------------------------------------------------------- fitting
    def fit(self, X: Any, y: Any = None) -> "VAEOutlierDetector":
        """Train a run on X (or wrap ``run``), then set ``offset_`` from X's scores. ``y`` is ignored."""
        self._validate_params()
        X = check_x(self, X, reset=True)
        self._loaded = None
        self._background = None
        if self.run is not None:
            self.run_dir_ = Path(self.run)
            self.background_dir_ = None
            if self.method == "ratio":
                raise ValueError("method='ratio' trains its background model on X: use it without run=, or pick another score")
        else:
            if len(X) < MIN_SAMPLES:
                raise too_few(len(X))
            self.run_dir_ = train_run(X, recipe=self.recipe, epochs=self.epochs, overrides=self.overrides,
                                      seed=self.random_state, work_dir=self._folder("model"), device=self.device)
            self.background_dir_ = None
            if self.method == "ratio":
                self.background_dir_ = self._train_background(X)
        self.decision_scores_ = self._anomaly(X)
        self.threshold_ = float(np.percentile(self.decision_scores_, 100.0 * (1.0 - self.contamination)))
        self.offset_ = -self.threshold_
        return self

    def _folder(self, name: str) -> Path | None:
        return None if self.work_dir is None else Path(self.work_dir) / name

    def _train_background(self, X: np.ndarray) -> Path:
        """Ren et al. 2019: the same model trained on X with a fraction of its values replaced by noise
        (drawn in the run's [0, 1] scale, then mapped back to X's units through the saved preprocessing)."""
        from vaekit.data.preprocessing import Preprocessing
        from vaekit.tasks.anomaly import perturb

        run = self._run()
        pre = Preprocessing.from_json(run.dataset["preprocessing"])
        levels = pre.levels if pre.kind != "table" else None
        noisy = perturb(self._inputs(X).numpy(), self.background_rate, levels=levels, seed=self.random_state + 7)
        raw = pre.invert(noisy)
        raw = raw.reshape(len(X), -1) if pre.kind != "table" else X
        return train_run(np.asarray(raw, dtype=X.dtype), recipe=self.recipe, epochs=self.epochs, overrides=self.overrides,
                         seed=self.random_state, work_dir=self._folder("background"), device=self.device)

    # ------------------------------------------------------------------------- the loaded runs
    def _background_run(self) -> Any:
        if getattr(self, "_background", None) is None and self.background_dir_ is not None:
            from vaekit.artifacts.load import load

            self._background = load(self.background_dir_, device=self.device)
        return getattr(self, "_background", None)

    def _inputs(self, X: np.ndarray) -> Any:
        return model_inputs(self._run(), X)

    def _anomaly(self, X: np.ndarray) -> np.ndarray:
        """Anomaly scores of raw rows X; each run sees X through its own saved preprocessing."""
        from vaekit.tasks.anomaly import anomaly_scores

        if self.method != "ratio":
            return anomaly_scores(self._run(), self._inputs(X), score=self.method, k=self.k, seed=self.random_state,
                                  batch_size=self.batch_size)
        # Ren et al. 2019: -log p_theta(x) + log p_theta0(x), both IW-k estimates.
        bg = self._background_run()
        main = anomaly_scores(self._run(), self._inputs(X), score="iwae", k=self.k, seed=self.random_state, batch_size=self.batch_size)
        back = anomaly_scores(bg, model_inputs(bg, X), score="iwae", k=self.k, seed=self.random_state + 1,
                              batch_size=self.batch_size)
        return main - back

    # ------------------------------------------------------------------------- scoring
    def anomaly_score(self, X: Any) -> np.ndarray:
        """Higher = more anomalous (nats; PyOD's ``decision_function`` convention)."""
        check_is_fitted(self, "offset_")
        X = check_x(self, X, reset=False)
        return self._anomaly(X)

    def score_samples(self, X: Any) -> np.ndarray:
        """Higher = more normal (scikit-learn's convention): minus :meth:`anomaly_score`."""
        return -self.anomaly_score(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples(X) - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def __sklearn_tags__(self):  # noqa: D105
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags
