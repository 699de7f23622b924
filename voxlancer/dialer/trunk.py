"""Where a number is dialled: the ARI endpoint and caller ID for a call through the trunk.

A real trunk takes the number as the Request-URI user (PJSIP/<number>@<trunk>). The `softphone`
account is a person's phone, not a trunk: a phone that checks the Request-URI user against its
own account (baresip does) answers 404 to +12025550142@..., so the account is rung as itself and
the dialled number is shown as the caller's display name instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxlancer.asterisk.instance import SOFTPHONE_USER


@dataclass(frozen=True)
class Target:
    endpoint: str  # ARI originate `endpoint`
    caller_id: str  # ARI originate `callerId`: "name" <number> or a bare number


def target(number: str, trunk: str, caller_id: str) -> Target:
    if trunk == SOFTPHONE_USER:
        # The quotes keep a name with spaces or commas whole; the number comes from caller_id.
        return Target(f"PJSIP/{SOFTPHONE_USER}", f'"{number}" <{caller_id}>')
    return Target(f"PJSIP/{number}@{trunk}", caller_id)
