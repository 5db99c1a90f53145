"""SIGKILL at random moments of a submit and its downloads: never a lost job, never a second charge, never a torn file.

Seeded with `random` (VEO_TEST_SEED=<seed> repeats a run; the seed is printed); 30 rounds, several at a time.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, List, Optional

from fake_nanophoto import video_sha256
from helpers import CLI, concurrently, stop_process
from test_e2e import EndToEnd
from test_property import SEED
from test_second_job import sha256_of

ROUNDS = 30

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


class KilledAtAnyMoment(EndToEnd):
    fake_options = {"polls_per_shot": 1, "video_size": 1024 * 1024, "video_rate": 6 * 1024 * 1024}

    def cli(self, folder: str, *args: str, kill_after: Optional[float] = None) -> Any:
        """Run the program for one round (its own state folder), killed with SIGKILL after `kill_after` seconds."""
        env = dict(os.environ, **dict(self.env, VEO_3_1_STATE_DIR=os.path.join(folder, "state")))
        process = subprocess.Popen(
            [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=folder
        )
        self.addCleanup(stop_process, process)
        if kill_after is not None:
            try:
                process.wait(kill_after)
            except subprocess.TimeoutExpired:
                process.kill()
        out, err = process.communicate(timeout=60)
        self.assertNotIn("Traceback", err)
        return process.returncode, out, err

    def one_round(self, number: int, kill_after: float) -> List[str]:
        """Submit, kill, check, resume, check; what went wrong (nothing, when all holds)."""
        folder = os.path.join(self.tmp, "round-%d" % number)
        videos = os.path.join(folder, "v")
        os.makedirs(folder)
        prompt = "round %d" % number
        self.cli(
            folder,
            "submit",
            "--prompt",
            prompt,
            "--follow",
            "--download",
            "v",
            "--poll-interval",
            "0.02",
            "--json-only",
            kill_after=kill_after,
        )
        problems = []
        sent = [r for r in self.fake.seen("generate") if prompt in r.body.decode()]
        records = (
            os.listdir(os.path.join(folder, "state", "jobs"))
            if os.path.isdir(os.path.join(folder, "state", "jobs"))
            else []
        )
        records = [name for name in records if name.endswith(".json") and not name.startswith(".")]
        if len(sent) > 1:
            problems.append("%d generate requests for one submit" % len(sent))
        if sent and not records:
            problems.append("a job was sent but has no record")
        if os.path.isdir(videos):
            for name in os.listdir(videos):  # a final name only ever holds a whole video
                if not name.startswith(".") and os.path.getsize(os.path.join(videos, name)) != self.fake.video_size:
                    problems.append("a partial file under a final name: %s" % name)
        if not records:
            return problems
        status, out, err = self.cli(
            folder, "status", "--last", "--follow", "--download", "v", "--poll-interval", "0.02", "--json-only"
        )
        with open(os.path.join(folder, "state", "jobs", records[0])) as handle:
            record = json.load(handle)
        if record["status"] in ("submitting", "unknown"):
            if status != 7 or "SUBMIT_OUTCOME_UNKNOWN" not in out:
                problems.append("a job whose submit got no answer was not said to be unknown: %s %s" % (status, err))
            return problems
        if status != 0:
            return [*problems, "the resume exited %d: %s" % (status, err)]
        result = json.loads(out)
        files = [shot["file"] for shot in result["shots"]] + ([result["file"]] if result["file"] else [])
        for shot in result["shots"]:
            if sha256_of(shot["file"]) != video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size):
                problems.append("%s does not hold its shot's video" % shot["file"])
        left = [name for name in os.listdir(videos) if os.path.join(videos, name) not in files]
        if left:
            problems.append("left in the folder after the resume: %s" % left)
        return problems

    def test_sigkill_at_random_moments_during_submit_and_download(self) -> None:
        rng = random.Random(SEED)
        moments = [rng.uniform(0.05, 0.7) for _ in range(ROUNDS)]
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(self.one_round, range(ROUNDS), moments))
        found = {
            "round %d (killed after %.2f s)" % (n, moments[n]): problems
            for n, problems in enumerate(outcomes)
            if problems
        }
        self.assertEqual(found, {}, "VEO_TEST_SEED=%d" % SEED)
        self.assertLess(time.monotonic() - started, 30)
