"""Lowering: syntax tree → forward Program, one SymPy operation per statement.

Name resolution happens here (scopes, shadowing, inlined calls, ``xy`` splitting), since
what ``xy`` or ``x(y+1)`` means depends on the names in scope. The walk uses an explicit
stack: a 10,000-deep expression lowers without touching Python's recursion limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp
from sympy.logic.boolalg import Boolean

from . import syntax as S
from .builtins import BUILTINS, CONSTANTS, Builtin
from .diagnostics import ChainccError
from .ir import Output, Param, Program
from .optimize import Builder, program
from .source import Source, Span


@dataclass
class Scope:
    locals: dict[str, sp.Expr]
    limit: int                                   # statements before this index are visible
    memo: dict = field(default_factory=dict)     # shared by one function's lowering


class Globals:
    """Top-level bindings and functions, each visible to the statements after it."""

    def __init__(self, module: S.Module) -> None:
        self.defs: dict[str, list[tuple[int, S.Statement]]] = {}
        for i, st in enumerate(module.statements):
            self.defs.setdefault(st.name, []).append((i, st))

    def lookup(self, name: str, limit: int) -> tuple[int, S.Statement] | None:
        for i, st in reversed(self.defs.get(name, [])):
            if i < limit:
                return i, st
        return None


def _number(node: S.Num) -> sp.Expr:
    text = node.text
    if text.isdigit():
        return sp.Integer(int(text))
    return sp.Rational(text)


class Lowerer:
    def __init__(self, module: S.Module, source: Source | None) -> None:
        self.module = module
        self.source = source
        self.globals = Globals(module)

    def error(self, message: str, span: Span) -> ChainccError:
        return ChainccError(message, span, self.source)

    # -- names -----------------------------------------------------------------------
    def _kind(self, name: str, scope: Scope):
        """What ``name`` means here: (kind, payload) or None."""
        if name in scope.locals:
            return "value", scope.locals[name]
        hit = self.globals.lookup(name, scope.limit)
        if hit is not None:
            i, st = hit
            return ("function", hit) if isinstance(st, S.FuncDef) else ("binding", (i, st))
        if name in BUILTINS:
            return "builtin", BUILTINS[name]
        if name in CONSTANTS:
            return "value", CONSTANTS[name]
        return None

    def _split(self, name: str, scope: Scope) -> list[str] | None:
        """Split ``xy`` wholly into names in scope, longest name first (with backtracking)."""
        stack: list[tuple[int, list[str]]] = [(0, [])]
        while stack:
            pos, parts = stack.pop()
            if pos == len(name):
                return parts
            # push shorter candidates first so the longest is tried first
            for end in range(pos + 1, len(name) + 1):
                piece = name[pos:end]
                if self._kind(piece, scope) is not None:
                    stack.append((end, parts + [piece]))
        return None

    # -- expressions -------------------------------------------------------------------
    def lower_expr(self, root: S.Node, scope: Scope, builder: Builder) -> sp.Expr:
        emit = builder.emit
        values: list = []
        tasks: list[tuple] = [("eval", root, scope)]
        while tasks:
            task = tasks.pop()
            kind = task[0]
            if kind == "eval":
                self._eval(task[1], task[2], tasks, values)
            elif kind == "apply":
                self._apply(task[1], task[2], values, emit)
            elif kind == "mul":                  # product of the top n values
                n, span = task[1], task[2]
                args = [self._scalar(values.pop(), span) for _ in range(n)][::-1]
                acc = args[0]
                for a in args[1:]:
                    acc = emit(sp.Mul(acc, a))
                values.append(acc)
            elif kind == "call":                 # inline a user function
                _, (idx, fdef), span, n, sc = task
                args = [self._scalar(values.pop(), span) for _ in range(n)][::-1]
                key = ("call", idx, tuple(args))
                if key in sc.memo:
                    values.append(sc.memo[key])
                    continue
                inner = Scope(dict(zip((p.name for p in fdef.params), args)), idx, sc.memo)
                tasks.append(("memo", key, sc))
                tasks.append(("eval", fdef.body, inner))
            elif kind == "memo":
                task[2].memo[task[1]] = values[-1]
            elif kind == "label":
                v = values[-1]
                if isinstance(v, sp.Symbol) and v not in self.labels:
                    self.labels[v] = task[1]
                task[2].memo[task[3]] = v
        assert len(values) == 1
        return values[0]

    def _scalar(self, v, span: Span) -> sp.Expr:
        if isinstance(v, Boolean) and not isinstance(v, sp.Expr):
            raise self.error("a comparison can only be the condition of where(...)", span)
        return v

    def _eval(self, node: S.Node, scope: Scope, tasks: list, values: list) -> None:
        if isinstance(node, S.Num):
            values.append(_number(node))
        elif isinstance(node, S.Name):
            self._eval_name(node, scope, tasks, values)
        elif isinstance(node, S.Call):
            self._eval_call(node, scope, tasks, values)
        elif isinstance(node, (S.Binary, S.Compare, S.BoolOp)):
            tasks.append(("apply", node, scope))
            tasks.append(("eval", node.right, scope))
            tasks.append(("eval", node.left, scope))
        elif isinstance(node, (S.Unary, S.Not)):
            tasks.append(("apply", node, scope))
            tasks.append(("eval", node.operand, scope))
        elif isinstance(node, (S.Index, S.ArrayLit, S.Transpose)):
            raise self.error("arrays are not supported in scalar functions", node.span)
        else:  # pragma: no cover - the parser builds only the nodes above
            raise AssertionError(f"unexpected node {type(node).__name__}")

    def _eval_name(self, node: S.Name, scope: Scope, tasks: list, values: list) -> None:
        k = self._kind(node.id, scope)
        if k is None:
            parts = self._split(node.id, scope)
            if parts is None or any(self._kind(p, scope)[0] in ("function", "builtin")
                                    for p in parts):
                raise self.error(f"unknown name '{node.id}'", node.span)
            tasks.append(("mul", len(parts), node.span))
            for p in reversed(parts):
                tasks.append(("eval", S.Name(node.span, p), scope))
            return
        what, payload = k
        if what == "value":
            values.append(payload)
        elif what == "binding":
            idx, st = payload
            key = ("binding", idx)
            if key in scope.memo:
                values.append(scope.memo[key])
                return
            tasks.append(("label", st.name, scope, key))
            tasks.append(("eval", st.value, Scope(scope.locals, idx, scope.memo)))
        else:
            raise self.error(f"'{node.id}' is a function; call it with arguments: "
                             f"{node.id}(...)", node.span)

    def _eval_call(self, node: S.Call, scope: Scope, tasks: list, values: list) -> None:
        name = node.func.id
        k = self._kind(name, scope)
        prefix: list[str] = []
        if k is None:
            parts = self._split(name, scope)
            if parts is None:
                raise self.error(f"unknown function '{name}'", node.func.span)
            prefix, last = parts[:-1], parts[-1]
            if any(self._kind(p, scope)[0] in ("function", "builtin") for p in prefix):
                raise self.error(f"unknown function '{name}'", node.func.span)
            k = self._kind(last, scope)
            name = last
        what, payload = k
        if prefix:
            tasks.append(("mul", len(prefix) + 1, node.span))
        if what in ("value", "binding"):
            if len(node.args) != 1:
                raise self.error(f"'{name}' is not a function", node.func.span)
            tasks.append(("mul", 2, node.span))
            tasks.append(("eval", node.args[0], scope))
            tasks.append(("eval", S.Name(node.func.span, name), scope))
        elif what == "function":
            fdef = payload[1]
            if len(node.args) != len(fdef.params):
                raise self.error(f"'{name}' takes {len(fdef.params)} argument"
                                 f"{'s' if len(fdef.params) != 1 else ''}, "
                                 f"got {len(node.args)}", node.span)
            if any(p.shape for p in fdef.params):
                raise self.error("arrays are not supported in scalar functions", node.span)
            tasks.append(("call", payload, node.span, len(node.args), scope))
            tasks.extend(("eval", a, scope) for a in reversed(node.args))
        else:
            b: Builtin = payload
            n = len(node.args)
            if n < b.min_args or (b.max_args is not None and n > b.max_args):
                want = (str(b.min_args) if b.max_args == b.min_args else
                        f"{b.min_args} or {b.max_args}" if b.max_args else
                        f"at least {b.min_args}")
                raise self.error(f"'{name}' takes {want} argument"
                                 f"{'s' if want != '1' else ''}, got {n}", node.span)
            call = S.Call(node.span, S.Name(node.func.span, name), node.args)
            tasks.append(("apply", call, scope))
            tasks.extend(("eval", a, scope) for a in reversed(node.args))
        for p in reversed(prefix):
            tasks.append(("eval", S.Name(node.func.span, p), scope))

    def _apply(self, node: S.Node, scope: Scope, values: list, emit) -> None:
        if isinstance(node, S.Call):
            b: Builtin = self._kind(node.func.id, scope)[1]
            args = [values.pop() for _ in node.args][::-1]
            if b.name == "where":
                cond = args[0]
                if not (isinstance(cond, Boolean) and not isinstance(cond, sp.Expr)):
                    raise self.error("the first argument of where(...) must be a comparison",
                                     node.args[0].span)
                args = [cond] + [self._scalar(a, s.span) for a, s in zip(args[1:],
                                                                         node.args[1:])]
            else:
                args = [self._scalar(a, s.span) for a, s in zip(args, node.args)]
            values.append(emit(b.make(*args)))
            return
        if isinstance(node, (S.Unary, S.Not)):
            x = values.pop()
            if isinstance(node, S.Not):
                values.append(sp.Not(self._cond(x, node.operand.span)))
            else:
                x = self._scalar(x, node.operand.span)
                values.append(emit(-x) if node.op == "-" else x)
            return
        r, l = values.pop(), values.pop()
        if isinstance(node, S.BoolOp):
            l, r = self._cond(l, node.left.span), self._cond(r, node.right.span)
            values.append(sp.And(l, r) if node.op == "and" else sp.Or(l, r))
            return
        l, r = self._scalar(l, node.left.span), self._scalar(r, node.right.span)
        if isinstance(node, S.Compare):
            rel = {"<": sp.Lt, "<=": sp.Le, ">": sp.Gt, ">=": sp.Ge, "==": sp.Eq,
                   "!=": sp.Ne}[node.op]
            values.append(rel(l, r))
            return
        op = node.op
        if op == "+":
            v = sp.Add(l, r)
        elif op == "-":
            v = sp.Add(l, sp.Mul(-1, r))
        elif op == "*":
            v = sp.Mul(l, r)
        elif op == "/":
            v = sp.Mul(l, sp.Pow(r, -1))
        elif op == "^":
            v = sp.Pow(l, r)
        else:
            raise self.error(f"operator '{op}' needs array operands", node.span)
        values.append(emit(v))

    def _cond(self, v, span: Span):
        if isinstance(v, Boolean) and not isinstance(v, sp.Expr):
            return v
        raise self.error("expected a comparison", span)

    # -- statements --------------------------------------------------------------------
    def lower_function(self, index: int, fdef: S.FuncDef) -> Program:
        params = []
        locals_: dict[str, sp.Expr] = {}
        for p in fdef.params:
            if p.shape:
                raise self.error("array parameters are not supported in scalar functions",
                                 p.span)
            sym = sp.Symbol(p.name)
            locals_[p.name] = sym
            params.append(Param(p.name, (), (sym,)))
        builder = Builder()
        self.labels: dict[sp.Symbol, str] = {}
        value = self.lower_expr(fdef.body, Scope(locals_, index), builder)
        value = self._scalar(value, fdef.body.span)
        return program(fdef.name, tuple(params), builder, (Output("value", (), (value,)),),
                       fdef.span.line, tuple(self.labels.items()))


def lower_module(module: S.Module, source: Source | None = None) -> list[Program]:
    """Every function of the module as a forward Program, in file order."""
    lw = Lowerer(module, source)
    seen: dict[str, S.FuncDef] = {}
    progs = []
    for i, st in enumerate(module.statements):
        if isinstance(st, S.FuncDef):
            if st.name in seen:
                raise lw.error(f"function '{st.name}' is already defined at line "
                               f"{seen[st.name].span.line}", st.name_span)
            seen[st.name] = st
            progs.append(lw.lower_function(i, st))
    if not progs:
        raise ChainccError("no function defined in this file (write one like "
                           "'f(x) = x^2')", Span(module.file, 1, 1, 1, 2), source)
    return progs
