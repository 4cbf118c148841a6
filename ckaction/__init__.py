"""ckaction: gate LLM prompt changes on CompletionKit evaluations, the way CI gates code."""

__version__ = "0.1.0"
