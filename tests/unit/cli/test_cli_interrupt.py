"""Ctrl-C ends a command even when its parent started it with SIGINT ignored (a background job of a script)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

# A command that waits forever, run the way every ``tmc`` command runs its coroutine; "ready" says the event
# loop (and its SIGINT handler) is up, so the signal cannot arrive during interpreter start-up.
_WAITS_FOREVER = textwrap.dedent(
    """
    import asyncio, sys
    import typer
    from tmc.cli.common import run

    async def wait_forever() -> None:
        print("ready", flush=True)
        await asyncio.Event().wait()

    try:
        run(wait_forever())
    except typer.Exit as exit:  # what typer does with it around a command
        sys.exit(exit.exit_code)
    """
)


def _start(*, sigint: signal.Handlers) -> subprocess.Popen[str]:
    def with_sigint_disposition() -> None:
        signal.signal(signal.SIGINT, sigint)

    process = subprocess.Popen(
        [sys.executable, "-c", _WAITS_FOREVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=with_sigint_disposition,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.mark.parametrize("sigint", [signal.SIG_DFL, signal.SIG_IGN], ids=["default", "inherited-ignored"])
def test_sigint_exits_130(sigint: signal.Handlers) -> None:
    process = _start(sigint=sigint)
    try:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
