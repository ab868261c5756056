"""The chain algorithm, checkpoints and the export verifier, without a store;
and the worked example of docs/tamper-evidence.md, recomputed."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from projections.chain import (
    GENESIS_HASH,
    canonical,
    chain_entry,
    event_sha256,
    link,
    micros_text,
    time_text,
)
from projections.chain_verify import checkpoints_from_body, verify_export
from projections.checkpoints import (
    Checkpoint,
    CheckpointFormatError,
    CheckpointSigner,
    SigningKeyError,
    VerificationKeys,
    parse_key_pem,
    public_key_pem,
)
from projections.sql import to_micros
from service.audit_signing import (
    SIGNING_KEY_FILE_NAME,
    load_signing_keys,
    read_signing_keys,
    rotate_signing_key,
)
from service.config import ConfigurationError, load_settings, parse_store

DOC = (Path(__file__).resolve().parents[2] / "docs" / "tamper-evidence.md").read_text()
KEY_ID = "5b0f6c1e-2d0a-4b7e-9a55-0d3c2f1e9b10"
EXAMPLE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def example_entries() -> list[dict[str, Any]]:
    """The two events of the documentation's worked example."""
    created = b'{"actor":"alice","dev_key":"kl_example"}'
    events = [
        (1, "domain.api_key:ApiKey.Created", created, "created", "09:30",
         {"status": {"from": None, "to": "enabled"}}),
        (2, "domain.api_key:ApiKey.Disabled", b'{"actor":"alice"}', "disabled",
         "09:31", {"status": {"from": "enabled", "to": "disabled"}}),
    ]  # fmt: skip
    entries = []
    for version, topic, state, kind, minute, changes in events:
        item = {
            "key_id": KEY_ID,
            "version": version,
            "type": kind,
            "occurred_at": f"2027-01-05T{minute}:00.000000Z",
            "actor": "alice",
            "source_ip": "192.0.2.10",
            "request_id": f"r-{version}",
            "changes": changes,
        }
        digest = event_sha256(KEY_ID, version, topic, state)
        entries.append(chain_entry(version, item, digest))
    return entries


def test_the_worked_example_in_the_docs_is_what_the_code_computes() -> None:
    entries = example_entries()
    hash_1 = link(GENESIS_HASH, entries[0])
    hash_2 = link(hash_1, entries[1])
    signer = CheckpointSigner(EXAMPLE_KEY)
    checkpoint = signer.sign(2, hash_2, datetime(2027, 1, 5, 9, 41, tzinfo=UTC))

    expected = [
        GENESIS_HASH,
        entries[0]["event_sha256"],
        canonical(entries[0]).decode(),
        f"one line, {len(canonical(entries[0]))} bytes",
        hash_1,
        entries[1]["event_sha256"],
        canonical(entries[1]).decode(),
        hash_2,
        checkpoint.message().decode(),
        checkpoint.signing_key_id,
        checkpoint.signature,
        public_key_pem(signer.public_key),
        json.dumps(checkpoint.as_item()["signature"]),
    ]
    assert [value for value in expected if value not in DOC] == []


def test_the_independent_verifier_in_the_docs_checks_an_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = DOC.split("```python\n", 1)[1].split("```", 1)[0]
    lines, checkpoints = export_of(example_entries(), signed={2})
    (tmp_path / "audit.jsonl").write_text("".join(lines))
    (tmp_path / "checkpoints.json").write_text(json.dumps(checkpoints))
    (tmp_path / "audit-key.pem").write_text(public_key_pem(EXAMPLE_KEY.public_key()))
    monkeypatch.chdir(tmp_path)

    exec(code, {})

    assert "intact up to" in capsys.readouterr().out


def test_canonical_form_is_rfc_8785_as_the_standard_library_writes_it() -> None:
    tricky = 'a\x00\x1f\x7f"\\/\b\f\n\r\t é \u2028 \U0001f600'
    value = {"z": tricky, "a": [1, None, {"é": tricky, "b": -(2**53)}], "m": True}

    assert canonical(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 5, 9, 30, 0, 7, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ],
)
def test_stored_times_render_as_items_show_them(moment: datetime) -> None:
    assert micros_text(to_micros(moment)) == time_text(moment)


# Checkpoints and keys.


def test_a_checkpoint_verifies_with_its_key_only() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    checkpoint = signer.sign(7, "ab" * 32, datetime.now(UTC))
    keys = VerificationKeys([signer.public_key])
    others = VerificationKeys([Ed25519PrivateKey.generate().public_key()])

    assert keys.problem(checkpoint) is None
    assert "unknown key" in str(others.problem(checkpoint))
    moved = Checkpoint(8, *list(checkpoint.as_item().values())[1:])
    assert keys.problem(moved) == "checkpoint signature does not verify"


FULL = {"position": 1, "hash": "x", "signed_at": "t", "signing_key_id": "k"}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({**FULL, "signature": "s", "position": None}, "position"),
        ({**FULL, "signature": "s", "position": "1"}, "position"),
        ({**FULL, "signature": "s", "hash": 1}, "hash"),
        ({**FULL, "signature": 5}, "signature"),
    ],
)
def test_a_malformed_checkpoint_is_refused_naming_the_field(
    item: dict[str, Any], field: str
) -> None:
    with pytest.raises(CheckpointFormatError, match=field):
        checkpoints_from_body({"items": [item]})


def test_rotation_keeps_earlier_public_keys_and_the_file_private(
    tmp_path: Path,
) -> None:
    path = tmp_path / "signing.pem"
    first = rotate_signing_key(path)
    old = read_signing_keys(path)
    checkpoint = old.signer.sign(1, GENESIS_HASH, datetime.now(UTC))

    second = rotate_signing_key(path)
    new = read_signing_keys(path)

    assert new.signer.key_id == second != first
    assert set(new.verification.keys) == {first, second}
    assert new.verification.problem(checkpoint) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert new.public_pem().startswith(public_key_pem(new.signer.public_key))
    assert parse_key_pem(new.public_pem())[0] is None  # no private key served


def test_a_pem_without_keys_is_refused() -> None:
    with pytest.raises(SigningKeyError):
        VerificationKeys.from_pem("not a key")


# The export verifier.


def export_of(
    entries: list[dict[str, Any]], signed: set[int]
) -> tuple[list[str], dict[str, Any]]:
    """JSONL lines and a checkpoints body for entries, signed by EXAMPLE_KEY."""
    signer = CheckpointSigner(EXAMPLE_KEY)
    previous, lines, checkpoints = GENESIS_HASH, [], []
    for entry in entries:
        previous = link(previous, entry)
        lines.append(json.dumps({**entry, "hash": previous}) + "\n")
        if entry["position"] in signed:
            moment = datetime(2027, 1, 5, 10, tzinfo=UTC)
            checkpoints.append(signer.sign(entry["position"], previous, moment))
    return lines, {"items": [c.as_item() for c in checkpoints]}


def many_entries(count: int) -> list[dict[str, Any]]:
    base = example_entries()[0]
    return [
        {**base, "position": n, "version": n, "request_id": f"r-{n}"}
        for n in range(1, count + 1)
    ]


def check(lines: list[str], body: dict[str, Any]) -> tuple[int | None, str]:
    keys = VerificationKeys([EXAMPLE_KEY.public_key()])
    verdict = verify_export(lines, checkpoints_from_body(body), keys)
    problem = verdict.problem
    return (None, "") if problem is None else (problem.position, problem.what)


def test_an_intact_export_verifies_through_its_last_checkpoint() -> None:
    lines, body = export_of(many_entries(12), signed={5, 10})
    keys = VerificationKeys([EXAMPLE_KEY.public_key()])

    verdict = verify_export(lines, checkpoints_from_body(body), keys)

    assert verdict.verified
    assert (verdict.events, verdict.head_position, verdict.signed_through) == (
        12,
        12,
        10,
    )


def edited(line: str, **changes: Any) -> str:
    return json.dumps({**json.loads(line), **changes}) + "\n"


@pytest.mark.parametrize(
    ("tamper", "position"),
    [
        (lambda ls: [*ls[:3], edited(ls[3], actor="mallory"), *ls[4:]], 4),
        (lambda ls: [*ls[:2], *ls[3:]], 4),
        (lambda ls: [*ls[:5], ls[6], ls[5], *ls[7:]], 7),  # the first line read
        (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]], 5),  # it carries a checkpoint
        (lambda ls: [*ls[:4], *ls[5:]], 5),  # the deleted line carried a checkpoint
        (lambda ls: ls[:7], 10),  # cut short: a checkpoint names a later line
        (lambda ls: [*ls[:2], "{not json\n", *ls[3:]], 3),
        (lambda ls: [*ls[:2], edited(ls[2], hash=None), *ls[3:]], 3),
    ],
    ids=[
        "edited",
        "deleted",
        "swapped",
        "swapped-signed",
        "signed-deleted",
        "truncated",
        "garbled",
        "unlinked",
    ],
)
def test_a_tampered_export_names_the_first_bad_position(
    tamper: Any, position: int
) -> None:
    lines, body = export_of(many_entries(12), signed={5, 10})

    assert check(tamper(lines), body)[0] == position


def test_a_recomputed_export_fails_at_the_next_checkpoint() -> None:
    entries = many_entries(12)
    _, body = export_of(entries, signed={5, 10})
    entries[6]["actor"] = "mallory"
    forged, _ = export_of(entries, signed=set())

    position, what = check(forged, body)
    assert position == 10
    assert "signed checkpoint" in what


def test_the_default_signing_key_is_made_once_beside_the_sqlite_file(
    tmp_path: Path,
) -> None:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'k.db'}"}, {})
    first = load_signing_keys(settings, parse_store(settings))
    again = load_signing_keys(settings, parse_store(settings))

    assert first.path == tmp_path / SIGNING_KEY_FILE_NAME
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert again.signer.key_id == first.signer.key_id


def test_postgresql_needs_a_signing_key_file_named() -> None:
    settings = load_settings({"database_url": "postgresql://u@db.internal/k"}, {})

    with pytest.raises(ConfigurationError, match="KEYLEDGER_AUDIT_SIGNING_KEY_FILE"):
        load_signing_keys(settings, parse_store(settings))
