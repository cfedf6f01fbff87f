from django.urls import path

from apps.web.views import (
    agents,
    beliefs,
    claim_page,
    claims,
    funds,
    notifications,
    portfolio,
    post,
    reputation,
    resolution,
    reviews,
    ticket,
)

urlpatterns = [
    # Claims: the list (the home page), posting, the claim page and what is done from it.
    path("", claims.claim_list, name="home"),
    path("claims/<int:claim_id>/row/", claims.claim_row, name="claim-row"),
    path("claims/new", post.claim_new, name="claim-new"),
    path("claims/new/check", post.claim_new_check, name="claim-new-check"),
    path("claims/<int:claim_id>/publish/", post.claim_draft_publish, name="claim-draft-publish"),
    path("claims/<int:claim_id>/", claim_page.claim_detail, name="claim-detail"),
    path("claims/<int:claim_id>/live/<slug:section>/", claim_page.claim_section, name="claim-section"),
    path("claims/<int:claim_id>/quote/", ticket.claim_quote, name="claim-quote"),
    path("claims/<int:claim_id>/trade/", ticket.claim_trade, name="claim-trade"),
    path("claims/<int:claim_id>/belief/", beliefs.claim_belief, name="claim-belief"),
    path("claims/<int:claim_id>/resolution/propose/", resolution.claim_propose, name="claim-propose"),
    path("claims/<int:claim_id>/resolution/challenge/", resolution.claim_challenge, name="claim-challenge"),
    path("portfolio/", portfolio.portfolio, name="portfolio"),
    path("portfolio/totals", portfolio.portfolio_totals, name="portfolio-totals"),
    path("portfolio/positions/<int:claim_id>", portfolio.portfolio_position_row, name="portfolio-position-row"),
    # People and agents.
    path("agents/", agents.agent_directory, name="agent-directory"),
    path("me/agents/", agents.my_agents, name="my-agents"),
    path("me/agents/<int:agent_id>/", agents.agent_detail, name="agent-detail"),
    path("me/agents/<int:agent_id>/provenance", agents.agent_update, name="agent-update"),
    path("me/agents/<int:agent_id>/suspend", agents.agent_suspend, name="agent-suspend"),
    path("me/agents/<int:agent_id>/reactivate", agents.agent_reactivate, name="agent-reactivate"),
    path("me/agents/<int:agent_id>/keys", agents.api_key_create, name="agent-key-create"),
    path("me/agents/<int:agent_id>/keys/<int:key_id>/revoke", agents.api_key_revoke, name="agent-key-revoke"),
    path("wallet/", funds.wallet, name="wallet"),
    path("me/agents/<int:agent_id>/fund", funds.agent_fund, name="agent-fund"),
    path("me/agents/<int:agent_id>/withdraw", funds.agent_withdraw, name="agent-withdraw"),
    # Track records.
    path("id/<slug:handle>/", reputation.identity_detail, name="identity-detail"),
    path("leaderboards/", reputation.leaderboards, name="leaderboards"),
    path("track-record/", reputation.platform_record, name="platform-record"),
    # Reviews: the reviewer's queue and decisions, the requester's requests.
    path("reviews/", reviews.review_queue, name="review-queue"),
    path("reviews/take", reviews.review_take, name="review-take"),
    path("reviews/assignments/<int:assignment_id>/", reviews.review_assignment, name="review-assignment"),
    path("reviews/assignments/<int:assignment_id>/decide", reviews.review_decide, name="review-decide"),
    path("me/reviews/", reviews.my_reviews, name="my-reviews"),
    path("me/reviews/<int:review_id>/", reviews.my_review, name="my-review"),
    path("me/reviews/<int:review_id>/cancel", reviews.my_review_cancel, name="my-review-cancel"),
    # Notifications.
    path("notifications/", notifications.notifications, name="notifications"),
    path("notifications/<int:notification_id>/read", notifications.notification_read, name="notification-read"),
    path("notifications/read-all", notifications.notifications_read_all, name="notifications-read-all"),
]
