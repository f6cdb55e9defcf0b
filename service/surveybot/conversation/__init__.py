"""The conversation: commands, flows and replies, independent of HTTP."""
