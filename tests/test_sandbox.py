"""The sandbox against hostile code: every case contained, the host unharmed, a clear result.

Each case runs once per isolation: `bubblewrap` (skipped where it cannot run,
except under `CI=true`, where it must) and the `subprocess` fallback. Where
the fallback cannot promise something (no network isolation, host files
visible), the case says so in its skip reason instead of asserting it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

import pytest

from core.errors import InvalidInput
from tools import sandbox
from tools.sandbox import (
    FILE_SIZE_LIMIT_BYTES,
    OUTPUT_LIMIT_BYTES,
    PROCESS_LIMIT,
    SandboxInfo,
    SandboxResult,
    SandboxUnavailable,
    run_python,
    sandbox_info,
)

NO_NETWORK = "the subprocess fallback has no network isolation"


@pytest.fixture(params=["bubblewrap", "subprocess"])
def isolation(request: pytest.FixtureRequest) -> str:
    """Each isolation this machine can run; CI must be able to run bubblewrap."""
    if request.param == "bubblewrap":
        try:
            sandbox_info("bubblewrap")
        except SandboxUnavailable as exc:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must have a working bubblewrap: {exc}")
            pytest.skip(str(exc))
    return request.param


@pytest.fixture
def info(isolation: str) -> SandboxInfo:
    return sandbox_info(isolation)  # type: ignore[arg-type]


def run(code: str, isolation: str, **options: object) -> SandboxResult:
    options.setdefault("timeout_s", 5)
    return run_python(code, isolation=isolation, **options)  # type: ignore[arg-type]


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line holds `marker` (the check that nothing survived)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def host_still_fine() -> None:
    started = time.monotonic()
    assert subprocess.run(["true"], timeout=10).returncode == 0
    assert time.monotonic() - started < 5


# --- plain runs --------------------------------------------------------------------------


def test_output_exit_code_and_isolation_are_reported(isolation):
    result = run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)", isolation)
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert result.isolation == isolation and not result.timed_out
    assert result.stopped_because is None and not result.ok
    assert 0 < result.duration_s < 5


def test_files_lie_beside_main_py_and_the_directory_is_removed(isolation, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    files = {"helper.py": "VALUE = 41\n", "data/input.txt": "hello"}
    code = "import helper\nprint(helper.VALUE + 1, open('data/input.txt').read())"
    result = run(code, isolation, files=files)
    assert result.ok and result.stdout == "42 hello\n"
    assert list(tmp_path.iterdir()) == []


def test_stdin_is_fed_then_closed(isolation):
    result = run(
        "print(input().upper())\ntry:\n    input()\nexcept EOFError:\n    print('eof')",
        isolation,
        stdin="hi\n",
    )
    assert result.stdout == "HI\neof\n"


@pytest.mark.parametrize("name", ["../escape.py", "/etc/evil.py", "main.py", "a/../../b.py", ""])
def test_file_names_outside_the_sandbox_are_refused(name):
    with pytest.raises(InvalidInput):
        run_python("pass", files={name: "x"})


def test_bad_limits_are_refused():
    with pytest.raises(InvalidInput):
        run_python("pass", timeout_s=0)
    with pytest.raises(InvalidInput):
        run_python("pass", memory_mb=1)


def test_syntax_error_is_reported_on_stderr(isolation):
    result = run("def f(:\n    pass", isolation)
    assert result.exit_code == 1 and "SyntaxError" in result.stderr
    assert "main.py" in result.stderr and result.stopped_because is None


def test_deep_recursion_is_a_recursion_error(isolation):
    result = run("def f(n):\n    return f(n + 1)\nf(0)", isolation)
    assert result.exit_code == 1
    assert result.stderr.rstrip().endswith("RecursionError: maximum recursion depth exceeded")


def test_a_crash_of_the_interpreter_is_a_clear_signal(isolation):
    result = run("import ctypes\nctypes.string_at(0)", isolation)
    assert result.exit_code == -11
    assert result.stopped_because == "killed by signal 11 (SIGSEGV)"


def test_ordinary_threads_and_processes_fit_the_limits(isolation):
    code = (
        "import multiprocessing, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "def square(x):\n"
        "    time.sleep(0.05)\n"
        "    return x * x\n"
        "if __name__ == '__main__':\n"
        "    with ThreadPoolExecutor(32) as pool:\n"
        "        print(sum(pool.map(square, range(32))))\n"
        "    with multiprocessing.Pool(2) as pool:\n"
        "        print(sum(pool.map(square, range(8))))\n"
    )
    result = run(code, isolation, timeout_s=10)
    assert result.ok, result.stderr
    assert result.stdout == "10416\n140\n"


def test_concurrent_runs_do_not_mix(isolation):
    results: dict[int, SandboxResult] = {}

    def one(i: int) -> None:
        results[i] = run(f"print({i} * 2)", isolation)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {i: r.stdout for i, r in results.items()} == {i: f"{i * 2}\n" for i in range(4)}


# --- hostile code ------------------------------------------------------------------------


def test_infinite_loop_times_out(isolation):
    result = run("while True:\n    pass", isolation, timeout_s=1)
    assert result.timed_out and result.stopped_because == "timeout"
    assert result.exit_code is None and not result.ok
    assert 1 <= result.duration_s < 4


def test_fork_bomb_is_contained_and_the_host_still_forks(isolation, info):
    if info.process_limit is None:
        pytest.skip(
            "no process limit holds here (root without a private uid): not risking the host"
        )
    marker = f"mull-bomb-{uuid.uuid4().hex}"
    code = (
        "import os, sys\n"
        f"if {marker!r} not in sys.argv:\n"
        f"    os.execv(sys.executable, [sys.executable, '-I', 'main.py', {marker!r}])\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    result = run(code, isolation, timeout_s=2)
    assert result.timed_out and result.stopped_because == "timeout"
    assert processes_with(marker) == []
    host_still_fine()


def test_process_limit_holds(isolation, info):
    if info.process_limit is None:
        pytest.skip("no process limit holds here (root without a private uid)")
    code = (
        "import os, time\n"
        "made = 0\n"
        "for _ in range(500):\n"
        "    try:\n"
        "        pid = os.fork()\n"
        "    except OSError:\n"
        "        break\n"
        "    if pid == 0:\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "    made += 1\n"
        "print(made)\n"
    )
    result = run(code, isolation)
    assert result.ok, result.stderr
    made = int(result.stdout)
    if info.private_user or isolation == "bubblewrap":
        assert 0 < made < PROCESS_LIMIT
    else:
        # Counted among all of the user's processes, which come and go meanwhile.
        assert 0 < made < 2 * PROCESS_LIMIT
    host_still_fine()


def test_allocating_10_gb_hits_the_memory_limit(isolation):
    result = run("block = bytearray(10 * 1024**3)", isolation, memory_mb=256)
    assert result.exit_code == 1 and "MemoryError" in result.stderr
    assert result.stopped_because == "memory limit"
    assert result.duration_s < 4


def test_writing_5_gb_hits_the_file_size_limit(isolation):
    code = (
        "import os\n"
        "chunk = b'x' * 1024**2\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(5 * 1024):\n"
        "            f.write(chunk)\n"
        "finally:\n"
        "    print(os.path.getsize('big'))\n"
    )
    result = run(code, isolation)
    assert result.exit_code == 1 and "File too large" in result.stderr
    assert result.stopped_because == "file size limit"
    assert int(result.stdout) <= FILE_SIZE_LIMIT_BYTES


def test_printing_100_mb_is_capped(isolation):
    code = (
        "import sys\nline = 'x' * 999 + '\\n'\nfor _ in range(100_000):\n    sys.stdout.write(line)"
    )
    result = run(code, isolation)
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout.encode()) == OUTPUT_LIMIT_BYTES
    assert result.stopped_because == "output limit" and result.exit_code is None
    assert result.duration_s < 4


def test_flooding_stderr_is_capped_too(isolation):
    code = "import os\nwhile True:\n    os.write(2, b'e' * 65536)"
    result = run(code, isolation)
    assert result.stderr_truncated and result.stopped_because == "output limit"
    assert len(result.stderr) == OUTPUT_LIMIT_BYTES


@pytest.mark.parametrize("ending", ["exits", "times out"])
def test_background_processes_do_not_outlive_the_run(isolation, ending):
    marker = f"mull-daemon-{uuid.uuid4().hex}"
    code = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.closerange(0, 256)\n"
        "        os.execv(sys.executable, [sys.executable, '-c',\n"
        '            \'import time; open("alive", "w").close(); time.sleep(60)\', '
        f"{marker!r}])\n"
        "    os._exit(0)\n"
        "for _ in range(300):\n"
        "    if os.path.exists('alive'):\n"
        "        break\n"
        "    time.sleep(0.01)\n"
        "print('daemon started', flush=True)\n"
        + ("while True:\n    pass\n" if ending == "times out" else "")
    )
    result = run(code, isolation, timeout_s=2 if ending == "times out" else 5)
    assert result.stdout == "daemon started\n"
    assert result.timed_out is (ending == "times out")
    assert processes_with(marker) == []


def test_the_host_environment_is_not_passed_on(isolation, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-planted")
    monkeypatch.setenv("MULL_OPENAI_API_KEY", "sk-planted")
    monkeypatch.setenv("HOME", str(tmp_path))
    code = "import json, os\nprint(json.dumps({'env': dict(os.environ), 'home': os.path.expanduser('~')}))"
    seen = json.loads(run(code, isolation).stdout)
    assert "sk-planted" not in json.dumps(seen["env"])
    assert "OPENAI_API_KEY" not in seen["env"] and seen["home"] != str(tmp_path)
    assert set(seen["env"]) <= {
        *("PATH", "HOME", "TMPDIR", "LANG", "USER", "LOGNAME", "PWD", "PYTHONDONTWRITEBYTECODE"),
        *("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_ARENA_MAX"),
        "MULL_SANDBOX_RUN",
    }


def test_host_processes_are_out_of_reach(isolation, info):
    if info.host_writable:
        pytest.skip(f"the {isolation} isolation runs the code as mull's user: {info.note}")
    code = (
        "import os\n"
        "for attempt in (lambda: os.kill(PID, 0), lambda: open(f'/proc/{PID}/environ').read()):\n"
        "    try:\n"
        "        attempt()\n"
        "        print('reached')\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    ).replace("PID", str(os.getpid()))
    seen = run(code, isolation).stdout.split()
    assert seen and "reached" not in seen, seen


def test_host_secrets_are_out_of_sight(isolation, info, monkeypatch, tmp_path):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("PLANTED PRIVATE KEY")
    monkeypatch.setenv("HOME", str(home))
    code = (
        "import json, os\n"
        "def read(path):\n"
        "    try:\n"
        "        return open(os.path.expanduser(path)).read()\n"
        "    except OSError as exc:\n"
        "        return type(exc).__name__\n"
        f"paths = ['~/.ssh/id_rsa', {str(key)!r}, '/etc/shadow', '/root/.ssh/id_rsa']\n"
        "seen = {p: read(p) for p in paths}\n"
        "try:\n"
        "    seen['/root'] = sorted(os.listdir('/root'))\n"
        "except OSError:\n"
        "    seen['/root'] = []\n"
        "seen['/home'] = os.path.exists('/home')\n"
        "print(json.dumps(seen))\n"
    )
    seen = json.loads(run(code, isolation).stdout)
    assert "PLANTED" not in seen["~/.ssh/id_rsa"]  # ~ is the sandbox's own directory
    if not info.host_files_hidden:
        pytest.skip(f"the {isolation} isolation does not hide host files: {info.note}")
    assert "PLANTED" not in seen[str(key)]
    assert seen["/etc/shadow"] in ("FileNotFoundError", "PermissionError")
    assert seen["/root/.ssh/id_rsa"] in ("FileNotFoundError", "PermissionError")
    assert seen["/home"] is False
    # Only what leads to the interpreter may show in /root (pyenv lives there).
    needed = {sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)}
    for entry in seen["/root"]:
        assert any(path.startswith(f"/root/{entry}/") for path in needed), entry


def test_writing_outside_the_sandbox_fails_and_the_host_is_unchanged(isolation, info, tmp_path):
    if info.host_writable:
        pytest.skip(f"the {isolation} isolation lets the code write as mull's user: {info.note}")
    target = tmp_path / "host.txt"
    target.write_text("original")
    site = Path(sys.prefix, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}")
    planted = site / "site-packages" / f"mull_sandbox_probe_{uuid.uuid4().hex}.pth"
    attempts = [str(target), str(planted), "/etc/mull-sandbox-probe", "/usr/mull-sandbox-probe"]
    code = (
        "import json\n"
        "out = {}\n"
        f"for path in {attempts!r}:\n"
        "    try:\n"
        "        with open(path, 'w') as f:\n"
        "            f.write('pwned')\n"
        "        out[path] = 'written'\n"
        "    except OSError as exc:\n"
        "        out[path] = type(exc).__name__\n"
        "print(json.dumps(out))\n"
    )
    try:
        outcome = json.loads(run(code, isolation).stdout)
        assert target.read_text() == "original"
        assert not planted.exists()
        assert not Path("/etc/mull-sandbox-probe").exists()
        assert not Path("/usr/mull-sandbox-probe").exists()
        # The first is under /tmp, which bubblewrap gives the code a private one of.
        for path in attempts[1:]:
            assert outcome[path] != "written", path
    finally:
        planted.unlink(missing_ok=True)


def test_no_connection_to_the_hosts_loopback(isolation, info):
    if not info.network_isolated:
        pytest.skip(NO_NETWORK)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.3)
        port = listener.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "    print('connected')\n"
            "except OSError as exc:\n"
            "    print(type(exc).__name__)\n"
        )
        result = run(code, isolation)
        assert result.stdout.strip() in ("ConnectionRefusedError", "OSError")
        with pytest.raises(TimeoutError):
            listener.accept()


def test_no_route_anywhere_else(isolation, info):
    if not info.network_isolated:
        pytest.skip(NO_NETWORK + ": not sending traffic off this machine")
    code = (
        "import socket, time\n"
        "started = time.monotonic()\n"
        "try:\n"
        "    socket.create_connection(('10.255.255.1', 9), timeout=1)\n"
        "    print('connected')\n"
        "except OSError as exc:\n"
        "    print(exc.errno, round(time.monotonic() - started, 3))\n"
    )
    errno_, seconds = run(code, isolation).stdout.split()
    assert int(errno_) == 101 and float(seconds) < 0.5  # ENETUNREACH, at once: no route at all


# --- choosing the isolation --------------------------------------------------------------


def test_info_describes_each_isolation(isolation, info):
    assert info.isolation == isolation
    if isolation == "bubblewrap":
        assert info.network_isolated and info.host_files_hidden and not info.host_writable
    else:
        assert not info.network_isolated and not info.host_files_hidden
        assert "bubblewrap" in info.note


def test_without_bubblewrap_auto_falls_back_and_warns_once(monkeypatch, caplog):
    monkeypatch.setattr(sandbox, "_resolved", {})
    monkeypatch.setattr(sandbox, "_warned", False)
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.warns(RuntimeWarning, match="NO network isolation"):
        first = run_python("print(1)")
    assert first.isolation == "subprocess" and first.stdout == "1\n"
    assert "bubblewrap" in caplog.text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_python("print(2)").stdout == "2\n"
    with pytest.raises(SandboxUnavailable, match="bwrap is not installed"):
        run_python("pass", isolation="bubblewrap")


def test_the_bubblewrap_command_hides_the_host():
    command = sandbox.bubblewrap_command("/work/dir", userns=False)
    assert command[0] == "bwrap"
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in command
    assert command[command.index("--bind") + 1 : command.index("--bind") + 3] == [
        "/work/dir",
        "/sandbox",
    ]
    mounted = {command[i + 2] for i, arg in enumerate(command) if arg == "--ro-bind"}
    assert "/usr" in mounted and not {"/", "/etc", "/root", "/home"} & mounted
