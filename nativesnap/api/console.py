"""The web console: static files under /ui/, served beside the JSON API.

The console is one page of plain JavaScript (no framework, no build step, no
CDN: nothing is fetched from elsewhere at run time) that calls only the public
REST API with the signed-in user's token, so it can do nothing the API would
not let that user do (docs/console.md). This module only serves its files:

- the files are read once, at start-up, from the package; a request names one
  of them and never builds a path (an unknown name is a 404);
- every answer carries a strict Content-Security-Policy (scripts and styles
  from this origin only, no inline script, no framing), ``nosniff`` and
  ``no-referrer``, so a string that reaches the page can never run as code;
- ``/ui/config.json`` tells the page how to sign in; with Keystone and
  ``[console] keystone_url``, ``POST /ui/login`` exchanges a user name and
  password for a project-scoped token (the password is never stored or
  logged; the token goes back to the browser, which keeps it in session
  storage).
"""

import hashlib
import json
import os
import time

from oslo_log import log as logging
import webob
import webob.dec

from nativesnap.api import microversion
from nativesnap.api import validation
from nativesnap.api import wsgi
from nativesnap.conf import CONF
from nativesnap import exception

LOG = logging.getLogger(__name__)

PREFIX = "/ui"
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "console")
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript",
                 ".css": "text/css", ".svg": "image/svg+xml"}
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'",
    "img-src 'self'", "connect-src 'self'", "base-uri 'none'",
    "form-action 'none'", "frame-ancestors 'none'"))
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

login_schema = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "minLength": 1, "maxLength": 255},
        "password": {"type": "string", "minLength": 1, "maxLength": 4096},
        "project_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "user_domain_name": {"type": "string", "minLength": 1, "maxLength": 255},
        "project_domain_name": {"type": "string", "minLength": 1,
                                "maxLength": 255},
    },
    "required": ["username", "password", "project_name"],
    "additionalProperties": False,
}


def load_files(directory=STATIC_DIR):
    """{name: (content type, bytes, etag)} of the console's files."""
    files = {}
    for name in sorted(os.listdir(directory)):
        ctype = CONTENT_TYPES.get(os.path.splitext(name)[1])
        if ctype is None:
            continue
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        etag = hashlib.sha256(data).hexdigest()[:32]
        files[name] = (ctype, data, etag)
    return files


def password_sign_in():
    """Whether the sign-in form asks for a password (Keystone behind it)."""
    return bool(CONF.api.auth_strategy == "keystone"
                and CONF.console.keystone_url)


def keystone_login(body):
    """A project-scoped Keystone token for the user of ``body``."""
    from keystoneauth1 import exceptions as ks_exc
    from keystoneauth1.identity import v3
    from keystoneauth1 import session

    url = CONF.console.keystone_url
    auth = v3.Password(
        auth_url=url, username=body["username"], password=body["password"],
        project_name=body["project_name"],
        user_domain_name=body.get("user_domain_name", "Default"),
        project_domain_name=body.get("project_domain_name", "Default"))
    sess = session.Session(auth=auth, verify=CONF.console.keystone_ca_file or True,
                           timeout=CONF.console.keystone_timeout)
    try:
        access = auth.get_access(sess)
    except ks_exc.Unauthorized:
        raise exception.NotAuthenticated(
            "Keystone refused the sign-in: the user name, password, domain or "
            "project is wrong, or the user has no role on the project.") from None
    except (ks_exc.ConnectionError, ks_exc.HttpError) as e:
        raise exception.KeystoneCallFailed(url=url, reason=type(e).__name__) \
            from None
    return {"token": access.auth_token,
            "expires_at": access.expires.isoformat() if access.expires else None,
            "user": access.username, "project": access.project_name,
            "roles": sorted(access.role_names or [])}


class ConsoleApplication:
    """The /ui/ answers; everything else goes to ``api``."""

    def __init__(self, api, files=None):
        self.api = api
        self.files = load_files() if files is None else files

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            return self.serve(environ, start_response)
        return self.api(environ, start_response)

    @webob.dec.wsgify
    def serve(self, req):
        started = time.monotonic()
        try:
            resp = self._answer(req)
        except exception.NativesnapException as e:
            resp = wsgi.exception_response(e)
        resp.headers.update(SECURITY_HEADERS)
        # Path and status only: never a header or a body (tokens, passwords).
        LOG.info('console "%s %s" status: %s time: %.1f ms', req.method,
                 wsgi.logged_path_qs(req).split("?")[0][:200],
                 resp.status_code, (time.monotonic() - started) * 1000)
        return resp

    def _answer(self, req):
        path = req.path_info
        if path == PREFIX:
            return webob.Response(status=301, location=PREFIX + "/")
        name = path[len(PREFIX) + 1:] or "index.html"
        if name == "login":
            return self._login(req)
        if req.method not in ("GET", "HEAD"):
            raise exception.NotFound(f"No console page at {path[:200]}.")
        if name == "config.json":
            return self._json({
                "auth_strategy": CONF.api.auth_strategy,
                "password_sign_in": password_sign_in(),
                "api_version": microversion.fmt(microversion.MAX_VERSION)})
        if name not in self.files:
            raise exception.NotFound(f"No console page at {path[:200]}.")
        ctype, data, etag = self.files[name]
        resp = webob.Response(body=data, content_type=ctype)
        if ctype.startswith("text/"):
            resp.charset = "utf-8"
        resp.etag = etag
        resp.cache_control = "no-cache"
        resp.conditional_response = True
        return resp

    def _login(self, req):
        if req.method != "POST":
            return wsgi.fault_response(405, "Sign in with POST.",
                                       headers={"Allow": "POST"})
        if not password_sign_in():
            raise exception.NotFound(
                "Password sign-in needs [api] auth_strategy = keystone and "
                "[console] keystone_url; sign in with a token instead.")
        # The API's own body limit, a chunked body read no further than it.
        limit = CONF.api.max_request_body_size
        data = req.body_file.read(limit + 1)
        if len(data) > limit:
            raise exception.RequestTooLarge(limit=limit)
        req.body = data
        body = wsgi.parse_body(req)
        validation.validate(login_schema, body)
        return self._json(keystone_login(body))

    @staticmethod
    def _json(body):
        resp = webob.Response(content_type=wsgi.JSON, charset="utf-8",
                              body=json.dumps(body).encode("utf-8"))
        resp.cache_control = "no-store"
        return resp


def mount(api):
    """``api`` with the console in front of it when it is enabled."""
    return ConsoleApplication(api) if CONF.console.enabled else api
