"""A WebSocket echo server nines did not write (python3-websockets), for nines' interop tests
and scripts/bench-peers.sh. Listens on 127.0.0.1:PORT (0 picks one), prints `listening PORT`,
echoes every message, and on SIGTERM prints `messages N` (messages echoed) and exits.

Usage: ws_echo.py [PORT [CERT KEY]]. Given a certificate and its key (PEM), it speaks wss://
(Python's ssl module, OpenSSL underneath: a TLS stack nines did not write either)."""
import asyncio
import signal
import ssl
import sys

import websockets

count = 0


async def echo(ws, _path=None):
    global count
    try:
        async for message in ws:
            count += 1
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass  # a load driver ends its run by closing sockets, not with a close handshake


async def main(port, cert=None, key=None):
    tls = None
    if cert:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    # No compression: nines offers no extension, and an echo should cost what it costs.
    async with websockets.serve(
        echo, "127.0.0.1", port, compression=None, max_size=None, ssl=tls
    ) as srv:
        print("listening", srv.sockets[0].getsockname()[1], flush=True)
        await stop
    print("messages", count, flush=True)


if len(sys.argv) not in (1, 2, 4):
    sys.exit("usage: ws_echo.py [PORT [CERT KEY]]")
asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0, *sys.argv[2:4]))
