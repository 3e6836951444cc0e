"""The kernel nbgrader grades in: an ordinary IPython kernel with resource limits.

A submission that allocates without bound (a memory bomb) then gets a MemoryError or a torch
allocation error in its own cell, scored 0, instead of taking the grading machine down.
Limits come from the environment: TP_KERNEL_MEMORY_GB (address space, default 3) and
TP_KERNEL_CPU_SECONDS (CPU time for the whole notebook, default 600).

The kernel is started by `GradingExecute` (grader/nbgrader_config.py puts it first in
Autograde.autograde_preprocessors): in a sandbox of its own, forked warm (sandbox.py), or with
SANDBOX=off through `GradingKernelManager`, which builds its kernel spec here. Nothing is
installed where JupyterLab would find it, so students never see a grading kernel in the Launcher.
"""
import os
import resource
import sys


def _limit(which, value):
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, hard))
    except (ValueError, OSError):  # a platform without this limit: run unlimited rather than not at all
        pass


def main():
    _limit(resource.RLIMIT_AS, int(float(os.environ.get("TP_KERNEL_MEMORY_GB", "3")) * 2**30))
    _limit(resource.RLIMIT_CPU, int(os.environ.get("TP_KERNEL_CPU_SECONDS", "600")))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


SANDBOX_HELP = """The grading sandbox cannot start here: {why}.
Each submission runs in its own sandbox (namespaces, cgroups, an unprivileged uid), which needs Linux
and root: run `sudo make grade`, or grade in a container started as root with CAP_SYS_ADMIN
(docker run --privileged ...). To grade without it (student code then runs with your privileges, next
to the gradebook and the solutions): make grade SANDBOX=off"""


def sandbox_on(value: str | None = None) -> bool:
    """SANDBOX=off (TP_SANDBOX=off for the grading workers) grades in a plain, rlimited kernel."""
    value = os.environ.get("TP_SANDBOX", "on") if value is None else value
    return value.lower() not in ("off", "0", "no", "false")


def sandbox_problem() -> str | None:
    """None if a submission's sandbox can start here, else why not (checked before grading starts)."""
    if not sys.platform.startswith("linux"):
        return f"it needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "it needs root (it creates namespaces, mounts and cgroups for each submission)"
    import subprocess

    probe = subprocess.run(["unshare", "--mount", "--pid", "--net", "--ipc", "--fork", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"this machine refuses new namespaces ({probe.stderr.strip() or probe.returncode})"
    return None


def sandbox_settings() -> dict:
    """The sandbox of one submission (targetpractice.instructor.sandbox.default_spec overrides)."""
    from pathlib import Path

    library = Path(__file__).resolve().parents[1]             # the targetpractice package
    worker = int(os.environ.get("TP_WORKER", "0"))
    uid = 64000 + worker                                      # one uid per worker: its own RLIMIT_NPROC
    return {
        "uid": uid, "gid": uid,
        "memory_bytes": int(float(os.environ.get("TP_KERNEL_MEMORY_GB", "3")) * 2**30),  # kernel + children
        "pids_max": 256, "scratch_bytes": 256 << 20, "cpus": 1.0,
        "wall_seconds": int(os.environ.get("TP_NOTEBOOK_SECONDS", "600")),            # whole notebook
        "library": [str(library)], "masks": [str(library / "instructor")],
        "env": {"OMP_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"},
    }


MAX_MESSAGE_BYTES = 64 * 2**20
MAX_CELL_BYTES = 8 * 2**20
MAX_NOTEBOOK_BYTES = 32 * 2**20


def _content_size(content) -> int:
    """Characters of text and data in a message's content (without serialising it again)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, dict):
        return sum(_content_size(v) for v in content.values())
    if isinstance(content, (list, tuple)):
        return sum(_content_size(v) for v in content)
    return 8


# What the trusted checks cost and found, summed over this process's notebooks (the worker reports it).
TRUSTED_STATS = {"requests": 0, "seconds": 0.0, "evidence": []}


def _instructor_cells(resources) -> dict:
    """grade_id -> ("test" | "locked", the instructor's source), read from the gradebook, never from the
    submission: only these sources run in the grader's process."""
    from nbgrader.api import Gradebook

    info = resources.get("nbgrader", {}) if resources else {}
    if not info.get("db_url"):
        return {}
    with Gradebook(info["db_url"]) as gb:
        notebook = gb.find_notebook(info["notebook"], info["assignment"])
        cells = {}
        for c in notebook.source_cells:
            if c.cell_type != "code":
                continue
            grade = next((g for g in notebook.grade_cells if g.name == c.name), None)
            solution = any(s.name == c.name for s in notebook.solution_cells)
            if grade is not None and not solution:
                cells[c.name] = ("test", c.source)
            elif c.locked and not solution and grade is None:
                cells[c.name] = ("locked", c.source)
        return cells


def _grading_classes():
    """Defined on demand: the kernel process itself must not import nbgrader or jupyter_client."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager
    from nbgrader.preprocessors import Execute

    class GradingKernelManager(AsyncKernelManager):
        """SANDBOX=off: `python -m targetpractice.instructor.kernel`, whatever kernel the notebook names."""

        @property
        def kernel_spec(self):
            return KernelSpec(argv=[sys.executable, "-m", "targetpractice.instructor.kernel", "-f",
                                    "{connection_file}"],
                              display_name="Target Practice grading kernel", language="python",
                              metadata={"debugger": False})

    class GradingExecute(Execute):
        """nbgrader's Execute preprocessor, running each submission in its own warm sandbox
        (SandboxedKernelManager), or with SANDBOX=off in the rlimited kernel above.

        What the kernel sends is capped as it arrives, in this trusted process: no message over
        MAX_MESSAGE_BYTES is even received (zmq drops the connection: the kernel counts as dead),
        outputs beyond MAX_CELL_BYTES per cell or MAX_NOTEBOOK_BYTES per notebook are dropped with
        one note, and widget state is not kept. InertContent then cuts what is kept to size.
        """

        def __init__(self, *args, **kwargs):
            if sandbox_on():
                from .sandbox import SandboxedKernelManager as manager
            else:
                manager = GradingKernelManager
            kwargs["kernel_manager_class"] = manager  # Execute forces its own default over config
            kwargs["store_widget_state"] = False
            super().__init__(*args, **kwargs)
            self._received, self._cell_received = 0, {}

        def preprocess(self, nb, resources=None, km=None):
            self._received, self._cell_received = 0, {}    # budgets are per notebook
            resources = resources if resources is not None else {}
            self._sources = _instructor_cells(resources)
            self._checks = None
            state = resources.setdefault("targetpractice", {})
            self._verdicts, self._evidence = state.setdefault("verdicts", {}), state.setdefault("evidence", [])
            try:
                return super().preprocess(nb, resources, km=km)
            finally:
                if self._checks is not None:
                    self._checks.channel.close()
                    TRUSTED_STATS["requests"] += self._checks.channel.requests
                TRUSTED_STATS["evidence"] += self._evidence

        def preprocess_cell(self, cell, resources, index):
            """Answer and locked cells run in the kernel; test cells here (see trusted.py)."""
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id") if cell.cell_type == "code" else None
            kind, source = self._sources.get(grade_id, (None, None))
            if kind == "test":
                return self._grade_test_cell(cell, grade_id, source, resources, index)
            return super().preprocess_cell(cell, resources, index)

        def _trusted(self):
            """The grader's side, on first use: every locked cell of the gradebook runs here first, whatever
            the submission kept of them, so `checks`, `torch` or a given model class never come from the kernel."""
            if self._checks is None:
                from .trusted import Channel, TrustedChecks

                self._checks = TrustedChecks(Channel(self.km, self._interrupt))
                self._checks.run_locked([source for kind, source in self._sources.values() if kind == "locked"])
            return self._checks

        def _interrupt(self):
            import signal

            provisioner = self.km.provisioner
            if hasattr(provisioner, "_call"):                     # the sandbox's fork server
                provisioner._call("signal", signum=int(signal.SIGINT))
            elif getattr(provisioner, "process", None) is not None:
                os.kill(provisioner.process.pid, signal.SIGINT)

        def _grade_test_cell(self, cell, grade_id, source, resources, index):
            """The verdict is computed here from the instructor's source, and the cell keeps the grader's
            outputs, never the kernel's. Where a quick check fails here, the kernel runs it as the student
            saw it: passing there is evidence that the notebook answers its own checks differently."""
            verdict = self._trusted().run_test(source)
            kernel_passed = None
            if not verdict.passed and "BEGIN HIDDEN TESTS" not in source:
                cell.source = source
                cell, resources = super().preprocess_cell(cell, resources, index)
                kernel_passed = not any(o.get("output_type") == "error" or o.get("name") == "stderr"
                                        for o in cell.outputs)
            cell.outputs = verdict.outputs()
            self._verdicts[grade_id] = verdict.passed
            TRUSTED_STATS["seconds"] += verdict.seconds
            if kernel_passed and not verdict.passed:
                first = (verdict.message.splitlines() or [""])[0]
                self._evidence.append(f"{grade_id}: the check passed in the notebook's kernel but failed when the "
                                      f"grader ran it on the same inputs ({first[:300]})")
            return cell, resources

        async def async_start_new_kernel(self, **kwargs):
            import zmq

            await super().async_start_new_kernel(**kwargs)
            self.km.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)  # for the client's sockets
            return self.km

        def output(self, outs, msg, display_id, cell_index):
            size = _content_size(msg.get("content", {}))
            used = self._cell_received.get(cell_index, 0)
            if used + size > MAX_CELL_BYTES or self._received + size > MAX_NOTEBOOK_BYTES:
                if used <= MAX_CELL_BYTES:  # one note per cell, then silence
                    from nbformat.v4 import new_output

                    outs.append(new_output("stream", name="stdout", text=(
                        "\n[output dropped by the grader: this cell or notebook printed more than it may]\n")))
                    self._cell_received[cell_index] = MAX_CELL_BYTES + 1
                return None
            self._cell_received[cell_index] = used + size
            self._received += size
            return super().output(outs, msg, display_id, cell_index)

    return GradingKernelManager, GradingExecute


def __getattr__(name):
    if name in ("GradingKernelManager", "GradingExecute"):
        manager, execute = _grading_classes()
        globals().update(GradingKernelManager=manager, GradingExecute=execute)
        return globals()[name]
    raise AttributeError(name)


if __name__ == "__main__":
    main()
