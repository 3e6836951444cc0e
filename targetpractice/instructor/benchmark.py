"""Grading benchmark: seconds per submission for autograde with JOBS=1 and JOBS=2, against the floor
(executing the same notebooks with nbclient in the same kind of kernel, one after another).

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
from pathlib import Path

from .grading import ROOT, grade


def make_class(assignment: str, copies: int, dest: Path) -> list:
    samples = ROOT / "grader" / "samples" / assignment
    paths = []
    for k in range(copies):
        for student in sorted(p for p in samples.iterdir() if p.is_dir()):
            shutil.copytree(student, dest / f"{student.name}{k:02d}")
            paths += sorted((dest / f"{student.name}{k:02d}").glob("*.ipynb"))
    return paths


def scratch_course(tmp: Path) -> Path:
    root = tmp / "course"
    shutil.copytree(ROOT / "grader", root / "grader", ignore=shutil.ignore_patterns(
        "submitted", "autograded", "feedback", "samples", ".grading", "*.db", "grades.csv", "report.html"))
    for d in ("solutions", "exercises"):
        shutil.copytree(ROOT / d, root / d)
    return root


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
        results = {}
        for jobs in (1, 2):
            root = scratch_course(tmp / f"jobs{jobs}")
            results[jobs] = {}
            grade(args.assignment, tmp / "class", root, quiet=True, jobs=jobs, timings=results[jobs])
            r = results[jobs]
            print(f"make grade JOBS={jobs}: {r['total']:.1f} s in all; autograde {r['autograde']:.1f} s = "
                  f"{r['autograde'] / n:.2f} s per submission")
        print()
        print(f"| {n} submissions, {os.cpu_count()} cores | JOBS=1 | JOBS=2 |")
        print("|---|---|---|")
        print(f"| floor: nbclient executes each notebook, one after another (s per submission) | {per_floor:.2f} | |")
        print("| autograde step, s per submission | " + " | ".join(f"{results[j]['autograde'] / n:.2f}" for j in (1, 2))
              + " |")
        print("| autograde step / floor | " + " | ".join(f"{results[j]['autograde'] / n / per_floor:.2f}"
                                                        for j in (1, 2)) + " |")
        print("| whole `make grade` (s) | " + " | ".join(f"{results[j]['total']:.0f}" for j in (1, 2)) + " |")
        for step in ("generate", "feedback, export, report"):
            print(f"| of which {step} (s) | " + " | ".join(f"{results[j][step]:.1f}" for j in (1, 2)) + " |")
        print(f"| speed-up of the autograde step, JOBS=2 vs 1 | | "
              f"{results[1]['autograde'] / results[2]['autograde']:.2f} |")
        for what, secs in parts().items():
            print(f"| {what} | {secs:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
