"""Fixes for problems users reported: run-directory locking and unique names, the report on tiny
test splits (and `vaekit report`), absolute data paths, stale eval.json, file modes, messages.

Real files and real subprocesses throughout; nothing is mocked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY, TINY_ARGS, cli_env, run_cli, snapshot


def _popen(*args: str | os.PathLike[str], cwd: Path | None = None, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vaekit", *map(str, args)], cwd=cwd, env=cli_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _hold_lock(run_dir: Path) -> subprocess.Popen:
    """A separate process that takes the run directory's lock and sleeps (until killed)."""
    code = ("import sys, time; from vaekit.artifacts.lock import RunLock; "
            "RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], env=cli_env(), stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _without_lock(snap: dict) -> dict:
    return {k: v for k, v in snap.items() if k != ".lock"}


# -- 1. unique run directories and the run-directory lock ---------------------------------------------


def test_default_run_dir_is_new_even_when_the_timestamped_name_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two `vaekit train` in the same second: the second must not reuse the first one's folder.
    The names the next few seconds would get are taken (empty, as a just-started run leaves them)."""
    from vaekit.api import resolve_config
    from vaekit.api.train import default_run_dir

    cfg = resolve_config("vae", overrides=list(TINY))
    monkeypatch.chdir(tmp_path)
    taken = []
    for dt in range(4):
        name = Path("runs") / f"vae-digits-{time.strftime('%Y%m%d-%H%M%S', time.localtime(time.time() + dt))}"
        name.mkdir(parents=True, exist_ok=True)
        taken.append(tmp_path / name)
    code, out, err = run_cli("train", "--epochs", "1", *TINY_ARGS, cwd=tmp_path)
    assert code == 0, err
    run_dir = tmp_path / re.search(r"Run directory: (\S+)", out).group(1)
    assert run_dir not in taken and (run_dir / "model.safetensors").is_file()
    assert all(not any(d.iterdir()) for d in taken), "a run was written into a folder another run had taken"
    # In-process: two names made in a row are different folders, both created.
    a, b = default_run_dir(cfg, "vae", create=True), default_run_dir(cfg, "vae", create=True)
    assert a != b and a.is_dir() and b.is_dir()


def test_run_dir_is_locked_while_training_and_a_killed_holder_does_not_block(run_copy: Path, tmp_path: Path) -> None:
    from vaekit.api import train

    # A live holder: train --resume and a new train on the same folder are refused, naming its pid.
    holder = _hold_lock(run_copy)
    try:
        before = _without_lock(snapshot(run_copy))
        code, out, err = run_cli("train", "--resume", run_copy, "--epochs", "3")
        assert code == 1, err
        assert f"process {holder.pid}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        code3, _, err3 = run_cli("report", run_copy)
        assert code3 == 1 and str(holder.pid) in err3, err3
        assert _without_lock(snapshot(run_copy)) == before, "a refused process wrote into the run directory"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # A new run into a folder another process is starting a run in.
    fresh = tmp_path / "fresh"
    holder2 = _hold_lock(fresh)
    try:
        code2, _, err2 = run_cli("train", "--out", fresh, "--epochs", "1", *TINY_ARGS)
        assert code2 == 1 and f"process {holder2.pid}" in err2, err2
        assert [p.name for p in fresh.iterdir()] == [".lock"]
    finally:
        holder2.kill()
        holder2.wait()
    # The holder died by SIGKILL and left its lock file behind: it must not block --resume.
    assert (run_copy / ".lock").read_text().strip() == str(holder.pid)
    seen: list[str] = []
    lock = run_copy / ".lock"
    train(resume=run_copy, epochs=3, report=False, progress=False,
          echo=lambda line: seen.append(lock.read_text().strip() if lock.exists() else "no lock"))
    assert seen and all(pid == str(os.getpid()) for pid in seen), seen  # held by us while training
    assert not lock.exists()  # released afterwards


def test_failed_start_leaves_no_folder_or_lock_behind(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    code, _, err = run_cli("train", "--data", "npy:/nonexistent.npy", "--out", out)
    assert code == 1 and "does not exist" in err
    assert not out.exists() and not (tmp_path / "new").exists()


# -- 2, 3, 6. the report: one test example, `vaekit report`, absolute data paths, messages -------------


@pytest.fixture(scope="module")
def ten_row_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A run on a 10-row .npy given by a *relative* path: its test split has one example."""
    work = tmp_path_factory.mktemp("tenrows")
    (work / "data").mkdir()
    np.save(work / "data" / "x.npy", np.random.default_rng(0).random((10, 6)).astype(np.float32))
    code, out, err = run_cli("train", "--data", "npy:data/x.npy", "--epochs", "2", "--out", "run", *TINY_ARGS, cwd=work)
    assert code == 0, err
    return work / "run", out


def test_report_is_written_when_the_test_split_has_one_example(ten_row_run: tuple[Path, str]) -> None:
    run, out = ten_row_run
    report = (run / "report.md").read_text()
    assert "1 test" in report and "| NLL |" in report
    assert (run / "latent_map.png").is_file() and (run / "reconstructions.png").is_file()
    assert "Needs at least 2 test examples" in report and not (run / "interpolation.png").exists()
    # Progress while the report is built, then the test metrics.
    for step in ("Report: samples...", "Report: reconstructions...", "Report: evaluating test NLL (k=100"):
        assert step in out, out
    assert re.search(r"Test \(1 examples, k=100\): NLL [\d.]+ nats, ELBO -?[\d.]+ nats, [\d.]+ bits/dim", out), out


def test_relative_data_path_is_stored_absolute(ten_row_run: tuple[Path, str], tmp_path: Path) -> None:
    run, _ = ten_row_run
    name = json.loads((run / "config.json").read_text())["data"]["name"]
    assert name == f"npy:{run.parent / 'data' / 'x.npy'}"
    code, out, err = run_cli("embed", run, "-o", tmp_path / "codes.csv", cwd=tmp_path)  # another directory
    assert code == 0, err
    assert len((tmp_path / "codes.csv").read_text().splitlines()) == 2  # header + the one test example


def test_absolute_data_spec_keeps_label_suffix_and_names() -> None:
    from vaekit.api.train import absolute_data_spec

    cwd = os.getcwd()
    assert absolute_data_spec("csv:t.csv#label=kind") == f"csv:{cwd}/t.csv#label=kind"
    assert absolute_data_spec("folder:imgs") == f"folder:{cwd}/imgs"
    assert absolute_data_spec("npz:/abs/a.npz") == "npz:/abs/a.npz"
    assert absolute_data_spec("digits") == "digits" and absolute_data_spec("fashion-mnist") == "fashion-mnist"


def test_report_command_rebuilds_from_the_run_dir_alone(ten_row_run: tuple[Path, str], tmp_path: Path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(ten_row_run[0], run)
    for name in ("report.md", "samples.png", "curves.png", "latent_map.png"):
        (run / name).unlink()
    code, out, err = run_cli("report", run, cwd=tmp_path)
    assert code == 0, err
    assert "Report: samples..." in out and "Report: evaluating test NLL" in out and "NLL" in out
    for name in ("report.md", "samples.png", "curves.png", "latent_map.png"):
        assert (run / name).is_file(), name
    assert "top row: input, bottom row: reconstruction" in (run / "report.md").read_text()
    code, _, err = run_cli("report", tmp_path / "nothing-here")
    assert code == 1 and "does not exist" in err and not (tmp_path / "nothing-here").exists()


def test_figures_handle_zero_and_one_example(tmp_path: Path) -> None:
    from vaekit.artifacts.figures import plot_latent_map, project_2d

    for n in (0, 1, 2, 5):
        xy, _ = project_2d(np.random.default_rng(n).normal(size=(n, 6)))
        assert xy.shape == (n, 2) and np.isfinite(xy).all()
        plot_latent_map(np.zeros((n, 6)), np.arange(n), tmp_path / f"map{n}.png")
        assert (tmp_path / f"map{n}.png").is_file()
    plot_latent_map(np.zeros((3, 6)), np.array(["a", "b", "a"]), tmp_path / "text-labels.png")  # text labels


def test_ctrl_c_during_the_report_advises_vaekit_report_not_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # A terminal's Ctrl-C: SIGINT at its default disposition in the child. (A test session started in
    # the background by a shell, `pytest ... &`, inherits SIGINT ignored, and Python keeps an
    # inherited SIG_IGN, so the child would never see the signal.)
    proc = subprocess.Popen([sys.executable, "-m", "vaekit", "train", "--epochs", "1", "--out", str(run), *TINY_ARGS],
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in proc.stdout:
        if line.startswith("Report:"):
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"vaekit report {run}" in err and "--resume" not in err and "Traceback" not in err, err
    code, _, err = run_cli("report", run)
    assert code == 0 and (run / "report.md").is_file(), err


def test_early_stop_prints_the_final_epoch(tmp_path: Path) -> None:
    # A learning rate of 1e-30 leaves the weights as they are, so the (sampled) validation loss
    # soon fails to improve and early stopping after one such epoch ends the run.
    code, out, err = run_cli("train", "--epochs", "40", "--out", tmp_path / "run", *TINY_ARGS,
                             "--set", "train.lr=1e-30", "--set", "train.early_stopping=1")
    assert code == 0, err
    last = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])["epoch"]
    assert last < 40
    assert f"Stopped early at epoch {last} of 40" in out, out
    assert re.search(r"NLL [\d.]+ nats, ELBO -?[\d.]+ nats, [\d.]+ bits/dim", out), out


# -- 4. stale eval.json ---------------------------------------------------------------------------------


def test_resume_removes_eval_json_and_info_flags_stale_eval(run_copy: Path) -> None:
    from safetensors.torch import load_file, save_file

    from vaekit.api import evaluate, train

    evaluate(run_copy, k=2, limit=5)
    ev = json.loads((run_copy / "eval.json").read_text())
    assert isinstance(ev["model_epoch"], int) and ev["model_epoch"] >= 1
    assert ev["model_sha256"] == hashlib.sha256((run_copy / "model.safetensors").read_bytes()).hexdigest()
    code, out, err = run_cli("info", run_copy)
    assert code == 0 and "eval.json: NLL" in out and "stale" not in out, err

    # Weights replaced behind eval.json's back (another tool, an old vaekit): info says stale.
    tensors = load_file(str(run_copy / "model.safetensors"))
    save_file({k: v + 0.01 for k, v in tensors.items()}, str(run_copy / "model.safetensors"), metadata={"epoch": "2"})
    code, out, err = run_cli("info", run_copy)
    assert code == 0 and "eval.json is stale" in out and "vaekit evaluate" in out, out

    # --resume trains new weights: the old eval.json is removed.
    train(resume=run_copy, epochs=3, echo=None, progress=False, report=False)
    assert not (run_copy / "eval.json").exists()


# -- 5. file modes --------------------------------------------------------------------------------------


def test_files_respect_the_umask(tiny_run: Path, tmp_path: Path) -> None:
    from vaekit.core.atomic import current_umask, write_text_atomic

    mask = current_umask()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tiny_run.iterdir() if p.is_file()}
    assert modes and all(m == 0o666 & ~mask for m in modes.values()), modes
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.txt", "x")
        assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
        os.umask(0o027)
        write_text_atomic(tmp_path / "b.txt", "x")
        assert stat.S_IMODE((tmp_path / "b.txt").stat().st_mode) == 0o640
    finally:
        os.umask(old)


# -- 6. messages ----------------------------------------------------------------------------------------


def test_every_cli_option_has_help() -> None:
    from vaekit.cli.main import build_parser

    missing = []

    def walk(parser: argparse.ArgumentParser, where: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {a.dest: a.help for a in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{where} {name}")
                    walk(sub, f"{where} {name}")
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "vaekit")
    assert not missing, f"options without help text: {missing}"


def test_datasets_table_is_not_cut_at_80_columns() -> None:
    from vaekit.data import list_datasets

    code, out, err = run_cli("datasets", env=cli_env(COLUMNS="80"))
    assert code == 0, err
    assert "…" not in out
    for d in list_datasets():
        assert str(d.get("description", "")) in out, d


def test_recipe_descriptions_have_no_issue_numbers() -> None:
    from vaekit.core.config import read_recipe, recipe_names

    for name in recipe_names():
        description = read_recipe(name)[1]
        assert not re.search(r"issue\s*#?\d+|#\d+", description, flags=re.I), (name, description)


def test_reconstructions_are_rows_of_inputs_above_rows_of_reconstructions() -> None:
    from vaekit.tasks.reconstruct import side_by_side

    x, recon = torch.rand(10, 1, 4, 4), torch.rand(10, 1, 4, 4)
    images, ncol = side_by_side(x, recon, cols=8)
    assert ncol == 8 and images.shape[0] == 32
    assert torch.equal(images[0:8], x[:8]) and torch.equal(images[8:16], recon[:8])
    assert torch.equal(images[16:18], x[8:]) and torch.equal(images[24:26], recon[8:])
    small, ncol = side_by_side(x[:3], recon[:3])
    assert ncol == 3 and torch.equal(small[:3], x[:3]) and torch.equal(small[3:], recon[:3])


def test_epochs_zero_names_the_flag(tmp_path: Path) -> None:
    code, _, err = run_cli("train", "--epochs", "0", "--out", tmp_path / "r")
    assert code == 2 and "--epochs must be at least 1" in err and not (tmp_path / "r").exists(), err


def test_semicolon_csv_says_use_commas(tmp_path: Path) -> None:
    """(Text columns are the data owner's: mixed-type CSVs are being supported there.)"""
    (tmp_path / "semi.csv").write_text("a;b;c\n1;2;3\n4;5;6\n7;8;9\n")
    code, _, err = run_cli("train", "--data", f"csv:{tmp_path / 'semi.csv'}", "--out", tmp_path / "r")
    assert code == 1 and "use commas" in err and "Traceback" not in err and not (tmp_path / "r").exists(), err


def test_state_dict_mismatch_names_the_keys() -> None:
    from vaekit.artifacts.rundir import state_dict_mismatch

    expected = {"enc.w": torch.zeros(2, 3), "enc.b": torch.zeros(2), "dec.w": torch.zeros(3, 2)}
    got = {"enc.w": torch.zeros(4, 3), "dec.w": torch.zeros(3, 2), "old.w": torch.zeros(1)}
    text = state_dict_mismatch(expected, got)
    assert "missing keys: enc.b" in text and "unexpected keys: old.w" in text and "enc.w (4, 3) vs (2, 3)" in text


def test_mixed_colour_and_grey_folder_is_converted_with_a_warning(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    from PIL import Image

    from vaekit.data.folder import read_folder

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "b.png")
    x, _, note = read_folder(str(tmp_path), None)
    assert x.shape == (2, 8, 8, 3) and "RGB" in note
    err = capfd.readouterr().err
    assert "warning" in err and "1 colour, 1 grey" in err and "RGB" in err
