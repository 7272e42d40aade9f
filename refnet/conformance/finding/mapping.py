"""Mappings: where a name comes from, and what the target calls a member.

One entry maps one thing, on the command line (``--map ENTRY``, repeatable) or in a TOML
file (``--map-file FILE``):

``NAME=MODULE:ATTRIBUTE``
    take the chapter's NAME from MODULE (imported with the target's folders on
    ``sys.path``): ``numerical_gradient=common.gradient:numerical_gradient``.
``NAME=ATTRIBUTE``
    check the target's ATTRIBUTE as NAME (and not under its own name):
    ``sum_squared_error=mean_squared_error``.  In a folder, the first file that defines
    ATTRIBUTE, also one that defines none of the chapter's names (then it is imported).
``NAME.MEMBER=SPELLING``
    the target spells a member of NAME differently: a method
    (``TwoLayerNet.numerical_gradient=numerical_gradient_net``), an attribute
    (``SimpleNet.W=w``), a keyword argument (``gradient_descent.lr=learning_rate``) or a
    constructor argument (``TwoLayerNet.hidden_size=n_hidden``).

A TOML file holds the same entries as keys and values; a table groups the members of one
name, and a quoted key holds a dot::

    numerical_gradient = "common.gradient:numerical_gradient"
    "TwoLayerNet" = "ch04.two_layer_net:TwoLayerNet"

    [TwoLayerNet]
    numerical_gradient = "numerical_gradient_net"

    [gradient_descent]
    lr = "learning_rate"

A name not found gets a hint, never a mapping: a definition that may be it renamed
(`RENAME_RULE`: a close name that takes the book's call) is named in a note with the
``--map`` entries to paste.

TOML is read with the standard library's ``tomllib`` (Python 3.11+) or, on Python 3.10,
with ``tomli``, which the ``conformance`` extra installs there.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING

from ..._checks import install_hint
from ..api import API_NAMES, CANONICAL, TargetError, api_name

if TYPE_CHECKING:
    from .discovery import Definition


@dataclass
class Mapping:
    """Parsed entries: names by source, and member spellings."""

    #: the book's name -> (module or None for the target's own, attribute)
    names: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    #: (the book's name, member) -> the target's spelling
    members: dict[tuple[str, str], str] = field(default_factory=dict)

    def entries(self) -> list[str]:
        """The entries again, as ``--map`` would take them."""
        out = [
            f"{name}={module}:{attribute}" if module else f"{name}={attribute}"
            for name, (module, attribute) in self.names.items()
        ]
        out += [f"{name}.{member}={spelling}" for (name, member), spelling in self.members.items()]
        return out


def _identifier(text: str, entry: str, what: str) -> str:
    if not all(part.isidentifier() for part in text.split(".")):
        raise TargetError(f"--map {entry!r}: {what} {text!r} is not a Python name")
    return text


def _name(spelling: str, entry: str) -> str:
    if spelling not in CANONICAL:
        raise TargetError(
            f"--map {entry!r}: {spelling!r} is not one of the chapter's names "
            f"({', '.join(API_NAMES)})"
        )
    return CANONICAL[spelling]


def _add(mapping: Mapping, entry: str) -> None:
    left, sep, right = entry.partition("=")
    left, right = left.strip(), right.strip()
    if not sep or not left or not right:
        raise TargetError(
            f"--map {entry!r}: expected NAME=MODULE:ATTRIBUTE, NAME=ATTRIBUTE or "
            "NAME.MEMBER=SPELLING, e.g. numerical_gradient=common.gradient:numerical_gradient"
        )
    spelling, dot, member = left.partition(".")
    name = _name(spelling, entry)
    if dot:
        members = api_name(name).members
        if member not in members:
            known = ", ".join(f"{m} ({kind})" for m, kind in members.items()) or "none"
            raise TargetError(
                f"--map {entry!r}: {name} has no member {member!r} that the checks use "
                f"(its members: {known})"
            )
        if not right.isidentifier():
            raise TargetError(f"--map {entry!r}: {right!r} is not a Python name")
        mapping.members[(name, member)] = right
        return
    module, colon, attribute = right.rpartition(":")
    if colon and (not module or not attribute):
        raise TargetError(f"--map {entry!r}: {right!r} must be MODULE:ATTRIBUTE")
    if colon:
        _identifier(module, entry, "module")
    _identifier(attribute, entry, "attribute")
    mapping.names[name] = (module if colon else None, attribute)


def parse_entries(entries, mapping: Mapping | None = None) -> Mapping:
    """Entries (strings, or a dict of NAME -> SOURCE) added to ``mapping`` (or a new one).

    Examples
    --------
    >>> m = parse_entries(["SimpleNet.W=w", "gradient_descent.lr=learning_rate"])
    >>> m.members
    {('simpleNet', 'W'): 'w', ('gradient_descent', 'lr'): 'learning_rate'}
    >>> parse_entries(["numerical_gradient=common.gradient:numerical_gradient"]).names
    {'numerical_gradient': ('common.gradient', 'numerical_gradient')}
    """
    mapping = mapping if mapping is not None else Mapping()
    if isinstance(entries, Mapping):
        entries = entries.entries()
    elif isinstance(entries, dict):
        entries = [f"{key}={value}" for key, value in entries.items()]
    for entry in entries:
        _add(mapping, entry)
    return mapping


def toml_reader(option: str) -> ModuleType:
    """The TOML parser: the standard library's tomllib, or tomli on Python 3.10."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ModuleNotFoundError:
        raise TargetError(
            f"{option} needs a TOML reader: Python 3.11+ has one, on 3.10 "
            f"{install_hint('conformance')} (which installs tomli)"
        ) from None
    return tomli


def _flatten(table: dict, prefix: str, path: str) -> list[str]:
    out = []
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out += _flatten(value, full, path)
        elif isinstance(value, str):
            out.append(f"{full}={value}")
        else:
            raise TargetError(f"--map-file {path}: {full} must be a string, got {value!r}")
    return out


def read_map_file(path: str, mapping: Mapping | None = None) -> Mapping:
    """The entries of a TOML mapping file, added to ``mapping`` (or a new one)."""
    tomllib = toml_reader("--map-file")
    try:
        with open(path, "rb") as handle:
            table = tomllib.load(handle)
    except OSError as exc:
        raise TargetError(f"--map-file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetError(f"--map-file {path}: not valid TOML: {exc}") from None
    return parse_entries(_flatten(table, "", path), mapping)


# -- a hint for a renamed function: never a mapping --------------------------------------

#: How the checks call each name: (a class?, positional arguments).  A candidate for a
#: missing name must take that call (gradient_descent's lr and step_num by position).
BOOK_CALLS = {
    "softmax": (False, 1),
    "sigmoid": (False, 1),
    "mean_squared_error": (False, 2),
    "sum_squared_error": (False, 2),
    "cross_entropy_error": (False, 2),
    "numerical_diff": (False, 2),
    "numerical_gradient": (False, 2),
    "gradient_descent": (False, 4),
    "simpleNet": (True, 0),
    "TwoLayerNet": (True, 3),
}
#: The similarity of two names (difflib's ratio, lower case) from which one may be a
#: renaming of the other: numerical_diff_0 (0.93), gradient_descend (0.94) are; sigmoid
#: and softmax (0.29), numerical_diff and numerical_gradient (0.69) are not.
SIMILAR = 0.75
RENAME_RULE = (
    f"a name within difflib similarity {SIMILAR} of the book's, or holding all of its "
    "words, that takes the book's call"
)


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return {w for w in spaced.split("_") if w}


def _callable_as(definition: Definition, name: str) -> bool:
    is_class, arguments = BOOK_CALLS[name]
    if definition.is_class != is_class or definition.keyword_only:
        return False
    if definition.required > arguments:
        return False
    return definition.positional >= arguments or definition.varargs


def rename_candidates(name: str, definitions) -> list[tuple[float, Definition]]:
    """The definitions (discovery.Definition) that may be ``name`` renamed, best first, with
    their similarity: RENAME_RULE."""
    out = []
    for definition in definitions:
        if definition.name in CANONICAL or definition.name.startswith("__"):
            continue
        ratio = difflib.SequenceMatcher(None, name.lower(), definition.name.lower()).ratio()
        if ratio < SIMILAR and not _words(name) <= _words(definition.name):
            continue
        if _callable_as(definition, name):
            out.append((ratio, definition))
    out.sort(key=lambda pair: -pair[0])
    return out


def rename_lines(name: str, definition: Definition) -> str:
    """The --map entries that grade ``definition`` as ``name``: the name, and where the
    checks pass keywords (gradient_descent's lr, step_num) the parameters in their place."""
    entries = [f"--map {name}={definition.name}"]
    for member, kind in api_name(name).members.items():
        if kind != "keyword":
            continue
        position = list(BOOK_KEYWORD_POSITIONS[name]).index(member) + 2
        spelled = definition.parameters[position] if position < definition.positional else None
        if spelled and spelled != member:
            entries.append(f"--map {name}.{member}={spelled}")
    return " ".join(entries)


def rename_hint(name: str, definitions, relative) -> tuple[str, str] | None:
    """The --map entries for the best renaming of ``name`` among ``definitions``, and the
    note that says why (``relative(path)`` names a file), or None."""
    candidates = rename_candidates(name, definitions)
    if not candidates:
        return None
    ratio, best = candidates[0]
    line = rename_lines(name, best)
    others = [f"{d.name} ({relative(d.file)})" for _, d in candidates[1:3]]
    note = (
        f"{name} not found; {best.name} in {relative(best.file)} may be it "
        f"({RENAME_RULE}: similarity {ratio:.2f}): to grade it as {name}, add {line}"
        + (f" (other candidates: {', '.join(others)})" if others else "")
        + "; nothing is mapped without it"
    )
    return line, note


#: The position of each keyword in the book's signature, after (f, init_x).
BOOK_KEYWORD_POSITIONS = {"gradient_descent": ("lr", "step_num")}
