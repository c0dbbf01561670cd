"""Compression with a trained VAE (issue 12): lossless bits-back coding (BB-ANS, Townsend et al.
2019) and lossy coding of quantised latents, in a checked ``.vkz`` container. CompressAI's shape::

    from vaekit.tasks.compress import compress, decompress
    data = compress(run, x)          # bytes
    x2 = decompress(run, data)       # the same array, bit for bit

Modules: ``container`` (the file format and its checks), ``discretise`` (latent buckets and
likelihood tables), ``numerics`` (deterministic network evaluation), ``bbans`` (the coder),
``ladder_nets`` and ``hierarchy`` (the same for hierarchical ``ladder`` runs: BB-ANS over the layers),
``markov_nets`` and ``bitswap`` (Markov hierarchies, the ``bitswap`` recipe: Bit-Swap, Kingma et al. 2019),
``symbols`` (arrays <-> symbols), ``files`` (inputs and outputs of the CLI), ``rate`` (actual
bits vs the ELBO), ``lossy`` (quantised latents), ``api``.
"""

from vaekit.tasks.compress.api import compress, decompress, read_header
from vaekit.tasks.compress.container import ContainerError

__all__ = ["compress", "decompress", "read_header", "ContainerError"]
