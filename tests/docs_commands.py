"""The shell commands of README.md and docs/*.md, as the docs test runs them.

The convention (stated for writers in README's "Documentation commands are tested"):

- A fenced block in ``bash`` (or ``sh``, ``shell``) is a script: each line is one command (a line ending in
  ``\\`` continues on the next; blank and comment lines are skipped). A ``console`` block is a session:
  ``$ command`` lines are commands, the lines after one are output the command must print (in that order,
  other lines may come between; spacing is not compared).
- Every command must exit 0, unless the block is preceded by ``<!-- docs-test: exit N -->``.
- A block that must not run (``hack/up`` itself, the whole test suite, commands that need servers the
  embedded default does not have) is preceded by ``<!-- docs-test: skip (reason) -->``: visible in the
  Markdown source, and the reason is required.
- Output examples and other non-commands go in ``text`` (or yaml, json, ...) blocks, and those must not hold
  shell commands (``$ ...``, ``tmc ...``, ``kubectl ...``): a command hidden in a ``text`` block would escape
  the test.

A file's commands run in order in one shell, from the repository root, as a reader following the page would
(so an ``export`` holds for the rest of the page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})
MARKER = re.compile(r"^<!--\s*docs-test:\s*(?P<directive>.*?)\s*-->$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<info>[^`\s]*)")
# Lines in a non-shell block that are shell commands a reader would run.
LOOKS_LIKE_COMMAND = re.compile(r"^\s*(\$ |(tmc|kubectl|hack/|\.venv/bin/|curl|export|docker|cp)\b)")


def documented_files(repo: Path = REPO) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


@dataclass(frozen=True, slots=True)
class Command:
    text: str
    line: int  # 1-based line of the command in its file
    expected_exit: int
    expected_output: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int  # the opening fence's line
    language: str
    body: tuple[str, ...]
    directive: str | None  # the docs-test marker right before the block, if any

    @property
    def skip_reason(self) -> str | None:
        if self.directive is None or not self.directive.startswith("skip"):
            return None
        return self.directive.removeprefix("skip").strip().strip("()").strip()

    @property
    def expected_exit(self) -> int:
        match = re.fullmatch(r"exit (\d+)", self.directive or "")
        return int(match.group(1)) if match else 0

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    def commands(self) -> list[Command]:
        if self.language == "console":
            return self._session()
        commands: list[Command] = []
        pending: list[str] = []
        start = 0
        for offset, raw in enumerate(self.body, start=self.line + 1):
            if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
                continue
            if not pending:
                start = offset
            pending.append(raw)
            if not raw.rstrip().endswith("\\"):
                commands.append(Command("\n".join(pending), start, self.expected_exit))
                pending = []
        if pending:
            raise ValueError(f"{self.where}: the last command ends in a continuation")
        return commands

    def _session(self) -> list[Command]:
        commands: list[Command] = []
        current: list[str] = []
        output: list[str] = []
        start = 0
        continued = False
        for offset, raw in enumerate(self.body, start=self.line + 1):
            if continued:
                current.append(raw)
            elif raw.startswith("$ "):
                if current:
                    commands.append(Command("\n".join(current), start, self.expected_exit, tuple(output)))
                current, output, start = [raw[2:]], [], offset
            elif current:
                if raw.strip():
                    output.append(raw)
            else:
                raise ValueError(f"{self.where}: a console block starts with `$ command`, not {raw!r}")
            continued = raw.rstrip().endswith("\\")
        if current:
            commands.append(Command("\n".join(current), start, self.expected_exit, tuple(output)))
        return commands


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, with the docs-test marker that precedes it."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    last_text: str | None = None  # the last non-blank line outside blocks
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            if lines[index].strip():
                last_text = lines[index].strip()
            index += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            line = lines[end]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())  # a block in a list
            end += 1
        if end == len(lines):
            raise ValueError(f"{path.name}:{index + 1}: the block never closes")
        marker = MARKER.match(last_text or "")
        found.append(
            Block(
                path=path,
                line=index + 1,
                language=opening.group("info").lower(),
                body=tuple(body),
                directive=marker.group("directive") if marker else None,
            )
        )
        last_text = None
        index = end + 1
    return found


def problems(path: Path) -> list[str]:
    """What breaks the convention in one file (the unit test lists them all)."""
    found: list[str] = []
    markers = sum(bool(MARKER.match(line.strip())) for line in path.read_text().splitlines())
    file_blocks = blocks(path)
    if markers != sum(block.directive is not None for block in file_blocks):
        found.append(f"{path.name}: a docs-test marker is not right before a fenced block")
    for block in file_blocks:
        if not block.language:
            found.append(f"{block.where}: a fenced block without a language (bash, console, text, yaml, ...)")
        if block.directive is not None and block.language not in SHELL_LANGUAGES:
            found.append(f"{block.where}: a docs-test marker on a {block.language} block, which never runs")
        if block.directive is not None and block.skip_reason is None and block.expected_exit == 0:
            found.append(f"{block.where}: unknown docs-test marker {block.directive!r} (skip (reason) | exit N)")
        if block.directive is not None and block.directive.startswith("skip") and not block.skip_reason:
            found.append(f"{block.where}: `docs-test: skip` needs a reason: skip (why it cannot run)")
        if block.language in SHELL_LANGUAGES:
            try:
                block.commands()
            except ValueError as exc:
                found.append(str(exc))
        elif block.language in ("text", ""):
            for offset, line in enumerate(block.body, start=block.line + 1):
                if LOOKS_LIKE_COMMAND.match(line):
                    found.append(
                        f"{path.name}:{offset}: a shell command in a {block.language or 'plain'} block: use a bash"
                        " or console block (marked `<!-- docs-test: skip (reason) -->` if it must not run)"
                    )
                    break
    return found


def shows(output: str, expected: tuple[str, ...]) -> bool:
    """The expected lines appear in the output in this order (others may come between; spacing not compared)."""
    lines = iter(" ".join(line.split()) for line in output.splitlines())
    return all(any(" ".join(want.split()) == got for got in lines) for want in expected)


def runnable(repo: Path = REPO) -> dict[Path, list[Command]]:
    """Per file, the commands the docs test runs, in order."""
    return {
        path: [
            command
            for block in blocks(path)
            if block.language in SHELL_LANGUAGES and block.skip_reason is None
            for command in block.commands()
        ]
        for path in documented_files(repo)
        if any(block.language in SHELL_LANGUAGES for block in blocks(path))
    }


def script(commands: list[Command], results: Path, cwd: Path = REPO) -> str:
    """One shell for a page's commands, in order, each one's output and exit code kept in ``results``."""
    parts = [f"cd {cwd}"]
    for index, command in enumerate(commands):
        # A group, not a subshell: an `export` holds for the commands after it. The newline before `}` ends a
        # trailing comment.
        parts.append(f'{{ {command.text}\n}} >"{results}/{index}.out" 2>&1 </dev/null\necho $? >"{results}/{index}.rc"')
    return "\n".join(parts) + "\n"


def check(commands: list[Command], results: Path, page: str, *, timeout: float) -> tuple[int, list[str]]:
    """After ``script`` ran: how many commands finished, and what each wrong one did, to show in full."""
    failures: list[str] = []
    for index, command in enumerate(commands):
        where = f"{page}:{command.line}: {command.text}"
        rc_file, out_file = results / f"{index}.rc", results / f"{index}.out"
        output = out_file.read_text(errors="replace") if out_file.exists() else ""
        if not rc_file.exists():
            failures.append(f"{where}\n  did not finish within {timeout:.0f}s\n{output}")
            return index, failures
        code = int(rc_file.read_text())
        if code != command.expected_exit:
            failures.append(f"{where}\n  exit {code}, the docs expect {command.expected_exit}:\n{output}")
        elif not shows(output, command.expected_output):
            shown = "\n".join(command.expected_output)
            failures.append(f"{where}\n  output differs from the docs; shown:\n{shown}\n  printed:\n{output}")
    return len(commands), failures
