"""The worker's side of bulkhead's host session (pytest-xdist's controller, on the host).

Decides, as soon as a worker's initial conftests are loaded and before any `pytest_configure`,
whether this run needs the host session: a plugin or conftest that implements the controller's
hooks (`pytest_configure_node`, `pytest_testnodedown`, ...), an option whose result only the
host side can produce (`--sw`, `--cache-clear`, `--durations`, ...), or a project conftest
that reports from the host (`pytest_terminal_summary`, `pytest_sessionfinish`, ...). When it
does, the worker asks the supervisor and waits for the `workerinput` the host session's
`pytest_configure_node` filled, so plugins find their keys at configure time, as under xdist.

When it does not, `config.workerinput` still holds xdist's keys, and reading any other key
before the collection is reported starts the host session after all (a plugin reading its own
key at configure time needs one). Nothing here runs when no host session is needed beyond a
scan of the registered plugins.
"""

import os
import sys

import bulkhead_values

# The controller's hooks (pytest-xdist's newhooks): implementing one means "I need the
# controller", whoever implements it.
CONTROLLER_HOOKS = (
    "pytest_configure_node",
    "pytest_testnodedown",
    "pytest_testnodeready",
    "pytest_xdist_setupnodes",
    "pytest_xdist_newgateway",
    "pytest_xdist_node_collection_finished",
)

# Hooks a project's own conftest or plugin implements to report from the controller under
# `pytest -n N`. Installed plugins implement them for their own worker-side reasons (hypothesis
# always has a terminal summary), so for those only the option rules below count.
REPORTING_HOOKS = (
    "pytest_terminal_summary",
    "pytest_sessionfinish",
    "pytest_runtest_logreport",
    "pytest_collectreport",
    "pytest_warning_recorded",
)

# Options whose effect is produced on the controller: (namespace dest, how the user spells it).
OPTION_RULES = (
    ("stepwise", "--sw"),
    ("stepwise_skip", "--sw-skip"),
    ("cacheclear", "--cache-clear"),
    ("durations", "--durations"),
    ("hypothesis_show_statistics", "--hypothesis-show-statistics"),
    ("htmlpath", "--html"),
    ("report_log", "--report-log"),
    ("json_report", "--json-report"),
)

# Plugins whose controller hooks bulkhead answers itself (see bulkhead_compat): their
# presence alone does not start a host session.
HANDLED_MODULES = ("xdist", "pytest_rerunfailures", "random_order", "bulkhead_")

XDIST_KEYS = ("workerid", "workercount", "testrunuid", "mainargv")


def _module_of(plugin):
    name = getattr(plugin, "__name__", None) if isinstance(plugin, type(sys)) else None
    if name is None:
        name = type(plugin).__module__
    return name or ""


def _is_handled(module):
    return module.startswith(HANDLED_MODULES) or module.startswith("_pytest")


def _project_file(module, rootdir):
    """The plugin's file when it belongs to the project (not an installed package)."""
    path = getattr(sys.modules.get(module), "__file__", None) or ""
    if not path or "site-packages" in path or "dist-packages" in path:
        return None
    path = os.path.abspath(path)
    return path if path.startswith(rootdir + os.sep) else None


def _distribution_names(pluginmanager):
    """Top-level module -> distribution name, for the installed plugins."""
    names = {}
    for plugin, dist in pluginmanager.list_plugin_distinfo():
        top = _module_of(plugin).split(".")[0]
        names[top] = getattr(dist, "project_name", None) or getattr(dist, "name", top)
    return names


def _describe(plugin, module, rootdir, dists):
    project = _project_file(module, rootdir)
    if project:
        return os.path.relpath(project, rootdir)
    return dists.get(module.split(".")[0], module.split(".")[0])


def needs(config, namespace, reporting=True):
    """Why this run needs the host session: a list of short reasons, [] when it does not."""
    pluginmanager = config.pluginmanager
    rootdir = str(getattr(config, "rootpath", "") or os.getcwd())
    dists = None
    reasons = []

    def add(reason):
        if reason not in reasons:
            reasons.append(reason)

    for hooks, project_only in ((CONTROLLER_HOOKS, False), (REPORTING_HOOKS, True)):
        if project_only and not reporting:
            continue
        for name in hooks:
            caller = getattr(pluginmanager.hook, name, None)
            if caller is None:
                continue
            for impl in caller.get_hookimpls():
                module = _module_of(impl.plugin)
                if _is_handled(module) or impl.plugin is pluginmanager:
                    continue
                if project_only and not _project_file(module, rootdir):
                    continue
                if dists is None:
                    dists = _distribution_names(pluginmanager)
                add(_describe(impl.plugin, module, rootdir, dists))
    for dest, spelling in OPTION_RULES:
        value = getattr(namespace, dest, None)
        if value is not None if dest == "durations" else bool(value):
            add(spelling)
    reportchars = getattr(namespace, "reportchars", "") or ""
    if "pytest_rerunfailures" in sys.modules and ("R" in reportchars or "r" in reportchars):
        add("-r R (pytest-rerunfailures' rerun summary)")
    return reasons


def _caller(depth):
    try:
        frame = sys._getframe(depth)
    except ValueError:
        return "?"
    parts = frame.f_code.co_filename.split(os.sep)
    return "%s:%d" % (os.sep.join(parts[-2:]), frame.f_lineno)


class WorkerInput(dict):
    """`config.workerinput`. Holds xdist's keys and whatever the host session's
    `pytest_configure_node` added. Until the collection is reported, reading a key it lacks
    asks for the host session once (fetch(reason) returns the host's dict or None)."""

    def __init__(self, base, fetch):
        super().__init__(base)
        self._fetch = fetch

    def close(self):
        self._fetch = None

    def _complete(self, key):
        fetch, self._fetch = self._fetch, None
        if fetch is None:
            return
        extra = fetch("config.workerinput[%r] read at %s" % (key, _caller(3)))
        if extra:
            self.update(extra)

    def __missing__(self, key):
        self._complete(key)
        if dict.__contains__(self, key):
            return dict.__getitem__(self, key)
        raise KeyError(key)

    def get(self, key, default=None):
        if not dict.__contains__(self, key):
            self._complete(key)
        return dict.get(self, key, default)

    def __contains__(self, key):
        if not dict.__contains__(self, key):
            self._complete(key)
        return dict.__contains__(self, key)


class HostLink:
    """Asks the supervisor for the host session and receives this worker's workerinput."""

    def __init__(self, channel):
        self.channel = channel
        self.asked = False  # a host session serves this run (as far as this worker knows)

    def request(self, reasons, wait):
        """Tells the supervisor this worker needs the host session. With `wait`, blocks until
        the supervisor sends the workerinput (None when the host session is unavailable)."""
        self.asked = True
        self.channel.send({"event": "need_controller", "reasons": reasons, "wait": bool(wait)})
        if not wait:
            return None
        command = self.channel.wait_for("workerinput")
        if command is None or command.get("data") is None:
            return None
        return bulkhead_values.decode(command["data"])

    def workeroutput(self, config, exitstatus):
        output = dict(getattr(config, "workeroutput", {}) or {})
        output["exitstatus"] = int(exitstatus)
        try:
            data = bulkhead_values.encode(output, "config.workeroutput")
        except TypeError as error:
            data = {"exitstatus": int(exitstatus)}
            self.channel.send(
                {"event": "warning", "when": "runtest", "nodeid": "", "message": str(error)}
            )
        self.channel.send({"event": "workeroutput", "data": data})


def attach(config, channel, base):
    """Sets config.workerinput and config.workeroutput right after the initial conftests are
    loaded (where pytest-xdist sets them), asking for the host session when this run needs
    one. Returns the HostLink."""
    link = HostLink(channel)
    reasons = needs(config, config.known_args_namespace)
    if not reasons and os.environ.get("BULKHEAD_CONTROLLER") == "on":
        reasons = ["--controller on"]
    workerinput = WorkerInput(base, None)
    if reasons:  # with --controller off the supervisor answers at once, and says so
        extra = link.request(reasons, wait=True)
        if extra:
            workerinput.update(extra)
    else:
        workerinput._fetch = lambda reason: link.request([reason], wait=True)
    config.workerinput = workerinput
    config.workeroutput = {}
    return link
