"""The API key: --api-key, then NANOPHOTO_API_KEY, then OpenClaw's config; exit 3 naming all three."""

from __future__ import annotations

import json
import os

from helpers import MachineTest, concurrently, generated, shots_json

load_tests = concurrently  # side by side with the whole-program tests (helpers.ConcurrentSuite)


class KeyOrder(MachineTest):
    def write_config(self, machine, text: str, where: str = "") -> str:  # type: ignore[no-untyped-def]
        path = where or os.path.join(machine.home, ".openclaw", "openclaw.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def sent_key(self, machine) -> str:  # type: ignore[no-untyped-def]
        return machine.opener.requests[0].unredirected_hdrs["Authorization"]

    def submit(self, machine, *extra: str) -> int:  # type: ignore[no-untyped-def]
        return machine.run("submit", "--shots-json", shots_json(), "--json-only", *extra)

    def test_flag_beats_environment_and_warns(self) -> None:
        machine = self.machine(generated("t1"))
        self.assertEqual(self.submit(machine, "--api-key", "flag-key-123"), 0)
        self.assertEqual(self.sent_key(machine), "Bearer flag-key-123")
        self.assertIn("--api-key is visible to other users", machine.err())
        self.assertIn("NANOPHOTO_API_KEY", machine.err())
        self.assertNotIn("flag-key-123", machine.out() + machine.err())

    def test_environment_beats_config(self) -> None:
        machine = self.machine(generated("t1"))
        self.write_config(machine, '{"skills": {"entries": {"veo-3-1": {"apiKey": "config-key"}}}}')
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer sk-test-1234567890")
        self.assertNotIn("warning", machine.err())

    def test_config_env_entry_then_api_key(self) -> None:
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        self.write_config(
            machine,
            json.dumps(
                {
                    "skills": {
                        "entries": {"veo-3-1": {"env": {"NANOPHOTO_API_KEY": "env-entry"}, "apiKey": "api-key-entry"}}
                    }
                }
            ),
        )
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer env-entry")
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        self.write_config(machine, json.dumps({"skills": {"entries": {"veo-3-1": {"apiKey": "api-key-entry"}}}}))
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer api-key-entry")

    def test_config_value_naming_an_environment_variable(self) -> None:
        # OpenClaw reads ${VAR} in its config's strings from the environment.
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": "", "MY_NANO_KEY": "sk-from-the-env"})
        self.write_config(machine, json.dumps({"skills": {"entries": {"veo-3-1": {"apiKey": "${MY_NANO_KEY}"}}}}))
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer sk-from-the-env")
        cases = [("${UNSET_ONE}", "api-key-entry"), ("sk-live-${UNSET_ONE}", "api-key-entry")]  # part of it: no key
        cases += [("sk-${MY_NANO_KEY}", "sk-sk-env"), ("$${MY_NANO_KEY}", "${MY_NANO_KEY}")]
        for value, sent in cases:
            with self.subTest(value=value):  # an unset one is no key: the next place is read; $$ keeps it as it is
                machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": "", "MY_NANO_KEY": "sk-env"})
                entry = {"env": {"NANOPHOTO_API_KEY": value}, "apiKey": "api-key-entry"}
                self.write_config(machine, json.dumps({"skills": {"entries": {"veo-3-1": entry}}}))
                self.assertEqual(self.submit(machine), 0)
                self.assertEqual(self.sent_key(machine), "Bearer " + sent)

    def test_a_config_value_the_key_cannot_be_is_refused_not_passed_over(self) -> None:
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        entry = {"env": {"NANOPHOTO_API_KEY": "sk-first-1111\u0000"}, "apiKey": "sk-another-account"}
        self.write_config(machine, json.dumps({"skills": {"entries": {"veo-3-1": entry}}}))
        self.assertEqual(self.submit(machine), 3)  # the first place that gives a key wins, even a broken one
        self.assertEqual(machine.opener.requests, [])

    def test_config_with_comments_and_trailing_commas(self) -> None:
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        self.write_config(
            machine,
            """// OpenClaw config
{
  /* skills */ "skills": {
    "entries": {
      "veo-3-1": { "apiKey": "json5-key", "note": "a // is no comment, nor /* this */,", }, // the video skill
    },
  }, /* end of skills */
}
""",
        )
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer json5-key")

    def test_config_with_bare_keys_as_openclaw_s_docs_write_it(self) -> None:
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        config = """{
  skills: {
    allowBundled: ["gemini", "peekaboo"],
    entries: {
      "veo-3-1": { enabled: true, apiKey: "bare-keys", env: { NANOPHOTO_API_KEY: "", $note: "a: b, c:", }, },
      peekaboo: { enabled: true, note: "key: value" },
    },
  },
}"""
        self.write_config(machine, config)
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer bare-keys")
        self.assertNotIn("warning", machine.err())

    def test_openclaw_config_path_and_home(self) -> None:
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        path = self.write_config(
            machine,
            '{"skills":{"entries":{"veo-3-1":{"apiKey":"path-key"}}}}',
            os.path.join(machine.home, "elsewhere.json"),
        )
        machine.environ["OPENCLAW_CONFIG_PATH"] = path
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer path-key")
        machine = self.machine(generated("t1"), environ={"NANOPHOTO_API_KEY": ""})
        home = os.path.join(machine.home, "claw-home")
        self.write_config(
            machine,
            '{"skills":{"entries":{"veo-3-1":{"apiKey":"home-key"}}}}',
            os.path.join(home, ".openclaw", "openclaw.json"),
        )
        machine.environ["OPENCLAW_HOME"] = home
        self.assertEqual(self.submit(machine), 0)
        self.assertEqual(self.sent_key(machine), "Bearer home-key")

    def test_broken_configs_are_named_in_a_warning(self) -> None:
        bad = {
            "broken json": "{skills: [",
            "binary": "\udcff\x00\x01",
            "deep": "[" * 200000,
            "wrong types": '{"skills": {"entries": {"veo-3-1": {"apiKey": 5, "env": []}}}}',
            "list": "[1, 2]",
            "single quotes": "{skills: {entries: {'veo-3-1': {apiKey: 'k'}}}}",  # JSON5, but not read here
            "an array for the skill": '{"skills": {"entries": {"veo-3-1": [1, "k"]}}}',
            "text for env": '{"skills": {"entries": {"veo-3-1": {"env": "NANOPHOTO_API_KEY=k"}}}}',
        }
        for name, text in bad.items():
            with self.subTest(name=name):
                machine = self.machine(environ={"NANOPHOTO_API_KEY": ""})
                path = os.path.join(machine.home, ".openclaw", "openclaw.json")
                os.makedirs(os.path.dirname(path))
                with open(path, "wb") as handle:
                    handle.write(text.encode("utf-8", "surrogateescape"))
                self.assertEqual(self.submit(machine), 3)
                if name not in ("wrong types", "list", "an array for the skill", "text for env"):
                    self.assertIn("warning: the OpenClaw config %s" % path, machine.err())
                self.assertEqual(machine.document()["error"]["code"], "MISSING_API_KEY")

    def test_huge_config_is_skipped(self) -> None:
        machine = self.machine(environ={"NANOPHOTO_API_KEY": ""})
        path = os.path.join(machine.home, ".openclaw", "openclaw.json")
        os.makedirs(os.path.dirname(path))
        with open(path, "w") as handle:
            handle.write(" " * (2 * 1024 * 1024))
        self.assertEqual(self.submit(machine), 3)
        self.assertIn("was skipped (it is over 1 MiB)", machine.err())

    def test_no_key_exits_3_naming_all_three_ways(self) -> None:
        machine = self.machine(environ={"NANOPHOTO_API_KEY": ""})
        self.assertEqual(self.submit(machine), 3)
        err = machine.err()
        self.assertIn("error: no NanoPhoto API key was found", err)
        for way in ("export NANOPHOTO_API_KEY=", "openclaw config set skills.entries.veo-3-1.apiKey", "--api-key"):
            self.assertIn(way, err)
        self.assertEqual(machine.opener.requests, [])

    def test_dry_run_needs_no_key(self) -> None:
        machine = self.machine(environ={"NANOPHOTO_API_KEY": ""})
        self.assertEqual(machine.run("submit", "--shots-json", shots_json(), "--dry-run", "--json-only"), 0)
        self.assertEqual(machine.document()["request"]["headers"]["Authorization"], "Bearer ***")
