"""`python -m targetpractice.benchmark`: the grading benchmark (targetpractice/instructor/benchmark.py)."""
if __name__ == "__main__":
    import sys

    from targetpractice.instructor.benchmark import main

    sys.exit(main())
