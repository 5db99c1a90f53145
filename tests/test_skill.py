"""SKILL.md's recipes, run as written (its own lines, taken from the file) against the fake NanoPhoto."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess

from fake_nanophoto import video_sha256
from helpers import CLI, ROOT, concurrently
from test_e2e import EndToEnd
from test_second_job import media_lines, sha256_of

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


def recipe(title: str) -> list:  # type: ignore[type-arg]
    """The command lines of the SKILL.md recipe whose heading starts with `title`."""
    with open(os.path.join(ROOT, "SKILL.md"), encoding="utf-8") as handle:
        text = handle.read()
    block = re.search(re.escape(title) + r".*?```bash\n(.*?)```", text, re.S)
    assert block, title
    lines = block.group(1).replace("\\\n", " ").splitlines()
    return [line.split("#")[0].strip() for line in lines if line.strip()]


class Recipes(EndToEnd):
    def run_line(self, line: str, **words: str) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
        """A recipe line as an agent runs it: {baseDir} is this folder, <jobId> and the like filled in."""
        line = line.replace("{baseDir}", ROOT)
        for name, value in words.items():
            line = line.replace(name, value)
        argv = shlex.split(line)
        self.assertEqual(argv[:2], ["python3", os.path.join(ROOT, "scripts", "veo_3_1.py")])
        done = subprocess.run(
            [*CLI, *argv[2:]],
            capture_output=True,
            text=True,
            env=dict(os.environ, **self.env),
            cwd=self.tmp,
            timeout=60,
        )
        self.assertNotIn("Traceback", done.stderr)
        return done

    def test_the_loop_recipe_for_short_calls(self) -> None:
        submit, status = recipe("**C. Short calls in a loop**")
        with open(os.path.join(self.tmp, "shots.json"), "w") as handle:
            handle.write(self.shots("a fox in snow", "a whale at dawn"))
        done = self.run_line(submit)
        self.assertEqual(done.returncode, 0, done.stderr)
        job_id = json.loads(done.stdout)["jobId"]
        status = status.replace("--max-wait 90", "--max-wait 0.2")  # a small --max-wait: several rounds of the loop
        self.assertIn("--max-wait 0.2", status)
        rounds = []
        while not rounds or rounds[-1].returncode == 6:
            rounds.append(self.run_line(status, **{"<jobId>": job_id}))
            self.assertLess(len(rounds), 40)
        self.assertGreater(len(rounds), 1)  # the loop was needed
        done = rounds[-1]
        self.assertEqual(done.returncode, 0, done.stderr)
        result = self.document(done)  # the last document is the result
        self.assertEqual((result["status"], result["jobId"]), ("completed", job_id))
        for shot in result["shots"]:
            self.assertEqual(sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size))
        self.assertEqual(os.path.dirname(result["file"]), os.path.join(os.path.realpath(self.tmp), "videos"))
        self.assertEqual(
            sorted(media_lines(done.stderr)), sorted([shot["file"] for shot in result["shots"]] + [result["file"]])
        )

    def test_the_long_call_recipe(self) -> None:
        (line,) = recipe("**A. One long call**")
        with open(os.path.join(self.tmp, "shots.json"), "w") as handle:
            handle.write(self.shots("a fox in snow"))
        done = self.run_line(line.replace("--json-only", "--json-only --poll-interval 0.05"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.document(done)["status"], "completed")
        self.assertEqual(len(media_lines(done.stderr)), 1)
