"""Sandboxed, warm-started Jupyter kernels for grading one student submission at a time.

Design (see the report for measurements):

* A **fork server** (one per grading process, started lazily by :class:`ForkServer`) runs as root
  outside any sandbox.  Before it starts any thread or event loop it imports torch (one thread),
  builds and steps an Adam optimizer (this imports ``torch._dynamo``), numpy, matplotlib and
  ipykernel, then ``gc.freeze()``\\ s.  It has a minimal environment and argv, because every child
  can read both back through ``/proc/self/environ`` and ``/proc/self/cmdline``.
* For each submission it forks **child1**, which joins the submission's cgroups and builds the
  sandbox in-process, like bubblewrap does: ``unshare`` of mount, PID, network, IPC, UTS and cgroup
  namespaces, a tmpfs root holding read-only non-recursive bind mounts of the Python environment
  (venv + base interpreter + /usr) and of the course library, one size-capped tmpfs ``/scratch``
  (also seen as ``/tmp`` and ``/dev/shm``), a minimal ``/dev``, then ``pivot_root``.
  child1 stays root *outside* the new PID namespace and only waits; it forwards signals.
* child1 forks **init** (PID 1 of the new namespace): it mounts ``/proc``, drops to an
  unprivileged uid/gid (empty capability bounding set, no_new_privs, non-dumpable) and forks the
  **kernel** (PID 2), which becomes an ``IPKernelApp`` listening on ZMQ ``ipc://`` sockets in
  ``/scratch/.kernel``.  The network namespace has no interface up (not even loopback).
* The grader reaches those sockets from the host through an ``O_PATH`` fd on
  ``/proc/<child1>/root`` (``ipc:///proc/self/fd/N/scratch/.kernel/k-1``): nothing of the sandbox
  exists in the host's mount namespace, so nothing needs cleaning up, and a recycled pid cannot
  redirect the grader to another sandbox.
* Teardown: SIGKILL to init through a pidfd ends the whole PID namespace (the kernel kills every
  process in it, setsid'd daemons included); child1 and the cgroups are then reaped/removed.
  PR_SET_PDEATHSIG chains server -> child1 -> init -> kernel, so killing the grader ends it all.

Integration: :class:`SandboxedKernelManager` (a jupyter_client ``AsyncKernelManager`` using
:class:`SandboxProvisioner`) for nbclient, and ``SandboxedExecute`` (nbgrader's ``Execute`` with
that manager; ``c.Execute.kernel_manager_class`` alone is ignored, because nbgrader passes
``kernel_manager_class=AsyncKernelManager`` as a keyword and keywords beat config in traitlets)::

    c.Autograde.autograde_preprocessors = [
        "targetpractice.instructor.sandbox.SandboxedExecute", IgnorePattern,
        ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
        CheckCellMetadata]
    c.SandboxedKernelManager.sandbox = {"memory_bytes": 2 << 30, "library": ["/repo/targetpractice"]}

Requires root, Linux, and cgroups (v1 ``memory``+``pids`` or v2) for group-wide limits; without
writable cgroups it falls back to per-uid ``RLIMIT_NPROC`` and per-process ``RLIMIT_AS``.
"""
from __future__ import annotations

import asyncio
import ctypes
import errno
import gc
import json
import os
import platform
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid

# --------------------------------------------------------------------------------------------
# Linux constants and libc wrappers (Python 3.11 has no os.unshare / os.mount)
# --------------------------------------------------------------------------------------------
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS = 0x00020000, 0x02000000, 0x04000000
CLONE_NEWIPC, CLONE_NEWPID, CLONE_NEWNET = 0x08000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 38, 47, 4
PR_SET_CHILD_SUBREAPER = 36
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(s):
    return None if s is None else os.fsencode(s)


def _mount(src, target, fstype=None, flags=0, data=None):
    _check(_libc.mount(_b(src), _b(target), _b(fstype), flags, _b(data)),
           f"mount {src} on {target}")


def _prctl(option, arg2=0, arg3=0):
    _check(_libc.prctl(option, arg2, arg3, 0, 0), f"prctl({option})")


CAP_LAST_CAP = int(open("/proc/sys/kernel/cap_last_cap").read()) if os.path.exists(
    "/proc/sys/kernel/cap_last_cap") else 40

# Paths inside the sandbox.
SCRATCH = "/scratch"
KERNEL_DIR = SCRATCH + "/.kernel"            # connection file + ZMQ ipc sockets
KERNEL_IPC = KERNEL_DIR + "/k"               # ipc://{KERNEL_IPC}-{port}
PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "hb_port": 4, "control_port": 5}
DEFAULT_STAGING = None                       # None: the fork server's own empty temp dir (a private tmpfs
                                             # is mounted on it in each sandbox's mount namespace)


class SandboxError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# The sandbox specification (a plain dict crosses the pipe to the server)
# --------------------------------------------------------------------------------------------
def default_spec(**overrides) -> dict:
    """Limits and mounts for one submission; every key can be overridden.

    ro_binds: host paths made visible read-only at the same path (non-recursively: a mount
    below one is *not* exposed).  library: the course library's package directories (also
    read-only); masks: directories hidden behind an empty read-only tmpfs (e.g. instructor code).
    """
    env_paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)}
    env_paths |= {os.path.abspath(p) for p in (sys.prefix, sys.base_prefix)}
    spec = {
        "uid": 65534, "gid": 65534,
        "memory_bytes": 2 << 30,      # whole sandbox (kernel + children + tmpfs pages)
        "pids_max": 256,              # tasks (threads count too); ipykernel itself uses ~10
        "scratch_bytes": 256 << 20,   # /scratch = /tmp = /dev/shm
        "scratch_inodes": 65536,
        "cpus": 1.0,                  # CPU quota (cgroup cpu controller); 0: none
        "wall_seconds": 900,          # whole notebook; the per-cell timeout is nbclient's
        "ro_binds": sorted(env_paths | {"/usr"}),
        "etc_files": ["/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"],
        "library": [],
        "masks": [],
        "cgroups": True,              # False: rlimit fallback only (for tests / no cgroupfs)
        "cwd": None,                  # host dir bound read-only at /submission and used as cwd;
                                      # True: the notebook's own directory (nbgrader's autograded
                                      # dir also holds the notebook *with its hidden tests*)
        "log_path": None,             # host file for the kernel's fd 1/2 (debugging); else /dev/null
        "env": {},
        "staging": DEFAULT_STAGING,
    }
    unknown = set(overrides) - set(spec)
    if unknown:
        raise ValueError(f"unknown sandbox settings: {sorted(unknown)}")
    spec.update(overrides)
    return spec


# --------------------------------------------------------------------------------------------
# cgroups: one group per submission, nested under the server's own group (v1 here, v2 best effort)
# --------------------------------------------------------------------------------------------
class Cgroups:
    """memory + pids groups for one sandbox.  Empty `dirs` means cgroups are unavailable."""

    def __init__(self, name: str, memory_bytes: int, pids_max: int, cpus: float = 0,
                 enabled: bool = True):
        self.dirs: list[str] = []
        if not enabled:
            return
        own = {}
        for line in open("/proc/self/cgroup"):
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(","):
                own[c] = path
        try:
            if os.path.isdir("/sys/fs/cgroup/memory") and os.path.isdir("/sys/fs/cgroup/pids"):
                mem = self._mkdir(f"/sys/fs/cgroup/memory{own.get('memory', '/')}", name)
                self._write(mem, "memory.limit_in_bytes", memory_bytes)
                if os.path.exists(f"{mem}/memory.memsw.limit_in_bytes"):   # no swapping round it
                    self._write(mem, "memory.memsw.limit_in_bytes", memory_bytes)
                pids = self._mkdir(f"/sys/fs/cgroup/pids{own.get('pids', '/')}", name)
                self._write(pids, "pids.max", pids_max)
                if cpus and os.path.isdir("/sys/fs/cgroup/cpu"):
                    cpu = self._mkdir(f"/sys/fs/cgroup/cpu{own.get('cpu', '/')}", name)
                    self._write(cpu, "cpu.cfs_period_us", 100000)
                    self._write(cpu, "cpu.cfs_quota_us", int(cpus * 100000))
            elif os.path.exists("/sys/fs/cgroup/cgroup.controllers"):       # v2 (untested here)
                grp = self._mkdir(f"/sys/fs/cgroup{own.get('', '/')}", name)
                self._write(grp, "memory.max", memory_bytes)
                self._write(grp, "memory.swap.max", 0)
                self._write(grp, "pids.max", pids_max)
                if cpus:
                    self._write(grp, "cpu.max", f"{int(cpus * 100000)} 100000")
        except OSError:
            self.remove()
            self.dirs = []

    def _mkdir(self, parent, name):
        path = os.path.join(parent, name)
        os.mkdir(path)
        self.dirs.append(path)
        return path

    @staticmethod
    def _write(d, f, value):
        with open(os.path.join(d, f), "w") as fh:
            fh.write(str(value))

    def enter(self):
        """Move the calling process (and so all its future descendants) into the groups."""
        for d in self.dirs:
            self._write(d, "cgroup.procs", os.getpid())

    def procs(self) -> set[int]:
        pids = set()
        for d in self.dirs:
            try:
                pids |= {int(p) for p in open(os.path.join(d, "cgroup.procs")).read().split()}
            except OSError:
                pass
        return pids

    def stats(self) -> dict:
        out = {}
        for d in self.dirs:
            for f in ("memory.max_usage_in_bytes", "memory.failcnt", "pids.peak", "pids.events",
                      "memory.oom_control", "memory.events"):
                try:
                    out[f] = open(os.path.join(d, f)).read().strip()
                except OSError:
                    pass
        return out

    def remove(self, timeout=5.0):
        """Wait until the groups are empty (the PID namespace is dying), then rmdir them.
        Stragglers are SIGKILLed; only reached if the namespace kill somehow failed."""
        deadline = time.monotonic() + timeout
        while self.procs() and time.monotonic() < deadline:
            time.sleep(0.005)
        for pid in self.procs():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for d in reversed(self.dirs):
            for _ in range(200):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.005)
        self.dirs = [d for d in self.dirs if os.path.exists(d)]


def limits_here(memory_bytes: int = 2 << 30, pids_max: int = 256, cpus: float = 1.0) -> str:
    """Which limits a sandbox gets on this machine, in words (for the terminal and the report):
    cgroups over all of a submission's processes, or per-process rlimits only."""
    probe = Cgroups(f"tp-sandbox-{os.getpid()}-probe", memory_bytes, pids_max, cpus)
    try:
        if not probe.dirs:
            return "per-process rlimits only (no writable cgroup here): memory is limited per process, not per sandbox"
        parts = [d[len("/sys/fs/cgroup/"):].split("/")[0] for d in probe.dirs]
        if all(p in ("memory", "pids", "cpu") for p in parts):
            return f"cgroup v1 ({', '.join(parts)}) over all of a submission's processes"
        return "cgroup v2 (memory, pids, cpu) over all of a submission's processes"
    finally:
        probe.remove()


# --------------------------------------------------------------------------------------------
# Inside the fork children: build the sandbox (a small bubblewrap) and become a kernel
# --------------------------------------------------------------------------------------------
def _makedirs(path, mode=0o755):
    os.makedirs(path, mode=mode, exist_ok=True)


def _bind_ro(src, target):
    """Read-only, nosuid, nodev, non-recursive bind of host `src` onto `target`."""
    if os.path.isdir(src):
        _makedirs(target)
    else:
        _makedirs(os.path.dirname(target))
        if not os.path.exists(target):
            open(target, "w").close()
    _mount(src, target, None, MS_BIND)
    _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _build_root(spec: dict) -> None:
    """In a fresh mount namespace, assemble the sandbox's root and pivot into it."""
    uid, gid, root = spec["uid"], spec["gid"], spec["staging"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)          # nothing propagates back to the host
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")

    # The only writable place: one size-capped tmpfs, also bound at /tmp and /dev/shm.  First,
    # so that a read-only bind below /tmp (a venv there) is not hidden by it.
    scratch = root + SCRATCH
    _makedirs(scratch)
    _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={spec['scratch_bytes']},nr_inodes={spec['scratch_inodes']},"
           f"mode=0700,uid={uid},gid={gid}")
    for sub in ("tmp", ".shm", ".kernel"):
        os.mkdir(f"{scratch}/{sub}", 0o700)
        os.chown(f"{scratch}/{sub}", uid, gid)
    for src, dst in ((scratch + "/tmp", root + "/tmp"), (scratch + "/.shm", root + "/dev/shm")):
        _makedirs(dst)
        _mount(src, dst, None, MS_BIND | MS_NOSUID | MS_NODEV)

    # Read-only environment and library, at their host paths (shortest first: parents first).
    binds = [(os.path.realpath(p), p) for p in spec["ro_binds"] + spec["library"]]
    for src, dst in sorted(binds, key=lambda b: b[1].count("/")):
        if os.path.exists(src):
            _bind_ro(src, root + dst)
    for m in spec["masks"]:                                  # hide e.g. instructor/ in the library
        if os.path.isdir(root + m):
            _mount("tmpfs", root + m, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # merged-/usr symlinks
        if os.path.islink("/" + name) and not os.path.lexists(f"{root}/{name}"):
            os.symlink(os.readlink("/" + name), f"{root}/{name}")

    # /etc: a synthetic passwd/group plus a few harmless files.
    _makedirs(root + "/etc")
    with open(root + "/etc/passwd", "w") as f:
        f.write(f"root:x:0:0:root:/:/usr/sbin/nologin\nstudent:x:{uid}:{gid}:student:{SCRATCH}:/bin/sh\n")
    with open(root + "/etc/group", "w") as f:
        f.write(f"root:x:0:\nstudent:x:{gid}:\n")
    with open(root + "/etc/hosts", "w") as f:
        f.write("127.0.0.1 localhost sandbox\n")
    for p in spec["etc_files"]:
        if os.path.islink(p):
            os.symlink(os.readlink(p), root + p)
        elif os.path.isfile(p):
            _bind_ro(p, root + p)

    # A minimal /dev (the device nodes are bind mounts of the host's, as bubblewrap does).
    dev = root + "/dev"
    for node in ("null", "zero", "full", "random", "urandom", "tty"):
        if not os.path.exists(f"/dev/{node}"):
            continue
        open(f"{dev}/{node}", "w").close()
        _mount(f"/dev/{node}", f"{dev}/{node}", None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{dev}/{name}")

    _makedirs(root + "/proc")
    if spec["cwd"]:
        _bind_ro(os.path.realpath(spec["cwd"]), root + "/submission")

    # pivot_root(".", ".") then detach the old root: the host's tree is unreachable afterwards.
    os.chdir(root)
    _check(_libc.syscall(ctypes.c_long(SYS_PIVOT_ROOT), b".", b"."), "pivot_root")
    _check(_libc.umount2(b".", MNT_DETACH), "umount old root")
    os.chdir("/")
    _mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


# A small seccomp denylist (what bubblewrap's --disable-userns gives, and a bit more): no new
# user namespaces (the usual first step of kernel exploits: they hand out CAP_SYS_ADMIN over a
# fresh namespace), clone3 answered ENOSYS (its flags live in memory, so glibc falls back to
# clone, which is checked), no keyrings, bpf, perf events, userfaultfd or io_uring.
_SECCOMP = {  # arch: (AUDIT_ARCH, clone, clone3, unshare, [denied])
    "x86_64": (0xC000003E, 56, 435, 272, [248, 249, 250, 321, 298, 323, 425, 426, 427]),
    "aarch64": (0xC00000B7, 220, 435, 97, [217, 218, 219, 280, 241, 282, 425, 426, 427]),
}


def _install_seccomp() -> bool:
    table = _SECCOMP.get(platform.machine())
    if table is None:
        return False
    arch, nr_clone, nr_clone3, nr_unshare, denied = table
    LD, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06      # BPF_LD|W|ABS, JMP|JEQ|K, ...
    ALLOW, KILL = 0x7FFF0000, 0x80000000
    EPERM, ENOSYS = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog = [(LD, 0, 0, 4), (JEQ, 1, 0, arch), (RET, 0, 0, KILL), (LD, 0, 0, 0),
            (JGE, 0, 1, 0x40000000), (RET, 0, 0, EPERM),           # x32 ABI numbers
            (JEQ, 0, 1, nr_clone3), (RET, 0, 0, ENOSYS)]
    for nr in denied:
        prog += [(JEQ, 0, 1, nr), (RET, 0, 0, EPERM)]
    prog += [(JEQ, 1, 0, nr_clone), (JEQ, 0, 3, nr_unshare),       # clone/unshare: check flags
             (LD, 0, 0, 16), (JSET, 0, 1, 0x10000000),              # args[0] & CLONE_NEWUSER
             (RET, 0, 0, EPERM), (RET, 0, 0, ALLOW)]

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(*f) for f in prog])
    fprog = Prog(len(prog), filters)
    PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
    _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog))
    return True


def _drop_privileges(uid: int, gid: int) -> None:
    for cap in range(CAP_LAST_CAP + 1):                    # empty bounding set: no way back
        _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)                            # clears permitted/effective caps
    _prctl(PR_SET_NO_NEW_PRIVS, 1)                         # setuid binaries in /usr gain nothing
    if os.getuid() != uid or os.geteuid() != uid:
        raise SandboxError("failed to drop privileges")
    _install_seccomp()                                     # inherited by everything below


def _sandbox_env(spec: dict) -> dict:
    env = {
        "PATH": f"{sys.prefix}/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": SCRATCH, "TMPDIR": "/tmp", "USER": "student", "LOGNAME": "student",
        "LANG": "C.UTF-8", "IPYTHONDIR": SCRATCH + "/.ipython",
        "MPLCONFIGDIR": SCRATCH + "/.config/matplotlib", "XDG_CACHE_HOME": SCRATCH + "/.cache",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "VIRTUAL_ENV": sys.prefix,
    }
    env.update(spec.get("env") or {})
    return env


def _set_limits(spec: dict, cgroups_ok: bool) -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Per-process address space, always: what is already mapped (torch is big) plus the budget. One
    # huge allocation then fails in its own cell (a MemoryError the grade survives) instead of
    # waking the cgroup's OOM killer, which would end the kernel and zero every later exercise.
    # The cgroup still bounds all processes together.
    vm = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + spec["memory_bytes"],) * 2)
    if not cgroups_ok:  # per-uid process count: meaningful because the uid is the sandbox's own
        resource.setrlimit(resource.RLIMIT_NPROC, (spec["pids_max"],) * 2)


def _child1_main(spec: dict, kernel: dict, report: socket.socket, cgroups: Cgroups) -> None:
    """Runs as root in the host PID namespace; never returns."""
    code = 1
    try:
        t0 = time.perf_counter()
        os.setsid()
        cgroups.enter()                          # first: everything after is accounted
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != kernel["server_pid"]:
            os._exit(1)
        # fds: 0 = /dev/null, 1/2 = /dev/null or a log; nothing else but the report socket.
        null = os.open("/dev/null", os.O_RDWR)
        out = os.open(spec["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) \
            if spec["log_path"] else null
        os.dup2(null, 0); os.dup2(out, 1); os.dup2(out, 2)
        keep = report.fileno()
        os.closerange(3, keep); os.closerange(keep + 1, 1 << 16)

        _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                             | CLONE_NEWUTS | CLONE_NEWCGROUP), "unshare")
        _build_root(spec)
        socket.sethostname("sandbox")
        t1 = time.perf_counter()

        init_pid = os.fork()                     # PID 1 of the new namespace
        if init_pid == 0:
            report.close()
            _init_main(spec, kernel, bool(cgroups.dirs))
        report.sendall(f"ok {init_pid} {(t1 - t0) * 1e3:.1f}\n".encode())
        report.recv(16)                          # wait for the server's pidfd on init (no pid reuse)
        report.close()
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(s, lambda n, _f: os.kill(init_pid, n))
        _, status = os.waitpid(init_pid, 0)
        code = _exit_code(status)
    except BaseException:
        try:
            report.sendall(("error " + traceback.format_exc().replace("\n", "\\n") + "\n").encode())
        except Exception:
            pass
    finally:
        os._exit(code)


def _exit_code(status: int) -> int:
    c = os.waitstatus_to_exitcode(status)
    return c if c >= 0 else 128 - c


def _init_main(spec: dict, kernel: dict, cgroups_ok: bool) -> None:
    """PID 1: mounts /proc, drops privileges, forks the kernel, reaps orphans; never returns."""
    code = 1
    try:
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _drop_privileges(spec["uid"], spec["gid"])
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
        _prctl(PR_SET_DUMPABLE, 0)               # the student (same uid) cannot ptrace init
        os.environ.clear()
        os.environ.update(_sandbox_env(spec))
        with open(KERNEL_DIR + "/kernel.json", "w") as f:
            json.dump({"transport": "ipc", "ip": KERNEL_IPC, "key": kernel["key"],
                       "signature_scheme": kernel["signature_scheme"],
                       "kernel_name": kernel.get("kernel_name", ""), **PORTS}, f)
        kpid = os.fork()
        if kpid == 0:
            _kernel_main(spec, kernel, cgroups_ok)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(s, lambda n, _f: os.kill(kpid, n))
        while True:                              # reap orphans; end with the kernel
            pid, status = os.wait()
            if pid == kpid:
                code = _exit_code(status)
                break
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)                           # the kernel kills every process in the namespace


def _kernel_main(spec: dict, kernel: dict, cgroups_ok: bool) -> None:
    """PID 2: the IPython kernel, as the unprivileged uid; never returns."""
    code = 1
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != 1:
            os._exit(1)
        _prctl(PR_SET_DUMPABLE, 1)               # like any process: its own /proc is readable
        _set_limits(spec, cgroups_ok)
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD):
            signal.signal(s, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # Forked: every kernel would share the server's RNG states.  A cold process seeds torch
        # and numpy from OS entropy (Python's `random` reseeds itself after fork).
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        if "torch" in sys.modules:
            sys.modules["torch"].seed()
        sys.dont_write_bytecode = True
        os.chdir("/submission" if spec["cwd"] else SCRATCH)
        conn = KERNEL_DIR + "/kernel.json"
        sys.argv = ["ipykernel_launcher", "-f", conn]
        from ipykernel.kernelapp import IPKernelApp
        app = IPKernelApp.instance()
        app.parent_handle = 1                    # init is the parent; no poller, no console banner
        app.initialize(["-f", conn, *kernel.get("argv", [])])
        app.start()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)


# --------------------------------------------------------------------------------------------
# The fork server: warm imports once, then fork a sandboxed kernel per request
# --------------------------------------------------------------------------------------------
# Imported by the fork server after torch.  matplotlib.pyplot does not pick its backend at import:
# the kernel resolves MPLBACKEND (inline) on first use, exactly like a cold kernel.
# IPKernelApp.initialize imports the debugger (debugpy/pydevd, ~150 modules, ~0.4 s) and a few
# others: importing them here cuts a warm kernel's start from ~0.55 s to ~0.1 s.
WARM_MODULES = ("numpy", "matplotlib.pyplot", "matplotlib.backends.backend_agg",
                "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell",
                "IPython.core.interactiveshell", "ipykernel.debugger", "debugpy", "psutil",
                "sqlite3", "pdb", "pydoc", "faulthandler")


def _warm_up(preload: list[str]) -> dict:
    """Import what every submission needs, in one thread, before any fork."""
    t0 = time.perf_counter()
    import torch
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    import torch.nn.functional as F
    import torch.optim
    model = torch.nn.Linear(4, 3)
    for opt in (torch.optim.Adam(model.parameters()), torch.optim.SGD(model.parameters(), lr=0.1)):
        loss = F.cross_entropy(model(torch.randn(8, 4)), torch.randint(0, 3, (8,)))
        opt.zero_grad(); loss.backward(); opt.step()
    del model, opt, loss                         # (each kernel reseeds torch and numpy)
    t1 = time.perf_counter()
    import importlib
    for name in (*WARM_MODULES, *preload):
        try:
            importlib.import_module(name)
        except ImportError:
            if name in preload:
                raise
    gc.collect()
    gc.freeze()                                  # warm heap out of GC passes: fewer COW copies
    return {"torch_s": round(t1 - t0, 3), "total_s": round(time.perf_counter() - t0, 3)}


def _single_threaded() -> bool:
    return threading.active_count() == 1 and len(os.listdir("/proc/self/task")) == 1


class _Sandbox:
    def __init__(self, sid, pid, init_pidfd, cgroups, deadline):
        self.id, self.pid, self.init_pidfd, self.cgroups = sid, pid, init_pidfd, cgroups
        self.deadline, self.status, self.reason, self.stats = deadline, None, None, {}


class _Server:
    """The loop of the fork server process (single-threaded, no asyncio: it must stay forkable)."""

    def __init__(self, proto_in: int, proto_out: int):
        self.proto_in, self.proto_out = proto_in, proto_out
        self.sandboxes: dict[str, _Sandbox] = {}
        self.sel = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False); os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(proto_in, selectors.EVENT_READ)
        self.sel.register(self.wake_r, selectors.EVENT_READ)
        self.buf = b""
        import tempfile
        self.staging = tempfile.mkdtemp(prefix="tp-sandbox-root-")   # removed when the server ends

    def close_in_child(self):
        """In a fresh fork: drop everything of the server's (fds, handlers)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.sel.close()
        for fd in (self.wake_r, self.wake_w, self.proto_in, self.proto_out,
                   *(s.init_pidfd for s in self.sandboxes.values() if s.init_pidfd is not None)):
            try:
                os.close(fd)
            except OSError:
                pass

    def loop(self):
        while True:
            now = time.monotonic()
            deadlines = [s.deadline for s in self.sandboxes.values() if s.status is None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, _ in self.sel.select(timeout):
                if key.fd == self.wake_r:
                    try:
                        os.read(self.wake_r, 4096)
                    except BlockingIOError:
                        pass
                else:
                    data = os.read(self.proto_in, 65536)
                    if not data:                 # the grading process went away
                        for s in list(self.sandboxes.values()):
                            self._kill(s, "server exit")
                        return
                    self.buf += data
                    while b"\n" in self.buf:
                        line, self.buf = self.buf.split(b"\n", 1)
                        self._reply(self._handle(json.loads(line)))
            self._reap()
            for s in self.sandboxes.values():
                if s.status is None and time.monotonic() >= s.deadline:
                    self._kill(s, "wall-clock limit")

    def _reply(self, obj):
        os.write(self.proto_out, (json.dumps(obj) + "\n").encode())

    def _handle(self, req):
        try:
            op = req["op"]
            if op == "spawn":
                return self._spawn(req["spec"], req["kernel"])
            s = self.sandboxes[req["id"]]
            self._reap()
            if op == "poll":
                return {"status": s.status, "reason": s.reason}
            if op == "signal":
                if s.status is None:
                    os.kill(s.pid, req["signum"])   # child1 -> init -> kernel
                return {}
            if op == "kill":
                self._kill(s, req.get("reason", "killed"))
                return {"status": s.status}
            if op == "release":
                self._kill(s, "released")
                del self.sandboxes[s.id]
                return {"status": s.status, "reason": s.reason, "stats": s.stats}
            if op == "pids":                     # host pids of child1/init/kernel (measurements)
                return {"pids": [s.pid] + descendants(s.pid)}
            return {"error": f"unknown op {op}"}
        except Exception:
            return {"error": traceback.format_exc()}

    def _spawn(self, spec, kernel):
        if not _single_threaded():
            raise SandboxError("fork server has more than one thread; refusing to fork")
        sid = uuid.uuid4().hex[:12]
        cg = Cgroups(f"tp-sandbox-{os.getpid()}-{sid}", spec["memory_bytes"], spec["pids_max"],
                     spec["cpus"], enabled=spec["cgroups"])
        spec = dict(spec, staging=spec["staging"] or self.staging)
        os.makedirs(spec["staging"], mode=0o700, exist_ok=True)
        kernel = dict(kernel, server_pid=os.getpid())
        parent_sock, child_sock = socket.socketpair()
        t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            parent_sock.close()
            self.close_in_child()
            _child1_main(spec, kernel, child_sock, cg)
        child_sock.close()
        parent_sock.settimeout(30)
        try:
            line = parent_sock.makefile("rb").readline().decode().strip()
        except OSError as e:                     # setup hung: treat like a failed setup
            line = f"error sandbox setup: {e}"
        if not line.startswith("ok "):
            parent_sock.close()
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            cg.remove()
            raise SandboxError(line.replace("\\n", "\n") or "sandbox setup died")
        _, init_pid, setup_ms = line.split()
        init_pidfd = os.pidfd_open(int(init_pid))
        parent_sock.sendall(b"ack\n")
        parent_sock.close()
        s = _Sandbox(sid, pid, init_pidfd, cg, time.monotonic() + spec["wall_seconds"])
        self.sandboxes[sid] = s
        return {"id": sid, "pid": pid, "init_pid": int(init_pid), "setup_ms": float(setup_ms),
                "spawn_ms": round((time.perf_counter() - t0) * 1e3, 1),
                "cgroups": list(cg.dirs)}

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for s in self.sandboxes.values():        # (orphans reparented to us: just reaped)
                if s.pid == pid:
                    s.status = _exit_code(status)
                    self._finish(s)

    def _kill(self, s: _Sandbox, reason: str):
        if s.status is None:
            s.reason = reason
            self._signal_init(s, signal.SIGKILL)   # ends the whole PID namespace
            # child1 reaps init and exits by itself; killing child1 first would orphan init
            # (a zombie for whoever reaps orphans).  SIGKILL it only if it does not follow.
            deadline = time.monotonic() + 5
            while True:
                pid, status = os.waitpid(s.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    os.kill(s.pid, signal.SIGKILL)
                    _, status = os.waitpid(s.pid, 0)
                    break
                time.sleep(0.002)
            s.status = _exit_code(status)
        self._finish(s)

    def _signal_init(self, s, signum):
        if s.init_pidfd is not None:
            try:
                signal.pidfd_send_signal(s.init_pidfd, signum)
            except ProcessLookupError:
                pass

    def _finish(self, s: _Sandbox):
        """After child1 exited: make sure the namespace is gone, collect stats, drop the groups."""
        self._signal_init(s, signal.SIGKILL)
        if s.init_pidfd is not None:
            os.close(s.init_pidfd)
            s.init_pidfd = None
        if s.cgroups.dirs:
            s.stats = s.cgroups.stats()
            s.cgroups.remove()


def sweep_stale_cgroups() -> list[str]:
    """Remove the empty groups of fork servers that died without cleaning up (SIGKILL)."""
    removed = []
    for ctrl in ("memory", "pids", "cpu", ""):
        base = f"/sys/fs/cgroup/{ctrl}" if ctrl else "/sys/fs/cgroup"
        for line in open("/proc/self/cgroup"):
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if ctrl in ctrls.split(",") and os.path.isdir(base + path):
                parent = base + path
                break
        else:
            continue
        for name in os.listdir(parent):
            if name.startswith("tp-sandbox-") and not os.path.exists(f"/proc/{name.split('-')[2]}"):
                try:
                    os.rmdir(os.path.join(parent, name))
                    removed.append(os.path.join(parent, name))
                except OSError:
                    pass
    return removed


def descendants(pid: int) -> list[int]:
    out = []
    try:
        kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        return out
    for k in map(int, kids):
        out += [k] + descendants(k)
    return out


def serve(argv: list[str]) -> None:
    """Entry point of the fork server process: `python -I sandbox.py serve '<json config>'`."""
    cfg = json.loads(argv[0]) if argv else {}
    # Dies with the grading process: stdin reaches EOF, and, if we were started from its main
    # thread, PDEATHSIG too (it fires when the parent *thread* exits, so not from a worker thread).
    if cfg.get("pdeathsig"):
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != cfg.get("parent", os.getppid()):
            sys.exit(1)
    _prctl(PR_SET_CHILD_SUBREAPER, 1)            # orphaned sandbox processes come back to us
    sweep_stale_cgroups()
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0); os.dup2(2, 1); os.close(null)  # stray prints must not corrupt the protocol
    info = _warm_up(cfg.get("preload", []))
    info.update(pid=os.getpid(), threads=len(os.listdir("/proc/self/task")))
    os.write(proto_out, (json.dumps({"ready": info}) + "\n").encode())
    server = _Server(proto_in, proto_out)
    try:
        server.loop()
    finally:
        try:
            os.rmdir(server.staging)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Grader side: the server client, the provisioner and the kernel manager
# --------------------------------------------------------------------------------------------
class ForkServer:
    """Client of one fork server process; `ForkServer.shared()` is the per-process instance."""

    _shared: "ForkServer | None" = None
    _shared_lock = threading.Lock()

    def __init__(self, preload: list[str] | None = None, python: str | None = None):
        if os.geteuid() != 0:
            raise SandboxError("the sandbox needs root (namespaces, mounts, cgroups)")
        if __spec__ is not None and "." in __spec__.name:  # inside the package: -m works with -I
            target = ["-m", __spec__.name]
        else:
            target = [os.path.abspath(__file__)]
        cfg = json.dumps({"preload": preload or [], "parent": os.getpid(),
                          "pdeathsig": threading.current_thread() is threading.main_thread()})
        # A minimal environment: children can read it back via /proc/self/environ.
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline",
               "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([python or sys.executable, "-I", *target, "serve", cfg],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     cwd="/", close_fds=True)
        self.lock = threading.Lock()
        line = self.proc.stdout.readline()
        if not line:
            raise SandboxError(f"fork server failed to start (exit {self.proc.wait()})")
        self.info = json.loads(line)["ready"]
        self.info["start_s"] = round(time.perf_counter() - t0, 3)

    @classmethod
    def shared(cls) -> "ForkServer":
        with cls._shared_lock:
            if cls._shared is None or cls._shared.proc.poll() is not None:
                cls._shared = cls(preload=[m for m in os.environ.get("TP_SANDBOX_PRELOAD", "").split(",") if m])
                import atexit
                atexit.register(cls._shared.close)
            return cls._shared

    def call(self, **req) -> dict:
        with self.lock:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise SandboxError("fork server died")
        reply = json.loads(line)
        if "error" in reply:
            raise SandboxError(reply["error"])
        return reply

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()              # the server kills its sandboxes and exits
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase  # noqa: E402
from traitlets import Dict as _TDict  # noqa: E402


class SandboxProvisioner(KernelProvisionerBase):
    """Starts the kernel through the fork server instead of Popen."""

    sandbox_id: str | None = None
    pid: int | None = None
    last: dict = {}

    @property
    def has_process(self) -> bool:
        return self.sandbox_id is not None

    async def pre_launch(self, **kwargs):
        kwargs = await super().pre_launch(**kwargs)
        extra = kwargs.pop("extra_arguments", [])
        self.launch_cwd = kwargs.pop("cwd", None)  # the kernel's cwd is /scratch (or spec["cwd"])
        return dict(kwargs, cmd=["<sandboxed ipykernel>", *extra])

    async def launch_kernel(self, cmd, **kwargs):
        km = self.parent
        spec = km.sandbox_spec()
        if spec["cwd"] is True:
            spec["cwd"] = getattr(self, "launch_cwd", None)
        reply = ForkServer.shared().call(
            op="spawn", spec=spec,
            kernel={"key": km.session.key.decode(), "signature_scheme": km.session.signature_scheme,
                    "kernel_name": km.kernel_name, "argv": list(cmd[1:])})
        self.sandbox_id, self.pid, self.last = reply["id"], reply["pid"], reply
        km.sandbox_info = dict(reply)
        # Reach the sockets through an fd on the sandbox's root, not /proc/<pid>/root: a pid
        # can be reused once the sandbox is gone, an open fd cannot be redirected.
        self.root_fd = os.open(f"/proc/{self.pid}/root", os.O_PATH | os.O_DIRECTORY)
        if not os.path.isdir(f"/proc/self/fd/{self.root_fd}{KERNEL_DIR}"):
            raise SandboxError("sandbox root vanished before the kernel manager could pin it")
        self.connection_info = {
            "transport": "ipc", "ip": f"/proc/self/fd/{self.root_fd}{KERNEL_IPC}", **PORTS,
            "key": km.session.key, "signature_scheme": km.session.signature_scheme,
            "kernel_name": km.kernel_name}
        return self.connection_info

    def _call(self, op, **kw):
        return ForkServer.shared().call(op=op, id=self.sandbox_id, **kw)

    async def poll(self):
        return None if self.sandbox_id is None else self._call("poll")["status"]

    async def wait(self):
        while self.sandbox_id is not None:
            status = await self.poll()
            if status is not None:
                return status
            await asyncio.sleep(0.02)
        return None

    async def send_signal(self, signum):
        if self.sandbox_id is not None:
            if signum == signal.SIGKILL:
                self._call("kill")
            else:
                self._call("signal", signum=int(signum))

    async def kill(self, restart=False):
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart=False):
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart=False):
        if self.sandbox_id is not None:
            self.last = self._call("release")     # exit status, reason, cgroup stats (OOM, pids)
            self.parent.sandbox_info.update(self.last)
            self.sandbox_id = None
        if getattr(self, "root_fd", None) is not None:
            os.close(self.root_fd)
            self.root_fd = None

    def get_shutdown_wait_time(self, recommended=5.0):
        return 2.0                               # a polite shutdown takes ~10 ms; then SIGKILL


class SandboxedKernelManager(AsyncKernelManager):
    """AsyncKernelManager whose kernels run in the sandbox (see module docstring)."""

    sandbox = _TDict(help="Overrides of default_spec(): limits, uid, read-only paths.").tag(config=True)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.transport = "ipc"
        self.sandbox_info: dict = {}              # spawn timings, then exit status/reason/stats

    def cleanup_ipc_files(self) -> None:
        """Nothing to do: the sockets live in the sandbox's tmpfs and vanish with it."""

    def sandbox_spec(self) -> dict:
        return default_spec(**self.sandbox)

    async def _async_pre_start_kernel(self, **kw):
        self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
        if self.provisioner is None:
            self.provisioner = SandboxProvisioner(kernel_id=self.kernel_id,
                                                  kernel_spec=self.kernel_spec, parent=self)
        return await super()._async_pre_start_kernel(**kw)


def __getattr__(name):
    """`SandboxedExecute` is built on first use: importing nbgrader (sqlalchemy...) is slow and
    must not happen in the fork server."""
    if name == "SandboxedExecute":
        from nbgrader.preprocessors import Execute

        class SandboxedExecute(Execute):
            """nbgrader's Execute with SandboxedKernelManager (config alone cannot set it)."""

            def __init__(self, *args, **kwargs):
                kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
                super().__init__(*args, **kwargs)

        SandboxedExecute.__module__ = __name__
        globals()["SandboxedExecute"] = SandboxedExecute
        return SandboxedExecute
    raise AttributeError(name)


if __name__ == "__main__" and sys.argv[1:2] == ["serve"]:
    serve(sys.argv[2:])
