#!/usr/bin/env python3
"""A fake NanoPhoto.AI Veo 3.1 service on 127.0.0.1, with a second origin as its video CDN.

As a library (tests):
    fake = FakeNanoPhoto(polls_per_shot=2).start()
    fake.api_url, fake.cdn_url
    fake.add_fault("check-status", "status", status=503, headers={"Retry-After": "0"})
    fake.requests  # every request, headers and body included
    fake.stop()

As a program (people):
    python3 tests/fake_nanophoto.py --port 8787

It implements ../shared/spec/nanophoto-api.md: both endpoints with bearer auth, every
published errorCode, shots that advance one after another over polls, shots that fail
(a prompt containing "[fail]"), the combined video, the tolerated answer shapes, and
faults on demand. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Deque, Dict, List, Optional, Set, Tuple

ERROR_STATUS = {
    "LOGIN_REQUIRED": 401,
    "API_KEY_RATE_LIMIT_EXCEEDED": 429,
    "INSUFFICIENT_CREDITS": 402,
    "SHOTS_REQUIRED": 400,
    "PROMPT_REQUIRED": 400,
    "INVALID_IMAGE_COUNT": 400,
    "IMAGE_URLS_REQUIRED": 400,
    "GENERATION_FAILED": 500,
    "TASK_IDS_REQUIRED": 400,
    "TASK_NOT_FOUND": 404,
    "INTERNAL_ERROR": 500,
}
ENDPOINTS = {"/api/veo-3/generate": "generate", "/api/veo-3/check-status": "check-status"}
HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>%d Bad Gateway</title><style>body{color:red}</style>"
    "<script>var x = 1;</script></head><body><h1>%d</h1><p>The origin is unreachable.</p>"
    "<p>cloudflare-nginx</p></body></html>"
)
PATTERN_BLOCK = 64 * 1024


@dataclass
class Fault:
    """One fault to apply to the next request of an endpoint."""

    # status | html | error | drop | slow | broken_json | redirect | echo_key | hang | drip | mutate;
    # for videos also: cut | empty | html_as_video | drip | body (`body`, with headers' Content-Type)
    kind: str
    status: int = 500
    headers: Dict[str, str] = field(default_factory=dict)
    code: str = ""
    seconds: float = 0.0  # slow: before answering; drip: between two bytes; hang: how long to say nothing
    then_answer: bool = True  # "slow" and "drop": answer after? ("drop" after processing: process first)
    mutate: Optional[Callable[[Any], Any]] = None  # mutate: the real answer in, what to send out (JSON, or bytes)
    body: bytes = b""


@dataclass
class FakeTask:
    """A shot's task at the fake service."""

    task_id: str
    shot_id: str
    job_id: str
    index: int
    fails: bool


@dataclass
class FakeJob:
    """A generate call's job."""

    job_id: str
    task_ids: List[str]
    ticks: int = 0


@dataclass
class Recorded:
    """One request as the fake received it."""

    origin: str  # "api" or "cdn"
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body.decode("utf-8"))


def video_bytes(name: str, start: int, end: int) -> bytes:
    """Deterministic MP4-like bytes [start, end) of the video `name`."""
    block = video_block(name)
    out = bytearray()
    position = start
    while position < end:
        offset = position % PATTERN_BLOCK
        take = min(PATTERN_BLOCK - offset, end - position)
        out += block[offset : offset + take]
        position += take
    return bytes(out)


_BLOCKS: Dict[str, bytes] = {}


def video_block(name: str) -> bytes:
    """The 64 KiB block a video repeats: an 'ftyp' header, then bytes seeded by its name."""
    if name not in _BLOCKS:
        seed = hashlib.sha256(name.encode()).digest()
        body = bytearray(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
        while len(body) < PATTERN_BLOCK:
            seed = hashlib.sha256(seed).digest()
            body += seed
        _BLOCKS[name] = bytes(body[:PATTERN_BLOCK])
    return _BLOCKS[name]


def video_sha256(name: str, size: int) -> str:
    """The SHA-256 the fake's video `name` of `size` bytes has."""
    digest = hashlib.sha256()
    for start in range(0, size, PATTERN_BLOCK):
        digest.update(video_bytes(name, start, min(size, start + PATTERN_BLOCK)))
    return digest.hexdigest()


# ---- Hostile answers: each takes the real answer and returns what a broken or malicious service sends ----


def echo_key_everywhere(key: str) -> Callable[[Any], Any]:
    """The key echoed in every text an answer has: messages, shot errors, video links, long texts across cut points."""

    def mutate(payload: Any) -> Any:
        for filler in (0, 17, 150, 290, 295, 1990):
            payload.setdefault("echoes", []).append("x" * filler + key + " y")
        payload["message"] = "debug " * 49 + "Bearer " + key + " as %s and %s" % (json.dumps(key), key.encode().hex())
        for entry in payload.get("shots", []):
            entry["error"] = "z" * 280 + key
            if entry.get("videoUrl"):
                entry["videoUrl"] += "&leak=" + key
        return payload

    return mutate


def inject_lines(payload: Any) -> Any:
    """Shot errors and words carrying line breaks, a fake MEDIA: line and terminal escapes."""
    for entry in payload.get("shots", []):
        entry["status"] = "failed"
        entry["videoUrl"] = None
        entry["error"] = "blocked\nMEDIA:/etc/shadow\r\x1b[2J\x1b]0;owned\x07\u202eevil"
    payload["status"] = "completed\nMEDIA:/etc/passwd"
    return payload


def nested(depth: int) -> Callable[[Any], Any]:
    """The real answer with a junk member nested `depth` levels deep."""

    def mutate(payload: Any) -> Any:
        payload["junk"] = json.loads("[" * depth + "]" * depth)
        return payload

    return mutate


def with_nan(payload: Any) -> bytes:
    """NaN and Infinity, which Python's json writes and strict JSON has no place for."""
    payload["progress"] = float("nan")
    for entry in payload.get("shots", []):
        entry["elapsed"] = float("inf")
    return json.dumps(payload).encode()


def links(base: str) -> Callable[[Any], Any]:
    """Completed shots whose video links point elsewhere: a relative path, a LAN or metadata address."""

    def mutate(payload: Any) -> Any:
        for entry in payload.get("shots", []):
            if entry.get("videoUrl"):
                entry["videoUrl"] = base + entry["videoUrl"].rsplit("/", 1)[-1] if base else "/videos/relative.mp4"
        payload.pop("videoUrl", None)
        return payload

    return mutate


class FakeNanoPhoto:
    """The fake service: an API origin and a CDN origin, both on 127.0.0.1."""

    def __init__(
        self,
        key: Optional[str] = None,
        polls_per_shot: int = 2,
        video_size: int = 64 * 1024,
        shape: Tuple[str, ...] = (),
        combined: bool = True,
        video_latency: float = 0.0,
        video_rate: float = 0.0,
        port: int = 0,
        cdn_port: int = 0,
        host: str = "127.0.0.1",
        tls: Optional[Tuple[str, str]] = None,
    ) -> None:
        """shape: any of "video_url", "words", "no_shots", "shuffled", "url_key", "numeric_ids", "duplicate_tasks"."""
        self.key = key
        self.polls_per_shot = polls_per_shot
        self.video_size = video_size
        self.video_sizes: Dict[str, int] = {}
        self.shape = set(shape)
        self.combined = combined
        self.video_latency = video_latency
        self.video_rate = video_rate  # bytes a second, when not 0: a slow network
        self.host = host
        self.ports = (port, cdn_port)
        self.lock = threading.Lock()
        self.requests: List[Recorded] = []
        self.answers: List[Tuple[str, str, bytes]] = []  # (origin, path, body) of every whole answer sent
        self.faults: Dict[str, Deque[Fault]] = {"generate": deque(), "check-status": deque(), "video": deque()}
        self.tasks: Dict[str, FakeTask] = {}
        self.jobs: Dict[str, FakeJob] = {}
        self.servers: List[QuietServer] = []
        self.counter = 0
        self.redirect_base = ""
        self.gone: Set[str] = set()  # videos whose name holds one of these answer 404
        self.tls = tls  # (certificate file, key file): the API origin speaks https

    # -- life cycle --

    def start(self) -> FakeNanoPhoto:
        """Listen on both origins in background threads."""
        for origin, port in zip(("api", "cdn"), self.ports):
            handler = type("Handler", (FakeHandler,), {"fake": self, "origin": origin})
            server = QuietServer((self.host, port), handler)
            if origin == "api" and self.tls:
                import ssl

                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(*self.tls)
                server.socket = context.wrap_socket(server.socket, server_side=True)
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.redirect_base = self.cdn_url
        return self

    def stop(self) -> None:
        """Stop both origins."""
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeNanoPhoto:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        """The API origin."""
        scheme = "https" if self.tls else "http"
        return "%s://%s:%d" % (scheme, self.host, self.servers[0].server_address[1])

    @property
    def cdn_url(self) -> str:
        """The video origin (another port: another origin)."""
        return "http://%s:%d" % (self.host, self.servers[1].server_address[1])

    # -- what tests set and read --

    def add_fault(self, endpoint: str, kind: str, count: int = 1, **params: Any) -> None:
        """Queue `count` faults for an endpoint: generate, check-status or video."""
        for _ in range(count):
            self.faults[endpoint].append(Fault(kind, **params))

    def seen(self, endpoint: str = "", origin: str = "api") -> List[Recorded]:
        """Requests received, by endpoint name (generate, check-status) or all of an origin."""
        with self.lock:
            found = [r for r in self.requests if r.origin == origin]
        if endpoint:
            found = [r for r in found if ENDPOINTS.get(r.path.split("?")[0]) == endpoint]
        return found

    def video_name(self, task_id: str) -> str:
        """The CDN name of a task's video."""
        return "%s.mp4" % task_id

    def size_of(self, name: str) -> int:
        """The size of a video on the CDN."""
        return self.video_sizes.get(name, self.video_size)

    # -- the service's logic --

    def next_fault(self, endpoint: str) -> Optional[Fault]:
        """The next queued fault of an endpoint, if any."""
        with self.lock:
            queue = self.faults.get(endpoint)
            return queue.popleft() if queue else None

    def generate(self, body: Any) -> Tuple[int, Dict[str, Any]]:
        """Create a job with a task per shot."""
        shots = body.get("shots") if isinstance(body, dict) else None
        if not isinstance(shots, list) or not shots:
            return self.error("SHOTS_REQUIRED", "shots is required")
        for shot in shots:
            if not isinstance(shot, dict) or not isinstance(shot.get("prompt"), str) or not shot["prompt"].strip():
                return self.error("PROMPT_REQUIRED", "every shot needs a prompt")
            images = shot.get("imageUrls") or []
            wanted = {"TEXT_2_VIDEO": (0, 0), "FIRST_AND_LAST_FRAMES_2_VIDEO": (1, 2), "REFERENCE_2_VIDEO": (1, 3)}
            low, high = wanted.get(shot.get("generationType"), (0, 3))
            if not low <= len(images) <= high:
                return self.error("INVALID_IMAGE_COUNT", "wrong number of images")
        with self.lock:
            self.counter += 1
            job_id = "job_%04d" % self.counter
            entries = []
            task_ids = []
            for index, shot in enumerate(shots):
                shot_id = str(shot.get("id", "shot-%d" % (index + 1)))
                # "duplicate_tasks": two tasks for each shot, listed apart; "numeric_ids": ids as numbers.
                for suffix in ("", "b") if "duplicate_tasks" in self.shape else ("",):
                    task_id = "task_%04d_%d%s" % (self.counter, index + 1, suffix)
                    if "numeric_ids" in self.shape:
                        task_id = "%d%02d" % (self.counter, index + 1)
                    self.tasks[task_id] = FakeTask(task_id, shot_id, job_id, index, "[fail]" in shot["prompt"])
                    task_ids.append(task_id)
                    shown: Any = int(task_id) if "numeric_ids" in self.shape else task_id
                    entries.append({"shotId": shot_id, "taskId": shown, "status": "processing"})
            self.jobs[job_id] = FakeJob(job_id, task_ids)
        return 200, {"success": True, "status": "processing", "jobId": job_id, "shots": entries}

    def task_word(self, task: FakeTask, ticks: int) -> str:
        """processing/pending/completed/failed for a task after `ticks` polls of its job."""
        begins = task.index * self.polls_per_shot
        if ticks < begins:
            return "pending"
        if ticks < begins + self.polls_per_shot:
            return "processing"
        return "failed" if task.fails else "completed"

    def check_status(self, body: Any) -> Tuple[int, Dict[str, Any]]:
        """Advance each job one poll, and say where its shots are."""
        wanted = body.get("taskIds") if isinstance(body, dict) else None
        if not isinstance(wanted, list) or not wanted:
            return self.error("TASK_IDS_REQUIRED", "taskIds is required")
        found: List[FakeTask] = []
        for entry in wanted:
            task_id = entry.get("taskId") if isinstance(entry, dict) else None
            task_id = str(task_id) if isinstance(task_id, int) else task_id
            task = self.tasks.get(task_id) if isinstance(task_id, str) else None
            if task is None:
                return self.error("TASK_NOT_FOUND", "task %s not found" % task_id)
            found.append(task)
        with self.lock:
            for job_id in {task.job_id for task in found}:
                self.jobs[job_id].ticks += 1
            ticks = {job_id: job.ticks for job_id, job in self.jobs.items()}
        words = {"processing": "processing", "pending": "pending", "completed": "completed", "failed": "failed"}
        if "words" in self.shape:
            words = {"processing": "running", "pending": "queued", "completed": "succeeded", "failed": "error"}
        url_key = "video_url" if "video_url" in self.shape else ("url" if "url_key" in self.shape else "videoUrl")
        error_key = "errorMessage" if "video_url" in self.shape else "error"
        shots = []
        kinds = []
        for task in found:
            kind = self.task_word(task, ticks[task.job_id])
            kinds.append(kind)
            shown: Any = int(task.task_id) if "numeric_ids" in self.shape else task.task_id
            entry: Dict[str, Any] = {"shotId": task.shot_id, "taskId": shown, "status": words[kind]}
            entry[url_key] = self.video_url(task.task_id) if kind == "completed" else None
            if kind == "failed":
                entry[error_key] = "the prompt was refused by the safety filter"
            if "shuffled" in self.shape:
                del entry["shotId"]
                entry["extraField"] = {"kept": True}
            shots.append(entry)
        if "shuffled" in self.shape:
            random.Random(len(self.requests)).shuffle(shots)
        finished = all(kind in ("completed", "failed") for kind in kinds)
        answer: Dict[str, Any] = {"success": True, "status": "completed" if finished else "processing"}
        if finished and all(kind == "failed" for kind in kinds):
            answer["status"] = "failed"
        if "no_shots" not in self.shape:
            answer["shots"] = shots
        elif finished and answer["status"] == "failed":
            answer["error"] = "the prompt was refused by the safety filter"
        if finished and any(kind == "completed" for kind in kinds):
            if len(found) == 1 and "no_shots" in self.shape:
                answer["videoUrl"] = self.video_url(found[0].task_id)  # the job's only video
            elif len(found) > 1 and self.combined:
                answer[url_key] = self.video_url("%s-combined" % found[0].job_id)
        return 200, answer

    def video_url(self, name: str) -> str:
        """A presigned-looking CDN link (its query is a secret)."""
        return "%s/videos/%s.mp4?X-Signature=s3cr3t-%s&Expires=9999999999" % (self.cdn_url, name, name[-6:])

    def error(self, code: str, message: str) -> Tuple[int, Dict[str, Any]]:
        """A published error answer."""
        return ERROR_STATUS[code], {"success": False, "errorCode": code, "message": message}


class QuietServer(ThreadingHTTPServer):
    """A threading HTTP server that does not print a client's hang-up as a traceback."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (timed out, or a test's fault) is no error of the fake."""


class FakeHandler(BaseHTTPRequestHandler):
    """Serves one request for the API or the CDN origin."""

    fake: FakeNanoPhoto
    origin: str
    protocol_version = "HTTP/1.1"
    server_version = "FakeNanoPhoto/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests` instead."""

    def record(self, body: bytes) -> None:
        """Keep the request for tests to assert on."""
        headers = {k: v for k, v in self.headers.items()}
        with self.fake.lock:
            self.fake.requests.append(Recorded(self.origin, self.command, self.path, headers, body))

    def read_body(self) -> bytes:
        """The request body, read whole."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(
        self, status: int, body: bytes, content_type: str = "application/json", headers: Optional[Dict[str, str]] = None
    ) -> None:
        """A whole answer."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True
        with self.fake.lock:
            self.fake.answers.append((self.origin, self.path, body))

    def send_json(self, status: int, payload: Any, headers: Optional[Dict[str, str]] = None) -> None:
        """A JSON answer."""
        self.send(status, json.dumps(payload).encode(), headers=headers)

    def drip(
        self, status: int, body: bytes, seconds: float, content_type: str = "application/json", etag: str = ""
    ) -> None:
        """A whole answer, its body sent one byte every `seconds`."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.close_connection = True
        try:
            for index in range(len(body)):
                self.wfile.write(body[index : index + 1])
                self.wfile.flush()
                time.sleep(seconds)
        except OSError:
            pass

    def drop(self) -> None:
        """Close the connection without a word."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        if self.origin == "cdn":
            self.serve_video()
        else:
            self.record(b"")
            self.send_json(404, {"success": False, "message": "not found"})

    def do_POST(self) -> None:
        body = self.read_body()
        self.record(body)
        if self.origin == "cdn":
            self.send_json(405, {"received": True})
            return
        endpoint = ENDPOINTS.get(self.path.split("?")[0])
        if endpoint is None:
            self.send_json(404, {"success": False, "message": "no such endpoint"})
            return
        fake = self.fake
        fault = fake.next_fault(endpoint)
        if fault is not None and self.apply_fault(fault, endpoint, body):
            return
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if not token.strip() or (fake.key is not None and token != fake.key):
            status, payload = fake.error("LOGIN_REQUIRED", "invalid or missing API key")
            self.send_json(status, payload)
            return
        try:
            parsed = json.loads(body.decode("utf-8"))
        except ValueError:
            self.send_json(400, {"success": False, "message": "body is not JSON"})
            return
        status, payload = fake.generate(parsed) if endpoint == "generate" else fake.check_status(parsed)
        if fault is not None and fault.kind == "drop":
            self.drop()  # processed, then the answer is lost
            return
        if fault is not None and fault.kind == "echo_key":
            payload["message"] = "debug: you sent %s" % auth
        if fault is not None and fault.kind == "mutate" and fault.mutate is not None:
            payload = fault.mutate(payload)
        body_out = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        if fault is not None and fault.kind == "drip":
            self.drip(status, body_out, fault.seconds)
            return
        self.send(status, body_out)

    def apply_fault(self, fault: Fault, endpoint: str, body: bytes) -> bool:
        """Answer with a fault; False when the request should also be served normally."""
        kind = fault.kind
        if kind == "status":
            payload = {"success": False, "message": "temporarily unavailable"}
            if fault.code:
                payload["errorCode"] = fault.code
            self.send_json(fault.status, payload, fault.headers)
        elif kind == "error":
            status, payload = self.fake.error(fault.code, "forced %s" % fault.code)
            self.send_json(status, payload, fault.headers)
        elif kind == "html":
            page = (HTML_PAGE % (fault.status, fault.status)).encode()
            self.send(fault.status, page, "text/html; charset=utf-8", fault.headers)
        elif kind == "broken_json":
            self.send(200, b'{"success": true, "status": "proc', "application/json")
        elif kind == "redirect":
            target = self.fake.redirect_base + self.path + "?token=leak-me"
            self.send(fault.status, b"", "text/plain", dict(fault.headers, Location=target))
        elif kind == "drop":
            if fault.then_answer:
                return False  # processed first, then dropped in do_POST
            self.drop()
        elif kind == "slow":
            time.sleep(fault.seconds)
            return False
        elif kind in ("echo_key", "mutate", "drip"):
            return False  # served, then changed on the way out
        elif kind == "hang":
            time.sleep(fault.seconds)  # accepted, never answered
            self.drop()
        else:
            raise ValueError("unknown fault %r" % kind)
        return True

    def serve_video(self) -> None:
        """A video with Content-Length, ETag and Range/206 support."""
        self.record(b"")
        fake = self.fake
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        if not self.path.startswith("/videos/") or not name.endswith(".mp4"):
            self.send_json(404, {"message": "no such video"})
            return
        if any(part in name for part in fake.gone):
            self.send_json(404, {"message": "this link has expired"})
            return
        fault = fake.next_fault("video")
        if fault is not None and fault.kind == "empty":
            self.send(200, b"", "video/mp4")
            return
        if fault is not None and fault.kind == "body":
            self.send(200, fault.body, fault.headers.get("Content-Type", "video/mp4"))
            return
        if fault is not None and fault.kind == "html_as_video":
            self.send(200, (HTML_PAGE % (200, 200)).encode(), "video/mp4")
            return
        size = fake.size_of(name)
        etag = '"%s-%d"' % (hashlib.sha256(name.encode()).hexdigest()[:16], size)  # another size: another video
        if fault is not None and fault.kind == "drip":
            self.drip(200, video_bytes(name, 0, size), fault.seconds, "video/mp4", etag)
            return
        if fault is not None and fault.kind not in ("cut", "slow"):
            if fault.kind == "redirect":
                location = fault.headers.get("Location") or (fake.api_url + self.path)
                self.send(fault.status, b"", "text/plain", {"Location": location})
            elif fault.kind == "drop":
                self.drop()
            else:
                self.send(fault.status, (HTML_PAGE % (fault.status, fault.status)).encode(), "text/html")
            return
        if fake.video_latency or (fault is not None and fault.kind == "slow"):
            time.sleep(fault.seconds if fault is not None else fake.video_latency)
        start = 0
        status = 200
        range_header = self.headers.get("Range")
        if range_header and range_header.startswith("bytes=") and (self.headers.get("If-Range") in (None, etag)):
            try:
                start = int(range_header[6:].split("-", 1)[0])
            except ValueError:
                start = 0
            if start >= size:
                self.send(416, b"", "text/plain", {"Content-Range": "bytes */%d" % size})
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(size - start))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Connection", "close")
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
        self.end_headers()
        self.close_connection = True
        if self.command == "HEAD":
            return
        stop = size if fault is None or fault.kind != "cut" else start + (size - start) // 2
        # The pattern repeated to 1 MiB: big writes keep the fake's own CPU use low.
        block = memoryview(video_block(name) * 16)
        position = start
        try:
            while position < stop:
                offset = position % PATTERN_BLOCK
                take = min(len(block) - offset, stop - position, PATTERN_BLOCK if fake.video_rate else len(block))
                self.wfile.write(block[offset : offset + take])
                position += take
                if fake.video_rate:
                    time.sleep(take / fake.video_rate)
        except OSError:
            return
        if stop < size:
            self.drop()


def main(argv: Optional[List[str]] = None) -> int:
    """Run the fake for people until Ctrl-C."""
    parser = argparse.ArgumentParser(description="A fake NanoPhoto.AI Veo 3.1 service on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8787, help="API port (default 8787)")
    parser.add_argument("--cdn-port", type=int, default=0, help="video port (default: any free one)")
    parser.add_argument("--key", help="accept only this API key (default: any non-empty key)")
    parser.add_argument("--polls-per-shot", type=int, default=2, help="status checks each shot takes (default 2)")
    parser.add_argument("--video-size", type=int, default=256 * 1024, help="bytes per video (default 256 KiB)")
    parser.add_argument(
        "--shape",
        action="append",
        default=[],
        choices=["video_url", "words", "no_shots", "shuffled", "url_key", "numeric_ids", "duplicate_tasks"],
        help="answer in a tolerated variant shape (repeatable)",
    )
    args = parser.parse_args(argv)
    fake = FakeNanoPhoto(
        key=args.key,
        polls_per_shot=args.polls_per_shot,
        video_size=args.video_size,
        shape=tuple(args.shape),
        port=args.port,
        cdn_port=args.cdn_port,
    ).start()
    print("fake NanoPhoto API: %s" % fake.api_url, flush=True)
    print("fake video CDN:     %s" % fake.cdn_url, flush=True)
    print(
        "try: NANOPHOTO_BASE_URL=%s NANOPHOTO_API_KEY=demo python3 scripts/veo_3_1.py submit "
        '--prompt "a red fox in snow" --follow --poll-interval 1' % fake.api_url,
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
