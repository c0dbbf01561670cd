"""Vector quantisation with an exponential-moving-average codebook (van den Oord et al. 2017,
"Neural Discrete Representation Learning", section 3.2 and appendix A.1), with dead-code restarts.

    z_e (B, D, h, w) -> rows (N = B*h*w, D) -> nearest codebook entry e_k (K, D) -> z_q (B, D, h, w)

* Straight-through gradient: the decoder's gradient w.r.t. z_q is copied to z_e.
* Commitment cost ||z_e - sg(z_q)||^2 per example (summed over its D*h*w entries); the model
  weights it (beta = 0.25 in the paper) and reports it as an auxiliary loss.
* Codebook by EMA instead of a codebook loss: N_k <- g N_k + (1-g) n_k, m_k <- g m_k + (1-g) sum z,
  e_k = m_k / N~_k with Laplace-smoothed counts N~_k (decay g = 0.99 as in the paper).
* Dead-code restarts: a code whose EMA count (rows per step) falls below ``restart_below`` (1 by
  default: less than one row per step) is moved onto a random encoder output of the current batch
  (as in Dhariwal et al. 2020, Jukebox), so an unused code keeps jumping onto data until it is
  used. Every code starts dead, so the first training step initialises the codebook from data.
All updates happen only in training mode, under no_grad, on buffers (saved and restored with
the model's state, so resume stays exact); randomness comes from torch's seeded global RNG.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class VectorQuantizerEMA(nn.Module):
    def __init__(self, codes: int, dim: int, *, decay: float = 0.99, eps: float = 1e-5, restart_below: float = 1.0) -> None:
        super().__init__()
        self.codes, self.dim, self.decay, self.eps, self.restart_below = codes, dim, decay, eps, restart_below
        self.register_buffer("embedding", torch.zeros(codes, dim))
        self.register_buffer("cluster_size", torch.zeros(codes))  # EMA of the counts (0 = dead: restarted)
        self.register_buffer("embed_sum", torch.zeros(codes, dim))

    def nearest(self, rows: torch.Tensor) -> torch.Tensor:
        """Index (N,) of the nearest codebook entry of every row (N, D), squared Euclidean distance."""
        e = self.embedding
        distances = rows.pow(2).sum(1, keepdim=True) - 2.0 * rows @ e.t() + e.pow(2).sum(1)  # (N, K)
        return distances.argmin(1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices (B, h, w) -> z_q (B, D, h, w)."""
        return self.embedding[indices].permute(0, 3, 1, 2).contiguous()

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """z_e (B, D, h, w) -> (z_q with straight-through gradient, indices (B, h, w),
        commitment ||z_e - sg(z_q)||^2 per example (B,), stats: perplexity and fraction of codes used)."""
        b, d, h, w = z_e.shape
        rows = z_e.detach().permute(0, 2, 3, 1).reshape(-1, d).float()  # (N, D)
        if self.training:
            self._update(rows)
        indices = self.nearest(rows)  # (N,)
        z_q = self.embedding[indices].view(b, h, w, d).permute(0, 3, 1, 2).to(z_e.dtype)  # (B, D, h, w)
        commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1)  # (B,)
        counts = torch.bincount(indices, minlength=self.codes).float()
        p = counts / counts.sum()
        stats = {"perplexity": torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum()),
                 "codes_used": (counts > 0).float().mean()}
        return z_e + (z_q - z_e).detach(), indices.view(b, h, w), commitment, stats

    @torch.no_grad()
    def _update(self, rows: torch.Tensor) -> None:
        dead = self.cluster_size < self.restart_below
        if bool(dead.any()):
            # Restart dead codes on random encoder outputs of this batch (seeded global RNG).
            picks = torch.randint(len(rows), (int(dead.sum()),), device=rows.device)
            self.embedding[dead] = rows[picks]
            self.cluster_size[dead] = 1.0
            self.embed_sum[dead] = rows[picks]
        indices = self.nearest(rows)
        one_hot = torch.zeros(len(rows), self.codes, device=rows.device)
        one_hot.scatter_(1, indices[:, None], 1.0)  # (N, K)
        self.cluster_size.mul_(self.decay).add_(one_hot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(one_hot.t() @ rows, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.codes * self.eps) * n  # Laplace smoothing
        self.embedding.copy_(self.embed_sum / smoothed[:, None])

    def log_codes(self) -> float:
        """log K: the nats one code carries under a uniform prior."""
        return math.log(self.codes)
