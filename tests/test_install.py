"""The two layers: the student library installs and runs without the instructor tooling."""
from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import requires

from conftest import ROOT

STUDENT_CODE = """
import sys
import torch
import targetpractice as tp
from targetpractice import checks
logits, y = checks.class_batch(4, 5)
tp.diagnose("CrossEntropyLoss", logits, y[:, None])
tp.contract_for("MSELoss")
with tp.show_error("CrossEntropyLoss", logits, y[:, None]):
    torch.nn.functional.cross_entropy(logits, y[:, None])
tp.show_shapes({"logits": logits, "y": y}, axes={"logits": "N C", "y": "N"})
checks.token_batch(3, 5, 7)                      # a topic module, reached as checks.<name>
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"nbgrader", "jupyter_server", "nbclient",
                "jupytext", "jupyterlab"} or m.startswith("targetpractice.instructor"))
print("grader modules:", loaded)
"""


def test_student_library_imports_no_grading_tooling():
    out = subprocess.run([sys.executable, "-c", STUDENT_CODE], capture_output=True, text=True, cwd=ROOT,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("grader modules: []"), out.stdout[-2000:]


def test_pip_install_dot_asks_only_for_torch_numpy_matplotlib():
    """`pip install .` installs the unconditional requirements; the grader comes only with the extra."""
    reqs = requires("targetpractice")
    name = lambda r: re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0]  # noqa: E731
    plain = sorted(name(r) for r in reqs if "extra ==" not in r)
    assert plain == ["matplotlib", "numpy", "torch"], plain
    grader = {name(r) for r in reqs if 'extra == "grader"' in r}
    assert {"nbgrader", "nbclient", "jupyterlab", "jupytext"} <= grader, grader
