"""Checkpoint conditions: the CEL expression a review policy states, checked when the policy is saved and
evaluated each time its checkpoint is reached.

`compile_condition(source, variables)` parses the text with the parser below, type-checks it against the
variables the checkpoint declares, refuses (`ConditionInvalid`, with the reason) what is wrong or could be
expensive, and hands what it accepts to `common-expression-language` (cel-rust) to compile and evaluate.
The library has no type checker, no cost limit and no syntax tree a caller can read, hence the parser
here; it is also what keeps hostile text away from the library's parser, which crashes the process
(a segfault, not an exception) on 100,000 chained additions. The library compiles our fully parenthesised
rendering of the checked tree, not the policy's text: the tree that was checked is the tree that runs,
whatever the two parsers might disagree on.

`Condition.evaluate(activation)` never raises. An evaluation that fails (a division by zero, a value the
activation lacks) fires, with the error as the reason: a review checkpoint fails closed, so a person looks.

The subset of CEL: literals (int, double, string, bool, lists of one type), the declared names and their
fields, the constant CREDIT, ! - * / % + - < <= > >= == != in && || ? :, indexing a list, size(), int(),
double(), string(), contains() / startsWith() / endsWith() on strings, and the comprehensions all, exists,
exists_one, map and filter (at most MAX_COMPREHENSIONS, never nested). Anything else is refused by name.
docs/architecture.md ("Checkpoint conditions (CEL)") has the measurements behind these choices.
"""

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import cel

from apps.core.amounts import CREDIT
from apps.core.errors import ValidationFailed

# Bounds on what a policy may say. A condition within them compiles in about a millisecond and evaluates
# in microseconds; each bound is the smallest that keeps every reasonable policy well inside it.
MAX_SOURCE_LENGTH = 2_000  # characters
MAX_NESTING = 10  # brackets and ? : nested in one another
MAX_HEIGHT = 24  # operators applied to operators (a chain of 30 additions is 30 high)
MAX_COMPREHENSIONS = 2  # all / exists / exists_one / map / filter in one condition, never nested
MAX_LIST_LENGTH = 25  # a list the activation gives (a claim has at most 10 tags); see _Checker
MAX_COST = 2_000  # evaluation steps in the worst case (see _Checker): ~25 ns each, under ~50 us at the bound

CONSTANTS: dict[str, int] = {"CREDIT": CREDIT}

SCALARS = ("string", "int", "double", "bool")
NUMBERS = ("int", "double")
FUNCTIONS = ("size", "int", "double", "string")
METHODS = ("size", "contains", "startsWith", "endsWith")
COMPREHENSIONS = ("all", "exists", "exists_one", "map", "filter")
# CEL's reserved words (cel-spec's syntax): no declared name, field or comprehension variable may be one.
RESERVED = frozenset({"as", "break", "const", "continue", "else", "false", "for", "function", "if", "import"})
RESERVED |= {"in", "let", "loop", "namespace", "null", "package", "return", "true", "var", "void", "while"}
INT_MIN, INT_MAX = -(2**63), 2**63 - 1


class ConditionInvalid(ValidationFailed):
    code = "condition_invalid"
    default_message = "The condition is not valid."


# --- Types ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Object:
    """A declared name with fields (`actor`), or a field with fields of its own. Only ever read through a
    field: an object is never compared, listed or a condition's result."""

    name: str
    fields: tuple[tuple[str, "Type"], ...]

    def field(self, name: str) -> "Type | None":
        return dict(self.fields).get(name)


Type = str | _Object  # "string", "int", "double", "bool", "list(<scalar>)", or an object


def _element(type_: Type) -> str | None:
    """The element type of a list type, None for anything else."""
    if isinstance(type_, str) and type_.startswith("list("):
        return type_[5:-1]
    return None


def _a(type_: Type) -> str:
    if isinstance(type_, _Object):
        return "an object"
    return f"an {type_}" if type_[0] in "aeiou" else f"a {type_}"


def _identifier(name: object) -> bool:
    """A name a condition can read. The library sees a declared field as one variable named by its path
    joined with "__" (order.amount is order__amount, see Variables.activation), so a declared name never
    holds "__" nor starts or ends with "_": each path has its own library name."""
    return (
        isinstance(name, str)
        and name.isascii()
        and name.replace("_", "a").isalnum()
        and not name[0].isdigit()
        and name not in RESERVED
        and "__" not in name
        and not name.startswith("_")
        and not name.endswith("_")
    )


def _declared(spec: object, path: str) -> Type:
    if isinstance(spec, Mapping):
        fields = []
        for name, field_spec in sorted(spec.items()):
            if not _identifier(name):
                raise ValueError(f"{path}.{name} is not a name a condition can read")
            fields.append((name, _declared(field_spec, f"{path}.{name}")))
        return _Object(path, tuple(fields))
    if spec in SCALARS or (isinstance(spec, str) and spec.startswith("list(") and spec[5:-1] in SCALARS):
        return spec
    raise ValueError(f"{path}: {spec!r} is not a type (string, int, double, bool, list(<one of those>), or fields)")


def _leaves(type_: Type, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """The paths to every value (not object) under `type_`, with their types."""
    if isinstance(type_, _Object):
        return [leaf for name, field_type in type_.fields for leaf in _leaves(field_type, (*path, name))]
    return [(path, type_)]


class Variables:
    """What a checkpoint declares its conditions may read: top-level names, each a type or a mapping of
    fields to types (`{"order": {"amount": "int", "side": "string"}, "tags": "list(string)"}`). The constant
    CREDIT is always there. Hashable: compiled conditions are cached per (source, variables)."""

    __slots__ = ("_hash", "_key", "_last", "_leaves", "types")

    def __init__(self, declared: Mapping[str, Any]) -> None:
        types = {}
        for name, spec in declared.items():
            if not _identifier(name) or name in CONSTANTS:
                raise ValueError(f"{name!r} cannot be declared: a condition could not read it")
            types[name] = _declared(spec, name)
        self.types: dict[str, Type] = types
        self._key = tuple(sorted(types.items()))
        self._hash = hash(self._key)
        self._last: tuple[Mapping, Any, Activation] | None = None
        # (dotted path, its steps, the library's name for it, its type), for every declared value
        self._leaves = tuple(
            (".".join(path), path, "__".join(path), leaf_type)
            for name, type_ in types.items()
            for path, leaf_type in _leaves(type_, (name,))
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variables) and (other is self or other._key == self._key)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Variables({sorted(self.types)})"

    def activation(self, values: Mapping[str, Any]) -> "Activation":
        """`values` checked against the declared types and converted for the library, once, to evaluate
        every condition of a checkpoint against. Never raises: a value that is missing or not of its type
        is left out and kept as a problem, which an evaluation failing for want of it gives as its error.

        The library is handed one flat variable per declared value (order__amount), not the nested dicts:
        it converts a nested dict at about twice the cost of its values, and reads a flat name faster."""
        problems: dict[str, str] = {}
        flat: dict[str, Any] = {}
        try:
            if not isinstance(values, Mapping):
                raise TypeError(f"the activation is {_kind(values)}, not a mapping")
            for dotted, path, name, type_ in self._leaves:
                value = values
                for depth, step in enumerate(path):
                    if type(value) is not dict and not isinstance(value, Mapping):
                        owner = ".".join(path[:depth])
                        problems[dotted] = f"{owner} should be an object, the activation gave {_kind(value)}"
                        break
                    value = value.get(step, _MISSING)
                    if value is _MISSING:
                        problems[dotted] = f"{'.'.join(path[: depth + 1])} is missing"
                        break
                else:
                    cleaned = _clean(value, type_)
                    if cleaned is _MISSING:
                        problems[dotted] = _wrong(dotted, type_, value)
                    else:
                        flat[name] = cleaned
            context = cel.Context(flat)
        except Exception as error:
            return Activation(self, None, {"": f"the activation could not be read: {_describe(error)}"})
        return Activation(self, context, problems)

    def _prepared(self, values: Mapping[str, Any]) -> "Activation":
        """The activation for `values`, reusing the last one prepared when `values` is that same mapping,
        unchanged. A checkpoint evaluates each of its policies against one dict: preparing it costs ~20 us,
        evaluating a condition ~1 us, so without this a checkpoint with 100 policies would spend 2 ms
        preparing one dict 100 times. The comparison with a snapshot (a C-speed `==`) makes a dict changed
        in between a miss, not a stale hit."""
        last = self._last
        if last is not None and last[0] is values and last[1] == values:
            return last[2]
        prepared = self.activation(values)
        self._last = (values, _snapshot(values), prepared)
        return prepared


@dataclass(frozen=True, slots=True)
class Activation:
    """An activation prepared by `Variables.activation`: pass it to each condition's `evaluate`."""

    variables: Variables
    context: Any  # the library's Context; None when the values could not be read at all
    problems: Mapping[str, str]  # a declared path ("order.amount") -> what is wrong with its value


_MISSING = object()


def _clean(value: Any, type_: str) -> Any:
    """`value` as the declared type promises it to the library, or _MISSING."""
    kind = type(value)
    # A subclass (a model's TextChoices or IntegerChoices member) is passed on as the plain value it is.
    if type_ == "string":
        if kind is not str:
            if not isinstance(value, str):
                return _MISSING
            value = str.__str__(value)
        # A lone surrogate cannot cross into Rust: left out here rather than failing the whole conversion.
        return value if value.isascii() or not _has_surrogate(value) else _MISSING
    if type_ == "bool":
        return value if kind is bool else _MISSING
    if type_ in NUMBERS:
        if kind is bool or not isinstance(value, int | float):
            return _MISSING
        if type_ == "int":
            return int(value) if isinstance(value, int) and INT_MIN <= value <= INT_MAX else _MISSING
        if isinstance(value, int):
            return float(value) if -(2**1023) < value < 2**1023 else _MISSING
        return float(value)
    if kind not in (list, tuple) or len(value) > MAX_LIST_LENGTH:
        return _MISSING
    items = [_clean(item, type_[5:-1]) for item in value]
    return _MISSING if any(item is _MISSING for item in items) else items


def _wrong(dotted: str, type_: str, value: Any) -> str:
    element = _element(type_)
    if element and type(value) in (list, tuple):
        if len(value) > MAX_LIST_LENGTH:
            return f"{dotted} holds {len(value)} items; the limit is {MAX_LIST_LENGTH}"
        return f"{dotted} should be {_a(type_)}, and an item is not {_a(element)}"
    return f"{dotted} should be {_a(type_)}, the activation gave {_kind(value)}"


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= char <= "\udfff" for char in text)


def _kind(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _snapshot(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _snapshot(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_snapshot(item) for item in value)
    return value


# --- Lexing --------------------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # "int", "double", "string", "name", "op", "end"
    value: Any
    start: int
    end: int


DIGITS = "0123456789"
HEX_DIGITS = "0123456789abcdefABCDEF"
OPERATORS_2 = ("==", "!=", "<=", ">=", "&&", "||")
OPERATORS_1 = "<>!+-*/%?:.,()[]{}"
ESCAPES = {"\\": "\\", '"': '"', "'": "'", "`": "`", "?": "?", "n": "\n", "r": "\r", "t": "\t"}
ESCAPES |= {"a": "\a", "b": "\b", "f": "\f", "v": "\v"}
HEX_ESCAPES = {"x": 2, "X": 2, "u": 4, "U": 8}  # \xHH, \uHHHH, \UHHHHHHHH


def _where(source: str, position: int) -> str:
    line = source.count("\n", 0, position)
    column = position - (source.rfind("\n", 0, position) + 1) + 1
    return f"line {line + 1}, column {column}" if "\n" in source else f"column {column}"


def _invalid(message: str, start: int, end: int) -> ConditionInvalid:
    return ConditionInvalid(message, detail={"start": start, "end": end})


def _syntax(source: str, message: str, start: int, end: int) -> ConditionInvalid:
    return _invalid(f"syntax error at {_where(source, start)}: {message}", start, end)


def _nesting(source: str) -> int:
    """How deep brackets nest in the text, strings skipped: counted before any parsing, so 5,000 opening
    brackets are refused in one pass and never reach a recursive parser (ours or the library's)."""
    depth = deepest = 0
    quote = None
    escaped = False
    for char in source:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote or char == "\n":
                quote = None
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _tokens(source: str) -> list[_Token]:
    tokens = []
    position, length = 0, len(source)
    while position < length:
        char = source[position]
        start = position
        if char in " \t\r\n\f":
            position += 1
        elif source.startswith("//", position):
            newline = source.find("\n", position)
            position = length if newline < 0 else newline
        elif char.isascii() and (char.isalpha() or char == "_"):
            while (
                position < length
                and source[position].isascii()
                and (source[position].isalnum() or source[position] == "_")
            ):
                position += 1
            word = source[start:position]
            if position < length and source[position] in "\"'" and word.lower() in ("r", "b", "rb", "br"):
                if "b" in word.lower():
                    raise _invalid('bytes literals (b"...") are not supported', start, position)
                value, position = _string(source, position, raw=True)
                tokens.append(_Token("string", value, start, position))
            else:
                tokens.append(_Token("name", word, start, position))
        elif char in DIGITS or (char == "." and source[position + 1 : position + 2] in tuple(DIGITS)):
            kind, value, position = _number(source, position)
            tokens.append(_Token(kind, value, start, position))
        elif char in "\"'":
            value, position = _string(source, position, raw=False)
            tokens.append(_Token("string", value, start, position))
        elif source[position : position + 2] in OPERATORS_2:
            position += 2
            tokens.append(_Token("op", source[start:position], start, position))
        elif char in OPERATORS_1:
            position += 1
            tokens.append(_Token("op", char, start, position))
        elif char == "=":
            raise _syntax(source, "'=' is not an operator: compare with ==", start, start + 1)
        elif char in "&|":
            raise _syntax(source, f"'{char}' is not an operator: use {char * 2}", start, start + 1)
        else:
            raise _syntax(source, f"unexpected character {char!r}", start, start + 1)
    tokens.append(_Token("end", None, length, length))
    return tokens


def _number(source: str, start: int) -> tuple[str, int | float, int]:
    position, length = start, len(source)
    double = False
    if source.startswith(("0x", "0X"), start):
        position += 2
        while position < length and source[position] in HEX_DIGITS:
            position += 1
        if position == start + 2:
            raise _syntax(source, "0x needs hexadecimal digits", start, position)
    else:
        while position < length and source[position] in DIGITS:
            position += 1
        if source[position : position + 1] == "." and source[position + 1 : position + 2] in tuple(DIGITS):
            double = True
            position += 1
            while position < length and source[position] in DIGITS:
                position += 1
        if source[position : position + 1] in ("e", "E"):
            exponent = position + 1
            if source[exponent : exponent + 1] in ("+", "-"):
                exponent += 1
            if source[exponent : exponent + 1] in tuple(DIGITS):
                double = True
                position = exponent
                while position < length and source[position] in DIGITS:
                    position += 1
    text = source[start:position]
    if source[position : position + 1] in ("u", "U"):
        raise _invalid(f"unsigned ints ({text}u) are not supported: write {text}", start, position + 1)
    if not double:
        return "int", int(text, 16) if text[1:2] in ("x", "X") else int(text), position
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _invalid(f"the number {text} is too large", start, position)
    return "double", value, position


def _string(source: str, quote_at: int, *, raw: bool) -> tuple[str, int]:
    quote = source[quote_at]
    if source.startswith(quote * 3, quote_at):
        raise _invalid("triple-quoted strings are not supported", quote_at, quote_at + 3)
    position, chars = quote_at + 1, []
    while True:
        if position >= len(source) or source[position] in "\r\n":
            raise _syntax(source, "the string is not closed", quote_at, position)
        char = source[position]
        if char == quote:
            break
        if char != "\\" or raw:
            chars.append(char)
            position += 1
            continue
        code = source[position + 1 : position + 2]
        if code in ESCAPES:
            chars.append(ESCAPES[code])
            position += 2
            continue
        if code in HEX_ESCAPES:
            width = 2 + HEX_ESCAPES[code]
            digits = source[position + 2 : position + width]
            hexadecimal = len(digits) == HEX_ESCAPES[code] and all(digit in HEX_DIGITS for digit in digits)
            value = int(digits, 16) if hexadecimal else -1
        else:  # \ooo: three octal digits, the first 0-3
            digits = source[position + 1 : position + 4]
            width = 4
            value = (
                int(digits, 8) if len(digits) == 3 and digits[0] in "0123" and set(digits) <= set("01234567") else -1
            )
        if not 0 <= value <= 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise _syntax(source, f"invalid escape \\{code} in a string", position, position + 2)
        position += width
        chars.append(chr(value))
    return "".join(chars), position + 1


# --- Parsing -------------------------------------------------------------------------------------------------
# Each node keeps its span in the source (for messages and clause texts) and its height (checked as the
# tree is built, so a chain of a thousand additions is refused before anything walks it recursively).


@dataclass(frozen=True, slots=True)
class _Literal:
    value: Any
    type: str
    start: int
    end: int
    height: int = 1


@dataclass(frozen=True, slots=True)
class _Name:
    name: str
    start: int
    end: int
    height: int = 1


@dataclass(frozen=True, slots=True)
class _Select:
    operand: "_Node"
    field: str
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Index:
    operand: "_Node"
    index: "_Node"
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Call:
    function: str
    target: "_Node | None"  # x in x.size(); None for size(x)
    args: tuple["_Node", ...]
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Comprehension:
    macro: str
    range: "_Node"
    var: str
    body: "_Node"
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Unary:
    op: str
    operand: "_Node"
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: "_Node"
    right: "_Node"
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Logic:
    op: str  # && or ||, over a chain written without brackets: a && b && c is one node of three
    operands: tuple["_Node", ...]
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _Conditional:
    test: "_Node"
    then: "_Node"
    otherwise: "_Node"
    start: int
    end: int
    height: int


@dataclass(frozen=True, slots=True)
class _List:
    items: tuple["_Node", ...]
    start: int
    end: int
    height: int


_Node = _Literal | _Name | _Select | _Index | _Call | _Comprehension | _Unary | _Binary | _Logic | _Conditional | _List

RELATIONS = ("<", "<=", ">", ">=", "==", "!=", "in")


def _height(*children: _Node) -> int:
    return 1 + max(child.height for child in children)


class _Parser:
    """Recursive descent over CEL's grammar (cel-spec's CEL.g4), one method per precedence level."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokens(source)
        self.at = 0
        self.depth = -1  # the whole condition is level 0

    def parse(self) -> _Node | None:
        if self.peek().kind == "end":
            return None
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            raise self.syntax(token, "expected an operator or the end of the condition")
        return node

    # Tokens

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def accept(self, op: str) -> _Token | None:
        token = self.peek()
        if (token.kind == "op" or (token.kind == "name" and op == "in")) and token.value == op:
            return self.take()
        return None

    def expect(self, op: str, why: str) -> _Token:
        token = self.accept(op)
        if token is None:
            raise self.syntax(self.peek(), f"expected '{op}' {why}")
        return token

    def syntax(self, token: _Token, message: str) -> ConditionInvalid:
        found = "the end of the condition" if token.kind == "end" else repr(self.source[token.start : token.end])
        return _syntax(self.source, f"{message}, found {found}", token.start, token.end)

    def built(self, node: _Node) -> _Node:
        if node.height > MAX_HEIGHT:
            raise _invalid(f"the condition nests operators deeper than {MAX_HEIGHT} levels", node.start, node.end)
        return node

    # Grammar

    def expr(self) -> _Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            token = self.peek()
            raise _invalid(f"the condition nests deeper than {MAX_NESTING} levels", token.start, token.end)
        node = self.logic("||", self.and_)
        if self.accept("?"):
            then = self.logic("||", self.and_)
            self.expect(":", "after the value if true")
            otherwise = self.expr()
            node = self.built(
                _Conditional(node, then, otherwise, node.start, otherwise.end, _height(node, then, otherwise))
            )
        self.depth -= 1
        return node

    def and_(self) -> _Node:
        return self.logic("&&", self.relation)

    def logic(self, op: str, operand: Any) -> _Node:
        operands = [operand()]
        while self.accept(op):
            operands.append(operand())
        if len(operands) == 1:
            return operands[0]
        return self.built(_Logic(op, tuple(operands), operands[0].start, operands[-1].end, _height(*operands)))

    def relation(self) -> _Node:
        return self.binary(RELATIONS, self.addition)

    def addition(self) -> _Node:
        return self.binary(("+", "-"), self.multiplication)

    def multiplication(self) -> _Node:
        return self.binary(("*", "/", "%"), self.unary)

    def binary(self, ops: tuple[str, ...], operand: Any) -> _Node:
        node = operand()
        while (token := self.peek()).value in ops and token.kind in ("op", "name"):
            self.take()
            right = operand()
            node = self.built(_Binary(token.value, node, right, node.start, right.end, _height(node, right)))
        return node

    def unary(self) -> _Node:
        ops = []
        while self.peek().kind == "op" and self.peek().value in ("!", "-"):
            ops.append(self.take())
        if not ops:
            return self.member(self.primary())
        token = self.peek()
        if ops[-1].value == "-" and token.kind in ("int", "double"):
            # -9223372036854775808 is one literal, as in CEL: its digits alone are out of range.
            sign = ops.pop()
            self.take()
            node = self.member(self.literal(token, -token.value, sign.start))
        else:
            node = self.member(self.primary())
        for op in reversed(ops):
            node = self.built(_Unary(op.value, node, op.start, node.end, node.height + 1))
        return node

    def member(self, node: _Node) -> _Node:
        while True:
            if self.accept("."):
                name = self.take()
                if name.kind != "name":
                    raise self.syntax(name, "expected a field or function name after '.'")
                if self.accept("("):
                    args, close = self.arguments(")")
                    node = self.call(name, node, args, close)
                else:
                    node = self.built(_Select(node, name.value, node.start, name.end, node.height + 1))
            elif self.accept("["):
                index = self.expr()
                close = self.expect("]", "to close the index")
                node = self.built(_Index(node, index, node.start, close.end, _height(node, index)))
            else:
                return node

    def call(self, name: _Token, target: _Node, args: tuple[_Node, ...], close: _Token) -> _Node:
        if name.value not in COMPREHENSIONS:
            return self.built(_Call(name.value, target, args, target.start, close.end, _height(target, *args)))
        if len(args) != 2:
            raise _invalid(
                f'{name.value}() takes a variable and an expression, as in {name.value}(t, t == "x")',
                name.start,
                close.end,
            )
        var, body = args
        if not isinstance(var, _Name):
            raise _invalid(f"the first argument of {name.value}() must be a variable name", var.start, var.end)
        return self.built(
            _Comprehension(name.value, target, var.name, body, target.start, close.end, _height(target, body))
        )

    def arguments(self, close: str) -> tuple[tuple[_Node, ...], _Token]:
        """What follows an opening bracket, up to `close`: comma-separated expressions (a trailing comma
        allowed in a list, as in CEL)."""
        items: list[_Node] = []
        while (end := self.accept(close)) is None:
            items.append(self.expr())
            if self.accept(",") is None:
                end = self.expect(close, "or ','")
                break
            if close == ")" and self.peek().value == ")":
                raise self.syntax(self.peek(), "expected an argument after ','")
        return tuple(items), end

    def primary(self) -> _Node:
        token = self.take()
        if token.kind in ("int", "double", "string"):
            return self.literal(token, token.value, token.start)
        if token.kind == "name":
            if token.value in ("true", "false"):
                return _Literal(token.value == "true", "bool", token.start, token.end)
            if token.value == "null":
                raise _invalid("null is not supported", token.start, token.end)
            if token.value in RESERVED:
                raise self.syntax(token, "expected a value")
            if self.accept("("):
                args, close = self.arguments(")")
                height = _height(*args) if args else 1
                return self.built(_Call(token.value, None, args, token.start, close.end, height))
            return _Name(token.value, token.start, token.end)
        if token.kind == "op" and token.value == "(":
            inner = self.expr()
            close = self.expect(")", f"to close the '(' at {_where(self.source, token.start)}")
            return replace(inner, start=token.start, end=close.end)
        if token.kind == "op" and token.value == "[":
            items, close = self.arguments("]")
            return self.built(_List(items, token.start, close.end, _height(*items) if items else 1))
        if token.kind == "op" and token.value == "{":
            raise _invalid("map literals ({...}) are not supported", token.start, token.end)
        raise self.syntax(token, "expected a value")

    def literal(self, token: _Token, value: Any, start: int) -> _Literal:
        if token.kind == "int" and not INT_MIN <= value <= INT_MAX:
            raise _invalid(f"the number {self.source[start : token.end]} is out of range", start, token.end)
        type_ = {"int": "int", "double": "double", "string": "string"}[token.kind]
        return _Literal(value, type_, start, token.end)


# --- Checking ------------------------------------------------------------------------------------------------


class _Checked(NamedTuple):
    type: Type
    cost: int  # evaluation steps in the worst case
    size: int  # for a list, how long it can be; else 0
    cel: str  # the node rendered for the library, fully parenthesised


class _Checker:
    """Types every node against the declared variables, and bounds the cost of evaluating it.

    The library has no cost limit, so the bound is made here, at save, in steps of one operation on scalars
    (~25 ns in cel-rust here). Measured: comparing or building a list costs a step or two an item, copying
    one three; a comprehension costs ten steps an item besides its body; and map() and filter() copy their
    result on every item, so they are quadratic (over 100 items, 0.45 ms). Lists from the activation are
    at most MAX_LIST_LENGTH long (a longer one is left out), list literals as long as they are written, and
    without nested comprehensions nothing longer can be made, so the bound holds: a 300-item literal list
    looked up inside a comprehension over another one is refused, not run."""

    def __init__(self, source: str, variables: Variables) -> None:
        self.source = source
        self.variables = variables
        self.scope: dict[str, tuple[str, int]] = {}  # a comprehension's variable -> (type, size)
        self.comprehensions = 0
        self.in_comprehension = False
        self.reads: set[str] = set()  # the declared values (dotted paths) the clause being checked reads

    def text(self, node: _Node) -> str:
        text = " ".join(self.source[node.start : node.end].split())
        return text if len(text) <= 60 else text[:57] + "..."

    def invalid(self, node: _Node, message: str) -> ConditionInvalid:
        return _invalid(message, node.start, node.end)

    def value(self, node: _Node, checked: _Checked) -> _Checked:
        """`checked` if it is a value (anything but an object, which is only read through its fields)."""
        if isinstance(checked.type, _Object):
            fields = ", ".join(f"{checked.type.name}.{name}" for name, _ in checked.type.fields)
            raise self.invalid(node, f"{self.text(node)} is an object: use one of its fields ({fields})")
        return checked

    def check(self, node: _Node) -> _Checked:
        match node:
            case _Literal():
                return _Checked(node.type, 1, 0, _render(node.value, node.type))
            case _Name():
                return self.name(node)
            case _Select():
                return self.select(node)
            case _Index():
                return self.index(node)
            case _Call():
                return self.call(node)
            case _Comprehension():
                return self.comprehension(node)
            case _Unary():
                return self.unary(node)
            case _Binary():
                return self.binary(node)
            case _Logic():
                return self.logic(node)
            case _Conditional():
                return self.conditional(node)
            case _List():
                return self.list(node)
        raise AssertionError(node)  # pragma: no cover

    def name(self, node: _Name) -> _Checked:
        if node.name in self.scope:
            type_, size = self.scope[node.name]
            return _Checked(type_, 1, size, node.name)
        if node.name in CONSTANTS:
            return _Checked("int", 1, 0, str(CONSTANTS[node.name]))
        type_ = self.variables.types.get(node.name)
        if type_ is None:
            known = ", ".join(sorted([*self.variables.types, *CONSTANTS]))
            raise self.invalid(node, f"unknown name {node.name} (a condition may read {known})")
        if not isinstance(type_, _Object):
            self.reads.add(node.name)
        return _Checked(type_, 1, MAX_LIST_LENGTH if _element(type_) else 0, node.name)

    def select(self, node: _Select) -> _Checked:
        operand = self.check(node.operand)
        if not isinstance(operand.type, _Object):
            raise self.invalid(node, f"{self.text(node.operand)} is {operand.type}: it has no field {node.field}")
        type_ = operand.type.field(node.field)
        if type_ is None:
            fields = ", ".join(name for name, _ in operand.type.fields)
            raise self.invalid(
                node, f"unknown field {self.text(node.operand)}.{node.field} ({operand.type.name} has {fields})"
            )
        if not isinstance(type_, _Object):
            self.reads.add(f"{operand.type.name}.{node.field}")
        size = MAX_LIST_LENGTH if _element(type_) else 0
        # An object is always a declared path, so its field is the library's flat variable for that path.
        return _Checked(type_, operand.cost + 1, size, f"{operand.cel}__{node.field}")

    def index(self, node: _Index) -> _Checked:
        operand = self.value(node.operand, self.check(node.operand))
        index = self.value(node.index, self.check(node.index))
        element = _element(operand.type)
        if element is None:
            raise self.invalid(node, f"{self.text(node.operand)} is {operand.type}: only a list can be indexed")
        if index.type != "int":
            raise self.invalid(node.index, f"a list's index must be an int, {self.text(node.index)} is {index.type}")
        return _Checked(element, operand.cost + index.cost + 1, 0, f"{operand.cel}[{index.cel}]")

    def call(self, node: _Call) -> _Checked:
        name = node.function
        args = [self.value(arg, self.check(arg)) for arg in node.args]
        cost = sum(arg.cost for arg in args) + 1
        if node.target is None:
            if name == "has":
                raise self.invalid(node, "has() is not supported: a condition reads the declared fields")
            if name not in FUNCTIONS:
                raise self.invalid(node, f"unknown function {name}() (a condition may call {', '.join(FUNCTIONS)})")
            if len(args) != 1:
                raise self.invalid(node, f"{name}() takes one argument")
            arg, shown = args[0], self.text(node.args[0])
            # What cel-rust converts: its string() has no overload for a bool, though CEL's spec has one.
            takes = {"size": ("string",), "int": ("int", "double", "string"), "double": ("int", "double", "string")}
            takes["string"] = ("int", "double", "string")
            if arg.type not in takes[name] and not (name == "size" and _element(arg.type)):
                raise self.invalid(node, f"{name}() does not take {_a(arg.type)}, and {shown} is {arg.type}")
            return _Checked("int" if name == "size" else name, cost, 0, f"{name}({arg.cel})")
        target = self.value(node.target, self.check(node.target))
        shown = self.text(node.target)
        if name == "matches":
            raise self.invalid(node, "matches() is not supported: it compiles its pattern on every evaluation")
        if name not in METHODS:
            raise self.invalid(
                node, f"unknown function {name}() (on a value a condition may call {', '.join(METHODS)})"
            )
        rendered = f"{target.cel}.{name}({', '.join(arg.cel for arg in args)})"
        if name == "size":
            if args:
                raise self.invalid(node, "size() takes no argument here")
            if target.type != "string" and not _element(target.type):
                raise self.invalid(node, f"size() needs a string or a list, and {shown} is {target.type}")
            return _Checked("int", target.cost + 1, 0, rendered)
        if target.type != "string":
            raise self.invalid(node, f"{name}() applies to a string, and {shown} is {target.type}")
        if len(args) != 1 or args[0].type != "string":
            raise self.invalid(node, f"{name}() takes one string")
        return _Checked("bool", target.cost + cost, 0, rendered)

    def comprehension(self, node: _Comprehension) -> _Checked:
        if self.in_comprehension:
            raise self.invalid(node, f"comprehensions ({', '.join(COMPREHENSIONS)}) cannot be nested")
        self.comprehensions += 1
        if self.comprehensions > MAX_COMPREHENSIONS:
            raise self.invalid(node, f"a condition may have at most {MAX_COMPREHENSIONS} comprehensions")
        var = node.var
        if var in self.variables.types or var in CONSTANTS or var in RESERVED or "__" in var:
            raise self.invalid(node, f"{node.macro}()'s variable {var} would hide a name: choose another")
        self.in_comprehension = True
        range_ = self.value(node.range, self.check(node.range))
        element = _element(range_.type)
        if element is None:
            raise self.invalid(node, f"{node.macro}() needs a list, and {self.text(node.range)} is {range_.type}")
        self.scope[var] = (element, 0)
        body = self.value(node.body, self.check(node.body))
        del self.scope[var]
        self.in_comprehension = False
        if node.macro == "map":
            if _element(body.type):
                raise self.invalid(node.body, "map() must give one value per item, not a list")
            type_ = f"list({body.type})"
        else:
            if body.type != "bool":
                shown = self.text(node.body)
                raise self.invalid(node.body, f"{node.macro}() needs a bool for each item, and {shown} is {body.type}")
            type_ = range_.type if node.macro == "filter" else "bool"
        cost = range_.cost + max(range_.size, 1) * (body.cost + 10)
        if node.macro in ("map", "filter"):
            cost += 2 * range_.size * range_.size
        size = range_.size if node.macro in ("map", "filter") else 0
        return _Checked(type_, cost, size, f"{range_.cel}.{node.macro}({var}, {body.cel})")

    def unary(self, node: _Unary) -> _Checked:
        operand = self.value(node.operand, self.check(node.operand))
        wanted = ("bool",) if node.op == "!" else NUMBERS
        if operand.type not in wanted:
            raise self.invalid(node, f"{self.text(node.operand)} is {operand.type}: '{node.op}' needs {_a(wanted[0])}")
        return _Checked(operand.type, operand.cost + 1, 0, f"({node.op}{operand.cel})")

    def binary(self, node: _Binary) -> _Checked:
        left = self.value(node.left, self.check(node.left))
        right = self.value(node.right, self.check(node.right))
        op, lt, rt = node.op, left.type, right.type
        shown_left, shown_right = self.text(node.left), self.text(node.right)
        cost = left.cost + right.cost + 1
        size = 0
        if op in ("<", "<=", ">", ">=", "==", "!="):
            # CEL compares an int with a double by value (1 < 1.5), so mixing them is no mistake.
            same = lt == rt or (lt in NUMBERS and rt in NUMBERS)
            ordered = lt in (*NUMBERS, "string")
            if not same or (op in ("<", "<=", ">", ">=") and not ordered):
                if same:
                    raise self.invalid(node, f"{shown_left} is {lt}: {_a(lt)} cannot be ordered with '{op}'")
                raise self.invalid(node, f"{shown_left} is {lt}, compared with {_a(rt)}")
            type_ = "bool"
            cost += right.size
        elif op == "in":
            element = _element(rt)
            if element is None:
                raise self.invalid(node, f"{shown_right} is {rt}: 'in' needs a list on its right")
            if lt != element and not (lt in NUMBERS and element in NUMBERS):
                raise self.invalid(node, f"{shown_left} is {lt}, looked up in {_a(rt)}")
            type_ = "bool"
            cost += right.size
        else:
            allowed = {"+": ("int", "double", "string"), "-": NUMBERS, "*": NUMBERS, "/": NUMBERS, "%": ("int",)}
            if {lt, rt} == set(NUMBERS):
                raise self.invalid(
                    node, f"{shown_left} is {lt} and {shown_right} is {rt}: convert one with int() or double()"
                )
            if lt != rt or (lt not in allowed[op] and not (op == "+" and _element(lt))):
                raise self.invalid(node, f"{shown_left} is {lt} and {shown_right} is {rt}: '{op}' does not apply")
            type_ = lt
            if _element(lt):
                size = left.size + right.size
                cost += 3 * size
        return _Checked(type_, cost, size, f"({left.cel} {op} {right.cel})")

    def logic(self, node: _Logic) -> _Checked:
        operands = [self.value(operand, self.check(operand)) for operand in node.operands]
        for operand, checked in zip(node.operands, operands, strict=True):
            if checked.type != "bool":
                raise self.invalid(
                    operand, f"{self.text(operand)} is {checked.type}, not a bool: '{node.op}' joins conditions"
                )
        rendered = "(" + f" {node.op} ".join(checked.cel for checked in operands) + ")"
        return _Checked("bool", sum(checked.cost for checked in operands) + 1, 0, rendered)

    def conditional(self, node: _Conditional) -> _Checked:
        test = self.value(node.test, self.check(node.test))
        then = self.value(node.then, self.check(node.then))
        otherwise = self.value(node.otherwise, self.check(node.otherwise))
        if test.type != "bool":
            raise self.invalid(node.test, f"{self.text(node.test)} is {test.type}, not a bool: '?' needs a bool")
        if then.type != otherwise.type:
            raise self.invalid(
                node,
                f"both sides of ':' must have one type: {self.text(node.then)} is {then.type}, "
                f"{self.text(node.otherwise)} is {otherwise.type}",
            )
        cost = test.cost + max(then.cost, otherwise.cost) + 1
        return _Checked(then.type, cost, max(then.size, otherwise.size), f"({test.cel} ? {then.cel} : {otherwise.cel})")

    def list(self, node: _List) -> _Checked:
        if not node.items:
            raise self.invalid(node, "an empty list has no type: compare a list's size() with 0 instead")
        items = [self.value(item, self.check(item)) for item in node.items]
        for item, checked in zip(node.items, items, strict=True):
            if _element(checked.type):
                raise self.invalid(item, "lists of lists are not supported")
            if checked.type != items[0].type:
                raise self.invalid(
                    item, f"a list's items must have one type: {self.text(item)} is {checked.type}, not {items[0].type}"
                )
        rendered = "[" + ", ".join(checked.cel for checked in items) + "]"
        return _Checked(f"list({items[0].type})", sum(item.cost for item in items) + 1, len(items), rendered)


def _render(value: Any, type_: str) -> str:
    """A literal as the library reads it: negative numbers bracketed, strings re-escaped."""
    if type_ == "bool":
        return "true" if value else "false"
    if type_ in NUMBERS:
        text = repr(value)
        return f"({text})" if text.startswith("-") else text
    escaped = []
    for char in value:
        if char in '"\\':
            escaped.append("\\" + char)
        elif char < " " or char == "\x7f":
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


# --- Compiling and evaluating --------------------------------------------------------------------------------


class Evaluation(NamedTuple):
    """Whether a condition fired, each top-level clause's text and value (None: it could not be evaluated),
    and the error that made it fire, if one did. (A named tuple: one is made per policy per checkpoint hit,
    and a tuple is made in a fifth of a frozen dataclass's time.)"""

    fired: bool
    clauses: list[tuple[str, bool | None]]
    error: str | None = None


class _Clause(NamedTuple):
    text: str  # as the policy writes it
    cel: str  # as the library reads it
    reads: tuple[str, ...]  # the declared values it reads ("order.amount")


class Condition:
    """A compiled condition: evaluate it against a checkpoint's activation. Shared between threads and
    cached per process (compile_condition); nothing in it changes after compiling."""

    __slots__ = ("_any", "_clauses", "_program", "cel", "clauses", "cost", "source", "variables")

    def __init__(self, source: str, variables: Variables, clauses: list[_Clause], joiner: str | None, cost: int):
        self.source = source
        self.variables = variables
        self.clauses = tuple(clause.text for clause in clauses)
        self.cost = cost
        self._any = joiner == "||"  # fired if any clause holds; else if all do (one clause: if it does)
        # One program gives every clause's value in one call ([a, b, c]); each clause also has its own, run
        # only when that call fails, to find which clause failed: CEL's && and || absorb an error on one side
        # when the other decides (false && error is false), so one failing clause need not fire.
        self.cel = "[" + ", ".join(clause.cel for clause in clauses) + "]" if clauses else ""
        self._program = _library_compile(self.cel) if clauses else None
        self._clauses = tuple((clause, _library_compile(clause.cel)) for clause in clauses)

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"

    def evaluate(self, activation: Mapping[str, Any] | Activation) -> Evaluation:
        """Whether the condition fires for `activation`: a mapping of the declared names, or an Activation
        prepared once for many conditions. Never raises: an evaluation that fails fires, with the error."""
        if self._program is None:
            return Evaluation(True, [], None)  # the empty condition: every time
        try:
            prepared = activation if type(activation) is Activation else self.variables._prepared(activation)
        except BaseException as error:
            if not _library_error(error):
                raise
            return self._failed(f"the activation could not be read: {_describe(error)}")
        if prepared.variables is not self.variables and prepared.variables != self.variables:
            return self._failed("the activation was prepared for other variables than the condition's")
        if prepared.context is None:
            return self._failed("; ".join(prepared.problems.values()))
        try:
            values = self._program.execute(prepared.context)
            # Every value a bool, as the checker promised (a non-bool would be a bug: found clause by clause).
            if values.count(True) + values.count(False) == len(self.clauses):
                return Evaluation(
                    any(values) if self._any else all(values), list(zip(self.clauses, values, strict=True)), None
                )
        except BaseException as error:
            if not _library_error(error):
                raise
        return self._clause_by_clause(prepared)

    def _failed(self, error: str) -> Evaluation:
        return Evaluation(True, [(text, None) for text in self.clauses], error)

    def _clause_by_clause(self, prepared: Activation) -> Evaluation:
        values: list[bool | None] = []
        errors: list[str] = []
        for clause, program in self._clauses:
            try:
                value = program.execute(prepared.context)
                if type(value) is not bool:
                    raise TypeError(f"the clause gave {_kind(value)}, not a bool")
            except BaseException as error:
                if not _library_error(error):
                    raise
                # A value the activation lacked says more than the library's "no such variable".
                said = list(
                    dict.fromkeys(prepared.problems[path] for path in clause.reads if path in prepared.problems)
                )
                errors.append(f"{clause.text}: {'; '.join(said) if said else _describe(error)}")
                values.append(None)
            else:
                values.append(value)
        clauses = list(zip(self.clauses, values, strict=True))
        decides = self._any  # the value of a clause that decides the whole: True for ||, False for &&
        if len(values) > 1 and decides in values:
            return Evaluation(decides, clauses, None)
        if errors:
            return Evaluation(True, clauses, "; ".join(errors))
        return Evaluation(any(values) if self._any else all(values), clauses, None)


class ConditionSet:
    """A checkpoint's conditions, screened in one call to the library: a program listing whether each fires
    (`[(a && b), (c), ...]`, each condition's clauses joined as the condition joins them) instead of a call
    per condition (at 100 policies, ~60 µs an order instead of ~190 µs). `fired` says which fire; where the
    one call cannot say (a clause fails, which fails the list; a value that is not a bool; an activation that
    could not be read), it answers None, and the caller evaluates those conditions one by one, as
    `Condition.evaluate` does, errors and all. CEL's && and || absorb an error on one side when the other
    decides, as `Condition.evaluate` does clause by clause, so whatever the one call answers is what each
    condition alone would (a property test holds it)."""

    __slots__ = ("_count", "_plan", "_program", "_read", "_screened", "conditions")

    def __init__(self, conditions: Sequence[Condition | Any]):
        """`conditions` may hold other things that evaluate (a stored condition that no longer compiles and
        says so when evaluated): the set leaves those to themselves (None)."""
        self.conditions = tuple(conditions)
        self._screened = tuple(c for c in self.conditions if type(c) is Condition and c._program is not None)
        self._count = len(self._screened)
        self._read: Variables | None = None  # the last variables found to be every condition's
        # Where each condition's answer comes from: its place in the program's list, EVERY_TIME, or UNJUDGED.
        plan, place = [], 0
        for condition in self.conditions:
            if type(condition) is not Condition:
                plan.append(_UNJUDGED)
            elif condition._program is None:
                plan.append(_EVERY_TIME)
            else:
                plan.append(place)
                place += 1
        self._plan = tuple(plan)
        fires = [
            "(" + (" || " if c._any else " && ").join(f"({clause.cel})" for clause, _ in c._clauses) + ")"
            for c in self._screened
        ]
        self._program = _library_compile("[" + ", ".join(fires) + "]") if fires else None

    def fired(self, activation: Activation) -> list[bool | None]:
        if self._program is None or activation.context is None or not self._reads(activation):
            return [True if place == _EVERY_TIME else None for place in self._plan]
        try:
            values = self._program.execute(activation.context)
        except BaseException as error:
            if not _library_error(error):
                raise
            values = None
        if values is None or values.count(True) + values.count(False) != self._count:
            return [True if place == _EVERY_TIME else None for place in self._plan]
        return [values[place] if place >= 0 else place == _EVERY_TIME or None for place in self._plan]

    def _reads(self, activation: Activation) -> bool:
        """Whether every condition was compiled for the variables `activation` was prepared for."""
        given = activation.variables
        if given is self._read:  # comparing 100 declarations per hit cost more than screening them
            return True
        if all(c.variables is given or c.variables == given for c in self._screened):
            self._read = given
            return True
        return False


_EVERY_TIME = -1  # the empty condition
_UNJUDGED = -2  # not a compiled condition: it evaluates itself


def _library_compile(rendered: str) -> Any:
    try:
        return cel.compile(rendered)
    except BaseException as error:
        if not _library_error(error):
            raise
        raise ConditionInvalid(f"the condition could not be compiled: {_describe(error)}")


def _library_error(error: BaseException) -> bool:
    """An exception the library (or a bad value) raised: every Exception, and the PanicException a Rust
    panic surfaces as, which derives from BaseException. KeyboardInterrupt and the like pass through."""
    return isinstance(error, Exception) or type(error).__name__ == "PanicException"


def _describe(error: BaseException) -> str:
    message = str(error).strip().split("\n", 1)[0]
    message = message if len(message) <= 160 else message[:157] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def compile_condition(source: str, variables: Variables | Mapping[str, Any]) -> Condition:
    """The condition `source` checked against `variables` and compiled, or ConditionInvalid saying what is
    wrong. The empty condition means every time. Cached: a policy compiles once per process."""
    if not isinstance(source, str):
        raise ConditionInvalid("the condition must be text")
    if len(source) > MAX_SOURCE_LENGTH:
        raise ConditionInvalid(f"the condition is {len(source):,} characters long; the limit is {MAX_SOURCE_LENGTH:,}")
    return _compiled(source, _variables(variables))


@functools.lru_cache(maxsize=1024)
def _compiled(source: str, variables: Variables) -> Condition:
    if not source.isascii() and _has_surrogate(source):
        raise ConditionInvalid("the condition holds an invalid character (a lone surrogate)")
    if _nesting(source) > MAX_NESTING:
        raise ConditionInvalid(f"the condition nests brackets deeper than {MAX_NESTING} levels")
    tree = _Parser(source).parse()
    if tree is None:
        return Condition(source, variables, [], None, 0)
    checker = _Checker(source, variables)
    nodes = tree.operands if isinstance(tree, _Logic) else (tree,)
    clauses, cost = [], len(nodes) - 1
    for node in nodes:
        checker.reads = set()
        checked = checker.value(node, checker.check(node))
        if checked.type != "bool":
            if isinstance(tree, _Logic):
                message = f"{checker.text(node)} is {checked.type}, not a bool: '{tree.op}' joins conditions"
            else:
                message = f"the condition must be a bool, and {checker.text(node)} is {checked.type}"
            raise checker.invalid(node, message)
        clauses.append(_Clause(source[node.start : node.end], checked.cel, tuple(sorted(checker.reads))))
        cost += checked.cost
    if cost > MAX_COST:
        raise ConditionInvalid(
            f"the condition could take {cost:,} steps to evaluate; the limit is {MAX_COST:,} "
            "(a comprehension repeats its body for each item of its list)"
        )
    return Condition(source, variables, clauses, tree.op if isinstance(tree, _Logic) else None, cost)


# Checkpoints declare their variables as plain dicts, and a checkpoint evaluates every policy through
# compile_condition: turning the dict into (hashable) Variables on every call would cost more than the
# evaluation. The dict's Variables is kept by identity, checked unchanged (a C-speed `==` on a snapshot).
_DECLARED: dict[int, tuple[Mapping[str, Any], Any, Variables]] = {}


def _variables(declared: Variables | Mapping[str, Any]) -> Variables:
    if isinstance(declared, Variables):
        return declared
    kept = _DECLARED.get(id(declared))
    if kept is not None and kept[0] is declared and kept[1] == declared:
        return kept[2]
    variables = Variables(declared)
    if len(_DECLARED) >= 256:
        _DECLARED.clear()
    _DECLARED[id(declared)] = (declared, _snapshot(declared), variables)
    return variables
