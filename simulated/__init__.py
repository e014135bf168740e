"""The built-in simulated organization (moto) for the demo and the tests.

`organization` seeds and serves it, `access_analyzer` adds what moto lacks, `process` runs it in a
child process; `credentials` holds the fake keys both sides use. Nothing here imports the
pipeline: the demo points the ordinary AWS configuration at it.
"""
