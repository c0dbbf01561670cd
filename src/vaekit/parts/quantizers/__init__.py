"""Vector quantisers: continuous encoder outputs -> the nearest entries of a learned codebook."""

from vaekit.parts.quantizers.vq_ema import VectorQuantizerEMA

__all__ = ["VectorQuantizerEMA"]
