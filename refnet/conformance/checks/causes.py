"""One cause, one message: the failures a root failure explains are grouped under it.

Some properties are roots: when ``numerical_gradient`` leaves ``x`` perturbed after a
call, every check that calls it twice, compares ``x`` or reads ``x`` from a closure fails
too, each with a diagnosis of its own that points elsewhere.  After a run, each failure
of a check that uses a failed root's function (the function itself, a check that requires
it, or code that calls it: hangs.py) is marked with that root as its ``cause`` and its
reason says so first; the report lists each root once with the checks it explains.
"""

from __future__ import annotations

from ..running.hangs import names_called

#: Root checks, and the cause each states when it fails.
ROOTS = {
    "numerical_gradient.restores_x": "numerical_gradient leaves x perturbed after each call",
    "numerical_gradient.vector": "numerical_gradient is off on a plain 1-D x",
    "numerical_gradient.closure": (
        "numerical_gradient is off when f reads x through a closure (as a network's loss "
        "reads its weights)"
    ),
    "numerical_diff.central": "numerical_diff is not the central difference",
    "softmax.values": "softmax is off on one row of logits",
    "softmax.batch": "softmax is off on a batch (each row must be normalised on its own)",
    "cross_entropy_error.one_sample": "cross_entropy_error is off on one sample",
    "TwoLayerNet.loss": "TwoLayerNet.loss is off",
}
#: Roots that explain only these checks (a wrong loss makes its gradients wrong, but not
#: the accuracy, which reads predict).
EXPLAINS_ONLY = {
    "TwoLayerNet.loss": {"TwoLayerNet.numerical_gradient", "TwoLayerNet.gradient"},
}
#: Checks of a property no other root implies, and the roots that may explain them: a
#: float32 x is judged against the float32-rounded reference on its own example, and an x
#: left perturbed when f raises is a fault of its own unless x is left perturbed always.
EXPLAINED_ONLY_BY = {
    "numerical_gradient.float32_x": set(),
    "numerical_gradient.restores_x_on_error": {"numerical_gradient.restores_x"},
}
#: Roots that an earlier root explains in turn (a network's loss is off because its softmax
#: or its cross-entropy is): they come last in ROOTS.
DOWNSTREAM_ROOTS = {"TwoLayerNet.loss"}
#: Roots that explain failures also when they are only a warning under the profile: the
#: book's section-3.5 softmax given a batch is the book's pitfall, the network built on it
#: fails.
WARNING_ROOTS = {"softmax.batch"}


def _uses(result, root_function: str, target) -> bool:
    if result.function == root_function:
        return True
    found = target.found.get(result.function)
    root = target.found.get(root_function)
    if found is None or root is None:
        return False
    return root.attribute in names_called(found.obj)


def group(results, target) -> list[dict]:
    """Mark the failures each failed root explains; return the groups (root, cause, checks)."""
    groups = []
    for root_name, cause in ROOTS.items():
        # A root that raised is no statement about its property: its own failure only.
        statuses = {"fail", "warn"} if root_name in WARNING_ROOTS else {"fail"}
        roots = [
            r
            for r in results
            if r.name == root_name and r.status in statuses and r.exception is None and not r.cause
        ]
        if not roots:
            continue
        root = roots[0]
        explained = []
        for result in results:
            if result is root or result.status != "fail" or result.cause is not None:
                continue
            if (
                result.name in ROOTS
                and result.name not in DOWNSTREAM_ROOTS
                and result.name != root_name
                and result.function != root.function
            ):
                continue
            if root.file and result.function == root.function and result.file != root.file:
                continue  # another definition of the same name: its own verdict
            if result.name in EXPLAINED_ONLY_BY and root_name not in EXPLAINED_ONLY_BY[result.name]:
                continue
            if root_name in EXPLAINS_ONLY and result.name not in EXPLAINS_ONLY[root_name]:
                continue
            if _uses(result, root.function, target):
                result.cause = cause
                result.reason = f"follows from {root_name} ({cause}): {result.reason}"
                explained.append(result.name)
        if explained:
            root.cause = cause
            total = len(explained) + (root.status == "fail")
            groups.append(
                {
                    "root": root_name,
                    "cause": cause,
                    "checks": [root_name, *explained],
                    "message": f"{total} {'check fails' if total == 1 else 'checks fail'} "
                    f"because {cause}",
                }
            )
    return groups
