"""Property tests: random input and random answers never end in a traceback or an undocumented exit.

Seeded with `random`; the seed is printed, and VEO_TEST_SEED=<seed> runs the same cases again.
Every case runs the program's main path in-process (a fake urlopen, a fake clock): about 2,300 cases a run, each
run with a new seed unless one is given (CI runs the suite once per CPython, so each CI run tries several seeds).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import sys
import tempfile
from typing import Any, Callable, List
from urllib.parse import quote

from helpers import SHOT, Machine, MachineTest, concurrently, generated, veo

# In-process and CPU-bound: they run beside the whole-program tests, which mostly wait on subprocesses.
load_tests = concurrently

SEED = int(os.environ.get("VEO_TEST_SEED") or random.SystemRandom().randrange(2**32))
print("test_property: VEO_TEST_SEED=%d" % SEED, file=sys.stderr)
DOCUMENTED = {0, 1, 2, 3, 4, 5, 6, 7, 8, 130}
WORDS = ["", " ", "shot-1", "TEXT_2_VIDEO", "16:9", "9:16", "REFERENCE_2_VIDEO", "https://example.com/a.png", "http://10.0.0.1/x", "data:,x", "completed", "failed", "processing", "t1", "MEDIA:/etc/passwd", "\x1b[2J", "\n", "\udce9", "\x00", "caf\u00e9", "1e999"]  # fmt: skip


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """Any JSON value: null, booleans, numbers of every size, awkward text, arrays and objects, nested a little."""
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.choice([0, -1, 7, 2**63, -(10**40), 10**400 if rng.random() < 0.1 else 3])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, float("nan"), float("inf")])
    if kind in (4, 5):
        return (
            rng.choice(WORDS)
            if rng.random() < 0.6
            else "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(12)))
        )
    if kind == 6:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {
        rng.choice([*WORDS, "id", "prompt", "imageUrls"]): random_json(rng, depth + 1) for _ in range(rng.randrange(4))
    }


def key_like(value: Any) -> Any:
    """A string made a key that shares no 8 characters with any text a test reads: a key once used, and any 8
    characters of it, are hidden for the life of the process (tests included)."""
    if not isinstance(value, str):
        return value
    byte = hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()[0]
    return "sk-" + "ghijklmnopqrstuvwxyz"[byte % 4 :] * 2  # one of 4 keys, of letters g-z: never hex, never words


def as_text(value: Any) -> str:
    """A value as JSON text, NaN and Infinity included (which the program must refuse)."""
    return json.dumps(value, allow_nan=True)


class RandomInput(MachineTest):
    def setUp(self) -> None:
        self.shared = self.machine()  # one machine for every case of a test: its records pile up, as a user's do

    def check(self, machine: Machine, status: int, case: Any, input_was_bad: bool) -> None:
        """What holds whatever happened: a documented exit, an error line, strict JSON, nothing sent for bad input."""
        where = "seed %d, case %r" % (SEED, case)
        self.assertIn(status, DOCUMENTED, where)
        self.assertNotIn("Traceback", machine.err(), where)
        if status not in (0, 1):  # 1 is a verdict on the shots, told in the summary
            self.assertIn("error: ", machine.err(), where)
        for line in machine.out().splitlines():
            json.loads(line, parse_constant=lambda word: self.fail("%s in stdout (%s)" % (word, where)))
        if input_was_bad:
            self.assertEqual(status, 2, where)
            self.assertEqual(machine.opener.requests, [], where)

    def test_random_values_in_every_shot_field(self) -> None:
        rng = random.Random(SEED)
        fields = ["id", "prompt", "generationType", "aspectRatio", "imageUrls", "extra"]
        for _ in range(60):  # 60 submits of 1 to 21 shots: about 660 shots
            shots: List[Any] = []
            for _ in range(rng.randrange(1, 22)):
                shot = dict(SHOT, id="s%d" % len(shots))
                field = rng.choice(fields)
                shot[field] = random_json(rng)
                shots.append(shot if rng.random() < 0.95 else random_json(rng))
            machine = self.shared.again(generated(*["t%d" % n for n in range(len(shots))]))
            text = as_text(shots)
            status = machine.run("submit", "--shots-json", text, "--json-only")
            self.check(machine, status, text[:300], input_was_bad=status != 0)

    def test_random_task_ids(self) -> None:
        rng = random.Random(SEED + 1)
        for _ in range(400):
            value = rng.choice(
                [
                    random_json(rng),
                    [random_json(rng) for _ in range(rng.randrange(3))],
                    [{"shotId": random_json(rng), "taskId": random_json(rng)}],
                ]
            )
            machine = self.shared.again((404, {"success": False, "errorCode": "TASK_NOT_FOUND"}))
            status = machine.run("status", "--task-ids-json", as_text(value), "--json-only")
            self.check(machine, status, value, input_was_bad=not machine.opener.requests)
            self.assertIn(status, (2, 8), value)

    def test_random_bytes_as_a_shots_file(self) -> None:
        rng = random.Random(SEED + 2)
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "shots.json")
            for _ in range(300):
                data = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
                if rng.random() < 0.3:
                    data = b'[{"prompt": "' + data + b'", "generationType": "TEXT_2_VIDEO", "aspectRatio": "16:9"}]'
                with open(path, "wb") as handle:
                    handle.write(data)
                machine = self.shared.again(generated("t1"))
                status = machine.run("submit", "--shots-file", path, "--json-only")
                self.check(machine, status, data, input_was_bad=status != 0)

    def test_random_openclaw_configs_and_job_records(self) -> None:
        rng = random.Random(SEED + 5)
        config = os.path.join(self.shared.home, "openclaw.json")
        record = os.path.join(self.shared.home, "record.json")
        skill = lambda value: {"skills": {"entries": {"veo-3-1": value}}}  # noqa: E731
        for _ in range(150):
            value = rng.choice(
                [
                    random_json(rng),
                    skill(random_json(rng)),
                    skill({"env": random_json(rng)}),
                    skill({"apiKey": key_like(random_json(rng))}),
                ]
            )
            with open(config, "w") as handle:
                handle.write(as_text(value) if rng.random() < 0.9 else as_text(value)[:-1] + ", // a comment\n")
            machine = self.shared.again(generated("t1"))
            machine.environ.update(NANOPHOTO_API_KEY="", OPENCLAW_CONFIG_PATH=config)
            status = machine.run("submit", "--prompt", "a fox", "--json-only")
            self.check(machine, status, value, input_was_bad=False)
            self.assertIn(status, (0, 3), value)
            job = {
                "jobId": "j",
                "baseUrl": "https://nanophoto.ai",
                "submittedAt": "2026-01-01T00:00:00Z",
                "tasks": [{"shotId": "s", "taskId": "t"}],
            }
            job[rng.choice([*list(job), "status", "resolution", "shots", "file", "sha256"])] = random_json(rng)
            with open(record, "w") as handle:
                handle.write(as_text(job))
            machine = self.shared.again((200, {"status": "processing"}))
            machine.environ.update(NANOPHOTO_API_KEY="sk-test-1234567890")
            status = machine.run("status", "--job", record, "--json-only")
            self.check(machine, status, job, input_was_bad=False)

    def random_answer(self, rng: random.Random, real: Callable[[], Any]) -> Any:
        """An answer: the real one bent, or any JSON, or junk bytes; with any status."""
        status = rng.choice([200, 200, 200, 201, 204, 301, 400, 401, 402, 404, 408, 429, 500, 502, 503])
        choice = rng.randrange(4)
        if choice == 0:
            body: Any = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        elif choice == 1:
            body = as_text(random_json(rng)).encode()
        else:
            body = real()
            target = body if rng.random() < 0.5 or not body.get("shots") else rng.choice(body["shots"])
            target[
                rng.choice(
                    ["status", "shots", "taskId", "shotId", "videoUrl", "error", "errorCode", "success", "message"]
                )
            ] = random_json(rng)
            body = as_text(body).encode()
        return (status, body, {"Retry-After": rng.choice(["0", "x", "-5", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT"])})

    def test_random_answers_to_generate(self) -> None:
        rng = random.Random(SEED + 3)
        for _ in range(150):
            answer = self.random_answer(rng, lambda: generated("t1", "t2")[1])
            machine = self.shared.again(answer, *[(200, {"status": "processing"})] * 3)
            status = machine.run(
                "submit",
                "--shots-json",
                json.dumps([dict(SHOT, id="shot-1"), dict(SHOT, id="shot-2")]),
                "--json-only",
                "--max-retries",
                "0",
            )
            self.check(machine, status, answer, input_was_bad=False)

    def test_random_answers_to_check_status(self) -> None:
        rng = random.Random(SEED + 4)
        tasks = json.dumps([{"shotId": "shot-1", "taskId": "t1"}, {"shotId": "shot-2", "taskId": "t2"}])
        real = {"success": True, "status": "completed", "shots": [{"shotId": "shot-1", "taskId": "t1", "status": "completed", "videoUrl": "https://cdn.example.com/a.mp4"}, {"shotId": "shot-2", "taskId": "t2", "status": "failed", "error": "no"}]}  # fmt: skip
        for _ in range(150):
            answer = self.random_answer(rng, lambda: json.loads(json.dumps(real)))
            machine = self.shared.again(answer)
            status = machine.run("status", "--task-ids-json", tasks, "--json-only", "--max-retries", "0")
            self.check(machine, status, answer, input_was_bad=False)

    def test_every_form_of_several_keys_is_hidden_in_any_letter_case(self) -> None:
        rng = random.Random(SEED + 5)
        alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghjkmnpqrstuvwxyz23456789-_+/="
        keys = ["NP" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(6, 40))) for _ in range(3)]
        for run in [[key] for key in keys]:  # each the key of a run
            veo.hide_keys(run)
            self.addCleanup(veo.hide_keys, run, True)
        for _ in range(300):
            key = rng.choice(keys)
            start = rng.randrange(len(key) - 7)
            forms = [key, quote(key, safe=""), key.encode().hex(), base64.b64encode(key.encode()).decode(), key[start:]]
            form = "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in rng.choice(forms))
            noise = ["".join(rng.choice(alphabet + ' {}":%\\') for _ in range(rng.randrange(20))) for _ in "ab"]
            shown = veo.redact(noise[0] + form + noise[1]).lower()
            leaked = [key[i : i + 8] for i in range(len(key) - 7) if key[i : i + 8].lower() in shown]
            self.assertEqual(leaked, [], "VEO_TEST_SEED=%d: %r shown as %r" % (SEED, form, shown))
            self.assertNotIn(form.lower(), shown, "VEO_TEST_SEED=%d" % SEED)
