# Target Practice: `make grade` grades a class, `make test` checks the whole course.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

ASSIGNMENT ?= 01-classification
SUBMISSIONS ?= grader/samples/$(ASSIGNMENT)
JOBS ?= 0
SANDBOX ?= on

.PHONY: grade test test-fast lab notebooks check-notebooks clean-grader help
help:
	@echo "make grade [ASSIGNMENT=01-classification] [SUBMISSIONS=dir|zip] [JOBS=n] [SANDBOX=off]  grade a class"
	@echo "make test                                                 run every check"
	@echo "make test-fast                                            library, build check, notebook structure (< 2 min)"
	@echo "make lab [LAB_ARGS='--no-browser --port=8890']                JupyterLab with nbgrader; prints the URL"
	@echo "make notebooks                                            rebuild notebooks from authoring/"

# torch first, pinned: pip then takes the local CPU build of 2.13.0 instead of a CUDA download.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[grader,test]'
	touch $(STAMP)

grade: $(STAMP)
	$(PY) -m targetpractice.instructor.grading --assignment $(ASSIGNMENT) --submissions $(SUBMISSIONS) --jobs $(JOBS) --sandbox $(SANDBOX)

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Everything but the tests marked slow (grading through nbgrader, running whole notebooks).
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# LAB_ARGS go to jupyter lab as they are, e.g. LAB_ARGS="--no-browser --ip=0.0.0.0 --port=8890".
lab: $(STAMP)
	$(PY) -m targetpractice.instructor.lab $(LAB_ARGS)

# topics/NN-topic/*.py (jupytext percent) -> course/, solutions/; then exercises/ and grader/samples/.
notebooks: $(STAMP)
	$(PY) -m targetpractice.instructor.build

check-notebooks: $(STAMP)
	$(PY) -m targetpractice.instructor.build --check

clean-grader:
	rm -rf grader/submitted grader/autograded grader/feedback grader/gradebook.db grader/grades.csv grader/report.html grader/.grading
