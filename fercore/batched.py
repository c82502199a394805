"""Several copies of one network — seeds, or arms of a comparison that share a shape — trained
together as one model.

:class:`StackedModels` holds the members' parameters stacked along a new first dimension
(``torch.func.stack_module_state``) and runs them with ``torch.func.vmap``, so one call of a
small network's kernels does the work of all members. :class:`StackedObjective` applies an
ordinary per-network loss (``loss_fn(model, batch)``, as :class:`fercore.train.Trainer` takes)
to every member on its own batch and sums the results: each member's parameters only reach its
own term, so the gradient of the sum is each member's own gradient, and SGD (momentum and
weight decay act element-wise) moves each slice exactly as a separate run would. Dropout masks
are drawn for all members from torch's global generator, so with dropout the members are
seeded differently from separate runs (still deterministic); without it a stacked run equals
separate runs to float tolerance.

    models = [make_net(seed) for seed in seeds]
    stacked = StackedModels(models)
    trainer = Trainer(stacked, StackedObjective(loss_fn), schedule,
                      param_groups=stacked.parameter_groups(models[0].parameter_groups()))
    trainer.fit(StackedBatches([RandomBatches(x, y, batch_size=64, seed=s) for s in seeds]))
    nets = stacked.unstack()  # ordinary modules, one per member
"""

import copy

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class _MethodCall(nn.Module):
    """``forward(name, *args)`` calls ``net.<name>(*args)``, so that ``functional_call`` can run
    any method of the network with substituted parameters."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, name, *args):
        return getattr(self.net, name)(*args)


class _Member:
    """One member inside ``vmap``: the network's methods, run with that member's slices."""

    def __init__(self, call, state):
        self._call = call
        self._state = state

    def __getattr__(self, name):
        return lambda *args: functional_call(self._call, self._state, (name, *args))

    def __call__(self, *args):
        return self.forward(*args)


def _key(name):
    return name.replace(".", "__")


class StackedModels(nn.Module):
    """Members of one architecture as one module: parameter ``p`` of member ``i`` is
    ``stacked[p][i]``. Calling it (or :meth:`run`) maps inputs of shape (members, …) through
    each member."""

    def __init__(self, models):
        super().__init__()
        if not models:
            raise ValueError("StackedModels needs at least one model")
        names = [type(m).__name__ for m in models]
        shapes = [[tuple(p.shape) for p in m.parameters()] for m in models]
        if any(s != shapes[0] for s in shapes) or len(set(names)) > 1:
            raise ValueError(f"models must share one architecture, got {names}")
        params, buffers = stack_module_state(list(models))
        self.size = len(models)
        self.names = list(params)
        self.buffer_names = list(buffers)
        self.stacked = nn.ParameterDict({_key(n): nn.Parameter(p.detach().clone()) for n, p in params.items()})
        for n, b in buffers.items():
            self.register_buffer(f"buffer__{_key(n)}", b.clone())
        # the architecture on the meta device, in lists to keep it out of the module tree
        self._template = [copy.deepcopy(models[0]).to("meta")]
        self._call = [_MethodCall(self._template[0])]
        self._first_names = {id(p): n for n, p in models[0].named_parameters()}

    def _state(self):
        params = {f"net.{n}": self.stacked[_key(n)] for n in self.names}
        buffers = {f"net.{n}": getattr(self, f"buffer__{_key(n)}") for n in self.buffer_names}
        return {**params, **buffers}

    def map(self, fn, *inputs):
        """``fn(member, *member_inputs)`` for every member at once (``vmap``); ``inputs`` are
        (nested) tensors whose first dimension is the member."""
        self._template[0].train(self.training)

        def one(state, *args):
            return fn(_Member(self._call[0], state), *args)

        return vmap(one, randomness="different")(self._state(), *inputs)

    def run(self, method, x):
        """``member.<method>(x[i])`` for every member ``i``, stacked."""
        return self.map(lambda member, xi: getattr(member, method)(xi), x)

    def forward(self, x):
        return self.run("forward", x)

    def parameter_groups(self, member_groups):
        """The stacked counterpart of one member's SGD parameter groups (e.g.
        ``models[0].parameter_groups()``, from the first of the models given to the constructor)."""
        groups = []
        for group in member_groups:
            params = [self.stacked[_key(self._first_names[id(p)])] for p in group["params"]]
            groups.append({**group, "params": params})
        return groups

    def unstack(self):
        """The members as ordinary modules (copies of the first model's class, in eval mode,
        on the stacked parameters' device)."""
        device = next(iter(self.stacked.values())).device
        members = []
        for i in range(self.size):
            net = copy.deepcopy(self._template[0]).to_empty(device=device)
            state = {n: self.stacked[_key(n)][i].detach().clone() for n in self.names}
            state.update({n: getattr(self, f"buffer__{_key(n)}")[i].clone() for n in self.buffer_names})
            net.load_state_dict(state)
            members.append(net.eval())
        return members


class StackedObjective(nn.Module):
    """A per-network loss applied to every member of a :class:`StackedModels` on its own batch.

    ``loss_fn(model, batch)`` returns a dict of scalar tensors (the
    :class:`fercore.train.Trainer` convention; it must hold no state of its own). Returns
    ``loss`` = the sum of the members' losses (whose gradient is each member's own) and each
    term's mean over the members.
    """

    def __init__(self, loss_fn):
        super().__init__()
        if isinstance(loss_fn, nn.Module) and (list(loss_fn.parameters()) or list(loss_fn.buffers())):
            raise ValueError("StackedObjective needs a loss without parameters or state of its own "
                             f"({type(loss_fn).__name__} has some)")
        self.loss_fn = loss_fn

    def forward(self, model, batch):
        terms = model.map(self.loss_fn, batch)
        out = {name: value.mean() for name, value in terms.items()}
        out["loss"] = terms["loss"].sum()
        return out


class StackedBatches:
    """One batch stream per member, stacked: each tensor of the batch gains a first dimension
    of size ``len(streams)``. State (for resuming) is the list of the streams' states."""

    def __init__(self, streams):
        if not streams:
            raise ValueError("StackedBatches needs at least one stream")
        self.streams = list(streams)

    def __iter__(self):
        return self

    def __next__(self):
        batches = [next(s) for s in self.streams]
        return tuple(torch.stack(parts) for parts in zip(*batches))

    def state_dict(self):
        return {"streams": [s.state_dict() for s in self.streams]}

    def load_state_dict(self, state):
        for stream, s in zip(self.streams, state["streams"]):
            stream.load_state_dict(s)
