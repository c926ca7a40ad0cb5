"""What every room stands on: settings read once, the exception tree, how messages quote input, compact schemas,
and each owner's share of the worker threads.

The modules:

    config.py    Settings and Limits, read once from the environment at start-up and passed down
    errors.py    the project's exception tree (InputError, ConfigError, ...)
    quoting.py   how messages quote what a caller passed: clipped strings, readable byte counts
    keys.py      API keys as hosts pass them: a key, a placeholder left in, or an unexpanded ${VAR}
    text.py      checks on text arguments a schema cannot say (not blank)
    schema.py    compact JSON schemas for tools/list
    threads.py   blocking work on worker threads, each counted against the calling owner's share
"""
