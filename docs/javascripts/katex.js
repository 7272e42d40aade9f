// Typeset the formulas that pymdownx.arithmatex (generic mode) leaves in the page:
// <span class="arithmatex">\( ... \)</span> inline, <div class="arithmatex">\[ ... \]</div>
// displayed.  KaTeX itself is served from assets/katex/ (see mkdocs_hooks.py).  A formula
// KaTeX cannot parse stays as source and is reported on the console, where the browser
// test (tests/test_docs_browser.py) sees it.
function typesetFormulas() {
  for (const node of document.querySelectorAll(".arithmatex")) {
    if (node.querySelector(".katex")) continue;
    const source = node.textContent.trim();
    const display = source.startsWith("\\[");
    try {
      katex.render(source.slice(2, -2), node, { displayMode: display, throwOnError: true });
    } catch (error) {
      console.error(`KaTeX could not typeset ${source}: ${error.message}`);
    }
  }
}

if (typeof document$ !== "undefined") {
  document$.subscribe(typesetFormulas);  // Material's page-load signal
} else {
  document.addEventListener("DOMContentLoaded", typesetFormulas);
}
