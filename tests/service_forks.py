"""Service processes for the tests, forked from a parent that has imported them already.

A service process spends about half a second of CPU importing aiohttp, pydantic, nats,
prometheus and its own modules before it does anything, and the suite starts some 500
of them (eight per system): a third of ``make test``'s CPU. Here one *fork server* per
test process (``python -m tests.service_forks``, single-threaded, no event loop) imports
every service once, then forks a child per service start: the child takes the
service's environment, working directory and log file and runs ``cli.main`` exactly as
``python -m cli.main run <service>`` would, as a separate process the tests can signal,
kill -9 and wait for. Only the imports are shared (copy-on-write); the child starts
its own event loop, connections and metrics files.

Deployments never use this: ``tradehooks up`` starts each service with its own
interpreter (``cli/supervisor.py``), and ``tests/e2e/test_up.py`` tests that.
``TRADEHOOKS_TEST_FORKS=0`` makes the harness start services that way too.

The protocol is JSON lines: the test process writes ``{"argv", "env", "cwd", "log"}``
to the server's stdin and reads ``{"child", "pid"}`` back (``child`` numbers the
children: a pid is reused within a run); when a child ends the server writes
``{"exited": child, "code", "cpu"}`` (``code`` as ``Popen.returncode``: negative for a
signal; ``cpu`` its user + system seconds, which the CPU log adds to the test's).
When its stdin closes (the test process ended or died) the server exits, and its
children, supervised, see their parent change and stop.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import itertools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENABLED_ENV = "TRADEHOOKS_TEST_FORKS"


def enabled() -> bool:
    """Whether the harness forks services (the default) or execs each one."""
    return os.environ.get(ENABLED_ENV, "1") != "0"


# ---------------------------------------------------------------- the test process side


class ForkedService:
    """A forked service process, with the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, forks: ServiceForks, child: Child, pid: int, args: list[str]) -> None:
        self._forks = forks
        self._child = child  # pids are reused within a run: children are numbered
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the process has ended (negative: killed by that signal)."""
        if self.returncode is None:
            self.returncode = self._forks.exit_code(self._child)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        if not self._forks.wait_for_exit(self._child, timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        code = self.poll()
        assert code is not None
        return code

    def send_signal(self, sig: int) -> None:
        """Signal the process unless it has ended (its pid may belong to another then)."""
        if self.poll() is None:
            # Ended a moment ago (ProcessLookupError): its exit is on its way.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        """SIGTERM."""
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)


# A child's number: the fork server's generation (a server that died is replaced) and
# its number among that server's children.
Child = tuple[int, int]


class ServiceForks:
    """The test process's handle on its fork server (one per process, started lazily)."""

    def __init__(self) -> None:
        self._server: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # one request at a time: the answer is the next pid
        self._changed = threading.Condition()
        self._started: list[tuple[Child, int]] = []  # (child, pid), oldest first
        self._exits: dict[Child, int] = {}
        self._generation = 0
        self._alive = True
        self.reaped_cpu = 0.0

    def _ensure_started(self) -> subprocess.Popen[bytes]:
        if self._server is None or self._server.poll() is not None:
            self._server = subprocess.Popen(
                [sys.executable, "-m", "tests.service_forks"], cwd=ROOT,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(os.environ))
            with self._changed:
                self._generation += 1
                self._alive = True
            threading.Thread(target=self._read, args=(self._server, self._generation),
                             daemon=True, name="service-forks").start()
        return self._server

    def _read(self, server: subprocess.Popen[bytes], generation: int) -> None:
        assert server.stdout is not None
        for line in server.stdout:
            message = json.loads(line)
            with self._changed:
                if "pid" in message:
                    self._started.append(((generation, message["child"]), message["pid"]))
                else:
                    self._exits[(generation, message["exited"])] = message["code"]
                    self.reaped_cpu += message["cpu"]
                self._changed.notify_all()
        with self._changed:
            if generation == self._generation:
                self._alive = False
            self._changed.notify_all()

    def start(self, argv: list[str], env: dict[str, str], cwd: Path,
              log: Path) -> ForkedService:
        """Fork a process running ``argv`` (``python -m cli.main run <service>``)."""
        request = {"argv": argv, "env": env, "cwd": str(cwd), "log": str(log)}
        with self._lock:
            server = self._ensure_started()
            assert server.stdin is not None
            server.stdin.write(json.dumps(request).encode() + b"\n")
            server.stdin.flush()
            with self._changed:
                if not self._changed.wait_for(lambda: self._started or not self._alive, 30):
                    raise RuntimeError("the fork server did not answer within 30 s")
                if not self._started:
                    raise RuntimeError("the fork server ended (see its stderr above)")
                child, pid = self._started.pop(0)
        return ForkedService(self, child, pid, argv)

    def exit_code(self, child: Child) -> int | None:
        """The exit code of a child that has ended, else None."""
        with self._changed:
            return self._exits.get(child)

    def wait_for_exit(self, child: Child, timeout: float | None) -> bool:
        """Whether the child ended within ``timeout`` seconds."""
        with self._changed:
            return self._changed.wait_for(lambda: child in self._exits or not self._alive,
                                          timeout) and child in self._exits

    def close(self) -> None:
        """End the server (its children, if any are left, stop when they see it gone)."""
        if self._server is not None and self._server.poll() is None:
            assert self._server.stdin is not None
            self._server.stdin.close()
            try:
                self._server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._server.kill()
                self._server.wait()


_forks: ServiceForks | None = None


def forks() -> ServiceForks:
    """This test process's fork server handle."""
    global _forks
    if _forks is None:
        _forks = ServiceForks()
        atexit.register(_forks.close)
    return _forks


def reaped_cpu() -> float:
    """CPU seconds of every forked service that has ended so far in this process."""
    return _forks.reaped_cpu if _forks is not None else 0.0


# ------------------------------------------------------------------- the server side


def _preload() -> Any:
    """Import what every service imports, and each service's own modules."""
    # Metrics files: prometheus picks its multi-process value class at import, by this
    # variable; each child then opens its own files in its own directory (its values
    # notice the new pid and reset), so this directory only ever holds the server's.
    metrics_dir = tempfile.mkdtemp(prefix="service-forks-")
    atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    cli_main = importlib.import_module("cli.main")
    for module in sorted(set(cli_main.SERVICE_MODULES.values())):
        importlib.import_module(module)
    return cli_main


def _run_child(cli_main: Any, request: dict[str, Any]) -> int:
    """In the forked child: become the requested service process."""
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.close(devnull)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    argv: list[str] = request["argv"]
    sys.argv = ["cli.main", *argv[3:]]
    try:
        return int(cli_main.main(argv[3:]) or 0)
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:  # reported as the interpreter would
        traceback.print_exc()
        return 1


def _fork(cli_main: Any, request: dict[str, Any], closing: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in closing:
            os.close(fd)
        code = _run_child(cli_main, request)
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # exiting either way
                stream.flush()
        os._exit(code)


def _write(message: dict[str, Any]) -> None:
    os.write(1, json.dumps(message).encode() + b"\n")


def _reap(children: dict[int, int]) -> None:
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _write({"exited": children.pop(pid), "code": os.waitstatus_to_exitcode(status),
                "cpu": usage.ru_utime + usage.ru_stime})


def serve() -> None:
    """Preload, then fork a child per request until stdin closes."""
    cli_main = _preload()
    woken, wake = os.pipe()
    os.set_blocking(woken, False)
    os.set_blocking(wake, False)
    signal.set_wakeup_fd(wake)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pending = b""
    children: dict[int, int] = {}  # pid → child number (a pid is reused once reaped)
    numbers = itertools.count(1)
    while True:
        try:
            ready, _, _ = select.select([0, woken], [], [])
        except InterruptedError:
            continue
        if woken in ready:
            while True:
                try:
                    if not os.read(woken, 512):
                        break
                except BlockingIOError:
                    break
            _reap(children)
        if 0 in ready:
            data = os.read(0, 1 << 16)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                pid = _fork(cli_main, json.loads(line), [woken, wake])
                children[pid] = next(numbers)
                _write({"child": children[pid], "pid": pid})
    _reap(children)


if __name__ == "__main__":
    serve()
