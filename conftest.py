pytest_plugins = ["atelier.stack.pytest_plugin", "atelier.platform.pytest_plugin"]
