"""The student's side of the grading channel: what the trusted checker may ask a student's kernel.

At grading, a notebook's checks run in the grader's own process, outside the sandbox
(`targetpractice.instructor.trusted`). When a check calls the student's function, the grader
sends one request into the student's kernel and `serve` answers it here:

    get     names            -> the values of those names in the notebook
    call    target, args     -> target(*args) (a student function, class, model or method)
    backward graph, grad     -> the gradients of a call's tensor inputs (and model parameters)
    train   model, data, loss -> checks.train_steps on a student's model, in the kernel
    trace   model, data, loss -> each step of training the grader's model on a student's loss

Requests are pickled by the grader (this kernel trusts the grader). Answers go back as plain data
only, in one JSON schema (`encode`): None, bool, int, float, str, tuples, lists, dicts of those,
and exact `torch.Tensor` values as dtype, shape and raw bytes; anything else is an opaque handle
(a number), and an exception is its type name and text. The grader decodes that with `decode`,
which never runs code, so whatever the student's code returns, or however it rewrites this
module inside its own process, the grader receives data, and it recomputes every reference and
threshold itself.
"""
from __future__ import annotations

import base64
import json
import math
import pickle
import warnings

import torch

MAX_DEPTH = 8
MAX_ITEMS = 4096
MAX_TEXT = 20_000
DTYPES = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
          "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8,
          "uint8": torch.uint8, "bool": torch.bool}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class Ref:
    """A reference, inside a request, to an object that lives in the student's kernel."""

    def __init__(self, kind: str, key):
        self.kind, self.key = kind, key            # ("name", "loss_fn") or ("handle", 7)


class WireError(Exception):
    """What the kernel sent back is not valid data."""


# ------------------------------------------------------------------ kernel side: the objects it keeps
_handles: dict = {}          # handle number -> object (kept alive while grading runs)
_handle_of: dict = {}        # id(object) -> handle number
_graphs: dict = {}           # graph number -> (output tensor, [leaf tensors])
_MAX_GRAPHS = 64


def _handle(obj) -> int:
    key = id(obj)
    if key not in _handle_of:
        number = len(_handles) + 1
        _handles[number], _handle_of[key] = obj, number
    return _handle_of[key]


def leaves(values, *, all_tensors: bool = False) -> list:
    """Tensors that require grad among values, in a fixed order: tensors, then modules' parameters.
    With all_tensors: every tensor argument (not the modules' parameters), grad or not.

    The grader walks its own arguments with the same function, so its i-th leaf is the kernel's i-th.
    """
    found = []

    def walk(v, depth=0):
        if depth > MAX_DEPTH:
            return
        if isinstance(v, torch.Tensor):
            if v.requires_grad or all_tensors:
                found.append(v)
        elif isinstance(v, torch.nn.Module):
            if not all_tensors:
                found.extend(p for p in v.parameters() if p.requires_grad)
        elif isinstance(v, (list, tuple)):
            for item in v:
                walk(item, depth + 1)
        elif isinstance(v, dict):
            for item in v.values():
                walk(item, depth + 1)

    walk(values)
    return found


# ------------------------------------------------------------------------------- encoding (kernel)
def encode(value, depth: int = 0):
    """Plain data for the grader; anything that is not plain data becomes a handle."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or type(value) is bool:
        return {"t": "none"} if value is None else {"t": "bool", "v": value}
    if isinstance(value, int):
        return {"t": "int", "v": int.__int__(value)}
    if isinstance(value, float):                   # a float subclass travels as its float value
        return {"t": "float", "v": float.__repr__(value)}
    if type(value) is str:
        return {"t": "str", "v": value[:MAX_TEXT]}
    if type(value) in (tuple, list, torch.Size):
        if len(value) > MAX_ITEMS:
            raise WireError("sequence too long")
        kind = "list" if type(value) is list else "tuple"
        return {"t": kind, "v": [encode(v, depth + 1) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value) and len(value) <= MAX_ITEMS:
        return {"t": "dict", "v": {k: encode(v, depth + 1) for k, v in value.items()}}
    if type(value) in (torch.Tensor, torch.nn.Parameter):
        t = torch.Tensor.detach(value).cpu().contiguous()
        if t.dtype not in _DTYPE_NAMES:
            t = t.float()
        return {"t": "tensor", "dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                "requires_grad": bool(value.requires_grad),
                "data": base64.b64encode(t.numpy().tobytes()).decode("ascii")}
    if type(value).__module__ == "numpy":            # numpy scalars and arrays are plain data too
        try:
            import numpy as np

            return encode(value.item() if isinstance(value, np.generic) else
                          torch.as_tensor(np.ascontiguousarray(value)), depth + 1)
        except (TypeError, ValueError, RuntimeError):
            pass
    if isinstance(value, torch.Tensor):
        return {"t": "error", "type": "TypeError", "tag": "tensor-subclass",
                "message": f"returned a {type(value).__name__}, a subclass of torch.Tensor; return a plain tensor"}
    return {"t": "handle", "v": _handle(value), "type": type(value).__qualname__[:200],
            "callable": callable(value)}


def encode_error(exc: BaseException) -> dict:
    return {"t": "error", "type": type(exc).__name__[:200], "message": str(exc)[:MAX_TEXT],
            "tag": str(getattr(exc, "tag", ""))[:200]}


# ------------------------------------------------------------------------------- serving (kernel)
def _resolve(value, ns):
    if isinstance(value, Ref):
        if value.kind == "name":
            if value.key not in ns:
                raise NameError(f"name {value.key!r} is not defined")
            return ns[value.key]
        return _handles[value.key]
    if isinstance(value, list):
        return [_resolve(v, ns) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, ns) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, ns) for k, v in value.items()}
    return value


def sent_modules(args, kwargs) -> list:
    """The grader's models among a call's arguments (the student's function may train them in place)."""
    return [v for v in [*args, *kwargs.values()] if isinstance(v, torch.nn.Module)]


def _versions(module) -> list:
    return [t._version for t in module.state_dict(keep_vars=True).values()]


def _leaf(t: torch.Tensor, requires_grad: bool) -> torch.Tensor:
    """A tensor the grader sent, as a leaf (its graph stays with the grader)."""
    return t.requires_grad_(requires_grad)


def _rebuild(class_name: str, state: dict):
    """An object of a class the notebook's locked cells define (sent by the grader), rebuilt here."""
    import __main__

    cls = vars(__main__)[class_name]
    obj = cls.__new__(cls)
    obj.__dict__.update(state)
    return obj


def _call(req, ns):
    inputs = leaves([req["args"], req["kwargs"]])      # the grader's tensors and parameters, in its order
    modules = sent_modules(req["args"], req["kwargs"])
    versions = [_versions(m) for m in modules]
    target = _resolve(req["target"], ns)
    if req.get("method"):
        target = getattr(target, req["method"])
    args, kwargs = _resolve(req["args"], ns), _resolve(req["kwargs"], ns)
    if req.get("seed") is not None:
        torch.manual_seed(req["seed"])
    arguments = leaves([args, kwargs], all_tensors=True)
    before = [t._version for t in arguments]
    with warnings.catch_warnings(), torch.set_grad_enabled(req["grad"]):
        if req.get("strict"):
            warnings.simplefilter("error")
        out = target(*args, **kwargs)
    answer = {"value": encode(out)}
    # an argument changed in place (y -= 1): the grader's copy changes the same way, as a local call would
    mutated = [[i, encode(t.detach())] for i, (t, v) in enumerate(zip(arguments, before)) if t._version != v]
    if mutated:
        answer["mutated"] = mutated
    if any(_versions(m) != v for m, v in zip(modules, versions)):   # trained in place: send the weights
        answer["states"] = encode([dict(m.state_dict()) for m in modules])
    if req["grad"] and isinstance(out, torch.Tensor) and out.requires_grad:
        number = max(_graphs, default=0) + 1
        _graphs[number] = (out, inputs)
        if out.dim() == 0 and inputs:                   # a loss: its gradients now, saving a round trip
            answer["grads"] = encode(list(torch.autograd.grad(out, inputs, allow_unused=True, retain_graph=True)))
        for old in sorted(_graphs)[:-_MAX_GRAPHS]:
            del _graphs[old]
        answer["graph"] = number
    return answer


def _backward(req, ns):
    out, inputs = _graphs.pop(req["graph"])
    for t in inputs:
        t.grad = None
    torch.autograd.backward(out, req["grad_output"])
    return {"value": encode([t.grad for t in inputs])}


def _train(req, ns):
    from .checks.core import train_steps

    model, loss_fn = _resolve(req["model"], ns), _resolve(req["loss"], ns)
    X, y = req["X"], req["y"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = train_steps(model, X, y, loss_fn, steps=req["steps"], lr=req["lr"], seed=req["seed"])
    return {"value": encode(value)}


def _trace(req, ns):
    """The grader's model trained here on the student's loss, as train_steps does it, recording each
    step's output, loss and gradient of the loss: the grader replays the steps and takes a record
    only where its own model produced exactly that output (one request instead of one per step)."""
    model, loss_fn, X, y = req["model"], _resolve(req["loss"], ns), req["X"], req["y"]
    torch.manual_seed(req["seed"])
    opt = torch.optim.Adam(model.parameters(), lr=req["lr"])
    model.train()
    steps = []
    for _ in range(req["steps"]):
        opt.zero_grad()
        out = model(X)
        leaf = out.detach().requires_grad_(True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                loss = loss_fn(leaf, y)
            if type(loss) is not torch.Tensor or loss.dim() != 0 or not loss.requires_grad:
                break                                    # the grader's own step explains it
            (grad,) = torch.autograd.grad(loss, leaf)
        except Exception:  # noqa: BLE001 - likewise
            break
        steps.append({"out": out.detach(), "value": loss.detach(), "grad": grad})
        out.backward(grad)
        opt.step()
    return {"value": encode(steps)}


def _get(req, ns):
    return {"value": {name: (encode(ns[name]) if name in ns else {"t": "missing"}) for name in req["names"]}}


_OPS = {"get": _get, "call": _call, "backward": _backward, "train": _train, "trace": _trace}


def serve(request: str) -> str:
    """Answer one request from the grader (base64 pickle) with base64 of JSON text; never raises.

    Base64, so that the grader reads the reply with one pattern, never by parsing Python."""
    try:
        import __main__

        req = pickle.loads(base64.b64decode(request))
        answer = _OPS[req["op"]](req, vars(__main__))
    except BaseException as exc:  # noqa: BLE001 - the student's error is part of the answer
        answer = {"value": encode_error(exc)}
    try:
        text = json.dumps(answer, allow_nan=False)
    except (TypeError, ValueError) as exc:
        text = json.dumps({"value": encode_error(exc)})
    return base64.b64encode(text.encode()).decode("ascii")


# ------------------------------------------------------------------------------- decoding (grader)
def decode(item, depth: int = 0, handle=None):
    """Plain Python and torch values from encode()'s schema, checked field by field.

    ``handle(number, type_name, callable)`` builds the grader's proxy for an opaque handle. Raises
    WireError on anything outside the schema; an encoded exception is returned as RemoteException.
    """
    if depth > MAX_DEPTH or type(item) is not dict or type(item.get("t")) is not str:
        raise WireError("not an encoded value")
    t, v = item["t"], item.get("v")
    if t == "none":
        return None
    if t == "bool" and type(v) is bool:
        return v
    if t == "int" and type(v) is int:
        return v
    if t == "float" and type(v) is str and len(v) < 40:
        try:
            return float(v)
        except ValueError:
            raise WireError("bad float") from None
    if t == "str" and type(v) is str:
        return v[:MAX_TEXT]
    if t in ("tuple", "list") and type(v) is list and len(v) <= MAX_ITEMS:
        items = [decode(x, depth + 1, handle) for x in v]
        return tuple(items) if t == "tuple" else items
    if t == "dict" and type(v) is dict and len(v) <= MAX_ITEMS:
        return {str(k): decode(x, depth + 1, handle) for k, x in v.items()}
    if t == "tensor":
        return _decode_tensor(item)
    if t == "handle" and type(v) is int and handle is not None:
        return handle(v, str(item.get("type", "object"))[:200], bool(item.get("callable")))
    if t == "error":
        return RemoteException(str(item.get("type", "Exception"))[:200], str(item.get("message", ""))[:MAX_TEXT],
                               str(item.get("tag", ""))[:200])
    if t == "missing":
        return MISSING
    raise WireError(f"unexpected value of kind {t[:40]!r}")


def _decode_tensor(item) -> torch.Tensor:
    dtype, shape, data = item.get("dtype"), item.get("shape"), item.get("data")
    if dtype not in DTYPES or type(shape) is not list or type(data) is not str:
        raise WireError("bad tensor header")
    if len(shape) > 16 or not all(type(s) is int and 0 <= s < 2**31 for s in shape):
        raise WireError("bad tensor shape")
    raw = base64.b64decode(data, validate=True)
    count = math.prod(shape)
    if len(raw) != count * torch.empty((), dtype=DTYPES[dtype]).element_size():
        raise WireError("tensor data does not match its shape")
    if count == 0:
        return torch.empty(shape, dtype=DTYPES[dtype])
    return torch.frombuffer(bytearray(raw), dtype=DTYPES[dtype]).reshape(shape).clone()


class RemoteException:
    """An exception raised in the student's kernel, as data (type name, text, check tag)."""

    def __init__(self, type_name: str, message: str, tag: str):
        self.type_name, self.message, self.tag = type_name, message, tag


MISSING = object()
