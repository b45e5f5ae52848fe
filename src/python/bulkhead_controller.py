"""bulkhead's host session: pytest-xdist's controller, on the host, outside every sandbox.

The supervisor starts `python -m pytest -p bulkhead_controller <the run's pytest args>` in the
user's directory only when a worker asks for it (see bulkhead_host). Like xdist's controller it
loads the initial conftests and plugins, collects nothing and runs no test; it answers
`pytest_configure_node` for each worker, replays what the supervisor forwards (reports,
collection, warnings, each worker's workeroutput) through pytest's own hooks, and at the end
runs pytest's session finish: the cache plugins, pytest-cov and the project's conftests write
what they write, and the sections plugins add to the terminal summary go back to the
supervisor, which prints them where pytest would. Conftest code runs here unsandboxed, as it
does in xdist's controller.

Channel (fd BULKHEAD_CONTROLLER_FD), JSON lines. In: `{"node": i, "gen": g, "e": <worker
event>}` and commands `node_up`, `node_down`, `lost`, `finish`. Out: `ready`, `workerinput`,
`stop`, `error`, `summary`.
"""

import io
import json
import os
import sys
import traceback
import warnings

import pytest

import bulkhead_values

_ACTIVE = bool(os.environ.get("BULKHEAD_CONTROLLER_FD"))


def _env_int(name, default):
    try:
        return int(os.environ.get(name, ""))
    except ValueError:
        return default


class _Spec:
    """execnet's XSpec, as far as plugins read it."""

    def __init__(self, name):
        self.id = name
        self.popen = True
        self.chdir = None
        self.via = None
        self.python = sys.executable
        self.env = {}

    def __repr__(self):
        return "<XSpec popen id=%s>" % self.id


class _RemoteInfo:
    def __init__(self):
        self.platform = sys.platform
        self.version_info = tuple(sys.version_info)
        self.executable = sys.executable
        self.cwd = os.getcwd()


class _Gateway:
    def __init__(self, name):
        self.id = name
        self.spec = _Spec(name)

    def _rinfo(self, update=False):
        return _RemoteInfo()


class _NodeManager:
    def __init__(self, specs, run_uid):
        self.specs = specs
        self.roots = []
        self.testrunuid = run_uid


class WorkerNode:
    """What pytest-xdist's WorkerController shows plugins: gateway.id, workerinput,
    workeroutput, workerinfo, config. One per worker process (a replaced worker is a new
    node with the same gw name)."""

    def __init__(self, config, slot, gen, count, run_uid, nodemanager):
        name = "gw%d" % slot
        self.config = config
        self.slot = slot
        self.gen = gen
        self.gateway = _Gateway(name)
        self.nodemanager = nodemanager
        self.workerinput = {
            "workerid": name,
            "workercount": count,
            "testrunuid": run_uid,
            "mainargv": list(sys.argv),
        }
        self.workerinfo = {
            "version": sys.version,
            "version_info": tuple(sys.version_info),
            "sysplatform": sys.platform,
            "platform": sys.platform,
            "executable": sys.executable,
            "cwd": os.getcwd(),
            "id": name,
            "spec": self.gateway.spec,
        }
        self.ready = False
        self._down = False
        self.items = []

    @property
    def shutting_down(self):
        return self._down

    def shutdown(self):
        pass

    def __repr__(self):
        return "<WorkerController %s>" % self.gateway.id


class _XdistHookspecs:
    """pytest-xdist's controller hooks, for plugins that implement them when xdist itself is
    not installed."""

    @pytest.hookspec()
    def pytest_xdist_setupnodes(self, config, specs):
        pass

    @pytest.hookspec()
    def pytest_xdist_newgateway(self, gateway):
        pass

    @pytest.hookspec()
    def pytest_configure_node(self, node):
        pass

    @pytest.hookspec()
    def pytest_testnodeready(self, node):
        pass

    @pytest.hookspec()
    def pytest_testnodedown(self, node, error):
        pass

    @pytest.hookspec()
    def pytest_xdist_node_collection_finished(self, node, ids):
        pass


class Link:
    """The supervisor's socket: JSON lines both ways, read in large chunks."""

    def __init__(self, fd):
        self.fd = fd
        self.inbox = bytearray()

    def send(self, message):
        data = (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def lines(self):
        """Yields each complete line as it arrives; ends when the supervisor closes."""
        while True:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                return
            self.inbox += chunk
            end = self.inbox.rfind(b"\n")
            if end < 0:
                continue
            block = bytes(self.inbox[: end + 1])
            del self.inbox[: end + 1]
            for line in block.splitlines():
                if line:
                    yield line


class HostSession:
    def __init__(self, config, link):
        self.config = config
        self.link = link
        self.count = _env_int("BULKHEAD_WORKER_COUNT", 1)
        self.run_uid = os.environ.get("BULKHEAD_RUN_ID", "")
        specs = [_Spec("gw%d" % i) for i in range(self.count)]
        self.nodemanager = _NodeManager(specs, self.run_uid)
        self.nodes = {}
        self.items = None  # node ids of the agreed collection
        self.collection_seen = False
        self.stop_sent = False
        self.session = None
        self.buffer = io.StringIO()
        self.summary_text = ""
        self.feeding = False
        self.own_warnings = []
        self.setup_done = False

    # -- terminal ---------------------------------------------------------------------------

    def mute_terminal(self):
        """pytest's terminal output goes to a buffer; the supervisor renders the report and
        takes from here only what plugins add to the terminal summary."""
        reporter = self.config.pluginmanager.getplugin("terminalreporter")
        if reporter is None:
            return
        from _pytest._io import TerminalWriter

        writer = TerminalWriter(file=self.buffer)
        writer.hasmarkup = reporter._tw.hasmarkup
        writer.code_highlight = getattr(reporter._tw, "code_highlight", False)
        writer.fullwidth = _env_int("BULKHEAD_COLUMNS", 80)
        reporter._tw = writer
        # The supervisor prints these itself (from every worker's reports, with its causes).
        for name in (
            "summary_errors",
            "summary_failures",
            "summary_warnings",
            "summary_passes",
            "short_test_summary",
            "summary_stats",
            "_report_keyboardinterrupt",
        ):
            setattr(reporter, name, lambda *args, **kwargs: None)

    def drop_terminal_output(self):
        self.buffer.seek(0)
        self.buffer.truncate()

    # -- nodes ------------------------------------------------------------------------------

    def node(self, slot, gen):
        key = (slot, gen)
        node = self.nodes.get(key)
        if node is None:
            node = WorkerNode(self.config, slot, gen, self.count, self.run_uid, self.nodemanager)
            self.nodes[key] = node
            hook = self.config.hook
            hook.pytest_xdist_newgateway(gateway=node.gateway)
            hook.pytest_configure_node(node=node)
        return node

    def node_up(self, slot, gen):
        node = self.node(slot, gen)
        data = bulkhead_values.encode(node.workerinput, "node.workerinput")
        self.link.send({"event": "workerinput", "node": slot, "gen": gen, "data": data})

    def node_down(self, node, error):
        node._down = True
        if not hasattr(node, "workeroutput") and error is None:
            error = "the worker ended without its workeroutput"
        self.config.hook.pytest_testnodedown(node=node, error=error)

    # -- replaying worker events --------------------------------------------------------------

    def report(self, event, node):
        if "raw" not in event:  # a worker's compact plain pass (it saw no host session)
            nodeid, location = self.location(event.get("index", -1))
            event = dict(event, raw={
                "$report_type": "TestReport", "nodeid": nodeid, "location": location,
                "keywords": {}, "outcome": event.get("outcome", "passed"), "longrepr": None,
                "when": event.get("when", "call"), "user_properties": [],
                "duration": float(event.get("duration", 0.0)),
            })
        raw = dict(event["raw"])
        raw["sections"] = [tuple(section) for section in event.get("sections") or ()]
        report = self.config.hook.pytest_report_from_serializable(config=self.config, data=raw)
        report.node = node
        return report

    def on_collected(self, node, event):
        items = [entry["nodeid"] for entry in event.get("items", ())]
        node.items = items
        hook = self.config.hook
        if not node.ready:
            node.ready = True
            hook.pytest_testnodeready(node=node)
        hook.pytest_xdist_node_collection_finished(node=node, ids=items)
        if self.collection_seen:
            return
        # The first collection is the run's (the supervisor checks the others agree).
        self.collection_seen = True
        self.items = items
        self.session.testscollected = len(items)
        for entry in event.get("collect_reports") or ():
            hook.pytest_collectreport(report=self.report(entry, node))
        self.adopt_cache_state(event.get("cache"), items)

    def adopt_cache_state(self, cache, items):
        """pytest's cache plugins here saw no collection: take the worker's view of it."""
        pluginmanager = self.config.pluginmanager
        lfplugin = pluginmanager.get_plugin("lfplugin")
        if lfplugin is not None and cache and cache.get("lastfailed") is not None:
            lfplugin.lastfailed = dict(cache["lastfailed"])
        nfplugin = pluginmanager.get_plugin("nfplugin")
        if nfplugin is not None:
            nfplugin.cached_nodeids.update(items)

    def location(self, index):
        nodeid = self.items[index] if self.items and 0 <= index < len(self.items) else ""
        path, _, domain = nodeid.partition("::")
        return nodeid, (path, None, domain.replace("::", "."))

    def on_event(self, node, event):
        kind = event.get("event")
        hook = self.config.hook
        if kind == "report":
            hook.pytest_runtest_logreport(report=self.report(event, node))
            self.check_stop()
        elif kind == "start":
            nodeid, location = self.location(event.get("index", -1))
            hook.pytest_runtest_logstart(nodeid=nodeid, location=location)
        elif kind == "finished":
            nodeid, location = self.location(event.get("index", -1))
            hook.pytest_runtest_logfinish(nodeid=nodeid, location=location)
        elif kind == "collected":
            self.on_collected(node, event)
            self.check_stop()
        elif kind == "warning":
            message = warnings.WarningMessage(
                message=event.get("message", ""),
                category=UserWarning,
                filename=event.get("nodeid", ""),
                lineno=0,
            )
            self.feeding = True
            try:
                hook.pytest_warning_recorded.call_historic(
                    kwargs=dict(
                        warning_message=message,
                        when=event.get("when", "runtest"),
                        nodeid=event.get("nodeid", ""),
                        location=None,
                    )
                )
            finally:
                self.feeding = False
        elif kind == "workeroutput":
            node.workeroutput = bulkhead_values.decode(event.get("data") or {})

    def on_lost(self, node, command):
        """A test whose worker died or was killed (timeout, crash, OOM): a failed report, as
        xdist makes for a crashed item."""
        from _pytest.reports import TestReport

        nodeid = command["nodeid"]
        path, _, domain = nodeid.partition("::")
        report = TestReport(
            nodeid,
            (path, None, domain.replace("::", ".")),
            {},
            "failed",
            command.get("message", "the worker died"),
            command.get("when", "call"),
            (),
            float(command.get("duration", 0.0)),
        )
        report.node = node
        self.config.hook.pytest_runtest_logreport(report=report)
        self.check_stop()

    def check_stop(self):
        session = self.session
        reason = session.shouldfail or session.shouldstop
        if reason and not self.stop_sent:
            self.stop_sent = True
            self.link.send({"event": "stop", "reason": str(reason)})

    # -- the loop ---------------------------------------------------------------------------

    def setup_nodes(self):
        if self.setup_done:
            return
        self.setup_done = True
        self.config.hook.pytest_xdist_setupnodes(config=self.config, specs=self.nodemanager.specs)

    def serve(self):
        """Handles the supervisor's lines until `finish`. Returns the interruption reason."""
        self.setup_nodes()
        for line in self.link.lines():
            message = json.loads(line)
            try:
                interrupted = self.handle(message)
            except Exception:
                self.link.send({"event": "error", "text": traceback.format_exc()})
                continue
            if interrupted is not None:
                return interrupted
            self.drop_terminal_output()
        os._exit(3)  # the supervisor is gone: write no cache or report from half a run

    def handle(self, message):
        command = message.get("cmd")
        if command is None:
            node = self.node(message["node"], message["gen"])
            self.on_event(node, message["e"])
        elif command == "node_up":
            self.node_up(message["node"], message["gen"])
        elif command == "node_down":
            self.node_down(self.node(message["node"], message["gen"]), message.get("error"))
        elif command == "lost":
            self.on_lost(self.node(message["node"], message["gen"]), message)
        elif command == "finish":
            if message.get("testsfailed") is not None:
                self.session.testsfailed = max(self.session.testsfailed, message["testsfailed"])
            return message.get("interrupted") or ""
        return None

    # -- hooks ------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        self.session = session
        self.mute_terminal()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session):
        return True  # the workers collect; the controller never does

    def skippable(self):
        """What no plugin here would see anyway: the supervisor then does not send it. Only
        pytest's own plugins (and this one) implementing a hook means nobody needs it here."""
        pluginmanager = self.config.pluginmanager

        def anyone_else(*names):
            for name in names:
                for impl in getattr(pluginmanager.hook, name).get_hookimpls():
                    module = getattr(impl.plugin, "__name__", None) or type(impl.plugin).__module__
                    if not module.startswith("_pytest") and impl.plugin is not self:
                        return True
            return False

        skip = []
        if not anyone_else("pytest_runtest_logstart", "pytest_runtest_logfinish"):
            skip.append("start_finished")
        if self.config.option.durations is None and not anyone_else("pytest_runtest_logreport"):
            skip.append("passing_setup_teardown")  # pytest's plugins only count failures then
        if not anyone_else("pytest_warning_recorded"):
            skip.append("warnings")
        return skip

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        self.link.send({"event": "ready", "pid": os.getpid(), "skip": self.skippable()})
        interrupted = self.serve()
        if interrupted:
            raise session.Interrupted(interrupted)
        return True

    def pytest_warning_recorded(self, warning_message, when, nodeid, location):
        if self.feeding:
            return
        from _pytest.warnings import warning_record_to_str

        message = warning_record_to_str(warning_message)
        self.own_warnings.append({"nodeid": nodeid or "", "message": message})

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        self.drop_terminal_output()
        yield
        self.summary_text = self.buffer.getvalue()

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        yield
        self.link.send(
            {
                "event": "summary",
                "sections": self.summary_text,
                "exitstatus": int(session.exitstatus),
                "warnings": self.own_warnings,
            }
        )


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """pytest-cov decides "distributed controller" from -n when its plugin starts, here."""
    if not _ACTIVE:
        yield
        return
    namespace = early_config.known_args_namespace
    missing = object()
    saved = getattr(namespace, "numprocesses", missing)
    namespace.numprocesses = _env_int("BULKHEAD_WORKER_COUNT", 1)
    if not hasattr(namespace, "rsyncdir"):
        namespace.rsyncdir = []  # pytest-cov's controller appends to it (xdist's option)
    try:
        yield
    finally:
        if saved is missing:
            del namespace.numprocesses
        else:
            namespace.numprocesses = saved


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not _ACTIVE:
        return
    pluginmanager = config.pluginmanager
    if not pluginmanager.hasplugin("xdist"):
        pluginmanager.add_hookspecs(_XdistHookspecs)
    fd = _env_int("BULKHEAD_CONTROLLER_FD", -1)
    session = HostSession(config, Link(fd))
    pluginmanager.register(session, "bulkhead_host_session")
