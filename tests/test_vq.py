"""VQ-VAE and its PixelCNN prior stage: the quantiser's maths, the PixelCNN's causality, the
bound the second stage reports, and the errors for stages that do not fit together."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from vaekit.core.errors import ConfigError, RunDirError
from vaekit.parts.nets.pixelcnn import GatedPixelCNN
from vaekit.parts.quantizers import VectorQuantizerEMA

SHRINK = ["data.name=digits", "data.limit=120", "train.batch_size=40"]
QUIET = dict(echo=None, progress=False, report=False)


def test_nearest_code_and_straight_through_gradient() -> None:
    torch.manual_seed(0)
    vq = VectorQuantizerEMA(6, 3).eval()
    vq.embedding.copy_(torch.randn(6, 3))
    z_e = torch.randn(2, 3, 4, 5, requires_grad=True)
    z_q, idx, commitment, stats = vq(z_e)
    rows = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    brute = torch.cdist(rows, vq.embedding).argmin(1)
    assert torch.equal(idx.flatten(), brute)
    assert torch.allclose(z_q, vq.lookup(idx), atol=1e-6)
    assert torch.allclose(commitment, (z_e.detach() - z_q.detach()).pow(2).flatten(1).sum(1))
    (z_q * torch.arange(z_q.numel()).view_as(z_q)).sum().backward()
    assert torch.equal(z_e.grad, torch.arange(z_q.numel()).view_as(z_q).float())  # gradient copied through
    assert 1.0 <= float(stats["perplexity"]) <= 6.0 and 0 < float(stats["codes_used"]) <= 1


def test_ema_update_follows_the_paper_and_restarts_dead_codes() -> None:
    torch.manual_seed(0)
    vq = VectorQuantizerEMA(3, 2, decay=0.5, eps=0.0, restart_below=0.1)
    rows = torch.tensor([[0.0, 0.0], [0.2, 0.0], [5.0, 5.0], [5.2, 5.0]])
    vq.embedding.copy_(torch.tensor([[0.0, 0.1], [5.0, 5.1], [-9.0, -9.0]]))
    vq.cluster_size.fill_(1.0)
    vq.embed_sum.copy_(vq.embedding)
    vq._update(rows)
    # counts: code 0 <- 2 rows, code 1 <- 2 rows, code 2 <- none; N = 0.5 N + 0.5 n
    assert torch.allclose(vq.cluster_size, torch.tensor([1.5, 1.5, 0.5]))
    assert torch.allclose(vq.embed_sum[0], 0.5 * torch.tensor([0.0, 0.1]) + 0.5 * torch.tensor([0.2, 0.0]))
    assert torch.allclose(vq.embedding[0], vq.embed_sum[0] / 1.5)
    # code 2 stays unused: its count halves each step (0.5, 0.25, 0.125, 0.0625) until, below 0.1,
    # the next update moves it onto a row of the batch
    for _ in range(3):
        vq._update(rows)
    assert torch.allclose(vq.embedding[2], torch.tensor([-9.0, -9.0]))
    vq._update(rows)
    assert any(torch.allclose(vq.embedding[2], r, atol=0.3) for r in rows)


def test_fresh_codebook_starts_on_data() -> None:
    torch.manual_seed(0)
    vq = VectorQuantizerEMA(4, 2).train()
    z_e = torch.randn(3, 2, 2, 2) * 0.01 + 7.0
    vq(z_e)
    assert float(vq.embedding.mean()) == pytest.approx(7.0, abs=0.1)


def test_pixelcnn_is_causal_in_raster_order_without_a_blind_spot() -> None:
    torch.manual_seed(0)
    net = GatedPixelCNN(5, channels=8, layers=4, kernel=3)
    idx = torch.randint(5, (1, 5, 6))
    emb = net.embed(idx).permute(0, 3, 1, 2).detach().requires_grad_(True)
    from vaekit.parts.nets.pixelcnn import shift_right

    v, h = emb, shift_right(emb)
    for i, block in enumerate(net.blocks):
        v, h = block(v, h, None, residual=i > 0)
    logits = net.head(h)
    for i in range(5):
        for j in range(6):
            (grad,) = torch.autograd.grad(logits[0, :, i, j].sum(), emb, retain_graph=True)
            seen = grad[0].abs().sum(0) > 0  # (h, w): which positions the logits at (i, j) depend on
            before = torch.zeros(5, 6, dtype=torch.bool)
            before[:i] = True
            before[i, :j] = True
            assert not bool((seen & ~before).any()), f"position {(i, j)} sees the future"
            if i >= 2 and 1 <= j <= 4:  # 4 layers of 3x3 reach the row above on both sides (no blind spot)
                assert bool(seen[i - 1, j + 1]) and bool(seen[i, j - 1])


def test_raster_logits_equal_the_full_pass() -> None:
    """Sampling computes the logits position by position from cached rows (the vertical stack once
    per row, the horizontal stack on the row's first columns): the values must be the full pass's, at
    every position, conditional or not."""
    torch.manual_seed(0)
    for cond_dim in (0, 3):
        net = GatedPixelCNN(7, channels=8, layers=5, kernel=3, cond_dim=cond_dim).eval()
        idx = torch.randint(7, (4, 6, 5))
        cond = torch.randn(4, 3) if cond_dim else None
        with torch.no_grad():
            full = net(idx, cond)  # (4, 7, 6, 5)
            seen = [(i, j) for i, j, logits in net.raster_logits(idx, cond)
                    if torch.testing.assert_close(logits, full[:, :, i, j], rtol=1e-5, atol=1e-5) is None]
        assert seen == [(i, j) for i in range(6) for j in range(5)]


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    from vaekit.api import train

    return train("vqvae", epochs=2, out=tmp_path_factory.mktemp("vq") / "run", overrides=SHRINK, **QUIET)


def test_vqvae_kl_is_the_uniform_code_prior(vq_run) -> None:
    import vaekit

    run = vaekit.load(vq_run)
    h, w = run.model.grid
    ev = vaekit.evaluate(run, k=4, write=False)
    assert ev["kl"] == pytest.approx(h * w * math.log(run.model.codes), rel=1e-5)
    assert ev["nll"] == pytest.approx(-ev["elbo"], rel=1e-5)  # a point-mass posterior: IW-k = ELBO
    row = json.loads((vq_run / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"train_perplexity", "train_codes_used", "train_commitment"} <= set(row)


def test_prior_stage_reports_the_bound_and_samples_through_the_parent(vq_run, tmp_path) -> None:
    import vaekit
    from vaekit.api import train

    child = train("pixelcnn-prior", epochs=1, out=tmp_path / "prior", parent=vq_run,
                  overrides=["model.layers=2", "model.channels=16"], **QUIET)
    cfg = json.loads((child / "config.json").read_text())
    assert cfg["data"]["name"] == "digits" and cfg["data"]["limit"] == 120  # the parent's data, not the default
    run = vaekit.load(child)
    x = torch.rand(5, *run.shape).round()
    out = run.model(x)
    indices = run.parent.model.indices(x)
    expected = run.parent.model.decode_indices(indices).log_prob(x) + run.model.log_prior(indices)
    assert torch.allclose(out.log_px(x)[0], expected)
    assert "train_code_nll" in json.loads((child / "metrics.jsonl").read_text().splitlines()[-1])
    samples = run.model.sample(3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, *run.shape) and torch.isfinite(samples).all()
    # The parent's weights are not part of this stage's.
    assert not any(k.startswith("first_stage") for k in load_file(str(child / "model.safetensors")))
    # A changed parent is refused.
    weights = load_file(str(vq_run / "model.safetensors"))
    changed = tmp_path / "vq-copy"
    shutil.copytree(vq_run, changed)
    cfg["parent"]["run"] = str(changed)
    (child / "config.json").write_text(json.dumps(cfg))
    key = next(iter(weights))
    weights[key] = weights[key] + 1.0
    save_file(weights, str(changed / "model.safetensors"))
    with pytest.raises(RunDirError, match="parent changed"):
        vaekit.load(child)


def test_prior_stage_needs_a_vqvae_parent(tmp_path) -> None:
    from vaekit.api import train

    with pytest.raises(ConfigError, match="second stage"):
        train("pixelcnn-prior", epochs=1, out=tmp_path / "a", overrides=SHRINK, **QUIET)
    plain = train("vae", epochs=1, out=tmp_path / "vae", overrides=SHRINK, **QUIET)
    with pytest.raises(ConfigError, match="must be a vqvae run"):
        train("pixelcnn-prior", epochs=1, out=tmp_path / "b", parent=plain, **QUIET)


def test_vqvae_refuses_tables(tmp_path) -> None:
    from vaekit.api import train

    with pytest.raises(ConfigError, match="needs image data"):
        train("vqvae", epochs=1, out=tmp_path / "t", data="breast-cancer", **QUIET)
