"""Shared fixtures: a scratch course (own gradebook) per test, as nbgrader's own tests do."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MPLBACKEND", "Agg")


def make_course(root: Path) -> Path:
    """A copy of the course (config, templates, solutions, exercises) with an empty gradebook, at root."""
    from targetpractice.instructor.build import copy_course

    return copy_course(root)


@pytest.fixture
def course(tmp_path) -> Path:
    return make_course(tmp_path / "course")


def scores_by_student(students) -> dict:
    """{student: {exercise: score}} from grading.grade's rows."""
    return {s.id: {ex: got for ex, (got, _) in s.scores.items()} for s in students}


def raised(fn):
    """The exception fn() raises: tests compare it with the real torch error."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - we want the real torch error
        return exc
    raise AssertionError("expected an error")


def active_elements(page: str) -> list:
    """Everything in an HTML page that could run or fetch something: script, event handlers,
    javascript: URLs, external resources, frames, forms, meta refresh. Parsed, not grepped."""
    from html.parser import HTMLParser

    found = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "frame", "object", "embed", "applet", "base", "form", "link", "svg",
                       "math-script"):
                if not (tag == "link" and dict(attrs).get("rel") == "stylesheet" and
                        (dict(attrs).get("href") or "").startswith("data:")):
                    found.append(f"<{tag}>")
            for name, value in attrs:
                value = (value or "").strip().lower()
                if name.startswith("on"):
                    found.append(f"<{tag} {name}=...>")
                if "javascript:" in value.replace(" ", "") or "vbscript:" in value:
                    found.append(f"<{tag} {name}={value[:40]}>")
                if tag == "a" and name == "href" and value.startswith(("http://", "https://", "mailto:")):
                    continue  # a link loads nothing until clicked, and then leaves the page
                if name in ("src", "href", "action", "poster", "srcset", "data", "formaction", "xlink:href") \
                        and value and not value.startswith(("data:image/png", "data:image/jpeg", "#")):
                    found.append(f"<{tag} {name}={value[:40]}>")
                if tag == "meta" and name == "http-equiv" and value == "refresh":
                    found.append("<meta refresh>")
                if name == "style" and "url(" in value:
                    found.append(f"<{tag} style=url(...)>")

    Finder().feed(page)
    return found


# ------------------------------------------------------------------- host processes and archives
def host_procs_of_uid(uid: int) -> list:
    """PIDs on the host running as uid (a sandbox's: none may outlive its notebook)."""
    pids = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if f"\nUid:\t{uid}\t" in (p / "status").read_text():
                pids.append(int(p.name))
        except OSError:
            continue
    return pids


def host_cmdlines_containing(text: str) -> list:
    """PIDs on the host whose command line holds text."""
    found = []
    for p in Path("/proc").glob("[0-9]*"):
        try:
            if text.encode() in (p / "cmdline").read_bytes():
                found.append(int(p.name))
        except OSError:
            continue
    return found


def add_zip_entry(z, name: str, data: bytes, mode: int | None = None, compress: int | None = None) -> None:
    """An archive entry as an attacker writes it: any name, any file type (links, devices) in its mode."""
    import stat
    import zipfile

    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFREG | 0o644 if mode is None else mode) << 16
    info.compress_type = zipfile.ZIP_STORED if compress is None else compress
    z.writestr(info, data)
