#!/usr/bin/env python3
"""A real S3-compatible server on loopback for the S3 store tests (Tests/ChatbotTesterStorageS3Tests).

Starts moto's server with IAM authentication ON (by default moto accepts any signature): the first
three calls create an IAM user with an allow-all policy and an access key; every later request
must carry a valid SigV4 signature of that key. In front of it runs a small proxy that forwards
requests verbatim and can answer the next N with an injected error (503 SlowDown by default):
POST /__fault {"count": N, "status": 503, "code": "SlowDown"}; GET /__stats gives the counts. The
proxy also plays STS AssumeRoleWithWebIdentity at POST /__sts for the web-identity test.

Prints one JSON line (endpoints, bucket, key pair) and serves until stdin closes.
Needs: pip install 'moto[server]'.
"""
import http.client
import http.server
import json
import os
import socket
import sys
import threading
import urllib.parse

os.environ["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  # read by moto at import: the IAM set-up below

import boto3  # noqa: E402  (moto depends on it)
from moto.iam import access_control  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

# moto 5.2 checks signatures over the path and query as werkzeug hands them over, partly decoded
# ('%2F' → '/', '%2B' → '+'), so a correctly signed ListObjectsV2 with prefix=a/b (boto3's too) or
# a key with '+' is refused. Re-encode both the way SigV4 canonicalises them before moto verifies;
# the check stays as strict.
_create_aws_request = access_control.IAMRequestBase._create_aws_request


def _canonical_query_request(self):
    path, _, query = self._path.partition("?")
    path = urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~")
    self._path = path
    if query:
        pairs = [pair.partition("=") for pair in query.split("&") if pair]
        encode = lambda text: urllib.parse.quote(urllib.parse.unquote(text), safe="-_.~")  # noqa: E731
        self._path = path + "?" + "&".join(f"{encode(k)}={encode(v)}" for k, _, v in pairs)
    return _create_aws_request(self)


access_control.IAMRequestBase._create_aws_request = _canonical_query_request

# moto checks a PutObject's If-None-Match and stores the object in two steps, on the server's
# threads: two conditional creates of one key arriving together could both succeed. S3 makes the
# check and the write one step (one winner, the others 412), and so does this lock.
from moto.s3.responses import S3Response  # noqa: E402

_put_object = S3Response.put_object
_put_object_lock = threading.Lock()


def _atomic_put_object(self, *args, **kwargs):
    with _put_object_lock:
        return _put_object(self, *args, **kwargs)


S3Response.put_object = _atomic_put_object

BUCKET = "chatbot-tester-test"
WEB_IDENTITY_TOKEN = "test-web-identity-token"
ROLE_NAME = "chatbot-tester-pod"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


moto_port = free_port()
moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
moto.start()
endpoint = f"http://127.0.0.1:{moto_port}"

iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="chatbot-tester")
iam.put_user_policy(
    UserName="chatbot-tester", PolicyName="all",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="chatbot-tester")["AccessKey"]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                  aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
s3.create_bucket(Bucket=BUCKET)
# The role a pod assumes with its web identity token (IRSA); the STS stub below hands out real
# moto session credentials for it, so S3 checks the session token too.
signed_iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
ROLE_ARN = signed_iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
signed_iam.put_role_policy(
    RoleName=ROLE_NAME, PolicyName="all",
    PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1",
                   aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

state = {"requests": 0, "faulted": 0, "forwarded": 0, "pending": 0, "status": 503, "code": "SlowDown", "sts": 0, "sessionToken": ""}
lock = threading.Lock()


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self, status, body, content_type="application/xml"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self):
        body = self._body()
        if self.path == "/__fault":
            spec = json.loads(body or b"{}")
            with lock:
                state.update(pending=int(spec.get("count", 1)), status=int(spec.get("status", 503)), code=spec.get("code", "SlowDown"),
                             requests=0, faulted=0, forwarded=0)
            return self._reply(200, b"{}", "application/json")
        if self.path == "/__stats":
            with lock:
                return self._reply(200, json.dumps(state).encode(), "application/json")
        if self.path == "/__sts":
            form = urllib.parse.parse_qs(body.decode())
            with lock:
                state["sts"] += 1
            if form.get("WebIdentityToken") != [WEB_IDENTITY_TOKEN] or form.get("RoleArn") != [ROLE_ARN]:
                return self._reply(400, b"<ErrorResponse><Error><Code>InvalidIdentityToken</Code>"
                                        b"<Message>Couldn't verify the token</Message></Error></ErrorResponse>")
            session = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName=form.get("RoleSessionName", ["pod"])[0])["Credentials"]
            with lock:
                state["sessionToken"] = session["SessionToken"]
            xml = ("<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
                   f"<AccessKeyId>{session['AccessKeyId']}</AccessKeyId><SecretAccessKey>{session['SecretAccessKey']}</SecretAccessKey>"
                   f"<SessionToken>{session['SessionToken']}</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration>"
                   "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>")
            return self._reply(200, xml.encode())
        with lock:
            state["requests"] += 1
            fault = state["pending"] > 0
            if fault:
                state["pending"] -= 1
                state["faulted"] += 1
            else:
                state["forwarded"] += 1
            status, code = state["status"], state["code"]
        if fault:
            return self._reply(status, f"<Error><Code>{code}</Code><Message>Please reduce your request rate.</Message></Error>".encode())
        upstream = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "keep-alive")}
        upstream.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
threading.Thread(target=proxy.serve_forever, daemon=True).start()

print(json.dumps({
    "endpoint": endpoint, "proxy": f"http://127.0.0.1:{proxy.server_address[1]}", "bucket": BUCKET, "region": "us-east-1",
    "accessKeyId": key["AccessKeyId"], "secretAccessKey": key["SecretAccessKey"],
    "webIdentityToken": WEB_IDENTITY_TOKEN, "roleArn": ROLE_ARN,
}), flush=True)
sys.stdin.read()  # until the test process closes our stdin (or dies)
proxy.shutdown()
moto.stop()
