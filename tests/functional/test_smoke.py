"""The service starts on a real database and answers its version documents."""


def test_version_documents_are_public_and_echo_the_microversion(api):
    resp = api.request("GET", "/", token=None)
    assert resp.status_code == 200
    assert resp.json()["versions"][0]["id"] == "v1"
    assert resp.headers["OpenStack-API-Version"] == "snapshot 1.0"
    resp = api.request("GET", "/v1", token=None,
                       headers={"OpenStack-API-Version": "snapshot 1.1"})
    assert resp.status_code == 200
    assert resp.headers["OpenStack-API-Version"] == "snapshot 1.1"
