"""Rolling a key's secret with a grace period, and restoring a deleted key.

Both go through the same KeyLedger commands as the API and the CLI, so they
land in the key's history, the audit log and the change feed in the
signed-in operator's name.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from domain import InvalidValue
from service.console.edit import edit_page_with_roll_error
from service.console.fields import RollForm, field_error
from service.console.keys import (
    Page,
    before_deletion,
    key_id_from,
    ledger,
    secret_page,
)
from service.console.signin import changes_keys


@changes_keys
def roll_secret(key_id: str) -> Page:
    uid = key_id_from(key_id)
    key = ledger().get_key(uid)
    # The confirmation page (without JavaScript) takes the grace as typed.
    typed = request.form if request.method == "POST" else request.args
    roll = RollForm.from_request(typed)
    grace = roll.parsed(ledger().clock())
    if grace is None:
        return edit_page_with_roll_error(key, roll)
    if request.method == "GET":
        return render_template("console/confirm_roll.html", key=key, grace=grace)
    try:
        issued = ledger().roll_secret(uid, grace)
    except InvalidValue as error:  # the domain's rule, should it ever differ
        roll.errors[error.field] = field_error(error)
        return edit_page_with_roll_error(key, roll)
    return secret_page(issued, created=False, rolled=True)


@changes_keys
def restore_key(key_id: str) -> Page | Response:
    uid = key_id_from(key_id)
    if request.method == "GET":  # the confirmation step without JavaScript
        key = before_deletion(uid, ledger().read_model.history(uid))
        if key is None:
            # Not deleted (restored meanwhile, say): its page shows it as is.
            return redirect(url_for("console.key_details", key_id=key_id), 303)
        return render_template("console/confirm_restore.html", key=key)
    restored = ledger().restore_key(uid)
    flash(
        f"Key {restored.dev_key} restored, disabled: requests signed with it are "
        "refused until you enable it."
    )
    return redirect(url_for("console.key_details", key_id=key_id), 303)
