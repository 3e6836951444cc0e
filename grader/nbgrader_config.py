# nbgrader configuration for Target Practice.
# Use it with `cd grader && nbgrader <command>`, or from anywhere with
# JUPYTER_CONFIG_DIR=<repo>/grader nbgrader <command>.
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                    ClearOutput, ComputeChecksums, DeduplicateIds, GetGrades, IgnorePattern,
                                    IncludeHeaderFooter, InstantiateTests, LimitOutput, LockCells, OverwriteCells,
                                    OverwriteKernelspec, SaveCells)

from targetpractice.instructor.kernel import GradingExecute, sandbox_settings
from targetpractice.instructor.nbgrader_ext import (BrokenStarterCode, FeedbackWithoutHiddenTests, InertContent,
                                                    MathAsMathML, RepairCellMetadata, SaveTrustedGrades)

c = get_config()  # noqa: F821 (defined by traitlets when it loads this file)
HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.root = os.path.dirname(HERE)   # the repository
c.CourseDirectory.course_id = "target-practice"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = "grader/submitted"
c.CourseDirectory.autograded_directory = "grader/autograded"
c.CourseDirectory.feedback_directory = "grader/feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")

# The student version holds broken code that runs (BrokenStarterCode), not a stub.
c.GenerateAssignment.preprocessors = [
    IncludeHeaderFooter, InstantiateTests, LockCells, BrokenStarterCode, ClearOutput,
    CheckCellMetadata, ComputeChecksums, SaveCells, ClearHiddenTests, ClearMarkScheme,
    ComputeChecksums, CheckCellMetadata,
]

# A deleted test cell is put back and run, instead of "needs manual grade" forever.
c.OverwriteCells.add_missing_cells = True
# Every cell of these exercises runs in well under a second; a loop that does not end is cut here.
c.Execute.timeout = 30
# Each submission runs in a sandbox of its own (targetpractice/instructor/sandbox.py), forked from a
# warm parent that has imported torch: an unprivileged uid, its own PID, IPC and network namespaces,
# the Python environment and course library read-only, a capped scratch tmpfs, cgroup limits over
# all its processes. SANDBOX=off: a plain kernel with rlimits. No kernelspec is installed either way.
c.SandboxedKernelManager.sandbox = sandbox_settings()
# Only the answer cells (and locked cells) run in the student's kernel. Each test cell runs in the grading
# process itself (GradingExecute, targetpractice/instructor/trusted.py), calling the student's functions
# through a channel that carries data only; a test cell scores only if that run passed (SaveTrustedGrades).
# Right after execution, outputs are made inert and capped (InertContent): whatever the student's
# kernel sent, the autograded notebook, Formgrader and feedback pages hold no script and no flood.
c.Autograde.autograde_preprocessors = [GradingExecute, InertContent, IgnorePattern, ClearMetadataPreprocessor,
                                       LimitOutput, SaveTrustedGrades, AssignLatePenalties, CheckCellMetadata]

# Feedback shows each failed check's message, never the hidden tests' source (nbgrader#917), holds
# nothing active and loads nothing from the network: outputs were made inert at autograde, markdown
# and HTML go through nbconvert's sanitiser, math becomes MathML, and grader/nbconvert/templates/
# (on JUPYTER_PATH, searched before nbconvert's own) replaces the CDN MathJax of nbgrader's feedback
# page with a Content-Security-Policy that forbids every script, and drops it from Formgrader's.
os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [HERE, os.environ.get("JUPYTER_PATH")]))
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, FeedbackWithoutHiddenTests, MathAsMathML]
c.HTMLExporter.sanitize_html = True

# No exchange yet (students hand in through the LMS): a local, git-ignored one keeps Formgrader free
# of "exchange directory missing" warnings. Formgrader hides its debug configuration panel.
c.Exchange.root = os.path.join(HERE, "exchange")
os.makedirs(c.Exchange.root, exist_ok=True)
c.FormgradeExtension.debug = False

# Before anything runs: duplicated or broken cell metadata is mended (RepairCellMetadata). What the student
# wrote is never rewritten: it runs as written, in the sandbox.
c.Autograde.sanitize_preprocessors = [RepairCellMetadata, ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                                      CheckCellMetadata]
