"""vaekit.sklearn estimators: scikit-learn's own estimator checks, plus behaviour on real data."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from vaekit.sklearn import VAEOutlierDetector, VAETransformer

# The checks fit dozens of times on tiny random data: a tiny net for 1 epoch keeps each fit short.
TINY = ["model.net.hidden=[16]", "model.latent_dim=2"]


# batch_size=1: check_methods_subset_invariance compares scores of a batch and of its parts to
# rtol 1e-7, and batched float32 products differ in the last bits with the batch size; scored one
# example at a time they are bit for bit equal (the default batch of 256 is for speed).
@parametrize_with_checks([VAEOutlierDetector(epochs=1, k=4, overrides=TINY, batch_size=1),
                          VAETransformer(n_components=2, epochs=1, overrides=TINY, batch_size=1)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    return load_digits(return_X_y=True)


@pytest.fixture(scope="module")
def detector(digits, tmp_path_factory):
    X, y = digits
    work = tmp_path_factory.mktemp("detector")
    return VAEOutlierDetector(epochs=30, k=20, contamination=0.05, work_dir=work).fit(X[y == 0])


def test_detector_on_real_digits(detector, digits):
    X, y = digits
    # Zeros are the normal class: the other digits score as anomalies (held-out AUROC well above chance).
    assert roc_auc_score(y != 0, detector.anomaly_score(X)) > 0.9
    # contamination: that fraction of the training rows is predicted an outlier.
    train_pred = detector.predict(X[y == 0])
    assert set(np.unique(train_pred)) <= {-1, 1}
    assert abs((train_pred == -1).mean() - 0.05) < 0.02
    assert np.allclose(detector.decision_function(X[:7]), detector.score_samples(X[:7]) - detector.offset_)
    assert np.allclose(detector.score_samples(X[:7]), -detector.anomaly_score(X[:7]))
    assert (detector.run_dir_ / "model.safetensors").is_file()
    assert detector.threshold_ == pytest.approx(-detector.offset_)


def test_wrapping_an_existing_run_and_pickling(detector, digits):
    X, y = digits
    wrapped = VAEOutlierDetector(run=detector.run_dir_, k=20, contamination=0.05).fit(X[y == 0])
    assert np.array_equal(wrapped.score_samples(X[:30]), detector.score_samples(X[:30]))
    again = pickle.loads(pickle.dumps(detector))
    assert np.array_equal(again.score_samples(X[:10]), detector.score_samples(X[:10]))
    params = clone(detector).get_params()
    assert params["contamination"] == 0.05 and params["k"] == 20


def test_ratio_score_trains_a_background_run(digits, tmp_path):
    X, y = digits
    det = VAEOutlierDetector(epochs=10, k=10, method="ratio", overrides=TINY, work_dir=tmp_path).fit(X[y == 1])
    assert (det.background_dir_ / "model.safetensors").is_file() and det.background_dir_ != det.run_dir_
    s = det.anomaly_score(X[:50])
    assert s.shape == (50,) and np.isfinite(s).all()


def test_bad_input(detector, digits):
    X, y = digits
    with pytest.raises(ValueError, match="features"):
        detector.score_samples(X[:5, :10])
    with pytest.raises(ValueError):
        detector.score_samples(np.full((3, 64), np.nan))
    with pytest.raises(ValueError, match="n_samples = 3"):
        VAEOutlierDetector(epochs=1).fit(X[:3])
    with pytest.raises(ValueError, match="contamination"):
        VAEOutlierDetector(contamination=0.9).fit(X[:20])
    with pytest.raises(ValueError, match="method"):
        VAEOutlierDetector(method="magic").fit(X[:20])
    with pytest.raises(ValueError, match="ratio"):
        VAEOutlierDetector(run=detector.run_dir_, method="ratio").fit(X[:20])


def test_transformer_in_pipeline_and_grid_search(digits, tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    X, y = digits
    X, y = X[:600], y[:600]
    emb = VAETransformer(n_components=8, epochs=15, overrides=TINY[:1])
    Z = emb.fit_transform(X)
    assert Z.shape == (600, 8) and Z.dtype == np.float64
    assert list(emb.get_feature_names_out()) == [f"vaetransformer{i}" for i in range(8)]
    back = emb.inverse_transform(Z[:5])
    assert back.shape == (5, 64) and back.min() >= 0 and back.max() <= 16  # digits' own units
    # Reconstructions through the codes are closer to their inputs than to other rows.
    d_own = np.abs(back - X[:5]).mean()
    d_other = np.abs(back - X[5:10]).mean()
    assert d_own < d_other
    pipe = Pipeline([("vae", VAETransformer(epochs=5, overrides=TINY[:1])), ("clf", LogisticRegression(max_iter=300))])
    search = GridSearchCV(pipe, {"vae__n_components": [2, 6]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["vae__n_components"] in (2, 6)
    assert search.score(X, y) > 0.3  # far above chance (0.1)
    with pytest.raises(ValueError, match="n_components"):
        VAETransformer(n_components=3, run=emb.run_dir_).fit(X)
    with pytest.raises(ValueError, match="features"):
        emb.inverse_transform(np.zeros((2, 3)))


@pytest.mark.slow  # ~10 s of CPU; the functions it drives are covered by the fast tests above
def test_embeddings_bench_quick(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from conftest import cli_env

    root = Path(__file__).resolve().parents[1]
    docs = tmp_path / "quick.md"
    proc = subprocess.run([sys.executable, str(root / "bench" / "bench_embeddings.py"), "--quick", "--results",
                           str(tmp_path / "r.jsonl"), "--docs", str(docs)], env=cli_env(), capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<!-- bench:embeddings -->" in docs.read_text() and '"split": "test"' in (tmp_path / "r.jsonl").read_text()
