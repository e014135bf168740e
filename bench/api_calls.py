"""API calls per account: collect one account of 500 users (with keys) and 500 roles.

The peer scanner needs 6,106 calls for this account; rolecall's budget is 30 whatever the size.
Runs against a moto server on 127.0.0.1 only. Usage: .venv/bin/python bench/api_calls.py [USERS ROLES]
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections import Counter
from typing import Any

from moto.moto_api import _internal as moto_internal

from flows.collect import collect_account
from flows.sources.organizations import Account
from flows.sources.session import base_session
from simulated.access_analyzer import LayeredMotoServer

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
]})


def seed_account(iam: Any, users: int, roles: int) -> None:
    """USERS users, every other one with an access key, and ROLES roles trusted by EC2."""
    for i in range(users):
        iam.create_user(UserName=f"user-{i:04d}")
        if i % 2 == 0:
            iam.create_access_key(UserName=f"user-{i:04d}")
    for i in range(roles):
        iam.create_role(RoleName=f"role-{i:04d}", AssumeRolePolicyDocument=TRUST)


def main(users: int, roles: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = LayeredMotoServer(ip_address="127.0.0.1", port=0)  # answers Access Analyzer
    server.start()
    try:
        host, port = server.get_host_and_port()
        moto_internal.moto_api_backend.reset()
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_DEFAULT_REGION": "us-east-1",
                           "AWS_ENDPOINT_URL": f"http://{host}:{port}"})
        os.environ.pop("AWS_PROFILE", None)
        session = base_session()
        seed_account(session.client("iam"), users, roles)
        account = Account("123456789012", "bench", "", "ACTIVE", "Root", True)
        started = time.perf_counter()
        data, clients = collect_account(session, account, role_name="unused", external_id=None)
        seconds = time.perf_counter() - started
        assert clients is not None and not data.errors, data.errors
        per_operation = Counter(p.operation for p in clients.payloads)
        print(f"account with {users} users and {roles} roles")
        print(f"  users collected:  {len(data.rows['iam_users'])}")
        print(f"  roles collected:  {len(data.rows['iam_roles'])}")
        print(f"  keys collected:   {len(data.rows['iam_access_keys'])}")
        print(f"  API calls:        {clients.calls} (budget 30; peer scanner: 6,106)")
        for operation, count in sorted(per_operation.items()):
            print(f"    {operation:38s} {count}")
        print(f"  collection time:  {seconds:.2f} s (moto on 127.0.0.1)")
    finally:
        server.stop()


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]] or [500, 500]
    main(*args)
