"""A tiny Hugging Face BERT (built from a small config, no download) trained with a plain loop.

The task is separable (is token 5 in the sequence?), so a healthy run takes the loss from ~0.69 to
near zero. Written for the real-scripts suite: it runs the same under python and gradmedic run.
"""

import torch
from transformers import BertConfig, BertForSequenceClassification

torch.manual_seed(0)
config = BertConfig(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=32,
    num_labels=2,
)
model = BertForSequenceClassification(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

ids = torch.randint(6, 64, (512, 16))  # [N, T]
labels = torch.randint(0, 2, (512,))
ids[labels == 1, torch.randint(0, 16, (int(labels.sum()),))] = 5  # positives hold token 5 somewhere

model.train()
for step in range(150):
    batch = torch.randint(0, 512, (32,))
    out = model(input_ids=ids[batch], labels=labels[batch])
    optimizer.zero_grad()
    out.loss.backward()
    optimizer.step()
    if step % 25 == 0 or step == 149:
        print(f"step {step}: loss {out.loss.item():.3f}")
