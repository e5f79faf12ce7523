"""tests/demo/api_app.py — the demo's FastAPI side (sessiongate backend `api`,
session: header).

It never sees a cookie or the secret: sessiongate hands it the verified Flask
session as JSON in the X-Session request header, and it changes the session by
answering with an X-Session-Patch header (a JSON merge patch, RFC 7386), which
sessiongate merges and re-signs into the one Flask cookie.

Run with Debian's python3:
  /usr/bin/python3 -m uvicorn --app-dir tests/demo api_app:app --host 127.0.0.1 --port 8000
"""
import html
import json

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

app = FastAPI(title="sessiongate demo API")


def read_session(request: Request) -> dict:
    """The session sessiongate verified; {} when absent (only the proxy can set it)."""
    raw = request.headers.get("x-session")
    if not raw:
        return {}
    try:
        session = json.loads(raw)
    except ValueError:
        return {}
    return session if isinstance(session, dict) else {}


def count_visit(session: dict):
    """Counts a logged-in user's visit; returns (user, visits, response headers)."""
    user = session.get("_user_id")
    visits = session.get("api_visits", 0)
    if not isinstance(visits, int) or isinstance(visits, bool):
        visits = 0
    if user is None:
        # Nothing changes for anonymous visitors: no patch, so no new cookie.
        return None, visits, {}
    visits += 1
    return user, visits, {"X-Session-Patch": json.dumps({"api_visits": visits})}


@app.get("/api/me")
def me(request: Request, response: Response):
    user, visits, headers = count_visit(read_session(request))
    response.headers.update(headers)
    if user is None:
        return {"logged_in": False, "user": None,
                "hint": "nobody is logged in: log in on the Flask side at /"}
    return {"logged_in": True, "user": user, "api_visits": visits}


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sessiongate demo — FastAPI</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 42em; margin: 2em auto; padding: 0 1em; color: #222; }}
  h1 {{ font-size: 1.4em; }}
  .box {{ border: 1px solid #ccc; border-radius: 6px; padding: 1em; margin: 1em 0; }}
  code, pre {{ background: #f4f4f4; padding: 0 .2em; }}
  pre {{ padding: .6em; overflow-x: auto; }}
  button {{ font: inherit; }}
</style>
</head>
<body>
<h1>sessiongate demo — the FastAPI side</h1>
<div class="box">{body}</div>
<p>The <code>X-Session</code> header this app received from sessiongate:</p>
<pre>{session}</pre>
<p><a href="/">Back to the Flask side</a> · <a href="/api/me">/api/me</a> (JSON)</p>
</body>
</html>
"""


@app.get("/api/", response_class=HTMLResponse)
def page(request: Request):
    user, visits, headers = count_visit(read_session(request))
    if user is None:
        body = ("<p>Nobody is logged in. <a href=\"/\">Log in on the Flask side</a>, "
                "then come back.</p>")
    else:
        body = (f"<p>Hello <strong>{html.escape(str(user))}</strong>! FastAPI knows you from the "
                f"Flask session, without the cookie or the secret.</p>"
                f"<p>This is your visit number <strong>{visits}</strong> to the API; "
                f"the Flask page shows the same number.</p>"
                "<form method=\"post\" action=\"/api/logout\">"
                "<button>Log out from the FastAPI side</button></form>")
    shown = html.escape(request.headers.get("x-session", "(none)"))
    return HTMLResponse(PAGE.format(body=body, session=shown), headers=headers)


@app.post("/api/logout")
def logout():
    # A merge patch removes keys with null: Flask-Login's keys and our counter.
    response = RedirectResponse("/", status_code=303)
    response.headers["X-Session-Patch"] = json.dumps(
        {"_user_id": None, "_fresh": None, "_id": None, "api_visits": None})
    return response
