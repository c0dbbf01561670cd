"""The tiny real runs the lossless coders are tested on, one per coder (issue 12), trained once per
test session on `digits` and shared by the coder contract (tests/contracts/test_coders.py) and the
coder-specific test files.

| coder | recipe | stream scheme |
|---|---|---|
| ``bbans`` | one latent layer (`compress`) | BB-ANS, Townsend et al. 2019 |
| ``ladder`` | `ladder` (top-down hierarchy) | BB-ANS over every layer |
| ``bitswap`` | `bitswap` (Markov hierarchy) | Bit-Swap, Kingma, Abbeel & Ho 2019 |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import vaekit

SIZES = ["model.latent_dims=[6, 4, 2]", "model.hidden=[16, 8]", "model.net.hidden=[32, 16]"]


@dataclass(frozen=True)
class CoderSpec:
    """How to train a run for one coder, what its streams say, and how it is trained on binary data."""

    name: str
    recipe: str
    overrides: tuple[str, ...]
    epochs: int
    scheme: str
    latent_dims: list[int] | None  # the layer sizes the stream's header names (None: one layer, not named)
    init_symbols: int  # 16-bit words reserved for the first example's bits back
    binary_recipe: str  # the recipe for a Bernoulli run on bool data
    binary_overrides: tuple[str, ...]


CODERS = {
    spec.name: spec
    for spec in (
        CoderSpec("bbans", "compress", ("data.binarize=none", "model.likelihood=logistic", "model.latent_dim=4",
                                        "model.net.hidden=[32]"), 1, "bbans", None,
                  # 12 bits x 4 latents / 16 -> 3 words, plus 4
                  3 + 4, "vae", ("model.latent_dim=4", "model.net.hidden=[32]")),
        CoderSpec("ladder", "ladder", ("data.binarize=none", "model.likelihood=logistic", *SIZES, "objective.free_bits=0",
                                       "objective.warmup_epochs=1"), 3, "bbans-ladder", [6, 4, 2],
                  # BB-ANS borrows every layer's bits for the first image: 12 bits x (6 + 4 + 2) / 16 -> 9, plus 4
                  9 + 4, "ladder", ("model.latent_dims=[6, 2]", "model.hidden=[8]", "model.net.hidden=[32]",
                                    "model.likelihood=bernoulli")),
        CoderSpec("bitswap", "bitswap", (*SIZES, "objective.warmup_epochs=1"), 3, "bitswap", [6, 4, 2],
                  # one layer's share (the largest: 12 bits x 6 / 16 -> 5), plus 4
                  5 + 4, "bitswap", ("model.latent_dims=[6, 2]", "model.hidden=[8]", "model.net.hidden=[32]",
                                     "model.likelihood=bernoulli")),
    )
}


def train(spec: CoderSpec, out: Path, *, seed: int = 0, binary_data: Path | None = None) -> Path:
    """A real run for ``spec`` on digits (or, with ``binary_data``, a Bernoulli run on that .npy)."""
    if binary_data is None:
        return vaekit.train(spec.recipe, data="digits", epochs=spec.epochs, seed=seed, out=out,
                            overrides=list(spec.overrides), echo=None, progress=False, report=False)
    return vaekit.train(spec.binary_recipe, data=f"npy:{binary_data}", epochs=spec.epochs, seed=seed, out=out,
                        overrides=list(spec.binary_overrides), echo=None, progress=False, report=False)


class CoderRuns:
    """Run directories trained on first use and kept for the session."""

    def __init__(self, root: Path) -> None:
        self.root, self._dirs = root, {}

    def dir(self, name: str) -> Path:
        if name not in self._dirs:
            self._dirs[name] = train(CODERS[name], self.root / name)
        return self._dirs[name]

    def load(self, name: str):
        return vaekit.load(self.dir(name))


def digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images.astype(np.uint8)  # (1797, 8, 8), values 0..16
