"""Containment of one submission by the operating system, not by hope.

batch.py runs every submission in a child process under resource limits; this module adds
the two protections the operating system offers, whichever are possible here:

* **A user of its own** (when the grader runs as root, as on Gradescope and most CI
  runners): the child drops to a user id that no other process has, chosen at random
  among ids no account uses, so that it cannot touch the grader's files, other
  submissions' temporary folders, or other processes; its process count is bounded
  (``RLIMIT_NPROC`` counts the processes of a user), and its limits cannot be raised
  again (only root may raise a hard limit).  When it ends, every process of that user is
  killed.
* **A bubblewrap sandbox** (``bwrap``, Debian's ``bubblewrap`` package, the sandbox
  Flatpak uses), when it is installed and works here: the child sees a read-only view
  of the system, of Python and of refnet's package only (not the class folder, not the
  points file, not the grader's home), a writable temporary folder of its own and
  nothing else writable, no network (``--unshare-net``), and its own process namespace
  (``--unshare-pid``): when the sandbox's first process dies, the kernel kills every
  process in it, and bubblewrap dies with the grader (``--die-with-parent``).

`Protections.describe` says which are in force, in plain words; the grader prints it
once and writes it into the class page.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import random
import shutil
import signal
import site
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Processes (threads count too) one submission may have when it has a user of its own:
#: JAX's thread pools need some tens; a fork bomb stops here.
PROCESSES = 512
#: User ids handed to submissions: far above any account's.
UIDS = (2**20, 2**30)

# Run in the child before Python proper starts: drop to the submission's user, set the
# limits soft and hard, then become the worker.  A string run with ``python -c`` rather
# than a preexec_fn, which would fork a grader that may have JAX (multithreaded) imported.
# Dropping the user comes first: a process that is no longer root cannot raise a hard
# limit again, and setuid must not meet RLIMIT_NPROC.  In a sandbox the limiter is the
# namespace's first process, to which the kernel does not deliver the CPU limit's SIGXCPU:
# there it forks the worker, reaps what ends (orphans too) until the worker has, and
# exits as the worker did (128 + N for signal N, as bubblewrap reports it).
LIMITER = (
    "import json, os, resource, sys\n"
    "spec = json.loads(sys.argv[1])\n"
    "if spec.get('uid') is not None:\n"
    "    os.setgroups([])\n"
    "    os.setgid(spec['uid'])\n"
    "    os.setuid(spec['uid'])\n"
    "for name, (soft, hard) in spec['rlimits'].items():\n"
    "    resource.setrlimit(getattr(resource, name), (soft, hard))\n"
    "if spec.get('first'):\n"
    "    worker = os.fork()\n"
    "    if worker == 0:\n"
    "        os.execv(sys.argv[2], sys.argv[2:])\n"
    "    while True:\n"
    "        done, status = os.wait()\n"
    "        if done == worker:\n"
    "            break\n"
    "    code = os.waitstatus_to_exitcode(status)\n"
    "    os._exit(128 - code if code < 0 else code)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@dataclass(frozen=True)
class Protections:
    """What contains a submission here, beyond the resource limits (always in force)."""

    bubblewrap: str | None = None  # the path of a working ``bwrap``
    own_user: bool = False  # the grader is root: each submission gets a user id of its own

    def describe(self) -> str:
        """One paragraph in plain words: what is contained and what is not."""
        said = ["Limits on time, CPU, memory, output and file size hold for every submission."]
        if self.bubblewrap:
            said.append(
                "Each runs in a bubblewrap sandbox: it sees the system, Python and refnet "
                "read-only and nothing else of this machine (not the class folder, not the "
                "points file), may write only in its own temporary folder, has no network, "
                "and every process it starts dies with it."
            )
        if self.own_user:
            said.append(
                "Each runs as a user of its own, not as root: it cannot change the grader's "
                f"files or signal its processes, it may have at most {PROCESSES} processes, and "
                "it cannot raise its limits."
            )
        if not self.bubblewrap:
            said.append(
                "Not in force: bubblewrap (install the `bubblewrap` package): a submission "
                "can open network connections"
                + (
                    " and read files that every user may read, such as a class folder readable "
                    "by all."
                    if self.own_user
                    else ", read and change whatever the grader's user can, and signal its "
                    "processes; children that leave the process group may outlive it."
                )
            )
        if not self.own_user:
            said.append(
                "Not in force: a user of its own (the grader is not root), so the number of "
                "processes a submission starts is not bounded"
                + (" beyond its sandbox." if self.bubblewrap else ".")
            )
        return " ".join(said)

    def to_dict(self) -> dict:
        return {
            "bubblewrap": bool(self.bubblewrap),
            "own_user": self.own_user,
            "description": self.describe(),
        }


@functools.cache
def available() -> Protections:
    """What this machine can do (probed once: bubblewrap is tried on ``true``)."""
    if os.environ.get("REFNET_SANDBOX") == "off":  # for comparing, and the tests' fallback
        return Protections()
    own_user = hasattr(os, "geteuid") and os.geteuid() == 0 and _other_users_can_run_python()
    bubblewrap = shutil.which("bwrap")
    if bubblewrap:
        probe = [bubblewrap, *_namespaces(own_user), "--ro-bind", "/", "/", "--", "true"]
        try:
            works = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.SubprocessError):
            works = False
        bubblewrap = bubblewrap if works else None
    if bubblewrap and os.geteuid() == 0:
        own_user = True  # inside the sandbox every folder on Python's path is traversable
    return Protections(bubblewrap=bubblewrap, own_user=own_user)


def _other_users_can_run_python() -> bool:
    """Whether a user other than root can start this Python (a Python under /root cannot)."""
    path = Path(sys.executable).resolve()
    return all(folder.stat().st_mode & 0o001 for folder in [*path.parents, path])


def new_user() -> int:
    """A user id that no account has (the grader is root)."""
    while True:
        uid = random.randrange(*UIDS)
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid


def hand_over(folder: Path, uid: int) -> None:
    """Make ``folder`` (the submission's temporary folder, and what is in it) the user's."""
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)


def kill_user(uid: int) -> None:
    """Kill every process of user ``uid`` (those that left the process group too)."""
    code = f"import os, signal\nos.setgid({uid})\nos.setuid({uid})\nos.kill(-1, signal.SIGKILL)\n"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)


def rlimits(limits, uid: int | None) -> dict[str, tuple[int, int]]:
    """``limits.rlimits()``, with the process count when the submission has its own user."""
    values = limits.rlimits()
    if uid is not None:
        values["RLIMIT_NPROC"] = (PROCESSES, PROCESSES)
    return values


def command(
    argv: list[str], limits, scratch: Path, protections: Protections, uid, readable=()
) -> list[str]:
    """``argv`` (an executable's path first) as the submission's child runs it; the
    folders in ``readable`` (the grader's cache) are shown to it read-only."""
    first = bool(protections.bubblewrap)  # the namespace's first process (LIMITER)
    spec = json.dumps({"uid": uid, "rlimits": rlimits(limits, uid), "first": first})
    limited = [sys.executable, "-c", LIMITER, spec, *argv]
    if not protections.bubblewrap:
        return limited
    view = _view(scratch, [Path(p).resolve() for p in readable])
    return [protections.bubblewrap, *_namespaces(uid is not None), *view, "--", *limited]


def holder(scratch: Path, protections: Protections, uid, readable=()) -> list[str]:
    """The sandbox of a warm run (forkserver.py): the same bubblewrap, view and namespaces
    as `command`'s, whose first process only holds them (it prints ``ready`` once they are
    built, then sleeps) until the grader ends it; the warm worker joins them."""
    assert protections.bubblewrap
    view = _view(scratch, [Path(p).resolve() for p in readable])
    hold = ["/bin/sh", "-c", "echo ready; exec sleep 2147483647"]
    return [protections.bubblewrap, *_namespaces(uid is not None), *view, "--", *hold]


def _namespaces(root: bool) -> list[str]:
    flags = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    flags += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    # The limiter (or a warm run's holder) is the namespace's first process: when it ends,
    # the kernel kills every process left in the namespace, and its CPU time (its
    # children's with it) is what bubblewrap's wait reports to the grader.
    flags += ["--as-pid-1"]
    # An unprivileged bwrap needs a user namespace; as root, none (the child then drops to
    # a real user id of its own, which a user namespace would not map).
    return flags if root else [*flags, "--unshare-user"]


def readable_roots() -> list[Path]:
    """What the sandbox shows read-only beyond the system: Python, its packages, refnet."""
    import refnet

    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(sys.executable).resolve().parent}
    roots |= {Path(p) for p in site.getsitepackages() if Path(p).is_dir()}
    roots.add(Path(refnet.__file__).resolve().parent)  # the package only, not its project
    return sorted({root.resolve() for root in roots if root.exists()})


def _view(scratch: Path, readable: list[Path]) -> list[str]:
    view: list[str] = []
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", top)
        if path.is_symlink():
            view += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            view += ["--ro-bind", str(path), str(path)]
    view += ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    view += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    roots = [r for r in readable_roots() if r != Path("/usr") and Path("/usr") not in r.parents]
    roots += readable
    # Folders above them, traversable by the submission's user (bwrap would make them 0700).
    above = {str(p) for root in [*roots, scratch] for p in root.parents if p.parent != p}
    above -= {"/tmp", "/usr", "/etc", "/proc", "/dev"}
    for folder in sorted(above):
        view += ["--perms", "0755", "--dir", folder]
    for root in roots:
        view += ["--ro-bind", str(root), str(root)]
    view += ["--bind", str(scratch), str(scratch)]  # the child starts where it was started
    return view


def wait_or_kill(process: subprocess.Popen, seconds: float = 10.0) -> None:
    """Give a server told to end (its channel closed) ``seconds`` to exit, then kill it."""
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def end_signal(code: int | None) -> int | None:
    """The signal that ended a child, also when bubblewrap passed it on as 128 + N."""
    if code is None:
        return None
    if code < 0:
        return code
    if 128 < code < 128 + signal.NSIG:
        return -(code - 128)
    return code
