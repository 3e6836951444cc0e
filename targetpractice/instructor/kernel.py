"""The kernel nbgrader grades in: an ordinary IPython kernel with resource limits.

A submission that allocates without bound (a memory bomb) then gets a MemoryError or a torch
allocation error in its own cell, scored 0, instead of taking the grading machine down.
Limits come from the environment: TP_KERNEL_MEMORY_GB (address space, default 3) and
TP_KERNEL_CPU_SECONDS (CPU time for the whole notebook, default 600).
Kernelspec: grader/kernels/targetpractice-grading/kernel.json.
"""
import os
import resource


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


if __name__ == "__main__":
    main()
