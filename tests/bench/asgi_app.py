"""tests/bench/asgi_app.py — the FastAPI app of proxy.sh's whole-deployment
comparison, in two builds of the same code: behind sessiongate (reads the
X-Session header, answers changes with X-Session-Patch) or standalone with an
in-process Flask-compatible session middleware (itsdangerous, as Flask does).

    BENCH_SESSION=header     uvicorn asgi_app:app   # behind sessiongate
    BENCH_SESSION=middleware BENCH_SECRET_FILE=key uvicorn asgi_app:app
"""
import json
import os

from fastapi import FastAPI, Request, Response

MODE = os.environ.get("BENCH_SESSION", "header")


class FlaskSessionMiddleware:
    """Pure ASGI middleware: decodes and verifies the Flask session cookie
    (Flask's own serializer and signer settings), exposes it as
    request.state.session, and re-signs it on the response when it changed,
    like Flask's SecureCookieSessionInterface."""

    def __init__(self, app, secret, cookie_name="session", max_age=31 * 86400):
        import hashlib

        from flask.sessions import session_json_serializer
        from itsdangerous import URLSafeTimedSerializer

        self.app = app
        self.name = cookie_name.encode()
        self.max_age = max_age
        self.ser = URLSafeTimedSerializer(
            secret, salt="cookie-session", serializer=session_json_serializer,
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1})

    def _load(self, headers):
        for k, v in headers:
            if k != b"cookie":
                continue
            for part in v.split(b";"):
                n, _, val = part.strip().partition(b"=")
                if n == self.name:
                    try:
                        return self.ser.loads(val.decode("latin-1"), max_age=self.max_age)
                    except Exception:  # forged, expired, malformed: empty session
                        return {}
        return {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        session = self._load(scope["headers"])
        before = json.dumps(session, sort_keys=True, default=str)
        scope.setdefault("state", {})["session"] = session

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                if json.dumps(session, sort_keys=True, default=str) != before:
                    val = self.ser.dumps(dict(session))
                    cookie = f"{self.name.decode()}={val}; HttpOnly; Path=/".encode()
                    message = dict(message)
                    message["headers"] = list(message.get("headers", [])) + [
                        (b"set-cookie", cookie), (b"vary", b"Cookie")]
            await send(message)

        await self.app(scope, receive, send_wrapper)


app = FastAPI()

if MODE == "middleware":
    with open(os.environ["BENCH_SECRET_FILE"], "rb") as f:
        secret = f.read()
    app.add_middleware(FlaskSessionMiddleware, secret=secret)


def session_of(request: Request):
    if MODE == "middleware":
        return request.state.session
    raw = request.headers.get("x-session")
    return json.loads(raw) if raw else {}


@app.get("/me")
async def me(request: Request):
    s = session_of(request)
    return {"user": s.get("_user_id"), "fresh": s.get("_fresh", False)}


@app.get("/count")
async def count(request: Request, response: Response):
    s = session_of(request)
    n = s.get("n", 0) + 1
    if MODE == "middleware":
        s["n"] = n
    else:
        response.headers["X-Session-Patch"] = json.dumps({"n": n})
    return {"n": n}


@app.get("/plain")
async def plain():
    return {"ok": True}
