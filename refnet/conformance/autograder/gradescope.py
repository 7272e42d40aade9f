"""The Gradescope autograder zip: ``refnet conformance --autograder gradescope OUT.zip``.

Gradescope's specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications"): the zip's root holds ``setup.sh``, run once as root when Gradescope
builds the autograder's image, and ``run_autograder``, run for each submission from
``/autograder``, which must write ``/autograder/results/results.json``; the student's files
are in ``/autograder/submission``, the zip's in ``/autograder/source``.

The zip holds refnet as a wheel built here from refnet's source, ``requirements.txt``
pinning every package it needs at the versions installed here, the points file, and the
two scripts.  Both scripts read ``AUTOGRADER_ROOT`` (default ``/autograder``), so that the
tests, and an instructor, can run them in a folder standing in for it.
"""

from __future__ import annotations

import importlib.metadata
import re
import shlex
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

#: The extras whose packages the grader needs beyond refnet's own.
EXTRAS = ("conformance",)

SETUP = """\
#!/usr/bin/env bash
# refnet conformance for Gradescope: run once, as root, when Gradescope builds the image.
# Installs bubblewrap (the sandbox each submission runs in) and Python's venv module from
# the distribution, then refnet from the wheel in this zip with its pinned dependencies,
# into a virtual environment of its own.  Written by `refnet conformance --autograder
# gradescope`; AUTOGRADER_ROOT stands for /autograder (for a trial run elsewhere).
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
source_dir="$root/source"
if [ "${{REFNET_SKIP_APT:-0}}" != 1 ] && command -v apt-get >/dev/null 2>&1; then
    {{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \\
        apt-get install -y -qq python3 python3-venv bubblewrap; }} >/dev/null \\
        || echo "setup.sh: could not install bubblewrap: submissions run without its sandbox" >&2
fi
python3 -c 'import sys; v = sys.version_info[:2]
if v != {python}: print(f"setup.sh: warning: the pins were made on Python {python_text}, this is {{v}}")'
python3 -m venv "$root/refnet-venv"
"$root/refnet-venv/bin/pip" install -q --disable-pip-version-check -r "$source_dir/requirements.txt"
"$root/refnet-venv/bin/pip" install -q --disable-pip-version-check --no-deps "$source_dir"/{wheel}
# The points file and the settings are the instructor's: readable by root only (without
# bubblewrap, a submission runs as a user of its own and cannot read them).
chmod -R go-rwx "$source_dir"
# Warm the grader's cache once, here: refnet's own implementation checked with the
# grading options fills the oracle's values and JAX's compiled programs, which every
# submission then reads (read-only) instead of computing them again.
placeholder="$(mktemp -d)"
mkdir "$placeholder/class" && echo "x = 1" > "$placeholder/class/placeholder.py"
REFNET_GRADER_CACHE="$root/refnet-cache" "$root/refnet-venv/bin/refnet" conformance \
    --batch "$placeholder/class" --out "$placeholder/out" {options} >/dev/null 2>&1 \
    || echo "setup.sh: warming the cache failed: each submission will compute its own" >&2
rm -rf "$placeholder"
echo "setup.sh: refnet installed in $root/refnet-venv"
"""

RUN = """\
#!/usr/bin/env bash
# refnet conformance for Gradescope: grade /autograder/submission into
# /autograder/results/results.json.  Written by `refnet conformance --autograder gradescope`.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
out="$root/results"
mkdir -p "$out"
cd "$root"
export REFNET_GRADER_CACHE="$root/refnet-cache"  # filled by setup.sh
"$root/refnet-venv/bin/refnet" conformance --batch "$root/submission" --single \\
    --out "$out/refnet" {options}
code=$?
if [ -f "$out/refnet/results.json" ]; then
    cp "$out/refnet/results.json" "$out/results.json"
else
    # The grader itself failed: tell the student so, with no score rather than a wrong one.
    "$root/refnet-venv/bin/python" - "$out/results.json" "$code" <<'PY'
import json, sys
json.dump({{"score": 0, "output": f"The autograder failed (exit code {{sys.argv[2]}}): "
           "please tell your instructor.", "tests": []}}, open(sys.argv[1], "w"))
PY
fi
"""


def build_zip(out: Path, argv: list[str], points: Path | None) -> Path:
    """Write the autograder zip to ``out``; ``argv`` are the grading options."""
    source = source_folder()
    options = list(argv)
    if points is not None:
        options += ["--points", f"$root/source/{points.name}"]
    with tempfile.TemporaryDirectory(prefix="refnet-autograder-") as scratch:
        wheel = build_wheel(source, Path(scratch))
        version = sys.version_info
        quoted = " ".join(_quote(word) for word in options)
        files = {
            "setup.sh": SETUP.format(
                options=quoted,
                wheel=wheel.name,
                python=f"({version.major}, {version.minor})",
                python_text=f"{version.major}.{version.minor}",
            ),
            "run_autograder": RUN.format(options=quoted),
            "requirements.txt": requirements(),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                info = zipfile.ZipInfo(name)
                info.external_attr = 0o100755 << 16  # executable, as Gradescope runs them
                archive.writestr(info, text)
            archive.write(wheel, wheel.name)
            if points is not None:
                archive.write(points, points.name)
    return out


def _quote(word: str) -> str:
    """Shell-quote an option, leaving ``$root`` to the script."""
    if word.startswith("$root/"):
        return '"' + word.replace('"', '\\"') + '"'
    return shlex.quote(word)


def source_folder() -> Path:
    """refnet's source folder (the one with pyproject.toml): the wheel is built from it."""
    import refnet

    folder = Path(refnet.__file__).resolve().parent.parent
    if not (folder / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"--autograder builds refnet's wheel from its source folder; {folder} has no "
            "pyproject.toml (install refnet from its source: pip install -e .)"
        )
    return folder


def build_wheel(source: Path, folder: Path) -> Path:
    """refnet's wheel, built with pip from ``source`` into ``folder`` (pip fetches the build
    backend, setuptools, from its index or cache)."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps"]
    command += ["-q", "-w", str(folder), str(source)]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("refnet-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"could not build refnet's wheel: {done.stderr.strip()[-500:]}")
    return wheels[0]


def requirements() -> str:
    """Every package refnet's grader needs, pinned at the version installed here.

    The closure of refnet's requirements with the ``conformance`` extra: a requirement
    with an ``extra`` marker is followed when it names an extra asked for; one with
    another marker (a Python version, a platform) when it is installed here.
    """
    pinned: dict[str, str] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [("refnet", EXTRAS)]
    while todo:
        name, extras = todo.pop()
        key = _canonical(name)
        if key in pinned:
            continue
        try:
            pinned[key] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # behind a marker that does not hold here
        for text in importlib.metadata.requires(name) or []:
            requirement, _, marker = text.partition(";")
            match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[([^\]]*)\])?", requirement)
            if not match:
                continue
            wanted = re.findall(r"extra\s*==\s*[\"']([^\"']+)[\"']", marker)
            if wanted and not set(wanted) & set(extras):
                continue
            child_extras = tuple(e.strip() for e in (match.group(2) or "").split(",") if e.strip())
            todo.append((match.group(1), child_extras))
    del pinned["refnet"]
    lines = [f"{name}=={version}" for name, version in sorted(pinned.items())]
    header = "# Pinned by `refnet conformance --autograder`: the versions it was built with.\n"
    return header + "\n".join(lines) + "\n"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
