"""Command-line tasks: ``flask --app main_app create-admin EMAIL`` (and the migrations)."""

from __future__ import annotations

import os
import secrets
import sys

import click
from flask import Flask

from main_app.services.accounts import AccountError, count_admins, create_user


def init_app(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", envvar="ADMIN_PASSWORD", help="default: $ADMIN_PASSWORD, else generated")
    @click.option("--if-none", is_flag=True, help="do nothing when an admin exists already")
    def create_admin(email: str, password: str | None, if_none: bool) -> None:
        """Create an admin account and print its login."""
        if if_none and count_admins():
            click.echo("an admin exists already; nothing to do")
            return
        password = password or secrets.token_urlsafe(12)
        try:
            create_user(email, password, role="admin")
        except AccountError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        click.echo(f"admin created: {email} / {password}")
        if os.environ.get("ADMIN_LOGIN_FILE"):
            with open(os.environ["ADMIN_LOGIN_FILE"], "w") as out:
                out.write(f"{email}\n{password}\n")
