"""What a class hands in is hostile: names, archive entries, notebooks. Each rule is tried as an
attacker would; refused inputs get a line naming the file and the rule, the rest is still taken."""
from __future__ import annotations

import os
import stat
import zipfile

import nbformat
import pytest

from targetpractice.instructor.intake import (MAX_ENTRY_BYTES, NAME_RULE, check_notebook, collect, name_problem,
                                              shown, unpack_zip)

from conftest import add_zip_entry


@pytest.mark.parametrize("name", ["ada", "ada.lovelace", "a-1_b@uni.edu", "zoë", "Łukasz", "王小明", "Ἀθηνᾶ",
                                  "Дмитрий", "s1234567", "x+tag"])
def test_valid_names_stay_valid_unicode_included(name):
    assert name_problem(name) is None


@pytest.mark.parametrize("name, why", [
    ("", "0 characters"), ("a" * 65, "65 characters"), ("../eve", "does not start"), ("ada/../../x", "character '/'"),
    ("..", "does not start"), ("a..b", "'..'"), ("ada eve", "character ' '"), ("ada;rm -rf ~", "character ';'"),
    ("$(id)", "does not start"), ("ada\x1b[2J", "\\u001b"), ("ada\u202eevil", "\\u202e"), ("ada\u200b", "\\u200b"),
    ("аda", "mixes scripts"),                       # Cyrillic а, Latin da: looks like "ada"
    ("ａｄａ", "compatibility"), ("ﬁle", "compatibility"), ("e\u0301ve", "NFC"), ("ada\x00", "\\u0000"),
    (".hidden", "does not start"), ("ada\\eve", "character '\\\\'"),
])
def test_names_that_break_the_rule_say_why(name, why):
    problem = name_problem(name)
    assert problem and why in problem, problem


def test_shown_escapes_what_a_terminal_would_obey():
    assert shown("ada\x1b[31m\r\n") == "ada\\u001b[31m\\u000d\\u000a"
    assert shown("Zoë Ng") == "Zoë Ng"


def notebook_bytes(src="x = 1") -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src)])).encode()


def test_folders_with_bad_names_or_links_are_refused_and_the_rest_collected(tmp_path):
    subs, course = tmp_path / "class", tmp_path / "course"
    for sid in ("ada", "ben;rm -rf ~", "аda", "zoë"):
        (subs / sid).mkdir(parents=True)
        (subs / sid / "a.ipynb").write_bytes(notebook_bytes())
    secret = tmp_path / "secret.ipynb"
    secret.write_bytes(notebook_bytes("solution = 42"))
    (subs / "cy").mkdir()
    os.symlink(secret, subs / "cy" / "a.ipynb")          # a notebook that is a link to someone else's file
    os.symlink(subs / "ada", subs / "dee")               # a student folder that is a link
    refused = []
    rows = {s.id: s for s in collect("a1", subs, course, ["a.ipynb"], refused)}
    assert set(rows) == {"ada", "zoë", "cy"}
    assert any("ben;rm -rf ~" in r and "character ';'" in r and NAME_RULE in r for r in refused)
    assert any("mixes scripts" in r for r in refused) and any("'dee'" in r and "link" in r for r in refused)
    assert rows["cy"].notes == ["a.ipynb is not a regular file (a link or a device): 0 for that notebook"]
    assert sorted(p.parent.parent.name for p in (course / "grader" / "submitted").glob("*/a1/a.ipynb")) == ["ada", "zoë"]


def test_archive_entries_unpack_only_inside_their_folder(tmp_path):
    good = notebook_bytes()
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        add_zip_entry(z, "ada/a.ipynb", good)
        add_zip_entry(z, "a1_zoë_attempt_2026-11-20_a.ipynb", good)                     # LMS flat name, Unicode id
        add_zip_entry(z, "/etc/cron.d/evil", b"* * * * * root id")                       # absolute
        add_zip_entry(z, "ben/../../../escape.ipynb", good)                              # climbs out
        add_zip_entry(z, "cy/a.ipynb", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)         # a link
        add_zip_entry(z, "dee/a.ipynb", b"", mode=stat.S_IFCHR | 0o644)                  # a device
        add_zip_entry(z, "ADA/A.IPYNB", good)                                            # ada/a.ipynb again, other case
        add_zip_entry(z, "eve;reboot/a.ipynb", good)                                     # shell metacharacters
        add_zip_entry(z, "fay/a.ipynb", b"0" * (MAX_ENTRY_BYTES // 2), compress=zipfile.ZIP_DEFLATED)  # a small bomb
        add_zip_entry(z, "C:/Windows/a.ipynb", good)
        add_zip_entry(z, "a1_mallory_attempt_2026-11-20_x_victim_attempt_2099-01-01_a.ipynb", good)  # claims victim's id
    refused = []
    dest = unpack_zip(archive, tmp_path / "out", refused, "a1")
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["ada/a.ipynb", "mallory/x_victim_attempt_2099-01-01_a.ipynb", "zoë/a.ipynb"]
    text = "\n".join(refused)
    for fragment in ("'/etc/cron.d/evil'", "absolute", "'..'", "symbolic link", "device", "same file as 'ada/a.ipynb'",
                     "character ';'", "compressed", "'C:/Windows/a.ipynb'"):
        assert fragment in text, fragment
    assert not (tmp_path / "escape.ipynb").exists() and not list(tmp_path.glob("**/evil"))


def test_archive_bombs_stop_with_a_clear_message(tmp_path):
    many = tmp_path / "many.zip"
    with zipfile.ZipFile(many, "w") as z:
        for k in range(5001):
            add_zip_entry(z, f"s{k}/a.ipynb", b"{}")
    with pytest.raises(SystemExit, match="5001 entries"):
        unpack_zip(many, tmp_path / "out", [])
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SystemExit, match="not a readable zip"):
        unpack_zip(tmp_path / "bad.zip", tmp_path / "out2", [])


def test_oversized_notebooks_are_refused_before_they_are_read(tmp_path):
    big = tmp_path / "big.ipynb"
    big.write_bytes(b" " * (MAX_ENTRY_BYTES + 10))
    assert "larger than" in check_notebook(big)


def test_a_notebook_that_crashes_the_json_parser_is_refused_not_fatal(tmp_path):
    deep = tmp_path / "deep.ipynb"
    deep.write_text("[" * 100_000)
    assert "not" in check_notebook(deep)
