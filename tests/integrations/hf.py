"""Tiny Hugging Face models from small configs and synthetic token data (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    Trainer,
    TrainingArguments,
)

VOCAB = 64
LENGTH = 16


class Tokens(Dataset):
    """Random token sequences; the label says whether token 7 occurs (something a tiny model can learn)."""

    def __init__(self, n: int = 512, lm: bool = False, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (n, LENGTH), generator=g)
        self.lm = lm

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        ids = self.ids[i]
        labels = ids.clone() if self.lm else (ids == 7).any().long()
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}


class Digits(Dataset):
    def __init__(self) -> None:
        from gradmedic.demo import data

        self.x, self.y = data.digits()

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[i], "labels": self.y[i]}


class MLPClassifier(nn.Module):
    """A plain torch model in the Trainer: forward returns the loss in a dict, as HF models do."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out = {"loss": nn.functional.cross_entropy(logits, labels), **out}
        return out


def bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=LENGTH,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=LENGTH)
    return GPT2LMHeadModel(config)


def train(model: nn.Module, data: Dataset, root: Path, callback: Any, steps: int = 40, **kw: Any) -> Trainer:
    options: dict[str, Any] = dict(
        output_dir=str(root),
        max_steps=steps,
        per_device_train_batch_size=32,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
        seed=0,
    )
    options.update(kw)
    trainer = Trainer(model=model, args=TrainingArguments(**options), train_dataset=data, callbacks=[callback])
    trainer.train()
    return trainer
