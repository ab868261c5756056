"""The documentation a user's clone carries stands on its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _nginx_block(path: Path) -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", path.read_text(), re.S)
    assert blocks, f"{path.name} has no nginx block"
    return str(blocks[0])


def _reverse_proxy_block(path: Path) -> str:
    """The nginx block that puts nginx in front of keyledger itself."""
    blocks = re.findall(r"```nginx\n(.*?)```", path.read_text(), re.S)
    found = [b for b in blocks if "upstream keyledger_api" in b]
    assert len(found) == 1, f"{path.name} must show the reverse proxy once"
    return str(found[0])


def test_the_readme_gateway_configuration_is_the_tested_one() -> None:
    # The end-to-end gateway tests run docs/gateway.md's block in a real nginx.
    assert _nginx_block(ROOT / "README.md") == _nginx_block(
        ROOT / "docs" / "gateway.md"
    )


@pytest.mark.parametrize("doc", ["README.md", "docs/gateway.md", "docs/serving.md"])
def test_the_documented_reverse_proxy_is_the_shipped_file(doc: str) -> None:
    # The slowloris test and the serving benchmark run the shipped file.
    shipped = (ROOT / "deploy" / "nginx-keyledger.conf").read_text()
    assert _reverse_proxy_block(ROOT / doc) == shipped


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve_inside_the_repository(doc: Path) -> None:
    targets = [t for t in _LINK.findall(doc.read_text()) if "://" not in t]
    assert targets or doc.name != "README.md"
    for target in targets:
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing {target}"
