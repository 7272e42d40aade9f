"""Targets as people lay them out: the book's repository, chapter folders, a package, a flat
file; and the spellings they use, named by --map or a TOML file instead of an adapter.

The fixture repositories under tests/fixtures/ are our own code, laid out like the book's
repository (book_layout/: common/ beside ch04/ and ch05/, scripts that extend sys.path
with os.pardir and import their neighbours by bare name), like a student's chapter folders
(student_chapters/), a package (student_package/ch4lib/) and a flat file with other
spellings (variants.py with variants.toml).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from refnet.conformance.api import TargetError
from refnet.conformance.checks import CHECKS
from refnet.conformance.finding.discovery import defined_names, discover
from refnet.conformance.finding.mapping import parse_entries, read_map_file
from refnet.conformance.finding.notebooks import free_globals, implicit_imports
from refnet.conformance.finding.target import load_target
from refnet.conformance.running.runner import run

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BOOK = FIXTURES / "book_layout"
SMALL = 3

#: Where each of the chapter's names is defined in book_layout/, as a reader finds them.
BOOK_DEFINITIONS = {
    "softmax": ["common/functions.py"],
    "sigmoid": ["common/functions.py"],
    "sum_squared_error": ["common/functions.py"],
    "cross_entropy_error": ["common/functions.py"],
    "numerical_diff": ["ch04/gradient_1d.py"],
    "numerical_gradient": ["common/gradient.py", "ch04/gradient_2d.py"],
    "gradient_descent": ["ch04/gradient_method.py"],
    "simpleNet": ["ch04/gradient_simplenet.py"],
    "TwoLayerNet": ["ch04/two_layer_net.py"],
}


def files_of(target) -> dict[str, list[str]]:
    return {name: [f.file for f in defs] for name, defs in target.definitions.items()}


@pytest.mark.parametrize("where", ["book_layout", "book_layout/ch04"])
def test_the_books_layout_is_found_without_configuration(where):
    target = load_target(str(FIXTURES / where), timeout=30)
    assert files_of(target) == BOOK_DEFINITIONS
    assert target.root == str(BOOK)
    assert target.missing == ()  # mean_squared_error: the squared error is sum_squared_error
    assert target.problems == []  # train_neuralnet.py (a script) and ch05/ were never run
    assert target.hints == {}


def test_discovery_reads_chapter_four_and_its_helpers_and_imports_as_the_scripts_do():
    layout = discover(str(BOOK))
    modules = {source.label: (source.module, source.path_entries) for source in layout.files}
    assert modules == {
        "common/functions.py": ("common.functions", (str(BOOK), str(BOOK / "common"))),
        "common/gradient.py": ("common.gradient", (str(BOOK), str(BOOK / "common"))),
        "ch04/gradient_1d.py": ("gradient_1d", (str(BOOK / "ch04"), str(BOOK))),
        "ch04/gradient_2d.py": ("gradient_2d", (str(BOOK / "ch04"), str(BOOK))),
        "ch04/gradient_method.py": ("gradient_method", (str(BOOK / "ch04"), str(BOOK))),
        "ch04/gradient_simplenet.py": ("gradient_simplenet", (str(BOOK / "ch04"), str(BOOK))),
        "ch04/two_layer_net.py": ("two_layer_net", (str(BOOK / "ch04"), str(BOOK))),
    }


def test_a_check_needing_two_names_takes_the_second_from_the_first_ones_module():
    target = load_target(str(BOOK), timeout=30)
    net = target.definitions["simpleNet"][0]
    seen = target.for_definition(net)
    # gradient_simplenet.py imports common.gradient's numerical_gradient, not ch04's.
    assert seen.found["numerical_gradient"].file == "common/gradient.py"
    method = target.definitions["gradient_descent"][0]
    assert target.for_definition(method).found["numerical_gradient"].file == "ch04/gradient_2d.py"


def test_a_reproduction_puts_the_chapter_folder_and_the_root_on_the_path():
    target = load_target(str(BOOK), timeout=30)
    seen = target.for_definition(target.definitions["TwoLayerNet"][0])
    assert seen.setup_lines({"TwoLayerNet"}) == [
        f"import sys; sys.path[:0] = {[str(BOOK / 'ch04'), str(BOOK)]!r}",
        "from two_layer_net import TwoLayerNet",
    ]


@pytest.fixture(scope="module")
def book_layout_reports():
    target = load_target(str(BOOK), timeout=30)
    return {p: run(target, profile=p, max_examples=SMALL) for p in ("book", "strict")}


#: The book's pitfalls, as this repository has them: (check, file) pairs.
BOOK_LAYOUT_PITFALLS = {
    (name, file)
    for name in (
        "numerical_gradient.restores_x_on_error",
        "numerical_gradient.integer_x",
        "numerical_gradient.float32_x",
    )
    for file in ("common/gradient.py", "ch04/gradient_2d.py")
} | {
    ("gradient_descent.init_x_unchanged", "ch04/gradient_method.py"),
    # gradient_2d.py's gradient of a matrix is the gradient of f on each row: accepted, and
    # silently not f's gradient, as in the book's own code (a warning under book).
    ("numerical_gradient.any_shape", "ch04/gradient_2d.py"),
}


def test_a_book_layout_passes_the_book_profile_every_definition_under_its_file(
    book_layout_reports,
):
    report = book_layout_reports["book"]
    assert report.exit_code == 0
    ran = [r for r in report.results if r.status != "skip"]
    assert {(r.name, r.file) for r in ran if r.status == "warn"} == BOOK_LAYOUT_PITFALLS
    assert all(r.status in ("pass", "warn") for r in ran)
    for result in ran:
        assert result.file in BOOK_DEFINITIONS[result.function], result
    per_definition = [
        c.name for c in CHECKS if c.function == "numerical_gradient" and "book" in c.profiles
    ]
    for file in BOOK_DEFINITIONS["numerical_gradient"]:
        assert [r.name for r in ran if r.file == file and r.function == "numerical_gradient"] == (
            per_definition
        )
    descent = next(r for r in ran if r.name == "gradient_descent.matches_jax")
    assert descent.notes == ["returns (x, x_history), as the book's gradient_method.py does"]


def test_a_book_layout_fails_the_strict_profile_naming_its_pitfalls(book_layout_reports):
    report = book_layout_reports["strict"]
    assert report.exit_code == 1
    failed = {(r.name, r.file) for r in report.results if r.status == "fail"}
    assert failed == BOOK_LAYOUT_PITFALLS | {
        ("numerical_gradient.any_shape", "ch04/gradient_2d.py"),  # rows of a matrix, not x
        ("gradient_descent.matches_jax", "ch04/gradient_method.py"),  # (x, history)
        ("TwoLayerNet.accuracy_labels", "ch04/two_layer_net.py"),  # one-hot t only
    }


def test_a_students_chapter_folders_are_found_with_names_imported_from_chapter_three():
    target = load_target(str(FIXTURES / "student_chapters"), timeout=30)
    assert files_of(target) == {
        "softmax": ["ch03/activations.py"],
        "sigmoid": ["ch03/activations.py"],
        "mean_squared_error": ["ch04/loss_functions.py"],
        "cross_entropy_error": ["ch04/loss_functions.py"],
        "numerical_diff": ["ch04/4-3 scratch.py", "ch04/derivatives.py"],
        "numerical_gradient": ["ch04/derivatives.py"],
        "gradient_descent": ["ch04/derivatives.py"],
        "simpleNet": ["ch04/networks.py"],
        "TwoLayerNet": ["ch04/networks.py"],
    }
    # A file name that is no module name is loaded by its path, and named as it is.
    assert target.problems == []
    report = run(
        target, profile="strict", max_examples=SMALL, select=["softmax.values", "TwoLayerNet.loss"]
    )
    assert [(r.name, r.status) for r in report.results] == [
        ("softmax.values", "pass"),
        ("TwoLayerNet.loss", "pass"),
    ]


def test_a_package_is_read_module_by_module_under_dotted_names():
    target = load_target(str(FIXTURES / "student_package" / "ch4lib"))
    assert {n: (f.module, f.file) for n, f in target.found.items()} == {
        "softmax": ("ch4lib.activations", "ch4lib/activations.py"),
        "sigmoid": ("ch4lib.activations", "ch4lib/activations.py"),
        "mean_squared_error": ("ch4lib.losses", "ch4lib/losses.py"),
        "cross_entropy_error": ("ch4lib.losses", "ch4lib/losses.py"),
        "numerical_diff": ("ch4lib.calculus", "ch4lib/calculus.py"),
        "numerical_gradient": ("ch4lib.calculus", "ch4lib/calculus.py"),
        "gradient_descent": ("ch4lib.calculus", "ch4lib/calculus.py"),
        "TwoLayerNet": ("ch4lib.networks", "ch4lib/networks.py"),
    }
    assert target.missing == ("simpleNet",)
    assert target.hints == {"simpleNet": "--map simpleNet=MODULE:NAME"}


def test_the_book_profile_says_which_cross_entropy_matched():
    target = load_target(str(FIXTURES / "student_package" / "ch4lib"))
    report = run(target, profile="book", max_examples=SMALL, select=["cross_entropy_error.batch"])
    (result,) = report.results
    assert result.status == "pass"
    assert result.notes == [
        "matches cross-entropy without delta, -log(y) (the book's first printing)"
    ]
    strict = run(target, profile="strict", max_examples=SMALL, select=["cross_entropy_error.batch"])
    assert strict.results[0].status == "fail"


def test_names_defined_at_the_top_level_only_are_found():
    source = (
        "import numpy as np\n"
        "try:\n    from scipy.special import softmax\nexcept ImportError:\n"
        "    def softmax(a):\n        pass\n"
        "if __name__ == '__main__':\n    def sigmoid(x):\n        pass\n"
        "def helper():\n    def numerical_diff(f, x):\n        pass\n"
        "numerical_difference = None\n"
    )
    assert defined_names(source) == ("softmax", "numerical_difference")


# -- spellings: --map and --map-file ------------------------------------------------------------

VARIANTS = str(FIXTURES / "variants.py")


def test_every_check_a_missing_spelling_stops_says_which_map_line_enables_it():
    report = run(load_target(VARIANTS), profile="strict", max_examples=SMALL)
    skipped = {r.name: r.map_hint for r in report.results if r.status == "skip"}
    ctor = (
        "--map TwoLayerNet.input_size=n_in --map TwoLayerNet.hidden_size=n_hidden "
        "--map TwoLayerNet.output_size=n_out"
    )
    assert skipped == {
        "sum_squared_error.one_sample": None,  # the squared error is mean_squared_error
        "sum_squared_error.batch": None,
        "sum_squared_error.inputs_unchanged": None,
        "gradient_descent.matches_jax": "--map gradient_descent.lr=learning_rate "
        "--map gradient_descent.step_num=steps",
        "gradient_descent.init_x_unchanged": "--map gradient_descent.lr=learning_rate "
        "--map gradient_descent.step_num=steps",
        **{c.name: ctor for c in CHECKS if c.function == "TwoLayerNet" and "strict" in c.profiles},
    }
    assert all(r.status in ("pass", "skip") for r in report.results)


MAP_LINES = [
    "gradient_descent.lr=learning_rate",
    "gradient_descent.step_num=steps",
    "SimpleNet.W=w",
    "TwoLayerNet.input_size=n_in",
    "TwoLayerNet.hidden_size=n_hidden",
    "TwoLayerNet.output_size=n_out",
    "TwoLayerNet.params=weights",
    "TwoLayerNet.numerical_gradient=numerical_gradient_net",
    "TwoLayerNet.gradient=backprop",
]


def test_the_map_file_and_the_map_lines_say_the_same():
    from_file = read_map_file(str(FIXTURES / "variants.toml"))
    assert from_file.members == parse_entries(MAP_LINES).members


def test_with_its_spellings_mapped_the_variant_passes_the_strict_profile():
    target = load_target(VARIANTS, read_map_file(str(FIXTURES / "variants.toml")))
    report = run(target, profile="strict", max_examples=SMALL)
    assert {r.name for r in report.results if r.status != "pass"} == {
        "sum_squared_error.one_sample",
        "sum_squared_error.batch",
        "sum_squared_error.inputs_unchanged",
    }
    net = next(r for r in report.results if r.name == "TwoLayerNet.numerical_gradient")
    assert net.status == "pass"


def test_a_reproduction_uses_the_targets_spellings():
    target = load_target(VARIANTS, MAP_LINES)
    from refnet.conformance.checks.case import Case

    case = Case(target)
    assert case.constructor("TwoLayerNet", input_size=2, hidden_size=3, output_size=4) == (
        "TwoLayerNet(n_in=2, n_hidden=3, n_out=4)"
    )
    assert case.keywords("gradient_descent", lr=0.1, step_num=5) == "learning_rate=0.1, steps=5"
    assert case.member("TwoLayerNet", "numerical_gradient") == "numerical_gradient_net"


@pytest.mark.parametrize(
    "entry, message",
    [
        ("softmax", "expected NAME=MODULE:ATTRIBUTE, NAME=ATTRIBUTE or NAME.MEMBER=SPELLING"),
        ("relu=relu", "'relu' is not one of the chapter's names"),
        ("softmax=:softmax", "must be MODULE:ATTRIBUTE"),
        ("softmax=my-module:softmax", "module 'my-module' is not a Python name"),
        ("TwoLayerNet.forward=predict", "TwoLayerNet has no member 'forward' that the checks use"),
        ("SimpleNet.W=not a name", "'not a name' is not a Python name"),
        ("softmax.axis=dim", "softmax has no member 'axis'"),
    ],
)
def test_a_malformed_mapping_names_the_entry_and_the_problem(entry, message):
    with pytest.raises(TargetError) as caught:
        parse_entries([entry])
    assert message in str(caught.value)
    assert repr(entry) in str(caught.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ("softmax = [1, 2]\n", "softmax must be a string"),
        ("[TwoLayerNet\n", "not valid TOML"),
        ("[TwoLayerNet]\nforward = 'predict'\n", "has no member 'forward'"),
    ],
)
def test_a_malformed_map_file_names_the_file_and_the_problem(tmp_path, text, message):
    path = tmp_path / "map.toml"
    path.write_text(text)
    with pytest.raises(TargetError) as caught:
        read_map_file(str(path))
    assert message in str(caught.value)


def test_a_missing_map_file_is_named():
    with pytest.raises(TargetError, match="--map-file nowhere.toml: No such file"):
        read_map_file("nowhere.toml")


# -- listings of one interactive session: np used, imported only by an earlier listing ------

#: A file that uses the global np and binds it nowhere: the rule binds np to NumPy.
USES_NP = "def cross_entropy_error(y, t):\n    return -np.sum(t * np.log(y + 1e-7)) / len(y)\n"


@pytest.mark.parametrize(
    ("source", "names"),
    [
        (USES_NP, {"np": "numpy"}),
        ("x = np.zeros(3)\n", {"np": "numpy"}),  # read at the top level
        ("class Net:\n    def f(self):\n        return [np.e for _ in 'ab']\n", {"np": "numpy"}),
        ("import numpy\n" + USES_NP, {"np": "numpy"}),  # numpy, but not as np
        # The file binds np itself, or never reads a global np: left alone.
        ("import numpy as np\n" + USES_NP, {}),
        (USES_NP + "import numpy as np\n", {}),  # bound later: the module binds it
        ("import cupy as np\n" + USES_NP, {}),
        ("np = None\n" + USES_NP, {}),
        ("def setup():\n    global np\n    import numpy as np\n" + USES_NP, {}),
        ("def f(np):\n    return np.sum(1)\n", {}),
        ("def f(x):\n    np = x\n    return np.sum()\n", {}),
        ("from helpers import *\n" + USES_NP, {}),  # a star import may bind np
        ("def f(x):\n    return plt.plot(x)\n", {}),  # plt: not a name with one meaning
    ],
)
def test_only_a_global_np_the_file_never_binds_is_bound_for_it(source, names):
    assert implicit_imports(source) == names


def test_a_listing_that_uses_np_without_importing_it_is_graded_with_one_note(tmp_path):
    (tmp_path / "ex4-1.py").write_text("import numpy as np\nprint(np.e)\n", encoding="utf-8")
    (tmp_path / "ex4-2.py").write_text(
        USES_NP + "cross_entropy_error(np.array([0.5, 0.5]), np.array([1.0, 0.0]))\n",
        encoding="utf-8",
    )
    (tmp_path / "ex4_3.py").write_text(  # a module name: imported by path all the same
        "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n", encoding="utf-8"
    )
    target = load_target(str(tmp_path))
    notes = [n for n in target.notes if "without `import numpy as np`" in n]
    assert sorted(n.split()[0] for n in notes) == ["ex4-2.py", "ex4_3.py"], target.notes
    assert not [n for n in target.notes if "raised" in n], target.notes  # nothing left out
    for profile in ("book", "strict"):
        report = run(target, profile=profile, max_examples=SMALL, select=["sigmoid", "cross_"])
        statuses = {r.name: r.status for r in report.results}
        assert statuses["sigmoid.values"] == "pass", profile
        assert statuses["cross_entropy_error.batch"] == "pass", profile
    # A reproduction replays in a fresh interpreter, binding np the same way.
    lines = target.setup_lines({"cross_entropy_error", "sigmoid"})
    assert "refnet" not in "\n".join(lines)  # a student has NumPy and the files, not refnet
    code = "\n".join(["import numpy as np", *lines, "print(sigmoid(np.array(0.0)))"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "0.5", done.stderr


# -- a renamed function: a hint with the --map line to paste, never a mapping -------------------


def test_a_renamed_function_is_suggested_with_the_map_line_and_never_mapped(tmp_path):
    (tmp_path / "calculus.py").write_text(
        "def softmax(a):\n    return a\n"  # a chapter name: the file is imported
        "def numerical_diff_0(f, x):\n    return (f(x + 1e-4) - f(x - 1e-4)) / (2 * 1e-4)\n"
        "def numerical_diff_fast(f):\n    return f\n"  # a close name, not the book's call
        "def numerical_differ(f, x, y):\n    return f\n",  # three arguments required
        encoding="utf-8",
    )
    (tmp_path / "descend.py").write_text(  # none of the chapter's names: not imported
        "def gradient_descend(f, init_x, learn_rate, step):\n"
        "    x = init_x.copy()\n"
        "    for _ in range(step):\n"
        "        g = (f(x + 1e-4) - f(x - 1e-4)) / 2e-4 if x.size == 1 else None\n"
        "        x = x - learn_rate * g\n"
        "    return x\n",
        encoding="utf-8",
    )
    target = load_target(str(tmp_path))
    assert "numerical_diff" not in target.found and "gradient_descent" not in target.found
    assert target.hints["numerical_diff"] == "--map numerical_diff=numerical_diff_0"
    assert target.hints["gradient_descent"] == (
        "--map gradient_descent=gradient_descend --map gradient_descent.lr=learn_rate "
        "--map gradient_descent.step_num=step"
    )
    assert target.hints["sigmoid"] == "--map sigmoid=NAME"  # nothing close: a template
    (note,) = [n for n in target.notes if n.startswith("numerical_diff not found;")]
    assert "numerical_diff_0 in calculus.py" in note and "--map numerical_diff=" in note
    assert "numerical_diff_fast" not in note and "numerical_differ" not in note
    # Pasted as it is, the line grades the renamed function (a file outside the chapter's
    # names is imported for it).
    entries = [e for e in " ".join(target.hints.values()).split() if "=" in e and ":" not in e]
    mapped = load_target(str(tmp_path), [e for e in entries if "NAME" not in e])
    assert mapped.found["numerical_diff"].attribute == "numerical_diff_0"
    assert mapped.found["gradient_descent"].file == "descend.py"
    report = run(mapped, profile="book", max_examples=SMALL, select=["numerical_diff"])
    assert {r.name: r.status for r in report.results} == dict.fromkeys(
        ["numerical_diff.central", "numerical_diff.f_returns"], "pass"
    )


DESCENT = """
def gradient_descent(f, init_x, lr=0.01, step_num=100):
    x = init_x.copy()
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x
"""
GRADIENT = """
import numpy as np
def numerical_gradient(f, x):
    grad = np.zeros_like(x)
    for i in range(x.size):
        kept = x[i]
        x[i] = kept + 1e-4
        up = f(x)
        x[i] = kept - 1e-4
        down = f(x)
        x[i] = kept
        grad[i] = (up - down) / 2e-4
    return grad
"""


def test_a_listing_calling_what_an_earlier_listing_defined_gets_the_submissions_own(tmp_path):
    (tmp_path / "ex4-10.py").write_text(GRADIENT, encoding="utf-8")
    (tmp_path / "ex4-11.py").write_text(DESCENT, encoding="utf-8")
    target = load_target(str(tmp_path))
    (note,) = [n for n in target.notes if "without defining or importing it" in n]
    assert note.startswith("ex4-11.py uses numerical_gradient") and "from ex4-10.py" in note
    report = run(target, profile="book", max_examples=SMALL, select=["gradient_descent"])
    assert {r.status for r in report.results} == {"pass"}, [r.reason for r in report.results]
    # The reproduction binds it the same way, from any directory.
    lines = target.setup_lines({"gradient_descent"})
    assert "refnet" not in "\n".join(lines)  # a student has NumPy and the files, not refnet
    call = "print(gradient_descent(lambda x: np.sum(x**2), np.array([1.0]), 0.25, 1)[0])"
    code = "\n".join(["import numpy as np", *lines, call])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert abs(float(done.stdout) - 0.5) < 1e-6  # 1 - 0.25 * 2: the step was taken


@pytest.mark.parametrize(
    "head",
    ["from grads import numerical_gradient\n", "from grads import *\n", "numerical_gradient = 1\n"],
)
def test_a_file_that_binds_the_name_itself_is_left_alone(head):
    assert free_globals(head + DESCENT, {"numerical_gradient"}) == []
    assert free_globals(DESCENT, {"numerical_gradient"}) == ["numerical_gradient"]


def test_beside_chapter_four_a_file_named_for_another_chapter_is_not_read(tmp_path):
    """A notebooks/ folder of ch03.ipynb ... ch05.ipynb beside ch04/: chapter 5's network
    (ReLU, not chapter 4's sigmoid) is not chapter 4's TwoLayerNet."""
    (tmp_path / "ch04").mkdir()
    (tmp_path / "ch04" / "descent.py").write_text(DESCENT + GRADIENT, encoding="utf-8")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "ch05.py").write_text("class TwoLayerNet:\n    pass\n", encoding="utf-8")
    (tmp_path / "notes" / "ch04_extra.py").write_text(
        "def sigmoid(x):\n    return x\n", encoding="utf-8"
    )
    target = load_target(str(tmp_path / "ch04"))
    assert "TwoLayerNet" not in target.found
    assert target.found["sigmoid"].file == "notes/ch04_extra.py"  # chapter 4's: read
    reasons = {entry["file"]: entry["reason"] for entry in target.not_graded}
    assert "another chapter's file" in reasons["notes/ch05.py"]
