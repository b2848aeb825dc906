"""A WebSocket client nines did not write (python3-websockets) against nines-server --protocol
ws: text and binary messages, a fragmented message, a ping, and the closing handshake. Prints
`ok MESSAGES` when every echo matched and the server closed cleanly; exits 1 otherwise.

Usage: ws_client.py URL MESSAGES [CA]. A wss:// URL is verified against CA (PEM) when given,
the system's roots otherwise."""
import asyncio
import ssl
import sys

import websockets


async def main(url, n, ca=None):
    tls = ssl.create_default_context(cafile=ca) if url.startswith("wss:") else None
    async with websockets.connect(url, compression=None, max_size=None, ssl=tls) as ws:
        for i in range(n):
            text = f"message {i} " + "x" * (i % 300)
            await ws.send(text)
            assert await ws.recv() == text, "text echo differs"
            data = bytes((i + j) % 256 for j in range(i % 70000))
            await ws.send(data)
            assert await ws.recv() == data, "binary echo differs"
        # A fragmented message: the server echoes the fragments, the library reassembles them.
        await ws.send(["frag", "ment", "ed"])
        assert await ws.recv() == "fragmented", "fragmented echo differs"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        await ws.close(code=1000)
        assert ws.close_code == 1000, f"close code {ws.close_code}"
    print("ok", 2 * n + 1, flush=True)


asyncio.run(main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:4]))
