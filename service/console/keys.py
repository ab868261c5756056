"""The API Keys list, the create form, a key's details and its actions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from domain import ApiKey, InvalidValue
from projections.audit_trail import AuditEntry
from projections.key_state import KeyRow
from projections.queries import KeyFilter
from service.api.errors import ApiError
from service.api.presenters import decode_key_cursor, encode_key_cursor
from service.api.schemas import STATUSES
from service.console.display import key_status
from service.console.fields import KeyForm, field_error, parse_moment
from service.console.signin import changes_keys
from service.console.wiring import services
from service.ledger import IssuedSecret, KeyLedger, KeyNotFound
from service.usage_report import key_usage

PAGE_SIZE = 20
# The details page's usage table: today and the six days before, by UTC day.
USAGE_DAYS = 7
SEARCH_MAX_LENGTH = 255
Page = str | tuple[str, int] | Response


def ledger() -> KeyLedger:
    return services().ledger


def key_id_from(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        abort(404)


def _key_list_selection() -> tuple[KeyFilter, dict[str, str], dict[str, str]]:
    """The list's filters as typed, and an error per filter that is not valid."""
    typed = {
        "status": request.args.get("status", ""),
        "q": request.args.get("q", "").strip(),
    }
    errors: dict[str, str] = {}
    if typed["status"] not in ("", *STATUSES):
        errors["status"] = "Status must be enabled, disabled or expired."
    if len(typed["q"]) > SEARCH_MAX_LENGTH:
        errors["q"] = f"Search must be at most {SEARCH_MAX_LENGTH} characters."
    selection = KeyFilter(
        status=None if "status" in errors else typed["status"] or None,
        text=None if "q" in errors else typed["q"] or None,
    )
    return selection, typed, errors


def key_list() -> Page:
    selection, typed, errors = _key_list_selection()
    after = None
    if request.args.get("after"):
        try:
            after = decode_key_cursor(request.args["after"])
        except ApiError:
            errors["after"] = "That page link is not valid; showing the first page."
    now = ledger().clock()
    found = ledger().read_model.list_keys(
        selection, now=now, limit=PAGE_SIZE + 1, after=after
    )
    page: list[KeyRow] = found[:PAGE_SIZE]
    filtered = bool(selection.status or selection.text)
    next_args = None
    if len(found) > PAGE_SIZE:
        next_args = {k: v for k, v in typed.items() if v}
        next_args["after"] = encode_key_cursor(page[-1])
    return render_template(
        "console/keys.html",
        keys=[(view, key_status(view, now)) for view in page],
        typed=typed,
        errors=errors,
        filtered=filtered,
        paged=after is not None,
        next_args=next_args,
        statuses=STATUSES,
    ), (422 if errors and "after" not in errors else 200)


@changes_keys
def create_key() -> Page:
    form = KeyForm()
    if request.method == "POST":
        form = KeyForm.from_request(request.form)
        values = form.parsed(ledger().clock())
        if not form.errors:
            try:
                issued = ledger().create_key(**values)
            except InvalidValue as error:  # e.g. an expiry that just passed
                form.errors[error.field] = field_error(error)
            else:
                return secret_page(issued, created=True)
        return render_template("console/create.html", form=form), 422
    return render_template("console/create.html", form=form)


def secret_page(issued: IssuedSecret, *, created: bool, rolled: bool = False) -> Page:
    """The new DevSecret, shown once, after a create, reset or roll."""
    key = issued.key
    in_grace = rolled and key.previous_secret_valid(ledger().clock())
    return render_template(
        "console/secret.html",
        key=key,
        dev_secret=issued.dev_secret,
        created=created,
        rolled=rolled,
        previous_until=key.previous_secret_expires_at if in_grace else None,
    )


def _history(key_id: UUID) -> Sequence[AuditEntry]:
    return ledger().read_model.history(key_id)


def before_deletion(uid: UUID, history: Sequence[AuditEntry]) -> ApiKey | None:
    """A deleted key as it stood just before its deletion (what a restore
    brings back); None when the key is not deleted."""
    if not history or history[-1].type != "deleted":
        return None
    try:
        return ledger().get_key(uid, version=history[-1].version - 1)
    except KeyNotFound:
        return None


def _usage(key: ApiKey, now: datetime) -> dict[str, Any]:
    """Last use and the last days' counts, as the API's usage call gives them."""
    key_id = str(key.id)
    store = services().usage
    days = key_usage(store, key_id, now - timedelta(days=USAGE_DAYS - 1), now, "day")
    return {
        "last_used_at": store.last_used([key_id]).get(key_id),
        "days": list(reversed(days)),
    }


def key_details(key_id: str, revealed: str | None = None) -> Page:
    uid = key_id_from(key_id)
    history = _history(uid)
    current: ApiKey | None
    deleted: ApiKey | None = None
    try:
        current = ledger().get_key(uid)
    except KeyNotFound:
        if not history:
            abort(404)
        current = None  # deleted: its history and past states stay readable
        deleted = before_deletion(uid, history)
    as_of_text = request.args.get("as_of", "").strip()
    as_of_error = None
    past = None
    moment = ledger().clock()
    if as_of_text:
        try:
            asked = parse_moment("as_of", as_of_text)
            if asked is not None:
                past = ledger().get_key_as_of(uid, asked)
                moment = asked
        except InvalidValue as error:
            as_of_error = f"View as of {error.message}."
        except KeyNotFound:
            as_of_error = "The key did not exist at that time (or was deleted)."
    shown = past or current
    now = ledger().clock()
    return render_template(
        "console/details.html",
        key_id=uid,
        key=shown,
        current=current,
        past=past,
        status=key_status(shown, moment) if shown else None,
        history=list(reversed(history)),
        as_of_text=as_of_text,
        as_of_error=as_of_error,
        revealed=revealed,
        deleted=deleted,
        usage=_usage(current, now) if current is not None and past is None else None,
        grace_running=current is not None and current.previous_secret_valid(now),
    ), (422 if as_of_error else 200)


@changes_keys
def reveal_secret(key_id: str) -> Page:
    issued = ledger().reveal_secret(key_id_from(key_id))
    return key_details(key_id, revealed=issued.dev_secret)


@changes_keys
def disable_key(key_id: str) -> Response:
    ledger().disable_key(key_id_from(key_id))
    flash("Key disabled: requests signed with it are refused from now on.")
    return redirect(url_for("console.key_details", key_id=key_id), 303)


@changes_keys
def enable_key(key_id: str) -> Response:
    ledger().enable_key(key_id_from(key_id))
    flash("Key enabled.")
    return redirect(url_for("console.key_details", key_id=key_id), 303)


@changes_keys
def delete_key(key_id: str) -> Page:
    uid = key_id_from(key_id)
    key = ledger().get_key(uid)
    if request.method == "GET":  # the confirmation step without JavaScript
        return render_template("console/confirm_delete.html", key=key)
    ledger().delete_key(uid)
    flash(f"Key {key.dev_key} deleted. Its history stays in the audit log.")
    return redirect(url_for("console.key_list"), 303)
