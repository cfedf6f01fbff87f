"""What moderation refuses."""

from apps.core.errors import Conflict, RateLimited


class AlreadyFlagged(Conflict):
    code = "already_flagged"
    default_message = "You have flagged this already; moderators will look at it."


class FlagRateLimited(RateLimited):
    code = "flag_rate_limited"
    default_message = "You have flagged a lot today: try again tomorrow."


class AlreadyAppealed(Conflict):
    code = "already_appealed"
    default_message = "This action was appealed already: an action may be appealed once."


class NotAppealable(Conflict):
    code = "not_appealable"
    default_message = "This action cannot be appealed."


class NothingToChange(Conflict):
    code = "nothing_to_change"
    default_message = "It is already so: nothing was changed (another moderator may have just done it)."
