"""A tiny Hugging Face GPT-2 (built from a small config, no download) trained as a character LM.

Data: a text file given as the first argument (the suite passes tests/real/data_tinyshakespeare.txt).
"""

import sys
from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel

path = Path(sys.argv[1] if len(sys.argv) > 1 else "input.txt")
text = path.read_text()[:200_000]
chars = sorted(set(text))
data = torch.tensor([chars.index(c) for c in text])

torch.manual_seed(0)
config = GPT2Config(vocab_size=len(chars), n_positions=64, n_embd=32, n_layer=2, n_head=2)
model = GPT2LMHeadModel(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

model.train()
for step in range(150):
    starts = torch.randint(0, len(data) - 65, (16,))
    x = torch.stack([data[s : s + 64] for s in starts])  # [B, T]
    out = model(input_ids=x, labels=x)
    optimizer.zero_grad()
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    if step % 25 == 0 or step == 149:
        print(f"step {step}: loss {out.loss.item():.3f}")
