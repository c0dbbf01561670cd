"""VAE-GAN (Larsen et al. 2016, "Autoencoding beyond pixels using a learned similarity metric").

A discriminator Dis tells data x from reconstructions x~ = E_p(x|z)[x] (z ~ q(z|x)) and from
samples x_p (z ~ p(z)); its hidden features Dis_l(.) give the reconstruction term, a Gaussian in
feature space: L_llike = 1/2 ||Dis_l(x) - Dis_l(x~)||^2 (nats up to a constant). Three named
steps per batch, each with its own optimiser (the paper's three updates):

* ``model``   (encoder, posterior, prior):  KL + L_llike + pixel_weight * (-log p(x|z))
* ``decoder`` (decoder, likelihood):        gamma * (L_llike + pixel_weight * (-log p(x|z))) + L_GAN,gen
* ``disc``    (discriminator):              L_GAN,disc

with the non-saturating GAN losses L_GAN,disc = BCE(Dis(x), 1) + BCE(Dis(x~), 0) + BCE(Dis(x_p), 0)
and L_GAN,gen = BCE(Dis(x~), 1) + BCE(Dis(x_p), 1). Stabilisers: spectral normalisation on every
discriminator layer (Miyato et al. 2018) and Adam betas (0.5, 0.999) for the discriminator. Departure
from the paper: a pixel-space likelihood term (``pixel_weight``, default 1) is kept next to the feature
term — with a discriminator that starts random, feature-only reconstruction barely trains in the few
CPU epochs vaekit budgets; set ``pixel_weight = 0`` for the paper's objective.

The reported ``loss`` stays the plain -ELBO (pixel likelihood + KL), so runs compare with other
recipes; ``feature_recon``, ``gan_gen`` and the discriminator's ``loss``/``accuracy`` are logged too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from vaekit.core.build import BuildContext
from vaekit.core.errors import ConfigError
from vaekit.core.types import Batch, Loss, StepContext
from vaekit.objectives.registry import MAIN_STEP, OBJECTIVES, Objective, StepSpec

DECODER_STEP, DISC_STEP = "decoder", "disc"


class Discriminator(nn.Module):
    """(B, C, H, W) -> features Dis_l (B, F) and a real/fake logit (B,); spectral-normalised convs."""

    def __init__(self, shape: tuple[int, ...], channels: tuple[int, ...]) -> None:
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *channels[:-1]], channels):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            width = self.features(torch.zeros(1, c, h, w)).shape[1]
        self.head = spectral_norm(nn.Linear(width, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return f, self.head(f).squeeze(1)


@OBJECTIVES.register("vae-gan")
class VAEGAN(Objective):
    BOUND_AT_DEFAULTS = False

    def __init__(self, ctx: BuildContext, *, gamma: float = 1.0, pixel_weight: float = 1.0,
                 disc_channels: tuple[int, ...] = (32, 64), disc_lr: float = 2e-4) -> None:
        super().__init__()
        if len(ctx.shape) != 3:
            raise ConfigError(f"objective.name='vae-gan' needs image data (C, H, W); this data has shape {tuple(ctx.shape)}")
        if min(gamma, pixel_weight) < 0 or not disc_channels or min(disc_channels) < 1:
            raise ConfigError("objective.gamma and pixel_weight must be >= 0 and disc_channels positive widths; got "
                              f"{gamma}, {pixel_weight}, {list(disc_channels)}")
        self.discriminator = Discriminator(tuple(ctx.shape), tuple(disc_channels))
        self.gamma, self.pixel_weight, self.disc_lr = gamma, pixel_weight, disc_lr

    def steps(self, model: nn.Module) -> dict[str, StepSpec]:
        if not hasattr(model, "decoder") or not hasattr(model, "likelihood"):
            raise ConfigError("objective.name='vae-gan' needs a model with a decoder and likelihood (model.name='vae')")
        generative = {id(p) for m in (model.decoder, model.likelihood) for p in m.parameters()}
        return {
            MAIN_STEP: StepSpec([p for p in model.parameters() if id(p) not in generative]),
            DECODER_STEP: StepSpec([p for p in model.parameters() if id(p) in generative]),
            DISC_STEP: StepSpec(list(self.discriminator.parameters()), {"lr": self.disc_lr, "betas": (0.5, 0.999)}),
        }

    def _pieces(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        out = self.run_model(model, batch, samples=1)
        if len(out.latents) != 1:
            raise ConfigError(f"objective.name='vae-gan' trains one latent layer; this model has {len(out.latents)}")
        x = batch.x
        x_rec = out.px.mean[0]  # (B, C, H, W): the decoder's mean at z ~ q(z|x)
        z_p = model.sample_codes(len(batch), cond=model.condition(batch.y))  # (B, L) from the prior (global RNG)
        x_gen = model.decode(z_p, batch.y).mean
        return {"recon": -out.log_px(x)[0], "kl": out.kl(), "x_rec": x_rec, "x_gen": x_gen, "logged": out.logged()}

    def forward(self, model: nn.Module, batch: Batch, ctx: StepContext, step: str = MAIN_STEP) -> Loss:
        p = self._pieces(model, batch)
        real_f, real_logit = self.discriminator(batch.x)
        ones = torch.ones_like(real_logit)
        if step == DISC_STEP:
            _, rec_logit = self.discriminator(p["x_rec"].detach())
            _, gen_logit = self.discriminator(p["x_gen"].detach())
            loss = (F.binary_cross_entropy_with_logits(real_logit, ones)
                    + F.binary_cross_entropy_with_logits(rec_logit, 0 * ones)
                    + F.binary_cross_entropy_with_logits(gen_logit, 0 * ones))
            accuracy = ((real_logit > 0).float().mean() + (rec_logit < 0).float().mean()
                        + (gen_logit < 0).float().mean()) / 3
            return Loss(total=loss, terms={"loss": loss.detach(), "accuracy": accuracy.detach()})
        rec_f, rec_logit = self.discriminator(p["x_rec"])
        feature_recon = 0.5 * (real_f.detach() - rec_f).pow(2).sum(1)  # (B,)
        like = feature_recon.mean() + self.pixel_weight * p["recon"].mean()
        recon_m, kl_m = p["recon"].mean().detach(), p["kl"].mean().detach()
        terms = {"loss": recon_m + kl_m, "recon": recon_m, "kl": kl_m, "feature_recon": feature_recon.mean().detach()}
        if step == DECODER_STEP:
            _, gen_logit = self.discriminator(p["x_gen"])
            gan_gen = (F.binary_cross_entropy_with_logits(rec_logit, ones)
                       + F.binary_cross_entropy_with_logits(gen_logit, ones))
            total = self.gamma * like + gan_gen
            terms.update(gan_gen=gan_gen.detach(), objective=total.detach())
            return Loss(total=total, terms=terms)
        total = p["kl"].mean() + like
        terms.update(objective=total.detach(), **p["logged"])
        return Loss(total=total, terms=terms)
