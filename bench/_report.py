"""Shared helpers for the benchmarks: a progress log, a timer with peak memory, an aligned
plain-text table and the JSON result file (with the facts of the machine it ran on).

Peak memory is the resident set's high-water mark (``VmHWM``) of a process. For this process
it is also what ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` reports; reading ``/proc`` lets
a benchmark reset it between steps (``clear_refs``) and watch other processes too (the Spark
JVM). Where ``/proc`` is missing, the timer falls back to ``getrusage`` (never reset).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
_START = time.perf_counter()


def log(message: str) -> None:
    """A progress line, with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - _START:7.1f}s] {message}", flush=True)


# --- memory --------------------------------------------------------------------------------

def peak_rss_mb(pid: int | None = None) -> float | None:
    """Peak resident memory of ``pid`` (default: this process) in MiB, or None if unknown."""
    hwm = _proc_status_kb(pid or os.getpid(), "VmHWM")
    if hwm is not None:
        return hwm / 1024
    if pid is None or pid == os.getpid():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return None


def rss_mb(pid: int | None = None) -> float | None:
    """Current resident memory of ``pid`` in MiB, or None if unknown."""
    rss = _proc_status_kb(pid or os.getpid(), "VmRSS")
    return None if rss is None else rss / 1024


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds used so far by ``pid`` (all its threads), or None if unknown."""
    if pid is None or pid == os.getpid():
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def load_average() -> tuple[float, float, float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine skews wall times."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def reset_peak_rss(pid: int | None = None) -> bool:
    """Start a new high-water mark at the current RSS (Linux ``clear_refs``); False if not possible."""
    try:
        Path(f"/proc/{pid or os.getpid()}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def add_work_dir_arguments(parser) -> None:
    """``--workdir`` (default: a temporary one, removed afterwards), ``--keep`` and ``--seed``."""
    parser.add_argument("--workdir", type=Path, default=None, help="work here and keep it (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary work dir")
    parser.add_argument("--seed", type=int, default=0)


@contextmanager
def work_dir(args, prefix: str):
    """The run's work dir (``--workdir`` or a new temporary one); a temporary one is removed at
    the end unless ``--keep``."""
    import shutil
    import tempfile

    own = args.workdir is None
    path = Path(tempfile.mkdtemp(prefix=prefix)) if own else args.workdir.absolute()
    try:
        yield path
    finally:
        if own and not args.keep:
            shutil.rmtree(path, ignore_errors=True)
        else:
            log(f"kept {path}")


def run_with_peak_rss(command: list[str], cwd: str, env: dict[str, str]) -> tuple[str, float, float]:
    """Run ``command``: its stdout, wall seconds and the peak RSS (MiB) of its whole process tree,
    sampled every 0.2 s (a JVM started by the process counts). A failure raises with its stderr."""
    import subprocess
    import threading

    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]

    def sample() -> None:
        root = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = process.communicate()
    wall = time.perf_counter() - started
    sampler.join(timeout=1)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} failed:\n{err[-3000:]}")
    return out, wall, peak[0] / 2**20


def _proc_status_kb(pid: int, key: str) -> int | None:
    return _kb_field(f"/proc/{pid}/status", key)


def _kb_field(path: str, key: str) -> int | None:
    """A ``Key:   123 kB`` line of a /proc file, in KiB."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


# --- timing --------------------------------------------------------------------------------

@dataclass
class Measure:
    """One timed step: wall seconds, and CPU seconds and peak RSS (MiB) of each watched process.

    CPU seconds say what the step cost even when other work on the machine stretched its wall
    time; the load averages before and after say whether it did.
    """

    name: str
    seconds: float = 0.0
    cpu_s: dict[str, float | None] = field(default_factory=dict)
    peak_mb: dict[str, float | None] = field(default_factory=dict)
    load_before: tuple[float, float, float] | None = None
    load_after: tuple[float, float, float] | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "seconds": round(self.seconds, 3),
                "cpu_seconds": {k: None if v is None else round(v, 2) for k, v in self.cpu_s.items()},
                "peak_rss_mb": {k: None if v is None else round(v, 1) for k, v in self.peak_mb.items()},
                "load_average_before": self.load_before, "load_average_after": self.load_after}


@contextmanager
def timed(name: str, watch: dict[str, int | None] | None = None):
    """Time the block (``time.perf_counter``) and record the peak RSS of the watched processes.

    ``watch`` maps a label to a pid (None: this process); default ``{"python": None}``. Each
    watched process's high-water mark is reset at the start when the OS allows it, so the peak
    belongs to this step (otherwise it is the peak since the process started).
    """
    watch = {"python": None} if watch is None else watch
    for pid in watch.values():
        reset_peak_rss(pid)
    measure = Measure(name, load_before=load_average())
    log(f"{name} ... (load average {measure.load_before})")
    cpu_start = {label: cpu_seconds(pid) for label, pid in watch.items()}
    start = time.perf_counter()
    try:
        yield measure
    finally:
        measure.seconds = time.perf_counter() - start
        for label, pid in watch.items():
            now = cpu_seconds(pid)
            measure.cpu_s[label] = None if now is None or cpu_start[label] is None else now - cpu_start[label]
        measure.peak_mb = {label: peak_rss_mb(pid) for label, pid in watch.items()}
        measure.load_after = load_average()
        cpu = ", ".join(f"{k} {_num(v, 's')}" for k, v in measure.cpu_s.items())
        peaks = ", ".join(f"{k} {_num(v, ' MiB')}" for k, v in measure.peak_mb.items())
        log(f"{name}: {measure.seconds:.1f}s wall (CPU {cpu}; peak RSS {peaks}; load average {measure.load_after})")


def _num(value: float | None, unit: str) -> str:
    return "?" if value is None else f"{value:,.1f}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"


# --- output --------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """An aligned plain-text table (numbers right-aligned); also printed."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    numeric = [all(_is_number(row[i]) for row in rows if row[i] not in (None, "")) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = ([title] if title else []) + [line([str(h) for h in headers]), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    text = "\n".join(out)
    print(text, flush=True)
    return text


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.2f}"
    return str(value)


def machine() -> dict:
    """The facts a reader needs to compare two result files."""
    facts = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "load_average_at_write": load_average(),
        "python": sys.version.split()[0],
    }
    for package in ("pyspark", "deltalake", "pyarrow", "pandas", "numpy"):
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = None
    return facts


def _memory_gb() -> float | None:
    kb = _kb_field("/proc/meminfo", "MemTotal")
    return None if kb is None else round(kb / 1024 / 1024, 1)


def write_json(name: str, payload: dict) -> Path:
    """Write ``bench/results/<name>.json`` (machine facts included) and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **payload}, indent=2, default=str) + "\n")
    log(f"wrote {path}")
    return path
