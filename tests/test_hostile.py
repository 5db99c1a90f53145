"""Promises that hold at the edges: a hostile service, a killed process, a key with a line break.

Whole-program tests: the real command as a subprocess against the fake NanoPhoto's hostile modes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from typing import Any, List

from fake_nanophoto import echo_key_everywhere, inject_lines, links, nested, video_sha256, with_nan
from helpers import CLI, concurrently, stop_process
from test_e2e import FAST, EndToEnd
from test_second_job import media_lines, sha256_of

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


def strict_json(text: str) -> Any:
    """JSON as other languages read it: NaN and Infinity are errors."""

    def refuse(word: str) -> Any:
        raise ValueError("not strict JSON: %s" % word)

    return json.loads(text, parse_constant=refuse)


# A download folder holding only the part file of shot-1, named for its job: .shot-1.mp4.<jobId>.part
ONE_PART = r"^\.shot-1\.mp4\.\d{8}T\d{6}Z-\w+\.part$"


def part_files(folder: str) -> List[str]:
    """The part files in a download folder, by path."""
    names = os.listdir(folder) if os.path.isdir(folder) else []
    return [os.path.join(folder, name) for name in names if name.endswith(".part")]


class Secrets(EndToEnd):
    in_process = True

    def leaks(self, text: str, key: str) -> List[str]:
        """Every run of 8 or more of the key's characters found in text."""
        return [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8] in text]

    def test_a_key_with_a_line_break_is_refused_and_never_shown(self) -> None:
        config = os.path.join(self.tmp, "openclaw.json")
        with open(config, "w") as handle:
            json.dump({"skills": {"entries": {"veo-3-1": {"apiKey": "sk-config-part\nsk-second-line"}}}}, handle)
        ways = [
            ({"NANOPHOTO_API_KEY": "sk-env-part-one\nsk-env-part-two"}, [], "$NANOPHOTO_API_KEY"),
            ({"NANOPHOTO_API_KEY": "sk-tab-inside\tthe-key"}, [], "$NANOPHOTO_API_KEY"),
            ({"NANOPHOTO_API_KEY": ""}, ["--api-key", "sk-flag-part\r\nsk-flag-two"], "--api-key"),
            ({"NANOPHOTO_API_KEY": "", "OPENCLAW_CONFIG_PATH": config}, [], "skills.entries.veo-3-1 in " + config),
            ({"NANOPHOTO_API_KEY": "sk-\u00e9t\u00e9-not-ascii"}, [], "$NANOPHOTO_API_KEY"),
        ]
        for env, flags, source in ways:
            with self.subTest(source=source, env=env):
                done = self.run_cli("submit", "--prompt", "fox", "--json-only", *flags, env=env)
                self.assertEqual(done.returncode, 3, done.stderr)
                self.assertIn("the API key from %s contains" % source, done.stderr)
                for part in ("part", "second", "inside", "the-key", "not-ascii"):
                    self.assertNotIn(part, done.stdout + done.stderr)
        self.assertEqual(self.fake.requests, [])  # "  key  " would be trimmed, but nothing was sent at all

    def test_a_secret_reference_in_openclaw_config_is_not_sent(self) -> None:
        config = os.path.join(self.tmp, "openclaw.json")
        with open(config, "w") as handle:
            reference = {"source": "env", "provider": "default", "id": "NANOPHOTO_API_KEY"}
            json.dump({"skills": {"entries": {"veo-3-1": {"apiKey": reference}}}}, handle)
        done = self.run_cli("submit", "--prompt", "fox", env={"NANOPHOTO_API_KEY": "", "OPENCLAW_CONFIG_PATH": config})
        self.assertEqual(done.returncode, 3)
        self.assertIn("is a secret reference, which OpenClaw resolves when it runs the skill", done.stderr)
        self.assertIn("hint: when running it by hand, export NANOPHOTO_API_KEY=", done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_an_echoed_key_never_shows_in_any_form_nor_in_the_record(self) -> None:
        key = "sk-live-0123456789abcdefghijklmnopqrstuvwxyz+/="  # long, with characters that are escaped in URLs
        self.fake.key = key
        self.fake.polls_per_shot = 1
        echo = echo_key_everywhere(key)
        self.fake.add_fault("generate", "mutate", mutate=echo)
        for _ in range(3):
            self.fake.add_fault("check-status", "mutate", mutate=echo)
        done = self.run_cli(
            "submit", "--prompt", "x", "--follow", "--download", "v", "-v", *FAST, env={"NANOPHOTO_API_KEY": key}
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        from urllib.parse import quote

        for form in (key, quote(key, safe=""), json.dumps(key)[1:-1]):
            self.assertEqual(self.leaks(done.stdout + done.stderr, form), [])
        self.assertIn("***", done.stdout)
        for folder, _dirs, files in os.walk(self.tmp):
            for name in files:
                with open(os.path.join(folder, name), "rb") as handle:
                    self.assertEqual(self.leaks(handle.read().decode("latin-1"), key), [], name)


class InjectedText(EndToEnd):
    in_process = True

    def test_the_service_cannot_write_lines_or_escapes_to_stderr(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("check-status", "mutate", mutate=inject_lines, count=2)
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", *FAST)
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertEqual(media_lines(done.stderr), [])  # nothing was saved, so no MEDIA: line at all
        self.assertNotIn("\x1b", done.stderr)
        self.assertNotIn("\r", done.stderr)
        self.assertNotIn("\u202e", done.stderr)
        self.assertIn("blocked MEDIA:/etc/shadow", done.stderr)  # shown, as one line of text
        strict_json(done.stdout.splitlines()[-1])


class VideoLinks(EndToEnd):
    in_process = True

    def test_only_https_or_loopback_links_are_fetched(self) -> None:
        self.fake.polls_per_shot = 1
        for base in (
            "http://169.254.169.254/latest/",
            "http://10.0.0.7/v/",
            "ftp://cdn.example.com/",
            "",
            "https://a..b/",
        ):
            with self.subTest(base=base):
                self.fake.add_fault("check-status", "mutate", mutate=links(base), count=2)
                started = time.monotonic()
                done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
                self.assertEqual(done.returncode, 7, done.stderr)
                shot = self.document(done)["shots"][0]
                self.assertEqual((shot["status"], shot["file"]), ("completed", None))
                self.assertIn("it was not fetched", shot["downloadError"])
                self.assertLess(time.monotonic() - started, 10)  # no connection was tried and waited for
        self.assertEqual(self.fake.seen(origin="cdn"), [])

    def test_a_completed_shot_without_a_link_is_not_a_success(self) -> None:
        self.fake.polls_per_shot = 1
        no_link = lambda payload: dict(payload, shots=[dict(s, videoUrl=None) for s in payload["shots"]])  # noqa: E731
        self.fake.add_fault("check-status", "mutate", mutate=no_link)
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 7, done.stderr)
        shot = self.document(done)["shots"][0]
        self.assertEqual((shot["status"], shot["file"]), ("completed", None))
        self.assertIn("the service gave no link for this video", shot["downloadError"])

    def test_what_is_not_a_video_is_never_saved_as_one(self) -> None:
        self.fake.polls_per_shot = 1
        for kind, params in (("empty", {}), ("html_as_video", {}), ("html", {"status": 200})):
            with self.subTest(kind=kind):
                self.fake.add_fault("video", kind, **params)
                done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", kind, "--json-only", *FAST)
                self.assertEqual(done.returncode, 7, done.stderr)
                result = self.document(done)
                self.assertEqual((result["status"], result["error"]["code"]), ("completed", "DOWNLOAD_FAILED"))
                self.assertIsNone(result["shots"][0]["file"])
                self.assertEqual(os.listdir(os.path.join(self.tmp, kind)), [])  # no partial file, no final file
                self.assertEqual(media_lines(done.stderr), [])


class NeverLoseAJobNeverPayTwice(EndToEnd):
    in_process = True

    def test_killed_while_the_submit_is_in_flight_the_record_says_so(self) -> None:
        self.fake.add_fault("generate", "slow", seconds=30)  # the job is made; the answer does not come
        process = subprocess.Popen(
            [*CLI, "submit", "--prompt", "fox", "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(os.environ, **self.env),
            cwd=self.tmp,
        )
        self.addCleanup(stop_process, process)
        while not self.fake.seen("generate"):
            self.assertIsNone(process.poll())
        process.kill()
        process.communicate(timeout=30)
        listing = json.loads(self.run_cli("status", "--list").stdout)
        self.assertEqual([job["status"] for job in listing], ["submitting"])
        done = self.run_cli("status", "--last", "--json-only")
        self.assertEqual(done.returncode, 7, done.stderr)
        error = self.document(done)["error"]
        self.assertEqual(error["code"], "SUBMIT_OUTCOME_UNKNOWN")
        self.assertIn("it may exist at the service, and credits may be spent", error["message"])
        self.assertIn("hint: check your jobs at https://nanophoto.ai before submitting again", done.stderr)
        done = self.run_cli("status", "--job", listing[0]["jobId"], "--follow", "--json-only")
        self.assertEqual((done.returncode, self.document(done)["error"]["code"]), (7, "SUBMIT_OUTCOME_UNKNOWN"))
        self.assertEqual(len(self.fake.seen("generate")), 1)  # status sent nothing

    def test_an_unwritable_state_folder_sends_nothing(self) -> None:
        blocker = os.path.join(self.tmp, "a-file")
        open(blocker, "w").close()
        done = self.run_cli(
            "submit", "--prompt", "fox", "--json-only", env={"VEO_3_1_STATE_DIR": os.path.join(blocker, "state")}
        )
        self.assertEqual(done.returncode, 7, done.stderr)
        self.assertIn("the job record could not be written to %s" % os.path.join(blocker, "state", "jobs"), done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_numeric_task_ids_and_two_tasks_for_one_shot_are_all_followed(self) -> None:
        self.fake.polls_per_shot = 1
        for shape in ("numeric_ids", "duplicate_tasks"):
            with self.subTest(shape=shape):
                self.fake.shape = {shape}
                done = self.run_cli(
                    "submit",
                    "--shots-json",
                    self.shots("a", "b"),
                    "--follow",
                    "--download",
                    shape,
                    "--json-only",
                    *FAST,
                )
                self.assertEqual(done.returncode, 0, done.stderr)
                result = self.document(done)
                self.assertEqual(len(result["shots"]), 4 if shape == "duplicate_tasks" else 2)
                for shot in result["shots"]:
                    self.assertEqual(shot["status"], "completed")
                    self.assertEqual(
                        sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size)
                    )

    def test_a_shot_the_answer_names_no_task_for_is_not_a_success(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("generate", "mutate", mutate=lambda payload: dict(payload, shots=payload["shots"][:1]))
        done = self.run_cli("submit", "--shots-json", self.shots("a", "b"), "--follow", "--json-only", *FAST)
        self.assertEqual(done.returncode, 7, done.stderr)
        result = self.document(done)
        self.assertEqual(result["status"], "completed")  # the one task named was followed to its end...
        self.assertIn("names no task for shot-2", result["error"]["message"])  # ...and the verdict says what is missing

    def test_what_cannot_be_sent_is_a_usage_error_before_anything_is_sent(self) -> None:
        port = self.fake.servers[0].server_address[1]
        cases = [
            (["--base-url", "http://127.0.0.1:%d/a b" % port], 2),
            (["--base-url", "https://a..b"], 2),
            (["--base-url", "https://exa mple.com"], 2),
            (["--user-agent", "me\nX-Injected: 1"], 2),
            (["--user-agent", "\u2603 snowman"], 2),
        ]
        for flags, status in cases:
            with self.subTest(flags=flags):
                done = self.run_cli("submit", "--prompt", "fox", "--json-only", *flags)
                self.assertEqual(done.returncode, status, done.stderr)
                self.assertNotEqual(self.document(done)["error"]["code"], "SUBMIT_OUTCOME_UNKNOWN")
        # A prompt that is not valid UTF-8 (a Latin-1 shell): refused, not sent as \udce9 and paid for.
        env = dict(os.environ, **self.env)
        done = subprocess.run(
            [*(part.encode() for part in CLI), b"submit", b"--prompt", b"caf\xe9", b"--json-only"],
            capture_output=True,
            env=env,
        )
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn(b"--prompt is not valid UTF-8 text", done.stderr)
        self.assertEqual(self.fake.requests, [])


class BoundedTime(EndToEnd):
    in_process = True

    def test_a_dripping_answer_does_not_outlive_the_timeout(self) -> None:
        self.fake.add_fault("generate", "drip", seconds=0.2)  # ~20 s for the whole answer
        started = time.monotonic()
        done = self.run_cli("submit", "--prompt", "fox", "--json-only", "--timeout", "0.5")
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(done.returncode, 7, done.stderr)
        self.assertEqual(self.document(done)["error"]["code"], "SUBMIT_OUTCOME_UNKNOWN")
        self.assertEqual(len(self.fake.seen("generate")), 1)
        # While following, a dripping check-status is a failed round; --max-wait ends the run.
        job = json.loads(self.run_cli("status", "--list").stdout)[0]
        self.assertEqual(job["status"], "unknown")
        self.fake.add_fault("check-status", "drip", seconds=0.2, count=100)
        submitted = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        started = time.monotonic()
        done = self.run_cli(
            "status",
            "--job",
            submitted["jobId"],
            "--follow",
            "--json-only",
            "--timeout",
            "0.3",
            "--max-wait",
            "1",
            "--max-retries",
            "0",
            "--poll-interval",
            "0.1",
        )
        self.assertLess(time.monotonic() - started, 4)
        self.assertEqual(done.returncode, 6, done.stderr)

    def test_sigterm_during_a_dripping_submit_ends_within_the_timeout(self) -> None:
        self.fake.add_fault("generate", "drip", seconds=0.2)
        process = subprocess.Popen(
            [*CLI, "submit", "--prompt", "fox", "--timeout", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, **self.env),
            cwd=self.tmp,
        )
        self.addCleanup(stop_process, process)
        while not self.fake.seen("generate"):
            self.assertIsNone(process.poll())
        started = time.monotonic()
        process.terminate()
        _out, err = process.communicate(timeout=30)
        self.assertLess(time.monotonic() - started, 3)
        self.assertIn(process.returncode, (7, 130), err)
        self.assertIn("waiting for the service's answer", err)
        self.assertEqual(json.loads(self.run_cli("status", "--list").stdout)[0]["status"], "unknown")

    def test_ctrl_c_during_a_download_stops_at_once_and_the_resume_finishes(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("video", "drip", seconds=0.0005)  # a 64 KiB video over half a minute
        process = subprocess.Popen(
            [*CLI, "submit", "--prompt", "fox", "--follow", "--download", "v", "--json-only", *FAST],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, **self.env),
            cwd=self.tmp,
        )
        self.addCleanup(stop_process, process)
        while not any(os.path.getsize(part) > 100 for part in part_files(os.path.join(self.tmp, "v"))):
            self.assertIsNone(process.poll())  # until some of the video is here
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        self.assertLess(time.monotonic() - started, 2.5)
        self.assertEqual(process.returncode, 130, err)
        result = strict_json(out)
        self.assertIsNone(result["shots"][0]["file"])
        self.assertRegex(" ".join(os.listdir(os.path.join(self.tmp, "v"))), ONE_PART)  # kept for a Range resume
        done = self.run_cli("status", "--last", "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "v")), ["shot-1.mp4"])
        self.assertTrue(self.fake.seen(origin="cdn")[-1].headers.get("Range", "").startswith("bytes="))
        self.assertEqual(
            sha256_of(self.document(done)["shots"][0]["file"]), video_sha256("task_0001_1.mp4", self.fake.video_size)
        )

    def test_max_wait_stops_a_download_and_the_resume_finishes_it(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("video", "drip", seconds=0.001)  # 64 KiB over a minute
        started = time.monotonic()
        done = self.run_cli(
            "submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", "--max-wait", "1", *FAST
        )
        self.assertLess(time.monotonic() - started, 4)
        self.assertEqual(done.returncode, 6, done.stderr)
        self.assertIn("--max-wait ran out while videos were being saved", done.stderr)
        self.assertRegex(" ".join(os.listdir(os.path.join(self.tmp, "v"))), ONE_PART)
        done = self.run_cli("status", "--last", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "v")), ["shot-1.mp4"])

    def test_a_retry_after_longer_than_the_time_left_ends_following_with_6(self) -> None:
        self.fake.add_fault("check-status", "status", status=429, headers={"Retry-After": "3600"})
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--json-only", "--max-wait", "60", *FAST)
        self.assertEqual(done.returncode, 6, done.stderr)
        self.assertIn("asked to wait 1h00m (Retry-After)", done.stderr)
        self.assertEqual(self.document(done)["status"], "timeout")


class NoTraceback(EndToEnd):
    """run_cli itself fails any test whose stderr holds a traceback."""

    in_process = True

    def test_download_folders_that_cannot_be_used(self) -> None:
        blocker = os.path.join(self.tmp, "a-file")
        open(blocker, "w").close()
        for folder in (os.path.join(blocker, "sub"), blocker, "/proc/no-videos-here"):
            with self.subTest(folder=folder):
                done = self.run_cli("submit", "--prompt", "fox", "--follow", "--download", folder, "--json-only")
                self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_standard_input_closed_and_standard_output_closed_or_full(self) -> None:
        env = dict(os.environ, **self.env)
        run = [*CLI, "submit", "--shots-file", "-", "--json-only"]
        done = subprocess.run(run, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        self.assertEqual(done.returncode, 2, done.stderr)
        done = subprocess.run(" ".join(run) + " <&-", shell=True, capture_output=True, text=True, env=env)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("could not be read (standard input is closed)", done.stderr)
        for redirect in (">&-", ">/dev/full"):
            with self.subTest(stdout=redirect):
                line = "%s submit --prompt fox --follow --poll-interval 0.05 %s" % (" ".join(CLI), redirect)
                done = subprocess.run(line, shell=True, capture_output=True, text=True, env=env)
                self.assertNotIn("Traceback", done.stderr)
                self.assertEqual(done.returncode, 7, done.stderr)
                self.assertIn("error: the result could not be written to standard output", done.stderr)

    def test_deep_nesting_and_nan_in_an_answer(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("check-status", "mutate", mutate=nested(600), count=2)
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "deep", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIsNotNone(strict_json(done.stdout)["shots"][0]["file"])
        self.fake.add_fault("check-status", "mutate", mutate=with_nan, count=2)
        done = self.run_cli("submit", "--prompt", "x", "--follow", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        for line in done.stdout.splitlines():
            strict_json(line)

    def test_a_folder_at_the_name_is_passed_over(self) -> None:
        os.makedirs(os.path.join(self.tmp, "v", "shot-1.mp4"))
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(os.path.basename(self.document(done)["shots"][0]["file"]), "shot-1-2.mp4")


class Records(EndToEnd):
    in_process = True

    def test_job_file_never_overwrites_a_record(self) -> None:
        path = os.path.join(self.tmp, "job.json")
        first = self.document(self.run_cli("submit", "--prompt", "a", "--job-file", path, "--json-only"))
        with open(path, "rb") as handle:
            before = handle.read()
        done = self.run_cli("submit", "--prompt", "b", "--job-file", path, "--json-only")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("already exists", done.stderr)
        with open(path, "rb") as handle:
            self.assertEqual(handle.read(), before)
        self.assertEqual(len(self.fake.seen("generate")), 1)
        self.assertEqual(first["jobFile"], path)

    def test_a_corrupt_newest_record_is_said_not_skipped(self) -> None:
        self.run_cli("submit", "--prompt", "older", "--json-only")
        newest = self.document(self.run_cli("submit", "--prompt", "newer", "--json-only"))
        with open(newest["jobFile"], "w") as handle:
            handle.write('{"jobId": "half a rec')
        done = self.run_cli("status", "--last", "--json-only")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("the newest job record %s cannot be read" % newest["jobFile"], done.stderr)
        listing = json.loads(self.run_cli("status", "--list").stdout)
        self.assertEqual([job["status"] for job in listing], ["unreadable", "processing"])
