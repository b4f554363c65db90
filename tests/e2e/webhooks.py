"""A webhook receiver for the event tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A webhook endpoint that records what it is sent, and can refuse for a while."""

    def __init__(self):
        self.received: list[tuple[dict, dict]] = []
        self.failing = False
        self.hanging = False  # answers nothing, ever (until closed)
        self.refused = 0
        self.closed = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.hanging:
                    receiver.closed.wait(120)
                    return
                if receiver.failing:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers), {"raw": body, **json.loads(body)}))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def events(self) -> list[dict]:
        return [event for _, event in self.received]

    def wait_for(self, count: int, seconds: float = 30) -> list[dict]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.events()

    def close(self):
        self.closed.set()
        self.server.shutdown()
