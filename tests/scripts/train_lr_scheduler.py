# expect: healthy
"""SGD with a one-cycle learning-rate schedule (warm-up to lr=0.5, then anneal), stepped per batch.

Trap covered: the learning rate, and with it the size of every update, changes by a factor of 25
and more during the run; the scheduler also wraps optimizer.step.
"""

import torch
import torch.nn.functional as F
from common_data import accuracy, digits_loaders
from torch import nn

EPOCHS = 8

torch.manual_seed(0)
train_loader, val_loader = digits_loaders(batch_size=64)
model = nn.Sequential(
    nn.Linear(64, 256),
    nn.BatchNorm1d(256),
    nn.ReLU(),
    nn.Linear(256, 128),
    nn.BatchNorm1d(128),
    nn.ReLU(),
    nn.Linear(128, 10),
)
optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, epochs=EPOCHS, steps_per_epoch=len(train_loader))

for epoch in range(EPOCHS):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step()
    lr = scheduler.get_last_lr()[0]
    print(f"epoch {epoch}: lr {lr:.4f}, loss {loss.item():.3f}, val accuracy {accuracy(model, val_loader):.3f}")
