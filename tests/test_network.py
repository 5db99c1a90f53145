"""TLS is verified (SSL_CERT_FILE names what to trust) and proxies come from the environment."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler
from typing import Any, List

from fake_nanophoto import FakeNanoPhoto, QuietServer
from helpers import concurrently, run_cli

KEY = "sk-network-test-0099"


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
class Tls(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                self.cert,
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        self.fake = FakeNanoPhoto(tls=(self.cert, key)).start()
        self.addCleanup(self.fake.stop)
        self.env = {
            "NANOPHOTO_BASE_URL": self.fake.api_url,
            "NANOPHOTO_API_KEY": KEY,
            "VEO_3_1_STATE_DIR": os.path.join(self.tmp, "state"),
        }

    def test_an_untrusted_certificate_is_refused_and_nothing_is_sent(self) -> None:
        done = run_cli(["submit", "--prompt", "fox", "--json-only"], env=dict(self.env, SSL_CERT_FILE=os.devnull))
        self.assertEqual(done.returncode, 7, done.stderr)
        error = json.loads(done.stdout)["error"]
        self.assertEqual(error["code"], "NETWORK_ERROR")
        self.assertIn(
            "TLS certificate of %s/api/veo-3/generate could not be verified" % self.fake.api_url, error["message"]
        )
        self.assertIn("SSL_CERT_FILE", done.stderr)
        self.assertEqual(self.fake.seen("generate"), [])  # the request never got past the handshake

    def test_ssl_cert_file_names_what_to_trust(self) -> None:
        done = run_cli(["submit", "--prompt", "fox", "--json-only"], env=dict(self.env, SSL_CERT_FILE=self.cert))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(len(self.fake.seen("generate")), 1)
        self.assertNotIn(KEY, done.stdout + done.stderr)


load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


class RecordingProxy(BaseHTTPRequestHandler):
    """A plain HTTP forward proxy that notes each request line and passes it on."""

    seen: List[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.seen.append("%s %s" % (self.command, self.path))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        host_port = self.path.split("://", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        path = "/" + self.path.split("://", 1)[1].split("/", 1)[1]
        with socket.create_connection((host, int(port)), timeout=5) as upstream:
            head = "%s %s HTTP/1.0\r\n" % (self.command, path)
            head += "".join("%s: %s\r\n" % (k, v) for k, v in self.headers.items() if k.lower() != "connection")
            upstream.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)
            answer = b""
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                answer += chunk
        self.wfile.write(answer)
        self.close_connection = True


class Proxy(unittest.TestCase):
    def test_requests_go_through_the_proxy_the_environment_names(self) -> None:
        fake = FakeNanoPhoto().start()
        self.addCleanup(fake.stop)
        proxy = QuietServer(("127.0.0.1", 0), RecordingProxy)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        self.addCleanup(proxy.server_close)
        self.addCleanup(proxy.shutdown)
        RecordingProxy.seen = []
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        env = {
            "NANOPHOTO_BASE_URL": fake.api_url,
            "NANOPHOTO_API_KEY": KEY,
            "VEO_3_1_STATE_DIR": tmp.name,
            "http_proxy": "http://127.0.0.1:%d" % proxy.server_address[1],
            "no_proxy": "",
        }
        done = run_cli(["submit", "--prompt", "fox", "--json-only"], env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(RecordingProxy.seen, ["POST %s/api/veo-3/generate" % fake.api_url])
        self.assertEqual(len(fake.seen("generate")), 1)
