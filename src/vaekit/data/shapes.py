"""The ``shapes`` dataset: a procedural dSprites-like set of 32x32 binary images with known factors.

Every combination of five generative factors appears exactly once (3 * 6 * 10 * 8 * 8 = 11,520
images), drawn deterministically with numpy by testing each pixel centre against the shape's
implicit equation (no downloads, no fonts):

======== ====== ==============================================================================
factor   values meaning
======== ====== ==============================================================================
shape    3      0 square, 1 ellipse (axes 1 : 0.5), 2 heart
scale    6      size, linearly from 0.5 to 1.0 of the largest size (radius 7 px)
rotation 10     angle k * 9 degrees, k = 0..9, i.e. 10 steps over [0, pi/2): the square repeats
                every pi/2, so a wider range would repeat whole images (11,425 of the
                11,520 images are distinct: the smallest shapes sometimes rasterise the same
                at neighbouring angles)
x        8      centre column, linearly from 8 to 24 px
y        8      centre row, linearly from 8 to 24 px
======== ====== ==============================================================================

Pixels are 0 (background) or 1 (shape), so ``levels = 2``. Labels ``y`` are the shape index;
``ArrayData.factors`` holds the (N, 5) int64 factor indices in the order of :data:`FACTORS`.
The split is the usual seeded 80/10/10 permutation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from vaekit.data.array_prep import fixed_divide
from vaekit.data.assemble import splits_from_arrays
from vaekit.data.catalog import DATASETS, NamedSource
from vaekit.data.types import LoadOptions, Splits

SIZE = 32
SHAPES = ("square", "ellipse", "heart")
FACTORS: tuple[tuple[str, int], ...] = (("shape", 3), ("scale", 6), ("rotation", 10), ("x", 8), ("y", 8))
"""(name, number of values) of each factor, in the column order of ``ArrayData.factors``."""
FACTOR_NAMES = tuple(name for name, _ in FACTORS)
FACTOR_SIZES = tuple(size for _, size in FACTORS)
N_EXAMPLES = int(np.prod(FACTOR_SIZES))

SCALES = np.linspace(0.5, 1.0, FACTOR_SIZES[1])
ROTATIONS = np.arange(FACTOR_SIZES[2]) * (np.pi / 2) / FACTOR_SIZES[2]
POSITIONS = np.linspace(8.0, 24.0, FACTOR_SIZES[3])
MAX_RADIUS = 7.0


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Coordinate test in the shape's own frame (unit size, ``v`` pointing down)."""
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == 1:
        return u**2 + (v / 0.5) ** 2 <= 1.0
    # heart: (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, spanning about x in [-1.14, 1.14], y in [-1, 1.25]
    x, y = u * 1.15, -v * 1.15 + 0.12
    return (x**2 + y**2 - 1.0) ** 3 - x**2 * y**3 <= 0.0


@lru_cache(maxsize=1)
def generate() -> tuple[np.ndarray, np.ndarray]:
    """All images (N, 32, 32) uint8 in {0, 1} and their factor indices (N, 5) int64, in
    row-major order of :data:`FACTORS` (the last factor, y, changes fastest). Read-only arrays."""
    grid = np.arange(SIZE) + 0.5
    py, px = np.meshgrid(grid, grid, indexing="ij")  # (H, W) pixel centres
    cx, cy = np.meshgrid(POSITIONS, POSITIONS, indexing="ij")  # (8, 8): x index first, then y
    du = px[None] - cx.reshape(-1, 1, 1)  # (64, H, W)
    dv = py[None] - cy.reshape(-1, 1, 1)
    images = np.empty((*FACTOR_SIZES, SIZE, SIZE), dtype=np.uint8)
    for s in range(FACTOR_SIZES[0]):
        for k, scale in enumerate(SCALES):
            r = MAX_RADIUS * scale
            for j, angle in enumerate(ROTATIONS):
                c, n = np.cos(angle), np.sin(angle)
                u = (c * du + n * dv) / r
                v = (-n * du + c * dv) / r
                images[s, k, j] = _inside(s, u, v).reshape(FACTOR_SIZES[3], FACTOR_SIZES[4], SIZE, SIZE)
    images = images.reshape(N_EXAMPLES, SIZE, SIZE)
    factors = np.stack(np.meshgrid(*[np.arange(n) for n in FACTOR_SIZES], indexing="ij"), axis=-1)
    factors = factors.reshape(N_EXAMPLES, len(FACTORS)).astype(np.int64)
    images.setflags(write=False)
    factors.setflags(write=False)
    return images, factors


def _probe() -> tuple[bool, str]:
    return True, "generated procedurally by vaekit (no download)"


def load_shapes_splits(spec: str, opts: LoadOptions) -> Splits:
    """Generate ``shapes`` and split it with a seeded permutation; ``factors`` ride along."""
    images, factors = generate()
    rule = fixed_divide(images, span=1.0, levels=2, description="binary pixels 0/1, kept as they are", where=spec)
    return splits_from_arrays(
        spec, images, factors[:, 0].copy(), opts, fixed=rule, n_classes=len(SHAPES), factors=factors.copy(),
    )


DATASETS.register("shapes")(
    NamedSource(
        description="procedural dSprites-like shapes, 11,520 32x32 binary images, 2 levels, 3 classes; "
                    "known factors shape(3) scale(6) rotation(10, over [0, pi/2)) x(8) y(8)",
        shape=(1, SIZE, SIZE), n_examples=N_EXAMPLES, probe=_probe, load=load_shapes_splits,
    )
)
