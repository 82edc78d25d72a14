"""Small boxes under a file table: paths to copy, properties, and the "Move to… / Copy to…" prompt."""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime

import ipywidgets as widgets

from ..store import Properties
from ..units import format_bytes
from .common import button, toolbar

BOX = "1px solid var(--jp-border-color2, #e0e0e0)"


def _field(label: str, value: str) -> str:
    """A read-only text field people can select and copy from (the clipboard API may be blocked)."""
    text = html.escape(value, quote=True)
    return (
        f"<label style='display:flex;gap:8px;align-items:center'><span style='min-width:9em'>"
        f'{html.escape(label)}</span><input readonly value="{text}" aria-label="{html.escape(label)}" '
        "style='flex:1;min-width:0;font-family:var(--jp-code-font-family,monospace)'></label>"
    )


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z") if moment is not None else "—"


def paths_html(path: str, uri: str) -> str:
    return _field("Path in the dataset", path) + _field("S3 URI", uri)


def properties_html(props: Properties | None, path: str, counting: bool = False) -> str:
    """The Properties box: a file's size, times, ETag, checksum and type; a folder's objects and size."""
    rows: list[tuple[str, str]] = [("Path", path)]
    if props is None:
        rows.append(("", "Counting the objects in this folder…" if counting else "Reading…"))
    elif props.is_dir:
        rows += [
            ("Objects", f"{props.files:,}"),
            ("Total size", f"{format_bytes(props.size)} ({props.size:,} bytes)"),
            ("Newest change", _when(props.modified)),
        ]
    else:
        checksum = f"{props.checksum_algorithm}: {props.checksum}" if props.checksum else "none stored"
        rows += [
            ("Size", f"{format_bytes(props.size)} ({props.size:,} bytes)"),
            ("Modified", _when(props.modified)),
            ("File's own time", _when(props.file_modified)),
            ("ETag", props.etag or "—"),
            ("Checksum", checksum),
            ("Content type", props.content_type or "—"),
        ]
    if props is not None:
        rows.append(("S3 URI", props.s3_uri))
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:12px;font-weight:600'>{html.escape(k)}</th>"
        f"<td style='word-break:break-all'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table class='provena-properties-table' style='line-height:1.5'>{cells}</table>"


class DetailsBox(widgets.VBox):
    """A box with a title, some HTML and Close; hidden until :meth:`show`."""

    def __init__(self) -> None:
        self.title = widgets.HTML()
        self.body = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.close_button = button("Close", "provena-details-close")
        self.close_button.on_click(lambda _: self.hide())
        super().__init__(
            [toolbar(self.title, self.close_button), self.body],
            layout=widgets.Layout(display="none", padding="4px", border=BOX),
        )
        self.add_class("provena-details")

    def show(self, title: str, body: str) -> None:
        with self.hold_sync():
            self.title.value = f"<b>{html.escape(title)}</b>"
            self.body.value = body
            self.layout.display = "flex"

    def hide(self) -> None:
        self.layout.display = "none"


class FolderPrompt(widgets.VBox):
    """ "Move to… / Copy to…": the dataset folder to send the selection to, typed, then Move or Copy.
    ``submit(verb, names, folder)`` is called with what was typed; it raises to refuse it."""

    def __init__(
        self, submit: Callable[[str, list[str], str], None], report: Callable[[BaseException], None]
    ) -> None:
        self._submit, self._report = submit, report
        self._verb = "move"
        self._names: list[str] = []
        self.question = widgets.HTML()
        self.folder = widgets.Text(
            placeholder="folder in the dataset, e.g. archive/2024/  (blank: the top)",
            layout=widgets.Layout(flex="1 1 220px", min_width="0"),
        )
        self.folder.add_class("provena-target-folder")
        self.go_button = button("Move", "provena-target-go", style="primary")
        self.cancel_button = button("Cancel", "provena-target-cancel")
        self.go_button.on_click(lambda _: self.go())
        self.cancel_button.on_click(lambda _: self.hide())
        super().__init__(
            [self.question, toolbar(self.folder, self.go_button, self.cancel_button)],
            layout=widgets.Layout(display="none", padding="4px", border=BOX),
        )
        self.add_class("provena-target")

    def ask(self, verb: str, names: list[str], folder: str) -> None:
        """Ask where ``names`` (dataset paths) go; ``verb`` is "move" or "copy"."""
        self._verb, self._names = verb, names
        what = names[0] if len(names) == 1 else f"{len(names)} items"
        self.question.value = f"{verb.capitalize()} <b>{html.escape(what)}</b> to the folder:"
        self.go_button.description = verb.capitalize()
        self.folder.value = folder
        self.layout.display = "flex"

    def go(self) -> None:
        try:
            self._submit(self._verb, self._names, self.folder.value.strip())
        except Exception as exc:  # one line in the browser's status, the prompt stays to correct
            self._report(exc)
            return
        self.hide()

    def hide(self) -> None:
        self.layout.display = "none"
