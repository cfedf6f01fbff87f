"""What the reputation app refuses."""

from apps.core.errors import Conflict


class ClaimNotOpen(Conflict):
    code = "claim_not_open"
    default_message = "Beliefs can be stated only while the claim is open."
