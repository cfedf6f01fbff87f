from django import template

from apps.reviews.selectors import offered_to

register = template.Library()


@register.simple_tag
def reviews_waiting(identity) -> int:
    """How many reviews wait for the identity's person (one COUNT), for the navigation bar."""
    if identity is None or identity.user_id is None:
        return 0
    return offered_to(identity.user, identity).count()
