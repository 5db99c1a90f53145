"""Promises that hold at the edges: a hostile service, a killed process, a key with a line break.

Whole-program tests: the real command as a subprocess against the fake NanoPhoto's hostile modes.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import os
import signal
import subprocess
import threading
import time
from typing import Any, List
from urllib.parse import quote

from fake_nanophoto import FakeNanoPhoto, echo_key_everywhere, inject_lines, links, nested, video_sha256, with_nan
from helpers import CLI, SHOT, concurrently, run_in_process, shots_json, veo
from test_e2e import FAST, KEY, EndToEnd
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

    def test_a_video_saved_at_a_later_answer_keeps_no_download_error(self) -> None:
        self.fake.polls_per_shot = 3  # shot-1 completes at the third answer, shot-2 at the sixth
        job = self.document(self.run_cli("submit", "--shots-json", shots_json(2), "--json-only"))
        self.fake.jobs[self.fake.tasks["task_0001_1"].job_id].ticks = 2
        self.assertEqual(self.run_cli("status", "--job", job["jobId"], "--download", "v").returncode, 0)  # shot-1
        link, answers = self.fake.video_url, []
        bad = "http://10.0.0.7/v.mp4"  # never fetched: then the same video at its own link, already saved
        self.fake.video_url = lambda task_id: (
            bad if not answers.append(task_id) and len(answers) == 1 else link(task_id)
        )
        done = self.run_cli("status", "--job", job["jobId"], "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("already saved shot-1", done.stderr)
        self.assertNotIn("downloadError", json.dumps(self.document(done)))

    def test_a_video_that_failed_is_tried_again_with_the_next_link(self) -> None:
        # The service said shot-1 was done before it had a link; the next answer gives one.
        self.fake.polls_per_shot = 1
        links, answers = self.fake.video_url, []
        self.fake.video_url = lambda task_id: (
            None if not answers.append(task_id) and len(answers) == 1 else links(task_id)
        )
        done = self.run_cli(
            "submit", "--shots-json", shots_json(2), "--follow", "--download", "v", "--json-only", *FAST
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("could not save shot-1", done.stderr)  # told, then saved at the next answer
        result = self.document(done)
        self.assertEqual([bool(shot["file"]) for shot in result["shots"]], [True, True])
        self.assertNotIn("downloadError", json.dumps(result))

    def test_a_video_tried_again_at_a_new_link_starts_from_its_first_byte(self) -> None:
        # What was fetched from the old link may be the start of another file: it is not resumed at the new one.
        self.fake.polls_per_shot = 5  # shot-2 completes five polls after shot-1
        link, polls = self.fake.video_url, itertools.count()
        self.fake.video_url = lambda task_id: link(task_id) + "&poll=%d" % next(polls)  # a new link every answer
        self.fake.add_fault("video", "cut", count=veo.DOWNLOAD_TRIES)  # every try at the first link is cut short

        def sleep(seconds: float) -> None:  # between polls, once shot-1 is done: not before its tries are made
            polling = threading.current_thread().name != "veo-download"  # a download's back-off is let through
            while polling and 0 < len(self.fake.seen(origin="cdn")) < veo.DOWNLOAD_TRIES:
                time.sleep(0.01)
            time.sleep(min(seconds, 0.05))

        args = ["submit", "--shots-json", shots_json(2), "--follow", "--download", "v", "--json-only", *FAST]
        done = run_in_process(args, env=self.env, cwd=self.tmp, sleep=sleep)
        self.assertEqual(done.returncode, 0, done.stderr)
        fetches = [r for r in self.fake.seen(origin="cdn") if "task_0001_1" in r.path]
        self.assertGreater(len(fetches), veo.DOWNLOAD_TRIES)
        self.assertNotIn("Range", fetches[veo.DOWNLOAD_TRIES].headers)  # the new link: from byte 0
        shot = self.document(done)["shots"][0]
        self.assertEqual(sha256_of(shot["file"]), video_sha256("task_0001_1.mp4", self.fake.video_size))

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
        process = self.start_cli([*CLI, "submit", "--prompt", "fox", "--follow"], text=False)
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

    def test_an_unknown_outcome_names_the_record_it_kept(self) -> None:
        self.fake.add_fault("generate", "status", status=500)  # the job may have been made
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--json-only")
        self.assertEqual(done.returncode, 7, done.stderr)
        listing = json.loads(self.run_cli("status", "--list").stdout)
        message = self.document(done)["error"]["message"]
        self.assertTrue(message.endswith("; job %s is recorded in %s" % (listing[0]["jobId"], listing[0]["jobFile"])))
        self.assertIn(message, done.stderr)
        done = self.run_cli("status", "--last", "--json-only")  # what it may mean, said once
        message = self.document(done)["error"]["message"]
        self.assertEqual(message.count("credits may be spent"), 1, message)
        self.assertIn("but the service answered HTTP 500", message)

    def test_an_unwritable_state_folder_sends_nothing(self) -> None:
        blocker = os.path.join(self.tmp, "a-file")
        open(blocker, "w").close()
        done = self.run_cli(
            "submit", "--prompt", "fox", "--json-only", env={"VEO_3_1_STATE_DIR": os.path.join(blocker, "state")}
        )
        self.assertEqual(done.returncode, 7, done.stderr)
        self.assertIn("the job record could not be written to %s" % os.path.join(blocker, "state", "jobs"), done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_one_of_two_tasks_of_a_shot_not_saved_is_a_failed_download(self) -> None:
        self.fake.polls_per_shot, self.fake.shape = 1, {"duplicate_tasks"}
        self.fake.gone.add("task_0001_1.mp4")  # the first task's link is gone; the second's saves
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 7, done.stderr)  # not 0: a video was not saved
        result = self.document(done)
        self.assertEqual(result["error"]["code"], "DOWNLOAD_FAILED")
        self.assertEqual(sorted(bool(shot["file"]) for shot in result["shots"]), [False, True])
        self.assertIn("resume with: ", done.stderr)

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
        self.assertIn(b"--prompt is not valid text (bytes that are not UTF-8", done.stderr)
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
        self.assertIn("did not answer within 0.5s (--timeout)", done.stderr)  # not "within 0s"
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
        process = self.start_cli([*CLI, "submit", "--prompt", "fox", "--timeout", "1"])
        while not self.fake.seen("generate"):
            self.assertIsNone(process.poll())
        started = time.monotonic()
        process.terminate()
        out, err = process.communicate(timeout=30)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(process.returncode, 130, err)  # stopped as asked, once the wait was over
        self.assertIn("SUBMIT_OUTCOME_UNKNOWN", out)
        self.assertIn("waiting for the service's answer", err)
        self.assertEqual(json.loads(self.run_cli("status", "--list").stdout)[0]["status"], "unknown")

    def test_ctrl_c_during_a_download_stops_at_once_and_the_resume_finishes(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("video", "drip", seconds=0.0005)  # a 64 KiB video over half a minute
        process = self.start_cli(
            [*CLI, "submit", "--prompt", "fox", "--follow", "--download", "v", "--json-only", *FAST]
        )
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

    def test_a_current_folder_deleted_under_the_run(self) -> None:
        folder = os.path.join(self.tmp, "gone")
        os.makedirs(folder)
        for args in (["status", "--job", "mine.json"], ["submit", "--prompt", "x", "--job-file", "j.json"]):
            with self.subTest(args=args):  # a shell in that folder removes it, then starts the program there
                line = 'cd "$1" && rmdir "$1" && shift && exec "$@"'
                command = ["sh", "-c", line, "sh", folder, *CLI, *args, "--json-only"]
                done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ, **self.env))
                self.assertEqual((done.returncode, "Traceback" in done.stderr), (2, False), done.stderr)
                self.assertIn("the current folder cannot be read", json.loads(done.stdout)["error"]["message"])
                os.makedirs(folder)
        self.assertEqual(self.fake.requests, [])

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
        empty, writer = os.pipe()  # left non-blocking by whatever started the program, and nothing written yet
        os.set_blocking(empty, False)
        done = subprocess.run(run, stdin=empty, capture_output=True, text=True, env=env)
        for end in (empty, writer):
            os.close(end)
        self.assertEqual((done.returncode, json.loads(done.stdout)["error"]["code"]), (2, "INVALID_ARGUMENTS"))
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

    def test_a_record_from_the_future_shows_no_negative_time(self) -> None:
        submitted = self.document(self.run_cli("submit", "--prompt", "a", "--json-only"))
        with open(submitted["jobFile"]) as handle:
            record = json.load(handle)
        with open(submitted["jobFile"], "w") as handle:  # a clock that was ahead, or an edit by hand
            json.dump(dict(record, submittedAt="2999-01-01T00:00:00Z"), handle)
        done = self.run_cli("status", "--last", "--follow", "--poll-interval", "0.01", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        result = self.document(done)
        self.assertGreaterEqual(result["elapsedSeconds"], 0)
        self.assertTrue(all(shot["elapsedSeconds"] >= 0 for shot in result["shots"]), result)
        self.assertNotRegex(done.stderr, r"(?<![\w-])-[0-9]")  # no "-2m" anywhere (ids hold "-1" after a letter)

    def test_a_job_that_ended_long_ago_took_as_long_as_it_took(self) -> None:
        self.fake.polls_per_shot = 1
        first = self.document(self.run_cli("submit", "--prompt", "a", "--follow", "--json-only", *FAST))
        with open(first["jobFile"]) as handle:
            record = json.load(handle)
        with open(first["jobFile"], "w") as handle:  # as if it was submitted (and ended) a day ago
            json.dump(dict(record, submittedAt="2020-01-01T00:00:00Z"), handle)
        again = self.document(self.run_cli("status", "--last", "--json-only"))
        self.assertEqual(again["elapsedSeconds"], first["elapsedSeconds"])  # not the years since
        self.assertEqual(again["elapsedSeconds"], max(shot["elapsedSeconds"] for shot in again["shots"]))

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


class TheKeyInEveryForm(EndToEnd):
    in_process = True

    def leaks(self, text: str, form: str) -> List[str]:
        """Every run of 8 or more of a form's characters found in text, in any letter case."""
        return [form[i : i + 8] for i in range(len(form) - 7) if form[i : i + 8].lower() in text.lower()]

    def test_a_shot_id_holding_the_key_names_no_file_and_no_line(self) -> None:
        self.fake.polls_per_shot = 1
        for shot_id in (KEY, "a" * 85 + KEY, KEY.replace("-", " ")):  # long enough to be cut; cleaned into the key
            with self.subTest(length=len(shot_id)):
                folder = "v%d" % len(shot_id)
                shots = json.dumps([dict(SHOT, id=shot_id)])
                done = self.run_cli(
                    "submit", "--shots-json", shots, "--follow", "--download", folder, "--json-only", *FAST
                )
                self.assertEqual(done.returncode, 0, done.stderr)
                saved = self.document(done)["shots"][0]["file"]
                self.assertTrue(os.path.isfile(saved))  # the name said is the file's own
                self.assertEqual(media_lines(done.stderr), [saved])
                for name in os.listdir(os.path.join(self.tmp, folder)):
                    self.assertEqual(self.leaks(name, KEY), [], name)
                keys = [KEY]  # outside any run, the table is this test's run: it hides the key just as long as that
                veo.hide_keys(keys)  # (not the whole test long: another test's leak of KEY would go unseen meanwhile)
                table = veo.job_table(veo.Job("j", "", "720p", "", [veo.Task(shot_id, "t")]), "done", 1.0)
                veo.hide_keys(keys, ended=True)
                self.assertEqual(self.leaks(table, KEY), [])  # the terminal's table hides before it cuts

    def test_a_key_given_is_hidden_before_it_is_read(self) -> None:
        other = "sk-flag-given-key-0077"  # by --api-key, with none in the environment
        places = [
            ["submit", "--prompt", "fox", "--follow", "--api-key", other, "--download", "/tmp/%s\tx" % other],
            ["status", "--job", "/nonexistent/%s/x.json" % other, "--api-key", other],
            ["status", "--task-ids-json", '["t1"]', "--api-key", other, "--base-url", "http://%s.example.com" % other],
        ]
        for args in places:
            with self.subTest(args=args[:2]):
                done = self.run_cli(*args, "--json-only", env={"NANOPHOTO_API_KEY": ""})
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertEqual(self.leaks(done.stdout + done.stderr, other), [], done.stderr)
        # A dry run's table at a terminal: the user's own text, with the key they gave hidden as in its JSON
        args = ["submit", "--prompt", "fox %s" % other, "--dry-run", "--api-key", other]
        done = run_in_process(args, env=dict(self.env, NANOPHOTO_API_KEY=KEY), cwd=self.tmp, stdout_tty=True)
        self.assertIn('"prompt": "fox ***"', done.stdout)
        # $NANOPHOTO_API_KEY in the state folder's path: status --list never reads the key, and still hides it
        state = {"VEO_3_1_STATE_DIR": os.path.join(self.tmp, KEY)}
        self.run_cli("submit", "--prompt", "fox", "--json-only", env=state)
        done = self.run_cli("status", "--list", env=state, own_process=True)  # a process that never saw the key
        self.assertEqual(done.returncode, 0, done.stderr)  # (run_cli checks that the key shows nowhere)
        self.assertIn("/***/jobs/", done.stdout)

    def test_the_key_is_hidden_in_any_letter_case_and_encoding(self) -> None:
        key = "np_AbC/dEf+GhI=0123456789"
        raw = key.encode()
        forms = [key.upper(), key.lower(), raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode()]
        forms += [
            quote(key),
            quote(key, safe="").lower(),
            key.replace("/", "\\/"),
            base64.urlsafe_b64encode(raw).decode(),
            "".join("%%%02X" % byte for byte in raw),  # every byte percent-encoded
            key[:20],  # most of it
        ]
        # The key after other bytes, in base64: another alignment. What encodes only the key must not show.
        shifted = [base64.b64encode(b"Bearer " + raw).decode(), base64.b64encode(b"user:" + raw).decode()]
        checked = forms + [encoded[12:-4] for encoded in shifted]
        forms += shifted
        self.fake.key = key

        def echo(payload: Any) -> Any:
            payload["echo"] = forms
            for entry in payload.get("shots", []):
                entry.update(status="failed", error="refused: " + " ".join(forms))
            return payload

        self.fake.add_fault("check-status", "mutate", mutate=echo)
        done = self.run_cli("submit", "--prompt", "x", "--follow", *FAST, env={"NANOPHOTO_API_KEY": key})
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("refused: ***", done.stderr)
        for form in checked:
            self.assertEqual(self.leaks(done.stdout + done.stderr, form), [], form)
            with open(self.ndjson(done)[-1]["result"]["jobFile"]) as handle:
                self.assertEqual(self.leaks(handle.read(), form), [], form)

    def test_an_all_digit_key_echoed_as_a_number_is_hidden(self) -> None:
        key = "12345678901234"
        self.fake.key = key
        self.fake.add_fault("generate", "mutate", mutate=lambda payload: dict(payload, account=int(key)))
        done = self.run_cli("submit", "--prompt", "x", "--json-only", env={"NANOPHOTO_API_KEY": key})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn(key, done.stdout)
        self.assertEqual(self.document(done)["response"]["account"], "***")

    def test_a_key_typed_into_a_bad_command_line_is_not_shown(self) -> None:
        for args in (
            ["--api-key", "TYPED", "submit", "--prompt", "x"],  # before the command: argparse's "invalid choice"
            ["--api-key=TYPED", "submit", "--prompt", "x"],
            ["submit", "--prompt", "x", "--api", "TYPED"],  # no abbreviation: "unrecognized arguments"
            ["submit", "--prompt", "x", "--apikey", "TYPED"],
            ["submit", "--prompt", "x", "--API-KEY", "TYPED"],  # mistyped in other ways
            ["submit", "--prompt", "x", "-api-key", "TYPED"],
            ["submit", "--prompt", "x", "--token", "TYPED"],
            ["submit", "--prompt", "x", "\u2014api-key", "TYPED"],  # an em dash, as some editors type it
            ["submit", "--prompt", "x", "--api-key TYPED"],  # one word, as from a quoted "$FLAGS"
            ["submit", "--prompt", "x", "--api-key:TYPED"],
            ["submit", "--prompt", "x", "--api-keyTYPED"],
            ["submit", "--prompt", "x", "\u2010\u2010api-key", "TYPED"],  # other dashes: hyphen, minus, full width
            ["submit", "--prompt", "x", "\u2212\u2212api-key", "TYPED"],
            ["submit", "--prompt", "x", "\uff0d\uff0dapi-key", "TYPED"],
            ["submit", "--prompt", "x", "\u2e3aapi-key", "TYPED"],  # a two-em dash, a small em dash, a modifier minus
            ["submit", "--prompt", "x", "\ufe58api-key", "TYPED"],
            ["submit", "--prompt", "x", "\u02d7\u02d7api-key", "TYPED"],
            ["submit", "--prompt", "x", "-H", "Authorization: Bearer TYPED"],  # curl's habits
            ["submit", "--prompt", "x", "Bearer", "TYPED"],
            ["submit", "--prompt", "x", "key:", "TYPED"],
            ["submit", "--prompt", "x", "api_key:TYPED"],
            ["submit", "--prompt", "x", "--secret", "TYPED"],  # other names a key goes by
            ["submit", "--prompt", "x", "--auth", "TYPED"],
            ["submit", "--prompt", "x", "--bearer", "TYPED"],
            ["submit", "--prompt", "x", "--password", "TYPED"],
            ["submit", "--prompt", "x", "--credential", "TYPED"],
            ["submit", "--prompt", "x", "--pw", "TYPED"],
            ["submit", "--prompt", "x", "NANOPHOTO_API_KEY=TYPED"],  # an environment setting typed as a word
            ["submit", "--prompt", "x", "api-key=TYPED"],
            ["submit", "--prompt", "x", "--" + "\u0130" * 14 + "api-key=TYPED"],  # letters that grow when lower-cased
        ):
            typed = "sk-typed-" + "".join(
                "ghijklmnopqrstuvwxyz"[b % 20] for b in hashlib.sha256(repr(args).encode()).digest()[:16]
            )
            args = [word.replace("TYPED", typed) for word in args]  # a key of its own: one once used stays hidden
            with self.subTest(args=args[:2]):
                done = self.run_cli(*args, "--json-only")
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertEqual(self.leaks(done.stdout + done.stderr, typed), [])
                self.assertEqual(self.document(done)["error"]["code"], "INVALID_ARGUMENTS")
        self.assertEqual(self.fake.requests, [])
        for prompt in (
            "a monkey, ratio=16:9",
            "the password screen",
        ):  # a prompt is no key flag, even with a name in it
            done = self.run_cli("submit", "--prompt", prompt, "--dry-run", "--json-only")
            self.assertEqual(self.document(done)["request"]["body"]["shots"][0]["prompt"], prompt)

    def test_words_like_capital_or_keyframes_on_a_line_that_parses_are_sent_and_named_as_typed(self) -> None:
        self.fake.polls_per_shot = 1
        prompt, image = "a capital city at night, key light from the left", "https://img.example.com/api/v1/cat.jpg"
        folder = os.path.join(self.tmp, "keyframes")
        args = ["--prompt=" + prompt, "--generation-type", "REFERENCE_2_VIDEO", "--image-url=" + image]
        done = self.run_cli("submit", *args, "--follow", "--download=" + folder, "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        shot = self.fake.seen("generate")[-1].json()["shots"][0]
        self.assertEqual((shot["prompt"], shot["imageUrls"]), (prompt, [image]))
        path = self.document(done)["shots"][0]["file"]
        self.assertEqual((os.path.dirname(path), os.path.isfile(path)), (folder, True))
        self.assertIn("MEDIA:" + path, done.stderr)
        done = self.run_cli("submit", "--prompt", "- a monkey rides a bicycle", "--dry-run", "--json-only")
        self.assertEqual(self.document(done)["request"]["body"]["shots"][0]["prompt"], "- a monkey rides a bicycle")

    def test_the_environments_key_in_an_early_error_is_not_shown(self) -> None:
        cases = [
            (["submit", "--prompt", "x"], {"NANOPHOTO_BASE_URL": KEY}, "***"),  # the key put where the origin goes
            (["status", "--job", KEY], {}, "/video-"),  # the key given as a job: no file name spells it
        ]
        for args, env, shown in cases:
            with self.subTest(args=args):
                done = self.run_cli(*args, "--json-only", env=env)  # run_cli fails the test if the key shows
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn(shown, done.stdout)

    def test_a_record_naming_another_origin_gets_no_key(self) -> None:
        with FakeNanoPhoto(key=KEY) as other:
            job = self.document(self.run_cli("submit", "--prompt", "x", "--json-only"))
            with open(job["jobFile"]) as handle:
                record = json.load(handle)
            record["baseUrl"] = other.api_url  # a record handed over, or edited
            path = os.path.join(self.tmp, "handed-over.json")
            with open(path, "w") as handle:
                json.dump(record, handle)
            done = self.run_cli("status", "--job", path, "--follow", "--json-only", *FAST)
            self.assertEqual(done.returncode, 2, done.stderr)
            self.assertIn("but the API origin is %s" % self.fake.api_url, done.stderr)
            self.assertIn("hint: to follow it there, add --base-url %s" % other.api_url, done.stderr)
            self.assertEqual(other.requests, [])
            before = len(self.fake.seen("check-status"))  # named on the command line, another origin stops it too
            done = self.run_cli("status", "--job", path, "--json-only", "--base-url", self.fake.api_url)
            self.assertEqual((done.returncode, len(self.fake.seen("check-status"))), (2, before), done.stderr)
            with open(path) as handle:
                self.assertEqual(json.load(handle)["baseUrl"], other.api_url)  # the job's origin is kept
            done = self.run_cli("status", "--job", path, "--json-only", "--base-url", other.api_url)
            self.assertEqual(len(other.seen("check-status")), 1)  # where the user says, the key goes


class PagesAndLinks(EndToEnd):
    in_process = True

    def test_a_page_is_not_a_video_however_it_is_dressed(self) -> None:
        self.fake.polls_per_shot = 1
        pages = [
            ("newlines first", b"\n" * 100 + b"<html><body>expired</body></html>", "video/mp4"),
            ("a byte-order mark", b"\xef\xbb\xbf<!DOCTYPE html><html></html>", "application/octet-stream"),
            ("UTF-16", "<html><body>expired</body></html>".encode("utf-16"), "video/mp4"),
            ("whitespace only", b" \r\n\t" * 50, "video/mp4"),
            ("XHTML", b"\x00\x00\x00\x18ftypmp42 looks binary", "application/xhtml+xml"),
            ("a JSON array", b'["error", "expired"]', "video/mp4"),
            ("UTF-16 without a BOM", "<html><body>expired</body></html>".encode("utf-16-be"), "video/mp4"),
            ("a BOM after a line break", b"\r\n" + "<html>expired</html>".encode("utf-16"), "video/mp4"),
            ("UTF-32", "<html><body>expired</body></html>".encode("utf-32"), "video/mp4"),
            ("a NUL first", b"\x00<html><body>expired</body></html>", "video/mp4"),
            ("JSON null", b"null", "video/mp4"),
            ("a JSON number", b"403", "application/octet-stream"),
            ("a JSON string", b'"AccessDenied: the link expired"', "video/mp4"),
            ("text with a box name at byte 4", b"The free trial of this CDN has ended.", "application/octet-stream"),
            ("text that starts as FLV does", b"FLV streaming is not enabled on this host", "video/x-flv"),
            ("text that starts as RIFF does", b"RIFF files are not served here", "video/avi"),
            (
                "UTF-16 in Chinese",
                "\u94fe\u63a5\u5df2\u8fc7\u671f\uff0c\u8bbf\u95ee\u88ab\u62d2\u7edd".encode("utf-16") * 20,
                "video/mp4",
            ),
            ("a box of size 0", b"\x00\x00\x00\x00free trial ended, pay to go on", "video/mp4"),
            ("gzipped HTML", gzip.compress(b"<html><body>expired</body></html>" * 20), "application/octet-stream"),
            (
                "Cyrillic in cp1251",
                "\u0421\u0441\u044b\u043b\u043a\u0430 \u0443\u0441\u0442\u0430\u0440\u0435\u043b\u0430".encode("cp1251")
                * 20,
                "video/mp4",
            ),
        ]
        for what, body, kind in pages:
            with self.subTest(what=what):
                self.fake.add_fault("video", "body", body=body, headers={"Content-Type": kind})
                folder = what.replace(" ", "-")
                done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", folder, "--json-only", *FAST)
                self.assertEqual(done.returncode, 7, done.stderr)
                self.assertIsNone(self.document(done)["shots"][0]["file"])
                self.assertEqual(os.listdir(os.path.join(self.tmp, folder)), [])
                self.assertEqual(media_lines(done.stderr), [])

    def test_a_video_whose_first_box_is_60_bytes_is_still_a_video(self) -> None:
        # An MP4 starts with its first box's size: 60 is "<" as a byte, after three zero bytes.
        self.fake.polls_per_shot = 1
        body = b"\x00\x00\x00\x3cftypisom" + bytes(range(256)) * 40
        self.fake.add_fault("video", "body", body=body)
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sha256_of(self.document(done)["shots"][0]["file"]), hashlib.sha256(body).hexdigest())

    def test_https_links_to_private_or_local_hosts_are_not_fetched(self) -> None:
        self.fake.polls_per_shot = 1
        for base in ("https://169.254.169.254/latest/", "https://10.1.2.3/v/", "https://intranet/v/"):
            with self.subTest(base=base):
                self.fake.add_fault("check-status", "mutate", mutate=links(base), count=2)
                done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
                self.assertEqual(done.returncode, 7, done.stderr)
                self.assertIn("not an https:// URL to a public host", self.document(done)["shots"][0]["downloadError"])

    def test_a_link_that_can_never_work_leaves_no_part_file(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("check-status", "mutate", mutate=links("http://127.0.0.1:1/v/"), count=2)  # refused
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 7, done.stderr)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "v")), [])


class DeadlinesHold(EndToEnd):
    in_process = True

    def test_max_wait_cuts_a_hanging_status_request(self) -> None:
        self.fake.add_fault("check-status", "hang", seconds=30)
        started = time.monotonic()
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--max-wait", "1", "--timeout", "60", "--json-only")
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(done.returncode, 6, done.stderr)

    def test_a_submit_in_flight_outlives_a_shorter_max_wait(self) -> None:
        # Cut short, its job would exist at the service with no task IDs to follow it by.
        self.fake.add_fault("generate", "slow", seconds=1.0)
        self.fake.polls_per_shot = 10_000
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--max-wait", "0.3", "--json-only")
        self.assertEqual(done.returncode, 6, done.stderr)
        result = self.document(done)
        self.assertEqual((len(self.fake.seen("generate")), result["shots"][0]["taskId"]), (1, "task_0001_1"))
        with open(result["jobFile"]) as handle:
            self.assertEqual(json.load(handle)["status"], "processing")
        self.assertIn("resume with: ", done.stderr)

    def test_max_wait_bounds_the_submit_s_tries_too(self) -> None:
        self.fake.add_fault("generate", "status", status=429, headers={"Retry-After": "20"}, count=3)
        started = time.monotonic()
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--max-wait", "3", "--json-only")
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(done.returncode, 5, done.stderr)
        self.assertIn("asked to wait 20s (Retry-After), longer than the 3s left", done.stderr)
        self.assertEqual(len(self.fake.seen("generate")), 1)
        self.assertEqual(json.loads(self.run_cli("status", "--list").stdout), [])  # refused: no job, no record

    def test_a_retry_after_of_1e308_is_said_briefly(self) -> None:
        self.fake.add_fault("check-status", "status", status=429, headers={"Retry-After": "1e308"})
        job = self.document(self.run_cli("submit", "--prompt", "x", "--json-only"))
        done = self.run_cli("status", "--job", job["jobId"], "--json-only")
        self.assertEqual(done.returncode, 5, done.stderr)
        self.assertLess(max(len(line) for line in done.stderr.splitlines()), 300)

    def test_a_tiny_poll_interval_is_no_crash(self) -> None:
        self.fake.polls_per_shot = 3
        done = self.run_cli("submit", "--prompt", "x", "--follow", "--poll-interval", "0.000001", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)


class OddAnswersAndFiles(EndToEnd):
    in_process = True

    def test_an_answer_with_a_byte_order_mark_is_read(self) -> None:
        self.fake.add_fault("generate", "mutate", mutate=lambda payload: b"\xef\xbb\xbf" + json.dumps(payload).encode())
        done = self.run_cli("submit", "--prompt", "x", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(self) -> None:
        self.fake.add_fault(
            "generate",
            "mutate",
            mutate=lambda payload: json.dumps(payload)[:-1].encode() + b', "a\\udc00": "a\\ud800b"}',
        )
        done = self.run_cli("submit", "--prompt", "x", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertNotIn("\\ud", done.stdout)
        self.assertEqual(self.document(done)["response"]["a\ufffd"], "a\ufffdb")  # in a member's name too

    def test_a_huge_number_in_a_record_is_no_crash(self) -> None:
        job = self.document(self.run_cli("submit", "--prompt", "x", "--json-only"))
        with open(job["jobFile"]) as handle:
            text = handle.read()
        with open(job["jobFile"], "w") as handle:
            handle.write(text.replace('"elapsedSeconds":null', '"elapsedSeconds":' + "9" * 400))
        done = self.run_cli("status", "--last", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_a_device_or_a_pipe_as_openclaw_config_is_skipped_at_once(self) -> None:
        fifo = os.path.join(self.tmp, "config.fifo")
        os.mkfifo(fifo)
        for path in ("/dev/zero", fifo):
            with self.subTest(path=path):
                started = time.monotonic()
                env = {"NANOPHOTO_API_KEY": "", "OPENCLAW_CONFIG_PATH": path}
                done = self.run_cli("submit", "--prompt", "x", "--json-only", env=env)
                self.assertLess(time.monotonic() - started, 5)
                self.assertEqual(done.returncode, 3, done.stderr)
                self.assertIn("the OpenClaw config %s was skipped (not a regular file)" % path, done.stderr)

    def test_status_task_ids_json_records_only_an_answer_about_those_tasks(self) -> None:
        task_id = self.fake.generate({"shots": [SHOT]})[1]["shots"][0]["taskId"]  # a task the service knows
        tasks = json.dumps([{"shotId": "shot-1", "taskId": task_id}])
        for answer in ({}, [], {"success": True, "shots": [{"taskId": "someone-elses", "status": "completed"}]}):
            with self.subTest(answer=answer):
                self.fake.add_fault("check-status", "mutate", mutate=lambda payload, answer=answer: answer)
                done = self.run_cli("status", "--task-ids-json", tasks, "--json-only")
                self.assertEqual(done.returncode, 7, done.stderr)
                self.assertEqual(self.document(done)["error"]["code"], "BAD_RESPONSE")
        self.assertEqual(json.loads(self.run_cli("status", "--list").stdout), [])

    def test_records_that_are_pipes_links_to_nothing_or_name_no_task(self) -> None:
        self.run_cli("submit", "--prompt", "older", "--json-only")
        jobs = os.path.join(self.tmp, "state", "jobs")
        os.mkfifo(os.path.join(jobs, "20990101T000000Z-000fifo00.json"))
        started = time.monotonic()
        listing = json.loads(self.run_cli("status", "--list").stdout)  # a pipe is not waited on
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("unreadable", [entry["status"] for entry in listing])
        os.unlink(os.path.join(jobs, "20990101T000000Z-000fifo00.json"))
        os.symlink(os.path.join(self.tmp, "gone.json"), os.path.join(jobs, "20990101T000000Z-000link00.json"))
        os.utime(os.path.join(jobs, "20990101T000000Z-000link00.json"), (4e9, 4e9), follow_symlinks=False)
        done = self.run_cli("status", "--last", "--json-only")  # the newest is said, not skipped
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("cannot be read", done.stderr)
        os.unlink(os.path.join(jobs, "20990101T000000Z-000link00.json"))
        job = self.document(self.run_cli("submit", "--prompt", "x", "--json-only"))
        with open(job["jobFile"]) as handle:
            record = json.load(handle)
        with open(job["jobFile"], "w") as handle:
            json.dump(dict(record, tasks=[]), handle)
        done = self.run_cli("status", "--last", "--json-only")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("it names no task", done.stderr)
        self.assertEqual(len(self.fake.seen("check-status")), 0)

    def test_a_usage_error_with_json_is_one_bare_document(self) -> None:
        done = self.run_cli("status", "--list", "--json", "--quiet=1")
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertEqual(self.document(done)["status"], "error")
