"""Real-browser end-to-end test of the student path: JupyterLab + nbgrader's lab extension in headless Chromium.

    .venv/bin/pip install playwright      # the Python package only: never `playwright install`
    apt-get install -y chromium           # Debian's build, driven through executable_path
    .venv/bin/python -m pytest -q tests/test_browser.py

Everything runs on a copy of the course in the test's tmp dir, with its own Jupyter config, data and
runtime dirs (the checkout and ~/.jupyter are never touched). One JupyterLab server serves the module,
started as `make lab` starts it (targetpractice.instructor.lab); it is stopped by PID (its process
group) at the end, always. Screenshots of each step are written under each test's tmp_path
(screenshots/NN-step.png; FAILED-step.png when a step fails) and, when a step fails and
TP_ARTIFACTS is set (CI sets it), copied there.
The browser may only talk to the local server: any other request is aborted and recorded, and a
test fails if its pages asked for anything outside (a CDN, a news feed, PyPI).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from targetpractice.instructor.lab import lab_command, lab_env

pytestmark = pytest.mark.slow
pytest.importorskip("playwright.sync_api", reason="pip install playwright (the package only)")
from playwright.sync_api import expect, sync_playwright  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent                      # the venv's bin: jupyter, nbgrader
CHROMIUM = os.environ.get("TP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ASSIGNMENT = "01-classification"
STUDENTS = ["ada", "ben", "cy", "dee", "eve"]
KERNEL = "Python 3 (ipykernel)"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-extensions", "--metrics-recording-only"]

# The fix typed into the first answer cell (solutions/01-classification, cell grade_id column_labels).
FIXED_COLUMN_LABELS = '''def loss_from_column_labels(logits, y):
    """logits (N, C) float, y (N, 1) int64 -> mean cross-entropy, a scalar."""
    return F.cross_entropy(logits, y.squeeze(1))            # (N, C) with (N,)


logits, y = checks.class_batch(4, 5)                        # (N, C), (N,)
loss_from_column_labels(logits, y[:, None])                 # y[:, None] is (N, 1)'''

if not Path(CHROMIUM).exists():
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")]


# ----------------------------------------------------------------------------- the course copy
def copy_course(dest: Path) -> Path:
    """The course as make lab serves it (course/, exercises/, solutions/, grader/ config and kernel), minus
    anything a grading run leaves behind: a fresh gradebook, no samples (they are read from the checkout)."""
    from targetpractice.instructor.build import copy_course

    return copy_course(dest, parts=("course", "exercises", "solutions"))


def jupyter_dirs(base: Path) -> dict:
    """Isolated Jupyter config/data/runtime dirs, configured for a quiet, offline student Lab."""
    cfg, data, runtime = base / "config", base / "data", base / "runtime"
    for d in (cfg / "labconfig", data, runtime, base / "ipython"):
        d.mkdir(parents=True, exist_ok=True)
    # The Assignment List, Course List and news pop-up are hidden by the course's own grader/jupyter
    # config, which lab_env() adds as `make lab` does: this test checks that, it does not redo it.
    # Every cell in the DOM (no windowing): cells off screen still render, so screenshots are complete.
    tracker = cfg / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    return {"JUPYTER_CONFIG_DIR": str(cfg), "JUPYTER_DATA_DIR": str(data), "JUPYTER_RUNTIME_DIR": str(runtime),
            "IPYTHONDIR": str(base / "ipython")}


def _die_with_parent() -> None:
    """In the server's child process: SIGTERM (a clean shutdown, kernels included) if pytest itself is killed."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG (Linux)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on a course copy: started by start(), stopped (process group) by stop()."""

    def __init__(self, course: Path, home: Path):
        self.course, self.home = course, home
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "jupyter-lab.log"
        self.proc: subprocess.Popen | None = None
        env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH")}
        # MPLBACKEND=Agg (tests/conftest.py) would reach the kernels and stop inline figures.
        self.env = lab_env(course, dict(env, **jupyter_dirs(home / "jupyter"),
                                        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}"))

    def start(self, timeout: float = 90) -> None:
        cmd = lab_command(["--no-browser", "--ip=127.0.0.1", f"--port={self.port}", "--ServerApp.port_retries=0",
                           f"--IdentityProvider.token={self.token}"], os.geteuid() == 0, self.course)
        # cwd grader/ as in `make lab`: nbgrader's server extensions read ./nbgrader_config.py.
        self.proc = subprocess.Popen(cmd, cwd=self.course / "grader", env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if self.api("GET", "/api/status") is not None:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log_tail()}")

    def api(self, method: str, path: str):
        req = urllib.request.Request(self.url + path, method=method, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else {}

    def shutdown_kernels(self) -> None:
        with contextlib.suppress(Exception):
            for k in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{k['id']}")

    def kernel_pids(self) -> list:
        """Kernels still running with a connection file in this server's runtime dir (ours, by construction)."""
        runtime, pids = self.env["JUPYTER_RUNTIME_DIR"], []
        for p in Path("/proc").glob("[0-9]*"):
            with contextlib.suppress(OSError):
                if runtime in (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(p.name))
        return pids

    def stop(self) -> None:
        if self.proc is None:
            return
        self.shutdown_kernels()
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            if self.proc.poll() is not None:
                break
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)  # the server's own process group (start_new_session)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(wait)
        for pid in self.kernel_pids():  # kernels run in sessions of their own: end any left, one by one
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log_tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        return ""


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    server = Lab(copy_course(home / "course"), home)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Session:
    """One browser context on the Lab (authenticated through the token), with step screenshots."""

    def __init__(self, browser, lab: Lab, shots: Path):
        self.lab, self.shots, self.n = lab, shots, 0
        shots.mkdir(parents=True, exist_ok=True)
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.external: list = []
        # Only the local server: everything else is aborted at once (and recorded) instead of hanging.
        self.context.route(re.compile(rf"^(?!{re.escape(lab.url)}/|data:|blob:)"), self._abort)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)

    def _abort(self, route):
        self.external.append(route.request.url)
        route.abort()

    def shot(self, name: str) -> Path:
        self.n += 1
        path = self.shots / f"{self.n:02d}-{name}.png"
        self.page.screenshot(path=path)
        return path

    @contextlib.contextmanager
    def step(self, name: str):
        """A named step: a screenshot at its end, or FAILED-<name>.png and the server log if it fails."""
        try:
            yield
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.page.screenshot(path=self.shots / f"FAILED-{name}.png")
            kept = self.shots
            if os.environ.get("TP_ARTIFACTS"):  # CI keeps them after the tmp dirs are gone
                kept = Path(os.environ["TP_ARTIFACTS"]) / "browser" / self.shots.parent.name
                shutil.copytree(self.shots, kept, dirs_exist_ok=True)
                (kept / "jupyter-lab.log").write_text(self.lab.log_tail(400))
            exc.add_note(f"step {name!r} failed; screenshots in {kept}\n--- jupyter lab log ---\n"
                         f"{self.lab.log_tail()}")
            raise
        self.shot(name)

    # -- notebook helpers (JupyterLab 4 DOM) --
    def open_notebook(self, path: str):
        page = self.page
        page.goto(f"{self.lab.url}/lab/tree/{path}?token={self.lab.token}&reset")  # ?reset: a fresh layout
        panel = page.locator(".jp-NotebookPanel").first  # ?reset: the only open document
        expect(panel.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
        # Kernel ready: the toolbar names the kernel (it says "No Kernel" while idle-without-kernel), then idle.
        expect(panel.locator(".jp-KernelName")).to_have_text(KERNEL, timeout=60_000)
        self.expect_idle(panel)
        return panel

    @staticmethod
    def expect_idle(panel, timeout: float = 120_000):
        expect(panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute("data-status", "idle",
                                                                                    timeout=timeout)

    def run_all(self):
        """Run > Run All Cells (runmenu:run-all): as in Lab, it stops at the first cell that raises."""
        page = self.page
        page.locator(".lm-MenuBar-item").filter(
            has=page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))).click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()

    @staticmethod
    def code_cell(panel, *source_texts: str):
        """The one code cell whose editor (CodeMirror 6: .cm-content) shows all of source_texts."""
        cell = panel.locator(".jp-CodeCell")
        for text in source_texts:
            cell = cell.filter(has=panel.page.locator(".cm-content", has_text=text))
        expect(cell).to_have_count(1)
        return cell

    @staticmethod
    def outputs(cell):
        return cell.locator(".jp-OutputArea-output")

    def replace_source(self, cell, text: str):
        """Type into the cell's CodeMirror editor: select all, then insert (no auto-indent or bracket closing)."""
        editor = cell.locator(".cm-content")
        editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(text)
        self.page.keyboard.press("Escape")  # back to command mode
        expect(editor).to_contain_text(text.splitlines()[2].strip())

    def validate(self, panel):
        """Click nbgrader's Validate (toolbar button, item name 'runAll'), wait for its result dialog."""
        page = self.page
        button = panel.locator(".jp-Toolbar-item[data-jp-item-name='runAll'] jp-button.validate-button")
        expect(button).to_have_text("Validate")
        button.click()
        dialog = page.locator(".jp-Dialog")
        message = dialog.locator("#validation-message")
        expect(message).to_be_visible(timeout=120_000)  # saves, then runs the whole notebook server-side
        return dialog

    def close_dialog(self):
        dialog = self.page.locator(".jp-Dialog")
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        expect(dialog).to_have_count(0)

    def close(self):
        self.context.close()


@pytest.fixture
def session(browser, lab, tmp_path):
    s = Session(browser, lab, tmp_path / "screenshots")
    try:
        yield s
        assert not s.external, f"pages asked for outside resources: {sorted(set(s.external))}"
    finally:
        s.close()
        lab.shutdown_kernels()


# ----------------------------------------------------------------------------- tests
def test_student_fixes_first_exercise(session):
    page = session.page
    nb = f"exercises/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"

    with session.step("exercise-open"):
        panel = session.open_notebook(nb)
        menus = page.locator(".lm-MenuBar-itemLabel").all_text_contents()
        assert "Nbgrader" in menus, f"nbgrader's lab extension is not active: menus {menus}"
        page.locator(".lm-MenuBar-item").filter(has_text="Nbgrader").click()
        expect(page.locator(".lm-Menu-item[data-command='nbgrader:open-formgrader']")).to_be_visible()
        items = page.locator(".lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel").all_text_contents()
        page.keyboard.press("Escape")
        assert "Formgrader" in items and "Assignment List" not in items, items

    with session.step("launcher-offers-only-the-student-kernel"):
        specs = session.lab.api("GET", "/api/kernelspecs")["kernelspecs"]
        assert list(specs) == ["python3"], list(specs)  # never the grading kernel

    answer = session.code_cell(panel, "def loss_from_column_labels")
    setup = session.code_cell(panel, "torch.set_num_threads(1)")
    quick = session.code_cell(panel, "# Quick check", "loss_from_column_labels")  # grade_id column_labels_test

    with session.step("run-all-error"):
        session.run_all()
        expect(session.outputs(answer)).to_contain_text("0D or 1D target tensor expected", timeout=120_000)
        expect(session.outputs(answer)).to_contain_text("RuntimeError")
        session.expect_idle(panel)
        expect(session.outputs(setup)).to_have_count(0)  # the setup cell prints nothing (no <Generator ...>)
        answer.scroll_into_view_if_needed()

    with session.step("validate-before-fix"):
        dialog = session.validate(panel)
        expect(dialog).to_have_class(re.compile(r"nbgrader-ErrorDialog"))
        text = dialog.locator("#validation-message").text_content()
        assert "0D or 1D target tensor expected" in text and "loss_from_column_labels" in text, text[:2000]
    session.close_dialog()

    with session.step("fix-typed"):
        # the student asked for a hint first (the message of the failed check says how), then fixed the code
        session.replace_source(answer, 'tp.hint("column_labels")\n' + FIXED_COLUMN_LABELS)
        answer.scroll_into_view_if_needed()

    with session.step("rerun-quick-check-passes"):
        session.run_all()
        expect(session.outputs(quick)).to_contain_text("quick check: N = 4 gives the right loss", timeout=120_000)
        session.expect_idle(panel)
        expect(session.outputs(answer).filter(has_text="Error")).to_have_count(0)
        # the hint renders as text in Lab (its marker for the class report is a mime type Lab does not draw)
        expect(session.outputs(answer).first).to_contain_text("Hint 1 of 3 for column_labels")
        quick.scroll_into_view_if_needed()

    with session.step("validate-after-fix"):
        dialog = session.validate(panel)
        text = dialog.locator("#validation-message").text_content()
        assert "loss_from_column_labels" not in text, text[:2000]     # its checks pass now
        assert "loss_from_one_hot" in text, text[:2000]  # the other exercises are still broken
    session.close_dialog()


def test_lesson_runs_and_draws_its_figures(session):
    page = session.page
    with session.step("lesson-open"):
        panel = session.open_notebook(f"course/{ASSIGNMENT}-lesson.ipynb")
        tabs = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tabLabel").all_text_contents()
        assert f"{ASSIGNMENT}-lesson.ipynb" in tabs, tabs  # never the exercise notebook's name
    with session.step("lesson-run-all"):
        session.run_all()
        last = panel.locator(".jp-CodeCell").last
        expect(session.outputs(last)).to_contain_text("label_smoothing", timeout=120_000)  # run-all got to the end
        session.expect_idle(panel)
        # Every cell that calls plt.show() shows its figure as an <img> (a PNG that decoded).
        figure_cells = panel.locator(".jp-CodeCell").filter(has=panel.page.locator(".cm-content", has_text="plt.show()"))
        assert figure_cells.count() >= 1
        for cell in figure_cells.all():
            expect(cell.locator(".jp-OutputArea-output img")).to_have_count(1)
        sizes = panel.locator(".jp-OutputArea-output img").evaluate_all(
            "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
        assert len(sizes) == figure_cells.count() and all(w > 100 for w in sizes), sizes
        figure_cells.first.scroll_into_view_if_needed()


def test_formgrader_lists_the_graded_class(session, lab, tmp_path):
    page = session.page
    # Grade the sample class into the course copy's gradebook, which the running formgrader reads.
    proc = subprocess.run([sys.executable, "-m", "targetpractice.instructor.grading", "--assignment", ASSIGNMENT,
                           "--submissions", str(ROOT / "grader" / "samples" / ASSIGNMENT), "--root", str(lab.course)],
                          cwd=lab.home, env=lab.env, capture_output=True, text=True, timeout=300)
    (tmp_path / "grading.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    with session.step("formgrader-open"):
        page.goto(f"{lab.url}/formgrader?token={lab.token}")  # Manage Assignments
        expect(page.locator("#main-table")).to_contain_text(ASSIGNMENT)
    with session.step("formgrader-manage-students"):
        page.locator("a", has_text="Manage Students").first.click()
        ids = page.locator("#main-table td.id")
        expect(ids).to_have_count(len(STUDENTS), timeout=30_000)
        assert sorted(ids.all_text_contents()) == STUDENTS
        names = page.locator("#main-table td.name").all_text_contents()
        assert "Lovelace, Ada" in names and not any("None" in n for n in names), names  # from roster.csv
        ada = page.locator("#main-table tr").filter(has=page.locator("td.id", has_text="ada"))
        expect(ada.locator("td.score")).to_have_text("23 / 23")
