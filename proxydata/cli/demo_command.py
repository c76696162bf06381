"""``proxydata demo``: three searches on digits and a side-by-side table."""

from __future__ import annotations

import argparse
from typing import Any

from .._validation import check_int
from .checks import check_device_available, check_output
from .runtime import torch_threads, write_json

__all__ = ["cmd_demo"]


def cmd_demo(args: argparse.Namespace) -> int:
    """``proxydata demo``: run :func:`proxydata.demo.run_demo` and print its table."""
    from .. import demo

    kwargs: dict[str, Any] = {"seed": args.seed, "device": args.device, "progress": not args.no_progress}
    if args.epochs is not None:
        kwargs["epochs"] = check_int(args.epochs, "--epochs", minimum=1)
    if args.scratch_epochs is not None:
        kwargs["scratch_epochs"] = check_int(args.scratch_epochs, "--scratch-epochs", minimum=1)
    check_int(args.threads, "--threads", minimum=0)
    check_output(args.output)
    check_device_available(args.device, "--device")
    with torch_threads(args.threads):
        result = demo.run_demo(**kwargs)
    print(demo.format_table(result))
    if args.output:
        write_json(args.output, result)
        print(f"wrote {args.output}")
    return 0
