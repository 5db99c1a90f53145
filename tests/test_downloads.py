"""Saving videos: safe names, streaming, atomic rename, Content-Length, Range resume, skip, redirects, no key."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import unittest
from typing import Any, List, Optional
from unittest import mock

from fake_nanophoto import FakeNanoPhoto, video_sha256
from helpers import veo

# Not side by side with the others: a process they start keeps, until it runs its program, a copy of each open
# file, and with it the lock of a part file a test has just closed (so the next save takes another name).

JOB = "20261127T000000Z-000abcdef"  # the job whose part files these are
PART = ".shot.mp4.%s.part" % JOB


class SafeNames(unittest.TestCase):
    def test_names_are_safe_on_every_os(self) -> None:
        cases = [
            "../../etc/passwd",
            "a/b\\c",
            ".hidden",
            "..",
            "CON",
            "nul.txt",
            "com1",
            "LPT9",
            "a:b*c?d",
            "x" * 500,
            "",
            " ",
            "shot 1",
            "ünï",
        ]
        for name in cases:
            with self.subTest(name=name):
                stem = veo.safe_file_stem(name)
                self.assertTrue(stem)
                self.assertLessEqual(len(stem), 100)
                self.assertNotIn("/", stem)
                self.assertNotIn("\\", stem)
                self.assertFalse(stem.startswith("."))
                self.assertNotIn("..", stem)
                self.assertNotIn(stem.split(".")[0].upper(), veo.WINDOWS_RESERVED)
                self.assertTrue(set(stem) <= veo.SAFE_NAME_CHARS)
        self.assertEqual(veo.safe_file_stem("shot-1"), "shot-1")

    def test_two_shots_never_share_a_file(self) -> None:
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for shot_id in ["a/b", "a_b", "A_B", "a?b", "Shot", "shot", "shot"]:
                path, handle = veo.claim_file(folder, veo.safe_file_stem(shot_id), ".mp4", JOB, None, lambda path: None)
                assert handle is not None
                handle.close()
                paths.append(path)
            self.assertEqual(len(set(paths)), len(paths))
            self.assertEqual(os.path.basename(paths[-1]), "shot-2.mp4")  # the same id again: the next free name

    @unittest.skipIf(os.name == "nt", "flock is POSIX's")
    def test_a_disk_without_locks_still_gets_its_video_under_the_first_name(self) -> None:
        import errno
        import fcntl

        def no_locks(descriptor: int, operation: int) -> None:  # NFS without its lock daemon
            raise OSError(errno.ENOLCK, "No locks available")

        with tempfile.TemporaryDirectory() as folder, mock.patch.object(fcntl, "flock", no_locks):
            recorded: List[str] = []
            path, handle = veo.claim_file(folder, "shot-1", ".mp4", JOB, None, recorded.append)
            assert handle is not None
            handle.close()
            expected = ("shot-1.mp4", [path], [".shot-1.mp4.%s.part" % JOB])
            self.assertEqual((os.path.basename(path), recorded, os.listdir(folder)), expected)  # not 9,999 tries
            # A part that is also a video the user moved away (a run stopped after naming it) is never written to.
            kept = os.path.join(folder, "kept.mp4")
            with open(kept, "wb") as video:
                video.write(b"a whole video")
            part = os.path.join(folder, ".shot-1.mp4.%s.part" % JOB)
            os.unlink(part)
            os.link(kept, part)
            self.assertIsNone(veo.open_part(part, reuse=True))
            with open(kept, "rb") as video:
                self.assertEqual(video.read(), b"a whole video")

    def test_extension_from_the_url(self) -> None:
        self.assertEqual(veo.video_extension("https://c/v/a.webm?sig=x.mp4"), ".webm")
        self.assertEqual(veo.video_extension("https://c/v/a.MOV"), ".mov")
        self.assertEqual(veo.video_extension("https://c/v/a.exe"), ".mp4")
        self.assertEqual(veo.video_extension(None), ".mp4")


class SaveVideo(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeNanoPhoto(video_size=300_000).start()
        self.addCleanup(self.fake.stop)
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def save(self, name: str = "t1", opener=None, claimed=None, video=None, **kwargs):  # type: ignore[no-untyped-def]
        video = video or veo.Video(self.fake.video_url(name))  # the record's, across runs: its ETag too
        path, handle = veo.claim_file(self.dir, "shot", ".mp4", JOB, claimed, lambda path: None)
        assert handle is not None
        kwargs.setdefault("local", True)  # the fake's links are on this machine, as its API is
        fetcher = veo.Fetcher(opener or veo.urlopen_for("download"), 5, "test", sleep=lambda s: None, **kwargs)
        return fetcher.save(video, path, veo.part_name(path, JOB), handle, "shot", ".mp4")

    def recorded(self, saved: Any) -> Any:
        """What the run does once the record says a video is saved: its part file goes, and the name is the video's."""
        os.unlink(saved.part)
        return saved

    def test_saves_whole_with_sha256(self) -> None:
        saved = self.save()
        self.assertEqual(saved.size, 300_000)
        self.assertEqual(saved.sha256, video_sha256("t1.mp4", 300_000))
        self.assertEqual(os.path.getsize(saved.path), 300_000)
        # The part file stays, the same file under a second name, until the job record says the video is saved.
        self.assertTrue(os.path.samefile(saved.part, saved.path))
        self.assertNotIn("Authorization", self.fake.seen(origin="cdn")[0].headers)

    def test_a_cut_download_is_resumed_with_range(self) -> None:
        self.fake.add_fault("video", "cut")
        saved = self.save()
        self.assertEqual(saved.sha256, video_sha256("t1.mp4", 300_000))
        second = self.fake.seen(origin="cdn")[1]
        self.assertEqual(second.headers["Range"], "bytes=150000-")
        self.assertTrue(second.headers["If-Range"].startswith('"'))

    def test_a_skewed_206_restarts_the_file(self) -> None:
        sizes = []

        def opener(request, timeout):  # type: ignore[no-untyped-def]
            response = veo.urlopen_for("download")(request, timeout)
            if request.get_header("Range"):
                response.headers.replace_header("Content-Range", "bytes 5-299999/300000")
            sizes.append(request.get_header("Range"))
            return response

        self.fake.add_fault("video", "cut")
        saved = self.save(opener=opener)
        self.assertEqual(saved.sha256, video_sha256("t1.mp4", 300_000))
        self.assertEqual(sizes, [None, "bytes=150000-", None])

    def test_a_length_in_digits_int_cannot_read_is_no_crash(self) -> None:
        def opener(request, timeout):  # type: ignore[no-untyped-def]
            response = veo.urlopen_for("download")(request, timeout)
            response.headers.replace_header("Content-Length", "\u00b2")  # a superscript 2: a digit, not a number
            return response

        self.assertEqual(self.save(opener=opener).sha256, video_sha256("t1.mp4", 300_000))

    def test_a_body_cut_before_its_first_byte_is_tried_again(self) -> None:
        calls = []

        def opener(request, timeout):  # type: ignore[no-untyped-def]
            response = veo.urlopen_for("download")(request, timeout)
            calls.append(request.get_header("Range"))
            if len(calls) == 1:
                response.read1 = lambda size=-1: b""  # the connection closed after the headers
            return response

        self.assertEqual(self.save(opener=opener).sha256, video_sha256("t1.mp4", 300_000))
        self.assertEqual(len(calls), 2)

    def test_bounded_tries_then_an_error_and_the_part_kept_for_the_next_run(self) -> None:
        self.fake.add_fault("video", "cut", count=4)
        video = veo.Video(self.fake.video_url("t1"))
        with self.assertRaises(veo.VeoError) as caught:
            self.save(video=video)
        self.assertEqual(caught.exception.exit_status, 7)
        self.assertIn("stopped at", caught.exception.message)
        self.assertEqual(os.listdir(self.dir), [PART])  # no partial file under the final name
        # The next run takes the claimed name up again and fetches only the rest, if the video is still that one.
        saved = self.save(claimed=os.path.join(self.dir, "shot.mp4"), video=video)
        self.assertEqual(
            (saved.path, saved.sha256), (os.path.join(self.dir, "shot.mp4"), video_sha256("t1.mp4", 300_000))
        )
        headers = self.fake.seen(origin="cdn")[-1].headers
        self.assertTrue(headers["Range"].startswith("bytes=") and headers["If-Range"] == video.validator)
        self.assertEqual(sorted(os.listdir(self.dir)), [PART, "shot.mp4"])  # one file, two names

    def test_a_recorded_validator_http_cannot_carry_is_no_validator(self) -> None:
        job = veo.Job(JOB, "https://nanophoto.ai", "720p", "2026-11-27T00:00:00Z", [veo.Task("shot-1", "t1")])
        for odd in ('"abc"\r\nX-Evil: 1', "\u20ac", "", '"fine"'):
            job.tasks[0].video.validator = odd
            found = veo.job_from_record(json.loads(veo.dump_json(veo.job_to_record(job))), "job.json")
            self.assertEqual(found.tasks[0].video.validator, '"fine"' if odd == '"fine"' else None)  # else from byte 0

    def test_a_video_changed_between_runs_is_fetched_whole_not_joined_to_the_old_part(self) -> None:
        self.fake.add_fault("video", "cut", count=4)
        video = veo.Video(self.fake.video_url("t1"))
        with self.assertRaises(veo.VeoError):
            self.save(video=video)
        self.fake.video_sizes["t1.mp4"] = 200_000  # the link now gives another video (another ETag)
        begun = video.validator
        saved = self.save(claimed=os.path.join(self.dir, "shot.mp4"), video=video)
        self.assertEqual((saved.size, saved.sha256), (200_000, video_sha256("t1.mp4", 200_000)))
        asked = self.fake.seen(origin="cdn")[-1].headers
        self.assertTrue(asked["Range"] and begun and asked["If-Range"] == begun != video.validator)
        # A part whose video is not known (no ETag recorded: the record could not say) starts again from byte 0.
        os.unlink(saved.part)
        os.unlink(saved.path)
        with open(os.path.join(self.dir, PART), "wb") as handle:
            handle.write(b"\x00\x00\x00\x18ftypmp42 and then some other video's bytes")
        saved = self.save(claimed=os.path.join(self.dir, "shot.mp4"))
        self.assertEqual(saved.sha256, video_sha256("t1.mp4", 200_000))
        self.assertNotIn("Range", self.fake.seen(origin="cdn")[-1].headers)

    def test_an_expired_link_is_not_retried(self) -> None:
        self.fake.add_fault("video", "status", status=403)
        with self.assertRaises(veo.VeoError) as caught:
            self.save()
        self.assertIn("HTTP 403", caught.exception.message)
        self.assertNotIn("X-Signature", caught.exception.message)
        self.assertEqual(len(self.fake.seen(origin="cdn")), 1)

    def test_a_file_already_there_is_never_replaced(self) -> None:
        mine = os.path.join(self.dir, "shot.mp4")
        with open(mine, "wb") as handle:
            handle.write(b"the user's own video")
        saved = self.save()
        self.assertEqual(saved.path, os.path.join(self.dir, "shot-2.mp4"))
        with open(mine, "rb") as handle:
            self.assertEqual(handle.read(), b"the user's own video")
        video = veo.Video(file=saved.path, size=saved.size, sha256=saved.sha256)
        self.assertTrue(veo.saved_here(video, self.dir, "shot", ".mp4"))  # what the record says this job saved
        self.assertFalse(veo.saved_here(veo.Video(file=mine, size=20, sha256=saved.sha256), self.dir, "shot", ".mp4"))

    def test_a_name_claimed_meanwhile_is_not_replaced_either(self) -> None:
        def opener(request, timeout):  # type: ignore[no-untyped-def]
            with open(os.path.join(self.dir, "shot.mp4"), "wb") as handle:  # someone takes the name mid-download
                handle.write(b"theirs")
            return veo.urlopen_for("download")(request, timeout)

        saved = self.save(opener=opener)
        self.assertEqual(saved.path, os.path.join(self.dir, "shot-2.mp4"))
        self.assertEqual(os.path.getsize(os.path.join(self.dir, "shot.mp4")), 6)

    def test_redirects_followed_only_to_https_or_loopback(self) -> None:
        self.fake.add_fault("video", "redirect", status=302, headers={"Location": self.fake.video_url("t1")})
        self.assertEqual(self.recorded(self.save()).size, 300_000)
        self.fake.add_fault("video", "redirect", status=302, headers={"Location": "http://example.com/x.mp4"})
        with self.assertRaises(veo.VeoError) as caught:
            self.save("t2")
        self.assertIn("not an https:// URL to a public host; it was not followed", caught.exception.message)

    def test_five_redirects_at_most(self) -> None:
        for hops, saved in ((5, True), (6, False)):
            with self.subTest(hops=hops):
                for hop in range(hops):  # each to another URL: not a loop, a chain
                    self.fake.add_fault(
                        "video",
                        "redirect",
                        status=302,
                        headers={"Location": self.fake.video_url("t3") + "&hop=%d" % hop},
                    )
                if saved:
                    self.assertEqual(self.recorded(self.save("t3")).size, 300_000)
                else:
                    with self.assertRaises(veo.VeoError) as caught:
                        self.save("t3")
                    self.assertIn("more than 5 times", caught.exception.message)
                    self.fake.faults["video"].clear()

    def test_a_cancelled_download_keeps_its_part_for_a_range_resume(self) -> None:
        asked: List[int] = []
        with self.assertRaises(veo.VeoError):  # stopped after the first chunk
            self.save(cancelled=lambda: bool(asked.append(1)) or len(asked) > 1)
        self.assertEqual(os.listdir(self.dir), [PART])
        self.assertGreater(os.path.getsize(os.path.join(self.dir, PART)), 0)
        with self.assertRaises(veo.VeoError):  # stopped before a byte came: nothing to resume, no part left
            self.save("t2", cancelled=lambda: True, claimed=os.path.join(self.dir, "shot-2.mp4"))
        self.assertEqual(os.listdir(self.dir), [PART])

    def test_a_full_disk_is_a_clear_error_not_a_retry(self) -> None:
        class FullDisk(io.BytesIO):
            def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
                raise OSError(28, "No space left on device")

        part = veo.PartialFile(FullDisk())
        response = veo.urlopen_for("download")(
            __import__("urllib.request").request.Request(self.fake.video_url("t1")), 5
        )
        with response, self.assertRaises(veo.VeoError) as caught:
            veo.copy_body(response, part, lambda: False)
        self.assertIn("could not be written to disk (No space left on device)", caught.exception.message)

    def test_only_a_part_holding_bytes_is_cut_back(self) -> None:
        # On ext4, closing a file truncated to nothing writes all of it to disk there and then (auto_da_alloc):
        # 0.1 s more for a 256 MiB video, at every save, had a new, empty part file been truncated.
        cuts: List[Optional[int]] = []

        class Watched(io.BytesIO):
            def truncate(self, size: Optional[int] = None) -> int:
                cuts.append(size)
                return super().truncate(size)

        part = veo.PartialFile(Watched())
        part.restart()  # a 200 answer to a new part
        self.assertEqual(cuts, [])
        part.write(b"v" * 10)
        part.restart()  # a 200 answer after a cut: the bytes are thrown away
        self.assertEqual((cuts, part.have, part.handle.getvalue()), ([0], 0, b""))
        self.assertEqual(part.digest.hexdigest(), hashlib.sha256(b"").hexdigest())

    def test_download_dir_that_is_a_file(self) -> None:
        path = os.path.join(self.dir, "f")
        open(path, "w").close()
        with self.assertRaises(veo.VeoError) as caught:
            veo.prepare_download_dir(path)
        self.assertEqual(caught.exception.exit_status, 2)
        self.assertTrue(os.path.isdir(veo.prepare_download_dir(os.path.join(self.dir, "new", "deep"))))

    def test_a_disk_that_takes_part_of_each_write_gets_every_byte_or_says_it_is_full(self) -> None:
        class Stingy(io.BytesIO):
            room = 10**9

            def write(self, data) -> int:  # type: ignore[no-untyped-def,override]
                if self.tell() >= self.room:
                    raise OSError(28, "No space left on device")
                return super().write(bytes(data[: min(1000, self.room - self.tell())]))

        part = veo.PartialFile(Stingy())
        part.write(b"v" * 5000)  # five writes, each taking 1000 bytes
        self.assertEqual((part.have, part.handle.getvalue()), (5000, b"v" * 5000))
        full = Stingy()
        full.room = 3000
        with self.assertRaises(OSError):  # never a video recorded as whole that the disk cut short
            veo.PartialFile(full).write(b"v" * 5000)


class VideoLinkRule(unittest.TestCase):
    def test_https_to_a_public_host_and_this_machine_only_for_a_local_api(self) -> None:
        fetched = [
            ("https://cdn.example.com/v.mp4", False),
            ("http://127.0.0.1:8787/v.mp4", True),
            ("https://localhost/v.mp4", True),
        ]
        refused = [
            ("http://127.0.0.1:8787/v.mp4", False),  # a remote service cannot make the program fetch from this machine
            ("https://localhost/v.mp4", False),
            ("https://169.254.169.254/latest/v.mp4", False),
            ("https://10.1.2.3/v.mp4", True),
            ("https://intranet/v.mp4", False),
            ("https://printer.local/v.mp4", False),
            ("http://cdn.example.com/v.mp4", True),
            ("ftp://cdn.example.com/v.mp4", False),
            ("https://0x7f.1/v.mp4", True),  # this machine, as the OS reads a short hex form
            ("https://0177.0.0.1/v.mp4", False),
            ("https://10.1/v.mp4", False),  # 10.0.0.1
            ("https://100.64.0.1/v.mp4", False),  # shared address space: not public either
            ("https://[::ffff:127.0.0.1]/v.mp4", False),
            ("https://[::127.0.0.1]/v.mp4", False),  # the old IPv4-compatible form
            ("https://[2002:7f00:1::]/v.mp4", False),  # 6to4 of 127.0.0.1
            ("https://[fec0::1]/v.mp4", False),  # site-local
        ]
        for url, local in fetched:
            self.assertIsNone(veo.video_link_problem(url, local), (url, local))
        for url, local in refused:
            self.assertIn("it was not fetched", veo.video_link_problem(url, local) or "", (url, local))
