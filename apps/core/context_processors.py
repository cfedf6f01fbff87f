from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict:
    """The signed-in user's human identity, for the navigation bar (one query, cached on the user)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_identity": None}
    return {"nav_identity": user.human_identity}
