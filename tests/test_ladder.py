"""The ladder VAE (Sønderby et al. 2016): its merge, its bound, its generative path, and the
combinations it refuses. Training, resume and every task run through the recipe contract."""

from __future__ import annotations

import math

import numpy as np

import pytest
import torch
from torch.distributions import Independent, Normal

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, StepContext, log_weights
from vaekit.models import build_model
from vaekit.models.ladder import precision_weighted
from vaekit.objectives import build_objective

CTX = BuildContext(shape=(1, 8, 8), n_train=100)
SPEC = {"name": "ladder", "latent_dims": [6, 4, 2], "hidden": [16, 8], "net": {"name": "mlp", "hidden": [32, 16]}}


def _model(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model({**SPEC, **changes}, CTX)


def _x(n: int = 5) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 1, 8, 8), 0.3), generator=torch.Generator().manual_seed(1))


def test_merge_is_the_product_of_the_two_gaussians() -> None:
    # N(a, A) N(b, B) ∝ N((a/A + b/B) / (1/A + 1/B), 1 / (1/A + 1/B)); checked on a grid of z.
    mu_hat, lv_hat, mu_p, lv_p = torch.tensor([0.7]), torch.tensor([-0.4]), torch.tensor([-1.2]), torch.tensor([0.9])
    mu_q, lv_q = precision_weighted(mu_hat, lv_hat, mu_p, lv_p)
    z = torch.linspace(-4, 4, 101)
    log_product = Normal(mu_hat, lv_hat.mul(0.5).exp()).log_prob(z) + Normal(mu_p, lv_p.mul(0.5).exp()).log_prob(z)
    log_q = Normal(mu_q, lv_q.mul(0.5).exp()).log_prob(z)
    difference = log_product - log_q  # constant in z iff q is the normalised product
    assert torch.allclose(difference, difference[0].expand_as(difference), atol=1e-5)
    # The merge is dominated by the more precise of the two.
    mu_q, _ = precision_weighted(torch.tensor([1.0]), torch.tensor([-10.0]), torch.tensor([-1.0]), torch.tensor([5.0]))
    assert abs(float(mu_q) - 1.0) < 1e-3


def test_layers_shapes_and_log_densities() -> None:
    model, x = _model(), _x()
    out = model(x, samples=3)
    assert [latent.z.shape for latent in out.latents] == [(3, 5, 6), (3, 5, 4), (3, 5, 2)]  # bottom first
    for latent in out.latents:
        assert latent.log_q.shape == latent.log_p.shape == (3, 5)
        assert latent.analytic_kl.shape == (5,) and latent.kl_per_dim.shape == (5, latent.z.shape[-1])
        assert torch.allclose(latent.kl_per_dim.sum(-1), latent.analytic_kl, atol=1e-5)
        # Each layer's recorded log q is q's density at its own draw.
        assert torch.allclose(latent.q.log_prob(latent.z), latent.log_q)
    assert out.px.batch_shape == (3, 5)
    assert log_weights(out, x).shape == (3, 5)


def test_analytic_kl_matches_the_monte_carlo_estimate() -> None:
    # KL of the bottom layer given its parent: analytic vs. mean of log q - log p over many draws.
    model, x = _model(), _x(2)
    torch.manual_seed(3)
    with torch.no_grad():
        out = model(x, samples=20_000)
    for latent in out.latents:
        mc = (latent.log_q - latent.log_p).mean(0)
        assert torch.allclose(mc, latent.analytic_kl, atol=0.05 + 0.03 * float(latent.analytic_kl.abs().max()))


def test_importance_weighted_bound_is_tighter_than_the_elbo() -> None:
    model, x = _model(), _x(4)
    torch.manual_seed(0)
    with torch.no_grad():
        log_w = log_weights(model(x, samples=2_000), x)  # (S, B)
    elbo = log_w.mean(0)
    iwae = torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
    assert bool((iwae >= elbo).all()) and bool((iwae - elbo > 0.01).any())


def test_codes_encode_decode_and_sample() -> None:
    model, x = _model(), _x()
    q = model.encode(x)
    assert q.mean.shape == (5, 12) and model.latent_dim == 12 and model.embed(x).shape == (5, 12)
    # decode reads z_1 only: the higher layers' parts of a code do not change it.
    code = q.mean.clone()
    edited = code.clone()
    edited[:, 6:] += 5.0
    assert torch.equal(model.decode(code).mean, model.decode(edited).mean)
    assert torch.equal(model.decode(code).mean, model.decode(code[:, :6]).mean)
    with pytest.raises(ValueError, match="12 entries"):
        model.decode(code[:, :7])
    g = torch.Generator().manual_seed(0)
    codes = model.sample_codes(7, generator=g)
    assert codes.shape == (7, 12)
    assert torch.equal(model.sample_codes(7, generator=torch.Generator().manual_seed(0)), codes)
    cold = model.sample_codes(4000, generator=torch.Generator().manual_seed(0), temperature=0.1)
    warm = model.sample_codes(4000, generator=torch.Generator().manual_seed(0), temperature=1.0)
    assert float(cold[:, 10:].std().detach()) < 0.2 * float(warm[:, 10:].std().detach())  # the top layer is N(0, T^2 I)
    assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 8, 8)


def test_free_bits_apply_per_layer_and_dimension() -> None:
    model, x = _model(), _x(8)
    batch, ctx = Batch(x), StepContext(epoch=100.0)
    plain = build_objective({"name": "elbo"}, CTX)
    floored = build_objective({"name": "elbo", "free_bits": 10.0}, CTX)
    torch.manual_seed(0)
    a = plain(model, batch, ctx)
    torch.manual_seed(0)
    b = floored(model, batch, ctx)
    # With a floor above every dimension's KL, the KL term is exactly floor * (6 + 4 + 2).
    assert float(b.terms["objective"] - b.terms["recon"]) == pytest.approx(10.0 * 12, rel=1e-5)
    assert float(a.terms["loss"]) == pytest.approx(float(b.terms["loss"]), rel=1e-6)


@pytest.mark.parametrize("changes, match", [
    ({"latent_dims": [8]}, "at least 2 stochastic layers"),
    ({"latent_dims": [8, 0], "hidden": [4]}, "at least 1"),
    ({"hidden": [16]}, "2 positive widths"),
    ({"conditional": True}, "needs a dataset with labels"),
])
def test_bad_ladders_are_refused(changes: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _model(**changes)


@pytest.mark.parametrize("objective", ["beta-tcvae", "factor-vae"])
def test_one_layer_objectives_refuse_a_ladder(objective: str) -> None:
    obj = build_objective({"name": objective}, CTX.but(latent_dim=12))
    with pytest.raises(ConfigError, match="one latent layer"):
        obj(_model(), Batch(_x(8)), StepContext(epoch=1.0))


def test_anomaly_scores_work_on_a_ladder() -> None:
    from vaekit.tasks.anomaly import anomaly_scores

    model, x = _model(), _x(6)
    scores = anomaly_scores(model, x, k=8)
    assert scores.shape == (6,) and np.isfinite(scores).all()
    # The IW-k estimate is the importance-weighted NLL: at least as low as the k-sample -ELBO on average.
    elbo = anomaly_scores(model, x, k=8, score="elbo")
    assert float(np.mean(scores)) <= float(np.mean(elbo)) + 1e-4
