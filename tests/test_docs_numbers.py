"""The documentation's quoted numbers: every ``{{ name }}`` on a page has a source.

mkdocs_hooks.py fills ``{{ key }}`` from docs/figures/numbers.json and
``{{ bench.NAME.path }}`` from docs/figures/benchmarks/NAME.json; the build stops on a name
it cannot find.  These tests run the same resolution without building the site, so the
test suite catches a page that quotes a number nobody writes.
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from .conftest import ROOT

DOCS = ROOT / "docs"


def _hooks():
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "mkdocs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _hooks()
SOURCES = {
    "plain": "1.5e-08",
    "count": 7,
    "bench": {
        "speed": {
            "script": "s",
            "measured": "m",
            "machine": "x",
            "cases": {"a": {"wall_s": 0.021, "n": 3}},
            "tables": {
                "t": {
                    "columns": ["case", "time", "speed", "error"],
                    "formats": [None, "time", "ratio", ".1e"],
                    "rows": [
                        ["n = 10", 0.021, 12.345, 3.2e-11],
                        ["n = 20", {"value": 1.5, "note": "*"}, None, "n/a"],
                    ],
                },
                "ragged": {"columns": ["a", "b"], "rows": [[1]]},
            },
        }
    },
}


def test_a_plain_name_comes_from_numbers_json():
    assert hooks.fill("h = {{ plain }} here", SOURCES) == "h = 1.5e-08 here"
    assert hooks.fill("{{count}} and {{  count  }}", SOURCES) == "7 and 7"


def test_a_bench_name_walks_the_benchmark_file():
    assert hooks.fill("{{ bench.speed.cases.a.n }}", SOURCES) == "3"
    assert hooks.fill("{{ bench.speed.machine }}", SOURCES) == "x"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ bench.speed.cases.a.wall_s:.1e }}", "2.1e-02"),
        ("{{ bench.speed.cases.a.wall_s:time }}", "21 ms"),
        ("{{ count:.1f }}", "7.0"),
    ],
)
def test_a_format_spec_formats_a_number(text, expected):
    assert hooks.fill(text, SOURCES) == expected


def test_a_table_is_generated_from_a_benchmark_group():
    text = hooks.fill("before\n\n{{ table bench.speed.tables.t }}\n\nafter", SOURCES)
    assert text.splitlines() == [
        "before",
        "",
        "| case | time | speed | error |",
        "|---|---|---|---|",
        "| n = 10 | 21 ms | 12.3x | 3.2e-11 |",
        "| n = 20 | 1.5 s* | — | n/a |",
        "",
        "after",
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ table bench.speed.cases }}", r"needs a benchmark group with 'columns' and 'rows'"),
        ("{{ table bench.speed.tables.ragged }}", r"a row has 1 cells, not 2"),
        ("{{ table bench.speed.tables.none }}", r"bench.speed.tables has no 'none'"),
        ("{{ table plain }}", r"needs a benchmark group"),
    ],
)
def test_a_bad_table_stops_the_build(text, message):
    with pytest.raises(hooks.UnknownNumber, match=message):
        hooks.fill(text, SOURCES, "page.md")


@pytest.mark.parametrize(
    "seconds, expected",
    [
        (56.2, "56.2 s"),
        (999.0, "999 s"),
        (4277.0, "71.3 min"),
        (59_000.0, "983 min"),
        (61_200.0, "17 h"),
        (1.0, "1 s"),
        (0.069, "69 ms"),
        (0.00011, "110 µs"),
        (1e-5, "10 µs"),
    ],
)
def test_durations_are_written_in_their_unit(seconds, expected):
    assert hooks.human_time(seconds) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ nowhere }}", r"not in docs/figures/numbers.json"),
        ("{{ bench.speed.cases.b.n }}", r"bench.speed.cases has no 'b' \(it has \['a'\]\)"),
        ("{{ bench.missing.x }}", r"bench has no 'missing'"),
        ("{{ bench.speed.cases }}", r"is a group, not a number"),
        ("{{ plain:.2f }}", r"a format needs a number"),
    ],
)
def test_an_unknown_name_stops_with_what_there_is(text, message):
    with pytest.raises(hooks.UnknownNumber, match=message):
        hooks.fill(text, SOURCES, "page.md")


def test_a_benchmark_file_must_say_where_its_numbers_come_from(tmp_path):
    (tmp_path / "figures" / "benchmarks").mkdir(parents=True)
    (tmp_path / "figures" / "numbers.json").write_text("{}")
    (tmp_path / "figures" / "benchmarks" / "bare.json").write_text('{"cases": {}}')
    with pytest.raises(ValueError, match=r"must say \['machine', 'measured', 'script'\]"):
        hooks.load_sources(tmp_path)


def test_every_number_the_pages_quote_exists():
    sources = hooks.load_sources(DOCS)
    pages = sorted(DOCS.rglob("*.md"))
    quoted = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        hooks.fill(text, sources, str(page.relative_to(ROOT)))  # raises on an unknown name
        quoted += len(hooks.PLACEHOLDER.findall(text))
    assert quoted > 100, f"only {quoted} quoted numbers found: did the syntax change?"


def test_no_page_types_a_benchmark_figure_by_hand():
    # Timings on the fast-gradients page are quoted from the benchmark file, not typed:
    # a number followed by a time unit, outside a {{ }} and outside code, is a typed one.
    text = (DOCS / "explanation" / "fast-numerical-gradients.md").read_text(encoding="utf-8")
    prose = re.sub(r"<!--\{\{.*?<!--/-->|\{\{.*?\}\}|`[^`]*`|\$[^$]*\$", "", text, flags=re.DOTALL)
    typed = re.findall(r"\b\d+(?:\.\d+)?\s?(?:s|ms|µs|ns|MB|MiB)\b", prose)
    assert typed == [], f"typed figures: {typed}"


# -- names written out in the sources ---------------------------------------------------------


def test_a_written_out_name_shows_its_current_value_not_the_written_one():
    written = (
        "h = <!--{{ plain }}-->9.9e-99<!--/--> and <!--{{ bench.speed.script }}-->`old`<!--/-->"
    )
    assert hooks.fill(written, SOURCES) == "h = 1.5e-08 and `s`"


def test_render_writes_out_bare_names_and_updates_stale_values():
    bare = "h = {{ plain }}, by `{{ bench.speed.script }}`, {{ count:.1f }} times\n"
    rendered = hooks.render(bare, SOURCES)
    assert rendered == (
        "h = <!--{{ plain }}-->1.5e-08<!--/-->, by <!--{{ bench.speed.script }}-->`s`<!--/-->, "
        "<!--{{ count:.1f }}-->7.0<!--/--> times\n"
    )
    assert hooks.fill(rendered, SOURCES) == hooks.fill(bare, SOURCES)
    stale = rendered.replace("1.5e-08", "2.0e-08")
    assert hooks.render(stale, SOURCES) == rendered  # rewritten to the current value
    assert hooks.render(rendered, SOURCES) == rendered  # and then left alone


def test_render_writes_a_table_between_lines_of_its_own():
    rendered = hooks.render("before\n\n{{ table bench.speed.tables.t }}\n\nafter", SOURCES)
    table = hooks.table("bench.speed.tables.t", SOURCES)
    assert (
        rendered
        == f"before\n\n<!--{{{{ table bench.speed.tables.t }}}}-->\n\n{table}\n\n<!--/-->\n\nafter"
    )
    assert hooks.fill(rendered, SOURCES) == f"before\n\n{table}\n\nafter"


def test_render_leaves_what_is_not_a_name_alone():
    workflow = 'REFNET_RESULTS: "${{ steps["refnet"].outputs.result }}"'
    assert hooks.render(workflow, SOURCES) == workflow


def test_every_page_source_is_written_out_and_up_to_date():
    """The sources read as the site does where they are shown raw (GitHub, from the README)."""
    stale = hooks.render_pages(DOCS, write=False)
    assert stale == [], f"{stale}: run `python mkdocs_hooks.py --render`"
    for page in sorted(DOCS.rglob("*.md")):
        text = re.sub(
            r"<!--.*?-->|^```.*?^```",
            "",
            page.read_text(encoding="utf-8"),
            flags=re.DOTALL | re.MULTILINE,
        )
        assert "{{" not in text, f"{page}: a name GitHub would show raw"


# -- line breaks in inline code (the same hook file) -------------------------------------------


def test_inline_code_may_wrap_after_punctuation_never_inside_a_word():
    html = (
        "<p><code>np.array([3, 4])</code> <code>return_error</code> "
        '<code><a href="a.b">refnet.x</a></code></p><pre><code>a.b(c)</code></pre>'
    )
    assert hooks.break_points(html) == (
        "<p><code>np.<wbr>array(<wbr>[<wbr>3, 4])</code> <code>return_error</code> "
        '<code><a href="a.b">refnet.<wbr>x</a></code></p><pre><code>a.b(c)</code></pre>'
    )


def test_a_long_name_may_also_wrap_between_its_words():
    long = "test_float32_is_differentiated_with_a_warning"
    assert (
        hooks.break_points(f"<code>{long}</code>")
        == "<code>" + long.replace("_", "_<wbr>") + "</code>"
    )
