"""``GET /docs`` works without internet: the page and every file it loads
come from the service itself (Swagger UI from the pinned swagger-ui-bundle)."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

ASSET = re.compile(r"""(?:src|href)="([^"]+)\"""")


def test_the_docs_page_loads_only_assets_served_by_the_service(
    client: FlaskClient,
) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = ASSET.findall(page.get_data(as_text=True))
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is loaded from another host"
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.get_data()) > 1000, asset


def test_the_page_points_swagger_ui_at_the_served_document(
    client: FlaskClient,
) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assert 'url: "/openapi.json"' in page
    assert client.get("/openapi.json").status_code == 200


def test_an_unknown_asset_is_a_404_not_a_file_outside_the_bundle(
    client: FlaskClient,
) -> None:
    assert client.get("/docs/static/../../../../etc/passwd").status_code == 404
    assert client.get("/docs/static/nothing.js").status_code == 404
