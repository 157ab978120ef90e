"""Documents as students hand them in: the printed output taken out of its container
before a printout reader (:mod:`.formats`) sees it.

Recognised by content, never by the file's name:

- **PDF** (``%PDF-``): the text layer of each page, with pypdf.  A page printed from a
  knitted document ("Save as PDF") keeps R's and Python's output as text, line by line;
  a scan has no text layer and is refused with that reason.
- **Jupyter notebook** (JSON with ``nbformat`` and ``cells``): each code cell's outputs,
  ``stream`` text and the ``text/plain`` of results and displays, in order.
- **HTML** (``<!DOCTYPE html>`` or ``<html``): the text of every ``<pre>`` block (knitr's
  and Quarto's output chunks, Jupyter's exported outputs; the source chunks too, which the
  readers skip as code), parsed as a browser does with an HTML5 parser (selectolax's
  Lexbor), entities decoded.
- **R Markdown / Quarto source** (code chunks such as `` ```{r} `` and no output in it):
  refused with "hand in the knitted file".

Each container is data: a notebook's code is never run, a PDF's scripts and forms are not
read, an HTML page's scripts are not run and nothing it links to is fetched.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

from hlmrep.errors import HlmrepError

#: Pages of a PDF read: a lab's output is a few pages; the rest of a long one is ignored.
MAX_PDF_PAGES = 100
#: Characters of text taken out of a document: as much as a text submission may hold.
MAX_TEXT = 5 * 1024 * 1024
_CHUNK = re.compile(r"^```+\s*\{\s*(r|python|julia)\b", re.IGNORECASE | re.MULTILINE)


class DocumentError(HlmrepError):
    """A document whose output cannot be taken out, and why."""


@dataclass(frozen=True)
class Unwrapped:
    container: str  # with its article: "a PDF", "a Jupyter notebook", "an HTML page"
    text: str


def pdf_text(raw: bytes, label: str) -> Unwrapped:
    """The text layer of a PDF's pages (see the module)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(raw))
        pages = [page.extract_text() or "" for page in reader.pages[:MAX_PDF_PAGES]]
    except (PyPdfError, ValueError, KeyError, TypeError) as error:
        raise DocumentError(f"{label}: a PDF that cannot be read ({error})") from None
    text = "\n".join(pages)[:MAX_TEXT]
    if not text.strip():
        raise DocumentError(
            f"{label}: a PDF with no text layer (a scan or a picture of the output): its "
            "numbers cannot be read; hand in the knitted HTML or PDF, or the output as text"
        )
    return Unwrapped("a PDF", text)


def notebook_text(text: str, label: str) -> Unwrapped | None:
    """A Jupyter notebook's outputs, in cell order; None when ``text`` is not one."""
    stripped = text.lstrip()
    if not stripped.startswith("{") or '"nbformat"' not in text or '"cells"' not in text:
        return None
    try:
        notebook = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise DocumentError(f"{label}: a Jupyter notebook that is not valid JSON") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return None
    parts: list[str] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs") or []:
            if not isinstance(output, dict):
                continue
            if output.get("output_type") == "stream":
                parts.append(_joined(output.get("text")))
            elif output.get("output_type") in ("execute_result", "display_data"):
                data = output.get("data")
                if isinstance(data, dict):
                    parts.append(_joined(data.get("text/plain")))
    return Unwrapped("a Jupyter notebook", "\n\n".join(p for p in parts if p)[:MAX_TEXT])


def _joined(value: object) -> str:
    """Jupyter stores text as a string or a list of lines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return ""


#: Deepest nesting of elements parsed: knitr's, Quarto's and Jupyter's pages nest a few
#: dozen deep; an HTML5 parser's work on deep nesting grows faster than the text (250 000
#: nested <div>s, 1.25 MB, took minutes in C code no signal interrupts).
MAX_HTML_DEPTH = 1000
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*?(/?)>")
#: Elements that never hold others (void) or whose end tag may be left out (HTML5's
#: optional end tags): they do not count towards the depth.
_FLAT = frozenset(
    {
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"),
        *("source", "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "thead"),
        *("tbody", "tfoot", "option", "optgroup", "colgroup", "caption", "rt", "rp"),
    }
)


def nesting_depth(text: str) -> int:
    """How deep a page's elements nest, from its tags alone (linear: each tag is matched
    up to the next ``<`` or ``>``): the deepest count of open elements that hold others."""
    depth = deepest = 0
    for match in _TAG.finditer(text):
        closing, name, self_closing = match.groups()
        if name.lower() in _FLAT or self_closing:
            continue
        if closing:
            depth = max(depth - 1, 0)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def html_text(text: str, label: str = "the page") -> Unwrapped | None:
    """The text of an HTML page's ``<pre>`` blocks; None when ``text`` is not HTML."""
    head = text.lstrip()[:200].lower()
    if not (head.startswith("<!doctype html") or head.startswith("<html")):
        return None
    depth = nesting_depth(text)
    if depth > MAX_HTML_DEPTH:
        raise DocumentError(
            f"{label}: an HTML page whose elements nest {depth} deep (a page of output nests a few "
            f"dozen; more than {MAX_HTML_DEPTH} is refused before it is parsed)"
        )
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)
    blocks = [node.text(deep=True) for node in tree.css("pre")]
    if not blocks:  # a program's HTML report (HLM 7's hlm2.html): its tables and lines
        blocks = [_page_lines(tree)]
    return Unwrapped("an HTML page", "\n\n".join(blocks)[:MAX_TEXT])


#: Elements whose text is a line of their own in a page without <pre> blocks.
_LINES = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "caption", "dt", "dd")


def _page_lines(tree: Any) -> str:
    """A page's text line by line: a table row as its cells separated by two spaces (as a
    printout's columns), every other block element as one line; scripts and styles out."""
    for node in tree.css("script, style"):
        node.decompose()
    body = tree.body
    if body is None:
        return ""
    lines: list[str] = []
    for node in body.traverse(include_text=False):
        if node.tag == "tr":
            cells = [c.text(deep=True, separator=" ").strip() for c in node.css("td, th")]
            lines.append("  ".join(c for c in cells if c))
        elif node.tag in _LINES and not _inside(node, "tr"):
            lines.append(" ".join(node.text(deep=True, separator=" ").split()))
    return "\n".join(line for line in lines if line)


def _inside(node: Any, tag: str) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag == tag:
            return True
        parent = parent.parent
    return False


def is_source_without_output(text: str) -> bool:
    """An R Markdown or Quarto source: code chunks, and no knitted output (``## `` lines)."""
    return bool(_CHUNK.search(text)) and not re.search(r"^## ", text, re.MULTILINE)


def source_refusal(label: str) -> str:
    return (
        f"{label}: an R Markdown or Quarto source with no output in it: knit it and hand in "
        "the knitted HTML, PDF or Markdown (the numbers are in the output, not in the code)"
    )
