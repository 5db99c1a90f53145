"""--follow with urlopen mocked: tolerance, outcomes, deadline, failed rounds, the job record, resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import stat
import time
import urllib.error
from typing import Any, List
from unittest import mock

from helpers import MachineTest, generated, shots_json, status_answer, veo

TWO = json.dumps([{"shotId": "shot-1", "taskId": "t1"}, {"shotId": "shot-2", "taskId": "t2"}])


class Tolerance(MachineTest):
    def follow(self, *answers, tasks=TWO):  # type: ignore[no-untyped-def]
        machine = self.machine(*answers)
        status = machine.run("status", "--task-ids-json", tasks, "--follow", "--json-only", "--poll-interval", "1")
        return machine, status

    def test_other_status_words(self) -> None:
        machine, status = self.follow(
            (
                200,
                {
                    "status": "running",
                    "shots": [{"taskId": "t1", "status": "queued"}, {"taskId": "t2", "status": "pending"}],
                },
            ),
            (
                200,
                {
                    "status": "running",
                    "shots": [
                        {"taskId": "t1", "status": "succeeded", "video_url": "https://c/1.mp4"},
                        {"taskId": "t2", "status": "RUNNING"},
                    ],
                },
            ),
            (
                200,
                {
                    "status": "done",
                    "shots": [
                        {"taskId": "t1", "status": "success", "url": "https://c/1.mp4"},
                        {"taskId": "t2", "status": "done", "url": "https://c/2.mp4"},
                    ],
                },
            ),
        )
        self.assertEqual(status, 0)
        result = machine.document()
        self.assertEqual(result["status"], "completed")
        self.assertEqual([s["videoUrl"] for s in result["shots"]], ["https://c/1.mp4", "https://c/2.mp4"])

    def test_failed_words_and_error_fields(self) -> None:
        for word, field in (("failed", "error"), ("error", "errorMessage"), ("cancelled", "message")):
            with self.subTest(word=word):
                machine, status = self.follow(
                    (
                        200,
                        {
                            "status": "completed",
                            "shots": [
                                {"taskId": "t1", "status": word, field: "nope"},
                                {"taskId": "t2", "status": "completed", "videoUrl": "https://c/2.mp4"},
                            ],
                        },
                    )
                )
                self.assertEqual(status, 1)
                result = machine.document()
                self.assertEqual(result["status"], "partial")
                self.assertEqual(result["shots"][0]["error"], "nope")

    def test_any_order_matched_by_task_id_then_shot_id(self) -> None:
        machine, status = self.follow(
            (
                200,
                {
                    "status": "completed",
                    "shots": [
                        {"taskId": "t2", "shotId": "wrong", "status": "completed", "videoUrl": "https://c/2.mp4"},
                        {"shotId": "shot-1", "status": "failed"},
                    ],
                },
            )
        )
        self.assertEqual(status, 1)
        shots = machine.document()["shots"]
        self.assertEqual((shots[0]["status"], shots[1]["videoUrl"]), ("failed", "https://c/2.mp4"))

    def test_a_completed_shot_stays_completed_when_a_later_answer_says_failed(self) -> None:
        first = status_answer(("t1", "completed"), ("t2", "processing"))
        flip = status_answer(("t1", "failed"), ("t2", "completed"), top="completed")  # t1 may be saved: a resubmit pays
        machine, status = self.follow(first, flip)
        self.assertEqual((status, [shot["status"] for shot in machine.document()["shots"]]), (0, ["completed"] * 2))
        again = status_answer(("t1", "processing"), ("t2", "processing"), top="processing")
        again[1]["shots"][0].update(status="failed", error="the model was busy")  # t1 failed, then ran again
        machine, status = self.follow(again, status_answer(("t1", "completed"), ("t2", "completed"), top="completed"))
        self.assertEqual((status, [shot["error"] for shot in machine.document()["shots"]]), (0, [None, None]))
        self.assertNotIn("refunded", machine.err())

    def test_an_entry_naming_another_task_is_never_ours(self) -> None:
        one = json.dumps([{"shotId": "shot-1", "taskId": "t1"}])
        for outcome in ("completed", "failed"):  # another task's video is not saved as ours, its failure not ours
            for order in (1, -1):  # order means nothing
                with self.subTest(outcome=outcome, order=order):
                    other = {"shotId": "shot-1", "taskId": "OTHER", "status": outcome, "videoUrl": "https://c/o.mp4"}
                    ours = {"shotId": "shot-1", "taskId": "t1", "status": "processing"}
                    done = {"shots": [{"taskId": "t1", "status": "completed", "videoUrl": "https://c/1.mp4"}]}
                    machine, status = self.follow((200, {"shots": [other, ours][::order]}), (200, done), tasks=one)
                    self.assertEqual(status, 0, machine.err())
                    self.assertEqual(machine.document()["shots"][0]["videoUrl"], "https://c/1.mp4")
                    self.assertEqual(len(machine.opener.requests), 2)  # still processing after the first answer
        for named in ({"id": "t9"}, True, 2.5, "a\nb"):  # a task ID we cannot read still names another task
            other = {"shotId": "shot-1", "taskId": named, "status": "failed", "error": "another task's failure"}
            done = {"shots": [{"taskId": "t1", "status": "completed", "videoUrl": "https://c/1.mp4"}]}
            machine = self.machine(generated("t1"), (200, {"shots": [other]}), (200, done))
            status = machine.run(
                "submit", "--shots-json", shots_json(), "--follow", "--json-only", "--poll-interval", "1"
            )
            self.assertEqual((status, machine.document()["shots"][0]["status"]), (0, "completed"), named)
        for order in (1, -1):  # an entry naming no task never stands in for one naming ours, wherever it comes
            stale = {"shotId": "shot-1", "status": "failed", "error": "stale"}
            ours = {"shotId": "shot-1", "taskId": "t1", "status": "completed", "videoUrl": "https://c/1.mp4"}
            machine, status = self.follow((200, {"status": "completed", "shots": [stale, ours][::order]}), tasks=one)
            self.assertEqual((status, machine.document()["shots"][0]["status"]), (0, "completed"), order)

    def test_a_one_shot_job_has_no_combined_video(self) -> None:
        one = json.dumps([{"shotId": "shot-1", "taskId": "t1"}])
        answer = status_answer(("t1", "completed"), top="completed", videoUrl="https://c/all.mp4")
        machine, status = self.follow(answer, tasks=one)
        self.assertEqual(status, 0)
        result = machine.document()
        self.assertEqual(
            (result["videoUrl"], result["shots"][0]["videoUrl"]), (None, "https://cdn.example.com/v/t1.mp4?sig=secret")
        )

    def test_missing_per_shot_list_top_level_speaks(self) -> None:
        one = json.dumps([{"shotId": "shot-1", "taskId": "t1"}])
        machine, status = self.follow(
            (200, {"status": "processing"}), (200, {"status": "completed", "videoUrl": "https://c/all.mp4"}), tasks=one
        )
        self.assertEqual(status, 0)
        result = machine.document()
        self.assertEqual(result["shots"][0]["videoUrl"], "https://c/all.mp4")
        machine, status = self.follow((200, {"status": "failed", "message": "job refused"}))
        self.assertEqual(status, 1)
        result = machine.document()
        self.assertEqual(result["status"], "failed")
        self.assertEqual(result["shots"][1]["error"], "job refused")

    def test_combined_video_and_unknown_fields_kept(self) -> None:
        machine, status = self.follow(
            status_answer(
                ("t1", "completed"),
                ("t2", "completed"),
                top="completed",
                videoUrl="https://c/all.mp4",
                credits={"left": 3},
            )
        )
        self.assertEqual(status, 0)
        result = machine.document()
        self.assertEqual(result["videoUrl"], "https://c/all.mp4")
        self.assertEqual(result["response"]["credits"], {"left": 3})

    def test_top_level_completed_is_only_a_hint(self) -> None:
        machine, status = self.follow(status_answer(("t1", "failed"), ("t2", "failed"), top="completed"))
        self.assertEqual(status, 1)
        self.assertEqual(machine.document()["status"], "failed")

    def test_junk_entries_are_ignored(self) -> None:
        machine, status = self.follow(
            (
                200,
                {
                    "status": 5,
                    "shots": [
                        None,
                        1,
                        {"taskId": ["x"]},
                        {"taskId": "t1", "status": {"a": 1}, "videoUrl": "javascript:alert(1)"},
                    ],
                },
            ),
            status_answer(("t1", "completed"), ("t2", "completed")),
        )
        self.assertEqual(status, 0)
        self.assertTrue(machine.document()["shots"][0]["videoUrl"].startswith("https://"))


class Following(MachineTest):
    def test_submit_follow_one_request_per_round_progress_only_on_change(self) -> None:
        rounds = (
            [status_answer(("t1", "processing"), ("t2", "pending"))] * 3
            + [status_answer(("t1", "completed"), ("t2", "processing"))] * 3
            + [status_answer(("t1", "completed"), ("t2", "completed"), top="completed")]
        )
        machine = self.machine(generated("t1", "t2"), *rounds)
        status = machine.run("submit", "--shots-json", shots_json(2), "--follow", "--poll-interval", "5")
        self.assertEqual(status, 0)
        self.assertEqual(machine.opener.paths(), ["api/veo-3/generate"] + ["api/veo-3/check-status"] * 7)
        self.assertEqual(machine.time.sleeps, [5.0] * 6)
        stages = [line["stage"] for line in machine.lines()]
        self.assertEqual(stages, ["submitted", "progress", "progress", "result"])
        submitted = machine.lines()[0]
        self.assertEqual(
            submitted["shots"], [{"shotId": "shot-1", "taskId": "t1"}, {"shotId": "shot-2", "taskId": "t2"}]
        )
        self.assertEqual(submitted["response"]["shots"][0]["taskId"], "t1")
        result = machine.lines()[-1]["result"]
        self.assertEqual(result["status"], "completed")
        self.assertEqual(result["shots"][0]["elapsedSeconds"], 15.0)
        self.assertIn("completed: 2 of 2 shot(s) completed", machine.err())

    def test_max_wait_exits_6_with_task_ids_and_resume_command(self) -> None:
        machine = self.machine(generated("t1"), *[status_answer(("t1", "processing"))] * 4)
        status = machine.run(
            "submit",
            "--shots-json",
            shots_json(),
            "--follow",
            "--poll-interval",
            "10",
            "--max-wait",
            "30",
            "--json-only",
        )
        self.assertEqual(status, 6)
        result = machine.document()
        self.assertEqual(result["status"], "timeout")
        self.assertEqual(result["shots"][0]["taskId"], "t1")
        self.assertEqual(sum(machine.time.sleeps), 30.0)
        self.assertIn("status --job %s --follow" % result["jobId"], machine.err())
        self.assertIn("error: --max-wait ran out", machine.err())

    def test_a_check_that_starts_past_the_deadline_still_gets_a_second_to_answer(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "processing")))
        opener = machine.opener

        def slow_submit(request: Any, timeout: float) -> Any:
            machine.time.now += 40  # the submit outlived --max-wait (it is never cut), so the first check starts late
            return opener(request, timeout)

        machine.rt.api_open = slow_submit
        status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--max-wait", "30", "--json-only")
        self.assertEqual(status, 6, machine.err())
        self.assertEqual(opener.timeouts, [60.0, 1.0])  # asked, not cut to nothing: a slow start is not a slow service
        self.assertNotIn("did not answer", machine.err())
        self.assertEqual(machine.document()["shots"][0]["status"], "processing")

    def test_no_retry_once_the_deadline_is_reached_even_one_asked_for_at_once(self) -> None:
        busy = (503, b"busy", {"Retry-After": "0"})  # "again now", from a service that takes 0.9 s to say it
        machine = self.machine(*[busy] * 10)
        opener = machine.opener

        def slow(request: Any, timeout: float) -> Any:
            machine.time.now += 0.9
            return opener(request, timeout)

        machine.rt.api_open = slow
        status = machine.run("status", "--task-ids-json", TWO, "--follow", "--max-wait", "1", "--json-only")
        self.assertEqual(status, 6, machine.err())
        self.assertEqual(len(opener.requests), 2)  # at 0 s, and its retry at 0.9 s; none at 1.8 s, past the deadline
        self.assertLessEqual(machine.time.now, 2.0)

    def test_on_windows_the_resume_command_runs_in_cmd_and_powershell_alike(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "processing")))
        folder = os.path.join(machine.home, "O'Brien&co")  # cmd.exe splits a line at a bare &; PowerShell, at '
        flags = ("--follow", "--max-wait", "5", "--poll-interval", "10", "--download", folder, "--json-only")
        with mock.patch.object(veo.os, "name", "nt"):
            self.assertEqual(machine.run("submit", "--shots-json", shots_json(), *flags), 6, machine.err())
        line = machine.err().split("resume with: ", 1)[1].splitlines()[0]
        job = machine.document()["jobId"]
        expected = 'veo_3_1.py status --job %s --follow --download "%s" --json-only --poll-interval 10 --max-wait 5' % (
            job,
            folder,
        )
        self.assertEqual(line, expected)

    def test_on_windows_every_word_comes_back_whole_as_a_windows_program_splits_its_line(self) -> None:
        def split_as_windows_does(line: str) -> List[str]:  # the MS C runtime's rules for argv
            words, word, quoted, at, started = [], "", False, 0, False
            while at < len(line):
                slashes = len(line[at:]) - len(line[at:].lstrip("\\"))
                if slashes and line[at + slashes : at + slashes + 1] == '"':
                    word, at, started = (
                        word + "\\" * (slashes // 2) + '"' * (slashes % 2),
                        at + slashes + slashes % 2,
                        True,
                    )
                elif slashes:
                    word, at, started = word + "\\" * slashes, at + slashes, True
                elif line[at] == '"':
                    quoted, at, started = not quoted, at + 1, True
                elif line[at] == " " and not quoted:
                    words, word, at, started = words + [word] * started, "", at + 1, False
                else:
                    word, at, started = word + line[at], at + 1, True
            return words + [word] * started

        machine = self.machine()
        program = ["python", "C:\\Users\\O'Brien\\veo_3_1.py"]
        session = veo.Session(
            veo.Options(resume_flags=["--download", "\\\\nas\\Media share\\"]), machine.rt, None, None
        )  # type: ignore[arg-type]
        machine.rt.program = program
        tasks = [veo.Task('say "hi" \\', "t1"), veo.Task("R&D\\", "t2")]
        job = veo.Job("20261127T000000Z-000abcdef", "https://nanophoto.ai", "720p", "2026-11-27T00:00:00Z", tasks)
        with mock.patch.object(veo.os, "name", "nt"):
            line = session.resume_command(job)  # the record was not written: the tasks are named
        words = split_as_windows_does(line)
        self.assertEqual(words[:2], program)
        self.assertEqual(json.loads(words[words.index("--task-ids-json") + 1])[0]["shotId"], 'say "hi" \\')
        self.assertEqual(words[-2:], ["--download", "\\\\nas\\Media share\\"])

    def test_default_max_wait_grows_with_shots(self) -> None:
        machine = self.machine()
        session = veo.Session(veo.Options(), machine.rt, None, None)  # type: ignore[arg-type]
        start = machine.rt.clock()
        self.assertEqual([session.deadline(shots) - start for shots in (1, 21)], [1800.0, 6300.0])  # 300 s a shot

    def test_a_failed_round_is_reported_and_polling_goes_on(self) -> None:
        down = urllib.error.URLError(ConnectionRefusedError(111, "refused"))
        machine = self.machine(generated("t1"), *[down] * 3, status_answer(("t1", "completed")))
        status = machine.run(
            "submit",
            "--shots-json",
            shots_json(),
            "--follow",
            "--max-retries",
            "2",
            "--poll-interval",
            "8",
            "--json-only",
        )
        self.assertEqual(status, 0)
        self.assertIn("checking the status failed", machine.err())
        self.assertIn("polling goes on", machine.err())
        self.assertEqual(machine.time.sleeps, [0.5, 1.0, 8.0])

    def test_retry_after_past_the_deadline_ends_at_once(self) -> None:
        limited = (429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}, {"Retry-After": "600"})
        machine = self.machine(generated("t1"), limited)
        status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--max-wait", "60", "--json-only")
        self.assertEqual(status, 6)  # following: the deadline would pass, so the run ends to be resumed later
        result = machine.document()
        self.assertEqual(result["status"], "timeout")
        self.assertIn("asked to wait 10m00s (Retry-After), longer than the 1m00s left", machine.err())
        self.assertIn("resume with: veo_3_1.py status --job", machine.err())
        self.assertEqual(machine.time.sleeps, [])

    def test_task_not_found_while_following_keeps_the_job(self) -> None:
        machine = self.machine(generated("t1"), (404, {"errorCode": "TASK_NOT_FOUND"}))
        status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
        self.assertEqual(status, 8)
        result = machine.document()
        self.assertEqual(result["error"]["code"], "TASK_NOT_FOUND")
        self.assertTrue(os.path.exists(result["jobFile"]))

    def test_a_job_follows_100_tasks_at_most_and_its_record_reads_back(self) -> None:
        many = (200, {"status": "processing", "shots": [{"shotId": "shot-1", "taskId": "t%d" % n} for n in range(900)]})
        machine = self.machine(many)
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 0)
        self.assertEqual([shot["taskId"] for shot in machine.document()["shots"]], ["t%d" % n for n in range(100)])
        machine.again(status_answer(*[("t%d" % n, "processing") for n in range(100)]))
        self.assertEqual(machine.run("status", "--last", "--json-only"), 0, machine.err())
        self.assertEqual(len(machine.document()["shots"]), 100)

    def test_a_shots_file_over_a_mebibyte_is_refused_before_anything_is_sent(self) -> None:
        machine = self.machine(generated("t1"))
        path = os.path.join(machine.home, "shots.json")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps([{"prompt": "\u00e9" * 600_000, "aspectRatio": "16:9"}], ensure_ascii=False))
        self.assertEqual(machine.run("submit", "--shots-file", path, "--json-only"), 2)  # 1.2 MB of text
        self.assertIn("over 1 MiB: prompts are text, not files", machine.document()["error"]["message"])
        self.assertEqual(machine.opener.requests, [])

    def test_status_one_off_partial_exits_1(self) -> None:
        machine = self.machine(status_answer(("t1", "completed"), ("t2", "failed"), top="completed"))
        self.assertEqual(machine.run("status", "--task-ids-json", TWO), 1)
        self.assertEqual([line["stage"] for line in machine.lines()], ["progress", "result"])

    def test_a_tiny_poll_interval_never_sleeps_a_negative_time(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "processing")), status_answer(("t1", "completed")))
        reading = machine.time.clock

        def clock() -> float:  # each reading a little later than the one before, as on a real machine
            machine.time.now += 1e-6
            return reading()

        machine.rt.clock = clock
        status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--poll-interval", "0.0000015")
        self.assertEqual(status, 0, machine.err())  # FakeClock.sleep refuses a negative time


class JobRecord(MachineTest):
    def test_written_before_the_first_poll_owner_only_without_key(self) -> None:
        machine = self.machine(generated("t1"))
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 0)
        result = machine.document()
        path = result["jobFile"]
        self.assertEqual(os.path.dirname(path), os.path.join(machine.home, "state", "jobs"))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path) as handle:
            text = handle.read()
        self.assertNotIn("sk-test-1234567890", text)
        record = json.loads(text)
        self.assertEqual(record["tasks"][0]["taskId"], "t1")
        self.assertEqual(record["shots"][0]["prompt"], "a red fox in snow")
        self.assertEqual(record["baseUrl"], "https://nanophoto.ai")
        self.assertEqual([n for n in os.listdir(os.path.dirname(path)) if n.startswith(".")], [])

    def test_state_dir_order(self) -> None:
        def jobs(environ):  # type: ignore[no-untyped-def]
            return veo.jobs_dir(veo.Runtime(environ, None, None, None, False, False, print, print, home="/h"))

        self.assertEqual(jobs({"VEO_3_1_STATE_DIR": "/s", "XDG_STATE_HOME": "/x"}), os.path.join("/s", "jobs"))
        self.assertEqual(jobs({"XDG_STATE_HOME": "/x"}), os.path.join("/x", "veo-3-1", "jobs"))
        self.assertEqual(jobs({}), os.path.join("/h", ".local", "state", "veo-3-1", "jobs"))

    def test_job_file_flag(self) -> None:
        machine = self.machine(generated("t1"))
        path = os.path.join(machine.home, "my-job.json")
        machine.run("submit", "--shots-json", shots_json(), "--job-file", path, "--json-only")
        self.assertEqual(machine.document()["jobFile"], path)
        self.assertTrue(os.path.exists(path))
        path = os.path.join(machine.home, "new", "my-job.json")  # in a folder it makes: the owner's only
        machine.again(generated("t2")).run("submit", "--shots-json", shots_json(), "--job-file", path, "--json-only")
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)

    def test_a_job_file_that_could_not_be_written_is_not_left_behind_to_refuse_the_retry(self) -> None:
        machine = self.machine(generated("t1"))
        path = os.path.join(machine.home, "my-job.json")
        with mock.patch.object(veo, "save_record", side_effect=OSError(28, "No space left on device")):
            self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--job-file", path, "--json-only"), 7)
        self.assertEqual(machine.document()["error"]["code"], "RECORD_NOT_WRITTEN")
        self.assertFalse(os.path.exists(path))
        self.assertEqual(machine.opener.requests, [])
        machine.again(generated("t1")).run("submit", "--shots-json", shots_json(), "--job-file", path, "--json-only")
        self.assertEqual(machine.document()["jobFile"], path, machine.err())

    def test_an_unwritable_record_sends_nothing(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "completed")))
        blocker = os.path.join(machine.home, "file")
        open(blocker, "w").close()
        machine.environ["VEO_3_1_STATE_DIR"] = os.path.join(blocker, "state")
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only"), 7)
        error = machine.document()["error"]
        self.assertIn(
            "the job record could not be written to %s" % os.path.join(blocker, "state", "jobs"), error["message"]
        )
        self.assertIn("nothing was sent", error["message"])
        self.assertEqual(machine.opener.requests, [])
        # A file, or a link to a drive not plugged in, where the jobs folder should be: the same, never a --job-file
        for blocked in ("file", "link"):
            with self.subTest(blocked=blocked):
                machine = self.machine(generated("t1"))
                state = machine.environ["VEO_3_1_STATE_DIR"]
                os.makedirs(state)
                jobs = os.path.join(state, "jobs")
                open(jobs, "w").close() if blocked == "file" else os.symlink(os.path.join(state, "unplugged"), jobs)
                self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 7)
                self.assertEqual(machine.document()["error"]["code"], "RECORD_NOT_WRITTEN")
                self.assertNotIn("--job-file", machine.err())
                self.assertEqual(machine.opener.requests, [])

    def test_resume_with_job_last_and_list(self) -> None:
        machine = self.machine(
            generated("t1"), generated("t9"), status_answer(("t9", "completed")), status_answer(("t1", "processing"))
        )
        machine.run("submit", "--shots-json", shots_json(), "--json-only", "--base-url", "http://127.0.0.1:1")
        first = json.loads(machine.out())
        machine.time.now += 5
        machine.run("submit", "--shots-json", shots_json(), "--json-only", "--resolution", "1080p")
        second = json.loads(machine.out().splitlines()[1])
        machine.stdout.truncate(0)
        machine.stdout.seek(0)
        self.assertEqual(machine.run("status", "--last", "--follow", "--json-only"), 0)
        result = machine.document()
        self.assertEqual(result["jobId"], second["jobId"])
        self.assertEqual(machine.opener.bodies()[-1]["resolution"], "1080p")
        self.assertEqual(machine.opener.requests[-1].full_url, "https://nanophoto.ai/api/veo-3/check-status")
        machine.stdout.truncate(0)
        machine.stdout.seek(0)
        # The first job was made at another origin: the key goes there only when the user says so again.
        sent = len(machine.opener.requests)
        self.assertEqual(machine.run("status", "--job", first["jobId"], "--json-only"), 2)
        self.assertEqual(len(machine.opener.requests), sent)
        self.assertIn("hint: to follow it there, add --base-url http://127.0.0.1:1", machine.err())
        machine.stdout.truncate(0)
        machine.stdout.seek(0)
        base = ("--base-url", "http://127.0.0.1:1")
        self.assertEqual(machine.run("status", "--job", first["jobId"], "--json-only", *base), 0)
        self.assertEqual(machine.opener.requests[-1].full_url, "http://127.0.0.1:1/api/veo-3/check-status")
        machine.stdout.truncate(0)
        machine.stdout.seek(0)
        sent = len(machine.opener.requests)
        self.assertEqual(machine.run("status", "--list"), 0)
        listing = json.loads(machine.out())
        self.assertEqual([job["jobId"] for job in listing], [second["jobId"], first["jobId"]])
        self.assertEqual(listing[0]["status"], "completed")
        self.assertEqual(listing[0]["shots"], 1)
        self.assertEqual(len(machine.opener.requests), sent)

    def test_status_of_a_finished_job_asks_again_for_fresh_links(self) -> None:
        fresh = (
            200,
            {
                "status": "completed",
                "shots": [{"taskId": "t1", "status": "completed", "videoUrl": "https://c/new.mp4"}],
            },
        )
        machine = self.machine(generated("t1"), status_answer(("t1", "completed")), fresh)
        machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
        job_id = json.loads(machine.out())["jobId"]
        machine.stdout.truncate(0)
        machine.stdout.seek(0)
        self.assertEqual(machine.run("status", "--job", job_id, "--json-only"), 0)
        self.assertEqual(machine.opener.paths()[-1], "api/veo-3/check-status")
        self.assertEqual(machine.document()["shots"][0]["videoUrl"], "https://c/new.mp4")

    def test_job_ref_errors(self) -> None:
        machine = self.machine()
        self.assertEqual(machine.run("status", "--job", "nope", "--json-only"), 2)
        self.assertIn("there is no job record", machine.document()["error"]["message"])
        for blank in ("", "  "):  # a shell variable that was empty: said so, not a made-up record name
            machine = self.machine()
            self.assertEqual(machine.run("status", "--job", blank, "--json-only"), 2)
            self.assertEqual(machine.document()["error"]["message"], 'the --job path "%s" is empty' % blank)
        machine = self.machine()
        self.assertEqual(machine.run("status", "--last", "--json-only"), 2)
        bad = os.path.join(machine.home, "bad.json")
        with open(bad, "w") as handle:
            handle.write('{"jobId": 1}')
        machine = self.machine()
        self.assertEqual(machine.run("status", "--job", bad, "--json-only"), 2)
        self.assertIn("is not usable", machine.document()["error"]["message"])

    def test_a_run_that_sends_nothing_makes_no_folder(self) -> None:
        for args in (["status", "--list"], ["submit", "--prompt", "x", "--dry-run"]):
            machine = self.machine()
            folder = os.path.join(machine.home, "new")
            self.assertEqual(machine.run(*args, "--download", folder, "--json-only"), 0, machine.err())
            self.assertFalse(os.path.exists(folder), args)

    def test_an_empty_shot_id_is_refused_as_in_shots_json(self) -> None:
        machine = self.machine()
        self.assertEqual(machine.run("submit", "--prompt", "x", "--shot-id", "", "--dry-run", "--json-only"), 2)
        self.assertIn("id must be a non-blank string", machine.document()["error"]["message"])

    def test_status_needs_exactly_one_source(self) -> None:
        machine = self.machine()
        self.assertEqual(machine.run("status", "--last", "--job", "x", "--json-only"), 2)
        machine = self.machine()
        self.assertEqual(machine.run("status", "--json-only"), 2)

    def test_a_record_that_cannot_be_updated_gives_a_resume_command_naming_the_tasks(self) -> None:
        machine = self.machine(generated("t1"), *[status_answer(("t1", "processing"))] * 3)
        write = veo.save_record
        writes: List[str] = []

        def full_disk_after_the_first(job: Any) -> None:
            writes.append(job.status)
            if len(writes) > 1:  # the record said "submitting"; then the disk filled up
                raise OSError(28, "No space left on device")
            write(job)

        with mock.patch.object(veo, "save_record", full_disk_after_the_first):
            flags = ("--follow", "--poll-interval", "10", "--max-wait", "20", "--json-only", "--quiet")
            self.assertEqual(machine.run("submit", "--shots-json", shots_json(), *flags), 6)
        self.assertIn("warning: the job record", machine.err())  # even with --quiet: the record is stale
        line = next(line for line in machine.err().splitlines() if line.startswith("resume with: "))
        self.assertNotIn("--job", line)  # the record says "submitting": --job would refuse it
        args = shlex.split(line[len("resume with: ") :])[1:]
        self.assertIn('[{"shotId": "shot-1", "taskId": "t1"}]', args)
        machine.again(status_answer(("t1", "completed")))
        self.assertEqual(machine.run(*args), 0, machine.err())
        self.assertEqual(machine.document()["status"], "completed")


class Interrupt(MachineTest):
    def test_task_ids_no_answer_named_show_no_job_even_when_time_runs_out_or_ctrl_c(self) -> None:
        refused = urllib.error.URLError(ConnectionRefusedError(111, "Connection refused"))
        flags = ("--follow", "--max-wait", "3", "--poll-interval", "1", "--json-only")
        for ending, answers, status in (("timeout", [refused] * 30, 6), ("ctrl-c", [KeyboardInterrupt()], 130)):
            with self.subTest(ending=ending):
                machine = self.machine(*answers)
                self.assertEqual(machine.run("status", "--task-ids-json", TWO, *flags), status, machine.err())
                self.assertEqual(machine.document()["status"], "error")  # the error object: no jobId, no job
                self.assertNotIn("resume with", machine.err())
                self.assertFalse(os.path.exists(os.path.join(machine.home, "state", "jobs")))

    def test_ctrl_c_while_following_saves_and_prints_resume(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "processing")), KeyboardInterrupt())
        status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
        self.assertEqual(status, 130)
        result = machine.document()
        self.assertEqual(result["status"], "processing")
        self.assertIn("status --job %s --follow" % result["jobId"], machine.err())
        self.assertTrue(os.path.exists(result["jobFile"]))
        self.assertNotIn("Traceback", machine.err())

    def test_ctrl_c_during_a_sleep(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "processing")))

        def interrupted(seconds: float) -> None:
            raise KeyboardInterrupt

        machine.rt.sleep = interrupted
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow"), 130)
        self.assertEqual(machine.lines()[-1]["stage"], "result")

    def test_ctrl_c_again_while_the_run_stops_still_gives_the_job_and_its_resume_command(self) -> None:
        import signal

        machine = self.machine(generated("t1"), status_answer(("t1", "processing")))
        pressed: List[float] = []
        machine.rt.sleep = lambda seconds: pressed.append(seconds) or signal.raise_signal(signal.SIGINT)
        wall = machine.rt.wall

        def again() -> float:  # pressed a second time while the run is stopping
            if pressed:
                pressed.clear()
                signal.raise_signal(signal.SIGINT)
            return wall()

        machine.rt.wall = again
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only"), 130)
        result = machine.document()
        self.assertEqual((result["status"], result["shots"][0]["taskId"]), ("processing", "t1"))
        self.assertIn("resume with: ", machine.err())
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)
        # Pressed a third time: it stops at once, and says where the job is.
        machine = self.machine(generated("t1"), status_answer(("t1", "processing")))
        machine.rt.sleep = lambda seconds: pressed.append(seconds) or signal.raise_signal(signal.SIGINT)
        wall = machine.rt.wall

        def twice() -> float:
            if pressed:
                pressed.clear()
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)
            return wall()

        machine.rt.wall = twice
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only"), 130)
        self.assertIn("status --list", machine.document()["error"]["message"])
        self.assertTrue(os.listdir(os.path.join(machine.home, "state", "jobs")))
        machine = machine.again(generated("t2"), status_answer(("t2", "processing")))  # NDJSON: it still ends so
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow"), 130)
        self.assertEqual(machine.lines()[-1]["result"]["error"]["code"], "INTERRUPTED")

    def test_ctrl_c_just_as_a_download_thread_starts(self) -> None:
        import threading
        from unittest import mock

        start = threading.Thread.start

        def pressed_as_it_starts(thread: threading.Thread) -> None:  # the thread object exists, never started
            if thread.name != "veo-download":
                return start(thread)
            raise KeyboardInterrupt

        machine = self.machine(generated("t1"), status_answer(("t1", "completed"), top="completed"))
        with mock.patch.object(threading.Thread, "start", pressed_as_it_starts):
            folder = os.path.join(machine.home, "v")
            args = ["submit", "--shots-json", shots_json(), "--follow", "--download", folder, "--json-only"]
            self.assertEqual(machine.run(*args), 130)
        self.assertNotIn("Traceback", machine.err())
        self.assertIn("resume with: ", machine.err())
        self.assertEqual(machine.document()["shots"][0]["taskId"], "t1")

    def test_ctrl_c_while_writing_the_record(self) -> None:
        machine = self.machine(generated("t1"), status_answer(("t1", "completed")))
        real_fsync = os.fsync
        calls = []

        def interrupted_fsync(fd: int) -> None:
            calls.append(fd)
            if len(calls) == 2:  # the record's second write: after submit, while following
                raise KeyboardInterrupt
            real_fsync(fd)

        os.fsync = interrupted_fsync  # type: ignore[assignment]
        try:
            status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
        finally:
            os.fsync = real_fsync
        self.assertEqual(status, 130)
        result = machine.document()
        folder = os.path.dirname(result["jobFile"])
        self.assertEqual([n for n in os.listdir(folder) if n.startswith(".")], [])  # no temporary file left
        with open(result["jobFile"]) as handle:
            self.assertEqual(json.load(handle)["tasks"][0]["taskId"], "t1")  # the record is whole

    def test_a_real_ctrl_c_while_the_result_is_written_does_not_lose_it(self) -> None:
        import io
        import signal

        class InterruptedStdout(io.StringIO):
            presses = 1

            def write(self, text: str) -> int:
                for _ in range(self.presses):  # the user presses Ctrl-C just as the result goes out
                    signal.raise_signal(signal.SIGINT)
                return super().write(text)

        machine = self.machine(generated("t1"), status_answer(("t1", "completed"), top="completed"))
        machine.stdout = machine.rt.stdout = InterruptedStdout()
        status = machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only")
        self.assertEqual(status, 0, machine.err())
        self.assertEqual(machine.document()["status"], "completed")
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)  # Ctrl-C works again after
        # Pressed twice (stdout may be stuck on a reader that never reads): it stops at once.
        machine = self.machine(generated("t1"), status_answer(("t1", "completed"), top="completed"))
        machine.stdout = machine.rt.stdout = InterruptedStdout()
        machine.stdout.presses = 2
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow", "--json-only"), 130)
        self.assertIn("interrupted", machine.err())
        self.assertNotIn("Traceback", machine.err())
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def pressing_ctrl_c(self, machine, presses: int = 1) -> None:  # type: ignore[no-untyped-def]
        """Make the user press Ctrl-C (a real SIGINT) as each API request goes out."""
        import signal

        opener = machine.rt.api_open

        def pressed(request, timeout):  # type: ignore[no-untyped-def]
            # The request runs in a helper thread; the handler runs in the main thread, so a second
            # press waits until the first one has been seen there (it says so on stderr).
            for press in range(presses):
                signal.raise_signal(signal.SIGINT)
                while press + 1 < presses and "waiting for the service's answer" not in machine.err():
                    time.sleep(0.001)
            return opener(request, timeout)

        machine.rt.api_open = pressed

    def test_ctrl_c_while_the_submit_is_in_flight_waits_for_the_job(self) -> None:
        import signal

        machine = self.machine(generated("t1"))
        self.pressing_ctrl_c(machine)
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--follow"), 130)
        self.assertIn("waiting for the service's answer, so that the job is not lost", machine.err())
        lines = machine.lines()
        self.assertEqual([line["stage"] for line in lines], ["submitted", "result"])
        self.assertEqual(lines[0]["shots"], [{"shotId": "shot-1", "taskId": "t1"}])
        self.assertIn("resume with: veo_3_1.py status --job %s --follow" % lines[0]["jobId"], machine.err())
        with open(lines[-1]["result"]["jobFile"]) as handle:
            self.assertEqual(json.load(handle)["tasks"][0]["taskId"], "t1")
        self.assertEqual(machine.opener.paths(), ["api/veo-3/generate"])  # it stopped: no polling
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_ctrl_c_twice_while_the_submit_is_in_flight_stops_at_once(self) -> None:
        import signal

        machine = self.machine(generated("t1"))
        self.pressing_ctrl_c(machine, presses=2)
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 130)
        self.assertEqual(machine.document()["error"]["code"], "SUBMIT_OUTCOME_UNKNOWN")
        self.assertIn("the job may exist", machine.err())
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)
        folder = os.path.join(machine.home, "state", "jobs")
        with open(os.path.join(folder, os.listdir(folder)[0])) as handle:
            self.assertEqual(json.load(handle)["status"], "unknown")  # the record says what is not known
        machine.again()
        self.assertEqual(machine.run("status", "--last", "--json-only"), 7)
        self.assertEqual(machine.document()["error"]["code"], "SUBMIT_OUTCOME_UNKNOWN")

    def test_ctrl_c_between_tries_of_a_refused_submit_sends_no_more(self) -> None:
        import signal

        # Pressed while a try was in flight that came back 429 (surely not taken): no retry.
        machine = self.machine((429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}), generated("t1"))
        self.pressing_ctrl_c(machine)
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 130)
        self.assertEqual(len(machine.opener.requests), 1)
        self.assertIn("nothing was spent", machine.document()["error"]["message"])
        # Pressed during the back-off before a retry: it stops at once, and sends nothing more.
        machine = self.machine((429, {"errorCode": "API_KEY_RATE_LIMIT_EXCEEDED"}), generated("t1"))
        machine.rt.sleep = lambda seconds: signal.raise_signal(signal.SIGINT)
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--json-only"), 130)
        self.assertEqual(len(machine.opener.requests), 1)
        error = machine.document()["error"]
        self.assertEqual(error["code"], "API_KEY_RATE_LIMIT_EXCEEDED")
        self.assertIn("interrupted before the submit was sent again", error["message"])
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_ctrl_c_before_any_job(self) -> None:
        machine = self.machine(KeyboardInterrupt())
        self.assertEqual(machine.run("submit", "--shots-json", shots_json()), 130)
        self.assertIn("(interrupted while submitting); the job may exist", machine.err())
        self.assertEqual(machine.lines()[-1]["result"]["error"]["code"], "SUBMIT_OUTCOME_UNKNOWN")
        machine = self.machine()
        machine.rt.stdin = type("Stdin", (), {"read": lambda self, n: (_ for _ in ()).throw(KeyboardInterrupt)})()
        self.assertEqual(machine.run("submit", "--shots-file", "-"), 130)
        self.assertIn("interrupted", machine.err())
