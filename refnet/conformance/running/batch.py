"""Grade a class: every submission checked by a limited, supervised worker of its own.

``refnet conformance --batch DIR`` finds one submission per entry of DIR (a file
``alice.py`` or a folder ``bob/``, `find_submissions`), and checks each in a temporary
copy of it, under limits set with ``resource.setrlimit`` before the submission's code
runs:

* wall time (the worker and its sandbox, or its process group, are killed when it runs
  out),
* CPU time (``RLIMIT_CPU``, for the submission as a whole), memory (``RLIMIT_DATA``: heap
  and private mappings, which is what allocations use; shared libraries are not counted),
  the size of any file it writes (``RLIMIT_FSIZE``), and no core files;
* output: what reaches the worker's stdout and stderr is read through a pipe, and a
  submission that prints more than the cap is stopped (the grader keeps at most the cap
  in memory, nothing on disk).

sandbox.py adds what the operating system offers (a bubblewrap sandbox, a user of its
own); workers.py starts the worker, warm (forked by forkserver.py) or cold (a new
interpreter), and process.py's supervisor owns its run.  A submission travels as its bytes
(`Submission`), so that a Dask worker on another machine (``--scheduler``) runs it exactly
as a local process would: `run_submission` is the one function both paths call.

It imports neither JAX nor hypothesis; `refnet.conformance.reports` turns the runs into
grades and files.  The limits are written for Linux.
"""
# Size: over 500 lines because finding submissions, running one, classifying how it ended
# and handing them to threads or a cluster are the grader's one loop; the worker's start is
# in workers.py, its supervision in process.py, the grades in reports/.

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import sys
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..._checks import install_hint
from . import forkserver, oracle_server, sandbox, workers

KIB, MIB, GIB = 2**10, 2**20, 2**30
#: A submission bigger than this (all its files together) is not run.
MAX_SUBMISSION_BYTES = 100 * MIB
#: Characters of a submission's output kept in its JSON (the cap bounds what is read).
OUTPUT_KEPT = 20_000
#: Folders and files never copied from a submission.
IGNORED = {"__pycache__", "__MACOSX", ".git", ".hypothesis", ".ipynb_checkpoints", ".DS_Store"}
CLUSTER_HINT = install_hint("cluster")
#: Set while run_all stops on Ctrl-C: every supervisor kills its worker and returns.
_STOPPING = threading.Event()
#: The user ids this process handed to submissions (`users_handed_out`).
_HANDED_OUT: set[int] = set()


class BatchError(Exception):
    """The batch cannot run: a bad directory, option or points file."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use.  Sizes in bytes, times in seconds."""

    wall: float = 600.0
    cpu: float = 600.0
    memory: int = 2 * GIB
    output: int = 1 * MIB
    file_size: int = 64 * MIB

    def rlimits(self) -> dict[str, tuple[int, int]]:
        """The ``resource`` limits, soft and hard: SIGXCPU at ``cpu``, SIGKILL 2 s later."""
        cpu = max(1, int(self.cpu + 0.999))
        return {
            "RLIMIT_CPU": (cpu, cpu + 2),
            "RLIMIT_DATA": (self.memory, self.memory),
            "RLIMIT_FSIZE": (self.file_size, self.file_size),
            "RLIMIT_CORE": (0, 0),
        }


@dataclass(frozen=True)
class RunOptions:
    """How every submission is checked: the runner's options, passed on as they are."""

    seed: int = 0
    max_examples: int = 25
    timeout: float = 120.0  # per check, the runner's own --timeout
    select: tuple[str, ...] = ()
    profile: str | None = None  # passed only when the runner has --profile
    maps: tuple[str, ...] = ()
    map_file: tuple[str, str] | None = None  # (file name, contents): shipped to the worker
    limits: Limits = field(default_factory=Limits)
    cache: str | None = None  # a folder warm_up filled: the oracle's values, XLA's programs
    oracle_server: bool = False  # the class shares one oracle server (oracle_server.py)


@dataclass(frozen=True)
class Submission:
    """One student's work, carried as bytes so that any worker can unpack it."""

    student: str
    path: str  # where it is on the grader's machine (absolute)
    target: str  # what the runner is pointed at, relative to the copy: "alice.py", "bob/ch4.py"
    files: tuple[tuple[str, bytes], ...] = ()  # (path relative to path's parent, contents)
    problem: str = ""  # why it cannot be run (too large, nothing to check)


# -- finding the submissions ----------------------------------------------------------------


def find_submissions(directory, single: bool = False) -> list[Submission]:
    """The submissions in ``directory``: one per ``*.py`` or ``*.ipynb`` file and one per
    folder.

    With ``single``, ``directory`` is one student's submission (Gradescope's
    /autograder/submission).  Entries whose name starts with ``.`` or ``_`` are skipped,
    and so are other files at the top (a class list, a README).
    """
    root = Path(directory).resolve()
    if not root.is_dir():
        raise BatchError(f"--batch {directory}: not a directory")
    if single:
        return [_pack(root.name, root)]
    found: dict[str, Submission] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "_")) or entry.is_symlink() or entry.name in IGNORED:
            continue
        if entry.is_file() and entry.suffix not in (".py", ".ipynb"):
            continue
        student = entry.stem if entry.is_file() else entry.name
        if student in found:
            raise BatchError(f"{root}: two submissions are both named {student!r}")
        found[student] = _pack(student, entry)
    if not found:
        raise BatchError(
            f"--batch {directory}: no submissions (no *.py or *.ipynb file and no folder)"
        )
    return list(found.values())


def _pack(student: str, entry: Path) -> Submission:
    """Read a submission's files (symbolic links are not followed: never copied)."""
    files, total = [], 0
    paths = [entry] if entry.is_file() else sorted(_walk(entry))
    for path in paths:
        total += path.stat().st_size
        if total > MAX_SUBMISSION_BYTES:
            return Submission(
                student,
                str(entry),
                "",
                problem=f"the submission is larger than {format_size(MAX_SUBMISSION_BYTES)}: "
                "not run",
            )
        files.append((path.relative_to(entry.parent).as_posix(), path.read_bytes()))
    target, problem = _choose_target(entry)
    if not files and not problem:
        problem = "no file in the submission (symbolic links are not followed)"
    return Submission(student, str(entry), target, tuple(files), problem)


def _walk(folder: Path):
    for path in folder.iterdir():
        if path.name in IGNORED or path.name.startswith("._") or path.is_symlink():
            continue
        if path.suffix == ".pyc":
            continue
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield path


def _choose_target(entry: Path) -> tuple[str, str]:
    """A file is its own target; a folder's is its only top-level ``*.py`` file, or else the
    folder itself (the runner discovers a book-style layout)."""
    if entry.is_file():
        return entry.name, ""
    scripts = sorted(
        p.name
        for p in [*entry.glob("*.py"), *entry.glob("*.ipynb")]
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".")
    )
    if len(scripts) == 1:
        return f"{entry.name}/{scripts[0]}", ""
    if not scripts and not any(entry.rglob("*.py")) and not any(entry.rglob("*.ipynb")):
        return "", "no Python file in the submission"
    return entry.name, ""


# -- running one submission -----------------------------------------------------------------


def run_submission(submission: Submission, options: RunOptions, oracle=None) -> dict:
    """Check one submission in its limited, sandboxed worker; return what happened (no
    grades).

    The keys: ``student``, ``submission``, ``outcome`` (``graded`` when the worker sent its
    report, else why not: ``timeout``, ``cpu``, ``memory``, ``output``, ``file-size``,
    ``not-loaded``, ``crashed``, ``not-run``), ``reason``, ``exit_code``, ``report`` (the
    runner's JSON, or None), ``output`` (what the child printed, its head), timings, and
    ``uid`` when the submission had a user of its own.  Temporary paths in all of it are
    replaced by the submission's own path.  ``oracle``: the batch's oracle server
    (oracle_server.py), or None.
    """
    record: dict[str, Any] = {"student": submission.student, "submission": submission.path}
    if submission.problem:
        return record | _empty("not-run", submission.problem)
    protections = sandbox.available()
    uid = sandbox.new_user() if protections.own_user else None
    if uid is not None:
        _HANDED_OUT.add(uid)
        record["uid"] = uid
    with tempfile.TemporaryDirectory(prefix="refnet-grade-") as scratch:
        copy_root = Path(scratch, "submission")
        for relative, contents in submission.files:
            destination = copy_root / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(contents)
        first = Path(submission.files[0][0]).parts[0]
        work = copy_root / first if (copy_root / first).is_dir() else copy_root
        config = _worker_config(str(copy_root / submission.target), options, scratch)
        if uid is not None:
            sandbox.hand_over(Path(scratch), uid)
        readable = [Path(options.cache)] if options.cache else []
        env = _child_environment(scratch) | cache_environment(options.cache, write=False)
        folders = (Path(scratch), work)
        try:
            watched, report = workers.run(
                config,
                protections,
                uid,
                folders,
                readable,
                env,
                options.limits,
                _STOPPING.is_set,
                oracle,
            )
        finally:
            if uid is not None:
                sandbox.kill_user(uid)  # what left the process group, or the sandbox
        outcome, reason = classify(watched, report, options.limits)
        record |= {
            "outcome": outcome,
            "reason": reason,
            "exit_code": watched["exit_code"],
            "report": report,
            "output": watched["output"][:OUTPUT_KEPT],
            "output_bytes": watched["output_bytes"],
            "seconds": round(watched["seconds"], 2),
            "cpu_seconds": round(watched["cpu_seconds"], 2),
            "protections": protections.describe(),
        }
        original = str(Path(submission.path).parent)
        return _replace_paths(record, [str(copy_root), os.path.realpath(copy_root)], original)


def _worker_config(spec: str, options: RunOptions, scratch) -> dict:
    """worker.py's settings: what the command line gives a run of ``spec``."""
    from ..finding.mapping import parse_entries, read_map_file

    entries: list[str] = []
    if options.map_file:
        path = Path(scratch, options.map_file[0])
        path.write_text(options.map_file[1], encoding="utf-8")
        entries = read_map_file(str(path)).entries()
    entries += list(options.maps)
    parse_entries(entries)
    return {
        "spec": spec,
        "mapping": entries,
        "profile": options.profile,
        "max_examples": options.max_examples,
        "seed": options.seed,
        "timeout": options.timeout or None,
        "select": list(options.select) or None,
    }


def users_handed_out() -> frozenset[int]:
    """The user ids that this process's runs gave submissions (a record carries its own as
    ``uid``): what to look for, after a batch, among the processes left on the machine,
    without mistaking another grader's for this one's."""
    return frozenset(_HANDED_OUT)


def _empty(outcome: str, reason: str) -> dict:
    return {
        "outcome": outcome,
        "reason": reason,
        "exit_code": None,
        "report": None,
        "output": "",
        "output_bytes": 0,
        "seconds": 0.0,
        "cpu_seconds": 0.0,
    }


def cache_environment(cache: str | None, write: bool) -> dict[str, str]:
    """The variables that point the oracle and JAX at the cache (none without one).

    Reading, JAX is told to write no program (its threshold is out of reach): the folder
    is read-only to a submission, and only the trusted warm-up fills it.
    """
    if not cache:
        return {}
    return {
        ("REFNET_ORACLE_RECORD" if write else "REFNET_ORACLE_VALUES"): str(
            Path(cache, "oracle.json")
        ),
        "JAX_COMPILATION_CACHE_DIR": str(Path(cache, "xla")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0" if write else "1e9",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


def warm_up(options: RunOptions, cache: Path) -> dict:
    """Fill ``cache`` by checking refnet's own implementation with ``options``: the oracle's
    values for the seeded draws every faithful submission meets, and the programs XLA
    compiled.  refnet's code is trusted: this run has the limits, not the sandbox."""
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="refnet-warm-") as scratch:
        chosen = replace(options, maps=(), map_file=None, profile=options.profile or "book")
        config = _worker_config("refnet", chosen, scratch)
        env = _child_environment(scratch) | cache_environment(str(cache), write=True)
        folders = (Path(scratch), Path(scratch))
        watched, _ = workers.run(
            config, sandbox.Protections(), None, folders, [], env, options.limits, _STOPPING.is_set
        )
    (cache / STAMP).write_text(json.dumps(cache_stamp(), indent=1), encoding="utf-8")
    for path in [cache, *cache.rglob("*")]:  # readable by a submission's own user
        path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
    return watched


#: The file in a cache that says what filled it (`cache_stamp`).
STAMP = "stamp.json"


def cache_stamp() -> dict:
    """What the oracle's values in a cache depend on: the source of the oracle's modules
    and the versions of JAX, jaxlib and NumPy.  A cache filled under another stamp (an
    instructor's REFNET_GRADER_CACHE kept across an upgrade) must not be read: its values
    could be another oracle's."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    from .. import functions, oracle, oracle_jax, oracle_wire

    digest = hashlib.sha256()
    for module in (oracle, oracle_jax, oracle_wire, functions):
        digest.update(Path(module.__file__ or "").read_bytes())
    stamp: dict[str, str | None] = {"oracle": digest.hexdigest()}
    for package in ("jax", "jaxlib", "numpy"):
        try:
            stamp[package] = version(package)
        except PackageNotFoundError:
            stamp[package] = None
    return stamp


def clear_cache(cache: Path) -> None:
    """Empty ``cache`` of what warm_up wrote (the oracle's table, XLA's programs, the stamp)."""
    import shutil

    (cache / "oracle.json").unlink(missing_ok=True)
    (cache / STAMP).unlink(missing_ok=True)
    shutil.rmtree(cache / "xla", ignore_errors=True)


def cache_is_current(cache: Path) -> bool:
    """Whether ``cache`` was filled under this grader's `cache_stamp`."""
    try:
        return json.loads((cache / STAMP).read_text(encoding="utf-8")) == cache_stamp()
    except (OSError, ValueError):
        return False


def _child_environment(scratch: str) -> dict[str, str]:
    """A small, fixed environment: the same on every machine, so the same grades."""
    import refnet

    env = {key: os.environ[key] for key in ("PATH", "LD_LIBRARY_PATH") if key in os.environ}
    env |= {
        "HOME": scratch,
        "TMPDIR": scratch,
        "MPLCONFIGDIR": os.path.join(scratch, "matplotlib"),
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "JAX_PLATFORMS": "cpu",
        # One thread per submission: --jobs decides how many cores are busy.
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        # The refnet the grader runs, also from a source checkout that is not installed.
        "PYTHONPATH": str(Path(refnet.__file__).resolve().parent.parent),
    }
    return env


def classify(watched: dict, report: dict | None, limits: Limits) -> tuple[str, str]:
    """Why a run ended: ``("graded", "")`` when the runner wrote its report, else the reason."""
    code, output = watched["exit_code"], watched["output"]
    if watched["stopped"] == "output":
        return "output", (
            f"output capped at {format_size(limits.output)}: the submission printed more "
            "and was stopped"
        )
    if watched["stopped"] == "wall":
        return "timeout", f"timed out after {limits.wall:g} s"
    out_of_memory = re.search(r"MemoryError|bad_alloc|Cannot allocate memory", output)
    if report is not None and code in (0, 1):
        return "graded", ""
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and watched["cpu_seconds"] >= limits.cpu - 1:
        return "cpu", f"CPU time limit {limits.cpu:g} s exceeded"
    if out_of_memory:
        return "memory", f"memory limit {format_size(limits.memory)} exceeded"
    if code == -signal.SIGXFSZ or ("File too large" in output and code not in (0, 1)):
        return "file-size", f"file size limit {format_size(limits.file_size)} exceeded"
    if code == 2:
        return "not-loaded", _last_message(output) or "the runner could not load the submission"
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return "crashed", f"killed by {name}: {_last_message(output)}".rstrip(": ")
    return "crashed", (
        f"exited with code {code} without a report (does the submission call sys.exit "
        f"or os._exit?): {_last_message(output)}"
    ).rstrip(": ")


def _last_message(output: str) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("refnet conformance:"):
            return line.removeprefix("refnet conformance:").strip()[:500]
    return lines[-1][:500] if lines else ""


def _replace_paths(value, old: list[str], new: str):
    if isinstance(value, str):
        for path in old:
            value = value.replace(path, new)
        return value
    if isinstance(value, dict):
        return {key: _replace_paths(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_paths(item, old, new) for item in value]
    return value


# -- running them all -------------------------------------------------------------------------


def run_all(submissions, options: RunOptions, jobs: int = 1, scheduler=None, progress=None):
    """Run every submission, ``jobs`` at a time here or on a Dask cluster; records in order.

    Ctrl-C (KeyboardInterrupt, which only the main thread receives) stops the local
    children at once: the threads watching them kill their process groups and return,
    and the interrupt goes on to the caller.
    """
    if scheduler:
        done = _run_on_cluster(submissions, options, scheduler, progress)
    else:
        done = {}
        oracle = _oracle_server(options)
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(run_submission, s, options, oracle): s for s in submissions}
            try:
                for future in as_completed(futures):
                    record = future.result()
                    done[record["student"]] = record
                    if progress is not None:
                        progress(record, len(done), len(submissions))
            except KeyboardInterrupt:
                _STOPPING.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            finally:
                _STOPPING.clear()
                forkserver.close_all()  # its memory is not kept after the batch
                if oracle is not None:
                    oracle.close()
    return [done[s.student] for s in submissions]


def _oracle_server(options: RunOptions):
    """The batch's oracle server (oracle_server.py), started, when ``options`` ask for one;
    None without, or when it could not start (each worker then computes for itself)."""
    if not options.oracle_server:
        return None
    with tempfile.TemporaryDirectory(prefix="refnet-env-") as placeholder:
        env = _child_environment(placeholder) | cache_environment(options.cache, write=False)
    server = oracle_server.OracleServer(env, options.limits, options.cache)
    return server if server.start() else None


#: What a Dask worker runs for one submission: a new interpreter, whose path is cleaned of
#: the folder it starts in before refnet is imported, so that a worker started beside
#: refnet's source (or any folder named refnet) grades with the installed package; the
#: submission and the options travel on its stdin, the record comes back on its stdout.
CLUSTER_TASK = (
    "__import__('subprocess').run([__import__('sys').executable, '-c', "
    "'import sys; sys.path[:] = [p for p in sys.path if p not in (\\'\\', \\'.\\')]; "
    "from refnet.conformance.running.batch import cluster_task; cluster_task()'], "
    "input=payload, capture_output=True)"
)


def cluster_task() -> None:
    """The interpreter `CLUSTER_TASK` starts: one submission from stdin, its record out."""
    submission, options = pickle.loads(sys.stdin.buffer.read())
    record = run_submission(submission, options)
    sys.stdout.write(json.dumps(record))


def _on_cluster(done) -> dict:
    """The record of a `CLUSTER_TASK` run (a BatchError saying why there is none)."""
    if done.returncode != 0:
        words = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise BatchError(" / ".join(words) or f"the task ended with {done.returncode}")
    return json.loads(done.stdout)


def _run_on_cluster(submissions, options, scheduler, progress) -> dict:
    try:
        from dask.distributed import Client
        from dask.distributed import as_completed as cluster_completed
    except ModuleNotFoundError as exc:
        raise BatchError(
            f"--scheduler needs dask.distributed, which is not installed: {CLUSTER_HINT}"
        ) from exc
    done = {}
    batch_id = uuid.uuid4().hex  # two graders sharing a cluster must not share tasks
    with Client(scheduler) as client:
        futures = [
            client.submit(
                eval,
                CLUSTER_TASK,
                {"payload": pickle.dumps((submission, options))},
                key=f"refnet-grade-{batch_id}-{index}",
                pure=False,
            )
            for index, submission in enumerate(submissions)
        ]
        for future in cluster_completed(futures):
            try:
                record = _on_cluster(future.result())
            except Exception as exc:
                raise BatchError(
                    f"the cluster at {scheduler} could not run a submission: "
                    f"{type(exc).__name__}: {exc} (does every worker have refnet with its "
                    "conformance extra installed?)"
                ) from exc
            done[record["student"]] = record
            if progress is not None:
                progress(record, len(done), len(submissions))
    return done


# -- sizes ------------------------------------------------------------------------------------


def parse_size(text: str) -> int:
    """``"1GiB"``, ``"512MiB"``, ``"1.5G"``, ``"200000"`` -> bytes (K, M, G are binary).

    >>> parse_size("1GiB"), parse_size("512M"), parse_size("4096")
    (1073741824, 536870912, 4096)
    """
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmg]?)(i?b)?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a size (e.g. 1GiB, 512MiB, 200000)")
    scale = {"": 1, "k": KIB, "m": MIB, "g": GIB}[match.group(2).lower()]
    return int(float(match.group(1)) * scale)


def format_size(size: int) -> str:
    """Bytes in the largest whole binary unit: ``format_size(2**30) == "1 GiB"``."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size / MIB:.1f} MiB" if size >= MIB else f"{size} bytes"
