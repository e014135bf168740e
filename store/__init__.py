"""The lowest floor: the snapshot schema, the run-folder layout and what a run could see.

flows writes through it, checks and reports read through it, the CLI opens it; it imports
nothing of rolecall's.
"""
