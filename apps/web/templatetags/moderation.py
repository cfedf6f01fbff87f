from django import template

from apps.moderation.selectors import Standing, standing_of

register = template.Library()


@register.simple_tag
def moderation_standing(identity) -> Standing | None:
    """The identity's wallet balance, and whether moderators suspended it or froze its wallet (one query: the
    navigation's balance, and the notices of templates/moderation/standing.html)."""
    return None if identity is None else standing_of(identity)
