"""Checkpoint conditions (apps/reviews/conditions.py): refused at save with the reason, bounded against hostile
text, and evaluated without ever raising, an evaluation that fails firing with its error. Pure Python: no
database."""

import enum
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.core.amounts import CREDIT
from apps.core.errors import ValidationFailed
from apps.reviews.conditions import (
    MAX_COST,
    MAX_LIST_LENGTH,
    Activation,
    Condition,
    ConditionInvalid,
    ConditionSet,
    Evaluation,
    Variables,
    compile_condition,
)
from tests.support import ORDER_VARIABLES

DECLARED = ORDER_VARIABLES
VARIABLES = Variables(DECLARED)
TYPICAL = 'actor.kind == "agent" && order.amount > 500 * CREDIT && claim.domain == "health"'


def activation(**changes: dict) -> dict:
    """An activation the typical condition fires for: an agent's 600-credit order on a health claim.
    `changes` replaces fields: activation(actor={"kind": "person"})."""
    values = {
        "actor": {"kind": "agent", "handle": "bot", "autonomy_level": "supervised", "reliability": 0.8, "age_days": 3},
        "order": {"kind": "buy", "side": "yes", "amount": 600 * CREDIT, "shares": 10, "limit_price": 0.5},
        "claim": {"id": 7, "domain": "health", "title": "Will it rain?", "tags": ["weather", "paris"]},
    }
    for name, fields in changes.items():
        values[name] = {**values[name], **fields}
    return values


def refusal(source: str) -> ConditionInvalid:
    with pytest.raises(ConditionInvalid) as refused:
        compile_condition(source, VARIABLES)
    return refused.value


# --- The typical condition -----------------------------------------------------------------------------------


def test_the_typical_condition_fires_for_an_agents_large_order_on_a_health_claim_with_each_clause_recorded():
    evaluation = compile_condition(TYPICAL, VARIABLES).evaluate(activation())

    assert evaluation == Evaluation(
        fired=True,
        clauses=[
            ('actor.kind == "agent"', True),
            ("order.amount > 500 * CREDIT", True),
            ('claim.domain == "health"', True),
        ],
        error=None,
    )


def test_the_typical_condition_does_not_fire_for_a_person_and_still_records_every_clause():
    evaluation = compile_condition(TYPICAL, VARIABLES).evaluate(activation(actor={"kind": "person"}))

    assert evaluation == Evaluation(
        fired=False,
        clauses=[
            ('actor.kind == "agent"', False),
            ("order.amount > 500 * CREDIT", True),
            ('claim.domain == "health"', True),
        ],
        error=None,
    )


def test_credit_is_a_million_micro_credits():
    condition = compile_condition("order.amount > 500 * CREDIT", VARIABLES)

    assert condition.evaluate(activation(order={"amount": 500 * CREDIT})).fired is False
    assert condition.evaluate(activation(order={"amount": 500 * CREDIT + 1})).fired is True
    assert compile_condition("CREDIT == 1000000", VARIABLES).evaluate(activation()).fired is True


def test_an_or_fires_when_one_clause_holds_and_a_bracketed_group_is_one_clause():
    condition = compile_condition('actor.age_days < 7 || (actor.kind == "person" && order.side == "no")', VARIABLES)

    evaluation = condition.evaluate(activation(actor={"age_days": 30, "kind": "person"}, order={"side": "no"}))

    assert evaluation == Evaluation(
        fired=True,
        clauses=[("actor.age_days < 7", False), ('(actor.kind == "person" && order.side == "no")', True)],
        error=None,
    )


def test_the_empty_condition_means_every_time():
    for source in ("", "   \n", "// every order"):
        assert compile_condition(source, VARIABLES).evaluate(activation()) == Evaluation(True, [], None)


@pytest.mark.parametrize(
    ("source", "fired"),
    [
        ('claim.tags.exists(t, t == "paris")', True),
        ('claim.tags.all(t, t.startsWith("w"))', False),
        ('claim.tags.exists_one(t, t.contains("a"))', False),
        ('claim.tags.filter(t, t.endsWith("s")).size() == 1', True),
        ("claim.tags.map(t, size(t)).size() == 2", True),
        ('"paris" in claim.tags && !("rome" in claim.tags)', True),
        ("claim.tags[0] == 'weather'", True),
        ("size(claim.title) == 13 && claim.title.size() == 13", True),
        ("actor.reliability >= 0.8 && actor.reliability < 1 && -actor.age_days == -3", True),
        ("int(order.limit_price * 10.0) == 5 && double(order.shares) / 4.0 == 2.5", True),
        ('string(order.shares) + " shares" == "10 shares"', True),
        ("order.amount % 7 == 600000000 % 7 && order.amount / CREDIT - 100 == 500", True),
        ('actor.kind == "agent" ? order.shares > 5 : order.shares > 50', True),
        ("actor.kind in ['agent', r'person\\n'] && 0x10 == 16 && 1e3 == 1000.0", True),
        ('actor.handle == "b\\x6f\\u0074"', True),
    ],
)
def test_what_a_condition_may_say_evaluates_as_cel_does(source, fired):
    evaluation = compile_condition(source, VARIABLES).evaluate(activation())

    assert (evaluation.fired, evaluation.error) == (fired, None)


# --- Refused at save, with the reason ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            'actor.knd == "agent"',
            "unknown field actor.knd (actor has age_days, autonomy_level, handle, kind, reliability)",
        ),
        ("order.amount > 'x'", "order.amount is int, compared with a string"),
        ('order.amount == "500"', "order.amount is int, compared with a string"),
        ('claim.domain in ["health", 1]', "a list's items must have one type: 1 is int, not string"),
        ("claim.domain in [1, 2]", "claim.domain is string, looked up in a list(int)"),
        ("order.amount", "the condition must be a bool, and order.amount is int"),
        ('actor.kind == "agent" && order.amount', "order.amount is int, not a bool: '&&' joins conditions"),
        (
            "actor",
            "actor is an object: use one of its fields (actor.age_days, actor.autonomy_level, "
            "actor.handle, actor.kind, actor.reliability)",
        ),
        ("acter.kind == 'agent'", "unknown name acter (a condition may read CREDIT, actor, claim, order)"),
        ("actor.kind.role == 'x'", "actor.kind is string: it has no field role"),
        ("order.amount * 0.5 > 1.0", "order.amount is int and 0.5 is double: convert one with int() or double()"),
        ("order.side - 'x' == ''", "order.side is string and 'x' is string: '-' does not apply"),
        ("order.side < true", "order.side is string, compared with a bool"),
        ("true < false", "true is bool: a bool cannot be ordered with '<'"),
        ("!order.amount", "order.amount is int: '!' needs a bool"),
        ("order.shares > 1 ? 'a' : 2", "both sides of ':' must have one type: 'a' is string, 2 is int"),
        ("claim.tags.exists(t, t)", "exists() needs a bool for each item, and t is string"),
        ("claim.title.exists(t, true)", "exists() needs a list, and claim.title is string"),
        ("claim.tags.exists(actor, true)", "exists()'s variable actor would hide a name: choose another"),
        ("claim.tags.all(actor__kind, true)", "all()'s variable actor__kind would hide a name: choose another"),
        ("claim.tags.size() > []", "an empty list has no type: compare a list's size() with 0 instead"),
        ("claim.id[0] == 1", "claim.id is int: only a list can be indexed"),
        ("lower(claim.title) == 'x'", "unknown function lower() (a condition may call size, int, double, string)"),
        ("claim.title.matches('^W')", "matches() is not supported: it compiles its pattern on every evaluation"),
        ("string(true) == 'true'", "string() does not take a bool, and true is bool"),
        ("has(claim.title)", "has() is not supported: a condition reads the declared fields"),
        ("claim.title == null", "null is not supported"),
        ("order.amount > 1u", "unsigned ints (1u) are not supported: write 1"),
        ("order.amount > 9223372036854775808", "the number 9223372036854775808 is out of range"),
        ("{'a': 1}.a == 1", "map literals ({...}) are not supported"),
        ('actor.kind == "agent', "syntax error at column 15: the string is not closed"),
        (
            "order.amount > (1 + 2",
            "syntax error at column 22: expected ')' to close the '(' at column 16, found the end of the condition",
        ),
        ("actor.kind = 'agent'", "syntax error at column 12: '=' is not an operator: compare with =="),
        ("actor.kind == 'agent' & true", "syntax error at column 23: '&' is not an operator: use &&"),
        (
            "actor.kind == 'agent' true",
            "syntax error at column 23: expected an operator or the end of the condition, found 'true'",
        ),
        ("order.amount > ", "syntax error at column 16: expected a value, found the end of the condition"),
        ("order.amount >\n 5 @", "syntax error at line 2, column 4: unexpected character '@'"),
    ],
)
def test_a_condition_that_does_not_check_is_refused_with_the_reason(source, message):
    refused = refusal(source)

    assert (refused.message, refused.code, refused.status) == (message, "condition_invalid", 422)
    assert isinstance(refused, ValidationFailed)


def test_a_refusal_says_where_in_the_text():
    assert refusal('actor.knd == "agent"').detail == {"start": 0, "end": 9}
    assert refusal('actor.kind == "agent" && order.amount').detail == {"start": 25, "end": 37}


# --- Hostile text: refused or bounded, quickly -------------------------------------------------------------

LONG_LIST = "[" + ", ".join(["1"] * 300) + "]"
HOSTILE = {
    "5,000 brackets": ("(" * 5000 + "true" + ")" * 5000, "the condition is 10,004 characters long; the limit is 2,000"),
    "300 clauses": ("true || " * 300, "the condition is 2,400 characters long; the limit is 2,000"),
    "990 brackets": ("(" * 990 + "true" + ")" * 990, "the condition nests brackets deeper than 10 levels"),
    "unclosed brackets": ("(" * 1000, "the condition nests brackets deeper than 10 levels"),
    "11 lists in lists": ("[" * 11 + "]" * 11 + " == []", "the condition nests brackets deeper than 10 levels"),
    "1,990 nots": ("!" * 1990 + "true", "the condition nests operators deeper than 24 levels"),
    "1,990 minuses": ("-" * 1990 + "1 > 0", "the condition nests operators deeper than 24 levels"),
    "400 additions": ("1" + " + 1" * 400 + " > 0", "the condition nests operators deeper than 24 levels"),
    "30 calls in a chain": (
        "claim.title" + ".size()" * 30 + " > 0",
        "the condition nests operators deeper than 24 levels",
    ),
    "11 conditionals": ("true ? true : " * 11 + "false", "the condition nests deeper than 10 levels"),
    "nested comprehensions": (
        "claim.tags.exists(t, claim.tags.exists(u, t == u))",
        "comprehensions (all, exists, exists_one, map, filter) cannot be nested",
    ),
    "a comprehension over a comprehension": (
        "claim.tags.map(t, t).exists(u, true)",
        "comprehensions (all, exists, exists_one, map, filter) cannot be nested",
    ),
    "three comprehensions": (
        "claim.tags.all(t, true) && claim.tags.all(t, true) && claim.tags.all(t, true)",
        "a condition may have at most 2 comprehensions",
    ),
    "a long list looked up for each item of a long list": (
        f"{LONG_LIST}.exists(x, x in {LONG_LIST})",
        "the condition could take 184,201 steps to evaluate; the limit is 2,000 "
        "(a comprehension repeats its body for each item of its list)",
    ),
    "a long list for each item of a long list": (
        f"{LONG_LIST}.map(x, {LONG_LIST}) == []",
        "map() must give one value per item, not a list",
    ),
    "a long body for each of the activation's items": (
        "claim.tags.exists(t, " + " && ".join(["t == claim.title"] * 20) + ")",
        "the condition could take 2,277 steps to evaluate; the limit is 2,000 "
        "(a comprehension repeats its body for each item of its list)",
    ),
    "map() over a 100-item list, quadratic in cel-rust": (
        "[" + ", ".join(["1"] * 100) + "].map(x, x).size() > 0",
        "the condition could take 21,204 steps to evaluate; the limit is 2,000 "
        "(a comprehension repeats its body for each item of its list)",
    ),
    "a lone surrogate": ('"\ud800" == actor.kind', "the condition holds an invalid character (a lone surrogate)"),
    "an escaped surrogate": ('"\\ud800" == actor.kind', "syntax error at column 2: invalid escape \\u in a string"),
    "bytes": ("b'x' == b'x'", 'bytes literals (b"...") are not supported'),
}


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("source", "message"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_text_is_refused_before_anything_recurses_or_runs(source, message):
    assert refusal(source).message == message


@pytest.mark.timeout(10)
def test_the_costliest_conditions_accepted_still_evaluate():
    """At the bounds: a 2,000-character list, 24 operators deep, a comprehension over a list at its longest."""
    items = "[" + ", ".join(["7"] * 660) + "]"
    deep = "1" + " + 1" * 22 + " == 23"
    scan = "claim.tags.exists(t, " + " || ".join(["t == claim.title"] * 17) + ")"
    tags = [f"tag{n}" for n in range(MAX_LIST_LENGTH)]

    for source, fired in [(f"7 in {items}", True), (deep, True), (scan, False)]:
        condition = compile_condition(source, VARIABLES)
        assert condition.cost <= MAX_COST
        assert condition.evaluate(activation(claim={"tags": tags})) == Evaluation(fired, [(source, fired)], None)


# --- Evaluation never raises: a failure fires, with the error ----------------------------------------------


def test_a_division_by_zero_fires_with_the_error():
    evaluation = compile_condition("order.amount / (order.shares - 10) > 1", VARIABLES).evaluate(activation())

    assert evaluation == Evaluation(
        fired=True,
        clauses=[("order.amount / (order.shares - 10) > 1", None)],
        error="order.amount / (order.shares - 10) > 1: ZeroDivisionError: division by zero in CEL expression",
    )


def test_a_field_missing_from_the_activation_fires_and_says_so():
    values = activation()
    del values["order"]["amount"]

    evaluation = compile_condition(TYPICAL, VARIABLES).evaluate(values)

    assert evaluation == Evaluation(
        fired=True,
        clauses=[
            ('actor.kind == "agent"', True),
            ("order.amount > 500 * CREDIT", None),
            ('claim.domain == "health"', True),
        ],
        error="order.amount > 500 * CREDIT: order.amount is missing",
    )


def test_an_error_in_one_clause_is_absorbed_when_another_decides_as_in_cel():
    """CEL's && and || are commutative over errors: false && error is false, true || error is true."""
    values = activation(actor={"kind": "person"})
    del values["order"]

    assert compile_condition(TYPICAL, VARIABLES).evaluate(values) == Evaluation(
        fired=False,
        clauses=[
            ('actor.kind == "agent"', False),
            ("order.amount > 500 * CREDIT", None),
            ('claim.domain == "health"', True),
        ],
        error=None,
    )
    assert compile_condition("order.shares > 1 || actor.age_days < 7", VARIABLES).evaluate(values) == Evaluation(
        fired=True, clauses=[("order.shares > 1", None), ("actor.age_days < 7", True)], error=None
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"order": {"amount": "600000000"}}, "order.amount should be an int, the activation gave str"),
        ({"order": {"amount": None}}, "order.amount should be an int, the activation gave None"),
        ({"order": {"amount": True}}, "order.amount should be an int, the activation gave bool"),
        ({"order": {"amount": 2**63}}, "order.amount should be an int, the activation gave int"),
        ({"order": {"amount": 600.0 * CREDIT}}, "order.amount should be an int, the activation gave float"),
    ],
)
def test_an_activation_value_of_the_wrong_type_fires_the_conditions_that_read_it(changes, problem):
    evaluation = compile_condition("order.amount > 500 * CREDIT", VARIABLES).evaluate(activation(**changes))

    assert evaluation == Evaluation(
        fired=True,
        clauses=[("order.amount > 500 * CREDIT", None)],
        error=f"order.amount > 500 * CREDIT: {problem}",
    )
    assert compile_condition('actor.kind == "agent"', VARIABLES).evaluate(activation(**changes)).fired is True


def test_an_int_where_a_double_is_declared_is_read_as_a_double():
    condition = compile_condition("actor.reliability * 2.0 == 2.0", VARIABLES)

    assert condition.evaluate(activation(actor={"reliability": 1})) == Evaluation(
        True, [("actor.reliability * 2.0 == 2.0", True)], None
    )


def test_a_choices_member_is_read_as_the_plain_value_it_is():
    """A model's field holds its TextChoices / IntegerChoices member until the row is read back."""

    class Kind(enum.StrEnum):
        AGENT = "agent"

    class Shares(enum.IntEnum):
        TEN = 10

    condition = compile_condition('actor.kind == "agent" && order.shares == 10', VARIABLES)

    evaluation = condition.evaluate(activation(actor={"kind": Kind.AGENT}, order={"shares": Shares.TEN}))

    assert evaluation == Evaluation(True, [('actor.kind == "agent"', True), ("order.shares == 10", True)], None)


def test_a_list_longer_than_the_bound_is_not_read():
    tags = ["t"] * (MAX_LIST_LENGTH + 1)

    evaluation = compile_condition("claim.tags.size() > 0", VARIABLES).evaluate(activation(claim={"tags": tags}))

    assert evaluation == Evaluation(
        True, [("claim.tags.size() > 0", None)], "claim.tags.size() > 0: claim.tags holds 26 items; the limit is 25"
    )


def test_a_list_with_an_item_of_another_type_is_not_read():
    evaluation = compile_condition("'x' in claim.tags", VARIABLES).evaluate(activation(claim={"tags": ["x", 1]}))

    assert evaluation == Evaluation(
        True,
        [("'x' in claim.tags", None)],
        "'x' in claim.tags: claim.tags should be a list(string), and an item is not a string",
    )


@pytest.mark.parametrize("values", [None, [], "actor", {"actor": "agent"}, {"actor": {"kind": ["agent"]}}])
def test_an_activation_that_is_not_what_was_declared_fires(values):
    evaluation = compile_condition('actor.kind == "agent"', VARIABLES).evaluate(values)

    assert (evaluation.fired, evaluation.clauses) == (True, [('actor.kind == "agent"', None)])
    assert evaluation.error


def test_an_activation_prepared_once_serves_every_condition_and_only_for_its_variables():
    prepared = VARIABLES.activation(activation())
    other = Variables({"actor": {"kind": "string"}})

    assert isinstance(prepared, Activation)
    assert compile_condition(TYPICAL, VARIABLES).evaluate(prepared).fired is True
    assert compile_condition("order.shares == 10", VARIABLES).evaluate(prepared).fired is True
    assert compile_condition('actor.kind == "agent"', other).evaluate(prepared) == Evaluation(
        True, [('actor.kind == "agent"', None)], "the activation was prepared for other variables than the condition's"
    )


SCREENED = [
    TYPICAL,
    'claim.domain == "nowhere" || order.side == "no"',
    "",
    '"weather" in claim.tags',
    "order.shares > 5 && actor.age_days < 1",
]


def test_a_set_screens_every_condition_in_one_call_as_each_would_alone():
    conditions = ConditionSet([compile_condition(source, VARIABLES) for source in SCREENED])
    for values in (activation(), activation(actor={"kind": "person", "age_days": 0}), activation(order={"side": "no"})):
        prepared = VARIABLES.activation(values)
        assert conditions.fired(prepared) == [c.evaluate(prepared).fired for c in conditions.conditions]
    assert conditions.fired(VARIABLES.activation(activation())) == [True, False, True, True, False]


def test_a_set_absorbs_an_error_where_the_other_side_decides_as_each_condition_does():
    absorbing = [
        compile_condition('order.amount / (order.shares - 10) > 1 || actor.kind == "agent"', VARIABLES),
        compile_condition('order.amount / (order.shares - 10) > 1 && actor.kind == "person"', VARIABLES),
    ]
    prepared = VARIABLES.activation(activation())  # ten shares: the division fails
    assert ConditionSet(absorbing).fired(prepared) == [True, False]
    assert [c.evaluate(prepared) for c in absorbing] == [
        Evaluation(True, [("order.amount / (order.shares - 10) > 1", None), ('actor.kind == "agent"', True)]),
        Evaluation(False, [("order.amount / (order.shares - 10) > 1", None), ('actor.kind == "person"', False)]),
    ]


def test_a_set_leaves_to_each_condition_what_its_one_call_cannot_judge():
    # a clause that fails (a division by zero) fails the one call: every condition is judged on its own
    failing = ConditionSet(
        [compile_condition(TYPICAL, VARIABLES), compile_condition("order.amount / (order.shares - 10) > 1", VARIABLES)]
    )
    assert failing.fired(VARIABLES.activation(activation())) == [None, None]
    with_empty = ConditionSet([*failing.conditions, compile_condition("", VARIABLES)])
    assert with_empty.fired(VARIABLES.activation(activation())) == [None, None, True]
    # so does an activation missing a value, or one prepared for other variables
    values = activation()
    del values["order"]["amount"]
    typical = ConditionSet([compile_condition(TYPICAL, VARIABLES)])
    assert typical.fired(VARIABLES.activation(values)) == [None]
    other = Variables({"actor": {"kind": "string"}})
    assert typical.fired(other.activation({"actor": {"kind": "agent"}})) == [None]
    # and a set of no conditions, or of empty ones (every time), needs no call
    assert ConditionSet([]).fired(VARIABLES.activation(activation())) == []
    assert ConditionSet([compile_condition("", VARIABLES)]).fired(VARIABLES.activation(activation())) == [True]


@given(
    kind=st.sampled_from(["agent", "person", ""]),
    amount=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    shares=st.integers(min_value=-(10**6), max_value=10**6),
    tags=st.lists(st.sampled_from(["weather", "paris", "x"]), max_size=3),
)
def test_what_a_set_judges_agrees_with_each_condition_alone(kind, amount, shares, tags):
    conditions = ConditionSet(
        [
            *(compile_condition(source, VARIABLES) for source in SCREENED),
            compile_condition('actor.kind == "agent" && order.shares > 5 || "paris" in claim.tags', VARIABLES),
            # an error one side of && or || absorbed when the other side decides, as each condition alone does
            compile_condition('order.amount / (order.shares - 10) > 1 || actor.kind == "agent"', VARIABLES),
            compile_condition('order.amount / (order.shares - 10) > 1 && actor.kind == "person"', VARIABLES),
        ]
    )
    prepared = VARIABLES.activation(
        activation(actor={"kind": kind}, order={"amount": amount, "shares": shares}, claim={"tags": tags})
    )
    for judged, condition in zip(conditions.fired(prepared), conditions.conditions, strict=True):
        assert judged is None or judged == condition.evaluate(prepared).fired


def test_a_dict_changed_between_evaluations_is_read_again():
    """The last dict's conversion is reused only while the dict is unchanged."""
    values = activation()
    condition = compile_condition(TYPICAL, VARIABLES)
    assert condition.evaluate(values).fired is True

    values["actor"]["kind"] = "person"

    assert condition.evaluate(values).fired is False


# --- Declarations and the cache ------------------------------------------------------------------------------


def test_a_condition_compiles_once_per_source_and_declaration():
    first = compile_condition(TYPICAL, DECLARED)

    assert compile_condition(TYPICAL, DECLARED) is first
    assert compile_condition(TYPICAL, Variables(json.loads(json.dumps(DECLARED)))) is first
    assert isinstance(first, Condition) and first.variables == VARIABLES and hash(first.variables) == hash(VARIABLES)
    assert first.cel == '[(actor__kind == "agent"), (order__amount > (500 * 1000000)), (claim__domain == "health")]'


def test_a_changed_declaration_is_checked_again():
    declared = {"actor": {"kind": "string"}}
    assert compile_condition('actor.kind == "agent"', declared).evaluate({"actor": {"kind": "agent"}}).fired is True

    declared["actor"] = {"kind": "int"}

    with pytest.raises(ConditionInvalid, match=r"actor\.kind is int, compared with a string"):
        compile_condition('actor.kind == "agent"', declared)


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"actor": {"kind": "str"}}, "actor.kind: 'str' is not a type"),
        ({"actor": {"tags": "list(list(string))"}}, "actor.tags: 'list(list(string))' is not a type"),
        ({"CREDIT": "int"}, "'CREDIT' cannot be declared"),
        ({"in": "int"}, "'in' cannot be declared"),
        ({"actor": {"2fa": "bool"}}, "actor.2fa is not a name a condition can read"),
        ({"actor": {"age__days": "int"}}, "actor.age__days is not a name a condition can read"),
        ({"actor_": {"kind": "string"}}, "'actor_' cannot be declared"),
    ],
)
def test_a_declaration_a_condition_could_not_read_is_a_programming_error(declared, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Variables(declared)


# --- Properties -----------------------------------------------------------------------------------------------

TOKENS = [
    "actor",
    "order",
    "claim",
    "kind",
    "amount",
    "tags",
    "domain",
    "reliability",
    "CREDIT",
    "t",
    "x",
    ".",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "?",
    "!",
    "-",
    "+",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    ">=",
    "&&",
    "||",
    "in",
    "true",
    "false",
    "null",
    "0",
    "1",
    "500",
    "0.5",
    "1e3",
    "0x1f",
    "9223372036854775807",
    '"agent"',
    "'h'",
    'r"\\d"',
    '"\\u00e9"',
    "size",
    "int",
    "double",
    "string",
    "exists",
    "all",
    "map",
    "filter",
    "contains",
    "has",
    "=",
    "&",
    "u",
    "\\",
    '"',
    "'",
    "//",
    "\n",
]


@given(st.text(max_size=200))
def test_any_text_compiles_or_is_refused_with_a_reason(source):
    try:
        condition = compile_condition(source, VARIABLES)
    except ConditionInvalid as refused:
        assert refused.message
    else:
        assert isinstance(condition.evaluate(activation()), Evaluation)


@given(st.lists(st.sampled_from(TOKENS), max_size=40).map(" ".join))
def test_any_sequence_of_cel_tokens_compiles_or_is_refused_with_a_reason(source):
    try:
        condition = compile_condition(source, VARIABLES)
    except ConditionInvalid as refused:
        assert refused.message
    else:
        evaluation = condition.evaluate(activation())
        assert evaluation.fired in (True, False)
        assert [text for text, _ in evaluation.clauses] == list(condition.clauses)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(JSON, st.fixed_dictionaries({}, optional=dict.fromkeys(fields, JSON)))
        for name, fields in DECLARED.items()
    },
)
CONDITIONS = [
    TYPICAL,
    "order.amount / order.shares > 2 || claim.tags[3] == 'x'",
    'claim.tags.exists(t, t + actor.handle == "x") && actor.reliability * 2.0 > 1.0',
    "int(actor.kind) > 0 && double(claim.title) < 1.0 && string(order.limit_price) != ''",
    "-order.amount - 9223372036854775807 < 0",
]


@given(FIELDS, st.sampled_from(CONDITIONS))
def test_evaluation_never_raises_whatever_the_activation_holds(values, source):
    condition = compile_condition(source, VARIABLES)

    evaluation = condition.evaluate(values)

    assert evaluation.fired in (True, False)
    assert [text for text, _ in evaluation.clauses] == list(condition.clauses)
    assert evaluation.error is None or evaluation.fired is True


@given(st.text().filter(lambda text: not any("\ud800" <= char <= "\udfff" for char in text)))
def test_a_string_literal_means_the_text_it_spells(text):
    literal = json.dumps(text, ensure_ascii=False)

    condition = compile_condition(f"actor.handle == {literal}", VARIABLES)

    assert condition.evaluate(activation(actor={"handle": text})).fired is True


# Random arithmetic and logic written with as few brackets as precedence allows, checked against Python:
# the tree our parser reads from the text must be the tree CEL evaluates.
PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "<": 3, "+": 4, "-": 4, "*": 5}


def _int_tree(leaves):
    return st.recursive(
        leaves,
        lambda inner: st.tuples(st.sampled_from(["+", "-", "*"]), inner, inner) | st.tuples(st.just("neg"), inner),
        max_leaves=4,
    )


INTS = _int_tree(st.integers(-20, 20).map(lambda n: ("int", n)) | st.just(("shares", None)))
BOOLS = st.recursive(
    st.tuples(st.sampled_from(["==", "<"]), INTS, INTS) | st.booleans().map(lambda b: ("bool", b)),
    lambda inner: st.tuples(st.sampled_from(["&&", "||"]), inner, inner) | st.tuples(st.just("!"), inner),
    max_leaves=5,
)


def _text(node, parent=0, right=False) -> str:
    kind = node[0]
    if kind == "int":
        return f"({node[1]})" if node[1] < 0 else str(node[1])
    if kind == "bool":
        return "true" if node[1] else "false"
    if kind == "shares":
        return "order.shares"
    if kind in ("neg", "!"):
        return ("-" if kind == "neg" else "!") + _text(node[1], 6)
    level = PRECEDENCE[kind]
    text = f"{_text(node[1], level)} {kind} {_text(node[2], level, right=True)}"
    return f"({text})" if level < parent or (level == parent and right) else text


def _value(node, shares: int):
    kind = node[0]
    if kind in ("int", "bool"):
        return node[1]
    if kind == "shares":
        return shares
    if kind == "neg":
        return -_value(node[1], shares)
    if kind == "!":
        return not _value(node[1], shares)
    left, right = _value(node[1], shares), _value(node[2], shares)
    operations = {
        "+": lambda: left + right,
        "-": lambda: left - right,
        "*": lambda: left * right,
        "==": lambda: left == right,
        "<": lambda: left < right,
        "&&": lambda: left and right,
        "||": lambda: left or right,
    }
    return operations[kind]()


@given(BOOLS, st.integers(-20, 20))
def test_precedence_and_associativity_read_as_cel_reads_them(tree, shares):
    source = _text(tree)

    evaluation = compile_condition(source, VARIABLES).evaluate(activation(order={"shares": shares}))

    assert (evaluation.fired, evaluation.error) == (_value(tree, shares), None), source


# Random well-typed conditions over every construct the checker accepts, free of runtime errors (no
# division, no index past an end): each must compile and evaluate without an error, or the checker and the
# library disagree about a type (the checker accepting what the library has no overload for).
LEAVES = {
    "bool": ["true", "false", "actor.kind == 'agent'"],
    "int": ["0", "3", "-2", "order.shares", "actor.age_days", "CREDIT", "0x1f"],
    "double": ["0.5", "-1.5", "1e2", "actor.reliability", "order.limit_price"],
    "string": ["'a'", '"\\u00e9"', "r'\\d'", "actor.kind", "claim.title", "claim.tags[1]"],
    "list(string)": ["claim.tags", "['x', 'y']"],
    "list(int)": ["[1, 2, 3]", "[order.shares]"],
}
COMPOSITES = {
    "bool": [
        "{int} < {double}",
        "{int} == {double}",
        "{double} >= {int}",
        "{string} <= {string}",
        "{bool} != {bool}",
        "{bool} && {bool}",
        "{bool} || {bool}",
        "!{bool}",
        "{string} in {list(string)}",
        "{int} in {list(int)}",
        "{list(string)} == {list(string)}",
        "{string}.contains({string})",
        "{string}.startsWith({string})",
        "{string}.endsWith({string})",
        "{bool} ? {bool} : {bool}",
        "{list(string)}.exists(v, v == {string})",
        "{list(int)}.all(v, v > {int})",
        "{list(string)}.exists_one(v, v.size() > 1)",
    ],
    "int": [
        "{int} + {int}",
        "{int} - {int}",
        "{int} * {int}",
        "-{int}",
        "size({string})",
        "{list(string)}.size()",
        "int({double})",
        "int({int})",
        "{bool} ? {int} : {int}",
        "{list(int)}[0]",
        "{int} % 7",
    ],
    "double": ["{double} + {double}", "{double} * {double}", "-{double}", "double({int})", "{double} / 2.0"],
    "string": [
        "{string} + {string}",
        "string({int})",
        "string({double})",
        "{bool} ? {string} : {string}",
    ],
    "list(string)": ["{list(string)} + {list(string)}", "{list(string)}.filter(v, v != {string})", "[{string}]"],
    "list(int)": ["{list(int)} + [{int}]", "{list(string)}.map(v, v.size())", "[{int}, {int}]"],
}
LIMITS = ("comprehensions", "a condition may have at most", "the condition could take", "the condition nests")


@st.composite
def typed(draw, type_: str, depth: int = 3) -> str:
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(LEAVES[type_]))
    template = draw(st.sampled_from(COMPOSITES[type_]))
    for name in LEAVES:
        while "{" + name + "}" in template:
            template = template.replace("{" + name + "}", f"({draw(typed(name, depth - 1))})", 1)
    return template


@given(typed("bool"))
def test_what_the_checker_accepts_the_library_evaluates(source):
    try:
        condition = compile_condition(source, VARIABLES)
    except ConditionInvalid as refused:
        assert refused.message.startswith(LIMITS), (source, refused.message)
        return

    evaluation = condition.evaluate(activation())

    assert evaluation.error is None, source
