"""Tests of the grading sandbox (targetpractice/instructor/sandbox.py), run as root as CI runs them;
the code inside the sandbox must run as the unprivileged UID below.

Every test executes a real notebook with nbclient through SandboxedKernelManager (warm fork
server, shared by the whole session) and checks, from inside *and* from the host, what it can do.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from targetpractice.instructor import sandbox as sb

from conftest import ROOT, host_cmdlines_containing, host_procs_of_uid

UID = 64123                    # dedicated: host-side scans by uid are exact
MARKER = "tp-sandbox-test-marker"
os.environ["TP_TEST_SECRET_ENV"] = "hunter2"   # must never be visible inside

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root")]


@pytest.fixture(scope="session")
def server():
    srv = sb.ForkServer.shared()
    yield srv


@pytest.fixture(scope="session")
def secret_file():
    d = tempfile.mkdtemp(prefix="tp-secret-")
    os.chmod(d, 0o755)
    path = os.path.join(d, "secret.txt")
    with open(path, "w") as f:
        f.write("the answer key\n")
    os.chmod(path, 0o644)      # world-readable: only the mount layout can hide it
    yield path
    shutil.rmtree(d)


class RecordingKM(sb.SandboxedKernelManager):
    last = None

    def __init__(self, **kw):
        super().__init__(**kw)
        RecordingKM.last = self


def run(cells, timeout=60, interrupt=False, **spec):
    """Execute `cells` in a fresh sandboxed kernel; return (outputs per cell, sandbox_info)."""
    spec = {"uid": UID, "gid": UID, **spec}
    nb = new_notebook(cells=[new_code_cell(textwrap.dedent(c)) for c in cells])
    config = Config()
    config.SandboxedKernelManager.sandbox = spec
    client = NotebookClient(nb, kernel_manager_class=RecordingKM, kernel_name="python3",
                            timeout=timeout, allow_errors=True, interrupt_on_timeout=interrupt,
                            config=config)
    client.execute()
    return [cell.outputs for cell in nb.cells], RecordingKM.last.sandbox_info


def stdout(outputs):
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")


def result(outputs):
    """The JSON printed on the last stdout line of a cell."""
    text = stdout(outputs).strip()
    assert text, outputs
    return json.loads(text.splitlines()[-1])


# Every process forks until fork fails, then keeps retrying.
BOMB_CELL_PRELUDE = """
BOMB = ('import os, time\\nwhile True:\\n    try:\\n        os.fork()\\n'
        '    except OSError:\\n        time.sleep(0.05)')
"""


# ----------------------------------------------------------------------------------------------
def test_identity_and_privileges(server):
    outs, info = run(["""
        import os, json, ctypes, socket
        st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
        try:
            os.setuid(0); setuid = 'succeeded'
        except PermissionError:
            setuid = 'denied'
        libc = ctypes.CDLL(None, use_errno=True)
        userns = libc.unshare(0x10000000); userns_errno = ctypes.get_errno()
        print(json.dumps(dict(uid=os.getuid(), euid=os.geteuid(), gid=os.getgid(), groups=os.getgroups(),
                              capeff=st['CapEff'].strip(), capbnd=st['CapBnd'].strip(),
                              nnp=st['NoNewPrivs'].strip(), seccomp=st['Seccomp'].strip(),
                              setuid=setuid, userns=userns, userns_errno=userns_errno,
                              host=socket.gethostname(), env=open('/proc/self/environ').read())))
        """])
    r = result(outs[0])
    assert (r["uid"], r["euid"], r["gid"], r["groups"]) == (UID, UID, UID, [])
    assert int(r["capeff"], 16) == 0 and int(r["capbnd"], 16) == 0
    assert r["nnp"] == "1" and r["seccomp"] == "2"
    assert r["setuid"] == "denied"
    assert r["userns"] == -1 and r["userns_errno"] == 1          # EPERM: no nested user namespaces
    assert r["host"] == "sandbox"
    assert "hunter2" not in r["env"]                              # the grader's environment
    assert info["setup_ms"] < 200 and info["spawn_ms"] < 500


def test_cannot_read_outside(server, secret_file):
    repo = str(ROOT)
    outs, _ = run([f"""
        import os, json
        def probe(path):
            try:
                with open(path) as f:
                    f.read(1); return 'READ'
            except Exception as e:
                return type(e).__name__
        print(json.dumps(dict(
            main=sorted(os.listdir({repo!r})) if os.path.isdir({repo!r}) else [],
            readme=probe({repo + '/README.md'!r}),
            solutions=os.path.exists({repo + '/solutions'!r}), secret=probe({secret_file!r}),
            shadow=probe('/etc/shadow'), root=sorted(os.listdir('/root')),
            top=sorted(os.listdir('/')), init_environ=probe('/proc/1/environ'),
            sys=os.path.exists('/sys/fs/cgroup'))))
        """])
    r = result(outs[0])
    assert r["main"] in ([".venv"], []) and r["solutions"] is False  # only the venv's mount point
    assert r["readme"] == r["secret"] == r["shadow"] == "FileNotFoundError"
    assert r["root"] == [".pyenv"] or r["root"] == []             # only the interpreter's path
    # The top level holds the system dirs plus the first component of each interpreter path
    # (the checkout lives under /work here and under /check in CI).
    env_tops = {p.split("/")[1] for p in sb.default_spec()["ro_binds"] + [repo]}
    assert set(r["top"]) <= {"bin", "dev", "etc", "lib", "lib64", "proc", "root", "sbin", "scratch",
                             "tmp", "usr", "submission", "lib32", "libx32", "opt"} | env_tops
    assert r["init_environ"] == "PermissionError"                 # init is not dumpable
    assert r["sys"] is False


def test_writes_only_in_scratch(server):
    outs, _ = run(["""
        import os, sys, json, site
        def probe(path):
            try:
                with open(path, 'w') as f:
                    f.write('x'); return 'WROTE'
            except Exception as e:
                return type(e).__name__
        targets = ['/x', '/usr/x', '/etc/passwd', site.getsitepackages()[0] + '/x',
                   sys.base_prefix + '/x', '/proc/sys/kernel/hostname', '/dev/x']
        ok = ['/scratch/x', '/tmp/x', '/dev/shm/x', '/dev/null']
        print(json.dumps(dict(bad={t: probe(t) for t in targets}, ok={t: probe(t) for t in ok},
                              cwd=os.getcwd())))
        """])
    r = result(outs[0])
    assert all(v != "WROTE" for v in r["bad"].values()), r["bad"]
    assert all(v == "WROTE" for v in r["ok"].values()), r["ok"]
    assert r["cwd"] == "/scratch"


def test_sees_only_its_own_processes(server):
    outs, _ = run(["""
        import os, json, subprocess
        p = subprocess.Popen(['sleep', '30'])
        pids = sorted(int(x) for x in os.listdir('/proc') if x.isdigit())
        p.kill(); p.wait()
        print(json.dumps(dict(pids=pids, me=os.getpid(), child=p.pid)))
        """])
    r = result(outs[0])
    assert r["me"] == 2 and r["pids"] == sorted([1, 2, r["child"]])


def test_no_network(server):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        outs, _ = run([f"""
            import socket, json
            res = {{}}
            for host in ('127.0.0.1', '10.0.0.1', '8.8.8.8'):
                try:
                    socket.create_connection((host, {port}), timeout=2); res[host] = 'CONNECTED'
                except OSError as e:
                    res[host] = e.errno
            print(json.dumps(dict(res=res, ifaces=[n for _, n in socket.if_nameindex()])))
            """])
        r = result(outs[0])
        assert "CONNECTED" not in r["res"].values(), r
        assert r["ifaces"] == ["lo"]
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


def test_kill_minus_one_only_kills_its_own(server):
    canary = subprocess.Popen(["sleep", "120"], user=UID, group=UID)   # same uid, on the host
    try:
        outs, _ = run(["""
            import os, json, signal, subprocess, time
            p = subprocess.Popen(['sleep', '120'])
            os.kill(-1, signal.SIGKILL)
            time.sleep(0.2)
            print(json.dumps(dict(child=p.poll())))
            """, "print('kernel still alive')"])
        assert result(outs[0])["child"] == -9
        assert "kernel still alive" in stdout(outs[1])
        assert canary.poll() is None                                   # untouched
        assert server.proc.poll() is None
    finally:
        canary.kill()
        canary.wait()


def test_fork_bomb_is_capped(server):
    outs, info = run([BOMB_CELL_PRELUDE, """
        import os, json, subprocess, sys, time, signal
        subprocess.Popen([sys.executable, '-c', BOMB])
        time.sleep(3)
        n = sum(1 for x in os.listdir('/proc') if x.isdigit())
        os.kill(-1, signal.SIGKILL)
        print(json.dumps(dict(n=n)))
        """, "print('kernel still alive')"], pids_max=64)
    assert result(outs[1])["n"] <= 64
    assert "kernel still alive" in stdout(outs[2])
    assert "max" in info["stats"].get("pids.events", "") and not info["stats"]["pids.events"].endswith(" 0")


def test_memory_hog_in_child_is_capped(server):
    outs, info = run(["""
        import json, subprocess, sys
        p = subprocess.run([sys.executable, '-c', "x = b'x' * (1 << 30)"], capture_output=True)
        print(json.dumps(dict(rc=p.returncode)))
        """, "print('kernel still alive')"], memory_bytes=512 << 20)
    assert result(outs[0])["rc"] == -9                                 # OOM-killed in its cgroup
    assert "kernel still alive" in stdout(outs[1])
    assert int(info["stats"]["memory.oom_control"].split("oom_kill ")[1]) >= 1
    assert int(info["stats"]["memory.max_usage_in_bytes"]) <= 512 << 20


def test_rlimit_fallback_without_cgroups(server):
    outs, info = run([BOMB_CELL_PRELUDE, """
        import json, subprocess, sys, os, time, signal
        p = subprocess.run([sys.executable, '-c', "x = b'x' * (8 << 30)"], capture_output=True, text=True)
        subprocess.Popen([sys.executable, '-c', BOMB])
        time.sleep(2)
        n = sum(1 for x in os.listdir('/proc') if x.isdigit())
        os.kill(-1, signal.SIGKILL)
        print(json.dumps(dict(rc=p.returncode, err=p.stderr[-200:], n=n)))
        """], cgroups=False, memory_bytes=512 << 20, pids_max=64)
    r = result(outs[1])
    assert info["cgroups"] == []
    assert r["rc"] == 1 and "MemoryError" in r["err"]
    assert r["n"] <= 64


def test_scratch_size_cap(server):
    outs, _ = run(["""
        import json, errno
        res = {}
        for path in ('/scratch/big', '/tmp/big', '/dev/shm/big'):
            try:
                with open(path, 'wb') as f:
                    for _ in range(64):
                        f.write(b'x' * (1 << 20))
                res[path] = 'WROTE'
            except OSError as e:
                res[path] = errno.errorcode[e.errno]
            import os; os.remove(path)
        print(json.dumps(res))
        """], scratch_bytes=32 << 20)
    assert set(result(outs[0]).values()) == {"ENOSPC"}


def test_nothing_survives_the_notebook(server):
    outs, info = run([f"""
        import subprocess, sys, os, json
        subprocess.Popen(['sleep', '4242'], start_new_session=True)
        daemon = ('import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\n'
                  'if os.fork(): os._exit(0)\\ntime.sleep(4343)  # {MARKER}')
        subprocess.run([sys.executable, '-c', daemon])
        import time; time.sleep(0.3)
        print(json.dumps(sorted(int(x) for x in os.listdir('/proc') if x.isdigit())))
        """])
    assert len(result(outs[0])) >= 4                                  # init, kernel, 2 strays
    time.sleep(0.2)
    assert host_procs_of_uid(UID) == []
    assert host_cmdlines_containing(MARKER) == [] and host_cmdlines_containing("4242") == []
    assert info["cgroups"] and not any(os.path.exists(d) for d in info["cgroups"])


def test_wall_clock_limit(server):
    t0 = time.monotonic()
    with pytest.raises(DeadKernelError):
        run(["import time; time.sleep(60)"], timeout=120, wall_seconds=2)
    assert time.monotonic() - t0 < 15
    assert RecordingKM.last.sandbox_info.get("reason") == "wall-clock limit"
    assert host_procs_of_uid(UID) == []


def test_interrupt_on_cell_timeout(server):
    outs, _ = run(["while True: pass", "print('next cell runs')"], timeout=2, interrupt=True)
    assert any(o.output_type == "error" and o.ename == "KeyboardInterrupt" for o in outs[0])
    assert "next cell runs" in stdout(outs[1])


def test_torch_training_notebook_warm(server):
    t0 = time.perf_counter()
    outs, info = run(["""
        import torch, torch.nn as nn, torch.nn.functional as F, json, os
        import matplotlib.pyplot as plt
        x = torch.randn(64, 4); y = (x[:, 0] > 0).long()
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        losses = []
        for _ in range(50):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item())
        print(json.dumps(dict(first=losses[0], last=losses[-1], uid=os.getuid(),
                              threads=torch.get_num_threads(), seed=torch.initial_seed())))
        """, "plt.plot([1, 2, 3]); plt.show()"])
    elapsed = time.perf_counter() - t0
    r = result(outs[0])
    assert r["last"] < r["first"] * 0.5 and r["uid"] == UID and r["threads"] == 1
    assert any("image/png" in o.get("data", {}) for o in outs[1])      # inline backend works
    assert elapsed < 3, elapsed                                        # cold: ~3-6 s on this box
    outs2, _ = run(["import torch; print(torch.initial_seed())"])
    assert int(stdout(outs2[0])) != r["seed"]                          # reseeded per kernel


def test_nbgrader_autograde_uses_the_sandbox(tmp_path):
    """nbgrader 0.9.6 end to end: generate_assignment, then autograde with SandboxedExecute."""
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    meta = lambda **kw: {"nbgrader": {"schema_version": 3, "locked": False, "solution": False,
                                      "grade": False, **kw}}
    nb = new_notebook(cells=[
        new_code_cell("import os, torch\ndef double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                      "    ### END SOLUTION", metadata=meta(grade_id="answer", solution=True)),
        new_code_cell("assert double(torch.tensor(2)).item() == 4\nprint('uid', os.getuid())",
                      metadata=meta(grade_id="test_double", grade=True, locked=True, points=1)),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, course / "source" / "ps1" / "ps1.ipynb")
    (course / "nbgrader_config.py").write_text(textwrap.dedent(f"""
        from nbgrader.preprocessors import (IgnorePattern, LimitOutput, SaveAutoGrades,
            AssignLatePenalties, CheckCellMetadata)
        from nbconvert.preprocessors import ClearMetadataPreprocessor
        c = get_config()
        c.CourseDirectory.root = {str(course)!r}
        c.CourseDirectory.course_id = "tp"
        c.Autograde.autograde_preprocessors = ["targetpractice.instructor.sandbox.SandboxedExecute", IgnorePattern,
            ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
            CheckCellMetadata]
        c.SandboxedKernelManager.sandbox = {{"uid": {UID}, "gid": {UID}}}
        c.Execute.timeout = 30
        """))
    env = dict(os.environ,
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    nbgrader = [sys.executable, "-m", "nbgrader"]
    p = subprocess.run(nbgrader + ["generate_assignment", "ps1"], cwd=course, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    sub = course / "submitted" / "alice" / "ps1"
    sub.mkdir(parents=True)
    shutil.copy(course / "release" / "ps1" / "ps1.ipynb", sub / "ps1.ipynb")
    student = nbformat.read(sub / "ps1.ipynb", as_version=4)      # "solve" it
    student.cells[0].source = "import os, torch\ndef double(x):\n    return x + x"
    nbformat.write(student, sub / "ps1.ipynb")
    p = subprocess.run(nbgrader + ["autograde", "ps1"], cwd=course, env=env, capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr[-3000:]
    graded = nbformat.read(course / "autograded" / "alice" / "ps1" / "ps1.ipynb", as_version=4)
    assert f"uid {UID}" in stdout(graded.cells[1].outputs)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        assert gb.find_submission("ps1", "alice").score == 1
    assert host_procs_of_uid(UID) == []


def test_library_read_only_with_masks_and_cwd(server, tmp_path):
    """The course library is importable but read-only, its instructor/ part hidden; a bind below
    /tmp is not hidden by the sandbox's own /tmp; `cwd` exposes a directory read-only."""
    lib = tmp_path / "courselib"
    (lib / "instructor").mkdir(parents=True)
    (lib / "__init__.py").write_text("VALUE = 42\n")
    (lib / "instructor" / "answers.py").write_text("SECRET = 'hidden test'\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.csv").write_text("1,2,3\n")
    for p in (tmp_path, lib, lib / "instructor", work):
        os.chmod(p, 0o755)
    outs, info = run([f"""
        import sys, os, json
        sys.path.insert(0, {str(tmp_path)!r})
        import courselib
        try:
            open({str(lib / '__init__.py')!r}, 'a').write('x'); write = 'WROTE'
        except OSError as e:
            write = type(e).__name__
        print(json.dumps(dict(value=courselib.VALUE, write=write,
                              instructor=os.listdir({str(lib / 'instructor')!r}),
                              cwd=os.getcwd(), data=open('data.csv').read(),
                              siblings=sorted(os.listdir({str(tmp_path)!r})))))
        """], library=[str(lib)], masks=[str(lib / "instructor")], cwd=str(work))
    r = result(outs[0])
    assert r["value"] == 42 and r["write"] in ("OSError", "PermissionError")
    assert r["instructor"] == [] and r["cwd"] == "/submission" and r["data"] == "1,2,3\n"
    assert r["siblings"] == ["courselib"]                           # work/ is not visible there
    assert len(info["cgroups"]) == 3                                 # memory, pids, cpu


def test_cpu_quota(server):
    outs, _ = run(["""
        import json, subprocess, sys, resource
        spin = 'import time\\nt = time.time()\\nwhile time.time() - t < 2: pass'
        subprocess.run([sys.executable, '-c', spin])
        print(json.dumps(resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime))
        """], cpus=0.25)
    assert result(outs[0]) < 1.0                                     # ~0.5 s of CPU in 2 s of wall


def test_grader_death_ends_everything(server, tmp_path):
    """SIGKILL the grading process mid-notebook: its fork server and every sandboxed process
    end with it; the cgroups it leaves behind are swept by the next server."""
    script = tmp_path / "grader.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio
        from targetpractice.instructor import sandbox as sb
        async def main():
            km = sb.SandboxedKernelManager(kernel_name="python3", sandbox={{"uid": {UID}, "gid": {UID}}})
            await km.start_kernel()
            kc = km.client(); kc.start_channels(); await kc.wait_for_ready(timeout=60)
            code = "import subprocess; subprocess.Popen(['sleep', '4545'], start_new_session=True)"
            await kc.execute_interactive(code, timeout=30, output_hook=lambda m: None)
            print(km.sandbox_info['cgroups'], flush=True)
            await asyncio.sleep(600)
        asyncio.run(main())
        """))
    grader = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    groups = eval(grader.stdout.readline())
    assert host_procs_of_uid(UID) and host_cmdlines_containing("4545")
    grader.kill()
    grader.wait()
    deadline = time.monotonic() + 15  # a loaded machine (CI's 2 cores) takes a moment to reap

    def left():
        return host_procs_of_uid(UID) or host_cmdlines_containing("4545") or \
            host_cmdlines_containing(f'"parent": {grader.pid}')
    while left() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_procs_of_uid(UID) == [] and host_cmdlines_containing("4545") == []
    assert host_cmdlines_containing(f'"parent": {grader.pid}') == []    # its fork server is gone
    removed = sb.sweep_stale_cgroups()
    assert not any(os.path.exists(g) for g in groups), (groups, removed)


def test_the_limits_in_force_are_named_and_the_probe_leaves_no_group():
    described = sb.limits_here()
    assert "cgroup" in described and "memory" in described, described   # this machine offers cgroups
    import glob

    assert glob.glob(f"/sys/fs/cgroup/**/tp-sandbox-{os.getpid()}-probe", recursive=True) == []
