"""Integrations with the frameworks NAS researchers use; each module imports its framework lazily.

* :mod:`proxydata.integrations.tensorboard` — :class:`~.tensorboard.TensorBoardLogger`, a
  :meth:`~proxydata.BiLevelPruner.add_listener` listener writing the pruner's
  per-epoch history to a ``torch.utils.tensorboard.SummaryWriter``;
* :mod:`proxydata.integrations.lightning` — a Lightning callback driving the pruner.

Importing :mod:`proxydata` never imports these frameworks.
"""
