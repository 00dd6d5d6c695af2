"""Accounts and API tokens: create, check, revoke. Passwords and tokens are stored hashed."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from main_app.extensions import db
from main_app.models import ROLES, ApiToken, User

TOKEN_PREFIX = "ph_"
MIN_PASSWORD = 10
EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}\.[^@\s\x00-\x1f\x7f]{2,63}\Z")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL's text cannot even hold \x00
LAST_USED_EVERY_S = 60  # write a token's last use at most once a minute


class AccountError(ValueError):
    """A sign-up or token request that cannot be honoured; the message says why."""


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def create_user(email: str, password: str, role: str = "user") -> User:
    """A new user (committed); ``AccountError`` names what is wrong with the input."""
    email = normalise_email(email)
    if not EMAIL.match(email):
        raise AccountError(f"{email or 'an empty address'!r} is not an email address")
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise AccountError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if db.session.scalar(select(User).where(User.email == email)):
        raise AccountError(f"an account for {email} already exists")
    user = User(email=email, password_hash=generate_password_hash(password), role=role)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None (same answer either way)."""
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email)) if EMAIL.match(email) else None
    if user is None:
        check_password_hash(generate_password_hash("timing"), password or "")  # same cost
        return None
    if not check_password_hash(user.password_hash, password or "") or not user.active:
        return None
    return user


def count_admins() -> int:
    return db.session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) or 0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for ``user``; returns the record and the token itself (shown once)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise AccountError("give the token a name of 1 to 100 characters")
    if CONTROL.search(name):
        raise AccountError("the token's name may not contain control characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, name=name, token_hash=_digest(secret), prefix=secret[:10])
    db.session.add(record)
    db.session.commit()
    return record, secret


def check_token(secret: str) -> User:
    """The active owner of a live token (noting when it was used); ``AccountError`` says why
    the token is refused (unknown, revoked, or its account deactivated)."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise AccountError(f"this is not a Pilothouse API token (they start with '{TOKEN_PREFIX}')")
    record = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(secret)))
    if record is None:
        raise AccountError("this API token is unknown: check it, or create a new one")
    if record.revoked_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.revoked_at))
        raise AccountError(f"this API token ({record.prefix}..., {record.name!r}) was revoked on {when}; "
                           "create a new one")
    if not record.user.active:
        raise AccountError("the account of this API token is deactivated")
    now = time.time()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_EVERY_S:
        record.last_used_at = now
        db.session.commit()
    return record.user


def revoke_token(user: User, token_id: int) -> bool:
    """Revoke one of ``user``'s tokens; False when it is not theirs or already revoked."""
    record = db.session.get(ApiToken, token_id)
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        return False
    record.revoked_at = time.time()
    db.session.commit()
    return True
