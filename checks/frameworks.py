"""The frameworks rolecall maps its controls to, each with the requirements it cites and the
settings the framework wants that differ from rolecall's defaults (its profile).

Why a table per framework: a requirement's id, title and source are stated once here, and each
control's catalogue entry (checks/g1_*.py .. g6_*.py) names only the id and how much of the
requirement it covers, e.g. `cis("1.14", "full")`. An id that is not in the table is an error at
import time, so no control can cite a requirement nobody looked up.

Every id and title below was read from the source named beside it: Prowler's compliance files
(prowler-cloud/prowler, prowler/compliance/aws/*.json) and Steampipe's AWS compliance benchmarks
(turbot/steampipe-mod-aws-compliance), which restate the frameworks' published texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

from checks.control import Requirement

_PROWLER = "https://github.com/prowler-cloud/prowler/blob/{commit}/prowler/compliance/aws/{file}"
_STEAMPIPE = "https://github.com/turbot/steampipe-mod-aws-compliance/blob/{commit}/{file}"

CIS_SOURCE = _PROWLER.format(commit="39ffe822a92761de82b27d86405430e06fa1ff3a",
                             file="cis_3.0_aws.json")
NIST_AC_SOURCE = _STEAMPIPE.format(commit="ca59bb2a115e49e6b9c26fc0cae9adc3a14a3f40",
                                   file="nist_800_53_rev_5/ac.pp")
NIST_IA_SOURCE = _STEAMPIPE.format(commit="01ef777c885cc0ad069230d96e0d2e177d21c5d6",
                                   file="nist_800_53_rev_5/ia.sp")
SOC2_SOURCE = _PROWLER.format(commit="9799cd41584195f828de1543a0255dc3dc463a94",
                              file="soc2_aws.json")
ISO_SOURCE = _PROWLER.format(commit="3be0ed331900bded67e0877e12346ffaec0894af",
                             file="iso27001_2022_aws.json")
PCI_7_SOURCE = _STEAMPIPE.format(commit="04765d21004c1d619a68dd162922e00a03033947",
                                 file="pci_dss_v400/requirement_7.pp")
PCI_8_SOURCE = _STEAMPIPE.format(commit="04765d21004c1d619a68dd162922e00a03033947",
                                 file="pci_dss_v400/requirement_8.pp")


@dataclass(frozen=True)
class Framework:
    """One framework: what it is, the public mapping its ids were read from (`source`), its
    profile, and the requirements rolecall cites from it (id -> (title, source))."""

    id: str
    name: str
    version: str
    publisher: str
    source: str
    requirements: Mapping[str, tuple[str, str]]
    profile: Mapping[str, Any] = field(default_factory=dict)
    profile_basis: str = ""  # why the profile says what it says
    note: str = ""  # how the ids relate to the version named

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def requirement(self, requirement_id: str, coverage: str, note: str = "") -> Requirement:
        """The framework's requirement `requirement_id`; an id not in the table is refused."""
        if requirement_id not in self.requirements:
            raise ValueError(f"{self.id} has no requirement {requirement_id!r} in checks/frameworks.py; "
                             "add it there with the source it was read from")
        title, source = self.requirements[requirement_id]
        return Requirement(self.id, requirement_id, title, coverage, source, note)


CIS_AWS = Framework(
    id="cis-aws-3.0",
    name="CIS Amazon Web Services Foundations Benchmark",
    version="3.0.0",
    publisher="Center for Internet Security",
    source=CIS_SOURCE,
    requirements=MappingProxyType({
        "1.4": ("Ensure no 'root' user account access key exists", CIS_SOURCE),
        "1.5": ("Ensure MFA is enabled for the 'root' user account", CIS_SOURCE),
        "1.10": ("Ensure multi-factor authentication (MFA) is enabled for all IAM users that "
                 "have a console password", CIS_SOURCE),
        "1.12": ("Ensure credentials unused for 45 days or greater are disabled", CIS_SOURCE),
        "1.14": ("Ensure access keys are rotated every 90 days or less", CIS_SOURCE),
        "1.20": ("Ensure that IAM Access analyzer is enabled for all regions", CIS_SOURCE),
        "1.21": ("Ensure IAM users are managed centrally via identity federation or AWS "
                 "Organizations for multi-account environments", CIS_SOURCE),
    }),
    profile=MappingProxyType({"unused_credential_days": 45}),
    profile_basis="1.12: credentials unused for 45 days or greater are disabled; 1.14's 90-day "
                  "rotation is rolecall's default already",
)

NIST_800_53 = Framework(
    id="nist-800-53-r5",
    name="NIST SP 800-53",
    version="Rev. 5",
    publisher="National Institute of Standards and Technology",
    source="https://github.com/turbot/steampipe-mod-aws-compliance/tree/main/nist_800_53_rev_5",
    requirements=MappingProxyType({
        "AC-2": ("Account Management", NIST_AC_SOURCE),
        "AC-2(1)": ("Automated System Account Management", NIST_AC_SOURCE),
        "AC-2(3)": ("Disable Accounts", NIST_AC_SOURCE),
        "AC-3": ("Access Enforcement", NIST_AC_SOURCE),
        "AC-6": ("Least Privilege", NIST_AC_SOURCE),
        "IA-2(1)": ("Multi-Factor Authentication to Privileged Accounts", NIST_IA_SOURCE),
        "IA-2(2)": ("Multi-Factor Authentication to Non-Privileged Accounts", NIST_IA_SOURCE),
        "IA-5": ("Authenticator Management", NIST_IA_SOURCE),
    }),
    profile_basis="periods are organization-defined assignments; rolecall's defaults stand",
)

SOC2 = Framework(
    id="soc2-2017",
    name="AICPA Trust Services Criteria (SOC 2)",
    version="2017 (revised points of focus 2022)",
    publisher="American Institute of Certified Public Accountants",
    source=SOC2_SOURCE,
    requirements=MappingProxyType({
        "CC6.1": ("The entity implements logical access security software, infrastructure, and "
                  "architectures over protected information assets to protect them from "
                  "security events to meet the entity's objectives", SOC2_SOURCE),
        "CC6.2": ("Prior to issuing system credentials and granting system access, the entity "
                  "registers and authorizes new internal and external users whose access is "
                  "administered by the entity", SOC2_SOURCE),
        "CC6.3": ("The entity authorizes, modifies, or removes access to data, software, "
                  "functions, and other protected information assets based on roles, "
                  "responsibilities, or the system design and changes, giving consideration to "
                  "the concepts of least privilege and segregation of duties, to meet the "
                  "entity's objectives", SOC2_SOURCE),
        "CC6.6": ("The entity implements logical access security measures to protect against "
                  "threats from sources outside its system boundaries", SOC2_SOURCE),
    }),
    profile_basis="the criteria set no thresholds; rolecall's defaults stand",
)

ISO_27001 = Framework(
    id="iso27001-2022",
    name="ISO/IEC 27001 Annex A",
    version="2022",
    publisher="ISO/IEC",
    source=ISO_SOURCE,
    requirements=MappingProxyType({
        "A.5.15": ("Access Control", ISO_SOURCE),
        "A.5.16": ("Identity Management", ISO_SOURCE),
        "A.5.17": ("Authentication Information", ISO_SOURCE),
        "A.8.2": ("Privileged Access Rights", ISO_SOURCE),
        "A.8.3": ("Information Access Restriction", ISO_SOURCE),
        "A.8.5": ("Secure Authentication", ISO_SOURCE),
    }),
    profile_basis="Annex A sets no thresholds; rolecall's defaults stand",
)

PCI_DSS = Framework(
    id="pci-dss-4.0.1",
    name="PCI DSS",
    version="4.0.1",
    publisher="PCI Security Standards Council",
    source="https://github.com/turbot/steampipe-mod-aws-compliance/tree/main/pci_dss_v400",
    note="ids and titles from Steampipe's PCI DSS v4.0 benchmark; v4.0.1 (June 2024) revised "
         "wording without renumbering these requirements",
    requirements=MappingProxyType({
        "7.2.5": ("All application and system accounts and related access privileges are "
                  "assigned and managed", PCI_7_SOURCE),
        "8.2.6": ("Inactive user accounts are removed or disabled within 90 days of inactivity",
                  PCI_8_SOURCE),
        "8.6.3": ("Passwords/passphrases for any application and system accounts are protected "
                  "against misuse", PCI_8_SOURCE),
    }),
    profile_basis="8.2.6's 90 days is rolecall's default already; 8.6.3 leaves the rotation "
                  "period to the entity's targeted risk analysis",
)

FRAMEWORKS: tuple[Framework, ...] = (CIS_AWS, NIST_800_53, SOC2, ISO_27001, PCI_DSS)
FRAMEWORKS_BY_ID: dict[str, Framework] = {f.id: f for f in FRAMEWORKS}
# framework id -> settings, for checks/settings.resolve(profiles=...)
PROFILES: dict[str, dict[str, Any]] = {f.id: dict(f.profile) for f in FRAMEWORKS}

# What a control's catalogue entry calls: cis("1.14", "full"), nist("IA-5", "partial", "...").
cis = partial(Framework.requirement, CIS_AWS)
nist = partial(Framework.requirement, NIST_800_53)
soc2 = partial(Framework.requirement, SOC2)
iso = partial(Framework.requirement, ISO_27001)
pci = partial(Framework.requirement, PCI_DSS)


def framework(framework_id: str) -> Framework:
    """The registered framework; an unknown id names the known ones."""
    try:
        return FRAMEWORKS_BY_ID[framework_id]
    except KeyError:
        raise ValueError(f"unknown framework {framework_id!r}; known: "
                         f"{', '.join(FRAMEWORKS_BY_ID)}") from None
