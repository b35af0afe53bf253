"""Serving the emulator under uvicorn (``batchsim serve``)."""
