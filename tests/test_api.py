"""The transport with urlopen mocked: headers, redirects, service errors, retries, and when generate is resent."""

from __future__ import annotations

import io
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
from http.client import RemoteDisconnected
from typing import Any, List

from helpers import (
    FakeResponse,
    FakeUrlopen,
    MachineTest,
    alone,
    concurrently,
    generated,
    shots_json,
    status_answer,
    veo,
)

load_tests = concurrently  # side by side with the whole-program tests (helpers.ConcurrentSuite)

TASKS = json.dumps([{"shotId": "shot-1", "taskId": "t1"}])


def refused() -> urllib.error.URLError:
    return urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))


class Requests(MachineTest):
    def test_generate_request_headers_and_body(self) -> None:
        machine = self.machine(generated("t1"))
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 0)
        request = machine.opener.requests[0]
        self.assertEqual(request.full_url, "https://nanophoto.ai/api/veo-3/generate")
        self.assertEqual(request.get_method(), "POST")
        # The key is unredirected: urllib would copy an ordinary header to a redirect's host.
        self.assertEqual(request.unredirected_hdrs, {"Authorization": "Bearer sk-test-1234567890"})
        self.assertNotIn("Authorization", request.headers)
        self.assertEqual(request.headers["Accept"], "application/json")
        self.assertEqual(request.headers["Origin"], "https://nanophoto.ai")
        self.assertIn("Mozilla/5.0", request.headers["User-agent"])
        body = json.loads(request.data)
        self.assertEqual(body["resolution"], "720p")
        self.assertEqual(body["shots"][0]["id"], "shot-1")
        self.assertEqual(machine.opener.timeouts, [60.0])
        document = machine.document()
        self.assertEqual(document["status"], "processing")
        self.assertEqual(document["shots"][0]["taskId"], "t1")

    def test_user_agent_and_timeout_flags(self) -> None:
        machine = self.machine(generated("t1"))
        machine.run("submit", "--shots-json", shots_json(), "--user-agent", "me/1", "--timeout", "2.5", "--json-only")
        self.assertEqual(machine.opener.requests[0].headers["User-agent"], "me/1")
        self.assertEqual(machine.opener.timeouts, [2.5])

    def test_status_is_one_batched_request(self) -> None:
        tasks = json.dumps([{"shotId": "a", "taskId": "t1"}, {"shotId": "b", "taskId": "t2"}])
        machine = self.machine(status_answer(("t1", "completed"), ("t2", "processing")))
        self.assertEqual(machine.run("status", "--task-ids-json", tasks, "--resolution", "1080p", "--json-only"), 0)
        self.assertEqual(
            machine.opener.bodies(),
            [{"taskIds": [{"shotId": "a", "taskId": "t1"}, {"shotId": "b", "taskId": "t2"}], "resolution": "1080p"}],
        )

    def test_base_url_from_flag_and_environment(self) -> None:
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_BASE_URL": "http://127.0.0.1:9/"})
        machine.run("submit", "--shots-json", shots_json(), "--json-only")
        self.assertEqual(machine.opener.requests[0].full_url, "http://127.0.0.1:9/api/veo-3/generate")
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_BASE_URL": "http://127.0.0.1:9"})
        machine.run("submit", "--shots-json", shots_json(), "--base-url", "https://api.example.com", "--json-only")
        self.assertEqual(machine.opener.requests[0].full_url, "https://api.example.com/api/veo-3/generate")

    def test_http_only_for_loopback(self) -> None:
        for url in ("http://nanophoto.ai", "http://10.1.1.1:80", "ftp://x", "nanophoto.ai", "http://[::1"):
            with self.subTest(url=url):
                machine = self.machine()
                self.assertEqual(machine.run("submit", "--prompt", "x", "--base-url", url, "--json-only"), 2)
                self.assertEqual(machine.opener.requests, [])
        for url in ("http://localhost:8787", "http://127.0.0.2", "http://[::1]:80"):
            with self.subTest(url=url):
                machine = self.machine(generated("t1"))
                self.assertEqual(machine.run("submit", "--prompt", "x", "--base-url", url, "--json-only"), 0)


class ServiceErrors(MachineTest):
    def test_each_error_code_maps_to_its_exit_status(self) -> None:
        table = {
            "LOGIN_REQUIRED": (401, 3),
            "INSUFFICIENT_CREDITS": (402, 4),
            "SHOTS_REQUIRED": (400, 2),
            "PROMPT_REQUIRED": (400, 2),
            "INVALID_IMAGE_COUNT": (400, 2),
            "IMAGE_URLS_REQUIRED": (400, 2),
            "TASK_IDS_REQUIRED": (400, 2),
            "TASK_NOT_FOUND": (404, 8),
        }
        for code, (http, exit_status) in table.items():
            with self.subTest(code=code):
                machine = self.machine((http, {"success": False, "errorCode": code, "message": "no"}))
                self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), exit_status)
                error = machine.document()["error"]
                self.assertEqual((error["code"], error["httpStatus"]), (code, http))
                self.assertEqual(len(machine.opener.requests), 1)  # not retried

    def test_rate_limit_after_every_retry_exits_5(self) -> None:
        limited = (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"})
        machine = self.machine(*[limited] * 3)
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--max-retries", "2", "--json-only"), 5)
        self.assertEqual(len(machine.opener.requests), 3)
        self.assertEqual(machine.document()["error"]["code"], "API_KEY_RATE_LIMIT_EXCEEDED")

    def test_internal_errors_exit_7_after_retries(self) -> None:
        for code in ("GENERATION_FAILED", "INTERNAL_ERROR"):
            machine = self.machine(*[(500, {"errorCode": code})] * 2)
            self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--max-retries", "1", "--json-only"), 7)
            self.assertEqual(machine.document()["error"]["code"], code)

    def test_html_page_shows_status_and_clean_excerpt(self) -> None:
        page = b"<html><head><style>p{}</style><script>x()</script></head><body><h1>502 Bad Gateway</h1></body></html>"
        machine = self.machine((502, page, {"Content-Type": "text/html"}))
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--max-retries", "0", "--json-only"), 7)
        error = machine.document()["error"]
        self.assertEqual(error["code"], "BAD_RESPONSE")
        self.assertEqual(error["httpStatus"], 502)
        self.assertIn('HTTP 502 with a body that is not JSON: "502 Bad Gateway"', error["message"])
        self.assertNotIn("<", error["message"])

    def test_a_server_answer_echoing_the_key_is_redacted(self) -> None:
        machine = self.machine((400, {"errorCode": "PROMPT_REQUIRED", "message": "bad key sk-test-1234567890"}))
        machine.run("submit", "--shots-json", shots_json(), "--json-only", "-v")
        self.assertNotIn("sk-test-1234567890", machine.out() + machine.err())
        self.assertIn("bad key ***", machine.out())


class Redaction(MachineTest):
    def test_a_key_from_openclaws_config_is_hidden_too(self) -> None:
        key = "sk-openclaw-config-%06d" % random.randrange(10**6)
        folder = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, folder)
        config = os.path.join(folder, "openclaw.json")
        with open(config, "w") as handle:  # found last, after --api-key and the environment: after the run began
            handle.write('{ skills: { entries: { "veo-3-1": { env: { NANOPHOTO_API_KEY: "%s" } } } } }' % key)
        for args in (["submit", "--shots-json", shots_json()], ["status", "--task-ids-json", TASKS]):
            with self.subTest(command=args[0]):
                echo = (400, {"errorCode": "PROMPT_REQUIRED", "message": "you sent Bearer " + key})
                machine = self.machine(echo, environ={"NANOPHOTO_API_KEY": None, "OPENCLAW_CONFIG_PATH": config})
                self.assertEqual(machine.run(*args, "--json-only"), 2)
                self.assertEqual(machine.opener.requests[0].get_header("Authorization"), "Bearer " + key)  # used
                self.assertNotIn(key[3:11], machine.out() + machine.err())
                self.assertIn("you sent Bearer ***", machine.out())

    def test_a_download_thread_still_going_writes_nothing_once_its_run_has_ended(self) -> None:
        key = "sk-late-thread-%06d" % random.randrange(10**6)
        url = "https://cdn.example.com/v/%s/shot.mp4?sig=x" % key  # the link holds the key: said by --verbose
        answer = {"success": True, "status": "completed", "shots": [{"taskId": "t1", "status": "completed", "videoUrl": url}]}  # fmt: skip
        returned, looked = threading.Event(), threading.Event()

        class Headers(dict):  # the video's: read just after its GET line is logged (with --verbose)
            def get(self, name: str, default: object = None) -> object:
                looked.set()
                return super().get(name, default)

        def slow_link(request: object, timeout: float) -> FakeResponse:  # its answer comes after the run gave up on it
            returned.wait(30)
            response = FakeResponse(200, b"\0\0\0\x18ftypmp42" + bytes(100), {})
            response.headers = Headers({"Content-Type": "video/mp4"})
            return response

        home = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, home, True)
        environ = {"NANOPHOTO_API_KEY": key, "VEO_3_1_STATE_DIR": os.path.join(home, "state")}
        err = io.StringIO()
        rt = veo.Runtime(
            environ, io.StringIO(), io.StringIO(), err, False, False, FakeUrlopen((200, answer)), slow_link
        )
        rt.home, rt.program = home, ["veo"]
        args = ["status", "--task-ids-json", TASKS, "--download", os.path.join(home, "v"), "--max-wait", "0.2", "-v"]
        self.assertEqual(veo.run(args, rt), 6)  # --max-wait ran out while the video was being saved
        said = err.getvalue()
        returned.set()
        self.assertTrue(looked.wait(30))  # the thread had its answer, and had its GET line written (or not)
        self.assertEqual(err.getvalue(), said)  # nothing more: the key is no longer hidden once the run has ended

    def test_a_key_that_json_escaping_makes_again_is_hidden(self) -> None:
        key = r"sk-ab\"cd\\ef\u00e9gh-%06d" % random.randrange(10**6)  # every character one a key may have
        text = json.loads('"%s"' % key)  # what the service echoes: printed as JSON, it is the key again
        for echoed in (text, "x" + text[1:10] + "y"):  # all of it, or a part (a part of \u00e9 is too short to hide)
            with self.subTest(echoed=echoed):
                answer = status_answer(("t1", "failed"))
                answer[1]["shots"][0]["error"] = echoed
                machine = self.machine(generated("t1"), answer, environ={"NANOPHOTO_API_KEY": key})
                machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
                with open(json.loads(machine.out())["jobFile"]) as record:
                    shown = machine.out() + machine.err() + record.read()
                self.assertEqual([key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in shown], [])

    def test_a_key_holding_the_escape_of_a_character_shown_as_nothing_is_hidden(self) -> None:
        for mark in ("\\u200b", "\\u001f", "\\f"):
            key = "sk-live%sXy7Qp2L%sm9AbCdE" % (mark, mark)
            with self.subTest(key=key):
                answer = status_answer(("t1", "failed"))
                answer[1]["shots"][0]["error"] = "bad key " + json.loads('"%s"' % key)  # printed as JSON: the key
                machine = self.machine(answer, environ={"NANOPHOTO_API_KEY": key})
                machine.run("status", "--task-ids-json", TASKS, "--json-only")
                self.assertNotIn(key, machine.out() + machine.err())
                self.assertIn("bad key ***", machine.out())

    def test_control_characters_in_service_text_stay_spaces_between_words(self) -> None:
        machine = self.machine(
            (400, {"errorCode": "PROMPT_REQUIRED", "message": "the prompt\x0bis\x0crequired\x1eor\x85empty"})
        )
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 2)
        self.assertIn("PROMPT_REQUIRED: the prompt is required or empty", machine.err())
        self.assertIn("PROMPT_REQUIRED: the prompt is required or empty", json.loads(machine.out())["error"]["message"])

    def test_a_key_cut_apart_by_any_character_shown_as_nothing_is_hidden(self) -> None:
        key = "sk_live_ABCDEFGHIJKLMNOPQRST"
        for mark in ("\U0001d173", "\U0001bca0", "\ufff0", "\x01", "\x7f", "\x9b", "\u200b"):
            with self.subTest(mark=hex(ord(mark))):
                echo = mark.join(key[i : i + 7] for i in range(0, len(key), 7))
                answer = status_answer(("t1", "failed"))
                answer[1]["shots"][0]["error"] = answer[1]["message"] = "bad key " + echo
                machine = self.machine(generated("t1"), answer, environ={"NANOPHOTO_API_KEY": key})
                machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
                for shown in (json.loads(machine.out())["response"]["message"], machine.err()):
                    self.assertNotIn(key, re.sub("[^A-Za-z_]", "", shown))  # what a reader makes of it
                    self.assertIn("bad key ***", shown)

    def test_two_runs_sharing_one_machine_keep_their_own_keys(self) -> None:
        first, second = "sk-first-run-key-111111", "sk-second-run-key-222222"
        second_asked, first_ended = threading.Event(), threading.Event()

        def service(request: Any, timeout: float) -> Any:  # the first run is still going as the second begins
            if first in request.get_header("Authorization"):
                second_asked.wait(30)
                return FakeResponse(200, b'{"status": "processing"}', {"Content-Type": "application/json"})
            second_asked.set()
            first_ended.wait(30)  # the second answers once the first has ended
            return FakeResponse(200, json.dumps({"status": "processing", "message": "you sent " + second}).encode(), {})

        machine = self.machine(environ={"NANOPHOTO_API_KEY": None})
        machine.rt.api_open = service

        def first_run() -> None:
            machine.run("status", "--task-ids-json", '["t1"]', "--api-key", first, "--json-only")
            first_ended.set()

        thread = threading.Thread(target=first_run)
        thread.start()
        machine.run("status", "--task-ids-json", '["t2"]', "--api-key", second, "--json-only")
        thread.join()
        self.assertIn("you sent ***", machine.out())
        self.assertNotIn(second, machine.out() + machine.err())
        self.assertEqual(veo.redact(first + second), first + second)  # both runs ended: neither key is kept

    @alone  # the switch interval is the process's
    def test_redaction_never_fails_while_other_threads_change_the_keys(self) -> None:
        interval, failures, stop = sys.getswitchinterval(), [], threading.Event()

        def change_keys() -> None:  # a run begins and ends, again and again
            keys = ["sk-changing-key-123"]
            for _ in range(3000):
                veo.hide_keys(keys)
                veo.hide_keys(keys, ended=True)
            stop.set()

        changer = threading.Thread(target=change_keys)
        sys.setswitchinterval(1e-6)  # threads take turns every few instructions: a race shows, if there is one
        try:
            changer.start()
            while not stop.is_set() and not failures:
                try:
                    veo.redact("some text")
                except Exception as exc:  # the pattern taken away between a look and its use
                    failures.append(repr(exc))
        finally:
            stop.set()
            changer.join()
            sys.setswitchinterval(interval)
        self.assertEqual(failures[:1], [])

    def test_a_key_stays_hidden_while_any_run_uses_it_and_only_then(self) -> None:
        key = "sk-shared-by-two-runs-%06d" % random.randrange(10**6)
        first, second = [key], [key]  # two runs in threads of one process (the tests), with one key
        veo.hide_keys(first)
        veo.hide_keys(second)
        veo.hide_keys(first, ended=True)
        self.assertEqual(veo.redact("echo " + key.upper()), "echo ***")  # the second run still uses it
        machine = self.machine((400, {"errorCode": "PROMPT_REQUIRED", "message": "you sent " + key}))
        self.assertEqual(
            machine.run("submit", "--shots-json", shots_json(), "--json-only"), 2
        )  # a run with another key
        self.assertNotIn(key, machine.out() + machine.err())  # ended: it does not unhide the second run's key
        veo.hide_keys(second, ended=True)
        self.assertEqual(veo.redact("echo " + key), "echo " + key)  # no run uses it: hiding a key past its runs
        # would make every later text pay for it (the tests run thousands of runs with hundreds of keys)

    def test_redaction_keeps_json_valid_and_spares_short_keys(self) -> None:
        key = 'ab"cd\\ef'
        machine = self.machine(
            (400, {"errorCode": "PROMPT_REQUIRED", "message": "you sent " + key}), environ={"NANOPHOTO_API_KEY": key}
        )
        machine.run("submit", "--prompt", "x", "--json-only")
        self.assertEqual(
            machine.document()["error"]["message"], "the service answered HTTP 400 PROMPT_REQUIRED: you sent ***"
        )
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": "x"})
        machine.run("submit", "--prompt", "x", "--json-only")
        self.assertEqual(machine.document()["shots"][0]["taskId"], "t1")  # not "t1" mangled by a 1-letter key

    def test_a_key_in_utf_16_or_cut_by_invisible_characters_is_hidden(self) -> None:
        key = "sk_live_ABCDEFGHijklmnop1234"
        cut = "\u00ad".join(key[i : i + 7] for i in range(0, len(key), 7))  # a soft hyphen every 7 characters
        cut_json = "sk_l\u034five_\u034fABCD\ufe0fEFGH\u3164ijkl\u2028mnop1234"  # other characters shown as nothing
        answer = {
            "status": "failed",
            "shots": [{"shotId": "shot-1", "taskId": "t1", "status": "failed", "error": cut_json}],
        }
        machine = self.machine((200, answer), environ={"NANOPHOTO_API_KEY": key})
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 1)
        with open(machine.document()["jobFile"]) as handle:
            record = handle.read()
        for text in (machine.out(), machine.err(), record):  # stdout and the record as JSON, stderr as a line
            self.assertNotIn("EFGH", text)
            self.assertNotIn("mnop1234", text)
        for body in (
            ("your key: " + key).encode("utf-16-le"),
            ("your key: " + cut).encode(),
            "\x00".join(key).encode(),
        ):
            with self.subTest(body=body[:12]):
                machine = self.machine((500, body, {"Content-Type": "text/plain"}), environ={"NANOPHOTO_API_KEY": key})
                self.assertEqual(
                    machine.run("status", "--task-ids-json", TASKS, "--json-only", "--max-retries", "0"), 7
                )
                shown = re.sub("[\\s\u00ad\x00]", "", machine.out() + machine.err()).lower()
                self.assertNotIn(key.lower()[:8], shown)
                self.assertIn("***", machine.document()["error"]["message"])

    def test_a_key_that_is_not_utf_8_is_no_traceback(self) -> None:
        key = "sk-abcdefgh\udcffijklmnop"  # a byte that is not UTF-8, as Python reads it from argv or the environment
        for args, environ in ((["--api-key", key], {}), (["--max-credits", "1"], {"NANOPHOTO_API_KEY": key})):
            with self.subTest(args=args):
                machine = self.machine(environ=environ)
                self.assertIn(machine.run("submit", "--prompt", "x", "--json-only", *args), (2, 3))
                self.assertNotIn("abcdefgh", machine.out() + machine.err())
                self.assertEqual(machine.opener.requests, [])

    @alone  # the switch interval is the process's
    def test_keys_added_from_many_threads_at_once_are_all_hidden(self) -> None:
        keys = ["qzw%sxv" % "".join(random.sample("JKLMNPQRSTUVWXYZ", 5)) for _ in range(12)]  # runs in threads
        start = threading.Barrier(len(keys))

        def add(run: List[str]) -> None:
            start.wait()
            veo.hide_keys(run)

        runs = [[key] for key in keys]
        for run in runs:
            self.addCleanup(veo.hide_keys, run, True)
        threads = [threading.Thread(target=add, args=(run,)) for run in runs]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # threads take turns every few instructions: a race shows, if there is one
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            sys.setswitchinterval(interval)
        self.assertEqual([veo.redact("<%s>" % key) for key in keys], ["<***>"] * len(keys))

    def test_a_deeply_nested_answer_is_not_a_crash(self) -> None:
        for depth in (5000, 985):  # too deep to read; deep enough to read but not to print again
            with self.subTest(depth=depth):
                deep = b'{"status": "processing", "shots": [], "x": ' + b"[" * depth + b"]" * depth + b"}"
                machine = self.machine((200, deep))
                status = machine.run("status", "--task-ids-json", TASKS, "--json-only", "--max-retries", "0")
                self.assertIn(status, (0, 7))
                self.assertIn(machine.document()["status"], ("processing", "error"))


class Redirects(MachineTest):
    def test_a_redirect_is_an_error_naming_the_target(self) -> None:
        for code in (301, 302, 303, 307, 308):
            with self.subTest(code=code):
                target = {"Location": "https://evil.example.net/steal?token=abc"}
                machine = self.machine((code, b"", target))
                self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 7)
                message = machine.document()["error"]["message"]
                self.assertIn("redirect to https://evil.example.net/steal;", message)
                self.assertNotIn("token=abc", message)
                self.assertEqual(len(machine.opener.requests), 1)


class Retries(MachineTest):
    def test_check_status_retries_transient_failures_with_backoff(self) -> None:
        machine = self.machine(
            refused(),
            socket.timeout("timed out"),
            RemoteDisconnected("closed"),
            (503, b"<html>busy</html>"),
            (500, {"errorCode": "INTERNAL_ERROR"}),
            (200, b"{broken"),
            status_answer(("t1", "processing")),
        )
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--max-retries", "6", "--json-only"), 0)
        self.assertEqual(len(machine.opener.requests), 7)
        # min(0.5 * 2^n, 8) with the top of the jitter
        self.assertEqual(machine.time.sleeps, [0.5, 1.0, 2.0, 4.0, 8.0, 8.0])

    def test_retry_after_seconds_and_date(self) -> None:
        machine = self.machine(
            (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}, {"Retry-After": "7"}),
            (503, b"busy", {"Retry-After": "Fri, 01 Nov 2026 00:00:30 GMT"}),
            status_answer(("t1", "processing")),
        )
        machine.time.epoch = 1793491200.0  # 2026-11-01 00:00:00 UTC
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 0)
        self.assertEqual(machine.time.sleeps[0], 7.0)
        self.assertAlmostEqual(machine.time.sleeps[1], 23.0, delta=0.01)

    def test_a_retry_after_date_in_any_of_http_s_three_forms_is_gmt_whatever_the_local_zone(self) -> None:
        forms = ("Sun, 01 Nov 2026 00:00:30 GMT", "Sunday, 01-Nov-26 00:00:30 GMT", "Sun Nov  1 00:00:30 2026")
        code = "from helpers import veo; print([veo.parse_retry_after(f, 1793491200.0) for f in %r])" % (forms,)
        for zone in ("WEST+8", "EAST-9"):  # POSIX zones: 8 h behind and 9 h ahead of GMT, no tz database needed
            here = os.path.dirname(os.path.abspath(__file__))
            done = subprocess.run(
                [sys.executable, "-c", code], env=dict(os.environ, TZ=zone), capture_output=True, cwd=here
            )
            self.assertEqual(done.stdout.decode().strip(), "[30.0, 30.0, 30.0]", (zone, done.stderr))

    def test_a_retry_after_too_long_for_a_one_off_call_ends_at_once(self) -> None:
        machine = self.machine((429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}, {"Retry-After": "3600"}))
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 5)
        self.assertIn("asked to wait 1h00m (Retry-After)", machine.document()["error"]["message"])
        self.assertEqual(machine.time.sleeps, [])
        machine = self.machine((503, b"down", {"Retry-After": "121"}))
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 7)

    def test_a_one_off_status_keeps_to_max_wait_and_to_two_minutes_in_all(self) -> None:
        busy = (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}, {"Retry-After": "4"})
        machine = self.machine(busy, busy, busy)
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only", "--max-wait", "1"), 5)
        self.assertEqual((machine.time.sleeps, len(machine.opener.requests)), ([], 1))  # 4 s is past the 1 s
        self.assertIn("asked to wait 4s (Retry-After), longer than the 1s left", machine.document()["error"]["message"])
        slow = (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}, {"Retry-After": "100"})
        machine = self.machine(slow, slow, slow)  # without --max-wait: 120 s in all, not 100 s a retry
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 5)
        self.assertEqual((machine.time.sleeps, len(machine.opener.requests)), ([100.0], 2))

    def test_a_submit_without_follow_keeps_to_max_wait_too(self) -> None:
        busy = (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}, {"Retry-After": "25"})
        machine = self.machine(busy, busy, busy)
        status = machine.run("submit", "--shots-json", shots_json(), "--json-only", "--max-wait", "60")
        self.assertEqual(status, 5)  # a short call stays short: the third wait would pass the 60 s
        self.assertEqual(machine.time.sleeps, [25.0, 25.0])
        self.assertIn("asked to wait 25s (Retry-After), longer than the", machine.document()["error"]["message"])
        self.assertEqual(len(machine.opener.requests), 3)

    def test_max_retries_zero_turns_retries_off(self) -> None:
        machine = self.machine(refused())
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--max-retries", "0", "--json-only"), 7)
        self.assertEqual(machine.document()["error"]["code"], "NETWORK_ERROR")
        self.assertIn("connection to https://nanophoto.ai/api/veo-3/check-status was refused", machine.err())


class GenerateIsNotResent(MachineTest):
    def submit(self, *answers):  # type: ignore[no-untyped-def]
        machine = self.machine(*answers)
        status = machine.run("submit", "--shots-json", shots_json(), "--json-only")
        return machine, status

    def test_resent_when_surely_not_arrived_or_refused(self) -> None:
        surely_not = [
            refused(),
            urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
            urllib.error.URLError(socket.timeout("timed out")),
            (408, b""),
            (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}),
            (503, b"", {"Retry-After": "1"}),
        ]
        for answer in surely_not:
            with self.subTest(answer=repr(answer)[:50]):
                machine, status = self.submit(answer, generated("t1"))
                self.assertEqual(status, 0)
                self.assertEqual(machine.opener.paths(), ["api/veo-3/generate"] * 2)

    def test_never_resent_when_it_may_have_arrived(self) -> None:
        maybe = [
            socket.timeout("read timed out"),
            RemoteDisconnected("closed"),
            ConnectionResetError(104, "reset"),
            (500, {"errorCode": "INTERNAL_ERROR"}),
            (502, b"<html>bad gateway</html>"),
            (503, b"no retry-after"),
            (504, b""),
            (200, b"{not json"),
            (200, {"success": True, "status": "processing"}),
        ]
        for answer in maybe:
            with self.subTest(answer=repr(answer)[:50]):
                machine, status = self.submit(answer, generated("t1"))
                self.assertEqual(status, 7)
                self.assertEqual(len(machine.opener.requests), 1)
                error = machine.document()["error"]
                self.assertEqual(error["code"], "SUBMIT_OUTCOME_UNKNOWN")
                self.assertIn("the job may exist and credits may be spent", error["message"])

    def test_the_service_code_is_kept_in_details(self) -> None:
        machine, status = self.submit((500, {"errorCode": "GENERATION_FAILED"}))
        self.assertEqual(status, 7)
        self.assertIn({"errorCode": "GENERATION_FAILED"}, machine.document()["error"]["details"])

    def test_a_job_refused_as_a_whole(self) -> None:
        machine, status = self.submit((200, {"success": True, "status": "failed", "message": "policy"}))
        self.assertEqual(status, 1)
        self.assertEqual(machine.document()["error"]["code"], "GENERATION_FAILED")

    def test_a_page_from_a_cdn_is_not_a_sure_refusal(self) -> None:
        machine, status = self.submit((403, b"<html>Attention Required! bot check</html>"))
        self.assertEqual(status, 7)
        self.assertEqual(machine.document()["error"]["code"], "SUBMIT_OUTCOME_UNKNOWN")

    def test_a_published_refusal_is_not_sent_again_and_leaves_no_record(self) -> None:
        for code, http in (("LOGIN_REQUIRED", 401), ("INSUFFICIENT_CREDITS", 402), ("PROMPT_REQUIRED", 400)):
            with self.subTest(code=code):
                machine = self.machine(*[(http, {"success": False, "errorCode": code})] * 4)
                self.assertEqual(
                    machine.run("submit", "--shots-json", shots_json(), "--max-retries", "3", "--json-only"),
                    veo.SERVICE_ERROR_EXITS[code],
                )
                self.assertEqual(len(machine.opener.requests), 1)
                self.assertEqual(os.listdir(os.path.join(machine.home, "state", "jobs")), [])

    def test_the_key_is_hidden_in_every_form_text_can_take(self) -> None:
        key = 'sk-it\'s\\a "key"+/=&'
        run = [key]  # the keys of a run: this test's
        veo.hide_keys(run)
        self.addCleanup(veo.hide_keys, run, True)
        from urllib.parse import quote

        for form in (key, json.dumps(key)[1:-1], quote(key, safe=""), repr(key)[1:-1]):
            self.assertEqual(veo.clean_line("x" * 290 + form, 300), "x" * 290 + "***")  # hidden before the cut
            self.assertEqual(veo.dump_json({"echo": form}), '{"echo":"***"}')


class RecordsReadBack(MachineTest):
    def test_a_shots_file_of_deeply_nested_extra_keys_still_makes_a_record_that_reads_back(self) -> None:
        # A record grows with its shots file, never by their depth: indented, 480,000 zeros 58 deep (under the
        # 1 MiB a shots file may hold) made a 30 MB record, past what a record is read at. 10,000 show it here.
        machine = self.machine(generated("t1"))
        path = os.path.join(machine.home, "shots.json")
        deep = "[" * 58 + ",".join(["0"] * 10_000) + "]" * 58
        with open(path, "w") as handle:
            handle.write(
                '[{"prompt": "a fox", "aspectRatio": "16:9", "generationType": "TEXT_2_VIDEO", "meta": %s}]' % deep
            )
        self.assertEqual(machine.run("submit", "--shots-file", path, "--json-only", "--quiet"), 0, machine.err())
        record = machine.document()["jobFile"]
        self.assertLess(os.path.getsize(record), os.path.getsize(path) + 10_000)
        machine.again(status_answer(("t1", "processing")))
        self.assertEqual(machine.run("status", "--last", "--json-only"), 0, machine.err())  # the job is not lost
        self.assertEqual(machine.document()["shots"][0]["taskId"], "t1")


class TransportClassification(MachineTest):
    def test_certificate_failure_is_clear(self) -> None:
        import ssl

        error = ssl.SSLCertVerificationError(1, "certificate verify failed")
        error.verify_message = "unable to get local issuer certificate"
        machine = self.machine(urllib.error.URLError(error))
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--json-only"), 7)
        self.assertIn("TLS certificate", machine.document()["error"]["message"])
        self.assertIn("SSL_CERT_FILE", machine.err())
        self.assertEqual(len(machine.opener.requests), 1)

    def test_oversized_answer_is_refused(self) -> None:
        machine = self.machine((200, b" " * (8 * 1024 * 1024 + 1)))
        self.assertEqual(machine.run("status", "--task-ids-json", TASKS, "--max-retries", "0", "--json-only"), 7)
        error = machine.document()["error"]
        self.assertEqual(error["code"], "BAD_RESPONSE")
        self.assertIn("over 8388608 bytes", error["message"])


class ErrorsReadErrorThenHint(MachineTest):
    def test_each_error_a_person_meets_has_a_hint(self) -> None:
        cases = [
            ((), {"environ": {"NANOPHOTO_API_KEY": ""}}, "error: no NanoPhoto API key", "hint: give one of"),
            (
                (401, {"errorCode": "LOGIN_REQUIRED"}),
                {},
                "error: the service answered HTTP 401 LOGIN_REQUIRED",
                "hint: check the API key",
            ),
            ((402, {"errorCode": "INSUFFICIENT_CREDITS"}), {}, "INSUFFICIENT_CREDITS", "hint: top up credits"),
            ((429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}), {}, "after 0", "hint: wait a minute"),
            ((500, b"oops"), {}, "error: the submit may have reached the service", "hint: check your jobs"),
        ]
        for answer, options, error, hint in cases:
            with self.subTest(error=error):
                machine = self.machine(*([answer] if answer else []), **options)
                machine.run("submit", "--prompt", "x", "--max-retries", "0")
                lines = machine.err().splitlines()
                where = [n for n, line in enumerate(lines) if line.startswith("error: ")]
                self.assertTrue(where, lines)
                self.assertIn(error.replace("after 0", "API_KEY_RATE_LIMIT_EXCEEDED"), lines[where[0]])
                self.assertTrue(lines[where[0] + 1].startswith(hint), lines)
