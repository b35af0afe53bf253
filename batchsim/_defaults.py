"""Defaults shared by the emulator and its pytest plugin (a module that imports nothing)."""

DEFAULT_API_KEY = "batchsim-test-key"
"""The key in-process clients and the plugin's server use unless given another."""

IN_PROCESS_URL = "http://batchsim.local"
"""The base URL of in-process clients (no socket is opened)."""
