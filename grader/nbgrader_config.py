# nbgrader configuration for Target Practice.
# Use it with `cd grader && nbgrader <command>`, or from anywhere with
# JUPYTER_CONFIG_DIR=<repo>/grader nbgrader <command>.
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (CheckCellMetadata, GetGrades, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                    ComputeChecksums, IncludeHeaderFooter, InstantiateTests, LockCells,
                                    SaveCells)

from targetpractice.nbgrader_ext import BrokenStarterCode, FeedbackWithoutHiddenTests

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

# Feedback shows each failed check's message, never the hidden tests' source (nbgrader#917).
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, FeedbackWithoutHiddenTests]
