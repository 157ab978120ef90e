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


#: How an HTML page or a fragment of one begins: a page, or a table saved alone (sjPlot's
#: ``tab_model(file = ...)`` writes its table and style without a page around them).
_HTML_STARTS = ("<!doctype html", "<html", "<table", "<style", "<div", "<head", "<body", "<meta")


def html_text(text: str, label: str = "the page") -> Unwrapped | None:
    """The text of an HTML page's ``<pre>`` blocks and its tables (:func:`table_lines`: a
    knitted page's every table, another page's tables of models), in the page's order;
    None when ``text`` is not HTML."""
    head = text.lstrip()[:200].lower()
    if not head.startswith(_HTML_STARTS):
        return None
    depth = nesting_depth(text)
    if depth > MAX_HTML_DEPTH:
        raise DocumentError(
            f"{label}: an HTML page whose elements nest {depth} deep (a page of output nests a few "
            f"dozen; more than {MAX_HTML_DEPTH} is refused before it is parsed)"
        )
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(text)
    blocks = []
    nodes = tree.css("pre, table, script[data-pagedtable-source]")
    knitted = any(node.tag == "pre" for node in nodes)  # a page of output chunks
    for node in nodes:
        if node.tag == "pre":
            blocks.append(node.text(deep=True))
        elif node.tag == "script":
            blocks.append(paged_table_lines(node.text(deep=True), label))
        elif (knitted or is_table_of_models(node)) and not _inside(node, "pre"):
            blocks.append(table_lines(node))
    if not blocks:  # a program's HTML report (HLM 7's hlm2.html): its tables and lines
        blocks = [_page_lines(tree)]
    return Unwrapped("an HTML page", "\n\n".join(blocks)[:MAX_TEXT])


#: The first cell of the rows that make a table one of fitted models side by side
#: (sjPlot's ``tab_model()``: its predictors' header and its random part's heading).
_MODEL_TABLE_CELLS = ("Predictors", "Random Effects")
#: Widest a cell may span: more is a page's layout, not a table of models.
_MAX_COLSPAN = 50


def is_table_of_models(node: Any) -> bool:
    """A table of fitted models side by side (see :data:`_MODEL_TABLE_CELLS`)."""
    for row in node.css("tr"):
        cells = row.css("td, th")
        if cells and cells[0].text(deep=True).strip() in _MODEL_TABLE_CELLS:
            return True
    return False


#: Rows of one paged table taken (rmarkdown pages a data frame ten rows at a time, and
#: holds all of them in the page).
MAX_PAGED_ROWS = 10_000


def paged_table_lines(source: str, label: str) -> str:
    """A data frame printed by rmarkdown's ``df_print: paged`` (a page's script of JSON:
    its columns' labels and its rows), as :func:`table_lines` writes a table: the row's
    name (or number) first, then its cells, joined by `` | ``.  The JSON is data: read,
    never run."""
    try:
        paged = json.loads(source)
    except (json.JSONDecodeError, RecursionError):
        raise DocumentError(f"{label}: a paged table whose JSON cannot be read") from None
    if not isinstance(paged, dict):
        return ""
    columns = _list(paged.get("columns"))
    labels: list[str] = []
    keys: list[str] = []  # each column's key in a row: its "name" (1, 2, …; "_rn_")
    for column in columns:
        column = column if isinstance(column, dict) else {}
        labels.append(_first(column.get("label")))
        keys.append(_first(column.get("name")))
    row_names = "_rn_" in keys  # the row names' column (a matrix's terms)
    header = [lab for lab, key in zip(labels, keys, strict=True) if key != "_rn_"]
    lines = [" | ".join(["", *header])]
    rows = _list(paged.get("data"))
    for number, row in enumerate(rows[:MAX_PAGED_ROWS], start=1):
        if not isinstance(row, dict):
            continue
        first = str(row.get("_rn_", "")) if row_names else str(number)
        cells = [str(row.get(key, "")) for key in keys if key != "_rn_"]
        lines.append(" | ".join([first, *cells]))
    return "\n".join(lines)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _first(value: Any) -> str:
    """A paged table's JSON holds R's length-one vectors as lists."""
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value)


def table_lines(node: Any) -> str:
    """A table (of models side by side, or a knitted page's kable table) line by line,
    each row's cells in their columns: joined by
    `` | ``, an empty cell kept empty and a cell spanning k columns followed by k − 1
    empty ones, so a reader knows which model each number is of.  A cell's sub- and
    superscripts are separated by a space (``τ<sub>00</sub>`` is ``τ 00``)."""
    lines = []
    for row in node.css("tr"):
        cells: list[str] = []
        for cell in row.css("td, th"):
            cells.append(" ".join(cell.text(deep=True, separator=" ").split()))
            span = cell.attributes.get("colspan") or "1"
            extra = int(span) - 1 if span.isdigit() else 0
            cells += [""] * min(max(extra, 0), _MAX_COLSPAN)
        lines.append(" | ".join(cells))
    return "\n".join(lines)


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


# ----- Word and OpenDocument ------------------------------------------------------------------
#: The part of each office format that holds the document's text, by its media type.
_OFFICE_PARTS = {
    "docx": ("word/document.xml", "a Word document"),
    "odt": ("content.xml", "an OpenDocument text"),
}
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
#: Largest XML part read out of an office document (its text, uncompressed).
MAX_XML = 20 * 1024 * 1024
#: Most elements walked in one office document (a homework has tens of thousands).
MAX_ELEMENTS = 2_000_000


def office_kind(raw: bytes) -> str | None:
    """``docx`` or ``odt`` for a Word or OpenDocument file (a zip archive holding the
    format's part), None for anything else."""
    if not raw.startswith(b"PK\x03\x04"):
        return None
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in raw[:200]:
        return "odt"
    if b"word/document.xml" in raw or b"[Content_Types].xml" in raw[:2000]:
        return "docx"
    return None


def office_text(raw: bytes, kind: str, label: str) -> Unwrapped:
    """The text of a Word (``.docx``) or OpenDocument (``.odt``) document in its order:
    each paragraph a line (a line break inside one, as a code block has, a new line), each
    table row its cells joined by `` | ``, empty cells kept.  The archive is read with the
    standard library: only the one XML part, at most :data:`MAX_XML` bytes uncompressed
    (a zip bomb stops there), and a part with a document type declaration is refused (no
    entity of it is ever expanded)."""
    import zipfile
    from xml.etree import ElementTree

    part, container = _OFFICE_PARTS[kind]
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            info = archive.getinfo(part)
            if info.file_size > MAX_XML:
                raise DocumentError(
                    f"{label}: {container} whose text is {info.file_size / 1e6:.0f} MB "
                    f"uncompressed (at most {MAX_XML / 2**20:.0f} MB is read)"
                )
            with archive.open(info) as stream:
                xml = stream.read(MAX_XML + 1)
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, EOFError) as error:
        raise DocumentError(f"{label}: {container} that cannot be opened ({error})") from None
    if len(xml) > MAX_XML:
        raise DocumentError(f"{label}: {container} larger than it says (a zip bomb?)")
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise DocumentError(f"{label}: {container} with a document type declaration: refused")
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise DocumentError(f"{label}: {container} whose XML cannot be read ({error})") from None
    lines: list[str] = []
    budget = [MAX_ELEMENTS]
    if kind == "docx":
        body = root.find(f"{_W}body")
        for child in body if body is not None else []:
            _docx_block(child, lines, budget)
    else:
        for text in root.iter("{urn:oasis:names:tc:opendocument:xmlns:office:1.0}text"):
            for child in text:
                _odt_block(child, lines, budget)
    if budget[0] <= 0:
        raise DocumentError(f"{label}: {container} of more than {MAX_ELEMENTS} elements: refused")
    return Unwrapped(container, "\n".join(lines)[:MAX_TEXT])


def _docx_block(node: Any, lines: list[str], budget: list[int]) -> None:
    """A Word body's paragraph (``w:p``) or table (``w:tbl``), in order."""
    if node.tag == f"{_W}p":
        lines += _docx_runs(node, budget).split("\n")
    elif node.tag == f"{_W}tbl":
        for row in node.iter(f"{_W}tr"):
            cells: list[str] = []
            for cell in row.findall(f"{_W}tc"):
                text = " ".join(_docx_runs(p, budget) for p in cell.iter(f"{_W}p"))
                cells.append(" ".join(text.split()))
                span = cell.find(f"{_W}tcPr/{_W}gridSpan")
                extra = _span(span.get(f"{_W}val") if span is not None else None)
                cells += [""] * extra
            lines.append(" | ".join(cells))
    elif node.tag == f"{_W}sdt":  # a content control (a title block) holds paragraphs
        for child in node.iter(f"{_W}p"):
            _docx_block(child, lines, budget)


def _docx_runs(paragraph: Any, budget: list[int]) -> str:
    """A paragraph's text: its runs' text, a tab, a line break as a new line."""
    out: list[str] = []
    for node in paragraph.iter():
        budget[0] -= 1
        if budget[0] <= 0:
            break
        if node.tag == f"{_W}t" and node.text:
            out.append(node.text)
        elif node.tag == f"{_W}tab":
            out.append("\t")
        elif node.tag in (f"{_W}br", f"{_W}cr"):
            out.append("\n")
    return "".join(out)


def _odt_block(node: Any, lines: list[str], budget: list[int]) -> None:
    """An OpenDocument text's paragraph, heading, list, section or table, in order."""
    if node.tag in (f"{_TEXT}p", f"{_TEXT}h"):
        lines += _odt_runs(node, budget).split("\n")
    elif node.tag == f"{_TABLE}table":
        for row in node.iter(f"{_TABLE}table-row"):
            cells: list[str] = []
            for cell in row:
                if cell.tag not in (f"{_TABLE}table-cell", f"{_TABLE}covered-table-cell"):
                    continue
                text = " ".join(_odt_runs(p, budget) for p in cell.iter(f"{_TEXT}p"))
                cells.append(" ".join(text.split()))
                cells += [""] * _span(cell.get(f"{_TABLE}number-columns-spanned"))
            lines.append(" | ".join(cells))
    elif node.tag in (f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}section"):
        for child in node:
            _odt_block(child, lines, budget)


def _odt_runs(paragraph: Any, budget: list[int]) -> str:
    """A paragraph's text, OpenDocument's way: ``text:s`` is ``c`` spaces (a code block's
    alignment), ``text:tab`` a tab, ``text:line-break`` a new line; spans hold text."""
    out: list[str] = []

    def walk(node: Any) -> None:
        budget[0] -= 1
        if budget[0] <= 0:
            return
        if node.text:
            out.append(node.text)
        for child in node:
            if child.tag == f"{_TEXT}s":
                count = child.get(f"{_TEXT}c") or "1"
                out.append(" " * min(int(count) if count.isdigit() else 1, 1000))
            elif child.tag == f"{_TEXT}tab":
                out.append("\t")
            elif child.tag == f"{_TEXT}line-break":
                out.append("\n")
            elif child.tag == f"{_TEXT}note":
                pass  # a footnote's body is not the paragraph's text
            else:
                walk(child)
            if child.tail:
                out.append(child.tail)

    walk(paragraph)
    return "".join(out)


def _span(value: str | None) -> int:
    """The empty cells after a cell spanning ``value`` columns."""
    if value is None or not value.isdigit():
        return 0
    return min(max(int(value) - 1, 0), _MAX_COLSPAN)


def is_source_without_output(text: str) -> bool:
    """An R Markdown or Quarto source: code chunks, and no knitted output (``## `` lines)."""
    return bool(_CHUNK.search(text)) and not re.search(r"^## ", text, re.MULTILINE)


def source_refusal(label: str) -> str:
    return (
        f"{label}: an R Markdown or Quarto source with no output in it: knit it and hand in "
        "the knitted HTML, PDF or Markdown (the numbers are in the output, not in the code)"
    )
