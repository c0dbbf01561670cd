"""The README's commands run as written (except the pip installs, which CI itself runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["VAEKIT_OFFLINE"] = "1"
    return env


def test_setup_section_is_exactly_the_two_commands() -> None:
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    commands = [b.strip() for b in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]
    assert commands == [
        "pip install -c constraints.txt -e . && vaekit train",
        "pip install -c constraints.txt -e '.[test]' && pytest",
    ]


def test_first_command_trains_the_default_recipe(tmp_path: Path) -> None:
    """`vaekit train` with no arguments: the newcomer's first run, on embedded data."""
    proc = subprocess.run(["vaekit", "train"], cwd=tmp_path, capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "Epoch 1/300" in proc.stdout
    report = re.search(r"^Report: (\S+report\.md)$", proc.stdout, re.M)
    assert report, proc.stdout
    text = (tmp_path / report.group(1)).read_text()
    nll = float(re.search(r"\| NLL \| ([\d.]+) nats", text).group(1))
    # A trained model must beat the untrained one (about 44 nats) by a wide margin on digits.
    assert nll < 30.0, text


RESOURCE = re.compile(r"^(runs/[\w.-]+|[\w.-]+\.[A-Za-z]+)$")  # a run folder or a file name a command reads or writes


def independent_chains(commands: list[str]) -> list[list[str]]:
    """The commands grouped so that two commands naming the same run folder or file (directly or
    through others) are in one chain, in README order; different chains share nothing on disk."""
    owner = list(range(len(commands)))

    def root(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    first_user: dict[str, int] = {}
    for i, command in enumerate(commands):
        for token in command.replace("=", " ").split():
            name = token.rsplit(":", 1)[-1].strip("'\"").rstrip("/")
            if RESOURCE.match(name):
                if name in first_user:
                    owner[root(i)] = root(first_user[name])
                else:
                    first_user[name] = i
    chains: dict[int, list[str]] = {}
    for i, command in enumerate(commands):
        chains.setdefault(root(i), []).append(command)
    return list(chains.values())


def test_independent_chains_keep_dependent_commands_together() -> None:
    chains = independent_chains(["vaekit train --out runs/a", "vaekit train --out runs/b", "vaekit sample runs/a -o x.png",
                                 "vaekit train --parent runs/b --out runs/c", "vaekit evaluate runs/c --feature-net runs/d",
                                 "vaekit datasets", "vaekit blend runs/e -o x.png"])
    assert sorted(chains) == sorted([["vaekit train --out runs/a", "vaekit sample runs/a -o x.png", "vaekit blend runs/e -o x.png"],
                                     ["vaekit train --out runs/b", "vaekit train --parent runs/b --out runs/c",
                                      "vaekit evaluate runs/c --feature-net runs/d"], ["vaekit datasets"]])


def test_quick_tour_and_python_api_run_as_written(tmp_path: Path) -> None:
    """Every `vaekit` line of the README's bash blocks, in README order within each chain of
    commands that share a run folder or file; independent chains run two at a time (2 cores)."""
    from concurrent.futures import ThreadPoolExecutor

    tour = [line.split("  #")[0].strip() for b in _blocks("bash") for line in b.splitlines()]
    tour = [c for c in tour if c.startswith("vaekit ") and c != "vaekit train"]
    assert len(tour) >= 10

    def run_chain(chain: list[str]) -> str | None:
        for command in chain:
            proc = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, env=_env())
            if proc.returncode != 0:
                return f"{command}\n{proc.stdout}\n{proc.stderr}"
        return None

    chains = sorted(independent_chains(tour), key=len, reverse=True)  # the long chains start first
    with ThreadPoolExecutor(max_workers=2) as pool:
        failures = [f for f in pool.map(run_chain, chains) if f]
    assert not failures, "\n\n".join(failures)
    for name in ["samples.png", "recon.png", "walk.gif", "codes.csv", "runs/iwae/report.md"]:
        assert (tmp_path / name).is_file(), name


def test_every_python_snippet_runs_as_written(tmp_path: Path) -> None:
    """Every ```python block of the README, in order, each in a fresh interpreter in one temp dir
    (a later block may use what an earlier one wrote, as a reader following along would)."""
    blocks = _blocks("python")
    assert len(blocks) >= 2
    for block in blocks:
        proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, env=_env())
        assert proc.returncode == 0, f"{block}\n{proc.stderr}"
        assert float(proc.stdout.strip().splitlines()[-1]) > 0  # each ends by printing an NLL in nats
    assert (tmp_path / "runs/api/eval.json").is_file()


def test_documented_python_names_exist() -> None:
    """Names the README gives as `vaekit.x.y.z` resolve to a module or an attribute."""
    import importlib

    names = set(re.findall(r"`(vaekit(?:\.\w+)+)`", README))
    assert names
    for dotted in sorted(names):
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ModuleNotFoundError:
                continue
            for attr in parts[cut:]:
                assert hasattr(obj, attr), f"README names {dotted}, but {attr!r} is not in {obj!r}"
                obj = getattr(obj, attr)
            break


@pytest.mark.parametrize("doc", ["README.md"])
def test_docs_mention_every_recipe(doc: str) -> None:
    from vaekit.core.config import recipe_names

    text = (ROOT / doc).read_text()
    for name in recipe_names():
        assert f"`{name}`" in text
