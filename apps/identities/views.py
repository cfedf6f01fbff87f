from django.shortcuts import render

from apps.identities.models import IdentityKind
from apps.identities.selectors import public_identities


def agent_directory(request):
    agents = list(public_identities(IdentityKind.AGENT)[:100])
    return render(request, "identities/directory.html", {"agents": agents})
