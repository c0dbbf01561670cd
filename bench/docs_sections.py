"""Putting a benchmark's table into its docs page: the text between ``<!-- bench:NAME -->`` and
``<!-- /bench:NAME -->`` is replaced (the rest of the page is left as it is), the markers are
appended when the page lacks them, and the page is written atomically (write, then rename), so a
benchmark killed while writing never leaves a half-written page."""

from __future__ import annotations

import re
from pathlib import Path

from vaekit.core.atomic import write_text_atomic


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def put_sections(path: Path, blocks: dict[str, str], *, new_doc: str = "", heading: str = "") -> None:
    """Put each ``blocks[name]`` between its markers in ``path``; a missing ``path`` starts from
    ``new_doc`` (e.g. a title and the sections' headings with their markers); markers appended to a
    page that lacks them follow ``heading`` (a markdown heading line) when one is given."""
    doc = path.read_text() if path.exists() else new_doc
    for name, body in blocks.items():
        start, end = markers(name)
        block = f"{start}\n{body}\n{end}"
        pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
        if pattern.search(doc):
            doc = pattern.sub(lambda _: block, doc)
        else:
            doc = doc.rstrip() + (f"\n\n{heading}" if heading else "") + f"\n\n{block}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, doc)


def put_section(path: Path, name: str, body: str, *, new_doc: str = "", heading: str = "") -> None:
    """:func:`put_sections` for one section."""
    put_sections(path, {name: body}, new_doc=new_doc, heading=heading)
