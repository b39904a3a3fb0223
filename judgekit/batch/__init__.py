"""Batch mode (``score --batch``): provider batch APIs at half price, collected on the next run.

Modules: ``session`` (one run: collect, the pass, submit), ``state`` (the batch tables in
the cache file), ``api`` (what a provider's batch API offers), ``openai_batch`` and
``anthropic_batch`` (the two wire formats), ``providers`` (which API a connection has,
and the batch price).
"""
