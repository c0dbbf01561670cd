"""Planar (Rezende & Mohamed 2015) and IAF (Kingma et al. 2016) posterior flows: the log q recorded
while z is drawn equals the change of variables computed with an autograd Jacobian; IAF is
autoregressive in its ordering; planar's constraint holds; both recipes train, load and evaluate."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.autograd.functional import jacobian

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts import FLOWS, POSTERIORS
from vaekit.parts.flows import FlowDistribution

L, FEATURES, S, B = 3, 5, 4, 2
STACKS = {
    "planar": [{"name": "planar"}] * 3,
    "iaf": [{"name": "iaf", "hidden": [7, 6]}, {"name": "iaf", "hidden": [7], "reverse": True}],
}


def _ctx() -> BuildContext:
    return BuildContext(shape=(1, 8, 8), latent_dim=L, features=FEATURES)


def _perturbed(module: torch.nn.Module, std: float = 0.5) -> torch.nn.Module:
    """Move every parameter off its (identity) initialisation."""
    with torch.no_grad():
        for prm in module.parameters():
            prm.normal_(0.0, std)
    return module


@pytest.mark.parametrize("flow", sorted(STACKS))
def test_recorded_log_q_matches_autograd_jacobian(flow: str) -> None:
    """log q(z_K|x) recorded through the log-dets = log q0(z_0|x) - log|det dz_K/dz_0|, with the
    Jacobian of the whole stack from autograd, one example and one sample at a time."""
    torch.manual_seed(0)
    post = _perturbed(POSTERIORS.build({"name": "gaussian", "flows": STACKS[flow]}, _ctx(), "model.posterior"))
    h = torch.randn(B, FEATURES)
    q = post(h)
    assert isinstance(q, FlowDistribution)
    torch.manual_seed(1)
    z, log_q = q.rsample_and_log_prob((S,))  # (S, B, L), (S, B)
    torch.manual_seed(1)
    z0 = q.base.rsample((S,))  # the same base draw
    log_q0 = q.base.log_prob(z0)  # (S, B)

    for b in range(B):
        ctx_b = h[b : b + 1]  # (1, F)

        def stack(v: torch.Tensor) -> torch.Tensor:  # (L,) -> (L,)
            v = v[None]
            for f in post.flows:
                v, _ = f(v, ctx_b)
            return v[0]

        for s in range(S):
            x0 = z0[s, b].detach()
            assert torch.allclose(stack(x0), z[s, b], atol=1e-5)
            J = jacobian(stack, x0)  # (L, L)
            expected = log_q0[s, b] - torch.linalg.slogdet(J).logabsdet
            assert abs(float((log_q[s, b] - expected).detach())) < 1e-4, (flow, s, b, float(log_q[s, b].detach()), float(expected))


@pytest.mark.parametrize("reverse", [False, True])
def test_iaf_jacobian_is_triangular_in_its_ordering(reverse: bool) -> None:
    """dz'_i/dz_j = 0 for every j after i in the step's ordering (m_i, s_i see only earlier z_j);
    the diagonal is sigma_i and the strictly lower part is used; the context reaches every output."""
    torch.manual_seed(2)
    L5 = 5
    step = _perturbed(FLOWS.build({"name": "iaf", "hidden": [16, 16], "reverse": reverse},
                                  _ctx().but(latent_dim=L5), "model.posterior.flows[0]"))
    h = torch.randn(1, FEATURES)
    z = torch.randn(L5)
    J = jacobian(lambda v: step(v[None], h)[0][0], z)  # (L, L): J[i, j] = dz'_i / dz_j
    order = step.order
    assert order.tolist() == (list(range(L5))[::-1] if reverse else list(range(L5)))
    Jo = J[order][:, order]  # rows and columns in the step's ordering
    assert torch.count_nonzero(torch.triu(Jo, diagonal=1)) == 0, Jo
    assert torch.count_nonzero(torch.tril(Jo, diagonal=-1)) > 0
    m, s = step.made(z[None], h)
    sigma = torch.sigmoid(s[0] + step.forget_bias)
    assert torch.allclose(torch.diagonal(J), sigma, atol=1e-6)
    # even the first variable of the ordering is a function of the context h
    dh = jacobian(lambda c: step(z[None], c)[0][0], h)  # (L, 1, F)
    assert all(dh[i].abs().sum() > 0 for i in range(L5))


def test_iaf_stack_in_one_order_keeps_first_variable_independent() -> None:
    """Why steps alternate: without ``reverse`` the first variable never depends on the others."""
    torch.manual_seed(3)
    flows = [_perturbed(FLOWS.build("iaf", _ctx(), "f")) for _ in range(2)]
    h = torch.randn(1, FEATURES)

    def stack(v: torch.Tensor) -> torch.Tensor:
        v = v[None]
        for f in flows:
            v, _ = f(v, h)
        return v[0]

    J = jacobian(stack, torch.randn(L))
    assert torch.count_nonzero(J[0, 1:]) == 0
    flows[1] = _perturbed(FLOWS.build({"name": "iaf", "reverse": True}, _ctx(), "f"))
    J = jacobian(stack, torch.randn(L))
    assert torch.count_nonzero(J[0, 1:]) > 0


def test_planar_constraint_and_identity_start() -> None:
    """w . u_hat >= -1 (so f is invertible) even for large raw parameters; a fresh flow is the
    identity with log|det| = 0."""
    torch.manual_seed(4)
    fresh = FLOWS.build("planar", _ctx(), "f")
    h = torch.randn(B, FEATURES)
    z = torch.randn(S, B, L)
    out, log_det = fresh(z, h)
    assert torch.allclose(out, z, atol=1e-6) and torch.allclose(log_det, torch.zeros(S, B), atol=1e-6)

    flow = _perturbed(FLOWS.build("planar", _ctx(), "f"), std=2.0)
    u_hat, w, _ = flow.coefficients(torch.randn(256, FEATURES) * 2)
    wu_hat = (w * u_hat).sum(-1)  # (256,); float32 rounding scales with |w| |u_hat|
    assert (wu_hat >= -1 - 1e-6 * (1 + w.norm(dim=-1) * u_hat.norm(dim=-1))).all()
    assert (wu_hat < -0.9).any() and (wu_hat > 1).any()  # the constraint was exercised
    out, log_det = flow(torch.randn(S, 256, L) * 3, torch.randn(256, FEATURES))
    assert torch.isfinite(out).all() and torch.isfinite(log_det).all()


@pytest.mark.parametrize("spec", [{"name": "iaf", "hiden": [8]}, {"name": "planar", "k": 3}])
def test_unknown_flow_setting_is_a_one_line_config_error(spec: dict) -> None:
    with pytest.raises(ConfigError) as info:
        POSTERIORS.build({"name": "gaussian", "flows": [spec]}, _ctx(), "model.posterior")
    message = str(info.value)
    assert "\n" not in message and f"flow {spec['name']!r}" in message and "model.posterior.flows[0]" in message


def test_iaf_without_hidden_layer_is_refused() -> None:
    with pytest.raises(ConfigError, match="iaf"):
        FLOWS.build({"name": "iaf", "hidden": []}, _ctx(), "f")


@pytest.mark.parametrize("recipe", ["planar", "iaf"])
def test_recipe_trains_loads_and_evaluates(recipe: str, tmp_path) -> None:
    """2 epochs on digits: finite metrics; load -> evaluate gives the IW-k bound above the
    (Monte-Carlo, since flows have no closed-form KL) ELBO."""
    import vaekit

    run_dir = vaekit.train(recipe, data="digits", epochs=2, out=tmp_path / recipe,
                           overrides=["data.limit=200", "train.batch_size=50"], echo=None, progress=False, report=False)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert rows
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float):
                assert math.isfinite(value), (recipe, key, row)
    run = vaekit.load(run_dir)
    assert [type(f).__name__ for f in run.model.posterior.flows] == (["PlanarFlow"] * 8 if recipe == "planar" else ["IAFFlow"] * 2)
    ev = vaekit.evaluate(run, k=64, write=False)
    assert all(math.isfinite(ev[k]) for k in ("nll", "elbo", "recon", "kl")), ev
    assert ev["nll"] <= -ev["elbo"] + 0.05, ev


@pytest.mark.parametrize("flow", ["planar", "iaf"])
def test_flow_kl_estimate_is_the_base_kl_at_identity_and_unbiased_after(flow: str) -> None:
    from vaekit.models import build_model

    torch.manual_seed(0)
    model = build_model({"name": "vae", "latent_dim": L, "net": {"name": "mlp", "hidden": [8]},
                         "posterior": {"name": "gaussian", "flows": [{"name": flow}, {"name": flow}]}},
                        BuildContext(shape=(6,)))
    x = torch.bernoulli(torch.full((B, 6), 0.5), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        latent = model(x, samples=S).latents[0]
        q = latent.q
        base_kl = torch.distributions.kl_divergence(q.base, latent.p)
        if flow == "planar":  # planar flows start at the identity: the estimate is exactly the closed form
            assert torch.allclose(latent.kl_estimate, base_kl, atol=1e-6)
        for f in model.posterior.flows:
            _perturbed(f)
        latent = model(x, samples=200_000).latents[0]
    assert latent.analytic_kl is None and latent.kl() is latent.kl_estimate
    mc = (latent.log_q - latent.log_p).mean(0)  # the plain estimate of the same KL
    assert torch.allclose(latent.kl_estimate, mc, atol=0.02)
    assert not torch.allclose(latent.kl_estimate, base_kl, atol=0.02)  # the flows did change the KL
