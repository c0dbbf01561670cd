"""vaekit: variational autoencoders — train, evaluate honestly, and use them.

    import vaekit
    run_dir = vaekit.train()              # default recipe on the embedded digits data
    run = vaekit.load(run_dir)            # config + model rebuilt through the registries
    metrics = vaekit.evaluate(run_dir)    # ELBO, IWAE NLL (k=1000), bits/dim, active units

The heavy imports (torch) happen on first use, so ``import vaekit`` and ``vaekit --help`` stay fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["evaluate", "load", "train", "__version__"]


def __getattr__(name: str) -> Any:
    if name in {"train", "load", "evaluate"}:
        from vaekit import api

        return getattr(api, name)
    raise AttributeError(f"module 'vaekit' has no attribute {name!r}")
