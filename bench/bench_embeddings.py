#!/usr/bin/env python3
"""Embeddings benchmark (issue 11): downstream accuracy of vaekit.sklearn.VAETransformer codes vs
PCA of the same size, in one invocation, on the same splits.

For each dataset and code size d in {2, 10, 32} (at most the number of features: breast-cancer's 30): fit the embedding on the training rows (VAE:
``VAETransformer(recipe, n_components=d, epochs=E, random_state=seed)``, which trains on its own
80 % of them with early stopping on 10 %; PCA: ``PCA(n_components=d)`` on all of them), embed
train / validation / test, then fit on the training codes

* kNN (``KNeighborsClassifier``, k in {5, 15} chosen on the validation codes) and
* logistic regression (``StandardScaler`` + ``LogisticRegression``, C in {0.1, 1, 10} chosen on validation),

and report test accuracy (%), mean ± sd over seeds (PCA is deterministic: one fit, sd 0).

Data: Fashion-MNIST (official 60k/10k; validation = 5,000 of the 60k held out; pixels ÷ 255 —
``--fashion-train N`` limits the training rows) and breast-cancer (569 rows, seeded 60/20/20;
features as given, the VAE scales them with its saved preprocessing, PCA sees them standardised).
``--quick``: digits instead of Fashion-MNIST, d in {2, 10}, 1 seed, few epochs: seconds.

    python3 bench/bench_embeddings.py
    python3 bench/bench_embeddings.py --quick
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_anomaly import load_data as load_fashion  # noqa: E402
from docs_sections import put_section  # noqa: E402
from bench_inpaint import DOCS, RESULTS, Recorder  # noqa: E402
from harness import Stat, claim, md_table  # noqa: E402


def datasets(args: argparse.Namespace) -> dict[str, tuple[np.ndarray, ...]]:
    """name -> (x_train, y_train, x_val, y_val, x_test, y_test)."""
    from sklearn.datasets import load_breast_cancer

    out = {}
    if args.quick:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        name = "digits"
    else:
        xtr, ytr, xte, yte = load_fashion(False)
        rng = np.random.default_rng(0)
        order = rng.permutation(len(xtr))
        val, tr = order[:5000], order[5000:][: args.fashion_train]
        out["fashion-mnist"] = (xtr[tr], ytr[tr], xtr[val], ytr[val], xte, yte)
        name = None
    if name:
        order = np.random.default_rng(0).permutation(len(x))
        a, b = int(0.6 * len(x)), int(0.8 * len(x))
        out[name] = (x[order[:a]], y[order[:a]], x[order[a:b]], y[order[a:b]], x[order[b:]], y[order[b:]])
    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    a, b = int(0.6 * len(x)), int(0.8 * len(x))
    out["breast-cancer"] = (x[order[:a]], y[order[:a]], x[order[a:b]], y[order[a:b]], x[order[b:]], y[order[b:]])
    return out


def downstream(codes: tuple[np.ndarray, np.ndarray, np.ndarray], ys: tuple[np.ndarray, ...]) -> dict[str, Any]:
    """Test accuracy (%) of kNN and logistic regression, settings chosen on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    (ztr, zva, zte), (ytr, yva, yte) = codes, ys
    result: dict[str, Any] = {"split": "test"}
    for name, make, grid in (
        ("knn", lambda v: KNeighborsClassifier(n_neighbors=v), (5, 15)),
        ("logreg", lambda v: make_pipeline(StandardScaler(), LogisticRegression(C=v, max_iter=2000)), (0.1, 1.0, 10.0)),
    ):
        val = {v: make(v).fit(ztr, ytr).score(zva, yva) for v in grid}
        best = max(val, key=val.get)
        result[name] = 100 * make(best).fit(ztr, ytr).score(zte, yte)
        result[f"{name}_setting"] = best
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seeds", type=int, default=None, help="default 3 (--quick 1)")
    p.add_argument("--epochs", type=int, default=None, help="VAE epochs (default 30; --quick 10)")
    p.add_argument("--fashion-train", type=int, default=55_000, help="Fashion-MNIST training rows (default all 55,000)")
    p.add_argument("--data", default=None, help="comma-separated subset of the datasets, e.g. breast-cancer")
    p.add_argument("--results", type=Path, default=None)
    p.add_argument("--docs", type=Path, default=None)
    args = p.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.epochs = args.epochs or (10 if args.quick else 30)
    dims = (2, 10) if args.quick else (2, 10, 32)
    rec = Recorder(args.results or RESULTS / ("quick-embeddings.jsonl" if args.quick else "embeddings.jsonl"),
                   "embeddings", args.quick)
    docs = args.docs or (RESULTS / "quick-embeddings.md" if args.quick else DOCS)
    data = datasets(args) if args.data != "breast-cancer" else {}
    if args.data:
        if not data:
            data = {"breast-cancer": datasets(argparse.Namespace(quick=True))["breast-cancer"]}
        unknown = set(args.data.split(",")) - set(data)
        if unknown:
            raise SystemExit(f"unknown --data {sorted(unknown)}; choose from {sorted(data)}")
        data = {k: v for k, v in data.items() if k in args.data.split(",")}
    acc: dict[tuple[str, str, int, str], list[float]] = {}
    for seed in range(args.seeds):
        for name, (xtr, ytr, xva, yva, xte, yte) in data.items():
            recipe = "fashion" if name == "fashion-mnist" else "vae"
            for d in sorted({min(d, xtr.shape[1]) for d in dims}):  # breast-cancer has 30 features: 32 -> 30
                def vae_side() -> dict[str, Any]:
                    from vaekit.sklearn import VAETransformer

                    emb = VAETransformer(recipe=recipe, n_components=d, epochs=args.epochs, random_state=seed,
                                         work_dir=RESULTS / "runs" / ("quick-emb" if args.quick else "emb") / f"{name}-d{d}-s{seed}")
                    emb.fit(xtr)
                    return downstream((emb.transform(xtr), emb.transform(xva), emb.transform(xte)), (ytr, yva, yte))

                def pca_side() -> dict[str, Any]:
                    from sklearn.decomposition import PCA
                    from sklearn.preprocessing import StandardScaler

                    scale = StandardScaler().fit(xtr) if name == "breast-cancer" else None
                    t = (lambda a: scale.transform(a)) if scale else (lambda a: a / (16.0 if name == "digits" else 255.0))
                    pca = PCA(n_components=d, svd_solver="full").fit(t(xtr))
                    return downstream((pca.transform(t(xtr)), pca.transform(t(xva)), pca.transform(t(xte))), (ytr, yva, yte))

                v = rec.measure("vaekit", seed, f"{name}-d{d}", {"epochs": args.epochs, "recipe": recipe}, vae_side)
                q = rec.measure("pca", 0, f"{name}-d{d}", {}, pca_side)
                for clf in ("knn", "logreg"):
                    acc.setdefault((name, "vaekit", d, clf), []).append(v[clf])
                    acc.setdefault((name, "pca", d, clf), []).append(q[clf])
        rows = []
        for name, arrays in data.items():
            for d in sorted({min(d, arrays[0].shape[1]) for d in dims}):
                for clf in ("knn", "logreg"):
                    a, b = Stat.of(acc[(name, "vaekit", d, clf)]), Stat.of(acc[(name, "pca", d, clf)])
                    rows.append([name, d, {"knn": "kNN", "logreg": "logistic regression"}[clf], a.fmt(1), b.fmt(1),
                                 claim(a, b, b_name="PCA")])
        done = seed + 1
        partial = "" if done >= args.seeds else f" — partial: {done} of {args.seeds} seeds"
        body = "\n".join([
            f"Command: `python3 bench/bench_embeddings.py{' --quick' if args.quick else ''}"
            f"{' --data ' + args.data if args.data else ''}` ({done} seed(s){partial}; "
            f"{rec.load_note()}).", "",
            "**Test accuracy (%) of classifiers on the codes, mean ± sd over seeds (PCA deterministic, one fit)**", "",
            md_table(["data", "d", "classifier", "vaekit VAETransformer", "PCA", "claim"], rows)])
        put_section(docs, "embeddings", body)
    print(body)
    print(f"\nWrote {docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
