"""A function that does not return costs only its own checks and those of its callers.

When a check of a name runs out of time, the name is marked as not returning: its
remaining checks, and the checks whose code calls it, are not run (a failure each, "not
run: numerical_gradient did not return within 120 s") instead of waiting out the limit
again.  Who calls whom is read from the code objects, without running anything: a
function calls a name its bytecode loads (``co_names``, nested functions and lambdas
included); a check of a class calls what the methods it uses load, following
``self.method`` to the class's other methods.
"""

from __future__ import annotations

import types

#: The methods each check of a class calls on the instance (besides ``__init__``).
CHECK_METHODS = {
    "simpleNet.loss": ("loss",),
    "simpleNet.gradient": ("loss",),
    "TwoLayerNet.initial_params": (),
    "TwoLayerNet.loss": ("loss",),
    "TwoLayerNet.numerical_gradient": ("numerical_gradient",),
    "TwoLayerNet.accuracy": ("accuracy",),
    "TwoLayerNet.accuracy_labels": ("accuracy",),
    "TwoLayerNet.gradient": ("gradient",),
}


def _codes(obj) -> list[types.CodeType]:
    """The code objects of a function (or a method, or a callable's ``__call__``)."""
    function = getattr(obj, "__func__", obj)
    code = getattr(function, "__code__", None)
    return [code] if isinstance(code, types.CodeType) else []


def loaded_names(codes) -> set[str]:
    """Every global or attribute name the code objects and their nested code load."""
    names: set[str] = set()
    stack = list(codes)
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def names_called(obj, methods=None) -> set[str]:
    """The names ``obj`` loads: a function's, or for a class the names loaded by
    ``__init__`` and ``methods`` (and the methods those reach through ``self.NAME``)."""
    if not isinstance(obj, type):
        return loaded_names(_codes(obj))
    members = {
        name: value for klass in reversed(obj.__mro__) for name, value in vars(klass).items()
    }
    if methods is None:
        methods = [n for n in members if not n.startswith("__")]
    todo = ["__init__", *methods]
    seen: set[str] = set()
    names: set[str] = set()
    while todo:
        method = todo.pop()
        if method in seen or method not in members:
            continue
        seen.add(method)
        loaded = loaded_names(_codes(members[method]))
        names |= loaded
        todo += [n for n in loaded if n in members and n not in seen]
    return names


def key(found) -> tuple[str, str | None]:
    """What a hang is recorded under: one definition of a name (its file)."""
    return (found.name, found.file)


def blocked_by(check, target, hung: dict, member) -> str | None:
    """The reason ``check`` is not run on ``target`` (the view of one definition), or
    None: ``hung`` (`key` -> reason) holds its own definition or one it needs, or one whose
    spelling the code it runs loads."""
    if not hung:
        return None
    for name in check.requires:
        found = target.found.get(name)
        if found is not None and key(found) in hung:
            return hung[key(found)]
    found = target.found.get(check.function)
    if found is None:
        return None
    used = CHECK_METHODS.get(check.name)
    methods = None if used is None else [member(check.function, m) for m in used]
    loaded = names_called(found.obj, methods)
    for other in target.found.values():
        if key(other) in hung and other.attribute in loaded:
            return hung[key(other)]
    return None
