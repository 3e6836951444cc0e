"""Grading benchmark, all in one run so the numbers are ratios on the same machine state:

- the cold floor: nbclient executes each notebook in a fresh plain kernel, one after another;
- `make grade` with JOBS=1 and JOBS=2 (each submission in its own warm sandbox), step by step (the
  workers start while generate_assignment runs, and write feedback pages as they go);
- `make grade` with SANDBOX=off and JOBS=1 (a cold, unsandboxed kernel per submission);
- the sandbox's own cost: forking a warm parent into a fresh sandbox (namespaces, mounts, cgroups);
- memory during the JOBS=2 run: peak PSS and USS of each worker's process tree (warm parent and
  sandboxes included) and of all of them, beside the RSS sum, which counts shared pages again
  for every process.

    python -m targetpractice.benchmark [--assignment 01-classification] [--copies 8]

The class is `copies` copies of the bundled sample class (mixed submissions). Numbers go to
stdout as a markdown table for the README.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .build import copy_course
from .grading import ROOT, grade


def make_class(assignment: str, copies: int, dest: Path) -> list:
    samples = ROOT / "grader" / "samples" / assignment
    paths = []
    for k in range(copies):
        for student in sorted(p for p in samples.iterdir() if p.is_dir()):
            shutil.copytree(student, dest / f"{student.name}{k:02d}")
            paths += sorted((dest / f"{student.name}{k:02d}").glob("*.ipynb"))
    return paths


def floor(paths: list) -> float:
    """Seconds per notebook to just execute it (nbclient, a fresh kernel each, errors allowed)."""
    code = ("import sys, time, nbformat\nfrom nbclient import NotebookClient\nt = time.time()\n"
            "for p in sys.argv[1:]:\n    nb = nbformat.read(p, as_version=4)\n"
            "    NotebookClient(nb, timeout=60, kernel_name='python3', allow_errors=True).execute()\n"
            "print(time.time() - t)")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1]) / len(paths)


def parts() -> dict:
    """Where a kernel's time goes before any exercise runs."""
    code = ("import time\nt = time.time(); import torch; a = time.time() - t\n"
            "t = time.time(); torch.optim.Adam([torch.zeros(1, requires_grad=True)]); b = time.time() - t\n"
            "print(a, b)")
    times = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
             for _ in range(3)]
    return {"import torch": statistics.median(float(t[0]) for t in times),
            "first torch.optim (imports torch._dynamo)": statistics.median(float(t[1]) for t in times)}


def _memory(pid: int) -> dict:
    """PSS, USS and RSS (MiB) of a process tree, from /proc/PID/smaps_rollup."""
    total = {"pss": 0, "uss": 0, "rss": 0}
    from .sandbox import descendants

    for p in [pid, *descendants(pid)]:
        try:
            fields = dict(line.split(":", 1) for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:])
        except (OSError, ValueError):
            continue
        kb = {k.strip(): int(v.split()[0]) for k, v in fields.items()}
        total["pss"] += kb.get("Pss", 0) / 1024
        total["uss"] += (kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)) / 1024
        total["rss"] += kb.get("Rss", 0) / 1024
    return total


class MemoryWatch:
    """Samples the grading workers' process trees twice a second; keeps the peaks."""

    def __init__(self):
        self.peak = {"worker_pss": 0.0, "worker_uss": 0.0, "all_pss": 0.0, "all_uss": 0.0, "all_rss": 0.0}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(0.5):
            workers = [int(p.name) for p in Path("/proc").glob("[0-9]*")
                       if b"targetpractice.instructor.worker" in _read(p / "cmdline")]
            trees = [_memory(w) for w in workers]
            if not trees:
                continue
            for key in ("pss", "uss"):
                self.peak[f"worker_{key}"] = max(self.peak[f"worker_{key}"], max(t[key] for t in trees))
            for key in ("pss", "uss", "rss"):
                self.peak[f"all_{key}"] = max(self.peak[f"all_{key}"], sum(t[key] for t in trees))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def sandbox_cost(n: int = 20) -> dict:
    """Milliseconds to fork the warm parent into a fresh sandbox and end it (no kernel work)."""
    from .kernel import sandbox_settings
    from .sandbox import ForkServer, default_spec

    server = ForkServer(preload=[])
    spec = default_spec(**sandbox_settings())
    spawn, setup = [], []
    try:
        for _ in range(n):
            reply = server.call(op="spawn", spec=spec, kernel={"key": "x" * 32, "signature_scheme": "hmac-sha256",
                                                               "kernel_name": "python3", "argv": []})
            spawn.append(reply["spawn_ms"])
            setup.append(reply["setup_ms"])
            server.call(op="kill", id=reply["id"])
            server.call(op="release", id=reply["id"])
    finally:
        server.close()
    return {"spawn_ms": statistics.median(spawn), "setup_ms": statistics.median(setup)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assignment", default="01-classification")
    ap.add_argument("--copies", type=int, default=8)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_class(args.assignment, args.copies, tmp / "class")
        n = len(paths)
        print(f"class: {n} submissions ({args.copies} copies of the sample class), {os.cpu_count()} cores")
        per_floor = floor(paths)
        print(f"floor (nbclient, serial): {per_floor:.2f} s per notebook")
        results, watch = {}, MemoryWatch()
        for label, jobs, sandbox in (("1", 1, True), ("2", 2, True), ("off", 1, False)):
            root = copy_course(tmp / f"run-{label}" / "course")
            results[label] = {}
            if label == "2":
                watch.thread.start()
            rows = grade(args.assignment, tmp / "class", root, quiet=True, jobs=jobs, timings=results[label],
                         sandbox=sandbox)
            results[label]["trusted"] = sum(s.trusted_seconds for s in rows)
            results[label]["per_submission"] = sum(s.seconds for s in rows)
            if label == "2":
                watch.stop.set()
            r = results[label]
            print(f"make grade JOBS={jobs}{'' if sandbox else ' SANDBOX=off'}: {r['total']:.1f} s in all; "
                  f"autograde {r['autograde']:.1f} s = {r['autograde'] / n:.2f} s per submission", flush=True)
        cost = sandbox_cost()
        one, two, off = results["1"], results["2"], results["off"]
        print()
        print(f"| {n} submissions, {os.cpu_count()} cores | JOBS=1 | JOBS=2 | SANDBOX=off, JOBS=1 |")
        print("|---|---|---|---|")
        print(f"| floor: nbclient executes each notebook, one after another (s per submission) | {per_floor:.2f} | | |")
        print("| autograde step, s per submission | "
              + " | ".join(f"{r['autograde'] / n:.2f}" for r in (one, two, off)) + " |")
        print("| autograde step / floor | "
              + " | ".join(f"{r['autograde'] / n / per_floor:.2f}" for r in (one, two, off)) + " |")
        print("| of one submission's grading time, the grader's own run of the test cells (s) | "
              + " | ".join(f"{r['trusted'] / n:.2f} of {r['per_submission'] / n:.2f}" for r in (one, two, off)) + " |")
        print("| whole `make grade` (s) | " + " | ".join(f"{r['total']:.0f}" for r in (one, two, off)) + " |")
        for step in ("generate", "export, report"):
            print(f"| of which {step} (s) | " + " | ".join(f"{r[step]:.1f}" for r in (one, two, off)) + " |")
        print(f"| speed-up JOBS=2 vs 1: autograde step | | {one['autograde'] / two['autograde']:.2f} | |")
        print(f"| speed-up JOBS=2 vs 1: whole `make grade` | | {one['total'] / two['total']:.2f} | |")
        print(f"| sandbox: fork a warm parent into a fresh sandbox, median (ms) | {cost['spawn_ms']:.0f} "
              f"(namespaces and mounts {cost['setup_ms']:.0f}) | | |")
        p = watch.peak
        print(f"| peak memory per worker, PSS / USS (MiB) | | {p['worker_pss']:.0f} / {p['worker_uss']:.0f} | |")
        print(f"| peak memory, all workers, PSS / USS / RSS sum (MiB) | | {p['all_pss']:.0f} / {p['all_uss']:.0f} / "
              f"{p['all_rss']:.0f} | |")
        for what, secs in parts().items():
            print(f"| cold kernel: {what} (s) | {secs:.2f} | | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
