"""Commands the docs print run as printed after README's install (issue 7).

README installs with ``python3 -m venv .venv && .venv/bin/pip install -e .`` and
activates nothing, so a bare ``sild`` is "command not found". A static check of the
shell code blocks of README.md and docs/guide.md: every ``sild`` invocation is the
path that install creates (``.venv/bin/sild``), unless the block sequence activated
the venv first, and its arguments parse with the real parser (no stale options).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sild.cli import build_parser
from sild.cli._common import sild_command

ROOT = Path(__file__).parents[3]
DOCS = ["README.md", "docs/guide.md"]
INSTALLED = ".venv/bin/sild"  # what README's install command creates, relative to its folder
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_ACTIVATE = re.compile(r"^(\.|source) \.venv/bin/activate\b")
_OPERATORS = {"&&", "||", "|", ";", "&"}


def _shell_lines(doc: str) -> list[str]:
    """Logical lines of the ```bash blocks (backslash continuations joined)."""
    lines: list[str] = []
    for lang, body in _FENCE.findall(doc):
        if lang not in ("bash", "sh", "shell", "console"):
            continue
        lines.extend(line for line in body.replace("\\\n", " ").splitlines() if line.strip())
    return lines


def _invocations(line: str) -> list[list[str]]:
    """The simple commands of one shell line, as word lists (comments dropped)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word in _OPERATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [_without_redirections(c) for c in commands if c]


def _without_redirections(words: list[str]) -> list[str]:
    """Drop shell redirections (``> file``, ``2>/dev/null``, ``< in``): not arguments."""
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if re.fullmatch(r"\d?[<>]{1,2}", word):
            skip = True  # the operator alone: the next word is its file
            continue
        if re.fullmatch(r"\d?[<>]{1,2}\S+", word):
            continue  # operator and file in one word
        out.append(word)
    return out


def _sild_calls(doc: str) -> list[tuple[str, list[str]]]:
    """(line, words) of every sild call in the doc's shell blocks, before any activation."""
    calls = []
    for line in _shell_lines(doc):
        if _ACTIVATE.match(line.strip()):
            break  # from here on a bare `sild` is on PATH
        for words in _invocations(line):
            while words and re.fullmatch(r"\w+=\S*", words[0]):  # VAR=value prefixes
                words = words[1:]
            if words and (words[0] == "sild" or words[0].endswith("/sild")):
                calls.append((line, words))
    return calls


@pytest.mark.parametrize("name", DOCS)
def test_every_sild_in_shell_blocks_is_the_installed_path(name: str) -> None:
    """Each sild call in a shell block is `.venv/bin/sild` (no venv activation assumed)."""
    calls = _sild_calls((ROOT / name).read_text())
    assert calls, f"{name}: no sild call found; is the extraction broken?"
    wrong = [line for line, words in calls if words[0] != INSTALLED]
    assert not wrong, wrong


@pytest.mark.parametrize("name", DOCS)
def test_every_sild_in_shell_blocks_parses(name: str) -> None:
    """Each sild call's arguments are accepted by the real parser (options exist)."""
    parser = build_parser()
    for line, words in _sild_calls((ROOT / name).read_text()):
        try:
            parser.parse_args(words[1:])
        except SystemExit as e:
            pytest.fail(f"{name}: {line!r} does not parse (exit {e.code})")


def test_extraction_sees_pipelines_continuations_and_comments() -> None:
    """The extractor finds sild after &&, | and a continuation, and not in a comment."""
    doc = ("```bash\ncurl -s x -o g.json && .venv/bin/sild conf verify \\\n  --anchor a g.json\n"
           "echo hi | sild verify r  # sild init not-a-call\n```\n")
    calls = _sild_calls(doc)
    assert [w[:3] for _, w in calls] == [[".venv/bin/sild", "conf", "verify"],
                                         ["sild", "verify", "r"]]


def test_activation_allows_a_bare_sild_afterwards() -> None:
    """After `. .venv/bin/activate` in a shell block, later bare sild calls are not checked."""
    doc = "```bash\n. .venv/bin/activate\nsild --version\n```\n"
    assert _sild_calls(doc) == []


def test_the_install_command_is_what_the_docs_assume() -> None:
    """README's first shell line is the install the rest of the docs rely on."""
    first = _shell_lines((ROOT / "README.md").read_text())[0]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -e . && ")


@pytest.mark.parametrize(("argv0", "cwd", "expected"), [
    (".venv/bin/sild", "/home/u/sild", ".venv/bin/sild"),
    ("/home/u/sild/.venv/bin/sild", "/home/u/sild", ".venv/bin/sild"),
    ("/home/u/sild/.venv/bin/sild", "/tmp/elsewhere", "/home/u/sild/.venv/bin/sild"),
    ("/home/u/sild/.venv/bin/sild", "/home/u/sild/.venv/bin", "./sild"),
    ("/home/u/my sild/.venv/bin/sild", "/tmp", "'/home/u/my sild/.venv/bin/sild'"),
])
def test_sild_is_named_by_the_path_it_was_started_with(
        argv0: str, cwd: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Printed commands name the console script relative to cwd when under it, else absolute."""
    monkeypatch.setattr("os.path.isfile", lambda p: str(p).endswith("/bin/sild"))
    assert sild_command(argv0=argv0, executable="/usr/bin/python3", cwd=cwd) == expected


def test_python_m_falls_back_to_the_script_next_to_the_interpreter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Started as `python -m sild.cli`: the venv's console script, else `PYTHON -m sild.cli`."""
    monkeypatch.setattr("os.path.isfile", lambda p: str(p) == "/w/.venv/bin/sild")
    assert sild_command(argv0="/w/src/sild/cli/__main__.py", executable="/w/.venv/bin/python",
                        cwd="/w") == ".venv/bin/sild"
    assert sild_command(argv0="/w/src/sild/cli/__main__.py", executable="/usr/bin/python3",
                        cwd="/w") == "/usr/bin/python3 -m sild.cli"
