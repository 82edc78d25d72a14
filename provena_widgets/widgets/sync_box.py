"""SyncBox: preview a sync as a table, then apply it (or not), from the transfer panel."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..sync import SyncPlan
from .common import NeedsInput, StatusLine, button, friendly

PREVIEW_ROWS = 200


class SyncBox(widgets.VBox):
    """Direction, "delete extras", a Preview that shows the plan, and Apply / Discard."""

    def __init__(
        self, preview: Callable[[], SyncPlan], apply: Callable[[SyncPlan], Any], status: StatusLine
    ) -> None:
        self._preview = preview
        self._apply = apply
        self._status = status
        self.plan: SyncPlan | None = None
        self.direction = widgets.ToggleButtons(
            options=[("Local → dataset", "up"), ("Dataset → local", "down")], value="up"
        )
        self.direction.add_class("provena-sync-direction")
        self.delete_extras = widgets.Checkbox(description="Delete extras at the destination", indent=False)
        self.delete_extras.add_class("provena-sync-delete")
        self.preview_button = button("Preview sync", "provena-sync-preview", icon="eye")
        self.apply_button = button("Apply sync", "provena-sync-apply", icon="refresh", style="warning")
        self.discard_button = button("Discard", "provena-sync-discard")
        self.table = widgets.HTML()
        self.table.add_class("provena-sync-table")
        self.preview_button.on_click(lambda _: self._guarded(self.show_preview))
        self.apply_button.on_click(lambda _: self._guarded(self.apply))
        self.discard_button.on_click(lambda _: self.discard())
        super().__init__(
            [
                widgets.HBox([self.direction, self.delete_extras]),
                widgets.HBox([self.preview_button, self.apply_button, self.discard_button]),
                self.table,
            ]
        )
        self.add_class("provena-sync")
        self.discard()

    def _guarded(self, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:
            self._status.show(friendly(exc), "error")

    def show_preview(self) -> SyncPlan:
        """Compute the plan (nothing changes) and show it; Apply becomes available."""
        plan = self._preview()
        self.plan = plan
        rows = "".join(
            f"<tr><td>{html.escape(item.path)}</td><td>{item.state}</td><td>{item.action}</td>"
            f"<td>{'' if item.source_size is None else item.source_size}</td>"
            f"<td>{'' if item.destination_size is None else item.destination_size}</td></tr>"
            for item in plan.items[:PREVIEW_ROWS]
        )
        more = (
            f"<p>... and {len(plan.items) - PREVIEW_ROWS} more</p>" if len(plan.items) > PREVIEW_ROWS else ""
        )
        self.table.value = (
            f"<p><b>{html.escape(plan.summary())}</b></p><table><tr><th>path</th><th>state</th>"
            f"<th>action</th><th>source size</th><th>destination size</th></tr>{rows}</table>{more}"
        )
        self.apply_button.disabled = self.discard_button.disabled = False
        self._status.show("Check the preview, then Apply sync (or Discard).", "info")
        return plan

    def apply(self) -> Any:
        if self.plan is None:
            raise NeedsInput("Preview the sync first.")
        plan, self.plan = self.plan, None
        self.apply_button.disabled = self.discard_button.disabled = True
        return self._apply(plan)

    def discard(self) -> None:
        self.plan = None
        self.table.value = ""
        self.apply_button.disabled = self.discard_button.disabled = True
