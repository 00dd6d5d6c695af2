"""The Flask extensions, unbound; ``create_app`` binds them to the app."""

from __future__ import annotations

import sqlite3

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, event
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


# Objects keep their values after a commit (no reload per attribute): views commit, then describe.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(connection, _record) -> None:
    """SQLite (the one-machine default) shared by several gunicorn workers: wait for a lock
    instead of failing, let readers and the writer work at once, and honour foreign keys."""
    if isinstance(connection, sqlite3.Connection):
        cursor = connection.cursor()
        # WAL with synchronous=NORMAL: a commit does not wait for the disk (a power cut may lose
        # the last ones, never corrupt the file); the recorder commits often
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000", "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
