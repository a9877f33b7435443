"""A loopback HTTPS server for the HTTP client's tests and ops/runtime-check.sh: answers a POST to
.../chat/completions as an OpenAI-compatible server would (one choice, "hello over tls"), every
other request with a small JSON body naming the method and path. Prints its port on the first line of stdout, then serves until
killed. Usage: python3 server.py CERT KEY"""
import http.server
import json
import signal
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("content-length", "0") or "0")
        if length:
            self.rfile.read(length)
        if self.command == "POST" and self.path.endswith("/chat/completions"):
            body = json.dumps({
                "id": "chatcmpl-tls", "object": "chat.completion", "model": "tls",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello over tls"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            }).encode()
        else:
            body = json.dumps({"method": self.command, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = answer
    do_POST = answer

    def log_message(self, *args):
        pass


# A child of a thread that blocks signals inherits the mask: let SIGTERM end this server.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
