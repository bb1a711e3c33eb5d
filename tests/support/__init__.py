"""Helpers shared by the test suites: the simulator driver (``sim``) and the playbook runner."""
