#!/usr/bin/env python3
"""cdp.py - evaluate one JavaScript expression in a headless Chromium page.

    cdp.py USER_DATA_DIR EXPRESSION
    cdp.py USER_DATA_DIR --screenshot FILE.png

Chromium runs with --remote-debugging-port=0 and --user-data-dir=DIR; it
writes the port it chose to DIR/DevToolsActivePort. This script finds the
first "page" target over http://127.0.0.1:PORT/json/list, opens its
DevTools WebSocket (a minimal RFC 6455 client: standard library only, so
`make test` needs nothing but python3 and chromium), sends
Runtime.evaluate with returnByValue (awaiting a promise) and prints the
value: a string as is, anything else as JSON; or, with --screenshot, writes
Page.captureScreenshot's PNG to FILE. command() is the same round trip for
any DevTools method (bench/viewer.py imports it). Exit 1 when the browser
or the page is not ready or the expression threw, so a test can retry it in a bounded loop.
"""
import base64
import json
import os
import socket
import struct
import sys
import urllib.request

TIMEOUT = 5.0


def debug_port(user_data_dir):
    with open(os.path.join(user_data_dir, "DevToolsActivePort")) as f:
        return int(f.readline().strip())


def page_ws_url(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT) as r:
        targets = json.load(r)
    for t in targets:
        if t.get("type") == "page" and t.get("webSocketDebuggerUrl"):
            return t["webSocketDebuggerUrl"]
    raise RuntimeError("no page target yet")


class WebSocket:
    def __init__(self, url):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("WebSocket handshake: connection closed")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("WebSocket handshake refused: " + head.decode(errors="replace"))

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("WebSocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + body)

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 8:
                raise RuntimeError("WebSocket closed by the browser")
            if opcode in (0, 1, 2):
                message += payload
                if b0 & 0x80:
                    return message.decode()

    def close(self):
        self.sock.close()


def command(user_data_dir, method, params=None):
    """Send one DevTools command to the page, return its result object."""
    ws = WebSocket(page_ws_url(debug_port(user_data_dir)))
    try:
        ws.send(json.dumps({"id": 1, "method": method, "params": params or {}}))
        while True:
            msg = json.loads(ws.recv())
            if msg.get("id") == 1:
                break
    finally:
        ws.close()
    if "error" in msg:
        raise RuntimeError(msg["error"].get("message", "CDP error"))
    return msg["result"]


def screenshot(user_data_dir, path):
    result = command(user_data_dir, "Page.captureScreenshot", {"format": "png"})
    with open(path, "wb") as f:
        f.write(base64.b64decode(result["data"]))
    return path


def evaluate(user_data_dir, expression):
    result = command(user_data_dir, "Runtime.evaluate",
                     {"expression": expression, "returnByValue": True, "awaitPromise": True})
    if "exceptionDetails" in result:
        raise RuntimeError("expression threw: " + json.dumps(result["exceptionDetails"].get("text")))
    value = result["result"].get("value")
    return value if isinstance(value, str) else json.dumps(value)


def main():
    if len(sys.argv) not in (3, 4) or (len(sys.argv) == 4) != (sys.argv[2] == "--screenshot"):
        sys.stderr.write("usage: cdp.py USER_DATA_DIR EXPRESSION | --screenshot FILE\n")
        return 2
    try:
        if len(sys.argv) == 4:
            print(screenshot(sys.argv[1], sys.argv[3]))
        else:
            print(evaluate(sys.argv[1], sys.argv[2]))
    except (OSError, RuntimeError, ValueError, KeyError) as e:
        sys.stderr.write(f"cdp.py: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
