"""Bad input through the real CLI: a clear one-line message on stderr, a non-zero exit code
(2 for config errors), existing files untouched and nothing written for a new ``--out``.

All commands are set up and started (two at a time, in the background) by the module fixture
``cases``; each test then waits for its own command and checks the outcome.
"""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_ARGS, CliPool, cli_env, run_cli, snapshot

DIVERGE = ["--set", "train.lr=1e30", "--set", "train.clip_grad=none", "--set", "train.max_bad_steps=3",
           "--set", "train.warmup_steps=0"]


@dataclass
class Case:
    args: list
    words: list[str]  # must all appear in stderr (case-insensitive)
    rc: int | None = None  # None: any non-zero exit code
    env: dict | None = None
    absent: list[Path] = field(default_factory=list)  # must not exist afterwards
    untouched: list[Path] = field(default_factory=list)  # files or folders whose bytes and mtimes must not change
    check: Callable[[], None] | None = None  # extra checks afterwards
    before: dict = field(default_factory=dict)
    future: object = None


def _state(path: Path) -> object:
    if path.is_dir():
        return snapshot(path)
    return (path.read_bytes(), path.stat().st_mtime_ns)


def _edit_json(path: Path, edit: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data, indent=2))


def _idx_gz(path: Path, array: np.ndarray, truncate: bool = False) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    blob = gzip.compress(header + array.astype(np.uint8).tobytes())
    path.write_bytes(blob[: len(blob) // 2] if truncate else blob)


def _assert_finite_weights(run: Path) -> None:
    for name in ("model.safetensors", "checkpoint.safetensors"):
        if (run / name).exists():
            for key, t in load_file(str(run / name)).items():
                if t.is_floating_point():
                    assert torch.isfinite(t).all(), f"{name}: {key} holds NaN/inf"


@pytest.fixture(scope="module")
def cases(prefetched: dict) -> dict[str, Case]:
    return prefetched[__name__]


def plan_cli_jobs(cli_pool: CliPool, tiny_run: Path, d: Path) -> dict[str, Case]:
    """Set up every case and start its command in the background at the start of the session
    (see conftest.prefetched); the tests then wait for and check each outcome."""

    def run_dir(name: str) -> Path:
        dest = d / name
        shutil.copytree(tiny_run, dest)
        return dest

    tabular = d / "tabular.npy"
    np.save(tabular, np.random.default_rng(0).normal(size=(60, 5)).astype(np.float32))
    garbage = d / "garbage.npy"
    garbage.write_bytes(b"this is not a numpy file\x00\xff\xfe" * 10)
    with_nan = d / "nan.npy"
    arr = np.random.default_rng(1).random((60, 5))
    arr[7, 3] = np.nan
    np.save(with_nan, arr)
    bad_recipe = d / "typo.toml"
    bad_recipe.write_text('description = "typo"\n[train]\nepochz = 3\n')
    fm = d / "idx"
    fm.mkdir()
    images, labels = np.zeros((20, 28, 28)), np.arange(20) % 10
    _idx_gz(fm / "train-images-idx3-ubyte.gz", images, truncate=True)
    _idx_gz(fm / "train-labels-idx1-ubyte.gz", labels)
    _idx_gz(fm / "t10k-images-idx3-ubyte.gz", images)
    _idx_gz(fm / "t10k-labels-idx1-ubyte.gz", labels)
    a_file = d / "somefile"
    a_file.write_text("not a folder\n")

    c: dict[str, Case] = {}
    new = lambda name: d / "new" / name  # noqa: E731  a fresh --out that must never be created

    # -- names and config -----------------------------------------------------------------
    c["unknown_dataset"] = Case(["train", "--data", "nosuchdata", "--out", new("a")],
                                ["unknown dataset", "nosuchdata", "digits", "fashion-mnist", "npy:PATH"], rc=1,
                                absent=[new("a")])
    c["unknown_recipe"] = Case(["train", "--recipe", "nosuchrecipe", "--out", new("b")],
                               ["unknown recipe", "nosuchrecipe", "vae", "iwae"], rc=2, absent=[new("b")])
    c["unknown_set_key"] = Case(["train", "--set", "train.lrr=0.1", "--out", new("c")],
                                ["unknown key", "train.lrr", "allowed keys", "lr", "epochs", "batch_size"], rc=2,
                                absent=[new("c")])
    c["wrong_type_set"] = Case(["train", "--set", "train.epochs=many", "--out", new("d")],
                               ["train.epochs", "integer", "many"], rc=2, absent=[new("d")])
    c["bad_recipe_toml_key"] = Case(["train", "--recipe", bad_recipe, "--out", new("e")],
                                    [str(bad_recipe), "unknown key", "train.epochz", "allowed keys"], rc=2,
                                    absent=[new("e")], untouched=[bad_recipe])
    c["conv_on_tabular"] = Case(["train", "--data", f"npy:{tabular}", "--set", "model.net=conv", "--out", new("f")],
                                ["model.net='conv'", "(5,)", "model.net=mlp"], rc=2, absent=[new("f")])
    c["logistic_on_continuous"] = Case(
        ["train", "--data", f"npy:{tabular}", "--set", "model.likelihood=logistic", "--out", new("g")],
        ["logistic", "continuous", "gaussian"], rc=2, absent=[new("g")])

    # -- data -----------------------------------------------------------------------------
    c["data_file_missing"] = Case(["train", "--data", "npy:/nonexistent.npy", "--out", new("h")],
                                  ["/nonexistent.npy", "does not exist"], rc=1, absent=[new("h")])
    c["corrupt_npy"] = Case(["train", "--data", f"npy:{garbage}", "--out", new("i")],
                            ["cannot read", str(garbage), ".npy"], rc=1, absent=[new("i")], untouched=[garbage])
    c["corrupt_idx_gzip"] = Case(
        ["train", "--data", "fashion-mnist", "--out", new("j")],
        ["corrupt dataset file", "train-images-idx3-ubyte.gz", "download it again"], rc=1,
        env=cli_env(VAEKIT_DATA=str(fm), VAEKIT_SYSTEM_DATA="", VAEKIT_OFFLINE="1"),
        absent=[new("j")], untouched=[fm])
    c["nan_in_data"] = Case(["train", "--data", f"npy:{with_nan}", "--out", new("k")],
                            ["nan", "row index 7"], rc=1, absent=[new("k")])
    shape_run = run_dir("shape")
    c["evaluate_wrong_shape"] = Case(["evaluate", shape_run, "--k", "5", "--data", f"npy:{tabular}"],
                                     ["(60, 5)", "(8, 8)", "does not fit"], rc=1,
                                     absent=[shape_run / "eval.json"], untouched=[shape_run])

    # -- damaged run directories ----------------------------------------------------------
    no_config = run_dir("no-config")
    (no_config / "config.json").unlink()
    c["missing_config"] = Case(["evaluate", no_config, "--k", "5"], ["config.json", "missing"], rc=1,
                               absent=[no_config / "eval.json"], untouched=[no_config])
    no_model = run_dir("no-model")
    (no_model / "model.safetensors").unlink()
    c["missing_model"] = Case(["sample", no_model, "-n", "4", "-o", d / "nm.png"], ["model.safetensors", "missing"],
                              rc=1, absent=[d / "nm.png"], untouched=[no_model])
    corrupt = run_dir("corrupt-model")
    (corrupt / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage" + b"\xde\xad" * 50)
    c["corrupt_model_evaluate"] = Case(["evaluate", corrupt, "--k", "5"], ["model.safetensors", "corrupt"], rc=1,
                                       absent=[corrupt / "eval.json"], untouched=[corrupt])
    c["corrupt_model_sample"] = Case(["sample", corrupt, "-n", "4", "-o", d / "cm.npy"],
                                     ["model.safetensors", "corrupt"], rc=1, absent=[d / "cm.npy"], untouched=[corrupt])

    # -- resume ---------------------------------------------------------------------------
    finished = run_dir("finished")
    c["resume_finished"] = Case(["train", "--resume", finished], ["already trained 2 of 2", "--epochs"], rc=1,
                                untouched=[finished])
    incompatible = run_dir("incompatible")
    _edit_json(incompatible / "config.json", lambda cfg: cfg["model"].update(latent_dim=6))
    c["resume_incompatible"] = Case(["train", "--resume", incompatible, "--epochs", "3"],
                                    ["checkpoint.safetensors", "does not fit", "cannot be resumed"], rc=1,
                                    untouched=[incompatible])
    with_set = run_dir("with-set")
    c["resume_with_set"] = Case(["train", "--resume", with_set, "--epochs", "3", "--set", "train.lr=1e-3"],
                                ["--resume", "only --epochs"], untouched=[with_set])
    occupied = run_dir("occupied")
    c["train_into_existing_run"] = Case(["train", "--out", occupied, "--epochs", "1", *TINY_ARGS],
                                        ["already holds a run", "--resume"], rc=1, untouched=[occupied])

    # -- outputs --------------------------------------------------------------------------
    c["output_dir_missing"] = Case(["sample", tiny_run, "-n", "2", "-o", "/nonexistent-dir/x.png"],
                                   ["/nonexistent-dir", "does not exist"], rc=1, absent=[Path("/nonexistent-dir")])
    c["output_bad_suffix"] = Case(["sample", tiny_run, "-n", "2", "-o", d / "x.txt"], ["x.txt", ".npy", ".png"],
                                  rc=1, absent=[d / "x.txt"])
    c["out_under_a_file"] = Case(["train", "--out", a_file / "run", "--epochs", "1", *TINY_ARGS],
                                 ["cannot write the run directory", str(a_file / "run"), "--out"], rc=1,
                                 untouched=[a_file])

    # -- training that diverges -----------------------------------------------------------
    # lr = 1e30 with clipping off: the first Adam step moves every weight by ~1e30, the next
    # forward pass overflows float32, and 3 non-finite steps in a row stop training in epoch 1.
    diverged = new("diverge")
    c["diverge_fresh"] = Case(["train", "--out", diverged, "--epochs", "2", *TINY_ARGS, *DIVERGE],
                              ["non-finite", "lower --set train.lr"], rc=1,
                              check=lambda: _assert_finite_weights(diverged))
    # The same after good epochs: a finished run whose config is edited to the diverging settings
    # and extended. The epoch that blows up must not replace the good weights.
    late = run_dir("late-diverge")
    _edit_json(late / "config.json", lambda cfg: cfg["train"].update(
        lr=1e30, clip_grad=None, max_bad_steps=3, warmup_steps=0))
    late_files = [late / n for n in ("model.safetensors", "checkpoint.safetensors", "metrics.jsonl", "dataset.json")]

    def late_check() -> None:
        _assert_finite_weights(late)
        assert len((late / "metrics.jsonl").read_text().splitlines()) == 2

    c["diverge_after_good_epochs"] = Case(["train", "--resume", late, "--epochs", "4"],
                                          ["non-finite", "epoch 3", "lower --set train.lr"], rc=1,
                                          untouched=late_files, check=late_check)

    # -- edge cases found while writing these tests ---------------------------------------
    k0 = run_dir("k0")
    c["bug_k_zero"] = Case(["evaluate", k0, "--k", "0"], ["--k"], absent=[k0 / "eval.json"])
    c["bug_limit_zero"] = Case(["evaluate", k0, "--k", "5", "--limit", "0"], ["--limit"], absent=[k0 / "eval.json"])
    is_dir = d / "dir-out"
    (is_dir / "d.png").mkdir(parents=True)
    c["bug_output_is_dir"] = Case(["sample", tiny_run, "-n", "2", "-o", is_dir / "d.png"], ["d.png"],
                                  check=lambda: _assert_no_temp_files(is_dir))

    for case in c.values():
        case.before = {p: _state(p) for p in case.untouched}
        case.future = cli_pool.submit(*case.args, env=case.env)

    def diverge_then_retry() -> tuple[int, str, str]:
        out = d / "retry"
        rc, _, stderr = run_cli("train", "--out", out, "--epochs", "1", *TINY_ARGS, *DIVERGE)
        assert rc == 1 and "non-finite" in stderr, stderr
        # Follow the advice in the message: a lower learning rate, same place.
        return run_cli("train", "--out", out, "--epochs", "1", *TINY_ARGS, "--set", "train.lr=1e-3")

    c["bug_retry"] = Case([], [], future=cli_pool.call(diverge_then_retry))
    return c


def _assert_no_temp_files(folder: Path) -> None:
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "temp file left behind"


@pytest.mark.parametrize("name", [
    "unknown_dataset", "unknown_recipe", "unknown_set_key", "wrong_type_set",
    "bad_recipe_toml_key", "conv_on_tabular", "logistic_on_continuous",
    "data_file_missing", "corrupt_npy", "corrupt_idx_gzip", "nan_in_data", "evaluate_wrong_shape",
    "missing_config", "missing_model", "corrupt_model_evaluate", "corrupt_model_sample",
    "resume_finished", "resume_incompatible", "resume_with_set", "train_into_existing_run",
    "output_dir_missing", "output_bad_suffix", "out_under_a_file",
    "diverge_fresh", "diverge_after_good_epochs",
])
def test_bad_input(cases: dict[str, Case], name: str) -> None:
    _check(cases[name])


def _check(case: Case) -> None:
    rc, stdout, stderr = case.future.result()
    assert "Traceback" not in stderr, stderr.strip().splitlines()[-1]
    assert stderr.startswith("vaekit: error: "), stderr
    if case.rc is None:
        assert rc != 0, stderr
    else:
        assert rc == case.rc, f"exit code {rc}, expected {case.rc}: {stderr}"
    for word in case.words:
        assert word.lower() in stderr.lower(), f"{word!r} not in stderr: {stderr}"
    for path in case.absent:
        assert not path.exists(), f"{path} was written"
    for path, before in case.before.items():
        assert _state(path) == before, f"{path} was modified"
    if case.check:
        case.check()


# -------------------------------------------------------------- edge cases (once bugs, now fixed)
def test_evaluate_k_zero(cases: dict[str, Case]) -> None:
    _check(cases["bug_k_zero"])


def test_evaluate_limit_zero(cases: dict[str, Case]) -> None:
    _check(cases["bug_limit_zero"])


def test_output_path_is_a_directory(cases: dict[str, Case]) -> None:
    _check(cases["bug_output_is_dir"])


def test_retry_after_first_epoch_divergence(cases: dict[str, Case]) -> None:
    rc, _, stderr = cases["bug_retry"].future.result()
    assert rc == 0, stderr
