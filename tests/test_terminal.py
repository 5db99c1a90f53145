"""What a person sees in a real pseudo-terminal: the live block redrawn in place, colour, NO_COLOR, the table."""

from __future__ import annotations

import os
import re
import select
import struct
import subprocess
import unittest
from typing import Dict, List, Optional, Tuple

from fake_nanophoto import FakeNanoPhoto
from helpers import CLI, concurrently, stop_process
from test_e2e import KEY

CSI = re.compile(r"\x1b\[(\d*)([A-Za-z])")

load_tests = concurrently  # whole-program tests, run side by side (helpers.ConcurrentSuite)


def screen_of(data: str) -> List[str]:
    """Replay what the program wrote (the few control sequences it uses) into the lines left on screen."""
    lines: List[str] = [""]
    row = 0
    position = 0
    while position < len(data):
        match = CSI.match(data, position)
        if match:
            count, command = int(match.group(1) or 1), match.group(2)
            if command == "A":
                row = max(0, row - count)
            elif command == "J":
                del lines[row + 1 :]
                lines[row] = ""
            position = match.end()
            continue
        char = data[position]
        position += 1
        if char == "\n":
            row += 1
            if row == len(lines):
                lines.append("")
        elif char == "\r":
            lines[row] = ""  # the program always rewrites a line whole after \r
        else:
            lines[row] += char
    return [line for line in lines if line]


@unittest.skipUnless(hasattr(os, "openpty"), "needs a pseudo-terminal")
class Terminal(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeNanoPhoto(key=KEY).start()
        self.addCleanup(self.fake.stop)
        import shutil
        import tempfile

        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)

    def run_in_pty(
        self, *args: str, env: Optional[Dict[str, str]] = None, stdout_tty: bool = True, columns: int = 80
    ) -> Tuple[int, str, str]:  # type: ignore[assignment]
        """Run the script with stderr (and stdout) on a pseudo-terminal; return (status, terminal, piped stdout)."""
        import fcntl  # POSIX only, as openpty is
        import termios

        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOPHOTO_", "VEO_3_1_"))}
        full_env.pop("NO_COLOR", None)
        full_env.update(
            {
                "NANOPHOTO_BASE_URL": self.fake.api_url,
                "NANOPHOTO_API_KEY": KEY,
                "TERM": "xterm",
                "VEO_3_1_STATE_DIR": os.path.join(self.tmp, "state"),
            }
        )
        full_env.update(env or {})
        process = subprocess.Popen(
            [*CLI, *list(args)],
            stdin=subprocess.DEVNULL,
            stdout=slave if stdout_tty else subprocess.PIPE,
            stderr=slave,
            env=full_env,
            cwd=self.tmp,
        )
        self.addCleanup(stop_process, process)
        os.close(slave)
        chunks: List[bytes] = []
        while True:
            ready, _, _ = select.select([master], [], [], 30)
            if not ready:
                process.kill()
                self.fail("no output for 30 s")
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        piped = ""
        if process.stdout:
            piped = process.stdout.read().decode()
            process.stdout.close()
        status = process.wait(timeout=30)
        os.close(master)
        terminal = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
        self.assertNotIn("Traceback", terminal)
        return status, terminal, piped

    def shots(self) -> str:
        return (
            '[{"prompt":"a fox","generationType":"TEXT_2_VIDEO","aspectRatio":"16:9"},'
            '{"prompt":"bad [fail]","generationType":"TEXT_2_VIDEO","aspectRatio":"16:9"}]'
        )

    def test_a_block_wider_than_the_terminal_becomes_a_line_per_change(self) -> None:
        # Lines that wrap (or a block taller than the screen) cannot be redrawn in place: copies would pile up.
        args = ["submit", "--shots-json", self.shots(), "--follow", "--poll-interval", "0.3"]
        status, terminal, _ = self.run_in_pty(*args, columns=40)
        self.assertEqual(status, 1)
        self.assertNotRegex(terminal, r"\x1b\[\d+A")  # the cursor never went back up
        self.assertRegex(terminal, r"\] shot-1: done")
        self.assertRegex(terminal, r"\] shot-2: failed")

    def test_live_block_redrawn_in_place_with_colour_and_a_table(self) -> None:
        status, terminal, _ = self.run_in_pty(
            "submit", "--shots-json", self.shots(), "--follow", "--poll-interval", "0.3", "--download", "v"
        )
        self.assertEqual(status, 1)
        self.assertIn("\x1b[32mdone   \x1b[0m", terminal)  # green
        self.assertIn("\x1b[31mfailed \x1b[0m", terminal)  # red
        self.assertRegex(terminal, r"\x1b\[3A\r\x1b\[J")  # the 3-line block is redrawn in place
        screen = screen_of(terminal)
        blocks = [line for line in screen if line.startswith("job ") and "done" in line and "elapsed" in line]
        self.assertEqual(len(blocks), 1, screen)  # one status block left, not one per poll
        self.assertIn("1/2 done", blocks[0])
        text = "\n".join(screen)
        self.assertRegex(text, r"  shot-1  done     \d+s")
        self.assertRegex(text, r"  shot-2  failed   \d+s  the prompt was refused")
        self.assertIn("MEDIA:%s" % os.path.join(os.path.realpath(self.tmp), "v", "shot-1.mp4"), text)
        # stdout on the terminal: a table, not NDJSON
        self.assertNotIn('{"stage"', text)
        self.assertRegex(text, r"SHOT +STATUS +TIME +FILE OR URL")
        self.assertRegex(text, r"shot-1 +completed +\d+s +/\S+/v/shot-1.mp4")

    def test_no_color_gives_plain_lines(self) -> None:
        status, terminal, _ = self.run_in_pty(
            "submit", "--shots-json", self.shots(), "--follow", "--poll-interval", "0.1", env={"NO_COLOR": "1"}
        )
        self.assertEqual(status, 1)
        self.assertNotIn("\x1b[", terminal)
        self.assertRegex(terminal, r"\[\d+s\] shot-1: done in \d+s\n")
        self.assertRegex(terminal, r"\[\d+s\] shot-2: failed in \d+s: the prompt was refused")

    def test_quiet_shows_only_errors_and_media(self) -> None:
        status, terminal, _ = self.run_in_pty(
            "submit",
            "--prompt",
            "fox",
            "--follow",
            "--poll-interval",
            "0.1",
            "--download",
            "v",
            "--quiet",
            "--json-only",
        )
        self.assertEqual(status, 0)
        lines = terminal.strip().splitlines()
        self.assertTrue(lines[0].startswith("MEDIA:"), lines)
        self.assertTrue(lines[-1].startswith('{"status":"completed"'), lines)  # --json-only stays JSON
        self.assertEqual(len(lines), 2, lines)

    def test_piped_stdout_stays_json(self) -> None:
        status, terminal, piped = self.run_in_pty(
            "submit", "--prompt", "fox", "--follow", "--poll-interval", "0.1", stdout_tty=False
        )
        self.assertEqual(status, 0)
        self.assertTrue(all(line.startswith('{"stage":') for line in piped.splitlines()), piped)
        self.assertIn("1/1 done", terminal)

    def test_help_fits_the_terminal_or_columns(self) -> None:
        narrow = self.run_in_pty("submit", "--help", columns=60, env={"COLUMNS": ""})[1]
        wide = self.run_in_pty("submit", "--help", columns=200, env={"COLUMNS": ""})[1]
        self.assertIn("poll until every shot is completed or failed", wide)
        self.assertNotIn("poll until every shot is completed or failed", narrow)  # wrapped to fit
        # Piped, $COLUMNS decides (as with any argparse program).
        self.assertEqual(self.run_in_pty("submit", "--help", stdout_tty=False, env={"COLUMNS": "60"})[2], narrow)
        for odd in ("\u00b2", "wide", "-5"):  # a $COLUMNS that is no width is passed over, never a traceback
            self.assertIn("poll until", self.run_in_pty("submit", "--help", stdout_tty=False, env={"COLUMNS": odd})[2])

    def test_errors_read_error_then_hint(self) -> None:
        status, terminal, _ = self.run_in_pty("submit", "--prompt", "fox", env={"NANOPHOTO_API_KEY": ""})
        self.assertEqual(status, 3)
        self.assertRegex(terminal, r"error: no NanoPhoto API key was found\nhint: give one of: export")
        self.fake.polls_per_shot = 1000
        status, terminal, _ = self.run_in_pty(
            "submit", "--prompt", "fox", "--follow", "--poll-interval", "0.1", "--max-wait", "0.3"
        )
        self.assertEqual(status, 6)
        self.assertRegex(terminal, r"error: --max-wait ran out.*\nresume with: python3 \S+ status --job \S+ --follow")


if __name__ == "__main__":
    unittest.main()
