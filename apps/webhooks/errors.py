"""What the webhooks app refuses. A URL or a state the API's schema admits but the present refuses (a host
that resolves to a private address, a disabled subscription) is a 409, as elsewhere: a request the schema
admits is never a 422."""

from apps.core.errors import Conflict


class WebhookUrlRefused(Conflict):
    code = "webhook_url_refused"
    default_message = "This URL may not receive webhooks."


class TooManyWebhooks(Conflict):
    code = "too_many_webhooks"
    default_message = "This agent has as many webhook subscriptions as it may."


class WebhookDisabled(Conflict):
    code = "webhook_disabled"
    default_message = "This subscription is disabled: it receives nothing until it is enabled again."
