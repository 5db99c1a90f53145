#!/usr/bin/env python3
"""Benchmarks with goals, each a ratio against a baseline measured in the same run.

    python3 tests/bench/run.py            # the full set (256 MiB videos), prints a Markdown table
    python3 tests/bench/run.py --quick    # smaller sizes, for CI: shows the benchmarks still run

Benchmarks are measurements, not tests: a missed goal is printed as such, and the exit
status is 0 unless a benchmark could not run at all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
SCRIPT = os.path.join(ROOT, "scripts", "veo_3_1.py")
sys.path.insert(0, TESTS)

from fake_nanophoto import FakeNanoPhoto  # noqa: E402

PY = sys.executable
PUBLISHED_IMPORTS = "import argparse, json, os, sys, time, urllib.error, urllib.request, typing"
Row = Tuple[str, str, str, str, str]  # what, figure, baseline, ratio, goal


def median_times(commands: Dict[str, Tuple[Sequence[str], Dict[str, str]]], runs: int) -> Dict[str, float]:
    """The median wall time of each command over `runs` rounds (after one warm-up round).

    The commands take turns within each round, so a change in the machine's load while
    measuring falls on the baseline and on what is compared with it alike.
    """
    times: Dict[str, List[float]] = {name: [] for name in commands}
    for attempt in range(runs + 1):
        for name, (command, env) in commands.items():
            started = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
            if attempt:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def clean_env(**extra: str) -> Dict[str, str]:
    """The environment without the user's NanoPhoto settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NANOPHOTO_", "VEO_3_1_", "OPENCLAW_"))}
    env.update(extra)
    return env


def bench_startup(quick: bool) -> List[Row]:
    """Whole processes, as SKILL.md runs the script, against one that only does the published script's imports."""
    runs = 7 if quick else 21
    env = clean_env()
    # The installed veo-3-1 imports the module, so Python compiles it once and keeps the bytecode.
    cached = tempfile.mkdtemp()
    shutil.copy(SCRIPT, cached)
    subprocess.run([PY, "-m", "compileall", "-q", cached], check=True)
    run_cached = "import sys; sys.path.insert(0, %r); import veo_3_1; sys.exit(veo_3_1.main())" % cached
    timings = median_times(
        {
            "imports": ([PY, "-S", "-c", PUBLISHED_IMPORTS], env),
            "help": ([PY, "-S", SCRIPT, "submit", "--help"], env),
            "dry": ([PY, "-S", SCRIPT, "submit", "--prompt", "x", "--dry-run", "--json-only"], env),
            # Where the time goes: the bare interpreter, compiling the file (a direct run does it every time;
            # Python caches bytecode only for imported modules), and the modules a dry run imports.
            "bare": ([PY, "-S", "-c", "pass"], env),
            "compiled": ([PY, "-S", "-c", "compile(open(%r, 'rb').read(), %r, 'exec')" % (SCRIPT, SCRIPT)], env),
            "modules": ([PY, "-S", "-c", "import argparse, json, dataclasses"], env),
            "cached": ([PY, "-S", "-c", run_cached, "submit", "--prompt", "x", "--dry-run", "--json-only"], env),
        },
        runs,
    )
    shutil.rmtree(cached)
    imports, bare = timings["imports"], timings["bare"]
    baseline = ms(imports) + ' (`python3 -S -c "import %s"`)' % PUBLISHED_IMPORTS[len("import ") :]
    rows = []
    for name, what in (
        ("help", "`python3 -S scripts/veo_3_1.py submit --help`"),
        ("dry", "`... submit --prompt x --dry-run --json-only`"),
    ):
        ratio = timings[name] / imports
        rows.append(
            (
                "start-up: %s, whole process" % what,
                ms(timings[name]),
                baseline,
                "%.2f" % ratio,
                "<= 1.00 " + verdict(ratio <= 1.0),
            )
        )
    dry = timings["dry"] - bare
    for name, what in (
        ("compiled", "compiling the 2,500-line file"),
        ("modules", "`import argparse, json, dataclasses`"),
    ):
        share = timings[name] - bare
        rows.append(
            (
                "start-up, where it goes: %s" % what,
                ms(share),
                ms(dry) + " (the dry run less the bare interpreter)",
                "%.2f" % (share / dry),
                "-",
            )
        )
    ratio = timings["cached"] / imports
    what = "start-up, where it goes: the same dry run from bytecode compiled before (as the installed veo-3-1 runs)"
    rows.append((what, ms(timings["cached"]), baseline, "%.2f" % ratio, "-"))
    rows.append(
        (
            "start-up, where it goes: the bare interpreter",
            ms(bare),
            ms(timings["dry"]) + " (the dry run)",
            "%.2f" % (bare / timings["dry"]),
            "-",
        )
    )
    return rows  # fmt: skip


def timed(action: Callable[[], object]) -> float:
    """Seconds one call takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return "%.1f ms" % (seconds * 1000)


def verdict(met: bool) -> str:
    return "(met)" if met else "(MISSED)"


def run_script(args: Sequence[str], fake: FakeNanoPhoto, state: str, cwd: str) -> Tuple[int, bytes, int]:
    """Run the script against the fake; (exit status, stdout, peak RSS in KiB)."""
    env = clean_env(NANOPHOTO_BASE_URL=fake.api_url, NANOPHOTO_API_KEY="bench", VEO_3_1_STATE_DIR=state)
    process = subprocess.Popen([PY, SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    out, _ = process.communicate()
    rss = 0
    try:
        import resource

        rss = int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    except ImportError:  # Windows
        pass
    return process.returncode, out, rss


SHOTS3 = json.dumps(
    [{"prompt": "shot %d" % n, "generationType": "TEXT_2_VIDEO", "aspectRatio": "16:9"} for n in range(3)]
)


def bench_agent_bytes(tmp: str) -> List[Row]:
    """stdout bytes for a 3-shot job of about 22 polls a shot, against every API answer printed in full."""
    rows: List[Row] = []
    for mode, extra, goal in (("NDJSON (default)", [], 6000), ("`--json-only`", ["--json-only"], 3000)):
        with FakeNanoPhoto(polls_per_shot=22) as fake:
            status, out, _ = run_script(
                ["submit", "--shots-json", SHOTS3, "--follow", "--poll-interval", "0.001", *extra],
                fake,
                os.path.join(tmp, "state"),
                tmp,
            )
            polls = len(fake.seen("check-status"))
            # The published script printed every answer in full, indented: that is the baseline.
            everything = sum(
                len(json.dumps(json.loads(body), indent=2)) for origin, _, body in fake.answers if origin == "api"
            )
        assert status == 0, status
        rows.append(
            (
                "agent bytes: stdout, 3 shots, %d polls, %s" % (polls, mode),
                "%d B" % len(out),
                "%d B (every answer, as published)" % everything,
                "%.3f" % (len(out) / everything),
                "<= %d B %s" % (goal, verdict(len(out) <= goal)),
            )
        )
    return rows


def bench_polling(tmp: str) -> List[Row]:
    """Requests for a job against what it needs: 1 submit + one request per round + retries."""
    polls_per_shot, retries = 5, 3
    with FakeNanoPhoto(polls_per_shot=polls_per_shot) as fake:
        fake.add_fault("check-status", "status", status=503, count=retries, headers={"Retry-After": "0"})
        status, _, _ = run_script(
            ["submit", "--shots-json", SHOTS3, "--follow", "--poll-interval", "0.001", "--json-only"],
            fake,
            os.path.join(tmp, "state"),
            tmp,
        )
        requests = len(fake.seen())
        batched = sum(len(r.json()["taskIds"]) == 3 for r in fake.seen("check-status"))
    assert status == 0, status
    # Shots run one after another: the job needs 3 x polls_per_shot rounds to finish.
    needed = 1 + 3 * polls_per_shot + retries
    return [
        (
            "polling: requests for a 3-shot job, 3 failures retried",
            "%d" % requests,
            "%d (1 submit + %d rounds + %d retries)" % (needed, 3 * polls_per_shot, retries),
            "%.2f" % (requests / needed),
            "<= 1.00 " + verdict(requests <= needed),
        ),
        (
            "polling: check-status requests naming all 3 tasks",
            "%d" % batched,
            "%d (all check-status requests)" % (requests - 1),
            "%.2f" % (batched / (requests - 1)),
            "-",
        ),
    ]


def bench_downloads(tmp: str, quick: bool) -> List[Row]:
    """Peak memory, speed against curl, and parallel saving."""
    big = (32 if quick else 256) * 1024 * 1024
    small = 1024 * 1024
    rows: List[Row] = []
    rss: Dict[int, int] = {}
    seconds: Dict[str, float] = {}
    with FakeNanoPhoto() as fake:
        for size in (small, big):
            task = fake.generate({"shots": [{"prompt": "p", "generationType": "TEXT_2_VIDEO"}]})[1]["shots"][0]
            fake.video_sizes["%s.mp4" % task["taskId"]] = size
            fake.jobs[fake.tasks[task["taskId"]].job_id].ticks = 99  # already complete
            tasks = json.dumps([{"shotId": "s", "taskId": task["taskId"]}])
            folder = tempfile.mkdtemp(dir=tmp)
            rss[size] = measure_rss(
                ["status", "--task-ids-json", tasks, "--download", folder, "--json-only"], fake, tmp
            )
            shutil.rmtree(folder)  # its dirty pages would slow whatever runs next
            if size == big:
                seconds.update(race_curl(fake.video_url(task["taskId"]), tasks, fake, tmp, 3 if quick else 11))
    label = "%d MiB" % (big // 1024 // 1024)
    ratio = rss[big] / rss[small]
    rows.append(
        (
            "downloads: peak RSS saving one %s video" % label,
            "%.1f MiB" % (rss[big] / 1024),
            "%.1f MiB (a 1 MiB video)" % (rss[small] / 1024),
            "%.2f" % ratio,
            "<= 1.25 " + verdict(ratio <= 1.25),
        )
    )
    if "curl" in seconds:
        ratio = seconds["ours"] / seconds["curl"]
        rows.append(
            (
                "downloads: the whole `status --last --download DIR` command for one %s video" % label,
                "%.2f s" % seconds["ours"],
                "%.2f s (`curl -o` on the same URL)" % seconds["curl"],
                "%.2f" % ratio,
                "<= 1.20 " + verdict(ratio <= 1.2),
            )
        )
        rows.append(
            (
                "downloads, where it goes: the save itself, as the program times it",
                "%.2f s" % seconds["saving"],
                "%.2f s (`curl -o` on the same URL)" % seconds["curl"],
                "%.2f" % (seconds["saving"] / seconds["curl"]),
                "-",
            )
        )
    rows.append(bench_parallel(tmp))
    return rows


def race_curl(url: str, tasks: str, fake: FakeNanoPhoto, tmp: str, runs: int) -> Dict[str, float]:
    """Median seconds to save the video: our whole `status --last --download DIR` command against `curl -o`.

    The commands take turns, and each output is deleted at once, so neither pays for the other's dirty pages.
    """
    curl = shutil.which("curl")
    if not curl:
        return {}
    ours: List[float] = []
    saving: List[float] = []
    theirs: List[float] = []
    env = clean_env(
        NANOPHOTO_BASE_URL=fake.api_url, NANOPHOTO_API_KEY="bench", VEO_3_1_STATE_DIR=os.path.join(tmp, "race")
    )
    # The job's record, so that `status --last` finds it (the service answered once: no video saved yet).
    subprocess.run(
        [PY, "-S", SCRIPT, "status", "--task-ids-json", tasks, "--json-only"], env=env, capture_output=True, check=True
    )
    sync = getattr(os, "sync", lambda: None)  # each run starts with nothing left to write back
    for _ in range(runs):
        sync()
        folder = tempfile.mkdtemp(dir=tmp)
        started = time.perf_counter()
        done = subprocess.run(
            [PY, "-S", SCRIPT, "status", "--last", "--download", folder, "--json-only"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        ours.append(time.perf_counter() - started)
        # "saved s: PATH (268.4 MB in 0.31 s)": the save itself, as the program reports it
        saving.append(float(done.stderr.split(" MB in ", 1)[1].split(" s)", 1)[0]))
        shutil.rmtree(folder)
        target = os.path.join(tmp, "curl.mp4")
        sync()
        theirs.append(timed(lambda target=target: subprocess.run([curl, "-s", "-o", target, url], check=True)))
        os.unlink(target)
    return {"ours": statistics.median(ours), "saving": statistics.median(saving), "curl": statistics.median(theirs)}


def measure_rss(args: Sequence[str], fake: FakeNanoPhoto, tmp: str) -> int:
    """Peak RSS (KiB) of one run, in a fresh child so RUSAGE_CHILDREN is its own."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
        "stderr=subprocess.DEVNULL, check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    env = clean_env(
        NANOPHOTO_BASE_URL=fake.api_url, NANOPHOTO_API_KEY="bench", VEO_3_1_STATE_DIR=os.path.join(tmp, "state-rss")
    )
    out = subprocess.run([PY, "-c", code, PY, SCRIPT, *args], capture_output=True, text=True, env=env, check=True)
    return int(out.stdout.strip())


def bench_parallel(tmp: str) -> Row:
    """8 videos at 1 s latency each: 4 at once against one at a time."""
    timings: Dict[int, float] = {}
    for workers in (1, 4):
        with FakeNanoPhoto(polls_per_shot=1, video_latency=1.0, combined=False) as fake:
            shots = json.dumps(
                [{"prompt": "p%d" % n, "generationType": "TEXT_2_VIDEO", "aspectRatio": "16:9"} for n in range(8)]
            )
            answer = fake.generate({"shots": json.loads(shots)})[1]
            for task in fake.jobs.values():
                task.ticks = 99
            tasks = json.dumps([{"shotId": s["shotId"], "taskId": s["taskId"]} for s in answer["shots"]])
            folder = tempfile.mkdtemp(dir=tmp)
            args = [
                "status",
                "--task-ids-json",
                tasks,
                "--download",
                folder,
                "--download-workers",
                str(workers),
                "--json-only",
            ]
            # A state folder each: the fake's task ids repeat, and a record of the same tasks keeps its service.
            state = os.path.join(tmp, "s3-%d" % workers)
            codes: List[int] = []
            timings[workers] = timed(
                lambda args=args, fake=fake, state=state, codes=codes: codes.append(
                    run_script(args, fake, state, tmp)[0]
                )
            )
            if codes != [0]:  # a run that failed measured nothing
                raise RuntimeError("the %d-worker run exited %s" % (workers, codes))
    ratio = timings[4] / timings[1]
    return (
        "downloads: 8 videos at 1 s latency, 4 at once",
        "%.2f s" % timings[4],
        "%.2f s (one at a time)" % timings[1],
        "%.2f" % ratio,
        "< 0.50 " + verdict(ratio < 0.5),
    )


def bench_suite() -> List[Row]:
    """The README's test command, as a newcomer runs it."""
    started = time.perf_counter()
    done = subprocess.run(
        [PY, "-m", "unittest", "discover", "-s", "tests"], cwd=ROOT, capture_output=True, text=True, env=clean_env()
    )
    took = time.perf_counter() - started
    ran = done.stderr.rsplit("Ran ", 1)[-1].split(" ", 1)[0] if "Ran " in done.stderr else "?"
    status = "%s tests, %s" % (ran, "OK" if done.returncode == 0 else "FAILED")
    if done.returncode:
        sys.stderr.write(done.stderr[-20000:])  # what failed, for whoever reads the table
    return [
        (
            "tests: `python3 -m unittest discover -s tests`",
            "%.1f s" % took,
            status,
            "-",
            "<= 20 s " + verdict(took <= 20 and done.returncode == 0),
        )
    ]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer runs (CI)")
    parser.add_argument("--startup", action="store_true", help="only the start-up rows (to compare Pythons)")
    parser.add_argument("--no-suite", action="store_true", help="leave out timing the test suite")
    args = parser.parse_args(argv)
    rows: List[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows += bench_startup(args.quick)
        if not args.startup:
            rows += bench_agent_bytes(tmp)
            rows += bench_polling(tmp)
            rows += bench_downloads(tmp, args.quick)
            rows += [] if args.quick or args.no_suite else bench_suite()
    print(
        "Machine: %s, %s %s, %d cores, Python %s%s"
        % (
            platform.machine(),
            platform.system(),
            platform.release(),
            os.cpu_count() or 0,
            platform.python_version(),
            " (--quick)" if args.quick else "",
        )
    )
    print()
    print("| benchmark | figure | baseline (same run) | ratio | goal |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| %s |" % " | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
