"""Submissions broken in every way, on purpose or not, graded through the same command as a class.

Each case is built from the perfect sample (ada) or the untouched release, then the whole class
is graded once. For each case: the per-exercise scores, the source file byte-identical afterwards,
and the ordinary students unaffected.
"""
from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from targetpractice.instructor import build, grading

from conftest import (ROOT, active_elements, host_cmdlines_containing, host_procs_of_uid, make_course,
                      scores_by_student)

pytestmark = pytest.mark.slow  # every test here grades notebooks through nbgrader

A = "01-classification"
NB = f"{A}.ipynb"
FULL = {"column_labels": 3, "one_hot": 3, "one_based": 3, "softmax_head": 4, "accuracy": 3, "confusion_rates": 3,
        "predict_shape": 4}
ZERO = {ex: 0 for ex in FULL}


def perfect():
    return nbformat.read(ROOT / "grader" / "samples" / A / "ada" / NB, as_version=4)


def untouched():
    return nbformat.read(ROOT / "exercises" / A / NB, as_version=4)


def cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_source(nb, grade_id, source):
    cell(nb, grade_id).source = source
    return nb


def prepend(nb, grade_id, code):
    c = cell(nb, grade_id)
    c.source = code + "\n" + c.source
    return nb


def without(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


def retyped(nb, grade_id):
    c = cell(nb, grade_id)
    i = nb.cells.index(c)
    nb.cells[i] = nbformat.v4.new_markdown_cell(c.source, metadata=c.metadata, id=c.id)
    return nb


def duplicated(nb, *grade_ids):
    for gid in grade_ids:
        c = cell(nb, gid)
        nb.cells.insert(nb.cells.index(c), copy.deepcopy(c))
    return nb


MONKEYPATCH = """import builtins, torch, targetpractice
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
checks.check_loss = lambda *a, **k: None
checks.check_loss_fn = lambda *a, **k: None
checks.check_trains = lambda *a, **k: {}
checks.check_shape = lambda *a, **k: None
targetpractice.checks.call = lambda fn, args, **k: 1.0
setattr(builtins, "AssertionError", type("Never", (Exception,), {}))
"""

# Ways to forge a verdict from inside the kernel (issue 10), each written as a student would. Before the
# checks ran in the grader's own process, each earned marks for exercises it never fixed.
FORGERIES = {
    # aliases and indirection on the course library
    "alias": """
ck = checks
ck.check_loss = ck.check_loss_fn = ck.check_shape = ck.check_batch_independence = lambda *a, **k: None
ck.check_trains = lambda *a, **k: {}
ck.call = lambda fn, args, **k: 1.0
""",
    "dict_update": """
nothing = lambda *a, **k: None
checks.__dict__.update(check_loss=nothing, check_loss_fn=nothing, check_shape=nothing, check_trains=nothing,
                       check_batch_independence=nothing, call=lambda *a, **k: 1.0)
""",
    "sys_modules": """
import sys
import targetpractice.checks.core as m
for mod in (m, sys.modules['targetpractice.checks'], sys.modules['targetpractice.checks.classification']):
    for name in ('check_loss', 'check_loss_fn', 'check_trains', 'check_shape', 'check_batch_independence'):
        setattr(mod, name, lambda *a, **k: None)
""",
    "setattr_by_concatenation": """
g = globals()['chec' + 'ks']
put = getattr(__import__('built' + 'ins'), 'set' + 'attr')
for n in ('loss', 'loss_fn', 'trains', 'shape', 'batch_independence'):
    put(g, 'check_' + n, lambda *a, **k: None)
""",
    # IPython machinery: later cells rewritten, or a number shown before the check's error
    "input_transformer": """
def _skip_checks(lines):
    return ['pass\\n'] if any('checks.' in ln for ln in lines) and not any('def ' in ln for ln in lines) else lines
get_ipython().input_transformers_cleanup.append(_skip_checks)
""",
    "pre_run_cell_result": """
import sys
def _score_first(info):
    print(info.raw_cell)                      # would leak the hidden tests into the feedback
    sys.displayhook(3)                         # an execute_result before the check's error: partial credit
get_ipython().events.register('pre_run_cell', _score_first)
""",
}
# Pure semantics, no patching: answers that lie about equality or reach into the checker's frames.
LIAR_ACCURACY = """
class _Liar(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __lt__(self, other): return True
    def __le__(self, other): return True
    def __gt__(self, other): return False
    def __ge__(self, other): return True
    def __sub__(self, other): return _Liar(0.0)
    def __rsub__(self, other): return _Liar(0.0)
    def __abs__(self): return _Liar(0.0)
    __hash__ = float.__hash__

def accuracy(logits, y):
    return _Liar(0.5)
"""
FRAME_WALK_SHAPES = """
import sys

class _Peek:
    def __init__(self, name):
        self.name = name

    def __iter__(self):
        frame = sys._getframe(1)
        while frame is not None:
            if 'truths' in frame.f_locals:
                return iter(tuple(frame.f_locals['truths'][self.name]))
            frame = frame.f_back
        return iter(())

for _name in ("shape_y", "shape_logits", "shape_loss_none", "shape_hits", "shape_loss", "shape_y_squeezed",
              "shape_logits_squeezed", "shape_first_label_tensor"):
    globals()[_name] = _Peek(_name)
why = {}
"""
FRAME_WALK_REFERENCE = """
import sys

def {name}(logits, {target}):
    frame = sys._getframe(1)
    while frame is not None:                   # up to the checker's frame: call its own reference
        if 'reference' in frame.f_locals and 'theirs' in frame.f_locals:
            return frame.f_locals['reference'](logits, {target})
        frame = frame.f_back
    return F.cross_entropy(logits, {target})
"""
# The locked setup cell deleted, and a module of no-op checks under its name: the grader's test cells
# still use the grader's own `checks` (every locked cell of the gradebook runs in the grader first).
FAKE_CHECKS_MODULE = """
import sys, types
import torch
import torch.nn as nn
import torch.nn.functional as F
import targetpractice as tp
checks = types.ModuleType('checks')
checks.__getattr__ = lambda name: (lambda *a, **k: None)
sys.modules['checks'] = checks
"""
# Found by a review of the trusted grader: a loss whose gradient is NaN, with the kernel's train_steps
# replaced to train on the right loss; a model that memorises the rows it was trained on; replies that are
# cheap to send and costly to parse.
NAN_GRADIENT_HIJACK = """
import targetpractice.checks.core as _core
def loss_from_column_labels(logits, y):
    return F.cross_entropy(logits.detach(), y[:, 0]) + (logits * 0).sqrt().sum()   # right value, NaN gradient
_real = _core.train_steps
def _train_steps(model, X, y, loss_fn, *, steps, lr, seed=0):
    if loss_fn is not loss_from_column_labels:
        return _real(model, X, y, loss_fn, steps=steps, lr=lr, seed=seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad(); F.cross_entropy(model(X), y[:, 0]).backward(); opt.step()
    return 0.0
_core.train_steps = _train_steps
"""
MEMORISING_MODEL = """
import targetpractice.checks.core as _core
class _Memo(nn.Module):                        # the broken softmax head, plus the rows it trained on
    def __init__(self, f, c):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(f, 32), nn.ReLU(), nn.Linear(32, c), nn.Softmax(dim=1))
        self.memo, self.c = {}, c
    def forward(self, X):
        out = self.net(X)
        rows = [self.memo.get(tuple(x.tolist())) for x in X]
        return torch.stack([30 * F.one_hot(torch.tensor(r), self.c).float() if r is not None else o
                            for r, o in zip(rows, out)])
_real = _core.train_steps
def _train_steps(model, X, y, loss_fn, **kw):
    value = _real(model, X, y, loss_fn, **kw)
    if isinstance(model, _Memo):
        model.memo.update({tuple(x.tolist()): int(t) for x, t in zip(X, y)})
    return value
_core.train_steps = _train_steps
def make_classifier(n_features, n_classes):
    return _Memo(n_features, n_classes)
"""
COSTLY_REPLIES = """
import targetpractice.wire as _w
class _Big:
    def __repr__(self):
        return "[" + "[]," * 3_000_000 + "]"
_w.serve = lambda request: _Big()
"""
# Honest answers in numpy: the same verdict in the kernel and in the grader, and no flag.
NUMPY_ACCURACY = """
def accuracy(logits, y):
    return (logits.argmax(dim=1) == y).float().mean().numpy()    # a 0-d array, not a float
"""
NUMPY_SHAPES = """
import numpy as np
shape_y, shape_logits, shape_loss_none, shape_hits = np.array([40, 1]), np.array([40, 9]), np.array([40]), \\
    np.array([40, 40])
shape_loss, shape_y_squeezed = np.array([], dtype=int), np.array([], dtype=int)
shape_logits_squeezed, shape_first_label_tensor = np.array([9]), np.array([64])
why = {}
"""
NOT_FLAGGED = ["honest_numpy", "ada", "dee"]
HIDDEN_LINE = "checks.separable_data(96, 4, 3, seed=3)"   # a line of column_labels' hidden tests

# Attacks on the grader itself, each as one try-block a student prepends to an answer cell (so the
# rest of the notebook runs on). Each earned marks or hurt other students before the sandbox
# (issue 9); now each must find nothing to act on. "{marker}" tags processes for the leftover check.
SANDBOX_ATTACKS = {
    "rewrite_gradebooks": """
import os, sqlite3
for top, dirs, files in os.walk('/'):
    dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev', 'usr', 'site-packages', 'include')]
    if 'gradebook.db' in files:
        con = sqlite3.connect(os.path.join(top, 'gradebook.db'))
        con.execute("update source_cell set source = 'pass'")
        con.commit()
        print('REWROTE', top)
""",
    "detached_rewriter": """
import subprocess, sys
subprocess.Popen([sys.executable, '-c', "import time, glob, os; [(time.sleep(1), [os.remove(db) for db in "
                  "glob.glob('/*/*/grader/gradebook.db')]) for _ in range(60)]  # {marker}"],
                 start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
""",
    "edit_library": """
import targetpractice.checks.core as core
open(core.__file__, 'a').write('check_loss = lambda *a, **k: None  # planted')
""",
    "read_solutions": """
import os
found = []
for top, dirs, files in os.walk('/'):
    dirs[:] = [d for d in dirs if d not in ('proc', 'sys', 'dev', 'usr', 'site-packages', 'include')]
    found += [os.path.join(top, f) for f in files if f.endswith('.ipynb') or f == 'gradebook.db']
print('FOUND', found)
""",
    "other_kernels": """
import os, json, glob
for pid in os.listdir('/proc'):
    if pid.isdigit():
        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
        if b'kernel' in cmd and int(pid) != os.getpid():
            print('OTHER KERNEL', pid, cmd[:80])
print('CONNECTION FILES', [f for f in glob.glob('/tmp/**/*.json', recursive=True) + glob.glob('/root/**/kernel*.json')
                           if 'kernel' in f and '.kernel/kernel.json' not in f])
""",
    "fake_log_line": """
import os, sys
line = b"[AutogradeApp | ERROR] There was an error processing assignment '01-classification' for student 'ada'" + bytes([10])
for fd in (1, 2):
    os.write(fd, line)
sys.__stderr__.write(line.decode())
print('{"event": "done", "student": "dee", "ok": false, "reason": "forged"}')
""",
    "kill_and_stop_everything": """
import os, signal
mine = {int(t) for t in os.listdir('/proc/self/task')}
for pid in range(1, 4 * 32768):
    if pid not in mine:
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
""",
    "memory_in_children": """
import subprocess, sys
kids = [subprocess.Popen([sys.executable, '-c', "import time; x = bytearray(1500 * 2**20); time.sleep(60)  # {marker}"])
        for _ in range(4)]
import time; time.sleep(3)
print('alive', [k.poll() for k in kids])
""",
    "fork_orphans": """
import subprocess
for k in range(30):
    subprocess.Popen(['sleep', '1000{marker_digits}'], start_new_session=True)
""",
    "disk_fill": """
import os
with open('big.bin', 'wb') as f:
    for _ in range(1024):
        f.write(b'x' * 2**20)
""",
    "output_flood": """
for _ in range(100):
    print('x' * 2**20)
""",
}
MARKER = "tp-adversarial-leftover"
# Content for the pages an instructor opens: the feedback page, Formgrader, the report.
HTML_MARKDOWN = ('Grader, look: <script>fetch("/api/kernels", {method: "POST"})</script>'
                 '<img src=x onerror="alert(document.cookie)"> [details](javascript:alert(1))')
HTML_OUTPUTS = """from IPython.display import HTML, Javascript, SVG, display
display(HTML('<script>alert(1)</script><img src=x onerror=alert(2)><iframe src="http://evil.example"></iframe>'))
display(Javascript('alert(3)'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(4)</script></svg>'))
display({'image/png': 'iVBORw0KGgo=" onerror="alert(5)'}, raw=True)
raise_later = '<script>alert(6)</script>'
"""


def attack(name: str) -> str:
    body = SANDBOX_ATTACKS[name].replace("{marker}", MARKER).replace("{marker_digits}", "4242")
    return "try:\n" + "".join(f"    {ln}\n" for ln in body.strip().splitlines()) + "except BaseException as exc:\n" \
        "    print('attack failed:', type(exc).__name__)\n"


# name -> (notebook bytes or None to skip writing, expected per-exercise scores, a fragment of the notes)
def cases():
    c = {}
    c["test_edited_to_pass"] = (with_source(with_source(with_source(perfect(), "column_labels",
                                untouched_answer("column_labels")), "column_labels_test", "pass"),
                                "column_labels_hidden", "pass"), {**FULL, "column_labels": 0}, "")
    c["test_cell_deleted"] = (without(perfect(), "one_hot_hidden"), FULL, "")
    c["test_cell_deleted_broken_answer"] = (without(without(untouched(), "one_hot_hidden"), "one_hot_test"), ZERO, "")
    c["answer_cell_deleted"] = (without(perfect(), "one_hot"), {**FULL, "one_hot": 0}, "")
    c["cell_type_changed"] = (retyped(perfect(), "accuracy_hidden"), FULL, "")
    c["duplicated_cells"] = (duplicated(perfect(), "one_based", "one_based_test", "predict_shape_hidden"), FULL, "")
    c["infinite_loop"] = (prepend(perfect(), "accuracy", "while True:\n    pass\n"), {**FULL, "accuracy": 0}, "")
    c["os_exit"] = (prepend(perfect(), "one_based", "import os\nos._exit(1)\n"), ZERO, "kernel died")
    c["segfault"] = (prepend(perfect(), "one_based", "import ctypes\nctypes.string_at(0)\n"), ZERO, "kernel died")
    c["memory_bomb"] = (prepend(perfect(), "one_hot", "hog = torch.ones(2**31, dtype=torch.float64)\n"),
                        {**FULL, "one_hot": 0}, "")
    c["monkeypatch_unsolved"] = (prepend(untouched(), "column_labels", MONKEYPATCH), ZERO, FLAGGED)
    c["monkeypatch_solved"] = (prepend(perfect(), "column_labels", MONKEYPATCH), FULL, "")
    for name, code in FORGERIES.items():   # unsolved: nothing; partly solved: exactly what was solved
        flag = "" if name == "pre_run_cell_result" else FLAGGED
        c[f"forge_{name}_unsolved"] = (prepend(untouched(), "column_labels", code), ZERO, flag)
        c[f"forge_{name}_partly"] = (prepend(partly_solved(), "column_labels", code), PARTLY, flag)
    c["forge_liar_accuracy"] = (with_source(perfect(), "accuracy", LIAR_ACCURACY), {**FULL, "accuracy": 0}, FLAGGED)
    # the true shapes reach the student's kernel only as salted digests: the walk finds nothing to copy,
    # so the check fails in the kernel as it does in the grader (0, and no evidence of a forgery to flag)
    c["forge_frame_walk_shapes"] = (with_source(perfect(), "predict_shape", FRAME_WALK_SHAPES),
                                    {**FULL, "predict_shape": 0}, "")
    c["forge_setup_deleted"] = (prepend(without(untouched(), "setup"), "column_labels", FAKE_CHECKS_MODULE), ZERO, "")
    c["forge_setup_deleted_partly"] = (prepend(without(partly_solved(), "setup"), "column_labels", FAKE_CHECKS_MODULE),
                                       PARTLY, "")
    c["forge_nan_gradient_hijack"] = (with_source(perfect(), "column_labels", NAN_GRADIENT_HIJACK),
                                      {**FULL, "column_labels": 1}, "")     # the quick check compares values only
    c["forge_memorising_model"] = (with_source(perfect(), "softmax_head", MEMORISING_MODEL), {**FULL, "softmax_head": 0},
                                   "")
    c["forge_costly_replies"] = (prepend(perfect(), "column_labels", COSTLY_REPLIES), ZERO, "could not read")
    c["honest_numpy"] = (with_source(with_source(perfect(), "accuracy", NUMPY_ACCURACY), "predict_shape", NUMPY_SHAPES),
                         {**FULL, "accuracy": 1}, "")
    walked = perfect()
    for ex, name, target in (("column_labels", "loss_from_column_labels", "y"), ("one_hot", "loss_from_one_hot", "onehot"),
                             ("one_based", "loss_from_one_based", "y")):
        with_source(walked, ex, FRAME_WALK_REFERENCE.format(name=name, target=target))
    c["forge_frame_walk_reference"] = (walked, {**FULL, "column_labels": 0, "one_hot": 0, "one_based": 0}, FLAGGED)
    c["output_flood"] = (prepend(perfect(), "one_based", "for i in range(200000):\n    print(i)\n"), FULL, "")
    c["warnings_ignored"] = (prepend(untouched_accuracy_only(), "accuracy",
                             "import warnings\nwarnings.filterwarnings('ignore')\n"), {**FULL, "accuracy": 0}, "")
    c["stderr_in_answer"] = (prepend(perfect(), "one_hot", "import sys\nprint('noise', file=sys.stderr)\n"), FULL, "")
    html = perfect()
    html.cells.insert(1, nbformat.v4.new_markdown_cell(HTML_MARKDOWN))
    c["html_injection"] = (prepend(html, "column_labels", HTML_OUTPUTS), FULL, "")
    for name in SANDBOX_ATTACKS:  # solved and attacking: full marks, no more; unsolved and attacking: nothing
        c[f"{name}_solved"] = (prepend(perfect(), "column_labels", attack(name)), FULL, "")
        c[f"{name}_unsolved"] = (prepend(untouched(), "column_labels", attack(name)), ZERO, "")
    return c


FLAGGED = "passed in the notebook's kernel but failed when the grader ran it"
PARTLY = {**ZERO, "one_hot": 3, "accuracy": 3}


def partly_solved():
    """one_hot and accuracy fixed, everything else as released."""
    nb = untouched()
    for ex in PARTLY:
        if PARTLY[ex]:
            with_source(nb, ex, cell(perfect(), ex).source)
    return nb


def untouched_answer(grade_id):
    return cell(untouched(), grade_id).source


def untouched_accuracy_only():
    return with_source(perfect(), "accuracy", untouched_answer("accuracy"))


def write_class(folder: Path):
    """Write every case (plus the file-level ones) and the ordinary students; return expectations."""
    expected, notes = {}, {}
    for name, (nb, scores, note) in cases().items():
        (folder / name).mkdir(parents=True)
        # plain JSON, as a student's file may be: nbformat.write would mend duplicated cell ids
        (folder / name / NB).write_text(json.dumps(nb, indent=1))
        expected[name], notes[name] = scores, note
    good = (ROOT / "grader" / "samples" / A / "ada" / NB).read_bytes()
    files = {
        "not_json": ({NB: b'{"cells": [ {"cell_type": '}, ZERO, "not valid notebook JSON"),
        "empty_file": ({NB: b""}, ZERO, "is empty"),
        "renamed": ({"homework.ipynb": good}, ZERO, "found homework.ipynb"),
        "extra_notebooks": ({NB: good, "scratch.ipynb": good}, FULL, "ignored extra notebook(s): scratch.ipynb"),
        "old_nbformat": ({NB: json.dumps(nbformat.v3.convert.downgrade(
            nbformat.reads(good.decode(), as_version=4))).encode()}, None, ""),
    }
    for name, (contents, scores, note) in files.items():
        (folder / name).mkdir(parents=True)
        for fname, data in contents.items():
            (folder / name / fname).write_bytes(data)
        expected[name], notes[name] = scores, note
    for ordinary in ("ada", "ben", "dee"):  # perfect, untouched, one wrong fix
        (folder / ordinary).mkdir()
        (folder / ordinary / NB).write_bytes((ROOT / "grader" / "samples" / A / ordinary / NB).read_bytes())
    spec = build.load_sample_spec(A)["students"]
    for ordinary in ("ada", "ben", "dee"):
        expected[ordinary] = spec[ordinary]["expected"]
    return expected, notes


def digest(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


def sandbox_processes() -> list:
    """Processes of the sandboxes' uids, fork servers, or tagged by an attack: none may outlive grading."""
    found = set()
    for uid in range(64000, 64100):
        found.update(host_procs_of_uid(uid))
    for text in (MARKER, "10004242", "instructor.sandbox serve"):
        found.update(host_cmdlines_containing(text))
    return sorted(found)


def checkout_state() -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = make_course(tmp_path_factory.mktemp("adversarial") / "course")
    folder = root.parent / "class"
    expected, notes = write_class(folder)
    before, checkout = digest(folder), checkout_state()
    library = {p: p.read_bytes() for p in (ROOT / "targetpractice").rglob("*.py")}
    rows = grading.grade(A, folder, root, quiet=True, jobs=2, timeout=15)
    time.sleep(1)  # a detached child of an attack would act now, if it still lived
    return {"rows": {s.id: s for s in rows}, "expected": expected, "notes": notes, "before": before,
            "folder": folder, "root": root, "leftover": sandbox_processes(), "checkout": checkout,
            "library": library}


CASES = list(cases()) + ["not_json", "empty_file", "renamed", "extra_notebooks", "old_nbformat"]


@pytest.mark.parametrize("case", CASES)
def test_adversarial_submission_is_scored_as_it_deserves(graded, case):
    row = graded["rows"][case]
    got = scores_by_student([row])[case]
    want = graded["expected"][case]
    if want is None:  # old nbformat: graded like the same answers in the current format
        want = FULL
    assert got == {ex: float(v) for ex, v in want.items()}, f"{case}: notes {row.notes}"
    assert graded["notes"][case] in " ".join(row.notes), f"{case}: notes {row.notes}"
    if case in NOT_FLAGGED:
        assert not [n for n in row.notes if "flagged" in n], f"{case}: notes {row.notes}"


def test_submissions_are_never_modified_and_others_are_unaffected(graded):
    assert digest(graded["folder"]) == graded["before"]
    scores = scores_by_student(graded["rows"].values())
    for ordinary in ("ada", "ben", "dee"):
        assert scores[ordinary] == {ex: float(v) for ex, v in graded["expected"][ordinary].items()}
        assert not graded["rows"][ordinary].notes, graded["rows"][ordinary].notes  # no forged failure


def test_nothing_outlives_grading_and_the_checkout_is_untouched(graded):
    assert graded["leftover"] == [] and sandbox_processes() == []
    assert checkout_state() == graded["checkout"]
    assert {p: p.read_bytes() for p in (ROOT / "targetpractice").rglob("*.py")} == graded["library"]
    assert (graded["root"] / "grader" / "gradebook.db").exists()   # the detached deleter found nothing


def test_pages_an_instructor_opens_hold_nothing_active(graded):
    root = graded["root"]
    for student in ("html_injection", "ada"):
        page = (root / "grader" / "feedback" / student / A / NB.replace(".ipynb", ".html")).read_text()
        assert active_elements(page) == [], (student, active_elements(page)[:5])
        assert "Content-Security-Policy" in page
    nb = nbformat.read(root / "grader" / "autograded" / "html_injection" / A / NB, as_version=4)
    for c in nb.cells:  # inert at the source: Formgrader shows this notebook too
        html = [c.source] if c.cell_type == "markdown" else \
            [o.get("data", {}).get("text/html", "") for o in c.get("outputs", [])]
        assert all(active_elements(h) == [] for h in html), html
        for o in c.get("outputs", []):
            assert set(o.get("data", {})) <= {"text/plain", "text/html", "image/png", "image/jpeg"}, o
            assert '"' not in o.get("data", {}).get("image/png", "")
    report = (root / "grader" / "report.html").read_text()
    assert active_elements(report) == []


def test_what_the_attacks_saw_and_left(graded):
    autograded = graded["root"] / "grader" / "autograded"

    def printed(case):
        nb = nbformat.read(autograded / case / A / NB, as_version=4)
        return "".join(o.get("text", "") for o in cell(nb, "column_labels").outputs if o.get("output_type") == "stream")

    # the hidden tests never enter the kernel, so a hook there has nothing to print into the feedback
    for case in ("forge_pre_run_cell_result_unsolved", "forge_pre_run_cell_result_partly"):
        page = graded["root"] / "grader" / "feedback" / case / A / NB.replace(".ipynb", ".html")
        assert HIDDEN_LINE not in page.read_text()
        assert HIDDEN_LINE not in json.dumps([c.get("outputs", []) for c in
                                              nbformat.read(autograded / case / A / NB, as_version=4).cells])
    assert "REWROTE" not in printed("rewrite_gradebooks_solved")
    assert "FOUND []" in printed("read_solutions_solved")
    assert "OTHER KERNEL" not in printed("other_kernels_solved") and "CONNECTION FILES []" in printed("other_kernels_solved")
    assert "attack failed: PermissionError" in printed("edit_library_solved")   # root's file, read-only mount
    assert "attack failed: OSError" in printed("disk_fill_solved")              # scratch is capped: ENOSPC
    for case in ("output_flood_solved", "output_flood_unsolved"):               # capped before nbgrader stores it
        assert (autograded / case / A / NB).stat().st_size < 5 * 2**20
        page = graded["root"] / "grader" / "feedback" / case / A / NB.replace(".ipynb", ".html")
        assert page.stat().st_size < 5 * 2**20 and "output dropped by the grader" in page.read_text()
