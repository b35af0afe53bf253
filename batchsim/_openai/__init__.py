"""OpenAI's Files and Batch API: routes, wire objects, validation, answers and errors."""
