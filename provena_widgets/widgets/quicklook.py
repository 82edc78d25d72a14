"""QuickLook: a file's first rows, lines or picture beside the table (from ``store.preview``)."""

from __future__ import annotations

import html

import ipywidgets as widgets

from ..store import Preview
from ..units import format_bytes

MAX_CELL = 200  # characters of one table cell shown
BOX = "max-height:360px;overflow:auto;margin:0;line-height:1.4"  # not the widgets' 28 px lines


def preview_note(preview: Preview) -> str:
    """The line above a preview: the file's size, and whether only its start is shown."""
    size = format_bytes(preview.size)
    if not preview.truncated:
        return f"{size}, shown whole."
    if preview.kind == "table":
        return f"{size}: the first {max(len(preview.rows) - 1, 0)} rows."
    if preview.kind == "text":
        return f"{size}: the first {preview.text.count(chr(10)) or 1} lines."
    return f"{size}: only the start was read (at most 1 MiB)."


def preview_html(preview: Preview) -> str:
    """A table or text preview as HTML, every value escaped ("" for images)."""
    if preview.kind == "table":
        head, *rows = preview.rows or [[]]
        cell = "<{0} style='padding:1px 6px;text-align:left;white-space:nowrap'>{1}</{0}>"

        def line(values: list[str], tag: str) -> str:
            return "<tr>" + "".join(cell.format(tag, html.escape(v[:MAX_CELL])) for v in values) + "</tr>"

        body = line(head, "th") + "".join(line(row, "td") for row in rows)
        return f"<div style='{BOX}'><table class='provena-quicklook-table'>{body}</table></div>"
    if preview.kind == "text":
        return f"<pre style='{BOX};white-space:pre-wrap'>{html.escape(preview.text)}</pre>"
    if preview.kind == "binary":
        return f"<i>No preview for this kind of file ({html.escape(preview.mime)}).</i>"
    return ""


class QuickLook(widgets.VBox):
    """The preview of one file: a title, a note when only its start is shown, then the content.
    Hidden until :meth:`show` or :meth:`loading`; :meth:`clear` hides it again."""

    def __init__(self) -> None:
        self.title = widgets.HTML()
        self.note = widgets.HTML()
        self.note.add_class("provena-quicklook-note")
        self.content = widgets.HTML()
        self.image = widgets.Image(layout=widgets.Layout(max_width="100%", display="none"))
        super().__init__(
            [self.title, self.note, self.content, self.image],
            layout=widgets.Layout(
                display="none",
                flex="1 1 260px",
                min_width="0",
                padding="4px 8px",
                border="1px solid var(--jp-border-color2, #e0e0e0)",
            ),
        )
        self.add_class("provena-quicklook")

    def loading(self, path: str) -> None:
        self._title(path)
        self.note.value = "<i>Loading…</i>"
        self.content.value = ""
        self.image.layout.display = "none"
        self.layout.display = "flex"

    def show(self, preview: Preview) -> None:
        with self.hold_sync():
            self._title(preview.path)
            self.note.value = html.escape(preview_note(preview))
            self.content.value = preview_html(preview)
            if preview.kind == "image":
                self.image.format = preview.mime.rpartition("/")[2]
                self.image.value = preview.image
            self.image.layout.display = "block" if preview.kind == "image" else "none"
            self.layout.display = "flex"

    def clear(self) -> None:
        self.layout.display = "none"
        self.image.value = b""
        self.content.value = ""

    def _title(self, path: str) -> None:
        self.title.value = f"<b>{html.escape(path.rpartition('/')[2] or path)}</b>"
