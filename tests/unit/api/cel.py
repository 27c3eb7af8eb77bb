"""A small CEL interpreter for the subset TMC's ``x-kubernetes-validations`` use.

It lets the tests run the rendered rules against objects, so a CEL rule and its Python twin
(``CelRule.check``) cannot silently disagree.  Supported: literals (int, string, bool, null, lists),
``self`` and field selection, ``has(x.f)``, ``size(x)``, ``! - && || ?: == != < <= > >= in``,
parentheses.  Semantics follow CEL where TMC's rules can observe them: selecting a missing field
is an error, and ``||`` / ``&&`` absorb an error when the other side decides the result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class CelError(Exception):
    """A parse error, or a runtime error (e.g. ``no such key``)."""


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+)|(?P<str>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\|\||&&|==|!=|<=|>=|[<>!?:()\[\],.+\-]))"
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise CelError(f"unexpected character at {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    tokens.append(("end", ""))
    return tokens


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.pos]

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.tokens[self.pos]
        if value is not None and token[1] != value:
            raise CelError(f"expected {value!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.expr()
        if self.peek()[0] != "end":
            raise CelError(f"trailing input at {self.peek()[1]!r}")
        return node

    def expr(self) -> Node:
        cond = self.binary(0)
        if self.peek()[1] == "?":
            self.take("?")
            then = self.expr()
            self.take(":")
            other = self.expr()
            return Node("?:", (cond, then, other))
        return cond

    _LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",),
        ("&&",),
        ("==", "!=", "<", "<=", ">", ">=", "in"),
        ("+", "-"),
    )

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[1] in self._LEVELS[level] and self.peek()[0] in ("op", "id"):
            op = self.take()[1]
            right = self.binary(level + 1)
            left = Node(op, (left, right))
        return left

    def unary(self) -> Node:
        if self.peek()[1] in ("!", "-"):
            op = self.take()[1]
            return Node("neg" if op == "-" else "!", (self.unary(),))
        return self.member()

    def member(self) -> Node:
        node = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                name = self.take()
                if name[0] != "id":
                    raise CelError(f"expected a field name, got {name[1]!r}")
                node = Node("select", (node, name[1]))
            else:
                index = self.expr()
                self.take("]")
                node = Node("index", (node, index))
        return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "num":
            return Node("lit", (int(value),))
        if kind == "str":
            return Node("lit", (bytes(value[1:-1], "utf-8").decode("unicode_escape"),))
        if kind == "id":
            if value in ("true", "false"):
                return Node("lit", (value == "true",))
            if value == "null":
                return Node("lit", (None,))
            if self.peek()[1] == "(":
                self.take("(")
                args = self.args(")")
                return Node("call", (value, tuple(args)))
            return Node("ident", (value,))
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        if value == "[":
            return Node("list", tuple(self.args("]")))
        raise CelError(f"unexpected token {value!r}")

    def args(self, close: str) -> list[Node]:
        items: list[Node] = []
        if self.peek()[1] == close:
            self.take(close)
            return items
        while True:
            items.append(self.expr())
            if self.take()[1] == close:
                return items


def parse(text: str) -> Node:
    """Parse a CEL expression; raises :class:`CelError` outside the supported subset."""
    return _Parser(text).parse()


def selected_fields(node: Node, root: str = "self") -> set[str]:
    """Names ``f`` of every ``self.f`` in the expression."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Node):
            if value.op == "select" and value.args[0] == Node("ident", (root,)):
                found.add(value.args[1])
            for arg in value.args:
                walk(arg)
        elif isinstance(value, tuple):
            for arg in value:
                walk(arg)

    walk(node)
    return found


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise CelError(f"no matching overload: expected bool, got {type(value).__name__}")
    return value


def _evaluate(node: Node, env: dict[str, Any]) -> Any:
    op, args = node.op, node.args
    if op == "lit":
        return args[0]
    if op == "list":
        return [_evaluate(arg, env) for arg in args]
    if op == "ident":
        if args[0] not in env:
            raise CelError(f"undeclared reference {args[0]!r}")
        return env[args[0]]
    if op == "select":
        target = _evaluate(args[0], env)
        if not isinstance(target, dict) or args[1] not in target:
            raise CelError(f"no such key: {args[1]}")
        return target[args[1]]
    if op == "index":
        return _evaluate(args[0], env)[_evaluate(args[1], env)]
    if op == "call":
        name, call_args = args
        if name == "has":
            (arg,) = call_args
            if arg.op != "select":
                raise CelError("has() needs a field selection")
            target = _evaluate(arg.args[0], env)
            return isinstance(target, dict) and arg.args[1] in target
        if name == "size":
            (arg,) = call_args
            return len(_evaluate(arg, env))
        raise CelError(f"unsupported function {name}")
    if op == "!":
        return not _bool(_evaluate(args[0], env))
    if op == "neg":
        return -_evaluate(args[0], env)
    if op == "?:":
        return _evaluate(args[1] if _bool(_evaluate(args[0], env)) else args[2], env)
    if op in ("||", "&&"):
        decisive = op == "||"
        error: CelError | None = None
        for arg in args:
            try:
                if _bool(_evaluate(arg, env)) == decisive:
                    return decisive
            except CelError as exc:
                error = error or exc
        if error is not None:
            raise error
        return not decisive
    left, right = _evaluate(args[0], env), _evaluate(args[1], env)
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "in":
        return left in right
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if type(left) is not type(right):
        raise CelError(f"no matching overload for {op} on {type(left).__name__}, {type(right).__name__}")
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def evaluate(rule: str, self_value: Any) -> Any:
    """Evaluate ``rule`` with ``self`` bound to ``self_value``."""
    return _evaluate(parse(rule), {"self": self_value})
