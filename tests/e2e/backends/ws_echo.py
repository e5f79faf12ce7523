"""tests/e2e/backends/ws_echo.py — a WebSocket echo server (Debian's python3-websockets).
The text message "push N MS" is answered by N messages "push i", one every MS
milliseconds, instead of an echo (a server that talks while the client is silent)."""
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
        if isinstance(msg, str) and msg.startswith("push "):
            _, n, ms = msg.split()
            for i in range(int(n)):
                await asyncio.sleep(int(ms) / 1000)
                await ws.send(f"push {i}")
            continue
        await ws.send(msg)


async def main():
    async with websockets.serve(echo, "127.0.0.1", args.port, max_size=None):
        await asyncio.Future()


asyncio.run(main())
