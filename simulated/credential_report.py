"""The credential report as AWS writes it: each key's last-used region and service filled in.

moto records where a key was last used (service and region of the request) but writes
`not_supported` in the report's `access_key_N_last_used_region`/`_service` columns. AWS fills
them (`N/A` for a key never used), and a migration plan reads them to place each workload, so
once the simulated organization is served the report says what AWS would say.
"""

from __future__ import annotations

from typing import Any

from moto.iam.models import User

# Columns after `user` and `arn` (22 in all; names and ARNs may hold commas, these never do),
# counted from the first of them: key 1's region and service, then key 2's.
_FIXED_COLUMNS = 20
_REGION_SERVICE = ((9, 10, 0), (14, 15, 1))  # (region column, service column, key index)
# moto's name of a service where it differs from the one the report uses (the signing name)
_SERVICE_NAMES = {"awslambda": "lambda"}


def _with_last_use(original: Any) -> Any:
    def to_csv(user: Any) -> str:
        line = original(user)
        head, *fixed = line.rstrip("\n").rsplit(",", _FIXED_COLUMNS)
        keys = list(user.access_keys)
        for region_at, service_at, index in _REGION_SERVICE:
            if index < len(keys):
                used = keys[index].last_used
                fixed[region_at] = getattr(used, "region", None) or "N/A"
                service = getattr(used, "service", None) or "N/A"
                fixed[service_at] = _SERVICE_NAMES.get(service, service)
        return ",".join([head, *fixed]) + "\n"

    return to_csv


def report_last_use() -> None:
    """From now on in this process, moto's credential report names each key's last-used region
    and service. Idempotent: serving the organization twice does not wrap the report twice."""
    if getattr(User.to_csv, "reports_last_use", False):
        return
    to_csv = _with_last_use(User.to_csv)
    to_csv.reports_last_use = True  # type: ignore[attr-defined]
    User.to_csv = to_csv  # type: ignore[method-assign]
