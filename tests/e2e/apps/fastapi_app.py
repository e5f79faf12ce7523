"""tests/e2e/apps/fastapi_app.py — a FastAPI app speaking sessiongate's header
protocol, run under uvicorn by test_session*.py: it reads the session from
X-Session and changes it with X-Session-Patch headers.

  GET  /api/echo   the parsed X-Session and every header received
  GET  /api/me     Flask-Login's user id as seen through X-Session
  POST /api/patch  body: a JSON list of strings, each sent back verbatim as one
                   X-Session-Patch header, in order (so tests can send
                   malformed ones too); extra_headers: more response headers
"""
import json

from fastapi import FastAPI, Request, Response

app = FastAPI()


def session_of(request: Request):
    raw = request.headers.get("x-session")
    return None if raw is None else json.loads(raw)


@app.get("/api/echo")
async def echo(request: Request):
    return {"session": session_of(request),
            "raw": request.headers.get("x-session"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in request.scope["headers"]]}


@app.get("/api/me")
async def me(request: Request):
    s = session_of(request) or {}
    return {"user": s.get("_user_id")}


@app.post("/api/patch")
async def patch(request: Request):
    body = await request.json()
    r = Response(content=b"patched", media_type="text/plain")
    for p in body.get("patches", []):
        r.headers.append("X-Session-Patch", p)
    for k, v in body.get("extra_headers", []):
        r.headers.append(k, v)
    return r


# The README's example ("The header protocol"), verbatim.
@app.post("/api/cart/{item}")
def add_to_cart(item: int, request: Request, response: Response):
    session = json.loads(request.headers["x-session"])  # verified by sessiongate
    cart = session.get("cart", []) + [item]
    response.headers["X-Session-Patch"] = json.dumps({"cart": cart})
    return {"user": session.get("_user_id"), "cart": cart}  # Flask-Login's key
