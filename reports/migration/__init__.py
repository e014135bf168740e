"""A migration plan for every IAM user: what it is, what replaces it, and why.

facts.py reads one run's snapshot (read-only) into plain per-user facts; classify.py is the rule
table that says what each user is; workload_host.py says where a workload runs; trust.py and
permissions.py write the replacement's policies; plan.py puts one entry per user together;
write.py writes plan.csv and plan.md. `rolecall plan RUN` (cli/main.py) is the way in; of_run.py
gives the report's Migration plan chapter the same plan, dated the run date.
"""
