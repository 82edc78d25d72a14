"""Pieces every widget uses: a one-line status, background work, and error wording."""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

import ipywidgets as widgets
import traitlets

from ..errors import ProvenaWidgetsError

log = logging.getLogger("provena_widgets.widgets")

Level = Literal["info", "ok", "warning", "error"]
LEVELS: tuple[Level, ...] = ("info", "ok", "warning", "error")
_COLOURS = {"info": "#444", "ok": "#1a7f37", "warning": "#9a6700", "error": "#cf222e"}
_ICONS = {"info": "", "ok": "✔ ", "warning": "⚠ ", "error": "✖ "}


class NeedsInput(ProvenaWidgetsError, ValueError):
    """The user has to choose or type something before this action can run."""


def friendly(error: BaseException) -> str:
    """One plain line for any error; never a traceback."""
    if isinstance(error, ProvenaWidgetsError):
        return str(error)
    text = " ".join(str(error).split())
    return f"Something unexpected went wrong ({type(error).__name__}: {text[:200]}). Try again."


class StatusLine(widgets.HTML):
    """A single line saying what happened, coloured by level; set ``text`` and ``level``, or :meth:`show`."""

    level = traitlets.Enum[str](LEVELS, "info", help="info, ok, warning or error")
    text = traitlets.Unicode("", help="the message, on one line")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()  # background actions and the kernel's thread both report here
        self.add_class("provena-status")
        self.observe(self._draw, names=["level", "text"])

    @traitlets.validate("text")
    def _one_line(self, proposal: dict[str, Any]) -> str:
        return " ".join(proposal["value"].split())

    def show(self, text: str, level: Level = "info") -> None:
        with self._lock, self.hold_trait_notifications():
            self.text, self.level = text, level

    def _draw(self, _: dict[str, Any]) -> None:
        level = self.level
        self.value = (
            f'<span style="color:{_COLOURS[level]}" data-level="{level}">'
            f"{_ICONS[level]}{html.escape(self.text)}</span>"
        )


class Background:
    """Runs widget actions off the kernel's main thread, one at a time, reporting errors."""

    def __init__(self, status: StatusLine, name: str) -> None:
        self._status = status
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"provena-{name}")
        self._pending: list[Future[Any]] = []
        self._lock = threading.Lock()

    def run(
        self, action: Callable[[], Any], on_error: Callable[[BaseException], None] | None = None
    ) -> Future[Any]:
        def guarded() -> Any:
            try:
                return action()
            except Exception as exc:
                log.debug("widget action failed: %s", friendly(exc))
                self._status.show(friendly(exc), "error")
                if on_error is not None:
                    on_error(exc)
                return None

        future = self._pool.submit(guarded)
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()] + [future]
        return future

    def wait(self, timeout: float | None = 60) -> None:
        """Block until queued actions are done (for scripts and tests)."""
        while True:
            with self._lock:
                pending = [f for f in self._pending if not f.done()]
            if not pending:
                return
            for future in pending:  # an action may queue another (e.g. refresh after mkdir)
                future.result(timeout)


def button(description: str, css: str, icon: str = "", style: str = "", tooltip: str = "") -> widgets.Button:
    """A button as wide as its text (ipywidgets' fixed width cuts longer labels)."""
    made = widgets.Button(
        description=description,
        icon=icon,
        button_style=style,
        tooltip=tooltip or description,
        layout=widgets.Layout(width="auto", min_width="fit-content", flex="none"),
    )
    made.add_class(css)
    return made


def toolbar(*children: widgets.Widget, css: str = "") -> widgets.HBox:
    """A row of controls that wraps onto more lines in a narrow column: every toolbar's one style."""
    row = widgets.HBox(
        list(children),
        layout=widgets.Layout(flex_flow="row wrap", align_items="center", grid_gap="4px", width="100%"),
    )
    row.add_class("provena-toolbar")
    if css:
        row.add_class(css)
    return row
