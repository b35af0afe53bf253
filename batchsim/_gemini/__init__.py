"""Gemini batch mode (the Gemini Developer API's batches, files and resumable uploads): routes, wire
objects, answers and errors."""
