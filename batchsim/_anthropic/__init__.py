"""The Anthropic wire: what the Messages API says and accepts, version by version."""
