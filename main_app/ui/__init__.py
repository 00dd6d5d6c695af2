from flask import Blueprint

bp = Blueprint("ui", __name__)

from main_app.ui import filters, routes  # noqa: E402,F401
