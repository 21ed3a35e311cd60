"""A task adapter: the prompt (its encoder while training, a fixed table once folded) and the
task head. Adapters hold no backbone: any number of them share one PromptedBackbone."""
from __future__ import annotations

import torch
from torch import nn

from ptune.config import PTuningConfig
from ptune.encoders import PromptEncoder, build_encoder
from ptune.errors import ConfigError
from ptune.injections import INJECTIONS
from ptune.runtime import fp32_region
from ptune.settings import resolve_ptuning
from ptune.tasks import get_task


class TaskAdapter(nn.Module):
    def __init__(self, config: PTuningConfig, *, backbone, num_labels: int, seed: int = 0):
        """`backbone`: the PromptedBackbone the adapter will run on (its widths and vocabulary)."""
        super().__init__()
        config = resolve_ptuning(config)  # a config built by hand may leave the task's defaults to the resolver
        backbone.prepare_for(config.injection)
        self.config = config
        self.task = get_task(config.task.name)
        self.injection = INJECTIONS[config.injection]
        self.num_labels = num_labels
        self.hidden_size = backbone.hidden_size
        width = self.injection.width(backbone)
        generator = torch.Generator().manual_seed(seed)
        self.encoder: PromptEncoder | None = build_encoder(
            config.encoder, num_virtual_tokens=config.num_virtual_tokens, hidden_size=backbone.embedding_size,
            output_size=width)
        self._init_encoder(backbone.word_embeddings.weight, generator)
        layer, depth = getattr(config.task, "layer", None), backbone.config.num_hidden_layers
        if layer is not None and layer > depth:
            raise ConfigError("PTuningConfig", [f"layer={layer}: this backbone has layers 0 (the embeddings) to {depth}"])
        self.head = self.task.build_head(backbone.hidden_size, num_labels, config.task)
        self._init_head(generator)
        if hasattr(self.head, "check_backbone"):  # before anything trains or is written (the cloze head's MLM head)
            self.head.check_backbone(backbone)
        self.register_buffer("prompt_table", torch.zeros(config.num_virtual_tokens, width), persistent=False)
        self.uses_prompt_table = False

    def _init_encoder(self, word_embeddings: torch.Tensor, generator: torch.Generator) -> None:
        init = self.config.encoder.init
        if init == "text" and self.injection.needs_attention_hook and self.config.encoder.name != "embedding":
            raise ConfigError("PTuningConfig", [
                f"init='text' with deep prompts sets the prompt rows to the backbone's own keys and values, which "
                f"an encoder network ({self.config.encoder.name!r}) does not output; use encoder=embedding, or "
                "init='vocab' or 'random'"])
        if init == "vocab":
            self.encoder.init_from_vocabulary(word_embeddings, generator)
        elif init == "zero":
            with torch.no_grad():
                self.encoder.embedding.weight.zero_()
        else:  # random, and text until the training start replaces the rows with the text's (ptune.training.start)
            with torch.no_grad():
                self.encoder.embedding.weight.normal_(0.0, 1.0, generator=generator)

    def _init_head(self, generator: torch.Generator) -> None:
        if hasattr(self.head, "init_weights"):  # a head with its own start (the cloze head)
            self.head.init_weights(generator)
            return
        with torch.no_grad():
            self.head.out.weight.normal_(0.0, 0.02, generator=generator)
            self.head.out.bias.zero_()

    @property
    def num_virtual_tokens(self) -> int:
        return self.config.num_virtual_tokens

    @property
    def input_tokens(self) -> int:
        """Positions this adapter adds to every input sequence (0 for deep prompts)."""
        return self.injection.input_tokens(self.num_virtual_tokens)

    # ---- the prompt -----------------------------------------------------------------------
    def prompt(self) -> torch.Tensor:
        """The k prompt rows, shape (k, width)."""
        if self.uses_prompt_table:
            return self.prompt_table
        with fp32_region(self.prompt_table.device):
            return self.encoder()

    @torch.no_grad()
    def fold_prompt(self) -> torch.Tensor:
        """Run the encoder once (in eval mode) and serve its output as a fixed table from now on."""
        was_training = self.encoder.training
        self.encoder.eval()
        self.prompt_table.copy_(self.encoder())
        self.encoder.train(was_training)
        self.uses_prompt_table = True
        return self.prompt_table

    def unfold_prompt(self) -> None:
        """Back to running the encoder (for training)."""
        if self.encoder is None:
            raise RuntimeError("this adapter was loaded for inference only (no encoder weights)")
        self.uses_prompt_table = False

    def logits(self, output) -> torch.Tensor:
        return self.task.logits(self.head, output, self.config.task)

    # ---- bookkeeping ----------------------------------------------------------------------
    def trainable_parameters(self) -> dict[str, list[nn.Parameter]]:
        return {"encoder": list(self.encoder.parameters()), "head": list(self.head.parameters())}

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        state = {f"encoder.{n}": p for n, p in self.encoder.state_dict().items()}
        state.update({f"head.{n}": p for n, p in self.head.state_dict().items()})
        return state

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.encoder.load_state_dict({n[8:]: t for n, t in state.items() if n.startswith("encoder.")})
        self.head.load_state_dict({n[5:]: t for n, t in state.items() if n.startswith("head.")})
