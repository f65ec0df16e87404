pytest_plugins = ["atelier.stack.pytest_plugin"]
