"""Sign up, sign in, sign out; login is rate limited per address and per account."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from main_app.auth import bp
from main_app.extensions import db, limiter, login_manager
from main_app.models import User
from main_app.services.accounts import AccountError, authenticate, create_user, normalise_email


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see that page."


def _login_limit() -> str:
    return current_app.config["PILOTHOUSE"].login_rate_limit


def _failed(response) -> bool:
    """Only failed attempts count towards the limit: signing in often is not guessing."""
    return response.status_code == 401


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("ui.tasks")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=get_remote_address, deduct_when=_failed,
               error_message="too many sign-in attempts from your address; wait a minute")
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed,
               key_func=lambda: "email:" + normalise_email(request.form.get("email", "")),
               error_message="too many sign-in attempts for this account; wait a minute")
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    if request.method == "POST":
        user = authenticate(request.form.get("email", ""), request.form.get("password", ""))
        if user is None:
            flash("Wrong email or password.", "error")
            return render_template("auth/login.html", email=request.form.get("email", "")), 401
        login_user(user, remember=bool(request.form.get("remember")))
        return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", email="")


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    if not current_app.config["PILOTHOUSE"].signup_enabled:
        return render_template("error.html", status=403,
                               message="Sign-up is turned off here; ask an admin for an account."), 403
    if request.method == "POST":
        email, password = request.form.get("email", ""), request.form.get("password", "")
        if password != request.form.get("password2", password):
            flash("The two passwords differ.", "error")
            return render_template("auth/signup.html", email=email), 400
        try:
            user = create_user(email, password)
        except AccountError as exc:
            flash(f"{str(exc)[0].upper()}{str(exc)[1:]}.", "error")
            return render_template("auth/signup.html", email=email), 400
        login_user(user)
        flash("Welcome to Pilothouse. Pick a template to run your first task.", "ok")
        return redirect(url_for("ui.new_task"))
    return render_template("auth/signup.html", email="")


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("Signed out.", "ok")
    return redirect(url_for("auth.login"))
