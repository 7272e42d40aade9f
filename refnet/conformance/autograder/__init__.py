"""Drop-in autograders: ``refnet conformance --autograder KIND OUT``.

* ``gradescope``: an autograder zip for Gradescope (gradescope.py): ``setup.sh`` installs
  refnet from a wheel built into the zip and its pinned dependencies, ``run_autograder``
  grades ``/autograder/submission`` into ``/autograder/results/results.json``.
* ``github-actions``: a workflow file for a student's repository (github.py): refnet
  installed from a version the instructor pins (never from the student's tree), the
  student's code graded on every push, the grade written as the job's summary and kept as
  an artifact.

Both run the same command a course runs locally, ``refnet conformance --batch DIR
--single``, with limits that fit the platform (`PLATFORM_LIMITS`).
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("gradescope", "github-actions")

#: Defaults that fit Gradescope's default container (768 MB of memory, a 10-minute
#: timeout, half a CPU) and a GitHub-hosted runner alike.  Memory: the submission's
#: worker process needs ~300 MiB with JAX loaded (benchmarks/grading_throughput.py); 512
#: MiB of heap leaves a chapter-4 submission ~200 MiB, and the grader and the runner's
#: parent fit in what the container has left.  Time: the whole run ends in 8 minutes,
#: leaving 2 of Gradescope's 10 for installing nothing (setup.sh runs at build time) and
#: for writing the results.
PLATFORM_LIMITS = {
    "wall": 480.0,
    "cpu": 420.0,
    "memory": 512 * 2**20,
    "timeout": 60.0,
}


def build(kind: str, out: Path, argv: list[str], points: Path | None) -> Path:
    """Write the autograder of ``kind`` to ``out``; ``argv`` are the grading options."""
    if kind == "gradescope":
        from .gradescope import build_zip

        return build_zip(out, argv, points)
    from .github import write_workflow

    return write_workflow(out, argv, points)
