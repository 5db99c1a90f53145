"""Every validation rule of the spec: all problems at once, the shot named, exit 2, nothing sent."""

from __future__ import annotations

import json
import unittest

from helpers import SHOT, MachineTest, concurrently, shots_json, veo

load_tests = concurrently  # side by side with the whole-program tests (helpers.ConcurrentSuite)


def problems_of(raw: object, resolution: str = "720p") -> list:
    """The problems validate_shots reports for raw shots."""
    try:
        veo.validate_shots(raw, resolution)
    except veo.VeoError as err:
        assert err.code == "INVALID_SHOTS" and err.exit_status == 2
        return err.details
    return []


class ShotRules(unittest.TestCase):
    def test_a_good_shot_passes_and_gets_an_id(self) -> None:
        shots, warnings = veo.validate_shots([dict(SHOT)], "720p")
        self.assertEqual(shots[0].id, "shot-1")
        self.assertEqual(warnings, [])
        self.assertEqual(shots[0].to_api()["prompt"], "a red fox in snow")

    def test_an_object_with_a_shots_key_is_accepted(self) -> None:
        shots, _ = veo.validate_shots({"shots": [dict(SHOT)]}, "720p")
        self.assertEqual(len(shots), 1)

    def test_shots_must_be_an_array(self) -> None:
        self.assertIn("shots must be a JSON array of shot objects, got a string", problems_of("nope"))

    def test_one_to_twenty_one_shots(self) -> None:
        self.assertIn("at least 1 shot is needed, got 0", problems_of([]))
        many = [dict(SHOT, id="s%d" % n) for n in range(22)]
        self.assertIn("at most 21 shots per job, got 22", problems_of(many))
        self.assertEqual(problems_of([dict(SHOT, id="s%d" % n) for n in range(21)]), [])

    def test_each_shot_must_be_an_object(self) -> None:
        self.assertEqual(problems_of([1]), ["shots[0]: each shot must be an object, got a number"])

    def test_ids_unique_and_missing_ids_numbered(self) -> None:
        found = problems_of([dict(SHOT, id="a"), dict(SHOT, id="a")])
        self.assertEqual(found, ['shots[1] (a): id "a" is used by shots[0] too; ids must be unique'])
        # a missing id becomes shot-N, which may clash with a given one
        found = problems_of([dict(SHOT), dict(SHOT, id="shot-1")])
        self.assertEqual(len(found), 1)
        self.assertIn("ids must be unique", found[0])

    def test_id_must_be_a_printable_string(self) -> None:
        self.assertIn("shots[0]: id must be a non-blank string, got 7", problems_of([dict(SHOT, id=7)]))
        self.assertIn("shots[0]: id must be at most 200 printable characters", problems_of([dict(SHOT, id="a\x00b")]))

    def test_json_given_is_strict_no_number_a_float_cannot_hold(self) -> None:
        for number in ("NaN", "-Infinity", "1e400", "1" + "0" * 400, "-" + "9" * 309):
            with self.subTest(number=number[:12]), self.assertRaises(veo.VeoError) as caught:
                veo.load_user_json('[{"seed": %s}]' % number, "--shots-json", "")
            self.assertIn("is not a finite number", caught.exception.message)
            self.assertLess(len(caught.exception.message), 120)  # a number of 400 digits is not repeated whole
        self.assertEqual(
            veo.load_user_json('{"a": 12, "b": -0, "c": 1.5, "d": 1e308}', "", ""),
            {"a": 12, "b": 0, "c": 1.5, "d": 1e308},
        )
        self.assertIsInstance(veo.load_user_json("[12]", "", "")[0], int)  # a whole number stays one

    def test_prompt_is_a_non_blank_string(self) -> None:
        self.assertEqual(
            problems_of([dict(SHOT, prompt="  ")]), ['shots[0] (shot-1): prompt must be a non-blank string, got "  "']
        )
        self.assertEqual(
            problems_of([dict(SHOT, prompt=None)]), ["shots[0] (shot-1): prompt must be a non-blank string, got null"]
        )
        self.assertEqual(problems_of([dict(SHOT, prompt="a\x00b")]), ["shots[0] (shot-1): prompt contains a NUL byte"])
        for unseen in ("\u200b \u2060\ufeff", "\x01\x7f\x85", "\u3000\u00a0\U000e0020", " \u2060" * 200):
            with self.subTest(prompt=unseen[:8]):  # characters shown as nothing, or not printable: blank too
                problems = problems_of([dict(SHOT, prompt=unseen)])
                self.assertEqual(len(problems), 1)
                self.assertIn("prompt must be a non-blank string", problems[0])

    def test_generation_type_and_aspect_ratio_from_their_sets(self) -> None:
        found = problems_of([dict(SHOT, generationType="IMAGE", aspectRatio="4:3")])
        self.assertIn(
            'generationType must be one of TEXT_2_VIDEO, FIRST_AND_LAST_FRAMES_2_VIDEO, REFERENCE_2_VIDEO, got "IMAGE"',
            found[0],
        )
        self.assertIn('aspectRatio must be one of 16:9, 9:16, got "4:3"', found[1])

    def test_image_counts_by_type(self) -> None:
        url = "https://example.com/a.jpg"
        self.assertEqual(
            problems_of([dict(SHOT, imageUrls=[url])]), ["shots[0] (shot-1): TEXT_2_VIDEO takes no imageUrls, got 1"]
        )
        ref = dict(SHOT, id="shot-3", generationType="REFERENCE_2_VIDEO")
        self.assertEqual(problems_of([ref]), ["shots[0] (shot-3): REFERENCE_2_VIDEO takes 1-3 imageUrls, got 0"])
        self.assertEqual(problems_of([dict(ref, imageUrls=[url] * 3)]), [])
        self.assertIn("got 4", problems_of([dict(ref, imageUrls=[url] * 4)])[0])
        frames = dict(SHOT, generationType="FIRST_AND_LAST_FRAMES_2_VIDEO")
        self.assertEqual(problems_of([dict(frames, imageUrls=[url, url])]), [])
        self.assertIn("takes 1-2 imageUrls, got 3", problems_of([dict(frames, imageUrls=[url] * 3)])[0])

    def test_image_urls_must_be_public_http(self) -> None:
        ref = dict(SHOT, generationType="REFERENCE_2_VIDEO")
        cases = {
            "/home/me/cat.jpg": "local path",
            "C:\\cat.jpg": "local path",
            "file:///tmp/cat.jpg": "local path",
            "data:image/png;base64,AAAA": "data: URI",
            "ftp://example.com/a.jpg": "not an http(s) URL",
            "http://localhost/a.jpg": "points at this machine",
            "http://127.0.0.1/a.jpg": "points at this machine",
            "http://[::1]/a.jpg": "points at this machine",
            "http://10.0.0.5/a.jpg": "private address",
            "http://192.168.1.2/a.jpg": "private address",
            "http://169.254.169.254/latest": "link-local",
            "http://printer.local/a.jpg": "local host",
            "http://intranet/a.jpg": "local host",
            "https://exa mple.com/a.jpg": "spaces",
            "~/cat.jpg": "local path",
            "example.com/cat.jpg": "has no https:// in front",
            "https://example.com:99999/a.jpg": "not a valid URL",  # no port past 65535
            "https://a..example.com/a.jpg": "not a valid host name",
            "https://%s.example.com/a.jpg" % ("a" * 64): "not a valid host name",
        }
        for url, words in cases.items():
            with self.subTest(url=url):
                found = problems_of([dict(ref, imageUrls=[url])])
                self.assertEqual(len(found), 1, found)
                self.assertIn(words, found[0])
                self.assertTrue(found[0].startswith("shots[0] (shot-1): imageUrls[0] "))
        self.assertIn("must be a string URL, got a number", problems_of([dict(ref, imageUrls=[5])])[0])
        self.assertIn("imageUrls must be an array of URLs, got a string", problems_of([dict(ref, imageUrls="x")])[0])
        self.assertEqual(problems_of([dict(ref, imageUrls=["https://8.8.8.8/a.jpg"])]), [])
        # Names as DNS carries them: ASCII, an underscore too; one in another script in its xn-- form.
        for url in ("https://xn--bcher-kva.de/käfer.jpg", "https://old_bucket.s3.amazonaws.com/a.jpg"):
            self.assertEqual(problems_of([dict(ref, imageUrls=[url, "https://xn--bcher-kva.de:8443/a.jpg"])]), [])
        self.assertIn(
            "(one in another script goes in its xn-- form)",
            problems_of([dict(ref, imageUrls=["https://b\u00fccher.de/a.jpg"])])[0],
        )
        # Forms a resolver maps to a private or local host are no public name (full-width digits and dots, ...).
        for host in (
            "10.0.0\uff0e1",
            "\uff11\uff12\uff17.0.0.1",
            "\u2460\u2461\u2466.0.0.1",
            "169.254.169\u3002254",
            "x.\uff4c\uff4f\uff43\uff41\uff4c",
            "127.0.0.1\ufe0f",
        ):
            with self.subTest(host=host):
                self.assertEqual(len(problems_of([dict(ref, imageUrls=["https://%s/a.jpg" % host])])), 1)
        long_name = "https://%s.com/a.jpg" % ("\u4e2d" * 30000)  # no name: said at once, not after minutes of punycode
        self.assertIn("not a valid host name", problems_of([dict(ref, imageUrls=[long_name])])[0])

    def test_high_resolutions_for_one_shot_only(self) -> None:
        two = [dict(SHOT, id="a"), dict(SHOT, id="b")]
        for resolution in ("1080p", "4k"):
            self.assertIn(
                "%s is for single-shot jobs only, got 2 shots; use 720p or one shot" % resolution,
                problems_of(two, resolution),
            )
            self.assertEqual(problems_of([dict(SHOT)], resolution), [])
        self.assertEqual(problems_of(two, "720p"), [])

    def test_a_misspelt_required_key_is_named(self) -> None:
        raw = dict(SHOT)
        raw["aspect_ratio"] = raw.pop("aspectRatio")
        found = problems_of([raw])
        self.assertEqual(
            found, ['shots[0] (shot-1): aspectRatio is missing; did you mean aspectRatio instead of "aspect_ratio"?']
        )
        raw = dict(SHOT)
        raw["promt"] = raw.pop("prompt")
        self.assertIn('did you mean prompt instead of "promt"', problems_of([raw])[0])

    def test_an_unknown_key_is_passed_on_with_a_warning(self) -> None:
        shots, warnings = veo.validate_shots([dict(SHOT, seed=42, imageUrl="x")], "720p")
        self.assertEqual(shots[0].to_api()["seed"], 42)
        self.assertIn('shots[0] (shot-1): unknown key "seed" is passed on as it is', warnings)
        self.assertIn("did you mean imageUrls?", warnings[1])

    def test_a_failing_shot_still_names_its_unknown_keys(self) -> None:
        raw = dict(SHOT, shotId="intro")
        del raw["prompt"]
        with self.assertRaises(veo.VeoError) as caught:
            veo.validate_shots([raw], "720p")
        self.assertEqual(caught.exception.details, ["shots[0] (shot-1): prompt is missing"])
        self.assertIn('unknown key "shotId" is passed on as it is (did you mean id?)', caught.exception.hint)

    def test_every_problem_is_reported_at_once(self) -> None:
        raw = [dict(SHOT, prompt=""), "x", dict(SHOT, aspectRatio="1:1", generationType="REFERENCE_2_VIDEO")]
        found = problems_of(raw, "4k")
        self.assertEqual(len(found), 5, found)
        self.assertTrue(any(p.startswith("shots[2] (shot-3)") for p in found))

    def test_hostile_input_never_raises_anything_but_veoerror(self) -> None:
        hostile = [
            None,
            1e308,
            -1,
            True,
            {},
            {"shots": 5},
            [[]],
            [{"prompt": {"a": 1}}],
            ["\x00"] * 30,
            [dict(SHOT, imageUrls=[None, 1, {}, []], generationType="REFERENCE_2_VIDEO", id=[])],
            [dict(SHOT, **{"\x00": 1, "": None})],
            [dict(SHOT, prompt="x" * 100000)],
        ]
        for raw in hostile:
            with self.subTest(raw=str(raw)[:40]):
                try:
                    veo.validate_shots(raw, "720p")
                except veo.VeoError as err:
                    self.assertEqual(err.exit_status, 2)

    def test_thousands_of_unknown_keys_are_passed_on_and_twenty_named(self) -> None:
        shot = dict(SHOT, **{"extra%d" % n: n for n in range(5000)})
        shots, warnings = veo.validate_shots([shot], "720p")
        self.assertEqual(len(shots[0].to_api()), 4 + 5000)
        self.assertEqual(len(warnings), 21)
        self.assertIn("4980 more unknown keys are passed on as they are", warnings[0])


class SubmitRefusesBadShots(MachineTest):
    def test_download_on_submit_needs_follow_and_nothing_is_sent(self) -> None:
        machine = self.machine()
        self.assertEqual(machine.run("submit", "--prompt", "fox", "--download", "v", "--json-only"), 2)
        self.assertIn("--download on submit needs --follow", machine.document()["error"]["message"])
        self.assertIn("hint: add --follow", machine.err())
        self.assertEqual(machine.opener.requests, [])
        self.assertEqual(machine.again().run("submit", "--prompt", "fox", "--download", "v", "--dry-run"), 0)

    def test_bad_shots_exit_2_with_details_and_nothing_sent(self) -> None:
        machine = self.machine()
        bad = json.dumps([dict(SHOT, generationType="REFERENCE_2_VIDEO", id="shot-3")])
        self.assertEqual(machine.run("submit", "--shots-json", bad, "--json-only"), 2)
        document = machine.document()
        self.assertEqual(document["error"]["code"], "INVALID_SHOTS")
        self.assertEqual(
            document["error"]["details"], ["shots[0] (shot-3): REFERENCE_2_VIDEO takes 1-3 imageUrls, got 0"]
        )
        self.assertEqual(machine.opener.requests, [])
        self.assertIn("error: shots[0] (shot-3): REFERENCE_2_VIDEO takes 1-3 imageUrls, got 0", machine.err())
        self.assertIn("hint: ", machine.err())

    def test_hostile_json_texts(self) -> None:
        texts = [
            "",
            "[",
            "nul",
            "9" * 5000,
            "[" * 100000,
            '{"shots": [' + ",".join(['{"prompt": 1}'] * 22) + "]}",
            '[{"prompt": "\\u0000"}]',
            "1e999999",
            '"\\ud800"',
        ]
        for text in texts:
            with self.subTest(text=text[:20]):
                machine = self.machine()
                status = machine.run("submit", "--shots-json", text, "--json-only")
                self.assertEqual(status, 2)
                self.assertIn(machine.document()["error"]["code"], ("INVALID_ARGUMENTS", "INVALID_SHOTS"))
                self.assertEqual(machine.opener.requests, [])

    def test_exactly_one_source(self) -> None:
        machine = self.machine()
        self.assertEqual(machine.run("submit", "--prompt", "x", "--shots-json", shots_json(), "--json-only"), 2)
        self.assertIn(
            "argument --shots-json: not allowed with argument --prompt", machine.document()["error"]["message"]
        )
        machine = self.machine()
        self.assertEqual(machine.run("submit", "--json-only"), 2)
        self.assertIn(
            "one of the arguments --shots-json --shots-file --prompt is required",
            machine.document()["error"]["message"],
        )
        machine = self.machine()
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--aspect-ratio", "9:16"), 2)
        self.assertIn("--aspect-ratio only goes with --prompt", machine.err())

    def test_max_credits_refuses_before_sending(self) -> None:
        machine = self.machine()
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(3), "--max-credits", "20", "--json-only"), 2)
        self.assertIn("30 credits, over --max-credits 20", machine.document()["error"]["message"])
        self.assertEqual(machine.opener.requests, [])

    def test_bad_numbers_are_usage_errors(self) -> None:
        for flag, value in (
            ("--poll-interval", "0"),
            ("--max-wait", "-1"),
            ("--timeout", "nan"),
            ("--timeout", "inf"),
            ("--max-retries", "-1"),
            ("--max-retries", "1.5"),
            ("--poll-interval", "1e400"),
        ):
            with self.subTest(flag=flag, value=value):
                machine = self.machine()
                self.assertEqual(machine.run("submit", "--prompt", "x", flag, value, "--json-only"), 2)
                self.assertEqual(machine.document()["error"]["code"], "INVALID_ARGUMENTS")


if __name__ == "__main__":
    unittest.main()
