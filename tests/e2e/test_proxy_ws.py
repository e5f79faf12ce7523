"""tests/e2e/test_proxy_ws.py — WebSocket through the proxy: the Upgrade
handshake is forwarded, then the connections are joined as a byte tunnel
(echo of small and large messages, text and binary, with a real client).
The tunnel's idle timeout counts traffic both ways, like HAProxy's
`timeout tunnel`: a server pushing to a silent client keeps it open."""
import asyncio
import os
import socket
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


class WebSocketTest(harness.TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws = cls.start_backend("ws", "ws_echo.py", record=False)
        cls.be = cls.start_backend("be", "echo_backend.py")
        cls.sg = cls.start_daemon(backends={"ws": [cls.ws.addr], "be": [cls.be.addr]},
                                  routes=[("/ws", "ws", True, None), ("/", "be", False, None)])

    def run_client(self, messages):
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.sg.port}/ws/echo",
                                          max_size=None) as ws:
                out = []
                for m in messages:
                    await ws.send(m)
                    out.append(await ws.recv())
                return out
        return asyncio.run(go())

    def test_small_messages(self):
        msgs = ["hello", "", "ü" * 10, b"\x00\x01\x02"] + [f"m{i}" for i in range(100)]
        self.assertEqual(self.run_client(msgs), msgs)

    def test_large_messages(self):
        big = os.urandom(8 * 1024 * 1024)
        text = "x" * (3 * 1024 * 1024)
        self.assertEqual(self.run_client([big, text, big[:70000]]), [big, text, big[:70000]])

    def test_tunnel_is_nodelay(self):
        # small messages both ways: Nagle must not hold one back behind another
        async def go():
            async with websockets.connect(f"ws://127.0.0.1:{self.sg.port}/ws/echo") as ws:
                await ws.send("hi")
                self.assertEqual(await ws.recv(), "hi")
                sock = ws.transport.get_extra_info("socket")
                return harness.server_socket_option(self.sg.pid, sock, socket.IPPROTO_TCP,
                                                    socket.TCP_NODELAY)
        self.assertEqual(asyncio.run(go()), 1)

    def test_upgrade_refused_by_plain_backend(self):
        # a backend that does not switch protocols answers normally; the
        # connection is then closed (the client may already speak the new protocol)
        raw = (b"GET /echo HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        resp = harness.raw_request(self.sg.port, raw, timeout=5)
        self.assertTrue(resp.startswith(b"HTTP/1.1 200"), resp[:80])
        self.assertIn(b"Connection: close", resp)
        rec = self.be.received()[-1]
        names = {k.lower(): v for k, v in rec["headers"]}
        self.assertEqual(names.get("upgrade"), "websocket")
        self.assertEqual(names.get("connection"), "upgrade")


class TunnelIdleTest(harness.TestCase):
    IDLE = 1.0  # timeouts.idle below

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ws = cls.start_backend("ws", "ws_echo.py", record=False)
        cls.sg = cls.start_daemon(backends={"ws": [cls.ws.addr]},
                                  routes=[("/ws", "ws", True, None)],
                                  extra="timeouts:\n  idle: 1s\n")

    def connect(self):
        # no client pings: the client is really silent
        return websockets.connect(f"ws://127.0.0.1:{self.sg.port}/ws/echo",
                                  ping_interval=None)

    def test_server_push_to_silent_client(self):
        async def go():
            async with self.connect() as ws:
                await ws.send("push 8 300")  # 2.4 s of pushes, 2.4 idle timeouts
                return [await asyncio.wait_for(ws.recv(), 5) for _ in range(8)]
        self.assertEqual(asyncio.run(go()), [f"push {i}" for i in range(8)])

    def test_silent_tunnel_closed(self):
        async def go():
            async with self.connect() as ws:
                t = asyncio.get_running_loop().time()
                with self.assertRaises(websockets.exceptions.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), self.IDLE + 4)
                return asyncio.get_running_loop().time() - t
        waited = asyncio.run(go())
        self.assertGreater(waited, self.IDLE * 0.7)


if __name__ == "__main__":
    harness.main()
