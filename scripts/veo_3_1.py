#!/usr/bin/env python3
"""veo-3-1: make videos with NanoPhoto.AI's Veo 3.1 API, from a terminal, a script or an agent.

Usage: veo_3_1.py submit --prompt "a red fox in snow" --follow --download videos/
       veo_3_1.py status --job <jobId> | --last | --list | --task-ids-json JSON  [--follow] [--download DIR]

stdout carries JSON only (NDJSON stages, or one document with --json-only); stderr, people's text and
MEDIA:<path> lines. The promises are in README.md and references/. Standard library, CPython 3.8-3.13.

Exit status:
  0    done: submitted; status read; with --follow every shot completed (and saved)
  1    one or more shots failed (result status "failed" or "partial")
  2    bad invocation or bad shots (nothing was sent), or the service refused the input
  3    no usable API key, or the service refused it (LOGIN_REQUIRED)
  4    INSUFFICIENT_CREDITS
  5    still rate-limited after every retry
  6    --max-wait ran out; the job goes on: run the printed resume command
  7    network, server or download failure; an unexpected answer; SUBMIT_OUTCOME_UNKNOWN (check your jobs first)
  8    TASK_NOT_FOUND
  130  interrupted (Ctrl-C or SIGTERM); the job record is kept and the resume command printed
"""

from __future__ import annotations

import _thread  # built in: a lock without loading threading at every start
import argparse
import errno  # errno, re and stat are loaded at every start anyway (by os, json, argparse)
import json
import os
import re
import stat
import sys
import time
from contextlib import nullcontext, suppress
from dataclasses import dataclass, field

TYPE_CHECKING = False  # typing costs ~5 ms at every start; only the type checker reads it
if TYPE_CHECKING:  # pragma: no cover
    from typing import IO, Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

    Fields = List[Tuple[str, str, Any]]  # a record's key, the attribute it holds, its JSON type

__version__ = "1.1.0"

# ---- Constants: the API's facts in one place ----

DEFAULT_BASE_URL, API_KEYS_PAGE = "https://nanophoto.ai", "https://nanophoto.ai/settings/apikeys"
GENERATE_PATH, CHECK_STATUS_PATH = "/api/veo-3/generate", "/api/veo-3/check-status"
SKILL_NAME, ENV_API_KEY, ENV_BASE_URL = "veo-3-1", "NANOPHOTO_API_KEY", "NANOPHOTO_BASE_URL"
OPENCLAW_VARIABLE = r"\$(\$?)\{([A-Z_][A-Z0-9_]*)\}"  # in OpenClaw's config: ${VAR} from the environment, $${VAR} kept
# Headers the published script sends; the live service is known to accept these.
DEFAULT_USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
DEFAULT_USER_AGENT += "Chrome/124.0.0.0 Safari/537.36"
SITE_ORIGIN = "https://nanophoto.ai"

GENERATION_TYPES = {"TEXT_2_VIDEO": (0, 0), "FIRST_AND_LAST_FRAMES_2_VIDEO": (1, 2), "REFERENCE_2_VIDEO": (1, 3)}
ASPECT_RATIOS, RESOLUTIONS = ("16:9", "9:16"), ("720p", "1080p", "4k")
CREDITS_PER_SHOT = {"720p": 10, "1080p": 14, "4k": 30}  # 1080p and 4k: single-shot jobs only
SECONDS_PER_SHOT, MAX_SHOTS, MAX_SHOT_ID_LENGTH, MAX_TASKS = 8, 21, 200, 100  # a record of 100 tasks reads back
SHOT_KEYS = ("id", "prompt", "generationType", "aspectRatio", "imageUrls")

# How answers are read: tolerantly (the shapes beyond the published ones are assumed).
FINISHED_WORDS = frozenset({"completed", "succeeded", "success", "done"})
FAILED_WORDS = frozenset({"failed", "error", "cancelled", "canceled"})
VIDEO_URL_KEYS, SHOT_ERROR_KEYS = ("videoUrl", "video_url", "url"), ("error", "errorMessage", "message")
TASK_ID_KEYS, SHOT_ID_KEYS = ("taskId", "task_id"), ("shotId", "shot_id", "id")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm")

DEFAULT_POLL_INTERVAL, DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES, DEFAULT_DOWNLOAD_WORKERS = 8.0, 60.0, 5, 4
DEFAULT_MAX_WAIT, MAX_WAIT_PER_SHOT = 1800.0, 300.0  # shots run one after another, 2-5 minutes each
ONE_OFF_RETRY_AFTER_CAP, LONGEST_SECONDS = 120.0, 7 * 24 * 3600.0  # a longer socket timeout overflows
MIN_SECRET_LENGTH = 6  # hiding a shorter "key" would mangle ordinary words, not protect anything
MAX_API_BODY, MAX_FILE_BYTES, MAX_RECORD_BYTES, MAX_JSON_DEPTH = 8 * 1024 * 1024, 1024 * 1024, 64 * 1024 * 1024, 64
DOWNLOAD_CHUNK, DOWNLOAD_TRIES, DOWNLOAD_REDIRECTS = 256 * 1024, 4, 5
VIDEO_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"styp", b"moof")  # ISO BMFF, at byte 4
# Matroska and WebM, AVI, Ogg, FLV, MPEG program and transport streams
VIDEO_MAGIC = re.compile(b"\x1a\x45\xdf\xa3|RIFF....AVI |OggS\x00|FLV\x01|\x00\x00\x01\xba|G.{187}G", re.S)
JOB_ID_FORM = "[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9_-]{1,60}"  # new_job_id's, or 1.0's (a task id, no dot): none other
COLORS = {"done": "32", "failed": "31", "running": "33", "queued": "2"}  # a shot's state on a terminal (ANSI)

EXIT_OK, EXIT_GENERATION_FAILED, EXIT_USAGE, EXIT_AUTH, EXIT_CREDITS = 0, 1, 2, 3, 4
EXIT_RATE_LIMITED, EXIT_TIMEOUT, EXIT_FAILURE, EXIT_NOT_FOUND, EXIT_INTERRUPTED = 5, 6, 7, 8, 130
# The published errorCodes that are answers, not faults (the rest exit 7).
SERVICE_ERROR_EXITS = dict.fromkeys(("SHOTS_REQUIRED", "PROMPT_REQUIRED", "INVALID_IMAGE_COUNT"), EXIT_USAGE)
SERVICE_ERROR_EXITS.update(IMAGE_URLS_REQUIRED=EXIT_USAGE, TASK_IDS_REQUIRED=EXIT_USAGE, LOGIN_REQUIRED=EXIT_AUTH)
SERVICE_ERROR_EXITS.update(INSUFFICIENT_CREDITS=EXIT_CREDITS, API_KEY_RATE_LIMIT_EXCEEDED=EXIT_RATE_LIMITED)
SERVICE_ERROR_EXITS.update(TASK_NOT_FOUND=EXIT_NOT_FOUND)
SERVICE_ERROR_HINTS = {"LOGIN_REQUIRED": "check the API key, or create a new one at " + API_KEYS_PAGE}
SERVICE_ERROR_HINTS["INSUFFICIENT_CREDITS"] = "top up credits at https://nanophoto.ai, then submit again"
SERVICE_ERROR_HINTS["TASK_NOT_FOUND"] = "check the task IDs; tasks of another account are not visible"
RETRY_HINT, RATE_HINT = "check the network, then run the same command again", "wait a minute, then run it again"
PAY_TWICE_HINT = "check your jobs at https://nanophoto.ai before submitting again, to avoid paying twice"

# ---- Errors and records ----


@dataclass(eq=False)
class VeoError(Exception):
    """The one error type: raised anywhere, rendered in main() only."""

    code: str
    message: str
    exit_status: int = EXIT_FAILURE
    details: List[Any] = field(default_factory=list)
    hint: str = ""
    http_status: Optional[int] = None

    def to_json(self) -> Dict[str, Any]:
        """The error object of the output contract."""
        error = {"code": self.code, "message": self.message, "httpStatus": self.http_status, "details": self.details}
        return {"status": "error", "error": error}


def usage_error(message: str, hint: str = "") -> VeoError:
    """A bad invocation: exit 2, nothing sent."""
    return VeoError("INVALID_ARGUMENTS", message, EXIT_USAGE, hint=hint)


@dataclass
class Shot:
    """One shot as it will be sent (keys the API does not publish kept in `extra`)."""

    id: str
    prompt: str
    generation_type: str
    aspect_ratio: str
    image_urls: List[str] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> Dict[str, Any]:
        """The shot as the API's JSON."""
        body: Dict[str, Any] = {"id": self.id, "prompt": self.prompt, "generationType": self.generation_type}
        body["aspectRatio"] = self.aspect_ratio
        if self.image_urls or self.generation_type != "TEXT_2_VIDEO":
            body["imageUrls"] = list(self.image_urls)
        return dict(body, **self.extra)


@dataclass
class Video:
    """A video of the job: its link, the file this job claimed for it, and whether it is saved there."""

    url: Optional[str] = None
    file: Optional[str] = None  # absolute; claimed, and saved once sha256 is set
    size: Optional[int] = None
    sha256: Optional[str] = None
    error: Optional[str] = None  # why it could not be saved
    validator: Optional[str] = None  # its ETag or Last-Modified, as the part file's bytes came: a resume's If-Range


@dataclass
class Task:
    """One shot's task at the service, and what we know of it."""

    shot_id: str
    task_id: str
    status: str = "processing"  # processing | completed | failed: our reading of the service's word
    raw_status: str = ""  # the service's own word, for people
    error: Optional[str] = None
    finished_at: Optional[str] = None
    elapsed_seconds: Optional[float] = None
    video: Video = field(default_factory=Video)

    @property
    def finished(self) -> bool:
        """True once the shot completed or failed."""
        return self.status in ("completed", "failed")


@dataclass
class Job:
    """A job: what its record holds."""

    job_id: str
    base_url: str
    resolution: str
    submitted_at: str
    tasks: List[Task] = field(default_factory=list)
    shots: List[Dict[str, Any]] = field(default_factory=list)
    job_file: str = ""  # "" until the job is known to exist (status --task-ids-json: the service answered)
    status: str = "processing"  # submitting | unknown (the submit's answer never came) | as job_status()
    finished_at: Optional[str] = None
    combined: Video = field(default_factory=Video)
    error: Optional[str] = None  # why the submit's outcome is unknown, or why shots have no task
    last_response: Any = None
    started: float = 0.0  # submitted_at as a Unix time (else when this run began): the job's times count from there


@dataclass
class Options:
    """How a run behaves, worked out from the command line at the edge; the core never reads argparse."""

    follow: bool = False
    download: Optional[str] = None  # an absolute folder
    poll_interval: float = DEFAULT_POLL_INTERVAL
    max_wait: Optional[float] = None  # None: 1800 s, or 300 s a shot
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    user_agent: str = DEFAULT_USER_AGENT
    download_workers: int = DEFAULT_DOWNLOAD_WORKERS
    resume_flags: List[str] = field(default_factory=list)  # this run's flags that a resume command repeats
    key_on_line: bool = False  # --api-key was given: the resume command says to give it again


# ---- Pure logic: JSON and text in and out ----

_RUNS: List[List[str]] = []  # the keys of each run going on in this process (tests run several at once)
_HIDING: List[Any] = [None, set()]  # the pattern that finds every form of them, any letter case; and the keys it hides
INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u2028-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)  # characters shown as nothing: controls (not tab or line ends) and Unicode's default-ignorable ones
_HIDING_LOCK = _thread.allocate_lock()  # runs in threads of one process (tests) add keys at once: none may be lost


def secret_forms(key: str) -> Set[str]:
    """The forms of a key to hide: escaped, URL-encoded, hex, base64, any 8 of it; none for a key too short."""
    import base64
    from urllib.parse import quote

    raw = key.encode("utf-8", "surrogatepass")
    forms = {key, json.dumps(key)[1:-1], key.replace("/", "\\/"), quote(raw, safe=""), quote(raw), repr(key)[1:-1]}
    forms |= {raw.hex(), "".join("%%%02x" % byte for byte in raw)} | {key[i : i + 8] for i in range(len(key) - 7)}
    for form in [key, *(key[i : i + 8] for i in range(len(key) - 7))]:  # text that JSON's escaping makes it again
        with suppress(ValueError):  # a"b, printed as a\"b: the key 'a\"b' (what is shown as nothing is looked past)
            forms.add(INVISIBLE.sub("", json.loads('"%s"' % form)))
    for shift in range(3):  # base64 of the key after 0, 1 or 2 other bytes ("Bearer KEY", "user:KEY"): whole groups
        encoded = base64.b64encode(bytes(shift) + raw).decode()[4 if shift else 0 :]
        encoded = encoded[: len(encoded) - (4 if (shift + len(raw)) % 3 else 0)]
        forms |= {encoded, encoded.replace("+", "-").replace("/", "_")}
    forms |= {form.rstrip("=") for form in forms}
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH} if len(key) >= MIN_SECRET_LENGTH else set()


def hide_keys(keys: List[str], ended: bool = False) -> None:
    """Hide a run's keys (its list: it may grow) wherever text leaves the program; `ended`: no more, the run is over."""
    with _HIDING_LOCK:  # a key stays hidden while any run uses it: runs in one process (tests) never unhide another's
        _RUNS[:] = [run for run in _RUNS if run is not keys] + ([] if ended else [keys])
        now = {key for run in _RUNS for key in run}
        if now != _HIDING[1]:  # else hidden already; the same keys always make the same pattern, which re caches
            groups: Dict[str, List[str]] = {}  # by first letter: each place in a text is tried against one group
            for form in sorted(set().union(*map(secret_forms, now)), key=lambda f: (-len(f), f)):  # longest first
                groups.setdefault(form[0].lower(), [re.escape(form[0])]).append(re.escape(form[1:]))
            pattern = "|".join("%s(?:%s)" % (first, "|".join(rests)) for first, *rests in groups.values())
            _HIDING[:] = [re.compile(pattern, re.IGNORECASE) if groups else None, now]  # both at once


def redact(text: str) -> str:
    """Text with the key, in any of its forms and any letter case, replaced by ***."""
    pattern = _HIDING[0]  # read once: another thread may put another in its place meanwhile
    return pattern.sub("***", text) if pattern else text


def whole_text(text: str) -> str:
    """Text with each lone surrogate (valid JSON, yet no character: strict readers refuse it) made U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def redact_json(value: Any) -> Any:
    """A JSON value with the key hidden inside every string, so that the document stays strict, valid JSON."""
    if isinstance(value, str):  # as it came, unless the key shows once the invisible characters are gone
        text = whole_text(value)
        visible = INVISIBLE.sub("", text)
        hidden = redact(visible)
        return hidden if hidden != visible else text  # a key is printable: not in `text` unless in `visible`
    if isinstance(value, (int, float)) and redact(str(value)) != str(value):  # an all-digit key, echoed as a number
        return "***"
    if isinstance(value, dict):
        return {redact_json(str(key)): redact_json(item) for key, item in value.items()}
    return [redact_json(item) for item in value] if isinstance(value, list) else value


def key_flag_end(word: str) -> int:
    """Where the name ends in a word that may name a key (--api-key, \u2014token, API_KEY=...), else 0."""
    dashed = word[:1] in "-\u02d7\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d"
    assignment = re.match(r"[\w.-]+(=|:\s*)", word)  # API_KEY=..., "Authorization: Bearer ..."; not "ratio=16:9"
    where = word if dashed or word.lower() == "bearer" else (assignment.group(0) if assignment else "")
    name = re.search("api|key|token|secret|auth|bearer|pass|pw|credential|nanophoto", where, re.IGNORECASE)
    return (name.end() if dashed else len(where)) if name else 0  # an assignment: its value only


def clean_line(text: str, limit: int = 300, ours: bool = False) -> str:
    """Text made safe to show: the key hidden, one printable line, cut to length; `ours`: as given when it can be."""
    visible = INVISIBLE.sub("", text)  # dropped first: a key cut apart by them is hidden too
    hidden = redact(visible)
    if hidden == visible:  # no key: our path or command as given (an emoji's U+FE0F kept), other text as it came
        spaced = INVISIBLE.sub(lambda found: " " if "\x01" <= found[0] < "\xa0" else "", text)  # a control: a space
        hidden = text if ours and text.isprintable() else spaced  # (but UTF-16's NULs), so words stay apart
    text = "".join(ch if ch.isprintable() else " " for ch in hidden)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dump_json(value: Any) -> str:
    """A JSON document as this program prints and stores it: strict, ASCII, without the key."""
    return json.dumps(redact_json(value), allow_nan=False, ensure_ascii=True, separators=(",", ":"))


def short_repr(value: Any, limit: int = 60) -> str:
    """A value as a short, printable, one-line string for messages."""
    try:
        return clean_line(json.dumps(value, ensure_ascii=True, allow_nan=False), limit)
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


def pruned(value: Any, depth: int = 0) -> Any:
    """A JSON value with whatever nests past 64 levels replaced by a note (nothing deeper can hide a crash)."""
    if isinstance(value, (list, dict)) and depth >= MAX_JSON_DEPTH:
        return "(nested too deeply)"
    if isinstance(value, list):
        return [pruned(item, depth + 1) for item in value]
    if isinstance(value, str):
        return whole_text(value)
    return {key: pruned(item, depth + 1) for key, item in value.items()} if isinstance(value, dict) else value


def load_user_json(text: str, what: str, hint: str) -> Any:
    """JSON the user gave: strict (no NaN, Infinity or overflowing numbers), at most 64 levels deep."""

    def number(digits: str, kind: Callable[[str], Any] = float) -> Any:  # a whole number too: as a float, finite
        if float(digits) - float(digits) != 0:
            raise ValueError("%s is not a finite number" % clean_line(digits, 40))
        return kind(digits)

    try:
        value = json.loads(text, parse_constant=number, parse_float=number, parse_int=lambda word: number(word, int))
        too_deep = "is nested over %d levels deep or holds a lone surrogate" % MAX_JSON_DEPTH
        problem = too_deep if pruned(value) != value else ""
    except (RecursionError, ValueError) as exc:  # JSONDecodeError, those above, and integers too long to convert
        problem = "is not valid JSON: %s" % clean_line(str(exc) or "nested too deeply")
    if problem:
        raise usage_error("%s %s" % (what, problem), hint)
    return value


def parse_answer(body: bytes) -> Any:
    """A service answer (ValueError if not JSON): NaN, Infinity and big numbers read as null, nesting past 64 cut."""
    try:
        finite = lambda digits: float(digits) if float(digits) - float(digits) == 0 else None  # noqa: E731
        return pruned(json.loads(body.decode("utf-8-sig"), parse_constant=lambda word: None, parse_float=finite))
    except RecursionError:
        raise ValueError("nested too deeply")


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    kinds: List[Tuple[Any, str]] = [(type(None), "null"), (bool, "a boolean"), ((int, float), "a number")]
    kinds += [(str, "a string"), (list, "an array"), (dict, "an object")]
    return next((name for kind, name in kinds if isinstance(value, kind)), type(value).__name__)


def unsendable_text(value: Any) -> Optional[str]:
    """Why a JSON value cannot be sent as text (a NUL, or bytes that were not UTF-8), or None."""
    if isinstance(value, str):
        if "\x00" in value:
            return "contains a NUL byte"
        bad = any("\ud800" <= ch <= "\udfff" for ch in value)
        return "is not valid text (bytes that are not UTF-8, or not in the locale's encoding)" if bad else None
    parts = [part for pair in value.items() for part in pair] if isinstance(value, dict) else value
    problems = map(unsendable_text, parts if isinstance(parts, list) else [])
    return next((problem for problem in problems if problem), None)


def close_match(word: str, candidates: Sequence[str]) -> Optional[str]:
    """The candidate a misspelt key most likely meant, or None."""
    import difflib  # only when a key is unknown

    def folded(text: str) -> str:
        text = text.replace("_", "").replace("-", "").lower()
        return text[4:] if text.startswith("shot") and len(text) > 4 else text  # id written shotId, as answers do

    same = [candidate for candidate in candidates if folded(candidate) == folded(word)]
    found = same or difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return found[0] if found else None


# ---- Pure logic: checking what will be sent ----


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower().rstrip(".")
    numeric = (host.startswith("127.") and host.replace(".", "").isdecimal()) or host in ("::1", "0:0:0:0:0:0:0:1")
    return numeric or host == "localhost" or host.endswith(".localhost")


def host_problem(host: str) -> Optional[str]:
    """Why a host cannot be used in a URL (an empty label, a space, another character), or None."""
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:  # a name: ASCII as DNS carries it (an underscore too); one in another script in its xn-- form
        allowed, labels = set("abcdefghijklmnopqrstuvwxyz0123456789-_"), host.lower().rstrip(".").split(".")
        bad = not host or any(not label or len(label) > 63 or set(label) - allowed for label in labels)
        return "is not a valid host name (one in another script goes in its xn-- form)" if bad else None


def public_host_problem(host: str) -> Optional[str]:
    """Why a host (of an image or a video link) is not public, or None when it may be."""
    import ipaddress

    host = host.strip("[]").lower().rstrip(".")
    if ":" not in host and set(host) <= set("0123456789abcdefx."):  # IPv4 as the OS reads it: 0x7f.1, 10.1 too
        import socket

        with suppress(OSError):  # else a name after all
            host = socket.inet_ntoa(socket.inet_aton(host))
    if is_loopback_host(host):
        return "points at this machine (%s)" % host
    if host.endswith((".local", ".internal", ".lan", ".home.arpa")) or ("." not in host and ":" not in host):
        return "names a local host (%s)" % host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    address = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None) or address
    if address.is_loopback or address.is_unspecified:
        return "points at this machine (%s)" % host
    if address.is_link_local:
        return "is a link-local address (%s)" % host
    if address.is_global and not (address.is_multicast or address.is_reserved or getattr(address, "is_site_local", 0)):
        return None
    return ("is a private address (%s)" if address.is_private else "is not a public address (%s)") % host


def image_url_problem(url: Any) -> Optional[str]:
    """Why an image URL cannot be used by the service, or None."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        return "must be a string URL, got %s" % json_type_name(url)
    shown = short_repr(url)
    if url.startswith("data:"):
        return "%s is a data: URI; the service needs a public http(s) URL" % shown[:30]
    if unsendable_text(url) or any(ch.isspace() or not ch.isprintable() for ch in url):
        return "%s contains spaces, control characters or bytes that are not UTF-8" % shown
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # a port past 65535 raises ValueError
    except ValueError:
        return "%s is not a valid URL" % shown
    if parts.scheme not in ("http", "https"):
        local = parts.scheme == "file" or len(parts.scheme) == 1 or url.startswith(("/", "~", ".", "\\"))  # C:\ too
        why = "is not an http(s) URL" if parts.scheme else "has no https:// in front (a local file must be uploaded)"
        return "%s %s" % (shown, "is a local path; upload the image and give its public URL" if local else why)
    problem = (host_problem(host) if host else "has no host") or public_host_problem(host)
    return "%s %s; the service can only fetch public URLs" % (shown, problem) if problem else None


def check_base_url(url: str) -> str:
    """The API origin without a trailing slash: https, or http to a loopback host; else a usage error."""
    url = url.strip().rstrip("/")
    if url == DEFAULT_BASE_URL:
        return url  # known good; spares a dry run the import of urllib.parse
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # a bad port raises ValueError
        bad = parts.scheme not in ("http", "https") or bool(host_problem(host) or parts.query or parts.fragment)
        bad = bad or bool(parts.username or parts.password) or any(not "!" <= ch <= "~" for ch in url)
    except ValueError:
        bad = True
    hint = "use https://nanophoto.ai (the default), or http://127.0.0.1:PORT for a local fake"
    if bad or (parts.scheme == "http" and not is_loopback_host(host)):
        why = "an https:// origin (a valid host, no spaces, no query), or http:// to this machine only"
        raise usage_error("the base URL %s must be %s" % (short_repr(url), why), hint)
    return url


def shot_label(index: int, shot_id: Optional[str]) -> str:
    """How a shot is named in messages: shots[2] (shot-3)."""
    return "shots[%d] (%s)" % (index, shot_id) if shot_id else "shots[%d]" % index


def validate_shots(raw: Any, resolution: str) -> Tuple[List[Shot], List[str]]:
    """Check shots against every published rule; return them and warnings, or raise INVALID_SHOTS with each problem."""
    problems: List[str] = []
    warnings: List[str] = []
    raw = raw["shots"] if isinstance(raw, dict) and "shots" in raw else raw
    if not isinstance(raw, list):
        raise invalid_shots(["shots must be a JSON array of shot objects, got %s" % json_type_name(raw)])
    if not raw:
        problems.append("at least 1 shot is needed, got 0")
    elif len(raw) > MAX_SHOTS:
        problems.append("at most %d shots per job, got %d" % (MAX_SHOTS, len(raw)))
    if resolution != "720p" and len(raw) > 1:
        problems.append("%s is for single-shot jobs only, got %d shots; use 720p or one shot" % (resolution, len(raw)))
    shots: List[Shot] = []
    seen: Dict[str, int] = {}
    for index, item in enumerate(raw[: MAX_SHOTS + 1]):
        shot = validate_one_shot(index, item, problems, warnings)
        if shot is not None and shot.id in seen:
            shown = (shot_label(index, shot.id), short_repr(shot.id), seen[shot.id])
            problems.append("%s: id %s is used by shots[%d] too; ids must be unique" % shown)
        elif shot is not None:
            seen[shot.id] = index
            shots.append(shot)
    if problems:
        raise invalid_shots(problems, warnings)
    return shots, warnings


def invalid_shots(problems: List[str], warnings: Sequence[str] = ()) -> VeoError:
    """The INVALID_SHOTS error carrying every problem found (and, in its hint, the unknown keys)."""
    more = len(problems) - 1
    message = problems[0] + (" (and %d more problem%s)" % (more, "s" * (more > 1)) if more else "")
    hint = "fix the shots as listed, then run again; nothing was sent"
    if warnings:  # an unknown key is often the mistake behind the problems (shotId for id, say)
        hint += "; note: " + "; ".join(warnings[:3]) + ("; ..." if len(warnings) > 3 else "")
    return VeoError("INVALID_SHOTS", message, EXIT_USAGE, problems, hint=hint)


def validate_one_shot(index: int, item: Any, problems: List[str], warnings: List[str]) -> Optional[Shot]:
    """Check one shot, appending problems and warnings; the Shot when it is good."""
    if not isinstance(item, dict):
        problems.append("%s: each shot must be an object, got %s" % (shot_label(index, None), json_type_name(item)))
        return None
    before, label, shot_id = len(problems), shot_label(index, None), item.get("id", "shot-%d" % (index + 1))
    if not isinstance(shot_id, str) or not shot_id.strip():
        problems.append("%s: id must be a non-blank string, got %s" % (label, short_repr(shot_id)))
        shot_id = None
    elif len(shot_id) > MAX_SHOT_ID_LENGTH or not shot_id.isprintable():
        problems.append("%s: id must be at most %d printable characters" % (label, MAX_SHOT_ID_LENGTH))
        shot_id = None
    label, unknown = shot_label(index, shot_id), [key for key in item if key not in SHOT_KEYS]
    if len(unknown) > 20:  # each is still passed on; naming (and matching) 20 is enough
        warnings.append("%s: %d more unknown keys are passed on as they are" % (label, len(unknown) - 20))
        unknown = unknown[:20]
    missing = [key for key in SHOT_KEYS[1:4] if key not in item]
    for key in missing:
        guess = close_match(key, unknown)
        also = "; did you mean %s instead of %s?" % (key, short_repr(guess)) if guess else ""
        problems.append("%s: %s is missing%s" % (label, key, also))
    for key in unknown:
        if close_match(key, missing) is None:  # else it was named in the missing key's problem
            guess = close_match(key, SHOT_KEYS)
            also = " (did you mean %s?)" % guess if guess else ""
            warnings.append("%s: unknown key %s is passed on as it is%s" % (label, short_repr(key), also))
    prompt = item.get("prompt")
    if "prompt" in item and (not isinstance(prompt, str) or not clean_line(prompt, 1 << 30).strip()):  # all unseen
        problems.append("%s: prompt must be a non-blank string, got %s" % (label, short_repr(prompt)))
    for key, choices in (("generationType", tuple(GENERATION_TYPES)), ("aspectRatio", ASPECT_RATIOS)):
        if key in item and not (isinstance(item[key], str) and item[key] in choices):
            shown = (label, key, ", ".join(choices), short_repr(item[key]))
            problems.append("%s: %s must be one of %s, got %s" % shown)
    image_urls = [] if item.get("imageUrls") is None else item["imageUrls"]
    if not isinstance(image_urls, list):
        problems.append("%s: imageUrls must be an array of URLs, got %s" % (label, json_type_name(image_urls)))
        image_urls = []
    found = [(position, image_url_problem(url)) for position, url in enumerate(image_urls[:10])]
    problems += ["%s: imageUrls[%d] %s" % (label, position, problem) for position, problem in found if problem]
    kind = item.get("generationType")
    fewest, most = GENERATION_TYPES.get(kind, (0, 10**9)) if isinstance(kind, str) else (0, 10**9)
    if not fewest <= len(image_urls) <= most:
        wanted = "no imageUrls" if most == 0 else "%d-%d imageUrls" % (fewest, most)
        problems.append("%s: %s takes %s, got %d" % (label, kind, wanted, len(image_urls)))
    for key, value in item.items():
        text = unsendable_text(key) or unsendable_text(value)
        if text and key not in ("id", "imageUrls"):
            problems.append("%s: %s %s" % (label, clean_line(key, 40), text))
    if len(problems) > before or shot_id is None:
        return None
    extra = {key: value for key, value in item.items() if key not in SHOT_KEYS}
    return Shot(shot_id, str(prompt), str(kind), str(item["aspectRatio"]), list(image_urls), extra)


def id_text(value: Any) -> Optional[str]:
    """An id as text: a non-blank printable string, or a whole number written as one; else None."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        value = str(value)
    return value if isinstance(value, str) and value.strip() and value.isprintable() and len(value) <= 500 else None


def parse_task_ids(raw: Any) -> List[Task]:
    """Read --task-ids-json: [{shotId, taskId}] (or bare task ID strings), or a usage error."""
    raw = raw["taskIds"] if isinstance(raw, dict) and "taskIds" in raw else raw
    hint = 'give a JSON array such as \'[{"shotId": "shot-1", "taskId": "task_abc123"}]\''
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TASKS:
        raise usage_error("--task-ids-json must be a JSON array of 1 to 100 tasks, got %s" % short_repr(raw), hint)
    tasks: List[Task] = []
    problems: List[str] = []
    for index, item in enumerate(raw):
        item = item if isinstance(item, dict) else {"taskId": item}
        task_id = id_text(first_field(item, TASK_ID_KEYS))
        shot_id = id_text(first_field(item, SHOT_ID_KEYS[:2]) or "shot-%d" % (index + 1))
        if task_id is None or shot_id is None:
            problems.append("taskIds[%d] needs a taskId and shotId of text, got %s" % (index, short_repr(raw[index])))
        elif task_id not in [task.task_id for task in tasks]:
            tasks.append(Task(shot_id, task_id))
    if problems:
        raise VeoError("INVALID_ARGUMENTS", "; ".join(problems[:3]), EXIT_USAGE, problems, hint=hint)
    return tasks


# ---- Pure logic: reading the service's answers (their HTTP facts and times too) ----


def status_word_kind(word: Any) -> str:
    """The service's status word as completed, failed or processing (tolerantly)."""
    word = word.strip().lower() if isinstance(word, str) else ""
    return "completed" if word in FINISHED_WORDS else "failed" if word in FAILED_WORDS else "processing"


def first_field(entry: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first of keys present and not null."""
    return next((entry[key] for key in keys if entry.get(key) is not None), None)


def objects_in(value: Any) -> List[Dict[str, Any]]:
    """The objects in a JSON array; none when it is not an array."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def video_url_of(entry: Mapping[str, Any]) -> Optional[str]:
    """A shot's or job's video link as the service gave it (checked only when it is fetched)."""
    url = first_field(entry, VIDEO_URL_KEYS)
    return url if isinstance(url, str) and url.strip() and len(url) < 8192 else None


def error_text_of(entry: Mapping[str, Any]) -> Optional[str]:
    """A per-shot error as one clean line of text, whatever its shape."""
    value = first_field(entry, SHOT_ERROR_KEYS)
    value = (first_field(value, ("message", "error", "code")) or value) if isinstance(value, dict) else value
    return None if value is None else clean_line(value if isinstance(value, str) else short_repr(value, 300))


def tasks_from_generate_answer(ours: Sequence[str], answer: Any, now_iso: str) -> List[Task]:
    """Every task the generate answer names, paired with the submitted shots' ids (by shotId, else by position)."""
    answer = answer if isinstance(answer, dict) else {}
    entries = next((answer[key] for key in ("shots", "tasks") if isinstance(answer.get(key), list)), None)
    if entries is None:
        entries = [{"shotId": ours[0], "taskId": first_field(answer, TASK_ID_KEYS)}] if len(ours) == 1 else []
    tasks: Dict[str, Task] = {}
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        task_id, shot_id = id_text(first_field(entry, TASK_ID_KEYS)), id_text(first_field(entry, SHOT_ID_KEYS))
        if shot_id not in ours and position < len(ours) and len(entries) == len(ours):
            shot_id = ours[position]
        if task_id and shot_id and task_id not in tasks and len(tasks) < MAX_TASKS:  # a record stays readable
            tasks[task_id] = Task(shot_id, task_id)
            update_task(tasks[task_id], entry, now_iso, 0.0)
    return list(tasks.values())


def apply_status_answer(job: Job, answer: Any, now_iso: str, elapsed: float) -> Tuple[List[Task], bool]:
    """Fold a check-status answer into the job: the tasks whose status changed, and whether it spoke of any."""
    if not isinstance(answer, dict):
        return [], False
    top_kind, top_url, entries = status_word_kind(answer.get("status")), video_url_of(answer), answer.get("shots")
    if len(job.tasks) > 1:  # a one-shot job has no combined video: its one video is the shot's
        job.combined.url = top_url or job.combined.url
    if not isinstance(entries, list):
        # No per-shot list: the top-level status speaks for every shot; its video is the one shot's, else the combined.
        shared = {"status": answer.get("status"), "videoUrl": top_url if len(job.tasks) == 1 else None}
        shared["error"] = error_text_of(answer)  # read only when the status is a failure
        return [t for t in job.tasks if update_task(t, shared, now_iso, elapsed)], isinstance(answer.get("status"), str)
    changed: List[Task] = []
    unseen = {task.task_id: task for task in job.tasks}  # each task is read from one entry at most
    by_shot = {shot: [task for task in job.tasks if task.shot_id == shot] for shot in {t.shot_id for t in job.tasks}}
    for entry in sorted(objects_in(entries), key=lambda e: first_field(e, TASK_ID_KEYS) is None):  # ids first
        task_id, shot_id = id_text(first_field(entry, TASK_ID_KEYS)) or "", id_text(first_field(entry, SHOT_ID_KEYS))
        waiting = by_shot.get(shot_id or "", []) if first_field(entry, TASK_ID_KEYS) is None else []  # by shotId
        while waiting and waiting[0].task_id not in unseen:
            waiting.pop(0)
        task_id = waiting[0].task_id if waiting else task_id
        if task_id in unseen and update_task(unseen[task_id], entry, now_iso, elapsed):
            changed.append(unseen[task_id])
        unseen.pop(task_id, None)
    if top_kind != "processing":  # the job as a whole ended: a shot it did not mention will not come back
        why = error_text_of(answer) or "the service ended the job without a status for this shot"
        ended = [task for task in unseen.values() if not task.finished]
        changed += [task for task in ended if update_task(task, {"status": "failed", "error": why}, now_iso, elapsed)]
    return changed, len(unseen) < len({task.task_id for task in job.tasks})  # whether it named one of them


def update_task(task: Task, entry: Mapping[str, Any], now_iso: str, elapsed: float) -> bool:
    """Read a shot's entry of an answer into its task; True when its status changed."""
    before, word = (task.status, task.raw_status), entry.get("status")
    kind = status_word_kind(word)
    if (task.finished and kind == "processing") or (task.status == "completed" and kind == "failed"):
        return False  # finished shots stay finished, completed ones completed (saved, maybe): a stale answer, not news
    task.status = kind
    task.raw_status = clean_line(word.strip(), 40).lower() if isinstance(word, str) else ""  # hide the key, then lower
    task.video.url = video_url_of(entry) or task.video.url
    if kind == "failed":
        task.error = error_text_of(entry) or task.error or "the service reported the shot as failed"
    elif kind == "completed":  # a failed shot the service ran again: its old error is not its outcome
        task.error = None
    if kind != "processing" and before[0] == "processing":
        task.finished_at, task.elapsed_seconds = now_iso, round(elapsed, 1)
    return (task.status, task.raw_status) != before


def job_status(tasks: Sequence[Task]) -> str:
    """The job's status from its shots: completed, partial, failed, or processing."""
    if not tasks or not all(task.finished for task in tasks):
        return "processing"
    completed = sum(task.status == "completed" for task in tasks)
    return "completed" if completed == len(tasks) else "partial" if completed else "failed"


def display_state(task: Task) -> str:
    """What a person sees for a shot: queued, running, done, failed."""
    if task.finished:
        return "done" if task.status == "completed" else "failed"
    return "queued" if task.raw_status in ("pending", "queued", "waiting", "submitted", "") else "running"


def shot_times(tasks: Sequence[Task], elapsed: float) -> List[Optional[float]]:
    """Each shot's own time: shots run one after another, each from the end of the one before."""
    times: List[Optional[float]] = []
    previous_end = 0.0
    for task in tasks:
        took = task.elapsed_seconds if task.finished else None
        times.append(None if took is None else max(0.0, took - previous_end))
        previous_end = max(previous_end, took or 0.0)
    running = next((i for i, task in enumerate(tasks) if display_state(task) == "running"), None)
    if running is not None:
        times[running] = max(0.0, elapsed - previous_end)
    return times


def video_result(video: Video) -> Dict[str, Any]:
    """A video's part of the result: its link, its file once saved, and why not when it could not be."""
    entry = {"videoUrl": video.url, "file": video.file if video.sha256 else None}
    return dict(entry, downloadError=video.error) if video.error else entry


def build_result(job: Job, elapsed: float) -> Dict[str, Any]:
    """The result object of the output contract."""
    shots = [{"shotId": t.shot_id, "taskId": t.task_id, "status": t.status, **video_result(t.video)} for t in job.tasks]
    for shot, task in zip(shots, job.tasks):
        shot.update(error=task.error, elapsedSeconds=task.elapsed_seconds)
    if job_status(job.tasks) != "processing":  # it ended: the time it took, as its shots' times say, not since then
        elapsed = max(elapsed if task.elapsed_seconds is None else task.elapsed_seconds for task in job.tasks)
    result: Dict[str, Any] = {"status": job_status(job.tasks), "jobId": job.job_id, "jobFile": job.job_file or None}
    result.update(resolution=job.resolution, submittedAt=job.submitted_at, finishedAt=job.finished_at)
    result.update(elapsedSeconds=round(elapsed, 1), **video_result(job.combined))
    return dict(result, shots=shots, response=job.last_response)


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds a Retry-After header asks for (seconds or an HTTP date), or None."""
    try:
        seconds = float((value or "").strip())
    except ValueError:  # none, or a date
        from email.utils import mktime_tz, parsedate_tz

        try:
            parsed = parsedate_tz((value or "").strip())  # without a zone (asctime's form): GMT, never local time
            seconds = mktime_tz((*parsed[:9], parsed[9] or 0)) - now  # type: ignore[index]
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return min(max(0.0, seconds), 10.0**7) if seconds - seconds == 0 else None  # past 100 days: as good as never


def clean_excerpt(body: bytes) -> str:
    """A short readable excerpt of a body that is not JSON (an HTML page, say), the key hidden first."""
    text = redact(body.decode("utf-8", "replace"))[:20000]
    text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
    text = re.sub(r"&[a-zA-Z#0-9]+;", " ", re.sub(r"(?s)<[^>]*>", " ", text))
    return clean_line(" ".join(clean_line(text, 20000).split()), 160)


def url_without_query(url: str) -> str:
    """A URL with its query and fragment dropped (presigned links are secrets), the key hidden before the cut."""
    return redact(url).split("?", 1)[0].split("#", 1)[0]


def video_link_problem(url: Optional[str], local: bool) -> Optional[str]:
    """Why a video link is not fetched, or None: https to a public host; with `local` (a local API), loopback too."""
    from urllib.parse import urlsplit

    if not url:
        return "the service gave no link for this video"
    shown = clean_line(url_without_query(url), 120)
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname or "", parts.port  # a port past 65535 raises ValueError
    except ValueError:
        return "the video link %s is not a valid URL" % shown
    loopback = parts.scheme in ("http", "https") and local and is_loopback_host(host)
    if loopback or (parts.scheme == "https" and host and not (host_problem(host) or public_host_problem(host))):
        return None
    return "the video link %s is not an https:// URL to a public host; it was not fetched" % shown


def format_duration(seconds: Optional[float]) -> str:
    """Seconds as a person reads them: 42s, 2m31s, 1h02m."""
    if seconds is None:
        return "-"
    total = round(max(0.0, seconds))  # a clock set back is no time at all, not a negative one
    if total < 3600:
        return "%ds" % total if total < 60 else "%dm%02ds" % (total // 60, total % 60)
    return "%dh%02dm" % (total // 3600, total % 3600 // 60)


def utc_iso(timestamp: float) -> str:
    """A Unix time as 2026-11-24T10:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


# ---- Pure logic: names on disk ----

WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
WINDOWS_RESERVED |= {"%s%d" % (port, n) for port in ("COM", "LPT") for n in range(10)}
SAFE_NAME_CHARS, MAX_NAME_STEM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."), 100


def safe_file_stem(name: str) -> str:
    """A name made safe as a file name on every OS (no separators, dots first, reserved names)."""
    import hashlib

    cleaned = re.sub(r"\.\.+", ".", "".join(ch if ch in SAFE_NAME_CHARS else "_" for ch in name).strip(". "))
    if not cleaned or set(cleaned) <= {"_", "."} or redact(cleaned) != cleaned:  # "sk live 123" cleaned is a key
        cleaned = "video"
    cleaned = "_" + cleaned if cleaned.split(".")[0].upper() in WINDOWS_RESERVED else cleaned
    if cleaned != name or len(cleaned) > MAX_NAME_STEM:  # two ids that clean alike still get two names
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = cleaned[: MAX_NAME_STEM - 9].rstrip(". ") + "-" + digest
    return cleaned


def video_extension(url: Optional[str]) -> str:
    """The file extension for a video link: its own when it is a video one, else .mp4."""
    path = url_without_query(url or "").rsplit("/", 1)[-1].lower()
    return next((extension for extension in VIDEO_EXTENSIONS if path.endswith(extension)), ".mp4")


def numbered_name(stem: str, extension: str, number: int) -> str:
    """shot-1.mp4 for the first, then shot-1-2.mp4, shot-1-3.mp4, ..."""
    return stem + extension if number == 1 else "%s-%d%s" % (stem, number, extension)


def part_name(path: str, job_id: str) -> str:
    """The part file a job's video grows in before it is given its name: .shot-1.mp4.<jobId>.part beside it."""
    folder, name = os.path.split(path)
    return os.path.join(folder, ".%s.%s.part" % (name, job_id))


def claimed_by_others(folder: str, own: str = "") -> Set[str]:
    """The video names in `folder` that a part file other than `own` claims (.shot-1.mp4.<jobId>.part: shot-1.mp4)."""
    parts = [name for name in os.listdir(folder) if name.startswith(".") and name.endswith(".part")]
    return {name[1:-5].rsplit(".", 1)[0] for name in parts if name != os.path.basename(own)}


# ---- The machine: collaborators, the key, where state lives ----


def _program() -> List[str]:
    """How to run this program again: python3 /abs/path/veo_3_1.py, or the installed command."""
    script = os.path.abspath(__file__) if __name__ == "__main__" else ""  # else imported by the installed command
    return ["python" if os.name == "nt" else "python3", script] if script else [SKILL_NAME]


@dataclass
class Runtime:
    """Everything the program touches outside itself: the real machine by default; tests pass fakes."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin: Optional[IO[str]] = field(default_factory=lambda: sys.stdin)
    stdout: Optional[IO[str]] = field(default_factory=lambda: sys.stdout)
    stderr: Optional[IO[str]] = field(default_factory=lambda: sys.stderr)
    stdout_tty: bool = field(default_factory=lambda: bool(getattr(sys.stdout, "isatty", lambda: False)()))
    stderr_tty: bool = field(default_factory=lambda: bool(getattr(sys.stderr, "isatty", lambda: False)()))
    api_open: Callable[[Any, float], Any] = field(default_factory=lambda: urlopen_for("api"))
    download_open: Callable[[Any, float], Any] = field(default_factory=lambda: urlopen_for("download"))
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    jitter: Callable[[], float] = field(default=lambda: __import__("random").random())
    home: str = field(default_factory=lambda: os.path.expanduser("~"))
    program: List[str] = field(default_factory=_program)


class HeldInterrupts:
    """While held, a first Ctrl-C or SIGTERM waits (noted in `caught`); a second one stops at once."""

    def __init__(self, on_hold: Callable[[], None] = lambda: None) -> None:
        self.on_hold, self.caught, self.holding = on_hold, False, True
        self.previous: Dict[int, Any] = {}

    def hold(self, signum: int, frame: Any) -> None:
        """The stand-in handler: wait, unless the user insists or nothing is at stake."""
        if self.caught or not self.holding:
            raise KeyboardInterrupt
        self.caught = True
        self.on_hold()

    def __enter__(self) -> HeldInterrupts:
        """Stand in for the handlers of SIGINT and SIGTERM (main thread only)."""
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM):
            with suppress(ValueError):  # an ignored signal stays ignored; outside the main thread nothing is held
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self.previous[signum] = signal.signal(signum, self.hold) or signal.SIG_DFL
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Put the handlers back (again is harmless)."""
        import signal

        while self.previous:
            signal.signal(*self.previous.popitem())

    def wait_released(self, sleep: Callable[[float], None], seconds: float) -> bool:
        """Sleep with Ctrl-C let through: a back-off, when nothing is in flight; False when Ctrl-C cut it short."""
        self.holding = False
        try:
            sleep(seconds)
            return True
        except KeyboardInterrupt:
            return False
        finally:
            self.holding = True


def read_regular_file(path: str, limit: int) -> bytes:
    """A file's bytes; OSError when it is over `limit` or not a regular file (a pipe or a device is not waited on)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    with os.fdopen(os.open(path, flags), "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise OSError(22, "not a regular file")
        data = file.read(limit + 1)
    if len(data) > limit:
        raise OSError(27, "it is over %d MiB" % (limit >> 20))
    return data


def read_openclaw_key(environ: Mapping[str, str], home: str, warn: Callable[[str], None]) -> Tuple[Any, str]:
    """The key's value in OpenClaw's config file and where that is; a file that cannot be read is named in a warning."""
    home = os.path.expanduser(environ.get("OPENCLAW_HOME") or home)
    path = os.path.expanduser(environ.get("OPENCLAW_CONFIG_PATH") or os.path.join(home, ".openclaw", "openclaw.json"))
    try:
        text = read_regular_file(path, MAX_FILE_BYTES).decode("utf-8-sig")
        # OpenClaw's JSON5 as JSON: outside strings, comments and trailing commas dropped, and bare keys quoted.
        json5 = r'(?s)"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/|,(?=(?:\s|//[^\n]*|/\*.*?\*/)*[}\]])|\$?[^\W\d]\w*(?=\s*:)'
        text = re.sub(json5, lambda m: "" if m[0][0] in "/," else m[0] if m[0][0] == '"' else f'"{m[0]}"', text)
        entry = load_user_json(text, "", "")
    except (OSError, ValueError, VeoError) as exc:  # UnicodeDecodeError is a ValueError
        if not isinstance(exc, FileNotFoundError):  # no file is nothing to warn of
            reason = getattr(exc, "strerror", None) or ("not UTF-8" if isinstance(exc, ValueError) else "not JSON5")
            warn("the OpenClaw config %s was skipped (%s)" % (path, reason))
        return None, path
    for part in ("skills", "entries", SKILL_NAME, "env"):
        entry, parent = (entry.get(part) if isinstance(entry, dict) else None), entry

    def filled(value: Any) -> Any:  # as OpenClaw reads it: ${VAR} from the environment, $${VAR} as is
        if isinstance(value, str):  # one unset or empty: no value; marked by a lone surrogate, which no config holds
            value = re.sub(OPENCLAW_VARIABLE, lambda f: f[0][1:] if f[1] else environ.get(f[2]) or "\udfff", value)
        return None if isinstance(value, str) and "\udfff" in value else value

    from_env = filled(entry.get(ENV_API_KEY)) if isinstance(entry, dict) else None
    from_key = filled(parent.get("apiKey")) if isinstance(parent, dict) else None
    return from_env if isinstance(from_env, str) and from_env.strip() else from_key, path


def find_api_key(flag_key: Optional[str], session: Session) -> str:
    """The API key: --api-key, then the environment, then OpenClaw's config; checked, and hidden from all output."""
    key, path, rt, warn = None, "", session.rt, session.reporter.warn
    if flag_key is not None and flag_key.strip():
        warn("--api-key is visible to other users of this machine (in the process list); prefer $%s" % ENV_API_KEY)
        key, source = flag_key, "--api-key"
    elif rt.environ.get(ENV_API_KEY, "").strip():
        key, source = rt.environ[ENV_API_KEY], "$" + ENV_API_KEY
    else:
        key, path = read_openclaw_key(rt.environ, rt.home, warn)
        source = "skills.entries.%s in %s" % (SKILL_NAME, path)
    if isinstance(key, dict):
        text = "the key at %s is a secret reference, which OpenClaw resolves when it runs the skill" % source
        raise VeoError("MISSING_API_KEY", text, EXIT_AUTH, hint="when running it by hand, export %s=..." % ENV_API_KEY)
    if not isinstance(key, str) or not key.strip():
        ways = "export %s=...; openclaw config set skills.entries.%s.apiKey ... (read from %s); or --api-key KEY"
        hint = "give one of: %s. Keys are made at %s" % (ways % (ENV_API_KEY, SKILL_NAME, path), API_KEYS_PAGE)
        raise VeoError("MISSING_API_KEY", "no NanoPhoto API key was found", EXIT_AUTH, hint=hint)
    key = key.strip()
    if any(not "!" <= ch <= "~" for ch in key):  # never shown, not even in part: it may be the key and more
        text = "the API key from %s contains spaces, line breaks or other characters a key cannot have" % source
        raise VeoError("MISSING_API_KEY", text, EXIT_AUTH, hint="give the key alone, on one line; it was not used")
    session.keys.append(key)
    hide_keys(session.keys)
    return key


def jobs_dir(rt: Runtime) -> str:
    """The records' folder, absolute: $VEO_3_1_STATE_DIR, $XDG_STATE_HOME/veo-3-1, %LOCALAPPDATA%, ~/.local/state."""
    base = (os.name == "nt" and rt.environ.get("LOCALAPPDATA")) or os.path.join(rt.home, ".local", "state")
    state = os.path.join(rt.environ.get("XDG_STATE_HOME") or base, SKILL_NAME)
    return os.path.abspath(os.path.join(os.path.expanduser(rt.environ.get("VEO_3_1_STATE_DIR") or state), "jobs"))


# ---- Transport: the one place that touches urllib ----

_OPENERS: Dict[Tuple[str, bool], Any] = {}  # urlopen_for's openers, by kind and loopback, each built on first use


@dataclass
class HttpReply:
    """An HTTP answer of any status, read whole (API answers are small)."""

    status: int
    headers: Dict[str, str]
    body: bytes


@dataclass(eq=False)
class TransportError(Exception):
    """A failed exchange, as the retry policy needs to know it; the client turns it into a VeoError once."""

    message: str
    code: str = "NETWORK_ERROR"
    http_status: Optional[int] = None
    retryable: bool = True  # a later try may go better
    delivered: Optional[bool] = None  # False: surely not acted on; None: it may have been
    retry_after: Optional[float] = None
    exit_status: int = EXIT_FAILURE

    def error(self, retries: int = 0) -> VeoError:
        """What the user is told once no retry is left."""
        message = self.message + (" (after %d retr%s)" % (retries, "y" if retries == 1 else "ies") if retries else "")
        retry_hint = RATE_HINT if self.exit_status == EXIT_RATE_LIMITED else RETRY_HINT
        hint = SERVICE_ERROR_HINTS.get(self.code) or (retry_hint if self.retryable else "")
        return VeoError(self.code, message, self.exit_status, hint=hint, http_status=self.http_status)


def urlopen_for(kind: str) -> Callable[[Any, float], Any]:
    """urlopen for API calls ("api": a redirect is an answer, not followed) or downloads (5 at most, https only)."""

    def urlopen(request: Any, timeout: float) -> Any:
        import urllib.request  # here: a dry run never imports it
        from urllib.parse import urlsplit

        local = is_loopback_host(urlsplit(request.full_url).hostname or "")  # no proxy: it would read the key
        if (kind, local) not in _OPENERS:

            class Redirects(urllib.request.HTTPRedirectHandler):
                """API calls follow none (the 3xx comes back as an answer); downloads 5, to https or loopback."""

                max_redirections = DOWNLOAD_REDIRECTS

                def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, url: str) -> Any:
                    local = is_loopback_host(urlsplit(req.full_url).hostname or "")  # loopback goes on to loopback only
                    if kind == "api" or video_link_problem(url, local):
                        return None
                    new = super().redirect_request(req, fp, code, msg, headers, url)
                    for name in ("Authorization", "Range", "If-Range"):
                        new.remove_header(name) if new is not None else None  # downloads never carry a key
                    return new

            _OPENERS[kind, local] = urllib.request.build_opener(Redirects, *[urllib.request.ProxyHandler({})] * local)
        return _OPENERS[kind, local].open(request, timeout=timeout)

    return urlopen


def open_any_status(opener: Callable[[Any, float], Any], request: Any, timeout: float) -> Any:
    """The response to a request; an HTTP error status is a response too, not an exception."""
    import urllib.error

    try:
        return opener(request, timeout)
    except urllib.error.HTTPError as err:
        return err


def network_failure(exc: BaseException, url: str) -> TransportError:
    """A transport failure, telling whether the request surely did not arrive."""
    import socket
    import ssl
    import urllib.error

    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    # urllib wraps failures to connect and send in URLError; later ones (waiting, reading) come bare, maybe delivered.
    before_send, where = isinstance(exc, urllib.error.URLError), clean_line(url_without_query(url), 200)
    if isinstance(reason, ssl.SSLCertVerificationError):
        text = "the TLS certificate of %s could not be verified (%s); check the clock, or name CAs in SSL_CERT_FILE"
        return TransportError(text % (where, reason.verify_message), retryable=False, delivered=False)
    if isinstance(reason, ssl.SSLError) and before_send:
        text = "the TLS handshake with %s failed (%s)" % (where, clean_line(str(reason), 120))
        return TransportError(text, retryable=False, delivered=False)
    if isinstance(reason, socket.gaierror):
        return TransportError("the host name of %s could not be resolved" % where, delivered=False)
    if isinstance(reason, ConnectionRefusedError):
        return TransportError("the connection to %s was refused" % where, delivered=False)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        text = ("connecting to %s timed out" if before_send else "%s did not answer within the timeout") % where
        return TransportError(text, delivered=False if before_send else None)
    if isinstance(reason, OSError) and getattr(reason, "errno", None) in (101, 113, 10051, 10065):
        return TransportError("the network to %s is unreachable" % where, delivered=False)
    detail = "the connection to %s failed (%s: %s)" % (where, type(reason).__name__, clean_line(str(reason), 120))
    return TransportError(detail, delivered=False if before_send else None)


def request_headers(user_agent: str) -> Dict[str, str]:
    """The ordinary headers of an API call: what the published script sends, plus Accept."""
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": user_agent}
    return dict(headers, Origin=SITE_ORIGIN, Referer=SITE_ORIGIN + "/")


def read_answer(reply: HttpReply, now: float) -> Any:
    """The JSON of a good 2xx answer; otherwise the failure it stands for."""
    status, retry_after = reply.status, parse_retry_after(reply.headers.get("retry-after"), now)
    refused = status in (408, 429) or (status == 503 and retry_after is not None)  # surely not acted on
    if 300 <= status < 400:  # a 3xx is not followed, so the request was not acted on there
        where = clean_line(url_without_query(reply.headers.get("location", "(no Location header)")), 200)
        text = "the API answered HTTP %d, a redirect to %s; API calls follow no redirect (check --base-url)"
        delivered = None if status in (302, 303) else False  # after a POST, these may say it was acted on
        raise TransportError(text % (status, where), "BAD_RESPONSE", status, retryable=False, delivered=delivered)
    try:
        payload = parse_answer(reply.body)
    except ValueError:
        excerpt = short_repr(clean_excerpt(reply.body) or "(empty)", 180)
        text = "the service answered HTTP %d with a body that is not JSON: %s" % (status, excerpt)
        exit_status = EXIT_RATE_LIMITED if status == 429 else EXIT_FAILURE
        raise TransportError(text, "BAD_RESPONSE", status, True, False if refused else None, retry_after, exit_status)
    code = payload.get("errorCode") if isinstance(payload, dict) else None
    if 200 <= status < 300 and not code and not (isinstance(payload, dict) and payload.get("success") is False):
        return payload
    code = code if isinstance(code, str) and code.isprintable() and len(code) < 64 else None
    message = first_field(payload, ("message", "error", "errorMessage")) if isinstance(payload, dict) else None
    message = ": " + clean_line(message) if isinstance(message, str) and message else ""
    text = "the service answered HTTP %d%s%s" % (status, " " + code if code else "", message)
    exit_status = EXIT_RATE_LIMITED if status == 429 else SERVICE_ERROR_EXITS.get(code or "", EXIT_FAILURE)
    retryable = status in (408, 429) or status >= 500
    refused = refused or (code in SERVICE_ERROR_EXITS and not retryable)  # a published refusal made no job
    code = code or ("HTTP_%d" % status if status >= 400 else "BAD_RESPONSE")
    raise TransportError(text, code, status, retryable, False if refused else None, retry_after, exit_status)


@dataclass
class Api:
    """The two endpoints, with the retry rules: generate, which spends credits, is resent only when surely not taken."""

    base_url: str
    key: str
    opts: Options
    rt: Runtime
    log: Callable[[str], None]  # --verbose: one line per exchange
    note: Callable[[str], None]  # a retry, for people

    def call(self, path: str, payload: Dict[str, Any], deadline: Optional[float], guard: Any = None) -> Any:
        """POST with retries (generate only if surely not taken); while following, None once a round's retries fail."""
        body, attempt, following = dump_json(payload).encode("utf-8"), 0, deadline is not None and guard is None
        if deadline is None:  # a one-off call: 120 s in all at most, or --max-wait if shorter
            deadline = self.rt.clock() + min(self.opts.max_wait or ONE_OFF_RETRY_AFTER_CAP, ONE_OFF_RETRY_AFTER_CAP)
        while True:
            try:  # a submit in flight is never cut short by --max-wait: the job it may have made would be lost
                return self.exchange(path, body, None if guard is not None else deadline)
            except TransportError as failure:
                if guard is not None and failure.delivered is not False:
                    raise outcome_unknown(failure.message, failure.code, failure.http_status)
                left = max(deadline - self.rt.clock(), 0.0)
                wait = self.retry_wait(failure, attempt, left, following) if failure.retryable else None
                if wait is None and following and failure.retryable:
                    self.note("checking the status failed: %s; polling goes on" % failure.message)
                    return None
                if wait is None:
                    raise failure.error(attempt)
                counts = (failure.message, wait, attempt + 1, self.opts.max_retries)
                self.note("%s; retrying in %.1f s (%d of %d)" % counts)
                if guard is None:
                    self.rt.sleep(wait)
                elif guard.caught or not guard.wait_released(self.rt.sleep, wait):  # every try surely not taken
                    text = "interrupted before the submit was sent again (%s); it was not taken, so nothing was spent"
                    text, hint = text % failure.message, "run it again when you want the job"
                    raise VeoError(failure.code, text, EXIT_INTERRUPTED, [], hint, failure.http_status)
                attempt += 1

    def exchange(self, path: str, body: bytes, deadline: Optional[float] = None) -> Any:
        """One POST, logged with --verbose (method, path, status, time); the answer's JSON, or a TransportError."""
        started, opts = self.rt.clock(), self.opts
        timeout = opts.timeout if deadline is None else min(opts.timeout, max(1.0, deadline - started))  # 1 s at least
        try:
            reply = self.post(self.base_url + path, body, timeout)
        except TransportError as failure:
            self.log("POST %s -> %s (%.2f s)" % (path, failure.message, self.rt.clock() - started))
            raise
        self.log("POST %s -> %d, %d bytes (%.2f s)" % (path, reply.status, len(reply.body), self.rt.clock() - started))
        return read_answer(reply, self.rt.wall())

    def post(self, url: str, body: bytes, timeout: float) -> HttpReply:
        """One POST ending within `timeout` in all; in a thread, as urllib's timeout bounds each read, not the whole."""
        import threading
        import urllib.request

        request = urllib.request.Request(url, data=body, headers=request_headers(self.opts.user_agent), method="POST")
        request.add_unredirected_header("Authorization", "Bearer " + self.key)  # never copied to a redirect's request
        outcome: Dict[str, Any] = {}
        given_up = threading.Event()

        def send_and_read() -> None:
            try:
                with open_any_status(self.rt.api_open, request, timeout) as response:
                    status, data, read = response.getcode(), bytearray(), getattr(response, "read1", response.read)
                    while not given_up.is_set() and len(data) <= MAX_API_BODY:
                        chunk = read(65536)  # a little at a time: a dripping answer ends when this thread is given up
                        if not chunk:
                            break
                        data += chunk
                headers = {name.lower(): value for name, value in (response.headers or {}).items()}
                outcome["reply"] = HttpReply(status, headers, bytes(data))
            except BaseException as exc:  # handed to the waiting thread
                outcome["error"] = exc

        worker = threading.Thread(target=send_and_read, name="veo-request", daemon=True)
        worker.start()
        end = time.monotonic() + timeout
        while worker.is_alive() and time.monotonic() < end:
            worker.join(min(0.25, end - time.monotonic()))  # short waits: Ctrl-C gets through on every OS
        where = clean_line(url_without_query(url), 200)
        if worker.is_alive():
            given_up.set()
            raise TransportError("%s did not answer within %gs (--timeout)" % (where, timeout))  # 0.4s, not 0s
        error = outcome.get("error")  # a KeyboardInterrupt (a test's stand-in for Ctrl-C) is raised here as it came
        if error is not None:
            raise network_failure(error, url) if isinstance(error, Exception) else error
        reply: HttpReply = outcome["reply"]
        if len(reply.body) > MAX_API_BODY:
            raise TransportError("the answer from %s is over %d bytes" % (where, MAX_API_BODY), "BAD_RESPONSE")
        return reply

    def retry_wait(self, failure: TransportError, attempt: int, left: float, following: bool) -> Optional[float]:
        """How long to wait before retry number `attempt`; None when no retry is left in the `left` seconds."""
        limit = left if following else min(left, ONE_OFF_RETRY_AFTER_CAP)
        if failure.retry_after is not None and failure.retry_after > limit:
            asked = (failure.message, format_duration(failure.retry_after), format_duration(limit))
            # Following, the deadline would pass: resume later (6); a one-off call is rate-limited (5) or failed (7).
            verdict = EXIT_RATE_LIMITED if failure.http_status == 429 else EXIT_FAILURE
            text = "%s, and asked to wait %s (Retry-After), longer than the %s left" % asked
            hint = "run the same command again after that wait"
            raise VeoError(failure.code, text, EXIT_TIMEOUT if following else verdict, [], hint, failure.http_status)
        backoff = min(0.5 * 2 ** min(attempt, 10), 8.0) * (0.75 + 0.25 * self.rt.jitter())  # the spec's back-off
        wait = failure.retry_after if failure.retry_after is not None else backoff
        return None if attempt >= self.opts.max_retries or wait >= left else wait  # none at the deadline: not even 0 s

    def check_status(self, job: Job, deadline: Optional[float]) -> Any:
        """POST check-status for every task of the job at once (one batched request)."""
        task_ids = [{"shotId": task.shot_id, "taskId": task.task_id} for task in job.tasks]
        return self.call(CHECK_STATUS_PATH, {"taskIds": task_ids, "resolution": job.resolution}, deadline)


def outcome_unknown(why: str, code: str = "", http_status: Optional[int] = None, exit_status: int = 7) -> VeoError:
    """The generate request may have reached the service: say so, and resend nothing."""
    details: List[Any] = [why] + ([{"errorCode": code}] if code not in ("", "NETWORK_ERROR", "BAD_RESPONSE") else [])
    text = "the submit may have reached the service (%s); the job may exist and credits may be spent: not resent"
    return VeoError("SUBMIT_OUTCOME_UNKNOWN", text % why, exit_status, details, PAY_TWICE_HINT, http_status)


# ---- The job record ----

RECORD_VERSION = 2  # each table below serves both to write a record and to read it back
RECORD_HINT = "follow the job by its tasks instead: status --task-ids-json with their shotId and taskId"
TASK_FIELDS: Fields = [("shotId", "shot_id", str), ("taskId", "task_id", str), ("status", "status", str)]
TASK_FIELDS += [("rawStatus", "raw_status", str), ("error", "error", str), ("finishedAt", "finished_at", str)]
TASK_FIELDS += [("elapsedSeconds", "elapsed_seconds", float)]
VIDEO_FIELDS: Fields = [("videoUrl", "url", str), ("file", "file", str), ("size", "size", int)]
VIDEO_FIELDS += [("sha256", "sha256", str), ("validator", "validator", str)]


def new_job_id(now: float) -> str:
    """A job id chosen before the submit is sent, sorting by time: 20261124T100000Z-123 (milliseconds), then random."""
    return "%s-%03d%s" % (time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)), now * 1000 % 1000, os.urandom(3).hex())


def job_to_record(job: Job) -> Dict[str, Any]:
    """The job as the JSON of its record (never the key)."""

    def fields(item: Any, table: Fields) -> Dict[str, Any]:
        return {key: getattr(item, attr) for key, attr, _ in table}

    record = {"version": RECORD_VERSION, "jobId": job.job_id, "baseUrl": job.base_url, "resolution": job.resolution}
    record.update(submittedAt=job.submitted_at, finishedAt=job.finished_at, status=job.status, error=job.error)
    record.update(fields(job.combined, VIDEO_FIELDS), shots=job.shots)
    record["tasks"] = [dict(fields(task, TASK_FIELDS), **fields(task.video, VIDEO_FIELDS)) for task in job.tasks]
    return record


def typed(entry: Mapping[str, Any], key: str, kind: Any) -> Any:
    """entry[key] when it has the JSON type wanted (a number for float), else None."""
    value = entry.get(key)
    value = float(value) if kind is float and isinstance(value, int) and abs(value) < 10**300 else value
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def job_from_record(data: Any, path: str) -> Job:
    """A job from its record, each field checked for its type."""

    def fields(entry: Mapping[str, Any], table: Fields) -> Dict[str, Any]:
        return {attr: typed(entry, key, kind) for key, attr, kind in table if typed(entry, key, kind) is not None}

    unusable = "the job record %s is not usable: %s"
    data = data if isinstance(data, dict) else {}
    entries = objects_in(data.get("tasks"))
    tasks = [dict(fields(entry, TASK_FIELDS), video=Video(**fields(entry, VIDEO_FIELDS))) for entry in entries]
    job = fields(data, [("jobId", "job_id", str), ("baseUrl", "base_url", str), ("submittedAt", "submitted_at", str)])
    if len(job) < 3 or not isinstance(data.get("tasks"), list) or len(tasks) != len(data["tasks"]):
        raise usage_error(unusable % (path, "it lacks its jobId, baseUrl, submittedAt or tasks"), RECORD_HINT)
    if not re.fullmatch(JOB_ID_FORM, job["job_id"]):  # it names files: a NUL, or "mp4" (holiday.mp4.part is not ours)
        raise usage_error(unusable % (path, "its jobId is not one this program makes"), RECORD_HINT)
    if not all(id_text(task.get("shot_id")) and id_text(task.get("task_id")) for task in tasks):
        raise usage_error(unusable % (path, "a task lacks its shotId or taskId"), RECORD_HINT)
    if not tasks and data.get("status") not in ("submitting", "unknown"):
        raise usage_error(unusable % (path, "it names no task"), RECORD_HINT)
    for task in tasks:
        task["status"] = task["status"] if task.get("status") in ("completed", "failed") else "processing"
    job["resolution"] = data["resolution"] if data.get("resolution") in RESOLUTIONS else "720p"
    found = Job(tasks=[Task(**t) for t in tasks], job_file=path, combined=Video(**fields(data, VIDEO_FIELDS)), **job)
    for video in [*(task.video for task in found.tasks), found.combined]:  # a path this program never saves to
        video.file = video.file if (video.file or "").isprintable() else None
        video.validator = video.validator if re.fullmatch("[ -~]+", video.validator or "") else None  # as HTTP sends
    found.shots = data["shots"] if isinstance(data.get("shots"), list) else []
    found.status = data["status"] if data.get("status") in ("submitting", "unknown") else job_status(found.tasks)
    found.finished_at, found.error = typed(data, "finishedAt", str), typed(data, "error", str)
    return found


def save_record(job: Job) -> None:
    """Write the job record atomically (temporary file, fsync, rename), owner-only, the key hidden; OSError if not."""
    import tempfile

    if not job.job_file:
        return
    path = os.path.realpath(job.job_file) if os.path.islink(job.job_file) else job.job_file  # --job link.json stays
    keep_saved_videos(job, path)
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=os.path.dirname(path))  # 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(dump_json(job_to_record(job)) + "\n")  # compact: indented, deep shots made 30 MB of 1
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary) if os.path.exists(temporary) else None
        raise


def keep_saved_videos(job: Job, path: str) -> None:
    """Take in what another run of this job recorded meanwhile, that this run has not: a name claimed, a video saved."""
    with suppress(OSError, ValueError, VeoError):  # no record yet (a submit), or one this run will replace
        found = job_from_record(parse_answer(read_regular_file(path, MAX_RECORD_BYTES)), path)
        theirs = {task.task_id: task.video for task in found.tasks} if found.job_id == job.job_id else {}
        pairs = [(task.video, theirs.get(task.task_id, Video())) for task in job.tasks]
        for ours, saved in [*pairs, (job.combined, found.combined)] if theirs else []:
            ours.file = ours.file or saved.file  # a name another run claimed for it meanwhile stays its name
            whole = saved.file and os.path.isfile(saved.file) and os.path.getsize(saved.file) == saved.size
            if saved.sha256 and whole and not ours.sha256 and ours.file == saved.file:
                ours.file, ours.size, ours.sha256 = saved.file, saved.size, saved.sha256


def load_record(path: str) -> Job:
    """Read a job record from a path, or a clear error."""
    try:
        return job_from_record(parse_answer(read_regular_file(path, MAX_RECORD_BYTES)), path)
    except (OSError, ValueError) as exc:
        text = "the job record %s could not be read (%s)" % (path, clean_line(str(exc), 100))
        text = "there is no job record at %s" % path if isinstance(exc, FileNotFoundError) else text
        raise usage_error(text, "status --list shows the saved jobs")


def list_records(rt: Runtime) -> List[Tuple[str, Optional[Dict[str, Any]], str]]:
    """Every job record as (path, its JSON or None when unreadable, the time it sorts by), newest first."""
    folder = jobs_dir(rt)
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".json") and not name.startswith(".")]
    except OSError:
        return []
    found = []
    for path in (os.path.join(folder, name) for name in names):
        data = None
        with suppress(OSError, ValueError):
            data = parse_answer(read_regular_file(path, MAX_RECORD_BYTES))
        usable = isinstance(data, dict) and typed(data, "jobId", str) and typed(data, "submittedAt", str)
        data = data if usable else None
        try:  # an unreadable record sorts by its file's time: the newest is said to be unreadable, not skipped
            found.append((path, data, data["submittedAt"] if data else utc_iso(os.lstat(path).st_mtime)))
        except OSError:
            continue
    return sorted(found, key=lambda item: (item[2], os.path.basename(item[0])), reverse=True)


def find_record_for_tasks(tasks: Sequence[Task], origin: str, rt: Runtime) -> Optional[Job]:
    """A saved job of this API origin with exactly these task IDs, so that status --task-ids-json reuses its record."""
    wanted = sorted(task.task_id for task in tasks)
    for path, data, _ in list_records(rt):
        entries = objects_in(data.get("tasks")) if data and data.get("baseUrl") == origin else []
        if sorted(str(entry.get("taskId")) for entry in entries) == wanted:
            with suppress(VeoError):  # unusable: another may be
                return job_from_record(data, path)
    return None


# ---- Downloads ----


@dataclass
class SavedVideo:
    """A video on disk: where, how big, its SHA-256; `skipped` when this job had saved it before."""

    path: str
    size: int
    sha256: str
    seconds: float = 0.0
    skipped: bool = False
    part: str = ""  # the part file, linked to `path` too: removed once the record says the video is saved


def file_sha256(path: str) -> str:
    """The SHA-256 of a file on disk, hashed as a part file taken up again is."""
    with open(path, "rb") as handle:
        return PartialFile(handle).digest.hexdigest()


def named_as_ours(path: str, folder: str, stem: str, extension: str) -> bool:
    """True when a recorded path is a name this program gives: <stem>[-N]<ext> in `folder`, not .bashrc nor a part."""
    ours = re.escape(stem) + r"(-[0-9]+)?" + re.escape(extension)
    return os.path.dirname(path) == folder and bool(re.fullmatch(ours, os.path.basename(path)))


def saved_here(video: Video, folder: str, stem: str, extension: str) -> bool:
    """True when this job's record says it saved this video in `folder`, and the file is still what it saved."""
    path = video.file or ""
    try:
        same = video.sha256 and named_as_ours(path, folder, stem, extension) and os.path.getsize(path) == video.size
        return bool(same and os.path.isfile(path) and file_sha256(path) == video.sha256)
    except OSError:
        return False


def open_part(part: str, reuse: bool) -> Optional[IO[bytes]]:
    """A part file, created (with `reuse`, taken up again) and locked; None when it is not ours to take."""
    flags = os.O_RDWR | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:  # not mkstemp: a video gets the user's usual permissions (umask), not 0600
        descriptor = os.open(part, flags | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        try:
            descriptor = os.open(part, flags) if reuse else -1
        except OSError:  # a link (ELOOP: what it points at is not the job's), a folder
            descriptor = -1
    handle = os.fdopen(descriptor, "r+b", buffering=0) if descriptor >= 0 else None  # on disk, even if killed
    try:
        if handle is None or not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise OSError("not a regular file")
        if sys.platform == "win32":  # the OS's lock, freed however the process ends: a part nobody holds is a leftover
            import msvcrt

            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        if os.fstat(handle.fileno()).st_nlink > 1:  # a whole video a stopped run named, and the name moved since:
            handle.close()  # it is the user's now; this name is dropped and the video fetched anew
            os.unlink(part)
            return open_part(part, reuse=False)
        return handle
    except OSError as exc:  # another run is writing it right now
        no_locks = exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS)  # NFS without lockd
        if no_locks and handle is not None and os.fstat(handle.fileno()).st_nlink == 1:  # never a user's video
            return handle  # a disk with no locks: the part is taken, unlocked
        handle.close() if handle is not None else None
        return None


def claim_file(
    folder: str, stem: str, extension: str, job_id: str, claimed: Optional[str], record: Callable[[str], None]
) -> Tuple[str, Optional[IO[bytes]]]:
    """A name for a video that nothing else uses, claimed by this job's part file beside it; and the part, locked."""
    own = part_name(claimed or "", job_id)
    if claimed and named_as_ours(claimed, folder, stem, extension):  # a record names no other file: not .bashrc
        if not os.path.lexists(claimed) and os.path.basename(claimed) not in claimed_by_others(folder, own):
            handle = open_part(own, reuse=True)
            if handle is not None:
                return claimed, handle
        elif os.path.isfile(own) and not os.path.islink(own) and os.path.samefile(own, claimed):
            return claimed, None  # one file under both names: a run of this job named it, whole, and was stopped
    taken = claimed_by_others(folder)
    for number in range(1, 10000):
        path = os.path.join(folder, numbered_name(stem, extension, number))
        if not (os.path.lexists(path) or os.path.basename(path) in taken):
            record(path)  # before the part is made: a resume always finds a killed run's part again
            handle = open_part(part_name(path, job_id), reuse=False)
            if handle is not None:
                return path, handle
    raise VeoError("DOWNLOAD_FAILED", "no free file name for %s in %s" % (stem + extension, folder))


def place_file(first: str, part: str, stem: str, extension: str, handle: IO[bytes]) -> str:
    """Give a finished part file its name without replacing anything: `first`, else the next free name."""
    folder = os.path.dirname(first)
    taken = claimed_by_others(folder, part)
    for number in range(1, 10000):
        path = os.path.join(folder, numbered_name(stem, extension, number)) if number > 1 else first
        if path != first and os.path.basename(path) in taken:
            continue  # another video's claim
        try:
            if os.name == "nt":
                handle.close()  # Windows renames no open file, and refuses to replace one
                os.rename(part, path)
                return path
            # link refuses to replace: a file put there meanwhile stays. The part stays too (one file, two names)
            # until the record says the video is saved: a run killed in between leaves that proof for the resume.
            os.link(part, path)
        except FileExistsError:
            continue
        except OSError as exc:  # no hard links on this disk (FAT, some shares): the nearest thing
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
                raise
            if os.path.lexists(path):
                continue
            os.rename(part, path)
        return path
    raise VeoError("DOWNLOAD_FAILED", "no free file name for %s in %s" % (stem + extension, folder))


class PartialFile:
    """The part file a video grows in, with its running SHA-256; what a stopped run left is counted in."""

    def __init__(self, handle: IO[bytes], keep: bool = True) -> None:
        """Take up the open part file, hashing the bytes already in it (unless they are not to be kept)."""
        self.handle = handle
        self.expected: Optional[int] = None
        self.restart(keep)

    def restart(self, keep: bool = False) -> None:
        """Throw away what was written (with `keep`, count it in instead)."""
        import hashlib

        if not keep and self.handle.seek(0, os.SEEK_END):  # not when empty: ext4 writes a file truncated to
            self.handle.truncate(0)  # nothing out to disk whole as it is closed (auto_da_alloc): 0.1 s for 256 MiB
        self.handle.seek(0)
        self.digest, self.have = hashlib.sha256(), 0
        for block in iter(lambda: self.handle.read(DOWNLOAD_CHUNK), b""):
            self.digest.update(block)
            self.have += len(block)

    def write(self, chunk: bytes) -> None:
        """Append a chunk and count it (copy_body hashes it); a disk taking part of it is an error, not a short file."""
        view = memoryview(chunk)
        while view:  # an unbuffered write may take fewer bytes than given: a full disk does
            written = self.handle.write(view)
            if not written:
                raise OSError(28, "No space left on device")
            view = view[written:]
        self.have += len(chunk)


def copy_body(response: Any, part: PartialFile, cancelled: Callable[[], bool]) -> None:
    """Copy a body into the part file, each chunk hashed in a second thread while the next is read; memory flat."""
    import queue
    import threading

    chunks: queue.Queue[Optional[bytes]] = queue.Queue(maxsize=4)

    def hash_chunks() -> None:
        for chunk in iter(chunks.get, None):
            part.digest.update(chunk)

    hasher = threading.Thread(target=hash_chunks, name="veo-hash", daemon=True)
    hasher.start()
    try:
        while not cancelled():
            chunk = response.read1(DOWNLOAD_CHUNK)
            if not chunk:
                break
            try:
                part.write(chunk)
            except OSError as exc:  # the disk's fault, not the network's: not tried again
                raise VeoError("DOWNLOAD_FAILED", "the video could not be written to disk (%s)" % exc.strerror)
            chunks.put(chunk)
    finally:
        chunks.put(None)
        hasher.join()


@dataclass
class Fetcher:
    """How videos are fetched: the opener, the timeout of each read, the User-Agent; `cancelled` stops a fetch."""

    opener: Callable[[Any, float], Any]
    timeout: float
    user_agent: str
    cancelled: Callable[[], bool] = lambda: False
    log: Callable[[str], None] = lambda line: None
    sleep: Callable[[float], None] = time.sleep
    local: bool = False  # links to this machine are fetched: the API is on it too

    def save(self, video: Video, path: str, part_path: str, handle: IO[bytes], stem: str, extension: str) -> SavedVideo:
        """Fetch into the claimed part file (resuming it), check it, name it; a part no run could resume is removed."""
        started, outcome, problem, url = time.monotonic(), "retry", "", video.url or ""
        try:
            part = PartialFile(handle, keep=bool(video.validator))  # else a stopped run's bytes of an unnamed video
            for attempt in range(DOWNLOAD_TRIES):
                self.sleep(min(0.25 * 2**attempt, 4.0) if attempt else 0)
                outcome, problem = self.fetch_once(video, part)
                if outcome != "retry" or self.cancelled():
                    break
            if outcome == "done":  # named while the part is still locked: no other run takes it up meanwhile
                final = place_file(path, part_path, stem, extension, handle)
                return SavedVideo(final, part.have, part.digest.hexdigest(), time.monotonic() - started, part=part_path)
        except OSError as exc:
            outcome, problem = "fatal", "the video could not be written to disk (%s)" % (exc.strerror or exc)
        finally:
            handle.close()  # and with it the lock
        if os.path.isfile(part_path) and (outcome == "fatal" or not os.path.getsize(part_path)):
            os.unlink(part_path)  # nothing a later run could resume from
        raise VeoError("DOWNLOAD_FAILED", "%s: %s" % (clean_line(url_without_query(url), 200), problem))

    def fetch_once(self, video: Video, part: PartialFile) -> Tuple[str, str]:
        """One GET (ranged when resuming): ("done" | "retry" | "fatal" | "stopped", what went wrong)."""
        import urllib.request

        url = video.url or ""
        request = urllib.request.Request(url, headers={"User-Agent": self.user_agent, "Accept": "*/*"})
        if part.have:
            request.add_header("Range", "bytes=%d-" % part.have)
            if video.validator:  # the part's bytes came with it: the rest is sent only if the video is still that one
                request.add_header("If-Range", video.validator)
        started = time.monotonic()
        try:
            with open_any_status(self.opener, request, self.timeout) as response:
                status, headers = response.getcode(), response.headers
                self.log("GET %s -> %d (%.2f s)" % (url_without_query(url), status, time.monotonic() - started))
                size, kind = (headers.get("Content-Length") or "").strip(), (headers.get("Content-Type") or "").lower()
                if 300 <= status < 400:  # urllib hands a 3xx back when it will not follow it
                    problem = video_link_problem(headers.get("Location"), self.local)
                    problem = problem or "more than %d times" % DOWNLOAD_REDIRECTS
                    return "fatal", "the video link redirected: %s" % problem.replace("fetched", "followed")
                if status not in (200, 206):
                    part.restart() if status == 416 else None
                    fatal = 400 <= status < 500 and status not in (408, 416, 429)
                    return ("fatal" if fatal else "retry"), "the video link answered HTTP %d" % status
                if any(word in kind for word in ("text/", "json", "xml", "html")):
                    return "fatal", "the video link answered with %s, not a video" % clean_line(kind.split(";")[0], 40)
                resumed = re.match(r"bytes (\d+)-\d*/(\d+|\*)", headers.get("Content-Range") or "")  # 206 only
                if status == 200 or not resumed or int(resumed.group(1)) != part.have:
                    part.restart()  # a 200 is the whole video, from the start
                    if status == 206:
                        return "retry", "the server resumed at the wrong place"
                total = int(resumed.group(2)) if resumed and status == 206 and resumed.group(2) != "*" else None
                part.expected = total if total is not None or not size.isdecimal() else part.have + int(size)
                video.validator = headers.get("ETag") or headers.get("Last-Modified")  # the record keeps it
                copy_body(response, part, self.cancelled)
        except VeoError as err:
            return "fatal", err.message
        except Exception as exc:  # URLError, OSError, http.client's IncompleteRead and kin
            return "retry", network_failure(exc, url).message
        return self.verdict(part)

    def verdict(self, part: PartialFile) -> Tuple[str, str]:
        """Whether what arrived is the whole video: counted (urllib does not notice a body cut short), not a page."""
        if self.cancelled():
            return "stopped", "stopped"
        if part.expected is not None and part.have != part.expected:  # cut short, even before its first byte
            part.restart() if part.have > part.expected else None
            return "retry", "the download stopped at %d of %d bytes" % (part.have, part.expected)
        part.handle.seek(0)
        head = part.handle.read(4096)
        box = int.from_bytes(head[:4], "big")  # an MP4 or MOV box's size: "The free trial ended" is no box
        if (head[4:8] in VIDEO_BOXES and (box == 1 or 8 <= box <= part.have)) or VIDEO_MAGIC.match(head):
            return "done", ""
        # Anything else is not saved as a video: a page or an error in any encoding, compressed, or empty.
        what = "an empty body" if not head.strip() else "something that does not start as a video (a page or an error)"
        return "fatal", "the video link answered with %s" % what


def prepare_download_dir(folder: str) -> str:
    """The download folder, absolute, created and shown writable before anything is sent."""
    import tempfile

    folder = os.path.abspath(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise usage_error("videos cannot be saved in %s (%s)" % (folder, exc.strerror or exc), "name another folder")
    return folder


class Downloader:
    """Saves videos in daemon threads (Ctrl-C stops at once; parts stay for a resume); the main thread records them."""

    def __init__(self, folder: str, job: Job, session: Session) -> None:
        import queue
        import threading
        from urllib.parse import urlsplit

        self.folder, self.job, self.session, opts = folder, job, session, session.opts
        local = is_loopback_host(urlsplit(job.base_url).hostname or "")  # a local API: its links may be local
        self.todo: queue.Queue[Optional[Tuple[str, Video, str, str, IO[bytes], str, str]]] = queue.Queue()
        self.done: queue.Queue[Tuple[str, Video, Union[SavedVideo, str]]] = queue.Queue()  # saved, or why not
        self.stop, self.pending = threading.Event(), 0  # pending: started, not yet collected
        self.workers: List[threading.Thread] = []
        self.started: Dict[int, Optional[str]] = {}  # the link each video's last try began with
        self.failed: Dict[int, str] = {}  # the videos not saved (by id), and how they are named
        rt, log = session.rt, session.reporter.http
        self.fetcher = Fetcher(rt.download_open, opts.timeout, opts.user_agent, self.stop.is_set, log, rt.sleep, local)

    def start_ready(self) -> None:
        """Start saving each video that can be saved now and was not started: completed shots, then the combined one."""
        import threading

        ended = job_status(self.job.tasks) in ("completed", "partial")
        videos = [(task.shot_id, task.video, task) for task in self.job.tasks]  # the shots', then the combined one
        for name, video, task in [*videos, (self.job.job_id, self.job.combined, None)]:
            ready = task.status == "completed" if task else ended and video.url
            tried = id(video) in self.started
            again = not tried or (video.error and self.started[id(video)] != video.url)
            if not (ready and again):  # a failed one is tried again when the service gives it a new link
                continue
            self.started[id(video)] = video.url
            self.pending += 1
            problem = video_link_problem(video.url, self.fetcher.local)
            stem, extension = safe_file_stem(redact(name)), video_extension(video.url)  # a name never holds the key
            if problem or saved_here(video, self.folder, stem, extension):
                self.done.put((name, video, problem or SavedVideo(video.file or "", video.size or 0, "", skipped=True)))
                continue
            video.size, video.sha256, video.error = None, None, None

            def record(path: str, video: Video = video) -> None:
                video.file = path
                self.session.save(self.job)

            try:
                path, handle = claim_file(self.folder, stem, extension, self.job.job_id, video.file, record)
                if handle is None:  # a stopped run had given it this name
                    self.done.put((name, video, SavedVideo(path, os.path.getsize(path), file_sha256(path))))
                else:
                    handle.truncate(0) if tried else None  # what another link gave may start another file: byte 0
                    self.todo.put((name, video, path, part_name(path, self.job.job_id), handle, stem, extension))
                    if len(self.workers) < min(self.session.opts.download_workers, self.pending):
                        self.workers.append(threading.Thread(target=self.work, name="veo-download", daemon=True))
                        self.workers[-1].start()
            except OSError as exc:  # the folder became unwritable or full meanwhile
                self.done.put((name, video, "no file could be made in %s (%s)" % (self.folder, exc.strerror or exc)))

    def work(self) -> None:
        """A background thread: save the videos from the queue, one after another."""
        for name, video, path, part, handle, stem, extension in iter(self.todo.get, None):
            try:
                self.done.put((name, video, self.fetcher.save(video, path, part, handle, stem, extension)))
            except Exception as exc:  # a VeoError says why; anything else is a bug, which must not hang the run
                why = exc.message if isinstance(exc, VeoError) else "%s: %s" % (type(exc).__name__, exc)
                self.done.put((name, video, why))

    def close(self, seconds: float = 1.0) -> None:
        """Stop every download, giving each up to `seconds` in all to leave its part file whole for a resume."""
        self.stop.set()
        for _ in self.workers:
            self.todo.put(None)
        end = time.monotonic() + seconds
        for worker in [worker for worker in self.workers if worker.is_alive()]:  # a Ctrl-C may cut a start() short
            worker.join(max(0.0, end - time.monotonic()))

    def sweep(self) -> None:
        """Remove this job's part files that no run holds: once its videos are saved, what killed runs left."""
        for name in [name for name in os.listdir(self.folder) if name.endswith(".%s.part" % self.job.job_id)]:
            handle = open_part(os.path.join(self.folder, name), reuse=True)  # None: a run is writing it
            if handle is not None:
                handle.close()
                os.unlink(os.path.join(self.folder, name))

    def collect(self, until: Optional[float] = None) -> Iterator[Tuple[str, Video, Union[SavedVideo, str]]]:
        """Finished downloads as (name, video, saved or why not); with `until` (a clock time), wait till then."""
        import queue

        while self.pending:
            try:
                item = self.done.get(timeout=0.2) if until is not None else self.done.get_nowait()
            except queue.Empty:
                if until is None or self.session.rt.clock() >= until:
                    return
                continue
            self.pending -= 1
            yield item


# ---- Progress display (stderr) and output (stdout) ----


class Reporter:
    """People's text on stderr: lines, each one clean line, and on a terminal a live block redrawn in place."""

    def __init__(self, stream: Optional[IO[str]], quiet: bool, verbose: bool, live: bool) -> None:
        self.stream, self.quiet, self.verbose, self.live = stream, quiet, verbose and not quiet, live and not quiet
        self.block: List[str] = []
        self.warned: Set[str] = set()

    def write(self, *lines: str, media: bool = False, exact: bool = False) -> None:
        """People's lines, even --quiet: printable, no key, whole; `exact`: ours as given; MEDIA: only if `media`."""
        shown = [clean_line(line, 10**5, exact or media) for line in lines]
        self.draw([" " + line if line.startswith("MEDIA:") and not media else line for line in shown])

    def draw(self, lines: Sequence[str], block: Optional[List[str]] = None) -> None:
        """Write lines above the live block, or draw the block anew: the one place that moves the cursor."""
        text = "\x1b[%dA\r\x1b[J" % len(self.block) if self.block else ""
        self.block = self.block if block is None else block
        with suppress(AssertionError, AttributeError, OSError, RuntimeError, ValueError):  # closed, ended, a signal
            assert self.stream is not None
            self.stream.write(text + "".join(line + "\n" for line in list(lines) + self.block))
            self.stream.flush()

    def info(self, *lines: str, exact: bool = False) -> None:
        """Lines for people, unless --quiet."""
        if not self.quiet:
            self.write(*lines, exact=exact)

    def warn(self, text: str, loud: bool = False) -> None:
        """A warning, unless --quiet (unless `loud`); only the first time."""
        if (loud or not self.quiet) and text not in self.warned:
            self.warned.add(text)
            self.write("warning: " + text)

    def http(self, text: str) -> None:
        """One line per HTTP exchange with --verbose."""
        if self.verbose:
            self.write("http: " + text)

    def error(self, err: VeoError) -> None:
        """error: <what>, the details, then hint: <how to fix>; always shown."""
        details = ["  - %s" % d for d in err.details[:30] if isinstance(d, str)] if len(err.details) > 1 else []
        self.write("error: " + err.message, *details, *(["hint: " + err.hint] if err.hint else []))

    def shots(self, job: Job, elapsed: float, changed: Sequence[Task]) -> None:
        """Show shot states: redraw the live block, or one plain line per change."""
        if self.quiet:
            return
        times = shot_times(job.tasks, elapsed)
        if not self.live:
            for task in changed:
                state, took = display_state(task), times[job.tasks.index(task)]
                suffix = " in %s" % format_duration(took) if task.finished and took is not None else ""
                reason = ": %s" % task.error if state == "failed" and task.error else ""
                self.write("[%s] %s: %s%s%s" % (format_duration(elapsed), task.shot_id, state, suffix, reason))
            return
        width = min(max(len(task.shot_id) for task in job.tasks), 24)
        done = sum(task.status == "completed" for task in job.tasks)
        head = (clean_line(job.job_id), done, len(job.tasks), format_duration(elapsed))
        lines = ["job %s  %d/%d done  %s elapsed" % head]
        for task, took in zip(job.tasks, times):
            state = display_state(task)
            shown = "\x1b[%sm%s\x1b[0m" % (COLORS[state], state.ljust(7))
            note = format_duration(took) if took is not None else ""
            note = (note + "  " + task.error)[:60] if state == "failed" and task.error else note
            lines.append("  %s  %s  %s" % (clean_line(task.shot_id, 24).ljust(width), shown, clean_line(note)))
        columns, rows = terminal_size(self.stream)
        cells = [sum(1 + (ord(c) > 0x10FF) for c in re.sub("\x1b\\[[0-9;]*m", "", line)) for line in lines]  # wide: 2
        if rows and (len(lines) >= rows or max(cells) >= columns):  # it would wrap, or rise above the screen's top
            self.block, self.live = [], False  # so it cannot be redrawn in place: a line per change from now on
            return self.shots(job, elapsed, changed)
        self.draw([], lines)

    def end_live(self) -> None:
        """Leave the live block on screen as it is."""
        self.block = []


class Output:
    """stdout: NDJSON stages, one JSON document (--json-only), or a table on a terminal."""

    def __init__(self, stream: Optional[IO[str]], *, json_only: bool, human: bool) -> None:
        self.stream, self.json_only, self.human = stream, json_only, human and not json_only
        self.broken, self.used = "", False  # why stdout could not be written; whether a document went to it

    def write(self, text: str) -> None:
        """Write and flush; a stdout that is closed or full is noted, not a crash."""
        try:
            assert self.stream is not None, "standard output is closed"
            self.stream.write(text)
            self.stream.flush()
        except (AssertionError, OSError, ValueError) as exc:
            self.broken = self.broken or clean_line(str(exc) or type(exc).__name__, 120)

    def emit(self, document: Any) -> None:
        """One JSON document on a line of its own."""
        self.used = True
        self.write(dump_json(document) + "\n")

    def stage(self, name: str, payload: Dict[str, Any]) -> None:
        """An NDJSON stage line (not with --json-only or for people)."""
        if not self.json_only and not self.human:  # a progress line: the result (or the error) still follows
            self.write(dump_json(dict({"stage": name}, **payload)) + "\n")

    def final(self, result: Dict[str, Any], table: str = "") -> None:
        """The result or error object, last; a person at a terminal gets `table` instead."""
        if self.json_only or not self.human:
            self.emit(result if self.json_only else {"stage": "result", "result": result})
        elif table:
            self.write(redact(table))  # a dry run's table holds the user's own text: a key they gave stays hidden


def job_table(job: Job, status: str, elapsed: float) -> str:
    """The result as a table for a person at a terminal."""

    def where(video: Video, otherwise: str = "") -> str:
        return (video.file if video.sha256 else None) or url_without_query(video.url or "") or otherwise

    rows = [("SHOT", "STATUS", "TIME", "FILE OR URL")]
    for task, took in zip(job.tasks, shot_times(job.tasks, elapsed)):
        shot = clean_line(task.shot_id, 32)
        rows.append((shot, task.status, format_duration(took), where(task.video, task.error or "")))
    rows += [("(combined)", "", "", where(job.combined))] if job.combined.url or job.combined.sha256 else []
    cells = [[clean_line(cell, 500) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(3)]
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3] for row in cells]
    head = "job %s: %s after %s" % (clean_line(job.job_id), status, format_duration(elapsed))
    return "\n".join([head] + [line.rstrip() for line in lines]) + "\n"


# ---- Commands ----


@dataclass
class Session:
    """One run: its options, its machine, and its ways to talk."""

    opts: Options
    rt: Runtime
    reporter: Reporter
    output: Output
    saved: bool = False  # the job record says what this run knows
    keys: List[str] = field(default_factory=list)  # the keys it hides (its own list: run() lets them go as it ends)

    def deadline(self, shot_count: int) -> float:
        """When --max-wait (by default 1800 s, or 300 s a shot) runs out, counted from now."""
        return self.rt.clock() + (self.opts.max_wait or max(DEFAULT_MAX_WAIT, MAX_WAIT_PER_SHOT * shot_count))

    def resume_command(self, job: Job) -> str:
        """The command that finishes this job from where it stands, with this run's own flags, quoted for the shell."""
        state = self.rt.environ.get("VEO_3_1_STATE_DIR") or self.rt.environ.get("XDG_STATE_HOME") or self.rt.home
        by_id = job.job_file == os.path.join(jobs_dir(self.rt), job.job_id + ".json") and os.path.isabs(state)
        ref = job.job_id if by_id else job.job_file  # a relative state folder names another folder elsewhere
        tasks = json.dumps([{"shotId": t.shot_id, "taskId": t.task_id} for t in job.tasks])
        which = ["--job", ref] if self.saved else ["--resolution", job.resolution, "--task-ids-json", tasks]
        words = [*self.rt.program, "status", *which, "--follow", *self.opts.resume_flags]
        if os.name == "nt":  # for cmd.exe and PowerShell both: "..." around a word with other characters (R&D, O'Brien)
            quoted = ['"%s"' % re.sub(r'(\\*)("|\Z)', r"\1\1\2", w).replace('"', '\\"') for w in words]  # MS C rules
            return " ".join(w if re.fullmatch(r"[\w\\/:.=+-]+", w) else q for w, q in zip(words, quoted))
        import shlex

        note = "  # add --api-key KEY: it is never repeated" if self.opts.key_on_line else ""  # a shell skips it
        return " ".join(shlex.quote(word) for word in words) + note

    def save(self, job: Job) -> None:
        """Update the job record; if it cannot be written now, say so and go on (the task IDs are in the output)."""
        try:
            save_record(job)
            self.saved = bool(job.job_file)
        except OSError as exc:
            self.saved = False
            text = "the job record %s could not be updated (%s)" % (job.job_file, exc.strerror or exc)
            self.reporter.warn(text, loud=True)


def read_shots_source(args: argparse.Namespace, rt: Runtime) -> Any:
    """The raw shots from --shots-json, --shots-file or --prompt (argparse lets exactly one through)."""
    hint = "give exactly one of --shots-json JSON, --shots-file PATH (- for standard input), --prompt TEXT"
    prompt_only = ("--generation-type", "--aspect-ratio", "--image-url", "--shot-id")
    given = [flag for flag in prompt_only if getattr(args, flag[2:].replace("-", "_")) is not None]
    if args.prompt is None and given:
        raise usage_error("%s only goes with --prompt" % ", ".join(given), hint)
    if args.prompt is not None:
        shot = {"id": "shot-1" if args.shot_id is None else args.shot_id, "prompt": args.prompt}  # "" is refused
        shot.update(aspectRatio=args.aspect_ratio or "16:9", generationType=args.generation_type or "TEXT_2_VIDEO")
        return [dict(shot, imageUrls=args.image_url) if args.image_url else shot]
    if args.shots_json is not None:
        return load_user_json(args.shots_json, "--shots-json", hint)
    where = "on standard input" if args.shots_file == "-" else args.shots_file
    try:
        if args.shots_file == "-" and rt.stdin is None:
            raise OSError("standard input is closed")
        with open(args.shots_file, "rb") if args.shots_file != "-" else nullcontext(rt.stdin) as stream:
            data = getattr(stream, "buffer", stream).read(MAX_FILE_BYTES + 1) or b""  # type: ignore[union-attr]
        if len(data) > MAX_FILE_BYTES:
            raise OSError("over 1 MiB: prompts are text, not files")
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")  # not the locale's
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        reason = clean_line(getattr(exc, "strerror", None) or str(exc), 120)
        raise usage_error("the shots file %s could not be read (%s)" % (where, reason), hint)
    return load_user_json(text, "the shots file %s" % where, hint)


def cmd_submit(args: argparse.Namespace, session: Session) -> int:
    """submit: validate; print the request (--dry-run) or record the job, send generate, and follow when asked."""
    opts, rt, reporter = session.opts, session.rt, session.reporter
    shots, warnings = validate_shots(read_shots_source(args, rt), args.resolution)
    for warning in warnings:
        reporter.warn(warning)
    count, per_shot = len(shots), CREDITS_PER_SHOT[args.resolution]
    cost = {"shots": count, "seconds": count * SECONDS_PER_SHOT, "credits": count * per_shot}
    if args.max_credits is not None and cost["credits"] > args.max_credits:
        text = "the job would cost %d credits, over --max-credits %d" % (cost["credits"], args.max_credits)
        raise usage_error(text, "use fewer shots or 720p, or raise --max-credits; nothing was sent")
    base_url = api_origin(args.base_url, rt)
    summary = "%d shot(s) at %s, %d s of video, %d credits" % (count, args.resolution, cost["seconds"], cost["credits"])
    body = {"shots": [shot.to_api() for shot in shots], "resolution": args.resolution}
    if args.dry_run:
        headers = dict(request_headers(opts.user_agent), Authorization="Bearer ***")
        request = {"method": "POST", "url": base_url + GENERATE_PATH, "headers": headers, "body": body}
        reporter.info("dry run: %s; nothing was sent" % summary)
        table = "dry run: POST %s\n%s; nothing was sent\n%s\n" % (request["url"], summary, json.dumps(body, indent=2))
        session.output.final({"status": "dry-run", "request": request, "estimate": cost}, table)
        return EXIT_OK
    api = Api(base_url, find_api_key(args.api_key, session), opts, rt, reporter.http, reporter.warn)
    now, made = rt.wall(), False  # made: the --job-file, by this run
    job = Job(new_job_id(now), base_url, args.resolution, utc_iso(now), [], body["shots"], status="submitting")
    job.job_file = os.path.abspath(args.job_file or os.path.join(jobs_dir(rt), job.job_id + ".json"))
    try:
        if args.job_file:  # made exclusively: two runs given one --job-file never share it
            os.makedirs(os.path.dirname(job.job_file), mode=0o700, exist_ok=True)
            os.close(os.open(job.job_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            made = True
        save_record(job)  # before anything is sent: a job that may exist always has a record
    except OSError as exc:
        with suppress(OSError):  # the empty file made for it goes too: the name is free for the retry
            os.unlink(job.job_file) if made else None
        if isinstance(exc, FileExistsError) and exc.filename == job.job_file:  # not a file where a folder should be
            text = "--job-file %s already exists; it may be another job's record" % job.job_file
            raise usage_error(text, "name a new file, or leave --job-file out; nothing was sent")
        text = "the job record could not be written to %s (%s); nothing was sent" % (job.job_file, exc.strerror or exc)
        raise VeoError("RECORD_NOT_WRITTEN", text, hint="make its folder writable, or set VEO_3_1_STATE_DIR")
    deadline = session.deadline(count)  # --max-wait bounds the whole run, the submit's tries included
    waiting = "waiting for the service's answer, so that the job is not lost (Ctrl-C again stops at once)"
    with HeldInterrupts(on_hold=lambda: reporter.write(waiting)) as guard:
        send_submit(job, api, guard, session, deadline)  # its tries too: recipe C's short call stays short

        def announce() -> None:
            """Record and tell the job; a Ctrl-C held until now stops the run here (run_job says how to resume)."""
            try:
                session.save(job)
                tasks = [{"shotId": t.shot_id, "taskId": t.task_id} for t in job.tasks]
                stage = {"jobId": job.job_id, "jobFile": job.job_file, "shots": tasks, "response": job.last_response}
                session.output.stage("submitted", stage)
                pairs = "tasks: " + ", ".join("%s=%s" % (t.shot_id, t.task_id) for t in job.tasks)
                where = "job record: " + job.job_file + ("" if session.saved else " (not updated: see the warning)")
                reporter.info("submitted job %s: %s" % (job.job_id, summary), pairs, where)
            finally:
                guard.__exit__()
            if guard.caught:
                raise KeyboardInterrupt

        return run_job(job, api, session, deadline, check_now=False, before=announce)


def send_submit(job: Job, api: Api, guard: HeldInterrupts, session: Session, deadline: Optional[float]) -> None:
    """Send generate and read the job it made into `job`; the record says what became of a submit that made none."""
    shot_ids = [shot["id"] for shot in job.shots]
    try:
        try:
            answer = api.call(GENERATE_PATH, {"shots": job.shots, "resolution": job.resolution}, deadline, guard)
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once, the outcome unknown
            raise outcome_unknown("interrupted while submitting", exit_status=EXIT_INTERRUPTED)
        job.tasks = tasks_from_generate_answer(shot_ids, answer, utc_iso(session.rt.wall()))
        if not job.tasks and isinstance(answer, dict) and status_word_kind(answer.get("status")) == "failed":
            reason = "the job failed at once: " + (error_text_of(answer) or "the service refused the job as a whole")
            hint = "check the prompts and image URLs; failed jobs are refunded"
            raise VeoError("GENERATION_FAILED", reason, EXIT_GENERATION_FAILED, [answer], hint)
        if not job.tasks:
            raise outcome_unknown("the service took the submit, but names no task in: %s" % short_repr(answer, 200))
    except VeoError as err:
        if err.code == "SUBMIT_OUTCOME_UNKNOWN":  # the record is named: it is how the job is found later
            job.status, job.error = "unknown", str(err.details[0])  # why; status says what it may mean
            err.message += "; job %s is recorded in %s" % (job.job_id, job.job_file)
            err.exit_status = EXIT_INTERRUPTED if guard.caught else err.exit_status  # stopped, as asked, after the wait
            session.save(job)
        elif os.path.exists(job.job_file):  # surely refused, or never sent: no job exists, so no record either
            os.unlink(job.job_file)
        raise
    missing = [shot_id for shot_id in shot_ids if shot_id not in [task.shot_id for task in job.tasks]]
    if missing:
        job.error = "the service's answer names no task for %s, which cannot be followed" % ", ".join(missing)
    job.status, job.last_response = job_status(job.tasks), answer


def api_origin(given: Optional[str], rt: Runtime, recorded: str = "") -> str:
    """The API origin: --base-url, else $NANOPHOTO_BASE_URL, else the default; a job record's must agree with it."""
    origin = check_base_url(given or rt.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
    # The key goes only where the user said: a record is a file anyone could hand over, so it never picks the origin.
    if recorded and recorded.rstrip("/") != origin:  # --base-url too: following elsewhere would rewrite the record
        text = "the job was made at %s, but the API origin is %s" % (clean_line(recorded, 200), origin)
        raise usage_error(text, "to follow it there, add --base-url %s (the key is sent there)" % clean_line(recorded))
    return origin


def newest_record(rt: Runtime) -> str:
    """The newest job record's path, for --last; a newest record that cannot be read is said, not skipped."""
    records = list_records(rt)
    if not records:
        raise usage_error("there is no saved job in %s" % jobs_dir(rt), "submit a job first, or use --task-ids-json")
    if records[0][1] is None:
        text = "the newest job record %s cannot be read, so --last does not know the newest job" % records[0][0]
        raise usage_error(text, "name a job with --job (status --list shows them), or move that file away")
    return records[0][0]


def list_entry(path: str, data: Optional[Dict[str, Any]], when: str) -> Dict[str, Any]:
    """One job of status --list: its id, record, time, shots, last known status, and the files it saved."""
    data = data or {"jobId": None, "status": "unreadable"}  # a record that could not be read
    tasks = objects_in(data.get("tasks"))
    files = [item["file"] for item in [*tasks, data] if typed(item, "file", str) and typed(item, "sha256", str)]
    shots = len(tasks) or (len(data["shots"]) if isinstance(data.get("shots"), list) else 0)
    entry = {"jobId": data["jobId"], "jobFile": path, "submittedAt": when, "shots": shots, "status": data.get("status")}
    return dict(entry, files=files)


def cmd_status(args: argparse.Namespace, session: Session) -> int:
    """status: list the saved jobs, or check (and follow) given tasks, a saved job, or the newest one."""
    opts, rt, reporter = session.opts, session.rt, session.reporter
    if args.list:
        session.output.emit([list_entry(*record) for record in list_records(rt)])
        return EXIT_OK
    if args.task_ids_json is not None:
        tasks = parse_task_ids(load_user_json(args.task_ids_json, "--task-ids-json", "give a JSON array of tasks"))
        origin, now = api_origin(args.base_url, rt), rt.wall()
        job = find_record_for_tasks(tasks, origin, rt) or Job(new_job_id(now), origin, "720p", utc_iso(now), tasks)
    else:
        is_path = args.job and (os.sep in args.job or "/" in args.job or args.job.endswith(".json"))
        record = os.path.join(jobs_dir(rt), safe_file_stem(args.job or "") + ".json")  # --job: a path, or a job id
        job = load_record(newest_record(rt) if args.last else os.path.abspath(args.job) if is_path else record)
        if job.status in ("submitting", "unknown"):
            why = job.error or "its submit never got an answer (the run was stopped, or is still waiting)"
            text = "job %s was submitted at %s, but %s; it may exist at the service, and credits may be spent"
            hint = PAY_TWICE_HINT + "; a job found there can be followed with status --task-ids-json"
            raise VeoError("SUBMIT_OUTCOME_UNKNOWN", text % (job.job_id, job.submitted_at, why), hint=hint)
    job.base_url, job.resolution = api_origin(args.base_url, rt, job.base_url), args.resolution or job.resolution
    api = Api(job.base_url, find_api_key(args.api_key, session), opts, rt, reporter.http, reporter.warn)
    return run_job(job, api, session, session.deadline(len(job.tasks)), check_now=True, before=lambda: None)


def run_job(job: Job, api: Api, session: Session, deadline: float, check_now: bool, before: Callable[[], None]) -> int:
    """Check once or follow to the end; save the videos; print the result. Ctrl-C and errors keep the job."""
    opts, rt, reporter = session.opts, session.rt, session.reporter
    import calendar

    job.started = rt.wall()  # unless the record says when it was submitted (and that is not ahead of the clock)
    with suppress(ValueError):
        job.started = min(job.started, calendar.timegm(time.strptime(job.submitted_at, "%Y-%m-%dT%H:%M:%SZ")))
    downloader = Downloader(opts.download, job, session) if opts.download else None
    timed_out, failure = "", None
    try:
        before()  # from here on the job exists: an interrupt at any point keeps it and says how to resume
        if opts.follow:
            timed_out = follow(job, api, session, deadline, downloader)
        elif check_now:  # always ask, even when the record says finished: links expire, and fresh ones come back
            note_answer(job, api.check_status(job, None), session, downloader)
        if downloader is not None:
            downloader.start_ready()
            if not note_downloads(downloader, session, until=deadline) and not timed_out:
                timed_out = "--max-wait ran out while videos were being saved; what is saved stays, the rest resumes"
    except KeyboardInterrupt:
        if not job.job_file:  # tasks no answer named yet: no job to keep
            raise
        with HeldInterrupts():  # stopping takes at most a second: a second Ctrl-C waits for it, a third stops
            if downloader is not None:  # stopped; what finished meanwhile is recorded and told
                downloader.close()
                note_downloads(downloader, session)
            reporter.end_live()
            session.save(job)
            resume = "resume with: " + session.resume_command(job)
            reporter.write("interrupted; the job goes on at the service", resume, exact=True)
            session.output.final(build_result(job, rt.wall() - job.started))
            return EXIT_INTERRUPTED
    except VeoError as err:
        timed_out, failure = (err.message, None) if err.exit_status == EXIT_TIMEOUT else (timed_out, err)
    with HeldInterrupts():  # the work is done: an interrupt now would only cost the user the result, so it waits
        return finish_job(job, session, timed_out, failure, downloader)


def finish_job(
    job: Job, session: Session, timed_out: str, failure: Optional[VeoError], downloader: Optional[Downloader]
) -> int:
    """Save the record, tell people, print the result; the exit status (when not the shots', `failure` says why)."""
    reporter = session.reporter
    reporter.end_live()
    if (failure is not None or timed_out) and not job.job_file:  # tasks no answer named yet: no job to show or resume
        raise failure or VeoError("NETWORK_ERROR", timed_out, EXIT_TIMEOUT, hint="run the same command again later")
    downloader.close() if downloader is not None else None
    session.save(job)
    if downloader and not (downloader.failed or downloader.pending or timed_out or job.status == "processing"):
        with suppress(OSError):  # every video is saved: no part file of this job is needed, once the record says so
            downloader.sweep() if session.saved else None
    elapsed = session.rt.wall() - job.started
    result = build_result(job, elapsed)
    if failure is None and not timed_out and job.error:
        failure = VeoError("BAD_RESPONSE", job.error, hint=PAY_TWICE_HINT)
    if failure is None and not timed_out and downloader is not None and downloader.failed:
        hint = "run the resume command below: it fetches only what is missing"
        names = " and ".join(downloader.failed.values())
        failure = VeoError("DOWNLOAD_FAILED", "%s could not be saved" % names, hint=hint)
    if timed_out:
        result["status"] = "timeout"
        reporter.write("error: " + timed_out)
    else:
        failed = [task for task in job.tasks if task.status == "failed"]
        done = "%d of %d shot(s) completed" % (sum(task.status == "completed" for task in job.tasks), len(job.tasks))
        counts = done + (", %d failed" % len(failed) if failed else "")
        reporter.info("%s: %s (%s since submit)" % (result["status"], counts, format_duration(elapsed)))
        reporter.info(*["  %s failed: %s" % (task.shot_id, task.error) for task in failed])
        if failed:
            reporter.info("hint: failed shots are refunded; fix their prompts or images and submit them again")
    if failure is not None:
        reporter.error(failure)
        result["error"] = failure.to_json()["error"]
    if failure is not None or timed_out:
        reporter.write("resume with: %s" % session.resume_command(job), exact=True)
    elif result["status"] == "processing":
        reporter.info("follow it with: %s" % session.resume_command(job), exact=True)
    session.output.final(result, job_table(job, result["status"], result["elapsedSeconds"]))
    if timed_out or failure is not None:
        return failure.exit_status if failure is not None and not timed_out else EXIT_TIMEOUT
    return EXIT_GENERATION_FAILED if result["status"] in ("failed", "partial") else EXIT_OK


def note_answer(job: Job, answer: Any, session: Session, downloader: Optional[Downloader]) -> None:
    """Fold an answer in; on change: save the record, a progress stage, a line for people; start ready downloads."""
    now = session.rt.wall()
    elapsed = now - job.started
    before = {id(task): task.status for task in job.tasks}
    changed, named = apply_status_answer(job, answer, utc_iso(now), elapsed)
    if not job.job_file and not named:  # status --task-ids-json: a record only for a real job
        text = "the service's answer names none of these tasks: %s" % short_repr(answer, 200)
        raise VeoError("BAD_RESPONSE", text, hint="check the task IDs (status --list shows the saved jobs)")
    job.last_response, job.status = answer, job_status(job.tasks)
    job.finished_at = job.finished_at or (utc_iso(now) if job.status != "processing" else None)
    if changed or not job.job_file:
        job.job_file = job.job_file or os.path.join(jobs_dir(session.rt), job.job_id + ".json")  # known to be a job now
        session.save(job)
    moved = [task for task in changed if before[id(task)] != task.status]  # an outcome, not a change of wording
    if moved:
        shots = [{"shotId": t.shot_id, "status": t.status, "videoUrl": t.video.url, "error": t.error} for t in moved]
        session.output.stage("progress", {"elapsedSeconds": round(elapsed, 1), "shots": shots})
    if changed or session.reporter.live:
        session.reporter.shots(job, elapsed, changed)
    if downloader is not None:
        downloader.start_ready()


def note_downloads(downloader: Downloader, session: Session, until: Optional[float] = None) -> bool:
    """Record and tell finished downloads (saved line and MEDIA:, or the error); True when none is left under way."""
    job, reporter, results = downloader.job, session.reporter, []
    for name, video, saved in downloader.collect(until):  # each told as it comes: a Ctrl-C loses none told
        results.append(saved)
        label = "the combined video" if video is job.combined else name
        if isinstance(saved, str):
            video.error = saved
            downloader.failed[id(video)] = label
            reporter.write("error: could not save %s: %s" % (label, saved))
            continue
        video.file, video.size, video.sha256, video.error = saved.path, saved.size, saved.sha256 or video.sha256, None
        downloader.failed.pop(id(video), None)  # saved at a later try
        verb, took = ("already saved", "") if saved.skipped else ("saved", " in %.2f s" % saved.seconds)
        reporter.info("%s %s: %s (%.1f MB%s)" % (verb, label, saved.path, saved.size / 1e6, took), exact=True)
        reporter.write("MEDIA:" + os.path.abspath(saved.path), media=True)  # agents attach these files to their reply
    if results:
        session.save(job)
    for saved in [item for item in results if not isinstance(item, str) and session.saved]:  # else kept: proof
        part = saved.part or part_name(saved.path, job.job_id)  # recorded: the part, one with the video, can go
        with suppress(OSError):
            os.unlink(part) if os.path.isfile(part) and os.path.samefile(part, saved.path) else None
    return downloader.pending == 0


def follow(job: Job, api: Api, session: Session, deadline: float, downloader: Optional[Downloader]) -> str:
    """Poll (one batched request a round) until every shot finished; why it stopped early, or ""."""
    rt = session.rt
    while True:
        answer = api.check_status(job, deadline)
        if answer is not None:  # None: the round failed after its retries, which costs only time
            note_answer(job, answer, session, downloader)
        if downloader is not None:
            note_downloads(downloader, session)
        if job_status(job.tasks) != "processing":
            return ""
        left = deadline - rt.clock()
        if left <= 0:
            return "--max-wait ran out before every shot finished; the job goes on at the service"
        end = rt.clock() + min(session.opts.poll_interval, left)
        while rt.clock() < end:  # on a terminal, the live block's clock ticks every second meanwhile
            rt.sleep(max(0.0, min(1.0 if session.reporter.live else left, end - rt.clock())))
            if session.reporter.live:
                session.reporter.shots(job, rt.wall() - job.started, [])


# ---- Command line ----

SUBMIT_EXAMPLES = """examples:
  %(prog)s --prompt "a red fox running through fresh snow, golden hour" --follow --download videos/
  %(prog)s --shots-file shots.json --follow --json-only
  %(prog)s --prompt "the photo comes alive" --generation-type REFERENCE_2_VIDEO \\
      --image-url https://example.com/cat.jpg --aspect-ratio 9:16 --dry-run
  cat shots.json | %(prog)s --shots-file - --max-credits 50 --follow

The API key: --api-key, else $NANOPHOTO_API_KEY, else OpenClaw's skills.entries.veo-3-1.apiKey.
"""
STATUS_EXAMPLES = """examples:
  %(prog)s --last --follow --download videos/
  %(prog)s --job 20261124T100000Z-1234f9a1c --follow --json-only
  %(prog)s --task-ids-json '[{"shotId": "shot-1", "taskId": "task_abc123"}]'
  %(prog)s --list
"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that takes no abbreviation and whose errors are VeoErrors (exit 2, JSON on stdout)."""

    def __init__(self, **kwargs: Any) -> None:
        width, kind = terminal_size()[0] - 2, argparse.RawDescriptionHelpFormatter  # given: no shutil (2 ms)
        super().__init__(allow_abbrev=False, formatter_class=lambda prog: kind(prog, width=width), **kwargs)

    def error(self, message: str) -> Any:
        """A usage error, rendered like every other error."""
        raise usage_error(message, "see %s --help" % self.prog)


def terminal_size(stream: Any = None) -> Tuple[int, int]:
    """Columns ($COLUMNS, else the terminal's, else 80: what argparse finds, without shutil) and rows (0: unknown)."""
    columns, size = os.environ.get("COLUMNS", ""), os.terminal_size((80, 0))
    with suppress(AttributeError, ValueError, OSError):  # no terminal, or a stream without a descriptor
        size = os.get_terminal_size((stream or sys.__stdout__).fileno())  # type: ignore[union-attr]
    return (int(columns) if columns.isdecimal() and int(columns) else size.columns), size.lines


def build_parser(prog: str = SKILL_NAME) -> Parser:
    """The command line; `prog` is how the user ran the program, so that the examples in --help paste as they are."""

    def seconds(text: str) -> float:
        with suppress(ValueError):
            if 0 < float(text) <= LONGEST_SECONDS:
                return float(text)
        raise argparse.ArgumentTypeError("%r is not a number of seconds above 0 (like 8 or 0.5)" % text)

    def count(text: str, most: int = 10**6, least: int = 0) -> int:
        if not (text.strip().isdecimal() and least <= int(text) <= most):
            raise argparse.ArgumentTypeError("%r is not a whole number from %d to %d" % (text, least, most))
        return int(text)

    exits = "exit status:" + (__doc__ or "").partition("Exit status:")[2]
    parser = Parser(prog=prog, description="Make videos with NanoPhoto.AI's Veo 3.1 API.", epilog=exits)
    parser.add_argument("--version", action="version", version="%s %s" % (SKILL_NAME, __version__))
    commands = parser.add_subparsers(dest="command", metavar="{submit,status}", required=True)

    def command(name: str, summary: str, examples: str) -> Tuple[Callable[..., Any], Any]:
        """A subcommand with the options both take: its add_argument, and its group of exactly one source."""
        sub = commands.add_parser(name, help=summary, description=summary + ".", epilog=examples + "\n" + exits)
        option = sub.add_argument
        # These first: argparse draws the usage line right only when groups come in the order of their options.
        option("--follow", action="store_true", help="poll until every shot is completed or failed")
        option("--json-only", "--json", action="store_true", help="print exactly one JSON document at the end")
        option("--download", metavar="DIR", help="save the videos of completed shots into DIR")
        option("--poll-interval", type=seconds, metavar="S", help="seconds between checks (default 8)")
        option("--max-wait", type=seconds, metavar="S", help="seconds to follow at most (default 1800, or 300 a shot)")
        option("--timeout", type=seconds, metavar="S", help="seconds one request may take in all (default 60)")
        option("--max-retries", type=count, metavar="N", help="retries of a failed request (default 5)")
        option("--api-key", help="the API key (other users can see it: prefer $%s)" % ENV_API_KEY)
        option("--user-agent", help="the User-Agent header to send")
        option("--base-url", metavar="URL", help="API origin (default $%s or %s)" % (ENV_BASE_URL, DEFAULT_BASE_URL))
        option("--download-workers", type=lambda text: count(text, 32, 1), metavar="N", help="videos saved at once (4)")
        noise = sub.add_mutually_exclusive_group()
        noise.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (errors and MEDIA: stay)")
        noise.add_argument("-v", "--verbose", action="store_true", help="one stderr line per HTTP exchange")
        return option, sub.add_mutually_exclusive_group(required=True)

    option, source = command("submit", "Submit 1-21 shots as one job (and follow it)", SUBMIT_EXAMPLES)
    source.add_argument("--shots-json", metavar="JSON", help="the shots as a JSON array")
    source.add_argument("--shots-file", metavar="PATH", help="a file holding the shots JSON (- for standard input)")
    source.add_argument("--prompt", metavar="TEXT", help="one shot from this prompt")
    option("--generation-type", choices=list(GENERATION_TYPES), help="with --prompt (default TEXT_2_VIDEO)")
    option("--aspect-ratio", choices=ASPECT_RATIOS, help="with --prompt (default 16:9)")
    option("--image-url", action="append", metavar="URL", help="with --prompt; repeatable")
    option("--shot-id", metavar="ID", help="with --prompt (default shot-1)")
    option("--resolution", choices=RESOLUTIONS, default="720p", help="720p (default), 1080p or 4k")
    option("--dry-run", action="store_true", help="print the request and the estimate; send nothing")
    option("--max-credits", type=count, metavar="N", help="refuse a job estimated above N credits")
    option("--job-file", metavar="PATH", help="where to write the job record (a new file)")
    option, source = command("status", "Check the status of tasks or of a saved job (and follow it)", STATUS_EXAMPLES)
    source.add_argument("--task-ids-json", metavar="JSON", help='tasks as [{"shotId": ..., "taskId": ...}]')
    source.add_argument("--job", metavar="JOB", help="a job record's path, or its job id")
    source.add_argument("--last", action="store_true", help="the newest saved job")
    source.add_argument("--list", action="store_true", help="print the saved jobs, newest first; sends nothing")
    option("--resolution", choices=RESOLUTIONS, help="720p (default), 1080p or 4k; with --job/--last the record's")
    return parser


def options_from(args: argparse.Namespace, rt: Runtime) -> Options:
    """The run's Options from its parsed command line: defaults filled in, text checked, the download folder ready."""
    try:
        os.getcwd()  # relative paths are taken from it
    except OSError as exc:
        raise usage_error("the current folder cannot be read (%s)" % exc.strerror, "cd to another; nothing was sent")
    prompt_problem = unsendable_text(getattr(args, "prompt", None) or "")
    agent = any(not (" " <= ch <= "~" or "\xa0" <= ch <= "\xff") for ch in args.user_agent or "")  # as headers go
    agent_problem = "contains a line break, a control character or a character HTTP cannot carry" if agent else None
    for flag, problem in (("--prompt", prompt_problem), ("--user-agent", agent_problem)):
        if problem:
            raise usage_error("%s %s" % (flag, problem), "give it as plain text; nothing was sent")
    for flag in ("--download", "--job-file", "--job"):  # MEDIA: lines and the resume command must name it as it is
        path = getattr(args, flag[2:].replace("-", "_"), None)
        if path is not None and not (path.strip() and os.path.abspath(path).isprintable()):  # "": a shell variable?
            why = "has a control character or a byte that is not UTF-8" if path.strip() else "is empty"
            text = "the %s path %s %s" % (flag, short_repr(path, 300), why)
            raise usage_error(text, "name one whose path is plain text; nothing was sent")
    dry_run = args.dry_run if args.command == "submit" else args.list  # sends nothing, so makes no folder either
    if args.command == "submit" and args.download is not None and not args.follow and not dry_run:
        text = "--download on submit needs --follow (videos exist only once the shots complete)"
        raise usage_error(text, "add --follow, or save them later with: status --job <jobId> --download DIR")
    opts = Options(args.follow, key_on_line=args.api_key is not None)
    flags = opts.resume_flags
    if args.download is not None:
        opts.download = os.path.abspath(args.download) if dry_run else prepare_download_dir(args.download)
        flags += ["--download", opts.download]
    flags += [flag for flag in ("--json-only", "--quiet", "--verbose") if getattr(args, flag[2:].replace("-", "_"))]
    for name in ("poll_interval", "max_wait", "timeout", "max_retries", "download_workers", "user_agent"):
        value = getattr(args, name)
        if value is not None:
            setattr(opts, name, value)
            flag, text = "--" + name.replace("_", "-"), str(value)
            text = text[:-2] if isinstance(value, float) and text.endswith(".0") else text  # 8.0 is said 8
            flags += [flag + "=" + text] if text[:1] == "-" else [flag, text]
    if args.base_url is not None:
        flags += ["--base-url", args.base_url]
    return opts


def run(argv: Optional[Sequence[str]], rt: Runtime) -> int:
    """Parse, run a command, render any error; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, problem, keys = None, None, []  # keys: this run's, hidden until it ends (another run's are its own)
    try:
        args = build_parser(" ".join(rt.program)).parse_args(argv)
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else EXIT_OK
    except VeoError as err:  # a usage error: its form comes from the output flags alone, parsed exactly
        # Only on a line that does not parse: a key after a misspelt flag stays hidden; a prompt's "capital" is not.
        for before, word in zip(["", *argv], argv):
            if key_flag_end(word) or (key_flag_end(before) and word[:1] != "-" and word not in ("submit", "status")):
                keys.append(word[key_flag_end(word) :])  # --api-key=KEY, "--api-key KEY" too: all after the name
        problem, words = err, set(argv)
        quiet, verbose = bool(words & {"-q", "--quiet"}), bool(words & {"-v", "--verbose"})
        args = argparse.Namespace(json_only=bool(words & {"--json-only", "--json"}), quiet=quiet, verbose=verbose)
    keys += [key.strip() for key in (getattr(args, "api_key", ""), rt.environ.get(ENV_API_KEY)) if key]
    hide_keys(keys)  # from the first line on, read or not: a path, --list or an error may quote one before
    live = rt.stderr_tty and not rt.environ.get("NO_COLOR") and rt.environ.get("TERM") != "dumb"
    reporter = Reporter(rt.stderr, args.quiet, args.verbose, live)
    output = Output(rt.stdout, json_only=args.json_only, human=rt.stdout_tty)
    try:
        if problem is not None:
            raise problem
        session = Session(options_from(args, rt), rt, reporter, output, keys=keys)
        if not (args.dry_run if args.command == "submit" else args.list):
            import signal  # a run that sends nothing has nothing to keep, and need not import it

            # SIGTERM (what a killed agent tool call sends) stops the run as Ctrl-C does: record kept, exit 130.
            with suppress(ValueError):  # not the main thread: the caller's handlers stay
                if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:  # an ignored one stays ignored
                    signal.signal(signal.SIGTERM, signal.default_int_handler)
        status = cmd_submit(args, session) if args.command == "submit" else cmd_status(args, session)
    except VeoError as err:
        reporter.end_live()
        reporter.error(err)
        output.final(err.to_json())
        status = err.exit_status
    except KeyboardInterrupt:  # before any job existed, or pressed twice as the result was written
        reporter.end_live()
        text = "interrupted; a job submitted before is in status --list (or --job-file): look there before submitting"
        reporter.write(text)
        status = EXIT_INTERRUPTED
        with suppress(KeyboardInterrupt):  # stdout still owes a document (unless a stuck stdout made the user press)
            if not output.used:
                output.final(VeoError("INTERRUPTED", text, EXIT_INTERRUPTED).to_json())
    if output.broken:
        reporter.write("error: the result could not be written to standard output (%s)" % output.broken)
        status = status or EXIT_FAILURE
    reporter.stream = None  # a thread still going (a download given up) writes nothing once the keys are let go
    hide_keys(keys, ended=True)  # all said: its keys need hiding no more (unless another run uses them)
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The program: returns an exit status; Ctrl-C and SIGTERM keep the job record."""
    try:
        status = run(argv, Runtime())
    except KeyboardInterrupt:  # between the handlers: at start-up, or as the run ends
        status = EXIT_INTERRUPTED
    try:
        sys.stdout.flush()
    except (AttributeError, OSError, ValueError):  # the reader went away (| head): say nothing more at exit
        with suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status


if __name__ == "__main__":
    sys.exit(main())
