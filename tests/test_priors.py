"""Mixture priors: the VampPrior (Tomczak & Welling 2018) and a learned mixture of Gaussians.

Their log-densities against a hand-computed log-mean-exp, sampling (seeded, temperature 0),
the ELBO's Monte-Carlo KL at the drawn z, flows, conditioning, save/load, and the recipes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from vaekit.parts.mixture import DiagonalGaussianMixture
from torch.distributions import Normal

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, StepContext
from vaekit.models import MODELS
from vaekit.objectives.elbo import ELBO

L = 3
CTX = BuildContext(shape=(1, 6, 6))


def _model(prior: dict | str, ctx: BuildContext = CTX, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    spec = {"name": "vae", "latent_dim": L, "net": {"name": "mlp", "hidden": [16]}, "prior": prior, **kw}
    return MODELS.build(spec, ctx, "model")


def _vamp_components(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and scales of q(z | u_k) computed by hand from the model's encoder and posterior head."""
    u = torch.nn.functional.hardtanh(model.prior.pseudo_inputs, 0.0, 1.0)
    mu, logvar = model.posterior.head(model.encoder(u, None)).chunk(2, -1)
    return mu, torch.exp(0.5 * logvar.clamp(-20, 20))


def _log_mean_exp(log_dens: torch.Tensor) -> torch.Tensor:
    """Over the last axis, written out: log(1/K sum_k exp(a_k)), stabilised by the max."""
    m = log_dens.max(-1, keepdim=True).values
    return (m + torch.log(torch.exp(log_dens - m).mean(-1, keepdim=True))).squeeze(-1)


def test_vamp_log_prob_is_the_log_mean_exp_of_the_posterior_at_the_pseudo_inputs() -> None:
    model = _model({"name": "vamp", "components": 7})
    p = model.prior()
    assert isinstance(p, DiagonalGaussianMixture) and p.batch_shape == () and p.event_shape == (L,)
    z = torch.randn(4, 5, L) * 2  # (S, B, L)
    mu, sigma = _vamp_components(model)  # (K, L)
    comp = Normal(mu, sigma).log_prob(z[..., None, :]).sum(-1)  # (S, B, K)
    assert comp.shape == (4, 5, 7)
    torch.testing.assert_close(p.log_prob(z), _log_mean_exp(comp), atol=1e-5, rtol=1e-5)


def test_mog_log_prob_is_the_weighted_log_sum_exp_of_its_components() -> None:
    model = _model({"name": "mog", "components": 5})
    prior = model.prior
    z = torch.randn(4, 5, L) * 2
    comp = Normal(prior.loc, prior.log_scale.exp()).log_prob(z[..., None, :]).sum(-1)  # (S, B, K)
    torch.testing.assert_close(prior().log_prob(z), _log_mean_exp(comp), atol=1e-5, rtol=1e-5)  # uniform at init
    with torch.no_grad():  # learned weights and scales
        prior.logits.copy_(torch.randn(5))
        prior.log_scale.copy_(0.3 * torch.randn(5, L))
    comp = Normal(prior.loc, prior.log_scale.exp()).log_prob(z[..., None, :]).sum(-1)
    expected = torch.logsumexp(comp + torch.log_softmax(prior.logits, 0), -1)
    torch.testing.assert_close(prior().log_prob(z), expected, atol=1e-5, rtol=1e-5)
    # the means start spread, not stacked on one point
    assert torch.cdist(prior.loc, prior.loc).add(torch.eye(5) * 1e9).min() > 0.1


@pytest.mark.parametrize("prior", [{"name": "vamp", "components": 9}, {"name": "mog", "components": 9}])
def test_sampling_is_seeded_and_temperature_zero_gives_component_means(prior: dict) -> None:
    model = _model(prior)
    gen = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    with torch.no_grad():
        a, b, c = (model.prior.sample(50, generator=gen(s)) for s in (1, 1, 2))
        t0 = model.prior.sample(50, generator=gen(1), temperature=0.0)
        t0_again = model.prior.sample(50, generator=gen(1), temperature=0.0)
        hot = model.prior.sample(50, generator=gen(1), temperature=2.0)
        means = model.prior().loc  # (K, L)
    assert a.shape == (50, L) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(t0, t0_again)
    match = torch.isclose(t0[:, None, :], means[None], atol=1e-6).all(-1)  # (n, K)
    assert match.any(1).all(), "every temperature-0 draw is a component mean"
    assert match.any(0).sum() >= 3, "components are drawn, not always the same one"
    # same generator -> same components and noise: the deviation from the mean scales with temperature
    torch.testing.assert_close(hot - t0, 2.0 * (a - t0), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("prior", [{"name": "vamp", "components": 6}, {"name": "mog", "components": 4}])
def test_elbo_with_a_mixture_prior_is_recon_plus_the_sampled_kl(prior: dict) -> None:
    model = _model(prior)
    x = torch.rand(5, *CTX.shape).bernoulli()
    objective = ELBO(CTX)
    torch.manual_seed(3)
    loss = objective(model, Batch(x), StepContext())
    torch.manual_seed(3)
    out = model(x)
    latent = out.latents[0]
    assert latent.analytic_kl is None and latent.kl_per_dim is None  # no closed form: the MC estimate
    log_p = latent.p.log_prob(latent.z)
    torch.testing.assert_close(latent.log_p, log_p)
    recon = -out.log_px(x)[0]
    expected = recon.mean() + (latent.log_q - log_p).mean()
    torch.testing.assert_close(loss.terms["loss"], expected.detach())
    torch.testing.assert_close(loss.total.detach(), expected.detach())
    loss.total.backward()  # gradients reach the prior's own parameters
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.prior.parameters())


def test_vamp_pseudo_inputs_are_the_priors_only_parameters_and_stay_in_the_data_range() -> None:
    model = _model({"name": "vamp", "components": 4})
    keys = [k for k in model.state_dict() if k.startswith("prior.")]
    assert keys == ["prior.pseudo_inputs"]  # the encoder is reached by reference, not duplicated
    assert model.prior.pseudo_inputs.shape == (4, *CTX.shape)
    assert len(list(model.parameters())) == len(model.state_dict())
    with torch.no_grad():
        model.prior.pseudo_inputs.mul_(10)
    u = model.prior.inputs()
    assert u.min() >= 0 and u.max() <= 1
    tab = _model({"name": "vamp", "components": 4}, likelihood="gaussian", ctx=BuildContext(shape=(5,)))
    assert tab.prior.bounded is False and tab.prior.inputs().abs().max() < 0.2


def test_vamp_with_a_flow_posterior_uses_the_base_gaussian_at_the_pseudo_inputs() -> None:
    model = _model({"name": "vamp", "components": 5}, posterior={"name": "gaussian", "flows": [{"name": "affine"}]})
    for prm in model.posterior.flows.parameters():
        torch.nn.init.normal_(prm, std=0.3)
    x = torch.rand(4, *CTX.shape).bernoulli()
    out = model(x, samples=2)
    assert out.latents[0].analytic_kl is None and torch.isfinite(out.latents[0].log_p).all()
    mu, sigma = _vamp_components(model)
    comp = model.prior()
    torch.testing.assert_close(comp.loc, mu)
    torch.testing.assert_close(comp.scale, sigma)


def test_vamp_conditions_its_pseudo_inputs_on_the_label() -> None:
    ctx = BuildContext(shape=(1, 6, 6), n_classes=3)
    model = _model({"name": "vamp", "components": 4}, conditional=True, ctx=ctx)
    y = torch.tensor([0, 2, 2, 1])
    c = model.condition(y)
    p = model.prior(c)
    assert p.batch_shape == (4,) and p.event_shape == (L,)
    z = torch.randn(3, 4, L)
    z[:, 2] = z[:, 1]
    assert p.log_prob(z).shape == (3, 4)
    torch.testing.assert_close(p.log_prob(z)[:, 1], p.log_prob(z)[:, 2])  # same label, same prior
    alone = model.prior(model.condition(torch.tensor([1]))).log_prob(z[:, 3:])
    torch.testing.assert_close(p.log_prob(z)[:, 3:], alone)
    other = model.prior(model.condition(torch.tensor([0]))).log_prob(z[:, 3:])
    assert not torch.allclose(alone, other)  # the label changes the prior
    samples = model.sample(4, generator=torch.Generator().manual_seed(0), cond=y)
    assert samples.shape == (4, *ctx.shape) and torch.isfinite(samples).all()
    out = model(torch.rand(4, *ctx.shape).bernoulli(), cond=y)
    assert torch.isfinite(out.latents[0].log_p).all()


@pytest.mark.parametrize("name", ["vamp", "mog"])
def test_zero_components_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="model.prior.components must be at least 1"):
        _model({"name": name, "components": 0})


def test_set_components_zero_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import vaekit
    from vaekit.cli.main import main

    with pytest.raises(ConfigError) as info:
        vaekit.train("vamp", data="digits", epochs=1, out=tmp_path / "api", overrides=["model.prior.components=0"],
                     echo=None, progress=False, report=False)
    assert "model.prior.components" in str(info.value) and "\n" not in str(info.value)
    rc = main(["train", "--recipe", "mog-prior", "--data", "digits", "--out", str(tmp_path / "cli"),
               "--set", "model.prior.components=0"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "model.prior.components" in err, err


@pytest.mark.parametrize("recipe", ["vamp", "mog-prior"])
def test_recipe_trains_saves_loads_and_evaluates(recipe: str, tmp_path: Path) -> None:
    import vaekit

    run_dir = vaekit.train(recipe, data="digits", epochs=2, out=tmp_path / recipe,
                           overrides=["data.limit=200", "train.batch_size=50"], echo=None, progress=False, report=False)
    config = json.loads((Path(run_dir) / "config.json").read_text())
    prior = config["model"]["prior"]
    assert prior["name"] == {"vamp": "vamp", "mog-prior": "mog"}[recipe]
    assert prior["components"] == {"vamp": 500, "mog-prior": 10}[recipe]
    rows = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line.strip()]
    assert rows
    for row in rows:
        assert all(math.isfinite(v) for v in row.values() if isinstance(v, float)), row

    run = vaekit.load(run_dir)
    ev = vaekit.evaluate(run, k=16, write=False)
    assert all(math.isfinite(ev[key]) for key in ("nll", "elbo", "kl")), ev
    assert -ev["nll"] >= ev["elbo"] - 0.05
    # the loaded prior is the trained one (pseudo-inputs / mixture parameters restored)
    fresh = vaekit.load(run_dir)
    z = torch.randn(7, run.model.latent_dim)
    with torch.no_grad():
        torch.testing.assert_close(run.model.prior().log_prob(z), fresh.model.prior().log_prob(z))
        a = run.model.sample(3, generator=torch.Generator().manual_seed(0))
        b = fresh.model.sample(3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and torch.isfinite(a).all()


@pytest.mark.parametrize("per_example", [False, True])
def test_mixture_log_density_matches_torch_mixture(per_example: bool) -> None:
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    from vaekit.parts.mixture import DiagonalGaussianMixture

    torch.manual_seed(0)
    shape = (6, 7, 3) if per_example else (7, 3)  # (B, K, L) or (K, L)
    loc, scale = torch.randn(shape) * 3, torch.rand(shape) * 2 + 0.01  # sharp and broad components
    logits = torch.randn(shape[:-1])
    at_means = loc[:, 0, :].unsqueeze(0) if per_example else loc[:1].expand(1, 6, 3)  # z exactly at a component mean
    z = torch.cat([torch.randn(4, 6, 3) * 3, at_means])
    ref = MixtureSameFamily(Categorical(logits=logits), Independent(Normal(loc, scale), 1)).log_prob(z)
    ours = DiagonalGaussianMixture(loc, scale, logits).log_prob(z)
    assert ours.shape == ref.shape and torch.allclose(ours, ref, atol=1e-4, rtol=1e-5)
    # gradients reach the components and z
    loc.requires_grad_(True)
    z.requires_grad_(True)
    DiagonalGaussianMixture(loc, scale, logits).log_prob(z).sum().backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(z.grad).all()
