"""Faults against the fake server, on each endpoint: never lose a job, never pay twice, credentials stay home."""

from __future__ import annotations

import json
import os
import random
import socket
from email.utils import formatdate

from helpers import concurrently
from test_e2e import FAST, KEY, EndToEnd

TASK = '[{"shotId":"shot-1","taskId":"%s"}]'

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


class CheckStatusFaults(EndToEnd):
    """Every transient fault on check-status is retried and the job ends well."""

    in_process = True

    def follow_through(self, *faults, retries: str = "3") -> None:  # type: ignore[no-untyped-def]
        before = len(self.fake.seen("generate"))
        for kind, params in faults:
            self.fake.add_fault("check-status", kind, **params)
        done = self.run_cli(
            "submit",
            "--prompt",
            "fox",
            "--follow",
            "--download",
            "v",
            "--json-only",
            "--max-retries",
            retries,
            *FAST,
            "--timeout",
            "0.3",
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.document(done)["status"], "completed")
        self.assertEqual(len(self.fake.seen("generate")) - before, 1)

    def test_rate_limit_with_retry_after_seconds_and_date(self) -> None:
        self.follow_through(
            ("status", {"status": 429, "code": "API_KEY_RATE_LIMIT_EXCEEDED", "headers": {"Retry-After": "0"}}),
            ("status", {"status": 429, "headers": {"Retry-After": formatdate(usegmt=True)}}),
        )

    def test_server_errors(self) -> None:
        now = {"Retry-After": "0"}  # the back-off itself is proven with a fake clock in test_api
        for status in (500, 502, 503, 504):
            with self.subTest(status=status):
                self.follow_through(
                    ("status", {"status": status, "headers": now}), ("html", {"status": status, "headers": now})
                )
        self.follow_through(("html", {"status": 502}))  # and once with the real back-off

    def test_dropped_slow_and_broken_answers(self) -> None:
        self.follow_through(("drop", {"then_answer": False}), ("drop", {}))
        self.follow_through(("broken_json", {}), ("slow", {"seconds": 0.6}))

    def test_an_outage_longer_than_the_retries_costs_only_time(self) -> None:
        self.follow_through(*[("drop", {"then_answer": False})] * 7, retries="1")

    def test_retries_exhausted_one_off_exits_7_or_5(self) -> None:
        job = self.document(self.run_cli("submit", "--prompt", "x", "--json-only"))
        self.fake.add_fault("check-status", "html", status=502, count=3)
        done = self.run_cli("status", "--job", job["jobId"], "--max-retries", "2", "--json-only")
        self.assertEqual(done.returncode, 7)
        self.assertIn("HTTP 502", self.document(done)["error"]["message"])
        self.fake.add_fault("check-status", "status", status=429, count=2, headers={"Retry-After": "0"})
        done = self.run_cli("status", "--job", job["jobId"], "--max-retries", "1", "--json-only")
        self.assertEqual(done.returncode, 5)


class GenerateFaults(EndToEnd):
    """generate is resent only when it surely did not arrive or was surely refused."""

    in_process = True

    def submit(self, kind: str, **params):  # type: ignore[no-untyped-def]
        self.fake.add_fault("generate", kind, **params)
        return self.run_cli("submit", "--prompt", "fox", "--json-only", *FAST)

    def test_resent_after_a_refusal(self) -> None:
        for kind, params in (
            ("status", {"status": 429, "headers": {"Retry-After": "0"}}),
            ("status", {"status": 503, "headers": {"Retry-After": "0"}}),
            ("status", {"status": 408}),
        ):
            with self.subTest(params=params):
                before = len(self.fake.seen("generate"))
                done = self.submit(kind, **params)
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual(len(self.fake.seen("generate")) - before, 2)

    def test_never_resent_when_the_outcome_is_unknown(self) -> None:
        cases = [
            ("drop", {}),
            ("drop", {"then_answer": False}),
            ("status", {"status": 500}),
            ("status", {"status": 502}),
            ("html", {"status": 503}),
            ("status", {"status": 504}),
            ("error", {"code": "GENERATION_FAILED"}),
            ("error", {"code": "INTERNAL_ERROR"}),
            ("broken_json", {}),
            ("slow", {"seconds": 0.6}),
        ]
        for kind, params in cases:
            with self.subTest(kind=kind, params=params):
                before = len(self.fake.seen("generate"))
                self.fake.add_fault("generate", kind, **params)
                done = self.run_cli("submit", "--prompt", "fox", "--json-only", "--timeout", "0.3")
                self.assertEqual(done.returncode, 7, done.stderr)
                self.assertEqual(len(self.fake.seen("generate")) - before, 1)
                error = self.document(done)["error"]
                self.assertEqual(error["code"], "SUBMIT_OUTCOME_UNKNOWN")
                self.assertIn("credits may be spent", done.stderr)

    def test_connection_refused_is_retried_then_exit_7(self) -> None:
        with socket.socket() as held:  # bound, never listening: refused, and no test running beside it gets the port
            held.bind(("127.0.0.1", 0))
            url = "http://127.0.0.1:%d" % held.getsockname()[1]
            done = self.run_cli(
                "submit", "--prompt", "x", "--json-only", "--max-retries", "2", env={"NANOPHOTO_BASE_URL": url}
            )
        self.assertEqual(done.returncode, 7)
        error = self.document(done)["error"]
        self.assertEqual(error["code"], "NETWORK_ERROR")
        self.assertIn("refused (after 2 retries)", error["message"])
        self.fake = type(self.fake)(key=KEY).start()  # for cleanup


class Redirects(EndToEnd):
    """No redirect is followed for an API call; the other origin receives nothing."""

    in_process = True

    def test_each_redirect_on_each_endpoint(self) -> None:
        job = self.document(self.run_cli("submit", "--prompt", "x", "--json-only"))
        for endpoint in ("generate", "check-status"):
            for code in (301, 302, 303, 307, 308):
                with self.subTest(endpoint=endpoint, code=code):
                    self.fake.add_fault(endpoint, "redirect", status=code)
                    if endpoint == "generate":
                        done = self.run_cli("submit", "--prompt", "x", "--json-only", "-v")
                    else:
                        done = self.run_cli("status", "--job", job["jobId"], "--follow", "--json-only", "-v", *FAST)
                    self.assertEqual(done.returncode, 7, done.stderr)
                    message = self.document(done)["error"]["message"]
                    self.assertIn("redirect to %s/api/veo-3/%s;" % (self.fake.cdn_url, endpoint), message)
                    self.assertNotIn("leak-me", done.stdout + done.stderr)
                    self.assertEqual(self.fake.seen(origin="cdn"), [])
        # A redirect is a sure refusal of the submit: sent once, no record left behind; but after a POST a 302 or a
        # 303 ("See Other") may say the submit was acted on: its outcome is unknown, and its record stays.
        self.assertEqual(len(self.fake.seen("generate")), 6)
        listed = json.loads(self.run_cli("status", "--list").stdout)
        self.assertEqual(
            [(entry["jobId"] == job["jobId"], entry["status"]) for entry in listed][::-1],
            [(True, "processing"), (False, "unknown"), (False, "unknown")],
        )

    def test_downloads_never_carry_the_key(self) -> None:
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", "-v", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        video_requests = self.fake.seen(origin="cdn")
        self.assertTrue(video_requests)
        for request in video_requests:
            self.assertNotIn("Authorization", request.headers)
            self.assertNotIn(KEY, json.dumps(request.headers))
        # --verbose names method, path, status and time, never a presigned query.
        self.assertIn("http: POST /api/veo-3/generate -> 200", done.stderr)
        self.assertIn("http: GET %s/videos/" % self.fake.cdn_url, done.stderr)
        self.assertNotIn("X-Signature", done.stderr)


class Secrets(EndToEnd):
    in_process = True

    def test_an_echoed_key_is_redacted_everywhere(self) -> None:
        self.fake.add_fault("generate", "echo_key")
        done = self.run_cli("submit", "--prompt", "x", "-v")  # run_cli asserts the key is absent
        self.assertEqual(done.returncode, 0)
        self.assertIn("Bearer ***", done.stdout)

    def test_the_key_is_in_no_file(self) -> None:
        done = self.run_cli(
            "submit",
            "--prompt",
            "x",
            "--follow",
            "--download",
            "v",
            "--api-key",
            KEY,
            *FAST,
            env={"NANOPHOTO_API_KEY": ""},
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--api-key is visible to other users", done.stderr)
        for folder, _dirs, files in os.walk(self.tmp):
            for name in files:
                with open(os.path.join(folder, name), "rb") as handle:
                    self.assertNotIn(KEY.encode(), handle.read(), name)


class DownloadFaults(EndToEnd):
    in_process = True

    def test_cut_and_failing_downloads(self) -> None:
        self.fake.add_fault("video", "cut")
        self.fake.add_fault("video", "status", status=503)
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(os.path.getsize(os.path.join(self.tmp, "v", "shot-1.mp4")), self.fake.video_size)

    def test_a_file_that_cannot_be_saved_exits_7_and_keeps_the_others(self) -> None:
        self.fake.add_fault("video", "status", status=404)
        done = self.run_cli(
            "submit", "--shots-json", self.shots("a", "b"), "--follow", "--download", "v", "--json-only", *FAST
        )
        self.assertEqual(done.returncode, 7, done.stderr)
        result = self.document(done)
        self.assertIsNone(result["shots"][0]["file"])
        self.assertIn("HTTP 404", result["shots"][0]["downloadError"])
        self.assertTrue(result["shots"][1]["file"])
        self.assertEqual([n for n in os.listdir(os.path.join(self.tmp, "v")) if n.startswith(".")], [])
        self.assertIn("error: could not save shot-1: ", done.stderr)

    def test_the_combined_video_failing_is_reported(self) -> None:
        self.fake.gone.add("combined")
        done = self.run_cli(
            "submit", "--shots-json", self.shots("a", "b"), "--follow", "--download", "v", "--json-only", *FAST
        )
        self.assertEqual(done.returncode, 7, done.stderr)
        result = self.document(done)
        self.assertIsNone(result["file"])
        self.assertIn("HTTP 404", result["downloadError"])
        self.assertTrue(all(shot["file"] for shot in result["shots"]))
        self.assertIn("error: could not save the combined video: ", done.stderr)


class SeededJunk(EndToEnd):
    """Junk shots and junk answers, from a fixed seed: never a traceback, exit codes from the table."""

    in_process = True

    def test_junk_in_junk_out(self) -> None:
        rng = random.Random(20261124)
        faults = [
            ("status", {"status": 500}),
            ("html", {"status": 502}),
            ("broken_json", {}),
            ("drop", {}),
            ("status", {"status": 429, "headers": {"Retry-After": "0"}}),
            ("error", {"code": "TASK_NOT_FOUND"}),
            ("error", {"code": "LOGIN_REQUIRED"}),
            ("redirect", {"status": 302}),
        ]
        allowed = {0, 1, 2, 3, 5, 6, 7, 8}
        for round_number in range(12):
            junk_shot = rng.choice(
                [
                    {"prompt": rng.random()},
                    [],
                    "x",
                    {"prompt": "ok", "generationType": None},
                    dict(prompt="ok", generationType="TEXT_2_VIDEO", aspectRatio="16:9"),
                ]
            )
            for _ in range(rng.randint(0, 3)):
                kind, params = rng.choice(faults)
                self.fake.add_fault(rng.choice(["generate", "check-status"]), kind, **params)
            done = self.run_cli(
                "submit",
                "--shots-json",
                json.dumps([junk_shot]),
                "--follow",
                "--max-wait",
                "2",
                "--max-retries",
                "1",
                "--json-only",
                *FAST,
            )
            self.assertIn(done.returncode, allowed, (round_number, done.stderr))
            document = self.document(done)
            if document.get("jobId"):
                self.assertTrue(os.path.exists(document["jobFile"]))
            for queue in self.fake.faults.values():
                queue.clear()
