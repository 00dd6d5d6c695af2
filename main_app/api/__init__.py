from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from main_app.api import routes, tokens  # noqa: E402,F401
