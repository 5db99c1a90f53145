"""Shared test helpers: load the script by path, fake urlopen, a fake machine, run the real command."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPMessage
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPT = os.path.join(ROOT, "scripts", "veo_3_1.py")
# How the tests run the program. -S: it needs nothing from site-packages, and this machine's take about
# 50 ms to load at every start; under coverage (COVERAGE_PROCESS_START), site is what starts the measuring.
CLI = [sys.executable, *([] if os.environ.get("COVERAGE_PROCESS_START") else ["-S"]), SCRIPT]
if HERE not in sys.path:
    sys.path.insert(0, HERE)
# A shell that starts the tests in the background (`... &`) makes them ignore Ctrl-C, and the programs they
# start would too. The tests press Ctrl-C as a user at a terminal does, so it is given back its usual meaning.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
# The tests read the program's messages, argparse's among them, in English, whatever this machine's locale. With
# LANGUAGE=C, argparse's gettext also stops looking for catalogues on disk at each message: in this process, where
# many runs share the interpreter, those lookups were a fifth of the suite's time.
os.environ["LANGUAGE"] = "C"


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Kill a started program if a failed test left it running, and close its pipes."""
    if process.poll() is None:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def load_script() -> Any:
    """Import scripts/veo_3_1.py by path, registered as veo_3_1 (inspect and dataclasses find classes by module name)."""
    if "veo_3_1" in sys.modules:
        return sys.modules["veo_3_1"]
    spec = importlib.util.spec_from_file_location("veo_3_1", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["veo_3_1"] = module
    spec.loader.exec_module(module)
    return module


veo = load_script()


def headers_of(pairs: Dict[str, str]) -> HTTPMessage:
    """Headers as urllib gives them."""
    message = HTTPMessage()
    for name, value in pairs.items():
        message[name] = value
    return message


class FakeResponse(io.BytesIO):
    """What urlopen returns for a 2xx."""

    def __init__(self, status: int, body: bytes, headers: Dict[str, str]) -> None:
        super().__init__(body)
        self.status = status
        self.code = status
        self.headers = headers_of(headers)

    def getcode(self) -> int:
        return self.status


Answer = Union[Tuple[int, Any], Tuple[int, Any, Dict[str, str]], BaseException]


class FakeUrlopen:
    """A stand-in for urllib.request.urlopen: answers in order, records every request."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: List[Answer] = list(answers)
        self.requests: List[Any] = []
        self.timeouts: List[float] = []

    def __call__(self, request: Any, timeout: float) -> Any:
        self.requests.append(request)
        self.timeouts.append(timeout)
        if not self.answers:
            raise AssertionError("an unexpected request: %s %s" % (request.get_method(), request.full_url))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        status, body = answer[0], answer[1]
        headers = dict(answer[2]) if len(answer) > 2 else {}  # type: ignore[misc]
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        if status >= 300:
            # urlopen raises for these, as the real one does.
            raise urllib.error.HTTPError(request.full_url, status, "status", headers_of(headers), io.BytesIO(body))
        return FakeResponse(status, body, headers)

    def bodies(self) -> List[Any]:
        """The JSON bodies sent."""
        return [json.loads(r.data.decode()) for r in self.requests]

    def paths(self) -> List[str]:
        """The paths requested."""
        return [r.full_url.split("://", 1)[1].split("/", 1)[1] for r in self.requests]


class FakeClock:
    """Monotonic and wall time that move only when the program sleeps."""

    def __init__(self, start: float = 1795000000.0) -> None:
        self.now = 0.0
        self.epoch = start
        self.sleeps: List[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.epoch + self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, seconds
        self.sleeps.append(seconds)
        self.now += seconds


class Machine:
    """A fake machine: runtime with captured streams, fake urlopen and clock, a temporary home."""

    def __init__(
        self,
        *answers: Answer,
        environ: Optional[Dict[str, str]] = None,
        stdin: str = "",
        downloads: Optional[Callable[[Any, float], Any]] = None,
        tty: bool = False,
    ) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.home = self.tmp.name
        self.opener = FakeUrlopen(*answers)
        self.time = FakeClock()
        env = {"NANOPHOTO_API_KEY": "sk-test-1234567890", "VEO_3_1_STATE_DIR": os.path.join(self.home, "state")}
        env.update(environ or {})
        self.environ = {k: v for k, v in env.items() if v is not None}
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()
        self.rt = veo.Runtime(
            environ=self.environ,
            stdin=io.StringIO(stdin),
            stdout=self.stdout,
            stderr=self.stderr,
            stdout_tty=tty,
            stderr_tty=tty,
            api_open=self.opener,
            download_open=downloads or FakeUrlopen(),
            sleep=self.time.sleep,
            clock=self.time.clock,
            wall=self.time.wall,
            jitter=lambda: 1.0,
            home=self.home,
            program=["veo_3_1.py"],
        )

    def again(self, *answers: Answer) -> Machine:
        """The same machine (home, records) for another run: fresh streams, these answers; spares making a folder."""
        self.opener = FakeUrlopen(*answers)
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        self.rt.stdout, self.rt.stderr, self.rt.api_open = self.stdout, self.stderr, self.opener
        return self

    def run(self, *argv: str) -> int:
        """Run the program's main path with these arguments."""
        return int(veo.run(list(argv), self.rt))

    def out(self) -> str:
        return self.stdout.getvalue()

    def err(self) -> str:
        return self.stderr.getvalue()

    def lines(self) -> List[Any]:
        """stdout as NDJSON: every line must be JSON."""
        return [json.loads(line) for line in self.out().splitlines()]

    def document(self) -> Any:
        """stdout as exactly one JSON document."""
        text = self.out()
        assert text.count("\n") == 1, text
        return json.loads(text)

    def close(self) -> None:
        self.tmp.cleanup()


SHOT = {"prompt": "a red fox in snow", "generationType": "TEXT_2_VIDEO", "aspectRatio": "16:9"}


def shots_json(count: int = 1, **changes: Any) -> str:
    """A valid --shots-json of `count` shots."""
    return json.dumps([dict(SHOT, id="shot-%d" % (n + 1), **changes) for n in range(count)])


def generated(*task_ids: str) -> Tuple[int, Any]:
    """A generate answer for shots shot-1.. with these task IDs."""
    return 200, {
        "success": True,
        "status": "processing",
        "shots": [{"shotId": "shot-%d" % (n + 1), "taskId": t, "status": "processing"} for n, t in enumerate(task_ids)],
    }


def status_answer(*states: Tuple[str, str], top: str = "processing", **extra: Any) -> Tuple[int, Any]:
    """A check-status answer: (taskId, status) pairs, shot ids shot-1.. in order."""
    shots = []
    for n, (task_id, state) in enumerate(states):
        entry: Dict[str, Any] = {"shotId": "shot-%d" % (n + 1), "taskId": task_id, "status": state}
        if state == "completed":
            entry["videoUrl"] = "https://cdn.example.com/v/%s.mp4?sig=secret" % task_id
        if state == "failed":
            entry["error"] = "refused by the safety filter"
        shots.append(entry)
    return 200, dict({"success": True, "status": top, "shots": shots}, **extra)


def run_cli(
    args: Sequence[str],
    env: Optional[Dict[str, str]] = None,
    stdin: Optional[str] = None,
    timeout: float = 60,
    cwd: Optional[str] = None,
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """Run the real script as a subprocess; stderr must never hold a traceback."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOPHOTO_", "OPENCLAW_", "VEO_3_1_"))}
    full_env.pop("NO_COLOR", None)
    full_env.update(env or {})
    done = subprocess.run(
        [*CLI, *list(args)],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def run_in_process(
    args: Sequence[str],
    env: Optional[Dict[str, str]] = None,
    stdin: str = "",
    cwd: Optional[str] = None,
    **runtime: Any,
) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    """The whole program in this process, with the real transport against a real (fake) service.

    What a subprocess run proves once (start-up, the process boundary), this proves for every case
    of a fault matrix without paying a Python start-up each time. Waits are cut to 50 ms at most (the
    Runtime's sleep is injectable): a back-off is still taken, just not slept in full. Relative paths
    are taken from `cwd`, as a process started there would (runs share this process's own directory).
    `runtime` replaces the Runtime's other collaborators (download_open, ...).
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("NANOPHOTO_", "OPENCLAW_", "VEO_3_1_"))}
    environ.pop("NO_COLOR", None)
    environ.update(env or {})
    argv = list(args)
    for index, word in enumerate(argv[:-1]):
        if word in ("--download", "--job-file", "--shots-file", "--job") and argv[index + 1] != "-" and cwd:
            is_path = word != "--job" or os.sep in argv[index + 1] or argv[index + 1].endswith(".json")
            argv[index + 1] = os.path.join(cwd, argv[index + 1]) if is_path else argv[index + 1]
    stdout, stderr = io.StringIO(), io.StringIO()
    rt = veo.Runtime(**{
        "environ": environ, "stdin": io.StringIO(stdin), "stdout": stdout, "stderr": stderr, "stdout_tty": False,
        "stderr_tty": False, "sleep": lambda seconds: time.sleep(min(seconds, 0.05)),
        "home": environ.get("HOME", "/nonexistent"), "program": ["python3", SCRIPT], **runtime,
    })  # fmt: skip
    status = veo.run(argv, rt)
    return subprocess.CompletedProcess(argv, status, stdout.getvalue(), stderr.getvalue())


class MachineTest(unittest.TestCase):
    """A TestCase that makes Machines and cleans them up."""

    def machine(self, *answers: Answer, **kwargs: Any) -> Machine:
        machine = Machine(*answers, **kwargs)
        self.addCleanup(machine.close)
        return machine

    def assertNoTraceback(self, machine: Machine) -> None:
        self.assertNotIn("Traceback", machine.err())


class _LockedResult:
    """A TestResult shared by threads: one call at a time."""

    def __init__(self, result: unittest.TestResult) -> None:
        self._result, self._lock = result, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._result, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


_WAITING: List[Any] = []  # whole-program tests of every module, collected as the modules load


class ConcurrentSuite(unittest.TestSuite):
    """The tests, twelve at a time: many spend their time waiting on subprocesses, sockets and timeouts.

    Each module's load_tests hands its tests in; the first of these suites to run runs the tests of
    every module that handed some in (modules load before any runs), and the later ones find theirs
    done. The tests share nothing in this process: each has its own fake service, folder, subprocesses,
    and runs the program in process only through run_in_process, which keeps to its own Runtime.
    """

    def run(self, result: unittest.TestResult, debug: bool = False) -> unittest.TestResult:  # type: ignore[override]
        tests, _WAITING[:] = list(_WAITING), []
        tests.sort(key=lambda test: getattr(test, "in_process", True))  # subprocess tests first: they wait longest
        shared = _LockedResult(result)
        with ThreadPoolExecutor(max_workers=12) as pool:
            list(pool.map(lambda test: test(shared), tests))
        return result


def alone(test: Callable[..., None]) -> Callable[..., None]:
    """Marks a test that changes what the whole process shares (a module patched, the switch interval): run by itself."""
    test.alone = True  # type: ignore[attr-defined]
    return test


def concurrently(loader: unittest.TestLoader, tests: unittest.TestSuite, pattern: Optional[str]) -> unittest.TestSuite:
    """A module's load_tests: its tests join the ones run concurrently, but those marked @alone, run after them."""
    stack: List[Any] = [tests]
    by_itself = unittest.TestSuite()
    while stack:
        item = stack.pop(0)
        if isinstance(item, unittest.TestSuite):
            stack[:0] = list(item)
        elif getattr(getattr(item, item._testMethodName, None), "alone", False):
            by_itself.addTest(item)
        else:
            _WAITING.append(item)
    return unittest.TestSuite([ConcurrentSuite(), by_itself])
