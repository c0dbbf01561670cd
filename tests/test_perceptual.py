"""Perceptual terms: SSIM against scikit-image's reference implementation, identities, and the
classifier-feature term's parent requirement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.parts import PERCEPTUAL

CTX = BuildContext(shape=(1, 28, 28))


def _images(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 1, 28, 28, generator=g).cumsum(-1) / 28  # smooth-ish ramps in [0, 1]
    noisy = (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, noisy


def test_ssim_matches_scikit_image() -> None:
    from skimage.metrics import structural_similarity

    x, y = _images()
    term = PERCEPTUAL.build({"name": "ssim", "weight": 1.0}, CTX, "objective.perceptual[0]")
    ours = 1.0 - term(x, y)
    for i in range(3):
        _, full = structural_similarity(x[i, 0].numpy().astype(np.float64), y[i, 0].numpy().astype(np.float64),
                                        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=1.0, full=True)
        # scikit-image pads the borders; ours is the valid region only: compare over that region
        valid = full[5:-5, 5:-5].mean()
        assert float(ours[i]) == pytest.approx(valid, abs=2e-3)


@pytest.mark.parametrize("name", ["ssim", "ms-ssim"])
def test_identical_images_cost_nothing_and_noise_costs_more(name: str) -> None:
    x, noisy = _images(1)
    term = PERCEPTUAL.build({"name": name}, CTX, "objective.perceptual[0]")
    assert torch.allclose(term(x, x), torch.zeros(3), atol=1e-4)
    worse = (x + 0.3 * torch.randn_like(x)).clamp(0, 1)
    assert bool((term(x, worse) > term(x, noisy)).all())
    y = noisy.clone().requires_grad_(True)
    term(x, y).sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_bad_settings_and_data_are_refused() -> None:
    with pytest.raises(ConfigError, match="do not fit"):
        PERCEPTUAL.build({"name": "ms-ssim", "scales": 5}, CTX, "objective.perceptual[0]")
    with pytest.raises(ConfigError, match="compares images"):
        PERCEPTUAL.build({"name": "ssim"}, BuildContext(shape=(30,)), "objective.perceptual[0]")
    with pytest.raises(ConfigError, match="--parent CLF"):
        PERCEPTUAL.build({"name": "features"}, CTX, "objective.perceptual[0]")


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    from vaekit.api import train

    return train("classifier", out=tmp_path_factory.mktemp("perceptual") / "clf", epochs=1,
                 overrides=["data.limit=200"], echo=None, progress=False, report=False)


FEATURES = 'objective.perceptual=[{name="features", weight=2.0}]'


def test_feature_term_trains_a_vae_against_a_classifier_parent(classifier, tmp_path) -> None:
    import json

    from vaekit.api import train

    run = train("vae", out=tmp_path / "vae", parent=classifier, epochs=1, overrides=["data.limit=200", FEATURES],
                echo=None, progress=False, report=False)
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["train_perceptual"] > 0
    from safetensors.torch import load_file

    assert not any("net." in k for k in load_file(str(run / "model.safetensors")))  # the classifier is not saved


def test_feature_term_with_a_user_supplied_feature_net_file(classifier, tmp_path) -> None:
    """A classifier brought as one .safetensors file (no run directory) is a parent like a run: pinned
    by its sha256, refused once it changes; a weights file without feature-net metadata is refused."""
    import json

    import vaekit
    from vaekit.api import train
    from vaekit.core.errors import RunDirError
    from vaekit.tasks.fid import save_feature_net

    net = tmp_path / "net.safetensors"
    save_feature_net(vaekit.load(classifier), net)
    run = train("vae", out=tmp_path / "vae", parent=net, epochs=1, overrides=["data.limit=200", FEATURES],
                echo=None, progress=False, report=False)
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["train_perceptual"] > 0
    link = json.loads((run / "config.json").read_text())["parent"]
    assert link["run"] == str(net.resolve()) and len(link["sha256"]) == 64
    assert vaekit.load(run).model is not None
    with pytest.raises(ConfigError, match="without feature-net metadata"):
        train("vae", out=tmp_path / "bad", parent=run / "model.safetensors", epochs=1, overrides=[FEATURES],
              echo=None, progress=False, report=False)
    other = train("classifier", out=tmp_path / "clf2", epochs=1, seed=1, overrides=["data.limit=100"], echo=None,
                  progress=False, report=False)
    save_feature_net(vaekit.load(other), net)  # the parent file changes under the trained run
    with pytest.raises(RunDirError, match="the parent changed"):
        vaekit.load(run)
