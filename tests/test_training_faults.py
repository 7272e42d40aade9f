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


# --------------------------------------------------------------------------- Ctrl-C anywhere

#: Interrupted runs: at least 200 (issue 16), spread evenly over the run's Python lines.
INTERRUPTS = 240


def _tiny_problem():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(24, 4))
    t = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0).astype(np.int64)  # 3 classes
    return (x[:16], t[:16]), (x[16:], t[16:])


def _train_tiny(checkpoint, resume=None):
    """A real run of refnet.training.train: numerical gradients, a checkpoint every iteration."""
    from refnet.training import train

    rng = np.random.default_rng(11)
    net = refnet.TwoLayerNet(4, 3, 3, weight_init_std=0.5, rng=rng)
    train_data, test_data = _tiny_problem()
    history = train(
        net,
        train_data,
        test_data,
        iterations=6,
        batch_size=4,
        lr=0.5,
        rng=rng,
        eval_every=3,
        checkpoint_path=checkpoint,
        checkpoint_every=1,
        resume=resume,
    )
    return net.params, history.loss


class _SigintAtLine:
    """A trace function that sends this process a real SIGINT at its ``when``-th line event.

    With ``when=None`` it only counts the line events (and those inside a checkpoint write).
    ``signal.raise_signal`` delivers the signal at once, so Python's SIGINT handler (or the
    one the write holds it with) runs at exactly that line.
    """

    def __init__(self, when=None):
        self.when, self.count, self.in_write, self.sent_in_write = when, 0, 0, None
        self._writing = 0  # depth of write_atomically frames on the stack

    def __call__(self, frame, event, arg):
        if event == "line":
            self.count += 1
            self.in_write += self._writing > 0
            if self.count == self.when:
                self.sent_in_write = self._writing > 0
                sys.settrace(None)
                signal.raise_signal(signal.SIGINT)
        elif frame.f_code.co_name == "write_atomically":
            self._writing += {"call": 1, "return": -1}.get(event, 0)
        return self


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_at_any_of_hundreds_of_instants_then_resume_gives_the_uninterrupted_run(tmp_path):
    """SIGINT at 240 instants spread over a run (a quarter of them inside checkpoint writes):
    every run either stops with a complete checkpoint (TrainingInterrupted) or before it
    started, and resuming (or restarting) ends with the uninterrupted run's bits."""
    from refnet.training import TrainingInterrupted

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        expected_params, expected_loss = _train_tiny(tmp_path / "reference.npz")
        counter = _SigintAtLine()
        sys.settrace(counter)
        try:
            _train_tiny(tmp_path / "counted.npz")
        finally:
            sys.settrace(None)
        assert counter.in_write > 0.1 * counter.count  # the writes are a real share of the run
        outcomes = {"interrupted": 0, "before training": 0, "inside a write": 0}
        # The last few lines (returning the history) may differ between runs: stop short.
        last = int(0.98 * counter.count)
        for k, when in enumerate(np.linspace(1, last, INTERRUPTS).round().astype(int)):
            checkpoint = tmp_path / f"run{k}.npz"
            sigint = _SigintAtLine(int(when))
            sys.settrace(sigint)
            try:
                _train_tiny(checkpoint)
                raise AssertionError(f"line {when}: the run finished despite the SIGINT")
            except TrainingInterrupted:
                outcomes["interrupted"] += 1
                resume = checkpoint
            except KeyboardInterrupt:  # before train() had a run to save: start again
                assert not checkpoint.exists(), f"line {when}: a checkpoint but no clean stop"
                outcomes["before training"] += 1
                resume = None
            finally:
                sys.settrace(None)
            assert sigint.sent_in_write is not None
            outcomes["inside a write"] += sigint.sent_in_write
            params, loss = _train_tiny(checkpoint, resume=resume)
            assert loss == expected_loss, f"line {when}: another loss history"
            for name in expected_params:
                assert params[name].tobytes() == expected_params[name].tobytes(), (
                    f"line {when}: {name} differs after resuming"
                )
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"{INTERRUPTS} interrupts: {outcomes}")
    assert outcomes["interrupted"] + outcomes["before training"] == INTERRUPTS
    assert outcomes["inside a write"] >= 0.1 * INTERRUPTS
