"""``python -m refnet.conformance.autograder summary DIR``: the Markdown summary of a
``--single`` run's results folder (the GitHub Actions workflow writes it as the job's
summary)."""

from __future__ import annotations

import sys
from pathlib import Path

from .github import summary


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "summary" or not Path(argv[1]).is_dir():
        print("usage: python -m refnet.conformance.autograder summary RESULTS_DIR", file=sys.stderr)
        return 2
    print(summary(Path(argv[1])), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
