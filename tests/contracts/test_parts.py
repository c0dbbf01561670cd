"""Contract tests for every registered part.

Each test iterates a registry, so a newly registered encoder, decoder, posterior, prior or
likelihood is checked automatically against the same contract as the built-in ones.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import Distribution

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts import FLOWS, LIKELIHOODS, NETS, POSTERIORS, PRIORS, analytic_kl, kl_divergence_per_dim
from vaekit.parts.flows import FlowDistribution, rsample_with_log_prob
from vaekit.parts.mixture import DiagonalGaussianMixture

B = 3
LATENT = 4
IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 13, 11)]
TABULAR = (20,)
SHAPES = [*IMAGE_SHAPES, TABULAR]
SMALL = {"conv": {"channels": [4, 8]}, "mlp": {"hidden": [16, 8]}}
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]


def _ctx(shape: tuple[int, ...] = (1, 8, 8), **kw) -> BuildContext:
    return BuildContext(shape=tuple(shape), **{"latent_dim": LATENT, **kw})


def _nets(name: str, shape: tuple[int, ...], p: int = 1):
    """Build the net pair; ``None`` if it refuses the data with ConfigError, which only an image
    net (one that refuses tabular data) is allowed to do."""
    try:
        return NETS.build({"name": name, **SMALL.get(name, {})}, _ctx(shape, params_per_element=p), "model.net")
    except ConfigError:
        assert len(shape) != 3, f"net {name!r} refused image shape {shape}"
        return None


def _build_encoder(name: str, shape: tuple[int, ...]) -> torch.nn.Module | None:
    nets = _nets(name, shape)
    return None if nets is None else nets.encoder


def _build_decoder(name: str, shape: tuple[int, ...], p: int) -> torch.nn.Module | None:
    nets = _nets(name, shape, p)
    return None if nets is None else nets.decoder


def _posterior(name: str, features: int, spec: dict | None = None):
    return POSTERIORS.build({"name": name, **(spec or {})}, _ctx(features=features), "model.posterior")


def _prior(name: str):
    """A prior as its model builds it: one defined through the model's own parts (it has
    ``attach``, e.g. vamp encodes pseudo-inputs with the model's encoder) comes from a small VAE."""
    prior = PRIORS.build(name, _ctx(), "model.prior")
    if hasattr(prior, "attach"):
        from vaekit.models import MODELS

        spec = {"name": "vae", "latent_dim": LATENT, "net": {"name": "mlp", "hidden": [16]}, "prior": name}
        prior = MODELS.build(spec, BuildContext(shape=(1, 8, 8)), "model").prior
    return prior


def _likelihood(name: str, shape: tuple[int, ...], opts: dict):
    spec = {"name": name, **({"variance": opts["variance"]} if name == "gaussian" else {})}
    return LIKELIHOODS.build(spec, _ctx(shape, levels=opts.get("levels")), "model.likelihood")


# -- nets --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name", NETS.names())
def test_encoder_output_shape(name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    enc = _build_encoder(name, shape)
    if enc is None:
        return  # refused tabular data with ConfigError, as an image net may
    h = enc(torch.rand(B, *shape))
    assert h.shape == (B, enc.out_features)
    assert torch.isfinite(h).all()


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("name", NETS.names())
def test_decoder_output_shape(name: str, shape: tuple[int, ...], p: int) -> None:
    torch.manual_seed(0)
    dec = _build_decoder(name, shape, p)
    if dec is None:
        return  # refused tabular data with ConfigError, as an image net may
    out = dec(torch.randn(B, LATENT))
    assert out.shape == (B, p, *shape)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NETS.names())
def test_nets_take_a_condition(name: str) -> None:
    """With cond_dim = C, encoder and decoder accept a (B, C) condition and use it."""
    shape = (1, 8, 8)
    ctx = _ctx(shape, params_per_element=1, cond_dim=3)
    torch.manual_seed(0)
    nets = NETS.build({"name": name, **SMALL.get(name, {})}, ctx, "model.net")
    x, z = torch.rand(B, *shape), torch.randn(2, B, LATENT)
    c0, c1 = torch.eye(3)[[0, 1, 2]], torch.eye(3)[[1, 2, 0]]
    assert nets.encoder(x, c0).shape == (B, nets.encoder.out_features)
    assert not torch.allclose(nets.encoder(x, c0), nets.encoder(x, c1))
    assert nets.decoder(z, c0).shape == (2, B, 1, *shape)  # cond broadcasts over sample dims
    assert not torch.allclose(nets.decoder(z, c0), nets.decoder(z, c1))


def test_conv_rejects_tabular_data() -> None:
    with pytest.raises(ConfigError, match="conv"):
        NETS.build("conv", _ctx(TABULAR), "model.net")


def test_mlp_accepts_tabular_data() -> None:
    nets = NETS.build({"name": "mlp", "hidden": [16]}, _ctx(TABULAR, params_per_element=2), "model.net")
    assert nets.encoder(torch.rand(B, 20)).shape == (B, 16)
    assert nets.decoder(torch.randn(B, LATENT)).shape == (B, 2, 20)


def test_conv_defaults_are_its_own() -> None:
    """A conv net gets conv-sized channels, not an MLP's widths (28x28: well under 1M parameters)."""
    nets = NETS.build("conv", _ctx((1, 28, 28), latent_dim=16), "model.net")
    params = sum(p.numel() for m in (nets.encoder, nets.decoder) for p in m.parameters())
    assert params < 1_000_000


# -- posteriors --------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("enc_name", NETS.names())
@pytest.mark.parametrize("name", POSTERIORS.names())
def test_posterior_contract(name: str, enc_name: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    enc = _build_encoder(enc_name, shape)
    if enc is None:
        return  # refused tabular data with ConfigError, as an image net may
    post = _posterior(name, enc.out_features)
    q = post(enc(torch.rand(B, *shape)))
    assert isinstance(q, Distribution)
    assert q.batch_shape == (B,)
    assert q.event_shape == (LATENT,)
    assert q.has_rsample

    z = q.rsample()
    assert z.shape == (B, LATENT)
    zs = q.rsample((5,))
    assert zs.shape == (5, B, LATENT)
    lp = q.log_prob(zs)
    assert lp.shape == (5, B)
    assert torch.isfinite(lp).all()
    assert q.mean.shape == (B, LATENT)

    # The reparameterised sample carries gradients back to the encoder (and the head).
    (z ** 2).sum().backward()
    enc_grads = [p.grad for p in enc.parameters()]
    assert all(g is not None for g in enc_grads)
    assert sum(float(g.abs().sum()) for g in enc_grads) > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in post.parameters())


# -- priors ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", PRIORS.names())
def test_prior_contract(name: str) -> None:
    prior = _prior(name)
    p = prior()
    assert isinstance(p, Distribution)
    assert p.event_shape == (LATENT,)
    assert p.batch_shape == ()

    a = prior.sample(6, generator=torch.Generator().manual_seed(123))
    b = prior.sample(6, generator=torch.Generator().manual_seed(123))
    c = prior.sample(6, generator=torch.Generator().manual_seed(124))
    assert a.shape == (6, LATENT)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    lp = p.log_prob(a)
    assert lp.shape == (6,)
    assert torch.isfinite(lp).all()
    # temperature 0 collapses onto the mode/location of the prior for any generator; a mixture
    # onto the means of the components drawn.
    t0 = prior.sample(3, generator=torch.Generator().manual_seed(5), temperature=0.0)
    if isinstance(p, DiagonalGaussianMixture):
        means = p.loc  # (K, L)
        assert all(torch.isclose(row, means, atol=1e-6).all(-1).any() for row in t0)
    else:
        assert torch.allclose(t0, p.mean.expand(3, LATENT))


# -- likelihoods -------------------------------------------------------------------------

def _likelihood_variants() -> list[tuple[str, dict]]:
    """Every registered likelihood x the option combinations it may see."""
    variants = []
    for name in LIKELIHOODS.names():
        for variance, levels in itertools.product(["per_pixel", "shared"], [17, 256]):
            if name != "gaussian" and variance == "shared":
                continue  # the variance option only changes the Gaussian
            variants.append((name, {"variance": variance, "levels": levels}))
    return variants


VARIANTS = _likelihood_variants()
VARIANT_IDS = [f"{n}-{o['variance']}-{o['levels']}" for n, o in VARIANTS]


def _grid_levels(lik: torch.nn.Module) -> int:
    """Discrete likelihoods live on a grid of ``levels`` values in [0, 1]; Bernoulli on {0, 1}."""
    return int(getattr(lik, "levels", 2))


def _data_on_grid(lik: torch.nn.Module, shape: tuple[int, ...], n: int, gen: torch.Generator) -> torch.Tensor:
    levels = _grid_levels(lik) if lik.discrete else 256
    return torch.randint(0, levels, (n, *shape), generator=gen).float() / (levels - 1)


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize(("name", "opts"), VARIANTS, ids=VARIANT_IDS)
def test_likelihood_contract(name: str, opts: dict, shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(0)
    lik = _likelihood(name, shape, opts)
    assert isinstance(lik.discrete, bool)
    p = lik.params_per_element
    params = torch.randn(B, p, *shape, generator=gen).requires_grad_(True)
    d = lik(params)
    assert isinstance(d, Distribution)
    assert d.batch_shape == (B,)
    assert d.event_shape == shape
    assert d.mean.shape == (B, *shape)

    x = _data_on_grid(lik, shape, B, gen)
    lp = d.log_prob(x)
    assert lp.shape == (B,)
    assert torch.isfinite(lp).all()
    if lik.discrete:
        assert (lp <= 1e-5).all(), "a log-probability of discrete data cannot be positive"

    lp.sum().backward()
    assert params.grad is not None and torch.isfinite(params.grad).all()
    assert params.grad.abs().sum() > 0
    for own in lik.parameters():  # e.g. the shared Gaussian scale
        assert own.grad is not None and own.grad.abs().sum() > 0


def test_gaussian_variance_modes_differ_in_parameter_count() -> None:
    per_pixel = _likelihood("gaussian", (1, 8, 8), {"variance": "per_pixel"})
    shared = _likelihood("gaussian", (1, 8, 8), {"variance": "shared"})
    assert per_pixel.params_per_element == 2 and len(list(per_pixel.parameters())) == 0
    assert shared.params_per_element == 1 and len(list(shared.parameters())) == 1


def test_logistic_rejects_continuous_data() -> None:
    with pytest.raises(ConfigError, match="gaussian"):
        _likelihood("logistic", (1, 8, 8), {"variance": "per_pixel", "levels": None})


def _discrete_cases() -> list:
    """(name, opts, event) for every discrete likelihood; events of 1 element, and of 2 elements
    where the grid is small enough to enumerate (checks the sum over the event dims too)."""
    cases = []
    for name, opts in VARIANTS:
        lik = _likelihood(name, (1,), opts)
        if not lik.discrete:
            continue
        for event in [(1,), (1, 1, 1), (1, 1, 2)]:
            if _grid_levels(lik) ** math.prod(event) <= 5000:
                cases.append(pytest.param(name, opts, event, id=f"{name}-{opts['levels']}-{'x'.join(map(str, event))}"))
    return cases


@pytest.mark.parametrize(("name", "opts", "event"), _discrete_cases())
def test_discrete_likelihood_normalises_over_grid(name: str, opts: dict, event: tuple[int, ...]) -> None:
    """Summing p(x) over every x on the grid gives 1 (to 1e-4 in float32) for any parameters,
    including extreme ones (tiny and huge scales, locations far off the grid)."""
    lik = _likelihood(name, event, opts)
    levels = _grid_levels(lik)
    n_el = math.prod(event)
    gen = torch.Generator().manual_seed(1)
    n = 32
    params = torch.randn(n, lik.params_per_element, *event, generator=gen) * 3.0
    params[0] = -30.0  # extreme parameters (very small scale / far below the grid)
    params[1] = 30.0
    params[2] = 0.0
    d = lik(params)
    values = torch.arange(levels, dtype=torch.float32) / (levels - 1)
    total = torch.zeros(n, dtype=torch.float64)
    for combo in itertools.product(range(levels), repeat=n_el):
        x = values[list(combo)].reshape(event).expand(n, *event)
        lp = d.log_prob(x)
        assert torch.isfinite(lp).all()
        total += lp.double().exp()
    assert torch.allclose(total, torch.ones_like(total), atol=1e-4), total


# -- KL ----------------------------------------------------------------------------------

@pytest.mark.parametrize("prior_name", PRIORS.names())
@pytest.mark.parametrize("post_name", POSTERIORS.names())
def test_kl_matches_monte_carlo(post_name: str, prior_name: str) -> None:
    """kl_divergence_total(q, p) agrees with the MC mean of log q(z) - log p(z), z ~ q, over
    N = 40,000 draws, within 5 Monte-Carlo standard errors (plus 1e-3 for float32 round-off)."""
    torch.manual_seed(0)
    feats = 8
    post = _posterior(post_name, feats)
    with torch.no_grad():
        q = post(3.0 * torch.randn(6, feats))  # spread the means and scales away from N(0, I)
        p = _prior(prior_name)()
        analytic = analytic_kl(q, p)
        if analytic is None:
            pytest.skip("no closed form for this pair: objectives use the recorded log-densities")
        assert analytic.shape == (6,)
        z = q.sample((40_000,))
        d = (q.log_prob(z) - p.log_prob(z)).double()  # (N, B)
        mc, se = d.mean(0), d.std(0) / math.sqrt(d.shape[0])
    assert (analytic >= 0).all()
    assert ((analytic.double() - mc).abs() <= 5 * se + 1e-3).all(), (analytic, mc, se)


@pytest.mark.parametrize("prior_name", PRIORS.names())
@pytest.mark.parametrize("post_name", POSTERIORS.names())
def test_kl_per_dim_sums_to_total(post_name: str, prior_name: str) -> None:
    torch.manual_seed(0)
    post = _posterior(post_name, 8)
    q = post(torch.randn(5, 8))
    p = _prior(prior_name)()
    per_dim = kl_divergence_per_dim(q, p)
    if per_dim is None:
        pytest.skip("no analytic per-dimension KL for this pair")
    assert per_dim.shape == (5, LATENT)
    assert (per_dim >= -1e-6).all()
    assert torch.allclose(per_dim.sum(-1), analytic_kl(q, p), atol=1e-5)


def test_kl_zero_when_posterior_equals_prior() -> None:
    prior = _prior("normal")
    post = _posterior("gaussian", 8)
    with torch.no_grad():
        post.head.weight.zero_()
        post.head.bias.zero_()  # mu = 0, log sigma^2 = 0 -> q = N(0, I)
    q = post(torch.randn(4, 8))
    assert torch.allclose(analytic_kl(q, prior()), torch.zeros(4), atol=1e-7)
    assert torch.allclose(kl_divergence_per_dim(q, prior()), torch.zeros(4, LATENT), atol=1e-7)


# -- discretised logistic: symmetry ------------------------------------------------------

def _logistic_mirror_gap(levels: int, scale: float) -> float:
    """Max |log p(x | loc, s) - log p(1 - x | 1 - loc, s)| over interior grid values x and
    locations on [0, 1]. The bins are symmetric about 1/2 and the logistic is symmetric, so
    the exact gap is 0."""
    lik = _likelihood("logistic", (1,), {"levels": levels})
    grid = torch.arange(levels, dtype=torch.float32) / (levels - 1)
    locs = torch.linspace(0.0, 1.0, 9)
    log_s = torch.full_like(locs, math.log(scale))
    d = lik(torch.stack([locs - 0.5, log_s], 1)[:, :, None])  # decoder adds 0.5 to the location
    mirrored = lik(torch.stack([(1.0 - locs) - 0.5, log_s], 1)[:, :, None])
    gap = 0.0
    for v in grid[1:-1]:
        a = d.log_prob(v.expand(9, 1))
        b = mirrored.log_prob((1.0 - v).expand(9, 1))
        assert torch.isfinite(a).all() and torch.isfinite(b).all()
        gap = max(gap, float((a - b).abs().max()))
    return gap


@pytest.mark.parametrize("levels", [17, 256])
def test_logistic_log_prob_is_mirror_symmetric_at_moderate_scale(levels: int) -> None:
    # scale 0.1: every interior bin is within 10 scales of the location (tolerance 0.05 nats).
    assert _logistic_mirror_gap(levels, 0.1) < 0.05


@pytest.mark.parametrize(("levels", "scale"), [(17, 0.03), (17, 0.1 / 16), (256, 0.03), (256, 0.1 / 255)])
def test_logistic_log_prob_is_mirror_symmetric_in_the_tails(levels: int, scale: float) -> None:
    assert _logistic_mirror_gap(levels, scale) < 0.05


# -- flows -------------------------------------------------------------------------------

@pytest.mark.parametrize("flow", FLOWS.names())
def test_flow_posterior_log_q_is_consistent(flow: str) -> None:
    """A posterior with flows returns z with log q(z|x) from the log-dets collected while z was
    drawn: finite, shaped (S, B), with gradients to every flow parameter; no closed-form KL."""
    torch.manual_seed(0)
    post = _posterior("gaussian", 8, {"flows": [{"name": flow}, {"name": flow}]})
    for f in post.flows:  # move the flows off their identity initialisation
        for prm in f.parameters():
            torch.nn.init.normal_(prm, std=0.3)
    q = post(torch.randn(B, 8))
    assert isinstance(q, FlowDistribution) and q.batch_shape == (B,) and q.event_shape == (LATENT,)
    z, log_q = rsample_with_log_prob(q, 5)
    assert z.shape == (5, B, LATENT) and log_q.shape == (5, B) and torch.isfinite(log_q).all()
    assert q.mean.shape == (B, LATENT)
    assert analytic_kl(q, _prior("normal")()) is None
    log_q.sum().backward()
    assert all(prm.grad is not None for f in post.flows for prm in f.parameters())


def test_affine_flow_log_q_matches_closed_form() -> None:
    """z = z0 * exp(s) + b with z0 ~ N(mu, sigma) is N(mu e^s + b, sigma e^s): the log q recorded
    through the log-det must equal that Normal's log-density at the same z."""
    torch.manual_seed(1)
    post = _posterior("gaussian", 8, {"flows": [{"name": "affine"}, {"name": "affine"}]})
    for f in post.flows:
        torch.nn.init.normal_(f.params.weight, std=0.2)
        torch.nn.init.normal_(f.params.bias, std=0.5)
    h = torch.randn(B, 8)
    q = post(h)
    z, log_q = rsample_with_log_prob(q, 7)
    mu, sigma = q.base.base_dist.loc, q.base.base_dist.scale  # (B, L)
    for f in post.flows:
        s, b = f.params(h).chunk(2, dim=-1)
        mu, sigma = mu * torch.exp(s) + b, sigma * torch.exp(s)
    expected = torch.distributions.Normal(mu, sigma).log_prob(z).sum(-1)  # (7, B)
    assert torch.allclose(log_q, expected, atol=1e-4), (log_q - expected).abs().max()
