from flask import Blueprint

bp = Blueprint("live", __name__)

from main_app.live import routes  # noqa: E402,F401
