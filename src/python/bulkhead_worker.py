"""bulkhead worker plugin, loaded with `-p bulkhead_worker` in each sandboxed pytest worker.

Reports the collection, then runs the tests the supervisor sends over a dedicated channel fd
(JSON lines both ways), streaming every report phase. Inert when BULKHEAD_WORKER is not set.
"""

import collections
import faulthandler
import fcntl
import io
import math
import os
import signal
import sys
import threading
import time

import pytest
from _pytest.reports import TestReport

import bulkhead_compat
import bulkhead_host
import bulkhead_leaks
import bulkhead_resources
from bulkhead_channel import Channel

PROTOCOL_VERSION = 1
# Channel fds are moved out of the way of the tests' own fd numbers and not inherited.
_HIGH_FD_FLOOR = 200


# A zygote (BULKHEAD_ZYGOTE): collects once and forks the workers (bulkhead_zygote.py). Reads
# of per-worker variables are watched from here on, before any conftest is imported.
_ZYGOTE = None
if os.environ.get("BULKHEAD_ZYGOTE") == "1":
    import bulkhead_zygote

    _ZYGOTE = bulkhead_zygote.start()


# The worker's real stderr, taken at import (before pytest's capture replaces fd 2 during
# tests): a fatal signal's Python stack (faulthandler) must reach the supervisor's stderr tail,
# which a crash report quotes, not a capture file that dies with the worker.
_REAL_STDERR_FD = None
if os.environ.get("BULKHEAD_WORKER"):
    try:
        _REAL_STDERR_FD = fcntl.fcntl(2, fcntl.F_DUPFD_CLOEXEC, 200)
    except OSError:
        _REAL_STDERR_FD = None


def _env_int(name, default):
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


def _move_fd_high(fd):
    """Returns a close-on-exec duplicate of `fd` at >= _HIGH_FD_FLOOR and closes `fd`."""
    if fd >= _HIGH_FD_FLOOR:  # already there (the sandbox installs them at 200): keep it
        os.set_inheritable(fd, False)
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD_FLOOR)
    os.close(fd)
    return high



def _seconds(value):
    """A timeout as the protocol carries it: a finite float (infinity: the largest), or None."""
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    if seconds is None or math.isnan(seconds):
        return None
    return max(min(seconds, 1e300), -1e300)


_CHANNEL_KEY = pytest.StashKey()
_LINK_KEY = pytest.StashKey()


def _truncate_sections(sections, cap):
    """Keeps at most `cap` bytes of captured output per report; counts the rest."""
    kept = []
    budget = cap
    for name, content in sections:
        raw = content.encode("utf-8", "replace")
        if len(raw) <= budget:
            kept.append([name, content])
            budget -= len(raw)
            continue
        head = raw[: max(budget, 0)].decode("utf-8", "ignore")
        dropped = len(raw) - len(head.encode("utf-8"))
        kept.append([name, head + "\n[bulkhead: %d more bytes of output not kept]\n" % dropped])
        budget = 0
    return kept


class _XdistCompatFixtures:
    """worker_id / testrun_uid as pytest-xdist spells them, for when xdist is not installed."""

    def __init__(self, worker, run_uid):
        self._worker = worker
        self._run_uid = run_uid

    @pytest.fixture(scope="session")
    def worker_id(self):
        return self._worker

    @pytest.fixture(scope="session")
    def testrun_uid(self):
        return self._run_uid


class BulkheadWorker:
    def __init__(self, config, channel, output_cap, columns, log_fd, link):
        self.config = config
        self.log_fd = log_fd
        self.channel = channel
        self.link = link
        self.report_lines = {"header": [], "collection": []}  # pytest's hook-made lines
        self.lines_phase = "header"
        self.output_cap = output_cap
        self.columns = columns
        self.items = []
        self.deselected = 0
        self.collect_reports = []
        self.current_index = None
        # The tests handed to us and not started, shared with the channel's reader thread.
        self._queue = collections.deque()
        self._queue_lock = threading.Lock()
        # The index the running (or last) test was given as `nextitem`: its teardown already
        # counted on it running next here, so it is never given back.
        self._committed = None

    # -- rendering ------------------------------------------------------------------------

    def _writer(self, markup):
        from _pytest._io import TerminalWriter

        buffer = io.StringIO()
        writer = TerminalWriter(file=buffer)
        writer.hasmarkup = markup
        own = self.config.get_terminal_writer()
        writer.code_highlight = getattr(own, "code_highlight", False) if markup else False
        writer.fullwidth = self.columns
        return writer, buffer

    def _render_longrepr(self, report, markup):
        if self.config.option.tbstyle == "line":
            try:
                return str(report.longrepr.reprcrash)
            except AttributeError:
                return str(report.longrepr)[:50] if report.longrepr is not None else ""
        writer, buffer = self._writer(markup)
        report.toterminal(writer)
        return buffer.getvalue()

    def _plain_pass(self, report):
        """A phase that passed and carries nothing but its timing: no output, properties or
        xfail note, and no host session to replay it to (which needs pytest's serialisation)."""
        return (
            type(report) is TestReport
            and report.outcome == "passed"
            and report.longrepr is None
            and not report.sections
            and not report.user_properties
            and not hasattr(report, "wasxfail")
            and not self.link.asked
        )

    def describe(self, report):
        """One report phase: pytest's own serialisation plus what the supervisor prints. A
        plain pass goes compact: its outcome, status and timing (most of a suite's reports;
        nothing that reads a passed phase needs more)."""
        config = self.config
        if self._plain_pass(report):
            category, letter, word = config.hook.pytest_report_teststatus(
                report=report, config=config
            )
            duration = float(report.duration or 0.0)
            stop = float(getattr(report, "stop", 0.0) or 0.0) or time.time()
            return {
                "when": report.when,
                "outcome": "passed",
                "category": category,
                "letter": letter,
                "word": word[0] if isinstance(word, tuple) else word,
                "duration": duration,
                "start": stop - duration,
                "stop": stop,
            }
        raw = config.hook.pytest_report_to_serializable(config=config, report=report)
        raw.pop("sections", None)  # sent once, capped, below
        category, letter, word = config.hook.pytest_report_teststatus(report=report, config=config)
        if isinstance(word, tuple):
            word = word[0]
        duration = float(getattr(report, "duration", 0.0) or 0.0)
        stop = float(getattr(report, "stop", 0.0) or 0.0) or time.time()
        event = {
            "when": report.when,
            "outcome": report.outcome,
            "category": category,
            "letter": letter,
            "word": word,
            "duration": duration,
            "start": stop - duration,
            "stop": stop,
            "head_line": report.head_line or "",
            "sections": _truncate_sections(report.sections, self.output_cap),
            "raw": raw,
        }
        if hasattr(report, "wasxfail"):
            event["wasxfail"] = str(report.wasxfail)
        longrepr = report.longrepr
        if report.failed and longrepr is not None:
            event["longrepr"] = self._render_longrepr(report, False)
            if config.get_terminal_writer().hasmarkup:
                event["longrepr_color"] = self._render_longrepr(report, True)
            try:
                event["message"] = str(longrepr.reprcrash.message)
            except AttributeError:
                text = str(longrepr).strip()
                event["message"] = text.splitlines()[-1] if text else ""
        elif report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
            path, lineno, reason = longrepr
            reason = str(reason)
            if reason.startswith("Skipped: "):
                reason = reason[len("Skipped: ") :]
            keywords = getattr(report, "keywords", {})
            folded = report.when == "setup" and "skip" in keywords and "pytestmark" not in keywords
            event["message"] = reason
            event["skip_path"] = self._relative(path)
            event["skip_lineno"] = None if folded else lineno
        return event

    def _relative(self, path):
        from _pytest.pathlib import bestrelpath
        from pathlib import Path

        try:
            return bestrelpath(self.config.invocation_params.dir, Path(path))
        except Exception:
            return str(path)

    # -- hooks ----------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        if _REAL_STDERR_FD is not None:  # after pytest's faulthandler plugin has set its file
            faulthandler.enable(file=_REAL_STDERR_FD, all_threads=True)
        # pytest's own terminal output goes to the worker log, not the worker's stdout.
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None:
            self._capture_report_lines(reporter)
        if self.log_fd < 0 or reporter is None:
            return
        from _pytest._io import TerminalWriter

        log = open(_move_fd_high(self.log_fd), "w", buffering=1, encoding="utf-8", errors="replace")
        markup = reporter._tw.hasmarkup
        reporter._tw = TerminalWriter(file=log)
        reporter._tw.hasmarkup = markup
        reporter._tw.fullwidth = self.columns

    def _capture_report_lines(self, reporter):
        """Keeps the lines pytest_report_header / pytest_report_collectionfinish give the
        terminal (rootdir, plugins, run-last-failure...): the supervisor prints them."""
        original = reporter._write_report_lines_from_hooks

        def capture(lines):
            for line_or_lines in reversed(lines):
                if isinstance(line_or_lines, str):
                    self.report_lines[self.lines_phase].append(line_or_lines)
                else:
                    self.report_lines[self.lines_phase].extend(line_or_lines)
            original(lines)

        reporter._write_report_lines_from_hooks = capture

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session):
        self.lines_phase = "collection"
        if not self.link.asked:  # plugins registered during pytest_configure count too
            reasons = bulkhead_host.needs(self.config, self.config.option)
            if reasons and _ZYGOTE is not None:
                _refuse_fork_for_host_session(reasons)
            elif reasons:
                self.link.request(reasons, wait=False)

    def _cache_facts(self):
        """What the supervisor needs to write pytest's cache as this run's pytest would."""
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return None
        lfplugin = self.config.pluginmanager.get_plugin("lfplugin")
        option = self.config.option
        return {
            "dir": str(cache._cachedir),
            "lastfailed": dict(lfplugin.lastfailed) if lfplugin is not None else None,
            "collectonly": bool(option.collectonly),
            "stepwise": bool(getattr(option, "stepwise", False)),
        }

    def pytest_collectreport(self, report):
        if report.failed or report.skipped:
            event = self.describe(report)
            event["nodeid"] = report.nodeid
            self.collect_reports.append(event)

    def pytest_deselected(self, items):
        self.deselected += len(items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        self.items = list(session.items)
        option = self.config.option
        workerinput = getattr(self.config, "workerinput", None)
        if isinstance(workerinput, bulkhead_host.WorkerInput):
            workerinput.close()  # from here on, a missing key is a plain KeyError
        self.channel.send(
            {
                "event": "collected",
                "protocol": PROTOCOL_VERSION,
                "pid": os.getpid(),
                "items": [self._item_entry(item) for item in self.items],
                "deselected": self.deselected,
                "collect_reports": self.collect_reports,
                "header": self.report_lines["header"],
                "collection_lines": self.report_lines["collection"],
                "cache": self._cache_facts(),
                "settings": {
                    "tbstyle": option.tbstyle,
                    "showcapture": option.showcapture,
                    "reportchars": self._reportchars(),
                    "verbose": option.verbose,
                    "maxfail": option.maxfail,
                    "capture": option.capture,
                    "continue_on_collection_errors": option.continue_on_collection_errors,
                    "color": self.config.get_terminal_writer().hasmarkup,
                    "rootdir": str(self.config.rootpath),
                    "ini_timeout": str(self.config.inicfg.get("timeout", "") or ""),
                    "python": sys.version.split()[0],
                    "pytest": pytest.__version__,
                },
            }
        )

    def _reportchars(self):
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "reportchars"):
            return reporter.reportchars
        return getattr(self.config.option, "reportchars", "fE")

    @staticmethod
    def _item_entry(item):
        entry = {"nodeid": item.nodeid}
        group = item.get_closest_marker("xdist_group")
        if group is not None:
            name = group.kwargs.get("name", group.args[0] if group.args else "")
            entry["group"] = str(name)
        return entry

    @staticmethod
    def _timeout_of(item):
        marker = item.get_closest_marker("timeout")
        if marker is None:
            return None
        value = marker.kwargs.get("timeout", marker.args[0] if marker.args else None)
        return _seconds(value)

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_timeout_set_timer(self, item, settings):
        # pytest-timeout is loaded: the supervisor enforces its value; no timer in here.
        seconds = _seconds(getattr(settings, "timeout", None))
        if seconds and self.current_index is not None:
            self.channel.send({"event": "timeout", "index": self.current_index, "seconds": seconds})
        return True

    @pytest.hookimpl(optionalhook=True, tryfirst=True)
    def pytest_timeout_cancel_timer(self, item):
        return True

    def pytest_runtest_logreport(self, report):
        event = self.describe(report)
        event["event"] = "report"
        event["index"] = self.current_index
        self.channel.post(event)
        # The supervisor must know which phase a hang or crash cut short: setup and call go out
        # now; teardown and `finished` leave with the next test's `start`.
        if report.when != "teardown":
            self.channel.flush()

    def pytest_warning_recorded(self, warning_message, when, nodeid, location):
        from _pytest.warnings import warning_record_to_str

        self.channel.send(
            {
                "event": "warning",
                "when": when,
                "nodeid": nodeid,
                "message": warning_record_to_str(warning_message),
            }
        )

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        yield
        # After every plugin's sessionfinish (and pytest-cov's runtestloop wrapper) has filled
        # config.workeroutput: the host session hands it to pytest_testnodedown.
        try:
            self.link.workeroutput(self.config, exitstatus)
        except OSError:
            pass  # the supervisor is gone: nobody to hand it to

    def pytest_internalerror(self, excrepr, excinfo):
        self.channel.send({"event": "internal_error", "text": str(excrepr)})

    def _release(self, command):
        """The supervisor asks for units back (reader thread). We are the authority: a unit
        goes back only if every index is still waiting here and none is the committed next."""
        released = []
        with self._queue_lock:
            waiting = set(self._queue)
            for unit in command.get("units", []):
                if unit and self._committed not in unit and all(i in waiting for i in unit):
                    released.extend(unit)
                    waiting.difference_update(unit)
            if released:
                self._queue = collections.deque(i for i in self._queue if i in waiting)
        self.channel.send_now({"event": "released", "indices": released})

    def _take_next(self, no_more, go):
        """The index to run now, committing the one after it as its `nextitem` (both under the
        lock a steal takes); None while it must wait for more, or at the end (no_more)."""
        with self._queue_lock:
            queue = self._queue
            if not queue or (len(queue) < 2 and not no_more and not go):
                return None
            index = queue.popleft()
            self._committed = queue[0] if queue else None
            return index

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        """Runs what the supervisor sends, one item at a time, holding one item back as
        `nextitem` until more arrive or the supervisor says no more will."""
        if _ZYGOTE is not None:  # returns only in a forked worker
            bulkhead_zygote.fork_worker(_ZYGOTE, self.config, session)
        self.meter = bulkhead_resources.meter_from_env()  # this worker's own sandbox
        queue_lock = self._queue_lock
        no_more = False
        go = False  # run a lone held item now (with nextitem None) instead of waiting
        self.channel.start_reader(self._release)
        while True:
            with queue_lock:
                held = len(self._queue)
            blocking = not no_more and held < 2 and not (go and held)
            command = self.channel.receive(block=blocking)
            while command is not None:
                kind = command.get("cmd")
                with queue_lock:
                    if kind == "run":
                        self._queue.extend(command["indices"])
                    elif kind == "go":
                        go = True
                    elif kind == "shutdown":
                        no_more = True
                    elif kind == "stop":  # -x / maxfail / interrupt: drop what has not started
                        self._queue.clear()
                        no_more = True
                command = self.channel.receive(block=False)
            if self.channel.closed:
                no_more = True
            index = self._take_next(no_more, go)
            if index is None:
                if no_more:
                    break
                continue
            if self._committed is None:
                go = False
            nextitem = self.items[self._committed] if self._committed is not None else None
            self._run_one(index, nextitem)
            if session.shouldfail or session.shouldstop:
                # pytest's own -x / --maxfail count for this worker: with one worker it is the
                # global count, so stop exactly here instead of racing the supervisor's `stop`.
                break
        self.channel.send({"event": "done"})
        return True

    def _run_one(self, index, nextitem):
        item = self.items[index]
        self.current_index = index
        self.channel.post({"event": "start", "index": index, "timeout": self._timeout_of(item)})
        self.channel.flush()
        self.meter.start()
        item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
        self.channel.post({"event": "finished", "index": index, "resources": self.meter.finish()})
        self.current_index = None


def _channel(config):
    channel = config.stash.get(_CHANNEL_KEY, None)
    if channel is None:
        output_cap = _env_int("BULKHEAD_OUTPUT_CAP", 1 << 20)
        channel = Channel(
            _move_fd_high(_env_int("BULKHEAD_CHANNEL_FD", 3)),
            line_cap=_env_int("BULKHEAD_LINE_CAP", (16 << 20) + 8 * output_cap),
            collection_cap=_env_int("BULKHEAD_COLLECTION_LINE_CAP", 128 << 20),
        )
        config.stash[_CHANNEL_KEY] = channel
    return channel


def _refuse_fork_for_host_session(reasons):
    # Said at once: the plugins that need the host session (pytest-cov) would fail to configure
    # in a zygote that has no workerinput from it, and the supervisor would only see a death.
    _ZYGOTE.refuse("the host session configures each worker (%s)" % ", ".join(reasons))


def _attach_workerinput(config, worker):
    # What pytest-xdist gives its workers (worker_id/testrun_uid, pytest-django's per-worker
    # database), plus whatever the host session's pytest_configure_node adds (pytest-cov).
    base = {
        "workerid": worker,
        "workercount": _env_int("PYTEST_XDIST_WORKER_COUNT", 1),
        "testrunuid": os.environ.get("PYTEST_XDIST_TESTRUNUID", ""),
        "mainargv": list(sys.argv),
    }
    if _ZYGOTE is None:
        link = bulkhead_host.attach(config, _channel(config), base)
    else:
        # The zygote configures once for all its forks, but the host session's
        # pytest_configure_node answers each worker before it configures: a run that needs one
        # spawns its workers (the zygote says why and does not fork).
        reasons = bulkhead_host.needs(config, config.known_args_namespace)
        if not reasons and os.environ.get("BULKHEAD_CONTROLLER") == "on":
            reasons = ["--controller on"]
        if reasons:
            _refuse_fork_for_host_session(reasons)
        link = bulkhead_host.HostLink(_channel(config))
        config.workerinput = bulkhead_zygote.WatchedWorkerInput(base, _ZYGOTE.watch)
        config.workeroutput = {}
    bulkhead_compat.complete_workerinput(config.workerinput, config.known_args_namespace)
    config.stash[_LINK_KEY] = link


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    worker = os.environ.get("BULKHEAD_WORKER")
    if worker:
        _channel(early_config)  # moved out of the tests' way before any conftest runs
    outcome = yield
    # Where pytest-xdist sets workerinput: the initial conftests are loaded (their hooks and
    # pytest_plugins count), no pytest_configure has run yet.
    if worker and outcome.excinfo is None:
        _attach_workerinput(early_config, worker)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if _ZYGOTE is not None:
        bulkhead_zygote.arm_quick_exit(_ZYGOTE)


def _refuse_debugger(option):
    # pdb needs the user's terminal, which no sandboxed worker has (pytest-xdist refuses too).
    for flag, name in (("usepdb", "--pdb"), ("trace", "--trace")):
        if getattr(option, flag, False):
            raise pytest.UsageError(
                "%s needs your terminal, and bulkhead's workers run in sandboxes without it: "
                "debug the test with plain `pytest %s NODEID`" % (name, name))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    worker = os.environ.get("BULKHEAD_WORKER")
    if not worker:
        return
    _refuse_debugger(config.option)
    config.addinivalue_line(
        "markers", "timeout(seconds): per-test timeout, enforced by the bulkhead supervisor"
    )
    config.addinivalue_line("markers", "xdist_group(name): run these tests in one worker")
    if config.stash.get(_LINK_KEY, None) is None:
        _attach_workerinput(config, worker)
    run_uid = config.workerinput.get("testrunuid", "")
    if not config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistCompatFixtures(worker, run_uid), "bulkhead_xdist")

    stacks_fd = _env_int("BULKHEAD_STACKS_FD", -1)
    if stacks_fd >= 0:
        stacks_fd = _move_fd_high(stacks_fd)
        faulthandler.register(signal.SIGUSR1, file=stacks_fd, all_threads=True)
    plugin = BulkheadWorker(
        config,
        _channel(config),
        output_cap=_env_int("BULKHEAD_OUTPUT_CAP", 1 << 20),
        columns=_env_int("BULKHEAD_COLUMNS", 80),
        log_fd=_env_int("BULKHEAD_LOG_FD", -1),
        link=config.stash[_LINK_KEY],
    )
    config.pluginmanager.register(plugin, "bulkhead_worker_session")
    bulkhead_leaks.register(config, os.environ.get("BULKHEAD_LEAKS", "warn"))
