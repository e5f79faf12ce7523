"""tests/e2e/apps/starlette_app.py — an unchanged FastAPI app with Starlette's stock
SessionMiddleware (request.session), run under uvicorn behind sessiongate as a
`session: starlette` backend by test_starlette_e2e.py. Nothing in it knows about
sessiongate: it signs its own Starlette cookie with its own secret.

Environment: ST_SECRET_FILE (the middleware's secret_key, read as UTF-8 text),
ST_COOKIE_NAME (its session_cookie, default "session").

  GET  /api/session   dict(request.session) (json.dumps: order and types as stored)
  GET  /api/cookies   the names of the cookies the app received
  POST /api/set       body: a JSON object merged into request.session
  POST /api/pop       body: a JSON list of keys removed from request.session
  POST /api/clear     request.session.clear()
  POST /api/visit     request.session["visits"] += 1, a typical counter
"""
import json
import os

from fastapi import FastAPI, Request, Response
from starlette.middleware.sessions import SessionMiddleware

app = FastAPI()
with open(os.environ["ST_SECRET_FILE"], encoding="utf-8") as f:
    app.add_middleware(SessionMiddleware, secret_key=f.read(),
                       session_cookie=os.environ.get("ST_COOKIE_NAME", "session"))


def out(data):
    return Response(json.dumps(data), media_type="application/json")


@app.get("/api/session")
async def show(request: Request):
    return out(dict(request.session))


@app.get("/api/cookies")
async def cookies(request: Request):
    return out(sorted(request.cookies))


@app.post("/api/set")
async def set_keys(request: Request):
    request.session.update(await request.json())
    return out(dict(request.session))


@app.post("/api/pop")
async def pop_keys(request: Request):
    for k in await request.json():
        request.session.pop(k, None)
    return out(dict(request.session))


@app.post("/api/clear")
async def clear(request: Request):
    request.session.clear()
    return out({})


@app.post("/api/visit")
async def visit(request: Request):
    request.session["visits"] = request.session.get("visits", 0) + 1
    return out({"visits": request.session["visits"], "user": request.session.get("user")})
