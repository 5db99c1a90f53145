#!/usr/bin/env python3
"""veo-3-1: make videos with NanoPhoto.AI's Veo 3.1 API, from a terminal or an agent.

Usage:
    veo_3_1.py submit --prompt "a red fox in snow" --follow --download videos/
    veo_3_1.py submit --shots-json '[{"prompt": "...", "generationType": "TEXT_2_VIDEO",
                                      "aspectRatio": "16:9"}]' --follow --json-only
    veo_3_1.py submit --shots-file shots.json --dry-run
    veo_3_1.py status --job <jobId or path> --follow --download videos/
    veo_3_1.py status --last | --list | --task-ids-json '[{"shotId": ..., "taskId": ...}]'

stdout carries only JSON (NDJSON stages, or one document with --json-only; a table for
people when stdout is a terminal); stderr carries people's text and `MEDIA:<path>` lines.

Exit status:
    0    success (submitted; status read; with --follow every shot completed and saved)
    1    one or more shots failed (result status "failed" or "partial")
    2    bad invocation or bad shots (nothing sent), or the service refused the input
    3    no API key, or the service refused it (LOGIN_REQUIRED)
    4    INSUFFICIENT_CREDITS
    5    still rate-limited after every retry
    6    --max-wait ran out; the job goes on and can be resumed
    7    network, server or download failure; unexpected answer; submit outcome unknown
    8    TASK_NOT_FOUND
    130  interrupted; the job record is saved and the resume command printed

The contract is ../shared/spec/cli.md; the service as known is references/api.md.
Standard library only; CPython 3.8 to 3.13.
"""

from __future__ import annotations

import json
import os
import sys
import time

# typing costs ~5 ms at every start and only the type checker needs it (annotations are
# strings here); mypy treats any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    import argparse
    from concurrent.futures import Future, ThreadPoolExecutor
    from dataclasses import dataclass, field
    from typing import IO, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple
else:
    # `dataclasses` imports `inspect` (and with it ast, dis, tokenize): 5-12 ms at every
    # start, and decorating our records costs 3 ms more; together a fifth of a dry run.
    # The records need only the __init__, __repr__ and __eq__ that @dataclass writes, so
    # these few lines make the same; the type checker reads the real decorator above, and
    # tests/test_records.py holds this one to its behaviour. To go back, import them above.

    _NO_DEFAULT = object()

    class _Field:
        """A field's default, as given to field()."""

        def __init__(self, default: Any, default_factory: Any) -> None:
            self.default = default
            self.default_factory = default_factory

    def field(*, default: Any = _NO_DEFAULT, default_factory: Any = _NO_DEFAULT) -> Any:
        """dataclasses.field(), for the two arguments the records use."""
        return _Field(default, default_factory)

    def dataclass(cls: Any) -> Any:
        """dataclasses.dataclass(), without options: __init__, __repr__ and __eq__ from the fields."""
        names = list(cls.__annotations__)
        defaults: Dict[str, Any] = {}  # a _Field when the default comes from a factory
        for name in names:
            value = cls.__dict__.get(name, _NO_DEFAULT)
            if isinstance(value, _Field) and value.default_factory is not _NO_DEFAULT:
                defaults[name] = value
                delattr(cls, name)
                continue
            if isinstance(value, _Field):
                value = value.default
                setattr(cls, name, value)
            if isinstance(value, (list, dict, set)):
                raise ValueError("mutable default %s for field %s: use default_factory" % (type(value), name))
            if value is not _NO_DEFAULT:
                defaults[name] = value
            elif defaults:
                raise TypeError("non-default argument %r follows default argument" % name)

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            """Set each field from the arguments, else its default or its factory."""
            if len(args) > len(names):
                raise TypeError("%s() takes %d arguments but %d were given" % (cls.__name__, len(names), len(args)))
            values = dict(zip(names, args))
            for name, value in kwargs.items():
                if name not in names:
                    raise TypeError("%s() got an unexpected keyword argument %r" % (cls.__name__, name))
                if name in values:
                    raise TypeError("%s() got multiple values for argument %r" % (cls.__name__, name))
                values[name] = value
            for name in names:
                if name in values:
                    value = values[name]
                elif name not in defaults:
                    raise TypeError("%s() missing required argument: %r" % (cls.__name__, name))
                elif isinstance(defaults[name], _Field):
                    value = defaults[name].default_factory()
                else:
                    value = defaults[name]
                setattr(self, name, value)

        def represent(self: Any) -> str:
            """Class(field=value, ...)."""
            return "%s(%s)" % (cls.__qualname__, ", ".join("%s=%r" % (name, getattr(self, name)) for name in names))

        def equals(self: Any, other: Any) -> Any:
            """Equal when of the same class with equal fields."""
            if other.__class__ is not self.__class__:
                return NotImplemented
            return tuple(getattr(self, name) for name in names) == tuple(getattr(other, name) for name in names)

        cls.__init__, cls.__repr__, cls.__eq__, cls.__hash__ = init, represent, equals, None
        return cls


__version__ = "1.0.0"

# ---- Constants: the API's facts in one place ----

DEFAULT_BASE_URL = "https://nanophoto.ai"
GENERATE_PATH = "/api/veo-3/generate"
CHECK_STATUS_PATH = "/api/veo-3/check-status"
API_KEYS_PAGE = "https://nanophoto.ai/settings/apikeys"
SKILL_NAME = "veo-3-1"
ENV_API_KEY = "NANOPHOTO_API_KEY"
ENV_BASE_URL = "NANOPHOTO_BASE_URL"

# Headers the published script sends; the live service is known to accept these.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
SITE_ORIGIN = "https://nanophoto.ai"

# generationType -> (fewest, most) imageUrls
GENERATION_TYPES: Dict[str, Tuple[int, int]] = {
    "TEXT_2_VIDEO": (0, 0),
    "FIRST_AND_LAST_FRAMES_2_VIDEO": (1, 2),
    "REFERENCE_2_VIDEO": (1, 3),
}
ASPECT_RATIOS = ("16:9", "9:16")
RESOLUTIONS = ("720p", "1080p", "4k")
CREDITS_PER_SHOT = {"720p": 10, "1080p": 14, "4k": 30}
SINGLE_SHOT_RESOLUTIONS = ("1080p", "4k")
SECONDS_PER_SHOT = 8
MAX_SHOTS = 21
SHOT_KEYS = ("id", "prompt", "generationType", "aspectRatio", "imageUrls")
REQUIRED_SHOT_KEYS = ("prompt", "generationType", "aspectRatio")
MAX_SHOT_ID_LENGTH = 200

FINISHED_WORDS = frozenset({"completed", "succeeded", "success", "done"})
FAILED_WORDS = frozenset({"failed", "error", "cancelled", "canceled"})
VIDEO_URL_KEYS = ("videoUrl", "video_url", "url")
SHOT_ERROR_KEYS = ("error", "errorMessage", "message")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".webm")

# Timing defaults (seconds), as published, plus what the spec adds.
DEFAULT_POLL_INTERVAL = 8.0
DEFAULT_MAX_WAIT = 1800.0
MAX_WAIT_PER_SHOT = 300.0
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5
ONE_OFF_RETRY_AFTER_CAP = 120.0
MIN_SECRET_LENGTH = 6
LONGEST_SECONDS = 7 * 24 * 3600.0
MAX_API_BODY = 8 * 1024 * 1024
MAX_CONFIG_BYTES = 1024 * 1024
DOWNLOAD_CHUNK = 256 * 1024
DOWNLOAD_TRIES = 4
DOWNLOAD_REDIRECTS = 5
DEFAULT_DOWNLOAD_WORKERS = 4

# Exit statuses (the table in the module docstring).
EXIT_OK = 0
EXIT_GENERATION_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_CREDITS = 4
EXIT_RATE_LIMITED = 5
EXIT_TIMEOUT = 6
EXIT_FAILURE = 7
EXIT_NOT_FOUND = 8
EXIT_INTERRUPTED = 130

SERVICE_ERROR_EXITS = {
    "LOGIN_REQUIRED": EXIT_AUTH,
    "INSUFFICIENT_CREDITS": EXIT_CREDITS,
    "API_KEY_RATE_LIMIT_EXCEEDED": EXIT_RATE_LIMITED,
    "TASK_NOT_FOUND": EXIT_NOT_FOUND,
    "SHOTS_REQUIRED": EXIT_USAGE,
    "PROMPT_REQUIRED": EXIT_USAGE,
    "INVALID_IMAGE_COUNT": EXIT_USAGE,
    "IMAGE_URLS_REQUIRED": EXIT_USAGE,
    "TASK_IDS_REQUIRED": EXIT_USAGE,
}
SERVICE_ERROR_HINTS = {
    "LOGIN_REQUIRED": "check the API key, or create a new one at " + API_KEYS_PAGE,
    "INSUFFICIENT_CREDITS": "top up credits at https://nanophoto.ai, then submit again",
    "API_KEY_RATE_LIMIT_EXCEEDED": "wait a minute, then run the same command again",
    "TASK_NOT_FOUND": "check the task IDs; tasks of another account are not visible",
}

# ---- Errors ----


class VeoError(Exception):
    """The one error type: raised anywhere, rendered in main() only."""

    def __init__(
        self,
        code: str,
        message: str,
        exit_status: int = EXIT_FAILURE,
        details: Optional[List[Any]] = None,
        *,
        hint: str = "",
        http_status: Optional[int] = None,
        retryable: bool = False,
        delivered: Optional[bool] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.exit_status = exit_status
        self.details: List[Any] = list(details or [])
        self.hint = hint
        self.http_status = http_status
        # Transport facts the retry policy reads; never shown to the user as such.
        self.retryable = retryable
        self.delivered = delivered
        self.retry_after = retry_after

    def to_json(self) -> Dict[str, Any]:
        """The error object of the output contract."""
        return {
            "status": "error",
            "error": {
                "code": self.code,
                "message": self.message,
                "httpStatus": self.http_status,
                "details": self.details,
            },
        }


def usage_error(message: str, hint: str = "") -> VeoError:
    """A bad invocation: exit 2, nothing sent."""
    return VeoError("INVALID_ARGUMENTS", message, EXIT_USAGE, hint=hint)


# ---- Pure logic: data ----


@dataclass
class Shot:
    """One shot as it will be sent (unknown keys kept in `extra`)."""

    id: str
    prompt: str
    generation_type: str
    aspect_ratio: str
    image_urls: List[str] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> Dict[str, Any]:
        """The shot as the API's JSON."""
        body: Dict[str, Any] = {
            "id": self.id,
            "prompt": self.prompt,
            "generationType": self.generation_type,
            "aspectRatio": self.aspect_ratio,
        }
        if self.image_urls or self.generation_type != "TEXT_2_VIDEO":
            body["imageUrls"] = list(self.image_urls)
        body.update(self.extra)
        return body


@dataclass
class Task:
    """One shot's task at the service, and what we know of it."""

    shot_id: str
    task_id: str
    status: str = "processing"  # processing | completed | failed (our reading)
    raw_status: str = ""  # the service's own word, for display
    video_url: Optional[str] = None
    error: Optional[str] = None
    finished_at: Optional[str] = None
    elapsed_seconds: Optional[float] = None
    file: Optional[str] = None
    size: Optional[int] = None
    sha256: Optional[str] = None
    download_error: Optional[str] = None

    @property
    def finished(self) -> bool:
        """True once the shot completed or failed."""
        return self.status in ("completed", "failed")


@dataclass
class Job:
    """A submitted job: what the job record holds."""

    job_id: str
    base_url: str
    resolution: str
    submitted_at: str
    tasks: List[Task]
    shots: List[Dict[str, Any]] = field(default_factory=list)
    job_file: Optional[str] = None
    status: str = "processing"
    finished_at: Optional[str] = None
    video_url: Optional[str] = None
    file: Optional[str] = None
    size: Optional[int] = None
    sha256: Optional[str] = None
    download_error: Optional[str] = None
    last_response: Any = None


@dataclass
class Estimate:
    """What a job will cost."""

    shots: int
    seconds: int
    credits: int

    def to_json(self) -> Dict[str, int]:
        """The estimate object of the dry run."""
        return {"shots": self.shots, "seconds": self.seconds, "credits": self.credits}


# ---- Pure logic: parsing input ----


def parse_json_text(text: str, what: str, hint: str) -> Any:
    """Parse JSON given by the user, or raise a clear error naming where."""
    try:
        return json.loads(text)
    except RecursionError:
        raise VeoError("INVALID_ARGUMENTS", "%s is nested too deeply" % what, EXIT_USAGE, hint=hint)
    except ValueError as exc:  # JSONDecodeError, and ints too long to convert
        raise VeoError("INVALID_ARGUMENTS", "%s is not valid JSON: %s" % (what, exc), EXIT_USAGE, hint=hint)


def short_repr(value: Any, limit: int = 60) -> str:
    """A value as a short, printable, one-line string for messages."""
    try:
        text = json.dumps(value, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - json gives no other types


def close_match(word: str, candidates: Iterable[str]) -> Optional[str]:
    """The candidate a misspelt key most likely meant, or None."""
    import difflib  # only when a key is unknown

    def folded(text: str) -> str:
        text = text.replace("_", "").replace("-", "").lower()
        # The answers say shotId, so a shot's own id is often written that way.
        return text[4:] if text.startswith("shot") and len(text) > 4 else text

    pool = list(candidates)
    for candidate in pool:
        if folded(candidate) == folded(word):
            return candidate
    found = difflib.get_close_matches(word, pool, n=1, cutoff=0.75)
    return found[0] if found else None


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    if host.startswith("127.") and host.replace(".", "").isdigit():
        return True
    return host in ("::1", "0:0:0:0:0:0:0:1")


def public_host_problem(host: str) -> Optional[str]:
    """Why an image host is not public, or None when it may be."""
    import ipaddress  # only when there are image URLs

    host = host.strip("[]").lower().rstrip(".")
    if not host:
        return "has no host"
    if is_loopback_host(host):
        return "points at this machine (%s)" % host
    if host.endswith((".local", ".internal", ".lan", ".home.arpa")) or ("." not in host and ":" not in host):
        return "names a local host (%s)" % host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if address.is_loopback or address.is_unspecified:
        return "points at this machine (%s)" % host
    if address.is_link_local:
        return "is a link-local address (%s)" % host
    if address.is_private or address.is_reserved or address.is_multicast:
        return "is a private address (%s)" % host
    return None


def image_url_problem(url: Any) -> Optional[str]:
    """Why an image URL cannot be used by the service, or None."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        return "must be a string URL, got %s" % json_type_name(url)
    shown = short_repr(url)
    if url.startswith("data:"):
        return "%s is a data: URI; the service needs a public http(s) URL" % shown[:30]
    if "\x00" in url or any(ch.isspace() for ch in url):
        return "%s contains spaces or control characters" % shown
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "%s is not a valid URL" % shown
    if parts.scheme not in ("http", "https"):
        if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # "C:\..." too
            return "%s is a local path; upload the image and give its public URL" % shown
        return "%s is not an http(s) URL" % shown
    problem = public_host_problem(host)
    if problem:
        return "%s %s; the service can only fetch public URLs" % (shown, problem)
    return None


def shot_label(index: int, shot_id: Optional[str]) -> str:
    """How a shot is named in messages: shots[2] (shot-3)."""
    return "shots[%d] (%s)" % (index, shot_id) if shot_id else "shots[%d]" % index


def text_problem(value: str, what: str) -> Optional[str]:
    """Why a text field cannot be sent, or None."""
    if "\x00" in value:
        return "%s contains a NUL byte" % what
    return None


def validate_shots(raw: Any, resolution: str) -> Tuple[List[Shot], List[str]]:
    """Check shots against every published rule; return them and warnings, or raise.

    All problems are collected and raised at once as INVALID_SHOTS (exit 2).
    """
    problems: List[str] = []
    warnings: List[str] = []
    if isinstance(raw, dict) and "shots" in raw:
        raw = raw["shots"]
    if not isinstance(raw, list):
        problems.append("shots must be a JSON array of shot objects, got %s" % json_type_name(raw))
        raise invalid_shots(problems)
    if not raw:
        problems.append("at least 1 shot is needed, got 0")
    elif len(raw) > MAX_SHOTS:
        problems.append("at most %d shots per job, got %d" % (MAX_SHOTS, len(raw)))
    if resolution in SINGLE_SHOT_RESOLUTIONS and len(raw) > 1:
        problems.append("%s is for single-shot jobs only, got %d shots; use 720p or one shot" % (resolution, len(raw)))
    shots: List[Shot] = []
    seen_ids: Dict[str, int] = {}
    for index, item in enumerate(raw[: MAX_SHOTS + 1]):
        shot = validate_one_shot(index, item, problems, warnings)
        if shot is None:
            continue
        if shot.id in seen_ids:
            problems.append(
                "%s: id %s is used by shots[%d] too; ids must be unique"
                % (shot_label(index, shot.id), short_repr(shot.id), seen_ids[shot.id])
            )
        else:
            seen_ids[shot.id] = index
        shots.append(shot)
    if problems:
        raise invalid_shots(problems, warnings)
    return shots, warnings


def invalid_shots(problems: List[str], warnings: Sequence[str] = ()) -> VeoError:
    """The INVALID_SHOTS error carrying every problem found (and, in its hint, the unknown keys)."""
    count = len(problems)
    first = problems[0]
    message = first if count == 1 else "%s (and %d more problem%s)" % (first, count - 1, "s" * (count > 2))
    hint = "fix the shots as listed, then run again; nothing was sent"
    if warnings:
        # An unknown key is often the mistake behind the problems (shotId for id, say).
        hint += "; note: " + "; ".join(warnings[:3]) + ("; ..." if len(warnings) > 3 else "")
    return VeoError("INVALID_SHOTS", message, EXIT_USAGE, problems, hint=hint)


def validate_one_shot(index: int, item: Any, problems: List[str], warnings: List[str]) -> Optional[Shot]:
    """Check one shot, appending problems and warnings; the Shot when it can be built."""
    if not isinstance(item, dict):
        problems.append("%s: each shot must be an object, got %s" % (shot_label(index, None), json_type_name(item)))
        return None
    before = len(problems)
    raw_id = item.get("id")
    shot_id = "shot-%d" % (index + 1)
    if "id" in item:
        if not isinstance(raw_id, str) or not raw_id.strip():
            problems.append("%s: id must be a non-blank string, got %s" % (shot_label(index, None), short_repr(raw_id)))
        elif len(raw_id) > MAX_SHOT_ID_LENGTH or any(ord(ch) < 32 for ch in raw_id):
            problems.append(
                "%s: id must be at most %d printable characters" % (shot_label(index, None), MAX_SHOT_ID_LENGTH)
            )
        else:
            shot_id = raw_id
    label = shot_label(index, shot_id)
    unknown = [key for key in item if key not in SHOT_KEYS]
    missing = [key for key in REQUIRED_SHOT_KEYS if key not in item]
    for key in missing:
        guess = close_match(key, [str(k) for k in unknown])
        if guess is not None:
            problems.append("%s: %s is missing; did you mean %s instead of %s?" % (label, key, key, short_repr(guess)))
        else:
            problems.append("%s: %s is missing" % (label, key))
    for key in unknown:
        if close_match(key, missing) is None:
            guess = close_match(key, SHOT_KEYS)
            also = " (did you mean %s?)" % guess if guess else ""
            warnings.append("%s: unknown key %s is passed on as it is%s" % (label, short_repr(key), also))
    prompt = item.get("prompt")
    if "prompt" in item:
        if not isinstance(prompt, str) or not prompt.strip():
            problems.append("%s: prompt must be a non-blank string, got %s" % (label, short_repr(prompt)))
        else:
            problem = text_problem(prompt, "prompt")
            if problem:
                problems.append("%s: %s" % (label, problem))
    generation_type = item.get("generationType")
    if "generationType" in item and generation_type not in GENERATION_TYPES:
        problems.append(
            "%s: generationType must be one of %s, got %s"
            % (label, ", ".join(GENERATION_TYPES), short_repr(generation_type))
        )
    aspect_ratio = item.get("aspectRatio")
    if "aspectRatio" in item and aspect_ratio not in ASPECT_RATIOS:
        problems.append(
            "%s: aspectRatio must be one of %s, got %s" % (label, ", ".join(ASPECT_RATIOS), short_repr(aspect_ratio))
        )
    image_urls = item.get("imageUrls", [])
    if image_urls is None:
        image_urls = []
    if not isinstance(image_urls, list):
        problems.append("%s: imageUrls must be an array of URLs, got %s" % (label, json_type_name(image_urls)))
        image_urls = []
    for position, url in enumerate(image_urls[:10]):
        problem = image_url_problem(url)
        if problem:
            problems.append("%s: imageUrls[%d] %s" % (label, position, problem))
    if isinstance(generation_type, str) and generation_type in GENERATION_TYPES:
        fewest, most = GENERATION_TYPES[generation_type]
        count = len(image_urls)
        if not fewest <= count <= most:
            wanted = "no imageUrls" if most == 0 else "%d-%d imageUrls" % (fewest, most)
            problems.append("%s: %s takes %s, got %d" % (label, generation_type, wanted, count))
    if len(problems) > before:
        return None
    extra = {key: value for key, value in item.items() if key not in SHOT_KEYS}
    return Shot(shot_id, str(prompt), str(generation_type), str(aspect_ratio), list(image_urls), extra)


def estimate_job(shot_count: int, resolution: str) -> Estimate:
    """Shots, seconds of video and credits a job costs."""
    return Estimate(shot_count, shot_count * SECONDS_PER_SHOT, shot_count * CREDITS_PER_SHOT[resolution])


def default_max_wait(shot_count: int) -> float:
    """1800 s, or 300 s per shot when that is more (shots run one after another)."""
    return max(DEFAULT_MAX_WAIT, MAX_WAIT_PER_SHOT * shot_count)


def parse_task_ids(raw: Any) -> List[Task]:
    """Read --task-ids-json: [{shotId, taskId}] (or bare task ID strings)."""
    if isinstance(raw, dict) and "taskIds" in raw:
        raw = raw["taskIds"]
    hint = 'give a JSON array such as \'[{"shotId": "shot-1", "taskId": "task_abc123"}]\''
    if not isinstance(raw, list) or not raw:
        raise usage_error("--task-ids-json must be a non-empty JSON array, got %s" % short_repr(raw), hint)
    if len(raw) > 100:
        raise usage_error("--task-ids-json holds %d tasks; at most 100 are checked at once" % len(raw), hint)
    tasks: List[Task] = []
    problems: List[str] = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            item = {"taskId": item}
        if not isinstance(item, dict):
            problems.append("taskIds[%d] must be an object, got %s" % (index, json_type_name(item)))
            continue
        task_id = item.get("taskId", item.get("task_id"))
        shot_id = item.get("shotId", item.get("shot_id", "shot-%d" % (index + 1)))
        if not isinstance(task_id, str) or not task_id.strip() or "\x00" in task_id:
            problems.append("taskIds[%d]: taskId must be a non-blank string, got %s" % (index, short_repr(task_id)))
            continue
        if not isinstance(shot_id, str) or not shot_id.strip() or "\x00" in shot_id:
            problems.append("taskIds[%d]: shotId must be a non-blank string, got %s" % (index, short_repr(shot_id)))
            continue
        tasks.append(Task(shot_id=shot_id, task_id=task_id))
    if problems:
        raise VeoError("INVALID_ARGUMENTS", "; ".join(problems[:3]), EXIT_USAGE, problems, hint=hint)
    return tasks


def check_base_url(url: str) -> str:
    """The API origin without a trailing slash; http only for loopback hosts."""
    if url.strip().rstrip("/") == DEFAULT_BASE_URL:
        return DEFAULT_BASE_URL  # known good; spares a dry run the import of urllib.parse
    from urllib.parse import urlsplit

    hint = "use https://nanophoto.ai (the default), or http://127.0.0.1:PORT for a local fake"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise usage_error("the base URL %s is not a valid URL" % short_repr(url), hint)
    if parts.scheme not in ("http", "https") or not host:
        raise usage_error("the base URL %s must be an http(s) URL with a host" % short_repr(url), hint)
    if parts.scheme == "http" and not is_loopback_host(host):
        raise usage_error(
            "the base URL %s uses http:// for a host that is not this machine; the key would travel in clear"
            % short_repr(url),
            hint,
        )
    if parts.query or parts.fragment or parts.username:
        raise usage_error("the base URL %s must not carry a query, fragment or user" % short_repr(url), hint)
    return url.strip().rstrip("/")


# ---- Pure logic: reading the service's answers ----


def status_word_kind(word: Any) -> str:
    """The service's status word as completed, failed or processing (tolerantly)."""
    if not isinstance(word, str):
        return "processing"
    word = word.strip().lower()
    if word in FINISHED_WORDS:
        return "completed"
    if word in FAILED_WORDS:
        return "failed"
    return "processing"


def first_field(entry: Mapping[str, Any], keys: Sequence[str]) -> Any:
    """The value of the first of keys present and not null."""
    for key in keys:
        value = entry.get(key)
        if value is not None:
            return value
    return None


def video_url_of(entry: Mapping[str, Any]) -> Optional[str]:
    """A shot's or job's video address, if it is a usable http(s) URL."""
    url = first_field(entry, VIDEO_URL_KEYS)
    if isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) < 8192:
        return url
    return None


def error_text_of(entry: Mapping[str, Any]) -> Optional[str]:
    """A per-shot error as short text, whatever its shape."""
    value = first_field(entry, SHOT_ERROR_KEYS)
    if value is None:
        return None
    if isinstance(value, dict):
        value = first_field(value, ("message", "error", "code")) or value
    text = value if isinstance(value, str) else short_repr(value, 200)
    return text[:300]


def apply_status_answer(job: Job, answer: Any, now_iso: str, elapsed: float) -> List[Task]:
    """Fold a check-status answer into the job; return the tasks whose status changed."""
    if not isinstance(answer, dict):
        return []
    top_kind = status_word_kind(answer.get("status"))
    top_url = video_url_of(answer)
    entries = answer.get("shots")
    changed: List[Task] = []
    seen: Set[int] = set()
    if isinstance(entries, list):
        by_task = {task.task_id: task for task in job.tasks}
        by_shot = {task.shot_id: task for task in job.tasks}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            task_id = first_field(entry, ("taskId", "task_id"))
            shot_id = first_field(entry, ("shotId", "shot_id", "id"))
            task = by_task.get(task_id) if isinstance(task_id, str) else None
            if task is None and isinstance(shot_id, str):
                task = by_shot.get(shot_id)
            if task is None or id(task) in seen:
                continue
            seen.add(id(task))
            if update_task(task, entry, now_iso, elapsed):
                changed.append(task)
        job.video_url = top_url or job.video_url
        if top_kind != "processing":
            # The job as a whole ended: a shot it did not mention will not come back.
            reason = error_text_of(answer) or "the service ended the job without a status for this shot"
            for task in job.tasks:
                unmentioned = id(task) not in seen and not task.finished
                if unmentioned and update_task(task, {"status": "failed", "error": reason}, now_iso, elapsed):
                    changed.append(task)
    else:
        # No per-shot list: the top-level status speaks for every shot, and its video is the
        # shot's own when the job has one shot, else the combined video.
        single_url = top_url if len(job.tasks) == 1 else None
        if len(job.tasks) > 1:
            job.video_url = top_url or job.video_url
        shared = {"status": answer.get("status"), "videoUrl": single_url}
        if top_kind == "failed":
            shared["error"] = error_text_of(answer)
        for task in job.tasks:
            if update_task(task, shared, now_iso, elapsed):
                changed.append(task)
    return changed


def update_task(task: Task, entry: Mapping[str, Any], now_iso: str, elapsed: float) -> bool:
    """Read a shot's entry of an answer into its task; True when its status changed.

    Finished shots stay finished: a later "processing" is a stale answer, not news.
    """
    before = (task.status, task.raw_status)
    word = entry.get("status")
    kind = status_word_kind(word)
    if task.finished and kind == "processing":
        return False
    task.status = kind
    task.raw_status = word.strip().lower()[:40] if isinstance(word, str) else ""
    task.video_url = video_url_of(entry) or task.video_url
    if kind == "failed":
        task.error = error_text_of(entry) or task.error or "the service reported the shot as failed"
    if kind != "processing" and before[0] == "processing":
        task.finished_at = now_iso
        task.elapsed_seconds = round(elapsed, 1)
    return (task.status, task.raw_status) != before


def job_status(tasks: Sequence[Task], timed_out: bool = False) -> str:
    """Decide the job's status from its shots: completed, partial, failed, processing, timeout."""
    if tasks and all(task.finished for task in tasks):
        completed = sum(task.status == "completed" for task in tasks)
        if completed == len(tasks):
            return "completed"
        return "partial" if completed else "failed"
    return "timeout" if timed_out else "processing"


def exit_status_for(status: str, download_failed: bool = False) -> int:
    """The exit status a result's status gives."""
    if status == "timeout":
        return EXIT_TIMEOUT
    if download_failed:
        return EXIT_FAILURE
    if status in ("failed", "partial"):
        return EXIT_GENERATION_FAILED
    return EXIT_OK


def display_state(task: Task) -> str:
    """What a person sees for a shot: queued, running, done, failed."""
    if task.status == "completed":
        return "done"
    if task.status == "failed":
        return "failed"
    if task.raw_status in ("pending", "queued", "waiting", "submitted", ""):
        return "queued"
    return "running"


def build_result(job: Job, elapsed: float) -> Dict[str, Any]:
    """The result object of the output contract."""
    result = {
        "status": job.status,
        "jobId": job.job_id,
        "jobFile": job.job_file,
        "resolution": job.resolution,
        "submittedAt": job.submitted_at,
        "finishedAt": job.finished_at,
        "elapsedSeconds": round(elapsed, 1),
        "videoUrl": job.video_url,
        "file": job.file,
        "shots": [shot_result(task) for task in job.tasks],
        "response": job.last_response,
    }
    if job.download_error:
        result["downloadError"] = job.download_error  # the combined video could not be saved
    return result


def shot_result(task: Task) -> Dict[str, Any]:
    """One shot in the result object."""
    entry: Dict[str, Any] = {
        "shotId": task.shot_id,
        "taskId": task.task_id,
        "status": task.status,
        "videoUrl": task.video_url,
        "file": task.file,
        "error": task.error,
        "elapsedSeconds": task.elapsed_seconds,
    }
    if task.download_error:
        entry["downloadError"] = task.download_error
    return entry


def tasks_from_generate_answer(shots: Sequence[Shot], answer: Any, now_iso: str) -> List[Task]:
    """Pair the submitted shots with the task IDs the generate answer gave."""
    entries = answer.get("shots") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        entries = answer.get("tasks") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        single = first_field(answer, ("taskId", "task_id")) if isinstance(answer, dict) else None
        entries = [{"shotId": shots[0].id, "taskId": single}] if single and len(shots) == 1 else []
    tasks: List[Task] = []
    wanted = {shot.id for shot in shots}
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            continue
        task_id = first_field(entry, ("taskId", "task_id"))
        shot_id = first_field(entry, ("shotId", "shot_id", "id"))
        if not isinstance(shot_id, str) or shot_id not in wanted:
            shot_id = shots[position].id if position < len(shots) and len(entries) == len(shots) else None
        if not isinstance(task_id, str) or not task_id or not shot_id:
            continue
        task = Task(shot_id=shot_id, task_id=task_id)
        update_task(task, entry, now_iso, 0.0)
        tasks.append(task)
    if len({task.shot_id for task in tasks}) != len(shots):
        return []
    return tasks


# ---- Pure logic: HTTP facts ----


def parse_retry_after(value: Optional[str], now: float) -> Optional[float]:
    """Seconds a Retry-After header asks for (seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - now
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


def backoff_delay(attempt: int, jitter: float) -> float:
    """Back-off before retry number `attempt` (0-based): min(0.5 * 2^n, 8) times 0.75-1.0."""
    return float(min(0.5 * 2 ** min(attempt, 10), 8.0) * (0.75 + 0.25 * jitter))


def clean_excerpt(body: bytes, limit: int = 160) -> str:
    """A short readable excerpt of a body that is not JSON (an HTML page, say)."""
    import re

    text = body[:20000].decode("utf-8", "replace")
    text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
    text = re.sub(r"(?s)<[^>]*>", " ", text)
    text = re.sub(r"&[a-zA-Z#0-9]+;", " ", text)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def url_without_query(url: str) -> str:
    """A URL with its query and fragment dropped (presigned links are secrets)."""
    return url.split("?", 1)[0].split("#", 1)[0]


def redact(text: str, secrets: Sequence[str]) -> str:
    """Replace every secret in text with ***."""
    for secret in secrets:
        # Replacing a secret of a few letters would mangle ordinary words, not hide anything.
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, "***")
    return text


def redact_json(value: Any, secrets: Sequence[str]) -> Any:
    """A JSON value with every secret replaced inside its strings, so the document stays valid JSON."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [redact_json(item, secrets) for item in value]
    if isinstance(value, dict):
        return {redact(str(key), secrets): redact_json(item, secrets) for key, item in value.items()}
    return value


def format_duration(seconds: Optional[float]) -> str:
    """Seconds as a person reads them: 42s, 2m31s, 1h02m."""
    if seconds is None:
        return "-"
    total = round(seconds)
    if total < 60:
        return "%ds" % total
    if total < 3600:
        return "%dm%02ds" % (total // 60, total % 60)
    return "%dh%02dm" % (total // 3600, total % 3600 // 60)


def utc_iso(timestamp: float) -> str:
    """A Unix time as 2026-11-24T10:00:00Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def iso_to_timestamp(text: Any) -> Optional[float]:
    """Parse our own 2026-11-24T10:00:00Z back to a Unix time."""
    import calendar

    if not isinstance(text, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


# ---- Pure logic: names on disk ----

WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + ["COM%d" % n for n in range(10)]
    + ["LPT%d" % n for n in range(10)]
)
SAFE_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
MAX_NAME_STEM = 100


def safe_file_stem(name: str) -> str:
    """A name made safe as a file name on every OS (no separators, dots first, reserved names)."""
    import hashlib

    cleaned = "".join(ch if ch in SAFE_NAME_CHARS else "_" for ch in name)
    cleaned = cleaned.strip(". ")
    while ".." in cleaned:
        cleaned = cleaned.replace("..", ".")
    if not cleaned or set(cleaned) <= {"_", "."}:
        cleaned = "video"
    if cleaned.split(".")[0].upper() in WINDOWS_RESERVED:
        cleaned = "_" + cleaned
    if cleaned != name or len(cleaned) > MAX_NAME_STEM:
        # Two ids that clean to the same text still get two names.
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        cleaned = cleaned[: MAX_NAME_STEM - 9].rstrip(". ") + "-" + digest
    return cleaned


def video_extension(url: Optional[str]) -> str:
    """The file extension for a video URL: its own when it is a video one, else .mp4."""
    if url:
        path = url_without_query(url).rsplit("/", 1)[-1].lower()
        for extension in VIDEO_EXTENSIONS:
            if path.endswith(extension):
                return extension
    return ".mp4"


def plan_file_names(job: Job) -> Dict[str, str]:
    """File name for each shot id (and the job id), unique even on case-blind disks."""
    names: Dict[str, str] = {}
    used: Set[str] = set()
    wanted = [(task.shot_id, task.video_url) for task in job.tasks] + [(job.job_id, job.video_url)]
    for key, url in wanted:
        stem = safe_file_stem(key)
        candidate = stem + video_extension(url)
        number = 2
        while candidate.lower() in used:
            candidate = "%s-%d%s" % (stem, number, video_extension(url))
            number += 1
        used.add(candidate.lower())
        names[key] = candidate
    return names


# ---- Pure logic: the OpenClaw config (JSON5 to OpenClaw) ----


def skip_blank(text: str, i: int) -> int:
    """The index of the next character that is neither white space nor inside a comment."""
    n = len(text)
    while i < n:
        if text[i] in " \t\r\n":
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    return i


def json5_to_json(text: str) -> str:
    """Turn the JSON5 OpenClaw writes (comments, trailing commas, bare keys, 'quotes') into JSON."""
    out: List[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            chunk: List[str] = []
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    chunk.append(text[j : j + 2])
                    j += 2
                    continue
                chunk.append('\\"' if text[j] == '"' else text[j])
                j += 1
            body = "".join(chunk)
            if ch == "'":
                body = body.replace("\\'", "'")
            out.append('"' + body + '"')
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == ",":
            j = skip_blank(text, i + 1)
            if j < n and text[j] in "}]":
                i += 1  # a trailing comma
            else:
                out.append(ch)
                i += 1
        elif ch.isalpha() or ch in "_$":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            word = text[i:j]
            k = skip_blank(text, j)
            is_key = k < n and text[k] == ":" and word not in ("true", "false", "null")
            out.append('"%s"' % word if is_key else word)
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def key_from_openclaw_config(config: Any) -> Optional[str]:
    """The key at skills.entries.veo-3-1.env.NANOPHOTO_API_KEY, then at ...apiKey."""
    entry: Any = config
    for part in ("skills", "entries", SKILL_NAME):
        entry = entry.get(part) if isinstance(entry, dict) else None
    if not isinstance(entry, dict):
        return None
    env = entry.get("env")
    candidates = [env.get(ENV_API_KEY) if isinstance(env, dict) else None, entry.get("apiKey")]
    for value in candidates:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


# ---- The machine: collaborators, the key, where state lives ----


@dataclass
class Runtime:
    """Everything the program touches outside itself; tests pass fakes."""

    environ: Mapping[str, str]
    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]
    stdout_tty: bool
    stderr_tty: bool
    api_open: Callable[[Any, float], Any]
    download_open: Callable[[Any, float], Any]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    jitter: Callable[[], float] = field(default=lambda: __import__("random").random())
    home: str = field(default_factory=lambda: os.path.expanduser("~"))
    program: str = "veo_3_1.py"


def default_runtime() -> Runtime:
    """The real machine."""
    return Runtime(
        environ=os.environ,
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
        stdout_tty=stream_is_tty(sys.stdout),
        stderr_tty=stream_is_tty(sys.stderr),
        api_open=api_urlopen,
        download_open=download_urlopen,
        program=program_invocation(sys.argv[0] if sys.argv else ""),
    )


def stream_is_tty(stream: Any) -> bool:
    """True when a stream is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def program_invocation(argv0: str) -> str:
    """How to name this program in a command the user can paste."""
    if argv0.endswith(".py"):
        return "python3 " + argv0
    return os.path.basename(argv0) or SKILL_NAME


class HeldInterrupts:
    """While held, the first Ctrl-C or SIGTERM waits (it is noted in `caught`); a second one does not.

    Used where stopping would lose something the user paid for: while a submit is in flight and
    its job not yet recorded, and while a finished job's result is written.
    """

    def __init__(self, on_hold: Callable[[], None] = lambda: None) -> None:
        self.on_hold = on_hold
        self.previous: Dict[int, Any] = {}
        self.caught = False
        self.holding = True

    def hold(self, signum: int, frame: Any) -> None:
        """The stand-in handler: wait, unless the user insists (stdout may be stuck) or nothing is at stake."""
        if self.caught or not self.holding:
            raise KeyboardInterrupt
        self.caught = True
        try:
            self.on_hold()
        except RuntimeError:  # stderr was mid-write when the signal came: the note is not worth an error
            pass

    def start(self) -> HeldInterrupts:
        """Stand in for the handlers of SIGINT and SIGTERM (main thread only)."""
        import signal

        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                handler = signal.getsignal(signum)
                if handler is not signal.SIG_IGN and signum not in self.previous:  # an ignored signal stays ignored
                    signal.signal(signum, self.hold)
                    self.previous[signum] = handler if handler is not None else signal.SIG_DFL
            except (ValueError, OSError):  # pragma: no cover - not the main thread: nothing to hold
                pass
        return self

    def stop(self) -> None:
        """Put the handlers back (again is harmless)."""
        import signal

        while self.previous:
            signum, handler = self.previous.popitem()
            signal.signal(signum, handler)

    def wait_released(self, sleep: Callable[[float], None], seconds: float) -> None:
        """Sleep with Ctrl-C let through: a back-off, when nothing is in flight."""
        self.holding = False
        try:
            sleep(seconds)
        finally:
            self.holding = True

    def __enter__(self) -> HeldInterrupts:
        """start()."""
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        """stop()."""
        self.stop()


def openclaw_config_path(environ: Mapping[str, str], home: str) -> str:
    """$OPENCLAW_CONFIG_PATH, else $OPENCLAW_HOME/.openclaw/openclaw.json, else ~/.openclaw/openclaw.json."""
    if environ.get("OPENCLAW_CONFIG_PATH"):
        return os.path.expanduser(environ["OPENCLAW_CONFIG_PATH"])
    base = os.path.expanduser(environ["OPENCLAW_HOME"]) if environ.get("OPENCLAW_HOME") else home
    return os.path.join(base, ".openclaw", "openclaw.json")


def read_openclaw_key(path: str, warn: Callable[[str], None]) -> Optional[str]:
    """The key from OpenClaw's config file; a file that cannot be read is named in a warning."""
    try:
        if os.path.getsize(path) > MAX_CONFIG_BYTES:
            warn("the OpenClaw config %s is over 1 MiB; it was not read" % path)
            return None
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        warn("the OpenClaw config %s could not be read (%s)" % (path, exc.strerror or exc))
        return None
    try:
        text = data.decode("utf-8-sig")
        try:
            config = json.loads(text)
        except ValueError:
            config = json.loads(json5_to_json(text))
    except (ValueError, RecursionError) as exc:
        reason = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else "not JSON5 this program can read"
        warn("the OpenClaw config %s is %s; it was skipped" % (path, reason))
        return None
    return key_from_openclaw_config(config)


def find_api_key(flag_key: Optional[str], rt: Runtime, warn: Callable[[str], None]) -> Tuple[str, str]:
    """The API key and where it came from: --api-key, then the environment, then OpenClaw's config."""
    if flag_key is not None and flag_key.strip():
        warn(
            "--api-key is visible to other users of this machine (in the process list); "
            "prefer %s or OpenClaw's config (skills.entries.%s.apiKey)" % (ENV_API_KEY, SKILL_NAME)
        )
        return flag_key.strip(), "--api-key"
    env_key = rt.environ.get(ENV_API_KEY, "").strip()
    if env_key:
        return env_key, ENV_API_KEY
    path = openclaw_config_path(rt.environ, rt.home)
    config_key = read_openclaw_key(path, warn)
    if config_key:
        return config_key, path
    raise VeoError(
        "MISSING_API_KEY",
        "no NanoPhoto API key was found",
        EXIT_AUTH,
        hint=(
            "give one of: export %s=...; openclaw config set skills.entries.%s.apiKey ... "
            "(read from %s); or --api-key KEY. Keys are made at %s" % (ENV_API_KEY, SKILL_NAME, path, API_KEYS_PAGE)
        ),
    )


def state_dir(environ: Mapping[str, str], home: str) -> str:
    """Where job records live: $VEO_3_1_STATE_DIR, $XDG_STATE_HOME/veo-3-1, ~/.local/state/veo-3-1."""
    if environ.get("VEO_3_1_STATE_DIR"):
        return os.path.expanduser(environ["VEO_3_1_STATE_DIR"])
    if environ.get("XDG_STATE_HOME"):
        return os.path.join(os.path.expanduser(environ["XDG_STATE_HOME"]), SKILL_NAME)
    if os.name == "nt" and environ.get("LOCALAPPDATA"):
        return os.path.join(environ["LOCALAPPDATA"], SKILL_NAME)
    return os.path.join(home, ".local", "state", SKILL_NAME)


def jobs_dir(rt: Runtime) -> str:
    """The folder of job records."""
    return os.path.join(state_dir(rt.environ, rt.home), "jobs")


# ---- Transport: the one place that touches urllib ----


@dataclass
class HttpReply:
    """An HTTP answer of any status, read whole (API calls are small)."""

    status: int
    headers: Dict[str, str]
    body: bytes
    url: str


_OPENERS: Dict[str, Any] = {}


def _opener(kind: str) -> Any:
    """The urllib opener for API calls (no redirects) or downloads (a few, https only)."""
    if kind not in _OPENERS:
        import urllib.request

        class RefuseRedirects(urllib.request.HTTPRedirectHandler):
            """API calls follow no redirect: the 3xx comes back as an HTTPError."""

            def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
                return None

        class SafeRedirects(urllib.request.HTTPRedirectHandler):
            """Downloads follow at most 5 redirects, to https only (loopback aside)."""

            max_redirections = DOWNLOAD_REDIRECTS

            def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
                from urllib.parse import urlsplit

                target = urlsplit(newurl)
                if target.scheme != "https" and not (
                    target.scheme == "http" and is_loopback_host(target.hostname or "")
                ):
                    raise VeoError(
                        "NETWORK_ERROR",
                        "the video link redirected to %s, which is not https; it was not followed"
                        % url_without_query(newurl),
                        EXIT_FAILURE,
                    )
                new = super().redirect_request(req, fp, code, msg, headers, newurl)
                if new is not None:
                    new.remove_header("Authorization")  # never: downloads carry no key
                    new.remove_header("Range")
                    new.remove_header("If-Range")
                return new

        handler = RefuseRedirects if kind == "api" else SafeRedirects
        _OPENERS[kind] = urllib.request.build_opener(handler)
    return _OPENERS[kind]


def api_urlopen(request: Any, timeout: float) -> Any:
    """urlopen for API calls: redirects are answers, not followed."""
    return _opener("api").open(request, timeout=timeout)


def download_urlopen(request: Any, timeout: float) -> Any:
    """urlopen for video downloads."""
    return _opener("download").open(request, timeout=timeout)


def open_any_status(opener: Callable[[Any, float], Any], request: Any, timeout: float) -> Any:
    """The response to a request; an HTTP error status is a response too, not an exception."""
    import urllib.error

    try:
        return opener(request, timeout)
    except urllib.error.HTTPError as err:
        return err


def response_status(response: Any) -> int:
    """The HTTP status of a response or an HTTPError (which has no .status before Python 3.9)."""
    status = getattr(response, "status", None)
    return int(status if status is not None else response.code)


def network_failure(exc: BaseException, url: str) -> VeoError:
    """A transport failure as a VeoError, telling whether the request surely did not arrive."""
    import socket
    import ssl
    import urllib.error

    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    where = url_without_query(url)
    # urllib wraps failures of connecting and sending in URLError; failures while
    # waiting for or reading the answer come through bare, and may follow delivery.
    before_send = isinstance(exc, urllib.error.URLError)
    delivered: Optional[bool]
    if isinstance(reason, ssl.SSLCertVerificationError):
        return VeoError(
            "NETWORK_ERROR",
            "the TLS certificate of %s could not be verified (%s)" % (where, reason.verify_message),
            EXIT_FAILURE,
            hint="check the system clock and certificates; SSL_CERT_FILE names a CA bundle to trust",
            delivered=False,
        )
    if isinstance(reason, socket.gaierror):
        text, delivered = "the host name of %s could not be resolved" % where, False
    elif isinstance(reason, ConnectionRefusedError):
        text, delivered = "the connection to %s was refused" % where, False
    elif isinstance(reason, (socket.timeout, TimeoutError)):
        text = "%s did not answer within the timeout" % where
        delivered = False if before_send else None
        text = ("connecting to " + text) if before_send else text
    elif isinstance(reason, OSError) and getattr(reason, "errno", None) in (101, 113, 10051, 10065):
        text, delivered = "the network to %s is unreachable" % where, False
    elif isinstance(reason, ssl.SSLError) and before_send:
        text, delivered = "the TLS handshake with %s failed (%s)" % (where, reason), False
    else:
        name = type(reason).__name__
        text = "the connection to %s failed (%s: %s)" % (where, name, str(reason)[:120] or "no detail")
        delivered = None
    return VeoError("NETWORK_ERROR", text, EXIT_FAILURE, retryable=True, delivered=delivered)


def send_request(
    url: str,
    body: Optional[bytes],
    headers: Mapping[str, str],
    secret_headers: Mapping[str, str],
    timeout: float,
    opener: Callable[[Any, float], Any],
    method: str = "POST",
    max_body: int = MAX_API_BODY,
) -> HttpReply:
    """One HTTP exchange; any status is a reply, a transport failure a VeoError."""
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method=method)
    for name, value in headers.items():
        request.add_header(name, value)
    for name, value in secret_headers.items():
        # Unredirected: urllib copies ordinary headers to wherever a redirect points.
        request.add_unredirected_header(name, value)
    try:
        with open_any_status(opener, request, timeout) as response:
            status = response_status(response)
            reply_headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            data = response.read(max_body + 1)
    except VeoError:
        raise
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise network_failure(exc, url)
    if len(data) > max_body:
        raise VeoError(
            "BAD_RESPONSE",
            "the answer from %s is over %d bytes" % (url_without_query(url), max_body),
            EXIT_FAILURE,
            http_status=status,
            retryable=True,
        )
    return HttpReply(status, reply_headers, data, url)


def reply_error(reply: HttpReply, now: float, secrets: Sequence[str]) -> Optional[VeoError]:
    """The error an API reply stands for, or None when it is a good 2xx JSON answer."""
    retry_after = parse_retry_after(reply.headers.get("retry-after"), now)
    if 300 <= reply.status < 400:
        target = reply.headers.get("location", "(no Location header)")
        return VeoError(
            "BAD_RESPONSE",
            "the API answered HTTP %d, a redirect to %s; API calls follow no redirect, so nothing was sent there"
            % (reply.status, redact(url_without_query(target), secrets)),
            EXIT_FAILURE,
            hint="check --base-url / %s: it should be the API origin itself" % ENV_BASE_URL,
            http_status=reply.status,
        )
    try:
        payload = json.loads(reply.body.decode("utf-8"))
    except (ValueError, RecursionError):
        payload = None
        excerpt = redact(clean_excerpt(reply.body), secrets) or "(empty)"
        what = "HTTP %d with a body that is not JSON: %s" % (reply.status, short_repr(excerpt, 180))
        return VeoError(
            "BAD_RESPONSE",
            "the service answered " + what,
            EXIT_RATE_LIMITED if reply.status == 429 else EXIT_FAILURE,
            http_status=reply.status,
            retryable=True,
            # 408, 429, and 503 with Retry-After say the request was not taken.
            delivered=False if refused_for_now(reply.status, retry_after) else None,
            retry_after=retry_after,
        )
    code = payload.get("errorCode") if isinstance(payload, dict) else None
    if 200 <= reply.status < 300 and not code and not (isinstance(payload, dict) and payload.get("success") is False):
        return None
    code = code if isinstance(code, str) and code.isprintable() and len(code) < 64 else None
    message = first_field(payload, ("message", "error", "errorMessage")) if isinstance(payload, dict) else None
    message = message if isinstance(message, str) else ""
    message = redact(" ".join(message.split())[:300], secrets)
    exit_status = SERVICE_ERROR_EXITS.get(code or "", EXIT_FAILURE)
    if reply.status == 429 or code == "API_KEY_RATE_LIMIT_EXCEEDED":
        exit_status = EXIT_RATE_LIMITED
    return VeoError(
        code or ("HTTP_%d" % reply.status if reply.status >= 400 else "BAD_RESPONSE"),
        "the service answered HTTP %d%s%s"
        % (reply.status, " " + code if code else "", ": " + message if message else ""),
        exit_status,
        hint=SERVICE_ERROR_HINTS.get(code or "", ""),
        http_status=reply.status,
        retryable=reply.status in (408, 429) or reply.status >= 500,
        delivered=False if refused_for_now(reply.status, retry_after) else None,
        retry_after=retry_after,
    )


def refused_for_now(status: int, retry_after: Optional[float]) -> bool:
    """True for answers that say the request was surely not acted on."""
    return status in (408, 429) or (status == 503 and retry_after is not None)


@dataclass
class ApiClient:
    """Calls the two endpoints with the spec's retry rules."""

    base_url: str
    key: str
    user_agent: str
    timeout: float
    max_retries: int
    rt: Runtime
    log: Callable[[str], None]
    note: Callable[[str], None]

    def headers(self) -> Dict[str, str]:
        """The ordinary headers the published script sends."""
        return {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self.user_agent,
            "Origin": SITE_ORIGIN,
            "Referer": SITE_ORIGIN + "/",
        }

    def exchange(self, path: str, payload: Dict[str, Any]) -> HttpReply:
        """One POST, logged in --verbose as method, path, status and time."""
        url = self.base_url + path
        started = self.rt.clock()
        body = json.dumps(payload).encode("utf-8")
        try:
            reply = send_request(
                url, body, self.headers(), {"Authorization": "Bearer " + self.key}, self.timeout, self.rt.api_open
            )
        except VeoError as err:
            self.log("POST %s -> %s (%.2f s)" % (path, err.message, self.rt.clock() - started))
            raise
        self.log("POST %s -> %d, %d bytes (%.2f s)" % (path, reply.status, len(reply.body), self.rt.clock() - started))
        return reply

    def call(
        self,
        path: str,
        payload: Dict[str, Any],
        *,
        spends: bool,
        deadline: Optional[float],
        guard: Optional[HeldInterrupts] = None,
    ) -> Any:
        """POST with retries; `spends` marks generate, resent only when surely not taken.

        With a `guard` (generate), a Ctrl-C held while a request was in flight, or pressed during
        a back-off, stops before the next try.
        """
        attempt = 0
        while True:
            try:
                reply = self.exchange(path, payload)
                error = reply_error(reply, self.rt.wall(), [self.key])
                if error is None:
                    return json.loads(reply.body.decode("utf-8"))
                raise error
            except VeoError as err:
                may_retry = err.retryable and (err.delivered is False if spends else True)
                if spends and err.retryable and not may_retry:
                    raise outcome_unknown(err)
                if not may_retry:
                    raise
                if attempt >= self.max_retries:
                    raise exhausted(err, attempt)
                if guard is not None and guard.caught:
                    raise stopped_before_resending(err)
                wait = self.retry_wait(err, attempt, deadline)
                self.note("%s; retrying in %.1f s (%d of %d)" % (err.message, wait, attempt + 1, self.max_retries))
                if guard is None:
                    self.rt.sleep(wait)
                else:
                    try:
                        guard.wait_released(self.rt.sleep, wait)
                    except KeyboardInterrupt:
                        raise stopped_before_resending(err)
                attempt += 1

    def retry_wait(self, err: VeoError, attempt: int, deadline: Optional[float]) -> float:
        """How long to wait before a retry; raise when that would pass the deadline."""
        left = (deadline - self.rt.clock()) if deadline is not None else None
        if err.retry_after is not None:
            limit = left if left is not None else ONE_OFF_RETRY_AFTER_CAP
            if err.retry_after > limit:
                raise VeoError(
                    err.code,
                    "%s, and asked to wait %s (Retry-After), longer than the %s left"
                    % (err.message, format_duration(err.retry_after), format_duration(max(limit, 0))),
                    EXIT_RATE_LIMITED if err.http_status == 429 else EXIT_FAILURE,
                    err.details,
                    hint="run the same command again after that wait",
                    http_status=err.http_status,
                )
            return err.retry_after
        wait = backoff_delay(attempt, self.rt.jitter())
        if left is not None and wait > left:
            raise err
        return wait

    def generate(self, shots: Sequence[Shot], resolution: str, guard: Optional[HeldInterrupts] = None) -> Any:
        """POST generate: spends credits."""
        body = {"shots": [shot.to_api() for shot in shots], "resolution": resolution}
        return self.call(GENERATE_PATH, body, spends=True, deadline=None, guard=guard)

    def check_status(self, tasks: Sequence[Task], resolution: str, deadline: Optional[float]) -> Any:
        """POST check-status for every task at once (one batched request)."""
        body = {"taskIds": [{"shotId": t.shot_id, "taskId": t.task_id} for t in tasks], "resolution": resolution}
        return self.call(CHECK_STATUS_PATH, body, spends=False, deadline=deadline)


def outcome_unknown(err: VeoError) -> VeoError:
    """The generate request may have arrived: say so, and resend nothing."""
    details: List[Any] = [err.message]
    if err.code not in ("NETWORK_ERROR", "BAD_RESPONSE"):
        details.append({"errorCode": err.code})
    return VeoError(
        "SUBMIT_OUTCOME_UNKNOWN",
        "the submit may have reached the service (%s); the job may exist and credits may be spent, "
        "so it was not sent again" % err.message,
        EXIT_FAILURE,
        details,
        hint="check your jobs at https://nanophoto.ai before submitting again, to avoid paying twice",
        http_status=err.http_status,
    )


def stopped_before_resending(err: VeoError) -> VeoError:
    """Ctrl-C between tries of a submit: every try was surely not taken, so nothing was spent."""
    return VeoError(
        err.code,
        "interrupted before the submit was sent again (%s); it was not taken, so nothing was spent" % err.message,
        EXIT_INTERRUPTED,
        err.details,
        hint="run the same command again when you want the job",
        http_status=err.http_status,
    )


def exhausted(err: VeoError, attempts: int) -> VeoError:
    """The last error, once retries are spent."""
    if attempts:
        err.message = "%s (after %d retr%s)" % (err.message, attempts, "y" if attempts == 1 else "ies")
    if not err.hint:
        err.hint = (
            "wait a minute, then run the same command again"
            if err.exit_status == EXIT_RATE_LIMITED
            else "check the network, then run the same command again"
        )
    return err


# ---- The job record ----

RECORD_VERSION = 1


def new_job_id(submitted: float, first_task_id: str) -> str:
    """A job id that sorts by time and names its first task."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(submitted))
    return "%s-%s" % (stamp, safe_file_stem(first_task_id)[:60])


# Record key -> (attribute, JSON type): one table for writing a record and for reading it back.
JOB_FIELDS = {
    "jobId": ("job_id", str),
    "baseUrl": ("base_url", str),
    "resolution": ("resolution", str),
    "submittedAt": ("submitted_at", str),
    "finishedAt": ("finished_at", str),
    "status": ("status", str),
    "videoUrl": ("video_url", str),
    "file": ("file", str),
    "size": ("size", int),
    "sha256": ("sha256", str),
}
TASK_FIELDS = {
    "shotId": ("shot_id", str),
    "taskId": ("task_id", str),
    "status": ("status", str),
    "rawStatus": ("raw_status", str),
    "videoUrl": ("video_url", str),
    "error": ("error", str),
    "finishedAt": ("finished_at", str),
    "elapsedSeconds": ("elapsed_seconds", float),
    "file": ("file", str),
    "size": ("size", int),
    "sha256": ("sha256", str),
}


def job_to_record(job: Job) -> Dict[str, Any]:
    """The job as the JSON of its record (never the key)."""
    record: Dict[str, Any] = {"version": RECORD_VERSION}
    record.update((key, getattr(job, attr)) for key, (attr, _) in JOB_FIELDS.items())
    record["shots"] = job.shots
    record["tasks"] = [{key: getattr(task, attr) for key, (attr, _) in TASK_FIELDS.items()} for task in job.tasks]
    return record


def typed_fields(entry: Dict[str, Any], fields: Mapping[str, Tuple[str, type]]) -> Dict[str, Any]:
    """The attributes a record entry gives, each kept only when of its JSON type."""
    found: Dict[str, Any] = {}
    for key, (attr, kind) in fields.items():
        value = entry.get(key)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, kind) and not isinstance(value, bool):
            found[attr] = value
    return found


def job_from_record(data: Any, path: str) -> Job:
    """A job from its record, checked field by field."""
    hint = "name another record (status --list shows them)"
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list) or not data["tasks"]:
        raise usage_error("the job record %s is not usable: it holds no tasks" % path, hint)
    tasks = [typed_fields(entry, TASK_FIELDS) for entry in data["tasks"] if isinstance(entry, dict)]
    job_fields = typed_fields(data, JOB_FIELDS)
    if len(tasks) != len(data["tasks"]) or any("task_id" not in t or "shot_id" not in t for t in tasks):
        raise usage_error("the job record %s is not usable: a task lacks its shotId or taskId" % path, hint)
    if not all(attr in job_fields for attr in ("job_id", "base_url", "submitted_at")):
        raise usage_error("the job record %s is not usable: jobId, baseUrl or submittedAt is missing" % path, hint)
    for task in tasks:
        if task.get("status") not in ("processing", "completed", "failed"):
            task["status"] = "processing"
    if job_fields.get("resolution") not in RESOLUTIONS:
        job_fields["resolution"] = "720p"
    shots = list(data["shots"]) if isinstance(data.get("shots"), list) else []
    return Job(tasks=[Task(**task) for task in tasks], shots=shots, **dict(job_fields, job_file=path))


def write_private_file(path: str, text: str) -> None:
    """Write a file atomically (temporary file, fsync, rename), readable by its owner only."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, mode=0o700, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=folder)  # mode 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def load_record(path: str) -> Job:
    """Read a job record from a path."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(16 * 1024 * 1024)
        parsed = json.loads(data.decode("utf-8"))
    except FileNotFoundError:
        raise usage_error("there is no job record at %s" % path, "status --list shows the saved jobs")
    except (OSError, ValueError, RecursionError) as exc:
        raise usage_error(
            "the job record %s could not be read (%s)" % (path, str(exc)[:100]), "status --list shows the saved jobs"
        )
    return job_from_record(parsed, path)


def list_records(rt: Runtime) -> List[Tuple[str, Dict[str, Any]]]:
    """Every readable job record, newest first."""
    folder = jobs_dir(rt)
    try:
        names = [name for name in os.listdir(folder) if name.endswith(".json") and not name.startswith(".")]
    except OSError:
        return []
    found: List[Tuple[str, Dict[str, Any]]] = []
    for name in names:
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as handle:
                data = json.loads(handle.read(16 * 1024 * 1024).decode("utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(data, dict) and isinstance(data.get("jobId"), str):
            found.append((path, data))
    found.sort(key=lambda item: (str(item[1].get("submittedAt", "")), item[1]["jobId"]), reverse=True)
    return found


def resolve_job_ref(ref: str, rt: Runtime) -> str:
    """A job record's path from --job: a path, or a job id in the jobs folder."""
    if os.sep in ref or (os.altsep and os.altsep in ref) or ref.endswith(".json"):
        return ref
    return os.path.join(jobs_dir(rt), safe_file_stem(ref) + ".json")


# ---- Downloads ----


@dataclass
class SavedVideo:
    """A video on disk."""

    path: str
    size: int
    sha256: str
    skipped: bool = False
    seconds: float = 0.0


def parse_content_range(value: Optional[str]) -> Optional[Tuple[int, Optional[int]]]:
    """(start, total) from 'bytes START-END/TOTAL', or None."""
    if not value or not value.startswith("bytes "):
        return None
    try:
        span, _, total = value[6:].partition("/")
        start = int(span.split("-", 1)[0])
        return start, (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None


def file_sha256(path: str) -> str:
    """The SHA-256 of a file on disk."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(DOWNLOAD_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class PartialFile:
    """The temporary file a download grows in, with its running SHA-256."""

    def __init__(self, stream: IO[bytes]) -> None:
        """Wrap an open binary file."""
        import hashlib

        self.stream = stream
        self.new_digest = hashlib.sha256
        self.digest = hashlib.sha256()
        self.have = 0
        self.validator: Optional[str] = None  # ETag or Last-Modified, for If-Range
        self.expected: Optional[int] = None

    def restart(self) -> None:
        """Throw away what was written."""
        self.stream.seek(0)
        self.stream.truncate()
        self.digest = self.new_digest()
        self.have = 0
        self.validator = None

    def write(self, chunk: bytes) -> None:
        """Append a chunk, counting and hashing it."""
        self.stream.write(chunk)
        self.digest.update(chunk)
        self.have += len(chunk)

    @property
    def whole(self) -> bool:
        """True when every announced byte is here."""
        return self.expected is not None and self.have == self.expected


def copy_body(response: Any, part: PartialFile, cancelled: Callable[[], bool]) -> None:
    """Copy a body into the file: read here, write and hash in a second thread (both drop the GIL).

    Overlapping them keeps the socket drained; a queue of 4 chunks keeps memory flat.
    """
    import queue
    import threading

    chunks: queue.Queue[Optional[bytes]] = queue.Queue(maxsize=4)
    failures: List[OSError] = []

    def sink() -> None:
        while True:
            chunk = chunks.get()
            if chunk is None:
                return
            if not failures:
                try:
                    part.write(chunk)
                except OSError as exc:
                    failures.append(exc)

    writer = threading.Thread(target=sink, name="veo-write", daemon=True)
    writer.start()
    try:
        while not failures and not cancelled():
            chunk = response.read1(DOWNLOAD_CHUNK)
            if not chunk:
                break
            chunks.put(chunk)
    finally:
        chunks.put(None)
        writer.join()
    if failures:
        raise VeoError("DOWNLOAD_FAILED", "the video could not be written to disk (%s)" % failures[0].strerror)
    if cancelled():
        raise KeyboardInterrupt


def fetch_video_once(
    url: str,
    part: PartialFile,
    existing: Optional[int],
    *,
    opener: Callable[[Any, float], Any],
    timeout: float,
    user_agent: str,
    cancelled: Callable[[], bool],
    log: Callable[[str], None],
) -> Tuple[str, str]:
    """One GET (ranged when resuming): ("done" | "skip" | "retry" | "fatal", problem)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": user_agent, "Accept": "*/*"})
    if part.have:
        request.add_header("Range", "bytes=%d-" % part.have)
        if part.validator:
            request.add_header("If-Range", part.validator)
    started = time.monotonic()
    try:
        with open_any_status(opener, request, timeout) as response:
            status = response_status(response)
            headers = response.headers
            log("GET %s -> %d (%.2f s)" % (url_without_query(url), status, time.monotonic() - started))
            length_text = (headers.get("Content-Length") or "").strip()
            length = int(length_text) if length_text.isdigit() else None
            if status == 200:
                if existing is not None and length == existing and not part.have:
                    return "skip", ""  # the same file is already there: fetch nothing again
                part.restart()
                part.expected = length
            elif status == 206:
                span = parse_content_range(headers.get("Content-Range"))
                if span is None or span[0] != part.have:
                    part.restart()  # resumed at the wrong place: start over
                    return "retry", "the server resumed at the wrong place (%s)" % headers.get("Content-Range")
                part.expected = span[1] if span[1] is not None else (part.have + length if length is not None else None)
            elif 300 <= status < 400:
                # urllib hands back a 3xx only once the redirect limit is spent.
                return "fatal", "the video link redirected more than %d times" % DOWNLOAD_REDIRECTS
            else:
                if status == 416:
                    part.restart()
                fatal = 400 <= status < 500 and status not in (408, 416, 429)
                return ("fatal" if fatal else "retry"), "the video link answered HTTP %d" % status
            part.validator = headers.get("ETag") or headers.get("Last-Modified")
            copy_body(response, part, cancelled)
    except VeoError as err:
        return "fatal", err.message
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return "retry", network_failure(exc, url).message
    except Exception as exc:  # http.client's IncompleteRead and kin
        return "retry", "the download broke off (%s)" % type(exc).__name__
    if part.expected is None:
        return "done", ""  # no Content-Length: the end of the stream is the end of the file
    if part.have > part.expected:
        part.restart()
        return "retry", "the server sent more bytes than it announced"
    if part.have < part.expected:
        # urllib does not notice a body cut short: only counting does.
        return "retry", "the download stopped at %d of %d bytes" % (part.have, part.expected)
    return "done", ""


def save_video(
    url: str,
    path: str,
    *,
    opener: Callable[[Any, float], Any],
    timeout: float,
    user_agent: str,
    cancelled: Callable[[], bool] = lambda: False,
    log: Callable[[str], None] = lambda line: None,
    tries: int = DOWNLOAD_TRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> SavedVideo:
    """Stream a video to `path`: temporary name, counted bytes, Range resume, rename when whole."""
    started = time.monotonic()
    folder = os.path.dirname(os.path.abspath(path))
    existing = os.path.getsize(path) if os.path.isfile(path) else None
    temporary = os.path.join(folder, ".%s.%s.part" % (os.path.basename(path)[:60], os.urandom(4).hex()))
    # Not mkstemp: a video gets the user's usual permissions (umask), not 0600.
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            part = PartialFile(stream)
            outcome, problem = "retry", ""
            for attempt in range(tries):
                if attempt:
                    sleep(min(0.25 * 2**attempt, 4.0))
                outcome, problem = fetch_video_once(
                    url,
                    part,
                    existing,
                    opener=opener,
                    timeout=timeout,
                    user_agent=user_agent,
                    cancelled=cancelled,
                    log=log,
                )
                if outcome != "retry":
                    break
            if outcome == "skip":
                assert existing is not None
                return SavedVideo(path, existing, file_sha256(path), skipped=True)
            if outcome != "done":
                raise VeoError("DOWNLOAD_FAILED", "%s: %s" % (url_without_query(url), problem), EXIT_FAILURE)
        # No fsync: a video is checked by size and SHA-256, and flushing 256 MiB to disk
        # would double the time; the rename alone keeps a half-written file off the final name.
        os.replace(temporary, path)
        return SavedVideo(path, part.have, part.digest.hexdigest(), seconds=time.monotonic() - started)
    finally:
        if os.path.exists(temporary):
            try:
                os.unlink(temporary)
            except OSError:
                pass


def prepare_download_dir(directory: str) -> str:
    """Create the download folder; a path that is a file is a clear error."""
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise usage_error("--download %s is a file, not a folder" % directory, "name a folder to save the videos in")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise usage_error(
            "the folder %s could not be created (%s)" % (directory, exc.strerror or exc),
            "name a folder you can write to",
        )
    return directory


class Downloader:
    """Saves videos a few at a time while the job goes on; results are applied on the main thread."""

    def __init__(
        self,
        directory: str,
        job: Job,
        rt: Runtime,
        user_agent: str,
        timeout: float,
        workers: int,
        log: Callable[[str], None],
    ) -> None:
        """Prepare to save into `directory`."""
        import threading

        self.directory = directory
        self.job = job
        self.rt = rt
        self.user_agent = user_agent
        self.timeout = timeout
        self.workers = workers
        self.log = log
        self.stop = threading.Event()
        self.pending: Dict[str, Future[SavedVideo]] = {}
        self.started: Set[str] = set()
        self.failed = False
        self.known: List[Tuple[str, SavedVideo]] = []
        self.pool: Optional[ThreadPoolExecutor] = None

    def start_ready(self) -> None:
        """Start saving every completed shot (and the combined video) not yet saved or started."""
        names = plan_file_names(self.job)
        wanted: List[Tuple[str, Optional[str], Optional[str], Optional[int]]] = [
            (t.shot_id, t.video_url if t.status == "completed" else None, t.file, t.size) for t in self.job.tasks
        ]
        if job_status(self.job.tasks) in ("completed", "partial"):
            wanted.append((self.job.job_id, self.job.video_url, self.job.file, self.job.size))
        for key, url, saved_file, saved_size in wanted:
            if not url or key in self.started:
                continue
            path = os.path.join(self.directory, names[key])
            self.started.add(key)
            if (
                saved_file == path
                and saved_size is not None
                and os.path.isfile(path)
                and os.path.getsize(path) == saved_size
            ):
                # The record knows this file is whole: fetch nothing, but still report it.
                self.known.append((key, SavedVideo(path, saved_size, "", skipped=True)))
                continue
            if self.pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="veo-download")
            self.pending[key] = self.pool.submit(
                save_video,
                url,
                path,
                opener=self.rt.download_open,
                timeout=self.timeout,
                user_agent=self.user_agent,
                cancelled=self.stop.is_set,
                log=self.log,
            )

    def collect(self, wait: bool = False) -> List[Tuple[str, Optional[SavedVideo], Optional[str]]]:
        """Results of finished downloads as (key, saved, error); wait for all when asked."""
        done: List[Tuple[str, Optional[SavedVideo], Optional[str]]] = [(k, v, None) for k, v in self.known]
        self.known = []
        for key, future in list(self.pending.items()):
            if not wait and not future.done():
                continue
            del self.pending[key]
            try:
                saved = future.result()
            except VeoError as err:
                self.failed = True
                done.append((key, None, err.message))
                continue
            except KeyboardInterrupt:
                continue
            self.apply(key, saved)
            done.append((key, saved, None))
        return done

    def apply(self, key: str, saved: SavedVideo) -> None:
        """Note a saved file on its shot (or the job)."""
        for task in self.job.tasks:
            if task.shot_id == key:
                task.file, task.size, task.sha256, task.download_error = saved.path, saved.size, saved.sha256, None
                return
        self.job.file, self.job.size, self.job.sha256 = saved.path, saved.size, saved.sha256

    def note_failure(self, key: str, message: str) -> None:
        """Note a file that could not be saved."""
        for task in self.job.tasks:
            if task.shot_id == key:
                task.download_error = message
                return
        self.job.download_error = message

    def shutdown(self) -> None:
        """Stop the workers at once (Ctrl-C): partial files are removed by save_video."""
        self.stop.set()
        if self.pool is not None:
            self.pool.shutdown(wait=True)


# ---- Progress display (stderr) and output (stdout) ----

COLORS = {"done": "32", "failed": "31", "running": "33", "queued": "2"}


def shot_times(tasks: Sequence[Task], elapsed: float) -> List[Optional[float]]:
    """Each shot's own time: shots run one after another, each from the end of the one before."""
    times: List[Optional[float]] = []
    previous_end = 0.0
    for task in tasks:
        if task.finished and task.elapsed_seconds is not None:
            times.append(max(0.0, task.elapsed_seconds - previous_end))
            previous_end = max(previous_end, task.elapsed_seconds)
        elif task.finished:
            times.append(None)
        else:
            times.append(None)
    running_seen = False
    for index, task in enumerate(tasks):
        if not task.finished and not running_seen and display_state(task) == "running":
            times[index] = max(0.0, elapsed - previous_end)
            running_seen = True
    return times


class Reporter:
    """People's text on stderr: one line per change, or a live block on a terminal."""

    def __init__(
        self, stream: IO[str], *, quiet: bool = False, verbose: bool = False, live: bool = False, color: bool = False
    ) -> None:
        """Write to `stream` in the mode asked."""
        self.stream = stream
        self.quiet = quiet
        self.verbose = verbose
        self.live = live and not quiet
        self.color = color and self.live
        self.secrets: List[str] = []
        self.block: List[str] = []
        self.warned: Set[str] = set()

    def write(self, text: str) -> None:
        """Write lines, keeping a live block under them; never the key."""
        text = redact(text, self.secrets)
        try:
            if self.block:
                self.stream.write("\x1b[%dA\r\x1b[J" % len(self.block))
                self.stream.write(text + "\n" + "".join(line + "\n" for line in self.block))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed stderr must not end the job

    def info(self, text: str) -> None:
        """A line for people, unless --quiet."""
        if not self.quiet:
            self.write(text)

    def warn(self, text: str) -> None:
        """A warning, once, unless --quiet."""
        if not self.quiet and text not in self.warned:
            self.warned.add(text)
            self.write("warning: " + text)

    def http(self, text: str) -> None:
        """One line per HTTP exchange with --verbose."""
        if self.verbose:
            self.write("http: " + text)

    def media(self, path: str) -> None:
        """MEDIA:<absolute path>, which agents attach to their reply; even with --quiet."""
        self.write("MEDIA:" + os.path.abspath(path))

    def error(self, err: VeoError) -> None:
        """error: <what>, the details, then hint: <how to fix>; always shown."""
        lines = ["error: " + err.message]
        if len(err.details) > 1 and all(isinstance(d, str) for d in err.details):
            lines += ["  - " + str(detail) for detail in err.details[:30]]
        if err.hint:
            lines.append("hint: " + err.hint)
        self.write("\n".join(lines))

    def shots(self, job: Job, elapsed: float, changed: Sequence[Task]) -> None:
        """Show shot states: redraw the live block, or one plain line per change."""
        if self.quiet:
            return
        times = shot_times(job.tasks, elapsed)
        if not self.live:
            for task in changed:
                state = display_state(task)
                took = times[job.tasks.index(task)]
                suffix = " in %s" % format_duration(took) if state in ("done", "failed") and took is not None else ""
                reason = ": %s" % task.error if state == "failed" and task.error else ""
                self.write("[%s] %s: %s%s%s" % (format_duration(elapsed), task.shot_id, state, suffix, reason))
            return
        width = min(max(len(task.shot_id) for task in job.tasks), 24)
        done = sum(task.status == "completed" for task in job.tasks)
        lines = ["job %s  %d/%d done  %s elapsed" % (job.job_id, done, len(job.tasks), format_duration(elapsed))]
        for task, took in zip(job.tasks, times):
            state = display_state(task)
            shown = state.ljust(7)
            if self.color:
                shown = "\x1b[%sm%s\x1b[0m" % (COLORS[state], shown)
            note = format_duration(took) if took is not None else ""
            if state == "failed" and task.error:
                note = (note + "  " + task.error)[:60]
            lines.append("  %s  %s  %s" % (task.shot_id[:24].ljust(width), shown, note))
        try:
            if self.block:
                self.stream.write("\x1b[%dA\r\x1b[J" % len(self.block))
            self.block = [redact(line, self.secrets) for line in lines]
            self.stream.write("".join(line + "\n" for line in self.block))
            self.stream.flush()
        except (OSError, ValueError):
            pass

    def end_live(self) -> None:
        """Leave the live block on screen as it is."""
        self.block = []


class Output:
    """stdout: NDJSON stages, one JSON document (--json-only), or a table on a terminal."""

    def __init__(self, stream: IO[str], *, json_only: bool, human: bool) -> None:
        """Write to `stream` in the mode asked."""
        self.stream = stream
        self.json_only = json_only
        self.human = human and not json_only
        self.secrets: List[str] = []

    def emit(self, document: Any) -> None:
        """One JSON document on a line of its own; never the key."""
        try:
            text = json.dumps(redact_json(document, self.secrets), separators=(",", ":"), ensure_ascii=True)
        except RecursionError:  # a hostile answer nested too deeply: keep the rest
            document = dict(document, response="(the service's answer was nested too deeply to print)")
            text = json.dumps(redact_json(document, self.secrets), separators=(",", ":"), ensure_ascii=True)
        self.stream.write(text + "\n")
        self.stream.flush()

    def stage(self, name: str, payload: Dict[str, Any]) -> None:
        """An NDJSON stage line (not with --json-only or for people)."""
        if not self.json_only and not self.human:
            self.emit(dict({"stage": name}, **payload))

    def final(self, result: Dict[str, Any]) -> None:
        """The result or error object, last."""
        if self.json_only:
            self.emit(result)
        elif self.human:
            self.stream.write(redact(human_summary(result), self.secrets))
            self.stream.flush()
        else:
            self.emit({"stage": "result", "result": result})


def human_summary(result: Dict[str, Any]) -> str:
    """The result as a table for a person at a terminal."""
    if result.get("status") == "error":
        return ""
    if result.get("status") == "dry-run":
        estimate = result["estimate"]
        request = result["request"]
        return "dry run: %s %s\n%d shot(s), %d s of video, %d credits; nothing was sent\n%s\n" % (
            request["method"],
            request["url"],
            estimate["shots"],
            estimate["seconds"],
            estimate["credits"],
            json.dumps(request["body"], indent=2),
        )
    rows = [("SHOT", "STATUS", "TIME", "FILE OR URL")]
    previous_end = 0.0
    for shot in result.get("shots", []):
        where = shot.get("file") or url_without_query(shot.get("videoUrl") or "") or (shot.get("error") or "")
        took = shot.get("elapsedSeconds")
        if isinstance(took, (int, float)):
            # Shots run one after another: each one's own time starts where the one before ended.
            took, previous_end = max(0.0, took - previous_end), max(previous_end, took)
        rows.append((str(shot["shotId"])[:32], str(shot["status"]), format_duration(took), where))
    if result.get("videoUrl") or result.get("file"):
        rows.append(("(combined)", "", "", result.get("file") or url_without_query(result["videoUrl"])))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3] for row in rows]
    head = "job %s: %s after %s" % (
        result.get("jobId"),
        result.get("status"),
        format_duration(result.get("elapsedSeconds")),
    )
    return head + "\n" + "\n".join(line.rstrip() for line in lines) + "\n"


# ---- Commands ----


@dataclass
class Session:
    """One run's options and its ways to talk."""

    args: argparse.Namespace
    rt: Runtime
    reporter: Reporter
    output: Output
    record_ok: bool = True

    def resume_command(self, job: Job) -> str:
        """The command that picks this job up again."""
        ref = job.job_id if job.job_file and os.path.dirname(job.job_file) == jobs_dir(self.rt) else job.job_file
        if ref is None:
            tasks = [{"shotId": t.shot_id, "taskId": t.task_id} for t in job.tasks]
            return "%s status --task-ids-json '%s' --follow" % (self.rt.program, json.dumps(tasks))
        return "%s status --job %s --follow" % (self.rt.program, ref)

    def save(self, job: Job) -> None:
        """Write the job record; if it cannot be written, say so once and go on."""
        if not job.job_file:
            return
        try:
            write_private_file(job.job_file, json.dumps(job_to_record(job), indent=1, sort_keys=False) + "\n")
        except OSError as exc:
            self.reporter.warn(
                "the job record could not be written to %s (%s); the run goes on, and the task IDs are "
                "in the output" % (job.job_file, exc.strerror or exc)
            )
            job.job_file = None
            self.record_ok = False


def read_shots_source(args: argparse.Namespace, rt: Runtime) -> Any:
    """The raw shots from exactly one of --shots-json, --shots-file, --prompt."""
    sources = [
        name
        for name, value in (
            ("--shots-json", args.shots_json),
            ("--shots-file", args.shots_file),
            ("--prompt", args.prompt),
        )
        if value is not None
    ]
    hint = "give exactly one of --shots-json JSON, --shots-file PATH (- for standard input), --prompt TEXT"
    if len(sources) != 1:
        raise usage_error("submit needs exactly one source of shots, got %s" % (" and ".join(sources) or "none"), hint)
    prompt_only = [
        name
        for name, value in (
            ("--generation-type", args.generation_type),
            ("--aspect-ratio", args.aspect_ratio),
            ("--image-url", args.image_url),
            ("--shot-id", args.shot_id),
        )
        if value is not None
    ]
    if args.prompt is None and prompt_only:
        raise usage_error("%s only goes with --prompt" % ", ".join(prompt_only), hint)
    if args.prompt is not None:
        shot: Dict[str, Any] = {
            "id": args.shot_id if args.shot_id is not None else "shot-1",
            "prompt": args.prompt,
            "generationType": args.generation_type or "TEXT_2_VIDEO",
            "aspectRatio": args.aspect_ratio or "16:9",
        }
        if args.image_url:
            shot["imageUrls"] = list(args.image_url)
        return [shot]
    if args.shots_json is not None:
        return parse_json_text(args.shots_json, "--shots-json", hint)
    path = args.shots_file
    try:
        if path == "-":
            text = rt.stdin.read(64 * 1024 * 1024)
        else:
            with open(path, encoding="utf-8-sig") as handle:
                text = handle.read(64 * 1024 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise usage_error(
            "the shots file %s could not be read (%s)" % (path, getattr(exc, "strerror", None) or exc), hint
        )
    return parse_json_text(text, "the shots file %s" % ("on standard input" if path == "-" else path), hint)


def make_client(args: argparse.Namespace, session: Session, base_url: str) -> ApiClient:
    """Find the key and build the API client."""
    key, _source = find_api_key(args.api_key, session.rt, session.reporter.warn)
    session.reporter.secrets.append(key)
    session.output.secrets.append(key)
    return ApiClient(
        base_url,
        key,
        args.user_agent,
        args.timeout,
        args.max_retries,
        session.rt,
        session.reporter.http,
        session.reporter.warn,
    )


def job_from_generate_answer(
    answer: Any, shots: Sequence[Shot], args: argparse.Namespace, base_url: str, submitted: float, rt: Runtime
) -> Job:
    """The job a generate answer made; a job that failed at once, or names no task, is an error."""
    if (
        isinstance(answer, dict)
        and status_word_kind(answer.get("status")) == "failed"
        and not any(
            isinstance(entry, dict) and first_field(entry, ("taskId", "task_id"))
            for entry in (answer["shots"] if isinstance(answer.get("shots"), list) else [])
        )
    ):
        reason = error_text_of(answer) or "the service refused the job as a whole"
        raise VeoError(
            "GENERATION_FAILED",
            "the job failed at once: %s" % reason,
            EXIT_GENERATION_FAILED,
            [answer],
            hint="check the prompts and image URLs; failed jobs are refunded",
        )
    tasks = tasks_from_generate_answer(shots, answer, utc_iso(rt.wall()))
    if not tasks:
        raise VeoError(
            "SUBMIT_OUTCOME_UNKNOWN",
            "the service accepted the submit but its answer names no task ID for every shot; the job may "
            "exist and credits may be spent, so it was not sent again",
            EXIT_FAILURE,
            [short_repr(answer, 500)],
            hint="check your jobs at https://nanophoto.ai before submitting again",
        )
    job_id = new_job_id(submitted, tasks[0].task_id)
    job = Job(
        job_id=job_id,
        base_url=base_url,
        resolution=args.resolution,
        submitted_at=utc_iso(submitted),
        tasks=tasks,
        shots=[shot.to_api() for shot in shots],
        last_response=answer,
        job_file=os.path.abspath(args.job_file) if args.job_file else os.path.join(jobs_dir(rt), job_id + ".json"),
    )
    job.status = job_status(job.tasks)
    return job


def record_and_tell(job: Job, answer: Any, estimate: Estimate, session: Session) -> None:
    """Save the record first, then tell: the task IDs on stdout and stderr."""
    args, reporter = session.args, session.reporter
    session.save(job)
    stage = {"jobId": job.job_id, "jobFile": job.job_file, "response": answer}
    stage["shots"] = [{"shotId": t.shot_id, "taskId": t.task_id} for t in job.tasks]
    session.output.stage("submitted", stage)
    reporter.info(
        "submitted job %s: %d shot(s) at %s, %d s of video, %d credits"
        % (job.job_id, estimate.shots, args.resolution, estimate.seconds, estimate.credits)
    )
    reporter.info("tasks: " + ", ".join("%s=%s" % (t.shot_id, t.task_id) for t in job.tasks))
    if job.job_file:
        reporter.info("job record: %s" % job.job_file)
    if not args.follow:
        reporter.info("follow it with: %s" % session.resume_command(job))


def cmd_submit(args: argparse.Namespace, session: Session) -> int:
    """submit: validate, (dry run or) send generate, write the record, follow when asked."""
    rt, reporter = session.rt, session.reporter
    raw = read_shots_source(args, rt)
    shots, warnings = validate_shots(raw, args.resolution)
    for warning in warnings:
        reporter.warn(warning)
    estimate = estimate_job(len(shots), args.resolution)
    if args.max_credits is not None and estimate.credits > args.max_credits:
        raise usage_error(
            "the job would cost %d credits, over --max-credits %d" % (estimate.credits, args.max_credits),
            "use fewer shots or 720p, or raise --max-credits; nothing was sent",
        )
    base_url = check_base_url(args.base_url or rt.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
    if args.download is not None and not args.follow:
        raise usage_error(
            "--download on submit needs --follow (videos exist only once the shots complete)",
            "add --follow, or save later with: status --job <jobId> --download DIR",
        )
    if args.download is not None:
        prepare_download_dir(args.download)
    body = {"shots": [shot.to_api() for shot in shots], "resolution": args.resolution}
    if args.dry_run:
        headers = ApiClient(base_url, "", args.user_agent, 0, 0, rt, reporter.http, reporter.warn).headers()
        headers["Authorization"] = "Bearer ***"
        reporter.info(
            "dry run: %d shot(s) at %s, %d s of video, %d credits; nothing was sent"
            % (estimate.shots, args.resolution, estimate.seconds, estimate.credits)
        )
        session.output.final(
            {
                "status": "dry-run",
                "request": {"method": "POST", "url": base_url + GENERATE_PATH, "headers": headers, "body": body},
                "estimate": estimate.to_json(),
            }
        )
        return EXIT_OK
    client = make_client(args, session, base_url)
    submitted = rt.wall()
    # From the moment generate may leave until the job is recorded and told, a first Ctrl-C or
    # SIGTERM waits for the answer, so the job cannot be lost; a second one stops at once.
    waiting = "waiting for the service's answer, so that the job is not lost (Ctrl-C again stops at once)"
    guard = HeldInterrupts(on_hold=lambda: reporter.write(waiting)).start()
    try:
        try:
            answer = client.generate(shots, args.resolution, guard)
            job = job_from_generate_answer(answer, shots, args, base_url, submitted, rt)
        except KeyboardInterrupt:
            raise VeoError(
                "SUBMIT_OUTCOME_UNKNOWN",
                "interrupted while submitting; the job may exist and credits may be spent",
                EXIT_INTERRUPTED,
                hint="check your jobs at https://nanophoto.ai before submitting again, to avoid paying twice",
            )

        def announce() -> None:
            """Record and tell the job; a Ctrl-C held until now stops the run here (run_job says how to resume)."""
            try:
                record_and_tell(job, answer, estimate, session)
            finally:
                guard.stop()
            if guard.caught:
                raise KeyboardInterrupt

        return run_job(job, client, session, one_off=not args.follow, before=announce)
    finally:
        guard.stop()


def find_record_for_tasks(tasks: Sequence[Task], rt: Runtime) -> Optional[Job]:
    """A saved job with exactly these task IDs, so that status --task-ids-json reuses its record."""
    wanted = sorted(task.task_id for task in tasks)
    for path, data in list_records(rt):
        entries = data.get("tasks")
        if isinstance(entries, list) and sorted(str(e.get("taskId")) for e in entries if isinstance(e, dict)) == wanted:
            try:
                return job_from_record(data, path)
            except VeoError:
                continue
    return None


def cmd_status(args: argparse.Namespace, session: Session) -> int:
    """status: one check, or follow, for tasks given, a saved job, or the newest job; or list jobs."""
    rt = session.rt
    if args.list:
        session.output.emit(
            [
                {
                    "jobId": data["jobId"],
                    "jobFile": path,
                    "submittedAt": data.get("submittedAt"),
                    "shots": len(data["tasks"]) if isinstance(data.get("tasks"), list) else 0,
                    "status": data.get("status"),
                }
                for path, data in list_records(rt)
            ]
        )
        return EXIT_OK
    sources = [
        name
        for name, value in (("--task-ids-json", args.task_ids_json), ("--job", args.job), ("--last", args.last or None))
        if value is not None
    ]
    if len(sources) != 1:
        raise usage_error(
            "status needs exactly one of --task-ids-json, --job, --last (or --list), got %s"
            % (" and ".join(sources) or "none"),
            "e.g. status --last --follow, or status --job <jobId> --follow",
        )
    if args.task_ids_json is not None:
        tasks = parse_task_ids(parse_json_text(args.task_ids_json, "--task-ids-json", "give a JSON array of tasks"))
        base_url = check_base_url(args.base_url or rt.environ.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
        found = find_record_for_tasks(tasks, rt)
        if found is not None:
            job = found
        else:
            now = rt.wall()
            job_id = new_job_id(now, tasks[0].task_id)
            job = Job(
                job_id=job_id,
                base_url=base_url,
                resolution=args.resolution or "720p",
                submitted_at=utc_iso(now),
                tasks=tasks,
                job_file=os.path.join(jobs_dir(rt), job_id + ".json"),
            )
    else:
        if args.last:
            records = list_records(rt)
            if not records:
                raise usage_error(
                    "there is no saved job in %s" % jobs_dir(rt), "submit a job first, or use status --task-ids-json"
                )
            path = records[0][0]
        else:
            path = resolve_job_ref(args.job, rt)
        job = load_record(path)
        base_url = check_base_url(args.base_url or job.base_url)
    job.base_url = base_url
    if args.resolution:
        job.resolution = args.resolution
    if args.download is not None:
        prepare_download_dir(args.download)
    client = make_client(args, session, base_url)
    return run_job(job, client, session, one_off=not args.follow)


def run_job(
    job: Job, client: ApiClient, session: Session, *, one_off: bool, before: Callable[[], None] = lambda: None
) -> int:
    """Check once or follow to the end; save videos; print the result. Ctrl-C and errors keep the job."""
    args, rt, reporter = session.args, session.rt, session.reporter
    downloader: Optional[Downloader] = None
    submitted_ts = iso_to_timestamp(job.submitted_at) or rt.wall()
    max_wait = args.max_wait if args.max_wait is not None else default_max_wait(len(job.tasks))
    deadline = rt.clock() + max_wait
    timed_out = False
    failure: Optional[VeoError] = None
    try:
        # From here on the job exists: an interrupt at any point keeps it and says how to resume.
        before()
        if args.download is not None:
            downloader = Downloader(
                args.download, job, rt, args.user_agent, args.timeout, args.download_workers, reporter.http
            )
        if one_off and args.command == "status":
            # Always ask, even when the record says finished: links expire, and fresh ones come back.
            answer = client.check_status(job.tasks, job.resolution, None)
            note_answer(job, answer, session, submitted_ts, downloader)
        elif one_off:
            pass  # submit without --follow: the generate answer is all there is to say
        else:
            timed_out = poll_until_done(job, client, session, submitted_ts, deadline, downloader)
        if downloader is not None:
            downloader.start_ready()
            note_downloads(downloader, session, job, wait=True)
    except KeyboardInterrupt:
        if downloader is not None:
            downloader.shutdown()
        reporter.end_live()
        session.save(job)
        reporter.write("interrupted; the job goes on at the service. Resume with: %s" % session.resume_command(job))
        session.output.final(build_result(job, rt.wall() - submitted_ts))
        return EXIT_INTERRUPTED
    except VeoError as err:
        failure = err
    # The work is done: an interrupt now would only cost the user the result, so it waits.
    with HeldInterrupts():
        return finish_job(job, session, submitted_ts, timed_out, failure, downloader)


def finish_job(
    job: Job,
    session: Session,
    submitted_ts: float,
    timed_out: bool,
    failure: Optional[VeoError],
    downloader: Optional[Downloader],
) -> int:
    """Save the record, tell people and print the result; the exit status."""
    reporter = session.reporter
    reporter.end_live()
    if downloader is not None and failure is not None:
        downloader.shutdown()
    session.save(job)
    result = build_result(job, session.rt.wall() - submitted_ts)
    if timed_out:
        result["status"] = "timeout"
    if failure is not None:
        reporter.error(failure)
        reporter.info("the job is kept; resume with: %s" % session.resume_command(job))
        result["error"] = failure.to_json()["error"]
        session.output.final(result)
        return failure.exit_status
    summarize(job, result, session, timed_out)
    session.output.final(result)
    return exit_status_for(result["status"], downloader is not None and downloader.failed)


def note_answer(job: Job, answer: Any, session: Session, submitted_ts: float, downloader: Optional[Downloader]) -> None:
    """Fold an answer in; on change: save the record, a progress stage, a line for people."""
    now = session.rt.wall()
    elapsed = now - submitted_ts
    before = {id(task): task.status for task in job.tasks}
    changed = apply_status_answer(job, answer, utc_iso(now), elapsed)
    job.last_response = answer
    job.status = job_status(job.tasks)
    if job.status != "processing" and not job.finished_at:
        job.finished_at = utc_iso(now)
    if changed:
        session.save(job)
    # Agents read stdout: a stage only when a shot's outcome changed, not its wording.
    moved = [task for task in changed if before[id(task)] != task.status]
    if moved:
        session.output.stage(
            "progress",
            {
                "elapsedSeconds": round(elapsed, 1),
                "shots": [
                    {"shotId": t.shot_id, "status": t.status, "videoUrl": t.video_url, "error": t.error} for t in moved
                ],
            },
        )
    if changed or session.reporter.live:
        session.reporter.shots(job, elapsed, changed)
    if downloader is not None:
        downloader.start_ready()


def note_downloads(downloader: Downloader, session: Session, job: Job, wait: bool = False) -> None:
    """Report finished downloads (file name and MEDIA: line) and save them in the record."""
    results = downloader.collect(wait=wait)
    for key, saved, problem in results:
        label = "the combined video" if key == job.job_id else key
        if saved is not None:
            took = "" if saved.skipped else " in %.2f s" % saved.seconds
            verb = "already saved" if saved.skipped else "saved"
            session.reporter.info("%s %s: %s (%.1f MB%s)" % (verb, label, saved.path, saved.size / 1e6, took))
            session.reporter.media(saved.path)
        else:
            downloader.note_failure(key, problem or "unknown")
            session.reporter.write("error: could not save %s: %s" % (label, problem))
            session.reporter.info("hint: run the same status command with --download again to retry")
    if results:
        session.save(job)


def poll_until_done(
    job: Job,
    client: ApiClient,
    session: Session,
    submitted_ts: float,
    deadline: float,
    downloader: Optional[Downloader],
) -> bool:
    """Poll (one batched request a round) until every shot finished; True if the deadline came first."""
    rt, reporter = session.rt, session.reporter
    interval = session.args.poll_interval
    while True:
        try:
            answer = client.check_status(job.tasks, job.resolution, deadline)
        except VeoError as err:
            if not err.retryable:
                raise
            # A round that failed after its retries costs only time: poll again.
            reporter.warn("checking the status failed: %s; polling goes on" % err.message)
            reporter.warned.discard("checking the status failed: %s; polling goes on" % err.message)
        else:
            note_answer(job, answer, session, submitted_ts, downloader)
        if downloader is not None:
            note_downloads(downloader, session, job)
        if job_status(job.tasks) != "processing":
            return False
        left = deadline - rt.clock()
        if left <= 0:
            return True
        pause(min(interval, left), job, session, submitted_ts)


def pause(seconds: float, job: Job, session: Session, submitted_ts: float) -> None:
    """Wait between rounds; on a terminal, tick the live block's clock every second meanwhile."""
    rt = session.rt
    if not session.reporter.live:
        rt.sleep(seconds)
        return
    end = rt.clock() + seconds
    while True:
        left = end - rt.clock()
        if left <= 0:
            return
        rt.sleep(min(1.0, left))
        session.reporter.shots(job, rt.wall() - submitted_ts, [])


def summarize(job: Job, result: Dict[str, Any], session: Session, timed_out: bool) -> None:
    """The final summary for people on stderr, with how to resume when the job is not done."""
    reporter = session.reporter
    total = len(job.tasks)
    done = sum(t.status == "completed" for t in job.tasks)
    failed = [t for t in job.tasks if t.status == "failed"]
    status = result["status"]
    line = "%s: %d of %d shot(s) completed" % (status, done, total)
    if failed:
        line += ", %d failed" % len(failed)
    reporter.info(line + " (%s since submit)" % format_duration(result["elapsedSeconds"]))
    for task in failed:
        reporter.info("  %s failed: %s" % (task.shot_id, task.error))
    if timed_out:
        reporter.write("error: --max-wait ran out before every shot finished; the job goes on at the service")
        reporter.write("hint: resume with: %s" % session.resume_command(job))
    elif status == "processing":
        reporter.info("still running; check again with: %s" % session.resume_command(job))
    if failed:
        reporter.info("hint: failed shots are refunded; fix their prompts or images and submit them again")


# ---- Command line ----

SUBMIT_EXAMPLES = """examples:
  %(prog)s --prompt "a red fox running through fresh snow, golden hour" --follow --download videos/
  %(prog)s --shots-file shots.json --resolution 720p --follow --json-only
  %(prog)s --prompt "the photo comes alive" --generation-type REFERENCE_2_VIDEO \\
      --image-url https://example.com/cat.jpg --aspect-ratio 9:16 --dry-run
  cat shots.json | %(prog)s --shots-file - --max-credits 50 --follow

The API key comes from --api-key, else $NANOPHOTO_API_KEY, else OpenClaw's config
(skills.entries.veo-3-1.apiKey). Exit statuses: 0 ok, 1 shots failed, 2 bad input,
3 key, 4 credits, 5 rate limit, 6 --max-wait ran out, 7 network/server, 8 unknown task,
130 interrupted.
"""

STATUS_EXAMPLES = """examples:
  %(prog)s --last --follow --download videos/
  %(prog)s --job 20261124T100000Z-task_abc123 --follow --json-only
  %(prog)s --task-ids-json '[{"shotId": "shot-1", "taskId": "task_abc123"}]'
  %(prog)s --list
"""


def terminal_columns() -> int:
    """The width for --help: $COLUMNS, else the terminal's, else 80 (as shutil.get_terminal_size)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0 and sys.__stdout__ is not None:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):  # not a terminal, or a stream without a descriptor
            columns = 0
    return columns if columns > 0 else 80


def build_parser(prog: str = SKILL_NAME) -> argparse.ArgumentParser:
    """The command line: submit and status, with the published flags and what the spec adds.

    `prog` is how the user ran it, so that the examples in --help can be pasted as they are.
    """
    import argparse

    # Left to itself argparse imports shutil (~2 ms at every start) to learn this width.
    width = terminal_columns() - 2

    class Parser(argparse.ArgumentParser):
        """An ArgumentParser whose errors are VeoErrors (exit 2, JSON on stdout)."""

        def __init__(self, **kwargs: Any) -> None:
            layout = kwargs.pop("formatter_class", argparse.HelpFormatter)
            super().__init__(formatter_class=lambda prog: layout(prog, width=width), **kwargs)

        def error(self, message: str) -> Any:
            raise usage_error(message, "see %s --help" % self.prog)

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (0 < value <= LONGEST_SECONDS):
            raise argparse.ArgumentTypeError("%r is not a number of seconds above 0 (like 8 or 0.5)" % text)
        return value

    def count(text: str) -> int:
        if not text.strip().isdigit() or len(text.strip()) > 6:
            raise argparse.ArgumentTypeError("%r is not a whole number from 0" % text)
        return int(text)

    def workers(text: str) -> int:
        value = count(text)
        if not 1 <= value <= 32:
            raise argparse.ArgumentTypeError("%r is not a number from 1 to 32" % text)
        return value

    common = Parser(add_help=False)
    option = common.add_argument
    option("--follow", action="store_true", help="poll until every shot is completed or failed")
    option("--json-only", action="store_true", help="print exactly one JSON document at the end")
    option("--download", metavar="DIR", help="save the videos of completed shots into DIR")
    option(
        "--poll-interval",
        type=seconds,
        default=DEFAULT_POLL_INTERVAL,
        metavar="S",
        help="seconds between checks (default 8)",
    )
    option("--max-wait", type=seconds, metavar="S", help="seconds to follow at most (default 1800, or 300 a shot)")
    option("--timeout", type=seconds, default=DEFAULT_TIMEOUT, metavar="S", help="per request (default 60)")
    option(
        "--max-retries", type=count, default=DEFAULT_MAX_RETRIES, metavar="N", help="retries of a failed request (5)"
    )
    option("--api-key", help="the API key (other users can see it: prefer $%s)" % ENV_API_KEY)
    option("--user-agent", default=DEFAULT_USER_AGENT, help="the User-Agent header to send")
    option("--base-url", metavar="URL", help="API origin (default $%s or %s)" % (ENV_BASE_URL, DEFAULT_BASE_URL))
    option(
        "--download-workers",
        type=workers,
        default=DEFAULT_DOWNLOAD_WORKERS,
        metavar="N",
        help="videos saved at once (4)",
    )
    noise = common.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (errors and MEDIA: stay)")
    noise.add_argument("-v", "--verbose", action="store_true", help="one stderr line per HTTP exchange")

    parser = Parser(
        prog=prog,
        description="Make videos with NanoPhoto.AI's Veo 3.1 API.",
        epilog="run '%s submit --help' or '%s status --help' for examples" % (prog, prog),
    )
    parser.add_argument("--version", action="version", version="%s %s" % (SKILL_NAME, __version__))
    commands = parser.add_subparsers(dest="command", metavar="{submit,status}")
    commands.required = True

    def command(name: str, summary: str, description: str, examples: str) -> Callable[..., Any]:
        """A subcommand with the common options; its add_argument."""
        sub = commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=description,
            epilog=examples,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub.add_argument

    option = command("submit", "submit shots (and follow them)", "Submit 1-21 shots as one job.", SUBMIT_EXAMPLES)
    option("--shots-json", metavar="JSON", help="the shots as a JSON array")
    option("--shots-file", metavar="PATH", help="a file holding the shots JSON (- for standard input)")
    option("--prompt", metavar="TEXT", help="one shot from this prompt")
    option("--generation-type", choices=list(GENERATION_TYPES), help="with --prompt (default TEXT_2_VIDEO)")
    option("--aspect-ratio", choices=ASPECT_RATIOS, help="with --prompt (default 16:9)")
    option("--image-url", action="append", metavar="URL", help="with --prompt; repeatable")
    option("--shot-id", metavar="ID", help="with --prompt (default shot-1)")
    option("--resolution", choices=RESOLUTIONS, default="720p", help="720p (default), 1080p or 4k")
    option("--dry-run", action="store_true", help="print the request and the estimate; send nothing")
    option("--max-credits", type=count, metavar="N", help="refuse a job estimated above N credits")
    option("--job-file", metavar="PATH", help="where to write the job record")
    option = command(
        "status", "check tasks or a saved job", "Check the status of tasks or of a saved job.", STATUS_EXAMPLES
    )
    option("--task-ids-json", metavar="JSON", help='tasks as [{"shotId": ..., "taskId": ...}]')
    option("--job", metavar="JOB", help="a job record's path, or its job id")
    option("--last", action="store_true", help="the newest saved job")
    option("--list", action="store_true", help="print the saved jobs, newest first; sends nothing")
    option("--resolution", choices=RESOLUTIONS, help="720p (default), 1080p or 4k; with --job/--last the record's")
    return parser


def run(argv: Optional[Sequence[str]], rt: Runtime) -> int:
    """Parse, run a command, render any error; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    json_only = "--json-only" in argv
    live = rt.stderr_tty and not rt.environ.get("NO_COLOR") and rt.environ.get("TERM") != "dumb"
    quiet = "-q" in argv or "--quiet" in argv
    reporter = Reporter(
        rt.stderr, quiet=quiet, verbose=not quiet and ("-v" in argv or "--verbose" in argv), live=live, color=live
    )
    output = Output(rt.stdout, json_only=json_only, human=rt.stdout_tty)
    try:
        try:
            args = build_parser(rt.program).parse_args(argv)
        except SystemExit as done:  # --help and --version
            return int(done.code or 0) if isinstance(done.code, int) or done.code is None else EXIT_USAGE
        # A run that sends nothing has nothing to keep, and need not import signal.
        if not ((args.command == "submit" and args.dry_run) or (args.command == "status" and args.list)):
            treat_sigterm_as_ctrl_c()
        session = Session(args, rt, reporter, output)
        if args.command == "submit":
            return cmd_submit(args, session)
        return cmd_status(args, session)
    except VeoError as err:
        reporter.end_live()
        reporter.error(err)
        output.final(err.to_json())
        return err.exit_status
    except KeyboardInterrupt:
        reporter.end_live()
        reporter.write("interrupted")
        return EXIT_INTERRUPTED


def treat_sigterm_as_ctrl_c() -> None:
    """Make SIGTERM (what a killed agent tool call sends) stop us as Ctrl-C does: record kept, exit 130."""
    import signal

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, terminate)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not the main thread, or no SIGTERM
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The program: returns an exit status; Ctrl-C and SIGTERM keep the job record."""
    rt = default_runtime()
    try:
        return run(argv, rt)
    except BrokenPipeError:
        # The reader went away (| head): say nothing more, not even at interpreter exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
