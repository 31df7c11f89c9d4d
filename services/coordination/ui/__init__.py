"""The care team's pages, served by coordination under ``/ui``: sign-in (local stack only), the
clinic worklist and a patient's course, drawn in the browser from the JSON API."""

from services.coordination.ui.router import ui_router

__all__ = ["ui_router"]
