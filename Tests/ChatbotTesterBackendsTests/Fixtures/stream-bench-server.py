#!/usr/bin/env python3
"""A separate-process OpenAI-style streaming server for StreamingBenchmark.

POST /v1/chat/completions: waits WAIT_MS, then streams TOKENS content chunks (each its own HTTP
chunk), the usage chunk with empty choices and data: [DONE]; with "stream": false it answers the
same text as one JSON reply. It records, per request, the wall-clock time (time.time()) right after
the first token's chunk was handed to the kernel. GET /times returns those times as a JSON list.
Usage: stream-bench-server.py PORT_FILE [TOKENS] [WAIT_MS]
"""
import json, socket, sys, time, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

TOKENS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
WAIT_MS = float(sys.argv[3]) if len(sys.argv) > 3 else 20
times = []
lock = threading.Lock()

def chunk(delta, finish=None):
    return {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], "usage": None}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def log_message(self, *args):
        pass
    def do_GET(self):
        with lock:
            body = json.dumps(times).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()
    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        words = ["tok%d " % i for i in range(TOKENS)]
        time.sleep(WAIT_MS / 1000)
        if not request.get("stream"):
            body = json.dumps({"id": "x", "object": "chat.completion", "model": "bench", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": TOKENS}}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            with lock:
                times.append(time.time())
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.write_chunk(b"data: " + json.dumps(chunk({"role": "assistant", "content": ""})).encode() + b"\n\n")
        for i, word in enumerate(words):
            self.write_chunk(b"data: " + json.dumps(chunk({"content": word})).encode() + b"\n\n")
            if i == 0:
                sent = time.time()
        self.write_chunk(b"data: " + json.dumps(chunk({}, "stop")).encode() + b"\n\n")
        usage = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench", "choices": [],
                 "usage": {"prompt_tokens": 3, "completion_tokens": TOKENS, "total_tokens": TOKENS + 3}}
        self.write_chunk(b"data: " + json.dumps(usage).encode() + b"\n\n")
        self.write_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        with lock:
            times.append(sent)

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
