"""What the reviews app refuses."""

from apps.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


class ReviewClosed(Conflict):
    code = "review_closed"
    default_message = "This review is no longer open."


class LeaseExpired(Conflict):
    code = "lease_expired"
    default_message = "Your time to decide this review ran out; it went back to the queue."


# A decision the review's own rules refuse (the decisions it allows, its schemas) conflicts with the review
# as it stands: 409, as a date another date rules out is (a request the API's schema admits is never a 422).
class DecisionNotAllowed(Conflict):
    code = "decision_not_allowed"
    default_message = "This review does not allow that decision."


class DecisionInvalid(Conflict):
    code = "decision_invalid"
    default_message = "The decision does not satisfy the review's schema."


class AnswerConflict(Conflict):
    code = "answer_conflict"
    default_message = "The answer to use on timeout is not one the answer schema admits."


class NotAReviewer(PermissionDenied):
    code = "not_a_reviewer"
    default_message = "Only a signed-in person with a verified email can review."


class ReviewerConflicted(PermissionDenied):
    code = "reviewer_conflicted"
    default_message = "You or one of your agents is a party to this review: someone else decides it."


class AssignmentNotFound(NotFound):
    code = "not_found"
    default_message = "No such assignment."


class PolicyInvalid(ValidationFailed):
    code = "policy_invalid"
    default_message = "The policy cannot be saved."
