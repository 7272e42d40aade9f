"""The command lines never show a traceback: bad input, unusable paths and Ctrl-C, everywhere.

The contract (refnet/_command_line.py): a usage error is one line on stderr and exit code 2;
a problem met while running, one line and exit code 1; Ctrl-C, one line and exit code 130;
never a traceback.  The bad inputs are generated from the parsers themselves, by walking
argparse's actions of ``refnet``'s every subcommand and of ``python -m refnet.conformance``:
each option gets the bad values its type calls for (wrong type, out of range, unknown
choice, missing value, unwritable paths, existing paths where a new one is needed), so an
option added tomorrow is tried tomorrow, and an option of a kind this file does not know
fails :func:`test_every_option_is_of_a_kind_this_file_can_try`.  What only running can
find out (a dataset missing, a checkpoint of another run) is a table of its own.

Ctrl-C is tried in-process at every stage of each command (KeyboardInterrupt raised where a
SIGINT would land) and with real signals to real processes: while scikit-learn,
SciPy or matplotlib is still being imported, once training has started, while the
conformance worker runs, and while a class is graded.  Each test prints how many inputs
or interrupts it tried.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import refnet
from refnet import TwoLayerNet, cli
from refnet import _command_line as command_line
from refnet.commands import check as check_command
from refnet.commands import figures as figures_command
from refnet.commands import train as train_command
from refnet.commands import train_outputs
from refnet.conformance import batch_cli
from refnet.conformance import cli as conformance_cli

ROOT = Path(refnet.__file__).resolve().parent.parent
TINY = ["--hidden-size", "2", "--batch-size", "5", "--gradient", "backprop"]
LINUX = Path("/proc/self/maps").exists()


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Commands run in tmp_path, with no default data location in the real home."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REFNET_DATA", str(tmp_path / "no-data-here"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


# --------------------------------------------------------------------------- what a result must be


#: What a command prints on stderr as it goes, which is not error output: the batch's
#: plan and its one line per graded submission (batch_cli.py).
PROGRESS = ("grading ", "[")


def problems(code: int, out: str, err: str, expected: int, fragment: str = "") -> list[str]:
    """What is wrong with a command's result, given the exit code it should have."""
    found = []
    if "Traceback" in out + err or "Exception ignored" in err:
        found.append("a traceback")
    if code != expected:
        found.append(f"exit code {code}, expected {expected}")
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(PROGRESS)]
    if expected != 0 and len(lines) != 1:
        found.append(f"{len(lines)} lines of error output, expected 1")
    if fragment and fragment not in err:
        found.append(f"the message does not say {fragment!r}")
    return found


def report(failures: list[str]) -> str:
    return f"{len(failures)} failing:\n" + "\n".join(failures[:40])


def announce(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n{text}", end=" ")


# --------------------------------------------------------------------------- the parsers, walked


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every parser a user reaches: ``refnet``'s subcommands and ``python -m refnet.conformance``."""
    top = cli.build_parser()
    (subparsers,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    parsers = {f"refnet {name}": parser for name, parser in subparsers.choices.items()}
    parsers["python -m refnet.conformance"] = conformance_cli.build_parser()
    return parsers


def invoke(prog: str, argv: list[str]) -> int:
    """Run ``prog ARGV`` in-process, through the command's own main."""
    if prog == "python -m refnet.conformance":
        return conformance_cli.main(argv)
    return cli.main([*prog.split()[1:], *argv])


def options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        yield action


def flag_of(action: argparse.Action) -> str:
    return max(action.option_strings, key=len) if action.option_strings else action.dest


class Places:
    """Paths a command cannot use, made once per test."""

    def __init__(self, root: Path):
        self.file = root / "a-file.txt"
        self.file.write_text("an existing file\n")
        self.folder = root / "a-folder"
        self.folder.mkdir()
        self.read_only = read_only_folder(root)

    def unwritable(self) -> list[tuple[str, str]]:
        places = [("/proc", "/proc/x")] if LINUX else []
        places.append(("a path under a file", f"{self.file}/x"))
        if self.read_only is not None:
            places.append(("a read-only folder", f"{self.read_only}/x"))
        return places


def read_only_folder(root: Path) -> Path | None:
    """A folder in which nothing can be made, whoever runs the tests (root ignores modes)."""
    candidate = root / "read-only"
    candidate.mkdir()
    candidate.chmod(0o555)
    for folder in (candidate, Path("/proc/sys"), Path("/sys/kernel")):
        try:
            (folder / "probe").mkdir()
        except OSError:
            return folder
        (folder / "probe").rmdir()
    return None


#: Options whose values are text checked only when the command runs: what to try, with the
#: options that make the command reach the check.  ``{batch}`` is a class folder of one
#: submission.  Keyed by (parser, dest); an option of free text not listed here fails
#: test_every_option_is_of_a_kind_this_file_can_try.
FREE_TEXT = {
    ("conformance", "target"): [(["no_such_file.py"], 2, "no such file")],
    ("conformance", "map"): [(["--map", "softmax", "refnet"], 2, "expected NAME=MODULE")],
    ("conformance", "select"): [(["--batch", "{batch}", "-k", "zzz"], 2, "selects no check")],
}


def bad_inputs(action: argparse.Action, places: Places) -> list[tuple[str, list[str]]]:
    """(what is wrong, argv) for every bad input this option's kind calls for; all exit 2."""
    flag = flag_of(action)
    if not action.option_strings:
        return []  # a positional: FREE_TEXT
    if action.nargs == 0:
        return [("a value given to a flag", [f"{flag}=x"])]
    cases = [("a missing value", [flag])]
    kind = action.type

    def value(what, text):
        cases.append((what, [f"{flag}={text}"]))

    if action.choices is not None:
        value("an unknown choice", "no-such-choice")
    elif isinstance(kind, command_line.Integer):
        value("not a number", "x")
        value("not an integer", "1.5")
        value("empty", "")
        if kind.minimum is not None:
            value("below the minimum", kind.minimum - 1)
    elif isinstance(kind, command_line.Real):
        for text in ("x", "nan", "inf", "-inf", ""):
            value("not a finite number", text)
        if kind.low is not None:
            value("below the range", kind.low if kind.open_low else kind.low - 1)
        if kind.high is not None:
            value("above the range", kind.high if kind.open_high else kind.high + 1)
    elif isinstance(kind, batch_cli.Size):
        for text in ("12Q", "0", "-1M", "1 TB", ""):
            value("not a size above 0", text)
        value("above the maximum", 2 * kind.maximum)
    elif isinstance(kind, batch_cli.SchedulerAddress):
        for text in ("bogus", "tcp://host", "tcp://host:port", ""):
            value("not a scheduler address", text)
    elif isinstance(kind, command_line.PathType):
        value("an empty path", "")
        if kind.kind in ("output folder", "output file"):
            for what, path in places.unwritable():
                value(f"unwritable: {what}", path)
        if kind.kind in ("output folder", "folder"):
            value("an existing file where a folder is needed", places.file)
            value("a path under a file", f"{places.file}/x")
        if kind.kind == "output file":
            value("an existing folder where a file is needed", places.folder)
        if kind.kind.startswith("input"):
            value("a path that does not exist", places.folder / "nowhere")
        if kind.kind == "input file":
            value("a folder where a file is needed", places.folder)
        if kind.kind == "input folder":
            value("a file where a folder is needed", places.file)
    return cases


def kind_is_known(parser_name: str, action: argparse.Action) -> bool:
    if action.nargs == 0 or action.choices is not None:
        return True
    known = (
        command_line.Integer,
        command_line.Real,
        command_line.PathType,
        batch_cli.Size,
        batch_cli.SchedulerAddress,
    )
    return isinstance(action.type, known) or (parser_name, action.dest) in FREE_TEXT


def short_name(prog: str) -> str:
    return prog.split()[-1].rpartition(".")[2]


def test_every_option_is_of_a_kind_this_file_can_try():
    unknown = [
        f"{prog} {flag_of(action)}"
        for prog, parser in subcommand_parsers().items()
        for action in options(parser)
        if not kind_is_known(short_name(prog), action)
    ]
    assert not unknown, (
        "options whose bad values this test cannot make up: give them a type of "
        f"refnet/_command_line.py (Integer, Real, a path), or list them in FREE_TEXT: {unknown}"
    )


def test_every_bad_input_to_every_option_is_one_line_and_exit_code_2(capsys, tmp_path, monkeypatch):
    """Generated from the parsers; each run stops at parsing, so the commands are replaced
    by a marker that says a bad value got through."""
    accepted = []

    def got_through(args):
        accepted.append(args)
        return 99

    for module in (train_command, check_command, figures_command):
        monkeypatch.setattr(module, "run", got_through)
    monkeypatch.setattr(conformance_cli, "run", got_through)
    places = Places(tmp_path)
    failures, tried = [], 0
    for prog, parser in subcommand_parsers().items():
        cases = [("an unknown option", ["--no-such-option"])]
        cases += [case for action in options(parser) for case in bad_inputs(action, places)]
        for what, argv in cases:
            tried += 1
            code = invoke(prog, argv)
            out, err = capsys.readouterr()
            flag = argv[0].split("=")[0]
            found = problems(code, out, err, 2, flag)
            if err and not err.startswith(f"{prog}: error: "):
                found.append("the line does not start with the command's name")
            if found:
                failures.append(f"{prog} {' '.join(argv)} ({what}): {', '.join(found)}\n  {err}")
    assert not failures, report(failures)
    assert tried >= 150, tried
    announce(capsys, f"[{tried} bad inputs from the parsers, 0 tracebacks]")


# --------------------------------------------------------------------------- found only by running


def write_mnist_like(folder: Path, contents: bytes) -> None:
    folder.mkdir()
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / stem).write_bytes(contents)
    for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder / stem).write_bytes(contents)


def test_problems_found_while_running_are_one_line_with_the_right_code(capsys, tmp_path):
    places = Places(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    run_folder = tmp_path / "run"
    assert cli.main(["train", *TINY, "--iterations", "3", "--out", str(run_folder)]) == 0
    (tmp_path / "garbage").mkdir()
    write_mnist_like(tmp_path / "garbage" / "mnist", b"not an IDX file")
    batch = tmp_path / "class"
    batch.mkdir()
    (batch / "ada.py").write_text("def softmax(x):\n    return x\n")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("this is = = not TOML\n")
    capsys.readouterr()
    fill = {
        "{empty}": str(empty),
        "{run}": str(run_folder),
        "{file}": str(places.file),
        "{batch}": str(batch),
        "{toml}": str(bad_toml),
        "{garbage}": str(tmp_path / "garbage" / "mnist"),
    }
    cases = [
        ([], 2, "the following arguments are required: COMMAND"),
        (["bogus"], 2, "invalid choice"),
        (["train", "--dataset", "mnist", "--data-dir", "{empty}", *TINY], 1, "add --download"),
        (["train", "--dataset", "mnist", *TINY], 1, "the default folder"),
        (["train", "--dataset", "mnist", "--data-dir", "{garbage}", "--no-verify"], 1, "mnist"),
        (["train", "--dataset", "mnist", "--test-size", "0.5"], 2, "--test-size applies"),
        (["train", "--dataset", "mnist", "--split-seed", "1"], 2, "--split-seed applies"),
        (["train", "--data-dir", "{empty}"], 2, "apply to --dataset mnist"),
        (["train", "--download"], 2, "apply to --dataset mnist"),
        (["train", "--no-verify"], 2, "apply to --dataset mnist"),
        (["train", *TINY, "--batch-size", "5000"], 2, "--batch-size 5000 is larger"),
        (["train", *TINY, "--test-size", "0.001"], 2, "--test-size 0.001 leaves"),
        (["train", "--resume", "{file}"], 2, "not a refnet training checkpoint"),
        (["train", "--resume", "{empty}"], 2, "no checkpoint found"),
        (["train", *TINY, "--out", "{run}"], 2, "already holds a run"),
        (["train", "--resume", "{run}", "--iterations", "2"], 2, "fewer than the 3"),
        (["train", "--resume", "{run}", "--lr", "3"], 2, "--lr 3.0 (the run used 2.0)"),
        (["train", "--resume", "{run}"], 0, "already complete"),
        (["train", *TINY, "--hidden-size", str(10**12)], 1, "not enough memory"),
        (["check", "--hidden-size", str(10**12)], 1, "not enough memory"),
        (["check", "--scheme", "complex_step"], 2, "invalid choice: 'complex_step'"),
        (
            ["check", "--batch-size", "100000000"],
            2,
            "--batch-size 100000000 is larger than the training set (1346 examples)",
        ),
        (
            ["train", *TINY, "--batch-size", "100000000"],
            2,
            "--batch-size 100000000 is larger than the training set (1346 examples)",
        ),
        (["conformance"], 2, "give a TARGET"),
        (["conformance", "refnet", "--batch", "{batch}"], 2, "either a TARGET or --batch"),
        (["conformance", "--batch", "{empty}"], 2, "no submissions"),
        (["conformance", "--batch", "{batch}", "--points", "{toml}"], 2, "--points"),
        (["conformance", "--map-file", "{toml}", "refnet"], 2, "not valid TOML"),
    ]
    for (parser, _), entries in FREE_TEXT.items():
        cases += [([parser, *argv], code, text) for argv, code, text in entries]
    failures = []
    for argv, expected, fragment in cases:
        argv = [fill.get(arg, arg) for arg in argv]
        code = cli.main(argv)
        out, err = capsys.readouterr()
        found = problems(code, out, err, expected, fragment)
        if expected == 0 and len(err.splitlines()) != 1:
            found.append("not one line saying why nothing was done")
        if found:
            failures.append(f"refnet {' '.join(argv)}: {', '.join(found)}\n  {err}")
    assert not failures, report(failures)
    announce(capsys, f"[{len(cases)} inputs found bad while running, 0 tracebacks]")


# --------------------------------------------------------------------------- Ctrl-C, in-process


def raise_interrupt(*args, **kwargs):
    raise KeyboardInterrupt


class Interrupt:
    """Make ``owner.name`` raise KeyboardInterrupt, where a SIGINT could land."""

    def __init__(self, owner, name: str, where: str):
        self.owner, self.name, self.where = owner, name, where

    def __call__(self, monkeypatch) -> None:
        owner = importlib.import_module(self.owner) if isinstance(self.owner, str) else self.owner
        monkeypatch.setattr(owner, self.name, raise_interrupt)


class Importing:
    """Ctrl-C while ``refnet`` imports its subcommands' modules, the first thing it does."""

    where = "importing the subcommands"

    def __call__(self, monkeypatch) -> None:
        class Interrupted:
            import_module = staticmethod(raise_interrupt)

        monkeypatch.setattr(cli, "importlib", Interrupted)


class AtIteration:
    """Ctrl-C during the k-th iteration of training."""

    where = "training, at iteration 3"

    def __call__(self, monkeypatch) -> None:
        original = train_outputs.Progress.update

        def update(self, iteration, loss, history):
            if iteration == 3:
                raise KeyboardInterrupt
            return original(self, iteration, loss, history)

        monkeypatch.setattr(train_outputs.Progress, "update", update)


def train(out: str) -> list[str]:
    return ["train", *TINY, "--iterations", "5", "--out", out]


IN_PROCESS = [
    (["check"], Importing(), "refnet: interrupted"),
    (train("a"), Interrupt("refnet.datasets", "load_digits", "loading the digits"), ""),
    (train("b"), Interrupt(TwoLayerNet, "__init__", "making the network"), ""),
    (train("c"), AtIteration(), "interrupted after 3 of 5 iterations; checkpoint saved"),
    (train("d"), Interrupt("refnet.plots", "plot_learning_curve", "drawing"), "the outputs"),
    (["check"], Interrupt("refnet.gradcheck", "check_gradient", "checking"), ""),
    (["figures", "--out", "f"], Interrupt("tools.figures", "generate", "drawing"), ""),
    (
        ["conformance", "refnet"],
        Interrupt("refnet.conformance.running.process", "run_in_child", ""),
        "",
    ),
    (["conformance", "--batch", "."], Interrupt(batch_cli, "run_all", "grading"), ""),
]


def test_ctrl_c_at_every_stage_of_every_command_is_one_line_and_exit_code_130(
    capsys, tmp_path, monkeypatch
):
    (tmp_path / "ada.py").write_text("def softmax(x):\n    return x\n")  # a class of one
    failures = []
    for argv, interrupt, fragment in IN_PROCESS:
        with monkeypatch.context() as patch:
            interrupt(patch)
            code = cli.main(argv)
        out, err = capsys.readouterr()
        found = problems(code, out, err, 130, fragment or "interrupted")
        if found:
            failures.append(f"refnet {' '.join(argv)} ({interrupt.where}): {found}\n  {err}")
    assert not failures, report(failures)
    # Once training has started, the checkpoint is there to continue from; interrupted
    # while writing the outputs, the run is complete in its checkpoint.
    assert cli.main(["train", "--resume", "c"]) == 0
    assert cli.main(["train", "--resume", "d"]) == 0
    assert (tmp_path / "d" / "learning_curve.png").exists()
    announce(capsys, f"[{len(IN_PROCESS)} interrupts in-process, 0 tracebacks]")


# --------------------------------------------------------------------------- Ctrl-C, real signals

# SIGINT restored in the child (a shell's background job starts with it ignored, which the
# commands respect), then refnet's main, as the installed `refnet` command calls it.
CHILD = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from refnet.{module} import main; sys.exit(main(sys.argv[1:]))"
)


def start(argv: list[str], cwd: Path, module: str = "cli") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD.format(module=module), *argv],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def mapped(process: subprocess.Popen, *packages: str) -> bool:
    """Whether the process has loaded a compiled module of one of ``packages``: it is
    importing them, inside refnet's main (nothing before main imports them)."""
    try:
        maps = Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return False
    return any(f"/{package}/" in maps for package in packages)


def descendants(pid: int) -> set[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def interrupt_when(process: subprocess.Popen, ready: Callable[[], bool]) -> tuple[str, str, set]:
    """Send SIGINT as soon as ``ready()``; the output and the processes it had started."""
    deadline = time.monotonic() + 120
    try:
        while not ready():
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"the command ended before the moment to interrupt it:\n{err}")
            assert time.monotonic() < deadline, "the moment to interrupt never came"
            time.sleep(0.005)
        started = descendants(process.pid)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return out, err, started


def gone(pids: set[int], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(not LINUX, reason="reads /proc to choose the moment")
def test_real_sigints_at_start_up_in_training_and_while_grading(capsys, tmp_path):
    fixtures = ROOT / "tests" / "fixtures"
    moments = [
        # Start-up: the heavy imports (SciPy and scikit-learn for the digits) under way.
        (
            ["train", *TINY, "--iterations", "100000000", "--out", "a"],
            "cli",
            lambda p: mapped(p, "scipy", "sklearn"),
            "refnet train: interrupted",
        ),
        (["check"], "cli", lambda p: mapped(p, "scipy", "sklearn"), "refnet check: interrupted"),
        (
            ["figures", "--out", "figures"],
            "cli",
            lambda p: mapped(p, "matplotlib", "PIL"),
            "refnet figures: interrupted",
        ),
        # Training: once the first checkpoint is written.
        (
            ["train", *TINY, "--iterations", "100000000", "--eval-every", "5", "--out", "b"],
            "cli",
            lambda p: (tmp_path / "b" / "checkpoint.npz").exists(),
            "checkpoint saved to",
        ),
        # The conformance runner, while its worker (a child process) imports JAX.
        (
            [str(fixtures / "defective.py"), "-k", "softmax"],
            "conformance.cli",
            lambda p: bool(descendants(p.pid)),
            "refnet conformance: interrupted",
        ),
        # Grading a class, while the submissions run in their own sessions.
        (
            ["conformance", "--batch", str(fixtures / "class"), "-k", "softmax", "--jobs", "2"],
            "cli",
            lambda p: len(descendants(p.pid)) >= 2,
            "refnet conformance: interrupted",
        ),
    ]
    failures = []
    for argv, module, ready, fragment in moments:
        for _ in range(2):
            process = start(argv, tmp_path, module)
            out, err, started = interrupt_when(process, lambda p=process, r=ready: r(p))
            # Exit code 0: the command finished between the moment and the signal (on a
            # loaded machine `refnet check` can finish its last 0.3 s first): the moment
            # was missed, not the interrupt; once more.
            if process.returncode != 0:
                break
        found = problems(process.returncode, out, err, 130, fragment)
        if not gone(started):
            found.append("processes it started outlived it")
        if found:
            failures.append(f"{' '.join(argv)}: {', '.join(found)}\n  {err[-2000:]}")
    assert not failures, report(failures)
    checkpoint = tmp_path / "b" / "checkpoint.npz"
    assert checkpoint.exists() and not (tmp_path / "a" / "checkpoint.npz").exists()
    announce(capsys, f"[{len(moments)} real SIGINTs, 0 tracebacks]")


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """``refnet conformance --list | head -1``: stdout closed before the command writes."""
    process = start(["conformance", "--list"], tmp_path)
    process.stdout.close()
    err = process.stderr.read()
    process.wait(timeout=60)
    process.stderr.close()
    assert process.returncode == 1 and err == ""


def test_a_stdout_closed_from_the_start_is_read_as_the_null_device(tmp_path):
    """``refnet check >&-``: Python starts with sys.stdout None; the command runs, prints
    nothing anywhere and ends with its own exit code; a usage error is still its one line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    results = {}
    for name, args in (("check", "--batch-size 5 --hidden-size 2"), ("usage", "--batch-size 0")):
        results[name] = subprocess.run(
            ["sh", "-c", f'"$0" -m refnet check {args} >&-', sys.executable],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert problems(results["check"].returncode, "", results["check"].stderr, 0) == []
    assert results["check"].stderr == ""
    usage = results["usage"]
    assert problems(usage.returncode, "", usage.stderr, 2, "--batch-size must be >= 1") == []
    assert not list(tmp_path.iterdir())  # nothing written in place of the closed stream


def test_check_does_not_offer_the_complex_step_and_says_why(capsys):
    parser = subcommand_parsers()["refnet check"]
    (scheme,) = [a for a in parser._actions if "--scheme" in a.option_strings]
    assert "complex_step" not in scheme.choices
    assert "complex_step" in scheme.help and "one-sided" in scheme.help


# --------------------------------------------------------------------------- refnet figures


def test_figures_writes_into_the_source_tree_wherever_it_is_run(tmp_path, monkeypatch, capsys):
    """Issue 16: run outside the repository, ``refnet figures`` wrote ./docs/figures into the
    current folder.  Its default is the source tree's docs/figures, found from refnet itself."""
    generator = figures_command.load_generator(ROOT)
    written = []

    def generate(out):
        written.append(Path(out))
        return {"a_number": "1"}

    monkeypatch.setattr(generator, "generate", generate)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["figures"]) == 0, capsys.readouterr().err
    assert written == [ROOT / "docs" / "figures"]
    assert list(tmp_path.iterdir()) == []
    assert f"to {ROOT / 'docs' / 'figures'}" in capsys.readouterr().out


def test_figures_outside_a_source_tree_is_one_line_and_exit_code_1(tmp_path, monkeypatch, capsys):
    """An installation that is not refnet's source tree has no generator: say so, write nothing."""
    monkeypatch.setattr(figures_command, "source_tree", lambda: tmp_path)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["figures"])
    out, err = capsys.readouterr()
    assert not problems(code, out, err, 1, "editable install"), err
    assert list(tmp_path.iterdir()) == []
