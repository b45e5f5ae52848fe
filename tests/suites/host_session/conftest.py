# A project plugin in the style of a large ORM's (tests/suites/README.md, host_session/): the
# controller names a database per worker in pytest_configure_node, each worker reads it back at
# configure time, returns it through workeroutput, and the controller "drops" it in
# pytest_testnodedown. Every host-side hook appends a JSON line to $HOST_SESSION_RECORD.
# HOST_SESSION_MODE misbehaves on the host on purpose: die | hang-start | hang-finish.
import json
import os
import time

import pytest

MODE = os.environ.get("HOST_SESSION_MODE", "")
ON_HOST = "BULKHEAD_WORKER" not in os.environ and "PYTEST_XDIST_WORKER" not in os.environ


def record(**event):
    path = os.environ.get("HOST_SESSION_RECORD")
    if path:
        with open(path, "a") as file:
            file.write(json.dumps(event) + "\n")


def pytest_configure(config):
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # The ORM reads its database name here; without the controller's value this raises.
        config.orm_db = workerinput["orm_db"] if not MODE else workerinput.get("orm_db")
        return
    if MODE == "die" and ON_HOST:
        os._exit(7)
    if MODE == "hang-start" and ON_HOST:
        time.sleep(120)  # bounded even if nothing stops it


def pytest_configure_node(node):
    node.workerinput["orm_db"] = "orm_" + node.workerinput["workerid"]
    record(hook="configure_node", worker=node.gateway.id)


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        session.config.workeroutput["orm_db"] = session.config.orm_db
    elif MODE == "hang-finish":
        time.sleep(120)


def pytest_testnodedown(node, error):
    output = getattr(node, "workeroutput", {}) or {}
    record(hook="testnodedown", worker=node.gateway.id, error=str(error) if error else None,
           dropped=output.get("orm_db"))


def pytest_runtest_logreport(report):
    if not hasattr(report, "node") or report.when != "call":
        return  # only the controller's replayed reports carry the worker node
    record(hook="logreport", nodeid=report.nodeid, outcome=report.outcome,
           worker=report.node.gateway.id)


def pytest_terminal_summary(terminalreporter):
    if not hasattr(terminalreporter.config, "workerinput"):
        terminalreporter.write_sep("-", "orm databases dropped")
        terminalreporter.write_line("dropped by the controller")


@pytest.fixture
def orm_db(request, worker_id):
    return request.config.orm_db, worker_id
