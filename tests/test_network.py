"""TLS is verified (SSL_CERT_FILE names what to trust) and proxies come from the environment."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler
from typing import Any, List, Tuple

from fake_nanophoto import FakeNanoPhoto, QuietServer
from helpers import concurrently, run_cli

KEY = "sk-network-test-0099"


def certificate(folder: str, name: str) -> Tuple[str, str]:
    """A self-signed certificate for `name` (IP:127.0.0.1 or DNS:host) and its key, made by openssl: (cert, key)."""
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    command = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    command += [
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "2",
        "-subj",
        "/CN=veo-test",
        "-addext",
        "subjectAltName=" + name,
    ]
    subprocess.run(command, check=True, capture_output=True)
    return cert, key


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
class Tls(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.cert, key = certificate(self.tmp, "IP:127.0.0.1")
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
    """A plain HTTP forward proxy that notes each request line (and its headers) and passes it on."""

    seen: List[str] = []
    headers_seen: List[str] = []
    tunnel_to = 0  # CONNECT, to any host, reaches this port on this machine

    def do_CONNECT(self) -> None:
        self.seen.append("%s %s" % (self.command, self.path))
        self.headers_seen.append(str(self.headers))
        with socket.create_connection(("127.0.0.1", self.tunnel_to), timeout=5) as upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            ends = {self.connection: upstream, upstream: self.connection}
            while True:  # the bytes both ways, as they come, until one side closes
                readable, _, _ = select.select(list(ends), [], [], 5)
                chunks = [(ends[end], end.recv(65536)) for end in readable]
                if not readable or not all(chunk for _, chunk in chunks):
                    break
                for to, chunk in chunks:
                    to.sendall(chunk)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.seen.append("%s %s" % (self.command, self.path))
        self.headers_seen.append(str(self.headers))
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
    def setUp(self) -> None:
        # Its own handler class: what it saw is this test's, as the tests run side by side.
        self.proxy: Any = type("Proxy", (RecordingProxy,), {"seen": [], "headers_seen": []})
        proxy = QuietServer(("127.0.0.1", 0), self.proxy)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        self.addCleanup(proxy.server_close)
        self.addCleanup(proxy.shutdown)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp, url = tmp.name, "http://127.0.0.1:%d" % proxy.server_address[1]
        self.env = {"NANOPHOTO_API_KEY": KEY, "VEO_3_1_STATE_DIR": tmp.name, "no_proxy": ""}
        self.env.update(http_proxy=url, https_proxy=url, HTTP_PROXY=url, HTTPS_PROXY=url)

    @unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
    def test_the_api_is_reached_through_the_proxy_the_environment_names_in_a_tunnel(self) -> None:
        cert, key = certificate(self.tmp, "DNS:nanophoto.ai")  # the real origin, which the proxy tunnels to a fake
        fake = FakeNanoPhoto(tls=(cert, key)).start()
        self.addCleanup(fake.stop)
        self.proxy.tunnel_to = int(fake.api_url.rsplit(":", 1)[1])
        done = run_cli(["submit", "--prompt", "fox", "--json-only"], env=dict(self.env, SSL_CERT_FILE=cert))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.proxy.seen, ["CONNECT nanophoto.ai:443"])
        self.assertEqual(fake.seen("generate")[0].headers["Authorization"], "Bearer " + KEY)  # inside TLS only
        self.assertNotIn(KEY, "".join(self.proxy.headers_seen))

    def test_this_machine_is_never_reached_through_a_proxy(self) -> None:
        # Through it, 127.0.0.1 would be the proxy's own machine, and an http proxy would read the key.
        fake = FakeNanoPhoto().start()
        self.addCleanup(fake.stop)
        done = run_cli(
            ["submit", "--prompt", "fox", "--json-only"], env=dict(self.env, NANOPHOTO_BASE_URL=fake.api_url)
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual((self.proxy.seen, len(fake.seen("generate"))), ([], 1))
