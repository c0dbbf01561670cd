"""A classifier as a standalone feature-net file: one ``.safetensors`` file whose metadata carries
the classifier's model spec, input shape and class count next to its weights.

It is what a user brings when no pretrained network can be downloaded: written from a vaekit
``classifier`` run by :func:`save_feature_net` (or by anyone, with the same metadata and the weights
of a vaekit ``classifier``), it serves as ``vaekit evaluate --fid --feature-net FILE`` and as the
``--parent FILE`` of a run whose perceptual ``features`` term compares images in its features.
Nothing is ever fetched from the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vaekit.artifacts import rundir
from vaekit.core.build import BuildContext
from vaekit.core.errors import RunDirError, VaekitError
from vaekit.models import build_model

FEATURE_NET_KEY = "vaekit_feature_net"


class FeatureNet:
    """A classifier used as a feature net (``model.features(x) -> (B, F)``), with the input shape it
    takes and where it came from. ``config.model`` is its model spec, as for a loaded run."""

    def __init__(self, model: torch.nn.Module, shape: tuple[int, ...], path: Any, spec: dict[str, Any] | None = None) -> None:
        self.model, self.shape, self.path = model, tuple(shape), path
        self.config = _SpecOnly(spec or {})


class _SpecOnly:
    """The part of a run's config a feature-net file has: its model spec."""

    def __init__(self, model: dict[str, Any]) -> None:
        self.model = model


def save_feature_net(run: Any, path: Any) -> None:
    """Write a classifier run's weights as one self-describing ``.safetensors`` file (its model spec,
    input shape and class count in the metadata), usable as ``--feature-net FILE`` and ``--parent FILE``."""
    if getattr(run.model, "GENERATIVE", True) or not hasattr(run.model, "features"):
        raise VaekitError(f"{run.path} is not a classifier run; only a classifier can be saved as a feature net")
    meta = {"model": run.config.model, "shape": list(run.shape), "n_classes": int(run.model.n_classes),
            "source": str(run.path)}
    rundir.save_tensors(Path(path), run.model.state_dict(), metadata={FEATURE_NET_KEY: json.dumps(meta, sort_keys=True)})


def is_feature_net_file(path: Any) -> bool:
    """True for a readable ``.safetensors`` file that carries feature-net metadata."""
    p = Path(path)
    if p.suffix != ".safetensors" or not p.is_file():
        return False
    try:
        return FEATURE_NET_KEY in rundir.read_metadata(p)
    except RunDirError:  # a damaged file: not usable (read_feature_net_file says why)
        return False


def read_feature_net_file(path: Any, device: str | torch.device = "cpu") -> FeatureNet:
    """The classifier described by a feature-net file, in eval mode on ``device``."""
    p = Path(path)
    if p.suffix != ".safetensors" or not p.is_file():
        raise VaekitError(f"{path}: not a .safetensors feature-net file (give a classifier run directory or a file "
                          "written by vaekit.tasks.fid.save_feature_net)")
    meta_text = rundir.read_metadata(p).get(FEATURE_NET_KEY)  # a damaged file: RunDirError saying so
    if meta_text is None:
        raise VaekitError(f"{path} has no '{FEATURE_NET_KEY}' metadata: it is not a feature-net file (write one with "
                          "vaekit.tasks.fid.save_feature_net(vaekit.load(CLASSIFIER_RUN), PATH))")
    try:
        meta = json.loads(meta_text)
        spec, shape, n_classes = meta["model"], tuple(int(s) for s in meta["shape"]), int(meta["n_classes"])
    except (ValueError, KeyError, TypeError) as err:
        raise VaekitError(f"{path}: its feature-net metadata is malformed ({err!r}); write the file again") from None
    model = build_model(spec, BuildContext(shape=shape, n_classes=n_classes))
    state = rundir.load_tensors(p)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise VaekitError(f"{path}: the weights do not fit the described classifier "
                          f"({rundir.state_dict_mismatch(model.state_dict(), state)})")
    return FeatureNet(model.to(device).eval(), shape, p, spec)
