"""Register the blocks from the environment and `.env` (the same as `elt blocks register`):

    python -m orchestration.blocks.connections [--name production]

The block classes are the configuration models in `orchestration.config`.
"""

from __future__ import annotations

from orchestration.blocks.register import BLOCK_CLASSES, main

__all__ = ["BLOCK_CLASSES", "main"]

if __name__ == "__main__":
    raise SystemExit(main())
