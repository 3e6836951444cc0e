"""`make lab`: JupyterLab on the course, with nbgrader's extensions, started the same way on a laptop,
in a container, as root, or on a remote machine.

    python -m targetpractice.instructor.lab [jupyter lab arguments...]     # make lab LAB_ARGS="..."

- extra arguments go to `jupyter lab` as they are (`--no-browser --ip=0.0.0.0 --port=8890`);
- run as root (a container, CI), it adds `--allow-root` instead of exiting;
- it prints the URL to open, with its token, once the server answers;
- it hides nbgrader's "Assignment List" and "Course List", which need an exchange this course does not use:
  students get the notebooks from `exercises/` (a clone, a zip or the workshop USB stick) and hand
  in their .ipynb through the LMS, which `make grade` reads.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOW_DISTRIBUTED = ("Lessons: course/. Exercises: exercises/<topic>/. Students hand in their .ipynb through "
                   "the LMS (or a shared folder); the instructor grades with `make grade`.")


def lab_command(args: list, is_root: bool, root: Path = ROOT) -> list:
    """`jupyter lab` on the course at root; run it with cwd root/grader (nbgrader reads its config there)."""
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--ServerApp.root_dir={root}", *args]
    if is_root and "--allow-root" not in args:
        cmd.append("--allow-root")
    return cmd


def lab_env(root: Path = ROOT, env: dict | None = None) -> dict:
    """The environment for lab_command: JUPYTER_CONFIG_PATH adds root/grader/jupyter (read after the
    user's own config), whose labconfig/page_config.json hides the Assignment and Course Lists and
    Lab's news pop-up, and whose jupyter_server_config.json turns off their server side and keeps the
    extension manager from querying PyPI. Everything else of the user's setup stays as it is."""
    env = dict(os.environ if env is None else env)
    config = root / "grader" / "jupyter"
    path = os.pathsep.join(filter(None, [str(config), env.get("JUPYTER_CONFIG_PATH")]))
    return dict(env, JUPYTER_CONFIG_PATH=path, OMP_NUM_THREADS="1")


URL = re.compile(r"(https?://(?:127\.0\.0\.1|localhost|[\w.-]+):\d+/lab\?token=\w+)")


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if is_root:
        print("Running as root (a container?): adding --allow-root.", flush=True)
    proc = subprocess.Popen(lab_command(args, is_root), cwd=ROOT / "grader", env=lab_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    shown = False
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            match = URL.search(line)
            if match and not shown:
                shown = True
                bar = "=" * 78
                print(f"\n{bar}\n  Target Practice is ready. Open this URL in a browser:\n\n    {match.group(1)}\n\n"
                      f"  {HOW_DISTRIBUTED}\n  Stop with Ctrl-C.\n{bar}\n", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
