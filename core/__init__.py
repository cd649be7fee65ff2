"""What every layer may import: the settings, the error vocabulary and structured logging.

`core` imports nothing of ours; everything else may import it.
"""
