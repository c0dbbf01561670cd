"""Regenerate every benchmark table in docs/benchmarks.md under the protocol (bench/harness.py).

    python3 bench/run_all.py                 # full run: runs what bench/results/protocol.jsonl lacks,
                                             # then rewrites the tables in docs/benchmarks.md
    python3 bench/run_all.py --quick         # toy sizes (seconds per benchmark); writes
                                             # bench/results/quick.md, never the docs
    python3 bench/run_all.py --only iwae     # one benchmark (throughput, ttq, iwae, misc)

A killed run loses only the run in progress: start the same command again and it resumes from the
results file. Delete the results file (or pass --results NEW.jsonl) to measure from scratch.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks import BENCHES, Config  # noqa: E402
from harness import BENCH, Harness, log  # noqa: E402

DOCS = BENCH.parent / "docs" / "benchmarks.md"
TITLES = {"throughput": "Training throughput", "ttq": "Time to pythae's 50-epoch test ELBO",
          "iwae": "IWAE NLL, k = 1000, through `vaekit evaluate`", "misc": "Sampling, start-up, memory"}


def default_pythae_python() -> str | None:
    for cand in (os.environ.get("PYTHAE_PYTHON"), str(BENCH / ".pythae-venv" / "bin" / "python"),
                 "/work/pythae-venv/bin/python"):
        if cand and Path(cand).exists():
            return cand
    return None


def vaekit_cli(python: str) -> list[str]:
    """The `vaekit` console script of that interpreter (what users type), else `python -m vaekit`."""
    beside = Path(python).parent / "vaekit"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("vaekit")
    if found and Path(python).resolve() == Path(sys.executable).resolve():
        return [found]
    return [python, "-m", "vaekit"]


def replace_section(doc: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(doc):
        raise SystemExit(f"{DOCS} has no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{body}\n{end}", doc)


def machine_block(h: Harness) -> str:
    m = h.machine
    torch = ", ".join(f"{side} {v}" for side, v in m["torch"].items())
    return (f"CPU: {m['cpu_model']}, {m['cores']} cores; torch: {torch}; {m['threads']} thread(s) per side; "
            f"Python {m['python']}; {m['platform']}. Tables generated {time.strftime('%Y-%m-%d %H:%M')} from "
            f"`{os.path.relpath(h.store.path, BENCH.parent)}` ({len(h.store.records)} records).")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="toy sizes; never writes the docs")
    ap.add_argument("--only", action="append", choices=list(BENCHES), help="run only this benchmark (repeatable)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per side, quality (default 3; quick 1)")
    ap.add_argument("--speed-seeds", type=int, default=None, help="seeds (repeats) per side, speed (default 5; quick 2)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "2")),
                    help="torch threads on both sides (default 2, env BENCH_THREADS)")
    ap.add_argument("--results", type=Path, default=None,
                    help="results JSONL (default bench/results/protocol.jsonl; quick: bench/results/quick.jsonl)")
    ap.add_argument("--vaekit-python", default=os.environ.get("VAEKIT_PYTHON", sys.executable))
    ap.add_argument("--pythae-python", default=None, help="interpreter of the pythae side venv "
                    "(default: $PYTHAE_PYTHON, bench/.pythae-venv, /work/pythae-venv)")
    ap.add_argument("--no-pythae", action="store_true", help="vaekit side only (with --quick: harness checks)")
    ap.add_argument("--docs", type=Path, default=None, help=f"markdown file whose tables to rewrite (default {DOCS}; "
                    "quick: bench/results/quick.md)")
    args = ap.parse_args(argv)

    pythae = None if args.no_pythae else (args.pythae_python or default_pythae_python())
    if pythae is None and not args.no_pythae:
        raise SystemExit("no pythae interpreter: run bench/setup_pythae.sh (or pass --pythae-python / --no-pythae)")
    if args.no_pythae and not args.quick:
        raise SystemExit("--no-pythae is for --quick checks only: a comparative table needs both sides")
    results = args.results or BENCH / "results" / ("quick.jsonl" if args.quick else "protocol.jsonl")
    docs = args.docs or (BENCH / "results" / "quick.md" if args.quick else DOCS)
    cfg = Config.make(quick=args.quick, threads=args.threads,
                      seeds=args.seeds or (1 if args.quick else 3), speed_seeds=args.speed_seeds or (2 if args.quick else 5),
                      vaekit_python=args.vaekit_python, vaekit_cli=vaekit_cli(args.vaekit_python), pythae_python=pythae)
    pythons = {"vaekit": args.vaekit_python, **({"pythae": pythae} if pythae else {})}
    h = Harness(results, threads=args.threads, pythons=pythons, quick=args.quick)
    log(f"results {results}; machine {h.fp}")
    sections = {}
    for name in args.only or list(BENCHES):
        t0 = time.perf_counter()
        log(f"== {name}")
        sections[name] = BENCHES[name](h, cfg)
        log(f"== {name}: {time.perf_counter() - t0:.0f} s")
        print(f"\n## {TITLES[name]}\n\n{sections[name]}\n", flush=True)
    if docs == DOCS or docs.exists():
        text = docs.read_text()
    else:
        text = "# quick benchmark tables (toy sizes)\n\n<!-- bench:machine -->\n<!-- /bench:machine -->\n" + "".join(
            f"\n## {TITLES[n]}\n\n<!-- bench:{n} -->\n<!-- /bench:{n} -->\n" for n in BENCHES)
    text = replace_section(text, "machine", machine_block(h))
    for name, body in sections.items():
        text = replace_section(text, name, body)
    docs.write_text(text)
    log(f"wrote {docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
