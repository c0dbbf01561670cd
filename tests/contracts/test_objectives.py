"""Contract tests for every registered objective, plus the ELBO's beta / warm-up / free bits."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.models import build_model
from vaekit.objectives import OBJECTIVES, build_objective

SHAPE = (1, 8, 8)
LATENT = 4


CTX = BuildContext(shape=SHAPE, levels=17, n_train=100, latent_dim=LATENT)
# Objectives of generative models (a classifier's cross-entropy is checked by the recipe contract).
BOUND_OBJECTIVES = [n for n in OBJECTIVES.names() if getattr(OBJECTIVES.get(n), "GENERATIVE", True)]


def _model(likelihood: str = "bernoulli") -> torch.nn.Module:
    torch.manual_seed(0)
    spec = {"name": "vae", "net": {"name": "mlp", "hidden": [32]}, "latent_dim": LATENT, "likelihood": likelihood}
    return build_model(spec, CTX)


def ObjectiveConfig(**spec):  # noqa: N802  (reads like the old config class in the tests below)
    return spec


def build_objective(spec, _build=build_objective):  # noqa: F811
    return _Call(_build(spec, CTX))


class _Call:
    """Calls an objective the way the trainer does, on raw tensors: ``obj(model, x, progress=e)``."""

    def __init__(self, objective):
        self.objective = objective

    def __call__(self, model, x, progress=math.inf):
        return self.objective(model, Batch(x), StepContext(epoch=progress))

    def kl_weight(self, epoch):
        return self.objective.kl_weight(StepContext(epoch=epoch))


def _data(n: int = 16) -> torch.Tensor:
    return (torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(1)) > 0.5).float()


def _default_cfg(name: str) -> ObjectiveConfig:
    """A valid config for any objective: several samples where allowed (iwae needs k > 1 to be
    more than the ELBO), one sample where the objective insists (the ELBO)."""
    for cfg in ({"name": name, "k": 5}, {"name": name}):
        try:
            build_objective(cfg)
            return cfg
        except ConfigError:
            continue
    raise AssertionError(f"objective {name!r} cannot be built from its defaults")


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> list[torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in model.parameters()]


def _recon_only(model: torch.nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
    """Batch mean of -log p(x|z) for one reparameterised z, drawn under ``seed``."""
    torch.manual_seed(seed)
    out = model(x, samples=1)
    return -out.log_px(x)[0].mean()


def _all_close(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.allclose(u, v, rtol=1e-5, atol=1e-7) for u, v in zip(a, b))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "logistic"])
@pytest.mark.parametrize("name", BOUND_OBJECTIVES)
def test_objective_contract(name: str, likelihood: str) -> None:
    model = _model(likelihood)
    objective = build_objective(_default_cfg(name))
    torch.manual_seed(2)
    loss = objective(model, _data(), progress=1.0)
    assert isinstance(loss, Loss)
    assert loss.total.shape == () and torch.isfinite(loss.total)
    assert {"loss", "recon", "kl"} <= set(loss.terms)
    for key, value in loss.terms.items():
        assert torch.is_tensor(value) and value.shape == () and torch.isfinite(value), key
        assert not value.requires_grad, f"term {key!r} must be detached"
    assert loss.terms["kl"] >= 0
    grads = _grads(model, loss.total)
    assert all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    # every part that takes part in the bound gets a gradient
    for part in ("encoder", "posterior", "decoder"):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, part).parameters()), part


@pytest.mark.parametrize("name", BOUND_OBJECTIVES)
def test_objective_total_is_the_reported_loss_at_beta_one(name: str) -> None:
    """With default weights (beta = 1, no warm-up, no free bits) the minimised scalar is the bound."""
    model = _model()
    objective = build_objective(_default_cfg(name))
    if not objective.objective.BOUND_AT_DEFAULTS:
        pytest.skip(f"{name} minimises something other than the bound by design")
    loss = objective(model, _data())
    assert torch.allclose(loss.total.detach(), loss.terms["loss"], rtol=1e-6, atol=1e-5)


def test_elbo_loss_is_recon_plus_kl() -> None:
    model = _model()
    for seed in range(3):
        torch.manual_seed(seed)
        t = build_objective(ObjectiveConfig(name="elbo"))(model, _data()).terms
        assert torch.allclose(t["loss"], t["recon"] + t["kl"], rtol=1e-6, atol=1e-5)


def test_iwae_with_k1_equals_single_sample_elbo_estimate() -> None:
    """L_1 is the ELBO: with k = 1 and the same draw, -L_1 = recon + (log q - log p)(z)."""
    model = _model()
    x = _data()
    torch.manual_seed(3)
    loss = build_objective(ObjectiveConfig(name="iwae", k=1))(model, x)
    torch.manual_seed(3)
    out = model(x, samples=1)
    lat = out.latents[0]
    expected = (-out.log_px(x)[0] - lat.p.log_prob(lat.z[0]) + lat.q.log_prob(lat.z[0])).mean()
    assert torch.allclose(lat.log_q[0], lat.q.log_prob(lat.z[0])) and torch.allclose(lat.log_p[0], lat.p.log_prob(lat.z[0]))
    assert torch.allclose(loss.total, expected, rtol=1e-6, atol=1e-5)


def test_beta_zero_removes_kl_from_gradient() -> None:
    model, x = _model(), _data()
    torch.manual_seed(7)
    loss0 = build_objective(ObjectiveConfig(name="elbo", beta=0.0))(model, x)
    g0 = _grads(model, loss0.total)
    g_recon = _grads(model, _recon_only(model, x, seed=7))
    assert _all_close(g0, g_recon)
    assert loss0.terms["kl"] > 0  # the KL is still reported
    torch.manual_seed(7)
    g1 = _grads(model, build_objective(ObjectiveConfig(name="elbo", beta=1.0))(model, x).total)
    assert not _all_close(g1, g_recon), "with beta = 1 the KL must change the gradient"


def test_kl_warmup_schedule() -> None:
    beta, warmup = 0.8, 4.0
    obj = build_objective(ObjectiveConfig(name="elbo", beta=beta, warmup_epochs=warmup))
    assert obj.kl_weight(0.0) == 0.0
    assert obj.kl_weight(warmup / 2) == pytest.approx(beta / 2)
    assert obj.kl_weight(warmup / 4) == pytest.approx(beta / 4)
    assert obj.kl_weight(warmup) == pytest.approx(beta)
    assert obj.kl_weight(10 * warmup) == pytest.approx(beta)
    assert obj.kl_weight(math.inf) == pytest.approx(beta)
    no_warmup = build_objective(ObjectiveConfig(name="elbo", beta=beta))
    assert no_warmup.kl_weight(0.0) == pytest.approx(beta)


@pytest.mark.parametrize("progress", [0.0, 1.0, 2.0, 5.0])
def test_kl_warmup_weights_the_minimised_total(progress: float) -> None:
    beta, warmup = 0.8, 2.0
    obj = build_objective(ObjectiveConfig(name="elbo", beta=beta, warmup_epochs=warmup))
    loss = obj(_model(), _data(), progress=progress)
    weight = beta * min(1.0, progress / warmup)
    expected = loss.terms["recon"] + weight * loss.terms["kl"]
    assert torch.allclose(loss.total.detach(), expected, rtol=1e-6, atol=1e-5)
    # the reported loss stays the plain -ELBO whatever the weight
    assert torch.allclose(loss.terms["loss"], loss.terms["recon"] + loss.terms["kl"], rtol=1e-6, atol=1e-5)


def test_huge_free_bits_removes_kl_gradient() -> None:
    """Every per-dimension KL sits below a huge free-bits floor, so the KL term is a constant:
    the gradient (posterior head included) is that of the reconstruction alone."""
    model, x = _model(), _data()
    free = 1e4
    torch.manual_seed(11)
    loss = build_objective(ObjectiveConfig(name="elbo", free_bits=free))(model, x)
    assert torch.allclose(loss.total.detach(), loss.terms["recon"] + free * LATENT, rtol=1e-6)
    g_fb = _grads(model, loss.total)
    head = [i for i, (n, _) in enumerate(model.named_parameters()) if n.startswith("posterior.")]
    g_recon = _grads(model, _recon_only(model, x, seed=11))
    assert _all_close(g_fb, g_recon)
    torch.manual_seed(11)
    g_plain = _grads(model, build_objective(ObjectiveConfig(name="elbo"))(model, x).total)
    assert not all(torch.allclose(g_plain[i], g_recon[i], rtol=1e-5, atol=1e-7) for i in head)


def test_small_free_bits_keeps_kl_gradient() -> None:
    """A floor of 0 nats per dim (clamp is inactive) leaves the plain ELBO gradient."""
    model, x = _model(), _data()
    torch.manual_seed(12)
    g_fb = _grads(model, build_objective(ObjectiveConfig(name="elbo", free_bits=1e-9))(model, x).total)
    torch.manual_seed(12)
    g_plain = _grads(model, build_objective(ObjectiveConfig(name="elbo"))(model, x).total)
    assert _all_close(g_fb, g_plain)


@pytest.mark.parametrize(
    "cfg",
    [
        dict(name="elbo", k=2),
        dict(name="elbo", beta=-1.0),
        dict(name="iwae", k=0),
        dict(name="elbo", beta="4"),
        dict(name="iwae", k=5, beta=2.0),
        dict(name="iwae", k=5, beta=0.5),
        dict(name="iwae", k=5, warmup_epochs=1.0),
        dict(name="iwae", k=5, free_bits=0.1),
        dict(name="no-such-objective"),
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
def test_invalid_objective_configs_raise(cfg: dict) -> None:
    with pytest.raises(ConfigError):
        build_objective(ObjectiveConfig(**cfg))


@pytest.mark.parametrize("name", BOUND_OBJECTIVES)
def test_objective_is_a_module_with_named_steps(name: str) -> None:
    """Objectives are nn.Modules declaring their optimisation steps; the default single step
    covers every model parameter."""
    model = _model()
    objective = build_objective(_default_cfg(name)).objective
    assert isinstance(objective, torch.nn.Module)
    steps = objective.steps(model)
    assert steps and all(isinstance(n, str) for n in steps)
    covered = {id(p) for spec in steps.values() for p in spec.params}
    assert {id(p) for p in model.parameters()} <= covered


def test_unknown_objective_argument_names_the_part_and_lists_what_it_accepts() -> None:
    with pytest.raises(ConfigError) as err:
        build_objective({"name": "iwae", "k": 5, "beta": 2.0})
    assert "'beta'" in str(err.value) and "iwae" in str(err.value) and "accepts: k" in str(err.value)


def test_capacity_objective_anneals_c_and_penalises_the_gap() -> None:
    """Burgess et al. 2018: total = recon + gamma |KL - C_t|, C_t linear from 0 to c_max."""
    from vaekit.objectives.capacity import CapacityELBO

    obj = OBJECTIVES.build({"name": "capacity", "gamma": 10.0, "c_max": 20.0, "anneal": 0.5}, CTX, "objective")
    assert isinstance(obj, CapacityELBO)
    assert obj.capacity(StepContext(step=0, total_steps=100)) == 0.0
    assert obj.capacity(StepContext(step=25, total_steps=100)) == pytest.approx(10.0)
    assert obj.capacity(StepContext(step=80, total_steps=100)) == pytest.approx(20.0)
    assert obj.capacity(StepContext()) == pytest.approx(20.0)  # evaluation: full capacity
    model, x = _model(), _data()
    for step in (0, 25, 90):
        torch.manual_seed(4)
        loss = obj(model, Batch(x), StepContext(step=step, total_steps=100))
        c = obj.capacity(StepContext(step=step, total_steps=100))
        expected = loss.terms["recon"] + 10.0 * (loss.terms["kl"] - c).abs()
        assert torch.allclose(loss.total.detach(), expected, rtol=1e-6, atol=1e-4)
        assert float(loss.terms["capacity"]) == pytest.approx(c)
    with pytest.raises(ConfigError, match="anneal"):
        OBJECTIVES.build({"name": "capacity", "anneal": 0.0}, CTX, "objective")


def test_tc_decomposition_sums_to_the_sampled_kl_and_is_exact_for_an_uninformative_posterior() -> None:
    """MI + TC + DWKL = mean(log q(z|x) - log p(z)) by construction; with the stratified weights
    a posterior that ignores x gives q(z) = q(z|x) exactly, so MI = 0, and a factorised one TC = 0."""
    from torch.distributions import Independent, Normal

    from vaekit.objectives.tc import tc_decomposition

    torch.manual_seed(0)
    b, latent = 16, 3
    mu, sigma = torch.randn(b, latent), torch.rand(b, latent) + 0.5
    q = Independent(Normal(mu, sigma), 1)
    z = q.sample()
    p = Independent(Normal(torch.zeros(latent), torch.ones(latent)), 1)
    for estimator in ("mss", "mws"):
        parts = tc_decomposition(z, q, q.log_prob(z), p.log_prob(z), n=1000, estimator=estimator)
        total = sum(parts.values())
        assert torch.allclose(total, (q.log_prob(z) - p.log_prob(z)).mean(), atol=1e-4), estimator
    same = Independent(Normal(torch.zeros(b, latent) + 0.3, torch.ones(b, latent) * 0.7), 1)
    z = same.sample()
    parts = tc_decomposition(z, same, same.log_prob(z), p.log_prob(z), n=1000, estimator="mss")
    assert abs(float(parts["mi"])) < 1e-4 and abs(float(parts["tc"])) < 1e-4
    assert float(parts["dwkl"]) > 0


def test_beta_tcvae_weights_and_batch_of_one() -> None:
    obj = OBJECTIVES.build({"name": "beta-tcvae", "alpha": 1.0, "beta": 1.0, "gamma": 1.0}, CTX, "objective")
    model, x = _model(), _data()
    torch.manual_seed(5)
    loss = obj(model, Batch(x), StepContext(n_train=100))
    parts = loss.terms["mi"] + loss.terms["tc"] + loss.terms["dwkl"]
    assert torch.allclose(loss.total.detach(), loss.terms["recon"] + parts, atol=1e-4)  # alpha=beta=gamma=1
    assert obj.MIN_BATCH == 2
    from vaekit.core.errors import DataError

    with pytest.raises(DataError, match="at least 2"):
        obj(model, Batch(x[:1]), StepContext(n_train=100))


def test_factor_vae_has_a_discriminator_step_that_never_moves_the_vae() -> None:
    from vaekit.objectives.factor import permute_dims

    ctx = BuildContext(shape=SHAPE, levels=17, n_train=100, latent_dim=LATENT)
    obj = OBJECTIVES.build({"name": "factor-vae", "disc_hidden": [16]}, ctx, "objective")
    model, x = _model(), _data()
    steps = obj.steps(model)
    assert set(steps) == {"model", "disc"} and steps["disc"].defaults["lr"] == 1e-4
    disc_ids = {id(p) for p in obj.discriminator.parameters()}
    assert {id(p) for p in steps["disc"].params} == disc_ids and not disc_ids & {id(p) for p in steps["model"].params}
    model.zero_grad(set_to_none=True)
    loss = obj(model, Batch(x), StepContext(), step="disc")
    loss.total.backward()
    assert all(p.grad is None for p in model.parameters())  # codes are detached
    assert all(p.grad is not None for p in obj.discriminator.parameters())
    assert 0.0 <= float(loss.terms["accuracy"]) <= 1.0
    main = obj(model, Batch(x), StepContext())
    expected = main.terms["recon"] + main.terms["kl"] + 10.0 * main.terms["tc"]
    assert torch.allclose(main.total.detach(), expected, atol=1e-4)
    z = torch.arange(12.0).view(4, 3)
    zp = permute_dims(z)
    for d in range(3):  # each column keeps its values, shuffled
        assert sorted(zp[:, d].tolist()) == sorted(z[:, d].tolist())
