"""The kernel nbgrader grades in: an ordinary IPython kernel with resource limits.

A submission that allocates without bound (a memory bomb) then gets a MemoryError or a torch
allocation error in its own cell, scored 0, instead of taking the grading machine down.
Limits come from the environment: TP_KERNEL_MEMORY_GB (address space, default 3) and
TP_KERNEL_CPU_SECONDS (CPU time for the whole notebook, default 600).

The kernel is started by `GradingExecute` (grader/nbgrader_config.py puts it first in
Autograde.autograde_preprocessors) through `GradingKernelManager`, which builds its kernel spec
here: nothing is installed where JupyterLab would find it, so students never see this kernel
in the Launcher.
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


def _grading_classes():
    """Defined on demand: the kernel process itself must not import nbgrader or jupyter_client."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager
    from nbgrader.preprocessors import Execute

    class GradingKernelManager(AsyncKernelManager):
        """Starts `python -m targetpractice.instructor.kernel` whatever kernel the notebook names."""

        @property
        def kernel_spec(self):
            return KernelSpec(argv=[sys.executable, "-m", "targetpractice.instructor.kernel", "-f",
                                    "{connection_file}"],
                              display_name="Target Practice grading kernel", language="python",
                              metadata={"debugger": False})

    class GradingExecute(Execute):
        """nbgrader's Execute preprocessor, running each submission in the grading kernel."""

        def __init__(self, *args, **kwargs):
            kwargs["kernel_manager_class"] = GradingKernelManager  # Execute forces its own default
            super().__init__(*args, **kwargs)

    return GradingKernelManager, GradingExecute


def __getattr__(name):
    if name in ("GradingKernelManager", "GradingExecute"):
        manager, execute = _grading_classes()
        globals().update(GradingKernelManager=manager, GradingExecute=execute)
        return globals()[name]
    raise AttributeError(name)


if __name__ == "__main__":
    main()
