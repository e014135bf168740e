"""IAM policy semantics as small pure functions: parse, match, evaluate; no control ids.

The guidance modules (checks/g4_*.py .. g6_*.py) ask the questions; this package answers them
from IAM's documented evaluation logic. No I/O and no AWS calls: a policy document goes in (a
dict or JSON text; IAM's URL-encoding is undone once, when the source is collected), typed
statements, grants and findings come out. The checks reason over statements
(effect, principals, actions, conditions) instead of searching the JSON text. A trust policy
written with a single Statement object, scalars instead of lists, NotAction or unusual key
casing therefore gets the same verdict as its tidy equivalent.

No maintained Python library evaluates IAM conditions against a request context. policyuniverse
parses statements and expands action wildcards, and parliament lints policies; neither says
whether a condition holds. That is why this module exists.

`requests.py` is the exception to everything above: a second, deliberately separate reading of
IAM's evaluation logic that puts concrete requests to whole policies. It imports nothing from
this package; the GX restatements of G4-G6 read its answers, so the two readings check each
other (tests/test_concrete_agreement.py generates trust policies on which they must agree).

Decisions where AWS semantics or CONTROLS.md leave room (each is also commented where applied):
- `"Principal": "*"` is the same as `{"AWS": "*"}` (AWS documents them as equivalent), and it
  covers principals of every kind when a Deny uses it.
- Allow with NotPrincipal grants to everyone except the listed principals: we report it as a
  grant to `*` and keep the exclusions on the Grant. A Deny with NotPrincipal covers a principal
  only when no exclusion could overlap it (same value, same account, `*`, or an unknown account).
- Verdicts follow the whole policy ("effective meaning"). A Deny without conditions
  that fully covers the granted principal removes the grant (an account principal covers every
  ARN in that account). A Deny with conditions stays on the grant as `conditional_denies`, and
  when it is a *guard* it also restricts the grant: a request gets in only if the Allow's
  conditions hold and the guard does not fire, so the guard's inverse is ANDed to the Allow's
  conditions (`Grant.effective_conditions`) and every trust question reads those.
- A guard is a Deny covering the principal whose Condition is exactly one negated operator on
  one key (StringNotEquals, StringNotLike, ArnNotLike, ...; no ForAnyValue/ForAllValues), e.g.
  `StringNotEquals sts:ExternalId X` or `StringNotLike ...:sub repo:org/app:*`. A negated
  operator is true when the key is absent, so the guard also fires when the ExternalId or claim
  is missing: its inverse is the positive operator without IfExists (present and matching).
  `...IfExists` on a negated operator changes nothing here (absent is true either way).
  `Null KEY true` in a Deny is a guard that requires only presence (inverse `Null false`), which
  pins no value, so it satisfies no pin. Not credited: a Deny with several conditions
  (they are ANDed, so it fires only when all hold), ForAnyValue (false when the key is absent:
  the Deny lets a request without the key through), ForAllValues (not credited, as in an
  Allow), and positive operators in a Deny (`Deny if StringEquals`).
- A context value given as a list with no ForAnyValue/ForAllValues qualifier matches when any
  of its values matches; a negated operator is then the negation of that.
- Policy variables (`${aws:username}`) are not substituted; they compare as literal text.
- External IDs: an AWS principal whose account can't be read (a deleted principal's unique ID, such
  as AROA...) is treated as external. `sts:ExternalId` counts only with StringEquals, or
  StringLike without wildcards (plain or ForAnyValue, never IfExists or ForAllValues), and only
  when every value is non-empty; from a guard, StringNotEquals or wildcard-free StringNotLike.
  StringEqualsIgnoreCase does not count. Organization pins
  (aws:PrincipalOrgID / PrincipalAccount / PrincipalOrgPaths, in the Allow or as a guard) exempt
  only the `*` principal. A named account outside the org stays external.
  "`*` with no condition at all" (OPEN_TO_EVERYONE) means no Allow condition and no guard.
- GitHub subjects: StringEquals (and StringEqualsIgnoreCase) compare literally, so a sub value with `*`
  or `?` under them admits only that literal text. GitHub subjects never hold `*` or `?` (org,
  repository and git ref names can't), so such a value admits no real token: it is dropped from
  the subjects allowed and reported as a note ("StringEquals compares
  literally ..."): a statement whose sub condition admits no token lets nobody in (broken, not
  exposed).
  StringLike values are classified as patterns. Several sub conditions in one statement (Allow
  or guard) are ANDed, so the most restrictive one decides. ForAllValues and IfExists sub
  conditions still restrict (GitHub always sends `sub`); ForAllValues is
  reported separately. StringEqualsIgnoreCase counts like StringEquals.
- Other OIDC providers: a "condition on sub" must restrict: a positive operator (in the Allow, or a guard's
  inverse), not IfExists, not ForAllValues, and at least one value that admits less than
  everything (under StringLike not wildcards only; under StringEquals any non-empty literal).
  The values are ORed, so one value of wildcards only (`*`) beside a pattern restricts nothing;
  under StringEquals every value, `*` and '' too, is literal text and restricts.
  Only `oidc-provider/` ARNs are in scope (not Cognito, SAML, or the built-in Google, Facebook
  or Amazon providers).
- Service principals: a Service grant is confined when a positive String/Arn condition (not IfExists,
  not ForAllValues) tests aws:SourceAccount or aws:SourceArn with values that are not
  wildcards only (under StringEquals `*` is literal text and confines too); a guard on those keys
  counts the same way.
- SCP denies: a Deny counts when it has no condition, or only conditions that exempt admin
  principals: a negated String/Arn operator on aws:PrincipalArn, aws:PrincipalTag/... or
  aws:userid whose values don't exempt everyone. Its Resource must be unrestricted (`*`, or
  an ARN pattern whose fields after the service are all wildcards).
- SCP allow-lists: an action must be allowed at every level root -> OUs -> account, so a level
  none of whose SCPs may allow it denies it implicitly, and that counts as coverage. An SCP
  "may allow" an action when an Allow statement's Action/NotAction covers it, whatever its
  Resource or Condition (they might let some request through: conservative). A level with an
  unreadable SCP, or with no SCP at all, never denies implicitly: AWS keeps at least one SCP
  on every node while SCPs are enabled, so an empty level is missing data, not a deny.
  Without level information (`levels` not given) only explicit denies count.
"""
