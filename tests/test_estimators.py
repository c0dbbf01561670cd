"""Evaluation estimators (vaekit.artifacts.metrics) on a small trained model, and save -> load.

The model is a 4-d MLP VAE trained for a few hundred steps on binarised scikit-learn digits
(about a second on one thread), so the posterior is far from the prior and the IWAE bound is
visibly tighter than the ELBO. Monte-Carlo comparisons are made on paired differences over
repeated seeds; each states its tolerance as a multiple of the estimated standard error (SE).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pytest
import torch

import vaekit
from vaekit.artifacts import rundir
from vaekit.artifacts.metrics import evaluate_arrays, importance_stats
from vaekit.core.build import BuildContext
from vaekit.core.config import Config
from vaekit.core.types import Batch, StepContext
from vaekit.models import build_model
from vaekit.objectives import build_objective

SHAPE = (1, 8, 8)
LATENT = 4
Z_TOL = 5.0  # tolerance in standard errors for every Monte-Carlo comparison


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x = torch.from_numpy((load_digits().images > 8).astype("float32"))[:, None]  # (1797, 1, 8, 8) in {0, 1}
    return x[:1500], x[1500:1564]


@pytest.fixture(scope="module")
def trained(digits) -> torch.nn.Module:
    train, _ = digits
    torch.manual_seed(0)
    ctx = BuildContext(shape=SHAPE, levels=2)
    model = build_model({"name": "vae", "net": {"name": "mlp", "hidden": [64]}, "latent_dim": LATENT}, ctx)
    objective = build_objective({"name": "elbo"}, ctx)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(400):
        batch = train[torch.randint(0, len(train), (64,), generator=gen)]
        loss = objective(model, Batch(batch), StepContext())
        opt.zero_grad()
        loss.total.backward()
        opt.step()
    model.eval()
    return model


def _evaluate(model, x, *, k: int, seed: int, chunk: int = 100) -> dict:
    torch.manual_seed(seed)
    return evaluate_arrays(model, [Batch(x)], k=k, chunk=chunk)


def _mean_se(values: list[float]) -> tuple[float, float]:
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std() / math.sqrt(len(t)))


# -- bound ordering ----------------------------------------------------------------------

SEEDS = range(8)


@pytest.fixture(scope="module")
def bounds(trained, digits) -> dict[int, list[dict]]:
    _, test = digits
    return {k: [_evaluate(trained, test, k=k, seed=s) for s in SEEDS] for k in (1, 10, 100, 1000)}


@pytest.mark.parametrize(("small", "big"), [(10, 100), (100, 1000), (1, 1000)])
def test_iwae_bound_does_not_decrease_with_k(bounds, small: int, big: int) -> None:
    """E[IWAE_k] <= E[IWAE_k'] for k < k': paired over seeds, the mean of
    nll_k - nll_k' must not be below 0 by more than 5 SE."""
    diffs = [a["nll"] - b["nll"] for a, b in zip(bounds[small], bounds[big])]
    mean, se = _mean_se(diffs)
    assert mean >= -Z_TOL * se, (mean, se)


def test_elbo_is_below_iwae(bounds) -> None:
    """ELBO <= IWAE_10 (= -nll at k=10), and here strictly: the gap exceeds 5 SE."""
    diffs = [-b10["nll"] - b1000["elbo"] for b10, b1000 in zip(bounds[10], bounds[1000])]
    mean, se = _mean_se(diffs)
    assert mean - Z_TOL * se > 0, (mean, se)


def test_iwae_strictly_tighter_with_many_samples(bounds) -> None:
    """The trained posterior is not exact, so IWAE_100 is clearly tighter than IWAE_1."""
    diffs = [a["nll"] - b["nll"] for a, b in zip(bounds[1], bounds[100])]
    mean, se = _mean_se(diffs)
    assert mean - Z_TOL * se > 0, (mean, se)


def test_elbo_estimate_does_not_depend_on_k(bounds) -> None:
    """The ELBO (analytic KL, MC reconstruction) estimates the same quantity at every k."""
    e1 = [r["elbo"] for r in bounds[1]]
    e1000 = [r["elbo"] for r in bounds[1000]]
    m1, se1 = _mean_se(e1)
    m2, se2 = _mean_se(e1000)
    assert abs(m1 - m2) <= Z_TOL * math.hypot(se1, se2), (m1, m2, se1, se2)


def test_nll_with_one_sample_is_minus_elbo(trained, digits) -> None:
    """At k = 1 the IWAE estimate is the single-sample ELBO, log p(x|z) + log p(z) - log q(z|x);
    it agrees with the reported (analytic-KL) ELBO in expectation: |mean(nll + elbo)| <= 5 SE
    over 20 seeds."""
    _, test = digits
    diffs = []
    for s in range(20):
        r = _evaluate(trained, test, k=1, seed=100 + s)
        diffs.append(r["nll"] + r["elbo"])
    mean, se = _mean_se(diffs)
    assert se > 0
    assert abs(mean) <= Z_TOL * se, (mean, se)


def test_one_sample_log_mean_w_is_mean_log_w(trained, digits) -> None:
    _, test = digits
    torch.manual_seed(0)
    stats = importance_stats(trained, Batch(test), k=1, chunk=1)
    assert torch.allclose(stats["log_mean_w"], stats["mean_log_w"], atol=1e-4)


def test_streaming_logsumexp_matches_direct_computation(trained, digits) -> None:
    """The chunked running log-sum-exp gives the same per-example bound as one logsumexp
    over all k log-weights drawn with the same RNG state."""
    _, test = digits
    x = test[:16]
    k = 50
    torch.manual_seed(5)
    stats = importance_stats(trained, Batch(x), k=k, chunk=7)
    torch.manual_seed(5)
    with torch.no_grad():  # the same draws, chunk by chunk (each chunk draws (7, B, L) at once)
        q = trained.encode(x)
        z = torch.cat([q.sample((min(7, k - i),)) for i in range(0, k, 7)])
        log_px = trained.decode(z.flatten(0, 1)).log_prob(x.repeat(k, 1, 1, 1)).view(k, -1)
        log_w = log_px + trained.prior().log_prob(z) - q.log_prob(z)
    assert torch.allclose(stats["log_mean_w"], torch.logsumexp(log_w, 0) - math.log(k), atol=1e-4)
    assert torch.allclose(stats["mean_log_w"], log_w.mean(0), atol=1e-4)
    assert torch.allclose(stats["mean_log_px"], log_px.mean(0), atol=1e-4)


# -- exact identities --------------------------------------------------------------------

def test_bits_per_dim_is_nll_over_d_ln2(trained, digits) -> None:
    _, test = digits
    r = _evaluate(trained, test, k=20, seed=0)
    assert r["dims"] == 64
    assert r["n_examples"] == len(test)
    assert r["bits_per_dim"] == r["nll"] / (64 * math.log(2))


def test_chunking_does_not_change_the_estimate(trained, digits) -> None:
    """Same seed, k = 200 drawn in one chunk of 200 or in chunks of 7: the chunks consume the
    RNG identically (q.sample draws element by element in the same order), so the samples, and
    the numbers, are the same up to float summation order."""
    _, test = digits
    a = _evaluate(trained, test, k=200, seed=3, chunk=200)
    b = _evaluate(trained, test, k=200, seed=3, chunk=7)
    for key in ("nll", "elbo", "recon", "kl"):
        assert abs(a[key] - b[key]) < 1e-4, key
    c = _evaluate(trained, test, k=200, seed=4, chunk=200)
    assert abs(a["nll"] - c["nll"]) > 1e-6, "a different seed must give different samples"


def test_batches_are_averaged_per_example(trained, digits) -> None:
    """Splitting the data into batches changes nothing but the RNG use: nll, elbo, kl and
    active-unit statistics are per-example averages. KL is analytic, so it agrees exactly."""
    _, test = digits
    torch.manual_seed(0)
    whole = evaluate_arrays(trained, [Batch(test)], k=5, chunk=5)
    torch.manual_seed(0)
    parts = evaluate_arrays(trained, [Batch(test[:10]), Batch(test[10:40]), Batch(test[40:])], k=5, chunk=5)
    assert parts["n_examples"] == whole["n_examples"] == len(test)
    assert parts["kl"] == pytest.approx(whole["kl"], rel=1e-5)
    assert parts["kl_per_dim"] == pytest.approx(whole["kl_per_dim"], rel=1e-5)
    assert sum(whole["kl_per_dim"]) == pytest.approx(whole["kl"], rel=1e-5)
    assert parts["posterior_mean_variance"] == pytest.approx(whole["posterior_mean_variance"], rel=1e-4)


# -- active units ------------------------------------------------------------------------

def test_active_units_counts_dims_with_posterior_mean_variance_above_threshold(trained, digits) -> None:
    """Rescale the rows of the posterior head that produce mu_d so that Var_x(mu_d) is
    exactly 0 (zeroed), 0.005, 0.02 and 1.0: only the last two exceed 0.01."""
    _, test = digits
    model = copy.deepcopy(trained)
    head = model.posterior.head  # Linear(F, 2L): rows [0, L) give mu, rows [L, 2L) log sigma^2
    with torch.no_grad():
        mu_var = model.encode(test).mean.var(0, unbiased=True)
        assert (mu_var > 0).all()
        targets = torch.tensor([0.0, 0.005, 0.02, 1.0])
        factor = torch.sqrt(targets / mu_var)
        head.weight[:LATENT] *= factor[:, None]
        head.bias[:LATENT] *= factor
    r = _evaluate(model, test, k=1, seed=0)
    assert r["latent_dim"] == LATENT
    assert r["posterior_mean_variance"] == pytest.approx(targets.tolist(), rel=1e-3, abs=1e-7)
    assert r["active_units"] == 2


def test_zeroed_posterior_head_has_no_active_units(trained, digits) -> None:
    _, test = digits
    model = copy.deepcopy(trained)
    with torch.no_grad():
        model.posterior.head.weight[:LATENT] = 0.0
    assert _evaluate(trained, test, k=1, seed=0)["active_units"] == LATENT
    assert _evaluate(model, test, k=1, seed=0)["active_units"] == 0


# -- save -> load ------------------------------------------------------------------------

SAVE_CASES = [
    ("mlp", "bernoulli", "per_pixel", (1, 8, 8)),
    ("mlp", "gaussian", "shared", (1, 8, 8)),
    ("mlp", "gaussian", "per_pixel", (20,)),
    ("mlp", "logistic", "per_pixel", (1, 8, 8)),
    ("conv", "bernoulli", "per_pixel", (1, 8, 8)),
    ("conv", "gaussian", "shared", (3, 13, 11)),
    ("conv", "logistic", "per_pixel", (1, 8, 8)),
]


@pytest.mark.parametrize(
    ("net", "likelihood", "variance", "shape"), SAVE_CASES,
    ids=[f"{n}-{lik}-{v}-{'x'.join(map(str, s))}" for n, lik, v, s in SAVE_CASES],
)
def test_save_then_load_gives_identical_outputs(tmp_path: Path, net, likelihood, variance, shape) -> None:
    from vaekit.artifacts.complete import complete_config

    widths = {"channels": [8, 16]} if net == "conv" else {"hidden": [32, 16]}
    lik = {"name": likelihood, **({"variance": variance} if likelihood == "gaussian" else {})}
    cfg = complete_config(Config().with_overrides({"model": {
        "net": {"name": net, **widths}, "latent_dim": LATENT, "likelihood": lik,
    }}))
    levels = 17
    torch.manual_seed(0)
    model = build_model(cfg.model, BuildContext(shape=shape, levels=levels))
    with torch.no_grad():  # weights no fresh init could reproduce, incl. the shared scale
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    model.eval()
    rundir.save_tensors(tmp_path / rundir.MODEL, model.state_dict(), metadata={"epoch": "1"})
    rundir.write_json(tmp_path / rundir.CONFIG, cfg.to_dict())
    rundir.write_json(tmp_path / rundir.DATASET, {
        "name": "synthetic", "shape": list(shape), "levels": levels, "n_classes": None,
        "scaling": "none", "is_image": len(shape) == 3, "n_train": 1, "n_val": 1, "n_test": 1, "format_version": 2,
    })

    torch.manual_seed(1)  # the loaded model's fresh init must be fully overwritten
    run = vaekit.load(tmp_path)
    loaded = run.model
    assert run.config == cfg
    assert run.shape == shape
    assert not loaded.training
    assert set(loaded.state_dict()) == set(model.state_dict())

    gen = torch.Generator().manual_seed(2)
    x = torch.randint(0, levels, (5, *shape), generator=gen).float() / (levels - 1)
    z = torch.randn(5, LATENT, generator=gen)
    with torch.no_grad():
        q0, q1 = model.encode(x), loaded.encode(x)
        assert torch.equal(q0.mean, q1.mean)
        assert torch.equal(q0.stddev, q1.stddev)
        p0, p1 = model.decode(z), loaded.decode(z)
        assert torch.equal(p0.mean, p1.mean)
        assert torch.equal(p0.log_prob(x), p1.log_prob(x))
        assert torch.equal(
            model.sample(3, generator=torch.Generator().manual_seed(9)),
            loaded.sample(3, generator=torch.Generator().manual_seed(9)),
        )
