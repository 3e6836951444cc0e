"""Instructor tooling: notebook build, nbgrader preprocessors, grading driver, grading kernel,
class report and benchmark. Needs `pip install '.[grader]'`; the student library never imports it.

    python -m targetpractice.instructor.build [--check]     # notebooks from topics/
    python -m targetpractice.instructor.grading ...         # what `make grade` runs
    python -m targetpractice.benchmark                      # grading speed (see README)
"""
