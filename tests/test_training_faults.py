"""Training faults: a run killed at a random moment resumes to the uninterrupted result.

Real processes and real signals: SIGINT (Ctrl-C: the run saves a checkpoint on the way
out) and SIGKILL (nothing is saved on the way out: the run continues from its last
periodic checkpoint).  Either way the resumed run must end with exactly the parameters
and loss history of a run that was never interrupted.  And a crash in the middle of
writing a checkpoint must leave the previous checkpoint readable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import refnet
from refnet.checkpoints import load_checkpoint

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
]

ROOT = Path(refnet.__file__).resolve().parent.parent
#: ``python -m refnet`` with Ctrl-C restored to Python's default handler: a shell running the
#: tests in the background starts children with SIGINT ignored.  (Done in the child, not by
#: a preexec_fn: that makes subprocess fork, which JAX, imported by other tests, warns about.)
CHILD = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('refnet', run_name='__main__', alter_sys=True)"
)
# Tiny but real: numerical gradients (the default method), checkpoints every 20 iterations.
RUN = ["--hidden-size", "5", "--batch-size", "10", "--eval-every", "20", "--quiet"]


def _env(tmp_path):
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REFNET_DATA": str(tmp_path / "no-data"),
        "HOME": str(tmp_path / "home"),
    }


def _refnet(tmp_path, *args, **popen):
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, "train", *map(str, args)],
        env=_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _finish(tmp_path, *args):
    child = _refnet(tmp_path, *args)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    return out


def _params(folder):
    with np.load(Path(folder) / "params.npz") as data:
        return {k: data[k].copy() for k in data.files}


def _losses(folder):
    return json.loads((Path(folder) / "metrics.json").read_text())["history"]["loss"]


@pytest.mark.parametrize(
    "sig, seed",
    [(signal.SIGINT, 0), (signal.SIGKILL, 1), (signal.SIGKILL, 2)],
    ids=["SIGINT", "SIGKILL-a", "SIGKILL-b"],
)
def test_a_run_killed_at_a_random_moment_resumes_to_the_uninterrupted_result(tmp_path, sig, seed):
    # The killed run asks for far more iterations than it will live to do; the kill lands
    # a random time (seeded, so a failure can be replayed) after its first checkpoint.
    delay = float(np.random.default_rng(seed).uniform(0.0, 1.5))
    killed = tmp_path / "killed"
    child = _refnet(tmp_path, *RUN, "--seed", seed, "--iterations", 10**8, "--out", killed)
    checkpoint = killed / "checkpoint.npz"
    try:
        deadline = time.monotonic() + 120
        while not checkpoint.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        time.sleep(delay)
        child.send_signal(sig)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if sig == signal.SIGINT:
        assert child.returncode == 130, err
    else:
        assert child.returncode == -signal.SIGKILL
    stopped = load_checkpoint(checkpoint).iteration
    assert stopped >= 20
    end = stopped + 17  # not a multiple of the checkpoint period: a partial stretch too
    _finish(tmp_path, "--resume", killed, "--iterations", end)
    reference = tmp_path / "reference"
    _finish(tmp_path, *RUN, "--seed", seed, "--iterations", end, "--out", reference)
    ours, theirs = _params(killed), _params(reference)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert ours[key].tobytes() == theirs[key].tobytes(), f"{key} differs after resume"
    assert _losses(killed) == _losses(reference)


def test_a_crash_while_writing_a_checkpoint_leaves_the_previous_one_readable(tmp_path):
    """A process that dies (SIGKILL, no clean-up) halfway through writing a checkpoint."""
    folder = tmp_path / "run"
    _finish(tmp_path, *RUN, "--iterations", 40, "--out", folder)
    checkpoint = folder / "checkpoint.npz"
    before = checkpoint.read_bytes()
    script = textwrap.dedent(
        f"""
        import os, signal
        import refnet.checkpoints as checkpoints
        from refnet._io import write_atomically
        from refnet.checkpoints import load_checkpoint, save_checkpoint

        saved = load_checkpoint({str(checkpoint)!r})

        def half_then_die(path, write):
            def dying(f):
                f.write(b"PK\\x03\\x04 half of a zip file")
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            write_atomically(path, dying)

        checkpoints.write_atomically = half_then_die
        save_checkpoint({str(checkpoint)!r}, saved)
        """
    )
    crash = subprocess.run(
        [sys.executable, "-c", script], env=_env(tmp_path), capture_output=True, timeout=120
    )
    assert crash.returncode == -signal.SIGKILL, crash.stderr
    assert checkpoint.read_bytes() == before, (
        "the checkpoint was changed by a write that never finished"
    )
    assert load_checkpoint(checkpoint).iteration == 40
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".part")]
    assert leftovers, (
        "the crash should have left its temporary file behind (it died before clean-up)"
    )
    # The run still resumes from the intact checkpoint, stray temporary file and all.
    _finish(tmp_path, "--resume", folder, "--iterations", 45)
    assert len(_losses(folder)) == 45
