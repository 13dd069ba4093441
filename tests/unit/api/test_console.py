"""The console's server side (nativesnap/api/console.py): which files it
serves and how, its security headers, its sign-in, and a guard over its
JavaScript (docs/console.md, "Safe by construction"). What the pages do is
proven in a real browser: tests/functional/test_console_*.py."""

import json
import logging
import os
import re

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1.identity import v3
import pytest
import webob

from nativesnap.api import console

SECURITY = ("Content-Security-Policy", "X-Content-Type-Options",
            "X-Frame-Options", "Referrer-Policy")


def api_app(environ, start_response):
    """Stands for the JSON API: says it was called."""
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"api": true}']


@pytest.fixture
def app():
    return console.ConsoleApplication(api_app)


def get(app, path, method="GET", **kwargs):
    return webob.Request.blank(path, method=method, **kwargs).get_response(app)


def assert_secured(resp):
    for header in SECURITY:
        assert resp.headers.get(header), header
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_index_is_served_at_ui_with_its_security_headers(app):
    resp = get(app, "/ui/")
    assert resp.status_int == 200
    assert resp.content_type == "text/html"
    assert b'<script type="module" src="app.js">' in resp.body
    assert_secured(resp)


def test_ui_without_slash_redirects_to_ui_slash(app):
    resp = get(app, "/ui")
    assert resp.status_int == 301
    assert resp.location.endswith("/ui/")
    assert_secured(resp)


@pytest.mark.parametrize("name,ctype", [("app.js", "text/javascript"),
                                        ("style.css", "text/css"),
                                        ("icon.svg", "image/svg+xml")])
def test_each_file_has_its_content_type_and_an_etag(app, name, ctype):
    resp = get(app, "/ui/" + name)
    assert resp.status_int == 200 and resp.content_type == ctype
    assert resp.etag and resp.cache_control.no_cache
    again = get(app, "/ui/" + name, headers={"If-None-Match": f'"{resp.etag}"'})
    assert again.status_int == 304 and not again.body


@pytest.mark.parametrize("path", [
    "/ui/nope.js", "/ui/../setup.cfg", "/ui/%2e%2e/console.py", "/ui/console.py",
    "/ui//etc/passwd", "/ui/app.js/", "/ui/APP.JS"])
def test_only_the_console_files_are_served(app, path):
    resp = get(app, path)
    assert resp.status_int == 404
    assert json.loads(resp.body)["itemNotFound"]["code"] == 404
    assert_secured(resp)


def test_writes_to_files_are_refused(app):
    assert get(app, "/ui/app.js", method="POST").status_int == 404


def test_other_paths_reach_the_api_untouched(app):
    resp = get(app, "/v1/servers")
    assert resp.json == {"api": True}
    assert "Content-Security-Policy" not in resp.headers
    assert get(app, "/uix").json == {"api": True}


def test_config_says_how_to_sign_in(app, config):
    body = get(app, "/ui/config.json").json
    assert body == {"auth_strategy": "noauth2", "password_sign_in": False,
                    "api_version": "1.2"}
    config("auth_strategy", "keystone", group="api")
    assert get(app, "/ui/config.json").json["password_sign_in"] is False
    config("keystone_url", "http://keystone.invalid/v3", group="console")
    assert get(app, "/ui/config.json").json["password_sign_in"] is True


def login(app, body):
    return get(app, "/ui/login", method="POST", body=json.dumps(body).encode(),
               content_type="application/json")


CREDENTIALS = {"username": "alice", "password": "s3cret-Pw", "project_name": "demo"}


@pytest.fixture
def keystone(config):
    config("auth_strategy", "keystone", group="api")
    config("keystone_url", "http://keystone.invalid/v3", group="console")


def test_password_sign_in_is_refused_without_keystone(app):
    resp = login(app, CREDENTIALS)
    assert resp.status_int == 404
    assert "keystone_url" in resp.json["itemNotFound"]["message"]


def test_sign_in_needs_post(app, keystone):
    resp = get(app, "/ui/login")
    assert resp.status_int == 405 and resp.headers["Allow"] == "POST"


@pytest.mark.parametrize("body", [
    {}, {"username": "alice", "password": "x"},
    dict(CREDENTIALS, extra=1), dict(CREDENTIALS, password="")])
def test_sign_in_body_is_validated(app, keystone, body):
    resp = login(app, body)
    assert resp.status_int == 400


class Access:
    auth_token = "gAAAA-token"
    expires = None
    username = "alice"
    project_name = "demo"
    role_names = ["member", "reader"]


def test_sign_in_answers_keystones_token_and_never_logs_the_password(
        app, keystone, monkeypatch, caplog):
    seen = {}

    def get_access(self, session):
        seen.update(self.auth_methods[0].__dict__, url=self.auth_url)
        return Access()

    monkeypatch.setattr(v3.Password, "get_access", get_access)
    with caplog.at_level(logging.DEBUG):
        resp = login(app, CREDENTIALS)
    assert resp.status_int == 200, resp.body
    assert resp.json == {"token": "gAAAA-token", "expires_at": None,
                         "user": "alice", "project": "demo",
                         "roles": ["member", "reader"]}
    assert resp.cache_control.no_store
    assert seen["url"] == "http://keystone.invalid/v3"
    assert seen["username"] == "alice" and seen["password"] == "s3cret-Pw"
    assert "s3cret-Pw" not in caplog.text and "gAAAA-token" not in caplog.text


@pytest.mark.parametrize("error,code", [
    (ks_exc.Unauthorized(), 401), (ks_exc.ConnectFailure("down"), 502)])
def test_sign_in_failures_say_why(app, keystone, monkeypatch, error, code):
    def get_access(self, session):
        raise error

    monkeypatch.setattr(v3.Password, "get_access", get_access)
    resp = login(app, CREDENTIALS)
    assert resp.status_int == code
    assert "s3cret-Pw" not in resp.text


def test_disabled_console_leaves_ui_to_the_api(config):
    config("enabled", False, group="console")
    assert console.mount(api_app) is api_app


# --- the pages' own code -------------------------------------------------------

def console_files(ext):
    return [os.path.join(console.STATIC_DIR, n)
            for n in sorted(os.listdir(console.STATIC_DIR)) if n.endswith(ext)]


HTML_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|"
                        r"\beval\(|new Function|setAttribute\(\s*['\"]on|"
                        r"\.style\.|localStorage")


@pytest.mark.parametrize("path", console_files(".js"))
def test_javascript_never_parses_strings_as_html_or_code(path):
    with open(path) as f:
        source = f.read()
    assert not HTML_SINKS.findall(source), os.path.basename(path)


def test_page_has_no_inline_script_or_style():
    with open(os.path.join(console.STATIC_DIR, "index.html")) as f:
        html = f.read()
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts and all("src=" in s for s in scripts)
    assert not re.search(r"\sstyle=|<style|\son[a-z]+=", html)


def test_every_file_is_listed_as_package_data():
    with open(os.path.join(console.STATIC_DIR, "..", "..", "..",
                           "setup.cfg")) as f:
        setup = f.read()
    patterns = re.search(r"nativesnap\.api = (.*)", setup).group(1)
    for name in os.listdir(console.STATIC_DIR):
        assert f"console/*{os.path.splitext(name)[1]}" in patterns, name


def test_sign_in_body_larger_than_the_apis_limit_is_refused(app, keystone, config):
    config("max_request_body_size", 1024, group="api")
    resp = login(app, dict(CREDENTIALS, password="x" * 2000))
    assert resp.status_int == 413
