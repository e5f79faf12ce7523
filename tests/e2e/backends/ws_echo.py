"""tests/e2e/backends/ws_echo.py — a WebSocket echo server (Debian's python3-websockets)."""
import argparse
import asyncio

import websockets

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--name", default="ws")
ap.add_argument("--record")
args = ap.parse_args()


async def echo(ws, path=None):
    async for msg in ws:
        await ws.send(msg)


async def main():
    async with websockets.serve(echo, "127.0.0.1", args.port, max_size=None):
        await asyncio.Future()


asyncio.run(main())
