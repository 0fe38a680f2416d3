"""``Sequential``: a chain of named layers with forward and backward hooks.

The hooks are how the rest of lmsbn looks inside a network without changing it: the bridge
captures each conv layer's input (its regressors, see :func:`lmsbn.bridge.capture_regressors`)
with a forward hook, and the back-propagated error entering it (the LMS error) with a backward
hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from lmsbn.nn.layers import Layer

__all__ = ["HookHandle", "Sequential"]


class HookHandle:
    """Returned by ``register_*_hook``; call :meth:`remove` to detach the hook."""

    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self):
        """Detach the hook (removing it twice is harmless)."""
        self._hooks.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class Sequential:
    """Layers applied in order, each with a name (``conv1``, ``bn1``, ``relu1``, ...).

    Parameters
    ----------
    *layers : Layer, or one list of ``(name, Layer)`` pairs
        Unnamed layers are named by type and a counter per type, in order.

    Examples
    --------
    >>> from lmsbn.nn import Sequential, Conv2d, BatchNorm2d, ReLU
    >>> net = Sequential(Conv2d(3, 4, 3, padding=1, rng=0), BatchNorm2d(4), ReLU())
    >>> [name for name, _ in net.named_layers()]
    ['conv1', 'bn1', 'relu1']
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            pairs = list(layers[0])
        else:
            pairs = [(None, layer) for layer in layers]
        self._layers: dict[str, Layer] = {}
        counts: dict[str, int] = {}
        for item in pairs:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise TypeError(
                    f"a list given to Sequential must hold (name, layer) pairs, got {item!r}")
            name, layer = item
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential takes Layer objects, got {type(layer).__name__}")
            if name is None:
                counts[layer.prefix] = counts.get(layer.prefix, 0) + 1
                name = f"{layer.prefix}{counts[layer.prefix]}"
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"layer names must be non-empty strings without '.', got {name!r}")
            if name in self._layers:
                raise ValueError(f"duplicate layer name {name!r}")
            self._layers[name] = layer
        self._forward_hooks: dict[int, Callable] = {}
        self._backward_hooks: dict[int, Callable] = {}
        self._next_hook = 0

    # ----------------------------------------------------------------------- access by name
    def named_layers(self) -> Iterator[tuple[str, Layer]]:
        """Yield ``(name, layer)`` pairs in order."""
        yield from self._layers.items()

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._layers[key]
            except KeyError:
                raise KeyError(f"no layer named {key!r}; layers are {list(self._layers)}") from None
        return list(self._layers.values())[key]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers.values())

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(name, parameter, gradient)`` triples, e.g. ``("conv1.weight", w, dw)``.

        The arrays are the layers' own: updating them in place updates the model.
        """
        for lname, layer in self._layers.items():
            for pname, p in layer.params.items():
                yield f"{lname}.{pname}", p, layer.grads[pname]

    def num_parameters(self) -> int:
        """Total number of trainable scalars."""
        return int(sum(p.size for _, p, _ in self.named_parameters()))

    def parameters_vector(self) -> np.ndarray:
        """Every parameter flattened into one new vector, shape (P,), in
        :meth:`named_parameters` order (PyTorch's ``parameters_to_vector``).

        The point :math:`\theta` at which curvature, snapshots and finite differences are taken.
        """
        return np.concatenate([p.ravel() for _, p, _ in self.named_parameters()])

    def set_parameters_vector(self, theta) -> None:
        """Write a vector from :meth:`parameters_vector` back into the parameters, in place.

        Raises ``ValueError`` unless ``theta`` has :meth:`num_parameters` entries.
        """
        theta = np.asarray(theta)
        if theta.shape != (self.num_parameters(),):
            raise ValueError(f"theta must have shape ({self.num_parameters()},), one entry per "
                             f"parameter of this model, got shape {theta.shape}")
        i = 0
        for _, p, _ in self.named_parameters():
            p[...] = theta[i:i + p.size].reshape(p.shape)
            i += p.size

    def zero_grad(self):
        """Zero the gradients of every layer."""
        for layer in self._layers.values():
            layer.zero_grad()

    # ----------------------------------------------------------------------- hooks
    def _add_hook(self, table, fn):
        if not callable(fn):
            raise TypeError(f"hook must be callable, got {type(fn).__name__}")
        key = self._next_hook
        self._next_hook += 1
        table[key] = fn
        return HookHandle(table, key)

    def register_forward_hook(self, fn: Callable) -> HookHandle:
        """Call ``fn(layer_name, layer, input, output)`` after every layer's forward pass."""
        return self._add_hook(self._forward_hooks, fn)

    def register_backward_hook(self, fn: Callable) -> HookHandle:
        """Call ``fn(layer_name, layer, dout, dinput)`` after every layer's backward pass.

        ``dout`` is the gradient of the loss with respect to the layer's output: for a conv or
        linear layer, minus the error of its block-LMS update (see :mod:`lmsbn.bridge`).
        """
        return self._add_hook(self._backward_hooks, fn)

    # ----------------------------------------------------------------------- passes
    def forward(self, x, train: bool = True):
        """Run every layer in order; return the output of the last."""
        for name, layer in self._layers.items():
            out = layer.forward(x, train=train)
            for hook in list(self._forward_hooks.values()):
                hook(name, layer, x, out)
            x = out
        return x

    __call__ = forward

    def backward(self, dout):
        """Back-propagate ``dout`` through every layer in reverse; return the input gradient."""
        for name, layer in reversed(self._layers.items()):
            din = layer.backward(dout)
            for hook in list(self._backward_hooks.values()):
                hook(name, layer, dout, din)
            dout = din
        return dout

    # ----------------------------------------------------------------------- display
    def summary(self, input_shape) -> str:
        """Each layer's name, output shape and parameter count, as a table (text).

        Parameters
        ----------
        input_shape : tuple of int
            Shape of one example, without the batch axis, e.g. ``(3, 16, 16)``.

        Returns
        -------
        str
            The table. Nothing is printed: like every ``summary()`` of lmsbn it returns the text,
            so ``print(model.summary(...))`` shows it once, in a notebook too.

        Notes
        -----
        It runs one forward pass in eval mode on zeros of batch size 2: no running statistic
        changes, and a shape mistake shows up here with the name of the layer where it happens.
        """
        shape = tuple(int(s) for s in input_shape)
        x = np.zeros((2, *shape))
        rows = [("input", "", str(shape), "")]
        for name, layer in self._layers.items():
            try:
                x = layer.forward(x, train=False)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"layer {name!r} ({layer!r}) rejects input of shape "
                                 f"{(None, *x.shape[1:])}: {exc}") from exc
            n = sum(p.size for p in layer.params.values())
            rows.append((name, repr(layer), str(tuple(x.shape[1:])), str(n)))
        total = self.num_parameters()
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.append(f"total parameters: {total}")
        return "\n".join(lines)

    def __repr__(self):
        inner = "\n".join(f"  ({name}): {layer!r}" for name, layer in self._layers.items())
        return f"Sequential(\n{inner}\n)"
