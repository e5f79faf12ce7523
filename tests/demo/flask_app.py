"""tests/demo/flask_app.py — the demo's Flask side: an unchanged Flask app with
Flask-Login (sessiongate backend `flask`, session: cookie).

It knows nothing about sessiongate: it signs its own session cookie with the
shared SECRET_KEY. The FastAPI side (api_app.py) reads the same session from
X-Session and writes `api_visits` back, which this page shows.

Environment: SESSIONGATE_SECRET_FILE (required), DEMO_FLASK_PORT (5000),
DEMO_FLASK_HOST (127.0.0.1; 0.0.0.0 in a container).
Run with Debian's python3: /usr/bin/python3 tests/demo/flask_app.py
"""
import json
import os
import re

from flask import Flask, flash, redirect, render_template_string, request, session, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user


def read_secret(path):
    """The key bytes exactly as sessiongate reads them: one trailing newline stripped."""
    with open(path, "rb") as f:
        key = f.read()
    return key[:-1] if key.endswith(b"\n") else key


app = Flask(__name__)
app.config["SECRET_KEY"] = read_secret(os.environ["SESSIONGATE_SECRET_FILE"])

login_manager = LoginManager(app)
login_manager.login_view = "index"

USERNAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class User(UserMixin):
    def __init__(self, name):
        self.id = name


@login_manager.user_loader
def load_user(user_id):
    # A demo without a user database: any well-formed name is a user.
    return User(user_id) if USERNAME.fullmatch(user_id) else None


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sessiongate demo — Flask</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 42em; margin: 2em auto; padding: 0 1em; color: #222; }
  h1 { font-size: 1.4em; }
  .box { border: 1px solid #ccc; border-radius: 6px; padding: 1em; margin: 1em 0; }
  .flash { background: #fee; border-color: #c66; }
  code, pre { background: #f4f4f4; padding: 0 .2em; }
  pre { padding: .6em; overflow-x: auto; }
  button, input { font: inherit; }
</style>
</head>
<body>
<h1>sessiongate demo — the Flask side</h1>
{% for message in get_flashed_messages() %}<div class="box flash">{{ message }}</div>{% endfor %}
{% if current_user.is_authenticated %}
<div class="box">
  <p>Hello <strong>{{ current_user.id }}</strong>, you are logged in with Flask-Login
     (<code>_user_id</code> in the Flask session cookie).</p>
  <p>The FastAPI side has counted <strong>{{ api_visits }}</strong> visit(s) of yours
     (<code>api_visits</code>, written with an <code>X-Session-Patch</code> header and
     re-signed into this cookie by sessiongate).</p>
  <p>Now see the FastAPI side know you:
     <a href="/api/">/api/</a> (a page) or <a href="/api/me">/api/me</a> (JSON).
     Come back here and reload: the counter has moved.</p>
  <form method="post" action="{{ url_for('logout') }}"><button>Log out</button></form>
</div>
{% else %}
<div class="box">
  <p>You are not logged in. Pick any name (this demo has no passwords):</p>
  <form method="post" action="{{ url_for('login') }}">
    <input name="username" placeholder="alice" pattern="[A-Za-z0-9_.\\-]{1,32}" required autofocus>
    <button>Log in</button>
  </form>
  <p>Then open <a href="/api/">/api/</a>: the FastAPI app will greet you by name.</p>
</div>
{% endif %}
<p>The Flask session as this app sees it:</p>
<pre>{{ session_json }}</pre>
</body>
</html>
"""


@app.get("/")
def index():
    return render_template_string(
        PAGE,
        api_visits=session.get("api_visits", 0),
        session_json=json.dumps(dict(session), indent=2, sort_keys=True, default=str),
    )


@app.post("/login")
def login():
    name = request.form.get("username", "").strip()
    if not USERNAME.fullmatch(name):
        flash("A name is 1 to 32 letters, digits, '.', '_' or '-'.")
        return redirect(url_for("index"))
    login_user(User(name))
    return redirect(url_for("index"))


@app.post("/logout")
def logout():
    logout_user()
    session.pop("api_visits", None)
    return redirect(url_for("index"))


if __name__ == "__main__":
    app.run(host=os.environ.get("DEMO_FLASK_HOST", "127.0.0.1"),
            port=int(os.environ.get("DEMO_FLASK_PORT", "5000")))
