"""Verdicts computed where a student's code cannot reach: the grader's own process.

At grading, the answer cells run in the student's sandboxed kernel, and nothing else of the
student's does. Each test cell (the instructor's source, hidden tests included) runs here, in the
grading worker, with its own imports of torch and the checks library and with the notebook's
locked cells run here too. The names a test cell takes from the student's notebook (a loss
function, a model class, a predicted shape) are fetched from the kernel once per cell:

* plain data (tensors, numbers, tuples) arrives as data, decoded by `wire.decode`, which runs no
  code: exact `torch.Tensor` values, Python numbers, never an object of the student's class;
* anything else becomes a `Remote` proxy: calling it sends the arguments into the kernel
  (`wire.serve`) and brings back data, or another proxy. Gradients cross too: a returned tensor
  that requires grad is tied into this process's autograd graph, and its backward asks the
  kernel for the gradients of the arguments (and of the grader's model parameters) it was sent.
* a student's model trains in the kernel (`train_steps` there), and the grader then scores it on
  samples whose labels the kernel has not seen; the grader's model trains here, on the values and
  gradients of the student's loss (one request per step: a loss's gradients come with its value).

So every reference, threshold and comparison is computed here, on data: a patched library,
an input transformer, an object whose `__eq__` lies or a frame walk inside the kernel changes at
most what the student's own functions return. A test cell passes only if its code here ran to the
end: that verdict, not anything the kernel printed, is the score (`SaveTrustedGrades`).
"""
from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import io
import json
import pickle
import re
import time
import warnings
from dataclasses import dataclass, field

import torch

from .. import wire
from ..checks.core import CheckFailed
from ..diagnosis import describe
from . import references  # noqa: F401 - registers the grader's references: checks.expected() is them here

REQUEST_SECONDS = 60.0      # one call into the kernel (a training run is one call)
MAX_REPLY = 16 * 2**20      # characters of one reply (the course's largest, a model's weights, is ~200 kB)
REPLY = re.compile(r"'[A-Za-z0-9+/=]*'")   # the repr of wire.serve's base64 string, nothing else


class RemoteError(Exception):
    """An exception of a type that is not a Python builtin, raised by the student's code."""


class KernelUnavailable(CheckFailed):
    """The kernel did not answer (hung, died, or sent something that is not data)."""


def as_exception(remote: wire.RemoteException) -> BaseException:
    """The grader's copy of an exception raised in the kernel: only its type name and text cross."""
    if remote.type_name == "CheckFailed":
        return CheckFailed(remote.message, remote.tag or "unknown")
    cls = getattr(builtins, remote.type_name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
        try:
            return cls(remote.message)
        except Exception:  # noqa: BLE001 - an exception class with another signature
            pass
    name = re.sub(r"\W", "_", remote.type_name)[:80] or "RemoteError"
    return type(name, (RemoteError,), {})(remote.message)


# ------------------------------------------------------------------------------------- the channel
class _RequestPickler(pickle.Pickler):
    """Pickles a request: proxies become references to the kernel's objects, tensors become leaves,
    and objects of classes the notebook's locked cells define are rebuilt from the kernel's class."""

    def __init__(self, file, notebook_ns: dict):
        super().__init__(file, protocol=4)
        self.notebook_ns = notebook_ns

    def reducer_override(self, obj):
        if isinstance(obj, Remote):
            if obj._method is not None:
                raise TypeError("a bound method of the student's object cannot be sent back")
            return wire.Ref, obj._ref
        if type(obj) is torch.Tensor and obj.requires_grad:   # a non-leaf cannot be pickled: send a leaf
            return wire._leaf, (obj.detach(), True)
        cls = type(obj)
        if cls.__module__ == "__main__" and self.notebook_ns.get(cls.__name__) is cls:
            return wire._rebuild, (cls.__name__, obj.__dict__)
        if getattr(obj, "__name__", None) == "<lambda>":
            raise TypeError("a lambda cannot be sent into the kernel: name the function in the checks library")
        return NotImplemented


class Channel:
    """Requests into one student's kernel over its shell socket; answers are decoded as data."""

    def __init__(self, km, interrupt, timeout: float = REQUEST_SECONDS):
        import zmq

        self.kc = km.blocking_client()
        self.kc.session.check_pid = False
        self.kc.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        self.kc.shell_channel.socket.setsockopt(zmq.MAXMSGSIZE, 64 * 2**20)
        self.interrupt, self.timeout = interrupt, timeout
        self.notebook_ns: dict = {}
        self.requests, self.seconds, self.dead = 0, 0.0, False
        self.pending_seed = None

    def close(self):
        with contextlib.suppress(Exception):
            self.kc.stop_channels()

    def request(self, timeout: float | None = None, **req):
        if self.dead:
            raise KernelUnavailable("the notebook's kernel stopped answering earlier, so this check could not run",
                                    "kernel-unavailable")
        buf = io.BytesIO()
        _RequestPickler(buf, self.notebook_ns).dump(req)
        payload = base64.b64encode(buf.getvalue()).decode("ascii")
        expr = f"__import__('targetpractice.wire', fromlist=['serve']).serve({payload!r})"
        t0 = time.perf_counter()
        msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"r": expr},
                                 allow_stdin=False)
        reply = self._reply(msg_id, timeout or self.timeout)
        self.requests, self.seconds = self.requests + 1, self.seconds + time.perf_counter() - t0
        try:
            expr_out = reply["content"]["user_expressions"]["r"]
            if expr_out.get("status") != "ok":
                raise wire.WireError(f"{expr_out.get('ename', 'error')}: {expr_out.get('evalue', '')}"[:300])
            text = expr_out["data"]["text/plain"]
            if type(text) is not str or len(text) > MAX_REPLY or not REPLY.fullmatch(text):
                raise wire.WireError("not the base64 text wire.serve sends")
            answer = json.loads(base64.b64decode(text[1:-1], validate=True))
            if type(answer) is not dict:
                raise wire.WireError("not an object")
        except (KeyError, TypeError, ValueError, MemoryError, RecursionError, wire.WireError) as exc:
            raise KernelUnavailable("the grader could not read what the notebook's kernel sent back "
                                    f"({type(exc).__name__}: {str(exc)[:200]})", "unreadable-answer") from None
        return answer

    def _reply(self, msg_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        interrupted = False
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if interrupted:
                    self.dead = True
                    raise KernelUnavailable("the notebook's kernel stopped answering", "kernel-unavailable")
                self.interrupt()
                interrupted, deadline = True, time.monotonic() + 5.0
                continue
            try:
                msg = self.kc.get_shell_msg(timeout=min(left, 1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting until the deadline
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                if interrupted:
                    raise CheckFailed(f"your code did not return within {self.timeout:.0f} s and was interrupted",
                                      "timeout")
                return msg

    def decode(self, item, name: str | None = None):
        return wire.decode(item, handle=lambda n, t, c: Remote(self, wire.Ref("handle", n), t, c, name=name))

    # -- the operations
    def get(self, names: list) -> dict:
        if not names:
            return {}
        answer = self.request(op="get", names=sorted(names))
        values = answer.get("value")
        if type(values) is not dict:
            raise KernelUnavailable("the kernel's answer has no values", "unreadable-answer")
        return {n: self.decode(values[n], name=n) for n in names if n in values}

    def call(self, ref, method, args: tuple, kwargs: dict, name: str):
        grad = torch.is_grad_enabled()
        strict = bool(warnings.filters) and warnings.filters[0][0] == "error"
        seed, self.pending_seed = self.pending_seed, None   # a torch.manual_seed(n) the check just called
        mine = wire.leaves([list(args), kwargs])
        answer = self.request(op="call", target=ref, method=method, args=list(args), kwargs=kwargs, grad=grad,
                              strict=strict, seed=seed)
        value = self.decode(answer.get("value"))
        if isinstance(value, wire.RemoteException):
            raise as_exception(value)
        self._refuse_mutations(name, wire.leaves([list(args), kwargs], all_tensors=True), answer.get("mutated"))
        if "states" in answer:                           # the student's code trained the grader's models
            self._load_states(wire.sent_modules(args, kwargs), self.decode(answer["states"]))
        graph = answer.get("graph")
        if grad and type(graph) is int and isinstance(value, torch.Tensor) and value.is_floating_point():
            eager = self.decode(answer["grads"]) if "grads" in answer else None
            anchor = [] if mine else [torch.zeros((), requires_grad=True)]   # ties the result into autograd
            return _RemoteBackward.apply(self, graph, len(mine), eager, value, *mine, *anchor)
        return value

    def _refuse_mutations(self, name: str, sent: list, mutated) -> None:
        """The student's code changed a tensor it was given in place (the kernel reports it). A local call
        would have changed the caller's tensor: that is the failure. The grader's copy is never changed,
        so no check can be steered by writing into its arguments."""
        if not isinstance(mutated, list) or not mutated:
            return
        pair = mutated[0]
        old = sent[pair[0]] if isinstance(pair, list) and len(pair) == 2 and type(pair[0]) is int \
            and 0 <= pair[0] < len(sent) else None
        new = self.decode(pair[1]) if isinstance(pair, list) and len(pair) == 2 else None
        seen = (f" (it was {describe(old)} and is {describe(new)} afterwards)"
                if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor) else "")
        raise CheckFailed(f"{name} changed a tensor it was given in place{seen}. The caller's tensor changes too, "
                          "so the next loss, metric or epoch that uses it sees wrong data. A function must leave "
                          "its inputs as they were.", "mutates-input")

    @staticmethod
    def _load_states(modules: list, states) -> None:
        if not isinstance(states, list) or len(states) != len(modules):
            raise CheckFailed("the kernel sent back weights that do not fit the models it was given", "no-weights")
        for module, state in zip(modules, states):
            if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise CheckFailed("the kernel sent back weights that are not tensors", "no-weights")
            try:
                module.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise CheckFailed(f"the weights trained in the notebook's kernel do not fit the model: {exc}",
                                  "no-weights") from None

    def backward(self, graph: int, grad_output: torch.Tensor, n: int) -> list:
        answer = self.request(op="backward", graph=graph, grad_output=grad_output.detach())
        grads = self.decode(answer.get("value"))
        if isinstance(grads, wire.RemoteException):
            raise as_exception(grads)
        if not isinstance(grads, list) or len(grads) != n or not all(
                g is None or isinstance(g, torch.Tensor) for g in grads):
            raise CheckFailed("the gradients the kernel sent back do not fit the inputs", "wrong-gradient")
        return grads

    def trace(self, loss: "Remote", model, X, y, steps: int, lr: float, seed: int):
        """Training the grader's model on the student's loss, every step's answer in one request.

        Returns known(step, out): the loss for that step, tied to `out` with the gradient the kernel
        gave, if and only if `out` is exactly the output the kernel trained from; else None (then the
        loss is called for that step). So the answers count only where they are the student's loss at
        the grader's own outputs, as a call per step would be.
        """
        try:
            answer = self.request(op="trace", model=model, loss=loss._ref, X=X, y=y, steps=steps, lr=lr, seed=seed,
                                  timeout=4 * self.timeout)
            steps_known = self.decode(answer.get("value"))
        except CheckFailed:
            return None
        if not isinstance(steps_known, list):
            return None

        def known(step: int, out: torch.Tensor):
            if step >= len(steps_known) or not isinstance(steps_known[step], dict):
                return None
            rec = steps_known[step]
            claimed, value, grad = rec.get("out"), rec.get("value"), rec.get("grad")
            if not all(isinstance(t, torch.Tensor) for t in (claimed, value, grad)) or value.shape != () \
                    or not value.is_floating_point() or grad.shape != out.shape or claimed.dtype != out.dtype \
                    or claimed.shape != out.shape or not torch.equal(claimed, out.detach()):
                return None
            return _KnownLoss.apply(out, value, grad.to(out.dtype))

        return known

    def train(self, model: "Remote", X, y, loss_fn, steps: int, lr: float, seed: int) -> float:
        """A student's model trains in the kernel (checks.train_steps there); what it reports is only shown,
        the checks score the model afterwards on samples it was never sent."""
        answer = self.request(op="train", model=model._ref, loss=loss_fn, X=X, y=y, steps=steps, lr=lr, seed=seed,
                              timeout=4 * self.timeout)
        value = self.decode(answer.get("value"))
        if isinstance(value, wire.RemoteException):
            raise as_exception(value)
        return value if isinstance(value, float) else float("nan")


class _RemoteBackward(torch.autograd.Function):
    """A tensor computed in the kernel, tied into this process's graph through the grader's inputs."""

    @staticmethod
    def forward(ctx, channel, graph, n, eager, value, *inputs):
        ctx.channel, ctx.graph, ctx.n, ctx.eager = channel, graph, n, eager
        ctx.shapes = [t.shape for t in inputs[:n]]
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        if ctx.eager is not None and grad_output.dim() == 0 and float(grad_output) == 1.0:
            grads = ctx.eager                         # loss.backward(): the gradients came with the value
        else:
            grads = ctx.channel.backward(ctx.graph, grad_output, ctx.n)
        if not isinstance(grads, list) or len(grads) != ctx.n:
            raise CheckFailed("the gradients the kernel sent back do not fit the inputs", "wrong-gradient")
        for g, shape in zip(grads, ctx.shapes):
            if g is not None and (not isinstance(g, torch.Tensor) or g.shape != shape):
                raise CheckFailed("the gradients the kernel sent back do not fit the inputs", "wrong-gradient")
        anchor = [None] * (len(ctx.needs_input_grad) - 5 - ctx.n)
        return (None, None, None, None, None, *grads, *anchor)


class _KnownLoss(torch.autograd.Function):
    """A loss value the kernel computed at exactly this output, with its gradient."""

    @staticmethod
    def forward(ctx, out, value, grad):
        ctx.save_for_backward(grad)
        return value.clone()

    @staticmethod
    def backward(ctx, grad_output):
        (grad,) = ctx.saved_tensors
        return grad_output * grad, None, None


class Remote:
    """The grader's handle on an object in the student's kernel: a function, a class, a model, a method."""

    __tp_remote__ = True

    def __init__(self, channel: Channel, ref, type_name: str, is_callable: bool, method: str | None = None,
                 name: str | None = None):
        self._channel, self._ref, self._type, self._callable, self._method = channel, ref, type_name, is_callable, method
        self.__name__ = name or (method if method else type_name)

    def __call__(self, *args, **kwargs):
        return self._channel.call(self._ref, self._method, args, kwargs, self.__name__)

    def __getattr__(self, name: str):
        if name.startswith("__") or self._method is not None:
            raise AttributeError(name)
        return Remote(self._channel, self._ref, f"{self._type}.{name}", True, method=name, name=name)

    def __tp_train__(self, model, X, y, loss_fn, *, steps: int, lr: float, seed: int = 0) -> float:
        return self._channel.train(model, X, y, loss_fn, steps, lr, seed)

    def __tp_trace__(self, model, X, y, *, steps: int, lr: float, seed: int = 0):
        return self._channel.trace(self, model, X, y, steps, lr, seed)

    def __repr__(self):
        return f"<{self._type} in the notebook>"


# ------------------------------------------------------------------------------- the test cells
def free_names(source: str) -> set:
    """Names a cell reads that it never binds itself and that are not builtins (what it expects the
    notebook to define)."""
    tree = ast.parse(source)
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return loaded - bound - set(dir(builtins))


@dataclass
class Verdict:
    passed: bool
    printed: str = ""
    message: str = ""
    tag: str = ""
    seconds: float = 0.0

    def outputs(self) -> list:
        """The test cell's outputs, written by the grader (never the kernel's)."""
        from nbformat.v4 import new_output

        outs = [new_output("stream", name="stdout", text=self.printed)] if self.printed else []
        if not self.passed:
            lines = self.message.splitlines() or [""]
            outs.append(new_output("error", ename="CheckFailed", evalue=lines[0],
                                   traceback=[f"Check failed [{self.tag}]", *lines]))
        return outs


@dataclass
class TrustedChecks:
    """The checks of one notebook, run in this process against one kernel."""

    channel: Channel
    namespace: dict = field(default_factory=lambda: {"__name__": "__main__", "__builtins__": builtins})
    setup_errors: list = field(default_factory=list)

    def __post_init__(self):
        self.channel.notebook_ns = self.namespace

    def run_locked(self, sources: list) -> None:
        """The locked cells (imports, a model class the exercise gives), here as well as in the kernel.

        The gradebook keeps no cell order: a cell that fails is tried again after the others.
        """
        failed = {}
        for _ in range(2):
            for source in list(sources):
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        exec(compile(source, "<locked cell>", "exec"), self.namespace)  # noqa: S102 - instructor code
                    failed.pop(source, None)
                except Exception as exc:  # noqa: BLE001 - said in every verdict that depends on it
                    failed[source] = f"{type(exc).__name__}: {exc}"
            sources = list(failed)
        self.setup_errors.extend(failed.values())

    @contextlib.contextmanager
    def _seeds_forwarded(self):
        """torch.manual_seed(n) in a check also seeds the kernel before its next call: a model the
        student's class builds right after it starts from the weights it gets in the notebook."""
        real = torch.manual_seed

        def manual_seed(seed):
            self.channel.pending_seed = int(seed)
            return real(seed)

        torch.manual_seed = manual_seed
        try:
            yield
        finally:
            torch.manual_seed = real

    def run_test(self, source: str) -> Verdict:
        from .. import hints
        from ..checks import core

        t0 = time.perf_counter()
        hints._shown.clear(), hints._failures.clear()   # a worker grades many students: each starts afresh
        core.MISSED.clear()
        ns = dict(self.namespace)
        printed = io.StringIO()
        try:
            wanted = free_names(source) - set(ns)
            for name, value in self.channel.get(sorted(wanted)).items():
                if isinstance(value, wire.RemoteException):
                    raise as_exception(value)
                if value is not wire.MISSING and not (isinstance(value, Remote) and value._type == "module"):
                    ns[name] = value                  # (a module never comes from the kernel: no `checks`)
            with contextlib.redirect_stdout(printed), warnings.catch_warnings(), self._seeds_forwarded():
                exec(compile(source, "<test cell>", "exec"), ns)  # noqa: S102 - the instructor's test cell
        except CheckFailed as exc:
            return Verdict(False, printed.getvalue(), str(exc), exc.tag, time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - an assertion, or the student's error seen here
            message = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
            if self.setup_errors:
                message += "\n(the grader could not run a locked cell: " + "; ".join(self.setup_errors) + ")"
            tag = "assertion" if isinstance(exc, AssertionError) else "error"
            return Verdict(False, printed.getvalue(), message, tag, time.perf_counter() - t0)
        return Verdict(True, printed.getvalue(), "", "", time.perf_counter() - t0)
