"""What a class hands in, taken in as hostile data: student ids, file names, LMS archives.

Everything here comes from students (folder names, file names, archive entries, notebook bytes).
Nothing of it is used before it passed one explicit rule, is never passed through a shell, and
never becomes a path outside the student's own folder. What fails a rule is refused with a line
naming the file and the rule; the rest of the class is still graded. The rule for a student id
and a file name is NAME_RULE below (the README quotes it).
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

NAME_RULE = ("1 to 64 characters: letters and digits (of one script: no Cyrillic 'а' inside a Latin name) "
             "and _ . - @ +, starting with a letter or digit; in Unicode normal form NFC, with no "
             "compatibility look-alikes (fullwidth letters, ligatures); no spaces, slashes, '..', "
             "control or invisible characters")

MAX_NAME = 64
MAX_NOTEBOOK_BYTES = 20 * 2**20          # a notebook without outputs is ~50 KB; outputs are cleared anyway
MAX_ENTRIES = 5000                       # an LMS zip of a large class holds a few hundred files
MAX_ENTRY_BYTES = MAX_NOTEBOOK_BYTES
MAX_TOTAL_BYTES = 1 * 2**30
MAX_RATIO = 200                          # text notebooks compress ~5-20x; a bomb compresses 1000x and more


@dataclass
class Student:
    id: str
    first_name: str | None = None                  # from roster.csv, for Formgrader and the report
    last_name: str | None = None
    notes: list = field(default_factory=list)      # problems with the submission, for the table
    graded: bool = False
    scores: dict = field(default_factory=dict)     # exercise -> (score, max)
    seconds: float = 0.0
    trusted_seconds: float = 0.0           # of which the grader's own run of the test cells


# ---------------------------------------------------------------------------------- names
def shown(name: str, limit: int = 120) -> str:
    """A name as it may be printed to a terminal or a log: control and invisible characters escaped."""
    return "".join(ch if unicodedata.category(ch)[0] not in "CZ" or ch == " " else f"\\u{ord(ch):04x}"
                   for ch in name)[:limit]


def _script(ch: str) -> str:
    """The script of a letter, read from its Unicode name (LATIN, CYRILLIC, GREEK, CJK, ...)."""
    name = unicodedata.name(ch, "")
    first = name.split(" ")[0]
    return {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK"}.get(first, first)


def name_problem(name: str) -> str | None:
    """None if name follows NAME_RULE, else what is wrong with it (in words)."""
    if not name or len(name) > MAX_NAME:
        return f"it has {len(name)} characters"
    if unicodedata.normalize("NFC", name) != name:
        return "it is not in Unicode normal form NFC"
    if unicodedata.normalize("NFKC", name) != name:
        return "it holds a compatibility look-alike character"
    if not name[0].isalnum():
        return "it does not start with a letter or digit"
    for ch in name:
        if not (ch.isalnum() or ch in "_.-@+"):
            return f"it holds the character {shown(ch)!r}"
    if ".." in name:
        return "it holds '..'"
    scripts = {_script(ch) for ch in name if ch.isalpha()}
    if len(scripts) > 1:
        return f"it mixes scripts ({', '.join(sorted(scripts))})"
    return None


def refusal(what: str, name: str, why: str) -> str:
    return f"refused {what} {shown(name)!r}: {why}. The rule: {NAME_RULE}."


# ------------------------------------------------------------------------------ notebooks
def check_notebook(path: Path) -> str | None:
    """None if path is a readable notebook, else why not (in words)."""
    if path.is_symlink() or not path.is_file():
        return "is not a regular file (a link or a device)"
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return f"is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    raw = path.read_bytes()
    if not raw.strip():
        return "is empty"
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        return f"is not valid notebook JSON{where}"
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError from 100,000 nested '['
        return f"is not a readable notebook ({type(exc).__name__})"
    try:
        nbformat.reads(raw.decode(), as_version=4)
    except Exception as exc:  # nbformat's own reasons (missing keys, unknown version, ...)
        return f"is not a readable notebook ({type(exc).__name__}: {shown(str(exc).splitlines()[0][:120])})"
    if not isinstance(data, dict) or not data.get("cells"):
        return "has no cells"
    return None


def read_roster(path: Path) -> dict:
    """{id: (first_name, last_name)} from an nbgrader roster CSV (id,first_name,last_name,email), if any."""
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if rows and "id" not in rows[0]:
        raise SystemExit(f"{path}: a roster needs the columns id,first_name,last_name (nbgrader's format).")
    roster = {}
    for r in rows:
        sid = (r.get("id") or "").strip()
        why = name_problem(sid)
        if why:
            raise SystemExit(f"{path}: {refusal('student id', sid, why)}")
        clean = [(r.get(k) or "").strip()[:100] or None for k in ("first_name", "last_name")]
        roster[sid] = tuple(None if v is None else shown(v) for v in clean)
    return roster


def collect(assignment: str, submissions: Path, root: Path, expected: list, refused: list | None = None) -> list:
    """Check each student's folder and copy the usable notebooks into grader/submitted/.

    ``refused`` receives a line for each folder whose name breaks the rule (it is not graded).
    """
    refused = [] if refused is None else refused
    submitted = root / "grader" / "submitted"
    for old in submitted.glob(f"*/{assignment}"):  # a fresh class each run: no stale students
        shutil.rmtree(old)
    for step in ("autograded", "feedback"):
        for old in (root / "grader" / step).glob(f"*/{assignment}"):
            shutil.rmtree(old)
    roster = read_roster(submissions / "roster.csv")
    students = []
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith(".") or (entry.is_file() and not entry.is_symlink()):
            continue  # hidden folders, roster.csv and other files beside the student folders
        why = name_problem(entry.name) or ("it is a link, not a folder" if entry.is_symlink() else None)
        if why:
            refused.append(refusal("student folder", entry.name, why))
            continue
        s = Student(entry.name, *roster.pop(entry.name, (None, None)))
        students.append(s)
        dest = submitted / s.id / assignment
        present = sorted(p.name for p in entry.iterdir() if p.name.endswith(".ipynb"))
        for name in expected:
            src = entry / name
            if not (src.exists() or src.is_symlink()):
                others = [n for n in present if n not in expected]
                s.notes.append(f"{name} missing" + (f" (found {', '.join(map(shown, others))}: rename it to "
                                                    f"{name} to have it graded)" if others else "")
                               + ": 0 for that notebook")
                continue
            why = check_notebook(src)
            if why:
                s.notes.append(f"{name} {why}: 0 for that notebook")
                continue
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / name)  # a copy: the student's file is never modified
        stamp = entry / "timestamp.txt"
        if dest.exists() and stamp.is_file() and not stamp.is_symlink() and stamp.stat().st_size < 100:
            shutil.copyfile(stamp, dest / "timestamp.txt")
        extra = [n for n in present if n not in expected]
        if extra and all(n in present for n in expected):
            s.notes.append(f"ignored extra notebook(s): {', '.join(map(shown, extra))}")
    for sid, (first, last) in sorted(roster.items()):  # on the roster, but handed nothing in
        students.append(Student(sid, first, last, notes=["no submission: 0"]))
    students.sort(key=lambda s: s.id)
    return students


# --------------------------------------------------------------------------------- archives
# The file-name pattern of an LMS download, in nbgrader's zip_collect convention
# (FileNameCollectorPlugin.named_regexp): Blackboard-style "<assignment>_<student_id>_attempt_<time>_<file>".
# The id may hold any character but '_' and separators here; the name rule then decides.
LMS_FILENAME = r"^{assignment}_(?P<student_id>[^_/\\]+)_attempt_(?P<timestamp>[0-9-]+)_(?P<file_id>.+)$"


def lms_pattern(assignment: str) -> str:
    """Anchored at the assignment's name: the first "_<id>_attempt_" names the student, so a file a
    student named "x_victim_attempt_..." is still theirs, not the victim's."""
    return LMS_FILENAME.replace("{assignment}", re.escape(assignment))


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "it is a device, socket or pipe"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "its path is absolute"
    if "\\" in name:
        return "its path uses backslashes"
    if ".." in name.split("/"):
        return "its path climbs out of the archive with '..'"
    if info.file_size > MAX_ENTRY_BYTES:
        return f"it unpacks to {info.file_size // 2**20} MB (the limit is {MAX_ENTRY_BYTES // 2**20} MB)"
    if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
        return f"it is compressed {info.file_size // info.compress_size}x (a zip bomb?)"
    return None


def unpack_zip(archive: Path, dest: Path, refused: list, assignment: str = "", named_regexp: str | None = None) -> Path:
    """Lay out a zip of submissions as <student_id>/<file>: either it already holds one folder per
    student, or its flat file names follow named_regexp (nbgrader's zip_collect convention).

    Each entry that is a link or device, has an absolute path or '..', breaks the name rule, unpacks
    too large, or collides with another entry once names are normalised is refused with a line in
    ``refused``; the other entries are unpacked (the class is still graded).
    """
    from nbgrader.plugins import FileNameCollectorPlugin

    collector = FileNameCollectorPlugin(named_regexp=named_regexp or lms_pattern(assignment or ".+?"))
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    unmatched, seen, total = [], {}, 0
    try:
        z = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise SystemExit(f"{archive} is not a readable zip archive ({exc}).") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_ENTRIES:
            raise SystemExit(f"{archive} holds {len(infos)} entries; the limit is {MAX_ENTRIES} (an archive bomb?).")
        for info in infos:
            where = f"entry {shown(info.filename)!r} of {archive.name}"
            parts = [p for p in info.filename.split("/") if p not in ("", ".")]
            if info.is_dir() or not parts or parts[-1].startswith(".") or "__MACOSX" in parts:
                continue
            why = _entry_problem(info)
            if why:
                refused.append(f"refused {where}: {why}.")
                continue
            if len(parts) >= 2:  # <student_id>/<file>, maybe under one top folder
                student, name = parts[-2], parts[-1]
            else:
                found = collector.collect(parts[-1])
                if not found:
                    unmatched.append(parts[-1])
                    continue
                student, name = found["student_id"], found["file_id"]
            why = name_problem(student)
            if why:
                refused.append(f"refused {where}: the student id {shown(student)!r} breaks the rule: {why}. "
                               f"The rule: {NAME_RULE}.")
                continue
            if "/" in name or "\\" in name or name_problem(name.removesuffix(".ipynb").removesuffix(".txt")):
                refused.append(f"refused {where}: the file name {shown(name)!r} breaks the rule. "
                               f"The rule: {NAME_RULE}.")
                continue
            key = (unicodedata.normalize("NFKC", student).casefold(), unicodedata.normalize("NFKC", name).casefold())
            if key in seen:
                refused.append(f"refused {where}: it names the same file as {shown(seen[key])!r} "
                               "(after Unicode and case normalisation).")
                continue
            seen[key] = info.filename
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise SystemExit(f"{archive} unpacks to more than {MAX_TOTAL_BYTES // 2**30} GB (an archive bomb?).")
            with z.open(info) as src:  # read at most the limit, whatever the header claims
                data = src.read(MAX_ENTRY_BYTES + 1)
            if len(data) > MAX_ENTRY_BYTES:
                refused.append(f"refused {where}: it unpacks to more than {MAX_ENTRY_BYTES // 2**20} MB.")
                continue
            folder = dest / student
            target = folder / name
            if target.resolve().parent != folder.resolve():  # belt and braces: the rule already forbids it
                refused.append(f"refused {where}: it would be written outside its student's folder.")
                continue
            folder.mkdir(exist_ok=True)
            target.write_bytes(data)
    if unmatched:
        refused.append(f"refused {len(unmatched)} file(s) of {archive.name} that match no student: "
                       f"{', '.join(map(shown, unmatched[:5]))}{' ...' if len(unmatched) > 5 else ''} "
                       "(expected names like <assignment>_<student_id>_attempt_<timestamp>_<notebook>.ipynb)")
    return dest
