"""Commands about people: accounts (``users``) and moderation."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from rich.table import Table

from .context import Context, out, pass_ctx


@click.group()
def users() -> None:
    """Accounts and their roles (reader, moderator, admin)."""


@users.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(["reader", "moderator", "admin"]), default="reader", show_default=True)
@click.option("--link/--no-link", default=True, show_default=True,
              help="Print a one-time sign-in link (valid 15 minutes) for the account.")
@pass_ctx
def users_add(ctx: Context, email: str, role: str, link: bool) -> None:
    """Make an account (or change its role). The first admin is made this way."""
    from ..accounts.signin import add_user, new_link

    store = ctx.store()
    user = add_user(store, email, role)
    out.print(f"{user.name} <{user.email}>: {user.role}", highlight=False)
    if link:
        out.print(f"sign in once, within 15 minutes: {new_link(store, ctx.settings, user.email)}",
                  highlight=False, soft_wrap=True)


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def users_list(ctx: Context, as_json: bool) -> None:
    """Every account with its role and status."""
    accounts = ctx.store().accounts.list(limit=10_000)
    if as_json:
        click.echo(json.dumps([vars(u) for u in accounts], indent=2))
        return
    table = Table("id", "name", "email", "role", "status", "created", "last signed in")
    for u in accounts:
        table.add_row(str(u.id), u.name, u.email, u.role, u.status, u.created_at, u.last_signed_in or "")
    out.print(table)


# -- moderation -------------------------------------------------------------------------------


@click.group()
def moderation() -> None:
    """The moderators' queue and audit log, and their actions from the command line."""


@moderation.command("act")
@click.argument("action", type=click.Choice(["hide", "restore", "suspend", "unsuspend", "dismiss"]))
@click.argument("kind", type=click.Choice(["paper", "comment", "user"]))
@click.argument("target")
@click.option("--by", "by_email", required=True, help="The moderator's (or admin's) email: the audit log names them.")
@click.option("--reason", required=True, help="Why; kept in the audit log.")
@pass_ctx
def moderation_act(ctx: Context, action: str, kind: str, target: str, by_email: str, reason: str) -> None:
    """Hide or restore a paper or comment, suspend or restore an account (TARGET: its name or
    id), or dismiss reports; recorded in the audit log like the same action on /moderation."""
    import time as _time

    from ..accounts.moderation import moderate
    from ..errors import Forbidden

    store = ctx.store()
    actor = store.accounts.by_email(by_email.strip().lower())
    if actor is None:
        raise Forbidden(f"{by_email} has no account")
    done = moderate(store, actor, action, kind, target, reason, _time.time())
    out.print(f"{action} {kind} {done}: recorded in the audit log", highlight=False)


@moderation.command("audit")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def moderation_audit(ctx: Context, limit: int, as_json: bool) -> None:
    """The audit log, newest first: who did what to which, and why."""
    entries = ctx.store().community.audit(limit=limit)
    if as_json:
        click.echo(json.dumps([vars(e) for e in entries], indent=2))
        return
    table = Table("when", "who", "action", "target", "why")
    for e in entries:
        table.add_row(datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M"), e.actor, e.action,
                      f"{e.kind} {e.target}", e.reason)
    out.print(table)


@moderation.command("reports")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def moderation_reports(ctx: Context, as_json: bool) -> None:
    """Open reports, oldest first."""
    reports = ctx.store().community.open_reports()
    if as_json:
        click.echo(json.dumps([vars(r) for r in reports], indent=2))
        return
    table = Table("id", "kind", "target", "reported by", "why")
    for r in reports:
        table.add_row(str(r.id), r.kind, r.target, r.reporter, r.reason)
    out.print(table)


# -- serving ----------------------------------------------------------------------------------
