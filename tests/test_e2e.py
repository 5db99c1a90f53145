"""Whole-program tests: scripts/veo_3_1.py as a subprocess against the fake NanoPhoto on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any, Dict, List, Optional

from fake_nanophoto import FakeNanoPhoto, video_sha256
from helpers import CLI, SCRIPT, SHOT, concurrently, run_cli, run_in_process, stop_process

KEY = "sk-e2e-secret-key-0042"
FAST = ["--poll-interval", "0.05", "--timeout", "5"]

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


class EndToEnd(unittest.TestCase):
    fake_options: Dict[str, Any] = {}
    in_process = False  # True: run_cli runs the program in this process (helpers.run_in_process)

    def setUp(self) -> None:
        self.fake = FakeNanoPhoto(key=KEY, **self.fake_options).start()
        self.addCleanup(self.fake.stop)
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.env = {
            "NANOPHOTO_BASE_URL": self.fake.api_url,
            "NANOPHOTO_API_KEY": KEY,
            "VEO_3_1_STATE_DIR": os.path.join(self.tmp, "state"),
            "HOME": self.tmp,
        }

    def run_cli(self, *args: str, stdin: str = "", env: Optional[Dict[str, str]] = None, own_process: bool = False):  # type: ignore[no-untyped-def,assignment]
        """Run the program; `own_process`: as a subprocess, as a user does, even in an in-process class."""
        how = run_in_process if self.in_process and not own_process else run_cli
        done = how(list(args), env=dict(self.env, **(env or {})), stdin=stdin, cwd=self.tmp)
        # The key never shows, whatever happened.
        self.assertNotIn(KEY, done.stdout + done.stderr)
        return done

    def start_cli(self, command: List[str], text: bool = True) -> subprocess.Popen[Any]:
        """Start the program as a user's shell does (this test's environment and folder), stopped at clean-up."""
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=text,
            env=dict(os.environ, **self.env),
            cwd=self.tmp,
        )
        self.addCleanup(stop_process, process)
        return process

    def ndjson(self, done) -> List[Any]:  # type: ignore[no-untyped-def]
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        self.assertTrue(lines, done.stderr)
        self.assertTrue(all("stage" in line for line in lines))
        self.assertEqual(lines[-1]["stage"], "result")
        return lines

    def document(self, done) -> Any:  # type: ignore[no-untyped-def]
        self.assertEqual(done.stdout.count("\n"), 1, done.stdout + done.stderr)
        return json.loads(done.stdout)

    def shots(self, *prompts: str) -> str:
        return json.dumps([dict(SHOT, id="shot-%d" % (n + 1), prompt=p) for n, p in enumerate(prompts)])


class Flows(EndToEnd):
    in_process = True

    def test_published_shots_json_example_runs_unchanged(self) -> None:
        shots = (
            '[{"id":"shot-1","prompt":"A cat walking on the beach at sunset","generationType":"TEXT_2_VIDEO",'
            '"aspectRatio":"16:9"}]'
        )
        done = self.run_cli(
            "submit", "--shots-json", shots, "--resolution", "720p", "--follow", "--poll-interval", "0.05"
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        task_id = self.ndjson(done)[0]["shots"][0]["taskId"]
        tasks = json.dumps([{"shotId": "shot-1", "taskId": task_id}])
        done = self.run_cli("status", "--task-ids-json", tasks, "--resolution", "720p")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.ndjson(done)[-1]["result"]["status"], "completed")

    def test_dry_run_sends_nothing_and_needs_no_key(self) -> None:
        done = self.run_cli(
            "submit",
            "--shots-json",
            self.shots("a", "b", "c"),
            "--dry-run",
            "--json-only",
            env={"NANOPHOTO_API_KEY": ""},
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        document = self.document(done)
        self.assertEqual(document["estimate"], {"shots": 3, "seconds": 24, "credits": 30})
        self.assertEqual(document["request"]["headers"]["Authorization"], "Bearer ***")
        self.assertEqual(document["request"]["url"], self.fake.api_url + "/api/veo-3/generate")
        self.assertEqual(self.fake.requests, [])

    def test_partial_failure_exits_1_and_saves_the_rest(self) -> None:
        done = self.run_cli(
            "submit",
            "--shots-json",
            self.shots("ok", "bad [fail]", "fine"),
            "--follow",
            "--download",
            "out",
            "--json-only",
            *FAST,
        )
        self.assertEqual(done.returncode, 1, done.stderr)
        result = self.document(done)
        self.assertEqual(result["status"], "partial")
        self.assertEqual([s["status"] for s in result["shots"]], ["completed", "failed", "completed"])
        self.assertEqual(result["shots"][1]["error"], "the prompt was refused by the safety filter")
        self.assertEqual(
            sorted(os.listdir(os.path.join(self.tmp, "out"))),
            sorted(["shot-1.mp4", "shot-3.mp4", result["jobId"] + ".mp4"]),
        )
        self.assertIn("shot-2 failed: the prompt was refused", done.stderr)

    def test_each_shot_is_saved_as_soon_as_it_completes(self) -> None:
        done = self.run_cli(
            "submit", "--shots-json", self.shots("a", "b", "c"), "--follow", "--download", "v", "--json-only", *FAST
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        order = [(r.origin, r.path.split("?")[0]) for r in self.fake.requests]
        first_video = order.index(("cdn", "/videos/%s.mp4" % self.document(done)["shots"][0]["taskId"]))
        polls_after = [o for o in order[first_video:] if o == ("api", "/api/veo-3/check-status")]
        self.assertGreaterEqual(len(polls_after), 2, order)  # shots 2 and 3 were still being made

    def test_every_shot_failed(self) -> None:
        done = self.run_cli("submit", "--prompt", "x [fail]", "--follow", "--json-only", *FAST)
        self.assertEqual(done.returncode, 1)
        self.assertEqual(self.document(done)["status"], "failed")

    def test_status_one_off_then_followed_then_saved(self) -> None:
        done = self.run_cli("submit", "--shots-json", self.shots("a", "b"), "--json-only")
        job_id = self.document(done)["jobId"]
        done = self.run_cli("status", "--job", job_id, "--json-only")
        self.assertEqual(done.returncode, 0)
        self.assertEqual(self.document(done)["status"], "processing")
        done = self.run_cli("status", "--last", "--follow", "--download", "v", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.ndjson(done)[-1]["result"]["status"], "completed")
        fetched = len(self.fake.seen(origin="cdn"))
        self.assertEqual(fetched, 3)  # two shots and the combined video
        # A second run fetches nothing again.
        done = self.run_cli("status", "--job", job_id, "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0)
        self.assertEqual(len(self.fake.seen(origin="cdn")), fetched)
        # ...yet names every file again, for an agent whose first call was cut short.
        self.assertEqual(done.stderr.count("MEDIA:"), 3)
        self.assertIn("already saved shot-1: ", done.stderr)
        listing = json.loads(self.run_cli("status", "--list").stdout)
        self.assertEqual(listing[0]["jobId"], job_id)
        self.assertEqual(listing[0]["status"], "completed")

    def test_tolerated_shapes(self) -> None:
        for shape in (("words",), ("video_url",), ("url_key",), ("shuffled",), ("no_shots",)):
            with self.subTest(shape=shape):
                self.fake.shape = set(shape)
                count = 1 if "no_shots" in shape else 3
                done = self.run_cli(
                    "submit",
                    "--shots-json",
                    self.shots(*["p"] * count),
                    "--follow",
                    "--download",
                    "v-%s" % shape[0],
                    "--json-only",
                    *FAST,
                )
                self.assertEqual(done.returncode, 0, done.stderr)
                result = self.document(done)
                self.assertEqual(result["status"], "completed")
                self.assertTrue(all(s["file"] for s in result["shots"]), result)

    def test_each_service_error_and_its_exit_status(self) -> None:
        table = {
            "LOGIN_REQUIRED": 3,
            "INSUFFICIENT_CREDITS": 4,
            "SHOTS_REQUIRED": 2,
            "PROMPT_REQUIRED": 2,
            "INVALID_IMAGE_COUNT": 2,
            "IMAGE_URLS_REQUIRED": 2,
        }
        for code, exit_status in table.items():
            with self.subTest(code=code):
                self.fake.add_fault("generate", "error", code=code)
                done = self.run_cli("submit", "--prompt", "x", "--json-only", "--max-retries", "0")
                self.assertEqual(done.returncode, exit_status, done.stderr)
                self.assertEqual(self.document(done)["error"]["code"], code)
        self.fake.add_fault("check-status", "error", code="TASK_NOT_FOUND")
        done = self.run_cli("status", "--task-ids-json", '[{"shotId":"s","taskId":"t"}]', "--json-only")
        self.assertEqual(done.returncode, 8)
        self.fake.add_fault("check-status", "error", code="TASK_IDS_REQUIRED")
        done = self.run_cli("status", "--task-ids-json", '[{"shotId":"s","taskId":"t"}]', "--json-only")
        self.assertEqual(done.returncode, 2)
        self.fake.add_fault(
            "check-status", "error", code="API_KEY_RATE_LIMIT_EXCEEDED", count=2, headers={"Retry-After": "0"}
        )
        done = self.run_cli(
            "status", "--task-ids-json", '[{"shotId":"s","taskId":"t"}]', "--json-only", "--max-retries", "1"
        )
        self.assertEqual(done.returncode, 5)
        done = self.run_cli("submit", "--prompt", "x", "--json-only", env={"NANOPHOTO_API_KEY": "wrong"})
        self.assertEqual(done.returncode, 3)
        self.assertIn("hint: check the API key", done.stderr)

    def test_no_key_and_bad_input_exit_before_any_request(self) -> None:
        done = self.run_cli("submit", "--prompt", "x", env={"NANOPHOTO_API_KEY": ""})
        self.assertEqual(done.returncode, 3)
        self.assertEqual(self.ndjson(done)[-1]["result"]["error"]["code"], "MISSING_API_KEY")
        done = self.run_cli("submit", "--prompt", "x", "--generation-type", "REFERENCE_2_VIDEO")
        self.assertEqual(done.returncode, 2)
        self.assertIn("REFERENCE_2_VIDEO takes 1-3 imageUrls, got 0", done.stderr)
        done = self.run_cli("submit", "--prompt", "x", "--bogus")
        self.assertEqual(done.returncode, 2)
        self.assertIn("unrecognized arguments: --bogus", done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_max_wait_then_resume(self) -> None:
        self.fake.polls_per_shot = 1000
        done = self.run_cli("submit", "--prompt", "slow", "--follow", "--max-wait", "0.3", "--json-only", *FAST)
        self.assertEqual(done.returncode, 6, done.stderr)
        result = self.document(done)
        self.assertEqual(result["status"], "timeout")
        self.assertIn("status --job %s --follow" % result["jobId"], done.stderr)
        self.fake.polls_per_shot = 1
        done = self.run_cli("status", "--job", result["jobId"], "--follow", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_job_record_is_owner_only(self) -> None:
        done = self.run_cli("submit", "--prompt", "x", "--json-only")
        path = self.document(done)["jobFile"]
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
        with open(path) as handle:
            self.assertNotIn(KEY, handle.read())


class AsAUserRunsIt(EndToEnd):
    """The program as a subprocess: the README's command, real signals, real standard streams."""

    def test_prompt_follow_download_as_in_the_readme(self) -> None:
        done = self.run_cli("submit", "--prompt", "a red fox in snow", "--follow", "--download", "videos", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = self.ndjson(done)
        self.assertEqual([line["stage"] for line in lines], ["submitted", "progress", "result"])
        result = lines[-1]["result"]
        self.assertEqual(result["status"], "completed")
        path = os.path.join(self.tmp, result["shots"][0]["file"])
        self.assertEqual(result["shots"][0]["file"], os.path.join(os.path.realpath(self.tmp), "videos", "shot-1.mp4"))
        self.assertEqual(os.path.getsize(path), self.fake.video_size)
        self.assertIn("MEDIA:%s" % os.path.realpath(path), done.stderr)
        with open(result["jobFile"]) as handle:
            record = json.load(handle)
        self.assertEqual(
            record["tasks"][0]["sha256"], video_sha256("%s.mp4" % result["shots"][0]["taskId"], self.fake.video_size)
        )

    def test_shots_file_and_stdin(self) -> None:
        path = os.path.join(self.tmp, "shots.json")
        with open(path, "w") as handle:
            handle.write(self.shots("one", "two"))
        done = self.run_cli("submit", "--shots-file", path, "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(len(self.document(done)["shots"]), 2)
        done = self.run_cli("submit", "--shots-file", "-", "--json-only", stdin=self.shots("three"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.fake.seen("generate")[-1].json()["shots"][0]["prompt"], "three")
        # UTF-8 with a BOM, piped where the locale's encoding is another (as on Windows, whose pipes are cp1252)
        shots, windows = "\ufeff" + self.shots("un café — naïve"), {"PYTHONIOENCODING": "cp1252"}
        done = self.run_cli("submit", "--shots-file", "-", "--json-only", stdin=shots, env=windows)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.fake.seen("generate")[-1].json()["shots"][0]["prompt"], "un café — naïve")

    def test_a_real_sigint_at_any_moment_keeps_the_job(self) -> None:
        self.fake.polls_per_shot = 4
        env = dict(os.environ, **self.env)
        for delay in (0.0, 0.05, 0.12, 0.2, 0.3):
            with self.subTest(delay=delay):
                process = subprocess.Popen(
                    [*CLI, "submit", "--prompt", "fox", "--follow", "--download", "v", "--json-only", *FAST],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                    cwd=self.tmp,
                )
                self.addCleanup(stop_process, process)
                assert process.stderr is not None
                first = process.stderr.readline()  # wait until the job exists: "submitted job ..."
                time.sleep(delay)
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=30)
                err = first + err
                # Under coverage (CI), a signal landing in its own save at exit is coverage's traceback, not ours.
                self.assertNotIn("Traceback", err.split("Exception ignored in atexit callback: <bound method Cov")[0])
                # -2: the signal came as the interpreter was exiting; a shell shows that as 130 too.
                self.assertIn(process.returncode, (0, 130, -2), err)
                self.assertTrue(out, (process.returncode, err))
                result = json.loads(out)
                if process.returncode != 0 and '"status":"completed"' not in out:
                    self.assertIn("status --job %s --follow" % result["jobId"], err)
                self.assertTrue(os.path.exists(result["jobFile"]))
                folder = os.path.join(self.tmp, "v")
                names = os.listdir(folder) if os.path.isdir(folder) else []
                for name in names:  # a final name holds a whole video; a part file only a claimed name's
                    size = os.path.getsize(os.path.join(folder, name))
                    self.assertTrue(name.endswith(".part") or size == self.fake.video_size, (name, size))
                # The part file of a stopped download is kept for the resume, which leaves none.
                resume = ["status", "--job", result["jobId"], "--follow", "--download", "v", "--json-only", *FAST]
                done = run_in_process(resume, env=self.env, cwd=self.tmp)  # the resume is no signal's business
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertEqual([name for name in os.listdir(folder) if name.endswith(".part")], [])
                shutil.rmtree(folder)

    def test_sigterm_mid_follow_keeps_the_job_and_exits_130(self) -> None:
        # What an agent's tool call sends when it is killed.
        self.fake.polls_per_shot = 10_000
        process = self.start_cli([*CLI, "submit", "--prompt", "fox", "--follow", "--json-only", *FAST])
        assert process.stderr is not None
        first = process.stderr.readline()  # "submitted job ...": the job exists, following has begun
        process.terminate()
        out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130, first + err)
        result = json.loads(out)
        self.assertEqual(result["status"], "processing")
        self.assertIn("status --job %s --follow" % result["jobId"], err)
        with open(result["jobFile"]) as handle:
            self.assertEqual(json.load(handle)["tasks"][0]["taskId"], result["shots"][0]["taskId"])

    def test_ctrl_c_while_the_submit_is_in_flight_keeps_the_job(self) -> None:
        self.fake.add_fault("generate", "slow", seconds=0.5)  # the job is made, the answer is late
        process = self.start_cli([*CLI, "submit", "--prompt", "fox", "--follow", *FAST])
        deadline = time.monotonic() + 30
        while not self.fake.requests and time.monotonic() < deadline:  # until the submit has arrived
            time.sleep(0.01)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130, err)
        self.assertIn("waiting for the service's answer, so that the job is not lost", err)
        stages = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([stage["stage"] for stage in stages], ["submitted", "result"])
        self.assertIn("resume with: python3 %s status --job %s --follow" % (SCRIPT, stages[0]["jobId"]), err)
        self.assertTrue(os.path.exists(stages[0]["jobFile"]))
        self.assertEqual([r.path for r in self.fake.requests], ["/api/veo-3/generate"])  # stopped: no polling

    def test_help_and_version(self) -> None:
        for command in (["--help"], ["submit", "--help"], ["status", "--help"]):
            done = self.run_cli(*command)
            self.assertEqual(done.returncode, 0)
            self.assertIn("usage:", done.stdout)
        self.assertIn("examples:", self.run_cli("submit", "--help").stdout)
        self.assertIn("--list", self.run_cli("status", "--help").stdout)
        self.assertRegex(self.run_cli("--version").stdout, r"^veo-3-1 \d+\.\d+\.\d+\n$")


class StartUp(unittest.TestCase):
    """--help and --dry-run start about as fast as the interpreter: they import only what they use."""

    HEAVY = {
        "urllib.request", "http.client", "ssl", "email", "socket", "urllib.parse", "ipaddress",
        "concurrent.futures", "threading", "difflib", "hashlib", "tempfile", "signal", "shutil", "typing",
    }  # fmt: skip

    def imported(self, *args: str) -> set:  # type: ignore[type-arg]
        """The modules a run imports, beyond what argparse and json import on this Python."""
        ours = self.modules(SCRIPT, *args)
        self.assertIn("argparse", ours)  # the measurement itself works
        return ours - self.modules("-c", "import argparse, json")

    def modules(self, *args: str) -> set:  # type: ignore[type-arg]
        # -S: what site and .pth files import is the machine's, not ours.
        env = {k: v for k, v in os.environ.items() if not k.startswith("NANOPHOTO_")}  # a key to hide costs imports
        done = subprocess.run(
            [sys.executable, "-S", "-X", "importtime", *args], capture_output=True, text=True, env=env
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        return {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}

    def test_help_imports_nothing_heavy(self) -> None:
        self.assertEqual(self.imported("submit", "--help") & self.HEAVY, set())

    def test_a_dry_run_imports_nothing_heavy(self) -> None:
        self.assertEqual(self.imported("submit", "--prompt", "a fox", "--dry-run") & self.HEAVY, set())
        with_images = self.imported(
            "submit", "--prompt", "a fox", "--generation-type", "REFERENCE_2_VIDEO",
            "--image-url", "https://example.com/fox.png", "--dry-run",
        )  # fmt: skip
        self.assertEqual(with_images & self.HEAVY, {"urllib.parse", "ipaddress"})  # needed to check the URL


if __name__ == "__main__":
    unittest.main()
