# A plugin that registers its controller hooks only while configuring (as pytest-random-order
# does) and reads its key from config.workerinput at configure time: no scan can see it before
# the worker needs the key, so the read itself starts the host session (tests/suites/README.md).


class NodeSetup:
    def pytest_configure_node(self, node):
        node.workerinput["lazy_seed"] = 1234


def pytest_configure(config):
    config.pluginmanager.register(NodeSetup(), "node_setup")
    if hasattr(config, "workerinput"):
        config.lazy_seed = config.workerinput["lazy_seed"]
