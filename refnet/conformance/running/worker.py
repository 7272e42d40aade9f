"""The child process of the command: import the target, run the checks, report each step.

``python -m refnet.conformance.running.worker`` reads its settings as one JSON object on stdin and
writes one JSON object per line (an *event*) to what was its stdout; whatever the target
prints goes to stderr instead, so that it cannot garble the events.  process.py, the
parent, reads the events, enforces the time limits from outside, and builds the report.

Events, in order: ``{"event": "importing", "file"}`` before each of the target's files,
``{"event": "loaded", "target", "profile", "units"}`` once, ``{"event": "start", "index"}``
and ``{"event": "result", "index", "result"}`` around each check, then ``{"event": "done",
"report"}``; or ``{"event": "error", "message"}`` when the target cannot be loaded or the
usage is wrong (the command exits 2).

Nothing is written to the working directory: hypothesis keeps its files in a temporary
folder removed at exit, and no ``__pycache__`` is written for the target's files.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
import tempfile


def emitter():
    """A writer on the original stdout; fd 1 then points at stderr for everyone else."""
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)

    def emit(event: str, **data) -> None:
        events.write(json.dumps({"event": event, **data}, ensure_ascii=False) + "\n")
        events.flush()

    return emit


def work(config: dict, emit) -> None:
    from hypothesis.configuration import set_hypothesis_home_dir

    from .. import oracle_wire
    from ..api import TargetError
    from ..checks import CHECKS
    from ..finding.target import load_target
    from .runner import default_profile, run, select_checks, units

    oracle_wire.connection()  # the oracle server's socket, taken before the target runs
    storage = tempfile.mkdtemp(prefix="refnet-conformance-")
    set_hypothesis_home_dir(storage)
    try:
        try:
            target = load_target(
                config["spec"],
                config.get("mapping") or [],
                timeout=config.get("timeout") or None,
                excluded=config.get("excluded") or {},
                on_import=lambda label: emit("importing", file=label),
            )
        except TargetError as exc:
            emit("error", message=str(exc))
            return
        if not target.found and not target.broken:
            emit(
                "error",
                message=f"{config['spec']} has none of the chapter's names (softmax, "
                "cross_entropy_error, numerical_gradient, TwoLayerNet, ...); use --map to "
                "name them",
            )
            return
        profile = config.get("profile") or default_profile(target)
        select = config.get("select")
        chosen = select_checks(CHECKS, profile, select)
        if not chosen:
            emit(
                "error",
                message=f"no check of the {profile} profile starts with "
                f"{' or '.join(map(repr, select or ()))}: `--list` shows every check",
            )
            return
        plan = [
            [check.name, getattr(found, "file", None)] for check, found in units(target, chosen)
        ]
        emit("loaded", target=target.to_dict(), profile=profile, units=plan)
        report = run(
            target,
            profile=profile,
            max_examples=config["max_examples"],
            seed=config["seed"],
            timeout=config.get("timeout"),
            select=select,
            progress=lambda index, total, check: emit("start", index=index - 1),
            on_result=lambda index, result: emit(
                "result", index=index, result=dataclasses.asdict(result)
            ),
            start=config.get("start", 0),
            hung={(f, file): reason for f, file, reason in config.get("hung") or ()},
        )
        emit("done", report=report.to_dict())
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def main() -> int:
    emit = emitter()
    sys.dont_write_bytecode = True
    os.environ.setdefault("MPLBACKEND", "Agg")
    config = json.loads(sys.stdin.read())
    work(config, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
