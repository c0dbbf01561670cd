"""CLI parsers for compress / decompress (issue 12).

Parsing stays torch-free (``vaekit --help`` is instant): handlers import what they need when run."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

INPUTS = ".npy, .npz (array x), an IDX file (*-ubyte, .idx, optionally .gz), an image file, or a folder of images"


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]",
             add_run: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add this module's subcommands to ``sub``; ``add_run`` adds the run-directory and --device arguments."""
    p = sub.add_parser(
        "compress", help="lossless bits-back compression (BB-ANS) with a trained run -> .vkz",
        description="Compress INPUT losslessly with the VAE of a run that has a discrete likelihood (discretised "
                    "logistic on grey levels, or Bernoulli on binary data): bits-back coding with ANS (Townsend et "
                    "al. 2019); a hierarchical `ladder` run is coded by BB-ANS over all its layers, a Markov hierarchy "
                    "(`bitswap` recipe) by Bit-Swap (Kingma et al. 2019). Prints the actual bits/dim next to the model's -ELBO in bits/dim on the same data. "
                    "Coding always runs on the CPU in float64 on one thread (so any machine state decodes it).")
    add_run(p)
    p.add_argument("input", metavar="INPUT", help=f"what to compress: {INPUTS}")
    p.add_argument("-o", "--output", required=True, metavar="FILE.vkz", help="where to write the compressed stream")
    p.add_argument("--latent-bits", type=int, default=12, metavar="B",
                   help="equal-prior-mass buckets per latent dimension = 2**B (4..16, default 12)")
    p.add_argument("--no-elbo", action="store_true", help="skip the -ELBO comparison (saves one evaluation pass)")
    p.add_argument("--lossy", action="store_true",
                   help="lossy instead: quantised latents under a factorised entropy model (decompress then gives "
                        "the model's reconstruction, not the input)")
    p.add_argument("--quality", type=int, default=6, metavar="Q",
                   help="with --lossy: 1 (smallest files) .. 10 (best images), default 6")
    p.set_defaults(func=compress_cmd)

    p = sub.add_parser(
        "decompress", help="restore a .vkz stream exactly (needs the run that compressed it)",
        description="Decompress a .vkz stream made by `vaekit compress` with the same run. The array comes back "
                    "bit for bit (values, dtype, shape); a stream from another run, a newer format or a damaged "
                    "file is refused and nothing is written.")
    add_run(p)
    p.add_argument("stream", metavar="FILE.vkz", help="a stream written by `vaekit compress`")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="where to write: .npy, .npz, .idx / *-ubyte (IDX), .png (one image), or a folder name "
                        "without a suffix (one PNG per image, original names for a folder input)")
    p.set_defaults(func=decompress_cmd)


def _device_note(args: argparse.Namespace) -> None:
    if args.device not in (None, "cpu"):
        print(f"vaekit: note: coding runs on the CPU in float64 whatever --device says ({args.device} ignored), "
              "so that every machine computes the same distributions", file=sys.stderr)


def compress_cmd(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from vaekit.artifacts.load import load
    from vaekit.core.atomic import write_bytes_atomic
    from vaekit.tasks.compress.api import compress
    from vaekit.tasks.compress.files import read_input
    from vaekit.tasks.compress.rate import negative_elbo_bits_per_dim

    _device_note(args)
    run = load(args.run)
    x, source = read_input(args.input)
    from vaekit.training.progress import EpochProgress

    t0 = time.perf_counter()
    raw_shape = (run.dataset.get("preprocessing") or {}).get("raw_shape", ())
    count = len(x) if x.ndim > len(raw_shape) else 1  # for the progress bar only
    with EpochProgress("compressing", total=count) as bar:  # a bar only on a terminal
        data = compress(run, x, latent_bits=args.latent_bits, source=source, lossy=args.lossy, quality=args.quality,
                        progress=lambda i: bar.advance())
    seconds = time.perf_counter() - t0
    write_bytes_atomic(args.output, data)
    from vaekit.tasks.compress.api import read_header

    header = read_header(data)
    dims = max(1, x.size)  # N x D values
    line = (f"Compressed {header.count:,} example(s) {tuple(x.shape)} {x.dtype} ({x.nbytes:,} bytes) -> "
            f"{args.output}: {len(data):,} bytes, {8 * len(data) / dims:.4f} bits/dim "
            f"(payload {8 * header.payload_bytes / dims:.4f}) in {seconds:.1f} s")
    print(line)
    if args.lossy:
        from vaekit.tasks.compress.api import decompress

        recon = decompress(run, data).astype(float)
        peak = float(run.dataset["levels"] - 1)
        mse = ((recon - x.astype(float)) ** 2).reshape(header.count, -1).mean(1)
        psnr = 10 * np.log10(peak ** 2 / np.maximum(mse, 1e-12))
        print(f"Lossy, quality {args.quality}: PSNR {psnr.mean():.2f} dB (mean over examples, peak {peak:g})")
        return 0
    if not args.no_elbo:
        bpd = negative_elbo_bits_per_dim(run, x)
        print(f"Model -ELBO on the same data: {bpd:.4f} bits/dim (k=10 estimate); actual/estimate = "
              f"{8 * len(data) / dims / bpd:.4f} (includes the one-off initial bits and the header)")
    return 0


def decompress_cmd(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vaekit.artifacts.load import load
    from vaekit.core.errors import DataError
    from vaekit.tasks.compress.api import decode_checked
    from vaekit.tasks.compress.container import unpack
    from vaekit.tasks.compress.files import write_output

    _device_note(args)
    path = Path(args.stream).expanduser()
    if not path.is_file():
        raise DataError(f"{path} does not exist; give a .vkz file written by `vaekit compress`")
    header, payload = unpack(path.read_bytes())  # damaged files are refused before the model is loaded
    from vaekit.training.progress import EpochProgress

    run = load(args.run)
    with EpochProgress("decompressing", total=header.count) as bar:  # a bar only on a terminal
        x = decode_checked(run, header, payload, progress=lambda i: bar.advance())
    what = write_output(x, args.output, header.source)
    kind = "the lossy reconstruction" if header.mode == "lossy" else "the data"
    print(f"Decompressed {header.count:,} example(s) {tuple(x.shape)} {x.dtype} -> {args.output} ({what}); "
          f"hash of {kind} verified")
    return 0
