"""mkdocs hook: fill in ``{{ key }}`` from docs/figures/numbers.json.

Every number the documentation quotes is written there by ``refnet figures``; a page
names it, and an unknown name stops the build, so no figure is typed by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}")


def on_page_markdown(markdown, page, config, files):
    numbers = json.loads(
        (Path(config["docs_dir"]) / "figures" / "numbers.json").read_text(encoding="utf-8")
    )

    def fill(match):
        key = match.group(1)
        if key not in numbers:
            raise PluginError(
                f"{page.file.src_path} quotes {{{{ {key} }}}}, which docs/figures/numbers.json "
                "does not have: add it to refnet/figures.py and run `refnet figures`"
            )
        return numbers[key]

    return PLACEHOLDER.sub(fill, markdown)
