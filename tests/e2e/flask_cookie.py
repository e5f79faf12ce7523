"""tests/e2e/flask_cookie.py — make and load Flask session cookies with real Flask, at a frozen time.

Run as a script to print a cookie: flask_cookie.py SECRET TIMESTAMP 'python-literal-session'.
"""
import contextlib
import hashlib

import itsdangerous.timed
from flask import Flask, session

_pending = {}


@contextlib.contextmanager
def frozen_time(ts):
    """Freezes itsdangerous's clock (signing and max-age checks) at ts."""
    orig = itsdangerous.timed.TimestampSigner.get_timestamp
    itsdangerous.timed.TimestampSigner.get_timestamp = lambda self: ts
    try:
        yield
    finally:
        itsdangerous.timed.TimestampSigner.get_timestamp = orig


def make_app(secret, salt=None, digest=None):
    """A real Flask app; salt and digest customise SecureCookieSessionInterface
    the documented way (a subclass; Flask's default interface is shared by all apps)."""
    from flask.sessions import SecureCookieSessionInterface

    attrs = {}
    if salt is not None:
        attrs["salt"] = salt
    if digest is not None:
        attrs["digest_method"] = staticmethod(getattr(hashlib, digest))
    app = Flask("flask_cookie")
    app.session_interface = type("Iface", (SecureCookieSessionInterface,), attrs)()
    app.secret_key = secret

    @app.route("/set")
    def set_session():
        session.clear()
        session.update(_pending["data"])
        return "ok"

    return app


def flask_sign(data, secret, ts, salt=None, digest=None):
    """The cookie value real Flask sets for the session dict data at time ts."""
    app = make_app(secret, salt, digest)
    _pending["data"] = data
    with frozen_time(ts), app.test_client() as c:
        resp = c.get("/set")
    for h in resp.headers.getlist("Set-Cookie"):
        name, _, rest = h.partition("=")
        if name == app.config["SESSION_COOKIE_NAME"]:
            return rest.split(";", 1)[0]
    raise AssertionError("Flask set no session cookie")


def flask_load(cookie, secret, ts, salt=None, digest=None, max_age=None, fallbacks=()):
    """The session real Flask loads from cookie at time ts, as a dict, or None if
    Flask rejects the cookie (it then starts an empty session).

    fallbacks: older secrets. Flask 2.2 has no SECRET_KEY_FALLBACKS, so they go
    to itsdangerous's key rotation (a list of keys, oldest first)."""
    app = make_app(secret, salt, digest)
    if max_age is not None:
        app.permanent_session_lifetime = max_age
    iface = app.session_interface
    if fallbacks:
        app.secret_key = list(reversed(fallbacks)) + [secret]
    with frozen_time(ts):
        # open_session swallows BadSignature; ask the same serializer first
        ser = iface.get_signing_serializer(app)
        try:
            ser.loads(cookie, max_age=int(app.permanent_session_lifetime.total_seconds()))
        except itsdangerous.BadSignature:
            return None
        with app.test_request_context(headers={"Cookie": "session=" + cookie}):
            from flask import request

            return dict(iface.open_session(app, request))


if __name__ == "__main__":
    import ast
    import sys

    print(flask_sign(ast.literal_eval(sys.argv[3]), sys.argv[1].encode(), int(sys.argv[2])))
