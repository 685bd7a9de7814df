"""xLSTM (Beck et al. 2024): the mLSTM stack of PyPI `xlstm` (`xlstm.xlstm_large`, the architecture of
xLSTM-7B), an optional extra: `pip install 'gencheck[xlstm]'`.

Why this model of the package and not its `xLSTMBlockStack` (mLSTM and sLSTM blocks): the block stack's
forward starts every call from a fresh state, so a stream could not be read in chunks with the state
carried, which training, the probes and an exact resume need; `xLSTMLarge`'s blocks take and return the
state (per block the matrix memory C, the normaliser n and the max state m). The forward below is
`xLSTMLarge.forward` written out over its public parts (embedding, blocks, out_norm, lm_head, soft_cap),
because the package's block stack copies a given state in place, which autograd refuses for a state
carried from the previous training chunk; a test checks it equals the package's own forward. It runs on the CPU with the
package's native PyTorch kernels ("chunkwise--native_autograd", "native_sequence__native", "native"): no
Triton, no CUDA. A chunk whose length is a multiple of `CHUNK` goes through the chunkwise-parallel kernel
("train" mode); any other length (a probe's last chunk, sampling one character) through the kernel for
arbitrary lengths ("inference" mode), which gives the same outputs (a test checks both against one pass)
and still backpropagates. The mode is the `config.mode` of each block's `mLSTMBackend`, checked when the
model is built.

`--hidden` is the embedding width (d_model), `--heads` the mLSTM heads (query/key width hidden / 2 /
heads, value width hidden / heads), `--layers` the blocks; `--embed` and `--dropout` are not used (the
package's model embeds at d_model and has no dropout).
"""

from __future__ import annotations

import torch

from ..fsutil import UsageError
from .base import CharModel, ModelConfig, State, register

#: Characters per chunk of the chunkwise-parallel kernel.
CHUNK = 16
_KERNELS = {"chunkwise_kernel": "chunkwise--native_autograd", "sequence_kernel": "native_sequence__native",
            "step_kernel": "native"}


def _package():
    try:
        from xlstm.xlstm_large.components import soft_cap
        from xlstm.xlstm_large.model import xLSTMLarge, xLSTMLargeConfig
    except ImportError as exc:
        raise UsageError(f"--model xlstm needs the optional extra: pip install 'gencheck[xlstm]' ({exc})") from None
    return xLSTMLarge, xLSTMLargeConfig, soft_cap


@register("xlstm")
class XLSTM(CharModel):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.hidden % (2 * cfg.heads):
            raise UsageError(f"--hidden {cfg.hidden} --heads {cfg.heads}: xlstm needs hidden divisible by 2 × heads "
                             "(its query and key are half as wide as its values)")
        xLSTMLarge, xLSTMLargeConfig, self._soft_cap = _package()
        self.cfg = cfg
        self.net = xLSTMLarge(xLSTMLargeConfig(
            embedding_dim=cfg.hidden, num_heads=cfg.heads, num_blocks=cfg.layers, vocab_size=cfg.vocab_size,
            mode="train", chunk_size=CHUNK, return_last_states=True, autocast_kernel_dtype="float32", **_KERNELS))
        self._backends = [_backend(block) for block in self.net.backbone.blocks]

    @classmethod
    def width_multiple(cls, cfg: ModelConfig) -> int:
        return 2 * cfg.heads  # its query and key are half as wide as its values

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        mode = "train" if x.shape[1] % CHUNK == 0 else "inference"
        for backend in self._backends:
            backend.config.mode = mode
        # xLSTMLarge.forward, block by block: its block stack copies a given state in place, which autograd
        # refuses when the state is an input of the graph (a carried state under training)
        h, new = self.net.embedding(x), []
        for i, block in enumerate(self.net.backbone.blocks):
            h, block_state = block(h, None if state is None else tuple(state[3 * i:3 * i + 3]))
            new.extend(block_state)
        logits = self.net.lm_head(self.net.backbone.out_norm(h))
        return self._soft_cap(logits, self.net.config.output_logit_soft_cap), tuple(new)

    def extra_flops_per_char(self) -> int:
        """Each block's matrix memory per head (d_qk × d_v) is updated (f·C + i·v kᵀ) and read (C q) once
        per character: about 4 × d_qk × d_v FLOPs per head per block."""
        heads, d = self.cfg.heads, self.cfg.hidden
        return 4 * self.cfg.layers * heads * (d // 2 // heads) * (d // heads)


def _backend(block):
    """The block's mLSTMBackend, whose `config.mode` picks its kernel; an xlstm whose layout differs is a
    clear error at build time, never a silently different model."""
    backend = getattr(getattr(block, "mlstm_layer", None), "mlstm_backend", None)
    if backend is None or getattr(getattr(backend, "config", None), "mode", None) is None:
        import xlstm

        raise UsageError(f"xlstm {getattr(xlstm, '__version__', '?')}: its mLSTM block has no mlstm_backend.config."
                         "mode; gencheck's xlstm row was written for xlstm 2.0.x")
    return backend
