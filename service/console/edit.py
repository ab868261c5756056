"""Editing a key, with the version it was loaded at, and resetting its secret.

A save made stale by someone else's change is merged, never lost: fields
the operator changed keep the operator's input, fields only the other side
changed show their new values, and a field both changed shows both.
"""

from __future__ import annotations

from uuid import UUID

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from domain import ApiKey, InvalidValue
from service.console.fields import FIELDS, KeyForm, RollForm, field_error
from service.console.keys import Page, key_id_from, ledger, secret_page
from service.console.signin import changes_keys
from service.ledger import KeyChanges, VersionMismatch


def _loaded_version(key: ApiKey) -> int:
    raw = request.form.get("version", "")
    if not raw.isdigit() or not 1 <= int(raw) <= key.version:
        abort(400, "The form does not say which version of the key it was loaded at.")
    return int(raw)


def _page(
    key: ApiKey,
    form: KeyForm,
    version: int,
    status: int = 200,
    conflict: dict[str, object] | None = None,
    roll: RollForm | None = None,
) -> Page:
    return render_template(
        "console/edit.html",
        key=key,
        form=form,
        version=version,
        conflict=conflict,
        roll=roll or RollForm(),
    ), status


def edit_page_with_roll_error(key: ApiKey, roll: RollForm) -> Page:
    """The edit page with the roll form's error beside its field."""
    return _page(key, KeyForm.from_key(key), key.version, 422, roll=roll)


@changes_keys
def edit_key(key_id: str) -> Page:
    uid = key_id_from(key_id)
    current = ledger().get_key(uid)
    if request.method == "GET":
        return _page(current, KeyForm.from_key(current), current.version)
    version = _loaded_version(current)
    loaded = KeyForm.from_key(ledger().get_key(uid, version=version))
    submitted = KeyForm.from_request(request.form)
    changed = submitted.changed_from(loaded)
    values = submitted.parsed(ledger().clock(), only=changed)
    if submitted.errors:
        return _page(current, submitted, version, 422)
    if not changed:
        flash("Nothing changed, so nothing was saved.")
        return redirect(url_for("console.key_details", key_id=key_id), 303)
    try:
        ledger().update_key(uid, KeyChanges(values), expected_version=version)
    except VersionMismatch:
        return _conflict(uid, loaded, submitted, changed, version)
    except InvalidValue as error:
        submitted.errors[error.field] = field_error(error)
        return _page(current, submitted, version, 422)
    flash("Changes saved.")
    return redirect(url_for("console.key_details", key_id=key_id), 303)


def _conflict(
    uid: UUID,
    loaded: KeyForm,
    submitted: KeyForm,
    changed: tuple[str, ...],
    version: int,
) -> Page:
    """The form again, at the key's newest version, with nothing lost."""
    current = ledger().get_key(uid)
    theirs = KeyForm.from_key(current)
    theirs_changed = set(theirs.changed_from(loaded))
    merged = KeyForm(
        **{
            name: getattr(submitted if name in changed else theirs, name)
            for name in FIELDS
        }
    )
    both = [
        name
        for name in changed
        if name in theirs_changed and name in merged.changed_from(theirs)
    ]
    later = [
        record
        for record in ledger().read_model.history(uid)
        if record.version > version
    ]
    conflict = {"events": later, "both": both, "theirs": theirs}
    return _page(current, merged, current.version, 409, conflict)


@changes_keys
def reset_secret(key_id: str) -> Page | Response:
    uid = key_id_from(key_id)
    key = ledger().get_key(uid)
    if request.method == "GET":  # the confirmation step without JavaScript
        return render_template("console/confirm_reset.html", key=key)
    return secret_page(ledger().reset_secret(uid), created=False)
