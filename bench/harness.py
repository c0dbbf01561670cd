"""The benchmark protocol (issue 8), enforced in code. Every comparative benchmark runs through
this module; see docs/benchmarks.md ("Protocol") for the rules in words.

* Every run is a fresh subprocess (:meth:`Context.process`), started by the harness, which
  records its wall time, peak RSS (``wait4``), CPU time and the 1-minute load average before and
  after it, plus the machine (CPU model from /proc/cpuinfo, cores, torch version, threads).
* Both sides run in the same invocation, interleaved A B B A ... (:func:`interleave`).
* Every finished run is appended at once (flushed, fsync'ed) to a JSONL results file, keyed by
  benchmark, side, seed, settings and machine; a later invocation skips what is there, so a
  killed invocation loses only the run in progress.
* Figures are mean ± sd over seeds; a table refuses to render with fewer than
  :data:`MIN_SEEDS` seeds per side unless ``quick`` (:func:`require_seeds`).
* A claim is printed only when ``|mean_a - mean_b| > sd_a + sd_b`` (:func:`claim`);
  otherwise the table says "not distinguishable". Goals are judged the same way (:func:`goal`).
* Settings are chosen on the validation split only (:func:`select_on_validation` raises on any
  other split), and a quality job on the test split can only be made from the
  :class:`Selection` that function returns (checked in :meth:`Harness.run`).
* Roofline percentages use the fp32 matmul measured in the same invocation as the run
  (:meth:`Harness.roofline`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

BENCH = Path(__file__).resolve().parent
WORKER = BENCH / "worker.py"
MIN_SEEDS = 3
PROTOCOL_VERSION = 1


class ProtocolError(RuntimeError):
    """A benchmark tried to do something the protocol forbids."""


class RunFailed(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


# --------------------------------------------------------------------------- machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(threads: int, pythons: dict[str, str]) -> dict[str, Any]:
    """CPU model, core count, torch version of each side's interpreter, thread count."""
    torch_versions = {}
    code = "import importlib.metadata as m; print(m.version('torch'))"  # without importing torch (~2 s)
    for side, py in pythons.items():
        try:
            out = subprocess.run([py, "-c", code], capture_output=True, text=True, timeout=120).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        torch_versions[side] = out or None
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "threads": threads, "torch": torch_versions,
            "python": platform.python_version(), "platform": platform.platform()}


def fingerprint(machine: dict[str, Any]) -> dict[str, Any]:
    """What must match for a cached run to count as measured on this machine."""
    return {k: machine[k] for k in ("cpu_model", "cores", "threads", "torch")}


# --------------------------------------------------------------------------- results store
class Store:
    """Append-only JSONL; the last record of a key wins; a torn last line (a kill mid-write) is ignored."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.records: list[dict[str, Any]] = []
        self.by_key: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.records.append(rec)
                self.by_key[rec["key"]] = rec

    @staticmethod
    def key(bench: str, side: str, seed: int, settings: dict[str, Any], machine_fp: dict[str, Any], quick: bool) -> str:
        blob = json.dumps({"bench": bench, "side": side, "seed": seed, "settings": settings, "machine": machine_fp,
                           "quick": quick, "protocol": PROTOCOL_VERSION}, sort_keys=True, default=str)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]

    def get(self, key: str) -> dict[str, Any] | None:
        return self.by_key.get(key)

    def append(self, rec: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(rec, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(rec)
        self.by_key[rec["key"]] = rec


# --------------------------------------------------------------------------- selection (validation only)
@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_on_validation`; the only ticket to a quality job on test."""

    chosen: str
    reached: bool
    target: "Stat"
    rows: tuple
    token: str = field(repr=False, default="")


_SELECTION_TOKENS: set[str] = set()


def select_on_validation(candidates: dict[str, list[dict[str, Any]]], reference: list[dict[str, Any]], *,
                         quality: str = "elbo", cost: str = "cost_s") -> Selection:
    """Pick the cheapest candidate whose mean validation ``quality`` (higher is better) is at
    least the reference's mean validation ``quality``; if none is, the best candidate by quality
    (``reached=False``). Every entry must come from the validation split: anything else -
    above all a test-split figure - is a :class:`ProtocolError`."""
    for name, entries in [("reference", reference), *candidates.items()]:
        for e in entries:
            if e.get("split") != "val":
                raise ProtocolError(f"selection must use the validation split only; {name} has a figure from split "
                                    f"{e.get('split')!r}")
    if not candidates or not reference:
        raise ProtocolError("selection needs candidates and a reference")
    target = Stat.of([e[quality] for e in reference])
    rows = []
    for name, entries in candidates.items():
        q, c = Stat.of([e[quality] for e in entries]), Stat.of([e[cost] for e in entries])
        rows.append((name, q, c, q.mean >= target.mean))
    ok = [r for r in rows if r[3]]
    chosen = min(ok, key=lambda r: r[2].mean)[0] if ok else max(rows, key=lambda r: r[1].mean)[0]
    token = secrets.token_hex(8)
    _SELECTION_TOKENS.add(token)
    return Selection(chosen=chosen, reached=bool(ok), target=target, rows=tuple(rows), token=token)


# --------------------------------------------------------------------------- statistics and the claim rule
@dataclass(frozen=True)
class Stat:
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Iterable[float]) -> "Stat":
        return cls(tuple(float(v) for v in values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values) if self.values else math.nan

    @property
    def sd(self) -> float:
        return statistics.stdev(self.values) if self.n >= 2 else math.nan

    def scaled(self, f: float) -> "Stat":
        return Stat.of(v * f for v in self.values)

    def fmt(self, digits: int | None = None) -> str:
        return f"{fmt_num(self.mean, digits)} ± {fmt_num(self.sd, digits)} (n={self.n})"


def fmt_num(v: float, digits: int | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if digits is not None:
        return f"{v:,.{digits}f}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3g}"


def distinguishable(a: Stat, b: Stat) -> bool:
    """The claim rule: the difference of the means exceeds the sum of the two standard
    deviations (both sides need >= 2 values; with fewer nothing is distinguishable)."""
    if a.n < 2 or b.n < 2:
        return False
    return abs(a.mean - b.mean) > a.sd + b.sd


def claim(a: Stat, b: Stat, *, a_name: str = "vaekit", b_name: str = "pythae", higher_is_better: bool = True,
          better: str = "better") -> str:
    """'vaekit better' / 'pythae better' only when :func:`distinguishable`; else 'not distinguishable'."""
    if not distinguishable(a, b):
        return "not distinguishable"
    a_wins = (a.mean > b.mean) == higher_is_better
    return f"{a_name if a_wins else b_name} {better}"


def goal(a: Stat, b: Stat, factor: float, *, higher_is_better: bool = True) -> str:
    """Goal 'a >= factor x b' (or 'a <= factor x b' when lower is better), judged by the claim
    rule against factor x b: MET / MISSED, or 'at the line' when not distinguishable."""
    line = b.scaled(factor)
    if not distinguishable(a, line):
        return "at the line (not distinguishable)"
    met = (a.mean > line.mean) == higher_is_better
    return "MET" if met else "MISSED"


def require_seeds(counts: dict[str, int], quick: bool, what: str = "table") -> None:
    low = {side: n for side, n in counts.items() if n < MIN_SEEDS}
    if low and not quick:
        raise ProtocolError(f"{what}: fewer than {MIN_SEEDS} seeds for {low}; the protocol needs >= {MIN_SEEDS} "
                            f"per side (only --quick may render fewer)")


def interleave(rounds: list[list[Any]]) -> list[Any]:
    """Round i in its given side order when i is even, reversed when odd: A B, B A, A B ..."""
    out: list[Any] = []
    for i, r in enumerate(rounds):
        out.extend(r if i % 2 == 0 else list(reversed(r)))
    return out


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt_num(v) if isinstance(v, float) else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- running
@dataclass
class Proc:
    cmd: list[str]
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    load_before: list[float] | None
    load_after: list[float] | None

    def summary(self) -> dict[str, Any]:
        return {"cmd": [os.path.basename(self.cmd[0]), *self.cmd[1:]][:12], "wall_s": self.wall_s, "cpu_s": self.cpu_s,
                "peak_rss_mb": self.peak_rss_mb, "load_before": self.load_before, "load_after": self.load_after}


def run_process(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 7200,
                cwd: str | Path | None = None) -> Proc:
    """Run one fresh process; wall time, its own peak RSS and CPU time (``wait4``), load before/after."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        load0 = loadavg()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        load1 = loadavg()
        out.seek(0)
        err.seek(0)
        return Proc(cmd, p.returncode, out.read(), err.read(), wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0,
                    load0, load1)


@dataclass
class Job:
    """One run of one side: ``fn(ctx)`` starts the subprocess(es) through ``ctx`` and returns figures.

    ``split``: the data split its quality figure comes from ("val" / "test"), None for speed-only
    jobs. ``purpose="quality"`` with ``split="test"`` needs ``selection`` (see module doc)."""

    bench: str
    side: str
    seed: int
    settings: dict[str, Any]
    fn: Callable[["Context"], dict[str, Any]]
    split: str | None = None
    purpose: str = "speed"
    selection: Selection | None = None
    artifacts: list[str] = field(default_factory=list)  # paths the job makes; missing ones force a re-run
    label: str = ""


class Context:
    def __init__(self, harness: "Harness", job: Job):
        self.h, self.job, self.procs = harness, job, []

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        t = str(self.h.threads)
        env.update(OMP_NUM_THREADS=t, MKL_NUM_THREADS=t, PYTHONWARNINGS="ignore", PYTHONHASHSEED="0")
        return env

    def process(self, cmd: list[str], *, timeout: float = 7200) -> Proc:
        p = run_process(cmd, env=self.env(), timeout=timeout)
        self.procs.append(p)
        if p.returncode != 0:
            raise RunFailed(f"{' '.join(cmd[:6])} ... exited {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        return p

    def worker(self, python: str, task: str, args: dict[str, Any], *, timeout: float = 7200,
               script: Path = WORKER) -> tuple[dict[str, Any], Proc]:
        """One task of ``script`` (bench/worker.py, or a module that registers more tasks on it)."""
        p = self.process([python, str(script), task, json.dumps(args)], timeout=timeout)
        line = next((ln for ln in reversed(p.stdout.splitlines()) if ln.startswith("RESULT ")), None)
        if line is None:
            raise RunFailed(f"worker {task}: no RESULT line\n{p.stdout[-2000:]}\n{p.stderr[-4000:]}")
        return json.loads(line[len("RESULT "):]), p


class Harness:
    def __init__(self, results: str | Path, *, threads: int, pythons: dict[str, str], quick: bool = False,
                 machine: dict[str, Any] | None = None, work: str | Path | None = None):
        self.store = Store(results)
        self.threads, self.pythons, self.quick = threads, pythons, quick
        self.machine = machine or machine_info(threads, pythons)
        self.fp = fingerprint(self.machine)
        self.invocation = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
        self.work = Path(work) if work else Path(results).parent / ("runs-quick" if quick else "runs")
        self.ran = 0
        self._roofline: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- jobs
    def key(self, job: Job) -> str:
        return Store.key(job.bench, job.side, job.seed, job.settings, self.fp, self.quick)

    def artifact_dir(self, job: Job) -> Path:
        d = self.work / job.bench / f"{job.side}-s{job.seed}-{self.key(job)}"
        return d

    def cached(self, job: Job) -> dict[str, Any] | None:
        rec = self.store.get(self.key(job))
        if rec is None:
            return None
        if any(not Path(p).exists() for p in rec.get("artifacts", [])):
            return None
        return rec

    def run(self, job: Job, *, need_artifacts: bool = False) -> dict[str, Any]:
        if job.purpose == "quality" and job.split == "test":
            sel = job.selection
            if not isinstance(sel, Selection) or sel.token not in _SELECTION_TOKENS:
                raise ProtocolError(f"{job.bench}/{job.side}: a test-split quality figure needs the Selection made on "
                                    "the validation split (select_on_validation) first")
        if job.split not in (None, "val", "test", "train"):
            raise ProtocolError(f"unknown split {job.split!r}")
        rec = self.store.get(self.key(job))
        if rec is not None and (not need_artifacts or all(Path(p).exists() for p in rec.get("artifacts", []))):
            return rec
        log(f"run {job.bench} / {job.side} / seed {job.seed} {job.label}")
        ctx = Context(self, job)
        figures = job.fn(ctx)
        if not ctx.procs:
            raise ProtocolError(f"{job.bench}/{job.side}: every run must be a fresh subprocess started by the harness")
        if job.split is not None:
            figures.setdefault("split", job.split)
            if figures["split"] != job.split:
                raise ProtocolError(f"{job.bench}/{job.side}: figures from split {figures['split']!r}, job says {job.split!r}")
        rec = {
            "key": self.key(job), "bench": job.bench, "side": job.side, "seed": job.seed, "settings": job.settings,
            "split": job.split, "purpose": job.purpose, "figures": figures,
            "processes": [p.summary() for p in ctx.procs],
            "load_before": ctx.procs[0].load_before, "load_after": ctx.procs[-1].load_after,
            "machine": self.machine, "invocation": self.invocation, "quick": self.quick,
            "artifacts": job.artifacts, "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        self.store.append(rec)
        self.ran += 1
        load = rec["load_after"][0] if rec["load_after"] else float("nan")
        log(f"  done in {sum(p.wall_s for p in ctx.procs):.1f} s (load {load:.2f})")
        return rec

    def run_all(self, jobs: list[Job], **kw) -> list[dict[str, Any]]:
        return [self.run(j, **kw) for j in jobs]

    def pending(self, jobs: list[Job]) -> int:
        return sum(self.store.get(self.key(j)) is None for j in jobs)

    # ---------------------------------------------------------------- roofline
    def roofline(self, when: str) -> dict[str, Any]:
        """fp32 matmul reference in this invocation (``when``: "before"/"after" a benchmark)."""
        n = 512 if self.quick else 2048
        job = Job("roofline", "matmul", 0, {"invocation": self.invocation, "when": when, "n": n},
                  lambda ctx: ctx.worker(self.pythons["vaekit"], "roofline", {"threads": self.threads, "n": n})[0])
        rec = self.run(job)
        self._roofline.append(rec)
        return rec

    def roofline_for(self, records: list[dict[str, Any]]) -> tuple[dict[str, float], Stat]:
        """{invocation: GFLOP/s (median of that invocation's matmul runs)} for the given runs, and
        the Stat of those matmul runs. Raises when a run's invocation has no matmul measurement."""
        per: dict[str, list[float]] = {}
        for r in self.store.records:
            if r["bench"] == "roofline" and r["key"] in self.store.by_key:
                per.setdefault(r["settings"]["invocation"], []).append(r["figures"]["best_gflops"])
        out: dict[str, float] = {}
        for rec in records:
            inv = rec["invocation"]
            if inv not in per:
                raise ProtocolError(f"run {rec['key']} has no fp32 matmul reference measured in its invocation {inv}")
            out[inv] = statistics.median(per[inv])
        return out, Stat.of(v for inv in out for v in per[inv])


def records_by_side(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(r["side"], []).append(r)
    return out


def load_note(records: list[dict[str, Any]]) -> str:
    """The range of the 1-minute load averages recorded around the runs."""
    loads = [v for r in records for v in ((r.get("load_before") or [None])[0], (r.get("load_after") or [None])[0])
             if v is not None]
    if not loads:
        return "load average not recorded"
    return f"1-min load average around the runs {min(loads):.2f}–{max(loads):.2f}"
