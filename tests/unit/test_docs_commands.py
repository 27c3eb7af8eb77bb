"""The docs' shell blocks follow the docs test's convention (``tests.docs_commands``), checked without servers.

The e2e docs test (``tests/e2e/test_up.py``) runs the commands; this one catches, in a second, a block it
would silently miss: a command in a ``text`` block, a marker that marks nothing, a skip without a reason.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.docs_commands import Command, blocks, check, documented_files, problems, runnable, script, shows


@pytest.mark.parametrize("path", documented_files(), ids=lambda p: p.name)
def test_the_docs_follow_the_docs_test_convention(path: Path) -> None:
    assert problems(path) == []


def test_the_readme_has_commands_the_docs_test_runs() -> None:
    readme = documented_files()[0]
    commands = runnable()[readme]
    assert any(c.text.startswith("tmc get clusters") for c in commands)
    assert any(c.expected_exit == 1 for c in commands), "the one-line error example runs too"


def test_skipped_blocks_say_why() -> None:
    skipped = [b for p in documented_files() for b in blocks(p) if b.skip_reason is not None]
    assert skipped, "hack/up and hack/test are documented and must not run inside the docs test"
    assert all(len(b.skip_reason or "") > 10 for b in skipped)


SAMPLE = """\
# A page

```bash
export A=1   # a comment
# a comment line

kubectl get \\
  pods
```

<!-- docs-test: exit 1 -->

```console
$ tmc get nothing
error: one line
$ tmc get other
```

<!-- docs-test: skip (needs a real cluster) -->
```bash
kubectl apply -k somewhere
```

```text
NAME   READY
```
"""


def test_blocks_split_into_commands_with_their_expected_exit_and_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(SAMPLE)
    found = blocks(page)
    assert [(b.language, b.directive) for b in found] == [
        ("bash", None),
        ("console", "exit 1"),
        ("bash", "skip (needs a real cluster)"),
        ("text", None),
    ]
    assert found[0].commands() == [Command("export A=1   # a comment", 4, 0), Command("kubectl get \\\n  pods", 7, 0)]
    assert found[1].commands() == [
        Command("tmc get nothing", 14, 1, ("error: one line",)),
        Command("tmc get other", 16, 1, ()),
    ]
    assert found[2].skip_reason == "needs a real cluster"
    assert problems(page) == []


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("```text\n$ tmc get clusters\n```\n", "a shell command in a text block", id="command in text"),
        pytest.param("```text\nkubectl apply -k x\n```\n", "a shell command in a text block", id="kubectl in text"),
        pytest.param("```\nls\n```\n", "without a language", id="no language"),
        pytest.param("<!-- docs-test: skip -->\n```bash\nls\n```\n", "needs a reason", id="skip without reason"),
        pytest.param("<!-- docs-test: skip (x) -->\n\nprose\n\n```bash\nls\n```\n", "not right before", id="stray"),
        pytest.param("<!-- docs-test: skip (why) -->\n```yaml\na: 1\n```\n", "never runs", id="marker on yaml"),
        pytest.param("<!-- docs-test: maybe -->\n```bash\nls\n```\n", "unknown docs-test marker", id="unknown"),
        pytest.param("```console\nNAME\n```\n", "starts with `$ command`", id="console without prompt"),
        pytest.param("```bash\nls \\\n```\n", "continuation", id="dangling continuation"),
    ],
)
def test_what_the_convention_refuses(tmp_path: Path, text: str, problem: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(text)
    assert any(problem in found for found in problems(page)), problems(page)


@pytest.mark.parametrize(
    ("output", "expected", "result"),
    [
        pytest.param("A   B\nx\nC  D\n", ("A B", "C D"), True, id="in order, others between, spacing free"),
        pytest.param("C D\nA B\n", ("A B", "C D"), False, id="out of order"),
        pytest.param("A B\n", ("A B", "A B"), False, id="each line once"),
        pytest.param("A B C\n", ("A B",), False, id="whole lines, not parts"),
        pytest.param("anything\n", (), True, id="nothing shown"),
    ],
)
def test_shown_output_must_appear_in_order(output: str, expected: tuple[str, ...], result: bool) -> None:
    assert shows(output, expected) is result


def test_a_pages_commands_run_in_one_shell_and_each_is_judged(tmp_path: Path) -> None:
    commands = [
        Command("export GREETING=hello   # holds for the commands after it", 1, 0),
        Command('test "$GREETING" = hello && echo "$GREETING  world"', 2, 0, ("hello world",)),
        Command("false", 3, 0),
        Command("exit_three() { return 3; }; exit_three", 4, 3),
        Command("echo no", 5, 0, ("yes",)),
        Command("echo continued \\\n  line", 6, 0, ("continued line",)),
    ]
    results = tmp_path / "results"
    results.mkdir()
    subprocess.run(["bash", "-c", script(commands, results, cwd=tmp_path)], check=False, timeout=30)
    ran, failures = check(commands, results, "page.md", timeout=30)
    assert ran == len(commands)
    assert [failure.splitlines()[0] for failure in failures] == ["page.md:3: false", "page.md:5: echo no"]
    assert "exit 1, the docs expect 0" in failures[0]
    assert "output differs from the docs" in failures[1]


def test_a_command_that_never_finishes_is_named(tmp_path: Path) -> None:
    commands = [Command("true", 1, 0), Command("sleep 30", 2, 0), Command("true", 3, 0)]
    results = tmp_path / "results"
    results.mkdir()
    shell = subprocess.Popen(["bash", "-c", script(commands, results, cwd=tmp_path)], start_new_session=True)
    with pytest.raises(subprocess.TimeoutExpired):
        shell.wait(timeout=1)
    os.killpg(shell.pid, signal.SIGKILL)  # the shell and its sleep
    shell.wait()
    ran, failures = check(commands, results, "page.md", timeout=1)
    assert ran == 1
    assert [failure.splitlines()[:2] for failure in failures] == [["page.md:2: sleep 30", "  did not finish within 1s"]]
