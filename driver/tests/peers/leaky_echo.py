"""A TCP echo server that leaks on purpose, for nines' resource-growth tests: it echoes every
byte back and, for each byte it receives, keeps 16 bytes of memory (`memory`) or, for each
read, one open descriptor of /dev/null (`fds`). Listens on 127.0.0.1 (port 0 picks one),
prints `listening PORT`, and runs until killed.

Usage: leaky_echo.py memory|fds"""
import os
import selectors
import socket
import sys

kept = []
mode = sys.argv[1]
sel = selectors.DefaultSelector()
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(128)
listener.setblocking(False)
sel.register(listener, selectors.EVENT_READ)
print("listening", listener.getsockname()[1], flush=True)

while True:
    for key, _ in sel.select():
        if key.fileobj is listener:
            conn, _ = listener.accept()
            conn.setblocking(True)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sel.register(conn, selectors.EVENT_READ)
            continue
        conn = key.fileobj
        try:
            data = conn.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(conn)
            conn.close()
            continue
        if mode == "memory":
            kept.append(bytearray(16 * len(data)))
        else:
            kept.append(os.open("/dev/null", os.O_RDONLY))
        conn.sendall(data)
