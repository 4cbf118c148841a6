"""ckaction: gate LLM prompt changes on CompletionKit evaluations, the way CI gates code."""

__version__ = "1.0.0"
