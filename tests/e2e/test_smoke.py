from tests.support.http import ApiClient


def test_created_key_authorizes_at_once(api: ApiClient) -> None:
    key = api.create_key(permissions=["send"])
    assert api.auth(key["dev_key"], key["dev_secret"]).status_code == 200
