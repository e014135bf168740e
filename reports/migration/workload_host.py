"""Where a workload that holds an IAM user's keys runs, which decides the trust of its role.

The credential report names the service a key last *called*, not where the caller ran, so the
user's own words come first: a GitHub/CI name or tag, then a host tag (`runs-on`, `platform`,
`host`, `compute`), then a host in the user name. Only then is the last-called service read as a
hint (a key that last called Lambda or ECS most likely runs there), and the reason says it is an
inference to confirm. With no sign at all the workload is taken to run outside AWS (IAM Roles
Anywhere). The user agent of the calls (CloudTrail) is not in the snapshot, so it is not read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from reports.migration.facts import UserFacts

HOST_TAGS = ("runs-on", "platform", "host", "compute")
REPOSITORY_TAGS = ("repository", "repo", "github-repository", "github-repo")
CI_WORDS = frozenset({"github", "gha", "ci", "cicd", "actions"})
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class Host(StrEnum):
    ec2 = "ec2"
    ecs = "ecs"
    lambda_ = "lambda"
    eks = "eks"
    github = "github-actions"
    outside_aws = "outside-aws"


# words (in a tag value, a user name, or a key's last-called service) -> host
WORDS: dict[str, Host] = {
    "ec2": Host.ec2, "ecs": Host.ecs, "fargate": Host.ecs, "lambda": Host.lambda_,
    "eks": Host.eks, "k8s": Host.eks, "kubernetes": Host.eks, "github": Host.github,
    "gha": Host.github,
}
LAST_CALLED = {"ec2": Host.ec2, "ecs": Host.ecs, "lambda": Host.lambda_, "eks": Host.eks}


@dataclass(frozen=True)
class Placement:
    host: Host
    evidence: str
    inferred: bool  # read from the last-called service, or assumed: to confirm
    repository: str | None = None  # ORG/REPO for GitHub Actions, when a tag names it


def words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if w}


def place(user: UserFacts) -> Placement:
    """Where the user's workload runs, and the sign it was read from."""
    tags = {k.lower(): v for k, v in user.tags.items()}
    repository = next((tags[k] for k in REPOSITORY_TAGS
                       if REPOSITORY.match(tags.get(k, "") or "")), None)
    if repository:
        return Placement(Host.github, f"tag names the repository {repository}", False, repository)
    ci_in_name = words(user.user_name) & CI_WORDS
    if ci_in_name:
        return Placement(Host.github, f"user name says {sorted(ci_in_name)[0]}", False)
    for key in HOST_TAGS:
        host = next((WORDS[w] for w in sorted(words(tags.get(key, ""))) if w in WORDS), None)
        if host:
            return Placement(host, f"tag {key}={tags[key]}", False)
    host = next((WORDS[w] for w in sorted(words(user.user_name)) if w in WORDS), None)
    if host:
        return Placement(host, f"user name {user.user_name} names {host.value}", False)
    used = sorted((k for k in user.active_keys if k.last_used), key=lambda k: k.last_used)
    if used and (service := (used[-1].service or "").lower()) in LAST_CALLED:
        return Placement(LAST_CALLED[service],
                         f"key {used[-1].slot} last called {service} in "
                         f"{used[-1].region or 'an unknown region'} (the credential report names "
                         "the service called, not the caller's host: confirm)", True)
    return Placement(Host.outside_aws, "no sign of an AWS host in its name, tags or last use: "
                     "taken to run outside AWS (confirm)", True)
