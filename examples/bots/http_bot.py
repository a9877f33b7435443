#!/usr/bin/env python3
"""A tiny HTTP chatbot speaking the protocol of examples/http-bot.yaml (the same as the mock
server's /chatbot endpoint), to show the server side of a session:

  POST /chat  {"message": "...", "session": null | "<id>", "channel": "web"}
  →           {"data": {"reply": "Echo: <message> (turn N)", "session": "<id>", "turn": N}}

The first turn of a conversation comes without a session; the bot makes one and counts the turns
under it. The `http` backend returns `data.session` with each reply (sessionPath) and the runner
sends it back on the next turn, so the third turn of a conversation reads "(turn 3)".

  python3 examples/bots/http_bot.py 8000 &
  CHATBOT_URL=http://127.0.0.1:8000/chat chatbot-tester test examples/http-bot.yaml
"""
import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

turns = {}
lock = threading.Lock()
ids = itertools.count(1)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/chat":
            return self.send_error(404)
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            message = body["message"]
        except (ValueError, KeyError, TypeError):
            return self.send_error(400, "expected {\"message\": ..., \"session\": ...}")
        with lock:
            session = body.get("session") or "s%d" % next(ids)
            turns[session] = turns.get(session, 0) + 1
            turn = turns[session]
        reply = {"data": {"reply": "Echo: %s (turn %d)" % (message, turn), "session": session, "turn": turn}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8000), Handler)
    print("listening on http://127.0.0.1:%d/chat" % server.server_address[1], flush=True)   # port 0 picks one
    server.serve_forever()
