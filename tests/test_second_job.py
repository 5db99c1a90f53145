"""The second run keeps every promise too: one folder for many jobs, the printed resume command, exact flags, typos.

Each test runs the real command against the fake NanoPhoto: as a subprocess where the process matters (the printed
command, run by a shell; signals; runs side by side), else in this process with real sockets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from typing import Any, Dict, List

from fake_nanophoto import video_sha256
from helpers import CLI, SHOT, concurrently, run_in_process, stop_process, veo
from test_e2e import FAST, KEY, EndToEnd

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


def sha256_of(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def media_lines(stderr: str) -> List[str]:
    return [line[len("MEDIA:") :] for line in stderr.splitlines() if line.startswith("MEDIA:")]


class OneFolderManyJobs(EndToEnd):
    def submit(self, prompt: str, *extra: str) -> Any:
        done = self.run_cli(
            "submit", "--prompt", prompt, "--follow", "--download", "videos", "--json-only", *FAST, *extra
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        return done

    def own_video(self, result: Dict[str, Any]) -> str:
        """The file of the result's only shot, checked to hold that shot's own video."""
        shot = result["shots"][0]
        self.assertEqual(sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size))
        return str(shot["file"])

    def test_a_second_job_in_the_same_folder_gets_its_own_file(self) -> None:
        first = self.document(self.submit("a red fox"))
        fox = self.own_video(first)
        stamp = (sha256_of(fox), os.stat(fox).st_mtime_ns)
        done = self.submit("a whale")
        second = self.document(done)
        whale = self.own_video(second)
        self.assertEqual(os.path.basename(whale), "shot-1-2.mp4")
        self.assertEqual(media_lines(done.stderr), [whale])  # the agent attaches the whale, not the fox
        self.assertNotIn("already saved", done.stderr)
        self.assertEqual((sha256_of(fox), os.stat(fox).st_mtime_ns), stamp)  # the fox was not touched

    def test_a_file_the_user_put_there_is_neither_taken_nor_overwritten(self) -> None:
        folder = os.path.join(self.tmp, "videos")
        os.makedirs(os.path.join(folder, "shot-1-2.mp4"))  # a folder of that name, too
        for size in (5, self.fake.video_size):  # another size, and the same size
            with self.subTest(size=size):
                with open(os.path.join(folder, "shot-1.mp4"), "wb") as handle:
                    handle.write(b"m" * size)
                done = self.submit("a fox")
                path = self.own_video(self.document(done))
                self.assertNotIn(os.path.basename(path), ("shot-1.mp4", "shot-1-2.mp4"))
                self.assertEqual(media_lines(done.stderr), [path])
                with open(os.path.join(folder, "shot-1.mp4"), "rb") as handle:
                    self.assertEqual(handle.read(), b"m" * size)

    def test_two_jobs_then_a_third_run_resuming_the_first(self) -> None:
        # Job A is submitted and left; jobs B and C save into the folder; then A is resumed there.
        job_a = self.document(self.run_cli("submit", "--prompt", "job a", "--json-only"))
        job_b, job_c = (self.document(self.submit(prompt)) for prompt in ("job b", "job c"))
        files = {name: self.own_video(job) for name, job in (("b", job_b), ("c", job_c))}
        before = {path: (sha256_of(path), os.stat(path).st_mtime_ns) for path in files.values()}
        done = self.run_cli("status", "--job", job_a["jobId"], "--follow", "--download", "videos", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        files["a"] = self.own_video(self.document(done))
        self.assertEqual(sorted(map(os.path.basename, files.values())), ["shot-1-2.mp4", "shot-1-3.mp4", "shot-1.mp4"])
        self.assertEqual(media_lines(done.stderr), [files["a"]])
        self.assertEqual({path: (sha256_of(path), os.stat(path).st_mtime_ns) for path in before}, before)
        # The same command again fetches nothing, and names A's own file.
        fetched = len(self.fake.seen(origin="cdn"))
        done = self.run_cli("status", "--job", job_a["jobId"], "--download", "videos", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(len(self.fake.seen(origin="cdn")), fetched)
        self.assertEqual(media_lines(done.stderr), [files["a"]])
        self.assertIn("already saved shot-1: %s" % files["a"], done.stderr)
        # status --list says where each job's files went.
        listing = {job["jobId"]: job["files"] for job in json.loads(self.run_cli("status", "--list").stdout)}
        self.assertEqual(listing[job_a["jobId"]], [files["a"]])
        self.assertEqual(listing[job_b["jobId"]], [files["b"]])

    def test_two_runs_resuming_the_same_job_at_once(self) -> None:
        self.fake.video_latency = 0.2  # both runs are saving at the same time
        job = self.document(self.run_cli("submit", "--shots-json", self.shots("a", "b"), "--json-only"))
        command = [*CLI, "status", "--job", job["jobId"], "--follow", "--download", "v", "--json-only", *FAST]
        env = dict(os.environ, **self.env)
        runs = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=self.tmp)
            for _ in range(2)
        ]
        for run in runs:
            self.addCleanup(stop_process, run)
        outputs = [run.communicate(timeout=60) for run in runs]
        for run, (out, err) in zip(runs, outputs):
            self.assertEqual(run.returncode, 0, err)
            result = json.loads(out)
            for shot in result["shots"]:  # each run names files holding the right video
                self.assertEqual(sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size))
            for path in media_lines(err):
                self.assertTrue(os.path.isfile(path), path)
        with open(job["jobFile"]) as handle:
            record = json.load(handle)  # whole JSON: neither run corrupted it
        for task in record["tasks"]:
            self.assertEqual(sha256_of(task["file"]), task["sha256"])
        self.assertEqual([name for name in os.listdir(os.path.join(self.tmp, "v")) if name.endswith(".part")], [])


class ResumeCommand(EndToEnd):
    """Whatever command is printed to resume is the run's own command for the rest of the work."""

    def resume_line(self, stderr: str) -> str:
        lines = [line for line in stderr.splitlines() if line.startswith("resume with: ")]
        self.assertEqual(len(lines), 1, stderr)
        return lines[0][len("resume with: ") :]

    def run_printed(self, line: str) -> Any:
        """The printed line, as it is, in a shell started elsewhere (its python3: the one running these tests)."""
        path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        env = dict(os.environ, **self.env, PATH=path)
        done = subprocess.run(line, shell=True, capture_output=True, text=True, env=env, cwd="/", timeout=60)
        self.assertNotIn("Traceback", done.stderr)
        return done

    def check_finished(self, done: Any) -> None:
        self.assertEqual(done.returncode, 0, done.stderr)
        result = self.document(done)  # one JSON document, as the first run promised
        self.assertEqual(result["status"], "completed")
        path = result["shots"][0]["file"]
        self.assertEqual(os.path.dirname(path), os.path.join(os.path.realpath(self.tmp), "my videos"))
        self.assertEqual(media_lines(done.stderr), [path])


class TheResumeCommandFinishesTheJob(ResumeCommand):
    """The reproductions: the run that prints the command, and the printed command in a shell, are processes."""

    def test_after_max_wait(self) -> None:
        self.fake.polls_per_shot = 10_000
        done = self.run_cli(
            "submit",
            "--prompt",
            "fox",
            "--follow",
            "--download",
            "my videos",
            "--json-only",
            "--max-wait",
            "0.3",
            *FAST,
        )
        self.assertEqual(done.returncode, 6, done.stderr)
        line = self.resume_line(done.stderr)
        self.assertIn("--download '%s'" % os.path.join(os.path.realpath(self.tmp), "my videos"), line)
        self.assertIn("--max-wait 0.3", line)
        self.fake.polls_per_shot = 1
        for _ in range(20):  # the same short --max-wait again: run as printed until it stops exiting 6
            done = self.run_printed(line)
            if done.returncode != 6:
                break
        self.check_finished(done)

    def test_after_a_failed_download(self) -> None:
        self.fake.add_fault("video", "status", status=404)  # an expired link: the resume asks for a fresh one
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--download", "my videos", "--json-only", *FAST)
        self.assertEqual(done.returncode, 7, done.stderr)
        result = self.document(done)
        self.assertEqual((result["status"], result["error"]["code"]), ("completed", "DOWNLOAD_FAILED"))
        self.check_finished(self.run_printed(self.resume_line(done.stderr)))

    def test_after_ctrl_c(self) -> None:
        self.fake.polls_per_shot = 10_000
        command = [*CLI, "submit", "--prompt", "fox", "--follow", "--download", "my videos", "--json", "--quiet", *FAST]
        process = self.start_cli(command)
        while len(self.fake.seen("check-status")) < 2:  # following
            self.assertIsNone(process.poll())
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 130, err)
        line = self.resume_line(err)  # even with --quiet
        self.assertIn(" --json-only --quiet", line)
        self.fake.polls_per_shot = 1
        self.check_finished(self.run_printed(line))


class TheResumeCommandFromOddPlaces(ResumeCommand):
    """The run that prints the command runs in this process unless the process matters (a signal, its own path)."""

    in_process = True

    def test_with_a_record_named_by_a_relative_path(self) -> None:
        for given in ("mine.json", "./mine.json"):  # run in the folder that holds it, as a process: its own folder
            with self.subTest(given=given):
                self.fake.polls_per_shot = 10_000
                job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
                shutil.copy(job["jobFile"], os.path.join(self.tmp, "mine.json"))
                args = ["status", "--job", given, "--follow", "--json-only", "--max-wait", "0.2", *FAST]
                done = self.run_cli(*args, own_process=True)
                self.assertEqual(done.returncode, 6, done.stderr)
                self.assertNotIn("could not be updated", done.stderr)
                self.assertEqual(self.document(done)["jobFile"], os.path.join(os.path.realpath(self.tmp), "mine.json"))
                self.fake.polls_per_shot = 1
                done = self.run_printed(self.resume_line(done.stderr).replace("--max-wait 0.2", "--max-wait 30"))
                self.assertEqual((done.returncode, self.document(done)["status"]), (0, "completed"), done.stderr)

    def test_with_a_value_that_starts_with_a_dash(self) -> None:
        self.fake.polls_per_shot = 10_000
        args = ["submit", "--prompt", "fox", "--follow", "--json-only", "--max-wait", "0.2", "--user-agent=-x", *FAST]
        done = self.run_cli(*args)
        self.assertEqual(done.returncode, 6, done.stderr)
        self.fake.polls_per_shot = 1
        done = self.run_printed(self.resume_line(done.stderr).replace("--max-wait 0.2", "--max-wait 30"))
        self.assertEqual((done.returncode, self.document(done)["status"]), (0, "completed"), done.stderr)
        self.assertEqual(self.fake.seen("check-status")[-1].headers["User-Agent"], "-x")
        self.fake.polls_per_shot = 10_000
        for agent in ("Bot/2.0", "1.0"):  # as typed: only a number of seconds, 8.0, is said 8
            done = self.run_cli("submit", "--prompt", "fox", "--follow", "--max-wait", "0.2", "--user-agent", agent)
            self.assertIn(" --user-agent %s " % agent, self.resume_line(done.stderr) + " ")

    def test_with_a_job_file_in_the_jobs_folder(self) -> None:
        jobs = os.path.join(self.tmp, "state", "jobs")
        os.makedirs(jobs)
        self.fake.polls_per_shot = 10_000
        args = ("--download", "my videos", "--job-file", os.path.join(jobs, "custom.json"), "--max-wait", "0.3")
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--json-only", *args, *FAST)
        self.assertEqual(done.returncode, 6, done.stderr)
        line = self.resume_line(done.stderr)
        self.assertIn("--job %s" % os.path.join(jobs, "custom.json"), line)  # the record is not at <jobId>.json
        self.fake.polls_per_shot = 1
        self.check_finished(self.run_printed(line.replace("--max-wait 0.3", "--max-wait 30")))

    def test_when_the_script_is_run_through_a_link_without_py(self) -> None:
        link = os.path.join(self.tmp, "veo")
        os.symlink(CLI[-1], link)
        self.fake.polls_per_shot = 10_000
        command = [*CLI[:-1], link, "submit", "--prompt", "fox", "--follow", "--download", "my videos", "--json-only"]
        done = subprocess.run(
            [*command, "--max-wait", "0.3", *FAST],
            capture_output=True,
            text=True,
            env=dict(os.environ, **self.env),
            cwd=self.tmp,
        )
        self.assertEqual(done.returncode, 6, done.stderr)
        line = self.resume_line(done.stderr)
        self.assertIn(" %s status --job " % link, line)
        self.fake.polls_per_shot = 1
        self.check_finished(self.run_printed(line.replace("--max-wait 0.3", "--max-wait 30")))

    def test_with_a_folder_path_of_3000_characters(self) -> None:
        deep = os.path.join("my videos", *["d" * 200] * 14)  # PATH_MAX is 4096; each name at most 255
        os.makedirs(os.path.join(self.tmp, deep))
        self.fake.polls_per_shot = 1
        self.fake.add_fault("video", "status", status=404)
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--download", deep, "--json-only", *FAST)
        self.assertEqual(done.returncode, 7, done.stderr)
        line = self.resume_line(done.stderr)  # whole: no "..." cut into it
        done = self.run_printed(line)
        self.assertEqual(done.returncode, 0, done.stderr)
        path = self.document(done)["shots"][0]["file"]
        self.assertEqual(os.path.dirname(path), os.path.join(os.path.realpath(self.tmp), deep))
        self.assertEqual(media_lines(done.stderr), [path])

    def test_a_folder_whose_path_no_line_can_show_is_refused_before_sending(self) -> None:
        for flag, path in [("--download", "a\nb"), ("--download", "tab\there"), ("--download", "bad-\udcff-byte")]:
            with self.subTest(path=path):
                done = self.run_cli("submit", "--prompt", "fox", "--follow", flag, path, "--json-only")
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("has a control character or a byte that is not UTF-8", done.stderr)
        done = self.run_cli("status", "--job", "we\tird/rec.json", "--json-only")  # a resume line could not name it
        self.assertIn("has a control character or a byte that is not UTF-8", done.stderr)
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--download", "", own_process=True)  # not here
        self.assertIn('error: the --download path "" is empty', done.stderr)
        self.assertEqual(self.fake.requests, [])

    def test_a_folder_with_invisible_characters_is_named_as_it_is(self) -> None:
        for folder in ("love \u2764\ufe0f", "cgj\u034fx", "filler \u3164"):  # an emoji's variation selector, say
            with self.subTest(folder=folder):
                self.fake.polls_per_shot = 10_000
                args = [
                    "submit",
                    "--prompt",
                    "fox",
                    "--follow",
                    "--download",
                    folder,
                    "--json-only",
                    "--max-wait",
                    "0.2",
                ]
                done = self.run_cli(*args, *FAST)
                self.assertEqual(done.returncode, 6, done.stderr)
                line = self.resume_line(done.stderr)
                self.assertIn(shlex.quote(os.path.join(os.path.realpath(self.tmp), folder)), line)
                self.fake.polls_per_shot = 1
                done = self.run_printed(line.replace("--max-wait 0.2", "--max-wait 30"))  # under load, 0.2 s is short
                self.assertEqual(done.returncode, 0, done.stderr)
                path = self.document(done)["shots"][0]["file"]
                self.assertEqual(media_lines(done.stderr), [path])
                self.assertIn("saved shot-1: %s (" % path, done.stderr)  # for people, as it is too
                self.assertTrue(os.path.isfile(path), path)
                self.assertEqual(os.path.dirname(path), os.path.join(os.path.realpath(self.tmp), folder))

    def test_a_key_cut_apart_by_invisible_characters_in_a_folder_name_is_still_hidden(self) -> None:
        self.fake.polls_per_shot = 10_000
        folder = "out/" + "\ufe0f".join(KEY[i : i + 5] for i in range(0, len(KEY), 5))  # reads as the key
        args = ["submit", "--prompt", "fox", "--follow", "--download", folder, "--json-only", "--max-wait", "0.2"]
        done = self.run_cli(*args, *FAST)
        self.assertEqual(done.returncode, 6, done.stderr)
        self.assertNotIn(KEY, done.stderr.replace("\ufe0f", ""))
        self.assertIn("***", self.resume_line(done.stderr))

    def test_a_record_named_through_a_link_is_updated_where_it_is(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        record = os.path.join(self.tmp, "we\tird", "rec.json")  # where no line could name it: the link does
        os.makedirs(os.path.dirname(record))
        shutil.move(job["jobFile"], record)
        link = os.path.join(self.tmp, "link.json")
        os.symlink(record, link)
        self.fake.polls_per_shot = 10_000
        done = self.run_cli("status", "--job", link, "--follow", "--json-only", "--max-wait", "0.2", *FAST)
        self.assertEqual(done.returncode, 6, done.stderr)
        self.assertTrue(os.path.islink(link))  # the user's link stays a link
        self.assertEqual(self.document(done)["jobFile"], link)  # named as given
        self.fake.polls_per_shot = 1
        done = self.run_printed(self.resume_line(done.stderr).replace("--max-wait 0.2", "--max-wait 30"))  # the link
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(os.path.islink(link))
        with open(record) as handle:
            self.assertEqual(json.load(handle)["status"], "completed")  # the record it names is the one updated

    def test_ctrl_c_while_the_last_videos_are_saved_keeps_those_already_saved(self) -> None:
        self.fake.polls_per_shot = 1
        self.fake.add_fault("video", "slow", seconds=0.5)  # the first comes once following is over
        self.fake.add_fault("video", "drip", seconds=0.001)  # the second over a minute
        shots = self.shots("one", "two")
        command = [*CLI, "submit", "--shots-json", shots, "--follow", "--download", "v", "--json-only", *FAST]
        process = self.start_cli([*command, "--download-workers", "1"])
        assert process.stderr is not None
        told = [process.stderr.readline()]
        while not told[-1].startswith("MEDIA:"):  # the first is saved and told; the run waits for the second
            told.append(process.stderr.readline())
            self.assertTrue(told[-1], "".join(told))
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        err = "".join(told) + err
        self.assertEqual(process.returncode, 130, err)
        shots_saved = [shot["file"] for shot in json.loads(out)["shots"]]
        self.assertEqual(shots_saved, [os.path.join(os.path.realpath(self.tmp), "v", "shot-1.mp4"), None])
        self.assertEqual(media_lines(err), [shots_saved[0]])

    def test_with_a_relative_state_folder_from_another_folder(self) -> None:
        self.fake.polls_per_shot = 10_000
        env = {"VEO_3_1_STATE_DIR": "relstate"}  # relative: where the run was started
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only", env=env, own_process=True))
        args = (
            "status",
            "--job",
            job["jobId"],
            "--follow",
            "--download",
            "my videos",
            "--json-only",
            "--max-wait",
            "0.3",
        )
        done = self.run_cli(*args, env=env, own_process=True)
        self.assertEqual(done.returncode, 6, done.stderr)
        line = self.resume_line(done.stderr)
        self.assertIn("--job %s" % os.path.join(os.path.realpath(self.tmp), "relstate", "jobs", job["jobId"]), line)
        self.fake.polls_per_shot = 1
        self.env["VEO_3_1_STATE_DIR"] = "relstate"  # the same environment, in another folder
        self.check_finished(self.run_printed(line.replace("--max-wait 0.3", "--max-wait 30")))

    def test_with_a_relative_home_from_another_folder(self) -> None:
        self.fake.polls_per_shot = 10_000
        env = {
            "VEO_3_1_STATE_DIR": "",
            "XDG_STATE_HOME": "",
            "HOME": "relhome",
        }  # the state folder under a relative HOME
        flags = ("--download", "my videos", "--json-only", "--max-wait", "0.3")
        done = self.run_cli("submit", "--prompt", "fox", "--follow", *flags, env=env, own_process=True)
        self.assertEqual(done.returncode, 6, done.stderr)
        line = self.resume_line(done.stderr)
        self.assertIn("--job %s" % os.path.join(os.path.realpath(self.tmp), "relhome", ""), line)
        self.fake.polls_per_shot = 1
        self.env.update(env)  # the same environment, in another folder
        self.check_finished(self.run_printed(line.replace("--max-wait 0.3", "--max-wait 30")))

    def test_after_api_key_on_the_command_line_it_says_to_give_the_key_again(self) -> None:
        self.fake.polls_per_shot = 10_000
        no_key = {"NANOPHOTO_API_KEY": ""}
        flags = ("--download", "my videos", "--json-only", "--max-wait", "0.3", *FAST)
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--api-key", KEY, *flags, env=no_key)
        self.assertEqual(done.returncode, 6, done.stderr)
        line = self.resume_line(done.stderr)
        self.assertTrue(line.endswith("  # add --api-key KEY: it is never repeated"), line)
        self.assertNotIn(KEY, line)
        self.fake.polls_per_shot = 1
        self.env["NANOPHOTO_API_KEY"] = ""
        self.assertEqual(self.run_printed(line).returncode, 3)  # as it said: the key is needed
        self.env["NANOPHOTO_API_KEY"] = KEY
        self.check_finished(self.run_printed(line.replace("--max-wait 0.3", "--max-wait 30")))

    def test_a_path_that_is_not_utf_8_is_said_in_strict_json(self) -> None:
        done = self.run_cli("status", "--job", os.path.join(self.tmp, "bad-\udcff.json"), "--json-only")
        self.assertEqual(done.returncode, 2, done.stderr)
        message = json.loads(done.stdout)["error"]["message"]
        message.encode("utf-8")  # strict: no lone surrogate reached the JSON
        self.assertIn('bad-\\udcff.json" has a control character', message)  # the bad byte shown where it is


class ExactFlags(EndToEnd):
    in_process = True  # but the reproduction of each mistake runs as its own process

    def test_json_is_an_alias_and_nothing_else_is_abbreviated(self) -> None:
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--json", *FAST, own_process=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.document(done)["status"], "completed")  # one document, not NDJSON stages
        for near_miss in ("--json-o", "--js", "--qui", "--follow-", "--foll", "--prom"):
            with self.subTest(flag=near_miss):
                done = self.run_cli("submit", "--prompt", "fox", near_miss, "--json-only")
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertEqual(self.document(done)["error"]["code"], "INVALID_ARGUMENTS")
        done = self.run_cli("submit", "--prompt", "fox", "--json-o")  # the output mode: from what parses exactly
        self.assertEqual(self.ndjson(done)[-1]["result"]["status"], "error")
        self.assertEqual(len(self.fake.seen("generate")), 1)


class OnlyRealJobsBecomeRecords(EndToEnd):
    in_process = True  # but the reproduction of each mistake runs as its own process

    def test_a_mistyped_task_id_does_not_become_the_last_job(self) -> None:
        real = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        typo = json.dumps([{"shotId": "shot-1", "taskId": "task_typo"}])
        done = self.run_cli("status", "--task-ids-json", typo, "--json-only", own_process=True)
        self.assertEqual(done.returncode, 8, done.stderr)
        self.assertEqual(self.document(done)["error"]["code"], "TASK_NOT_FOUND")
        self.assertNotIn("jobId", self.document(done))  # no job was found: none is shown, and no resume command
        self.assertNotIn("resume with", done.stderr)
        self.assertEqual([job["jobId"] for job in json.loads(self.run_cli("status", "--list").stdout)], [real["jobId"]])
        done = self.run_cli("status", "--last", "--json-only", own_process=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.document(done)["jobId"], real["jobId"])

    def test_a_refused_key_writes_no_record_either(self) -> None:
        tasks = json.dumps([{"shotId": "shot-1", "taskId": "task_0001_1"}])
        done = self.run_cli("status", "--task-ids-json", tasks, env={"NANOPHOTO_API_KEY": "not-the-key-at-all"})
        self.assertEqual(done.returncode, 3, done.stderr)
        done = self.run_cli("submit", "--prompt", "fox", env={"NANOPHOTO_API_KEY": "not-the-key-at-all"})
        self.assertEqual(done.returncode, 3, done.stderr)  # a refused submit made no job: no record
        self.assertEqual(json.loads(self.run_cli("status", "--list").stdout), [])


class WrongTypes(EndToEnd):
    in_process = True  # but the reproduction of each mistake runs as its own process

    def test_a_wrong_type_in_any_shot_field_is_an_error(self) -> None:
        shots = '[{"prompt":"x","generationType":[],"aspectRatio":"16:9"}]'  # the reported traceback
        done = self.run_cli("submit", "--shots-json", shots, "--json-only", own_process=True)
        self.assertEqual((done.returncode, self.document(done)["error"]["code"]), (2, "INVALID_SHOTS"))
        good = {"prompt": "x", "generationType": "TEXT_2_VIDEO", "aspectRatio": "16:9"}
        cases = [
            dict(good, **{field: value})
            for field in ("id", "prompt", "generationType", "aspectRatio", "imageUrls")
            for value in ([], {}, 7, True, [[]], {"a": []})
            if (field, value) != ("imageUrls", [])
        ]
        for start in range(0, len(cases), 21):
            chunk = cases[start : start + 21]
            done = self.run_cli("submit", "--shots-json", json.dumps(chunk), "--json-only")
            self.assertEqual(done.returncode, 2, done.stderr)
            error = self.document(done)["error"]
            self.assertEqual(error["code"], "INVALID_SHOTS")
            self.assertEqual(
                {detail.split(":")[0].split(" ")[0] for detail in error["details"]},
                {"shots[%d]" % n for n in range(len(chunk))},
            )
        self.assertEqual(self.fake.seen("generate"), [])


class PartFilesAreTheJobsOwn(EndToEnd):
    in_process = True

    def saved_job(self, folder: str = "v") -> Any:
        """A job whose video was saved into `folder`, then deleted: the next run saves it again."""
        done = self.run_cli("submit", "--prompt", "fox", "--follow", "--download", folder, "--json-only", *FAST)
        job = self.document(done)
        os.unlink(job["shots"][0]["file"])
        return job

    def test_a_link_at_the_part_name_is_never_written_through(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.saved_job()
        precious = os.path.join(self.tmp, "precious")
        with open(precious, "wb") as handle:
            handle.write(b"the user's own")
        os.symlink(precious, os.path.join(self.tmp, "v", ".shot-1.mp4.%s.part" % job["jobId"]))
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(precious, "rb") as handle:
            self.assertEqual(handle.read(), b"the user's own")
        path = self.document(done)["shots"][0]["file"]
        self.assertFalse(os.path.islink(path))
        self.assertEqual(sha256_of(path), video_sha256("%s.mp4" % job["shots"][0]["taskId"], self.fake.video_size))

    def test_a_video_moved_away_is_never_written_through_the_part_file_it_shares(self) -> None:
        # A run was stopped once shot-1.mp4 was named: the part file is the same file still. The user moved it away.
        self.fake.polls_per_shot = 1
        job = self.saved_job()
        folder = os.path.join(self.tmp, "v")
        kept = os.path.join(self.tmp, "kept.mp4")
        with open(kept, "wb") as handle:
            handle.write(b"the video, kept elsewhere")
        os.link(kept, os.path.join(folder, ".shot-1.mp4.%s.part" % job["jobId"]))
        stamp = os.stat(kept)
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(kept, "rb") as handle:
            self.assertEqual(handle.read(), b"the video, kept elsewhere")
        self.assertEqual((os.stat(kept).st_mtime_ns, os.stat(kept).st_nlink), (stamp.st_mtime_ns, 1))
        shot = self.document(done)["shots"][0]
        self.assertEqual(sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size))
        self.assertEqual(sorted(os.listdir(folder)), ["shot-1.mp4"])

    def test_a_video_saved_while_the_record_could_not_be_updated_is_not_saved_twice(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        jobs, fetch = os.path.dirname(job["jobFile"]), veo.urlopen_for("download")

        def full_once_the_name_is_claimed(request: Any, timeout: float) -> Any:  # nothing more goes in the record
            if os.path.isdir(jobs):
                os.rename(jobs, jobs + "-away")
                open(jobs, "w").close()
            return fetch(request, timeout)

        args = ["status", "--job", job["jobId"], "--follow", "--download", "v", "--json-only", *FAST]
        done = run_in_process(args, env=self.env, cwd=self.tmp, download_open=full_once_the_name_is_claimed)
        self.assertNotIn(KEY, done.stdout + done.stderr)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("could not be updated", done.stderr)
        shot = self.document(done)["shots"][0]
        self.assertEqual(sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size))
        os.unlink(jobs)
        os.rename(jobs + "-away", jobs)
        fetched = len(self.fake.seen(origin="cdn"))
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.document(done)["shots"][0]["file"], shot["file"])  # the one the record missed, no copy
        self.assertEqual(len(self.fake.seen(origin="cdn")), fetched)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "v")), ["shot-1.mp4"])

    def test_a_shot_never_takes_another_shots_video_whose_part_file_names_its_own_first_name(self) -> None:
        self.fake.polls_per_shot = 1
        os.makedirs(os.path.join(self.tmp, "v"))
        with open(os.path.join(self.tmp, "v", "a.mp4"), "w") as handle:
            handle.write("my notes")  # shot a's first name is taken: it saves to a-2.mp4, shot a-2's first name
        shots = json.dumps([dict(SHOT, id="a", prompt="p1"), dict(SHOT, id="a-2", prompt="p2")])
        done = self.run_cli("submit", "--shots-json", shots, "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        for shot in self.document(done)["shots"]:
            self.assertEqual(sha256_of(shot["file"]), video_sha256("%s.mp4" % shot["taskId"], self.fake.video_size))
        self.assertEqual(len(set(media_lines(done.stderr))), 3)  # two shots and the combined video, each its own

    def test_a_status_check_beside_a_saving_run_keeps_what_that_run_recorded(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        with open(job["jobFile"]) as handle:
            before = handle.read()  # what a plain check beside it loads
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(job["jobFile"]) as handle:
            after = handle.read()  # the saving run recorded the video as the check waited for its answer
        with open(job["jobFile"], "w") as handle:
            handle.write(before)
        ask = veo.urlopen_for("api")

        def the_saving_run_records_meanwhile(request: Any, timeout: float) -> Any:
            with open(job["jobFile"], "w") as handle:
                handle.write(after)
            return ask(request, timeout)

        args = ["status", "--job", job["jobId"], "--json-only"]
        done = run_in_process(args, env=self.env, cwd=self.tmp, api_open=the_saving_run_records_meanwhile)
        self.assertEqual(done.returncode, 0, done.stderr)
        fetched = len(self.fake.seen(origin="cdn"))
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual((done.returncode, len(self.fake.seen(origin="cdn"))), (0, fetched), done.stderr)
        self.assertIn("already saved", done.stderr)
        self.assertEqual(os.listdir(os.path.join(self.tmp, "v")), ["shot-1.mp4"])

    def test_a_status_check_beside_a_saving_run_keeps_the_name_that_run_claimed(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        with open(job["jobFile"]) as handle:
            record = json.load(handle)
        name = os.path.join(self.tmp, "v", "shot-1.mp4")
        record["tasks"][0]["file"] = name  # the saving run claimed it as the check waited: its part file is growing
        ask = veo.urlopen_for("api")

        def the_saving_run_claims_meanwhile(request: Any, timeout: float) -> Any:
            with open(job["jobFile"], "w") as handle:
                json.dump(record, handle)
            return ask(request, timeout)

        args = ["status", "--job", job["jobId"], "--json-only"]
        done = run_in_process(args, env=self.env, cwd=self.tmp, api_open=the_saving_run_claims_meanwhile)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(job["jobFile"]) as handle:
            self.assertEqual(json.load(handle)["tasks"][0]["file"], name)  # a resume finds that run's part again

    def test_another_jobs_part_file_is_never_taken_up(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.saved_job()  # its record names v/shot-1.mp4
        theirs = os.path.join(self.tmp, "v", ".shot-1.mp4.20261127T000000Z-000abcdef.part")
        with open(theirs, "wb") as handle:
            handle.write(b"another job's first half")  # that job now claims the name
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        path = self.document(done)["shots"][0]["file"]
        self.assertEqual(os.path.basename(path), "shot-1-2.mp4")
        self.assertEqual(sha256_of(path), video_sha256("%s.mp4" % job["shots"][0]["taskId"], self.fake.video_size))
        with open(theirs, "rb") as handle:
            self.assertEqual(handle.read(), b"another job's first half")

    def test_the_jobs_leftover_part_files_go_once_its_videos_are_saved(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        folder = os.path.join(self.tmp, "v")
        os.makedirs(folder)
        ours, theirs = (".shot-1-7.mp4.%s.part" % job["jobId"], ".x.mp4.20261127T000000Z-000abcdef.part")
        for name in (ours, theirs):  # what killed runs left: this job's, and another job's
            open(os.path.join(folder, name), "wb").close()
        done = self.run_cli("status", "--job", job["jobId"], "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(os.listdir(folder)), [theirs, "shot-1.mp4"])

    def test_a_record_naming_a_path_no_run_writes_is_no_crash(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.document(self.run_cli("submit", "--prompt", "fox", "--json-only"))
        for bad in ("x\\u0000y.mp4", "\\ud800.mp4"):  # as JSON escapes in the record's text
            with self.subTest(bad=bad):
                with open(job["jobFile"]) as handle:
                    text = handle.read()
                record = json.loads(text)
                record["tasks"][0]["file"] = "PLACEHOLDER"
                text = json.dumps(record).replace("PLACEHOLDER", os.path.join(self.tmp, "v", "") + bad)
                with open(job["jobFile"], "w") as handle:
                    handle.write(text)
                done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
                self.assertEqual(done.returncode, 0, done.stderr)

    def test_a_record_whose_job_id_this_program_never_makes_is_refused(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.saved_job()
        holiday = os.path.join(self.tmp, "v", "holiday.mp4.part")  # a browser's download, not this program's
        open(holiday, "wb").close()
        for job_id in ("mp4", "a\u0000b", "../x", "20261124T100000Z-a/b", "20261124T100000Z-", "20261124T100000Z-t.v2"):
            with self.subTest(job_id=job_id):
                with open(job["jobFile"]) as handle:
                    record = dict(json.load(handle), jobId=job_id)
                path = os.path.join(self.tmp, "crafted.json")
                with open(path, "w") as handle:
                    json.dump(record, handle)
                done = self.run_cli("status", "--job", path, "--follow", "--download", "v", "--json-only", *FAST)
                self.assertEqual(done.returncode, 2, done.stderr)
                self.assertIn("jobId is not one this program makes", self.document(done)["error"]["message"])
                self.assertIn("hint: follow the job by its tasks instead: status --task-ids-json", done.stderr)
        self.assertTrue(os.path.exists(holiday))

    def test_a_record_written_by_version_1_0_is_followed(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.saved_job()
        with open(job["jobFile"]) as handle:
            record = json.load(handle)
        os.unlink(job["jobFile"])
        old_id = "20261124T100000Z-" + record["tasks"][0]["taskId"]  # 1.0 named a job by its time and first task
        record.update(version=1, jobId=old_id)
        with open(os.path.join(os.path.dirname(job["jobFile"]), old_id + ".json"), "w") as handle:
            json.dump(record, handle)
        done = self.run_cli("status", "--last", "--follow", "--download", "v", "--json-only", *FAST)
        self.assertEqual(done.returncode, 0, done.stderr)
        result = self.document(done)
        self.assertEqual((result["jobId"], result["status"]), (old_id, "completed"))
        self.assertEqual(media_lines(done.stderr), [result["shots"][0]["file"]])

    def test_a_record_cannot_call_a_users_file_saved(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.saved_job()
        notes = os.path.join(self.tmp, "v", "notes.txt")
        with open(notes, "wb") as handle:
            handle.write(b"the user's notes")
        with open(job["jobFile"]) as handle:
            record = json.load(handle)
        record["tasks"][0].update(file=notes, size=16, sha256=sha256_of(notes))  # as if this job had saved it
        with open(job["jobFile"], "w") as handle:
            json.dump(record, handle)
        done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
        self.assertEqual(done.returncode, 0, done.stderr)
        saved = self.document(done)["shots"][0]["file"]
        self.assertEqual(os.path.basename(saved), "shot-1.mp4")
        self.assertEqual(media_lines(done.stderr), [saved])

    def test_a_record_cannot_aim_a_video_at_another_file(self) -> None:
        self.fake.polls_per_shot = 1
        job = self.saved_job()
        folder = os.path.join(self.tmp, "v")
        with open(os.path.join(folder, ".bashrc"), "w") as handle:
            handle.write("the user's own")
        theirs = ".shot-1.mp4.20261127T000000Z-000abcdef.part"
        for aimed in (".bashrc", theirs):
            with self.subTest(aimed=aimed):
                with open(job["jobFile"]) as handle:
                    record = json.load(handle)
                record["tasks"][0].update(file=os.path.join(folder, aimed), sha256=None, size=None)
                with open(job["jobFile"], "w") as handle:
                    json.dump(record, handle)
                done = self.run_cli("status", "--job", job["jobId"], "--download", "v", "--json-only")
                self.assertEqual(done.returncode, 0, done.stderr)
                self.assertTrue(os.path.basename(self.document(done)["shots"][0]["file"]).startswith("shot-1"))
                os.unlink(self.document(done)["shots"][0]["file"])
        with open(os.path.join(folder, ".bashrc")) as handle:
            self.assertEqual(handle.read(), "the user's own")
        self.assertFalse(os.path.exists(os.path.join(folder, theirs)))


class OneJobFile(EndToEnd):
    def test_three_runs_given_one_job_file_at_once_make_one_job(self) -> None:
        env = dict(os.environ, **self.env)
        for trial in range(3):
            path = os.path.join(self.tmp, "job-%d.json" % trial)
            command = [*CLI, "submit", "--prompt", "fox", "--json-only", "--job-file", path]
            runs = [
                subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(3)
            ]
            for run in runs:
                self.addCleanup(stop_process, run)
                run.communicate(timeout=60)
            self.assertEqual(sorted(run.returncode for run in runs), [0, 2, 2])
        self.assertEqual(len(self.fake.seen("generate")), 3)  # one job a trial, and each has its record
