"""The transfer engine: planning, workers, progress events and reports (no widgets here)."""
