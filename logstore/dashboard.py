"""The analysts' dashboard: one HTML page, a stylesheet and a script; no build step, nothing fetched
from the internet. The page reads ``/logs/stats`` and links ``/logs/export`` like any other client;
it opens on the last 30 days and keeps its filters in the page's address (all in dashboard.js)."""
from flask import Blueprint, render_template

from .action_types import ACTION_TYPES

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static/dashboard",
               static_url_path="/dashboard/static")


@bp.get("/dashboard")
@bp.get("/dashboard/")
def dashboard():
    # The page's checkboxes and columns, and (data-action-types) the scripts' list of types.
    return render_template("dashboard.html", action_types=ACTION_TYPES)
