"""tests/e2e/apps/flask_app.py — an unchanged Flask 2.2 app with Flask-Login, run
behind sessiongate as a `session: cookie` backend by test_session*.py. It signs
its own cookie with the shared secret and reports what it received.

Usage: flask_app.py --port P --secret-file F [--config JSON of SESSION_* settings]
"""
import argparse
import datetime
import json
import uuid

from flask import Flask, jsonify, request, session
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from markupsafe import Markup

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--secret-file", required=True)
ap.add_argument("--config", default="{}")
args = ap.parse_args()

with open(args.secret_file, "rb") as f:
    secret = f.read()
app = Flask("e2e_flask")
app.secret_key = secret[:-1] if secret.endswith(b"\n") else secret
app.config.update(json.loads(args.config))
login = LoginManager(app)


class User(UserMixin):
    def __init__(self, uid):
        self.id = uid


@login.user_loader
def load_user(uid):
    return User(uid)


def describe(v):
    """A value with its Python type, so tests see Flask's types, not JSON."""
    if isinstance(v, tuple):
        return {"type": "tuple", "items": [describe(x) for x in v]}
    if isinstance(v, bytes):
        return {"type": "bytes", "hex": v.hex()}
    if isinstance(v, Markup):
        return {"type": "Markup", "str": str(v)}
    if isinstance(v, uuid.UUID):
        return {"type": "UUID", "str": str(v)}
    if isinstance(v, datetime.datetime):
        return {"type": "datetime", "iso": v.isoformat()}
    if isinstance(v, dict):
        return {"type": "dict", "items": {k: describe(x) for k, x in v.items()}}
    if isinstance(v, list):
        return {"type": "list", "items": [describe(x) for x in v]}
    return {"type": type(v).__name__, "value": v}


@app.route("/flask/echo")
def echo():
    # current_user only when logged in: for an anonymous session Flask-Login's
    # session protection would write "_fresh": false (a real change)
    user = current_user.get_id() if "_user_id" in session else None
    return jsonify(session={k: describe(v) for k, v in session.items()},
                   headers=[[k, v] for k, v in request.headers.items()], user=user)


@app.route("/flask/set", methods=["POST"])
def set_keys():
    session.update(request.get_json())
    return "set"


@app.route("/flask/pop", methods=["POST"])
def pop_keys():
    for k in request.get_json():
        session.pop(k, None)
    return "popped"


@app.route("/flask/clear", methods=["POST"])
def clear():
    session.clear()
    return "cleared"


@app.route("/flask/permanent", methods=["POST"])
def permanent():
    session.permanent = True
    return "permanent"


@app.route("/flask/types", methods=["POST"])
def types():
    session["tup"] = (1, "two", [3])
    session["raw"] = b"\x00\xffbytes"
    session["when"] = datetime.datetime(2031, 5, 4, 3, 2, 1, tzinfo=datetime.timezone.utc)
    session["uid"] = uuid.UUID("12345678-1234-5678-1234-567812345678")
    session["html"] = Markup("<b>bold</b>")
    session["tagdict"] = {" t": "not a tuple"}  # stored as {" di": ...} by Flask
    return "typed"


@app.route("/flask/login", methods=["POST"])
def do_login():
    login_user(User(request.form["user"]))
    return "logged in"


@app.route("/flask/logout", methods=["POST"])
def do_logout():
    logout_user()
    return "logged out"


if __name__ == "__main__":
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    app.run(host="127.0.0.1", port=args.port, threaded=True)
