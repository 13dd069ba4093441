"""A paste filter for the test cinder-api with Keystone auth: what
keystonemiddleware made of each request's tokens, one JSON line per request.

``tests/cinder_fixtures.py`` (``KeystoneCinderServer``) puts it in Cinder's
``keystone`` pipeline right after ``authtoken`` (Cinder's own
keystonemiddleware)::

    [filter:servicetokenprobe]
    paste.filter_factory = tests.cinder_service_token_probe:filter_factory
    record_file = <the fixture's directory>/service-token-probe.jsonl

At that point keystonemiddleware has validated the user's token
(``X-Auth-Token``) and, when one came, the service token (``X-Service-Token``)
with Keystone, removed every identity header the client sent, and set its
own: ``X-User-Id``, ``X-Project-Id``, ``X-Roles`` for the user's token,
``X-Service-User-Name``, ``X-Service-Roles``... for the service token. So a
record with ``service_user_name`` proves Keystone vouched for a service token
in that request; a header a client forged cannot show up here.

Each record: method, path, Cinder's answer (``status``), the User-Agent,
whether an ``X-Service-Token`` header came at all (never the token itself),
and the identity headers below. Written by cinder-api's worker process
(eventlet: one request at a time per green thread; appends of one line).
"""

import json
import threading

# record key: WSGI environ key (as keystonemiddleware sets it)
IDENTITY = {
    "identity_status": "HTTP_X_IDENTITY_STATUS",
    "user_id": "HTTP_X_USER_ID",
    "user_name": "HTTP_X_USER_NAME",
    "project_id": "HTTP_X_PROJECT_ID",
    "roles": "HTTP_X_ROLES",
    "service_identity_status": "HTTP_X_SERVICE_IDENTITY_STATUS",
    "service_user_id": "HTTP_X_SERVICE_USER_ID",
    "service_user_name": "HTTP_X_SERVICE_USER_NAME",
    "service_project_name": "HTTP_X_SERVICE_PROJECT_NAME",
    "service_roles": "HTTP_X_SERVICE_ROLES",
}


def _split(value):
    return sorted(v.strip() for v in value.split(",") if v.strip())


def filter_factory(global_conf, **local_conf):
    path = local_conf["record_file"]
    lock = threading.Lock()

    def make(app):
        def probe(environ, start_response):
            record = {"method": environ.get("REQUEST_METHOD"),
                      "path": (environ.get("SCRIPT_NAME", "")
                               + environ.get("PATH_INFO", "")),
                      "user_agent": environ.get("HTTP_USER_AGENT"),
                      "service_token_sent": "HTTP_X_SERVICE_TOKEN" in environ}
            for key, env_key in IDENTITY.items():
                value = environ.get(env_key)
                if value is not None and key.endswith("roles"):
                    value = _split(value)
                record[key] = value
            status = []

            def start(line, headers, exc_info=None):
                status.append(int(line.split(" ", 1)[0]))
                return start_response(line, headers, exc_info)

            try:
                return app(environ, start)
            finally:
                record["status"] = status[0] if status else None
                with lock, open(path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")

        return probe

    return make
