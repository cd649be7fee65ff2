"""What every layer may import: the settings (`settings`), the error vocabulary (`errors`), the
one input validation helper (`validation`, with `countries`), structured logging (`logs`) and
the DataLoader plumbing (`loading`: our loaders' base, `peek` and `loaded`).

Layer: the bottom. `core` imports nothing of ours outside itself.
"""
