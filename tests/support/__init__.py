"""What the tests share: helpers to import by name, and the fixture plugins of tests/conftest.py."""
